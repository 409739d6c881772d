// Package dtnbench measures the APID plane across a DTN pair: two dtnds
// (dtn7-go's, started with internal/dtntest, TCPCLv4 between them on
// loopback) and two APID switches whose dtn.Links dial them, camera on A
// and processor on B, as apid/dtn's pair tests build them. In the same run
// it measures two baselines: the same frames through one switch on its own
// (camera and processor both local), and dtnd alone (one bundle there and
// back through the two dtnds with no switch and no Link, through the web
// agent), so that the figures say what dtnd itself costs. It is what
// `spacenet bench dtn` prints.
//
// Every frame of a throughput round is checked in order and byte for byte
// at the processor and counted on both switches (A's camera
// DeliveredRemote, B's remote Received and Delivered), and every batch
// reported delivered to A's link; a round that loses or refuses a frame is
// an error, not a figure.
//
// It is not a test of the link (apid/dtn's tests are) and it does not use
// network namespaces: the dtnds talk over loopback TCP, which is the same
// TCPCLv4 path without the veth.
package dtnbench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"spacenet/apid/apidswitch"
	"spacenet/apid/dtn"
	"spacenet/apid/frame"
	"spacenet/apid/guest"
	"spacenet/apid/policy"
	"spacenet/internal/benchstat"
	"spacenet/internal/dtntest"
)

// Config is a Run.
type Config struct {
	Dtnd        string // dtnd's binary; "" means dtntest.Find
	Frames      int    // frames camera@A -> processor@B per throughput round
	LocalFrames int    // frames per round through the switch alone
	Batches     []int  // the links' LinkConfig.Batch values to measure
	Pings       int    // round trips per round (pair, dtnd alone, switch alone)
	Runs        int    // rounds; each figure is the median over them
	Out         io.Writer
}

// Throughput is one throughput figure: the median frames/s of the rounds
// and the frames per bundle of the last round.
type Throughput struct {
	Batch           int // LinkConfig.Batch; 0 for the switch alone
	FramesPerSecond float64
	FramesPerBundle float64 // frames per batch made on A's link (copies not counted)
	Copies          uint64  // bundles A's link sent again (over all rounds)
	// DtndAlone is the frames/s of the same batches as bundles through
	// the two dtnds with no switch and no link (dtndFlat), at most
	// MaxDtndBundles bundles a round.
	DtndAlone float64
}

// MaxDtndBundles bounds the bundles of a dtnd-alone throughput round.
const MaxDtndBundles = 300

// Result is what Run measured, each figure the median of Config.Runs
// rounds.
type Result struct {
	Local    Throughput       // the switch alone
	Pair     []Throughput     // per Config.Batches
	PairRTT  benchstat.Figure // a frame camera@A -> processor@B -> camera@A
	DtndRTT  benchstat.Figure // a bundle A -> B -> A through the dtnds alone
	LocalRTT benchstat.Figure // camera -> processor -> camera through one switch
	DtndPath string
}

// Run starts two dtnds, measures c.Runs rounds (each: the switch alone,
// the pair at each batch size, and the three round trips), stops the
// dtnds and prints the medians to c.Out (when not nil). It returns
// dtntest.ErrNotBuilt when dtnd is not found.
func Run(c Config) (res Result, err error) {
	if c.Frames < 1 || c.LocalFrames < 1 || c.Pings < 1 || c.Runs < 1 || len(c.Batches) == 0 {
		return res, fmt.Errorf("dtnbench: frames %d, local frames %d, pings %d, runs %d, batches %v: want each at least 1",
			c.Frames, c.LocalFrames, c.Pings, c.Runs, c.Batches)
	}
	for i, b := range c.Batches {
		if b < 1 || b > dtn.MaxBatch {
			return res, fmt.Errorf("dtnbench: batch %d: want 1-%d", b, dtn.MaxBatch)
		}
		if slices.Contains(c.Batches[:i], b) {
			return res, fmt.Errorf("dtnbench: batch %d given twice", b)
		}
	}
	bin := c.Dtnd
	if bin == "" {
		var err error
		if bin, err = dtntest.Find(); err != nil {
			return res, err
		}
	}
	res.DtndPath = bin
	dir, err := os.MkdirTemp("", "dtnbench")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	a, b, err := startNodes(bin, dir)
	if err != nil {
		return res, err
	}
	defer a.Stop()
	defer b.Stop()
	defer func() { // what the dtnds said last explains most failures
		if err != nil {
			err = fmt.Errorf("%w\ndtnd A, last lines:\n%s\ndtnd B, last lines:\n%s", err, tail(a.Output(), 12), tail(b.Output(), 12))
		}
	}()

	local := make([]float64, 0, c.Runs)
	pair := make([][]float64, len(c.Batches))
	alone := make([][]float64, len(c.Batches))
	res.Pair = make([]Throughput, len(c.Batches))
	var pairRTT, dtndRTT, localRTT []benchstat.Figure
	// Rounds are interleaved across paths (round 1 of every path, then
	// round 2, ...) so that load from elsewhere on the machine falls on
	// all of them alike.
	for r := range c.Runs {
		lr, err := localRound(dir, c.LocalFrames, c.Pings)
		if err != nil {
			return res, fmt.Errorf("round %d: switch alone: %w", r, err)
		}
		local = append(local, lr.rate)
		localRTT = append(localRTT, lr.rtt)
		for i, batch := range c.Batches {
			pr, err := pairRound(dir, a, b, fmt.Sprintf("r%d-b%d", r, batch), batch, c.Frames, 0)
			if err != nil {
				return res, fmt.Errorf("round %d: pair, batch %d: %w", r, batch, err)
			}
			pair[i] = append(pair[i], pr.rate)
			res.Pair[i].Batch = batch
			res.Pair[i].FramesPerBundle = pr.perBundle
			res.Pair[i].Copies += pr.copies
			bundles := max(1, min(c.Frames/batch, MaxDtndBundles))
			d, err := dtndFlat(a, b, fmt.Sprintf("r%d-b%d", r, batch), bundles, batch)
			if err != nil {
				return res, fmt.Errorf("round %d: dtnd alone, batch %d: %w", r, batch, err)
			}
			alone[i] = append(alone[i], benchstat.PerSecond(bundles*batch, d))
		}
		pr, err := pairRound(dir, a, b, fmt.Sprintf("r%d-ping", r), 0, 0, c.Pings)
		if err != nil {
			return res, fmt.Errorf("round %d: pair round trip: %w", r, err)
		}
		pairRTT = append(pairRTT, pr.rtt)
		d, err := dtndRound(a, b, fmt.Sprintf("r%d", r), c.Pings)
		if err != nil {
			return res, fmt.Errorf("round %d: dtnd alone: %w", r, err)
		}
		dtndRTT = append(dtndRTT, d)
	}
	res.Local = Throughput{FramesPerSecond: benchstat.Median(local)}
	for i := range res.Pair {
		res.Pair[i].FramesPerSecond = benchstat.Median(pair[i])
		res.Pair[i].DtndAlone = benchstat.Median(alone[i])
	}
	res.PairRTT = benchstat.MedianFigure(pairRTT)
	res.DtndRTT = benchstat.MedianFigure(dtndRTT)
	res.LocalRTT = benchstat.MedianFigure(localRTT)
	if c.Out != nil {
		Print(c.Out, c, res)
	}
	return res, nil
}

// Print writes res as `spacenet bench dtn` shows it.
func Print(out io.Writer, c Config, res Result) {
	fmt.Fprintf(out, "dtn bench: two dtnds (%s), TCPCLv4 on loopback; median of %d rounds, GOMAXPROCS=%d\n",
		res.DtndPath, c.Runs, runtime.GOMAXPROCS(0))
	fmt.Fprintf(out, "\nthroughput, camera -> processor, flat out (%d frames per round across the pair, %d through the switch alone)\n", c.Frames, c.LocalFrames)
	fmt.Fprintf(out, "  %-24s %12s %14s %8s %16s %8s\n", "path", "frames/s", "frames/bundle", "copies", "dtnd alone f/s", "ratio")
	fmt.Fprintf(out, "  %-24s %12.0f %14s %8s %16s %8s\n", "switch alone", res.Local.FramesPerSecond, "-", "-", "-", "-")
	for _, p := range res.Pair {
		fmt.Fprintf(out, "  %-24s %12.0f %14.1f %8d %16.0f %8.2f\n", fmt.Sprintf("pair A->B, batch %d", p.Batch),
			p.FramesPerSecond, p.FramesPerBundle, p.Copies, p.DtndAlone, p.FramesPerSecond/p.DtndAlone)
	}
	fmt.Fprintf(out, "  (dtnd alone: the same batches as bundles A->B through the two dtnds' agents, no switch,\n   %d in flight, at most %d bundles a round; ratio = pair / dtnd alone)\n", dtndWindow, MaxDtndBundles)
	fmt.Fprintf(out, "\nround trip, one at a time (%d per round)\n", c.Pings)
	fmt.Fprintf(out, "  %-34s %10s %10s %10s\n", "path", "p50", "p99", "per s")
	for _, f := range []struct {
		name string
		fig  benchstat.Figure
	}{
		{"frame A->B->A, pair", res.PairRTT},
		{"bundle A->B->A, dtnd alone", res.DtndRTT},
		{"frame, switch alone", res.LocalRTT},
	} {
		fmt.Fprintf(out, "  %-34s %10s %10s %10.0f\n", f.name, round(f.fig.P50), round(f.fig.P99), f.fig.Rate)
	}
	if res.DtndRTT.P50 > 0 {
		fmt.Fprintf(out, "\npair round trip / dtnd alone (p50): %.2f\n", float64(res.PairRTT.P50)/float64(res.DtndRTT.P50))
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case d >= time.Microsecond:
		return d.Round(100 * time.Nanosecond)
	}
	return d
}

// startNodes starts dtnd A (dtn://a/) and dtnd B (dtn://b/), each with a
// TCPCLv4 listener on loopback, A peering B.
func startNodes(bin, dir string) (a, b *dtntest.Node, err error) {
	lb, err := dtntest.FreeAddr()
	if err != nil {
		return nil, nil, err
	}
	la, err := dtntest.FreeAddr()
	if err != nil {
		return nil, nil, err
	}
	for _, d := range []string{"a", "b"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			return nil, nil, err
		}
	}
	b, err = dtntest.Launch(bin, filepath.Join(dir, "b"), dtntest.Options{NodeID: "dtn://b/", Listen: lb})
	if err != nil {
		return nil, nil, err
	}
	a, err = dtntest.Launch(bin, filepath.Join(dir, "a"), dtntest.Options{NodeID: "dtn://a/", Listen: la, Peers: []string{lb}})
	if err != nil {
		b.Stop()
		return nil, nil, err
	}
	return a, b, nil
}

const (
	camAPID  frame.APID = 0x010
	procAPID frame.APID = 0x020
)

// numbered returns frame i from src to dst: TM, payload "frame" and i as
// a big-endian uint32.
func numbered(i int, src, dst frame.APID) frame.Frame {
	var f frame.Frame
	pl := binary.BigEndian.AppendUint32([]byte("frame"), uint32(i))
	if err := frame.Encode(&f, frame.TM, src, dst, pl); err != nil {
		panic(err) // a constant-size payload: cannot fail
	}
	return f
}

// discard is the logger of the switches and links under measurement.
var discard = slog.New(slog.DiscardHandler)

// timeout bounds every wait of a round.
const timeout = 60 * time.Second

// switchHost is a switch (and its link, for a pair) running until stop.
type switchHost struct {
	sw     *apidswitch.Switch
	link   *dtn.Link
	cancel context.CancelFunc
	swDone chan error // the switch's Run's result
	wg     sync.WaitGroup
}

// startSwitch starts a switch on pol with sockets under dir and, when
// agent is set, a dtn.Link to that dtnd registered as endpoint, waiting
// until the link has registered.
func startSwitch(dir, pol, agent, endpoint string, batch int) (*switchHost, error) {
	pl, err := policy.Parse("policy.toml", []byte(pol))
	if err != nil {
		return nil, err
	}
	h := &switchHost{swDone: make(chan error, 1)}
	cfg := apidswitch.Config{Policy: pl, SocketDir: dir, Logger: discard}
	if agent != "" {
		h.link, err = dtn.NewLink(dtn.LinkConfig{Agent: agent, Endpoint: endpoint, Batch: batch, Logger: discard})
		if err != nil {
			return nil, err
		}
		cfg.Remote = h.link
	}
	if h.sw, err = apidswitch.New(cfg); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.wg.Go(func() { h.swDone <- h.sw.Run(ctx) })
	if h.link != nil {
		h.wg.Go(func() { h.link.Run(ctx, h.sw) })
	}
	select {
	case <-h.sw.Ready():
	case err := <-h.swDone:
		h.stop()
		return nil, fmt.Errorf("switch stopped at start: %v", err)
	}
	if h.link != nil {
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		defer wcancel()
		if _, err := h.link.WaitStats(wctx, func(s dtn.Stats) bool { return s.Connects > 0 }); err != nil {
			h.stop()
			return nil, fmt.Errorf("%s: link did not register with dtnd %s: %w", endpoint, agent, err)
		}
	}
	return h, nil
}

// stop stops the switch and its link and waits for them.
func (h *switchHost) stop() {
	h.cancel()
	h.wg.Wait()
}

// dialPair connects camera to hc and processor to hp.
func dialPair(hc, hp *switchHost) (cam, proc *guest.Conn, err error) {
	if cam, err = guest.Dial(hc.sw.SocketPath("camera")); err != nil {
		return nil, nil, err
	}
	if proc, err = guest.Dial(hp.sw.SocketPath("processor")); err != nil {
		cam.Close()
		return nil, nil, err
	}
	return cam, proc, nil
}
