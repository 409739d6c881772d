package apidswitch

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"spacenet/apid/frame"
)

// NumReasons sizes Counters.Dropped: it is indexed by the frame.ErrorCode
// the refused frame was answered with (index 0 is unused).
const NumReasons = int(frame.MaxErrorCode) + 1

// stats counts what became of the frames one sender (a tenant, or the
// ground) gave the switch. Every frame moves from received into exactly one
// bucket under mu, and a queued frame moves to delivered under mu when it is
// written, so received = delivered + queued + dropped holds whenever mu is
// free.
type stats struct {
	mu              sync.Mutex
	received        uint64
	delivered       uint64 // handed to a tenant's socket (the kernel took it; the guest may not have read it)
	deliveredSystem uint64 // given to the system handler (built-in or Config.System)
	deliveredGround uint64 // given to the ground link (the downlink)
	deliveredRemote uint64 // given to the remote link (Config.Remote)
	queued          uint64 // in a tenant's queue, not yet written
	held            uint64 // read, and being written straight to a destination's socket, or waiting for room in its queue (or for the rate limit)
	dropped         [NumReasons]uint64
	skipped         uint64 // bytes passed over to find a frame header again (Flow.Resync), not frames
	resyncs         uint64 // times the sender's stream was found misaligned
	// sentTo counts, per destination tenant, the frames forwarded to it:
	// written to its socket or put in its queue (the policy's edges).
	sentTo map[*tenant]uint64

	rate bucket // the sender's rate limit, when its policy sets one
}

// notices counts the frames the switch itself made for one tenant: ERROR
// frames, HEALTH replies and event notifications. They are not part of any
// sender's balance.
type notices struct {
	queued    atomic.Uint64 // put in the tenant's queue
	lost      atomic.Uint64 // not queued: the queue was full
	delivered atomic.Uint64 // written to the tenant's connection
}

// Counters is a consistent snapshot of one tenant's (or the ground's)
// counters. As a sender: Received = Delivered + DeliveredSystem +
// DeliveredGround + DeliveredRemote + Queued + Held + the sum of Dropped,
// always.
//
// Delivered means handed to the destination guest's socket: the kernel
// took every byte of the frame. It does not mean the guest read it. A
// guest that closes its connection with frames unread loses them in its
// own kernel buffer, and the switch cannot count them: on a Unix socket,
// SIOCOUTQ gives the memory the peer has not consumed (in buffer sizes,
// not bytes: 1280 for one 256-byte frame on Linux 6.x) and falls to 0 the
// moment the peer closes, before the switch can ask, which
// TestDeliveredMeansHandedToSocket checks.
//
// A tenant removed by a reload keeps its counters (Removed set): frames it
// sent that were still queued for others are delivered and counted there,
// and if a reload brings its name back it carries on from them.
type Counters struct {
	Tenant     string
	Generation uint64 // connections accepted so far; a new one replaces the old
	Connected  bool
	Removed    bool // the tenant is not in the policy in force (a reload removed it)

	Received        uint64             // frames read from this tenant
	Delivered       uint64             // of those, handed to a destination tenant's socket (not: read by the guest)
	DeliveredSystem uint64             // given to the system handler (0x001-0x00F)
	DeliveredGround uint64             // given to the ground link (the downlink)
	DeliveredRemote uint64             // given to the remote link, and not reported undelivered since
	Queued          uint64             // waiting in a destination's queue
	Held            uint64             // read and held by flow control: being written straight to the destination's socket (waiting while it is full), or waiting for room in its queue (or for the rate limit)
	Dropped         [NumReasons]uint64 // refused, by the ERROR code answered

	// A tenant whose policy sets resync (a byte stream that may lose
	// bytes): how many times its stream was found misaligned, and the bytes
	// passed over to find the next header it owns. Skipped bytes are not
	// frames and are not in Received.
	Resyncs      uint64
	SkippedBytes uint64

	// As a recipient: frames the switch made for this tenant.
	NoticesQueued    uint64 // ERROR frames, HEALTH replies and events queued
	NoticesLost      uint64 // not queued because this tenant's queue was full
	NoticesDelivered uint64 // written to its connection
	QueueLen         int    // frames now in this tenant's queue, from every sender
}

// DroppedTotal is the sum of Dropped.
func (c *Counters) DroppedTotal() uint64 {
	var n uint64
	for _, d := range c.Dropped {
		n += d
	}
	return n
}

// Balanced reports whether Received equals delivered + queued + dropped.
func (c *Counters) Balanced() bool {
	return c.Received == c.Delivered+c.DeliveredSystem+c.DeliveredGround+c.DeliveredRemote+c.Queued+c.Held+c.DroppedTotal()
}

func (st *stats) snapshot(c *Counters) {
	st.mu.Lock()
	c.Received = st.received
	c.Delivered = st.delivered
	c.DeliveredSystem = st.deliveredSystem
	c.DeliveredGround = st.deliveredGround
	c.DeliveredRemote = st.deliveredRemote
	c.Queued = st.queued
	c.Held = st.held
	c.Dropped = st.dropped
	c.Resyncs = st.resyncs
	c.SkippedBytes = st.skipped
	st.mu.Unlock()
}

// countTo adds n frames forwarded to dst. st.mu is held.
func (st *stats) countTo(dst *tenant, n int) {
	if n == 0 {
		return
	}
	if st.sentTo == nil {
		st.sentTo = make(map[*tenant]uint64)
	}
	st.sentTo[dst] += uint64(n)
}

func (n *notices) snapshot(c *Counters) {
	c.NoticesQueued = n.queued.Load()
	c.NoticesLost = n.lost.Load()
	c.NoticesDelivered = n.delivered.Load()
}

// credit moves the senders' frames just written from queued to delivered,
// one lock per run of frames from the same sender. nil senders are the
// switch's own frames.
func credit(from []*stats, n *notices) {
	for i := 0; i < len(from); {
		j := i + 1
		for j < len(from) && from[j] == from[i] {
			j++
		}
		if st := from[i]; st == nil {
			n.delivered.Add(uint64(j - i))
		} else {
			st.mu.Lock()
			st.queued -= uint64(j - i)
			st.delivered += uint64(j - i)
			st.mu.Unlock()
		}
		clear(from[i:j])
		i = j
	}
}

// EdgeCount is the traffic on one edge: frames sender From (a tenant, or
// "ground") had forwarded to tenant To, written to its socket or put in
// its queue.
type EdgeCount struct {
	From, To string
	Frames   uint64
}

// Edges returns the frames forwarded from each sender to each tenant so
// far, senders in the order of Counters (the ground last), destinations
// by name; pairs that carried nothing are left out. Frames to the system
// handler and to the ground link are each sender's DeliveredSystem and
// DeliveredGround. Each sender's counts are consistent on their own.
func (s *Switch) Edges() []EdgeCount {
	st := s.state.Load()
	var out []EdgeCount
	add := func(from string, ss *stats) {
		ss.mu.Lock()
		k := len(out)
		for t, n := range ss.sentTo {
			out = append(out, EdgeCount{From: from, To: t.name, Frames: n})
		}
		ss.mu.Unlock()
		slices.SortFunc(out[k:], func(a, b EdgeCount) int { return strings.Compare(a.To, b.To) })
	}
	for _, t := range st.tenants {
		add(t.name, &t.st)
	}
	for _, t := range st.gone {
		add(t.name, &t.st)
	}
	add(GroundPeer, &s.ground)
	return out
}
