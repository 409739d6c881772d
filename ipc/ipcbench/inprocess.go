package ipcbench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"runtime"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"spacenet/apid/apidswitch"
	"spacenet/apid/apidswitch/switchbench"
	"spacenet/apid/frame"
	"spacenet/apid/guest"
	"spacenet/camera/cameraipc"
	"spacenet/camera/camsim"
	"spacenet/internal/benchstat"
	"spacenet/ipc/switched"
)

// InProcess is a RunInProcess run: every party a goroutine of this
// process.
type InProcess struct {
	Calls    int // sequential round trips per round, at least 100
	Rounds   int // rounds per figure; medians are printed
	Parallel int // goroutines calling at once for the throughput figure; 0 skips it
	Dir      string
	Out      io.Writer
}

// quiet is the logger of the in-process switch and IPC nodes: their logs
// would only blur the figures.
var quiet = slog.New(slog.DiscardHandler)

// RunInProcess starts the APID switch (Policy) in o.Dir and measures, in
// the same run, o.Calls sequential round trips of a raw frame ping-pong
// through the switch, Camera.status through ipc/switched, and the same
// bytes over gRPC on a Unix socket, rounds alternating, then the
// throughput of o.Parallel callers through one IPC client and one gRPC
// connection, and prints a table to o.Out.
func RunInProcess(ctx context.Context, o InProcess) error {
	n, rounds, out := o.Calls, o.Rounds, o.Out
	// The v0 topology plus two tenants for the raw ping-pong, so that the
	// raw guests and the IPC nodes hold their connections side by side
	// (a second connection for a tenant would replace the first).
	pol := Policy()
	if err := pol.Validate(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sw, stopSwitch, err := switchbench.Start(ctx, apidswitch.Config{Policy: pol, SocketDir: filepath.Join(o.Dir, "s"), Logger: quiet})
	if err != nil {
		return err
	}
	defer stopSwitch()

	raw, err := newInProcessRaw(sw)
	if err != nil {
		return err
	}
	grpcB, err := newInProcessGRPC(filepath.Join(o.Dir, "grpc.sock"))
	if err != nil {
		raw.close()
		return err
	}
	defer grpcB.close()
	ipcB, err := newInProcessIPC(ctx, sw)
	if err != nil {
		raw.close()
		return err
	}
	defer ipcB.close()

	fmt.Fprintf(out, "spacenet bench ipc: %d sequential round trips x %d rounds, camera.status (request %d bytes, reply %d bytes)\n",
		n, rounds, RequestLen, ReplyLen)
	// Warm up every path once.
	for _, f := range []func() error{raw.call, ipcB.call, grpcB.call} {
		if _, err := benchstat.Measure(1000, f); err != nil {
			raw.close()
			return err
		}
	}
	var rawF, ipcF, grpcF []benchstat.Figure
	var allocs float64
	for range rounds {
		f, err := benchstat.Measure(n, raw.call)
		if err != nil {
			raw.close()
			return fmt.Errorf("raw: %w", err)
		}
		rawF = append(rawF, f)
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		f, err = benchstat.Measure(n, ipcB.call)
		runtime.ReadMemStats(&ms1)
		if err != nil {
			raw.close()
			return fmt.Errorf("ipc: %w", err)
		}
		allocs = float64(ms1.Mallocs-ms0.Mallocs) / float64(n)
		ipcF = append(ipcF, f)
		f, err = benchstat.Measure(n, grpcB.call)
		if err != nil {
			raw.close()
			return fmt.Errorf("grpc: %w", err)
		}
		grpcF = append(grpcF, f)
	}
	raw.close()
	r, i, g := benchstat.MedianFigure(rawF), benchstat.MedianFigure(ipcF), benchstat.MedianFigure(grpcF)
	fmt.Fprintf(out, "%-44s %10s %10s %10s\n", "", "calls/s", "p50", "p99")
	row := func(name string, f benchstat.Figure) {
		fmt.Fprintf(out, "%-44s %10.0f %10s %10s\n", name, f.Rate, f.P50.Round(100*time.Nanosecond), f.P99.Round(100*time.Nanosecond))
	}
	row("raw frame ping-pong through the switch", r)
	row("Idol IPC through the switch (ipc/switched)", i)
	row("gRPC over a Unix socket (raw codec)", g)
	fmt.Fprintf(out, "IPC p50 / raw p50:  %.2fx (goal <= 1.5x)\n", float64(i.P50)/float64(r.P50))
	fmt.Fprintf(out, "gRPC p50 / IPC p50: %.2fx (goal >= 3x)\n", float64(g.P50)/float64(i.P50))
	fmt.Fprintf(out, "IPC heap allocations per call (both tenants, whole process): %.1f\n", allocs)

	if p := o.Parallel; p > 0 {
		ipcRate, err := parallelRate(p, n, ipcB.call)
		if err != nil {
			return fmt.Errorf("ipc parallel: %w", err)
		}
		grpcRate, err := parallelRate(p, n, grpcB.call)
		if err != nil {
			return fmt.Errorf("grpc parallel: %w", err)
		}
		fmt.Fprintf(out, "%d goroutines, one client: IPC %.0f calls/s, gRPC %.0f calls/s (IPC/gRPC %.2fx)\n",
			p, ipcRate, grpcRate, ipcRate/grpcRate)
	}
	st := ipcB.proc.Stats()
	fmt.Fprintf(out, "IPC client: %d calls, %d replies, %d stray; %d replies read by their caller itself, %d reader handovers\n",
		st.Calls, st.Replies, st.Stray, st.SelfRead, st.Handovers)
	cs := ipcB.cam.Stats()
	fmt.Fprintf(out, "IPC server node: %d reader handovers\n", cs.Handovers)
	return nil
}

// parallelRate makes n calls from workers goroutines at once (measurePar)
// and returns calls per second.
func parallelRate(workers, n int, call func() error) (float64, error) {
	callers := make([]func(uint64) error, workers)
	for i := range callers {
		callers[i] = func(uint64) error { return call() }
	}
	r, err := measurePar(n, callers)
	return r.Rate, err
}

// inProcessRaw is the floor: tenant ping writes one TC frame to tenant
// pong, whose guest echoes a TM frame back, both by hand, as long as the
// IPC call's frames.
type inProcessRaw struct {
	pong, ping *guest.Conn
	req, rep   frame.Frame
	in         frame.Frame
	done       chan struct{}
}

func newInProcessRaw(sw *apidswitch.Switch) (*inProcessRaw, error) {
	pong, err := guest.Dial(sw.SocketPath("pong"))
	if err != nil {
		return nil, err
	}
	ping, err := guest.Dial(sw.SocketPath("ping"))
	if err != nil {
		pong.Close()
		return nil, err
	}
	b := &inProcessRaw{pong: pong, ping: ping, done: make(chan struct{})}
	frame.Encode(&b.req, frame.TC, pingAPID, pongAPID, make([]byte, rawRequestLen))
	frame.Encode(&b.rep, frame.TM, pongAPID, pingAPID, make([]byte, rawReplyLen))
	go func() {
		defer close(b.done)
		var f frame.Frame
		for {
			if err := pong.ReadFrame(&f); err != nil {
				return
			}
			if f.Type() != frame.TC {
				continue // not a ping (the switch's notices)
			}
			if err := pong.WriteFrame(&b.rep); err != nil {
				return
			}
		}
	}()
	return b, nil
}

func (b *inProcessRaw) call() error {
	if err := b.ping.WriteFrame(&b.req); err != nil {
		return err
	}
	for {
		if err := b.ping.ReadFrame(&b.in); err != nil {
			return err
		}
		if b.in.Type() == frame.TM {
			return nil
		}
	}
}

func (b *inProcessRaw) close() {
	b.pong.Close()
	b.ping.Close()
	<-b.done
}

// inProcessIPC is the camera serving camsim through the generated
// dispatcher and the processor calling it through the generated client.
type inProcessIPC struct {
	cam, proc *switched.Node
	client    *cameraipc.CameraClient
	srvDone   chan error
	stop      context.CancelFunc
	ctx       context.Context
}

func newInProcessIPC(ctx context.Context, sw *apidswitch.Switch) (*inProcessIPC, error) {
	cam, err := switched.NewNode(switched.Config{Socket: sw.SocketPath("camera"), Tenant: "camera", Logger: quiet})
	if err != nil {
		return nil, err
	}
	srv, err := cam.Serve(switched.ServerConfig{APID: cameraAPID, Handler: cameraipc.NewCameraDispatcher(&camsim.Camera{})})
	if err != nil {
		return nil, err
	}
	if err := cam.Start(ctx); err != nil {
		return nil, err
	}
	sctx, stop := context.WithCancel(ctx)
	b := &inProcessIPC{cam: cam, srvDone: make(chan error, 1), stop: stop, ctx: ctx}
	go func() { b.srvDone <- srv.Run(sctx) }()
	b.proc, err = switched.Dial(ctx, switched.Config{Socket: sw.SocketPath("processor"), Tenant: "processor", Logger: quiet})
	if err != nil {
		b.close()
		return nil, err
	}
	b.client = cameraipc.NewCameraClient(b.proc.Client(cameraAPID))
	return b, nil
}

func (b *inProcessIPC) call() error {
	_, err := b.client.Status(b.ctx)
	return err
}

func (b *inProcessIPC) close() {
	b.stop()
	<-b.srvDone
	b.cam.Close()
	if b.proc != nil {
		b.proc.Close()
	}
}

// inProcessGRPC serves Camera.Status (RegisterStatus) on a Unix socket and
// calls it with a request as long as the IPC call's.
type inProcessGRPC struct {
	srv  *grpc.Server
	conn *grpc.ClientConn
	req  []byte
	done chan error
}

func newInProcessGRPC(path string) (*inProcessGRPC, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	b := &inProcessGRPC{srv: grpc.NewServer(grpc.ForceServerCodec(RawCodec{})), req: make([]byte, RequestLen), done: make(chan error, 1)}
	RegisterStatus(b.srv)
	go func() { b.done <- b.srv.Serve(ln) }()
	b.conn, err = grpc.NewClient("unix://"+path,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(RawCodec{})))
	if err != nil {
		b.srv.Stop()
		<-b.done
		return nil, err
	}
	return b, nil
}

func (b *inProcessGRPC) call() error {
	req := b.req
	var resp []byte
	if err := b.conn.Invoke(context.Background(), StatusMethod, &req, &resp); err != nil {
		return err
	}
	if len(resp) != ReplyLen {
		return fmt.Errorf("grpc: %d-byte response", len(resp))
	}
	return nil
}

func (b *inProcessGRPC) close() {
	b.conn.Close()
	b.srv.Stop()
	<-b.done
}
