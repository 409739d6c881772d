package stack

import (
	"net/netip"
	"testing"
	"time"

	"spacenet/internal/checkstream"
	"spacenet/ip/tcp"
	"spacenet/ip/tcp/tcptest"
	"spacenet/ip/wire"
)

// sent decodes what w's stack a sends in one step, by EtherType.
type capture struct {
	arp, ipv4, ipv6 int
	arpTargets      []netip.Addr
	ipDst           []wire.MAC
}

func (w *bench) captureA(c *capture) {
	var p wire.Packet
	w.drop = func(from *Stack, f []byte) bool {
		if from != w.a || wire.Decode(f, &p) != nil {
			return false
		}
		switch {
		case p.ARP != nil:
			c.arp++
			c.arpTargets = append(c.arpTargets, p.ARP.TargetIP())
		case p.IPv4 != nil:
			c.ipv4++
			c.ipDst = append(c.ipDst, p.Ethernet.Dst())
		case p.IPv6 != nil:
			c.ipv6++
		}
		return false
	}
}

func dialApp() tcp.App {
	return tcp.App{Source: checkstream.Source{}, Sink: tcptest.NewRingSink(1 << 12), Grant: 1 << 12}
}

// TestNeighbourUnreachable: ARP for a neighbour that never answers is
// tried ResolveTries times a second apart, the frames held meanwhile are
// then dropped and counted, and a later frame starts a new resolution.
func TestNeighbourUnreachable(t *testing.T) {
	w := newBenchWith(t, func(c *Config) { c.Hold = 4 })
	var c capture
	w.captureA(&c)
	if _, err := w.a.Dial(1000, netip.MustParseAddrPort("10.9.0.77:80"), dialApp()); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		w.step()
		w.now += int64(time.Second)
	}
	if c.arp != 3 || w.a.stats.Resolutions != 3 {
		t.Errorf("%d ARP requests (%d counted) in the first 3 s, want 3", c.arp, w.a.stats.Resolutions)
	}
	w.step() // 3 s: the third try has gone unanswered; the SYN sent again starts a new resolution
	st := w.a.stats
	if c.arp != 4 || st.Resolutions != 4 || c.ipv4 != 0 {
		t.Errorf("%d ARP requests (%d counted), %d IPv4 frames; want 4, 4, 0", c.arp, st.Resolutions, c.ipv4)
	}
	// Held: the SYN and its retransmission at 1 s (RTO); the one at 3 s
	// starts a new resolution.
	if st.Dropped[Unresolved] != 2 {
		t.Errorf("Dropped[Unresolved] = %d, want 2", st.Dropped[Unresolved])
	}
	for _, a := range c.arpTargets {
		if a != netip.MustParseAddr("10.9.0.77") {
			t.Errorf("ARP for %v", a)
		}
	}
}

// TestNeighbourHold: with Hold the SYN waits for the ARP reply and goes
// out at once; with Hold 0 it is dropped (counted) and TCP's
// retransmission after the RTO finds the neighbour resolved.
func TestNeighbourHold(t *testing.T) {
	for _, hold := range []int{0, 4} {
		w := newBenchWith(t, func(c *Config) { c.Hold = hold })
		server := tcptest.NewStreamApp(0, 1<<12)
		w.b.tcp.Listen(tcp.Listener{Port: 80, Quota: 1, Accept: func(l, r netip.AddrPort) (tcp.App, bool) { return server.App(), true }})
		conn, err := w.a.Dial(1000, netip.MustParseAddrPort("10.9.0.2:80"), dialApp())
		if err != nil {
			t.Fatal(err)
		}
		w.step()
		want := tcp.SynSent
		if hold > 0 {
			want = tcp.Established
		}
		if s := conn.State(); s != want && !(hold > 0 && s == tcp.CloseWait) {
			t.Errorf("Hold %d: state %v at once, want %v", hold, s, want)
		}
		if d := w.a.stats.Dropped[Unresolved]; d != uint64(1-min(hold, 1)) {
			t.Errorf("Hold %d: Dropped[Unresolved] = %d", hold, d)
		}
		w.now += int64(tcp.InitialRTO)
		w.step()
		if s := conn.State(); s != tcp.Established && s != tcp.CloseWait {
			t.Errorf("Hold %d: state %v after the RTO", hold, s)
		}
	}
}

// TestRoutes: off-link destinations go to the longest matching route's
// router (resolved by ARP, the frame addressed to its MAC); with no route
// the packet is dropped and counted.
func TestRoutes(t *testing.T) {
	w := newBenchWith(t, func(c *Config) {
		c.Routes = []Route{
			{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Via: netip.MustParseAddr("10.9.0.99")},
			{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Via: netip.MustParseAddr("10.9.0.2")},
		}
		c.Hold = 2
	})
	var c capture
	w.captureA(&c)
	if _, err := w.a.Dial(1000, netip.MustParseAddrPort("192.0.2.5:80"), dialApp()); err != nil {
		t.Fatal(err)
	}
	w.step()
	if len(c.arpTargets) != 1 || c.arpTargets[0] != netip.MustParseAddr("10.9.0.2") {
		t.Errorf("ARP for %v, want the router of the /24, 10.9.0.2", c.arpTargets)
	}
	if c.ipv4 != 1 || c.ipDst[0] != macB {
		t.Errorf("%d IPv4 frames to %v, want 1 to the router %v", c.ipv4, c.ipDst, macB)
	}
	if d := w.b.stats.Dropped[NotForUs]; d != 1 {
		t.Errorf("the router (which does not forward) counted %d not for us, want 1", d)
	}
	// IPv6 has no route: dropped and counted.
	if _, err := w.a.Dial(1000, netip.MustParseAddrPort("[2001:db8::1]:80"), dialApp()); err != nil {
		t.Fatal(err)
	}
	w.step()
	if d := w.a.stats.Dropped[NoRoute]; d != 1 {
		t.Errorf("Dropped[NoRoute] = %d, want 1", d)
	}
	if _, err := New(stubNIC{}, Config{MAC: macA, IPv4: netip.MustParsePrefix("10.9.0.1/24"),
		Routes: []Route{{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Via: netip.MustParseAddr("fd00::1")}}}); err == nil {
		t.Error("a route with a router of the other family accepted")
	}
}
