// Package stackbench measures TCP throughput and round trip of our stack
// (ip/stack with the bufferless engine ip/tcp) against gVisor's TCP
// (ip/netstack) and the Linux kernel's (and the kernel's against
// itself, in two namespaces), in one run, over the same media:
// an in-memory nic.Pipe, the virtual LAN (ip/lan) and TAPs on a Linux
// bridge in a network namespace, at each MTU asked. It backs
// `spacenet bench tcp` (issue 22).
//
// Every transfer carries the same pseudo-random stream both ways at
// once, checked by sha256 on both sides; the round trip is a 64-byte
// request echoed before the next is sent. Our stack is driven through
// its net.Conn adapter (ip/stack.Conn, 1 MiB rings), gVisor's through
// its Conn, the kernel's through plain sockets made inside its
// namespace, so that the applications do the same work. gVisor computes
// checksums in full, as ours does.
//
// Package stackbench is a measuring tool, not a traffic generator: every
// flow starts and ends in this process (the kernel's sockets included).
// The kernel's pairs and the TAP medium need root (network namespaces,
// /dev/net/tun).
package stackbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"spacenet/internal/benchstat"
	"spacenet/internal/checkstream"
	"spacenet/ip/wire"
)

// Config is one run of the matrix.
type Config struct {
	Bytes int64    // bytes each way per transfer
	Trips int      // round trips per run
	Runs  int      // runs per pair; the median is reported
	MTUs  []int    // link MTUs
	Media []string // names from Media; empty means all
	// Pairings are those of the package's Pairings to measure; empty
	// means all.
	Pairings []Pairing
	// Timeout bounds each transfer and each run of round trips.
	Timeout time.Duration
	// Progress, if not nil, gets a line per measurement as it ends.
	Progress io.Writer
}

// Pairing is a client and a server implementation.
type Pairing struct{ Client, Server Kind }

func (p Pairing) String() string { return p.Client.String() + "-" + p.Server.String() }

// Pairings are the pairs Run measures on each medium, in order (those
// with the kernel only where the medium can carry it).
// GVisorOffload-GVisorOffload only on the in-process media (pipe, LAN).
// Kernel-Kernel is the kernel's TCP in two namespaces: on the LAN each
// on a TAP of its own plugged into the switch; on the TAP medium the
// server on the bridge and the client joined to it by a veth pair.
var Pairings = []Pairing{{Ours, Ours}, {GVisor, GVisor}, {GVisorOffload, GVisorOffload}, {Ours, Kernel}, {GVisor, Kernel}, {Kernel, Kernel}}

// Row is one pairing on one medium at one MTU, over every run.
type Row struct {
	Medium  string
	MTU     int
	Pairing Pairing
	MBps    []float64       // per run, MB/s each way, sorted
	P50     []time.Duration // per run, sorted
	P99     []time.Duration // per run, sorted
	// Dial is, per run (sorted), the throughput connection's dial:
	// neighbour resolution and handshake, which MBps leaves out.
	Dial []time.Duration
	// Allocs is, per run (sorted), the heap allocations of the whole
	// process during the transfer divided by the data segments it took
	// (2*Bytes / (MTU-52): IPv4, TCP and timestamps): both user-space
	// stacks, their Conn adapters and the application's reads and
	// writes (an estimate, ACKs not counted).
	Allocs []float64
}

// Median returns the median over runs of the throughput and of the
// round trips' p50 and p99 (benchstat.Percentile).
func (r Row) Median() (mbps float64, p50, p99 time.Duration) {
	return benchstat.Median(r.MBps), benchstat.Median(r.P50), benchstat.Median(r.P99)
}

// MedianAllocs is the median of Allocs.
func (r Row) MedianAllocs() float64 { return benchstat.Median(r.Allocs) }

// Report is the result of Run.
type Report struct {
	Config  Config
	Rows    []Row
	Skipped []string // media that could not be made, with the reason
}

// Run measures every pairing on every medium and MTU of c. Runs are
// interleaved (run 1 of every pairing, then run 2, ...) so that load
// from elsewhere on the machine falls on all pairings alike. A medium
// the kernel refuses (no root, no /dev/net/tun) is skipped and named in
// Report.Skipped; any failed transfer is an error.
func Run(ctx context.Context, c Config) (*Report, error) {
	if c.Bytes <= 0 || c.Trips < 1 || c.Runs < 1 || len(c.MTUs) == 0 {
		return nil, fmt.Errorf("stackbench: Bytes %d, Trips %d, Runs %d, MTUs %v: want them positive", c.Bytes, c.Trips, c.Runs, c.MTUs)
	}
	if len(c.Media) == 0 {
		c.Media = Media
	}
	for _, p := range c.Pairings {
		if !slices.Contains(Pairings, p) {
			return nil, fmt.Errorf("stackbench: Pairings: %v is not one of %v", p, Pairings)
		}
	}
	if c.Timeout == 0 {
		c.Timeout = 2 * time.Minute
	}
	rep := &Report{Config: c}
	want := checkstream.Sum(c.Bytes)
	for _, name := range c.Media {
		for _, mtu := range c.MTUs {
			rows, skipped, err := runMedium(ctx, c, name, mtu, want)
			rep.Skipped = append(rep.Skipped, skipped...)
			if err != nil {
				if s, ok := err.(skipError); ok {
					rep.Skipped = append(rep.Skipped, fmt.Sprintf("%s mtu %d: %v", name, mtu, s.err))
					continue
				}
				return rep, err
			}
			rep.Rows = append(rep.Rows, rows...)
		}
	}
	return rep, nil
}

// skipError is a medium the kernel would not make.
type skipError struct{ err error }

func (s skipError) Error() string { return s.err.Error() }

// refused says whether err is the kernel refusing us what a medium needs
// (not root: no namespace, no TAP).
func refused(err error) bool {
	if errors.Is(err, os.ErrPermission) || errors.Is(err, os.ErrNotExist) || errors.Is(err, exec.ErrNotFound) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "not permitted") || strings.Contains(msg, "ermission denied")
}

// runMedium measures every pairing on one medium at one MTU.
// The kernel's pairings are skipped (and named in skipped) where the
// kernel refuses the namespace or TAP it needs.
func runMedium(ctx context.Context, c Config, name string, mtu int, want [32]byte) (rows []Row, skipped []string, err error) {
	m, err := newMedium(name, mtu)
	if err != nil {
		if refused(err) {
			return nil, nil, skipError{err}
		}
		return nil, nil, err
	}
	defer m.close()
	var pairings []Pairing
	for _, p := range Pairings {
		if len(c.Pairings) > 0 && !slices.Contains(c.Pairings, p) {
			continue
		}
		// A pair the medium cannot carry is left out of the full matrix
		// without a word (the table says n/a), but named in skipped when
		// Pairings asked for it, so that a filtered run never ends with
		// an empty table and no reason.
		asked := len(c.Pairings) > 0
		if p.Server == GVisorOffload && name == "tap" {
			if asked {
				skipped = append(skipped, fmt.Sprintf("%s mtu %d %v: frames cross the kernel, which needs real checksums", name, mtu, p))
			}
			continue
		}
		if err := kernelSides(m, p); err == errNoKernel {
			if asked {
				skipped = append(skipped, fmt.Sprintf("%s mtu %d %v: %v", name, mtu, p, err))
			}
			continue
		} else if err != nil && refused(err) {
			skipped = append(skipped, fmt.Sprintf("%s mtu %d %v: %v", name, mtu, p, err))
			continue
		} else if err != nil {
			return nil, skipped, fmt.Errorf("%s mtu %d %v: kernel: %w", name, mtu, p, err)
		}
		pairings = append(pairings, p)
	}
	rows = make([]Row, len(pairings))
	for i, p := range pairings {
		rows[i] = Row{Medium: name, MTU: mtu, Pairing: p}
	}
	for run := range c.Runs {
		for i, p := range pairings {
			if err := measure(ctx, c, m, &rows[i], uint16(run), want); err != nil {
				return nil, skipped, fmt.Errorf("%s mtu %d %v run %d: %w", name, mtu, p, run+1, err)
			}
		}
	}
	for i := range rows {
		slices.Sort(rows[i].MBps)
		slices.Sort(rows[i].P50)
		slices.Sort(rows[i].P99)
		slices.Sort(rows[i].Dial)
		slices.Sort(rows[i].Allocs)
	}
	return rows, skipped, nil
}

// kernelSides makes the namespaces of p's kernel sides on m (they are
// kept for the medium's life) and returns the first error.
func kernelSides(m medium, p Pairing) error {
	for side, k := range [2]Kind{p.Client, p.Server} {
		if k != Kernel {
			continue
		}
		if _, err := m.kernel(side); err != nil {
			return err
		}
	}
	return nil
}

var pairSeq atomic.Uint32

// measure makes a fresh pair of r.Pairing on m and adds one throughput
// and one round-trip figure to r.
func measure(ctx context.Context, c Config, m medium, r *Row, run uint16, want [32]byte) error {
	p, err := newPair(m, r.Pairing)
	if err != nil {
		return err
	}
	defer p.close()
	tctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	el, dial, err := throughput(tctx, p, 5001+run, c.Bytes, want)
	if err != nil {
		return fmt.Errorf("throughput: %w", err)
	}
	runtime.ReadMemStats(&after)
	segments := float64(2*c.Bytes) / float64(r.MTU-52)
	r.Allocs = append(r.Allocs, float64(after.Mallocs-before.Mallocs)/segments)
	rtts, err := roundTrips(tctx, p, 6001+run, c.Trips)
	if err != nil {
		return fmt.Errorf("round trips: %w", err)
	}
	mbps := float64(c.Bytes) / el.Seconds() / 1e6
	r.MBps = append(r.MBps, mbps)
	lat := benchstat.Latencies(rtts)
	r.P50 = append(r.P50, lat.P50)
	r.P99 = append(r.P99, lat.P99)
	r.Dial = append(r.Dial, dial)
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, "%s mtu %d %v: %.0f MB/s each way (%v after a dial of %v), rtt p50 %v p99 %v\n", r.Medium, r.MTU, r.Pairing,
			mbps, el.Round(time.Millisecond), us(dial), lat.P50, lat.P99)
	}
	return nil
}

// newPair starts the client and server of pairing on m, with addresses
// of their own (a fresh pair never meets a neighbour entry or a
// learned MAC of an earlier one).
func newPair(m medium, pairing Pairing) (*pair, error) {
	id := pairSeq.Add(1)
	host := byte(id%120) * 2
	client, err := startPeer(m, pairing.Client, 0, id, host+1)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	server, err := startPeer(m, pairing.Server, 1, id, host+2)
	if err != nil {
		client.close()
		return nil, fmt.Errorf("server: %w", err)
	}
	return &pair{client: client, server: server}, nil
}

// startPeer starts kind on side (0 client, 1 server) of medium m, at
// 10.77.0.host unless it is the kernel (kernelAddrs[side]).
func startPeer(m medium, kind Kind, side int, id uint32, host byte) (*peer, error) {
	if kind == Kernel {
		ns, err := m.kernel(side)
		if err != nil {
			return nil, err
		}
		return kernelPeer(ns, kernelAddrs[side]), nil
	}
	n, err := m.port(side)
	if err != nil {
		return nil, err
	}
	mac := wire.MAC{0x02, 0x74, 0x63, byte(id >> 8), byte(id), byte(side)}
	addr := netip.AddrFrom4([4]byte{10, 77, 0, host})
	if kind == Ours {
		return startOurs(n, mac, addr)
	}
	return startGVisor(n, mac, addr, kind == GVisorOffload)
}

// WriteTable prints the report: a line per pairing (median and every
// run), then per medium and MTU the ratios ours/gVisor and ours/kernel
// (ours-ours against kernel-kernel).
func (rep *Report) WriteTable(w io.Writer) {
	c := rep.Config
	fmt.Fprintf(w, "tcp bench: %d MiB each way per transfer (sha256-checked), %d round trips of %d bytes, median of %d runs, GOMAXPROCS=%d\n",
		c.Bytes>>20, c.Trips, MessageSize, c.Runs, runtime.GOMAXPROCS(0))
	fmt.Fprintln(w, "ours: ip/stack+ip/tcp; gvisor: ip/netstack computing checksums as ours does; gvoff: gVisor with checksum offload (in-process media only)")
	fmt.Fprintln(w, "kernel: the kernel's TCP in a namespace; kernel-kernel: two namespaces, on lan each on a TAP plugged into the switch, on tap the client joined to the bridge by a veth")
	fmt.Fprintln(w, "MB/s: timed from the client's established connection to both sides' last byte; the dial (neighbour resolution, handshake) apart, its longest in dial max")
	fmt.Fprintf(w, "%-6s %5s  %-13s %9s  %9s %9s  %10s  %9s  %s\n", "medium", "mtu", "client-server", "MB/s each", "rtt p50", "rtt p99", "allocs/seg", "dial max", "MB/s of each run")
	type key struct {
		medium string
		mtu    int
	}
	var order []key
	byKey := map[key]map[Pairing]Row{}
	for _, r := range rep.Rows {
		k := key{r.Medium, r.MTU}
		if byKey[k] == nil {
			byKey[k] = map[Pairing]Row{}
			order = append(order, k)
		}
		byKey[k][r.Pairing] = r
		mbps, p50, p99 := r.Median()
		runs := make([]string, len(r.MBps))
		for i, x := range r.MBps {
			runs[i] = fmt.Sprintf("%.0f", x)
		}
		var dialMax time.Duration
		if len(r.Dial) > 0 {
			dialMax = r.Dial[len(r.Dial)-1]
		}
		fmt.Fprintf(w, "%-6s %5d  %-13v %9.0f  %9v %9v  %10.3f  %9v  %s\n", r.Medium, r.MTU, r.Pairing, mbps, us(p50), us(p99), r.MedianAllocs(), us(dialMax), strings.Join(runs, " "))
	}
	for _, k := range order {
		rows := byKey[k]
		for _, pp := range [][2]Pairing{{{Ours, Ours}, {GVisor, GVisor}}, {{Ours, Ours}, {GVisorOffload, GVisorOffload}}, {{Ours, Kernel}, {GVisor, Kernel}}, {{Ours, Ours}, {Kernel, Kernel}}} {
			o, ok1 := rows[pp[0]]
			g, ok2 := rows[pp[1]]
			if !ok1 || !ok2 {
				continue
			}
			om, o50, o99 := o.Median()
			gm, g50, g99 := g.Median()
			fmt.Fprintf(w, "%-6s %5d  ratio %v/%v: throughput %.2f, rtt p50 %.2f, p99 %.2f\n", k.medium, k.mtu, pp[0], pp[1],
				om/gm, float64(o50)/float64(g50), float64(o99)/float64(g99))
		}
	}
	for _, s := range rep.Skipped {
		fmt.Fprintf(w, "skipped: %s\n", s)
	}
}

// us is d rounded to a microsecond.
func us(d time.Duration) time.Duration { return d.Round(time.Microsecond) }
