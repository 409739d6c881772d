package apidswitch

import "time"

// bucket is a sender's rate limit, a token bucket: it holds up to burst
// tokens, gains rate tokens a second, and every frame the sender sends takes
// one. It lives in the sender's stats, under their lock, and is driven by
// the clock its caller reads.
type bucket struct {
	tokens float64
	last   time.Time // when tokens was last brought up to date; zero: full
}

// take brings the bucket up to now and takes one token if there is one.
func (b *bucket) take(now time.Time, rate float64, burst int) bool {
	full := float64(burst)
	if b.last.IsZero() {
		b.tokens = full
	} else if dt := now.Sub(b.last); dt > 0 {
		b.tokens = min(full, b.tokens+dt.Seconds()*rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

// wait returns how long until the bucket holds a whole token again, at
// rate, from when take last looked.
func (b *bucket) wait(rate float64) time.Duration {
	need := 1 - b.tokens
	if need <= 0 {
		return 0
	}
	return max(time.Duration(need/rate*float64(time.Second)), time.Microsecond)
}
