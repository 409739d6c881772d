package netstack

import (
	"bytes"

	"context"
	"fmt"
	"gvisor.dev/gvisor/pkg/tcpip"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

type op uint8

const (
	opNop op = iota
	opSetAddrs
	opSetRoutes
	opUDPBind
	opUDPSend
	opUDPRecv
	opTCPListen
	opTCPAccept
	opTCPConnect
	opTCPSend
	opTCPRecv
	opTCPShutdown
	opRawOpen
	opRawSend
	opRawRecv
	opPing
	opClose
	opInspect // tests: count parked commands
)

var opNames = [...]string{"nop", "set-addrs", "set-routes", "udp-bind", "udp-send", "udp-recv",
	"tcp-listen", "tcp-accept", "tcp-connect", "tcp-send", "tcp-recv", "tcp-shutdown",
	"raw-open", "raw-send", "raw-recv", "ping", "close", "inspect"}

func (o op) String() string { return opNames[o] }

// Request states: a caller may abandon a pending request (cancel); the
// loop takes it before touching its buffer.
const (
	statePending int32 = iota
	stateTaken
	stateCancelled
)

// request is one command in flight: the flat form of a Command, its
// result, and its reply channel. Requests are pooled, so a steady stream
// of commands allocates nothing.
type request struct {
	op     op
	h      Handle
	buf    []byte
	ap     netip.AddrPort
	ap2    netip.AddrPort
	n      int
	flag   bool
	addrs  []netip.Prefix
	routes []Route
	oneway bool // fire-and-forget: nobody waits for the reply

	// Results.
	rn    int
	rh    Handle
	rap   netip.AddrPort
	rap2  netip.AddrPort
	rflag bool
	rdur  time.Duration
	err   error

	state  atomic.Int32
	cancel atomic.Bool // the caller wants out (ctx ended)
	done   chan struct{}
	rd     bytes.Reader
	sw     tcpip.SliceWriter // receive destination (kept here: no allocation)
	full   tcpip.FullAddress // send destination (likewise)
	start  time.Time
	ping   *sock
}

// errCancelled answers a request whose caller gave up while the loop held it.
var errCancelled = fmt.Errorf("cancelled")

var reqPool = sync.Pool{New: func() any { return &request{done: make(chan struct{}, 1)} }}

func getReq(o op) *request {
	r := reqPool.Get().(*request)
	r.op = o
	return r
}

func putReq(r *request) {
	done := r.done
	*r = request{done: done}
	reqPool.Put(r)
}

// submit hands req to the loop; with wait it also waits for the answer
// (honouring ctx). The caller owns req again when submit returns, unless
// it returned an error for a cancelled or closed wait (then the loop drops
// req).
func (ns *Netstack) submit(ctx context.Context, req *request) (abandoned bool, err error) {
	abandoned, cancelled, err := ns.submitCh(req, ctx.Done())
	if cancelled {
		return abandoned, ctx.Err()
	}
	return abandoned, err
}

// submitCh is submit with a plain cancel channel (closed when the caller
// gives up); cancelled reports that it did.
func (ns *Netstack) submitCh(req *request, cancel <-chan struct{}) (abandoned, cancelled bool, err error) {
	oneway := req.oneway // req belongs to the loop once sent
	select {
	case ns.cmds <- req:
	case <-ns.done:
		return false, false, &Error{Kind: ErrInternal, Op: req.op.String(), Err: ErrClosed}
	case <-cancel:
		return false, true, nil
	}
	if ns.pumped.Load() {
		ns.signal()
	}
	if oneway {
		return true, false, nil
	}
	select {
	case <-req.done:
		return false, false, nil
	case <-cancel:
		// Ask the loop to answer errCancelled (with what it did so far,
		// e.g. bytes queued by a send) and wait for that answer.
		req.cancel.Store(true)
		ns.cancelled.Add(1)
		ns.signal()
		select {
		case <-req.done:
			return false, req.err == errCancelled, nil
		case <-ns.finished:
		}
	case <-ns.finished:
	}
	// The loop is gone: requests it never saw are abandoned here. Once
	// abandoned, req is not ours to read (a ProcessCommand holding it
	// after Close recycles it): take its op name first.
	name := req.op.String()
	if req.state.CompareAndSwap(statePending, stateCancelled) {
		return true, false, &Error{Kind: ErrInternal, Op: name, Err: ErrClosed}
	}
	<-req.done
	if req.err == errCancelled {
		return false, true, nil
	}
	return false, false, nil
}

// do runs req and returns its error; the caller reads the results and
// calls putReq unless do reports abandoned.
func (ns *Netstack) do(ctx context.Context, req *request) (abandoned bool, err error) {
	abandoned, err = ns.submit(ctx, req)
	if err != nil {
		if !abandoned {
			putReq(req)
		}
		return true, err
	}
	return false, req.err
}

// Request sends cmd and waits for its response, or until ctx ends (ctx
// may carry a deadline). A parked command abandoned this way is dropped by
// the loop before it touches any buffer.
func (ns *Netstack) Request(ctx context.Context, cmd Command) (Response, error) {
	req, err := toRequest(cmd)
	if err != nil {
		return nil, err
	}
	gone, err := ns.do(ctx, req)
	if gone {
		return nil, err
	}
	defer putReq(req)
	if err != nil {
		return nil, err
	}
	return toResponse(cmd, req), nil
}

// RequestNoWait sends cmd without waiting for its response
// (fire-and-forget, e.g. Close when a socket is dropped). Errors are
// counted in Stats.Failed.
func (ns *Netstack) RequestNoWait(cmd Command) error {
	req, err := toRequest(cmd)
	if err != nil {
		return err
	}
	req.oneway = true
	_, _, err = ns.submitCh(req, nil)
	return err
}

func toRequest(cmd Command) (*request, error) {
	var r *request
	switch c := cmd.(type) {
	case Nop:
		r = getReq(opNop)
	case SetAddrs:
		r = getReq(opSetAddrs)
		r.addrs = c.Addrs
	case SetRoutes:
		r = getReq(opSetRoutes)
		r.routes = c.Routes
	case UDPBind:
		r = getReq(opUDPBind)
		r.ap = c.Local
	case UDPSend:
		r = getReq(opUDPSend)
		r.h, r.ap, r.buf = c.Handle, c.To, c.Buf
	case UDPRecv:
		r = getReq(opUDPRecv)
		r.h, r.buf = c.Handle, make([]byte, c.MaxLen)
	case TCPListen:
		r = getReq(opTCPListen)
		r.ap, r.n = c.Local, c.Backlog
	case TCPAccept:
		r = getReq(opTCPAccept)
		r.h = c.Handle
	case TCPConnect:
		r = getReq(opTCPConnect)
		r.ap, r.ap2 = c.Local, c.Remote
	case TCPSend:
		r = getReq(opTCPSend)
		r.h, r.buf = c.Handle, c.Buf
	case TCPRecv:
		r = getReq(opTCPRecv)
		r.h, r.buf = c.Handle, make([]byte, c.MaxLen)
	case TCPShutdown:
		r = getReq(opTCPShutdown)
		r.h = c.Handle
	case RawOpen:
		r = getReq(opRawOpen)
		r.n, r.ap = c.IPVersion, netip.AddrPortFrom(netip.Addr{}, uint16(c.Protocol))
	case RawSend:
		r = getReq(opRawSend)
		r.h, r.ap, r.buf = c.Handle, netip.AddrPortFrom(c.To, 0), c.Buf
	case RawRecv:
		r = getReq(opRawRecv)
		r.h, r.buf = c.Handle, make([]byte, c.MaxLen)
	case Ping:
		r = getReq(opPing)
		r.ap, r.buf = netip.AddrPortFrom(c.To, 0), c.Payload
	case Close:
		r = getReq(opClose)
		r.h, r.flag = c.Handle, c.Reset
	default:
		return nil, &Error{Kind: ErrBadRequest, Op: "request", Err: fmt.Errorf("unknown command %T", cmd)}
	}
	return r, nil
}

func toResponse(cmd Command, r *request) Response {
	switch cmd.(type) {
	case UDPBind:
		return Bound{Handle: r.rh, Local: r.rap}
	case UDPSend, TCPSend, RawSend:
		return Sent{N: r.rn}
	case UDPRecv:
		return RecvFrom{Remote: r.rap, Buf: r.buf[:r.rn], Truncated: r.rflag}
	case TCPListen:
		return Listening{Handle: r.rh, Local: r.rap}
	case TCPAccept:
		return Accepted{Handle: r.rh, Remote: r.rap2}
	case TCPConnect:
		return Connected{Handle: r.rh, Local: r.rap, Remote: r.rap2}
	case TCPRecv:
		if r.rflag {
			return Finished{}
		}
		return Received{Buf: r.buf[:r.rn]}
	case RawOpen:
		return Opened{Handle: r.rh}
	case RawRecv:
		return RawPacket{Buf: r.buf[:r.rn], Truncated: r.rflag}
	case Ping:
		return Pong{From: r.rap.Addr(), RTT: r.rdur, Len: r.rn}
	}
	return Ok{}
}
