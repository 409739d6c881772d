package apidswitch

import (
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
	held            uint64 // read, and waiting for room in a destination's queue (or for the rate limit)
	dropped         [NumReasons]uint64

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
	Held            uint64             // read and held by flow control: the destination's queue is full (or the rate limit waits)
	Dropped         [NumReasons]uint64 // refused, by the ERROR code answered

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
	st.mu.Unlock()
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
