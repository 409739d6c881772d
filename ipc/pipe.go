package ipc

import (
	"context"
	"fmt"
	"sync"
)

// Pipe is an in-memory Transport: Call hands a deep copy of the request to a
// Handler in the caller's goroutine and copies the reply back, so client and
// server share no memory, as over a real link. It can inject ServerDeath to
// test idempotent retries. Safe for concurrent use.
type Pipe struct {
	h      Handler
	caller Caller

	mu     sync.Mutex
	deaths int // calls still to fail with ServerDeath before reaching the server
	calls  int // calls made
	served int // calls that reached the handler
}

// NewPipe returns a Pipe delivering calls to h as made by caller.
func NewPipe(h Handler, caller Caller) *Pipe { return &Pipe{h: h, caller: caller} }

// InjectServerDeath makes the next n calls fail with ServerDeath without
// reaching the server, as if it restarted during each of them.
func (p *Pipe) InjectServerDeath(n int) {
	p.mu.Lock()
	p.deaths = n
	p.mu.Unlock()
}

// Stats returns how many calls were made and how many reached the server.
func (p *Pipe) Stats() (calls, served int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls, p.served
}

// Call implements Transport.
func (p *Pipe) Call(ctx context.Context, req *Request, reply *Reply) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	p.calls++
	if p.deaths > 0 {
		p.deaths--
		p.mu.Unlock()
		return ServerDeath
	}
	p.served++
	p.mu.Unlock()

	in := Request{Op: req.Op, Args: clone(req.Args), ReplyCap: req.ReplyCap, Leases: make([]Lease, len(req.Leases))}
	for i, l := range req.Leases {
		in.Leases[i] = Lease{Read: l.Read, Write: l.Write}
		if l.Read {
			in.Leases[i].Data = clone(l.Data)
		} else {
			in.Leases[i].Data = make([]byte, len(l.Data))
		}
	}
	var out Reply
	if err := p.h.Handle(ctx, p.caller, &in, &out); err != nil {
		if f, ok := AsFault(err); ok {
			return f
		}
		return fmt.Errorf("%w: %w", ServerDeath, err)
	}
	if uint32(len(out.Body)) > req.ReplyCap {
		return ReplyBufferTooSmall
	}
	reply.RC = out.RC
	reply.Body = append(reply.Body[:0], out.Body...)
	reply.Written = reply.Written[:0]
	for _, w := range out.Written {
		reply.Written = append(reply.Written, clone(w))
	}
	return nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
