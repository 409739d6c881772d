package vmtest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"spacenet/apid/frame"
	"spacenet/apid/sysmsg"
	"spacenet/camera/cameraipc"
	"spacenet/camera/camsim"
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
	img := cameraImage(t)
	e := startSwitch(t)
	cfg := vmtest.VMConfig{
		Image: img,
		Run:   "camera-server --device /dev/virtio-ports/spacenet",
		Ports: []vmtest.Port{{Name: "spacenet", Socket: e.sw.SocketPath("camera")}},
	}
	// The first guest runs spacenet inject first, as the README shows: a
	// TM frame to the processor, then one from the processor's APID,
	// refused.
	first := cfg
	first.Run = `dev=/dev/virtio-ports/spacenet
spacenet inject --device $dev --type TM --apid 0x010 --dest 0x020 --payload hello; echo "inject 1: exit $?"
spacenet inject --device $dev --type TM --apid 0x020 --dest 0x100 --payload spoof --wait 1s; echo "inject 2: exit $?"
` + cfg.Run
	con1 := &console{}
	first.Console = con1
	ctx, cancel := context.WithTimeout(context.Background(), 3*testTimeout)
	defer cancel()

	boot := time.Now()
	vm1 := startVM(t, "camera 1", first)
	if ev := e.waitEvent(t, "camera", sysmsg.Connected); ev.Generation != 1 {
		t.Fatalf("QEMU's connection: generation %d, want 1", ev.Generation)
	}
	// Only one program has the port open at a time, and what arrives
	// while one has it is lost if it does not read it: so the first call
	// waits until camera-server's node has subscribed to events (a frame
	// to a system APID), after the injects.
	waitFor(t, "camera-server's subscription", func() bool { return e.counters(t, "camera").DeliveredSystem > 0 })
	other := make(chan frame.Frame, 4)
	proc, err := switched.Dial(ctx, switched.Config{Socket: e.sw.SocketPath("processor"), Tenant: "processor", Logger: quietLog(),
		Other: func(f *frame.Frame) {
			select {
			case other <- *f:
			default:
				t.Errorf("unexpected frame %v", f.Type())
			}
		}})
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
	// camera-server started after the injects: their output is there.
	var want frame.Frame
	if err := frame.Encode(&want, frame.TM, 0x010, 0x020, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-other:
		if f != want {
			t.Fatalf("the injected frame arrived as\n%x\nwant\n%x", f[:], want[:])
		}
	case <-ctx.Done():
		t.Fatal("the injected frame did not arrive")
	}
	for _, line := range []string{
		"handed to the switch: TM from 0x010 to 0x020, 5 payload bytes (not waiting: the switch may still refuse it; --wait 200ms prints its ERROR)\r\ninject 1: exit 0\r\n",
		"ERROR Apid_not_allocated (0x04) from 0x000: offending type TM, apid 0x020, payload_length 5\r\n",
		"inject 2: exit 4\r\n",
	} {
		if !strings.Contains(con1.String(), line) {
			t.Errorf("the guest's console lacks %q", line)
		}
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
	waitFor(t, "the capture in the frozen guest's socket", func() bool { return e.counters(t, "processor").Delivered > before })
	vm1.Kill()
	e.waitEvent(t, "camera", sysmsg.Disconnected)
	if err := <-capRes; !errors.Is(err, ipc.ServerDeath) {
		t.Fatalf("capture across the guest's death: %v, want ServerDeath", err)
	}

	boot = time.Now()
	startVM(t, "camera 2", cfg)
	if ev := e.waitEvent(t, "camera", sysmsg.Connected); ev.Generation != 2 {
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
