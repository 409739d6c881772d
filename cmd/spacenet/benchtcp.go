package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"spacenet/ip/stack/stackbench"
)

func init() {
	var (
		size    string
		runs    int
		trips   int
		mtus    []int
		media   []string
		pairs   []string
		timeout time.Duration
		quiet   bool
	)
	cmd := &cobra.Command{
		Use:   "tcp",
		Short: "Our TCP (ip/stack) against gVisor's and the kernel's over pipe, LAN and TAP",
		Long: `Measures, in one run, TCP between two of our stacks (ip/stack with the
bufferless ip/tcp, through its net.Conn adapter), between two gVisor stacks
(ip/netstack), and, where the medium can carry the kernel, from each of them
to the Linux kernel's TCP in a network namespace, and the kernel to itself
(kernel-kernel, two namespaces); over an in-memory pipe, the virtual LAN (two
in-process ports; each kernel on a TAP plugged into a port of its own) and
TAPs on a Linux bridge in a namespace (the kernel on the bridge; the second
kernel joined to it by a veth pair), at each --mtu. Each transfer
carries --bytes each way at once, sha256-checked, timed from the established
connection (the dial apart: its longest per row is "dial max"); then --trips
round trips of 64 bytes. Prints the median of --runs runs (interleaved across pairs), p50 and
p99 round trip, heap allocations per data segment (whole process), and the
ratios ours/gVisor and ours/kernel. The kernel pairs and the TAP medium need root.`,
		Example: `  spacenet bench tcp --media pipe,lan          # without root: the kernel's pairs are skipped
  spacenet bench tcp --bytes 100M --runs 3      # as root: every medium and pair
  spacenet bench tcp --pairs ours-ours,kernel-kernel --media tap   # as root`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, err := parseSize(size)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if runs < 1 || trips < 1 {
				return &exitError{code: 2, err: fmt.Errorf("--runs %d and --trips %d: both must be at least 1", runs, trips)}
			}
			for _, m := range mtus {
				if m < 576 || m > 65535 {
					return &exitError{code: 2, err: fmt.Errorf("--mtu %d: want 576 to 65535", m)}
				}
			}
			for _, m := range media {
				if !slices.Contains(stackbench.Media, m) {
					return &exitError{code: 2, err: fmt.Errorf("--media %q: want pipe, lan or tap", m)}
				}
			}
			var pairings []stackbench.Pairing
			for _, name := range pairs {
				i := slices.IndexFunc(stackbench.Pairings, func(p stackbench.Pairing) bool { return p.String() == name })
				if i < 0 {
					return &exitError{code: 2, err: fmt.Errorf("--pairs %q: want one of %v", name, stackbench.Pairings)}
				}
				pairings = append(pairings, stackbench.Pairings[i])
			}
			c := stackbench.Config{Bytes: n, Trips: trips, Runs: runs, MTUs: mtus, Media: media, Pairings: pairings, Timeout: timeout}
			if !quiet {
				c.Progress = cmd.ErrOrStderr()
			}
			rep, err := stackbench.Run(cmd.Context(), c)
			if err != nil {
				return &exitError{code: exitFailure, err: fmt.Errorf("bench tcp: %w", err)}
			}
			rep.WriteTable(cmd.OutOrStdout())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&size, "bytes", "64M", "bytes each way per transfer (suffix K, M, G)")
	f.IntVar(&runs, "runs", 3, "runs per pair (the median is printed)")
	f.IntVar(&trips, "trips", 2000, "round trips of 64 bytes per run")
	f.IntSliceVar(&mtus, "mtu", []int{1500, 9000}, "link MTUs to measure")
	f.StringSliceVar(&media, "media", stackbench.Media, "media to measure: pipe, lan, tap")
	f.StringSliceVar(&pairs, "pairs", nil, "client-server pairs to measure, e.g. ours-ours,kernel-kernel (default all)")
	f.DurationVar(&timeout, "timeout", 2*time.Minute, "bound on each transfer and each run of round trips")
	f.BoolVar(&quiet, "quiet", false, "no line per measurement on stderr")
	benchCmd.AddCommand(cmd)
}
