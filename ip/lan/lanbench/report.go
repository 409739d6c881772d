package lanbench

import (
	"fmt"
	"io"
	"time"

	"spacenet/ip/lan"
)

// Report measures the in-process ports against a bare pipe at 64 and 1500
// bytes for d each and, if kernel, the three kernel paths (Ours, Relay,
// Bridge), and prints each figure next to its baselines and their ratios
// to out (what `spacenet bench lan` prints).
func Report(out io.Writer, d time.Duration, kernel bool) error {
	for _, size := range []int{64, 1500} {
		sw, err := Mem(size, d)
		if err != nil {
			return err
		}
		base, err := PipeBaseline(size, d)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "mem %4d B   switch %6.2f Mframes/s %6.2f Gbit/s   bare pipe %6.2f Mframes/s   ratio %.2f\n",
			size, sw.FPS()/1e6, sw.Gbps(), base.FPS()/1e6, sw.FPS()/base.FPS())
	}
	if !kernel {
		return nil
	}
	ours, err := Ours(d)
	if err != nil {
		return fmt.Errorf("kernel path through our switch: %w", err)
	}
	relay, err := Relay(d)
	if err != nil {
		return fmt.Errorf("kernel path through a bare TAP relay: %w", err)
	}
	br, err := Bridge(d)
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
