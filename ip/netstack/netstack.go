// Package netstack is a userspace TCP/IP stack (gVisor's tcpip, pinned in
// go.mod) driven by commands over a channel: a caller sends a request
// (bind, send, accept, ...) with a reply channel to the Netstack's loop,
// which alone owns the gVisor endpoints. Commands that cannot finish yet
// (accept with nothing queued, receive with no data, send with no room) are
// parked and retried when gVisor's waiter queues say the socket is ready;
// nothing spins or polls on a timer.
//
// A Netstack is driven by its own goroutines (Run) or pumped by the caller
// (Poll, PollDeviceIO, PollDelay) for deterministic tests. Its one device
// is a Pipe of IP packets or any nic.NIC carrying Ethernet (ARP and NDP by
// gVisor), behind a link endpoint of our own that applies backpressure
// instead of dropping. Conn, Listener and PacketConn put net.Conn,
// net.Listener and net.PacketConn on top, so net/http runs unchanged.
//
// Package netstack is not a router or a switch (see package lan) and does
// not open devices (see package nic).
package netstack

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/raw"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// Config tunes a Netstack. The zero value is usable.
type Config struct {
	// MAC is the interface's Ethernet address (Ethernet medium only); zero
	// means a locally administered address derived from the device name.
	MAC [6]byte
	// QueueLen bounds the link endpoint's outbound queue (default 1024).
	QueueLen int
	// TCPSendBuffer and TCPRecvBuffer set the default TCP buffer sizes;
	// zero keeps gVisor's defaults (1 MiB, with receive auto-tuning).
	TCPSendBuffer, TCPRecvBuffer int
	// Clock is gVisor's clock; nil means the real one. Tests may pass a
	// faketime.ManualClock: PollDelay then says how far to advance it.
	Clock tcpip.Clock
	// CommandQueue is the command channel's capacity (default 256).
	CommandQueue int
	// RACK turns on RACK-TLP loss detection (RFC 8985) in this Netstack's
	// TCP. It is off by default, unlike in gVisor: on the zero-latency
	// links a Netstack mostly sits on (Pipes, the in-process LAN) gVisor's
	// RACK recovers from a burst loss about two segments per RTO, and
	// flows with a near-zero RTT can stall for good (gVisor issue 6113;
	// seen here once under heavy loss). Without it TCP recovers with SACK
	// (RFC 6675) and the RTO. See docs/netstack.md.
	RACK bool
}

// nicID is the only NIC of a Netstack.
const nicID tcpip.NICID = 1

// Netstack owns one gVisor stack, one device, and the loop that processes
// commands. Its methods are safe for concurrent use.
type Netstack struct {
	cfg   Config
	clock *timerClock // cfg.Clock with its timers tracked for PollDelay; nil without one
	st    *stack.Stack
	ep    *linkEP
	dev   Device

	cmds     chan *request
	wake     chan struct{} // loop wake-up: parked sockets became ready
	done     chan struct{} // closed by Close
	finished chan struct{} // closed once no request will be answered any more
	pumped   atomic.Bool   // a caller pumps (no Run): client sends wake the caller

	readyMu sync.Mutex
	ready   []*sock
	spare   []*sock

	// Loop-owned state.
	socks     map[Handle]*sock
	next      Handle
	subnets   []tcpip.Route
	gateway   []tcpip.Route
	cancelled atomic.Int32 // callers abandoned parked commands: prune

	runOnce   sync.Once
	closeOnce sync.Once
	wg        sync.WaitGroup
	loopWG    sync.WaitGroup

	stats counters
}

type counters struct {
	commands, parked, retries, failed, dropped, deviceClosed atomic.Uint64
}

// Stats is a snapshot of a Netstack's counters.
type Stats struct {
	Commands uint64 // commands processed
	Parked   uint64 // times a command waited for its socket
	Retries  uint64 // parked commands retried after a readiness event
	Failed   uint64 // commands answered with an error
	Dropped  uint64 // inbound packets dropped as not IPv4/IPv6 (IP medium)
	// DeviceClosed counts outbound packets lost because the device was
	// closed under them.
	DeviceClosed uint64
	Sockets      int // open sockets (only exact between commands)
	Link         LinkStats
}

// New makes a Netstack on dev. It does nothing until Run is called or it
// is pumped (Poll, PollDeviceIO).
func New(cfg Config, dev Device) (*Netstack, error) {
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 1024
	}
	if cfg.CommandQueue <= 0 {
		cfg.CommandQueue = 256
	}
	ns := &Netstack{
		cfg:      cfg,
		dev:      dev,
		cmds:     make(chan *request, cfg.CommandQueue),
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		finished: make(chan struct{}),
		socks:    make(map[Handle]*sock),
	}
	var clock tcpip.Clock // nil: gVisor's real clock
	if cfg.Clock != nil {
		// Only a caller's clock is tracked: with the real one timers
		// fire by themselves, and tracking would cost every timer reset.
		ns.clock = newTimerClock(cfg.Clock)
		clock = ns.clock
	}
	ns.st = stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6},
		RawFactory:         raw.EndpointFactory{},
		HandleLocal:        true,
		Clock:              clock,
	})
	sack := tcpip.TCPSACKEnabled(true)
	ns.st.SetTransportProtocolOption(tcp.ProtocolNumber, &sack)
	if !cfg.RACK {
		rec := tcpip.TCPRecovery(0)
		ns.st.SetTransportProtocolOption(tcp.ProtocolNumber, &rec)
	}
	if cfg.TCPSendBuffer > 0 {
		o := tcpip.TCPSendBufferSizeRangeOption{Min: 4096, Default: cfg.TCPSendBuffer, Max: max(cfg.TCPSendBuffer, 4<<20)}
		ns.st.SetTransportProtocolOption(tcp.ProtocolNumber, &o)
	}
	if cfg.TCPRecvBuffer > 0 {
		o := tcpip.TCPReceiveBufferSizeRangeOption{Min: 4096, Default: cfg.TCPRecvBuffer, Max: max(cfg.TCPRecvBuffer, 4<<20)}
		ns.st.SetTransportProtocolOption(tcp.ProtocolNumber, &o)
	}

	var caps stack.LinkEndpointCapabilities
	if dev.checksumOffload() {
		caps |= stack.CapabilityRXChecksumOffload | stack.CapabilityTXChecksumOffload
	}
	mtu := uint32(dev.MTU())
	gso := false
	if p, ok := dev.(*PipeEnd); ok && p.gso {
		gso = true
	}
	var link stack.LinkEndpoint
	switch dev.Medium() {
	case MediumIP:
		ns.ep = newLinkEP(mtu, cfg.QueueLen, caps, gso, "")
		link = ns.ep
	case MediumEthernet:
		mac := cfg.MAC
		if mac == ([6]byte{}) {
			mac = [6]byte{0x02, 0x73, 0x6e, byte(time.Now().UnixNano() >> 16), byte(time.Now().UnixNano() >> 8), byte(nextMAC.Add(1))}
		}
		ns.ep = newLinkEP(mtu+14, cfg.QueueLen, caps, false, tcpip.LinkAddress(mac[:]))
		link = ethernet.New(ns.ep)
	default:
		return nil, fmt.Errorf("netstack: device medium %d: %w", dev.Medium(), ErrBadRequest)
	}
	ns.ep.wake = ns.wake
	ns.ep.pumped = &ns.pumped
	if err := ns.st.CreateNICWithOptions(nicID, link, stack.NICOptions{Name: "sn0"}); err != nil {
		ns.st.Destroy()
		return nil, fmt.Errorf("netstack: create NIC: %s: %w", err, ErrInternal)
	}
	return ns, nil
}

var nextMAC atomic.Uint32

// Stack returns the gVisor stack, for inspection (statistics, options).
// Endpoints must only be created through commands.
func (ns *Netstack) Stack() *stack.Stack { return ns.st }

// LinkAddress returns the interface's MAC (Ethernet medium) or "".
func (ns *Netstack) LinkAddress() tcpip.LinkAddress { return ns.ep.linkAddr }

// Stats returns the counters.
func (ns *Netstack) Stats() Stats {
	return Stats{
		Commands: ns.stats.commands.Load(), Parked: ns.stats.parked.Load(),
		Retries: ns.stats.retries.Load(), Failed: ns.stats.failed.Load(),
		Dropped: ns.stats.dropped.Load(), DeviceClosed: ns.stats.deviceClosed.Load(),
		Link: ns.ep.stats(),
	}
}

// Run drives the Netstack with its own goroutines: the command loop runs
// in the caller's goroutine, and two more move packets to and from the
// device. Run returns after Close. Use either Run or the Poll methods.
func (ns *Netstack) Run() {
	started := false
	ns.runOnce.Do(func() { started = true })
	if !started {
		return
	}
	select {
	case <-ns.done:
		return
	default:
	}
	ns.loopWG.Add(1)
	defer ns.loopWG.Done()
	ns.ep.setBlocking(true)
	if _, ok := ns.dev.(*PipeEnd); ok {
		send := ns.sendCounted
		ns.ep.direct.Store(&send)
	}
	// NICs keep the queue and the egress goroutine: batches of up to 64
	// frames per NIC.Send beat direct sends on the LAN switch (measured
	// 3.0 vs 2.35 Gbit/s at MTU 1500, equal at 65000).
	ns.wg.Add(2)
	go ns.egress()
	go ns.ingress()
	ns.loop()
}

// Start runs the Netstack in the background (go Run()).
func (ns *Netstack) Start() {
	ns.loopWG.Add(1)
	go func() {
		defer ns.loopWG.Done()
		ns.Run()
	}()
}

const batchLen = 64

func (ns *Netstack) egress() {
	defer ns.wg.Done()
	batch := make([]*stack.PacketBuffer, batchLen)
	for {
		n := ns.ep.pull(batch)
		if n == 0 {
			select {
			case <-ns.ep.notify:
				continue
			case <-ns.done:
				return
			}
		}
		err := ns.sendCounted(batch[:n])
		for i := 0; i < n; i++ {
			batch[i].DecRef()
			batch[i] = nil
		}
		if err != nil {
			return
		}
	}
}

// sendCounted sends pkts to the device and counts those it could not take.
func (ns *Netstack) sendCounted(pkts []*stack.PacketBuffer) error {
	sent, err := ns.dev.send(pkts)
	if lost := len(pkts) - sent; lost > 0 {
		ns.stats.deviceClosed.Add(uint64(lost))
	}
	return err
}

func (ns *Netstack) ingress() {
	defer ns.wg.Done()
	batch := make([]*stack.PacketBuffer, batchLen)
	for {
		n, err := ns.dev.recv(batch, true)
		ns.deliver(batch[:n])
		if err != nil {
			return
		}
	}
}

func (ns *Netstack) deliver(pkts []*stack.PacketBuffer) {
	for i, pkt := range pkts {
		pkts[i] = nil
		if ns.dev.Medium() == MediumEthernet {
			ns.ep.inject(0, pkt)
			continue
		}
		proto, ok := ipProto(pkt)
		if !ok {
			ns.stats.dropped.Add(1)
			pkt.DecRef()
			continue
		}
		ns.ep.inject(proto, pkt)
	}
}

// PollDeviceIO moves packets between the stack and the device, alternating
// ingress and egress until a round moves nothing, and reports whether it
// moved any. On a Pipe it never blocks: it sends only what the pipe has
// room for and leaves the rest queued. For pumped mode; do not mix with
// Run.
func (ns *Netstack) PollDeviceIO() bool {
	ns.pumped.Store(true)
	var batch [batchLen]*stack.PacketBuffer
	moved := false
	for {
		n, _ := ns.dev.recv(batch[:], false)
		ns.deliver(batch[:n])
		room := len(batch)
		if p, ok := ns.dev.(*PipeEnd); ok && !p.Unbounded() {
			// Never block the pumping goroutine on a full pipe: the peer
			// may be pumped by this very goroutine. (An unbounded pipe
			// never blocks.)
			room = min(room, cap(p.tx)-len(p.tx))
		}
		m := ns.ep.pull(batch[:room])
		if m > 0 {
			ns.sendCounted(batch[:m])
			for i := 0; i < m; i++ {
				batch[i].DecRef()
				batch[i] = nil
			}
		}
		if n == 0 && m == 0 {
			return moved
		}
		moved = true
	}
}

// Poll processes every queued command and every parked command whose
// socket became ready, without blocking, and reports whether it did
// anything. For pumped mode; do not mix with Run.
func (ns *Netstack) Poll() bool {
	ns.pumped.Store(true)
	did := false
	for {
		select {
		case req := <-ns.cmds:
			ns.handle(req)
			did = true
			continue
		default:
		}
		if !ns.runReady() {
			return did
		}
		did = true
	}
}

// Queued is one command taken off a pumped Netstack's channel by
// WaitCommand and not yet processed. Give it to ProcessCommand exactly once:
// its caller waits until then.
type Queued struct{ r *request }

// Op names the command ("udp-bind", "tcp-recv", ...); "" for the zero
// Queued.
func (q Queued) Op() string {
	if q.r == nil {
		return ""
	}
	return q.r.op.String()
}

// WaitCommand takes the next queued command, waiting for one at most
// timeout (0: do not wait; negative: no limit), as the seed's
// wait_for_cmd_blocking does. It returns os.ErrDeadlineExceeded when the
// time is up, an error wrapping ErrClosed once the Netstack is closed (also
// when Close comes while it waits). With ProcessCommand it is for callers
// that interleave commands with their own work (PollDeviceIO, timers); Poll
// takes every queued command at once. For pumped mode; do not mix with Run.
func (ns *Netstack) WaitCommand(timeout time.Duration) (Queued, error) {
	ns.pumped.Store(true)
	select {
	case <-ns.done:
		return Queued{}, &Error{Kind: ErrInternal, Op: "wait-command", Err: ErrClosed}
	case r := <-ns.cmds:
		return Queued{r}, nil
	default:
	}
	if timeout == 0 {
		return Queued{}, os.ErrDeadlineExceeded
	}
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case r := <-ns.cmds:
		return Queued{r}, nil
	case <-ns.done:
		return Queued{}, &Error{Kind: ErrInternal, Op: "wait-command", Err: ErrClosed}
	case <-expired:
		return Queued{}, os.ErrDeadlineExceeded
	}
}

// ProcessCommand processes q, one command taken by WaitCommand, as the
// seed's process_one_cmd does: it is answered, or parked on its socket if
// it must wait (a Recv with no data yet). It then retries the parked
// commands whose sockets became ready, as Poll does, so that parked
// commands progress with the new ones. After Close, q fails with
// ErrClosed. Like Poll, it must not run concurrently with Poll, another
// ProcessCommand or Close. The zero Queued does nothing.
func (ns *Netstack) ProcessCommand(q Queued) {
	if q.r == nil {
		return
	}
	select {
	case <-ns.done:
		ns.refuse(q.r)
		return
	default:
	}
	ns.handle(q.r)
	for ns.runReady() {
	}
}

// PollDelay says when a pumped Netstack needs Poll/PollDeviceIO again: 0
// when commands, ready sockets or outbound packets are waiting. Otherwise,
// with Config.Clock set (a faketime.ManualClock in deterministic tests),
// it is the time until gVisor's next timer is due (a retransmission, a
// delayed ACK, a neighbour probe; it may find nothing to do): advancing
// the clock by PollDelay fires exactly that timer. It is -1 when no timer
// is armed, and always with the real clock, whose timers fire by
// themselves: the work they make signals Wake.
func (ns *Netstack) PollDelay() time.Duration {
	ns.readyMu.Lock()
	r := len(ns.ready)
	ns.readyMu.Unlock()
	if len(ns.cmds) > 0 || r > 0 || ns.ep.pending() > 0 {
		return 0
	}
	if p, ok := ns.dev.(*PipeEnd); ok && len(p.rx) > 0 {
		return 0
	}
	if ns.clock != nil {
		if d, ok := ns.clock.next(); ok {
			return d
		}
	}
	return -1
}

// Wake returns a channel that receives a token when a pumped Netstack has
// new work: a command, a ready socket, an outbound packet.
func (ns *Netstack) Wake() <-chan struct{} {
	ns.pumped.Store(true)
	return ns.wake
}

func (ns *Netstack) signal() {
	select {
	case ns.wake <- struct{}{}:
	default:
	}
}

// Close stops the Netstack: parked and queued commands fail with
// ErrClosed, every socket is aborted, gVisor's goroutines are waited for,
// the device is closed, and every packet buffer is released.
func (ns *Netstack) Close() error {
	var err error
	ns.closeOnce.Do(func() {
		close(ns.done)
		ns.ep.direct.Store(nil)
		ns.ep.setBlocking(false)
		err = ns.dev.close()
		ns.loopWG.Wait()
		ns.wg.Wait()
		if d, ok := ns.dev.(*nicDevice); ok {
			d.releaseViews() // the receivers have stopped
		}
		ns.shutdown()
		ns.st.Close()
		ns.st.Wait()
		ns.ep.Close()
	})
	return err
}

func (ns *Netstack) loop() {
	for {
		select {
		case req := <-ns.cmds:
			ns.handle(req)
		case <-ns.wake:
			for ns.runReady() {
			}
		case <-ns.done:
			return
		}
	}
}

// addrFrom converts a netip.Addr to gVisor's form.
func addrFrom(a netip.Addr) tcpip.Address {
	if !a.IsValid() {
		return tcpip.Address{}
	}
	a = a.Unmap()
	if a.Is4() {
		return tcpip.AddrFrom4(a.As4())
	}
	return tcpip.AddrFrom16(a.As16())
}

func addrTo(a tcpip.Address) netip.Addr {
	switch a.Len() {
	case 4:
		return netip.AddrFrom4(a.As4())
	case 16:
		return netip.AddrFrom16(a.As16())
	}
	return netip.Addr{}
}

func fullTo(f tcpip.FullAddress) netip.AddrPort { return netip.AddrPortFrom(addrTo(f.Addr), f.Port) }

func netProto(a netip.Addr) tcpip.NetworkProtocolNumber {
	if a.IsValid() && !a.Unmap().Is4() {
		return ipv6.ProtocolNumber
	}
	return ipv4.ProtocolNumber
}

// parkedNow counts parked commands (asked of the loop).
func (ns *Netstack) parkedNow() int {
	r := getReq(opInspect)
	if gone, err := ns.do(context.Background(), r); gone || err != nil {
		return -1
	}
	n := r.rn
	putReq(r)
	return n
}
