package policy

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Flow is how the switch treats one tenant's frames under load: as a
// destination (WhenFull, Hold) and as a sender (Rate, Burst, WhenOverRate).
// The zero Flow is the default: lossless, no rate limit.
//
// In a policy file these are optional keys of the [[tenant]] table:
//
//	when_full = "wait"       # or "drop"; default "wait"
//	hold = "100ms"           # Go duration; default 100ms; "0s" is when_full = "drop"
//	rate = 2000              # frames per second the tenant may send; default: no limit
//	burst = 200              # frames above rate it may send at once; default rate/10 (at least 1)
//	when_over_rate = "wait"  # or "drop"; default "wait"
//	resync = true            # the tenant's link may lose bytes (a UART); default false
type Flow struct {
	// WhenFull says what happens to a frame for this tenant when its
	// queue is full. Wait (the default): the frame is held and its sender
	// is not read until there is room (the kernel then blocks the sender's
	// writes); once the tenant's queue has made no progress (nothing
	// written to the guest, nothing more read by it) for Hold, it is
	// refused with Host_busy, and so is every later frame for this tenant
	// until its queue makes progress. A guest that keeps reading, however
	// slowly, keeps its senders held, not refused: that is backpressure.
	// Drop: refused with Host_busy at once (the sender is never held; its
	// next, fresher frames go as soon as there is room).
	WhenFull Overflow
	// Hold is how long this tenant's queue may make no progress before a
	// frame waiting for room in it is refused (between Hold and 1.25 Hold:
	// progress is looked for four times per Hold); 0 means DefaultHold.
	Hold time.Duration
	// Rate is how many frames per second this tenant may send, all
	// destinations together; 0 means no limit.
	Rate float64
	// Burst is how many frames it may send at once above Rate (the token
	// bucket's depth); 0 means DefaultBurst(Rate).
	Burst int
	// WhenOverRate says what happens to a frame over the rate. Wait: the
	// tenant's socket is read no faster than Rate (its writes block).
	// Drop: the frame is refused with Rate_limited.
	WhenOverRate Overflow
	// Resync says the tenant's byte stream may lose bytes (a 16550 serial
	// line behind QEMU's chardev): after a run of frames that fail to
	// decode, the switch looks for the next valid header the tenant owns
	// and reads frames from there, counting the bytes it skipped. Off (the
	// default), every 256 bytes are a frame, refused one by one if bad:
	// a Unix socket or a virtio-serial port never loses bytes.
	Resync bool
}

// Overflow is what the switch does with a frame that cannot go on at once.
type Overflow uint8

// The Overflow choices.
const (
	Wait Overflow = iota // hold the frame and stop reading its sender (flow control)
	Drop                 // refuse the frame at once
)

// String returns "wait" or "drop", as a policy file writes them.
func (o Overflow) String() string {
	switch o {
	case Wait:
		return "wait"
	case Drop:
		return "drop"
	}
	return fmt.Sprintf("Overflow(%d)", uint8(o))
}

// DefaultHold is the hold time of a tenant whose policy gives none.
const DefaultHold = 100 * time.Millisecond

// MaxHold bounds a configured hold time: a sender is never paused longer
// than this (and a quarter) for one frame by a destination that makes no
// progress.
const MaxHold = time.Minute

// MaxRate bounds a configured rate, in frames per second.
const MaxRate = 1e9

// HoldTime returns the hold time in force: Hold, or DefaultHold when 0.
func (f Flow) HoldTime() time.Duration {
	if f.Hold == 0 {
		return DefaultHold
	}
	return f.Hold
}

// DefaultBurst is the burst of a rate limit whose policy gives none: a tenth
// of a second's worth of frames, at least 1.
func DefaultBurst(rate float64) int {
	return max(1, int(rate/10))
}

// BurstSize returns the burst in force: Burst, or DefaultBurst(Rate).
func (f Flow) BurstSize() int {
	if f.Burst == 0 {
		return DefaultBurst(f.Rate)
	}
	return f.Burst
}

// flowKeys are the [[tenant]] keys that make up a Flow.
var flowKeys = []string{"when_full", "hold", "rate", "burst", "when_over_rate", "resync"}

// convertFlow types the flow keys of one [[tenant]] table. fail records a
// type or value error for a field at its line.
func convertFlow(m map[string]any, line func(string) int, fail func(line int, field string, err error)) Flow {
	var f Flow
	overflow := func(field string) Overflow {
		switch v := m[field].(type) {
		case nil:
		case string:
			switch v {
			case "wait":
				return Wait
			case "drop":
				return Drop
			}
			fail(line(field), field, fmt.Errorf("%q: want \"wait\" or \"drop\"", v))
		default:
			fail(line(field), field, fmt.Errorf("want \"wait\" or \"drop\", got %s", describe(v)))
		}
		return Wait
	}
	f.WhenFull = overflow("when_full")
	f.WhenOverRate = overflow("when_over_rate")
	switch v := m["hold"].(type) {
	case nil:
	case string:
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			fail(line("hold"), "hold", fmt.Errorf("%q: want a duration such as \"100ms\"", v))
		case d < 0 || d > MaxHold:
			fail(line("hold"), "hold", fmt.Errorf("%v: want 0s to %v", d, MaxHold))
		case d == 0:
			// Refusing at once is what drop does: one name for it.
			f.WhenFull = Drop
		default:
			f.Hold = d
		}
	default:
		fail(line("hold"), "hold", fmt.Errorf("want a duration string such as \"100ms\", got %s", describe(v)))
	}
	switch v := m["rate"].(type) {
	case nil:
	case int64:
		f.Rate = float64(v)
	case float64:
		f.Rate = v
	default:
		fail(line("rate"), "rate", fmt.Errorf("want frames per second, got %s", describe(v)))
	}
	switch v := m["resync"].(type) {
	case nil:
	case bool:
		f.Resync = v
	default:
		fail(line("resync"), "resync", fmt.Errorf("want true or false, got %s", describe(v)))
	}
	switch v := m["burst"].(type) {
	case nil:
	case int64:
		if v < 1 || v > 1<<30 {
			fail(line("burst"), "burst", fmt.Errorf("%d: want 1 to %d frames", v, 1<<30))
		} else {
			f.Burst = int(v)
		}
	default:
		fail(line("burst"), "burst", fmt.Errorf("want a whole number of frames, got %s", describe(v)))
	}
	return f
}

// check returns the problems of f, by field.
func (f Flow) check() map[string]error {
	errs := map[string]error{}
	if f.WhenFull > Drop {
		errs["when_full"] = fmt.Errorf("%v: want wait or drop", f.WhenFull)
	}
	if f.WhenOverRate > Drop {
		errs["when_over_rate"] = fmt.Errorf("%v: want wait or drop", f.WhenOverRate)
	}
	if f.Hold < 0 || f.Hold > MaxHold {
		errs["hold"] = fmt.Errorf("%v: want 0s (the default, %v) to %v", f.Hold, DefaultHold, MaxHold)
	}
	switch {
	case f.Rate != f.Rate || f.Rate < 0 || f.Rate > MaxRate: // NaN too
		errs["rate"] = fmt.Errorf("%v: want 0 (no limit) to %g frames per second", f.Rate, MaxRate)
	case f.Rate == 0 && f.Burst != 0:
		errs["burst"] = errors.New("set without rate")
	case f.Rate == 0 && f.WhenOverRate != Wait:
		errs["when_over_rate"] = errors.New("set without rate")
	case f.Burst < 0:
		errs["burst"] = fmt.Errorf("%d: want at least 1 frame", f.Burst)
	}
	return errs
}

// writeTOML appends f's keys that differ from the defaults.
func (f Flow) writeTOML(b *strings.Builder) {
	if f.WhenFull != Wait {
		fmt.Fprintf(b, "when_full = %q\n", f.WhenFull.String())
	}
	if f.Hold != 0 {
		fmt.Fprintf(b, "hold = %q\n", f.Hold.String())
	}
	if f.Resync {
		b.WriteString("resync = true\n")
	}
	if f.Rate != 0 {
		fmt.Fprintf(b, "rate = %v\n", f.Rate)
		if f.Burst != 0 {
			fmt.Fprintf(b, "burst = %d\n", f.Burst)
		}
		if f.WhenOverRate != Wait {
			fmt.Fprintf(b, "when_over_rate = %q\n", f.WhenOverRate.String())
		}
	}
}
