package tcp

import (
	"fmt"
	"net/netip"
	"testing"

	"spacenet/ip/wire"
)

// The harness: two Tables joined by a simulated wire on a fake clock.
// Segments go through wire's encoder and parser, so that what the engine
// writes is what it reads. A drop function decides the fate of each
// segment (loss injection).

var (
	addrA = netip.MustParseAddrPort("10.0.0.1:40000")
	addrB = netip.MustParseAddrPort("10.0.0.2:80")
)

// pattern is the byte at stream offset off of the test streams.
func pattern(off int64) byte { return byte(off*7 + off>>9 + off>>17) }

// genSource is a Source that computes its bytes: it holds no buffer.
type genSource struct{}

func (genSource) ReadAt(p []byte, off int64) (int, error) {
	for i := range p {
		p[i] = pattern(off + int64(i))
	}
	return len(p), nil
}

// checkSink is a Sink that checks every byte against pattern and keeps no
// data; bad counts mismatches.
type checkSink struct {
	bad    int
	writes int
}

func (s *checkSink) WriteAt(p []byte, off int64) (int, error) {
	s.writes++
	for i, b := range p {
		if b != pattern(off+int64(i)) {
			s.bad++
		}
	}
	return len(p), nil
}

// app is a test application: it counts events, grants back what it
// reads at once (consuming the stream as it comes), and pushes total
// bytes then closes when closeAfter is set.
type app struct {
	conn        *Conn
	sink        checkSink
	events      [Gone + 1]int
	regrant     bool
	total       int64
	closeWhen   bool // Close once everything pushed is acked
	granted     int64
	err         error
	onPeerClose func(c *Conn)
	log         []string
}

func (a *app) Event(c *Conn, ev Event) {
	a.events[ev]++
	a.conn = c
	switch ev {
	case Readable:
		if a.regrant {
			n := c.Readable() - a.granted
			a.granted = c.Readable()
			c.Grant(int(n))
		}
	case Acked:
		if a.closeWhen && c.Acked() == a.total {
			c.Close()
		}
	case PeerClosed:
		a.log = append(a.log, "peer closed")
		if a.onPeerClose != nil {
			a.onPeerClose(c)
		}
	case Gone:
		a.err = c.Err()
	}
}

func (a *app) App(grant int) App {
	return App{Source: genSource{}, Sink: &a.sink, Grant: grant, Handler: a}
}

type pipeSeg struct {
	from *Table
	b    []byte
	at   int64
}

// net joins two tables with a one-way delay.
type sim struct {
	t      *testing.T
	a, b   *Table
	now    int64
	delay  int64
	inAir  []pipeSeg
	drop   func(from *Table, seg *Segment, n int) bool
	sent   int
	trace  bool
	buf    []byte
	rstOut int
}

func newSim(t *testing.T, ca, cb Config) *sim {
	ta, err := NewTable(ca)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := NewTable(cb)
	if err != nil {
		t.Fatal(err)
	}
	return &sim{t: t, a: ta, b: tb, now: 1e9, delay: 5 * ms, buf: make([]byte, MaxHeader+65536)}
}

func defaultConfig() Config { return Config{Conns: 4, MSS: 1460} }

func (n *sim) addr(t *Table) (local, remote netip.AddrPort) {
	if t == n.a {
		return addrA, addrB
	}
	return addrB, addrA
}

// flush collects every table's output onto the wire.
func (n *sim) flush() {
	for _, t := range []*Table{n.a, n.b} {
		for c := t.Next(); c != nil; c = t.Next() {
			for {
				k := c.Output(n.now, n.buf)
				if k == 0 {
					break
				}
				n.put(t, n.buf[:k])
			}
		}
	}
}

func (n *sim) put(from *Table, b []byte) {
	n.sent++
	seg := n.parse(from, b)
	drop := n.drop != nil && n.drop(from, seg, n.sent)
	if n.trace {
		mark := ""
		if drop {
			mark = " (lost)"
		}
		n.t.Logf("%d ms %s%s", n.now/ms, fmtSeg(from == n.a, seg), mark)
	}
	if drop {
		return
	}
	n.inAir = append(n.inAir, pipeSeg{from, append([]byte(nil), b...), n.now + n.delay})
}

func (n *sim) parse(from *Table, b []byte) *Segment {
	h, err := wire.ParseTCP(b)
	if err != nil {
		n.t.Fatalf("engine wrote a bad segment: %v", err)
	}
	o := new(wire.TCPOptions)
	if err := h.ParseOptions(o); err != nil {
		n.t.Fatalf("engine wrote bad options: %v", err)
	}
	local, remote := n.addr(from)
	return &Segment{Remote: local, Local: remote, Seq: h.Seq(), Ack: h.Ack(), Flags: h.Flags(), Window: h.Window(),
		Options: o, Payload: h.Payload()}
}

func fmtSeg(fromA bool, s *Segment) string {
	dir := "B>A"
	if fromA {
		dir = "A>B"
	}
	return fmt.Sprintf("%s %s seq=%d ack=%d win=%d len=%d", dir, flagString(s.Flags), s.Seq, s.Ack, s.Window, len(s.Payload))
}

func flagString(f uint16) string {
	s := ""
	for _, x := range []struct {
		f uint16
		n string
	}{{wire.TCPFlagSYN, "S"}, {wire.TCPFlagFIN, "F"}, {wire.TCPFlagRST, "R"}, {wire.TCPFlagPSH, "P"}, {wire.TCPFlagACK, "."}} {
		if f&x.f != 0 {
			s += x.n
		}
	}
	return s
}

// step delivers the segments due next (or runs timers) and returns false
// when nothing at all is left to happen.
func (n *sim) step() bool {
	n.flush()
	next := int64(0)
	for _, p := range n.inAir {
		if next == 0 || p.at < next {
			next = p.at
		}
	}
	for _, t := range []*Table{n.a, n.b} {
		if d := t.Tick(n.now); d != 0 && (next == 0 || d < next) {
			next = d
		}
	}
	n.flush()
	if next == 0 {
		return false
	}
	if next > n.now {
		n.now = next
	}
	rest := n.inAir[:0]
	var due []pipeSeg
	for _, p := range n.inAir {
		if p.at <= n.now {
			due = append(due, p)
		} else {
			rest = append(rest, p)
		}
	}
	n.inAir = rest
	for _, p := range due {
		to := n.b
		if p.from == n.b {
			to = n.a
		}
		seg := n.parse(p.from, p.b)
		if to.Input(seg, n.now) {
			k := Reset(seg, n.buf)
			n.rstOut++
			n.put(to, n.buf[:k])
		}
	}
	for _, t := range []*Table{n.a, n.b} {
		t.Tick(n.now)
	}
	return true
}

// run steps until nothing is left or until the fake clock passes limit.
func (n *sim) run(limit int64) {
	for n.now < limit && n.step() {
	}
}
