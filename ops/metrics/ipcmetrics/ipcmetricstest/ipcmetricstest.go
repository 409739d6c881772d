// Package ipcmetricstest is the harness of the tests of IPC metrics: an
// APID switch in the test's process, IPC nodes on it (a camera serving
// camsim), and a scrape of /metrics checked line by line. It is a test harness, not part of a guest (it starts a
// switch: guest programs import it from their tests only).
package ipcmetricstest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"spacenet/apid/apidswitch"
	"spacenet/apid/policy"
	"spacenet/camera/cameraipc"
	"spacenet/camera/camsim"
	"spacenet/ipc/switched"
)

// Timeout bounds every wait of a test: a safety net, never a
// synchronisation.
const Timeout = 10 * time.Second

// Quiet is a logger that discards.
func Quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Switch starts an APID switch with pol (nil: the default policy) on a
// fresh socket directory, ready; it stops when the test ends.
func Switch(t testing.TB, pol *policy.Policy) *apidswitch.Switch {
	t.Helper()
	sw, err := apidswitch.New(apidswitch.Config{Policy: pol, SocketDir: t.TempDir() + "/s", Logger: Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sw.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("switch Run: %v", err)
		}
	})
	select {
	case <-sw.Ready():
	case err := <-done:
		t.Fatalf("switch Run: %v", err)
	}
	return sw
}

// Node connects tenant's node to sw (pol as the switch has it; nil: the
// default), setup (if not nil) having registered its servers; the node
// closes when the test ends.
func Node(t testing.TB, sw *apidswitch.Switch, pol *policy.Policy, tenant string, setup func(*switched.Node)) *switched.Node {
	t.Helper()
	n, err := switched.NewNode(switched.Config{Socket: sw.SocketPath(tenant), Tenant: tenant, Policy: pol, Logger: Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// CameraAPID is where Camera connects the camera's server.
const CameraAPID = 0x010

// Camera connects the camera tenant's node to sw, serving camsim's Camera
// (cameraipc) on CameraAPID until the test ends.
func Camera(t testing.TB, sw *apidswitch.Switch, pol *policy.Policy) *switched.Node {
	t.Helper()
	return Node(t, sw, pol, "camera", func(n *switched.Node) {
		srv, err := n.Serve(switched.ServerConfig{APID: CameraAPID, Handler: cameraipc.NewCameraDispatcher(&camsim.Camera{})})
		if err != nil {
			t.Fatal(err)
		}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Run(ctx) }()
		t.Cleanup(func() {
			stop()
			if err := <-done; err != nil {
				t.Errorf("camera server Run: %v", err)
			}
		})
	})
}

// Scrape GETs url and returns the body of its 200 answer, the client's
// connections closed.
func Scrape(t testing.TB, url string) string {
	t.Helper()
	cl := &http.Client{Timeout: Timeout, Transport: &http.Transport{}}
	defer cl.CloseIdleConnections()
	resp, err := cl.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, b.String())
	}
	return b.String()
}

// WantLines fails t for each of lines that is not a whole line of body.
func WantLines(t testing.TB, body string, lines ...string) {
	t.Helper()
	for _, line := range lines {
		if !strings.Contains("\n"+body, "\n"+line+"\n") {
			t.Errorf("/metrics has no line %q", line)
		}
	}
}
