package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"spacenet/ip/lan"
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
	out := cmd.OutOrStdout()
	for _, size := range []int{64, 1500} {
		sw, err := lanbench.Mem(size, d)
		if err != nil {
			return err
		}
		base, err := lanbench.PipeBaseline(size, d)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "mem %4d B   switch %6.2f Mframes/s %6.2f Gbit/s   bare pipe %6.2f Mframes/s   ratio %.2f\n",
			size, sw.FPS()/1e6, sw.Gbps(), base.FPS()/1e6, sw.FPS()/base.FPS())
	}
	if !benchLANFlags.kernel {
		return nil
	}
	ours, err := lanbench.Ours(d)
	if err != nil {
		return fmt.Errorf("kernel path through our switch: %w", err)
	}
	relay, err := lanbench.Relay(d)
	if err != nil {
		return fmt.Errorf("kernel path through a bare TAP relay: %w", err)
	}
	br, err := lanbench.Bridge(d)
	if err != nil {
		return fmt.Errorf("kernel path through a Linux bridge: %w", err)
	}
	fmt.Fprintf(out, "tcp          switch %6.2f Gbit/s   bare TAP relay %6.2f Gbit/s   linux bridge %6.2f Gbit/s   switch/bridge %.2f  relay/bridge %.2f  switch/relay %.2f\n",
		ours.TCPGbps, relay.TCPGbps, br.TCPGbps, ours.TCPGbps/br.TCPGbps, relay.TCPGbps/br.TCPGbps, ours.TCPGbps/relay.TCPGbps)
	fmt.Fprintf(out, "udp   64 B   switch %6.0f kframes/s (%4.1f%% lost)   bare TAP relay %6.0f kframes/s (%4.1f%% lost)   linux bridge %6.0f kframes/s (%4.1f%% lost)   switch/bridge %.2f  relay/bridge %.2f  switch/relay %.2f\n",
		ours.UDPpps/1e3, 100*ours.UDPLoss, relay.UDPpps/1e3, 100*relay.UDPLoss, br.UDPpps/1e3, 100*br.UDPLoss,
		ours.UDPpps/br.UDPpps, relay.UDPpps/br.UDPpps, ours.UDPpps/relay.UDPpps)
	fmt.Fprintf(out, "udp   64 B at 100 kframes/s offered: switch %.2f%% lost, bare TAP relay %.2f%% lost, linux bridge %.2f%% lost\n",
		100*ours.UDPLoss100k, 100*relay.UDPLoss100k, 100*br.UDPLoss100k)
	for _, p := range ours.Ports {
		fmt.Fprintf(out, "  switch port %s: rx %d tx %d frames, queue_full %d\n", p.Name, p.RxFrames, p.TxFrames, p.TxDrops[lan.ReasonQueueFull])
	}
	return nil
}
