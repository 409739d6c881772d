package vmtest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"spacenet/apidswitch"
	"spacenet/camera/cameraipc"
	"spacenet/examples/camsim"
	"spacenet/internal/vmtest"
	"spacenet/ipc"
	"spacenet/ipc/switched"
)

const cameraAPID = 0x010

// TestCameraGuest: examples/camera-server runs unchanged in a guest VM with
// --device on a virtio-serial port that QEMU carries to the switch's camera
// socket; the processor on the host calls it through the switch: status,
// configure, capture, and the picture read back through 64 KiB write
// leases, every byte checked. Then the guest dies (QEMU killed, frozen
// first so that a capture is certainly in flight): the capture fails with
// ServerDeath; a new guest boots (generation 2) and the caller recovers:
// status (idempotent) and a new capture on the new camera succeed.
func TestCameraGuest(t *testing.T) {
	needQEMU(t)
	img := image(t, map[string]string{"camera-server": "spacenet/examples/camera-server"})
	e := startSwitch(t)
	cfg := vmtest.VMConfig{
		Image: img,
		Run:   "camera-server --device /dev/virtio-ports/spacenet",
		Ports: []vmtest.Port{{Name: "spacenet", Socket: e.sw.SocketPath("camera")}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*testTimeout)
	defer cancel()

	boot := time.Now()
	vm1 := startVM(t, "camera 1", cfg)
	if ev := e.waitEvent(t, "camera", apidswitch.Connected); ev.Generation != 1 {
		t.Fatalf("QEMU's connection: generation %d, want 1", ev.Generation)
	}
	proc, err := switched.Dial(ctx, switched.Config{Socket: e.sw.SocketPath("processor"), Tenant: "processor", Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	cam := cameraipc.NewCameraClient(proc.Client(cameraAPID))

	// The first call waits in QEMU's socket until the guest has booted and
	// camera-server opened its port.
	st, err := cam.Status(ctx)
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	t.Logf("guest 1 serving after %v", time.Since(boot).Round(time.Millisecond))
	if want := (cameraipc.CameraStatus{Mode: cameraipc.CameraModeOff, TemperatureMc: -12500}); st != want {
		t.Fatalf("status of a new camera: %+v, want %+v", st, want)
	}
	if err := cam.SetMode(ctx, cameraipc.CameraModeScience); err != nil {
		t.Fatalf("set_mode: %v", err)
	}
	mode, err := cam.Configure(ctx, cameraipc.CaptureConfig{Binning: 2})
	if err != nil || mode != cameraipc.CameraModeScience {
		t.Fatalf("configure binning 2: %v, %v", mode, err)
	}
	var ce cameraipc.ConfigError
	if _, err := cam.Configure(ctx, cameraipc.CaptureConfig{Binning: 3}); !errors.As(err, &ce) || ce.Variant != cameraipc.ConfigErrorUnsupportedBinning || ce.UnsupportedBinning != 3 {
		t.Fatalf("configure binning 3: %#v, want ConfigError UnsupportedBinning 3", err)
	}
	capture(t, ctx, cam, 1, 1500)

	// The guest dies with a capture in flight.
	if err := vm1.Freeze(); err != nil {
		t.Fatal(err)
	}
	before := e.counters(t, "processor").Delivered
	capRes := make(chan error, 1)
	go func() {
		_, err := cam.Capture(ctx, 300)
		capRes <- err
	}()
	e.waitDelivered(t, "processor", before, 1) // in the frozen guest's socket
	vm1.Kill()
	e.waitEvent(t, "camera", apidswitch.Disconnected)
	if err := <-capRes; !errors.Is(err, ipc.ServerDeath) {
		t.Fatalf("capture across the guest's death: %v, want ServerDeath", err)
	}

	boot = time.Now()
	startVM(t, "camera 2", cfg)
	if ev := e.waitEvent(t, "camera", apidswitch.Connected); ev.Generation != 2 {
		t.Fatalf("the new guest's connection: generation %d, want 2", ev.Generation)
	}
	st, err = cam.Status(ctx)
	if err != nil {
		t.Fatalf("status of the new guest: %v", err)
	}
	t.Logf("guest 2 serving after %v", time.Since(boot).Round(time.Millisecond))
	if want := (cameraipc.CameraStatus{Mode: cameraipc.CameraModeOff, TemperatureMc: -12500}); st != want {
		t.Fatalf("status of the new guest's camera: %+v, want %+v (a new camera)", st, want)
	}
	capture(t, ctx, cam, 1, 2500)
}

// capture takes a picture, wanting frame id want, and reads it back through
// leases, checking every byte.
func capture(t *testing.T, ctx context.Context, cam *cameraipc.CameraClient, want, exposure uint32) {
	t.Helper()
	id, err := cam.Capture(ctx, exposure)
	if err != nil || id != want {
		t.Fatalf("capture: frame %d, %v; want frame %d", id, err, want)
	}
	img := make([]byte, camsim.ImageSize)
	for off := 0; off < len(img); {
		n, err := cam.ReadImage(ctx, id, uint32(off), img[off:min(off+65536, len(img))])
		if err != nil || n == 0 {
			t.Fatalf("read_image at %d: %d bytes, %v", off, n, err)
		}
		off += int(n)
	}
	for i := range img {
		if img[i] != camsim.Pixel(id, exposure, i) {
			t.Fatalf("byte %d of frame %d is %#x, want %#x", i, id, img[i], camsim.Pixel(id, exposure, i))
		}
	}
	st, err := cam.Status(ctx)
	if err != nil || st.Frames != want || st.Busy {
		t.Fatalf("status after capture: %+v, %v; want %d frames", st, err, want)
	}
}
