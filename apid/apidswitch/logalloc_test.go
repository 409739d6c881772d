//go:build !race

// Allocation counts are not meaningful under -race: this file is left out
// there, and `make test` runs it without -race.

package apidswitch

import (
	"testing"
	"time"

	"spacenet/apid/frame"
	"spacenet/internal/logging"
)

// TestSuppressedLogAllocs: once the limiter has let its burst through, a
// flood of unhandled system frames, each a suppressed log line, allocates
// nothing and is counted whole.
func TestSuppressedLogAllocs(t *testing.T) {
	fx := newRouteFixture(t)
	now := time.Unix(1e9, 0) // a clock that stands still: one window
	fx.sw.logLimit = logging.NewLimiter(logging.LimitConfig{Now: func() time.Time { return now }})
	b := batchOf(t, 64, func(_ int, f *frame.Frame) { f.SetDest(0x005) })
	fx.r.process(b) // the burst of logged lines goes here
	allocs := testing.AllocsPerRun(200, func() { fx.r.process(b) })
	if allocs != 0 {
		t.Errorf("%v allocations per batch of 64 suppressed log lines, want 0", allocs)
	}
	if n := fx.sw.SystemUnhandled(); n != 202*64 {
		t.Errorf("SystemUnhandled = %d, want %d", n, 202*64)
	}
}
