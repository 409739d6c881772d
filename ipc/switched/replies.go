package switched

import (
	"slices"
	"sync"
	"time"

	"spacenet/apidswitch"
	"spacenet/frame"
)

// Refused replies.
//
// The switch answers a frame it refuses with an ERROR naming the frame's
// type, source APID and payload length, and says nothing about the frames it
// takes. To know which reply an ERROR is about, the node keeps a copy of
// every reply it writes (a sentReply) until the switch is known to have
// processed it, and learns that with probes: after a write, when no probe
// is out, the node appends to the same write one HEALTH frame to
// apidswitch.APIDHealth. The switch processes one connection's frames in
// order and queues its ERRORs and HEALTH replies for the node in that same
// order, so when the probe's answer arrives, every ERROR about the frames
// written before the probe has arrived too: the replies written before it
// that no ERROR named were taken and are forgotten, the others are settled
// (refusedReply). One probe is out at a time (a lost answer is replaced
// after probeTimeout), so under load one probe covers many frames.
//
// Within one probe's window, replies from the same APID with a frame of the
// same payload length cannot be told apart: a Host_busy ERROR marks every
// such reply of the window for a retry (one the caller already has arrives
// again and is counted stray by the caller's node), a permanent refusal
// marks the oldest one not marked yet (write order, as the switch answers
// in write order).

const (
	// maxSent bounds the replies kept unconfirmed; beyond it the oldest is
	// forgotten (counted in Stats.RepliesUnconfirmed) as if taken.
	maxSent = 1024
	// probeTimeout is when a probe whose answer did not come (the switch
	// lost it: the node's queue was full) is replaced, on the next write.
	probeTimeout = time.Second
	// DefaultReplyRetries is Config.ReplyRetries' default.
	DefaultReplyRetries = 16
	// DefaultReplyBackoff is Config.ReplyBackoff's default: the first
	// retry's delay, doubling up to maxReplyBackoff.
	DefaultReplyBackoff = time.Millisecond
	maxReplyBackoff     = 200 * time.Millisecond
)

// sentReply is one reply (or runtime answer) the node wrote, kept until the
// switch is known to have processed it.
type sentReply struct {
	src, dest frame.APID
	id        uint32
	frames    []frame.Frame
	refused   []bool          // per frame: an ERROR named it
	code      frame.ErrorCode // the refusal: a permanent one wins over Host_busy
	epoch     uint64          // the probes sent before it was written
	attempt   int             // retries so far
	timer     *time.Timer
}

var sentPool = sync.Pool{New: func() any { return new(sentReply) }}

func putSent(r *sentReply) {
	if cap(r.frames) > maxKeptFrames {
		r.frames, r.refused = nil, nil
	}
	r.timer = nil
	sentPool.Put(r)
}

// tracker is the node's state for probes and kept replies, guarded by mu.
// Lock order: Node.wmu, then mu.
type tracker struct {
	mu       sync.Mutex
	sent     []*sentReply // in write order
	probes   uint64       // probes sent
	answered uint64       // the number of the last probe answered
	probeOut bool
	probeAt  time.Time
	retrying map[*sentReply]struct{} // retries scheduled
	closed   bool
	wg       sync.WaitGroup // retry timers that fired or may fire
	probe    frame.Frame
	onSettle func(code frame.ErrorCode, retried bool) // tests: a refused reply was settled
	onProbe  func()                                   // tests: a probe's answer arrived
}

func (n *Node) initTracker() {
	n.tr.retrying = make(map[*sentReply]struct{})
	if err := frame.Encode(&n.tr.probe, frame.Health, n.cfg.APID, apidswitch.APIDHealth, nil); err != nil {
		panic(err) // the APIDs are valid by construction
	}
}

// writeTracked writes fs, and a probe when none is out; wmu is held. It
// returns the number of probes sent before fs (fs is confirmed by the
// answer to any later probe).
func (n *Node) writeTracked(fs []frame.Frame, r *sentReply) (uint64, error) {
	t := &n.tr
	t.mu.Lock()
	epoch := t.probes
	if r != nil {
		r.epoch = epoch
		if len(t.sent) >= maxSent {
			putSent(t.sent[0])
			copy(t.sent, t.sent[1:])
			t.sent[len(t.sent)-1] = nil
			t.sent = t.sent[:len(t.sent)-1]
			n.st.repliesUnconfirmed.Add(1)
		}
		t.sent = append(t.sent, r)
	}
	now := n.now()
	probe := !t.probeOut || now.Sub(t.probeAt) > probeTimeout
	if probe {
		t.probeOut, t.probeAt = true, now
		t.probes++
	}
	t.mu.Unlock()
	if !probe {
		return epoch, n.g.WriteFrames(fs)
	}
	n.st.probes.Add(1)
	// Past fs's length: its storage has room (a sentReply's always has)
	// or grows once; nobody reads that slot.
	return epoch, n.g.WriteFrames(append(fs, t.probe))
}

// sendReply writes one reply message's frames (from one of the node's
// APIDs to dest, call id) and keeps a copy until the switch took it.
func (n *Node) sendReply(fs []frame.Frame, dest frame.APID, id uint32) error {
	r := sentPool.Get().(*sentReply)
	r.src, r.dest, r.id, r.attempt = fs[0].APID(), dest, id, 0
	r.frames = slices.Grow(append(r.frames[:0], fs...), 1) // room for a probe
	return n.writeReply(r)
}

func (n *Node) writeReply(r *sentReply) error {
	r.code = 0
	r.refused = r.refused[:0]
	for range r.frames {
		r.refused = append(r.refused, false)
	}
	n.wmu.Lock()
	_, err := n.writeTracked(r.frames, r)
	n.wmu.Unlock()
	return err
}

// replyRefused handles an ERROR about a frame of a reply from one of the
// node's APIDs (see the comment at the top of this file).
func (n *Node) replyRefused(code frame.ErrorCode, src frame.APID, plen uint16) {
	t := &n.tr
	t.mu.Lock()
	defer t.mu.Unlock()
	hit := false
	for _, r := range t.sent {
		if r.src != src || r.epoch < t.answered {
			continue
		}
		for i := range r.frames {
			if r.frames[i].PayloadLen() != plen || (code != frame.HostBusy && r.refused[i]) {
				continue
			}
			r.refused[i] = true
			hit = true
			if code != frame.HostBusy {
				r.code = code
				return // permanent: the oldest one only
			}
			if r.code == 0 {
				r.code = code
			}
			break
		}
	}
	if !hit {
		n.st.refusedUnmatched.Add(1)
	}
}

// probeAnswer handles a HEALTH frame from APIDHealth: the answer to the
// probe that is out, if any (false: not a probe's answer).
func (n *Node) probeAnswer() bool {
	t := &n.tr
	t.mu.Lock()
	if !t.probeOut {
		t.mu.Unlock()
		return false
	}
	t.probeOut = false
	t.answered = t.probes
	var settle []*sentReply
	keep := t.sent[:0]
	for _, r := range t.sent {
		switch {
		case r.epoch >= t.answered:
			keep = append(keep, r)
		case r.code != 0:
			settle = append(settle, r)
		default:
			putSent(r)
		}
	}
	clear(t.sent[len(keep):])
	t.sent = keep
	more := len(keep) > 0
	t.mu.Unlock()
	for _, r := range settle {
		n.refusedReply(r)
	}
	if more {
		n.sendProbe()
	}
	if t.onProbe != nil {
		t.onProbe()
	}
	return true
}

// sendProbe sends a probe when none is out (replies written after the last
// one wait for it).
func (n *Node) sendProbe() {
	n.wmu.Lock()
	var none [0]frame.Frame
	t := &n.tr
	t.mu.Lock()
	out := t.probeOut
	t.mu.Unlock()
	if !out {
		if _, err := n.writeTracked(none[:], nil); err != nil {
			n.log.Debug("probe not sent", "err", err)
		}
	}
	n.wmu.Unlock()
}

// refusedReply settles a reply the switch refused: Host_busy is retried
// with a doubling delay (the caller drains its queue), up to
// Config.ReplyRetries times; anything else, or too many retries, drops it,
// logged and counted (Stats.RepliesDropped).
func (n *Node) refusedReply(r *sentReply) {
	t := &n.tr
	if t.onSettle != nil {
		defer t.onSettle(r.code, r.code == frame.HostBusy && r.attempt < n.cfg.ReplyRetries)
	}
	if r.code == frame.HostBusy && r.attempt < n.cfg.ReplyRetries {
		d := n.cfg.ReplyBackoff << r.attempt
		if d > maxReplyBackoff || d <= 0 {
			d = maxReplyBackoff
		}
		r.attempt++
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			n.st.repliesDropped.Add(1)
			putSent(r)
			return
		}
		t.retrying[r] = struct{}{}
		t.wg.Add(1)
		r.timer = time.AfterFunc(d, func() { n.retryReply(r) })
		t.mu.Unlock()
		n.st.repliesRetried.Add(1)
		return
	}
	n.st.repliesDropped.Add(1)
	n.log.Warn("reply dropped: refused by the switch", "code", r.code, "from", r.src, "to", r.dest, "call", r.id, "retries", r.attempt)
	putSent(r)
}

func (n *Node) retryReply(r *sentReply) {
	t := &n.tr
	defer t.wg.Done()
	t.mu.Lock()
	_, ok := t.retrying[r]
	delete(t.retrying, r)
	t.mu.Unlock()
	if !ok {
		return // the node closed
	}
	if err := n.writeReply(r); err != nil {
		n.log.Debug("reply retry not sent", "call", r.id, "err", err)
	}
}

// stopTracker ends the retries when the connection ended.
func (n *Node) stopTracker() {
	t := &n.tr
	t.mu.Lock()
	t.closed = true
	for r := range t.retrying {
		if r.timer.Stop() {
			t.wg.Done()
		}
		n.st.repliesDropped.Add(1)
	}
	clear(t.retrying)
	t.sent = nil
	t.mu.Unlock()
}
