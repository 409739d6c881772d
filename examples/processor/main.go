// Command processor is the processor tenant as its own process: it
// connects to a running APID switch as tenant "processor", takes a picture
// with the camera tenant's Camera interface and reads it out through 64 KiB
// write leases, checking every byte. See examples/camera-server. Inside a
// guest VM, --device names the virtio-serial port (or serial tty) that QEMU
// carries to the processor's socket.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"spacenet/apid/sockdir"
	"spacenet/camera/cameraipc"
	"spacenet/camera/camsim"
	"spacenet/ipc/switched"
)

func main() {
	dir := flag.String("socket-dir", sockdir.Default(), "socket directory of the running switch (default: spacenet run's)")
	exposure := flag.Uint("exposure", 2000, "exposure in microseconds")
	device := flag.String("device", "", "instead of the socket: the guest VM's virtio-serial port or serial tty, e.g. /dev/virtio-ports/spacenet")
	flag.Parse()
	cfg := switched.Config{Socket: filepath.Join(*dir, "processor.sock"), Tenant: "processor"}
	if *device != "" {
		cfg.Socket, cfg.Device = "", *device
	}
	if err := run(cfg, uint32(*exposure)); err != nil {
		fmt.Fprintln(os.Stderr, "processor:", err)
		os.Exit(1)
	}
}

func run(cfg switched.Config, exposure uint32) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	node, err := switched.Dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer node.Close()
	cam := cameraipc.NewCameraClient(node.Client(0x010))
	id, err := cam.Capture(ctx, exposure)
	if err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	img := make([]byte, camsim.ImageSize)
	for off := 0; off < len(img); {
		n, err := cam.ReadImage(ctx, id, uint32(off), img[off:min(off+65536, len(img))])
		if err != nil {
			return fmt.Errorf("read_image: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("read_image at %d: no bytes", off)
		}
		off += int(n)
	}
	for i := range img {
		if img[i] != camsim.Pixel(id, exposure, i) {
			return fmt.Errorf("byte %d of frame %d is %#x, want %#x", i, id, img[i], camsim.Pixel(id, exposure, i))
		}
	}
	st, err := cam.Status(ctx)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	fmt.Printf("frame %d: %d bytes read and checked; camera holds %d frame(s)\n", id, len(img), st.Frames)
	return nil
}
