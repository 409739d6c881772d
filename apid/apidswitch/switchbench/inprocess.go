package switchbench

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sync/atomic"
	"time"

	"spacenet/apid/apidswitch"
	"spacenet/apid/frame"
	"spacenet/apid/guest"
	"spacenet/internal/benchstat"
)

// InProcess is a RunInProcess run: every guest a goroutine of this process.
type InProcess struct {
	Frames  int   // frames per throughput round
	Batches []int // frames per write
	Window  int   // most frames in flight, under the switch's queue bound
	Pings   int   // round trips per latency round
	Rounds  int   // rounds per figure; medians are printed
	Dir     string
	Out     io.Writer
}

// Pair is a sender and a receiver connection, through the switch or
// through a relay, as Alternate hands them to a measure.
type Pair struct {
	Tx, Rx   *guest.Conn
	Src, Dst frame.APID
	// Close closes the pair (and what it alone used, a relay).
	Close func()
	// CheckDrops reports frames the switch dropped since the pair was
	// made (nil: none can be).
	CheckDrops func() error
}

// SwitchPair connects camera (sender, 0x010) and processor (receiver,
// 0x020) to sw; CheckDrops reports any frame sw drops meanwhile.
func SwitchPair(sw *apidswitch.Switch) (*Pair, error) {
	tx, err := guest.Dial(sw.SocketPath("camera"))
	if err != nil {
		return nil, err
	}
	rx, err := guest.Dial(sw.SocketPath("processor"))
	if err != nil {
		tx.Close()
		return nil, err
	}
	before := sw.Counters()
	return &Pair{Tx: tx, Rx: rx, Src: 0x010, Dst: 0x020,
		Close: func() { tx.Close(); rx.Close() },
		CheckDrops: func() error {
			for i, c := range sw.Counters() {
				if d := c.DroppedTotal() - before[i].DroppedTotal(); d != 0 {
					return fmt.Errorf("switch dropped %d frames of %s: %v", d, c.Tenant, c.Dropped)
				}
			}
			return nil
		}}, nil
}

// RelayPair starts a relay in dir and connects a sender and a receiver to
// it; Close stops the relay too.
func RelayPair(dir string) (*Pair, error) {
	r, err := StartRelay(dir)
	if err != nil {
		return nil, err
	}
	tx, err := guest.Dial(r.A)
	if err != nil {
		r.Close()
		return nil, err
	}
	rx, err := guest.Dial(r.B)
	if err != nil {
		tx.Close()
		r.Close()
		return nil, err
	}
	return &Pair{Tx: tx, Rx: rx, Src: 0x010, Dst: 0x020,
		Close:      func() { tx.Close(); rx.Close(); r.Close() },
		CheckDrops: func() error { return nil }}, nil
}

// RunInProcess measures the switch (v0 topology, in dir/switch) against
// the plain relay, every guest a goroutine, the two alternating round by
// round, and prints a table of frames/s per batch and the ping-pong
// latencies to o.Out.
func RunInProcess(ctx context.Context, o InProcess) error {
	sw, stop, err := Start(ctx, apidswitch.Config{SocketDir: filepath.Join(o.Dir, "switch")})
	if err != nil {
		return err
	}
	defer stop()
	switchPair := func() (*Pair, error) { return SwitchPair(sw) }
	relays := 0
	relayPair := func() (*Pair, error) {
		relays++
		return RelayPair(filepath.Join(o.Dir, fmt.Sprint("relay", relays)))
	}

	out := o.Out
	fmt.Fprintf(out, "APID switch vs plain relay, Unix sockets, %d frames per round, window %d, median of %d rounds\n\n", o.Frames, o.Window, o.Rounds)
	fmt.Fprintf(out, "%-8s %14s %14s %8s\n", "batch", "switch fr/s", "relay fr/s", "ratio")
	for _, b := range o.Batches {
		sws, rls, err := Alternate(o.Rounds, switchPair, relayPair, func(which string, p *Pair) (float64, error) {
			fps, err := p.Throughput(b, o.Frames, o.Window)
			if err == nil {
				err = p.CheckDrops()
			}
			if err != nil {
				return 0, fmt.Errorf("%s, batch %d: %w", which, b, err)
			}
			return fps, nil
		})
		if err != nil {
			return err
		}
		s, r := benchstat.Median(sws), benchstat.Median(rls)
		fmt.Fprintf(out, "%-8d %14.0f %14.0f %8.2f\n", b, s, r, s/r)
	}

	swl, rll, err := Alternate(o.Rounds, switchPair, relayPair, func(which string, p *Pair) (benchstat.Latency, error) {
		l, err := p.PingPong(o.Pings)
		if err != nil {
			return l, fmt.Errorf("%s ping-pong: %w", which, err)
		}
		return l, nil
	})
	if err != nil {
		return err
	}
	sl, rl := benchstat.MedianLatency(swl), benchstat.MedianLatency(rll)
	fmt.Fprintf(out, "\nround trip, one frame ping-pong (%d pings per round)\n", o.Pings)
	fmt.Fprintf(out, "%-8s %12s %12s\n", "", "p50", "p99")
	fmt.Fprintf(out, "%-8s %12v %12v\n", "switch", sl.P50, sl.P99)
	fmt.Fprintf(out, "%-8s %12v %12v\n", "relay", rl.P50, rl.P99)
	return nil
}

// Alternate measures rounds times a new pair from a, then a new pair
// from b, closing each pair after measure, and returns the figures of
// each side in round order. which is "switch" for a, "relay" for b.
func Alternate[T any](rounds int, a, b func() (*Pair, error), measure func(which string, p *Pair) (T, error)) (as, bs []T, err error) {
	for range rounds {
		for _, which := range []string{"switch", "relay"} {
			mk := a
			if which == "relay" {
				mk = b
			}
			p, err := mk()
			if err != nil {
				return nil, nil, err
			}
			v, err := measure(which, p)
			p.Close()
			if err != nil {
				return nil, nil, err
			}
			if which == "switch" {
				as = append(as, v)
			} else {
				bs = append(bs, v)
			}
		}
	}
	return as, bs, nil
}

// Throughput sends n frames from p.Tx to p.Rx in writes of batch frames,
// at most window in flight, and returns frames per second at the receiver.
func (p *Pair) Throughput(batch, n, window int) (float64, error) {
	n -= n % batch
	var received atomic.Int64
	progress := make(chan struct{}, 1)
	rxErr := make(chan error, 1)
	out := make([]frame.Frame, batch)
	for i := range out {
		frame.Encode(&out[i], frame.TM, p.Src, p.Dst, []byte("bench payload"))
	}
	p.Rx.SetReadDeadline(time.Now().Add(2 * time.Minute))
	start := time.Now()
	go func() {
		in := make([]frame.Frame, 256)
		for received.Load() < int64(n) {
			k, err := p.Rx.ReadFrames(in)
			if err != nil {
				rxErr <- err
				return
			}
			received.Add(int64(k))
			select {
			case progress <- struct{}{}:
			default:
			}
		}
		rxErr <- nil
	}()
	for sent := 0; sent < n; sent += batch {
		for sent+batch-int(received.Load()) > window {
			select {
			case <-progress:
			case err := <-rxErr:
				return 0, fmt.Errorf("receiver stopped after %d of %d frames: %v", received.Load(), n, err)
			}
		}
		if err := p.Tx.WriteFrames(out); err != nil {
			return 0, err
		}
	}
	if err := <-rxErr; err != nil {
		return 0, err
	}
	return benchstat.PerSecond(n, time.Since(start)), nil
}

// PingPong bounces one frame p.Tx -> p.Rx -> p.Tx, pings times, and
// returns the round trip's p50 and p99.
func (p *Pair) PingPong(pings int) (benchstat.Latency, error) {
	var ping, pong frame.Frame
	frame.Encode(&ping, frame.TM, p.Src, p.Dst, []byte("ping"))
	frame.Encode(&pong, frame.TM, p.Dst, p.Src, []byte("pong"))
	echoErr := make(chan error, 1)
	warm := pings / 10
	p.Rx.SetReadDeadline(time.Now().Add(2 * time.Minute))
	p.Tx.SetReadDeadline(time.Now().Add(2 * time.Minute))
	go func() {
		var f frame.Frame
		for range warm + pings {
			if err := p.Rx.ReadFrame(&f); err != nil {
				echoErr <- err
				return
			}
			if err := p.Rx.WriteFrame(&pong); err != nil {
				echoErr <- err
				return
			}
		}
		echoErr <- nil
	}()
	rtt := make([]time.Duration, 0, pings)
	var f frame.Frame
	for i := range warm + pings {
		t0 := time.Now()
		if err := p.Tx.WriteFrame(&ping); err != nil {
			return benchstat.Latency{}, err
		}
		if err := p.Tx.ReadFrame(&f); err != nil {
			return benchstat.Latency{}, err
		}
		if f != pong {
			return benchstat.Latency{}, fmt.Errorf("ping %d: got %x, want the pong", i, f[:16])
		}
		if i >= warm {
			rtt = append(rtt, time.Since(t0))
		}
	}
	if err := <-echoErr; err != nil {
		return benchstat.Latency{}, err
	}
	return benchstat.Latencies(rtt), nil
}
