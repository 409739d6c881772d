// Package fault wraps any nic.NIC in fault injectors, for tests and for
// users testing their software against a bad link: loss, duplication,
// reordering, delay, bit corruption, outage windows and an MTU clamp (the
// injectors mirage-tcpip's tests wrap around mirage-vnetif).
//
// Faults apply to the frames passed to Send; Recv is passed through. To
// fault both directions of a conversation, wrap both NICs (or, on a
// lan.Switch, the NICs of both ports). Decisions come from a PCG generator
// seeded by the caller (math/rand/v2), drawn in a fixed order, so a run is
// reproducible and tests can predict every count: for each frame that is
// not in an outage window and not over the clamp, one Float64 for Loss (if
// set), then for Corrupt (if set, plus IntN(len*8) for the bit when it
// fires), then for Duplicate, then for Reorder. Every frame is counted in
// Stats under what happened to it.
//
// Package fault does not model bandwidth or queueing, and does not fault
// the Recv direction.
package fault

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"spacenet/ip/nic"
)

// Window is an outage: frames sent between Start and Start+Len after Wrap
// (or after the last RestartWindows) are dropped.
type Window struct {
	Start, Len time.Duration
}

// Config says which faults to inject. Probabilities are in [0, 1].
type Config struct {
	Loss      float64 // a frame is dropped
	Corrupt   float64 // one random bit of a frame is flipped
	Duplicate float64 // a frame is sent twice
	Reorder   float64 // a frame is held back and sent after the next one
	// Delay holds every frame this long before it reaches the NIC (order
	// kept). Delayed frames are copied into a line of DelayQueue frames;
	// Send blocks while it is full.
	Delay      time.Duration
	DelayQueue int // 0 means 1024
	// Outages drop every frame sent inside a window.
	Outages []Window
	// MTU, if positive, drops frames longer than MTU+14 (a path MTU
	// clamp: the NIC still reports its own MTU, as a black hole would).
	MTU int
}

// Validate checks the probabilities, durations and MTU.
func (c Config) Validate() error {
	for _, p := range []struct {
		name string
		v    float64
	}{{"loss", c.Loss}, {"corrupt", c.Corrupt}, {"duplicate", c.Duplicate}, {"reorder", c.Reorder}} {
		if !(p.v >= 0 && p.v <= 1) {
			return fmt.Errorf("fault: %s %v not in [0, 1]", p.name, p.v)
		}
	}
	if c.Delay < 0 || c.DelayQueue < 0 || c.MTU < 0 {
		return fmt.Errorf("fault: negative delay %v, delay queue %d or MTU %d", c.Delay, c.DelayQueue, c.MTU)
	}
	for _, w := range c.Outages {
		if w.Start < 0 || w.Len <= 0 {
			return fmt.Errorf("fault: outage window start %v length %v: want start >= 0, length > 0", w.Start, w.Len)
		}
	}
	return nil
}

// Stats counts what the injectors did. Sent = Lost + Outage + MTU +
// Delivered - Duplicated - (frames still held: Held).
type Stats struct {
	Sent       uint64 // frames passed to Send
	Delivered  uint64 // frames the wrapped NIC accepted (duplicates included)
	Lost       uint64 // dropped by Loss
	Outage     uint64 // dropped inside an outage window
	MTU        uint64 // dropped by the MTU clamp
	Corrupted  uint64 // had a bit flipped
	Duplicated uint64 // sent a second time
	Reordered  uint64 // held back behind the next frame
	Delayed    uint64 // went through the delay line
	Held       uint64 // held back now (0 or 1), awaiting the next frame or Flush
	Errors     uint64 // refused by the wrapped NIC
}

// NIC is a nic.NIC with fault injectors on its Send path.
type NIC struct {
	inner   nic.NIC
	cfg     Config
	mu      sync.Mutex // serialises Send and Flush; guards start
	start   time.Time  // what outage windows count from
	rng     *rand.Rand
	size    int
	out     [][]byte // frames to send this call
	scratch [][]byte // copies of corrupted frames, one per out slot
	held    []byte   // the reordered frame, if holding
	holding bool

	// Delay line.
	line   chan int // indices of busy slots, in order
	free   chan int
	slots  [][]byte
	due    []time.Time
	done   chan struct{}
	wg     sync.WaitGroup
	closed atomic.Bool

	sent, delivered, lost, outage, mtu                     atomic.Uint64
	corrupted, duplicated, reordered, delayed, errs, heldN atomic.Uint64
}

var _ nic.NIC = (*NIC)(nil)

// Wrap returns n with the faults of cfg, decided by a PCG generator seeded
// with seed. Outage windows count from now. It panics if cfg is invalid
// (check it with Validate first).
func Wrap(n nic.NIC, cfg Config, seed uint64) *NIC {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	size := n.MTU() + nic.HeaderLen
	f := &NIC{
		inner: n, cfg: cfg, start: time.Now(),
		rng:  rand.New(rand.NewPCG(seed, seed^0x5eed_fa17)),
		size: size,
		held: make([]byte, 0, size),
		done: make(chan struct{}),
	}
	if cfg.Delay > 0 {
		q := cfg.DelayQueue
		if q == 0 {
			q = 1024
		}
		f.line = make(chan int, q)
		f.free = make(chan int, q)
		f.slots = make([][]byte, q)
		f.due = make([]time.Time, q)
		for i := range q {
			f.slots[i] = make([]byte, 0, size)
			f.free <- i
		}
		f.wg.Add(1)
		go f.delayLoop()
	}
	return f
}

// Name returns "fault:" and the wrapped NIC's name.
func (f *NIC) Name() string { return "fault:" + f.inner.Name() }

// MTU returns the wrapped NIC's MTU (the clamp is not advertised).
func (f *NIC) MTU() int { return f.inner.MTU() }

// Recv passes through to the wrapped NIC.
func (f *NIC) Recv(bufs [][]byte, sizes []int) (int, error) { return f.inner.Recv(bufs, sizes) }

// Stats returns the injectors' counters.
func (f *NIC) Stats() Stats {
	return Stats{
		Sent: f.sent.Load(), Delivered: f.delivered.Load(), Lost: f.lost.Load(),
		Outage: f.outage.Load(), MTU: f.mtu.Load(), Corrupted: f.corrupted.Load(),
		Duplicated: f.duplicated.Load(), Reordered: f.reordered.Load(),
		Delayed: f.delayed.Load(), Held: f.heldN.Load(), Errors: f.errs.Load(),
	}
}

// RestartWindows makes the outage windows count from now instead of from
// Wrap: a test whose set-up takes an unknown time starts them with its
// traffic, so that a window cannot pass before any frame is sent.
func (f *NIC) RestartWindows() {
	f.mu.Lock()
	f.start = time.Now()
	f.mu.Unlock()
}

// Inner returns the wrapped NIC.
func (f *NIC) Inner() nic.NIC { return f.inner }

// inOutage reports whether now is inside an outage window; f.mu is held.
func (f *NIC) inOutage() bool {
	if len(f.cfg.Outages) == 0 {
		return false
	}
	t := time.Since(f.start)
	for _, w := range f.cfg.Outages {
		if t >= w.Start && t < w.Start+w.Len {
			return true
		}
	}
	return false
}

// Send applies the faults to frames and sends what survives. It returns
// len(frames) unless the wrapped NIC fails, then the error.
func (f *NIC) Send(frames [][]byte) (int, error) {
	if f.closed.Load() {
		return 0, fmt.Errorf("fault: %s: %w", f.Name(), nic.ErrClosed)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.out = f.out[:0]
	c := &f.cfg
	for _, fr := range frames {
		f.sent.Add(1)
		if f.inOutage() {
			f.outage.Add(1)
			continue
		}
		if c.MTU > 0 && len(fr) > c.MTU+nic.HeaderLen {
			f.mtu.Add(1)
			continue
		}
		if c.Loss > 0 && f.rng.Float64() < c.Loss {
			f.lost.Add(1)
			continue
		}
		if c.Corrupt > 0 && f.rng.Float64() < c.Corrupt && len(fr) > 0 {
			bit := f.rng.IntN(len(fr) * 8)
			s := f.copyAt(len(f.out), fr)
			s[bit/8] ^= 1 << (bit % 8)
			fr = s
			f.corrupted.Add(1)
		}
		dup := c.Duplicate > 0 && f.rng.Float64() < c.Duplicate
		if c.Reorder > 0 && f.rng.Float64() < c.Reorder && !f.holding {
			f.held = append(f.held[:0], fr...)
			f.holding = true
			f.heldN.Store(1)
			f.reordered.Add(1)
			if dup {
				f.duplicated.Add(1)
				f.out = append(f.out, fr) // the copy goes now, the original later
			}
			continue
		}
		f.out = append(f.out, fr)
		if dup {
			f.duplicated.Add(1)
			f.out = append(f.out, fr)
		}
		if f.holding {
			// Copied: a later frame of this call may be held in f.held.
			f.out = append(f.out, f.copyAt(len(f.out), f.held))
			f.holding = false
			f.heldN.Store(0)
		}
	}
	if err := f.emit(f.out); err != nil {
		return 0, err
	}
	return len(frames), nil
}

// copyAt copies fr into the scratch buffer of out slot k (each slot's
// buffer is used by one frame per call).
func (f *NIC) copyAt(k int, fr []byte) []byte {
	for len(f.scratch) <= k {
		f.scratch = append(f.scratch, make([]byte, 0, f.size))
	}
	s := append(f.scratch[k][:0], fr...)
	f.scratch[k] = s
	return s
}

// Flush sends the frame held back by Reorder, if any.
func (f *NIC) Flush() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.holding {
		return nil
	}
	f.holding = false
	f.heldN.Store(0)
	f.out = append(f.out[:0], f.held)
	return f.emit(f.out)
}

// emit sends out now, or puts it on the delay line. f.mu held.
func (f *NIC) emit(out [][]byte) error {
	if len(out) == 0 {
		return nil
	}
	if f.line == nil {
		n, err := f.inner.Send(out)
		f.delivered.Add(uint64(n))
		if err != nil {
			f.errs.Add(uint64(len(out) - n))
			return fmt.Errorf("fault: %s: %w", f.Name(), err)
		}
		return nil
	}
	due := time.Now().Add(f.cfg.Delay)
	for _, fr := range out {
		var i int
		select {
		case i = <-f.free:
		case <-f.done:
			return fmt.Errorf("fault: %s: %w", f.Name(), nic.ErrClosed)
		}
		f.slots[i] = append(f.slots[i][:0], fr...)
		f.due[i] = due
		f.delayed.Add(1)
		f.line <- i // never blocks: as many places as slots
	}
	return nil
}

// waitUntil waits on timer (stopped and drained) until due, and reports
// false if the NIC closed first.
func (f *NIC) waitUntil(timer *time.Timer, due time.Time) bool {
	d := time.Until(due)
	if d <= 0 {
		return true
	}
	timer.Reset(d)
	select {
	case <-timer.C:
		return true
	case <-f.done:
		timer.Stop()
		return false
	}
}

// delayLoop sends delayed frames when they are due, in order, batching
// those due together.
func (f *NIC) delayLoop() {
	defer f.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var batch [][]byte
	var idx []int
	for {
		var i int
		select {
		case i = <-f.line:
		case <-f.done:
			return
		}
		if !f.waitUntil(timer, f.due[i]) {
			return
		}
		batch, idx = append(batch[:0], f.slots[i]), append(idx[:0], i)
		now := time.Now()
	more:
		for len(batch) < 64 {
			select {
			case j := <-f.line:
				batch, idx = append(batch, f.slots[j]), append(idx, j)
				if f.due[j].After(now) {
					break more // not due yet: send it with a later batch
				}
			default:
				break more
			}
		}
		last := -1
		if f.due[idx[len(idx)-1]].After(now) {
			last = idx[len(idx)-1]
			batch, idx = batch[:len(batch)-1], idx[:len(idx)-1]
		}
		n, err := f.inner.Send(batch)
		f.delivered.Add(uint64(n))
		if err != nil {
			f.errs.Add(uint64(len(batch) - n))
			if errors.Is(err, nic.ErrClosed) {
				return
			}
		}
		for _, j := range idx {
			f.free <- j
		}
		if last >= 0 {
			// Put the early frame back at the head: wait for it alone.
			if !f.waitUntil(timer, f.due[last]) {
				return
			}
			n, err := f.inner.Send(f.slots[last : last+1])
			f.delivered.Add(uint64(n))
			if err != nil {
				f.errs.Add(1)
			}
			f.free <- last
		}
	}
}

// Close stops the delay line (frames on it are lost) and closes the
// wrapped NIC.
func (f *NIC) Close() error {
	if f.closed.Swap(true) {
		return nil
	}
	close(f.done)
	err := f.inner.Close()
	f.wg.Wait()
	return err
}
