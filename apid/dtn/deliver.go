package dtn

import (
	"context"
	"time"

	"spacenet/apid/frame"
)

// The receiving side of a Link: bundles from remotes put back in the order
// their sender made them (DTN keeps no order), then their frames given to
// the switch.

// MaxPending bounds the bundles a stream may hold back while it waits for
// a missing one; past it the missing one is given up.
const MaxPending = 1024

// inStream is what the link knows of one remote's stream of bundles.
type inStream struct {
	stream  uint64
	next    uint64
	pending map[uint64]Bundle // held back: a bundle before them is missing
}

// deliverLoop puts the bundles from in back in order per remote and
// delivers their frames, until in is closed. A missing bundle is waited
// for until the lifetime of the first one held back after it has passed:
// it was made earlier, so by then it has expired too (and its sender has
// answered its frames); its position is then skipped and counted in Gaps.
func (l *Link) deliverLoop(in <-chan Bundle) {
	streams := make(map[int]*inStream)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		l.armGap(timer, streams)
		select {
		case b, ok := <-in:
			if !ok {
				return
			}
			l.arrive(streams, b)
		case <-timer.C:
			l.skipGaps(streams, time.Now())
			l.settled()
		}
	}
}

// arrive takes bundle b from a remote.
func (l *Link) arrive(streams map[int]*inStream, b Bundle) {
	remote, ok := l.sw.Policy().RemoteByEndpoint(b.Source)
	if !ok && l.cfg.Ground != "" && b.Source == l.cfg.Ground {
		remote, ok = groundRemote, true
	}
	if !ok {
		l.stats.unknownSource.Add(1)
		l.log.Warn("dtn: bundle from an endpoint no remote has", "source", b.Source)
		return
	}
	bt, err := checkBatch(b.Payload)
	if err != nil {
		l.stats.malformed.Add(1)
		l.log.Warn("dtn: malformed bundle payload", "source", b.Source, "err", err)
		return
	}
	l.stats.bundlesIn.Add(1)
	s := streams[remote]
	if s == nil || s.stream != bt.Stream {
		if s != nil { // the remote's link restarted: finish the old stream first
			l.flushAll(remote, s)
		}
		s = &inStream{stream: bt.Stream, pending: make(map[uint64]Bundle)}
		streams[remote] = s
	}
	switch {
	case bt.Position < s.next:
		l.stats.duplicates.Add(1)
		return
	case bt.Position > s.next:
		if _, dup := s.pending[bt.Position]; dup {
			l.stats.duplicates.Add(1)
			return
		}
		s.pending[bt.Position] = b
		if len(s.pending) > MaxPending {
			l.skipTo(remote, s, lowest(s.pending))
		}
		return
	}
	l.deliver(remote, b.Payload)
	s.next++
	l.drain(remote, s)
	l.settled()
}

// drain delivers the held-back bundles that are now next.
func (l *Link) drain(remote int, s *inStream) {
	for {
		b, ok := s.pending[s.next]
		if !ok {
			return
		}
		delete(s.pending, s.next)
		l.deliver(remote, b.Payload)
		s.next++
	}
}

// skipTo gives up the positions before pos and delivers from there.
func (l *Link) skipTo(remote int, s *inStream, pos uint64) {
	l.stats.gaps.Add(pos - s.next)
	s.next = pos
	l.drain(remote, s)
}

// flushAll delivers every held-back bundle of s in order.
func (l *Link) flushAll(remote int, s *inStream) {
	for len(s.pending) > 0 {
		l.skipTo(remote, s, lowest(s.pending))
	}
}

func lowest(m map[uint64]Bundle) uint64 {
	first := true
	var lo uint64
	for p := range m {
		if first || p < lo {
			lo, first = p, false
		}
	}
	return lo
}

// gapDeadline is when the bundle missing before s's held-back ones is
// surely expired: the end of the lifetime of the earliest held back.
func gapDeadline(s *inStream) (time.Time, bool) {
	if len(s.pending) == 0 {
		return time.Time{}, false
	}
	b := s.pending[lowest(s.pending)]
	return dtnEpoch.Add(time.Duration(b.Created+b.Lifetime) * time.Millisecond), true
}

func (l *Link) armGap(timer *time.Timer, streams map[int]*inStream) {
	d := time.Hour
	for _, s := range streams {
		if t, ok := gapDeadline(s); ok {
			d = min(d, max(0, time.Until(t)))
		}
	}
	timer.Reset(d)
}

func (l *Link) skipGaps(streams map[int]*inStream, now time.Time) {
	for remote, s := range streams {
		if t, ok := gapDeadline(s); ok && !t.After(now) {
			l.skipTo(remote, s, lowest(s.pending))
		}
	}
}

// deliver gives the frames of one batch to the switch.
func (l *Link) deliver(remote int, payload []byte) {
	_, _ = DecodeBatch(payload, func(f *frame.Frame) {
		l.stats.framesIn.Add(1)
		if remote == groundRemote {
			_ = l.sw.Inject(f) // refusals are counted by the switch under "ground"
			return
		}
		_ = l.sw.InjectRemote(remote, f) // refusals are counted and answered by the switch
	})
}

// Stats is a snapshot of a Link's counters.
type Stats struct {
	Connects        uint64 // registrations with dtnd
	BundlesSent     uint64 // bundles handed to dtnd, copies included
	FramesSent      uint64 // frames in batches made (each counted once, however many copies)
	Copies          uint64 // bundles sent again because their report was late
	Delivered       uint64 // bundles reported delivered by the remote's dtnd
	FramesDelivered uint64
	Expired         uint64 // bundles not reported delivered within lifetime + ReportGrace
	FramesExpired   uint64 // their frames, given back to the switch (Link_failed)
	Deleted         uint64 // copies a dtnd reported deleted (other copies may still arrive)
	LateReports     uint64 // delivery reports for bundles already given back
	Refused         uint64 // frames SendRemote refused (queue full for Hold, or stopped)
	Reports         uint64 // status reports received
	BundlesIn       uint64 // bundles received from remotes
	FramesIn        uint64 // frames in them, given to the switch
	Duplicates      uint64 // bundles received twice (dropped)
	Gaps            uint64 // stream positions given up (their bundles expired on the way)
	Malformed       uint64 // bundles or reports that did not decode
	UnknownSource   uint64 // bundles from an endpoint no remote has
	InFlight        int    // batches sent and not yet reported delivered
}

// Stats returns a snapshot of the link's counters.
func (l *Link) Stats() Stats {
	s := &l.stats
	l.mu.Lock()
	n := len(l.window)
	l.mu.Unlock()
	return Stats{
		Connects: s.connect.Load(), BundlesSent: s.bundlesSent.Load(), FramesSent: s.framesSent.Load(),
		Delivered: s.delivered.Load(), FramesDelivered: s.framesDelivered.Load(),
		Expired: s.expired.Load(), FramesExpired: s.framesExpired.Load(), Deleted: s.deleted.Load(),
		Copies: s.copies.Load(), LateReports: s.lateReports.Load(),
		Refused: s.refused.Load(), Reports: s.reports.Load(), BundlesIn: s.bundlesIn.Load(),
		FramesIn: s.framesIn.Load(), Duplicates: s.duplicates.Load(), Gaps: s.gaps.Load(),
		Malformed: s.malformed.Load(), UnknownSource: s.unknownSource.Load(), InFlight: n,
	}
}

// settled wakes WaitStats: a bundle was sent, reported, given back or
// received.
func (l *Link) settled() {
	l.mu.Lock()
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// WaitStats waits until cond holds for the link's Stats (checked after
// every bundle sent, reported delivered, given back or received) or ctx
// is done, and returns the last Stats and ctx's error if it ended first.
func (l *Link) WaitStats(ctx context.Context, cond func(Stats) bool) (Stats, error) {
	for {
		l.mu.Lock()
		ch := l.changed
		l.mu.Unlock()
		st := l.Stats()
		if cond(st) {
			return st, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return l.Stats(), ctx.Err()
		}
	}
}
