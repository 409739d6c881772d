package cameraipc

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"spacenet/apid/apidswitch"
	"spacenet/ipc"
	"spacenet/ipc/switched"
)

// TestPipelinedCameraOverSwitch is the switched package's pipelined test
// written against the generated pipelined side: a camera tenant serves
// Camera pipelined over a real APID switch (Unix sockets), holds three
// captures from the processor open at once and answers them out of order
// with typed replies and the op's CLike error. The generated dispatcher is
// the server's Pipelined handler as it is, its own restriction (reset to
// spaceos only) checked at Serve and enforced on the processor.
func TestPipelinedCameraOverSwitch(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir, err := os.MkdirTemp("", "campipe")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sw, err := apidswitch.New(apidswitch.Config{SocketDir: filepath.Join(dir, "s"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	swCtx, stopSwitch := context.WithCancel(context.Background())
	swDone := make(chan error, 1)
	go func() { swDone <- sw.Run(swCtx) }()
	defer func() { stopSwitch(); <-swDone }()
	<-sw.Ready()

	node := func(tenant string) *switched.Node {
		n, err := switched.NewNode(switched.Config{Socket: sw.SocketPath(tenant), Tenant: tenant, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	camNode := node("camera")
	defer camNode.Close()
	cam := &pipeCam{captures: make(chan capture, 4), histograms: make(chan histogram, 1), served: make(chan string, 16)}
	p := NewCameraPipelined(cam, ipc.Restrict(CameraOpReset, "spaceos"))
	srv, err := camNode.Serve(switched.ServerConfig{APID: 0x010, Pipelined: p})
	if err != nil {
		t.Fatal(err)
	}
	if err := camNode.Start(ctx); err != nil {
		t.Fatal(err)
	}
	runCtx, stopRun := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- srv.Run(runCtx) }()
	defer func() {
		stopRun()
		if err := <-runDone; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	proc := node("processor")
	defer proc.Close()
	if err := proc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	client := NewCameraClient(proc.Client(0x010))

	open := captureOutOfOrder(t, client, cam, func() {
		if st := srv.Stats(); st.Open != 3 {
			t.Errorf("open calls %d, want 3", st.Open)
		}
	})
	if err := open[2].call.Reply(31); !errors.Is(err, switched.ErrAnswered) {
		t.Fatalf("second answer: %v, want ErrAnswered", err)
	}
	// A refused request is answered by the generated checks, not the server.
	var rep ipc.Reply
	if err := proc.Client(0x010).Call(ctx, &ipc.Request{Op: CameraOpCapture, Args: []byte{1}, ReplyCap: 4}, &rep); !errors.Is(err, ipc.BadMessageContents) {
		t.Fatalf("short capture: %v, want BadMessageContents", err)
	}
	if err := client.Reset(ctx); !errors.Is(err, ipc.AccessViolation) {
		t.Fatalf("processor Reset: %v, want AccessViolation", err)
	}
	if st := srv.Stats(); st.Served != 3 || st.Faults != 2 {
		t.Errorf("server stats %+v, want 3 served, 2 faults", st)
	}
}
