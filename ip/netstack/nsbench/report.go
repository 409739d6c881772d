package nsbench

import (
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"time"

	"spacenet/internal/benchstat"
)

// Compare is a RunCompare run.
type Compare struct {
	Bytes    int64 // per transfer
	Runs     int   // transfers per path and MTU; the median is printed
	MTUs     []int
	Requests int // Nop requests for the command round trip
	Out      io.Writer
}

// path is one way of joining two stacks that RunCompare measures.
type path struct {
	name string
	run  func(Options) (Result, error)
	gso  bool
}

// RunCompare measures, at each MTU, one TCP flow between two netstacks on
// a Pipe and on the LAN switch (by reference and copying), between two
// bare gVisor stacks and over the kernel's loopback (and with GSO, below
// 32 KiB MTUs, on both in-memory paths), runs interleaved across paths;
// it prints each path's median Gbit/s and the ratios, then the command
// round trip, to c.Out (what `spacenet bench netstack` prints).
func RunCompare(c Compare) error {
	out := c.Out
	fmt.Fprintf(out, "netstack bench: %d MiB per transfer, median of %d, GOMAXPROCS=%d\n", c.Bytes>>20, c.Runs, runtime.GOMAXPROCS(0))
	for _, mtu := range c.MTUs {
		paths := []path{
			{"netstack pipe", Netstack, false},
			{"netstack lan", NetstackLAN, false},
			{"netstack lan copy", NetstackLANCopy, false},
			{"bare gVisor channel", Bare, false},
			{"kernel loopback", Kernel, false},
		}
		if mtu < 32<<10 {
			// 32 KiB GSO super-segments on both in-memory paths.
			paths = append(paths, path{"netstack pipe gso", Netstack, true}, path{"bare gVisor gso", Bare, true})
		}
		// Runs are interleaved across paths (run 1 of every path, then
		// run 2, ...) so that load from elsewhere on the machine falls on
		// all of them alike.
		all := make([][]float64, len(paths))
		for range c.Runs {
			for j, p := range paths {
				r, err := p.run(Options{MTU: mtu, Bytes: c.Bytes, GSO: p.gso})
				if err != nil {
					return fmt.Errorf("%s mtu %d: %w", p.name, mtu, err)
				}
				all[j] = append(all[j], r.Gbps())
			}
		}
		gbps := map[string]float64{}
		for j, p := range paths {
			rs := all[j]
			sort.Float64s(rs) // printed in order
			gbps[p.name] = benchstat.Median(rs)
			fmt.Fprintf(out, "mtu %5d  %-20s %7.2f Gbit/s  (runs %s)\n", mtu, p.name, gbps[p.name], formatRuns(rs))
		}
		bare, kern := gbps["bare gVisor channel"], gbps["kernel loopback"]
		fmt.Fprintf(out, "mtu %5d  ratios: pipe/bare %.2f  lan/bare %.2f  lan copy/bare %.2f  pipe/kernel %.2f  lan/kernel %.2f\n",
			mtu, gbps["netstack pipe"]/bare, gbps["netstack lan"]/bare, gbps["netstack lan copy"]/bare, gbps["netstack pipe"]/kern, gbps["netstack lan"]/kern)
		if g := gbps["bare gVisor gso"]; g > 0 {
			fmt.Fprintf(out, "mtu %5d  ratio with GSO: pipe gso/bare gso %.2f\n", mtu, gbps["netstack pipe gso"]/g)
		}
	}
	d, err := RoundTrip(c.Requests)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "command round trip (Nop): %d ns (%d requests)\n", d/time.Nanosecond, c.Requests)
	return nil
}

// formatRuns is the figures of every run, two decimals each.
func formatRuns(rs []float64) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = fmt.Sprintf("%.2f", r)
	}
	return strings.Join(s, " ")
}

// Vias are the ways Iperf joins its two netstacks, by name: pipe, lan
// and tap, vxlan (two LAN switches joined by our VXLAN ports across two
// network namespaces) and kernel-vxlan (TAPs bridged to the kernel's
// vxlan devices across two namespaces). tap and both vxlan ways need root.
var Vias = map[string]func(Options) (Result, error){
	"pipe": Netstack, "lan": NetstackLAN, "tap": NetstackTAP,
	"vxlan": NetstackVXLAN, "kernel-vxlan": NetstackKernelVXLAN,
}

// ViaNames lists the keys of Vias, as a usage message gives them.
const ViaNames = "pipe, lan, tap, vxlan or kernel-vxlan"

// baselines are the ways Iperf measures after another in the same run,
// to judge it against: our VXLAN against the kernel's.
var baselines = map[string]string{"vxlan": "kernel-vxlan"}

// references are measured after a via and its baseline, for scale: the
// kernel's own TCP over the same kind of link.
var references = map[string]func(Options) (Result, error){"vxlan": KernelTCPVXLAN}

// Iperf sends o.Bytes (or for o.Duration) over one TCP flow between two
// netstacks joined as via says (a key of Vias), printing to out the
// receiver's rate about every second unless quiet, then a summary, like
// mirage-vnetif's iperf_self (what `spacenet iperf` prints). A via with a
// baseline (vxlan: kernel-vxlan) is followed by the same transfer over
// the baseline and the ratio of the two rates, then by a reference if it
// has one (vxlan: the kernel's TCP over the kernel's vxlan pair).
func Iperf(via string, o Options, quiet bool, out io.Writer) error {
	r, err := iperfOne(via, o, quiet, out)
	if err != nil {
		return err
	}
	base, ok := baselines[via]
	if !ok {
		return nil
	}
	rb, err := iperfOne(base, o, quiet, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "same run: %s %.2f Gbit/s, %s %.2f Gbit/s: ratio %.2f\n", via, r.Gbps(), base, rb.Gbps(), r.Gbps()/rb.Gbps())
	if ref := references[via]; ref != nil {
		rr, err := ref(o)
		if err != nil {
			return fmt.Errorf("iperf reference: %w", err)
		}
		fmt.Fprintf(out, "reference: %s, %d MiB: %.2f Gbit/s (no netstack)\n", rr.Name, rr.Bytes>>20, rr.Gbps())
	}
	return nil
}

// iperfOne is one Iperf transfer over via.
func iperfOne(via string, o Options, quiet bool, out io.Writer) (Result, error) {
	run := Vias[via]
	if run == nil {
		return Result{}, fmt.Errorf("via %q: want %s", via, ViaNames)
	}
	what := fmt.Sprintf("%d MiB", o.Bytes>>20)
	if o.Duration > 0 {
		what = o.Duration.String()
	}
	fmt.Fprintf(out, "iperf: two netstacks via %s, mtu %d, one TCP flow, %s\n", via, o.MTU, what)
	var last int64
	var lastT time.Duration
	if !quiet {
		o.Progress = func(got int64, el time.Duration) {
			rate := float64(got-last) * 8 / (el - lastT).Seconds() / 1e9
			line := fmt.Sprintf("[%5.1fs] %7.2f Gbit/s  %8d MiB", el.Seconds(), rate, got>>20)
			if o.Duration == 0 && o.Bytes > 0 {
				line += fmt.Sprintf("  %3d%%", got*100/o.Bytes)
			}
			fmt.Fprintln(out, line)
			last, lastT = got, el
		}
	}
	r, err := run(o)
	if err != nil {
		return Result{}, fmt.Errorf("iperf via %s: %w", via, err)
	}
	fmt.Fprintf(out, "summary: %d bytes in %v: %.2f Gbit/s\n", r.Bytes, r.Elapsed.Round(time.Millisecond), r.Gbps())
	return r, nil
}
