package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"spacenet/apid/apidswitch"
	"spacenet/apid/frame"
	"spacenet/apid/guest"
	"spacenet/apid/policy"
	"spacenet/camera/cameraipc"
	"spacenet/camera/camsim"
	"spacenet/internal/benchstat"
	"spacenet/ipc"
	"spacenet/ipc/ipcbench"
	"spacenet/ipc/ipcframe"
	"spacenet/ipc/switched"
)

var benchIPCFlags struct {
	calls     int
	rounds    int
	parallel  int
	processes bool
	chunks    int
}

var benchIPCCmd = &cobra.Command{
	Use:   "ipc",
	Short: "Typed IPC through the switch against raw frame ping-pong and gRPC",
	Long: `ipc starts the APID switch (v0 topology) in a temporary socket directory
and measures, in the same run, --calls sequential round trips of three ways
to ask the camera tenant for its status from the processor tenant:

  raw   one frame ping-pong through the switch, a guest echoing by hand:
        the floor (same payload sizes as the IPC call's frames);
  ipc   Camera.status through the generated client, package ipc/switched
        and the switch, served by the generated dispatcher;
  grpc  the same request and response bytes over gRPC on a Unix socket
        (a hand-registered service with a raw-bytes codec, no protoc).

It prints calls per second and p50/p99 latency of each (the median over
--rounds rounds, the three alternating), their ratios, and the throughput
of --parallel goroutines calling at once through one IPC client and one
gRPC connection.

With --processes every party is its own process, as guests are: the
switch is "spacenet run" in a fresh 0700 temporary socket directory, the
camera server and the callers are this binary re-executed, and gRPC's
client and server are two processes too, in plaintext and with mutual
TLS 1.3 (certificates made for the run). It prints, per path, calls/s and
p50/p99/p99.9 of sequential calls, the calls/s of --parallel callers, the
floors (a socketpair between two processes, one raw frame through the
switch) and the goals' ratios of each round (package ipc/ipcbench). Each
round's calls are made in --chunks chunks, the paths taking turns, so that
a change in the machine's load falls on every path alike.`,
	Args: cobra.NoArgs,
	RunE: runBenchIPC,
}

// benchIPCPeerCmd is a peer process of bench ipc --processes.
var benchIPCPeerCmd = &cobra.Command{
	Use:                "ipc-peer ROLE ARGS...",
	Short:              "A process of bench ipc --processes (started by it)",
	Hidden:             true,
	DisableFlagParsing: true,
	Args:               cobra.MinimumNArgs(1),
	RunE: func(cmd *cobra.Command, args []string) error {
		return ipcbench.Peer(cmd.Context(), args[0], args[1:], cmd.InOrStdin(), cmd.OutOrStdout())
	},
}

func init() {
	f := benchIPCCmd.Flags()
	f.IntVar(&benchIPCFlags.calls, "calls", 20000, "round trips per round")
	f.IntVar(&benchIPCFlags.rounds, "rounds", 3, "rounds per figure (the median is printed)")
	f.IntVar(&benchIPCFlags.parallel, "parallel", 8, "goroutines for the parallel throughput figure (0 skips it)")
	f.BoolVar(&benchIPCFlags.processes, "processes", false, "every party in its own process, against gRPC with and without mutual TLS")
	f.IntVar(&benchIPCFlags.chunks, "chunks", 10, "with --processes: chunks per round, the paths alternating between chunks")
	benchCmd.AddCommand(benchIPCCmd, benchIPCPeerCmd)
}

func runBenchIPCProcesses(cmd *cobra.Command) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	rep, err := ipcbench.Run(cmd.Context(), ipcbench.Config{
		Peer: func(role string, args ...string) *exec.Cmd {
			return exec.Command(self, append([]string{"bench", "ipc-peer", role}, args...)...)
		},
		Switch: func(socketDir, policyFile string) *exec.Cmd {
			return exec.Command(self, "run", "--socket-dir", socketDir, "--config", policyFile)
		},
		Calls: benchIPCFlags.calls, Chunks: benchIPCFlags.chunks, Rounds: benchIPCFlags.rounds, Parallel: benchIPCFlags.parallel,
		Progress: cmd.ErrOrStderr(),
	})
	if err != nil {
		return err
	}
	rep.WriteTable(cmd.OutOrStdout())
	return nil
}

func runBenchIPC(cmd *cobra.Command, _ []string) error {
	n, rounds := benchIPCFlags.calls, benchIPCFlags.rounds
	if n < 100 || rounds < 1 {
		return errors.New("bench ipc: --calls must be at least 100 and --rounds at least 1")
	}
	if benchIPCFlags.processes {
		return runBenchIPCProcesses(cmd)
	}
	out := cmd.OutOrStdout()
	dir, err := os.MkdirTemp("", "spacenet-bench-ipc")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	quiet := quietLog
	// The v0 topology plus two tenants for the raw ping-pong, so that the
	// raw guests and the IPC nodes hold their connections side by side
	// (a second connection for a tenant would replace the first).
	pol := policy.Default()
	pol.Tenants = append(pol.Tenants,
		policy.Tenant{Name: "ping", Owns: []policy.Range{{First: 0x300, Last: 0x30F}}, CanSendTo: []string{"pong"}},
		policy.Tenant{Name: "pong", Owns: []policy.Range{{First: 0x310, Last: 0x31F}}, CanSendTo: []string{"ping"}})
	if err := pol.Validate(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	sw, stopSwitch, err := startSwitch(ctx, apidswitch.Config{Policy: pol, SocketDir: filepath.Join(dir, "s"), Logger: quiet})
	if err != nil {
		return err
	}
	defer stopSwitch()

	// The IPC call's message sizes, so that raw and gRPC carry the same.
	reqMsg, _ := ipc.AppendRequest(nil, &ipc.Request{Op: cameraipc.CameraOpStatus, ReplyCap: cameraipc.CameraStatusReplySize})
	repMsg, _ := ipc.AppendReply(nil, &ipc.Reply{Body: make([]byte, cameraipc.CameraStatusReplySize)})

	raw, err := newIPCBenchRaw(sw, len(reqMsg)+ipcframe.HeaderSize, len(repMsg)+ipcframe.HeaderSize)
	if err != nil {
		return err
	}
	grpcB, err := newIPCBenchGRPC(filepath.Join(dir, "grpc.sock"))
	if err != nil {
		raw.close()
		return err
	}
	defer grpcB.close()
	ipcB, err := newIPCBenchIPC(ctx, sw, quiet)
	if err != nil {
		raw.close()
		return err
	}
	defer ipcB.close()

	fmt.Fprintf(out, "spacenet bench ipc: %d sequential round trips x %d rounds, camera.status (request %d bytes, reply %d bytes)\n",
		n, rounds, len(reqMsg), len(repMsg))
	// Warm up every path once.
	for _, f := range []func() error{raw.call, ipcB.call, func() error { return grpcB.call(reqMsg) }} {
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
		f, err = benchstat.Measure(n, func() error { return grpcB.call(reqMsg) })
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

	if p := benchIPCFlags.parallel; p > 0 {
		ipcRate, err := ipcBenchParallel(p, n, ipcB.call)
		if err != nil {
			return fmt.Errorf("ipc parallel: %w", err)
		}
		grpcRate, err := ipcBenchParallel(p, n, func() error { return grpcB.call(reqMsg) })
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

func ipcBenchParallel(workers, n int, call func() error) (float64, error) {
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	per := n / workers
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				if err := call(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	d := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return benchstat.PerSecond(per*workers, d), nil
}

// ipcBenchRaw is the floor: tenant ping writes one TC frame to tenant
// pong, whose guest echoes a TM frame back, both by hand.
type ipcBenchRaw struct {
	cam, proc *guest.Conn
	req, rep  frame.Frame
	in        frame.Frame
	done      chan struct{}
}

func newIPCBenchRaw(sw *apidswitch.Switch, reqLen, repLen int) (*ipcBenchRaw, error) {
	cam, err := guest.Dial(sw.SocketPath("pong"))
	if err != nil {
		return nil, err
	}
	proc, err := guest.Dial(sw.SocketPath("ping"))
	if err != nil {
		cam.Close()
		return nil, err
	}
	b := &ipcBenchRaw{cam: cam, proc: proc, done: make(chan struct{})}
	frame.Encode(&b.req, frame.TC, 0x300, 0x310, make([]byte, reqLen))
	frame.Encode(&b.rep, frame.TM, 0x310, 0x300, make([]byte, repLen))
	go func() {
		defer close(b.done)
		var f frame.Frame
		for {
			if err := cam.ReadFrame(&f); err != nil {
				return
			}
			if f.Type() != frame.TC {
				continue // not a ping (the switch's notices)
			}
			if err := cam.WriteFrame(&b.rep); err != nil {
				return
			}
		}
	}()
	return b, nil
}

func (b *ipcBenchRaw) call() error {
	if err := b.proc.WriteFrame(&b.req); err != nil {
		return err
	}
	for {
		if err := b.proc.ReadFrame(&b.in); err != nil {
			return err
		}
		if b.in.Type() == frame.TM {
			return nil
		}
	}
}

func (b *ipcBenchRaw) close() {
	b.cam.Close()
	b.proc.Close()
	<-b.done
}

// ipcBenchIPC is the camera serving camsim through the generated
// dispatcher and the processor calling it through the generated client.
type ipcBenchIPC struct {
	cam, proc *switched.Node
	client    *cameraipc.CameraClient
	srvDone   chan error
	stop      context.CancelFunc
	ctx       context.Context
}

func newIPCBenchIPC(ctx context.Context, sw *apidswitch.Switch, log *slog.Logger) (*ipcBenchIPC, error) {
	cam, err := switched.NewNode(switched.Config{Socket: sw.SocketPath("camera"), Tenant: "camera", Logger: log})
	if err != nil {
		return nil, err
	}
	srv, err := cam.Serve(switched.ServerConfig{APID: 0x010, Handler: cameraipc.NewCameraDispatcher(&camsim.Camera{})})
	if err != nil {
		return nil, err
	}
	if err := cam.Start(ctx); err != nil {
		return nil, err
	}
	sctx, stop := context.WithCancel(ctx)
	b := &ipcBenchIPC{cam: cam, srvDone: make(chan error, 1), stop: stop, ctx: ctx}
	go func() { b.srvDone <- srv.Run(sctx) }()
	b.proc, err = switched.Dial(ctx, switched.Config{Socket: sw.SocketPath("processor"), Tenant: "processor", Logger: log})
	if err != nil {
		b.close()
		return nil, err
	}
	b.client = cameraipc.NewCameraClient(b.proc.Client(0x010))
	return b, nil
}

func (b *ipcBenchIPC) call() error {
	_, err := b.client.Status(b.ctx)
	return err
}

func (b *ipcBenchIPC) close() {
	b.stop()
	<-b.srvDone
	b.cam.Close()
	if b.proc != nil {
		b.proc.Close()
	}
}

type ipcBenchGRPC struct {
	srv  *grpc.Server
	conn *grpc.ClientConn
	done chan error
}

// newIPCBenchGRPC serves ipcbench's Camera.Status on a Unix socket at path
// (replies as long as the IPC reply) and connects a client to it.
func newIPCBenchGRPC(path string) (*ipcBenchGRPC, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	b := &ipcBenchGRPC{srv: grpc.NewServer(grpc.ForceServerCodec(ipcbench.RawCodec{})), done: make(chan error, 1)}
	ipcbench.RegisterStatus(b.srv)
	go func() { b.done <- b.srv.Serve(ln) }()
	b.conn, err = grpc.NewClient("unix://"+path,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(ipcbench.RawCodec{})))
	if err != nil {
		b.srv.Stop()
		<-b.done
		return nil, err
	}
	return b, nil
}

func (b *ipcBenchGRPC) call(req []byte) error {
	var resp []byte
	if err := b.conn.Invoke(context.Background(), ipcbench.StatusMethod, &req, &resp); err != nil {
		return err
	}
	if len(resp) != ipcbench.ReplyLen {
		return fmt.Errorf("grpc: %d-byte response", len(resp))
	}
	return nil
}

func (b *ipcBenchGRPC) close() {
	b.conn.Close()
	b.srv.Stop()
	<-b.done
}
