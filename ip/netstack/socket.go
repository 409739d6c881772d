package netstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// deadline is one direction's deadline: a channel closed when it passes,
// replaced when the deadline is moved (as gVisor's gonet does).
type deadline struct {
	mu    sync.Mutex
	timer *time.Timer
	ch    chan struct{}
}

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ch == nil {
		d.ch = make(chan struct{})
	}
	if d.timer != nil && !d.timer.Stop() {
		d.ch = make(chan struct{})
	}
	select {
	case <-d.ch:
		d.ch = make(chan struct{})
	default:
	}
	d.timer = nil
	if t.IsZero() {
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		close(d.ch)
		return
	}
	ch := d.ch
	d.timer = time.AfterFunc(dur, func() { close(ch) })
}

func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ch == nil {
		d.ch = make(chan struct{})
	}
	return d.ch
}

func (d *deadline) stop() {
	d.mu.Lock()
	if d.timer != nil {
		d.timer.Stop()
	}
	d.mu.Unlock()
}

// timeoutErr is what a passed deadline returns (os.ErrDeadlineExceeded,
// which is a net.Error with Timeout() true).
var timeoutErr = os.ErrDeadlineExceeded

// netErr maps a command error to what net.Conn users expect.
func netErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrClosed):
		return fmt.Errorf("%w (%w)", net.ErrClosed, err)
	}
	return err
}

// Conn is a TCP stream of a Netstack as a net.Conn.
type Conn struct {
	ns            *Netstack
	h             Handle
	local, remote netip.AddrPort
	rd, wd        deadline
	closed        atomic.Bool
}

var _ net.Conn = (*Conn)(nil)

// DialTCP connects from local (zero: any) to remote and waits until the
// connection is established or ctx ends.
func (ns *Netstack) DialTCP(ctx context.Context, local, remote netip.AddrPort) (*Conn, error) {
	r, err := ns.Request(ctx, TCPConnect{Local: local, Remote: remote})
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(remote), Err: err}
	}
	c := r.(Connected)
	return &Conn{ns: ns, h: c.Handle, local: c.Local, remote: c.Remote}, nil
}

// DialContext dials "tcp" addresses given as literal IP:port (there is no
// DNS), for http.Transport.DialContext and friends.
func (ns *Netstack) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("network %q: %w", network, ErrBadRequest)}
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("%w: %w", ErrBadRequest, err)}
	}
	return ns.DialTCP(ctx, netip.AddrPort{}, ap)
}

func (c *Conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// Read implements net.Conn: it returns io.EOF after the peer's FIN.
func (c *Conn) Read(b []byte) (int, error) {
	if c.closed.Load() {
		return 0, c.opErr("read", net.ErrClosed)
	}
	if len(b) == 0 {
		return 0, nil
	}
	req := getReq(opTCPRecv)
	req.h, req.buf = c.h, b
	gone, cancelled, err := c.ns.submitCh(req, c.rd.wait())
	if gone || cancelled {
		if !gone {
			putReq(req)
		}
		if cancelled {
			return 0, c.opErr("read", timeoutErr)
		}
		return 0, c.opErr("read", netErr(err))
	}
	if err == nil {
		err = req.err
	}
	n, eof := req.rn, req.rflag
	putReq(req)
	if err != nil {
		return 0, c.opErr("read", netErr(err))
	}
	if eof {
		return 0, io.EOF
	}
	return n, nil
}

// Write implements net.Conn: it returns when all of b is queued in the
// stack, or with the count queued before a deadline or error.
func (c *Conn) Write(b []byte) (int, error) {
	if c.closed.Load() {
		return 0, c.opErr("write", net.ErrClosed)
	}
	if len(b) == 0 {
		return 0, nil
	}
	req := getReq(opTCPSend)
	req.h, req.buf = c.h, b
	gone, cancelled, err := c.ns.submitCh(req, c.wd.wait())
	if gone {
		if cancelled {
			return 0, c.opErr("write", timeoutErr)
		}
		return 0, c.opErr("write", netErr(err))
	}
	if err == nil && !cancelled {
		err = req.err
	}
	n := req.rn
	putReq(req)
	if cancelled {
		return n, c.opErr("write", timeoutErr)
	}
	if err != nil {
		return n, c.opErr("write", netErr(err))
	}
	return n, nil
}

// CloseWrite half-closes the stream: the peer reads EOF after the data
// already written; this side can still read.
func (c *Conn) CloseWrite() error {
	_, err := c.ns.Request(context.Background(), TCPShutdown{Handle: c.h})
	if err != nil {
		return c.opErr("close", netErr(err))
	}
	return nil
}

// Close implements net.Conn: a FIN follows the queued data and the
// graceful close continues in the background (fire-and-forget).
func (c *Conn) Close() error { return c.close(false) }

// Abort closes the connection with a RST, discarding queued data.
func (c *Conn) Abort() error { return c.close(true) }

func (c *Conn) close(reset bool) error {
	if c.closed.Swap(true) {
		return c.opErr("close", net.ErrClosed)
	}
	c.rd.stop()
	c.wd.stop()
	if err := c.ns.RequestNoWait(Close{Handle: c.h, Reset: reset}); err != nil {
		return c.opErr("close", netErr(err))
	}
	return nil
}

// LocalAddr implements net.Conn.
func (c *Conn) LocalAddr() net.Addr { return net.TCPAddrFromAddrPort(c.local) }

// RemoteAddr implements net.Conn.
func (c *Conn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.remote) }

// SetDeadline implements net.Conn.
func (c *Conn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

// SetReadDeadline implements net.Conn.
func (c *Conn) SetReadDeadline(t time.Time) error { c.rd.set(t); return nil }

// SetWriteDeadline implements net.Conn.
func (c *Conn) SetWriteDeadline(t time.Time) error { c.wd.set(t); return nil }

// Listener is a TCP listener of a Netstack as a net.Listener.
type Listener struct {
	ns     *Netstack
	h      Handle
	local  netip.AddrPort
	closed atomic.Bool
}

var _ net.Listener = (*Listener)(nil)

// ListenTCP listens on local with an accept queue of backlog connections.
func (ns *Netstack) ListenTCP(local netip.AddrPort, backlog int) (*Listener, error) {
	r, err := ns.Request(context.Background(), TCPListen{Local: local, Backlog: backlog})
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: net.TCPAddrFromAddrPort(local), Err: err}
	}
	l := r.(Listening)
	return &Listener{ns: ns, h: l.Handle, local: l.Local}, nil
}

// Accept implements net.Listener.
func (l *Listener) Accept() (net.Conn, error) {
	req := getReq(opTCPAccept)
	req.h = l.h
	gone, _, err := l.ns.submitCh(req, nil)
	if gone {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: netErr(err)}
	}
	if err == nil {
		err = req.err
	}
	c := &Conn{ns: l.ns, h: req.rh, local: req.rap, remote: req.rap2}
	putReq(req)
	if err != nil {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: netErr(err)}
	}
	return c, nil
}

// Close implements net.Listener: pending Accepts fail with net.ErrClosed,
// and connections not yet accepted are reset.
func (l *Listener) Close() error {
	if l.closed.Swap(true) {
		return &net.OpError{Op: "close", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed}
	}
	_, err := l.ns.Request(context.Background(), Close{Handle: l.h})
	if err != nil {
		return &net.OpError{Op: "close", Net: "tcp", Addr: l.Addr(), Err: netErr(err)}
	}
	return nil
}

// Addr implements net.Listener.
func (l *Listener) Addr() net.Addr { return net.TCPAddrFromAddrPort(l.local) }

// PacketConn is a UDP socket of a Netstack as a net.PacketConn.
type PacketConn struct {
	ns     *Netstack
	h      Handle
	local  netip.AddrPort
	rd, wd deadline
	closed atomic.Bool
}

var _ net.PacketConn = (*PacketConn)(nil)

// ListenUDP binds a UDP socket to local (port 0 picks one).
func (ns *Netstack) ListenUDP(local netip.AddrPort) (*PacketConn, error) {
	r, err := ns.Request(context.Background(), UDPBind{Local: local})
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: "udp", Addr: net.UDPAddrFromAddrPort(local), Err: err}
	}
	b := r.(Bound)
	return &PacketConn{ns: ns, h: b.Handle, local: b.Local}, nil
}

// ReadFrom implements net.PacketConn; a datagram longer than b is
// truncated (the rest discarded), as on Linux.
func (p *PacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, ap, err := p.ReadFromAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(ap), nil
}

// ReadFromAddrPort is ReadFrom without allocating a net.Addr.
func (p *PacketConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	if p.closed.Load() {
		return 0, netip.AddrPort{}, p.opErr("read", net.ErrClosed)
	}
	req := getReq(opUDPRecv)
	req.h, req.buf = p.h, b
	gone, cancelled, err := p.ns.submitCh(req, p.rd.wait())
	if gone || cancelled {
		if !gone {
			putReq(req)
		}
		if cancelled {
			return 0, netip.AddrPort{}, p.opErr("read", timeoutErr)
		}
		return 0, netip.AddrPort{}, p.opErr("read", netErr(err))
	}
	if err == nil {
		err = req.err
	}
	n, from := req.rn, req.rap
	putReq(req)
	if err != nil {
		return 0, netip.AddrPort{}, p.opErr("read", netErr(err))
	}
	return n, from, nil
}

// WriteTo implements net.PacketConn.
func (p *PacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, p.opErr("write", fmt.Errorf("address %v: %w", addr, ErrBadRequest))
	}
	return p.WriteToAddrPort(b, ua.AddrPort())
}

// WriteToAddrPort is WriteTo with a netip.AddrPort.
func (p *PacketConn) WriteToAddrPort(b []byte, to netip.AddrPort) (int, error) {
	if p.closed.Load() {
		return 0, p.opErr("write", net.ErrClosed)
	}
	req := getReq(opUDPSend)
	req.h, req.buf, req.ap = p.h, b, to
	gone, cancelled, err := p.ns.submitCh(req, p.wd.wait())
	if gone || cancelled {
		if !gone {
			putReq(req)
		}
		if cancelled {
			return 0, p.opErr("write", timeoutErr)
		}
		return 0, p.opErr("write", netErr(err))
	}
	if err == nil {
		err = req.err
	}
	n := req.rn
	putReq(req)
	if err != nil {
		return 0, p.opErr("write", netErr(err))
	}
	return n, nil
}

func (p *PacketConn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "udp", Addr: p.LocalAddr(), Err: err}
}

// Close implements net.PacketConn.
func (p *PacketConn) Close() error {
	if p.closed.Swap(true) {
		return p.opErr("close", net.ErrClosed)
	}
	p.rd.stop()
	p.wd.stop()
	_, err := p.ns.Request(context.Background(), Close{Handle: p.h})
	if err != nil {
		return p.opErr("close", netErr(err))
	}
	return nil
}

// LocalAddr implements net.PacketConn.
func (p *PacketConn) LocalAddr() net.Addr { return net.UDPAddrFromAddrPort(p.local) }

// SetDeadline implements net.PacketConn.
func (p *PacketConn) SetDeadline(t time.Time) error {
	p.rd.set(t)
	p.wd.set(t)
	return nil
}

// SetReadDeadline implements net.PacketConn.
func (p *PacketConn) SetReadDeadline(t time.Time) error { p.rd.set(t); return nil }

// SetWriteDeadline implements net.PacketConn.
func (p *PacketConn) SetWriteDeadline(t time.Time) error { p.wd.set(t); return nil }
