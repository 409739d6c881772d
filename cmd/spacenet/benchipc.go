package main

import (
	"errors"
	"os"
	"os/exec"

	"github.com/spf13/cobra"

	"spacenet/ipc/ipcbench"
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
	dir, err := os.MkdirTemp("", "spacenet-bench-ipc")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	return ipcbench.RunInProcess(cmd.Context(), ipcbench.InProcess{Calls: n, Rounds: rounds, Parallel: benchIPCFlags.parallel, Dir: dir, Out: cmd.OutOrStdout()})
}
