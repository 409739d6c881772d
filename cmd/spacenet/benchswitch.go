package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"spacenet/apid/apidswitch"
	"spacenet/apid/apidswitch/switchbench"
	"spacenet/apid/frame"
	"spacenet/internal/benchstat"
)

var benchSwitchFlags struct {
	frames    int
	batches   string
	window    int
	pings     int
	rounds    int
	cpuprof   string
	processes bool
	metrics   bool
	scrape    time.Duration
}

var benchSwitchCmd = &cobra.Command{
	Use:   "switch",
	Short: "APID switch throughput and latency against a plain relay",
	Long: `switch starts the APID switch (v0 topology) and, in the same run, a plain
relay: a goroutine per direction copying whole frames between two Unix socket
connections with the same batching (one read of up to 256 frames, one write
of what was read) and no routing, queueing or counting.

Throughput: a camera client writes --frames frames to the processor in
writes of 1, 16 and 256 frames, a processor client reads them; the sender
keeps at most --window frames in flight so that no frame is refused
(Host_busy), and the run checks that none was. Latency: one frame
ping-pong camera -> processor -> camera, through the switch and through the
relay. Each figure is the median of --rounds rounds, the switch and the
relay alternating.

With --processes, every guest is a process of its own, as real guests
(VMs) are: this program started again in a role. The sender writes flat
out, with no window: the switch's flow control holds it back when the
receiver is behind, as the relay's blocking write does, and the table
shows the frames each lost (the switch must lose none). Ping-pong runs
between two processes as well.

With --metrics, the throughput rounds compare the switch with its
Prometheus endpoint on (a loopback --metrics-listen, GET /metrics every
--scrape) against the same switch with it off, rounds alternating. With
--processes --metrics, every round runs three flows on one switch, off,
on, off, each guest a process: the on/off ratio against the two offs
around it, and the off/off ratio (the machine's noise), as quartiles.`,
	Args: cobra.NoArgs,
	RunE: runBenchSwitch,
}

func init() {
	f := benchSwitchCmd.Flags()
	f.IntVar(&benchSwitchFlags.frames, "frames", 200_000, "frames per throughput round")
	f.StringVar(&benchSwitchFlags.batches, "batches", "1,16,256", "frames per write, comma-separated")
	f.IntVar(&benchSwitchFlags.window, "window", 512, "most frames in flight (must stay under the switch's queue bound)")
	f.IntVar(&benchSwitchFlags.pings, "pings", 5000, "round trips per latency round")
	f.IntVar(&benchSwitchFlags.rounds, "rounds", 3, "rounds per figure (the median is printed)")
	f.StringVar(&benchSwitchFlags.cpuprof, "cpuprofile", "", "write a CPU profile of the run to this file")
	f.BoolVar(&benchSwitchFlags.processes, "processes", false, "run every guest as a separate process, writing flat out (no --window)")
	f.BoolVar(&benchSwitchFlags.metrics, "metrics", false, "compare the switch with its Prometheus endpoint scraped every --scrape against the switch unobserved")
	f.DurationVar(&benchSwitchFlags.scrape, "scrape", 100*time.Millisecond, "with --metrics: time between scrapes")
	benchCmd.AddCommand(benchSwitchCmd)
	benchCmd.AddCommand(benchRoleCmd)
}

// benchRoleCmd is what --processes starts: one guest of the benchmark.
var benchRoleCmd = &cobra.Command{
	Use:                "role",
	Short:              "play one guest of bench switch --processes (internal)",
	Example:            `  spacenet bench role -role sink -socket /tmp/spacenet-0/processor.sock -frames 1000 -src 32 -dst 16`,
	Hidden:             true,
	DisableFlagParsing: true,
	RunE: func(cmd *cobra.Command, args []string) error {
		return switchbench.RunRole(args, cmd.OutOrStdout())
	},
}

// runBenchProcesses is bench switch --processes.
func runBenchProcesses(cmd *cobra.Command, batches []int, base string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	fl := benchSwitchFlags
	_, err = switchbench.RunProcesses(cmd.Context(), switchbench.Config{
		Launcher: func(args []string) *exec.Cmd {
			return exec.Command(self, append([]string{"bench", "role"}, args...)...)
		},
		Frames:  fl.frames,
		Batches: batches,
		Pings:   fl.pings,
		Rounds:  fl.rounds,
		Dir:     base,
		Out:     cmd.OutOrStdout(),
		Switch: func(dir string) (*apidswitch.Switch, func(), error) {
			return startSwitch(cmd.Context(), apidswitch.Config{SocketDir: dir, Logger: quietLog})
		},
	})
	return err
}

// benchPair is a sender and a receiver connection, through the switch or
// through the relay.
type benchPair struct {
	tx, rx     *apidswitch.Guest
	src, dst   frame.APID
	close      func()
	checkDrops func() error
}

func runBenchSwitch(cmd *cobra.Command, _ []string) error {
	fl := benchSwitchFlags
	var batches []int
	for _, s := range strings.Split(fl.batches, ",") {
		b, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || b < 1 || (b > fl.window && !fl.processes) || b > apidswitch.DefaultBatch {
			return &exitError{code: 2, err: fmt.Errorf("--batches: %q: want 1..%d (and at most --window without --processes)", s, apidswitch.DefaultBatch)}
		}
		batches = append(batches, b)
	}
	if fl.rounds < 1 || fl.frames < 1 || fl.pings < 1 {
		return &exitError{code: 2, err: errors.New("--rounds, --frames and --pings must be positive")}
	}
	if fl.window > apidswitch.DefaultQueueLen*7/8 {
		return &exitError{code: 2, err: fmt.Errorf("--window %d exceeds the room for tenants' frames in a queue (%d)", fl.window, apidswitch.DefaultQueueLen*7/8)}
	}
	if fl.cpuprof != "" {
		pf, err := os.Create(fl.cpuprof)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	base, err := os.MkdirTemp("", "spacenet-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(base)
	if fl.processes && fl.metrics {
		return runBenchMetricsProcesses(cmd, batches, base)
	}
	if fl.processes {
		return runBenchProcesses(cmd, batches, base)
	}
	if fl.metrics {
		return runBenchMetrics(cmd, batches, base)
	}

	sw, stopSwitch, err := startSwitch(context.Background(), apidswitch.Config{SocketDir: filepath.Join(base, "switch"), Logger: quietLog})
	if err != nil {
		return err
	}
	defer stopSwitch()
	switchPair := func() (*benchPair, error) {
		tx, err := apidswitch.Dial(sw.SocketPath("camera"))
		if err != nil {
			return nil, err
		}
		rx, err := apidswitch.Dial(sw.SocketPath("processor"))
		if err != nil {
			tx.Close()
			return nil, err
		}
		before := sw.Counters()
		return &benchPair{tx: tx, rx: rx, src: 0x010, dst: 0x020,
			close: func() { tx.Close(); rx.Close() },
			checkDrops: func() error {
				for i, c := range sw.Counters() {
					if d := c.DroppedTotal() - before[i].DroppedTotal(); d != 0 {
						return fmt.Errorf("switch dropped %d frames of %s: %v", d, c.Tenant, c.Dropped)
					}
				}
				return nil
			}}, nil
	}
	relays := 0
	relayPair := func() (*benchPair, error) {
		relays++
		r, err := switchbench.StartRelay(filepath.Join(base, fmt.Sprint("relay", relays)))
		if err != nil {
			return nil, err
		}
		tx, err := apidswitch.Dial(r.A)
		if err != nil {
			r.Close()
			return nil, err
		}
		rx, err := apidswitch.Dial(r.B)
		if err != nil {
			tx.Close()
			r.Close()
			return nil, err
		}
		return &benchPair{tx: tx, rx: rx, src: 0x010, dst: 0x020,
			close:      func() { tx.Close(); rx.Close(); r.Close() },
			checkDrops: func() error { return nil }}, nil
	}

	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "APID switch vs plain relay, Unix sockets, %d frames per round, window %d, median of %d rounds\n\n", fl.frames, fl.window, fl.rounds)
	fmt.Fprintf(out, "%-8s %14s %14s %8s\n", "batch", "switch fr/s", "relay fr/s", "ratio")
	for _, b := range batches {
		sws, rls, err := alternate(fl.rounds, switchPair, relayPair, func(which string, p *benchPair) (float64, error) {
			fps, err := throughput(p, b, fl.frames, fl.window)
			if err == nil {
				err = p.checkDrops()
			}
			if err != nil {
				return 0, fmt.Errorf("%s, batch %d: %w", which, b, err)
			}
			return fps, nil
		})
		if err != nil {
			return err
		}
		s, r := benchstat.Median(sws), benchstat.Median(rls)
		fmt.Fprintf(out, "%-8d %14.0f %14.0f %8.2f\n", b, s, r, s/r)
	}

	swl, rll, err := alternate(fl.rounds, switchPair, relayPair, func(which string, p *benchPair) (benchstat.Latency, error) {
		l, err := pingPong(p, fl.pings)
		if err != nil {
			return l, fmt.Errorf("%s ping-pong: %w", which, err)
		}
		return l, nil
	})
	if err != nil {
		return err
	}
	sl, rl := benchstat.MedianLatency(swl), benchstat.MedianLatency(rll)
	fmt.Fprintf(out, "\nround trip, one frame ping-pong (%d pings per round)\n", fl.pings)
	fmt.Fprintf(out, "%-8s %12s %12s\n", "", "p50", "p99")
	fmt.Fprintf(out, "%-8s %12v %12v\n", "switch", sl.P50, sl.P99)
	fmt.Fprintf(out, "%-8s %12v %12v\n", "relay", rl.P50, rl.P99)
	return nil
}

// alternate measures rounds times a new pair through the switch, then a
// new pair through the relay, closing each pair after measure, and returns
// the figures of each side in round order. which is "switch" or "relay".
func alternate[T any](rounds int, switchPair, relayPair func() (*benchPair, error), measure func(which string, p *benchPair) (T, error)) (sw, rl []T, err error) {
	for range rounds {
		for _, which := range []string{"switch", "relay"} {
			mk := switchPair
			if which == "relay" {
				mk = relayPair
			}
			p, err := mk()
			if err != nil {
				return nil, nil, err
			}
			v, err := measure(which, p)
			p.close()
			if err != nil {
				return nil, nil, err
			}
			if which == "switch" {
				sw = append(sw, v)
			} else {
				rl = append(rl, v)
			}
		}
	}
	return sw, rl, nil
}

// throughput sends n frames from p.tx to p.rx in writes of batch frames,
// at most window in flight, and returns frames per second at the receiver.
func throughput(p *benchPair, batch, n, window int) (float64, error) {
	n -= n % batch
	var received atomic.Int64
	progress := make(chan struct{}, 1)
	rxErr := make(chan error, 1)
	out := make([]frame.Frame, batch)
	for i := range out {
		frame.Encode(&out[i], frame.TM, p.src, p.dst, []byte("bench payload"))
	}
	p.rx.SetReadDeadline(time.Now().Add(2 * time.Minute))
	start := time.Now()
	go func() {
		in := make([]frame.Frame, 256)
		for received.Load() < int64(n) {
			k, err := p.rx.ReadFrames(in)
			if err != nil {
				rxErr <- err
				return
			}
			received.Add(int64(k))
			select {
			case progress <- struct{}{}:
			default:
			}
		}
		rxErr <- nil
	}()
	for sent := 0; sent < n; sent += batch {
		for sent+batch-int(received.Load()) > window {
			select {
			case <-progress:
			case err := <-rxErr:
				return 0, fmt.Errorf("receiver stopped after %d of %d frames: %v", received.Load(), n, err)
			}
		}
		if err := p.tx.WriteFrames(out); err != nil {
			return 0, err
		}
	}
	if err := <-rxErr; err != nil {
		return 0, err
	}
	return benchstat.PerSecond(n, time.Since(start)), nil
}

// pingPong bounces one frame p.tx -> p.rx -> p.tx, pings times, and returns
// the round trip's p50 and p99.
func pingPong(p *benchPair, pings int) (benchstat.Latency, error) {
	var ping, pong frame.Frame
	frame.Encode(&ping, frame.TM, p.src, p.dst, []byte("ping"))
	frame.Encode(&pong, frame.TM, p.dst, p.src, []byte("pong"))
	echoErr := make(chan error, 1)
	warm := pings / 10
	p.rx.SetReadDeadline(time.Now().Add(2 * time.Minute))
	p.tx.SetReadDeadline(time.Now().Add(2 * time.Minute))
	go func() {
		var f frame.Frame
		for range warm + pings {
			if err := p.rx.ReadFrame(&f); err != nil {
				echoErr <- err
				return
			}
			if err := p.rx.WriteFrame(&pong); err != nil {
				echoErr <- err
				return
			}
		}
		echoErr <- nil
	}()
	rtt := make([]time.Duration, 0, pings)
	var f frame.Frame
	for i := range warm + pings {
		t0 := time.Now()
		if err := p.tx.WriteFrame(&ping); err != nil {
			return benchstat.Latency{}, err
		}
		if err := p.tx.ReadFrame(&f); err != nil {
			return benchstat.Latency{}, err
		}
		if f != pong {
			return benchstat.Latency{}, fmt.Errorf("ping %d: got %x, want the pong", i, f[:16])
		}
		if i >= warm {
			rtt = append(rtt, time.Since(t0))
		}
	}
	if err := <-echoErr; err != nil {
		return benchstat.Latency{}, err
	}
	return benchstat.Latencies(rtt), nil
}
