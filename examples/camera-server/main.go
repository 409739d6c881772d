// Command camera-server is the camera tenant as its own process: it
// connects to a running APID switch as tenant "camera" and serves the
// Camera Idol interface (simulated by package camsim) on APID 0x010 until
// interrupted, capture restricted to the processor tenant. Tenant events
// (other tenants connecting or going away) are logged between calls.
//
//	go run ./cmd/spacenet run &
//	go run ./examples/camera-server &
//	go run ./examples/processor
//
// All three default to the same socket directory
// (sockdir.Default); --socket-dir names another. Inside a guest
// VM, --device names the virtio-serial port (or serial tty) that QEMU
// carries to the camera's socket instead:
//
//	camera-server --device /dev/virtio-ports/spacenet
//
// --metrics-listen HOST:PORT serves the camera node's IPC metrics at
// /metrics for Prometheus (package ipcmetrics: the calls it served by
// answer, docs/observe.md).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"spacenet/apid/sockdir"
	"spacenet/camera/cameraipc"
	"spacenet/camera/camsim"
	"spacenet/ipc"
	"spacenet/ipc/switched"
	"spacenet/ops/metrics/ipcmetrics"
)

// options are the command line's.
type options struct {
	socketDir     string
	device        string
	metricsListen string
	// onMetrics, if set (tests), is called with the metrics address once
	// it listens.
	onMetrics func(net.Addr)
}

func main() {
	var o options
	flag.StringVar(&o.socketDir, "socket-dir", sockdir.Default(), "socket directory of the running switch (default: spacenet run's)")
	flag.StringVar(&o.device, "device", "", "instead of the socket: the guest VM's virtio-serial port or serial tty, e.g. /dev/virtio-ports/spacenet")
	flag.StringVar(&o.metricsListen, "metrics-listen", "", "serve the node's IPC metrics for Prometheus at http://`HOST:PORT`/metrics")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, log); err != nil {
		log.Error("camera-server", "err", err)
		os.Exit(1)
	}
}

// run serves Camera until ctx ends.
func run(ctx context.Context, o options, log *slog.Logger) error {
	cfg := switched.Config{Socket: filepath.Join(o.socketDir, "camera.sock"), Tenant: "camera", Logger: log}
	if o.device != "" {
		cfg.Socket, cfg.Device = "", o.device
	}
	node, err := switched.NewNode(cfg)
	if err != nil {
		return err
	}
	srv, err := node.Serve(switched.ServerConfig{
		APID:     0x010,
		Handler:  cameraipc.NewCameraDispatcher(&camsim.Camera{}),
		Restrict: []ipc.DispatchOption{ipc.Restrict(cameraipc.CameraOpCapture, "processor")},
		Notify: func(ctx context.Context, n switched.Notification) {
			if n.Kind == switched.TenantEvent {
				log.Info("tenant event", "tenant", n.Event.Tenant, "kind", n.Event.Kind, "generation", n.Event.Generation)
			}
		},
	})
	if err != nil {
		return err
	}
	stopMetrics, err := ipcmetrics.Serve(o.metricsListen, log, o.onMetrics, node)
	if err != nil {
		return err
	}
	defer stopMetrics()
	if err := node.Start(ctx); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer node.Close()
	log.Info("serving Camera", "apid", srv.APID())
	if err := srv.Run(ctx); err != nil {
		return err
	}
	st := srv.Stats()
	log.Info("stopped", "served", st.Served, "faults", st.Faults, "denied", st.Denied)
	return nil
}
