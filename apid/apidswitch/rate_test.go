package apidswitch

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestBucketExact drives the rate limit's bucket as the reader does, on a
// fake clock, with the reader's wake-ups late by up to 20 ms at random (a
// loaded machine): over 10 s the frames let through are burst + rate x
// time within 1%, whether the sender waits (its frames are read as tokens
// come) or is refused (frames offered at 4x the rate, each taken or
// refused on arrival). And at no point are more let through than burst +
// rate x elapsed.
func TestBucketExact(t *testing.T) {
	const rate, burst = 4000.0, 400
	rng := rand.New(rand.NewPCG(1, 2))
	late := func() time.Duration { return time.Duration(rng.Int64N(int64(20 * time.Millisecond))) }
	t0 := time.Unix(1000, 0)
	const span = 10 * time.Second
	check := func(name string, passed int, now time.Time) {
		t.Helper()
		if max := burst + rate*now.Sub(t0).Seconds(); float64(passed) > max+1 {
			t.Fatalf("%s: %d let through by %v, more than %v", name, passed, now.Sub(t0), max)
		}
	}

	// Wait: the reader takes a token per frame; without one it sleeps
	// bucket.wait, woken late, and tries again (awaitToken).
	var b bucket
	now, passed := t0, 0
	for now.Sub(t0) < span {
		if b.take(now, rate, burst) {
			passed++
			check("wait", passed, now)
			continue
		}
		now = now.Add(b.wait(rate) + late())
	}
	want := burst + rate*now.Sub(t0).Seconds()
	if got := float64(passed); got < want*0.99 || got > want*1.01 {
		t.Errorf("wait: %d let through in %v, want %.0f within 1%%", passed, now.Sub(t0), want)
	}

	// Drop: frames offered at 4x the rate, in bunches as a late reader
	// sees them; each is taken or refused at once.
	b = bucket{}
	now, passed = t0, 0
	offered := 0
	for now.Sub(t0) < span {
		gap := late() + time.Millisecond
		now = now.Add(gap)
		for range int(gap.Seconds() * 4 * rate) {
			offered++
			if b.take(now, rate, burst) {
				passed++
				check("drop", passed, now)
			}
		}
	}
	want = burst + rate*now.Sub(t0).Seconds()
	if got := float64(passed); got < want*0.99 || got > want*1.01 {
		t.Errorf("drop: %d of %d let through in %v, want %.0f within 1%%", passed, offered, now.Sub(t0), want)
	}
}
