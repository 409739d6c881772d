package switched

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"spacenet/apid/frame"
	"spacenet/ipc"
	"spacenet/ipc/ipcframe"
)

// pending is one call waiting for its reply. It is reused through a pool.
type pending struct {
	ch     chan error    // capacity 1: the reader never blocks on it
	role   chan struct{} // capacity 1: the reader role is offered (role.go)
	dest   frame.APID
	id     uint32
	tenant int
	bound  uint32    // the generation of the server tenant that gets the request
	lens   frameLens // the request's frames not refused yet, by payload length
	seq    uint64    // write order of the node's calls
	epoch  uint64    // probes the node sent before the request was written
	buf    []byte    // storage for one-frame replies
	data   []byte    // the reply's bytes (buf, or a reassembled message), the caller's once ch fires
	out    []byte    // the request's bytes
	frames []frame.Frame
}

var pendingPool = sync.Pool{New: func() any {
	return &pending{ch: make(chan error, 1), role: make(chan struct{}, 1)}
}}

func (p *pending) finish(err error) { p.ch <- err }

// offer hands the caller the reader role (role.mu held).
func (p *pending) offer() { p.role <- struct{}{} }

// Client is an ipc.Transport calling the server on one APID through the
// switch. Many goroutines may call through one Client at once; calls in
// flight are limited by Config.MaxInFlight.
type Client struct {
	n      *Node
	dest   frame.APID
	tenant int
}

// Client returns a transport to the server on APID dest.
func (n *Node) Client(dest frame.APID) *Client {
	t := -1
	if dest.Valid() {
		t = int(n.owner[dest])
	}
	return &Client{n: n, dest: dest, tenant: t}
}

// Dest is the server APID the client calls.
func (c *Client) Dest() frame.APID { return c.dest }

// Call implements ipc.Transport. It returns ctx's error when ctx ends first,
// ipc.ServerDeath when the server's tenant went away or was replaced while
// the call was in flight, ipc.WentAway when no tenant owns the APID or no
// server serves it, ipc.AccessViolation when the policy or the server
// refuses this caller, another ipc.Fault the server's runtime answered,
// ErrServerBusy, a *SwitchError, or an error wrapping ErrClosed.
func (c *Client) Call(ctx context.Context, req *ipc.Request, rep *ipc.Reply) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n := c.n
	if c.tenant < 0 {
		return fmt.Errorf("switched: no tenant owns APID %v: %w", c.dest, ipc.WentAway)
	}
	p := pendingPool.Get().(*pending)
	var err error
	p.out, err = ipc.AppendRequest(p.out[:0], req)
	if err != nil {
		pendingPool.Put(p)
		return fmt.Errorf("switched: request: %w", err)
	}
	id := n.newID()
	p.frames, err = ipcframe.Append(p.frames[:0], ipcframe.Request, n.cfg.APID, c.dest, id, p.out)
	if err != nil {
		pendingPool.Put(p)
		return err
	}
	p.frames = slices.Grow(p.frames, 1) // room for a probe (writeTracked)
	p.dest, p.id, p.tenant = c.dest, id, c.tenant
	p.lens = lensOf(p.frames)

	// Registered and written under the write lock, so that write order is
	// seq order and epoch is the probes sent before this write.
	n.wmu.Lock()
	n.mu.Lock()
	switch {
	case n.closed:
		n.mu.Unlock()
		n.wmu.Unlock()
		pendingPool.Put(p)
		return fmt.Errorf("switched: call: %w", ErrClosed)
	case len(n.pending) >= n.cfg.MaxInFlight:
		n.mu.Unlock()
		n.wmu.Unlock()
		pendingPool.Put(p)
		return fmt.Errorf("switched: %d calls in flight: %w", n.cfg.MaxInFlight, ErrServerBusy)
	}
	n.wseq++
	p.seq = n.wseq
	n.tr.mu.Lock()
	p.epoch = n.tr.probes
	n.tr.mu.Unlock()
	ts := n.tenants[c.tenant]
	p.bound = ts.gen
	if !ts.connected {
		p.bound++ // the request waits in the switch for the next connection
	}
	n.pending[id] = p
	n.mu.Unlock()
	n.st.calls.Add(1)
	_, err = n.writeTracked(p.frames, nil)
	n.wmu.Unlock()
	if err != nil {
		if n.unregister(id) {
			pendingPool.Put(p)
		}
		// Else the reader already failed it; drop p rather than race.
		return fmt.Errorf("switched: sending call: %w: %w", ErrClosed, err)
	}

	var ended bool
	if ended, err = n.await(ctx, p); ended {
		if n.unregister(id) {
			pendingPool.Put(p)
			return err
		}
		err = <-p.ch // the answer is being delivered right now
	}
	if err == nil {
		if len(p.data) > ipcframe.MaxData {
			err = ipc.ParseReplyOwned(p.data, rep) // reassembled: nobody else has it (node.go)
		} else {
			err = ipc.ParseReply(p.data, rep) // p.buf, reused by the next reply
		}
		if err != nil && errors.Is(err, ipc.ErrMalformed) {
			err = &ipc.BadReplyError{Interface: "switched", Op: fmt.Sprint(req.Op), Err: err}
		}
	}
	p.data = nil
	if cap(p.out) > 1<<16 {
		p.out, p.frames = nil, nil
	}
	pendingPool.Put(p)
	return err
}

// await waits for p's outcome: it reads the socket itself while it holds
// the reader role (role.go), else waits for the outcome or the role. ended
// reports that ctx ended first (err is ctx's error then).
func (n *Node) await(ctx context.Context, p *pending) (ended bool, err error) {
	done := ctx.Done()
	watched := false // ctx's end interrupts the read (once this caller reads)
	defer func() {
		if watched {
			n.unwatch(ctx)
		}
	}()
	n.enter() // withdraw, on every way out, counts it out
	for {
		kicks := n.rd.kicks.Load()
		select {
		case err = <-p.ch:
			n.withdraw(p)
			return false, err
		default:
		}
		if done != nil && ctx.Err() != nil {
			n.withdraw(p)
			return true, ctx.Err()
		}
		if n.acquire(p) {
			if done != nil && !watched {
				n.watch(ctx)
				watched = true
				continue // ctx may have ended before the watch
			}
			n.readBatch(p, kicks) // the connection's end fails p: its outcome comes on p.ch
			continue
		}
		select {
		case err = <-p.ch:
			n.withdraw(p)
			return false, err
		case <-p.role:
		case <-done:
		}
	}
}

// unregister removes call id; false means the reader took it first and
// will send (or has sent) its outcome on the channel.
func (n *Node) unregister(id uint32) bool {
	n.mu.Lock()
	_, ok := n.pending[id]
	delete(n.pending, id)
	n.mu.Unlock()
	return ok
}

var _ ipc.Transport = (*Client)(nil)

// frameLens counts a message's frames by payload length: every frame of an
// ipcframe message is full (MaxPayload) but the last, so two lengths do.
type frameLens struct {
	full  uint32 // frames of frame.MaxPayload bytes
	other uint16 // the last frame's length when it is shorter, 0 for none
}

func lensOf(fs []frame.Frame) frameLens {
	var l frameLens
	for i := range fs {
		if pl := fs[i].PayloadLen(); pl == frame.MaxPayload {
			l.full++
		} else {
			l.other = pl
		}
	}
	return l
}

// take removes one frame of payload length pl, if there is one.
func (l *frameLens) take(pl uint16) bool {
	switch {
	case pl == frame.MaxPayload && l.full > 0:
		l.full--
	case pl != frame.MaxPayload && pl != 0 && l.other == pl:
		l.other = 0
	default:
		return false
	}
	return true
}

func (l frameLens) empty() bool { return l.full == 0 && l.other == 0 }

// tomb is a call an ERROR already failed whose other frames may be refused
// too: their ERRORs are its, not another call's.
type tomb struct {
	seq, epoch uint64
	lens       frameLens
}

// maxTombs bounds the failed calls remembered; the oldest is forgotten.
const maxTombs = 256

// callRefused handles an ERROR about one of the node's request frames. The
// switch processes the node's frames in write order and answers refusals in
// that order, so the ERROR is about the oldest call (write order) that still
// has an unrefused frame of that payload length and is not known to have
// been taken whole (a probe answered, or a later call got its reply, after
// it was written: see replies.go). That call fails at once; a call of several frames may be
// named by several ERRORs: the later ones are absorbed by its tomb.
func (n *Node) callRefused(code frame.ErrorCode, pl uint16) {
	var cause error
	switch code {
	case frame.NotPermitted:
		cause = ipc.AccessViolation
	case frame.NoRoute:
		cause = ipc.WentAway
	default:
		cause = &SwitchError{Code: code}
	}
	defer n.refusal()
	n.tr.mu.Lock()
	answered := n.tr.answered
	n.tr.mu.Unlock()
	n.mu.Lock()
	// A call written before a probe that was answered, or before a call
	// that got its reply, was processed whole: all its ERRORs came.
	taken := func(seq, epoch uint64) bool { return epoch < answered || seq < n.replied }
	k := 0
	for _, t := range n.tombs {
		if !taken(t.seq, t.epoch) && !t.lens.empty() {
			n.tombs[k] = t
			k++
		}
	}
	n.tombs = n.tombs[:k]
	var hit *pending
	var hitID uint32
	for id, p := range n.pending {
		if taken(p.seq, p.epoch) || (hit != nil && p.seq > hit.seq) {
			continue
		}
		l := p.lens
		if l.take(pl) {
			hit, hitID = p, id
		}
	}
	ti := -1
	for i := range n.tombs {
		l := n.tombs[i].lens
		if (hit == nil || n.tombs[i].seq < hit.seq) && (ti < 0 || n.tombs[i].seq < n.tombs[ti].seq) && l.take(pl) {
			ti = i
		}
	}
	if ti >= 0 {
		n.tombs[ti].lens.take(pl)
		n.mu.Unlock()
		return
	}
	if hit == nil {
		n.mu.Unlock()
		n.st.refusedUnmatched.Add(1)
		return
	}
	delete(n.pending, hitID)
	hit.lens.take(pl)
	if !hit.lens.empty() {
		if len(n.tombs) >= maxTombs {
			n.tombs = append(n.tombs[:0], n.tombs[1:]...)
		}
		n.tombs = append(n.tombs, tomb{seq: hit.seq, epoch: hit.epoch, lens: hit.lens})
	}
	n.mu.Unlock()
	hit.finish(cause)
}
