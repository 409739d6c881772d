package switched

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"spacenet/apid/frame"
	"spacenet/ipc/ipcframe"
)

// The sending direction: everything the node writes to the switch.
//
// Callers write their requests (Client.Call), servers their replies,
// posters their posts (Node.Post), each from its own goroutine: a message
// is one guest.Conn.WriteFrames, a single write that the runtime's write
// lock on the file keeps whole among concurrent ones, so the node holds no
// lock of its own across a write. The reader role's holder never writes
// (receive.go): the answers it makes itself (faults, busy, post refused)
// go through the outbox goroutine.
//
// Refused replies. The switch answers a frame it refuses with an ERROR
// echoing the frame's IPC sub-header (receive.go). To send a reply again
// when the switch refused it Host_busy (the caller's queue was full: a
// caller that stopped reading), the node keeps a copy of every reply (and
// answer) it writes for keepReplies, at most maxKeptReplyFrames frames
// (recycled: no allocation once warm), and an ERROR finds it by what the
// echo names: the server APID (the ERROR's offending APID), the kind, the
// call id and the message's total length. The caller's APID is not in the
// echo, and call ids are the callers' own: two callers' replies from one
// server can look alike. A Host_busy ERROR then retries every one it
// matches (a caller that already has its reply counts the duplicate
// stray); a permanent refusal is given to the oldest.

const (
	// maxKeptReplyFrames bounds the frames of the replies kept; beyond it
	// the oldest reply is forgotten (counted in Stats.RepliesUnconfirmed
	// when it was younger than keepReplies). A power of two (the ring).
	maxKeptReplyFrames = 4096
	// keepReplies is how long a reply is kept: its ERROR, if any, comes
	// within the switch's processing time and the node's reading.
	keepReplies = time.Second
	// maxFree bounds the recycled sentReplys kept.
	maxFree = maxKeptReplyFrames
	// DefaultReplyRetries is Config.ReplyRetries' default.
	DefaultReplyRetries = 16
	// DefaultReplyBackoff is Config.ReplyBackoff's default: the first
	// retry's delay, doubling up to maxReplyBackoff.
	DefaultReplyBackoff = time.Millisecond
	maxReplyBackoff     = 200 * time.Millisecond
	// maxOutbox bounds the reader's answers waiting for the outbox
	// goroutine; one more is dropped and counted (Stats.RepliesDropped),
	// as a refused reply is.
	maxOutbox = 256
)

// ErrNoBits is Post's answer to a post of no bits.
var ErrNoBits = errors.New("switched: post of no bits")

// Post posts bits to the server on dest, in another tenant or this one
// (Hubris's sys_post): the switch checks the post like any frame (source
// APID, policy), and the server receives the bits, merged with any others
// posted since, as a Posted notification between calls (Server.Run). Post
// does not wait: it returns once the frame is written. A post the switch
// refuses comes back as an ERROR, a post to an APID with no server as a
// post refused answer; both are counted (Stats.PostsRefused,
// Stats.PostsWentAway). It allocates nothing.
func (n *Node) Post(dest frame.APID, bits uint32) error {
	if bits == 0 {
		return ErrNoBits
	}
	if !n.started.Load() {
		return errors.New("switched: Post before Start")
	}
	select {
	case <-n.done:
		return fmt.Errorf("switched: post: %w", ErrClosed)
	default:
	}
	var buf [1]frame.Frame
	fs, err := ipcframe.AppendPost(buf[:0], n.cfg.APID, dest, n.newID(), bits)
	if err != nil {
		return err
	}
	if err := n.conn.WriteFrames(fs); err != nil {
		return fmt.Errorf("switched: post: %w: %w", ErrClosed, err)
	}
	n.stats.postsSent.Add(1)
	return nil
}

// sentReply is one reply (or answer) the node wrote, kept for a retry.
type sentReply struct {
	src, dest frame.APID // the server's APID, the caller's
	kind      ipcframe.Kind
	id, total uint32 // call id, message length: with src and kind, what an ERROR's echo names
	frames    []frame.Frame
	written   time.Time // when it was written
	attempt   int       // retries so far
	timer     *time.Timer
	writing   int  // writes in progress (keptReplies.mu): frames in use
	released  bool // released while written: the last write recycles it
}

// keptReplies are the replies the node wrote in the last keepReplies, in
// write order, for the ERRORs that may name them; mu guards every field.
type keptReplies struct {
	mu       sync.Mutex
	ring     []*sentReply            // allocated on first use; nil entries were settled
	head     int                     // the oldest entry's index in ring
	count    int                     // entries in ring, settled ones included
	frames   int                     // frames of the replies in ring
	free     []*sentReply            // recycled
	retrying map[*sentReply]struct{} // retries scheduled
	closed   bool
	timers   sync.WaitGroup                           // retry timers that fired or may fire, and the outbox goroutine
	onSettle func(code frame.ErrorCode, retried bool) // tests: a refused reply was settled
}

// sendReply writes one reply message's frames (from one of the node's
// APIDs to dest, call id), keeping a copy for a retry.
func (n *Node) sendReply(fs []frame.Frame, dest frame.APID, id uint32) error {
	return n.writeReply(n.kept.newReply(fs, dest, id))
}

// writeReply keeps r, then writes it: kept first, so that an ERROR about
// it finds it even while the write goes on. An r released meanwhile (too
// old to keep, or settled) is recycled only after the write.
func (n *Node) writeReply(r *sentReply) error {
	k := &n.kept
	if early := k.add(r, n.now()); early > 0 {
		n.stats.repliesUnconfirmed.Add(uint64(early))
	}
	err := n.conn.WriteFrames(r.frames)
	k.wrote(r)
	return err
}

// wrote ends a write of r: released meanwhile, it is recycled now.
func (k *keptReplies) wrote(r *sentReply) {
	k.mu.Lock()
	r.writing--
	if r.writing == 0 && r.released {
		r.released = false
		k.put(r)
	}
	k.mu.Unlock()
}

// newReply returns a sentReply holding a copy of fs, one message's frames
// (from one of the node's APIDs to dest, call id).
func (k *keptReplies) newReply(fs []frame.Frame, dest frame.APID, id uint32) *sentReply {
	r := k.get()
	h, _ := ipcframe.ParseHeader(fs[0].Type(), fs[0].Payload())
	r.src, r.dest, r.kind, r.id, r.total, r.attempt = fs[0].APID(), dest, h.Kind, id, h.Total, 0
	r.frames = append(r.frames[:0], fs...)
	return r
}

// get returns a recycled or new sentReply. The free list, not a sync.Pool
// (which the garbage collector empties), so that a node writing replies
// steadily allocates none once warm.
func (k *keptReplies) get() *sentReply {
	k.mu.Lock()
	defer k.mu.Unlock()
	if last := len(k.free) - 1; last >= 0 {
		r := k.free[last]
		k.free[last] = nil
		k.free = k.free[:last]
		return r
	}
	return new(sentReply)
}

// put recycles r (mu held), or, while it is written, leaves that to the
// write.
func (k *keptReplies) put(r *sentReply) {
	if r.writing > 0 {
		r.released = true
		return
	}
	if cap(r.frames) > maxKeptFrames {
		r.frames = nil
	}
	r.timer = nil
	if len(k.free) < maxFree {
		k.free = append(k.free, r)
	}
}

// add keeps r, written at now, forgetting the oldest replies that are too
// old or too many; it returns how many it forgot younger than keepReplies.
func (k *keptReplies) add(r *sentReply, now time.Time) (early int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	r.writing++
	if k.closed {
		return 0 // the connection ended: nothing to retry
	}
	if k.ring == nil {
		k.ring = make([]*sentReply, maxKeptReplyFrames)
	}
	r.written = now
	for k.count > 0 {
		old := k.ring[k.head]
		if old != nil && k.count < len(k.ring) && k.frames+len(r.frames) <= maxKeptReplyFrames && now.Sub(old.written) <= keepReplies {
			break
		}
		k.ring[k.head] = nil
		k.head = (k.head + 1) & (len(k.ring) - 1)
		k.count--
		if old != nil {
			if now.Sub(old.written) <= keepReplies {
				early++
			}
			k.frames -= len(old.frames)
			k.put(old)
		}
	}
	k.ring[(k.head+k.count)&(len(k.ring)-1)] = r
	k.count++
	k.frames += len(r.frames)
	return early
}

// replyRefused handles an ERROR naming a reply from src (one of the node's
// APIDs): the replies kept that it matches are taken out and settled. An
// ERROR about a later frame (offset past 0) of a reply already settled
// finds nothing and is absorbed; one about a first frame that matches
// nothing is counted unmatched.
func (n *Node) replyRefused(code frame.ErrorCode, src frame.APID, h ipcframe.Header) {
	var found [4]*sentReply
	settle := found[:0]
	k := &n.kept
	k.mu.Lock()
	for i := range k.count {
		at := (k.head + i) & (len(k.ring) - 1)
		r := k.ring[at]
		if r == nil || r.src != src || r.kind != h.Kind || r.id != h.ID || r.total != h.Total {
			continue
		}
		k.ring[at] = nil
		k.frames -= len(r.frames)
		settle = append(settle, r)
		if code != frame.HostBusy {
			break // permanent: the oldest one only
		}
	}
	k.mu.Unlock()
	if len(settle) == 0 && h.Offset == 0 {
		n.stats.refusedUnmatched.Add(1)
	}
	for _, r := range settle {
		n.settleReply(r, code)
	}
}

// settleReply settles a reply the switch refused: Host_busy is retried
// with a doubling delay (the caller drains its queue), up to
// Config.ReplyRetries times; anything else, or too many retries, drops it,
// logged and counted (Stats.RepliesDropped).
func (n *Node) settleReply(r *sentReply, code frame.ErrorCode) {
	k := &n.kept
	retry := code == frame.HostBusy && r.attempt < n.cfg.ReplyRetries
	if k.onSettle != nil {
		defer k.onSettle(code, retry)
	}
	if retry {
		delay := n.cfg.ReplyBackoff << r.attempt
		if delay > maxReplyBackoff || delay <= 0 {
			delay = maxReplyBackoff
		}
		r.attempt++
		k.mu.Lock()
		if !k.closed {
			k.retrying[r] = struct{}{}
			k.timers.Add(1)
			r.timer = time.AfterFunc(delay, func() { n.retryReply(r) })
			k.mu.Unlock()
			n.stats.repliesRetried.Add(1)
			return
		}
		k.mu.Unlock()
	} else {
		n.log.Warn("reply dropped: refused by the switch", "code", code, "from", r.src, "to", r.dest, "call", r.id, "retries", r.attempt)
	}
	n.stats.repliesDropped.Add(1)
	k.mu.Lock()
	k.put(r)
	k.mu.Unlock()
}

// retryReply sends r again, from its timer.
func (n *Node) retryReply(r *sentReply) {
	k := &n.kept
	defer k.timers.Done()
	k.mu.Lock()
	_, ok := k.retrying[r]
	delete(k.retrying, r)
	k.mu.Unlock()
	if !ok {
		return // the node closed
	}
	if err := n.writeReply(r); err != nil {
		n.log.Debug("reply retry not sent", "call", r.id, "err", err)
	}
}

// stopRetries ends the retries when the connection ended.
func (n *Node) stopRetries() {
	k := &n.kept
	k.mu.Lock()
	k.closed = true
	for r := range k.retrying {
		if r.timer.Stop() {
			k.timers.Done()
		}
		n.stats.repliesDropped.Add(1)
	}
	clear(k.retrying)
	k.ring, k.head, k.count, k.frames = nil, 0, 0, 0
	k.mu.Unlock()
}

// postAnswer hands r, an answer the reader made, to the outbox goroutine;
// with the outbox full it is dropped and counted.
func (n *Node) postAnswer(r *sentReply) {
	select {
	case n.answers <- r:
	default:
		n.stats.repliesDropped.Add(1)
		n.log.Debug("answer dropped: outbox full", "dest", r.dest, "id", r.id)
		n.kept.mu.Lock()
		n.kept.put(r)
		n.kept.mu.Unlock()
	}
}

// outLoop is the outbox goroutine: it writes the reader's answers until the
// connection ends.
func (n *Node) outLoop() {
	defer n.kept.timers.Done()
	for {
		select {
		case r := <-n.answers:
			if err := n.writeReply(r); err != nil {
				n.log.Debug("answer not sent", "err", err)
			}
		case <-n.done:
			return
		}
	}
}
