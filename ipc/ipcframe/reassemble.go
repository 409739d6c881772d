package ipcframe

import (
	"time"

	"spacenet/apid/frame"
)

// Limits bound what a Reassembler holds, so that a peer that sends half a
// message and stops cannot grow memory without bound, and so that one
// sender's partial messages cannot take what another sender needs. Zero
// fields take the defaults.
//
// Budgets are kept per sender: the tenant a source APID belongs to, as
// Sender says (package switched maps it through the policy). Half of each
// overall budget is divided equally among the Senders named senders as
// guaranteed shares, min(the per-sender limit, overall / (2 * Senders))
// partial messages and bytes each, that no other sender can take; the rest
// is shared, first come first served, up to each sender's own limit.
// Source APIDs that Sender maps to no named sender (a negative index or
// one past Senders) share one budget with no guaranteed share.
type Limits struct {
	MaxMessage        int           // largest message, bytes; default DefaultMaxMessage
	MaxPartial        int           // messages being reassembled overall; default 64
	MaxPartialSender  int           // messages being reassembled per sender; default 16
	MaxBuffered       int           // bytes held in partial messages overall; default 16 MiB
	MaxBufferedSender int           // bytes held in partial messages per sender; default 4 MiB
	IdleTimeout       time.Duration // a partial message idle this long is dropped; default 5 s
	// Sender maps a source APID to its sender, 0 <= s < Senders. nil means
	// every source APID is a sender of its own, with no guaranteed share
	// (per-APID limits only: a tenant owning many APIDs gets many budgets;
	// give Sender to limit by tenant).
	Sender  func(src frame.APID) int
	Senders int
}

// Defaults of Limits.
const (
	// DefaultMaxMessage holds a 1 MiB lease (package ipc's MaxLeaseBytes)
	// with its request or reply header and a little more.
	DefaultMaxMessage        = 1<<20 + 4096
	DefaultMaxPartial        = 64
	DefaultMaxPartialSender  = 16
	DefaultMaxBuffered       = 16 << 20
	DefaultMaxBufferedSender = 4 << 20
	DefaultIdleTimeout       = 5 * time.Second
)

func (l Limits) withDefaults() Limits {
	if l.MaxMessage <= 0 {
		l.MaxMessage = DefaultMaxMessage
	}
	if l.MaxPartial <= 0 {
		l.MaxPartial = DefaultMaxPartial
	}
	if l.MaxPartialSender <= 0 {
		l.MaxPartialSender = DefaultMaxPartialSender
	}
	if l.MaxBuffered <= 0 {
		l.MaxBuffered = DefaultMaxBuffered
	}
	if l.MaxBufferedSender <= 0 {
		l.MaxBufferedSender = DefaultMaxBufferedSender
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	if l.Sender == nil || l.Senders < 0 {
		l.Sender, l.Senders = nil, 0
	}
	return l
}

// budget is a number of partial messages and of bytes.
type budget struct{ parts, bytes int }

// unusedOf is how much of reserve a sender using used leaves unused.
func unusedOf(reserve, used budget) budget {
	return budget{max(0, reserve.parts-used.parts), max(0, reserve.bytes-used.bytes)}
}

// initialChunk is the storage a partial message starts with: a 64 KiB
// lease and its message header fit without growing.
const initialChunk = 64<<10 + 256

// Key names one message being reassembled: who sent it, to which APID, of
// which kind, with which call id.
type Key struct {
	Src, Dest frame.APID
	Kind      Kind
	ID        uint32
}

// Status is what Add did with a frame.
type Status uint8

// The statuses Add returns.
const (
	// Refused: the frame was refused for Result.Reason (counted).
	Refused Status = iota
	// Started: the first segment of a multi-frame message was stored;
	// Result.Data is its data, so that the caller can look at the start of
	// the message (an op code) and Drop the message before it is buffered.
	Started
	// Partial: a continuation segment was stored.
	Partial
	// Complete: Result.Data is the whole message.
	Complete
)

// Result is what Add found.
type Result struct {
	Status Status
	Reason Reason // why, when Refused
	Key    Key    // the message, when the sub-header could be read
	Header Header
	// Data: Started, the first segment's data; Complete, the message. For
	// a one-frame message Data aliases the frame's payload: copy it before
	// the frame is reused. For a reassembled one the caller owns Data.
	Data []byte
}

type partial struct {
	key        Key
	sender     int // index in Reassembler.used
	buf        []byte
	total      int
	last       time.Time
	prev, next *partial // idle list, least recently used first
}

// Reassembler turns incoming IPC frames into messages within its Limits.
// Counters count every refusal by reason. It is not safe for concurrent
// use: one reader goroutine owns it.
//
// The overall budgets hold total + unused <= the limits at all times,
// where unused is what the named senders leave of their guaranteed shares:
// a sender within its share can always start a message, whatever the
// others hold.
type Reassembler struct {
	lim      Limits
	parts    map[Key]*partial
	used     []budget // per sender; the last entry is for sources of no named sender
	reserve  budget   // a named sender's guaranteed share
	unused   budget   // the shares the named senders leave unused, summed
	buffered int
	head     *partial // least recently active
	tail     *partial
	last     *partial // the partial the previous frame extended: segments come in runs
	counts   [numReasons]uint64
	complete uint64
}

// NewReassembler returns a Reassembler with limits l (zero fields take the
// defaults).
func NewReassembler(l Limits) *Reassembler {
	l = l.withDefaults()
	r := &Reassembler{lim: l, parts: make(map[Key]*partial)}
	if l.Sender == nil {
		r.used = make([]budget, frame.NumAPIDs)
		return r
	}
	r.used = make([]budget, l.Senders+1)
	if l.Senders > 0 {
		r.reserve = budget{min(l.MaxPartialSender, l.MaxPartial/(2*l.Senders)), min(l.MaxBufferedSender, l.MaxBuffered/(2*l.Senders))}
		r.unused = budget{r.reserve.parts * l.Senders, r.reserve.bytes * l.Senders}
	}
	return r
}

// senderOf is the index in used of src's sender.
func (r *Reassembler) senderOf(src frame.APID) int {
	if r.lim.Sender == nil {
		return int(src & frame.MaxAPID)
	}
	if s := r.lim.Sender(src); s >= 0 && s < r.lim.Senders {
		return s
	}
	return r.lim.Senders
}

// reserveOf is sender s's guaranteed share (none for the last entry).
func (r *Reassembler) reserveOf(s int) budget {
	if s < r.lim.Senders && r.lim.Sender != nil {
		return r.reserve
	}
	return budget{}
}

// admit says whether sender s may hold d more (partial messages, bytes):
// OK, or the limit it would pass.
func (r *Reassembler) admit(s int, d budget) Reason {
	u := r.used[s]
	switch {
	case u.parts+d.parts > r.lim.MaxPartialSender:
		return SenderLimit
	case u.bytes+d.bytes > r.lim.MaxBufferedSender:
		return SenderBufferLimit
	}
	res := r.reserveOf(s)
	before, after := unusedOf(res, u), unusedOf(res, budget{u.parts + d.parts, u.bytes + d.bytes})
	switch {
	case len(r.parts)+d.parts+r.unused.parts-before.parts+after.parts > r.lim.MaxPartial:
		return PartialLimit
	case r.buffered+d.bytes+r.unused.bytes-before.bytes+after.bytes > r.lim.MaxBuffered:
		return BufferLimit
	}
	return OK
}

// charge adds d (negative to give back) to sender s's use, and d.bytes to
// the bytes held; the caller adds the partial to parts, or removes it,
// itself.
func (r *Reassembler) charge(s int, d budget) {
	res := r.reserveOf(s)
	u := &r.used[s]
	before := unusedOf(res, *u)
	u.parts += d.parts
	u.bytes += d.bytes
	after := unusedOf(res, *u)
	r.unused.parts += after.parts - before.parts
	r.unused.bytes += after.bytes - before.bytes
	r.buffered += d.bytes
}

// Limits returns the limits in force, defaults filled in.
func (r *Reassembler) Limits() Limits { return r.lim }

// Add takes one frame addressed to this side. now is the time it arrived
// (a fake clock in tests); partial messages idle for longer than the
// timeout are dropped first. Add does not allocate for one-frame messages.
func (r *Reassembler) Add(f *frame.Frame, now time.Time) Result {
	r.Expire(now)
	p := f.Payload()
	h, reason := ParseHeader(f.Type(), p)
	res := Result{Header: h, Key: Key{Src: f.APID() & frame.MaxAPID, Dest: f.Dest() & frame.MaxAPID, Kind: h.Kind, ID: h.ID}}
	if reason != OK {
		return r.refuse(res, reason)
	}
	data := p[HeaderSize:]
	if int64(h.Total) > int64(r.lim.MaxMessage) {
		// A continuation of a message refused for its size is refused
		// again, for the same reason: it is counted, never buffered.
		return r.refuse(res, TooLarge)
	}
	pt := r.last
	if pt == nil || pt.key != res.Key {
		pt = r.parts[res.Key]
	}
	if h.Offset == 0 {
		if pt != nil {
			// A new message reusing a call id still in reassembly: the
			// old one is dead.
			r.remove(pt, OutOfOrder)
		}
		if int(h.Total) == len(data) {
			r.complete++
			res.Status, res.Data = Complete, data
			return res
		}
		// Storage grows with what arrives, from a first chunk big enough
		// for the common lease sizes; the budget counts capacity, so it
		// bounds the memory really held.
		c := min(int(h.Total), initialChunk)
		s := r.senderOf(res.Key.Src)
		if why := r.admit(s, budget{1, c}); why != OK {
			return r.refuse(res, why)
		}
		pt = &partial{key: res.Key, sender: s, total: int(h.Total), last: now}
		pt.buf = append(make([]byte, 0, c), data...)
		r.parts[res.Key] = pt
		r.charge(s, budget{1, c})
		r.pushTail(pt)
		r.last = pt
		res.Status, res.Data = Started, data
		return res
	}
	if pt == nil {
		return r.refuse(res, Orphan)
	}
	if int(h.Offset) != len(pt.buf) || int(h.Total) != pt.total {
		r.remove(pt, OutOfOrder)
		return r.refuse(res, OutOfOrder)
	}
	if need := len(pt.buf) + len(data); need > cap(pt.buf) {
		c := min(pt.total, max(2*cap(pt.buf), need))
		if why := r.admit(pt.sender, budget{0, c - cap(pt.buf)}); why != OK {
			r.remove(pt, why)
			return r.refuse(res, why)
		}
		r.charge(pt.sender, budget{0, c - cap(pt.buf)})
		pt.buf = append(make([]byte, 0, c), pt.buf...)
	}
	pt.buf = append(pt.buf, data...)
	pt.last = now
	if r.tail != pt {
		r.unlink(pt)
		r.pushTail(pt)
	}
	r.last = pt
	if len(pt.buf) < pt.total {
		res.Status = Partial
		return res
	}
	r.forget(pt)
	r.complete++
	res.Status, res.Data = Complete, pt.buf
	return res
}

// refuse counts a refused frame and returns res as Refused. The counts of
// partial messages dropped (by remove) are kept apart from those of frames.
func (r *Reassembler) refuse(res Result, why Reason) Result {
	r.counts[why]++
	res.Status, res.Reason = Refused, why
	return res
}

// Drop discards the message k being reassembled, if any (its later
// segments are then refused as Orphan). It reports whether there was one.
func (r *Reassembler) Drop(k Key) bool {
	pt := r.parts[k]
	if pt == nil {
		return false
	}
	r.remove(pt, Dropped)
	return true
}

// DropPeer discards every message src is sending (a tenant that went
// away) and returns how many there were.
func (r *Reassembler) DropPeer(src func(frame.APID) bool) int {
	n := 0
	for pt := r.head; pt != nil; {
		next := pt.next
		if src(pt.key.Src) {
			r.remove(pt, Dropped)
			n++
		}
		pt = next
	}
	return n
}

// Expire drops the partial messages idle since before now - IdleTimeout
// and returns how many it dropped.
func (r *Reassembler) Expire(now time.Time) int {
	n := 0
	for r.head != nil && now.Sub(r.head.last) > r.lim.IdleTimeout {
		r.remove(r.head, Expired)
		n++
	}
	return n
}

func (r *Reassembler) remove(pt *partial, why Reason) {
	r.forget(pt)
	r.counts[why]++
}

func (r *Reassembler) forget(pt *partial) {
	delete(r.parts, pt.key)
	r.charge(pt.sender, budget{-1, -cap(pt.buf)})
	r.unlink(pt)
	if r.last == pt {
		r.last = nil
	}
}

func (r *Reassembler) pushTail(pt *partial) {
	pt.prev, pt.next = r.tail, nil
	if r.tail != nil {
		r.tail.next = pt
	} else {
		r.head = pt
	}
	r.tail = pt
}

func (r *Reassembler) unlink(pt *partial) {
	if pt.prev != nil {
		pt.prev.next = pt.next
	} else {
		r.head = pt.next
	}
	if pt.next != nil {
		pt.next.prev = pt.prev
	} else {
		r.tail = pt.prev
	}
	pt.prev, pt.next = nil, nil
}

// Stats is a snapshot of a Reassembler's state and counters.
type Stats struct {
	Complete uint64             // messages completed
	Partial  int                // messages being reassembled now
	Buffered int                // bytes of storage they hold (capacity, not just data)
	Refused  [NumReasons]uint64 // frames refused, and partial messages dropped, by reason
}

// Stats returns a snapshot.
func (r *Reassembler) Stats() Stats {
	return Stats{Complete: r.complete, Partial: len(r.parts), Buffered: r.buffered, Refused: r.counts}
}
