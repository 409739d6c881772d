package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"spacenet/apid/apidswitch"
	"spacenet/apid/apidswitch/switchbench"
	"spacenet/apid/policy"
	"spacenet/apid/sockdir"
	"spacenet/camera/cameraipc"
	"spacenet/camera/camsim"
	"spacenet/ipc"
	"spacenet/ipc/ipcframe"
	"spacenet/ipc/switched"
)

var demoFlags struct {
	socketDir string
	attach    bool
	config    string
	timeout   time.Duration
}

var demoCmd = &cobra.Command{
	Use:   "demo",
	Short: "Camera and processor tenants talking typed IPC through the switch",
	Long: `demo shows typed Idol IPC through the APID switch over real Unix sockets:
the camera tenant serves the Camera interface (idl/camera.idol) on APID 0x010,
with capture restricted to the processor; the processor tenant calls it
(set_mode, capture, read_image through a 64 KiB write lease, status); the
spaceos tenant tries the restricted capture and is refused.

Without --socket-dir or --attach it starts its own switch in a temporary
directory. With --socket-dir it uses the switch already running there, and
with --attach the one running in spacenet run's default socket directory
(make run): it then connects as camera, processor and spaceos, replacing
any guests connected as those tenants.`,
	Example: `  spacenet demo                          # its own switch in a temporary directory
  spacenet demo --attach                 # the switch of make run (replaces its guests)
  spacenet demo --socket-dir /tmp/sn --config apid/policy/testdata/v0.toml`,
	Args: cobra.NoArgs,
	RunE: runDemo,
}

func init() {
	f := demoCmd.Flags()
	f.StringVar(&demoFlags.socketDir, "socket-dir", "", "socket directory of a running switch (default: start one)")
	f.BoolVar(&demoFlags.attach, "attach", false, "use the switch running in the default socket directory "+sockdir.Default())
	demoCmd.MarkFlagsMutuallyExclusive("socket-dir", "attach")
	f.StringVar(&demoFlags.config, "config", "", "policy file of the running switch (default: the built-in v0 topology)")
	f.DurationVar(&demoFlags.timeout, "timeout", 10*time.Second, "give up after this long")
	rootCmd.AddCommand(demoCmd)
}

func runDemo(cmd *cobra.Command, _ []string) error {
	out := cmd.OutOrStdout()
	ctx, cancel := context.WithTimeout(cmd.Context(), demoFlags.timeout)
	defer cancel()
	quiet := quietLog
	pol := policy.Default()
	if demoFlags.config != "" {
		var err error
		if pol, err = policy.Load(demoFlags.config); err != nil {
			return err
		}
	}
	dir := demoFlags.socketDir
	if demoFlags.attach {
		dir = sockdir.Default()
	}
	var sw *apidswitch.Switch
	if dir == "" {
		tmp, err := os.MkdirTemp("", "spacenet-demo")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = filepath.Join(tmp, "s")
		var stopSwitch func()
		sw, stopSwitch, err = switchbench.Start(context.Background(), apidswitch.Config{Policy: pol, SocketDir: dir, Logger: quiet})
		if err != nil {
			return err
		}
		defer stopSwitch()
		fmt.Fprintln(out, "switch:    started in-process, v0 topology, one socket per tenant")
	} else {
		fmt.Fprintf(out, "switch:    using the switch running in %s\n", dir)
	}
	sock := func(t string) string { return filepath.Join(dir, t+".sock") }
	if sw == nil {
		if _, err := os.Stat(sock("camera")); err != nil {
			return unreachable(sock("camera"), err)
		}
	}

	// camera: serve Camera on 0x010 (register before connecting).
	camNode, err := switched.NewNode(switched.Config{Socket: sock("camera"), Tenant: "camera", Policy: pol, Logger: quiet})
	if err != nil {
		return err
	}
	srv, err := camNode.Serve(switched.ServerConfig{
		APID:     0x010,
		Handler:  cameraipc.NewCameraDispatcher(&camsim.Camera{}),
		Restrict: []ipc.DispatchOption{ipc.Restrict(cameraipc.CameraOpCapture, "processor")},
	})
	if err != nil {
		return err
	}
	if err := camNode.Start(ctx); err != nil {
		return err
	}
	defer camNode.Close()
	srvCtx, stopSrv := context.WithCancel(ctx)
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Run(srvCtx) }()
	defer func() { stopSrv(); <-srvDone }()
	fmt.Fprintln(out, "camera:    connected, serves Camera on APID 0x010 (capture restricted to processor)")

	proc, err := switched.Dial(ctx, switched.Config{Socket: sock("processor"), Tenant: "processor", Policy: pol, Logger: quiet})
	if err != nil {
		return err
	}
	defer proc.Close()
	fmt.Fprintf(out, "processor: connected, calls from APID %v\n", proc.APID())
	cam := cameraipc.NewCameraClient(proc.Client(0x010))

	if err := cam.SetMode(ctx, cameraipc.CameraModeScience); err != nil {
		return fmt.Errorf("set_mode: %w", err)
	}
	fmt.Fprintln(out, "processor -> camera  set_mode(Science)           ok")
	const exposure = 2000
	id, err := cam.Capture(ctx, exposure)
	if err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	fmt.Fprintf(out, "processor -> camera  capture(%d us)            frame %d\n", exposure, id)
	img := make([]byte, camsim.ImageSize)
	for off := 0; off < len(img); {
		sink := img[off:min(off+65536, len(img))]
		n, err := cam.ReadImage(ctx, id, uint32(off), sink)
		if err != nil {
			return fmt.Errorf("read_image: %w", err)
		}
		// The reply carries the lease's bytes back: rc, body, lease.
		replyLen := 1 + 4 + 4 + 4 + 1 + 4 + len(sink)
		fmt.Fprintf(out, "processor -> camera  read_image(%d, off %6d)    %5d bytes through a %d-byte write lease (reply: %d frames)\n",
			id, off, n, len(sink), ipcframe.Segments(replyLen))
		off += int(n)
		if n == 0 {
			return errors.New("read_image returned no bytes")
		}
	}
	for i := range img {
		if img[i] != camsim.Pixel(id, exposure, i) {
			return fmt.Errorf("image byte %d is %#x, want %#x", i, img[i], camsim.Pixel(id, exposure, i))
		}
	}
	fmt.Fprintf(out, "processor:           all %d image bytes checked\n", len(img))
	st, err := cam.Status(ctx)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	modes := map[cameraipc.CameraMode]string{cameraipc.CameraModeOff: "Off", cameraipc.CameraModePreview: "Preview", cameraipc.CameraModeScience: "Science"}
	fmt.Fprintf(out, "processor -> camera  status()                    mode %s, %d frame(s), %.1f C\n",
		modes[st.Mode], st.Frames, float64(st.TemperatureMc)/1000)

	sp, err := switched.Dial(ctx, switched.Config{Socket: sock("spaceos"), Tenant: "spaceos", Policy: pol, Logger: quiet})
	if err != nil {
		return err
	}
	defer sp.Close()
	_, err = cameraipc.NewCameraClient(sp.Client(0x010)).Capture(ctx, exposure)
	if !errors.Is(err, ipc.AccessViolation) {
		return fmt.Errorf("spaceos capture: got %v, want AccessViolation", err)
	}
	fmt.Fprintf(out, "spaceos   -> camera  capture(%d us)            refused: %v (caller from source APID %v)\n",
		exposure, ipc.AccessViolation, sp.APID())

	ps := proc.Stats()
	ss := srv.Stats()
	fmt.Fprintf(out, "totals:    processor made %d calls, got %d replies; camera served %d, denied %d\n",
		ps.Calls, ps.Replies, ss.Served, ss.Denied)
	if sw != nil {
		for _, c := range sw.Counters() {
			fmt.Fprintf(out, "switch:    %-9s generation %d, %d frames received, %d dropped\n", c.Tenant, c.Generation, c.Received, c.DroppedTotal())
		}
	}
	return nil
}
