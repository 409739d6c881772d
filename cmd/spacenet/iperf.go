package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"spacenet/ip/netstack/nsbench"
)

func init() {
	var (
		size  string
		dur   time.Duration
		mtu   int
		via   string
		quiet bool
	)
	cmd := &cobra.Command{
		Use:   "iperf",
		Short: "Send bytes between two netstacks in this process and print the rate",
		Long: `iperf joins two userspace netstacks (gVisor, driven by command channels) through
a Pipe of IP packets (--via pipe), the virtual LAN switch (--via lan, Ethernet
with ARP, by-reference ports: packets cross the switch uncopied) or two TAP devices on a Linux bridge in a network namespace made for
the run (--via tap, root; full checksums), opens one TCP connection, sends --bytes (or for --time), and prints
the receiver's rate every second and a summary, like mirage-vnetif's iperf_self.

--via vxlan (root) puts each netstack on its own LAN switch and joins the two
switches by a VXLAN port each (VNI 42, MTU --mtu), their UDP sockets in two
network namespaces made for the run, joined by a veth of MTU --mtu+50: the
LAN across two hosts. It then runs the same transfer through the kernel's
own vxlan pair (--via kernel-vxlan: each netstack on a TAP bridged to a
kernel vxlan device, over the same kind of veth) and prints the ratio.
Without root both say so and exit 1.`,
		Example: `  spacenet iperf --bytes 1G --mtu 65000 --via pipe
  spacenet iperf --time 5s --mtu 1500 --via lan
  spacenet iperf --bytes 256M --via tap
  sudo spacenet iperf --bytes 256M --via vxlan`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, err := parseSize(size)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if mtu < 1280 || mtu > 65000 {
				return &exitError{code: 2, err: fmt.Errorf("--mtu %d: want 1280..65000", mtu)}
			}
			if nsbench.Vias[via] == nil {
				return &exitError{code: 2, err: fmt.Errorf("--via %q: want %s", via, nsbench.ViaNames)}
			}
			if err := nsbench.Iperf(via, nsbench.Options{MTU: mtu, Bytes: n, Duration: dur}, quiet, cmd.OutOrStdout()); err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&size, "bytes", "1G", "bytes to send (suffix K, M, G: powers of 1024)")
	cmd.Flags().DurationVar(&dur, "time", 0, "send for this long instead of --bytes")
	cmd.Flags().IntVar(&mtu, "mtu", 1500, "link MTU (IP packet size), 1280..65000")
	cmd.Flags().StringVar(&via, "via", "pipe", "what joins the netstacks: "+nsbench.ViaNames)
	cmd.Flags().BoolVar(&quiet, "quiet", false, "print only the summary")
	cmd.RegisterFlagCompletionFunc("via", cobra.FixedCompletions([]string{"pipe", "lan", "tap", "vxlan", "kernel-vxlan"}, cobra.ShellCompDirectiveNoFileComp))
	rootCmd.AddCommand(cmd)
}

// parseSize parses "1G", "256M", "64K" or a plain byte count.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("size %q: want a positive count with optional K, M or G", s)
	}
	return v * mult, nil
}
