package ccsds

import "spacenet/apid/frame"

// Counter keeps the 14-bit sequence count of each APID (spec section 4):
// the first packet of an APID gets 0, and the count wraps from 16383 to 0.
// The zero value is ready to use. A Counter is not safe for concurrent use:
// the uplink that owns it serialises calls (or guards it with a mutex).
type Counter struct {
	next [frame.NumAPIDs]uint16
}

// Next returns the sequence count for a's next packet and advances a's
// count. Only a's low 11 bits are used, so an out-of-range APID never
// panics (Wrap refuses such frames anyway).
func (c *Counter) Next(a frame.APID) uint16 {
	i := a & frame.MaxAPID
	n := c.next[i]
	c.next[i] = (n + 1) & SeqCountMask
	return n
}

// Peek returns the count a's next packet will get, without advancing it.
func (c *Counter) Peek(a frame.APID) uint16 { return c.next[a&frame.MaxAPID] }
