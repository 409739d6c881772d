package endpoint

import (
	"context"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"testing"

	"go.uber.org/goleak"

	"spacenet/ip/nic"
	"spacenet/ip/wire"
)

func TestMain(m *testing.M) {
	if dst := os.Getenv(udpClientEnv); dst != "" {
		os.Exit(udpClient(dst))
	}
	if spec := os.Getenv(blastEnv); spec != "" {
		os.Exit(udpBlast(spec))
	}
	goleak.VerifyTestMain(m)
}

var (
	usMAC = wire.MAC{2, 0, 0, 0, 0, 2}
	us4   = netip.MustParsePrefix("192.0.2.2/24")
	us6   = netip.MustParsePrefix("fd00::2/64")
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func golden(t testing.TB, name string) (req, ans []byte) {
	t.Helper()
	for _, c := range goldenCases {
		if c.name == name {
			return unhex(t, c.request), unhex(t, c.answer)
		}
	}
	t.Fatalf("no golden case %q", name)
	return nil, nil
}

// newEndpoint returns an endpoint on one end of a pipe, and the other end.
func newEndpoint(t testing.TB, c Config) (*Endpoint, nic.NIC, nic.NIC) {
	t.Helper()
	a, b := nic.NewPipe(1500, 64)
	t.Cleanup(func() { a.Close(); b.Close() })
	if c.MAC == (wire.MAC{}) {
		c.MAC = usMAC
	}
	if !c.IPv4.IsValid() && !c.IPv6.IsValid() {
		c.IPv4, c.IPv6 = us4, us6
	}
	e, err := New(a, c)
	if err != nil {
		t.Fatal(err)
	}
	return e, a, b
}

// answer copies req into a full-size buffer and answers it.
func answer(e *Endpoint, buf, req []byte) []byte {
	n := copy(buf, req)
	return buf[:e.Answer(buf, n)]
}

func TestAnswerGolden(t *testing.T) {
	e, _, _ := newEndpoint(t, Config{UDP: Echo})
	buf := make([]byte, 1522)
	for _, c := range goldenCases {
		got := answer(e, buf, unhex(t, c.request))
		if want := unhex(t, c.answer); string(got) != string(want) {
			t.Errorf("%s:\n got %x\nwant %x", c.name, got, want)
		}
	}
	s := e.Stats()
	want := Stats{RxFrames: 11, ARP: 2, NDP: 3, EchoV4: 2, EchoV6: 2, UDPAnswered: 2}
	if s != want {
		t.Errorf("Stats = %+v, want %+v", s, want)
	}
}

func TestNewRefuses(t *testing.T) {
	a, b := nic.NewPipe(1500, 1)
	defer a.Close()
	defer b.Close()
	small, small2 := nic.NewPipe(1000, 1)
	defer small.Close()
	defer small2.Close()
	for _, c := range []struct {
		name string
		n    nic.NIC
		c    Config
	}{
		{"multicast MAC", a, Config{MAC: wire.Broadcast, IPv4: us4}},
		{"zero MAC", a, Config{IPv4: us4}},
		{"v6 as v4", a, Config{MAC: usMAC, IPv4: us6}},
		{"v4 as v6", a, Config{MAC: usMAC, IPv6: us4}},
		{"no address", a, Config{MAC: usMAC}},
		{"batch", a, Config{MAC: usMAC, IPv4: us4, Batch: -1}},
		{"mtu", small, Config{MAC: usMAC, IPv4: us4}},
	} {
		if _, err := New(c.n, c.c); err == nil {
			t.Errorf("%s: New succeeded", c.name)
		}
		// NewAnswerer checks the same, but the batch (it has none).
		if _, err := NewAnswerer(c.n.MTU(), c.c); err == nil && c.name != "batch" {
			t.Errorf("%s: NewAnswerer succeeded", c.name)
		}
	}
}

// TestNewAnswerer: an Endpoint without a NIC answers frames handed to
// Answer, as package stack uses it.
func TestNewAnswerer(t *testing.T) {
	e, err := NewAnswerer(1500, Config{MAC: usMAC, IPv4: us4})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1514)
	req := wire.Ethernet(b)
	req.Encode(&wire.EthernetFields{Dst: wire.Broadcast, Src: wire.MAC{2, 0, 0, 0, 0, 9}, EtherType: wire.EtherTypeARP})
	wire.ARP(b[14:]).Encode(&wire.ARPFields{Op: wire.ARPRequest, SenderMAC: wire.MAC{2, 0, 0, 0, 0, 9},
		SenderIP: netip.MustParseAddr("192.0.2.9"), TargetIP: us4.Addr()})
	if n := e.Answer(b, 14+wire.ARPSize); n != 60 || wire.ARP(b[14:]).Op() != wire.ARPReply || e.Stats().ARP != 1 {
		t.Errorf("answer of %d bytes, op %d, stats %+v", n, wire.ARP(b[14:]).Op(), e.Stats())
	}
}

func TestRefusals(t *testing.T) {
	mod := func(name string, f func(b []byte)) []byte {
		req, _ := golden(t, name)
		f(req)
		return req
	}
	// Offsets in the golden requests: Ethernet 0, IPv4/IPv6 14, L4 34/54.
	tests := []struct {
		name   string
		cfg    Config
		req    []byte
		reason Reason
	}{
		{"truncated", Config{}, mod("Ping4", func(b []byte) { b[17] = 0xff }), Malformed},
		{"multicast source MAC", Config{}, mod("Ping4", func(b []byte) { b[6] = 1 }), BadSource},
		{"other MAC", Config{}, mod("Ping4", func(b []byte) { b[5] = 9 }), NotForUs},
		{"other IPv4", Config{}, mod("Ping4", func(b []byte) { b[33] = 9 }), NotForUs},
		{"IPv4 header checksum", Config{}, mod("Ping4", func(b []byte) { b[24] ^= 1 }), BadChecksum},
		{"ICMPv4 checksum", Config{}, mod("Ping4", func(b []byte) { b[36] ^= 1 }), BadChecksum},
		{"UDPv4 checksum", Config{UDP: Echo}, mod("UDP4", func(b []byte) { b[40] ^= 1 }), BadChecksum},
		{"UDPv6 zero checksum", Config{UDP: Echo}, mod("UDP6", func(b []byte) { b[60], b[61] = 0, 0 }), BadChecksum},
		{"ICMPv6 checksum", Config{}, mod("Ping6", func(b []byte) { b[56] ^= 1 }), BadChecksum},
		{"IPv4 fragment", Config{}, mod("Ping4", func(b []byte) {
			wire.IPv4(b[14:]).SetFlagsFragmentOffset(wire.IPv4MoreFragments, 0)
			wire.IPv4(b[14:]).UpdateChecksum()
		}), Fragment},
		{"IPv4 broadcast source", Config{}, mod("Ping4", func(b []byte) {
			wire.IPv4(b[14:]).SetSrc(netip.MustParseAddr("255.255.255.255"))
			wire.IPv4(b[14:]).UpdateChecksum()
		}), BadSource},
		{"echo reply", Config{}, mod("Ping4", func(b []byte) {
			m := wire.ICMPv4(b[34:])
			m.SetType(wire.ICMPv4EchoReply)
			m.UpdateChecksum()
		}), Unsupported},
		{"ARP reply", Config{}, mod("ARP", func(b []byte) { b[21] = 2 }), Unsupported},
		{"ARP other target", Config{}, mod("ARP", func(b []byte) { b[41] = 7 }), NotForUs},
		{"ARP no IPv4", Config{IPv6: us6}, mod("ARP", func([]byte) {}), Unsupported},
		{"IPv6 no IPv6", Config{IPv4: us4}, mod("Ping6", func([]byte) {}), Unsupported},
		{"unknown EtherType", Config{}, mod("ARP", func(b []byte) { b[12], b[13] = 0x88, 0xb5 }), Unsupported},
		{"NS hop limit", Config{}, mod("NS", func(b []byte) { b[21] = 64 }), BadNDP},
		{"NS other target", Config{}, mod("NS", func(b []byte) {
			b[77] = 3
			fixICMPv6(b)
		}), NotForUs},
		{"other IPv6", Config{}, mod("Ping6", func(b []byte) { b[53] = 3 }), NotForUs},
		{"echo to solicited-node", Config{}, mod("NS", func(b []byte) {
			b[54] = wire.ICMPv6EchoRequest
			fixICMPv6(b)
		}), NotForUs},
		{"IPv6 multicast source", Config{}, mod("Ping6", func(b []byte) { b[22] = 0xff }), BadSource},
		{"NA", Config{}, mod("NS", func(b []byte) {
			b[54] = wire.ICMPv6NeighborAdvertisement
			fixICMPv6(b)
		}), Unsupported},
		{"no UDP handler", Config{}, mod("UDP4", func([]byte) {}), NoHandler},
		{"handler declines", Config{UDP: func(*Datagram) int { return -1 }}, mod("UDP6", func([]byte) {}), NoAnswer},
		{"handler too big", Config{UDP: func(d *Datagram) int { return cap(d.Payload) + 1 }}, mod("UDP4", func([]byte) {}), TooBig},
		{"SCTP", Config{}, mod("UDP4", func(b []byte) {
			b[23] = 132
			wire.IPv4(b[14:]).UpdateChecksum()
		}), Unsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _, _ := newEndpoint(t, tt.cfg)
			buf := make([]byte, 1522)
			if got := answer(e, buf, tt.req); len(got) != 0 {
				t.Fatalf("answered %x", got)
			}
			s := e.Stats()
			var want [NumReasons]uint64
			want[tt.reason] = 1
			if s.Refused != want || s.RxFrames != 1 || s.Answered() != 0 {
				t.Errorf("Stats = %+v, want one refusal %v", s, tt.reason)
			}
		})
	}
}

// fixICMPv6 recomputes the checksum of the ICMPv6 message of a golden
// request without extension headers.
func fixICMPv6(b []byte) {
	h := wire.IPv6(b[14:])
	m := wire.ICMPv6(h.Payload())
	m.SetChecksum(m.CalculateChecksum(wire.PseudoHeaderSum(wire.ProtoICMPv6, h.Src(), h.Dst(), len(m))))
}

func TestUDPHandlerAnswersInPlace(t *testing.T) {
	var seen Datagram
	e, _, _ := newEndpoint(t, Config{UDP: func(d *Datagram) int {
		seen = Datagram{Src: d.Src, Dst: d.Dst, Payload: append([]byte(nil), d.Payload...)}
		if cap(d.Payload) != 1500-20-8 {
			t.Errorf("cap(Payload) = %d, want %d", cap(d.Payload), 1500-20-8)
		}
		return copy(d.Payload[:cap(d.Payload)], "a longer answer than the question")
	}})
	req, _ := golden(t, "UDP4")
	buf := make([]byte, 1522)
	got := answer(e, buf, req)
	if seen.Src != netip.MustParseAddrPort("192.0.2.1:40000") || seen.Dst != netip.MustParseAddrPort("192.0.2.2:7") || string(seen.Payload) != "echo me" {
		t.Errorf("handler saw %+v", seen)
	}
	var p wire.Packet
	if err := wire.Decode(got, &p); err != nil {
		t.Fatal(err)
	}
	if string(p.Payload) != "a longer answer than the question" || p.UDP.SrcPort() != 7 || p.UDP.DstPort() != 40000 {
		t.Errorf("answer payload %q ports %d->%d", p.Payload, p.UDP.SrcPort(), p.UDP.DstPort())
	}
	if !p.IPv4.ChecksumValid() || !p.UDP.ChecksumValid(p.IPv4.PseudoHeaderSum(), false) {
		t.Error("answer checksums do not verify")
	}
}

func TestAnswerNoAllocs(t *testing.T) {
	e, _, _ := newEndpoint(t, Config{UDP: Echo})
	buf := make([]byte, 1522)
	var reqs [][]byte
	for _, c := range goldenCases {
		reqs = append(reqs, unhex(t, c.request))
	}
	bad, _ := golden(t, "Ping4")
	bad[24] ^= 1
	if a := testing.AllocsPerRun(100, func() {
		for _, r := range reqs {
			if len(answer(e, buf, r)) == 0 {
				panic("no answer")
			}
		}
		answer(e, buf, bad)
	}); a != 0 {
		t.Errorf("Answer: %v allocations per run, want 0", a)
	}
}

// runEndpoint starts e.Run and returns a function that stops it and checks
// it returned nil.
func runEndpoint(t testing.TB, e *Endpoint) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

// exchange sends reqs from peer and receives len(reqs) answers into bufs.
func exchange(peer nic.NIC, reqs, bufs [][]byte, sizes []int) error {
	if n, err := peer.Send(reqs); err != nil || n != len(reqs) {
		return errors.Join(errors.New("peer send short"), err)
	}
	for got := 0; got < len(reqs); {
		n, err := peer.Recv(bufs[got:len(reqs)], sizes[got:len(reqs)])
		if err != nil {
			return err
		}
		got += n
	}
	return nil
}

func TestRunOverPipe(t *testing.T) {
	e, _, peer := newEndpoint(t, Config{UDP: Echo, Batch: 4})
	stop := runEndpoint(t, e)
	var reqs, bufs [][]byte
	for _, c := range goldenCases {
		reqs = append(reqs, unhex(t, c.request))
		bufs = append(bufs, make([]byte, 1514))
	}
	sizes := make([]int, len(reqs))
	if err := exchange(peer, reqs, bufs, sizes); err != nil {
		t.Fatal(err)
	}
	for i, c := range goldenCases {
		if got, want := bufs[i][:sizes[i]], unhex(t, c.answer); string(got) != string(want) {
			t.Errorf("%s:\n got %x\nwant %x", c.name, got, want)
		}
	}
	stop()
	if s := e.Stats(); s.TxFrames != uint64(len(reqs)) || s.Answered() != uint64(len(reqs)) {
		t.Errorf("Stats = %+v", s)
	}

	// Steady state: a full round trip through Run allocates nothing.
	e, _, peer = newEndpoint(t, Config{UDP: Echo})
	stop = runEndpoint(t, e)
	defer stop()
	if err := exchange(peer, reqs, bufs, sizes); err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(50, func() {
		if err := exchange(peer, reqs, bufs, sizes); err != nil {
			panic(err)
		}
	}); a != 0 {
		t.Errorf("Run round trip: %v allocations per run, want 0", a)
	}
}

// refusingNIC is a mock that isolates the queue policy: its Send accepts
// at most accept frames per call and refuses the rest.
type refusingNIC struct {
	nic.NIC
	accept int
	calls  int
	sent   int
}

var errBusy = errors.New("busy")

func (r *refusingNIC) Send(f [][]byte) (int, error) {
	r.calls++
	n := min(r.accept, len(f))
	r.sent += n
	if n < len(f) {
		return n, errBusy
	}
	return n, nil
}

func TestQueuePolicy(t *testing.T) {
	frames := make([][]byte, 5)
	for _, c := range []struct {
		name                 string
		q                    Queue
		accept               int
		calls, sent, dropped int
	}{
		{"drop newest", DropNewest{}, 2, 1, 2, 3},
		{"retry twice", Retry{Max: 2}, 1, 3, 3, 2},
		{"retry until taken", Retry{}, 1, 5, 5, 0},
		{"all taken", DropNewest{}, 9, 1, 5, 0},
	} {
		a, b := nic.NewPipe(1500, 1)
		r := &refusingNIC{NIC: a, accept: c.accept}
		e, err := New(r, Config{MAC: usMAC, IPv4: us4, Queue: c.q})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.send(frames); err != nil {
			t.Errorf("%s: send: %v", c.name, err)
		}
		s := e.Stats()
		if r.calls != c.calls || r.sent != c.sent || s.Refused[QueueDrop] != uint64(c.dropped) || s.TxFrames != uint64(c.sent) {
			t.Errorf("%s: calls %d sent %d dropped %d tx %d, want %d %d %d", c.name, r.calls, r.sent, s.Refused[QueueDrop], s.TxFrames, c.calls, c.sent, c.dropped)
		}
		a.Close()
		b.Close()
	}
}

func TestRunStopsWhenNICCloses(t *testing.T) {
	e, a, _ := newEndpoint(t, Config{})
	done := make(chan error, 1)
	go func() { done <- e.Run(context.Background()) }()
	a.Close()
	if err := <-done; !errors.Is(err, nic.ErrClosed) {
		t.Errorf("Run = %v, want ErrClosed", err)
	}
}

func TestReasonString(t *testing.T) {
	if NotForUs.String() != "not_for_us" || QueueDrop.String() != "queue_drop" || Reason(99).String() != "Reason(99)" {
		t.Error("Reason names")
	}
}

// TestAnswerTightBuffers: Answer on buffers exactly as long as the frame
// (no room to grow, no room to pad) never panics and counts every frame.
func TestAnswerTightBuffers(t *testing.T) {
	e, _, _ := newEndpoint(t, Config{UDP: Echo})
	for _, c := range goldenCases {
		req := unhex(t, c.request)
		for cut := len(req); cut >= 0; cut-- {
			b := append([]byte(nil), req[:cut]...)
			e.Answer(b, len(b))
		}
	}
	s := e.Stats()
	if s.Answered()+s.RefusedTotal() != s.RxFrames {
		t.Errorf("Stats = %+v: frames not all counted", s)
	}
	// The NS without an option needs 8 more bytes for the NA's option.
	req, _ := golden(t, "NSUnicastNoOption")
	before := e.Stats().Refused[TooBig]
	if m := e.Answer(req, len(req)); m != 0 || e.Stats().Refused[TooBig] != before+1 {
		t.Errorf("NS in a tight buffer: answer %d, TooBig %d", m, e.Stats().Refused[TooBig]-before)
	}
}

// TestAnswerBeyondMTU: a packet longer than the MTU allows (it fits the
// receive buffer, which has room for VLAN tags) is refused, not answered:
// a UDP datagram, and an echo request.
func TestAnswerBeyondMTU(t *testing.T) {
	e, _, _ := newEndpoint(t, Config{UDP: Echo})
	b := make([]byte, 1522)
	const ulen = 1522 - 14 - 20
	req, _ := golden(t, "Ping6")
	big := make([]byte, 1522)
	copy(big, req)
	wire.IPv6(big[14:]).SetPayloadLength(1522 - 14 - 40)
	fixICMPv6(big)
	if m := e.Answer(big, len(big)); m != 0 {
		t.Fatalf("answered a %d-byte echo request", len(big))
	}
	wire.Ethernet(b).Encode(&wire.EthernetFields{Dst: usMAC, Src: wire.MAC{2, 0, 0, 0, 0, 1}, EtherType: wire.EtherTypeIPv4})
	src := netip.MustParseAddr("192.0.2.1")
	h := wire.IPv4(b[14:])
	h.Encode(&wire.IPv4Fields{TotalLength: 20 + ulen, TTL: 64, Protocol: wire.ProtoUDP, Src: src, Dst: us4.Addr()})
	u := wire.UDP(b[34:])
	u.Encode(&wire.UDPFields{SrcPort: 1, DstPort: 7, Length: ulen})
	u.SetChecksum(u.CalculateChecksum(h.PseudoHeaderSum()))
	if m := e.Answer(b, len(b)); m != 0 {
		t.Fatalf("answered %d bytes", m)
	}
	if s := e.Stats(); s.Refused[TooBig] != 2 {
		t.Errorf("Stats = %+v, want two TooBig", s)
	}
}
