package switched

import (
	"context"
	"errors"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"spacenet/apid/frame"
)

// The reader role (leader/follower).
//
// One goroutine at a time reads the node's socket and handles what it read
// (delivers replies, queues requests, answers refusals): the holder of the
// reader role. Whoever would otherwise wait does the reading, so that in
// the common cases no goroutine hands a frame to another one:
//
//   - a caller waiting for its reply takes the role when it is free (or
//     when it is the only caller waiting and the background goroutine
//     has it) and reads until its own reply arrives (replies to other
//     calls it reads are delivered to their callers as before);
//   - an idle server loop (Server.Run) takes the role and reads until it
//     has a call or a notification to deliver, then releases the role and
//     runs the handler itself (with more calls queued, it hands the role
//     to the background goroutine, which reads on another core meanwhile);
//   - the node's background goroutine reads for several callers waiting
//     at once (handing the role from caller to caller would add a wake-up
//     to every call), takes the role when nobody else has wanted it for a
//     while (readerGrace, so that between two calls of a busy caller it
//     does not take the role only to be interrupted at the next call), and
//     reads the connection's end when the node closes.
//
// A holder that stops reading releases the role (one hand-off): to a
// server loop waiting for it, else to the caller waiting if it is the only
// one, else to the background goroutine if several callers wait; with
// nobody waiting it is parked. The background goroutine hands the role to
// a server loop or a lone caller waiting for it by interrupting its own
// read (a read deadline in the past); a caller whose
// context ends while it reads, and a server loop that is signalled (a
// timer, RecvFrom, a pipelined answer at the MaxOpen bound) while it
// reads, are interrupted the same way. An interrupted read loses nothing:
// a frame split across reads is kept for the next holder.

// readerGrace is how long the role stays parked before the background
// goroutine takes it (between one and two graces).
const readerGrace = 10 * time.Millisecond

// past is a read deadline that interrupts a read at once.
var past = time.Unix(1, 0)

// errKicked is readBatch's answer when it did not read, or its read was
// interrupted: the holder checks why and calls again if it still wants to.
var errKicked = errors.New("switched: read interrupted")

// waiter is a goroutine that can hold the reader role: *pending (a
// caller), *Server (a server loop) or *bgReader.
type waiter interface {
	// offer tells the waiter it holds the role now; it must not block
	// (it runs with reader.mu held).
	offer()
}

// readerRole is the reader role's state; mu guards every field but kicks
// (atomic) and frames (the holder's), and the callers' context watches.
// Under mu the read deadline may be set (the runtime's poller, not a
// system call); the read itself is done without it.
type readerRole struct {
	mu               sync.Mutex
	holder           waiter // nil: parked
	inRead           bool   // the holder is in (or about to enter) read(2)
	interrupted      bool   // the read deadline is in the past
	waiters          []waiter
	acquisitions     uint64 // acquisitions from parked
	acquisitionsSeen uint64 // acquisitions when the grace timer last fired
	graceArmed       bool   // the grace timer runs
	callers          int    // callers waiting for their outcome (enter to withdraw)
	busy             bool   // a server loop with calls queued handed the role to the background goroutine
	closing          bool
	err              error // the connection ended: nobody reads again
	kicks            atomic.Uint64
	grace            *time.Timer
	wake             chan struct{} // the background goroutine's
	bgDone           chan struct{}
	background       bgReader
	watches          map[<-chan struct{}]*watch // callers' contexts, by Done channel

	frames []frame.Frame // the holder's read buffer

	onPass func(to waiter) // tests: the role was handed to a waiter (mu held)
	onRead func(w waiter)  // tests: the holder w enters read(2) (mu held)
	onWait func(w waiter)  // tests: w waits for the role (mu held)
}

// bgReader is the node's background goroutine as a waiter.
type bgReader struct{ node *Node }

func (b *bgReader) offer() {
	select {
	case b.node.reader.wake <- struct{}{}:
	default:
	}
}

func (r *readerRole) init(n *Node) {
	r.background.node = n
	r.wake = make(chan struct{}, 1)
	r.bgDone = make(chan struct{})
	r.frames = make([]frame.Frame, 64)
	r.grace = time.NewTimer(time.Hour)
	r.grace.Stop()
	r.holder = &r.background // the background goroutine reads first (the subscription's answer)
}

// acquire makes w the holder if the role is parked (or w's already) and
// reports whether w holds it. Otherwise w waits for the role (offer); the
// background goroutine, if it reads, is interrupted to hand it over when
// bgYields.
func (n *Node) acquire(w waiter) bool {
	r := &n.reader
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.err != nil:
		return false
	case r.holder == w:
		return true
	case r.holder == nil:
		r.holder = w
		r.acquisitions++
		return true
	}
	if !slices.Contains(r.waiters, w) {
		r.waiters = append(r.waiters, w)
		if r.onWait != nil {
			r.onWait(w)
		}
	}
	if r.holder == waiter(&r.background) && r.bgYields() {
		n.interruptLocked()
	}
	return false
}

// bgYields reports whether the background goroutine holding the role
// should hand it over (mu held): to a server loop waiting for it, or to a
// caller when it is the only one. With several callers waiting, one
// goroutine reading for all of them (the background one) delivers the
// replies; handing the role from caller to caller would add a wake-up to
// every call.
func (r *readerRole) bgYields() bool {
	for _, w := range r.waiters {
		p, ok := w.(*pending)
		if (!ok && !r.busy) || (ok && r.callers <= 1 && len(p.outcome) == 0) {
			return true
		}
	}
	return false
}

// dropWaiter removes w from the waiters, if it is one (mu held).
func (r *readerRole) dropWaiter(w waiter) {
	if i := slices.Index(r.waiters, w); i >= 0 {
		r.waiters = slices.Delete(r.waiters, i, i+1)
	}
}

// enter counts a caller waiting for its outcome (until withdraw).
func (n *Node) enter() {
	r := &n.reader
	r.mu.Lock()
	r.callers++
	r.mu.Unlock()
}

// withdraw gives up the role, or the wait for it: w no longer wants to
// read. The role goes to the next waiter or is parked.
func (n *Node) withdraw(w waiter) {
	r := &n.reader
	r.mu.Lock()
	r.dropWaiter(w)
	if _, ok := w.(*Server); ok {
		r.busy = false // its burst is over
	}
	if p, ok := w.(*pending); ok {
		r.callers--
		select {
		case <-p.roleOffer: // offered, not taken up (or a stale offer after the connection ended)
		default:
		}
	}
	switch {
	case r.holder == w:
		n.passLocked()
	case r.holder == waiter(&r.background) && r.bgYields():
		n.interruptLocked() // one caller left: it reads for itself
	}
	r.mu.Unlock()
}

// handToBG is withdraw for a server loop taking a call with more queued (a
// burst): the role goes to the background goroutine when nobody else waits
// for it, and the background goroutine, reading, keeps it (busy) until a
// server loop takes a call with none queued behind it.
func (n *Node) handToBG(w waiter) {
	r := &n.reader
	r.mu.Lock()
	r.dropWaiter(w)
	switch r.holder {
	case waiter(&r.background):
		r.busy = true // it reads already: let it go on for the burst
	case w:
		if len(r.waiters) == 0 && r.err == nil {
			r.busy = true
			r.holder = &r.background
			n.stats.handovers.Add(1)
			if r.onPass != nil {
				r.onPass(&r.background)
			}
			r.background.offer()
		} else {
			n.passLocked()
		}
	}
	r.mu.Unlock()
}

// passLocked hands the role to the first waiter or parks it (mu held).
func (n *Node) passLocked() {
	r := &n.reader
	if r.err != nil {
		r.holder = nil
		return
	}
	bg := waiter(&r.background)
	// The first waiter, leaving out callers whose outcome has come (they
	// are about to withdraw); a caller only if it is the only one, else
	// the background goroutine reads for all of them (bgYields).
	var next waiter
	i := slices.IndexFunc(r.waiters, func(w waiter) bool {
		p, ok := w.(*pending)
		return !ok || len(p.outcome) == 0
	})
	switch {
	case i < 0:
	case r.callers <= 1:
		next = r.waiters[i]
	default:
		if j := slices.IndexFunc(r.waiters, func(w waiter) bool { _, ok := w.(*pending); return !ok }); j >= 0 {
			i, next = j, r.waiters[j] // a server loop
		} else if r.holder == bg {
			return // it goes on reading for the callers
		} else {
			i, next = -1, bg
		}
	}
	if next != nil {
		if i >= 0 {
			r.waiters = slices.Delete(r.waiters, i, i+1)
		}
		r.holder = next
		n.stats.handovers.Add(1)
		if r.onPass != nil {
			r.onPass(next)
		}
		next.offer()
		return
	}
	r.holder = nil
	if r.err == nil && !r.graceArmed {
		r.graceArmed = true
		r.grace.Reset(readerGrace)
	}
}

// interruptLocked makes a read in progress return (mu held).
func (n *Node) interruptLocked() {
	r := &n.reader
	if r.inRead && !r.interrupted {
		r.interrupted = true
		n.conn.SetReadDeadline(past)
	}
}

// kick asks w, if it holds the role, to stop reading and look at its state
// again (its readBatch returns errKicked).
func (n *Node) kick(w waiter) {
	r := &n.reader
	r.kicks.Add(1)
	r.mu.Lock()
	if r.holder == w {
		n.interruptLocked()
	}
	r.mu.Unlock()
}

// kickCaller interrupts the holder if it is a caller: some caller's
// context ended.
func (n *Node) kickCaller() {
	r := &n.reader
	r.kicks.Add(1)
	r.mu.Lock()
	if _, ok := r.holder.(*pending); ok {
		n.interruptLocked()
	}
	r.mu.Unlock()
}

// readBatch reads one batch of frames as the holder w and handles them. It
// returns errKicked without reading when kicks changed since the holder
// looked at its state (or, for the background goroutine, someone waits
// for the role), and when the read was interrupted; the connection's end
// otherwise (the node is shut down then).
func (n *Node) readBatch(w waiter, kicks uint64) error {
	r := &n.reader
	r.mu.Lock()
	if r.err != nil {
		r.mu.Unlock()
		return r.err
	}
	if w == waiter(&r.background) {
		if r.bgYields() {
			r.mu.Unlock()
			return errKicked
		}
	} else if r.kicks.Load() != kicks {
		r.mu.Unlock()
		return errKicked
	}
	r.inRead = true
	if r.onRead != nil {
		r.onRead(w)
	}
	r.mu.Unlock()
	k, err := n.conn.ReadFrames(r.frames) // an interrupted read keeps a split frame for the next
	r.mu.Lock()
	r.inRead = false
	if r.interrupted {
		r.interrupted = false
		n.conn.SetReadDeadline(time.Time{})
	}
	r.mu.Unlock()
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return errKicked
		}
		n.fail(err)
		return err
	}
	for i := range k {
		n.handle(&r.frames[i])
	}
	return nil
}

// fail ends the node once its connection ended: every call fails, Done
// closes, the background goroutine ends.
func (n *Node) fail(err error) {
	r := &n.reader
	r.mu.Lock()
	if r.err != nil {
		r.mu.Unlock()
		return
	}
	r.err = err
	r.holder = nil
	r.waiters = nil
	r.grace.Stop()
	r.mu.Unlock()
	n.readErr = err
	n.shutdown(err)
	close(n.done)
	r.background.offer()
}

// bgLoop is the node's background goroutine: it reads when nobody else
// does (see role).
func (n *Node) bgLoop() {
	r := &n.reader
	defer close(r.bgDone)
	bg := waiter(&r.background)
	mine := true // initRole: it reads the subscription's answer
	for {
		if mine {
			for n.readBatch(bg, 0) == nil {
			}
			r.mu.Lock()
			if r.holder == bg {
				n.passLocked() // or keeps reading for several callers
			}
			mine = r.holder == bg && r.err == nil
			r.mu.Unlock()
			if mine {
				continue
			}
		}
		select {
		case <-r.grace.C:
			r.mu.Lock()
			r.graceArmed = false
			if r.holder == nil && r.err == nil {
				if r.acquisitions == r.acquisitionsSeen {
					r.holder = bg // parked for a whole grace
				} else {
					r.acquisitionsSeen = r.acquisitions
					r.graceArmed = true
					r.grace.Reset(readerGrace)
				}
			}
			r.mu.Unlock()
		case <-r.wake:
		}
		r.mu.Lock()
		if r.err != nil {
			r.mu.Unlock()
			return
		}
		if r.closing && r.holder == nil {
			r.holder = bg
		}
		mine = r.holder == bg
		r.mu.Unlock()
	}
}

// closeRole makes sure someone reads the connection's end after Close.
func (n *Node) closeRole() {
	r := &n.reader
	r.mu.Lock()
	r.closing = true
	r.mu.Unlock()
	r.background.offer()
	<-r.bgDone
}

// The callers' context watches: a caller reading for its reply must stop
// when its context ends, so each context of a call in flight has one
// context.AfterFunc (keyed by its Done channel), shared by the calls using
// it and kept while unused up to maxWatchedIdle contexts, so that a caller
// reusing one context allocates nothing per call. reader.mu guards them.

type watch struct {
	refs int
	stop func() bool
}

const maxWatchedIdle = 16

// watch registers a call using ctx (ctx.Done() != nil).
func (n *Node) watch(ctx context.Context) {
	done := ctx.Done()
	r := &n.reader
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.watches[done]; ok {
		e.refs++
		return
	}
	if r.watches == nil {
		r.watches = make(map[<-chan struct{}]*watch)
	}
	if len(r.watches) >= maxWatchedIdle {
		for k, e := range r.watches {
			if e.refs == 0 {
				e.stop()
				delete(r.watches, k)
				break
			}
		}
	}
	e := &watch{refs: 1}
	e.stop = context.AfterFunc(ctx, func() {
		r.mu.Lock()
		if r.watches[done] == e {
			delete(r.watches, done)
		}
		r.mu.Unlock()
		n.kickCaller()
	})
	r.watches[done] = e
}

// unwatch ends watch's registration.
func (n *Node) unwatch(ctx context.Context) {
	r := &n.reader
	r.mu.Lock()
	if e, ok := r.watches[ctx.Done()]; ok {
		e.refs--
	}
	r.mu.Unlock()
}

// stopWatches ends every registration (Close).
func (n *Node) stopWatches() {
	r := &n.reader
	r.mu.Lock()
	for k, e := range r.watches {
		e.stop()
		delete(r.watches, k)
	}
	r.mu.Unlock()
}
