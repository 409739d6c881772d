package main

import (
	"errors"
	"time"

	"github.com/spf13/cobra"

	"spacenet/ip/lan/lanbench"
)

var benchLANFlags struct {
	duration time.Duration
	kernel   bool
}

var benchLANCmd = &cobra.Command{
	Use:   "lan",
	Short: "Virtual LAN switch frames/s against a bare pipe and the Linux bridge",
	Long: `lan measures the virtual LAN switch (package lan), each figure next to a
baseline measured in the same run:

  mem     frames/s between two in-process ports of a switch (learned
          unicast, 64 frames per call, sender and receiver in one
          goroutine), at 64 and 1500 bytes
          baseline: the same frames over a bare nic.Pipe (no switch)
  kernel  (--kernel, root, iperf3) two network namespaces, each attached
          to our switch by a TAP port: iperf3 TCP, UDP with 64-byte
          frames as fast as iperf3 sends them, and the same at 100 000
          frames/s (loss when the offered load is below saturation)
          baselines: the same namespaces joined by veth pairs and a Linux
          bridge (ip link add br0 type bridge), and by a bare TAP relay
          (two goroutines copying frames from one TAP to the other, no
          switch: the ceiling of any TAP read/write forwarder)

Each measurement lasts --duration.`,
	Example: `  spacenet bench lan
  sudo spacenet bench lan --kernel --duration 5s`,
	Args: cobra.NoArgs,
	RunE: runBenchLAN,
}

func init() {
	f := benchLANCmd.Flags()
	f.DurationVar(&benchLANFlags.duration, "duration", 2*time.Second, "length of each measurement")
	f.BoolVar(&benchLANFlags.kernel, "kernel", false, "also measure TAP ports against a Linux bridge (root, iperf3)")
	benchCmd.AddCommand(benchLANCmd)
}

func runBenchLAN(cmd *cobra.Command, _ []string) error {
	d := benchLANFlags.duration
	if d <= 0 || d > 5*time.Minute {
		return &exitError{code: 2, err: errors.New("want 0 < --duration <= 5m")}
	}
	return lanbench.Report(cmd.OutOrStdout(), d, benchLANFlags.kernel)
}
