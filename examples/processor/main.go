// Command processor is the processor tenant as its own process: it
// connects to a running APID switch as tenant "processor", takes a picture
// with the camera tenant's Camera interface and reads it out through 64 KiB
// write leases, checking every byte. See examples/camera-server. Inside a
// guest VM, --device names the virtio-serial port (or serial tty) that QEMU
// carries to the processor's socket.
//
// With --metrics-listen HOST:PORT the processor serves its node's IPC
// metrics at /metrics for Prometheus (package ipcmetrics: its calls by
// outcome, their latency; docs/observe.md) and, once the picture is
// checked, stays up serving them until interrupted.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"spacenet/apid/sockdir"
	"spacenet/camera/cameraipc"
	"spacenet/camera/camsim"
	"spacenet/ipc/switched"
	"spacenet/ops/metrics/ipcmetrics"
)

// options are the command line's.
type options struct {
	socketDir     string
	device        string
	exposure      uint32
	metricsListen string
	// onMetrics, if set (tests), is called with the metrics address once
	// it listens.
	onMetrics func(net.Addr)
}

func main() {
	var o options
	flag.StringVar(&o.socketDir, "socket-dir", sockdir.Default(), "socket directory of the running switch (default: spacenet run's)")
	exposure := flag.Uint("exposure", 2000, "exposure in microseconds")
	flag.StringVar(&o.device, "device", "", "instead of the socket: the guest VM's virtio-serial port or serial tty, e.g. /dev/virtio-ports/spacenet")
	flag.StringVar(&o.metricsListen, "metrics-listen", "", "serve the node's IPC metrics for Prometheus at http://`HOST:PORT`/metrics, and stay up until interrupted")
	flag.Parse()
	o.exposure = uint32(*exposure)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout, slog.New(slog.NewTextHandler(os.Stderr, nil))); err != nil {
		fmt.Fprintln(os.Stderr, "processor:", err)
		os.Exit(1)
	}
}

// run takes and checks one picture, then, with metrics, serves them until
// ctx ends.
func run(ctx context.Context, o options, out io.Writer, log *slog.Logger) error {
	cfg := switched.Config{Socket: filepath.Join(o.socketDir, "processor.sock"), Tenant: "processor", Logger: log}
	if o.device != "" {
		cfg.Socket, cfg.Device = "", o.device
	}
	round, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	node, err := switched.Dial(round, cfg)
	if err != nil {
		return err
	}
	defer node.Close()
	stopMetrics, err := ipcmetrics.Serve(o.metricsListen, log, o.onMetrics, node)
	if err != nil {
		return err
	}
	defer stopMetrics()
	if err := picture(round, node, o.exposure, out); err != nil {
		return err
	}
	if o.metricsListen != "" {
		log.Info("picture checked; serving metrics until interrupted")
		<-ctx.Done()
	}
	return nil
}

// picture takes a picture with the camera, reads it out and checks it.
func picture(ctx context.Context, node *switched.Node, exposure uint32, out io.Writer) error {
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
	fmt.Fprintf(out, "frame %d: %d bytes read and checked; camera holds %d frame(s)\n", id, len(img), st.Frames)
	return nil
}
