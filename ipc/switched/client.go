package switched

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"spacenet/apid/frame"
	"spacenet/ipc"
	"spacenet/ipc/ipcframe"
)

// pending is one call waiting for its reply. It is reused through a pool.
type pending struct {
	outcome   chan error    // capacity 1: the reader never blocks on it
	roleOffer chan struct{} // capacity 1: the reader role is offered (role.go)
	dest      frame.APID
	id        uint32
	tenant    int
	bound     uint32          // the generation of the server tenant that gets the request
	replyBuf  []byte          // storage for one-frame replies
	reply     []byte          // the reply's bytes (replyBuf, or a reassembled message), the caller's once outcome fires
	request   []byte          // the request's bytes
	frames    []frame.Frame   // the request's frames
	refused   frame.ErrorCode // the switch's ERROR code if it refused the request, set before outcome fires
}

var pendingPool = sync.Pool{New: func() any {
	return &pending{outcome: make(chan error, 1), roleOffer: make(chan struct{}, 1)}
}}

func (p *pending) finish(err error) { p.outcome <- err }

// offer hands the caller the reader role (reader.mu held).
func (p *pending) offer() { p.roleOffer <- struct{}{} }

// Client is an ipc.Transport calling the server on one APID through the
// switch. Many goroutines may call through one Client at once; calls in
// flight are limited by Config.MaxInFlight.
type Client struct {
	node   *Node
	dest   frame.APID
	tenant int
}

// Client returns a transport to the server on APID dest.
func (n *Node) Client(dest frame.APID) *Client {
	t := -1
	if dest.Valid() {
		t = int(n.owner[dest])
	}
	return &Client{node: n, dest: dest, tenant: t}
}

// Dest is the server APID the client calls.
func (c *Client) Dest() frame.APID { return c.dest }

// Call implements ipc.Transport. It returns ctx's error when ctx ends first,
// ipc.ServerDeath when the server's tenant went away or was replaced while
// the call was in flight, ipc.WentAway when no tenant owns the APID or no
// server serves it, ipc.AccessViolation when the policy or the server
// refuses this caller, another ipc.Fault the server's runtime answered,
// ErrServerBusy, a *SwitchError, or an error wrapping ErrClosed.
//
// Every call is counted by outcome, and its duration in the latency
// histogram (Stats.CallOutcomes, Stats.Latency).
func (c *Client) Call(ctx context.Context, req *ipc.Request, rep *ipc.Reply) error {
	start := time.Now()
	refused, err := c.call(ctx, req, rep)
	c.node.callStats.ended(start, err, refused)
	return err
}

// call is Call without the accounting; refused is the switch's ERROR code
// when the switch refused the request, else 0.
func (c *Client) call(ctx context.Context, req *ipc.Request, rep *ipc.Reply) (frame.ErrorCode, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := c.node
	if c.tenant < 0 {
		return 0, fmt.Errorf("switched: no tenant owns APID %v: %w", c.dest, ipc.WentAway)
	}
	p, err := c.newCall(req)
	if err != nil {
		return 0, err
	}
	if err := n.register(p); err != nil {
		pendingPool.Put(p)
		return 0, err
	}
	n.stats.calls.Add(1)
	if err := n.conn.WriteFrames(p.frames); err != nil {
		if n.unregister(p.id) {
			pendingPool.Put(p)
		}
		// Else the reader already failed it; drop p rather than race.
		return 0, fmt.Errorf("switched: sending call: %w: %w", ErrClosed, err)
	}
	var ended bool
	if ended, err = n.await(ctx, p); ended {
		if n.unregister(p.id) {
			pendingPool.Put(p)
			return 0, err
		}
		err = <-p.outcome // the answer is being delivered right now
	}
	refused := p.refused
	if err == nil {
		err = p.parseReply(req, rep)
	}
	p.reply, p.refused = nil, 0
	if cap(p.request) > 1<<16 {
		p.request, p.frames = nil, nil
	}
	pendingPool.Put(p)
	return refused, err
}

// newCall returns a call of req to the client's server, its frames made,
// with a new id.
func (c *Client) newCall(req *ipc.Request) (*pending, error) {
	n := c.node
	p := pendingPool.Get().(*pending)
	var err error
	p.request, err = ipc.AppendRequest(p.request[:0], req)
	if err != nil {
		pendingPool.Put(p)
		return nil, fmt.Errorf("switched: request: %w", err)
	}
	p.dest, p.id, p.tenant = c.dest, n.newID(), c.tenant
	p.frames, err = ipcframe.Append(p.frames[:0], ipcframe.Request, n.cfg.APID, c.dest, p.id, p.request)
	if err != nil {
		pendingPool.Put(p)
		return nil, err
	}
	return p, nil
}

// parseReply decodes the reply p received into rep.
func (p *pending) parseReply(req *ipc.Request, rep *ipc.Reply) error {
	var err error
	if len(p.reply) > ipcframe.MaxData {
		err = ipc.ParseReplyOwned(p.reply, rep) // reassembled: nobody else has it (receive.go)
	} else {
		err = ipc.ParseReply(p.reply, rep) // p.replyBuf, reused by the next reply
	}
	if err != nil && errors.Is(err, ipc.ErrMalformed) {
		err = &ipc.BadReplyError{Interface: "switched", Op: fmt.Sprint(req.Op), Err: err}
	}
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
		kicks := n.reader.kicks.Load()
		select {
		case err = <-p.outcome:
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
			n.readBatch(p, kicks) // the connection's end fails p: its outcome comes on p.outcome
			continue
		}
		select {
		case err = <-p.outcome:
			n.withdraw(p)
			return false, err
		case <-p.roleOffer:
		case <-done:
		}
	}
}

// register puts p among the calls in flight, with the generation of the
// server's tenant that will get it (bound).
func (n *Node) register(p *pending) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.closed:
		return fmt.Errorf("switched: call: %w", ErrClosed)
	case len(n.calls) >= n.cfg.MaxInFlight:
		return fmt.Errorf("switched: %d calls in flight: %w", n.cfg.MaxInFlight, ErrServerBusy)
	}
	ts := n.tenants[p.tenant]
	p.bound = ts.gen
	if !ts.connected {
		p.bound++ // the request waits in the switch for the next connection
	}
	n.calls[p.id] = p
	return nil
}

// unregister removes call id; false means the reader took it first and
// will send (or has sent) its outcome on the channel.
func (n *Node) unregister(id uint32) bool {
	n.mu.Lock()
	_, ok := n.calls[id]
	delete(n.calls, id)
	n.mu.Unlock()
	return ok
}

var _ ipc.Transport = (*Client)(nil)
