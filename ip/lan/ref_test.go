package lan

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"

	"spacenet/ip/nic"
	"spacenet/ip/wire"
)

// tref is a nic.Ref over a byte slice with a reference count, standing in for
// a network stack's packet buffer: Clone returns the same object (as the
// netstack's does), and releasing it more often than it was referenced
// panics.
type tref struct {
	b []byte
	n atomic.Int32
}

func newTref(b []byte) *tref {
	r := &tref{b: b}
	r.n.Store(1)
	return r
}

func (r *tref) Len() int              { return len(r.b) }
func (r *tref) CopyTo(dst []byte) int { return copy(dst, r.b) }
func (r *tref) Clone() nic.Ref {
	if r.n.Add(1) <= 1 {
		panic("lan test: clone of a released ref")
	}
	return r
}
func (r *tref) Release() {
	if r.n.Add(-1) < 0 {
		panic("lan test: ref released too often")
	}
}

// live returns the references still held on each of refs.
func live(refs ...*tref) []int32 {
	out := make([]int32, len(refs))
	for i, r := range refs {
		out[i] = r.n.Load()
	}
	return out
}

// sendRefs sends refs (taking a reference of the test's own on each, so
// the test can count what the switch keeps) and wants all taken.
func sendRefs(t *testing.T, r *ByRefNIC, refs ...*tref) {
	t.Helper()
	in := make([]nic.Ref, len(refs))
	for i, x := range refs {
		in[i] = x.Clone()
	}
	if n, err := r.SendRefs(in); n != len(refs) || err != nil {
		t.Fatalf("%s: SendRefs = %d, %v; want %d", r.Name(), n, err, len(refs))
	}
	for i := range in {
		if in[i] != nil {
			t.Fatalf("SendRefs left refs[%d]", i)
		}
	}
}

// recvRefs takes exactly want frames off a by-reference port (already
// queued): the Refs as they are, copied frames as bytes.
func recvRefs(t *testing.T, r *ByRefNIC, want int) (refs []nic.Ref, copied [][]byte) {
	t.Helper()
	rs := make([]nic.Ref, 8)
	bufs := make([][]byte, 8)
	for i := range bufs {
		bufs[i] = make([]byte, 65535+14)
	}
	sizes := make([]int, 8)
	for got := 0; got < want; {
		n, err := r.RecvRefs(rs[:min(len(rs), want-got)], bufs, sizes)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if rs[i] != nil {
				if rs[i].Len() != sizes[i] {
					t.Fatalf("ref of %d bytes reported as %d", rs[i].Len(), sizes[i])
				}
				refs = append(refs, rs[i])
			} else {
				copied = append(copied, append([]byte(nil), bufs[i][:sizes[i]]...))
			}
		}
		got += n
	}
	if q := r.p.stats().Queued; q != 0 {
		t.Fatalf("%s: %d frames left", r.Name(), q)
	}
	return refs, copied
}

func releaseAll(refs []nic.Ref) {
	for _, r := range refs {
		r.Release()
	}
}

// TestRefUnicast: a learned unicast frame held by reference goes to a by-reference port as
// the same object (no copy), and a byte port's frame arrives there as a
// copy; counters on both sides.
func TestRefUnicast(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	rp := refPorts(t, s, pc("a", "t"), pc("b", "t"))
	m := memPorts(t, s, pc("m", "t"))[0]
	a, b := rp[0], rp[1]
	// b and m announce themselves (copied frames): learned.
	send(t, b, eth(bcast, macB, 0x88b5, []byte("b"), 60))
	send(t, m, eth(bcast, macC, 0x88b5, []byte("m"), 60))
	_, c := recvRefs(t, a, 2)
	if len(c) != 2 || c[0][14] != 'b' || c[1][14] != 'm' {
		t.Fatalf("a got %q; want the two announcements as copies", c)
	}
	drain(t, m, 1)
	_, c = recvRefs(t, b, 1)
	if len(c) != 1 || c[0][14] != 'm' {
		t.Fatalf("b got %q", c)
	}

	f := eth(macB, macA, 0x88b5, []byte("by reference"), 1514)
	r := newTref(f)
	sendRefs(t, a, r)
	if got := live(r); got[0] != 2 {
		t.Fatalf("refs held = %d; want 2 (ours, b's queue)", got[0])
	}
	refs, c := recvRefs(t, b, 1)
	if len(refs) != 1 || len(c) != 0 || refs[0] != nic.Ref(r) {
		t.Fatalf("b got refs %v copies %d; want the sender's ref itself", refs, len(c))
	}
	releaseAll(refs)
	// To the byte port: one copy, exact bytes, no reference kept.
	r2 := newTref(eth(macC, macA, 0x88b5, []byte("copied once"), 1000))
	sendRefs(t, a, r2)
	if got := drain(t, m, 1); !bytes.Equal(got[0], r2.b) {
		t.Fatal("m got other bytes")
	}
	r.Release()
	r2.Release()
	if got := live(r, r2); got[0] != 0 || got[1] != 0 {
		t.Fatalf("refs left %v; want none", got)
	}
	sa, _ := s.Port("a")
	sb, _ := s.Port("b")
	sm, _ := s.Port("m")
	if sa.NIC != "ref" || sa.RxFrames != 2 || sa.RxBytes != 2514 || sa.Forwarded() != 2 || sa.TxFrames != 2 {
		t.Errorf("a: %+v", sa)
	}
	if sb.TxFrames != 2 || sb.TxBytes != 60+1514 || sb.Queued != 0 {
		t.Errorf("b: %+v", sb)
	}
	if sm.TxFrames != 2 || sm.TxBytes != 60+1000 {
		t.Errorf("m: %+v", sm)
	}
}

// TestRefFlood: a broadcast frame held by reference reaches two by-reference ports (each
// holding one reference), an in-process byte port and a NIC-backed port
// (copies), and nothing stays referenced once they are consumed.
func TestRefFlood(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	rp := refPorts(t, s, pc("a", "t"), pc("b", "t"), pc("c", "t"))
	m := memPorts(t, s, pc("m", "t"))[0]
	far, near := nic.NewPipe(1500, 16)
	defer far.Close()
	if err := s.Attach(near, pc("p", "t")); err != nil {
		t.Fatal(err)
	}
	refs := make([]*tref, 5)
	for i := range refs {
		refs[i] = newTref(eth(bcast, macA, 0x88b5, []byte{byte(i)}, 100+i))
	}
	sendRefs(t, rp[0], refs...)
	for i, n := range live(refs...) {
		if n != 3 {
			t.Fatalf("ref %d: %d references; want 3 (ours, b's and c's queues)", i, n)
		}
	}
	for _, x := range rp[1:] {
		got, c := recvRefs(t, x, 5)
		if len(c) != 0 {
			t.Fatalf("%s: %d copies", x.Name(), len(c))
		}
		for i, g := range got {
			if g != nic.Ref(refs[i]) {
				t.Fatalf("%s: frame %d is not the sender's ref", x.Name(), i)
			}
		}
		releaseAll(got)
	}
	for i, f := range drain(t, m, 5) {
		if !bytes.Equal(f, refs[i].b) {
			t.Fatalf("m frame %d differs", i)
		}
	}
	bufs, sizes := make([][]byte, 8), make([]int, 8)
	for i := range bufs {
		bufs[i] = make([]byte, 1514)
	}
	for got := 0; got < 5; {
		n, err := far.Recv(bufs, sizes)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if !bytes.Equal(bufs[i][:sizes[i]], refs[got+i].b) {
				t.Fatalf("pipe frame %d differs", got+i)
			}
		}
		got += n
	}
	for i, r := range refs {
		r.Release()
		if n := r.n.Load(); n != 0 {
			t.Fatalf("ref %d: %d references left", i, n)
		}
	}
	sa, _ := s.Port("a")
	if sa.RxFrames != 5 || sa.Forwarded() != 5 {
		t.Errorf("a: %+v", sa)
	}
	for _, name := range []string{"b", "c", "m"} {
		if st, _ := s.Port(name); st.TxFrames != 5 || st.TxBytes != 100+101+102+103+104 {
			t.Errorf("%s: %+v", name, st)
		}
	}
	// The NIC-backed port's writer counts once its send returned, which
	// can be just after the far end has the frames.
	waitFor(t, "port p to count what it sent", func() bool {
		st, _ := s.Port("p")
		return st.TxFrames == 5 && st.TxBytes == 100+101+102+103+104
	})
}

// TestRefQueueFullAndClose: a full by-reference queue drops (counted
// queue_full) without keeping a reference; closing the port releases the
// references it still queues (counted down); so does closing the switch.
func TestRefQueueFullAndClose(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	rp := refPorts(t, s, pc("a", "t"), PortConfig{Name: "b", Tenant: "t", QueueDepth: 4}, PortConfig{Name: "c", Tenant: "t", QueueDepth: 4})
	a, b := rp[0], rp[1]
	send(t, b, eth(bcast, macB, 0x88b5, nil, 60))
	send(t, rp[2], eth(bcast, macC, 0x88b5, nil, 60))
	recvRefs(t, a, 2)
	recvRefs(t, b, 1)
	recvRefs(t, rp[2], 1)
	refs := make([]*tref, 10)
	for i := range refs {
		refs[i] = newTref(eth(macB, macA, 0x88b5, []byte{byte(i)}, 200))
	}
	sendRefs(t, a, refs...)
	for i, n := range live(refs...) {
		want := int32(1)
		if i < 4 {
			want = 2
		}
		if n != want {
			t.Fatalf("ref %d: %d references; want %d", i, n, want)
		}
	}
	sb, _ := s.Port("b")
	if sb.Queued != 4 || sb.TxDrops[ReasonQueueFull] != 6 || sb.TxFrames != 1 {
		t.Fatalf("b: %+v", sb)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for i, n := range live(refs...) {
		if n != 1 {
			t.Fatalf("after close: ref %d: %d references; want 1 (ours)", i, n)
		}
	}
	if _, err := b.RecvRefs(make([]nic.Ref, 1), make([][]byte, 1), make([]int, 1)); !errors.Is(err, nic.ErrClosed) {
		t.Fatalf("RecvRefs after Close: %v", err)
	}
	// Sending on a closed port releases.
	x := newTref(eth(macC, macB, 0x88b5, nil, 60))
	if n, err := b.SendRefs([]nic.Ref{x.Clone()}); n != 0 || !errors.Is(err, nic.ErrClosed) {
		t.Fatalf("SendRefs after Close = %d, %v", n, err)
	}
	if x.n.Load() != 1 {
		t.Fatalf("closed port kept a reference")
	}
	// The switch closing releases c's queue.
	y := newTref(eth(macC, macA, 0x88b5, nil, 60))
	sendRefs(t, a, y)
	if y.n.Load() != 2 {
		t.Fatalf("c did not queue y")
	}
	s.Close()
	if y.n.Load() != 1 {
		t.Fatalf("switch close kept a reference")
	}
	sc := rp[2].p.stats()
	if sc.TxDrops[ReasonDown] != 1 {
		t.Fatalf("c: %+v", sc)
	}
	for _, r := range append(refs, x, y) {
		r.Release()
	}
}

// TestRefChecks: the ingress checks apply to frames held by reference as to copied
// ones: runt, MTU (in and out), port security (MAC, IP, NDP options
// beyond the copied headers), tenant isolation; each refused frame is
// counted under its reason and no reference is kept.
func TestRefChecks(t *testing.T) {
	s := New(Options{Reach: NewReach(map[string][]string{"t": {"t"}})})
	defer s.Close()
	ipA := netip.MustParseAddr("fd00::a")
	ll := netip.MustParseAddr("fe80::a")
	rp := refPorts(t, s,
		PortConfig{Name: "a", Tenant: "t", MTU: 1500, LockMAC: true, MAC: macA, IPs: []netip.Addr{ipA, ll, netip.MustParseAddr("10.0.0.1")}},
		PortConfig{Name: "b", Tenant: "t", MTU: 1000},
		PortConfig{Name: "x", Tenant: "u"})
	a, b, x := rp[0], rp[1], rp[2]
	send(t, b, eth(bcast, macB, 0x88b5, nil, 60))
	recvRefs(t, a, 1)

	// na builds a neighbour advertisement for target with link-layer
	// options: first good, then a 48-byte nonce option, then a second
	// target link-layer option carrying mac2, so that it lies beyond
	// the 128 bytes the switch copies for the checks.
	na := func(target netip.Addr, mac2 wire.MAC) []byte {
		m := ndp(wire.ICMPv6NeighborAdvertisement, target, 2, macA)
		nonce := make([]byte, 48)
		nonce[0], nonce[1] = 14, 6
		m = append(m, nonce...)
		m = append(m, 2, 1)
		m = append(m, mac2[:]...)
		return eth(bcast, macA, wire.EtherTypeIPv6, ipv6Pkt(ll, netip.MustParseAddr("ff02::1"), wire.ProtoICMPv6, m), 0)
	}
	good, badOpt := na(ipA, macA), na(ipA, macX)
	if len(good) <= refHeadLen || bytes.Index(badOpt, macX[:]) < refHeadLen {
		t.Fatalf("NDP test frames too short: %d bytes", len(good))
	}
	tests := []struct {
		name   string
		f      []byte
		reason Reason // NumReasons: forwarded
		port   string // where the reason is counted
	}{
		{"ok ipv4", eth(macB, macA, 0x0800, ipv4Pkt(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")), 900), NumReasons, ""},
		{"runt", make([]byte, 13), ReasonRunt, "a"},
		{"spoofed mac", eth(macB, macX, 0x0800, ipv4Pkt(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")), 900), ReasonSpoofedMAC, "a"},
		{"spoofed ip", eth(macB, macA, 0x0800, ipv4Pkt(netip.MustParseAddr("10.0.0.9"), netip.MustParseAddr("10.0.0.2")), 900), ReasonSpoofedIP, "a"},
		{"spoofed ip, long frame", eth(macB, macA, 0x0800, ipv4Pkt(netip.MustParseAddr("10.0.0.9"), netip.MustParseAddr("10.0.0.2")), 1514), ReasonSpoofedIP, "a"},
		{"ndp, long, good", good, NumReasons, ""},
		{"ndp, long, option beyond headers spoofed", badOpt, ReasonSpoofedMAC, "a"},
		{"ndp target spoofed", na(netip.MustParseAddr("fd00::99"), macA), ReasonSpoofedIP, "a"},
		{"egress mtu", eth(macB, macA, 0x0800, ipv4Pkt(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")), 1014+1), ReasonMTU, "b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := map[string]PortStats{}
			for _, p := range s.Ports() {
				before[p.Name] = p
			}
			r := newTref(tc.f)
			sendRefs(t, a, r)
			if tc.reason == NumReasons {
				got, _ := recvRefs(t, b, 1)
				if len(got) != 1 || got[0] != nic.Ref(r) {
					t.Fatalf("b got %v", got)
				}
				if tc.f[0] == 0xff { // broadcast: x is another tenant
					if st, _ := s.Port("x"); st.Queued != 0 || st.TxFrames != before["x"].TxFrames {
						t.Fatalf("x got a frame across tenants: %+v", st)
					}
				}
				releaseAll(got)
			} else {
				st, _ := s.Port(tc.port)
				var d uint64
				if tc.port == "a" {
					d = st.RxDrops[tc.reason] - before["a"].RxDrops[tc.reason]
				} else {
					d = st.TxDrops[tc.reason] - before[tc.port].TxDrops[tc.reason]
				}
				if d != 1 {
					t.Fatalf("%s: %s counted %d times; want 1 (%+v)", tc.port, tc.reason, d, st)
				}
				if q := b.p.stats().Queued; q != 0 {
					t.Fatalf("b queued %d", q)
				}
			}
			r.Release()
			if n := r.n.Load(); n != 0 {
				t.Fatalf("%d references left", n)
			}
		})
	}

	// Too big for a's MTU: refused by SendRefs, the rest still go.
	big := newTref(eth(macB, macA, 0x88b5, nil, 1515))
	ok := newTref(eth(macB, macA, 0x88b5, nil, 100))
	n, err := a.SendRefs([]nic.Ref{big.Clone(), ok.Clone()})
	if n != 1 || !errors.Is(err, nic.ErrTooBig) {
		t.Fatalf("SendRefs(too big, ok) = %d, %v", n, err)
	}
	got, _ := recvRefs(t, b, 1)
	releaseAll(got)
	big.Release()
	ok.Release()
	if live(big, ok)[0] != 0 || live(big, ok)[1] != 0 {
		t.Fatalf("references left: %v", live(big, ok))
	}
	if st, _ := s.Port("a"); st.RxDrops[ReasonMTU] != 1 {
		t.Fatalf("a: %+v", st)
	}

	// Tenant isolation: x (tenant u) reaches nobody, by unicast or flood.
	iso := newTref(eth(macB, wire.LocalMAC(0x55), 0x88b5, nil, 60))
	isoB := newTref(eth(bcast, wire.LocalMAC(0x55), 0x88b5, nil, 60))
	sendRefs(t, x, iso, isoB)
	iso.Release()
	isoB.Release()
	if st, _ := s.Port("x"); st.RxDrops[ReasonIsolated] != 2 || iso.n.Load() != 0 || isoB.n.Load() != 0 {
		t.Fatalf("x: %+v, refs %v", st, live(iso, isoB))
	}
}

// TestRefMonitor: a pcap Monitor records frames held by reference in both directions
// with their exact bytes, and ByRefNIC.Recv (the nic.NIC side) copies them.
func TestRefMonitor(t *testing.T) {
	var buf bytes.Buffer
	pw, err := NewPcapWriter(&buf, newFakeClock())
	if err != nil {
		t.Fatal(err)
	}
	pw.Both = true
	s := New(Options{Monitor: pw.Monitor})
	defer s.Close()
	rp := refPorts(t, s, pc("a", "t"), pc("b", "t"))
	frames := []*tref{
		newTref(eth(bcast, macA, 0x88b5, []byte("first"), 60)),
		newTref(eth(bcast, macA, 0x88b5, []byte("second"), 1514)),
	}
	sendRefs(t, rp[0], frames...)
	one := make([]nic.Ref, 1)
	if n, err := rp[1].RecvRefs(one, [][]byte{make([]byte, 1514)}, []int{0}); n != 1 || err != nil || one[0] != nic.Ref(frames[0]) {
		t.Fatalf("RecvRefs = %d, %v, %v; want the first frame by reference", n, err, one[0])
	}
	one[0].Release()
	c := drain(t, &rp[1].MemNIC, 1) // copied out, released
	if !bytes.Equal(c[0], frames[1].b) {
		t.Fatal("Recv copied other bytes")
	}
	for _, f := range frames {
		f.Release()
		if f.n.Load() != 0 {
			t.Fatal("reference left")
		}
	}
	if err := pw.Flush(); err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]byte{frames[0].b, frames[1].b, frames[0].b, frames[1].b} // in, in, out, out
	for i, w := range want {
		data, _, err := r.ReadPacketData()
		if err != nil {
			t.Fatalf("pcap record %d: %v", i, err)
		}
		if !bytes.Equal(data, w) {
			t.Fatalf("pcap record %d: %d bytes, differs from the %d-byte frame", i, len(data), len(w))
		}
	}
	if _, _, err := r.ReadPacketData(); err == nil {
		t.Fatal("more pcap records than frames")
	}
}

// TestRefAllocs: sending and receiving Refs between two by-reference
// ports, and copied frames into one, allocates nothing per frame.
func TestRefAllocs(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	ip := netip.MustParseAddr("10.0.0.1")
	rp := refPorts(t, s, PortConfig{Name: "a", Tenant: "t", LockMAC: true, MAC: macA, IPs: []netip.Addr{ip}}, pc("b", "t"))
	m := memPorts(t, s, pc("m", "t"))[0]
	a, b := rp[0], rp[1]
	send(t, b, eth(bcast, macB, 0x88b5, nil, 60))
	recvRefs(t, a, 1)
	drain(t, m, 1)
	const batch = 64
	refs := make([]*tref, batch)
	frames := make([][]byte, batch)
	for i := range refs {
		refs[i] = newTref(eth(macB, macA, 0x0800, ipv4Pkt(ip, ip), 1514))
		frames[i] = eth(macB, macC, 0x88b5, nil, 1514)
	}
	in := make([]nic.Ref, batch)
	out := make([]nic.Ref, batch)
	bufs, sizes := make([][]byte, batch), make([]int, batch)
	for i := range bufs {
		bufs[i] = make([]byte, 1514)
	}
	step := func() {
		for i, r := range refs {
			in[i] = r.Clone()
		}
		if _, err := a.SendRefs(in); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Send(frames); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < 2*batch; {
			n, err := b.RecvRefs(out, bufs, sizes)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range out[:n] {
				if r != nil {
					r.Release()
				}
			}
			got += n
		}
	}
	step()
	if avg := testing.AllocsPerRun(100, step); avg != 0 {
		t.Errorf("%v allocations per %d Refs and %d copied frames; want 0", avg, batch, batch)
	}
	for _, r := range refs {
		r.Release()
		if r.n.Load() != 0 {
			t.Fatal("reference left")
		}
	}
	if st, _ := s.Port("b"); st.TxFrames != 2*batch*102 {
		t.Errorf("b sent %d; want %d", st.TxFrames, 2*batch*102)
	}
}

// BenchmarkRefForward: frames through the switch between two in-process
// ports of MTU 65000, sender and receiver in one goroutine, 64 frames per
// call: by reference (AttachRef, SendRefs/RecvRefs) against the copying
// ports (AttachMem, Send/Recv) in the same run.
func BenchmarkRefForward(b *testing.B) {
	for _, size := range []int{64, 1514, 65014} {
		for _, kind := range []string{"mem", "ref"} {
			b.Run(fmt.Sprintf("%s/%d", kind, size), func(b *testing.B) {
				s := New(Options{})
				defer s.Close()
				var tx, rx nic.NIC
				var rtx, rrx *ByRefNIC
				ports := []PortConfig{{Name: "a", Tenant: "t", MTU: 65000}, {Name: "b", Tenant: "t", MTU: 65000}}
				if kind == "ref" {
					rp := attachAll(b, s.AttachRef, ports)
					rtx, rrx = rp[0], rp[1]
					tx, rx = rtx, rrx
				} else {
					mp := attachAll(b, s.AttachMem, ports)
					tx, rx = mp[0], mp[1]
				}
				if _, err := rx.Send([][]byte{eth(bcast, macB, 0x88b5, nil, 60)}); err != nil {
					b.Fatal(err)
				}
				one := [][]byte{make([]byte, 65014)}
				if _, err := tx.Recv(one, []int{0}); err != nil {
					b.Fatal(err)
				}
				const batch = 64
				frames := make([][]byte, batch)
				refs := make([]*tref, batch)
				in, out := make([]nic.Ref, batch), make([]nic.Ref, batch)
				bufs, sizes := make([][]byte, batch), make([]int, batch)
				for i := range frames {
					frames[i] = eth(macB, macA, 0x88b5, nil, size)
					refs[i] = newTref(frames[i])
					bufs[i] = make([]byte, 65014)
				}
				b.SetBytes(int64(size) * batch)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if kind == "ref" {
						for i, r := range refs {
							in[i] = r.Clone()
						}
						if _, err := rtx.SendRefs(in); err != nil {
							b.Fatal(err)
						}
					} else if _, err := tx.Send(frames); err != nil {
						b.Fatal(err)
					}
					for got := 0; got < batch; {
						var n int
						var err error
						if kind == "ref" {
							n, err = rrx.RecvRefs(out, bufs, sizes)
							for _, r := range out[:n] {
								r.Release()
							}
						} else {
							n, err = rx.Recv(bufs, sizes)
						}
						if err != nil {
							b.Fatal(err)
						}
						got += n
					}
				}
				reportRate(b, b.N*batch, size)
			})
		}
	}
}
