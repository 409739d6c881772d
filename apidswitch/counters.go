package apidswitch

import (
	"sync"
	"sync/atomic"

	"spacenet/frame"
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
	delivered       uint64 // written to a tenant's connection
	deliveredSystem uint64 // given to the system handler (built-in or Config.System)
	deliveredUplink uint64 // given to the uplink as a Space Packet
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
// DeliveredUplink + Queued + Held + the sum of Dropped, always.
type Counters struct {
	Tenant     string
	Generation uint64 // connections accepted so far; a new one replaces the old
	Connected  bool

	Received        uint64             // frames read from this tenant
	Delivered       uint64             // of those, written to a destination tenant's connection
	DeliveredSystem uint64             // given to the system handler (0x001-0x00F)
	DeliveredUplink uint64             // given to the uplink as Space Packets
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
	return c.Received == c.Delivered+c.DeliveredSystem+c.DeliveredUplink+c.Queued+c.Held+c.DroppedTotal()
}

func (st *stats) snapshot(c *Counters) {
	st.mu.Lock()
	c.Received = st.received
	c.Delivered = st.delivered
	c.DeliveredSystem = st.deliveredSystem
	c.DeliveredUplink = st.deliveredUplink
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
