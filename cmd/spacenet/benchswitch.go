package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"spacenet/apid/apidswitch"
	"spacenet/apid/apidswitch/switchbench"
	"spacenet/ops/metrics/metricsbench"
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

// selfLauncher starts a bench role in a process of this binary.
func selfLauncher(args []string) *exec.Cmd {
	self, err := os.Executable()
	if err != nil {
		self = os.Args[0]
	}
	return exec.Command(self, append([]string{"bench", "role"}, args...)...)
}

// runBenchProcesses is bench switch --processes.
func runBenchProcesses(cmd *cobra.Command, batches []int, base string) error {
	fl := benchSwitchFlags
	_, err := switchbench.RunProcesses(cmd.Context(), switchbench.Config{
		Launcher: selfLauncher,
		Frames:   fl.frames,
		Batches:  batches,
		Pings:    fl.pings,
		Rounds:   fl.rounds,
		Dir:      base,
		Out:      cmd.OutOrStdout(),
		Switch: func(dir string) (*apidswitch.Switch, func(), error) {
			return switchbench.Start(cmd.Context(), apidswitch.Config{SocketDir: dir})
		},
	})
	return err
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
	o := switchbench.InProcess{Frames: fl.frames, Batches: batches, Window: fl.window, Pings: fl.pings, Rounds: fl.rounds, Dir: base, Out: cmd.OutOrStdout()}
	switch {
	case fl.processes && fl.metrics:
		return metricsbench.RunProcesses(cmd.Context(), metricsbench.ProcessOptions{Launch: selfLauncher, Frames: fl.frames,
			Batches: batches, Rounds: fl.rounds, Scrape: fl.scrape, Dir: base, Out: cmd.OutOrStdout()})
	case fl.processes:
		return runBenchProcesses(cmd, batches, base)
	case fl.metrics:
		return metricsbench.Run(cmd.Context(), metricsbench.Options{InProcess: o, Scrape: fl.scrape})
	}
	return switchbench.RunInProcess(cmd.Context(), o)
}
