package lan

import "fmt"

// Storm control defaults: every port may flood this many broadcast,
// multicast and unknown-unicast frames per second, each class in its own
// bucket of DefaultStormBurst frames.
const (
	DefaultStormRate  = 1000
	DefaultStormBurst = 100
	maxStormBurst     = 1 << 20
)

// StormControl limits the frames a port may send that the switch floods,
// per class, with token buckets: a class may send Burst frames at once and
// its rate per second on average; the excess is dropped and counted
// (ReasonStormBroadcast, ReasonStormMulticast, ReasonStormUnknown). Frames
// the switch delivers to one port (known unicast) are not limited. In
// flood-only mode unicast frames are not limited either (none is
// "unknown"). A field left 0 takes the switch's default (Options.Storm,
// whose zero fields mean DefaultStormRate and DefaultStormBurst); a
// negative rate means no limit.
type StormControl struct {
	Broadcast      int // frames per second to ff:ff:ff:ff:ff:ff
	Multicast      int // frames per second to other group addresses
	UnknownUnicast int // frames per second to unicast MACs not in the table
	Burst          int // bucket size of each class, in frames
}

// withDefaults fills c's zero fields from def.
func (c StormControl) withDefaults(def StormControl) StormControl {
	for _, f := range []struct {
		v *int
		d int
	}{
		{&c.Broadcast, def.Broadcast}, {&c.Multicast, def.Multicast},
		{&c.UnknownUnicast, def.UnknownUnicast}, {&c.Burst, def.Burst},
	} {
		if *f.v == 0 {
			*f.v = f.d
		}
	}
	return c
}

// check returns an error naming the first field out of range.
func (c StormControl) check() error {
	if c.Burst < 0 || c.Burst > maxStormBurst {
		return fmt.Errorf("storm burst %d not in [0, %d]", c.Burst, maxStormBurst)
	}
	return nil
}

// stormClass is a StormControl bucket.
type stormClass uint8

const (
	stormBroadcast stormClass = iota
	stormMulticast
	stormUnknown
	numStormClasses
)

var stormReasons = [numStormClasses]Reason{ReasonStormBroadcast, ReasonStormMulticast, ReasonStormUnknown}

// bucket is a token bucket on the Clock's nanoseconds. A frame costs
// 1e9 units; each nanosecond adds rate units, up to burst frames. It is
// ingress scratch: used by one goroutine at a time.
type bucket struct {
	rate   int64 // frames per second; <= 0: no limit
	max    int64 // burst * 1e9
	tokens int64
	last   int64
}

func newBucket(rate, burst int) bucket {
	b := bucket{rate: int64(rate), max: int64(burst) * 1e9}
	b.tokens = b.max
	return b
}

// take reports whether a frame may pass at now, taking its token.
func (b *bucket) take(now int64) bool {
	if b.rate <= 0 {
		return true
	}
	if d := now - b.last; d > 0 {
		if d >= b.max/b.rate {
			b.tokens = b.max
		} else {
			b.tokens = min(b.max, b.tokens+d*b.rate) // d*rate < max: no overflow
		}
	}
	b.last = now
	if b.tokens < 1e9 {
		return false
	}
	b.tokens -= 1e9
	return true
}
