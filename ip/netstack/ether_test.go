package netstack

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"spacenet/ip/nic"
)

// nicPair makes two running netstacks on the Ethernet medium, joined by a
// nic.Pipe (an in-memory cable), resolving each other with ARP.
func nicPair(t testing.TB, mtu int) (a, b *Netstack) {
	t.Helper()
	na, nb := nic.NewPipe(mtu, 256)
	a = mustNew(t, Config{MAC: [6]byte{2, 0, 0, 0, 0, 1}}, NICDevice(na, true))
	b = mustNew(t, Config{MAC: [6]byte{2, 0, 0, 0, 0, 2}}, NICDevice(nb, true))
	a.Start()
	b.Start()
	setAddr(t, a, addrA)
	setAddr(t, b, addrB)
	return a, b
}

func TestEthernetOverNICPipe(t *testing.T) {
	a, b := nicPair(t, 1500)
	ctx := ctxT(t)
	// ICMP echo first: it needs ARP both ways.
	r, err := a.Request(ctx, Ping{To: addrB, Payload: []byte("ping!")})
	if err != nil {
		t.Fatal(err)
	}
	if p := r.(Pong); p.From != addrB || p.Len != 5 {
		t.Fatalf("pong %+v", p)
	}
	transfer(t, a, b, addrB, 90, 1<<20)
	transfer(t, b, a, addrA, 91, 1<<20)

	// UDP both ways.
	pa, _ := a.ListenUDP(netip.AddrPortFrom(addrA, 5000))
	pb, _ := b.ListenUDP(netip.AddrPortFrom(addrB, 5000))
	defer pa.Close()
	defer pb.Close()
	if _, err := pa.WriteToAddrPort([]byte("over ethernet"), netip.AddrPortFrom(addrB, 5000)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, from, err := pb.ReadFromAddrPort(buf)
	if err != nil || string(buf[:n]) != "over ethernet" || from != netip.AddrPortFrom(addrA, 5000) {
		t.Fatalf("udp: %q from %v: %v", buf[:n], from, err)
	}
	if s := a.Stats(); s.Link.Refused != 0 || s.Link.Closed != 0 {
		t.Fatalf("link refused packets: %+v", s.Link)
	}
}

func TestRawIP(t *testing.T) {
	a, b := pipePair(t, 1500)
	ctx := ctxT(t)
	ob, err := b.Request(ctx, RawOpen{IPVersion: 4, Protocol: 17})
	if err != nil {
		t.Fatal(err)
	}
	oa, err := a.Request(ctx, RawOpen{IPVersion: 4, Protocol: 17})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Request(ctx, RawSend{Handle: oa.(Opened).Handle, To: addrB, Buf: []byte("experimental")}); err != nil {
		t.Fatal(err)
	}
	r, err := b.Request(ctx, RawRecv{Handle: ob.(Opened).Handle, MaxLen: 100})
	if err != nil {
		t.Fatal(err)
	}
	p := r.(RawPacket)
	// IPv4 raw sockets receive the IP header too (20 bytes, protocol 17).
	if len(p.Buf) != 20+12 || p.Buf[9] != 17 || string(p.Buf[20:]) != "experimental" || p.Truncated {
		t.Fatalf("raw packet % x", p.Buf)
	}
	// gVisor has raw sockets only for the protocols it implements.
	if _, err := a.Request(ctx, RawOpen{IPVersion: 4, Protocol: 253}); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("raw protocol 253: %v", err)
	}
	_, err = a.Request(ctx, RawSend{Handle: oa.(Opened).Handle, To: netip.MustParseAddr("fd00::1"), Buf: []byte("x")})
	if !errors.Is(err, ErrBadRequest) {
		t.Fatalf("wrong IP version: %v", err)
	}
	// Truncation is reported.
	a.Request(ctx, RawSend{Handle: oa.(Opened).Handle, To: addrB, Buf: make([]byte, 50)})
	r, err = b.Request(ctx, RawRecv{Handle: ob.(Opened).Handle, MaxLen: 30})
	if err != nil || !r.(RawPacket).Truncated || len(r.(RawPacket).Buf) != 30 {
		t.Fatalf("truncated raw: %+v %v", r, err)
	}
	// Ping over the IP medium (Pipe), and a cancelled ping leaves nothing behind.
	if _, err := a.Request(ctx, Ping{To: addrB, Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := a.Request(cctx, Ping{To: netip.MustParseAddr("10.0.0.99")}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ping: %v", err)
	}
	if n := a.parkedNow(); n != 0 {
		t.Fatalf("%d parked after cancel", n)
	}
}

// TestLinkBackpressure: with a 4-packet link queue in front of a 2-frame
// deep NIC pipe, gVisor's writers must wait (backpressure, counted) rather
// than lose packets: none refused, the queue never deeper than its bound,
// no frame refused by the NIC, and the transfer byte-exact. (Retransmissions are not
// counted as losses: gVisor's RACK/TLP fire spuriously on a zero-latency
// link under a busy scheduler.)
func TestLinkBackpressure(t *testing.T) {
	na, nb := nic.NewPipe(1500, 2)
	a := mustNew(t, Config{QueueLen: 4, MAC: [6]byte{2, 0, 0, 0, 2, 1}}, NICDevice(na, true))
	b := mustNew(t, Config{QueueLen: 4, MAC: [6]byte{2, 0, 0, 0, 2, 2}}, NICDevice(nb, true))
	a.Start()
	b.Start()
	setAddr(t, a, addrA)
	setAddr(t, b, addrB)
	transfer(t, a, b, addrB, 92, 2<<20)
	s := a.Stats().Link
	if s.Waits == 0 || s.Refused != 0 || s.MaxDepth > 4 {
		t.Fatalf("link stats %+v: want waits, no refusals, depth <= 4", s)
	}
	if sa := na.(*nic.PipeEnd).Stats(); sa.TxTooBig+sa.TxErrors != 0 {
		t.Fatalf("the NIC refused frames: %+v", sa)
	}
	t.Logf("link: %+v; retransmits %d", s, a.Stack().Stats().TCP.Retransmits.Value())
}
