package switched

import (
	"context"
	"testing"

	"spacenet/apid/apidswitch"
	"spacenet/apid/frame"
	"spacenet/apid/guest"
	"spacenet/camera/cameraipc"
	"spacenet/camera/camsim"
	"spacenet/ipc"
)

// benchCamera serves camsim (one picture taken) on the camera and returns
// a processor client to it.
func benchCamera(b *testing.B) *Client {
	e := startSwitchB(b)
	cam, err := NewNode(Config{Socket: e.SocketPath("camera"), Tenant: "camera", Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	sim := &camsim.Camera{}
	if _, err := sim.Capture(context.Background(), ipc.Caller{}, 100); err != nil {
		b.Fatal(err)
	}
	srv, err := cam.Serve(ServerConfig{APID: cameraAPID, Handler: cameraipc.NewCameraDispatcher(sim)})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := cam.Start(ctx); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	proc, err := Dial(ctx, Config{Socket: e.SocketPath("processor"), Tenant: "processor", Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cancel(); <-done; cam.Close(); proc.Close() })
	return proc.Client(cameraAPID)
}

// BenchmarkCallSmall: one camera.status call through the switch, the
// client's request and reply reused (what the transport itself costs).
func BenchmarkCallSmall(b *testing.B) {
	cl := benchCamera(b)
	ctx := context.Background()
	req := &ipc.Request{Op: cameraipc.CameraOpStatus, Args: []byte{}, ReplyCap: cameraipc.CameraStatusReplySize}
	rep := &ipc.Reply{Body: make([]byte, 0, 64)}
	b.ReportAllocs()
	for b.Loop() {
		if err := cl.Call(ctx, req, rep); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadImage64K: one read_image call filling a 64 KiB write lease
// (a one-frame request, a 281-frame reply) through the switch.
func BenchmarkReadImage64K(b *testing.B) {
	client := cameraipc.NewCameraClient(benchCamera(b))
	ctx := context.Background()
	sink := make([]byte, 65536)
	b.SetBytes(int64(len(sink)))
	b.ReportAllocs()
	for b.Loop() {
		if n, err := client.ReadImage(ctx, 1, 0, sink); err != nil || n != 65536 {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkRawPingPong is the floor: one frame each way through the same
// switch, echoed by hand.
func BenchmarkRawPingPong(b *testing.B) {
	e := startSwitchB(b)
	echo, err := guest.Dial(e.SocketPath("camera"))
	if err != nil {
		b.Fatal(err)
	}
	ping, err := guest.Dial(e.SocketPath("processor"))
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var f frame.Frame
		for echo.ReadFrame(&f) == nil {
			f.SetType(frame.TM)
			f.SetDest(f.APID())
			f.SetAPID(cameraAPID)
			if echo.WriteFrame(&f) != nil {
				return
			}
		}
	}()
	var req, in frame.Frame
	frame.Encode(&req, frame.TC, 0x020, cameraAPID, make([]byte, 23))
	b.ReportAllocs()
	for b.Loop() {
		if err := ping.WriteFrame(&req); err != nil {
			b.Fatal(err)
		}
		if err := ping.ReadFrame(&in); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	ping.Close()
	echo.Close()
	<-done
}

func startSwitchB(b *testing.B) *apidswitch.Switch {
	dir := b.TempDir()
	sw, err := apidswitch.New(apidswitch.Config{SocketDir: dir + "/s", Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sw.Run(ctx) }()
	<-sw.Ready()
	b.Cleanup(func() { cancel(); <-done })
	return sw
}
