package main

import (
	"fmt"
	"runtime"
	"sort"
	"time"

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
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "netstack bench: %d MiB per transfer, median of %d, GOMAXPROCS=%d\n", n>>20, runs, runtime.GOMAXPROCS(0))
			type path struct {
				name string
				f    func(nsbench.Options) (nsbench.Result, error)
				gso  bool
			}
			for _, mtu := range mtus {
				paths := []path{
					{"netstack pipe", nsbench.Netstack, false},
					{"netstack lan", nsbench.NetstackLAN, false},
					{"netstack lan copy", nsbench.NetstackLANCopy, false},
					{"bare gVisor channel", nsbench.Bare, false},
					{"kernel loopback", nsbench.Kernel, false},
				}
				if mtu < 32<<10 {
					// 32 KiB GSO super-segments on both in-memory paths.
					paths = append(paths, path{"netstack pipe gso", nsbench.Netstack, true}, path{"bare gVisor gso", nsbench.Bare, true})
				}
				// Runs are interleaved across paths (run 1 of every path,
				// then run 2, ...) so that load from elsewhere on the
				// machine falls on all of them alike.
				all := make([][]float64, len(paths))
				for i := 0; i < runs; i++ {
					for j, p := range paths {
						r, err := p.f(nsbench.Options{MTU: mtu, Bytes: n, GSO: p.gso})
						if err != nil {
							return &exitError{code: 1, err: fmt.Errorf("%s mtu %d: %w", p.name, mtu, err)}
						}
						all[j] = append(all[j], r.Gbps())
					}
				}
				gbps := map[string]float64{}
				for j, p := range paths {
					rs := all[j]
					sort.Float64s(rs)
					gbps[p.name] = rs[len(rs)/2]
					fmt.Fprintf(out, "mtu %5d  %-20s %7.2f Gbit/s  (runs %s)\n", mtu, p.name, gbps[p.name], fmtRuns(rs))
				}
				bare, kern := gbps["bare gVisor channel"], gbps["kernel loopback"]
				fmt.Fprintf(out, "mtu %5d  ratios: pipe/bare %.2f  lan/bare %.2f  lan copy/bare %.2f  pipe/kernel %.2f  lan/kernel %.2f\n",
					mtu, gbps["netstack pipe"]/bare, gbps["netstack lan"]/bare, gbps["netstack lan copy"]/bare, gbps["netstack pipe"]/kern, gbps["netstack lan"]/kern)
				if g := gbps["bare gVisor gso"]; g > 0 {
					fmt.Fprintf(out, "mtu %5d  ratio with GSO: pipe gso/bare gso %.2f\n", mtu, gbps["netstack pipe gso"]/g)
				}
			}
			d, err := nsbench.RoundTrip(rtReq)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			fmt.Fprintf(out, "command round trip (Nop): %d ns (%d requests)\n", d/time.Nanosecond, rtReq)
			return nil
		},
	}
	cmd.Flags().StringVar(&size, "bytes", "256M", "bytes per transfer (suffix K, M, G)")
	cmd.Flags().IntVar(&runs, "runs", 3, "transfers per path and MTU (the median is printed)")
	cmd.Flags().IntSliceVar(&mtus, "mtu", []int{1500, 65000}, "link MTUs to measure")
	cmd.Flags().IntVar(&rtReq, "requests", 200000, "Nop requests for the round-trip figure")
	benchCmd.AddCommand(cmd)
}

func fmtRuns(rs []float64) string {
	s := ""
	for i, r := range rs {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%.2f", r)
	}
	return s
}
