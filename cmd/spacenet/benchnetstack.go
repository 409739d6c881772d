package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"spacenet/ip/netstack/nsbench"
)

func init() {
	var (
		size  string
		runs  int
		mtus  []int
		rtReq int
	)
	cmd := &cobra.Command{
		Use:   "netstack",
		Short: "TCP between two netstacks (Pipe, LAN switch) vs bare gVisor and kernel loopback",
		Long: `Measures, in one run, one TCP flow between two netstacks joined by a Pipe and by
the virtual LAN switch (by-reference ports, "lan", and copying ones, "lan copy"),
between two bare gVisor stacks on gVisor's channel link
endpoints (the floor of the netstack's overhead), and over the kernel's
loopback, at each --mtu; prints the median Gbit/s of --runs transfers and the
ratios, then the command round trip (a Nop request answered by the loop).`,
		Example: `  spacenet bench netstack
  spacenet bench netstack --bytes 256M --runs 5 --mtu 1500,65000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, err := parseSize(size)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if runs < 1 {
				return &exitError{code: 2, err: fmt.Errorf("--runs %d: want at least 1", runs)}
			}
			if err := nsbench.RunCompare(nsbench.Compare{Bytes: n, Runs: runs, MTUs: mtus, Requests: rtReq, Out: cmd.OutOrStdout()}); err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&size, "bytes", "256M", "bytes per transfer (suffix K, M, G)")
	cmd.Flags().IntVar(&runs, "runs", 3, "transfers per path and MTU (the median is printed)")
	cmd.Flags().IntSliceVar(&mtus, "mtu", []int{1500, 65000}, "link MTUs to measure")
	cmd.Flags().IntVar(&rtReq, "requests", 200000, "Nop requests for the round-trip figure")
	benchCmd.AddCommand(cmd)
}
