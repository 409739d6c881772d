package switched

import (
	"context"
	"errors"
	"math/bits"
	"sync/atomic"
	"time"

	"spacenet/apid/frame"
	"spacenet/ipc"
)

// The call accounting behind Stats.CallOutcomes, Stats.CallsRefused,
// Stats.Answers and Stats.Latency (the IPC metrics of docs/observe.md):
// atomic counters only, nothing allocated; a client's call costs two
// time.Now and three atomic adds more.

// Outcome is how a call ended: for a client's call (Stats.CallOutcomes)
// what Call returned, for a call this node received (Stats.Answers) what
// it answered. Outcomes 1 to 8 are the ipc.Fault of that number.
type Outcome uint8

// The outcomes.
const (
	OutcomeOK Outcome = 0 // a reply
	// Outcomes 1-8: answered with the ipc.Fault of that number (by the
	// server's handler or its runtime); ServerDeath also when the
	// server's tenant went away or was replaced during the call, and, as
	// an answer, for a handler's error that is not a fault.
	OutcomeServerDeath         = Outcome(ipc.ServerDeath)
	OutcomeRefused     Outcome = 9  // the switch refused the request (an ERROR): Stats.CallsRefused by code
	OutcomeBusy        Outcome = 10 // ErrServerBusy: the server's queue or budget, or MaxInFlight, was full
	OutcomeDeadline    Outcome = 11 // the caller's context's deadline passed first
	OutcomeCanceled    Outcome = 12 // the caller's context was canceled first
	OutcomeClosed      Outcome = 13 // the node's connection ended (ErrClosed)
	OutcomeBadReply    Outcome = 14 // the reply did not decode (ipc.ErrBadReply)
	OutcomeError       Outcome = 15 // anything else: a request that could not be encoded, an unknown fault
	// NumOutcomes is the number of outcomes, the size of the arrays
	// indexed by Outcome.
	NumOutcomes = 16
)

var outcomeNames = [NumOutcomes]string{
	OutcomeOK: "ok", OutcomeRefused: "refused", OutcomeBusy: "busy", OutcomeDeadline: "deadline",
	OutcomeCanceled: "canceled", OutcomeClosed: "closed", OutcomeBadReply: "bad_reply", OutcomeError: "error",
	Outcome(ipc.UnknownOperation): "unknown_operation", Outcome(ipc.BadMessageSize): "bad_message_size",
	Outcome(ipc.BadMessageContents): "bad_message_contents", Outcome(ipc.BadLease): "bad_lease",
	Outcome(ipc.ReplyBufferTooSmall): "reply_buffer_too_small", Outcome(ipc.AccessViolation): "access_violation",
	Outcome(ipc.WentAway): "went_away", Outcome(ipc.ServerDeath): "server_death",
}

// String is the outcome's name as a metric label: ok, the fault in
// snake case (server_death), refused, busy, deadline, canceled, closed,
// bad_reply, error.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "error"
}

// NumLatencyBuckets is the number of finite buckets of a latency
// histogram; LatencyBound(i) is the upper bound of bucket i.
const NumLatencyBuckets = 20

// latencyBase is the first bucket's upper bound; each next one doubles.
const latencyBase = 25 * time.Microsecond

// LatencyBound is the (inclusive) upper bound of latency bucket i:
// 25 µs × 2^i, from 25 µs to 13.1 s.
func LatencyBound(i int) time.Duration { return latencyBase << i }

// Latency is a histogram of client calls' durations, from Call's start to
// its return, whatever the outcome: Counts[i] is the calls that took at
// most LatencyBound(i) and more than LatencyBound(i-1) (not cumulative),
// Counts[NumLatencyBuckets] those longer than the last bound. Sum is
// their total duration.
type Latency struct {
	Counts [NumLatencyBuckets + 1]uint64
	Sum    time.Duration
}

// Count is the number of calls in the histogram.
func (l *Latency) Count() uint64 {
	var c uint64
	for _, v := range l.Counts {
		c += v
	}
	return c
}

// latencyBucket is the bucket of a call that took d.
func latencyBucket(d time.Duration) int {
	if d <= latencyBase {
		return 0
	}
	i := bits.Len64(uint64(d-1) / uint64(latencyBase))
	return min(i, NumLatencyBuckets)
}

// callStats are a node's call counters.
type callStats struct {
	outcomes [NumOutcomes]atomic.Uint64 // client calls, by Outcome
	refused  [16]atomic.Uint64          // client calls refused by the switch, by ERROR code
	answers  [NumOutcomes]atomic.Uint64 // answers to calls received, by Outcome
	buckets  [NumLatencyBuckets + 1]atomic.Uint64
	sum      atomic.Uint64 // nanoseconds
}

// ended counts a client's call that started at start and ended with err;
// refused is the switch's ERROR code if the switch refused it, else 0.
func (cs *callStats) ended(start time.Time, err error, refused frame.ErrorCode) {
	d := time.Since(start)
	o := outcomeOf(err, refused)
	cs.outcomes[o].Add(1)
	if o == OutcomeRefused {
		cs.refused[refused&0xF].Add(1)
	}
	cs.buckets[latencyBucket(d)].Add(1)
	cs.sum.Add(uint64(max(d, 0)))
}

// answered counts an answer to a call this node received.
func (cs *callStats) answered(o Outcome) { cs.answers[o&(NumOutcomes-1)].Add(1) }

// faultOutcome is the outcome of a call answered with f.
func faultOutcome(f ipc.Fault) Outcome {
	if f.Known() {
		return Outcome(f)
	}
	return OutcomeError
}

// outcomeOf classifies what Call returned. Only errors are inspected
// (nothing is done for a reply).
func outcomeOf(err error, refused frame.ErrorCode) Outcome {
	switch {
	case err == nil:
		return OutcomeOK
	case refused != 0:
		return OutcomeRefused
	}
	if f, ok := ipc.AsFault(err); ok {
		return faultOutcome(f)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return OutcomeDeadline
	case errors.Is(err, context.Canceled):
		return OutcomeCanceled
	case errors.Is(err, ErrServerBusy):
		return OutcomeBusy
	case errors.Is(err, ErrClosed):
		return OutcomeClosed
	case errors.Is(err, ipc.ErrBadReply):
		return OutcomeBadReply
	}
	return OutcomeError
}

// snapshot fills s's call counters.
func (cs *callStats) snapshot(s *Stats) {
	for i := range cs.outcomes {
		s.CallOutcomes[i] = cs.outcomes[i].Load()
		s.Answers[i] = cs.answers[i].Load()
	}
	for i := range cs.refused {
		s.CallsRefused[i] = cs.refused[i].Load()
	}
	for i := range cs.buckets {
		s.Latency.Counts[i] = cs.buckets[i].Load()
	}
	s.Latency.Sum = time.Duration(cs.sum.Load())
}
