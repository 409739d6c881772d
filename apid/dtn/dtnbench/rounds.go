package dtnbench

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"time"

	"spacenet/apid/dtn"
	"spacenet/apid/frame"
	"spacenet/apid/guest"
	"spacenet/internal/benchstat"
	"spacenet/internal/dtntest"
)

// chunk is the most frames a guest writes or reads in one call, on every
// path alike.
const chunk = 32

// writeNumbered writes frames 0..n-1 from src to dst at g, chunk at a time.
func writeNumbered(g *guest.Conn, n int, src, dst frame.APID) error {
	var fs [chunk]frame.Frame
	for i := 0; i < n; {
		k := min(chunk, n-i)
		for j := range k {
			fs[j] = numbered(i+j, src, dst)
		}
		if err := g.WriteFrames(fs[:k]); err != nil {
			return fmt.Errorf("write frame %d: %w", i, err)
		}
		i += k
	}
	return nil
}

// readNumbered reads n frames at g and checks that they are frames
// 0..n-1 from src to dst, in order, byte for byte.
func readNumbered(g *guest.Conn, n int, src, dst frame.APID) error {
	_ = g.SetReadDeadline(time.Now().Add(timeout))
	var fs [chunk]frame.Frame
	for i := 0; i < n; {
		k, err := g.ReadFrames(fs[:min(chunk, n-i)])
		if err != nil {
			return fmt.Errorf("frame %d of %d: %w", i, n, err)
		}
		for j := range k {
			if want := numbered(i+j, src, dst); fs[j] != want {
				return fmt.Errorf("frame %d: got type %v apid %v dest %v payload %x, want payload %x",
					i+j, fs[j].Type(), fs[j].APID(), fs[j].Dest(), fs[j].Payload(), want.Payload())
			}
		}
		i += k
	}
	return nil
}

// flat sends n numbered frames cam -> proc flat out and returns the time
// from the first write to the last frame read in order.
func flat(cam, proc *guest.Conn, n int) (time.Duration, error) {
	errc := make(chan error, 1)
	start := time.Now()
	go func() { errc <- writeNumbered(cam, n, camAPID, procAPID) }()
	if err := readNumbered(proc, n, camAPID, procAPID); err != nil {
		return 0, err
	}
	elapsed := time.Since(start)
	return elapsed, <-errc
}

// echo answers every frame read at g with a frame of the same type and
// payload from src to dst, until g is closed.
func echo(g *guest.Conn, src, dst frame.APID) {
	var f, r frame.Frame
	for {
		if err := g.ReadFrame(&f); err != nil {
			return
		}
		if err := frame.Encode(&r, f.Type(), src, dst, f.Payload()); err != nil {
			return
		}
		if err := g.WriteFrame(&r); err != nil {
			return
		}
	}
}

// pings measures n round trips of a frame cam -> proc -> cam, proc
// echoing, each answer checked.
func pings(cam, proc *guest.Conn, n int) (benchstat.Figure, error) {
	go echo(proc, procAPID, camAPID) // ends when proc is closed
	_ = cam.SetReadDeadline(time.Now().Add(timeout))
	i := 0
	return benchstat.Measure(n, func() error {
		f := numbered(i, camAPID, procAPID)
		if err := cam.WriteFrame(&f); err != nil {
			return err
		}
		var r frame.Frame
		if err := cam.ReadFrame(&r); err != nil {
			return err
		}
		if want := numbered(i, procAPID, camAPID); r != want {
			return fmt.Errorf("answer %d: got type %v apid %v dest %v payload %x", i, r.Type(), r.APID(), r.Dest(), r.Payload())
		}
		i++
		return nil
	})
}

// localResult is one round of the switch alone.
type localResult struct {
	rate float64
	rtt  benchstat.Figure
}

const localPolicy = `
[[tenant]]
name = "camera"
owns = ["0x010-0x01F"]
can_send_to = ["processor"]

[[tenant]]
name = "processor"
owns = ["0x020-0x02F"]
can_send_to = ["camera"]
`

// localRound sends frames camera -> processor through one switch flat out,
// then measures pings round trips, checking the switch's counters.
func localRound(dir string, frames, n int) (localResult, error) {
	var res localResult
	h, err := startSwitch(filepath.Join(dir, "local"), localPolicy, "", "", 0)
	if err != nil {
		return res, err
	}
	defer h.stop()
	cam, proc, err := dialPair(h, h)
	if err != nil {
		return res, err
	}
	defer cam.Close()
	defer proc.Close()
	elapsed, err := flat(cam, proc, frames)
	if err != nil {
		return res, err
	}
	res.rate = benchstat.PerSecond(frames, elapsed)
	if c := h.sw.Counters()[0]; c.Received != uint64(frames) || c.Delivered+c.Queued != uint64(frames) || c.DroppedTotal() != 0 || !c.Balanced() {
		return res, fmt.Errorf("camera's counters: %+v", c)
	}
	res.rtt, err = pings(cam, proc, n)
	return res, err
}

// pairResult is one round of the pair.
type pairResult struct {
	rate      float64
	perBundle float64
	copies    uint64
	rtt       benchstat.Figure
}

// sidePolicy is the policy of one side of the pair: a tenant owning owns
// that may send to a remote owning remoteOwns, served by endpoint.
func sidePolicy(tenant, owns, remote, remoteOwns, endpoint string) string {
	return fmt.Sprintf(`
[[tenant]]
name = %q
owns = [%q]
can_send_to = [%q]

[[remote]]
name = %q
owns = [%q]
endpoint = %q
lifetime = "1m"
`, tenant, owns, remote, remote, remoteOwns, endpoint)
}

// pairRound starts switch A (camera, its link to dtnd a) and switch B
// (processor, its link to dtnd b), with endpoints of their own (tag names
// them) and LinkConfig.Batch batch; sends frames camera -> processor flat
// out, checking order and every counter, when frames > 0; then measures n
// round trips camera -> processor -> camera when n > 0.
func pairRound(dir string, a, b *dtntest.Node, tag string, batch, frames, n int) (pairResult, error) {
	var res pairResult
	epA, epB := "dtn://a/sn-"+tag, "dtn://b/sn-"+tag
	hb, err := startSwitch(filepath.Join(dir, tag+"-b"), sidePolicy("processor", "0x020-0x02F", "flight", "0x010-0x01F", epA), b.Agent, epB, batch)
	if err != nil {
		return res, err
	}
	defer hb.stop()
	ha, err := startSwitch(filepath.Join(dir, tag+"-a"), sidePolicy("camera", "0x010-0x01F", "payload", "0x020-0x02F", epB), a.Agent, epA, batch)
	if err != nil {
		return res, err
	}
	defer ha.stop()
	cam, proc, err := dialPair(ha, hb)
	if err != nil {
		return res, err
	}
	defer cam.Close()
	defer proc.Close()
	if frames > 0 {
		elapsed, err := flat(cam, proc, frames)
		if err != nil {
			return res, fmt.Errorf("%w\nlink A %+v\nlink B %+v", err, ha.link.Stats(), hb.link.Stats())
		}
		res.rate = benchstat.PerSecond(frames, elapsed)
		if err := checkPair(ha, hb, uint64(frames)); err != nil {
			return res, err
		}
		st := ha.link.Stats()
		res.perBundle = float64(st.FramesSent) / float64(st.BundlesSent-st.Copies) // batches made, copies apart
		res.copies = st.Copies
	}
	if n > 0 {
		res.rtt, err = pings(cam, proc, n)
	}
	return res, err
}

// checkPair waits until A's link has every one of n frames reported
// delivered, then checks that both switches counted every frame.
func checkPair(ha, hb *switchHost, n uint64) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	st, err := ha.link.WaitStats(ctx, func(s dtn.Stats) bool { return s.FramesDelivered == n })
	if err != nil {
		return fmt.Errorf("delivery reports: %d of %d frames reported: %+v", st.FramesDelivered, n, st)
	}
	if st.FramesSent != n || st.Expired != 0 || st.InFlight != 0 {
		return fmt.Errorf("link A: %+v", st)
	}
	if c := ha.sw.Counters()[0]; c.Received != n || c.DeliveredRemote != n || c.DroppedTotal() != 0 || !c.Balanced() {
		return fmt.Errorf("switch A camera: %+v", c)
	}
	if c := hb.sw.RemoteCounters()[0]; c.Received != n || c.Delivered+c.Queued != n || c.DroppedTotal() != 0 || !c.Balanced() {
		return fmt.Errorf("switch B remote flight: %+v", c)
	}
	if lb := hb.link.Stats(); lb.FramesIn != n || lb.Gaps != 0 || lb.Malformed != 0 {
		return fmt.Errorf("link B: %+v", lb)
	}
	return nil
}

// linkFlags are the flags dtn.Link gives its bundles: dtnd alone carries
// bundles of the same shape.
const linkFlags = dtn.FlagMustNotFragment | dtn.FlagReportDelivery | dtn.FlagReportDeletion

// clock gives bundles creation times of their own (ms), as dtn.Link does.
type clock struct{ last uint64 }

func (c *clock) next() uint64 {
	c.last = max(dtn.DTNTime(time.Now()), c.last+1)
	return c.last
}

// dtndRound measures n round trips of a bundle from an agent on dtnd a to
// one on dtnd b, which sends it back: the bundles the link would make for
// one frame (a one-frame batch, the link's flags and report-to), with no
// switch and no Link. Status reports are skipped.
func dtndRound(a, b *dtntest.Node, tag string, n int) (benchstat.Figure, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	epA, epB := "dtn://a/echo-"+tag, "dtn://b/echo-"+tag
	aa, err := dtn.Dial(ctx, a.Agent, epA)
	if err != nil {
		return benchstat.Figure{}, err
	}
	defer aa.Close()
	ab, err := dtn.Dial(ctx, b.Agent, epB)
	if err != nil {
		return benchstat.Figure{}, err
	}
	defer ab.Close()
	// A bundle lost by dtnd would hold Receive: the round's deadline
	// closes both agents.
	stop := context.AfterFunc(ctx, func() { aa.Close(); ab.Close() })
	defer stop()
	echoDone := make(chan struct{})
	defer func() { ab.Close(); <-echoDone }()
	go func() {
		defer close(echoDone)
		var clk clock
		for {
			m, err := ab.Receive()
			if err != nil {
				return
			}
			if m.Bundle.Destination != epB || m.Bundle.Flags&dtn.FlagAdminRecord != 0 {
				continue
			}
			r := dtn.Bundle{Flags: linkFlags, Destination: epA, Source: epB, ReportTo: epB,
				Created: clk.next(), Lifetime: 60000, Payload: m.Bundle.Payload}
			if err := ab.Send(&r); err != nil {
				return
			}
		}
	}()
	var clk clock
	i := 0
	return benchstat.Measure(n, func() error {
		f := numbered(i, camAPID, procAPID)
		payload := dtn.AppendFrame(dtn.AppendBatch(nil, 1, uint64(i)), &f)
		out := dtn.Bundle{Flags: linkFlags, Destination: epB, Source: epA, ReportTo: epA,
			Created: clk.next(), Lifetime: 60000, Payload: payload}
		if err := aa.Send(&out); err != nil {
			return err
		}
		for {
			m, err := aa.Receive()
			if err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("bundle %d not back within %v", i, timeout)
				}
				return err
			}
			if m.Bundle.Destination != epA || m.Bundle.Flags&dtn.FlagAdminRecord != 0 {
				continue
			}
			if !bytes.Equal(m.Bundle.Payload, payload) {
				return fmt.Errorf("bundle %d: payload %x came back, want %x", i, m.Bundle.Payload, payload)
			}
			i++
			return nil
		}
	})
}

// dtndWindow is the most bundles dtndFlat keeps unreported, as the link's
// default LinkConfig.Window.
const dtndWindow = 32

// dtndFlat sends bundles one-way from an agent on dtnd a to one on dtnd b,
// flat out with at most dtndWindow not yet reported delivered, each the
// batch of batch frames the link would make, and returns the time from
// the first send until b has received them all. It is the link's sending
// without the switch and without copies: a bundle dtnd loses holds a
// window slot for good, and one that never reaches b is an error.
func dtndFlat(a, b *dtntest.Node, tag string, bundles, batch int) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	epA, epB := "dtn://a/flat-"+tag, "dtn://b/flat-"+tag
	aa, err := dtn.Dial(ctx, a.Agent, epA)
	if err != nil {
		return 0, err
	}
	defer aa.Close()
	ab, err := dtn.Dial(ctx, b.Agent, epB)
	if err != nil {
		return 0, err
	}
	defer ab.Close()
	stop := context.AfterFunc(ctx, func() { aa.Close(); ab.Close() })
	defer stop()

	window := make(chan struct{}, dtndWindow)
	reports := make(chan struct{})
	go func() { // A's reports free window slots
		defer close(reports)
		for {
			m, err := aa.Receive()
			if err != nil {
				return
			}
			if m.Bundle.Flags&dtn.FlagAdminRecord != 0 {
				select {
				case <-window:
				default:
				}
			}
		}
	}()
	defer func() { aa.Close(); <-reports }()
	got := make(chan error, 1)
	go func() { // B counts the bundles that arrive
		for i := 0; i < bundles; {
			m, err := ab.Receive()
			if err != nil {
				got <- fmt.Errorf("%d of %d bundles at B: %w", i, bundles, err)
				return
			}
			if m.Bundle.Destination == epB && m.Bundle.Flags&dtn.FlagAdminRecord == 0 {
				i++
			}
		}
		got <- nil
	}()
	payload := dtn.AppendBatch(nil, 1, 0)
	for i := range batch {
		f := numbered(i, camAPID, procAPID)
		payload = dtn.AppendFrame(payload, &f)
	}
	var clk clock
	start := time.Now()
	for i := range bundles {
		select {
		case window <- struct{}{}:
		case <-ctx.Done():
			return 0, fmt.Errorf("window full for %v after %d bundles (reports lost)", timeout, i)
		}
		out := dtn.Bundle{Flags: linkFlags, Destination: epB, Source: epA, ReportTo: epA,
			Created: clk.next(), Lifetime: 60000, Payload: payload}
		if err := aa.Send(&out); err != nil {
			return 0, err
		}
	}
	if err := <-got; err != nil {
		return 0, err
	}
	return time.Since(start), nil
}
