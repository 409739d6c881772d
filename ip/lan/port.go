package lan

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"spacenet/ip/nic"
	"spacenet/ip/wire"
)

// PortConfig describes a port.
type PortConfig struct {
	// Name identifies the port in counters and logs; unique per switch.
	Name string
	// Tenant is the tenant the port belongs to ([a-z0-9][a-z0-9_-]{0,31}).
	Tenant string
	// MTU, if positive, is the port's MTU: frames longer than MTU+14 are
	// dropped and counted, in and out. It may not exceed the NIC's MTU.
	// Zero means the NIC's MTU (nic.DefaultMTU for AttachPipe).
	MTU int
	// LockMAC locks the port to MAC: frames from any other source MAC (or
	// with another ARP sender or NDP link-layer address) are refused.
	LockMAC bool
	MAC     wire.MAC
	// IPs, if not empty, locks the port to these source addresses (IPv4
	// source, ARP sender, IPv6 source, NDP advertisement target). List the
	// IPv6 link-local address too if the guest uses IPv6.
	IPs []netip.Addr
	// QueueDepth is the number of frames the port's outbound queue holds;
	// zero means the switch's default.
	QueueDepth int

	// NoSticky turns sticky MAC off. By default a port is sticky, as port
	// security on real switches: the first source MAC the port sends is
	// locked to it (it never ages); frames from the port with another
	// source MAC are dropped (ReasonSpoofedMAC), and frames from another
	// port with that MAC too (ReasonMACTaken). Turn it off for a port with
	// several hosts behind it (a bridge, a real network); the port then
	// learns up to MACLimit addresses, which may move between ports. A
	// port with LockMAC is locked to MAC from the start.
	NoSticky bool
	// MACLimit bounds the source MACs a port without sticky MAC may have
	// in the table; a frame from a further one is dropped
	// (ReasonMACLimit) and its MAC not learnt. Zero means the switch's
	// default (Options.MACLimit), negative means no limit.
	MACLimit int
	// Storm limits the frames from this port that the switch floods (see
	// StormControl); zero fields take the switch's defaults.
	Storm StormControl
	// WhenFull says what happens to a frame for this port when its queue
	// is full: WhenFullDrop (the default) drops it at once
	// (ReasonQueueFull); WhenFullWait holds its sender for up to Hold,
	// then drops it (ReasonHoldExpired).
	WhenFull WhenFull
	// Hold bounds a wait (WhenFullWait); zero means DefaultHold.
	Hold time.Duration
	// Flush is how long Detach (and Close) lets the port send what it has
	// queued before the rest is discarded (ReasonDown): its writer sends
	// it, or for an in-process port Recv hands it out. Zero discards at
	// once.
	Flush time.Duration
}

// WhenFull is a port's choice when its queue is full.
type WhenFull uint8

const (
	// WhenFullDrop drops the frame at once (ReasonQueueFull): freshest
	// data wins, and no sender ever waits for this port.
	WhenFullDrop WhenFull = iota
	// WhenFullWait holds the sender until the queue has room, for up to
	// the port's hold time; then the frame is dropped (ReasonHoldExpired)
	// and, until the port's consumer takes a frame, later frames for it
	// are dropped at once: a dead receiver costs its senders one hold,
	// not one per frame.
	WhenFullWait
)

// DefaultHold is how long a sender waits for a full port that waits when
// full (the APID plane's default).
const DefaultHold = 100 * time.Millisecond

// String returns "drop" or "wait".
func (w WhenFull) String() string {
	if w == WhenFullWait {
		return "wait"
	}
	return "drop"
}

// Direction says which way a frame crosses a port.
type Direction uint8

const (
	// In: from the port's NIC into the switch.
	In Direction = iota
	// Out: from the switch out of the port's NIC.
	Out
)

// String returns "in" or "out".
func (d Direction) String() string {
	if d == In {
		return "in"
	}
	return "out"
}

// Monitor sees frames crossing ports: every frame received (In, before
// any check, so refused frames too) and every frame handed to a port's NIC
// (Out). It is called from the ports' goroutines, concurrently, and must
// not keep frame after it returns.
type Monitor func(port string, dir Direction, frame []byte)

// port is one switch port.
type port struct {
	sw         *Switch
	name       string
	tenant     string
	tid        int // index of tenant in the switch's tenant table
	mtu        int
	size       int // mtu + nic.HeaderLen: a queue slot
	g          guard
	out        egress // the port's kind: how frames leave it
	q          *queue
	depth      int // queue depth (frames)
	closing    atomic.Bool
	failed     atomic.Bool
	txLogged   atomic.Bool // a send error was logged
	wg         sync.WaitGroup
	writerDone chan struct{} // closed when the writer returns (ports with a NIC)
	wait       bool          // WhenFullWait
	hold       time.Duration // for wait
	flush      time.Duration // PortConfig.Flush
	sticky     bool          // sticky MAC (not with LockMAC)
	macLimit   int           // <= 0: none

	// Guarded by the MAC table's lock (written with its write lock).
	macs      int  // dynamic entries behind this port
	stuck     bool // sticky: stickyMAC is locked to the port
	stickyMAC wire.MAC

	// Ingress scratch: used by one goroutine at a time (the reader, or
	// the caller of an in-process NIC's Send).
	frames  [][]byte
	hdrs    [][]byte // virtio-net headers of frames (pass-through ports)
	pending []wire.MAC
	seg     nic.Segmenter // cuts super-frames for ports without pass-through
	segBuf  []byte        // one segment (pass-through ports; nic.MaxSuperFrame)
	head    []byte        // the start of a frame held by reference (by-reference ports; refHeadLen)
	whole   []byte        // a whole frame held by reference (by-reference ports with a Monitor or port security; size)
	storm   [numStormClasses]bucket
	// tentative is the source MAC a sticky port not yet stuck sent in
	// the current batch (hasTentative): the only one learn may lock.
	tentative    wire.MAC
	hasTentative bool
	limitHit     bool        // a frame of the batch hit the MAC limit
	holdTimer    *time.Timer // times this port's waits for full ports (made on first use)

	st portCounters
}

type portCounters struct {
	rxFrames, rxBytes, txFrames, txBytes atomic.Uint64
	held                                 atomic.Uint64
	rxDrops, txDrops                     [NumReasons]atomic.Uint64
}

// PortStats is a snapshot of a port's counters. Every frame the port
// received is forwarded or counted in RxDrops; every frame the switch
// forwarded to it is sent (TxFrames) or counted in TxDrops.
type PortStats struct {
	Name, Tenant string
	NIC          string // the NIC's name; "mem" for in-process ports, "ref" for by-reference ones
	MTU          int
	Failed       bool // the NIC failed and the port stopped
	Queued       int  // frames waiting in the outbound queue

	RxFrames, RxBytes uint64 // received from the NIC (before checks)
	TxFrames, TxBytes uint64 // handed to the NIC and accepted
	RxDrops           [NumReasons]uint64
	TxDrops           [NumReasons]uint64
	// Held counts frames for this port whose sender waited for room
	// (WhenFullWait), sent in the end or dropped (ReasonHoldExpired).
	Held uint64

	// NICStats are the counters of the NIC behind the port (behind its
	// fault injectors), if it reports any: what it refused before the
	// switch saw a frame, or after it handed one over (TxNoPeer).
	NICStats    nic.Stats
	HasNICStats bool
}

// Forwarded returns how many received frames were not dropped at ingress.
func (s PortStats) Forwarded() uint64 {
	n := s.RxFrames
	for _, d := range s.RxDrops {
		n -= d
	}
	return n
}

func (p *port) stats() PortStats {
	s := PortStats{
		Name: p.name, Tenant: p.tenant, NIC: p.out.name(), MTU: p.mtu,
		Failed:   p.failed.Load(),
		RxFrames: p.st.rxFrames.Load(), RxBytes: p.st.rxBytes.Load(),
	}
	if n := p.out.device(); n != nil {
		if u, ok := n.(interface{ Inner() nic.NIC }); ok {
			n = u.Inner()
		}
		if r, ok := n.(nic.StatsReporter); ok {
			s.NICStats, s.HasNICStats = r.Stats(), true
		}
	}
	// Queued and the Tx counters are read under the queue's lock, under
	// which an in-process port's Recv moves frames from one to the other.
	p.q.mu.Lock()
	s.Queued = p.q.n
	s.TxFrames, s.TxBytes = p.st.txFrames.Load(), p.st.txBytes.Load()
	s.Held = p.st.held.Load()
	for r := range NumReasons {
		s.TxDrops[r] = p.st.txDrops[r].Load()
	}
	p.q.mu.Unlock()
	for r := range NumReasons {
		s.RxDrops[r] = p.st.rxDrops[r].Load()
	}
	return s
}

// deliver queues f, received on in, for sending out of p, or counts why
// not (a frame longer than p's MTU: ReasonMTU). A pass-through port
// (vnetEgress) takes any frame whole, with its virtio-net header; a port
// of another kind takes ordinary frames, so a frame with work left in its
// virtio-net header is cut into segments (or its checksum completed)
// first. The queue copies the frame, or takes another reference to it
// (see queue.add).
func (p *port) deliver(in *port, f *frame) {
	if f.wireLen > p.size {
		p.st.txDrops[ReasonMTU].Add(1)
		return
	}
	if _, whole := p.out.(*vnetEgress); !whole && f.offload() {
		in.segment(p, f)
		return
	}
	p.enqueue(in, f)
}

// enqueue queues f on p (see queue.add) or counts why not. If p waits
// when full, the sender (in's ingress) waits for room for up to p's hold
// time, with the MAC table's read lock, which its caller holds, released
// meanwhile.
func (p *port) enqueue(in *port, f *frame) {
	r := p.q.add(f)
	if r == ReasonQueueFull && p.wait {
		r = p.holdFor(in, f)
	}
	if r != NumReasons {
		p.st.txDrops[r].Add(1)
	}
}

// holdFor waits for room in p's queue (see queue.addHeld) on in's timer.
func (p *port) holdFor(in *port, f *frame) Reason {
	if in.holdTimer == nil {
		in.holdTimer = time.NewTimer(p.hold)
	} else {
		in.holdTimer.Reset(p.hold)
	}
	mu := &p.sw.macs.mu
	mu.RUnlock()
	r := p.q.addHeld(f, in.holdTimer.C, &p.st.held)
	in.holdTimer.Stop()
	mu.RLock()
	return r
}

// segment cuts f (a GSO super-frame, or a frame whose checksum is left to
// complete) into ordinary frames and queues them on p, which cannot take
// f whole. in is the port f came from (its scratch is used).
func (in *port) segment(p *port, f *frame) {
	if !in.seg.Start(f.vnet, f.bytes) {
		p.st.txDrops[ReasonBadGSO].Add(1)
		return
	}
	for {
		n, ok := in.seg.Next(in.segBuf)
		if !ok {
			return
		}
		if n < 0 || n > p.size {
			p.st.txDrops[ReasonMTU].Add(1)
			continue
		}
		cut := plain(in.segBuf[:n])
		p.enqueue(in, &cut)
	}
}

// logTxError logs the first send error of the port.
func (p *port) logTxError(err error) {
	if !p.txLogged.Swap(true) {
		p.sw.log.Warn("lan: port send error (logged once per port)", "port", p.name, "err", err)
	}
}
