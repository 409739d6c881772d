package tcp

import (
	"errors"
	"net/netip"
	"testing"

	"spacenet/ip/wire"
)

// TestSYNFloodQuota: a flood of SYNs from many sources takes at most its
// listener's quota; the other listener's slots and the slots left for
// active opens stay free, and every refused SYN is answered with RST and
// counted.
func TestSYNFloodQuota(t *testing.T) {
	tab, err := NewTable(Config{Conns: 10, MSS: 1460})
	if err != nil {
		t.Fatal(err)
	}
	accept := func(l, r netip.AddrPort) (App, bool) {
		return App{Source: genSource{}, Sink: &checkSink{}, Grant: 1000}, true
	}
	if err := tab.Listen(Listener{Port: 80, Quota: 4, Accept: accept}); err != nil {
		t.Fatal(err)
	}
	if err := tab.Listen(Listener{Port: 22, Quota: 3, Accept: accept}); err != nil {
		t.Fatal(err)
	}
	if err := tab.Listen(Listener{Port: 443, Quota: 4, Accept: accept}); err == nil {
		t.Error("quotas over the table's size accepted")
	}
	opts := &wire.TCPOptions{}
	rsts := 0
	for i := range 100 {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), uint16(1000+i))
		seg := &Segment{Remote: src, Local: netip.MustParseAddrPort("10.0.0.1:80"), Seq: uint32(i), Flags: wire.TCPFlagSYN, Window: 100, Options: opts}
		if tab.Input(seg, 1e9) {
			rsts++
		}
	}
	if tab.Conns() != 4 || rsts != 96 || tab.Stats().Refused[QuotaFull] != 96 {
		t.Errorf("after the flood: %d slots used, %d RSTs, %d refused; want 4, 96, 96", tab.Conns(), rsts, tab.Stats().Refused[QuotaFull])
	}
	// Port 22's quota (3) is untouched; 3 slots remain for Dial.
	for i := range 3 {
		if _, err := tab.Dial(netip.MustParseAddrPort("10.0.0.1:5000"), netip.AddrPortFrom(netip.MustParseAddr("10.0.0.9"), uint16(i+1)), App{Source: genSource{}, Sink: &checkSink{}}, 1e9); err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
	}
	if _, err := tab.Dial(netip.MustParseAddrPort("10.0.0.1:5000"), netip.MustParseAddrPort("10.0.0.9:99"), App{Source: genSource{}, Sink: &checkSink{}}, 1e9); !errors.Is(err, ErrFull) {
		t.Errorf("dial beyond the free share: %v, want ErrFull", err)
	}
	for i := range 3 {
		src := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.200"), uint16(i+1))
		if tab.Input(&Segment{Remote: src, Local: netip.MustParseAddrPort("10.0.0.1:22"), Flags: wire.TCPFlagSYN, Options: opts}, 1e9) {
			t.Errorf("SYN %d to port 22 refused", i)
		}
	}
	if tab.Conns() != 10 {
		t.Errorf("%d slots used, want all 10", tab.Conns())
	}
}

// TestISN: RFC 6528's ISN = M + F(4-tuple, secret): other tuples get
// unrelated numbers, the same tuple advances with the 4 us clock, and
// another secret gives another sequence.
func TestISN(t *testing.T) {
	a, _ := NewTable(Config{Conns: 1, MSS: 1460, Secret: [32]byte{1}})
	b, _ := NewTable(Config{Conns: 1, MSS: 1460, Secret: [32]byte{2}})
	l := netip.MustParseAddrPort("10.0.0.1:1000")
	r1, r2 := netip.MustParseAddrPort("10.0.0.2:80"), netip.MustParseAddrPort("10.0.0.2:81")
	if a.isn(l, r1, 0) == a.isn(l, r2, 0) {
		t.Error("two tuples, one ISN")
	}
	if d := a.isn(l, r1, 4000*250) - a.isn(l, r1, 0); d != 250 {
		t.Errorf("ISN advanced %d in 1 ms, want 250 (4 us per tick)", d)
	}
	if a.isn(l, r1, 0) == b.isn(l, r1, 0) {
		t.Error("two secrets, one ISN")
	}
}

// TestKeepalive: after the idle time a probe (SEG.SEQ = SND.UNA-1) every
// interval; an answer resets the count; count unanswered probes abort.
func TestKeepalive(t *testing.T) {
	k := newConformance(t, true, plainConfig())
	k.run(established)
	k.conn.SetKeepalive(10*s, 2*s, 2)
	probe := []cseg{out(".", 0, 1, 0)}
	k.run([]cstep{
		{name: "idle", wait: 10 * s, state: Established, out: probe},
		{name: "answered", in: in(".", 1, 1, 0), state: Established},
		{name: "idle again", wait: 10 * s, state: Established, out: probe},
		{name: "interval", wait: 2 * s, state: Established, out: probe},
		{name: "count reached", wait: 2 * s, state: Closed, check: errIs(ErrTimeout)},
	})
}

// TestZeroWindowProbe: with the peer's window closed, the persist timer
// sends a probe (SEG.SEQ = SND.UNA-1, no data, as Linux), backing off,
// until the window opens; then the data goes.
func TestZeroWindowProbe(t *testing.T) {
	k := newConformance(t, true, plainConfig())
	k.run(established)
	closeWindow := func(c *Conn) {
		seg := k.rel(cseg{flags: ".", seq: 1, ack: 1})
		seg.Window = 0
		k.tab.Input(seg, k.now)
	}
	probe := []cseg{out(".", 0, 1, 0)}
	k.run([]cstep{
		{name: "window closes", do: closeWindow, state: Established},
		{name: "push", do: func(c *Conn) { c.Push(100) }, state: Established},
		// RTO 200 ms (the floor, after a near-zero RTT sample).
		{name: "persist", wait: 200 * ms, state: Established, out: probe},
		{name: "probe answered: still closed", do: closeWindow, state: Established},
		{name: "persist backs off", wait: 400*ms - 1, state: Established},
		{name: "400 ms", wait: 1, state: Established, out: probe},
		{name: "window opens", in: in(".", 1, 1, 0), state: Established, out: []cseg{out("P.", 1, 1, 100)}},
		{name: "all acked", in: in(".", 1, 101, 0), state: Established},
	})
}

// TestZeroWindowAfterRTO: the window closes while data is in flight and
// lost: the RTO fires, and with the window closed the connection probes
// instead of resending.
func TestZeroWindowAfterRTO(t *testing.T) {
	k := newConformance(t, true, plainConfig())
	k.run(established)
	k.run([]cstep{
		{name: "push", do: func(c *Conn) { c.Push(500) }, state: Established, out: []cseg{out("P.", 1, 1, 500)}},
		{name: "window closes, data unacked", do: func(c *Conn) {
			seg := k.rel(cseg{flags: ".", seq: 1, ack: 1})
			seg.Window = 0
			k.tab.Input(seg, k.now)
		}, state: Established},
		{name: "RTO: a probe", wait: InitialRTO, state: Established, out: []cseg{out(".", 0, 1, 0)}},
		{name: "window opens", in: in(".", 1, 1, 0), state: Established, out: []cseg{out("P.", 1, 1, 500)}},
	})
}

// TestTinyMSS: a peer announcing an MSS of 1 gets segments of 64 bytes
// less the timestamps (it got segment lengths of -11 before: a panic).
func TestTinyMSS(t *testing.T) {
	n := newSim(t, defaultConfig(), defaultConfig())
	ca := &app{regrant: true}
	n.b.Listen(Listener{Port: addrB.Port(), Quota: 1, Accept: func(l, r netip.AddrPort) (App, bool) { return ca.App(1 << 16), true }})
	tab := n.b
	seg := &Segment{Remote: addrA, Local: addrB, Seq: 100, Flags: wire.TCPFlagSYN, Window: 65535,
		Options: &wire.TCPOptions{HasMSS: true, MSS: 1, HasTimestamps: true, TSVal: 1}}
	tab.Input(seg, n.now)
	seg = &Segment{Remote: addrA, Local: addrB, Seq: 101, Flags: wire.TCPFlagACK, Window: 65535,
		Options: &wire.TCPOptions{HasTimestamps: true, TSVal: 2}}
	c := tab.Next()
	c.Output(n.now, n.buf)
	seg.Ack = c.iss + 1
	seg.Options.TSEcr = c.tsRecent
	tab.Input(seg, n.now)
	if c.State() != Established {
		t.Fatalf("state %v", c.State())
	}
	c.Push(1000)
	k := c.Output(n.now, n.buf)
	if h := wire.TCP(n.buf[:k]); len(h.Payload()) != minMSS-12 {
		t.Errorf("segment of %d bytes, want %d", len(h.Payload()), minMSS-12)
	}
}

// TestDialNeedsApp: an App without Source or Sink is refused.
func TestDialNeedsApp(t *testing.T) {
	tab, _ := NewTable(Config{Conns: 1, MSS: 1460})
	if _, err := tab.Dial(addrA, addrB, App{Source: genSource{}}, 1); err == nil {
		t.Error("Dial without a Sink accepted")
	}
}
