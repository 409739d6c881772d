package switched

import (
	"slices"
	"sync"
	"time"

	"spacenet/apid/frame"
	"spacenet/apid/sysmsg"
)

// Refused frames.
//
// The switch answers a frame it refuses with an ERROR naming the frame's
// type, source APID and payload length, and says nothing about the frames it
// takes. The switch processes one connection's frames in order and queues
// its ERRORs and HEALTH answers for the node in that same order, so a
// HEALTH frame to sysmsg.APIDHealth (a probe) marks a point: when its
// answer arrives, every ERROR about the frames written before it has
// arrived too. A reply to one of the node's calls marks the same point for
// everything written before that call.
//
// The node keeps a copy of every reply it writes (a sentReply) for
// keepSent, at most maxSentFrames frames. Normally it sends no probe (the
// traffic is the same as without any of this). When an ERROR about one of
// its frames arrives, the node is congested: it sends a probe, and until a
// probe's answer finds no ERROR in its window, it appends a probe to a
// write whenever none is out. At a probe's answer the replies written
// before it are settled: the ones an ERROR named are retried (Host_busy)
// or dropped (refusedReply), the others forgotten.
//
// Replies written in the same probe window from the same APID with a frame
// of the same payload length cannot be told apart: a Host_busy ERROR marks
// every such reply for a retry (one the caller already has arrives again
// and is counted stray by the caller's node), a permanent refusal marks the
// oldest one not marked yet (write order, as the switch answers in write
// order). Windows are short once congested; the first ERROR of an episode
// has as window every reply kept.

const (
	// maxSentFrames bounds the frames of the replies kept unconfirmed;
	// beyond it the oldest reply is forgotten (counted in
	// Stats.RepliesUnconfirmed) as if taken.
	maxSentFrames = 4096 // a power of two (replyRing)
	// keepSent is how long a reply is kept when the node is not congested:
	// its ERROR, if any, comes within a switch's processing time.
	keepSent = 100 * time.Millisecond
	// maxFree bounds the recycled sentReplys kept.
	maxFree = maxSentFrames
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
	at        time.Time       // when it was written
	attempt   int             // retries so far
	timer     *time.Timer
}

// put recycles r (t.mu held): the tracker keeps its own free list rather
// than a sync.Pool, which the garbage collector empties, so that a node
// that writes replies steadily allocates none once warm.
func (t *tracker) put(r *sentReply) {
	if cap(r.frames) > maxKeptFrames {
		r.frames, r.refused = nil, nil
	}
	r.timer = nil
	if len(t.free) < maxFree {
		t.free = append(t.free, r)
	}
}

// get returns a recycled or new sentReply.
func (t *tracker) get() *sentReply {
	t.mu.Lock()
	defer t.mu.Unlock()
	if k := len(t.free); k > 0 {
		r := t.free[k-1]
		t.free[k-1] = nil
		t.free = t.free[:k-1]
		return r
	}
	return new(sentReply)
}

// tracker is the node's state for probes and kept replies, guarded by mu.
// Lock order: Node.wmu, then mu.
type tracker struct {
	mu        sync.Mutex
	sent      replyRing    // in write order
	free      []*sentReply // recycled
	nframes   int          // frames in sent
	probes    uint64       // probes sent
	answered  uint64       // the number of the last probe answered
	probeOut  bool
	probeAt   time.Time
	congested bool                    // an ERROR came: probe until a window has none
	errs      int                     // ERRORs about the node's frames since the last probe answer
	retrying  map[*sentReply]struct{} // retries scheduled
	closed    bool
	wg        sync.WaitGroup // retry timers that fired or may fire
	probe     frame.Frame
	onSettle  func(code frame.ErrorCode, retried bool) // tests: a refused reply was settled
	onProbe   func()                                   // tests: a probe's answer arrived
}

func (n *Node) initTracker() {
	n.tr.retrying = make(map[*sentReply]struct{})
	if err := frame.Encode(&n.tr.probe, frame.Health, n.cfg.APID, sysmsg.APIDHealth, nil); err != nil {
		panic(err) // the APIDs are valid by construction
	}
}

// writeTracked writes fs, and a probe when the node is congested and none
// is out; wmu is held. r, if not nil, is the reply fs belongs to, kept
// from now on. It returns the number of probes sent before fs (fs is
// confirmed by the answer to any later probe).
func (n *Node) writeTracked(fs []frame.Frame, r *sentReply) (uint64, error) {
	t := &n.tr
	t.mu.Lock()
	epoch := t.probes
	var now time.Time
	if r != nil || t.congested {
		now = n.now()
	}
	if r != nil {
		r.epoch, r.at = epoch, now
		// Forget the oldest replies: too many frames kept, or (not
		// congested) old enough for their ERROR to have come.
		for t.sent.n > 0 && (t.nframes+len(r.frames) > maxSentFrames || (!t.congested && now.Sub(t.sent.at(0).at) > keepSent)) {
			old := t.sent.pop()
			if now.Sub(old.at) <= keepSent || t.congested {
				n.st.repliesUnconfirmed.Add(1)
			}
			t.nframes -= len(old.frames)
			t.put(old)
		}
		t.sent.push(r)
		t.nframes += len(r.frames)
	}
	probe := t.congested && (!t.probeOut || now.Sub(t.probeAt) > probeTimeout)
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

// refusal notes an ERROR about one of the node's frames: the node is
// congested, and a probe goes out unless one is.
func (n *Node) refusal() {
	t := &n.tr
	t.mu.Lock()
	t.errs++
	start := !t.congested
	t.congested = true
	t.mu.Unlock()
	if start {
		n.postProbe() // refusal runs on the reader
	}
}

// sendReply writes one reply message's frames (from one of the node's
// APIDs to dest, call id) and keeps a copy until the switch took it.
func (n *Node) sendReply(fs []frame.Frame, dest frame.APID, id uint32) error {
	return n.writeReply(n.tr.newReply(fs, dest, id))
}

// newReply returns a sentReply holding a copy of fs, one reply message's
// frames (from one of the node's APIDs to dest, call id).
func (t *tracker) newReply(fs []frame.Frame, dest frame.APID, id uint32) *sentReply {
	r := t.get()
	r.src, r.dest, r.id, r.attempt = fs[0].APID(), dest, id, 0
	r.frames = slices.Grow(append(r.frames[:0], fs...), 1) // room for a probe
	return r
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
	defer n.refusal()
	t := &n.tr
	t.mu.Lock()
	defer t.mu.Unlock()
	hit := false
	for i := range t.sent.n {
		r := t.sent.at(i)
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
	if t.errs == 0 {
		t.congested = false
	}
	t.errs = 0
	var settle []*sentReply
	k := 0
	for i := range t.sent.n {
		r := t.sent.at(i)
		switch {
		case r.epoch >= t.answered:
			t.sent.set(k, r) // k <= i: already read
			k++
		case r.code != 0:
			t.nframes -= len(r.frames)
			settle = append(settle, r)
		default:
			t.nframes -= len(r.frames)
			t.put(r)
		}
	}
	t.sent.truncate(k)
	more := t.congested && k > 0
	t.mu.Unlock()
	for _, r := range settle {
		n.refusedReply(r)
	}
	if more {
		n.postProbe() // probeAnswer runs on the reader
	}
	if t.onProbe != nil {
		t.onProbe()
	}
	return true
}

// sendProbe sends a probe when the node is congested and none is out.
func (n *Node) sendProbe() {
	if n.g == nil {
		return // not started (tests drive the node by hand)
	}
	n.wmu.Lock()
	var none [0]frame.Frame
	t := &n.tr
	t.mu.Lock()
	send := t.congested && !t.probeOut
	t.mu.Unlock()
	if send {
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
			t.put(r)
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
	t.mu.Lock()
	t.put(r)
	t.mu.Unlock()
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
	t.sent, t.nframes = replyRing{}, 0
	t.mu.Unlock()
}

// replyRing is the replies kept, oldest first: a ring of maxSentFrames
// entries (every reply has a frame, so they fit), allocated on first use.
type replyRing struct {
	buf     []*sentReply
	head, n int
}

func (q *replyRing) idx(i int) int { return (q.head + i) & (len(q.buf) - 1) }

// at is the i-th oldest.
func (q *replyRing) at(i int) *sentReply { return q.buf[q.idx(i)] }

func (q *replyRing) set(i int, r *sentReply) { q.buf[q.idx(i)] = r }

// push appends r; the caller keeps n below maxSentFrames.
func (q *replyRing) push(r *sentReply) {
	if q.buf == nil {
		q.buf = make([]*sentReply, maxSentFrames)
	}
	q.buf[q.idx(q.n)] = r
	q.n++
}

// pop removes and returns the oldest.
func (q *replyRing) pop() *sentReply {
	r := q.buf[q.head]
	q.buf[q.head] = nil
	q.head = q.idx(1)
	q.n--
	return r
}

// truncate keeps the k oldest.
func (q *replyRing) truncate(k int) {
	for i := k; i < q.n; i++ {
		q.buf[q.idx(i)] = nil
	}
	q.n = k
}
