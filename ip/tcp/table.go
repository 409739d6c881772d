package tcp

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"spacenet/ip/wire"
)

// Config sizes a Table.
type Config struct {
	// Conns is the number of connection slots, fixed for the Table's life.
	Conns int
	// Listeners is the number of listening ports; 0 means 8.
	Listeners int
	// MSS is the largest segment payload this side receives over IPv4
	// (the MTU less 40 bytes of IPv4 and TCP headers, 1460 for
	// Ethernet); IPv6 connections announce 20 bytes less.
	MSS int
	// MSL is the maximum segment lifetime (TIME-WAIT lasts 2*MSL); 0
	// means DefaultMSL.
	MSL int64
	// WindowScale is the shift we offer (RFC 7323); 0 means 7 (windows up
	// to 16 MiB), -1 offers none.
	WindowScale int
	// NoTimestamps, NoSACK turn the options off.
	NoTimestamps, NoSACK bool
	// Secret keys the ISN function (RFC 6528); zero means a random key.
	Secret [32]byte
	// MinRTO overrides the RTO floor; 0 means MinRTO.
	MinRTO int64
}

// Listener is a passive open: a port and the share of connection slots
// its connections may hold.
type Listener struct {
	Port uint16
	// Quota is the number of slots this listener's connections may hold,
	// half-open or not: a SYN flood against it cannot take more, and the
	// slots of other listeners and of active opens are never taken.
	Quota int
	// Accept gives each new connection its App, at the SYN; returning
	// false, or an App without Source or Sink, refuses the connection
	// (RST).
	Accept func(local, remote netip.AddrPort) (App, bool)

	used int
	on   bool
}

// Reason says why the Table refused a segment.
type Reason int

// The reasons.
const (
	NoConn       Reason = iota // no connection or listener: answered with RST
	QuotaFull                  // a listener's quota or the table is full: SYN refused with RST
	NotAccepted                // the listener's Accept refused: RST
	Unacceptable               // outside the receive window, bad ACK, PAWS: answered with ACK
	BadFlags                   // no ACK in a synchronized state, or SYN+RST and the like
	NumReasons
)

var reasonNames = [NumReasons]string{"no_conn", "quota_full", "not_accepted", "unacceptable", "bad_flags"}

func (r Reason) String() string {
	if r >= 0 && r < NumReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

// Stats are a Table's counters.
type Stats struct {
	SegsIn, SegsOut uint64
	Retransmits     uint64 // segments sent again (RTO, fast retransmit, probes)
	RTOs            uint64 // retransmission timeouts
	FastRetransmits uint64 // entries into fast recovery
	Opened, Closed  uint64
	Resets          uint64 // connections reset by the peer
	Refused         [NumReasons]uint64
}

// Table is a fixed set of connection slots and listeners.
type Table struct {
	conns     []Conn
	free      []int32 // stack of free slots
	index     []int32 // open addressing: slot+1, 0 empty, -1 deleted
	listeners []Listener
	pending   []int32 // ring of slots with output to send
	pendHead  int
	pendLen   int
	seed      uint64
	secret    [32]byte
	cfg       Config
	stats     Stats
}

// NewTable makes a Table with every slot allocated.
func NewTable(c Config) (*Table, error) {
	if c.Conns <= 0 || c.Conns > 1<<20 {
		return nil, fmt.Errorf("tcp: Conns %d: want 1..%d", c.Conns, 1<<20)
	}
	if c.MSS < 64 || c.MSS > 65495 {
		return nil, fmt.Errorf("tcp: MSS %d: want 64..65495", c.MSS)
	}
	if c.WindowScale < -1 || c.WindowScale > 14 {
		return nil, fmt.Errorf("tcp: WindowScale %d: want -1..14", c.WindowScale)
	}
	if c.WindowScale == 0 {
		c.WindowScale = 7
	}
	if c.Listeners == 0 {
		c.Listeners = 8
	}
	if c.MSL == 0 {
		c.MSL = DefaultMSL
	}
	if c.MinRTO == 0 {
		c.MinRTO = MinRTO
	}
	t := &Table{cfg: c, secret: c.Secret}
	if t.secret == ([32]byte{}) {
		rand.Read(t.secret[:])
	}
	t.seed = binary.LittleEndian.Uint64(t.secret[:8]) | 1
	t.conns = make([]Conn, c.Conns)
	t.free = make([]int32, c.Conns)
	for i := range t.conns {
		t.conns[i].table = t
		t.conns[i].slot = int32(i)
		t.free[i] = int32(c.Conns - 1 - i)
	}
	n := 1
	for n < 2*c.Conns {
		n <<= 1
	}
	t.index = make([]int32, n)
	t.pending = make([]int32, c.Conns)
	t.listeners = make([]Listener, c.Listeners)
	return t, nil
}

// Stats returns the counters.
func (t *Table) Stats() Stats { return t.stats }

// MSS returns the configured MSS.
func (t *Table) MSS() int { return t.cfg.MSS }

// Listen adds a listener. The quotas of all listeners together may not
// exceed the slots.
func (t *Table) Listen(l Listener) error {
	if l.Accept == nil || l.Quota <= 0 {
		return fmt.Errorf("tcp: listener on port %d: need Accept and Quota > 0", l.Port)
	}
	total := l.Quota
	slot := -1
	for i := range t.listeners {
		if t.listeners[i].on {
			if t.listeners[i].Port == l.Port {
				return fmt.Errorf("tcp: port %d: already listening", l.Port)
			}
			total += t.listeners[i].Quota
		} else if slot < 0 && t.listeners[i].used == 0 {
			slot = i
		}
	}
	if slot < 0 {
		return fmt.Errorf("tcp: port %d: all %d listener slots taken", l.Port, len(t.listeners))
	}
	if total > len(t.conns) {
		return fmt.Errorf("tcp: port %d: quotas total %d > %d slots", l.Port, total, len(t.conns))
	}
	l.on, l.used = true, 0
	t.listeners[slot] = l
	return nil
}

// Unlisten stops the listener on port: new SYNs are answered with RST.
// Its connections live on (and keep counting against its quota until
// they end, so the listener's slot is not reused before).
func (t *Table) Unlisten(port uint16) {
	for i := range t.listeners {
		if l := &t.listeners[i]; l.on && l.Port == port {
			l.on = false
		}
	}
}

// reserved returns the slots promised to listeners but not used.
func (t *Table) reserved() int {
	r := 0
	for i := range t.listeners {
		if t.listeners[i].on {
			r += t.listeners[i].Quota - t.listeners[i].used
		}
	}
	return r
}

// ErrFull is returned by Dial when no slot is free outside the listeners'
// quotas.
var ErrFull = errors.New("tcp: connection table full")

var errNoApp = errors.New("tcp: App needs a Source and a Sink")

// ErrInUse is returned by Dial for a 4-tuple already in the table.
var ErrInUse = errors.New("tcp: address pair in use")

// Dial starts an active open from local to remote; the SYN is the
// connection's first output. now is the current time.
func (t *Table) Dial(local, remote netip.AddrPort, app App, now int64) (*Conn, error) {
	if app.Source == nil || app.Sink == nil {
		return nil, errNoApp
	}
	if t.lookup(local, remote) != nil {
		return nil, ErrInUse
	}
	if len(t.free) <= t.reserved() {
		return nil, ErrFull
	}
	c := t.alloc(local, remote, app, nil, now)
	c.state = SynSent
	c.rtoAt = now + c.rto
	t.wake(c)
	return c, nil
}

func (t *Table) alloc(local, remote netip.AddrPort, app App, l *Listener, now int64) *Conn {
	slot := t.free[len(t.free)-1]
	t.free = t.free[:len(t.free)-1]
	c := &t.conns[slot]
	c.reset(local, remote, app, l, now)
	t.insert(c)
	if l != nil {
		l.used++
	}
	t.stats.Opened++
	return c
}

// release frees c's slot, telling its handler first.
func (t *Table) release(c *Conn) {
	if c.state == Closed && !c.inUse {
		return
	}
	t.remove(c)
	if c.listener != nil {
		c.listener.used--
	}
	c.state = Closed
	c.inUse = false
	t.stats.Closed++
	h := c.app.Handler
	if h != nil {
		h.Event(c, Gone)
	}
	c.app = App{}
	t.free = append(t.free, c.slot)
}

// hash mixes a 4-tuple with the table's seed.
func (t *Table) hash(local, remote netip.AddrPort) uint64 {
	a, b := local.Addr().As16(), remote.Addr().As16()
	h := t.seed
	for i := 0; i < 16; i += 8 {
		h = mix(h ^ binary.LittleEndian.Uint64(a[i:]))
		h = mix(h ^ binary.LittleEndian.Uint64(b[i:]))
	}
	return mix(h ^ uint64(local.Port())<<16 ^ uint64(remote.Port()))
}

func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	return h ^ h>>33
}

func (t *Table) lookup(local, remote netip.AddrPort) *Conn {
	mask := uint64(len(t.index) - 1)
	for i, n := t.hash(local, remote)&mask, 0; n < len(t.index); i, n = (i+1)&mask, n+1 {
		v := t.index[i]
		if v == 0 {
			return nil
		}
		if v > 0 {
			c := &t.conns[v-1]
			if c.local == local && c.remote == remote {
				return c
			}
		}
	}
	return nil
}

func (t *Table) insert(c *Conn) {
	mask := uint64(len(t.index) - 1)
	for i := t.hash(c.local, c.remote) & mask; ; i = (i + 1) & mask {
		if t.index[i] <= 0 {
			t.index[i] = c.slot + 1
			return
		}
	}
}

func (t *Table) remove(c *Conn) {
	mask := uint64(len(t.index) - 1)
	for i, n := t.hash(c.local, c.remote)&mask, 0; n < len(t.index); i, n = (i+1)&mask, n+1 {
		switch t.index[i] {
		case 0:
			return
		case c.slot + 1:
			t.index[i] = -1
			if t.index[(i+1)&mask] == 0 {
				// End of a run: tombstones before it can go too.
				for j := i; t.index[j] == -1; j = (j - 1) & mask {
					t.index[j] = 0
				}
			}
			return
		}
	}
}

// wake queues c for output.
func (t *Table) wake(c *Conn) {
	if c.queued || !c.inUse {
		return
	}
	c.queued = true
	t.pending[(t.pendHead+t.pendLen)%len(t.pending)] = c.slot
	t.pendLen++
}

// Next returns a connection with segments to send, or nil. Call its
// Output until it returns 0.
func (t *Table) Next() *Conn {
	for t.pendLen > 0 {
		c := &t.conns[t.pending[t.pendHead]]
		t.pendHead = (t.pendHead + 1) % len(t.pending)
		t.pendLen--
		c.queued = false
		if c.inUse {
			return c
		}
	}
	return nil
}

// noOptions stands in for a Segment's missing options (read only).
var noOptions wire.TCPOptions

// Input processes one received segment addressed to us (the stack has
// checked its checksum). It returns true when the segment is to be
// answered with a RST (see Reset); a connection's own answers come from
// its Output.
func (t *Table) Input(seg *Segment, now int64) (rst bool) {
	t.stats.SegsIn++
	if seg.Options == nil {
		seg.Options = &noOptions
	}
	if c := t.lookup(seg.Local, seg.Remote); c != nil {
		return c.input(seg, now)
	}
	return t.listen(seg, now)
}

// listen handles a segment for no connection: a SYN to a listener opens
// one, anything else is answered with RST (RFC 9293 3.10.7.1, 3.10.7.2).
func (t *Table) listen(seg *Segment, now int64) bool {
	f := seg.Flags
	if f&wire.TCPFlagRST != 0 {
		t.stats.Refused[NoConn]++
		return false
	}
	var l *Listener
	for i := range t.listeners {
		if t.listeners[i].on && t.listeners[i].Port == seg.Local.Port() {
			l = &t.listeners[i]
			break
		}
	}
	if l == nil || f&wire.TCPFlagACK != 0 {
		// CLOSED, or an ACK to LISTEN: RST (RFC 9293 3.10.7.1, 3.10.7.2).
		t.stats.Refused[NoConn]++
		return true
	}
	if f&wire.TCPFlagSYN == 0 || f&wire.TCPFlagFIN != 0 {
		t.stats.Refused[BadFlags]++
		return false
	}
	if l.used >= l.Quota || len(t.free) == 0 {
		t.stats.Refused[QuotaFull]++
		return true
	}
	app, ok := l.Accept(seg.Local, seg.Remote)
	if !ok || app.Source == nil || app.Sink == nil {
		t.stats.Refused[NotAccepted]++
		return true
	}
	c := t.alloc(seg.Local, seg.Remote, app, l, now)
	c.synIn(seg, now)
	c.state = SynReceived
	c.rtoAt = now + c.rto
	t.wake(c)
	return false
}

// isn returns the initial sequence number for a 4-tuple (RFC 6528):
// a 4-microsecond clock plus a keyed hash of the tuple.
func (t *Table) isn(local, remote netip.AddrPort, now int64) uint32 {
	var b [32 + 36]byte
	copy(b[:32], t.secret[:])
	la, ra := local.Addr().As16(), remote.Addr().As16()
	copy(b[32:], la[:])
	copy(b[48:], ra[:])
	binary.BigEndian.PutUint16(b[64:], local.Port())
	binary.BigEndian.PutUint16(b[66:], remote.Port())
	h := sha256.Sum256(b[:])
	return uint32(now/4000) + binary.BigEndian.Uint32(h[:])
}

// Reset writes into b the RST that answers seg (RFC 9293 3.10.7.1) and
// returns its length: 20 bytes, checksum zero.
func Reset(seg *Segment, b []byte) int {
	f := wire.TCPFields{SrcPort: seg.Local.Port(), DstPort: seg.Remote.Port()}
	if seg.Flags&wire.TCPFlagACK != 0 {
		f.Seq, f.Flags = seg.Ack, wire.TCPFlagRST
	} else {
		f.Ack, f.Flags = seg.Seq+seg.Len(), wire.TCPFlagRST|wire.TCPFlagACK
	}
	wire.TCP(b).Encode(&f)
	return wire.TCPMinSize
}

// Tick runs the timers that are due at now and returns the earliest
// deadline still set (0 if none).
func (t *Table) Tick(now int64) int64 {
	var next int64
	for i := range t.conns {
		c := &t.conns[i]
		if !c.inUse {
			continue
		}
		if d := c.deadline(); d != 0 && d <= now {
			c.timers(now)
		}
		if c.inUse {
			if d := c.deadline(); d != 0 && (next == 0 || d < next) {
				next = d
			}
		}
	}
	return next
}

// Deadline returns the earliest timer deadline of any connection (0 if
// none): call it after draining output, which may arm timers.
func (t *Table) Deadline() int64 {
	var next int64
	for i := range t.conns {
		if c := &t.conns[i]; c.inUse {
			if d := c.deadline(); d != 0 && (next == 0 || d < next) {
				next = d
			}
		}
	}
	return next
}

// Conns returns the number of slots in use.
func (t *Table) Conns() int { return len(t.conns) - len(t.free) }
