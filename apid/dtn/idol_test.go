package dtn_test

import (
	"context"
	"testing"
	"time"

	"spacenet/apid/policy"
	"spacenet/camera/cameraipc"
	"spacenet/camera/camsim"
	"spacenet/ipc/switched"
)

// TestPairIdol: the processor on host B calls the Camera Idol interface
// that the camera serves on host A (camsim behind cameraipc's generated
// dispatcher), through both switches and both dtnds: requests and replies
// are ordinary frames, checked by each switch, carried as bundles. The
// guests' view of who owns what (switched.Config.Policy) is the v0
// topology across both hosts.
func TestPairIdol(t *testing.T) {
	p := newPair(t, "1m")
	view := policy.Default()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	camN, err := switched.NewNode(switched.Config{Socket: p.a.sw.SocketPath("camera"), Tenant: "camera", Policy: view})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := camN.Serve(switched.ServerConfig{APID: 0x010, Handler: cameraipc.NewCameraDispatcher(&camsim.Camera{})})
	if err != nil {
		t.Fatal(err)
	}
	if err := camN.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer camN.Close()
	srvCtx, stopSrv := context.WithCancel(ctx)
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Run(srvCtx) }()
	defer func() {
		stopSrv()
		<-srvDone
	}()

	procN, err := switched.NewNode(switched.Config{Socket: p.b.sw.SocketPath("processor"), Tenant: "processor", Policy: view})
	if err != nil {
		t.Fatal(err)
	}
	if err := procN.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer procN.Close()
	c := cameraipc.NewCameraClient(procN.Client(0x010))

	start := time.Now()
	id, err := c.Capture(ctx, 2000)
	if err != nil || id != 1 {
		t.Fatalf("Capture across hosts = %d, %v; link A %+v, link B %+v", id, err, p.a.link.Stats(), p.b.link.Stats())
	}
	first := time.Since(start)
	if _, err := c.Capture(ctx, 0); err != cameraipc.CameraErrorBadExposure {
		t.Fatalf("Capture(0) error = %#v, want CameraErrorBadExposure", err)
	}
	st, err := c.Status(ctx)
	if want := (cameraipc.CameraStatus{Frames: 1, TemperatureMc: -12500}); err != nil || st != want {
		t.Fatalf("Status = %+v, %v; want %+v", st, err, want)
	}
	// 8 KiB of the picture through a write lease: 34 reply frames, several
	// bundles.
	img := make([]byte, 8192)
	n, err := c.ReadImage(ctx, id, 0, img)
	if err != nil || int(n) != len(img) {
		t.Fatalf("ReadImage = %d, %v", n, err)
	}
	for i := range img {
		if img[i] != camsim.Pixel(id, 2000, i) {
			t.Fatalf("pixel %d = %#x, want %#x", i, img[i], camsim.Pixel(id, 2000, i))
		}
	}
	const calls = 20
	t0 := time.Now()
	for range calls {
		if _, err := c.Status(ctx); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("first call %v; Status round trip across the hosts %v on average (%d calls)", first, time.Since(t0)/calls, calls)
}
