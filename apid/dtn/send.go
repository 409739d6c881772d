package dtn

import (
	"context"
	"encoding/binary"
	"time"

	"spacenet/apid/frame"
	"spacenet/apid/policy"
)

// The sending side of a Link: frames batched into bundles, a window of
// batches in flight, copies sent again until one is reported delivered,
// and frames given back to the switch when no copy was within the
// lifetime.

// sent is a batch handed to dtnd and not yet reported delivered.
type sent struct {
	remote   policy.Remote
	ground   bool      // the batch goes to the ground, not a remote
	frames   []byte    // the batch payload (its stream position included)
	first    time.Time // when the first copy was sent
	deadline time.Time // first + lifetime + ReportGrace: the frames are given back then
	retry    time.Time // when to send the next copy
	backoff  time.Duration
	copies   []uint64 // creation time of each copy sent: each names it in reports
}

func (s *sent) count() uint64 { return uint64(binary.BigEndian.Uint16(s.frames[2:])) }

// sendLoop bundles queued frames and sends them through a, sends copies
// of batches whose reports are late and gives back the frames of those
// whose time is up, until ctx is done or the connection fails. Batches in
// flight when the connection fails are sent again on the next one.
func (l *Link) sendLoop(ctx context.Context, a *Agent, readDone <-chan struct{}) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var pending *item // the first frame of the next batch, taken from the queue
	buf := make([]byte, 0, batchHeader+l.cfg.Batch*frame.Size)
	// A new connection: what was in flight goes again at once.
	if !l.resend(a, time.Now(), true) {
		return
	}
	for {
		timer.Reset(l.nextEvent())
		queue := l.queue
		if pending != nil || !l.windowOpen() {
			queue = nil
		}
		select {
		case <-ctx.Done():
			return
		case <-readDone:
			return
		case <-timer.C:
			now := time.Now()
			l.expire(now)
			if !l.resend(a, now, false) {
				return
			}
			continue
		case <-l.wake:
		case it := <-queue:
			pending = &it
		}
		if pending == nil || !l.windowOpen() {
			continue
		}
		// Take what else is waiting for the same remote, up to a batch.
		remote := pending.remote
		rm, ok := l.remote(remote)
		if !ok {
			l.undelivered(remote == groundRemote, &pending.f, frame.NoRoute)
			pending = nil
			continue
		}
		pos := l.position[rm.Endpoint]
		buf = AppendBatch(buf[:0], l.stream, pos)
		buf = AppendFrame(buf, &pending.f)
		pending = nil
	fill:
		for n := 1; n < l.cfg.Batch; n++ {
			select {
			case it := <-l.queue:
				if it.remote != remote {
					pending = &it
					break fill
				}
				buf = AppendFrame(buf, &it.f)
			default:
				break fill
			}
		}
		l.position[rm.Endpoint] = pos + 1
		now := time.Now()
		s := &sent{
			remote:   rm,
			ground:   remote == groundRemote,
			frames:   append([]byte(nil), buf...),
			first:    now,
			deadline: now.Add(rm.BundleLifetime() + l.cfg.ReportGrace),
			backoff:  l.retryAfter(),
		}
		l.mu.Lock()
		l.window = append(l.window, s)
		l.mu.Unlock()
		l.stats.framesSent.Add(s.count())
		if !l.sendCopy(a, s, now) {
			return
		}
	}
}

// windowOpen reports whether another batch may be sent.
func (l *Link) windowOpen() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.window) < l.cfg.Window
}

// nextEvent is the time until the next copy or expiry is due.
func (l *Link) nextEvent() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := time.Hour
	for _, s := range l.window {
		d = min(d, time.Until(s.retry), time.Until(s.deadline))
	}
	return max(d, 0)
}

// sendCopy sends one copy of batch s as a new bundle, and schedules the
// next. It reports whether dtnd took it.
func (l *Link) sendCopy(a *Agent, s *sent, now time.Time) bool {
	l.mu.Lock()
	created := max(DTNTime(now), l.lastCreated+1)
	l.lastCreated = created
	s.copies = append(s.copies, created)
	l.inflight[created] = s
	s.retry = now.Add(s.backoff)
	s.backoff = min(2*s.backoff, MaxRetry)
	// The copy lives as long as the batch has left.
	left := max(time.Millisecond, s.deadline.Add(-l.cfg.ReportGrace).Sub(now))
	l.mu.Unlock()
	b := Bundle{
		Flags:       FlagMustNotFragment | FlagReportDelivery | FlagReportDeletion,
		Destination: s.remote.Endpoint,
		Source:      l.cfg.Endpoint,
		ReportTo:    l.cfg.Endpoint,
		Created:     created,
		Lifetime:    uint64(left / time.Millisecond),
		Payload:     s.frames,
	}
	if err := a.Send(&b); err != nil {
		l.log.Warn("dtn: send to dtnd failed", "err", err)
		return false
	}
	l.stats.bundlesSent.Add(1)
	if len(s.copies) > 1 {
		l.stats.copies.Add(1)
	}
	l.settled()
	return true
}

// retryAfter is how long to wait for a new batch's report before sending
// a copy: four times the smoothed report round trip (as TCP's
// retransmission timeout), at least Retry.
func (l *Link) retryAfter() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return min(max(l.cfg.Retry, 4*l.srtt), MaxRetry)
}

// sample takes the report round trip of batch s, if it has one copy (the
// round trip of a batch sent twice is ambiguous, as TCP's Karn rule says).
// l.mu is held.
func (l *Link) sample(s *sent, now time.Time) {
	if len(s.copies) != 1 {
		return
	}
	rtt := now.Sub(s.first)
	if l.srtt == 0 {
		l.srtt = rtt
	} else {
		l.srtt += (rtt - l.srtt) / 8
	}
}

// MaxRetry bounds the wait between two copies of a batch.
const MaxRetry = 30 * time.Second

// resend sends a copy of every batch in flight whose report is late (or
// of every one, when all is set), oldest first. It reports whether dtnd
// took them.
func (l *Link) resend(a *Agent, now time.Time, all bool) bool {
	l.mu.Lock()
	var due []*sent
	for _, s := range l.window {
		if all || !s.retry.After(now) {
			due = append(due, s)
		}
	}
	l.mu.Unlock()
	for _, s := range due {
		if !l.sendCopy(a, s, now) {
			return false
		}
	}
	return true
}

// take removes the batch one of whose copies was created at created from
// those in flight and returns it, or nil.
//
// A bundle's identity is its source, creation time and sequence number.
// dtnd numbers the bundles an application gives it itself (0 for the
// first with a given source and creation time, then 1, 2, ...: its
// IdKeeper), whatever number they carry; so the link gives each bundle a
// creation time of its own (a millisecond after the last at least), and
// dtnd's number is then always 0: the creation time alone names the bundle
// in reports.
func (l *Link) take(created uint64) *sent {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.inflight[created]
	if s == nil {
		return nil
	}
	l.sample(s, time.Now())
	l.forget(s)
	return s
}

// forget removes s from the window and the map. l.mu is held.
func (l *Link) forget(s *sent) {
	for _, c := range s.copies {
		delete(l.inflight, c)
	}
	for i, w := range l.window {
		if w == s {
			l.window = append(l.window[:i], l.window[i+1:]...)
			break
		}
	}
}

// giveBack hands every frame of s back to the switch as undelivered.
func (l *Link) giveBack(s *sent, code frame.ErrorCode) {
	_, _ = DecodeBatch(s.frames, func(f *frame.Frame) { l.undelivered(s.ground, f, code) })
}

func (l *Link) undelivered(ground bool, f *frame.Frame, code frame.ErrorCode) {
	if ground {
		l.sw.GroundUndelivered(f, code)
	} else {
		l.sw.RemoteUndelivered(f, code)
	}
}

// expire gives back the frames of every batch whose deadline is past.
func (l *Link) expire(now time.Time) {
	l.mu.Lock()
	var gone []*sent
	for _, s := range l.window {
		if !s.deadline.After(now) {
			gone = append(gone, s)
		}
	}
	for _, s := range gone {
		l.forget(s)
	}
	l.mu.Unlock()
	for _, s := range gone {
		l.stats.expired.Add(1)
		l.stats.framesExpired.Add(s.count())
		l.log.Warn("dtn: batch not reported delivered within its lifetime", "remote", s.remote.Name, "frames", s.count(), "copies", len(s.copies))
		l.giveBack(s, frame.LinkFailed)
	}
	if len(gone) > 0 {
		l.settled()
	}
}

// remote returns remote i of the policy in force, or the ground.
func (l *Link) remote(i int) (policy.Remote, bool) {
	if i == groundRemote {
		return policy.Remote{Name: policy.GroundName, Endpoint: l.cfg.Ground, Lifetime: l.cfg.GroundLifetime}, l.cfg.Ground != ""
	}
	rs := l.sw.Policy().Remotes
	if i < 0 || i >= len(rs) {
		return policy.Remote{}, false
	}
	return rs[i], true
}
