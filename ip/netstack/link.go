package netstack

import (
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// LinkStats counts what the link endpoint did with outbound packets.
type LinkStats struct {
	Queued   uint64 // packets accepted from gVisor into the outbound queue
	Sent     uint64 // packets handed to the device
	Waits    uint64 // times a writer blocked because the queue was full (backpressure)
	Refused  uint64 // packets refused because the queue was full in pumped mode (gVisor retransmits)
	Closed   uint64 // packets refused because the endpoint was closed
	Received uint64 // inbound packets injected into the stack
	MaxDepth uint64 // deepest the outbound queue has been
}

// linkEP is our stack.LinkEndpoint. Unlike gVisor's channel endpoint it never
// drops silently: when its bounded outbound queue is full, a writer blocks
// until the device side drains it (backpressure), or, when nothing drains it
// on its own (pumped mode), the write is refused and counted in Refused.
type linkEP struct {
	mtu      uint32
	caps     stack.LinkEndpointCapabilities
	gso      stack.SupportedGSO
	gsoMax   uint32
	linkAddr tcpip.LinkAddress
	limit    int

	dispatcher atomic.Pointer[dispatcherBox]

	mu       sync.Mutex
	space    sync.Cond // signalled when the queue has room or closes
	q        []*stack.PacketBuffer
	blocking bool // writers wait for room (a drainer goroutine exists)
	closed   bool
	// notify gets a token whenever packets are queued; so does wake when
	// pumped is set (a caller pumps the Netstack and waits on wake).
	notify chan struct{}
	wake   chan struct{}
	pumped *atomic.Bool

	// direct, when set, sends packets straight to the device from the
	// writer's goroutine (Run mode on a device whose send is safe for
	// concurrent use, the Pipe): the device's own bounded queue is the
	// backpressure, and one goroutine hop is saved.
	direct atomic.Pointer[func([]*stack.PacketBuffer) error]

	queued, sent, waits, refused, closedN, received, maxDepth atomic.Uint64
}

type dispatcherBox struct{ d stack.NetworkDispatcher }

var _ stack.LinkEndpoint = (*linkEP)(nil)
var _ stack.GSOEndpoint = (*linkEP)(nil)

func newLinkEP(mtu uint32, limit int, caps stack.LinkEndpointCapabilities, gso bool, addr tcpip.LinkAddress) *linkEP {
	e := &linkEP{mtu: mtu, caps: caps, linkAddr: addr, limit: limit, notify: make(chan struct{}, 1)}
	if gso {
		e.gso = stack.HostGSOSupported
		e.gsoMax = 1 << 15
	}
	e.space.L = &e.mu
	return e
}

func (e *linkEP) setBlocking(b bool) {
	e.mu.Lock()
	e.blocking = b
	e.mu.Unlock()
	e.space.Broadcast()
}

// WritePackets implements stack.LinkWriter.
func (e *linkEP) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	if d := e.direct.Load(); d != nil {
		l := pkts.AsSlice()
		if err := (*d)(l); err != nil {
			e.closedN.Add(uint64(len(l)))
			return 0, &tcpip.ErrClosedForSend{}
		}
		e.queued.Add(uint64(len(l)))
		e.sent.Add(uint64(len(l)))
		return len(l), nil
	}
	n := 0
	e.mu.Lock()
	for _, pkt := range pkts.AsSlice() {
		for len(e.q) >= e.limit && e.blocking && !e.closed {
			e.waits.Add(1)
			if len(e.q) > 0 {
				e.signal()
			}
			e.space.Wait()
		}
		if e.closed {
			e.closedN.Add(uint64(pkts.Len() - n))
			e.mu.Unlock()
			return n, &tcpip.ErrClosedForSend{}
		}
		if len(e.q) >= e.limit {
			e.refused.Add(uint64(pkts.Len() - n))
			e.mu.Unlock()
			e.signal()
			if n == 0 {
				return 0, &tcpip.ErrWouldBlock{}
			}
			return n, nil
		}
		e.q = append(e.q, pkt.IncRef())
		n++
	}
	if d := uint64(len(e.q)); d > e.maxDepth.Load() {
		e.maxDepth.Store(d)
	}
	e.mu.Unlock()
	e.queued.Add(uint64(n))
	if n > 0 {
		e.signal()
	}
	return n, nil
}

func (e *linkEP) signal() {
	select {
	case e.notify <- struct{}{}:
	default:
	}
	if e.pumped != nil && e.pumped.Load() {
		select {
		case e.wake <- struct{}{}:
		default:
		}
	}
}

// pull moves up to len(dst) queued packets into dst (the caller owns and
// must DecRef them) and returns how many it moved.
func (e *linkEP) pull(dst []*stack.PacketBuffer) int {
	e.mu.Lock()
	n := copy(dst, e.q)
	rest := copy(e.q, e.q[n:])
	for i := rest; i < len(e.q); i++ {
		e.q[i] = nil
	}
	e.q = e.q[:rest]
	e.mu.Unlock()
	if n > 0 {
		e.sent.Add(uint64(n))
		e.space.Broadcast()
	}
	return n
}

func (e *linkEP) pending() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.q)
}

// inject delivers one inbound packet (an IP packet, or an Ethernet frame
// when the stack wraps us in ethernet.Endpoint) to the stack. It consumes
// the caller's reference.
func (e *linkEP) inject(proto tcpip.NetworkProtocolNumber, pkt *stack.PacketBuffer) {
	if b := e.dispatcher.Load(); b != nil && b.d != nil {
		e.received.Add(1)
		b.d.DeliverNetworkPacket(proto, pkt)
	}
	pkt.DecRef()
}

func (e *linkEP) stats() LinkStats {
	return LinkStats{
		Queued: e.queued.Load(), Sent: e.sent.Load(), Waits: e.waits.Load(),
		Refused: e.refused.Load(), Closed: e.closedN.Load(), Received: e.received.Load(),
		MaxDepth: e.maxDepth.Load(),
	}
}

// Close implements stack.LinkEndpoint: queued packets are released.
func (e *linkEP) Close() {
	e.mu.Lock()
	e.closed = true
	q := e.q
	e.q = nil
	e.mu.Unlock()
	e.space.Broadcast()
	for _, p := range q {
		p.DecRef()
	}
	e.closedN.Add(uint64(len(q)))
}

// MTU implements stack.LinkEndpoint.
func (e *linkEP) MTU() uint32 { return e.mtu }

// SetMTU implements stack.LinkEndpoint.
func (e *linkEP) SetMTU(mtu uint32) { e.mtu = mtu }

// MaxHeaderLength implements stack.LinkEndpoint.
func (e *linkEP) MaxHeaderLength() uint16 { return 0 }

// LinkAddress implements stack.LinkEndpoint.
func (e *linkEP) LinkAddress() tcpip.LinkAddress { return e.linkAddr }

// SetLinkAddress implements stack.LinkEndpoint.
func (e *linkEP) SetLinkAddress(a tcpip.LinkAddress) { e.linkAddr = a }

// Capabilities implements stack.LinkEndpoint.
func (e *linkEP) Capabilities() stack.LinkEndpointCapabilities { return e.caps }

// Attach implements stack.LinkEndpoint.
func (e *linkEP) Attach(d stack.NetworkDispatcher) {
	e.dispatcher.Store(&dispatcherBox{d})
}

// IsAttached implements stack.LinkEndpoint.
func (e *linkEP) IsAttached() bool {
	b := e.dispatcher.Load()
	return b != nil && b.d != nil
}

// Wait implements stack.LinkEndpoint; the endpoint owns no goroutines.
func (e *linkEP) Wait() {}

// ARPHardwareType implements stack.LinkEndpoint.
func (e *linkEP) ARPHardwareType() header.ARPHardwareType { return header.ARPHardwareNone }

// AddHeader implements stack.LinkEndpoint.
func (e *linkEP) AddHeader(*stack.PacketBuffer) {}

// ParseHeader implements stack.LinkEndpoint.
func (e *linkEP) ParseHeader(*stack.PacketBuffer) bool { return true }

// SetOnCloseAction implements stack.LinkEndpoint.
func (e *linkEP) SetOnCloseAction(func()) {}

// GSOMaxSize implements stack.GSOEndpoint.
func (e *linkEP) GSOMaxSize() uint32 { return e.gsoMax }

// SupportedGSO implements stack.GSOEndpoint.
func (e *linkEP) SupportedGSO() stack.SupportedGSO { return e.gso }
