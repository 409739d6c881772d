package stack

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"spacenet/ip/tcp"
)

// The net.Conn adapter, for users who want one: it allocates, per
// connection, a send ring and a receive ring of the sizes the user picks
// (the engine itself still keeps no data: it reads the send ring by
// offset and writes into the receive ring within the window the ring's
// free space grants). Read and Write run on the user's goroutines and
// hand work to Run's goroutine through a kick channel; the rings are
// shared under a mutex that neither side holds across a system call.

// ConnConfig sizes a Conn's rings; zero means 256 KiB each.
type ConnConfig struct {
	SendBuffer, RecvBuffer int
}

func (c ConnConfig) sizes() (int, int) {
	s, r := c.SendBuffer, c.RecvBuffer
	if s <= 0 {
		s = 256 << 10
	}
	if r <= 0 {
		r = 256 << 10
	}
	return s, r
}

// Conn is a net.Conn over one of the stack's TCP connections.
type Conn struct {
	s      *Stack
	local  netip.AddrPort
	remote netip.AddrPort

	mu        sync.Mutex
	tc        *tcp.Conn // nil once Gone; touched only on Run's goroutine
	sbuf      []byte
	written   int64 // stream offset after the last byte Write took
	pushed    int64 // handed to the engine (Run's goroutine)
	acked     int64
	rbuf      []byte
	readable  int64 // contiguous received bytes
	consumed  int64 // read by Read
	granted   int64 // consumed bytes given back as window (Run's goroutine)
	eof       bool
	err       error
	closing   bool // Close or CloseWrite asked
	connected bool

	kicked    atomic.Bool
	canRead   chan struct{} // cap 1
	canWrite  chan struct{} // cap 1
	up        chan struct{} // closed at Connected or Gone
	upOnce    sync.Once
	rdl, wdl  deadline
	closeOnce sync.Once
	l         *ConnListener // the listener that accepted it, if any
}

var _ net.Conn = (*Conn)(nil)

func (s *Stack) newConn(cfg ConnConfig) *Conn {
	sn, rn := cfg.sizes()
	return &Conn{s: s, sbuf: make([]byte, sn), rbuf: make([]byte, rn), canRead: make(chan struct{}, 1),
		canWrite: make(chan struct{}, 1), up: make(chan struct{})}
}

func (c *Conn) app() tcp.App {
	return tcp.App{Source: (*connSource)(c), Sink: (*connSink)(c), Grant: len(c.rbuf), Handler: c}
}

// DialConn opens a connection to remote from localPort (0: an ephemeral
// port) and waits until it is established.
func (s *Stack) DialConn(ctx context.Context, localPort uint16, remote netip.AddrPort, cfg ConnConfig) (*Conn, error) {
	c := s.newConn(cfg)
	var err error
	if derr := s.Do(ctx, func() {
		var tc *tcp.Conn
		if tc, err = s.Dial(localPort, remote, c.app()); err == nil {
			c.tc, c.local, c.remote = tc, tc.Local(), tc.Remote()
		}
	}); derr != nil {
		return nil, derr
	}
	if err != nil {
		return nil, err
	}
	select {
	case <-c.up:
	case <-ctx.Done():
		c.Close()
		return nil, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.connected {
		return nil, fmt.Errorf("stack: dial %v: %w", remote, c.err)
	}
	return c, nil
}

// Event implements tcp.Handler on Run's goroutine.
func (c *Conn) Event(tc *tcp.Conn, ev tcp.Event) {
	c.mu.Lock()
	switch ev {
	case tcp.Connected:
		c.tc, c.local, c.remote, c.connected = tc, tc.Local(), tc.Remote(), true
		c.upOnce.Do(func() { close(c.up) })
		if c.l != nil {
			select {
			case c.l.ready <- c: // room: ready holds the listener's quota
			default:
			}
		}
	case tcp.Acked:
		c.acked = tc.Acked()
		signal(c.canWrite)
	case tcp.Readable:
		c.readable = tc.Readable()
		signal(c.canRead)
	case tcp.PeerClosed:
		c.eof = true
		signal(c.canRead)
	case tcp.Gone:
		c.tc = nil
		c.err = tc.Err()
		if c.err == nil {
			c.err = net.ErrClosed
		}
		c.upOnce.Do(func() { close(c.up) })
		signal(c.canRead)
		signal(c.canWrite)
	}
	c.mu.Unlock()
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// kick asks Run's goroutine to sync this connection with the engine.
func (c *Conn) kick() {
	if c.kicked.CompareAndSwap(false, true) {
		select {
		case c.s.kicks <- c:
		default:
			// The channel holds a kick per connection at most: full
			// means Run has stopped.
			c.kicked.Store(false)
		}
	}
}

// sync hands the engine what Write and Read did: new bytes to send, room
// freed for receiving, a close. On Run's goroutine.
func (c *Conn) sync() {
	c.kicked.Store(false)
	c.mu.Lock()
	tc := c.tc
	push, grant := c.written-c.pushed, c.consumed-c.granted
	c.pushed, c.granted = c.written, c.consumed
	closing := c.closing
	c.mu.Unlock()
	if tc == nil {
		return
	}
	if push > 0 {
		tc.Push(int(push))
	}
	if grant > 0 {
		tc.Grant(int(grant))
	}
	if closing {
		tc.Close()
	}
}

type connSource Conn

// ReadAt gives the engine bytes of the send ring (on Run's goroutine).
func (s *connSource) ReadAt(p []byte, off int64) (int, error) {
	c := (*Conn)(s)
	c.mu.Lock()
	defer c.mu.Unlock()
	if off < c.acked || off+int64(len(p)) > c.written {
		return 0, fmt.Errorf("stack: send offset %d+%d outside [%d, %d)", off, len(p), c.acked, c.written)
	}
	return ringCopy(p, c.sbuf, off, false), nil
}

type connSink Conn

// WriteAt stores received bytes in the receive ring (on Run's goroutine).
func (s *connSink) WriteAt(p []byte, off int64) (int, error) {
	c := (*Conn)(s)
	c.mu.Lock()
	defer c.mu.Unlock()
	return ringCopy(p, c.rbuf, off, true), nil
}

// ringCopy copies between p and the ring at stream offset off, into the
// ring if in is set.
func ringCopy(p, ring []byte, off int64, in bool) int {
	n := 0
	for n < len(p) {
		i := int((off + int64(n)) % int64(len(ring)))
		if in {
			n += copy(ring[i:], p[n:])
		} else {
			n += copy(p[n:], ring[i:])
		}
	}
	return n
}

// Read implements net.Conn.
func (c *Conn) Read(p []byte) (int, error) {
	for {
		c.mu.Lock()
		if avail := c.readable - c.consumed; avail > 0 {
			n := int(min(avail, int64(len(p))))
			ringCopy(p[:n], c.rbuf, c.consumed, false)
			c.consumed += int64(n)
			c.mu.Unlock()
			c.kick()
			return n, nil
		}
		eof, err := c.eof, c.err
		c.mu.Unlock()
		switch {
		case eof:
			return 0, io.EOF
		case err != nil:
			return 0, err
		}
		if err := c.rdl.wait(c.canRead, c.s.stopped); err != nil {
			return 0, err
		}
	}
}

// Write implements net.Conn: it returns once p is in the send ring.
func (c *Conn) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		c.mu.Lock()
		if c.err != nil || c.closing {
			err := c.err
			c.mu.Unlock()
			if err == nil {
				err = net.ErrClosed
			}
			return done, err
		}
		if free := int64(len(c.sbuf)) - (c.written - c.acked); free > 0 {
			n := int(min(free, int64(len(p)-done)))
			ringCopy(p[done:done+n], c.sbuf, c.written, true)
			c.written += int64(n)
			done += n
			c.mu.Unlock()
			c.kick()
			continue
		}
		c.mu.Unlock()
		if err := c.wdl.wait(c.canWrite, c.s.stopped); err != nil {
			return done, err
		}
	}
	return done, nil
}

// CloseWrite sends a FIN after the bytes written.
func (c *Conn) CloseWrite() error {
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	c.kick()
	return nil
}

// Close sends a FIN after the bytes written (an orderly close) and makes
// Read and Write return net.ErrClosed.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closing = true
		if c.err == nil {
			c.err = net.ErrClosed
		}
		c.mu.Unlock()
		signal(c.canRead)
		signal(c.canWrite)
		c.kick()
	})
	return nil
}

// LocalAddr implements net.Conn.
func (c *Conn) LocalAddr() net.Addr { return net.TCPAddrFromAddrPort(c.local) }

// RemoteAddr implements net.Conn.
func (c *Conn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.remote) }

// SetDeadline implements net.Conn.
func (c *Conn) SetDeadline(t time.Time) error {
	c.rdl.set(t, c.canRead)
	c.wdl.set(t, c.canWrite)
	return nil
}

// SetReadDeadline implements net.Conn.
func (c *Conn) SetReadDeadline(t time.Time) error { c.rdl.set(t, c.canRead); return nil }

// SetWriteDeadline implements net.Conn.
func (c *Conn) SetWriteDeadline(t time.Time) error { c.wdl.set(t, c.canWrite); return nil }

// deadline is one direction's deadline.
type deadline struct {
	mu sync.Mutex
	t  time.Time
}

func (d *deadline) set(t time.Time, wake chan struct{}) {
	d.mu.Lock()
	d.t = t
	d.mu.Unlock()
	signal(wake) // a waiter re-reads the deadline
}

// wait blocks until ch is signalled, the deadline passes or the stack
// stops (net.ErrClosed).
func (d *deadline) wait(ch, stopped chan struct{}) error {
	d.mu.Lock()
	t := d.t
	d.mu.Unlock()
	var expired <-chan time.Time
	if !t.IsZero() {
		left := time.Until(t)
		if left <= 0 {
			return os.ErrDeadlineExceeded
		}
		timer := time.NewTimer(left)
		defer timer.Stop()
		expired = timer.C
	}
	select {
	case <-ch:
		return nil
	case <-expired:
		return os.ErrDeadlineExceeded
	case <-stopped:
		return net.ErrClosed
	}
}

// ConnListener is a net.Listener on one of the stack's ports.
type ConnListener struct {
	s      *Stack
	addr   netip.AddrPort
	cfg    ConnConfig
	ready  chan *Conn
	done   chan struct{}
	closed sync.Once
}

var _ net.Listener = (*ConnListener)(nil)

// ListenConn listens on port with a quota of connection slots (see
// tcp.Listener); each accepted connection gets rings sized by cfg.
func (s *Stack) ListenConn(ctx context.Context, port uint16, quota int, cfg ConnConfig) (*ConnListener, error) {
	l := &ConnListener{s: s, addr: netip.AddrPortFrom(s.ip4, port), cfg: cfg, ready: make(chan *Conn, quota),
		done: make(chan struct{})}
	var err error
	if derr := s.Do(ctx, func() {
		err = s.tcp.Listen(tcp.Listener{Port: port, Quota: quota, Accept: func(local, remote netip.AddrPort) (tcp.App, bool) {
			select {
			case <-l.done:
				return tcp.App{}, false
			default:
			}
			c := s.newConn(cfg)
			c.local, c.remote, c.l = local, remote, l
			return c.app(), true
		}})
	}); derr != nil {
		return nil, derr
	}
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Accept implements net.Listener.
func (l *ConnListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener: the port stops listening (new SYNs are
// answered with RST), Accept returns net.ErrClosed, and connections
// established but not accepted are closed.
func (l *ConnListener) Close() error {
	l.closed.Do(func() {
		close(l.done)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		l.s.Do(ctx, func() { l.s.tcp.Unlisten(l.addr.Port()) })
		for {
			select {
			case c := <-l.ready:
				c.Close()
			default:
				return
			}
		}
	})
	return nil
}

// Addr implements net.Listener.
func (l *ConnListener) Addr() net.Addr { return net.TCPAddrFromAddrPort(l.addr) }
