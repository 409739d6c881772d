package tcp

import (
	"errors"
	"net/netip"

	"spacenet/ip/wire"
)

// Errors a connection ends with (Conn.Err after Gone).
var (
	ErrRefused = errors.New("tcp: connection refused")
	ErrReset   = errors.New("tcp: connection reset by peer")
	ErrTimeout = errors.New("tcp: connection timed out")
	ErrAborted = errors.New("tcp: connection aborted")
	ErrClosing = errors.New("tcp: connection closing")
)

// span is a range of stream offsets [start, end).
type span struct{ start, end int64 }

// maxSACK is the number of SACK blocks the scoreboard keeps.
const maxSACK = 4

// maxOOO is the number of out-of-order ranges a connection tracks.
const maxOOO = 32

// minMSS is the least MSS we send with, whatever the peer announces.
const minMSS = 64

// maxCwnd bounds the congestion window (the largest scaled window is
// just under 1 GiB).
const maxCwnd = 1 << 30

// maxDupAcksOwed bounds the duplicate ACKs owed after one batch.
const maxDupAcksOwed = 8

// Conn is one connection slot. Its methods are called on the goroutine
// that drives the Table (from a Handler, or between calls to the Table).
type Conn struct {
	table    *Table
	slot     int32
	inUse    bool
	queued   bool
	state    State
	local    netip.AddrPort
	remote   netip.AddrPort
	app      App
	listener *Listener
	err      error

	// Sending. Stream offset -1 is the SYN, 0.. the data, finOff the FIN.
	iss, sndUna, sndNxt, sndMax uint32
	sndUnaOff                   int64
	pushed                      int64
	finOff                      int64 // -1 until Close
	sndWnd                      uint32
	sndWl1, sndWl2              uint32
	sndMSS                      int // payload per segment, options deducted
	sndScale                    uint8
	sacked                      [maxSACK]struct{ left, right uint32 }
	nsacked                     int

	// Receiving. rcvNxtOff is the stream offset of rcvNxt.
	irs, rcvNxt uint32
	rcvNxtOff   int64
	granted     int64 // the application accepts offsets below this
	rcvScale    uint8
	rcvMSS      int // the MSS we announce: Config.MSS, less 20 for IPv6
	lastAdvWnd  int64
	ooo         [maxOOO]span
	nooo        int
	finRcvd     bool

	// Options negotiated.
	wsOK, tsOK, sackOK bool
	tsRecent           uint32
	tsOffset           uint32
	lastAckSent        uint32

	// Round-trip time (RFC 6298), in nanoseconds.
	srtt, rttvar, rto int64
	rttOn             bool
	rttSeq            uint32
	rttAt             int64
	rexmitTS          uint32 // our timestamp at the last retransmission
	synLost           bool   // the SYN or SYN-ACK was sent again
	retries           int

	// Congestion control (RFC 5681, 6582), in bytes.
	cwnd, ssthresh uint32
	caAcked        uint32
	dupAcks        int
	recover        uint32
	inRecovery     bool

	// Output wanted.
	synPending  bool
	ackNow      bool
	dupAcksOwed int
	unacked     int
	fastRexmit  bool
	holeRexmit  bool   // in recovery: resend the next hole below SACKed data
	rexmitNext  uint32 // in recovery: where the next hole search starts
	probe       bool
	keepProbe   bool
	rstPending  bool

	// Timers: absolute deadlines, 0 when off.
	rtoAt, delackAt, keepAt, twAt int64
	keepIdle, keepIntvl           int64
	keepCount, keepSent           int
	lastIn                        int64
	oowAckAt                      int64 // no ACK for an unacceptable pure ACK before

	info Info
}

// Info are a connection's counters and congestion state.
type Info struct {
	SegsIn, SegsOut uint64
	Retransmits     uint64
	RTOs            uint64
	FastRetransmits uint64
	DupAcks         uint64
	OutOfOrder      uint64 // segments received beyond rcvNxt
	SRTT, RTTVar    int64  // ns
	RTO             int64  // ns
	Cwnd, Ssthresh  uint32
	SndWnd          uint32
	SndMSS          int
	WindowScale     bool // both sides scale: SndScale, RcvScale apply
	SndScale        uint8
	RcvScale        uint8
	Timestamps      bool
	SACK            bool
}

func (c *Conn) reset(local, remote netip.AddrPort, app App, l *Listener, now int64) {
	t := c.table
	// queued survives: a slot still in the output ring must not be
	// queued twice.
	*c = Conn{table: t, slot: c.slot, queued: c.queued, inUse: true, local: local, remote: remote, app: app, listener: l}
	c.iss = t.isn(local, remote, now)
	c.tsOffset = t.isn(remote, local, now) * 2654435761
	c.rexmitTS = c.tsNow(now)
	c.sndUna, c.sndNxt, c.sndMax = c.iss, c.iss, c.iss
	c.sndUnaOff = -1
	c.finOff = -1
	c.recover = c.iss
	c.rto = InitialRTO
	c.sndMSS = 536
	c.rcvMSS = t.cfg.MSS
	if remote.Addr().Is6() && !remote.Addr().Is4In6() {
		c.rcvMSS -= 20
	}
	c.granted = int64(app.Grant)
	c.ssthresh = 1 << 30
	c.synPending = true
	c.tsOK = !t.cfg.NoTimestamps
	c.sackOK = !t.cfg.NoSACK
	c.wsOK = t.cfg.WindowScale > 0
	if c.wsOK {
		c.rcvScale = uint8(t.cfg.WindowScale)
	}
}

// State returns the connection's state.
func (c *Conn) State() State { return c.state }

// Local returns the local address.
func (c *Conn) Local() netip.AddrPort { return c.local }

// Remote returns the peer's address.
func (c *Conn) Remote() netip.AddrPort { return c.remote }

// Err returns why the connection ended, nil while it lives or after an
// orderly close.
func (c *Conn) Err() error { return c.err }

// Acked returns the stream offset up to which the peer acknowledged our
// data.
func (c *Conn) Acked() int64 { return min(max(c.sndUnaOff, 0), c.pushed) }

// Pushed returns the stream offset up to which data was pushed.
func (c *Conn) Pushed() int64 { return c.pushed }

// Readable returns the stream offset up to which received data is
// contiguous in the Sink.
func (c *Conn) Readable() int64 { return c.rcvNxtOff }

// Info returns the connection's counters.
func (c *Conn) Info() Info {
	i := c.info
	i.SRTT, i.RTTVar, i.RTO = c.srtt, c.rttvar, c.rto
	i.Cwnd, i.Ssthresh, i.SndWnd, i.SndMSS = c.cwnd, c.ssthresh, c.sndWnd, c.sndMSS
	i.WindowScale, i.SndScale, i.RcvScale = c.wsOK, c.sndScale, c.rcvScale
	i.Timestamps, i.SACK = c.tsOK, c.sackOK
	return i
}

// Push makes n more bytes of the Source available to send.
func (c *Conn) Push(n int) error {
	if c.finOff >= 0 || !c.inUse {
		return ErrClosing
	}
	c.pushed += int64(n)
	c.table.wake(c)
	return nil
}

// Grant opens the receive window by n bytes: the Sink accepts n more
// bytes beyond those granted so far.
func (c *Conn) Grant(n int) {
	c.granted += int64(n)
	if !c.state.synchronized() {
		return
	}
	w := c.rcvWnd()
	mss := int64(c.rcvMSS)
	if w >= c.lastAdvWnd+2*mss || (c.lastAdvWnd < mss && w >= mss) {
		c.ackNow = true
		c.table.wake(c)
	}
}

// Close sends a FIN after the data pushed so far (an orderly close); the
// connection lives on until the peer closes too.
func (c *Conn) Close() {
	if !c.inUse || c.finOff >= 0 {
		return
	}
	switch c.state {
	case SynSent:
		c.release(nil)
		return
	case Established, SynReceived:
		c.finOff = c.pushed
		if c.state == Established {
			c.state = FinWait1
		}
	case CloseWait:
		c.finOff = c.pushed
		c.state = LastAck
	default:
		return
	}
	c.table.wake(c)
}

// Abort resets the connection: a RST goes out with its next output and
// the slot is freed (Gone, with ErrAborted).
func (c *Conn) Abort() {
	if !c.inUse {
		return
	}
	if c.state == SynSent || c.state == TimeWait {
		c.release(ErrAborted)
		return
	}
	c.rstPending = true
	c.table.wake(c)
}

// SetKeepalive turns keepalive probes on (idle > 0) or off: after idle
// nanoseconds without a segment from the peer, a probe every interval,
// and the connection is aborted after count unanswered probes.
func (c *Conn) SetKeepalive(idle, interval int64, count int) {
	c.keepIdle, c.keepIntvl, c.keepCount = idle, interval, count
	c.keepAt = 0
	if idle > 0 {
		c.keepAt = c.lastInput() + idle
	}
}

func (c *Conn) lastInput() int64 { return c.lastIn }

func (c *Conn) release(err error) {
	c.err = err
	c.table.release(c)
}

func (c *Conn) event(ev Event) {
	if h := c.app.Handler; h != nil {
		h.Event(c, ev)
	}
}

// rcvWnd returns the window from rcvNxt to the granted edge.
func (c *Conn) rcvWnd() int64 {
	w := c.granted - c.rcvNxtOff
	if w < 0 {
		return 0
	}
	return min(w, 1<<30)
}

// flight returns the bytes in flight.
func (c *Conn) flight() uint32 { return c.sndMax - c.sndUna }

func (c *Conn) deadline() int64 {
	d := int64(0)
	for _, t := range [...]int64{c.rtoAt, c.delackAt, c.keepAt, c.twAt} {
		if t != 0 && (d == 0 || t < d) {
			d = t
		}
	}
	return d
}

// synIn records the peer's SYN: its sequence number and options.
func (c *Conn) synIn(seg *Segment, now int64) {
	c.irs = seg.Seq
	c.rcvNxt = seg.Seq + 1
	c.lastAckSent = c.rcvNxt
	o := seg.Options
	c.sndMSS = 536
	if o.HasMSS && o.MSS > 0 {
		c.sndMSS = int(o.MSS)
	}
	// A peer's MSS below 64 is raised to 64 (Linux's floor is 48): a
	// segment must have room for data after the timestamps.
	c.sndMSS = min(max(c.sndMSS, minMSS), c.rcvMSS)
	c.wsOK = c.wsOK && o.HasWindowScale
	if c.wsOK {
		c.sndScale = min(o.WindowScale, 14)
	} else {
		c.sndScale, c.rcvScale = 0, 0
	}
	c.tsOK = c.tsOK && o.HasTimestamps
	if c.tsOK {
		c.tsRecent = o.TSVal
		c.sndMSS -= 12
	}
	c.sackOK = c.sackOK && o.SACKPermitted
	c.sndWnd = uint32(seg.Window)
	c.sndWl1, c.sndWl2 = seg.Seq, seg.Ack
	c.cwnd = initialWindow(c.sndMSS)
	c.lastIn = now
}

// initialWindow is RFC 5681's IW (3.1).
func initialWindow(mss int) uint32 {
	switch {
	case mss > 2190:
		return uint32(2 * mss)
	case mss > 1095:
		return uint32(3 * mss)
	}
	return uint32(4 * mss)
}

// tsNow returns our timestamp clock (milliseconds, offset per connection).
func (c *Conn) tsNow(now int64) uint32 { return uint32(now/ms) + c.tsOffset }

// input processes a segment for this connection; true asks the caller to
// answer it with a RST.
func (c *Conn) input(seg *Segment, now int64) bool {
	c.info.SegsIn++
	if c.state == SynSent {
		return c.inputSynSent(seg, now)
	}
	t := c.table
	synAck := false
	if f := seg.Flags; c.state == SynReceived && f&(wire.TCPFlagSYN|wire.TCPFlagACK|wire.TCPFlagRST) == wire.TCPFlagSYN|wire.TCPFlagACK &&
		seg.Seq == c.irs && seg.Ack == c.sndNxt && len(seg.Payload) == 0 {
		// Simultaneous open (RFC 9293 figure 8): the peer's SYN-ACK
		// repeats its SYN and acknowledges ours. Its sequence number
		// lies before rcvNxt, so the normal check would refuse it:
		// it is taken as the ACK that follows (the caller's Segment
		// is changed).
		seg.Seq++
		seg.Flags &^= wire.TCPFlagSYN
		c.ackNow = true
		t.wake(c)
		synAck = true
	}
	f := seg.Flags
	// 1. Sequence number check (RFC 9293 3.10.7.4), and PAWS (RFC 7323 5).
	if !c.acceptable(seg) {
		t.stats.Refused[Unacceptable]++
		if f&wire.TCPFlagRST == 0 && c.oowAckAllowed(seg, now) {
			c.ackNow = true
			if c.state == TimeWait && f&wire.TCPFlagFIN != 0 {
				c.twAt = now + 2*t.cfg.MSL
			}
			t.wake(c)
		}
		return false
	}
	o := seg.Options
	if c.tsOK && o.HasTimestamps && f&wire.TCPFlagRST == 0 && seqLT(o.TSVal, c.tsRecent) {
		t.stats.Refused[Unacceptable]++
		c.ackNow = true
		t.wake(c)
		return false
	}
	c.lastIn = now
	c.keepSent = 0
	if c.keepIdle > 0 {
		c.keepAt = now + c.keepIdle
	}
	// 2. RST: exact match resets, otherwise a challenge ACK (RFC 5961 3).
	if f&wire.TCPFlagRST != 0 {
		if seg.Seq != c.rcvNxt {
			c.ackNow = true
			t.wake(c)
			return false
		}
		t.stats.Resets++
		if c.state == SynReceived && c.listener != nil {
			c.release(ErrRefused)
		} else {
			c.release(ErrReset)
		}
		return false
	}
	// 4. SYN in a synchronized state: challenge ACK (RFC 5961 4).
	if f&wire.TCPFlagSYN != 0 {
		t.stats.Refused[BadFlags]++
		c.ackNow = true
		t.wake(c)
		return false
	}
	// 5. ACK.
	if f&wire.TCPFlagACK == 0 {
		t.stats.Refused[BadFlags]++
		return false
	}
	if c.tsOK && o.HasTimestamps && seqGEQ(o.TSVal, c.tsRecent) && seqLEQ(seg.Seq, c.lastAckSent) {
		c.tsRecent = o.TSVal
	}
	opened := c.state == SynReceived
	if opened {
		if !seqGT(seg.Ack, c.sndUna) || seqGT(seg.Ack, c.sndMax) {
			t.stats.Refused[Unacceptable]++
			return true
		}
		c.state = Established
		c.sndWnd = uint32(seg.Window) << c.sndScale
		if synAck {
			c.sndWnd = uint32(seg.Window) // a SYN's window is never scaled
		}
		c.sndWl1, c.sndWl2 = seg.Seq, seg.Ack
		if c.finOff >= 0 {
			c.state = FinWait1
		}
		c.event(Connected)
		if !c.inUse {
			return false
		}
	}
	if !c.ack(seg, now) || !c.inUse {
		return false
	}
	if opened {
		c.synLostRTO()
	}
	// 7. Data, 8. FIN.
	switch c.state {
	case Established, FinWait1, FinWait2:
		c.data(seg, now)
	case CloseWait, Closing, LastAck, TimeWait:
		// The peer's FIN came already: nothing more is accepted.
		if seg.Flags&wire.TCPFlagFIN != 0 && c.state == TimeWait {
			c.twAt = now + 2*t.cfg.MSL
			c.ackNow = true
			t.wake(c)
		}
	}
	return false
}

// oowAckInterval is the least time between two ACKs answering
// unacceptable segments without data (Linux's tcp_invalid_ratelimit):
// two stacks that disagree on the windows cannot start an ACK war.
const oowAckInterval = 500 * ms

// oowAckAllowed reports whether an unacceptable segment may be answered
// with an ACK now: always when it carries data or a FIN (the peer needs
// the ACK to resynchronize), at most every oowAckInterval otherwise.
func (c *Conn) oowAckAllowed(seg *Segment, now int64) bool {
	if len(seg.Payload) > 0 || seg.Flags&(wire.TCPFlagFIN|wire.TCPFlagSYN) != 0 {
		return true
	}
	if now < c.oowAckAt {
		return false
	}
	c.oowAckAt = now + oowAckInterval
	return true
}

// acceptable is the table of RFC 9293 3.10.7.4. A segment with data and a
// zero window is let through (its data is cut off) so that its ACK is
// processed.
func (c *Conn) acceptable(seg *Segment) bool {
	n := seg.Len()
	w := uint32(c.rcvWnd())
	if c.finRcvd {
		w = 0
	}
	if w == 0 {
		if n == 0 {
			return seg.Seq == c.rcvNxt
		}
		return seg.Seq == c.rcvNxt
	}
	inWin := func(s uint32) bool { return seqLEQ(c.rcvNxt, s) && seqLT(s, c.rcvNxt+w) }
	if n == 0 {
		return inWin(seg.Seq)
	}
	return inWin(seg.Seq) || inWin(seg.Seq+n-1)
}

// inputSynSent is RFC 9293 3.10.7.3.
func (c *Conn) inputSynSent(seg *Segment, now int64) bool {
	f := seg.Flags
	t := c.table
	ackOK := false
	if f&wire.TCPFlagACK != 0 {
		if seqLEQ(seg.Ack, c.iss) || seqGT(seg.Ack, c.sndMax) {
			t.stats.Refused[Unacceptable]++
			return f&wire.TCPFlagRST == 0
		}
		ackOK = true
	}
	if f&wire.TCPFlagRST != 0 {
		if ackOK {
			t.stats.Resets++
			c.release(ErrRefused)
		} else {
			t.stats.Refused[BadFlags]++
		}
		return false
	}
	if f&wire.TCPFlagSYN == 0 {
		t.stats.Refused[BadFlags]++
		return false
	}
	c.synIn(seg, now)
	c.ackNow = true
	t.wake(c)
	if !ackOK {
		// Simultaneous open: SYN-RECEIVED, our SYN goes out again with
		// an ACK.
		c.state = SynReceived
		c.synPending = true
		return false
	}
	c.sndUna = seg.Ack
	c.sndUnaOff = 0
	c.sndNxt = c.sndUna
	c.synPending = false
	c.sndWnd = uint32(seg.Window) // a SYN's window is never scaled (RFC 7323 2.2)
	if c.tsOK && seg.Options.HasTimestamps && seg.Options.TSEcr != 0 {
		if seqGEQ(seg.Options.TSEcr, c.rexmitTS) {
			c.sample(int64(c.tsNow(now)-seg.Options.TSEcr) * ms)
		}
	} else if c.retries == 0 {
		c.sample(now - c.rttAt) // Karn: only an unrepeated SYN
	}
	c.synLostRTO()
	c.rttOn, c.retries, c.rtoAt = false, 0, 0
	c.state = Established
	c.event(Connected)
	return false
}

// synLostRTO is RFC 6298 5.7 and RFC 5681 3.1: when a SYN (or SYN-ACK)
// had to be sent again, data transmission starts with an RTO of at
// least 3 s and an initial window of one segment.
func (c *Conn) synLostRTO() {
	if !c.synLost {
		return
	}
	c.rto = max(c.rto, 3*s)
	c.cwnd = uint32(c.sndMSS)
}

// sample updates the RTT estimate with one measurement (RFC 6298 2).
func (c *Conn) sample(r int64) {
	if r <= 0 {
		r = 1000
	}
	if c.srtt == 0 {
		c.srtt, c.rttvar = r, r/2
	} else {
		d := c.srtt - r
		if d < 0 {
			d = -d
		}
		c.rttvar = (3*c.rttvar + d) / 4
		c.srtt = (7*c.srtt + r) / 8
	}
	c.rto = c.baseRTO()
}

// baseRTO is RFC 6298's RTO from the estimate, without backoff.
func (c *Conn) baseRTO() int64 {
	return min(max(c.srtt+max(ms, 4*c.rttvar), c.table.cfg.MinRTO), MaxRTO)
}

// ack processes the acknowledgment field (RFC 9293 3.10.7.4 fifth); false
// drops the rest of the segment.
func (c *Conn) ack(seg *Segment, now int64) bool {
	t := c.table
	a := seg.Ack
	if seqGT(a, c.sndMax) {
		t.stats.Refused[Unacceptable]++
		c.ackNow = true
		t.wake(c)
		return false
	}
	o := seg.Options
	if c.sackOK && o.NumSACK > 0 {
		c.recordSACK(o)
	}
	if seqLT(a, c.sndUna) {
		return true // an old duplicate: its data may still be new
	}
	win := uint32(seg.Window) << c.sndScale
	prevWnd := c.sndWnd
	if seqLT(c.sndWl1, seg.Seq) || (c.sndWl1 == seg.Seq && seqLEQ(c.sndWl2, a)) {
		if win > c.sndWnd {
			t.wake(c)
		}
		c.sndWnd = win
		c.sndWl1, c.sndWl2 = seg.Seq, a
	}
	if a == c.sndUna {
		// A duplicate ACK (RFC 5681 2): no data, no FIN, data
		// outstanding, the window unchanged (a window update is not
		// one), or SACK blocks (RFC 6675 2: the peer reports data
		// beyond a hole; a receiver whose queue waits on the hole
		// changes its window with every such ACK).
		if len(seg.Payload) == 0 && seg.Flags&wire.TCPFlagFIN == 0 && c.flight() > 0 &&
			(win == prevWnd || c.sackOK && o.NumSACK > 0) {
			c.dupAck()
		}
		return true
	}
	acked := a - c.sndUna
	if c.tsOK && o.HasTimestamps && o.TSEcr != 0 {
		// Karn's rule for timestamps: an echo older than the last
		// retransmission may be the peer's tsRecent held over a loss.
		if seqGEQ(o.TSEcr, c.rexmitTS) {
			c.sample(int64(c.tsNow(now)-o.TSEcr) * ms)
		}
	} else if c.rttOn && seqGEQ(a, c.rttSeq) {
		c.sample(now - c.rttAt)
		c.rttOn = false
	}
	c.sndUna = a
	c.sndUnaOff += int64(acked)
	if seqLT(c.sndNxt, a) {
		c.sndNxt = a
	}
	c.retries = 0
	c.probe = false
	if c.srtt != 0 {
		// New data acknowledged: the path works, the backoff ends
		// (as Linux does), even before Karn's rule allows a sample.
		c.rto = c.baseRTO()
	}
	data := acked
	if c.sndUnaOff-int64(acked) < 0 {
		data-- // the SYN is not data: it grows no window
	}
	if data > 0 {
		c.congestionAck(data)
	}
	if c.sndUna == c.sndMax {
		c.rtoAt = 0
	} else {
		c.rtoAt = now + c.rto
	}
	t.wake(c)
	finAcked := c.finOff >= 0 && c.sndUnaOff > c.finOff
	if c.sndUnaOff > 0 && c.sndUnaOff-int64(acked) < c.pushed {
		c.event(Acked)
		if !c.inUse {
			return false
		}
	}
	if finAcked {
		switch c.state {
		case FinWait1:
			c.state = FinWait2
		case Closing:
			c.enterTimeWait(now)
		case LastAck:
			c.release(nil)
			return false
		}
	}
	return true
}

func (c *Conn) enterTimeWait(now int64) {
	c.state = TimeWait
	c.rtoAt, c.delackAt, c.keepAt = 0, 0, 0
	c.twAt = now + 2*c.table.cfg.MSL
}

// recordSACK merges the peer's SACK blocks above sndUna into the
// scoreboard (the newest first; older ones drop off when it is full).
func (c *Conn) recordSACK(o *wire.TCPOptions) {
	var sb [maxSACK]struct{ left, right uint32 }
	n := 0
	for i := 0; i < o.NumSACK && n < maxSACK; i++ {
		b := o.SACK[i]
		if seqLEQ(b.Right, b.Left) || seqLEQ(b.Right, c.sndUna) || seqGT(b.Right, c.sndMax) {
			continue
		}
		sb[n].left, sb[n].right = b.Left, b.Right
		if seqLT(sb[n].left, c.sndUna) {
			sb[n].left = c.sndUna
		}
		n++
	}
	for i := 0; i < c.nsacked && n < maxSACK; i++ {
		b := c.sacked[i]
		if seqLEQ(b.right, c.sndUna) {
			continue
		}
		dup := false
		for j := 0; j < n; j++ {
			if seqLEQ(sb[j].left, b.left) && seqGEQ(sb[j].right, b.right) {
				dup = true
			}
		}
		if !dup {
			sb[n] = b
			n++
		}
	}
	c.sacked, c.nsacked = sb, n
}

// sackedEnd returns, if seq lies in a SACKed block, the block's end.
func (c *Conn) sackedEnd(seq uint32) (uint32, bool) {
	for i := 0; i < c.nsacked; i++ {
		b := c.sacked[i]
		if seqLEQ(b.left, seq) && seqLT(seq, b.right) {
			return b.right, true
		}
	}
	return 0, false
}

// nextSACKed returns the start of the first SACKed block above seq, or
// limit.
func (c *Conn) nextSACKed(seq, limit uint32) uint32 {
	for i := 0; i < c.nsacked; i++ {
		if l := c.sacked[i].left; seqGT(l, seq) && seqLT(l, limit) {
			limit = l
		}
	}
	return limit
}

// nextHole returns the start and end of the next range to resend in SACK
// recovery: from rexmitNext (or sndUna), past SACKed blocks, below the
// highest SACKed sequence number, at most one segment.
func (c *Conn) nextHole() (start, end uint32, ok bool) {
	if c.nsacked == 0 {
		return 0, 0, false
	}
	high := c.sacked[0].right
	for i := 1; i < c.nsacked; i++ {
		if seqGT(c.sacked[i].right, high) {
			high = c.sacked[i].right
		}
	}
	s := c.rexmitNext
	if seqLT(s, c.sndUna) {
		s = c.sndUna
	}
	for {
		e, in := c.sackedEnd(s)
		if !in {
			break
		}
		s = e
	}
	if !seqLT(s, high) {
		return 0, 0, false
	}
	e := c.nextSACKed(s, high)
	if e-s > uint32(c.sndMSS) {
		e = s + uint32(c.sndMSS)
	}
	return s, e, true
}

// dupAck counts a duplicate ACK (RFC 5681 3.2, RFC 6582 3.2).
func (c *Conn) dupAck() {
	c.dupAcks++
	c.info.DupAcks++
	mss := uint32(c.sndMSS)
	if c.inRecovery {
		c.cwnd += mss
		c.holeRexmit = c.nsacked > 0
		c.table.wake(c)
		return
	}
	if c.dupAcks != 3 || !seqGT(c.sndUna, c.recover) && c.recover != c.iss {
		return
	}
	c.ssthresh = max(c.flight()/2, 2*mss)
	c.recover = c.sndMax
	c.cwnd = c.ssthresh + 3*mss
	c.inRecovery = true
	c.fastRexmit = true
	c.rexmitNext = c.sndUna
	c.rttOn = false
	c.info.FastRetransmits++
	c.table.stats.FastRetransmits++
	c.table.wake(c)
}

// congestionAck grows or deflates cwnd for acked new bytes.
func (c *Conn) congestionAck(acked uint32) {
	mss := uint32(c.sndMSS)
	if c.inRecovery {
		if seqGEQ(c.sndUna, c.recover) {
			// Full acknowledgment: deflate (RFC 6582 3.2 step 3).
			c.cwnd = min(c.ssthresh, max(c.flight(), mss)+mss)
			c.inRecovery = false
			c.dupAcks = 0
			return
		}
		// Partial acknowledgment: retransmit the next hole, unless
		// SACK recovery has resent it already.
		if c.nsacked > 0 && seqLT(c.sndUna, c.rexmitNext) {
			c.holeRexmit = true
		} else {
			c.fastRexmit = true
		}
		if acked >= c.cwnd {
			c.cwnd = mss
		} else {
			c.cwnd -= acked
		}
		if acked >= mss {
			c.cwnd += mss
		}
		return
	}
	c.dupAcks = 0
	if c.cwnd < c.ssthresh {
		// RFC 3465 without its limit L: a stack that acknowledges a
		// batch at a time sends stretch ACKs.
		c.cwnd = min(c.cwnd+acked, maxCwnd)
		return
	}
	c.caAcked += acked
	if c.caAcked >= c.cwnd {
		c.caAcked -= c.cwnd
		c.cwnd = min(c.cwnd+mss, maxCwnd)
	}
}

// data writes a segment's data into the Sink and handles its FIN.
func (c *Conn) data(seg *Segment, now int64) {
	t := c.table
	p := seg.Payload
	seq := seg.Seq
	fin := seg.Flags&wire.TCPFlagFIN != 0
	if d := int32(c.rcvNxt - seq); d > 0 {
		// Already received in part.
		if int(d) >= len(p) {
			if !(fin && int(d) == len(p)) {
				fin = false
			}
			p = p[len(p):]
		} else {
			p = p[d:]
		}
		seq = c.rcvNxt
	}
	off := c.rcvNxtOff + int64(int32(seq-c.rcvNxt))
	end := off + int64(len(p))
	if end > c.granted {
		end = max(c.granted, off)
		fin = false // beyond the window: the peer sends it again
	}
	if end > off {
		if _, err := c.app.Sink.WriteAt(p[:end-off], off); err != nil {
			c.rstPending = true
			c.err = err
			t.wake(c)
			return
		}
	}
	if off != c.rcvNxtOff {
		c.info.OutOfOrder++
		if end > off {
			c.addOOO(span{off, end})
		}
		// One duplicate ACK per out-of-order segment (RFC 5681 4.2),
		// even when a batch of them is processed before any output.
		c.dupAcksOwed = min(c.dupAcksOwed+1, maxDupAcksOwed)
		c.ackNow = true
		t.wake(c)
		return
	}
	if end > off || fin {
		filled := c.nooo > 0
		newEnd := c.mergeOOO(end)
		c.rcvNxt += uint32(newEnd - c.rcvNxtOff)
		c.rcvNxtOff = newEnd
		c.unacked++
		if filled || fin || c.unacked >= 2 {
			c.ackNow = true
			t.wake(c)
		} else if c.delackAt == 0 {
			c.delackAt = now + DelayedACK
		}
		if end > off {
			c.event(Readable)
			if !c.inUse {
				return
			}
		}
	}
	if fin && newEndIs(c, end) {
		c.finRcvd = true
		c.rcvNxt++
		c.ackNow = true
		t.wake(c)
		switch c.state {
		case Established:
			c.state = CloseWait
		case FinWait1:
			c.state = Closing
		case FinWait2:
			c.enterTimeWait(now)
		}
		c.event(PeerClosed)
	}
}

// newEndIs reports whether the FIN that follows offset end is in order.
func newEndIs(c *Conn, end int64) bool { return c.rcvNxtOff == end && c.nooo == 0 }

// addOOO records an out-of-order range, merging neighbours, and moves it
// first: the ranges are kept most recently updated first, the order SACK
// blocks report them in (RFC 2018 4). When the list is full the least
// recent range is forgotten (its data is written already; the peer sends
// it again).
func (c *Conn) addOOO(r span) {
	k := -1
	for i := 0; i < c.nooo; i++ {
		o := &c.ooo[i]
		if r.start <= o.end && r.end >= o.start {
			o.start, o.end = min(o.start, r.start), max(o.end, r.end)
			r = *o
			k = i
			break
		}
	}
	if k < 0 {
		if c.nooo < maxOOO {
			c.nooo++
		}
		k = c.nooo - 1
	}
	copy(c.ooo[1:k+1], c.ooo[:k])
	c.ooo[0] = r
	// The grown range may now touch others.
	for i := 1; i < c.nooo; i++ {
		if o := c.ooo[i]; o.start <= c.ooo[0].end && o.end >= c.ooo[0].start {
			c.ooo[0].start, c.ooo[0].end = min(o.start, c.ooo[0].start), max(o.end, c.ooo[0].end)
			copy(c.ooo[i:], c.ooo[i+1:c.nooo])
			c.nooo--
			i--
		}
	}
}

// mergeOOO returns the new contiguous end after in-order data up to end,
// absorbing out-of-order ranges it reaches.
func (c *Conn) mergeOOO(end int64) int64 {
	for again := true; again; {
		again = false
		for i := 0; i < c.nooo; i++ {
			if o := c.ooo[i]; o.start <= end {
				end = max(end, o.end)
				copy(c.ooo[i:], c.ooo[i+1:c.nooo])
				c.nooo--
				again = true
				break
			}
		}
	}
	return end
}

// timers runs the connection's timers due at now.
func (c *Conn) timers(now int64) {
	t := c.table
	if c.twAt != 0 && c.twAt <= now {
		c.release(nil)
		return
	}
	if c.delackAt != 0 && c.delackAt <= now {
		c.delackAt = 0
		c.ackNow = true
		t.wake(c)
	}
	if c.keepAt != 0 && c.keepAt <= now && c.state.synchronized() {
		if c.keepSent >= c.keepCount {
			c.release(ErrTimeout)
			return
		}
		c.keepSent++
		c.keepProbe = true
		c.keepAt = now + c.keepIntvl
		t.wake(c)
	}
	if c.rtoAt != 0 && c.rtoAt <= now {
		c.timeout(now)
	}
}

// timeout is the retransmission timer's expiry (RFC 6298 5.4-5.6, RFC 5681
// 3.1 equation 4) or the persist timer's.
func (c *Conn) timeout(now int64) {
	t := c.table
	c.retries++
	limit := MaxRetries
	if !c.state.synchronized() {
		limit = MaxSynRetry
	}
	if c.retries > limit {
		if c.state.synchronized() {
			c.rstPending = true
			c.err = ErrTimeout
			t.wake(c)
			c.rtoAt = 0
			return
		}
		c.release(ErrTimeout)
		return
	}
	c.rto = min(2*c.rto, MaxRTO)
	c.rtoAt = now + c.rto
	c.rttOn = false
	if !c.state.synchronized() {
		c.synPending = true
		c.info.RTOs++
		t.stats.RTOs++
		t.wake(c)
		return
	}
	if c.sndUna == c.sndMax {
		// Nothing in flight: the persist timer, probing a zero window.
		if c.sendable() > 0 {
			c.probe = true
			t.wake(c)
		} else {
			c.rtoAt = 0
		}
		return
	}
	mss := uint32(c.sndMSS)
	c.ssthresh = max(c.flight()/2, 2*mss)
	c.cwnd = mss
	c.caAcked = 0
	c.sndNxt = c.sndUna
	c.recover = c.sndMax
	c.inRecovery = false
	c.holeRexmit = false
	c.dupAcks = 0
	// A window probe in flight is sent again even though the window is
	// still closed.
	c.probe = c.sndWnd == 0
	c.info.RTOs++
	t.stats.RTOs++
	t.wake(c)
}

// sendable returns the sequence space ready beyond sndNxt: data, and 1 for
// a FIN not yet sent.
func (c *Conn) sendable() int64 {
	off := c.offset(c.sndNxt)
	n := max(c.pushed-off, 0)
	if c.finOff >= 0 && off <= c.finOff {
		n++
	}
	return n
}

// offset returns the stream offset of sequence number seq (near sndUna).
func (c *Conn) offset(seq uint32) int64 { return c.sndUnaOff + int64(int32(seq-c.sndUna)) }
