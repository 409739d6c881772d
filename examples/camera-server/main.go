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
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"spacenet/apid/sockdir"
	"spacenet/camera/cameraipc"
	"spacenet/camera/camsim"
	"spacenet/ipc"
	"spacenet/ipc/switched"
)

func main() {
	dir := flag.String("socket-dir", sockdir.Default(), "socket directory of the running switch (default: spacenet run's)")
	device := flag.String("device", "", "instead of the socket: the guest VM's virtio-serial port or serial tty, e.g. /dev/virtio-ports/spacenet")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg := switched.Config{Socket: filepath.Join(*dir, "camera.sock"), Tenant: "camera", Logger: log}
	if *device != "" {
		cfg.Socket, cfg.Device = "", *device
	}
	node, err := switched.NewNode(cfg)
	if err != nil {
		log.Error("node", "err", err)
		os.Exit(1)
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
		log.Error("serve", "err", err)
		os.Exit(1)
	}
	if err := node.Start(ctx); err != nil {
		log.Error("connect", "err", err)
		os.Exit(1)
	}
	defer node.Close()
	log.Info("serving Camera", "apid", srv.APID())
	if err := srv.Run(ctx); err != nil {
		log.Error("server", "err", err)
		os.Exit(1)
	}
	st := srv.Stats()
	log.Info("stopped", "served", st.Served, "faults", st.Faults, "denied", st.Denied)
}
