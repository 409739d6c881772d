package netstack

import (
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// timerClock is the stack's clock with its pending timers tracked, so
// that a pumped Netstack can say when gVisor next needs to run
// (PollDelay): with a faketime.ManualClock, advancing by PollDelay fires
// exactly the next timer. The timers still run by themselves; tracking
// only observes them.
type timerClock struct {
	tcpip.Clock
	mu      sync.Mutex
	pending map[*trackedTimer]tcpip.MonotonicTime // armed timers and when they are due
}

func newTimerClock(c tcpip.Clock) *timerClock {
	return &timerClock{Clock: c, pending: make(map[*trackedTimer]tcpip.MonotonicTime)}
}

// AfterFunc implements tcpip.Clock.
func (c *timerClock) AfterFunc(d time.Duration, f func()) tcpip.Timer {
	t := &trackedTimer{c: c, fn: f}
	c.arm(t, d)
	t.mu.Lock()
	t.t = c.Clock.AfterFunc(d, t.fire)
	t.mu.Unlock()
	return t
}

func (c *timerClock) arm(t *trackedTimer, d time.Duration) {
	c.mu.Lock()
	c.pending[t] = c.NowMonotonic().Add(d)
	c.mu.Unlock()
}

func (c *timerClock) disarm(t *trackedTimer) {
	c.mu.Lock()
	delete(c.pending, t)
	c.mu.Unlock()
}

// next returns how long until the earliest armed timer is due (0 if one
// is overdue), and false if none is armed.
func (c *timerClock) next() (time.Duration, bool) {
	now := c.NowMonotonic()
	c.mu.Lock()
	defer c.mu.Unlock()
	var first tcpip.MonotonicTime
	found := false
	for _, due := range c.pending {
		if !found || due.Before(first) {
			first, found = due, true
		}
	}
	if !found {
		return 0, false
	}
	return max(0, first.Sub(now)), true
}

// trackedTimer is a timer of the underlying clock, tracked while armed.
type trackedTimer struct {
	c  *timerClock
	fn func()
	mu sync.Mutex // guards t while AfterFunc sets it
	t  tcpip.Timer
}

func (t *trackedTimer) timer() tcpip.Timer {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.t
}

func (t *trackedTimer) fire() {
	t.c.disarm(t)
	t.fn()
}

// Stop implements tcpip.Timer.
func (t *trackedTimer) Stop() bool {
	t.c.disarm(t)
	return t.timer().Stop()
}

// Reset implements tcpip.Timer.
func (t *trackedTimer) Reset(d time.Duration) {
	t.c.arm(t, d)
	t.timer().Reset(d)
}
