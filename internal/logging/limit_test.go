package logging

import (
	"fmt"
	"testing"
	"time"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// step is one call of Allow in a limiter test, after moving the clock.
type step struct {
	after      time.Duration
	tenant     string
	reason     Reason
	ok         bool
	suppressed uint64
}

func TestLimiter(t *testing.T) {
	const (
		unhandled Reason = 1
		refused   Reason = 2
	)
	tests := []struct {
		name  string
		cfg   LimitConfig
		steps []step
	}{
		{"burst then suppressed, count on the next window", LimitConfig{Every: time.Second, Burst: 2}, []step{
			{0, "camera", unhandled, true, 0},
			{0, "camera", unhandled, true, 0},
			{0, "camera", unhandled, false, 0},
			{999 * time.Millisecond, "camera", unhandled, false, 0},
			{time.Millisecond, "camera", unhandled, true, 2},
			{0, "camera", unhandled, true, 0},
			{0, "camera", unhandled, false, 0},
			{5 * time.Second, "camera", unhandled, true, 1},
		}},
		{"tenants and reasons are apart", LimitConfig{Every: time.Second, Burst: 1}, []step{
			{0, "camera", unhandled, true, 0},
			{0, "camera", unhandled, false, 0},
			{0, "camera", refused, true, 0},
			{0, "processor", unhandled, true, 0},
			{0, "processor", unhandled, false, 0},
			{0, "camera", refused, false, 0},
			{time.Second, "processor", unhandled, true, 1},
			{0, "camera", unhandled, true, 1},
			{0, "camera", refused, true, 1},
		}},
		{"a full table shares the overflow key", LimitConfig{Every: time.Second, Burst: 1, Keys: 2}, []step{
			{0, "a", unhandled, true, 0},
			{0, "a", unhandled, false, 0}, // a owes a count: not reusable
			{0, "b", unhandled, true, 0},
			{0, "b", unhandled, false, 0},
			{0, "c", unhandled, true, 0}, // overflow
			{0, "d", unhandled, false, 0},
			{0, "e", refused, false, 0},
			{time.Second, "d", unhandled, true, 2},
			{0, "a", unhandled, true, 1}, // a and b kept their counts
			{0, "b", unhandled, true, 1},
		}},
		{"an idle key owing nothing is reused", LimitConfig{Every: time.Second, Burst: 1, Keys: 1}, []step{
			{0, "a", unhandled, true, 0},
			{0, "b", unhandled, true, 0}, // overflow: a is in its window
			{0, "b", unhandled, false, 0},
			{time.Second, "c", unhandled, true, 0}, // takes a's key
			{0, "c", unhandled, false, 0},
			{0, "b", unhandled, true, 1}, // overflow again, with its count
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Unix(1e9, 0)}
			tt.cfg.Now = clock.now
			l := NewLimiter(tt.cfg)
			for i, s := range tt.steps {
				clock.advance(s.after)
				n, ok := l.Allow(s.tenant, s.reason)
				if ok != s.ok || n != s.suppressed {
					t.Errorf("step %d Allow(%s, %d) = %d, %v; want %d, %v", i, s.tenant, s.reason, n, ok, s.suppressed, s.ok)
				}
			}
		})
	}
}

// TestLimiterHostileKeys: any number of distinct keys leaves the table at
// its size, and the overflow key thins them all.
func TestLimiterHostileKeys(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	l := NewLimiter(LimitConfig{Every: time.Second, Burst: 1, Keys: 8, Now: clock.now})
	passed := 0
	for i := range 10000 {
		if _, ok := l.Allow(fmt.Sprintf("t%d", i), Reason(i)); ok {
			passed++
		}
	}
	if len(l.keys) != 8 || passed != 9 {
		t.Errorf("%d keys, %d lines passed; want 8 keys and 9 lines (8 keys and the overflow)", len(l.keys), passed)
	}
	if l.overflow.suppressed != 10000-9 {
		t.Errorf("overflow suppressed %d, want %d", l.overflow.suppressed, 10000-9)
	}
}

func TestLimiterSuppressedAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	l := NewLimiter(LimitConfig{Burst: 1, Now: clock.now})
	tenant := "camera"
	l.Allow(tenant, 1)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, ok := l.Allow(tenant, 1); ok {
			t.Fatal("allowed past the burst")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per suppressed Allow, want 0", allocs)
	}
	if l.keys[l.indexOf(tenant, 1)].suppressed != 1001 {
		t.Errorf("suppressed %d, want 1001", l.keys[l.indexOf(tenant, 1)].suppressed)
	}
}

// indexOf returns the index of (tenant, reason) in l's table, or -1.
func (l *Limiter) indexOf(tenant string, reason Reason) int {
	for i, w := range l.keys {
		if w.used && w.tenant == tenant && w.reason == reason {
			return i
		}
	}
	return -1
}
