package netstack

import (
	"fmt"
	"net/netip"
	"sort"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/raw"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

type sockKind uint8

const (
	kindUDP sockKind = iota
	kindListener
	kindStream
	kindRaw
	kindPing
)

const (
	readMask  = waiter.ReadableEvents | waiter.EventHUp | waiter.EventErr
	writeMask = waiter.WritableEvents | waiter.EventHUp | waiter.EventErr
)

// sock is one gVisor endpoint owned by the loop, with the commands parked
// on it. Only the waiter callback (NotifyEvent) runs on other goroutines.
type sock struct {
	ns      *Netstack
	h       Handle
	kind    sockKind
	version int
	ep      tcpip.Endpoint
	wq      *waiter.Queue
	entry   waiter.Entry
	readers []*request // accept, recv: wait for readable
	writers []*request // send, connect: wait for writable

	parkedR, parkedW atomic.Int32
	queued           atomic.Bool
}

// NotifyEvent implements waiter.EventListener: it runs on gVisor's
// goroutines and wakes the loop if a parked command may now finish.
func (s *sock) NotifyEvent(m waiter.EventMask) {
	if (m&readMask != 0 && s.parkedR.Load() > 0) || (m&writeMask != 0 && s.parkedW.Load() > 0) {
		s.enqueue()
	}
}

func (s *sock) enqueue() {
	if !s.queued.CompareAndSwap(false, true) {
		return
	}
	ns := s.ns
	ns.readyMu.Lock()
	ns.ready = append(ns.ready, s)
	ns.readyMu.Unlock()
	ns.signal()
}

func (ns *Netstack) newSock(kind sockKind, ep tcpip.Endpoint, wq *waiter.Queue) *sock {
	ns.next++
	s := &sock{ns: ns, h: ns.next, kind: kind, ep: ep, wq: wq}
	s.entry.Init(s, readMask|writeMask)
	wq.EventRegister(&s.entry)
	ns.socks[s.h] = s
	return s
}

// runReady retries the parked commands of every socket that became ready,
// and reports whether there were any.
func (ns *Netstack) runReady() bool {
	ns.readyMu.Lock()
	list := ns.ready
	ns.ready = ns.spare[:0]
	ns.readyMu.Unlock()
	for _, s := range list {
		s.queued.Store(false)
		if ns.socks[s.h] != s {
			continue // closed meanwhile
		}
		ns.stats.retries.Add(1)
		ns.retry(s)
	}
	clear(list)
	ns.spare = list
	if ns.cancelled.Load() > 0 {
		ns.pruneCancelled()
	}
	return len(list) > 0
}

func (ns *Netstack) retry(s *sock) {
	s.readers = ns.retryList(s, s.readers, &s.parkedR)
	s.writers = ns.retryList(s, s.writers, &s.parkedW)
}

// retryList retries the parked commands of one list in order until one
// still cannot finish, and returns what is left.
func (ns *Netstack) retryList(s *sock, l []*request, parked *atomic.Int32) []*request {
	for len(l) > 0 {
		r := l[0]
		mine := r.state.CompareAndSwap(statePending, stateTaken)
		if mine && !ns.exec(s, r) && ns.repark(r) {
			break
		}
		if ns.socks[s.h] != s {
			return nil // the command closed its own socket
		}
		// Pop the head in place, keeping the backing array's capacity
		// (lists are short), so that parking does not allocate.
		copy(l, l[1:])
		l[len(l)-1] = nil
		l = l[:len(l)-1]
		parked.Add(-1)
		if !mine {
			ns.drop(r) // its caller gave up
		}
	}
	return l
}

// repark puts back a retried command that still cannot finish and reports
// true, unless its caller gave up meanwhile: then it answers errCancelled
// and reports false.
func (ns *Netstack) repark(r *request) bool {
	r.state.Store(statePending)
	if r.cancel.Load() && r.state.CompareAndSwap(statePending, stateTaken) {
		ns.release(r)
		r.err = errCancelled
		ns.reply(r)
		return false
	}
	return true
}

// release frees what an unfinished command holds: the socket of a
// connect or ping in progress.
func (ns *Netstack) release(r *request) {
	if r.ping != nil {
		s := r.ping
		r.ping = nil
		ns.closeSock(s, false)
	} else if r.op == opTCPConnect && r.h != 0 {
		if s := ns.socks[r.h]; s != nil {
			r.h = 0
			ns.closeSock(s, true)
		}
	}
}

// drop releases a command its caller abandoned (already off its list).
func (ns *Netstack) drop(r *request) {
	ns.release(r)
	putReq(r)
}

// pruneCancelled answers the parked commands whose callers gave up.
func (ns *Netstack) pruneCancelled() {
	ns.cancelled.Store(0)
	var out []*request
	for _, s := range ns.socks {
		s.readers, out = pruneList(s.readers, &s.parkedR, out)
		s.writers, out = pruneList(s.writers, &s.parkedW, out)
	}
	for _, r := range out {
		if r.state.CompareAndSwap(statePending, stateTaken) {
			ns.release(r)
			r.err = errCancelled
			ns.reply(r)
		} else {
			ns.drop(r)
		}
	}
}

func pruneList(l []*request, parked *atomic.Int32, out []*request) ([]*request, []*request) {
	keep := l[:0]
	for _, r := range l {
		if r.cancel.Load() || r.state.Load() == stateCancelled {
			parked.Add(-1)
			out = append(out, r)
			continue
		}
		keep = append(keep, r)
	}
	clear(l[len(keep):])
	return keep, out
}

// handle processes one fresh command from the channel.
func (ns *Netstack) handle(r *request) {
	ns.stats.commands.Add(1)
	if !r.state.CompareAndSwap(statePending, stateTaken) {
		putReq(r) // abandoned before the loop saw it
		return
	}
	if r.cancel.Load() {
		r.err = errCancelled
		ns.reply(r)
		return
	}
	var s *sock
	switch r.op {
	case opNop:
		ns.reply(r)
		return
	case opInspect:
		r.rn = 0
		for _, s := range ns.socks {
			r.rn += len(s.readers) + len(s.writers)
		}
		ns.reply(r)
		return
	case opSetAddrs:
		ns.setAddrs(r)
		ns.reply(r)
		return
	case opSetRoutes:
		ns.setRoutes(r)
		ns.reply(r)
		return
	case opUDPBind, opTCPListen, opRawOpen:
		ns.open(r)
		ns.reply(r)
		return
	case opTCPConnect, opPing:
		// exec creates the socket.
	default:
		s = ns.socks[r.h]
		if s == nil || !kindOK(r.op, s.kind) {
			ns.fail(r, ErrInternal, fmt.Errorf("bad handle %d", r.h))
			return
		}
	}
	if ns.exec(s, r) {
		return
	}
	s = ns.socks[r.h] // connect and ping made one
	ns.park(s, r)
}

func kindOK(o op, k sockKind) bool {
	switch o {
	case opUDPSend, opUDPRecv:
		return k == kindUDP
	case opTCPAccept:
		return k == kindListener
	case opTCPSend, opTCPRecv, opTCPShutdown:
		return k == kindStream
	case opRawSend, opRawRecv:
		return k == kindRaw
	case opClose:
		return k != kindPing
	}
	return false
}

func isReader(o op) bool {
	switch o {
	case opTCPAccept, opTCPRecv, opUDPRecv, opRawRecv, opPing:
		return true
	}
	return false
}

func (ns *Netstack) park(s *sock, r *request) {
	ns.stats.parked.Add(1)
	reader := isReader(r.op)
	mask := writeMask
	if reader {
		s.readers = append(s.readers, r)
		s.parkedR.Add(1)
		mask = readMask
	} else {
		s.writers = append(s.writers, r)
		s.parkedW.Add(1)
	}
	if !ns.repark(r) {
		if reader {
			s.readers = s.readers[:len(s.readers)-1]
			s.parkedR.Add(-1)
		} else {
			s.writers = s.writers[:len(s.writers)-1]
			s.parkedW.Add(-1)
		}
		return
	}
	// An event may have come between the attempt and parkedX.Add.
	if s.ep.Readiness(mask) != 0 {
		s.enqueue()
	}
}

func (ns *Netstack) reply(r *request) {
	if r.err != nil && r.err != errCancelled {
		ns.stats.failed.Add(1)
	}
	if r.oneway {
		putReq(r)
		return
	}
	r.done <- struct{}{}
}

func (ns *Netstack) fail(r *request, kind, err error) {
	r.err = &Error{Kind: kind, Op: r.op.String(), Err: err}
	ns.reply(r)
}

// gvErr makes a gVisor error a Go error.
type gvErr struct{ e tcpip.Error }

func (g gvErr) Error() string { return g.e.String() }

func (ns *Netstack) failTCPIP(r *request, e tcpip.Error) {
	kind := ErrInternal
	switch e.(type) {
	case *tcpip.ErrConnectionReset, *tcpip.ErrConnectionRefused, *tcpip.ErrConnectionAborted:
		kind = ErrConnectionReset
	case *tcpip.ErrHostUnreachable, *tcpip.ErrNetworkUnreachable,
		*tcpip.ErrBadAddress, *tcpip.ErrBadLocalAddress, *tcpip.ErrMessageTooLong,
		*tcpip.ErrPortInUse, *tcpip.ErrAddressFamilyNotSupported, *tcpip.ErrInvalidOptionValue,
		*tcpip.ErrDestinationRequired:
		kind = ErrBadRequest
	}
	ns.fail(r, kind, gvErr{e})
}

// exec attempts r and reports whether it finished (and was answered);
// false means it must wait for its socket.
func (ns *Netstack) exec(s *sock, r *request) bool {
	switch r.op {
	case opUDPSend, opRawSend:
		return ns.sendTo(s, r)
	case opUDPRecv, opRawRecv:
		return ns.recvFrom(s, r)
	case opTCPAccept:
		return ns.accept(s, r)
	case opTCPConnect:
		return ns.connect(s, r)
	case opTCPSend:
		return ns.tcpSend(s, r)
	case opTCPRecv:
		return ns.tcpRecv(s, r)
	case opTCPShutdown:
		if e := s.ep.Shutdown(tcpip.ShutdownWrite); e != nil {
			ns.failTCPIP(r, e)
			return true
		}
		ns.reply(r)
		return true
	case opPing:
		return ns.ping(s, r)
	case opClose:
		ns.closeSock(s, r.flag)
		ns.reply(r)
		return true
	}
	ns.fail(r, ErrInternal, fmt.Errorf("op %d", r.op))
	return true
}

func (ns *Netstack) setAddrs(r *request) {
	for _, a := range ns.st.AllAddresses()[nicID] {
		ns.st.RemoveAddress(nicID, a.AddressWithPrefix.Address)
	}
	ns.subnets = ns.subnets[:0]
	for _, p := range r.addrs {
		if !p.IsValid() {
			r.err = &Error{Kind: ErrBadRequest, Op: r.op.String(), Err: fmt.Errorf("invalid prefix %v", p)}
			return
		}
		pa := tcpip.ProtocolAddress{
			Protocol:          netProto(p.Addr()),
			AddressWithPrefix: tcpip.AddressWithPrefix{Address: addrFrom(p.Addr()), PrefixLen: p.Bits()},
		}
		if e := ns.st.AddProtocolAddress(nicID, pa, stack.AddressProperties{}); e != nil {
			r.err = &Error{Kind: ErrBadRequest, Op: r.op.String(), Err: fmt.Errorf("add %v: %w", p, gvErr{e})}
			return
		}
		ns.subnets = append(ns.subnets, tcpip.Route{Destination: pa.AddressWithPrefix.Subnet(), NIC: nicID})
	}
	ns.installRoutes()
}

func (ns *Netstack) setRoutes(r *request) {
	ns.gateway = ns.gateway[:0]
	for _, rt := range r.routes {
		if !rt.Dst.IsValid() {
			r.err = &Error{Kind: ErrBadRequest, Op: r.op.String(), Err: fmt.Errorf("invalid route %v", rt.Dst)}
			return
		}
		d := rt.Dst.Masked()
		sub, err := tcpip.NewSubnet(addrFrom(d.Addr()), tcpip.MaskFromBytes(maskBytes(d)))
		if err != nil {
			r.err = &Error{Kind: ErrBadRequest, Op: r.op.String(), Err: fmt.Errorf("route %v: %w", rt.Dst, err)}
			return
		}
		ns.gateway = append(ns.gateway, tcpip.Route{Destination: sub, Gateway: addrFrom(rt.Via), NIC: nicID})
	}
	ns.installRoutes()
}

func maskBytes(p netip.Prefix) []byte {
	n := p.Addr().BitLen() / 8
	b := make([]byte, n)
	bits := p.Bits()
	for i := range b {
		switch {
		case bits >= 8:
			b[i] = 0xff
			bits -= 8
		case bits > 0:
			b[i] = byte(0xff << (8 - bits))
			bits = 0
		}
	}
	return b
}

func (ns *Netstack) installRoutes() {
	t := append(append([]tcpip.Route(nil), ns.subnets...), ns.gateway...)
	sort.SliceStable(t, func(i, j int) bool { return t[i].Destination.Prefix() > t[j].Destination.Prefix() })
	ns.st.SetRouteTable(t)
}

func fullAddr(ap netip.AddrPort) tcpip.FullAddress {
	f := tcpip.FullAddress{Port: ap.Port()}
	if a := ap.Addr(); a.IsValid() && !a.IsUnspecified() {
		f.Addr = addrFrom(a)
	}
	return f
}

// open creates UDP, listener and raw sockets.
func (ns *Netstack) open(r *request) {
	wq := new(waiter.Queue)
	var (
		ep   tcpip.Endpoint
		e    tcpip.Error
		kind sockKind
	)
	version := 4
	switch r.op {
	case opUDPBind:
		kind = kindUDP
		ep, e = ns.st.NewEndpoint(udp.ProtocolNumber, netProto(r.ap.Addr()), wq)
	case opTCPListen:
		kind = kindListener
		ep, e = ns.st.NewEndpoint(tcp.ProtocolNumber, netProto(r.ap.Addr()), wq)
	case opRawOpen:
		kind = kindRaw
		version = r.n
		proto := ipv4.ProtocolNumber
		switch r.n {
		case 4:
		case 6:
			proto = ipv6.ProtocolNumber
		default:
			ns.failNoReply(r, ErrBadRequest, fmt.Errorf("IP version %d", r.n))
			return
		}
		// raw.NewEndpoint is associated (receives) for any protocol number,
		// registered with the stack or not.
		ep, e = raw.NewEndpoint(ns.st, proto, tcpip.TransportProtocolNumber(r.ap.Port()), wq)
	}
	if e != nil {
		ns.failTCPIPNoReply(r, e)
		return
	}
	if kind != kindRaw {
		if !r.ap.Addr().IsValid() || r.ap.Addr().Is6() && !r.ap.Addr().Is4In6() {
			version = 6
		}
		if !r.ap.Addr().IsValid() {
			version = 4
		}
		ep.SocketOptions().SetReuseAddress(true)
		if e := ep.Bind(fullAddr(r.ap)); e != nil {
			ep.Close()
			ns.failTCPIPNoReply(r, e)
			return
		}
	}
	if kind == kindListener {
		backlog := r.n
		if backlog <= 0 {
			backlog = 128
		}
		if e := ep.Listen(backlog); e != nil {
			ep.Close()
			ns.failTCPIPNoReply(r, e)
			return
		}
	}
	s := ns.newSock(kind, ep, wq)
	s.version = version
	r.rh = s.h
	if la, e := ep.GetLocalAddress(); e == nil {
		r.rap = fullTo(la)
	}
}

func (ns *Netstack) failNoReply(r *request, kind, err error) {
	r.err = &Error{Kind: kind, Op: r.op.String(), Err: err}
}

func (ns *Netstack) failTCPIPNoReply(r *request, e tcpip.Error) {
	kind := ErrInternal
	switch e.(type) {
	case *tcpip.ErrPortInUse, *tcpip.ErrBadLocalAddress, *tcpip.ErrAddressFamilyNotSupported,
		*tcpip.ErrInvalidEndpointState, *tcpip.ErrNotSupported, *tcpip.ErrUnknownProtocol:
		kind = ErrBadRequest
	}
	r.err = &Error{Kind: kind, Op: r.op.String(), Err: gvErr{e}}
}

func versionOf(a netip.Addr) int {
	if a.Unmap().Is4() {
		return 4
	}
	return 6
}

func (ns *Netstack) sendTo(s *sock, r *request) bool {
	to := r.ap
	if !to.Addr().IsValid() {
		ns.fail(r, ErrBadRequest, fmt.Errorf("unaddressable destination %v", to))
		return true
	}
	if versionOf(to.Addr()) != s.version {
		ns.fail(r, ErrBadRequest, fmt.Errorf("wrong IP version: %v on an IPv%d socket", to.Addr(), s.version))
		return true
	}
	if len(r.buf) > 65507 {
		ns.fail(r, ErrBadRequest, fmt.Errorf("packet too big: %d bytes", len(r.buf)))
		return true
	}
	r.full = tcpip.FullAddress{Addr: addrFrom(to.Addr()), Port: to.Port()}
	r.rd.Reset(r.buf)
	n, e := s.ep.Write(&r.rd, tcpip.WriteOptions{To: &r.full})
	if _, ok := e.(*tcpip.ErrWouldBlock); ok {
		return false
	}
	if e != nil {
		ns.failTCPIP(r, e)
		return true
	}
	r.rn = int(n)
	ns.reply(r)
	return true
}

func (ns *Netstack) recvFrom(s *sock, r *request) bool {
	if len(r.buf) == 0 {
		ns.fail(r, ErrBadRequest, fmt.Errorf("zero-size buffer"))
		return true
	}
	r.sw = tcpip.SliceWriter(r.buf)
	res, e := s.ep.Read(&r.sw, tcpip.ReadOptions{NeedRemoteAddr: true})
	if _, ok := e.(*tcpip.ErrWouldBlock); ok {
		return false
	}
	if e != nil {
		ns.failTCPIP(r, e)
		return true
	}
	r.rn = res.Count
	r.rflag = res.Total > res.Count
	r.rap = fullTo(res.RemoteAddr)
	ns.reply(r)
	return true
}

func (ns *Netstack) accept(s *sock, r *request) bool {
	var peer tcpip.FullAddress
	nep, nwq, e := s.ep.Accept(&peer)
	if _, ok := e.(*tcpip.ErrWouldBlock); ok {
		return false
	}
	if e != nil {
		ns.failTCPIP(r, e)
		return true
	}
	c := ns.newSock(kindStream, nep, nwq)
	c.version = s.version
	r.rh = c.h
	r.rap2 = fullTo(peer)
	if la, e := nep.GetLocalAddress(); e == nil {
		r.rap = fullTo(la)
	}
	ns.reply(r)
	return true
}

func (ns *Netstack) connect(s *sock, r *request) bool {
	if s == nil {
		remote := r.ap2
		if !remote.Addr().IsValid() || remote.Port() == 0 {
			ns.fail(r, ErrBadRequest, fmt.Errorf("unaddressable remote %v", remote))
			return true
		}
		if r.ap.Addr().IsValid() && versionOf(r.ap.Addr()) != versionOf(remote.Addr()) {
			ns.fail(r, ErrBadRequest, fmt.Errorf("wrong IP version: %v to %v", r.ap, remote))
			return true
		}
		wq := new(waiter.Queue)
		ep, e := ns.st.NewEndpoint(tcp.ProtocolNumber, netProto(remote.Addr()), wq)
		if e != nil {
			ns.failTCPIP(r, e)
			return true
		}
		if r.ap.IsValid() || r.ap.Port() != 0 {
			if e := ep.Bind(fullAddr(r.ap)); e != nil {
				ep.Close()
				ns.failTCPIP(r, e)
				return true
			}
		}
		s = ns.newSock(kindStream, ep, wq)
		s.version = versionOf(remote.Addr())
		r.h = s.h
		e = ep.Connect(tcpip.FullAddress{Addr: addrFrom(remote.Addr()), Port: remote.Port()})
		if _, ok := e.(*tcpip.ErrConnectStarted); ok {
			return false
		}
		if e != nil {
			ns.closeSock(s, false)
			r.h = 0
			ns.failTCPIP(r, e)
			return true
		}
	} else if s.ep.Readiness(writeMask) == 0 {
		return false
	}
	if e := s.ep.LastError(); e != nil {
		ns.closeSock(s, false)
		r.h = 0
		ns.failTCPIP(r, e)
		return true
	}
	r.rh = s.h
	if la, e := s.ep.GetLocalAddress(); e == nil {
		r.rap = fullTo(la)
	}
	if ra, e := s.ep.GetRemoteAddress(); e == nil {
		r.rap2 = fullTo(ra)
	}
	r.h = 0
	ns.reply(r)
	return true
}

func (ns *Netstack) tcpSend(s *sock, r *request) bool {
	if len(r.buf) == 0 {
		ns.fail(r, ErrBadRequest, fmt.Errorf("zero-size buffer"))
		return true
	}
	for r.rn < len(r.buf) {
		r.rd.Reset(r.buf[r.rn:])
		n, e := s.ep.Write(&r.rd, tcpip.WriteOptions{})
		r.rn += int(n)
		if _, ok := e.(*tcpip.ErrWouldBlock); ok {
			return false
		}
		if e != nil {
			ns.failTCPIP(r, e)
			return true
		}
	}
	ns.reply(r)
	return true
}

func (ns *Netstack) tcpRecv(s *sock, r *request) bool {
	if len(r.buf) == 0 {
		ns.fail(r, ErrBadRequest, fmt.Errorf("zero-size buffer"))
		return true
	}
	r.sw = tcpip.SliceWriter(r.buf)
	res, e := s.ep.Read(&r.sw, tcpip.ReadOptions{})
	switch e.(type) {
	case nil:
	case *tcpip.ErrWouldBlock:
		return false
	case *tcpip.ErrClosedForReceive:
		r.rflag = true
		ns.reply(r)
		return true
	default:
		ns.failTCPIP(r, e)
		return true
	}
	r.rn = res.Count
	s.ep.ModerateRecvBuf(res.Count)
	ns.reply(r)
	return true
}

func (ns *Netstack) ping(s *sock, r *request) bool {
	if s == nil {
		to := r.ap.Addr()
		if !to.IsValid() {
			ns.fail(r, ErrBadRequest, fmt.Errorf("unaddressable destination %v", to))
			return true
		}
		v := versionOf(to)
		proto, nproto := icmp.ProtocolNumber4, ipv4.ProtocolNumber
		if v == 6 {
			proto, nproto = icmp.ProtocolNumber6, ipv6.ProtocolNumber
		}
		wq := new(waiter.Queue)
		ep, e := ns.st.NewEndpoint(proto, nproto, wq)
		if e != nil {
			ns.failTCPIP(r, e)
			return true
		}
		s = ns.newSock(kindPing, ep, wq)
		s.version = v
		r.h = s.h
		r.ping = s
		msg := make([]byte, header.ICMPv4MinimumSize+len(r.buf))
		copy(msg[header.ICMPv4MinimumSize:], r.buf)
		if v == 4 {
			h := header.ICMPv4(msg)
			h.SetType(header.ICMPv4Echo)
			h.SetSequence(1)
		} else {
			h := header.ICMPv6(msg)
			h.SetType(header.ICMPv6EchoRequest)
			h.SetSequence(1)
		}
		r.start = ns.st.Clock().Now()
		r.rd.Reset(msg)
		if _, e := ep.Write(&r.rd, tcpip.WriteOptions{To: &tcpip.FullAddress{Addr: addrFrom(to)}}); e != nil {
			ns.closeSock(s, false)
			r.ping = nil
			ns.failTCPIP(r, e)
			return true
		}
		r.buf = make([]byte, len(msg))
	}
	w := tcpip.SliceWriter(r.buf)
	res, e := s.ep.Read(&w, tcpip.ReadOptions{NeedRemoteAddr: true})
	if _, ok := e.(*tcpip.ErrWouldBlock); ok {
		return false
	}
	ns.closeSock(s, false)
	r.ping = nil
	if e != nil {
		ns.failTCPIP(r, e)
		return true
	}
	r.rn = res.Count - header.ICMPv4MinimumSize
	r.rap = fullTo(res.RemoteAddr)
	r.rdur = ns.st.Clock().Now().Sub(r.start)
	ns.reply(r)
	return true
}

// closeSock closes s (with RST when reset is set and s is a stream) and
// fails the commands parked on it.
func (ns *Netstack) closeSock(s *sock, reset bool) {
	if ns.socks[s.h] != s {
		return
	}
	delete(ns.socks, s.h)
	s.wq.EventUnregister(&s.entry)
	for _, l := range [][]*request{s.readers, s.writers} {
		for _, r := range l {
			if r.state.CompareAndSwap(statePending, stateTaken) {
				if r.op == opPing || r.op == opTCPConnect && r.h == s.h {
					r.ping, r.h = nil, 0
				}
				ns.fail(r, ErrInternal, fmt.Errorf("handle %d: %w", s.h, ErrClosed))
			} else if r.state.Load() == stateCancelled {
				if r.op == opPing || r.op == opTCPConnect && r.h == s.h {
					r.ping, r.h = nil, 0
				}
				ns.drop(r)
			}
		}
	}
	s.readers, s.writers = nil, nil
	s.parkedR.Store(0)
	s.parkedW.Store(0)
	if reset && s.kind == kindStream {
		s.ep.SocketOptions().SetLinger(tcpip.LingerOption{Enabled: true, Timeout: 0})
	}
	s.ep.Close()
}

// refuse answers ErrClosed to a command taken after Close, unless its
// caller gave up.
func (ns *Netstack) refuse(r *request) {
	if r.state.CompareAndSwap(statePending, stateTaken) {
		ns.fail(r, ErrInternal, ErrClosed)
	} else {
		putReq(r)
	}
}

// shutdown runs once the loop has stopped: queued commands fail and every
// socket is closed.
func (ns *Netstack) shutdown() {
	for {
		select {
		case r := <-ns.cmds:
			ns.refuse(r)
			continue
		default:
		}
		break
	}
	for _, s := range ns.socks {
		ns.closeSock(s, true)
	}
	close(ns.finished)
}
