package observe_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"spacenet/apid/apidswitch"
	"spacenet/apid/apidswitch/switchbench"
	"spacenet/ip/lan"
	"spacenet/ops/control"
	"spacenet/ops/observe"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestAPIDViews: both views up, both gone after Close; an address in use
// is an error naming the flag, and leaves no control socket behind.
func TestAPIDViews(t *testing.T) {
	dir := t.TempDir()
	sw, stop, err := switchbench.Start(context.Background(), apidswitch.Config{SocketDir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	src := &control.APIDSource{Switch: sw}
	v, err := observe.APID(src, "127.0.0.1:0", quiet)
	if err != nil {
		t.Fatal(err)
	}
	addr := v.MetricsAddr()
	var s control.APID
	if err := control.Fetch(control.Path(dir), &s); err != nil || len(s.Tenants) != 3 {
		t.Fatalf("Fetch: %v %+v", err, s)
	}
	if _, err := observe.APID(src, addr, quiet); err == nil || !strings.Contains(err.Error(), "another switch answers") {
		t.Errorf("a second APID views on the same switch: %v", err)
	}
	v.Close()
	if _, err := os.Lstat(control.Path(dir)); !os.IsNotExist(err) {
		t.Errorf("control socket after Close: %v", err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("metrics still listening on %s after Close", addr)
	}

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if _, err := observe.APID(src, busy.Addr().String(), quiet); err == nil || !strings.Contains(err.Error(), "--metrics-listen "+busy.Addr().String()) {
		t.Errorf("address in use: %v", err)
	}
	if _, err := os.Lstat(control.Path(dir)); !os.IsNotExist(err) {
		t.Errorf("control socket left after a failed start: %v", err)
	}
}

// TestLANViewsWithoutControlSocket: a directory the control socket may not
// go in leaves the LAN running with its metrics.
func TestLANViewsWithoutControlSocket(t *testing.T) {
	l, err := lan.Open(&lan.Config{Source: "test"}, "", quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	open := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chmod(open, 0o777)
	v, err := observe.LAN(l, open, "127.0.0.1:0", quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if v.MetricsAddr() == "" {
		t.Error("no metrics server")
	}
	if _, err := os.Lstat(control.Path(open)); !os.IsNotExist(err) {
		t.Errorf("control socket in a 0777 directory: %v", err)
	}
}

// BenchmarkScrape is the cost of one Prometheus scrape of a v0 switch
// (snapshot, encoding, HTTP on loopback): what --metrics-listen costs per
// scrape interval; the switch does nothing per frame for it.
func BenchmarkScrape(b *testing.B) {
	sw, stop, err := switchbench.Start(context.Background(), apidswitch.Config{SocketDir: b.TempDir(), Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	v, err := observe.APID(&control.APIDSource{Switch: sw}, "127.0.0.1:0", quiet)
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	c := &http.Client{}
	defer c.CloseIdleConnections()
	url := "http://" + v.MetricsAddr() + "/metrics"
	for b.Loop() {
		resp, err := c.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
