package tcp

import (
	"net/netip"
	"testing"

	"spacenet/ip/wire"
)

// duo is two Tables wired back to back with no allocation of its own:
// each segment is written into one buffer, parsed into a reused Segment
// and handed to the other side at once.
type duo struct {
	a, b   *Table
	ca, cb *Conn
	now    int64
	buf    []byte
	seg    Segment
	opts   wire.TCPOptions
	lose   bool // drop what a sends
}

func newDuo(t testing.TB) *duo {
	cfg := Config{Conns: 2, MSS: 1460}
	a, _ := NewTable(cfg)
	b, _ := NewTable(cfg)
	d := &duo{a: a, b: b, now: 1e9, buf: make([]byte, MaxHeader+1500)}
	sa, sb := &discardSink{}, &discardSink{}
	d.b.Listen(Listener{Port: 80, Quota: 1, Accept: func(l, r netip.AddrPort) (App, bool) {
		return App{Source: tableSource{}, Sink: sb, Grant: 1 << 20, Handler: sb}, true
	}})
	var err error
	if d.ca, err = a.Dial(addrA, addrB, App{Source: tableSource{}, Sink: sa, Grant: 1 << 20, Handler: sa}, d.now); err != nil {
		t.Fatal(err)
	}
	d.pump()
	d.cb = sb.conn
	if d.ca.State() != Established || d.cb == nil || d.cb.State() != Established {
		t.Fatalf("not established: %v", d.ca.State())
	}
	if !d.ca.tsOK || !d.ca.sackOK || !d.ca.wsOK {
		t.Fatalf("options not negotiated")
	}
	return d
}

// tableSource is a Source copying from one fixed table: the cheapest
// application, for measuring the engine.
type tableSource struct{}

var table64k = make([]byte, 1<<16)

func (tableSource) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		n += copy(p[n:], table64k[(off+int64(n))%int64(len(table64k)):])
	}
	return n, nil
}

// discardSink takes data, regrants at once and keeps nothing.
type discardSink struct {
	conn *Conn
	seen int64
}

func (s *discardSink) WriteAt(p []byte, off int64) (int, error) { return len(p), nil }
func (s *discardSink) Event(c *Conn, ev Event) {
	s.conn = c
	if ev == Readable {
		c.Grant(int(c.Readable() - s.seen))
		s.seen = c.Readable()
	}
}

// pump moves segments both ways until neither side has any.
func (d *duo) pump() {
	for moved := true; moved; {
		moved = false
		for _, p := range [2][2]*Table{{d.a, d.b}, {d.b, d.a}} {
			from, to := p[0], p[1]
			for c := from.Next(); c != nil; c = from.Next() {
				for {
					n := c.Output(d.now, d.buf)
					if n == 0 {
						break
					}
					moved = true
					if from == d.a && d.lose {
						continue
					}
					d.deliver(from, to, d.buf[:n])
				}
			}
		}
	}
}

// advance moves the clock, runs both tables' timers and pumps.
func (d *duo) advance(dt int64) {
	d.now += dt
	d.a.Tick(d.now)
	d.b.Tick(d.now)
	d.pump()
}

func (d *duo) deliver(from, to *Table, b []byte) {
	h := wire.TCP(b)
	h.ParseOptions(&d.opts)
	local, remote := addrB, addrA
	if from == d.b {
		local, remote = addrA, addrB
	}
	d.seg = Segment{Remote: remote, Local: local, Seq: h.Seq(), Ack: h.Ack(), Flags: h.Flags(), Window: h.Window(),
		Options: &d.opts, Payload: h.Payload()}
	to.Input(&d.seg, d.now)
}

// TestAllocsPerSegment: 0 allocations per segment sent, received,
// acknowledged and retransmitted, with timestamps, SACK and window
// scaling on.
func TestAllocsPerSegment(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	d := newDuo(t)
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"send, receive, ACK", func() {
			d.ca.Push(1460)
			d.now += ms
			d.pump()
		}},
		{"retransmit at RTO", func() {
			d.ca.Push(1460)
			d.lose = true
			d.pump()
			d.lose = false
			d.advance(d.ca.rto)
			d.advance(DelayedACK)
		}},
		{"out of order, SACK, fast retransmit", func() {
			d.ca.Push(1460)
			d.lose = true
			d.pump() // lost
			d.lose = false
			for range 4 {
				d.ca.Push(1460)
				d.pump() // each out of order: a duplicate ACK with SACK
			}
			d.advance(DelayedACK)
		}},
	} {
		for range 20 { // grow cwnd
			d.ca.Push(10 * 1460)
			d.advance(ms)
		}
		before := d.ca.Info()
		if n := testing.AllocsPerRun(200, tc.fn); n != 0 {
			t.Errorf("%s: %v allocations per run", tc.name, n)
		}
		after := d.ca.Info()
		t.Logf("%s: %d segments out, %d retransmits, %d fast retransmits", tc.name, after.SegsOut-before.SegsOut,
			after.Retransmits-before.Retransmits, after.FastRetransmits-before.FastRetransmits)
		if tc.name != "send, receive, ACK" && after.Retransmits == before.Retransmits {
			t.Errorf("%s: nothing retransmitted", tc.name)
		}
		if tc.name == "out of order, SACK, fast retransmit" && after.FastRetransmits == before.FastRetransmits {
			t.Errorf("%s: no fast retransmit", tc.name)
		}
	}
	if d.cb.Readable() != d.ca.Pushed() {
		t.Errorf("B read %d of %d", d.cb.Readable(), d.ca.Pushed())
	}
}

// BenchmarkEngineSegment: one full-sized segment sent, received (written
// to a sink that keeps nothing) and acknowledged, engine to engine, with
// timestamps and SACK on: the engine's own cost, no I/O.
func BenchmarkEngineSegment(b *testing.B) {
	d := newDuo(b)
	b.SetBytes(1448)
	b.ReportAllocs()
	for b.Loop() {
		d.ca.Push(1448)
		d.now += 10000
		d.pump()
	}
}
