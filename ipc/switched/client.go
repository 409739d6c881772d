package switched

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"spacenet/frame"
	"spacenet/ipc"
	"spacenet/ipc/ipcframe"
)

// pending is one call waiting for its reply. It is reused through a pool.
type pending struct {
	ch       chan error // capacity 1: the reader never blocks on it
	dest     frame.APID
	tenant   int
	bound    uint16 // the generation of the server tenant that gets the request
	firstLen uint16 // payload lengths of the request's first and last frames
	lastLen  uint16
	buf      []byte // storage for one-frame replies
	data     []byte // the reply's bytes (buf, or a reassembled message), the caller's once ch fires
	out      []byte // the request's bytes
	frames   []frame.Frame
}

var pendingPool = sync.Pool{New: func() any { return &pending{ch: make(chan error, 1)} }}

func (p *pending) finish(err error) { p.ch <- err }

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
	id := n.nextID.Add(1)
	if id == 0 {
		id = n.nextID.Add(1)
	}
	p.frames, err = ipcframe.Append(p.frames[:0], ipcframe.Request, n.cfg.APID, c.dest, id, p.out)
	if err != nil {
		pendingPool.Put(p)
		return err
	}
	p.dest, p.tenant = c.dest, c.tenant
	p.firstLen = p.frames[0].PayloadLen()
	p.lastLen = p.frames[len(p.frames)-1].PayloadLen()

	n.mu.Lock()
	switch {
	case n.closed:
		n.mu.Unlock()
		pendingPool.Put(p)
		return fmt.Errorf("switched: call: %w", ErrClosed)
	case len(n.pending) >= n.cfg.MaxInFlight:
		n.mu.Unlock()
		pendingPool.Put(p)
		return fmt.Errorf("switched: %d calls in flight: %w", n.cfg.MaxInFlight, ErrServerBusy)
	}
	ts := n.tenants[c.tenant]
	p.bound = ts.gen
	if !ts.connected {
		p.bound++ // the request waits in the switch for the next connection
	}
	n.pending[id] = p
	n.mu.Unlock()
	n.st.calls.Add(1)

	if err := n.writeFrames(p.frames); err != nil {
		if n.unregister(id) {
			pendingPool.Put(p)
		}
		// Else the reader already failed it; drop p rather than race.
		return fmt.Errorf("switched: sending call: %w: %w", ErrClosed, err)
	}

	select {
	case err = <-p.ch:
	case <-ctx.Done():
		if n.unregister(id) {
			pendingPool.Put(p)
			return ctx.Err()
		}
		err = <-p.ch // the answer is being delivered right now
	}
	if err == nil {
		err = ipc.ParseReply(p.data, rep)
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
