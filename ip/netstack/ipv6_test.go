package netstack

import (
	"net/netip"
	"testing"
)

// TestIPv6OverPipe: UDP, TCP and ping over IPv6 between two netstacks.
func TestIPv6OverPipe(t *testing.T) {
	pa, pb := NewPipe(1500, 256)
	a := mustNew(t, Config{}, pa)
	b := mustNew(t, Config{}, pb)
	a.Start()
	b.Start()
	v6a, v6b := netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")
	ctx := ctxT(t)
	setAddr(t, a, v6a)
	setAddr(t, b, v6b)
	r, err := a.Request(ctx, Ping{To: v6b, Payload: []byte("six")})
	if err != nil {
		t.Fatal(err)
	}
	if p := r.(Pong); p.From != v6b || p.Len != 3 {
		t.Fatalf("pong %+v", p)
	}
	ua, err := a.ListenUDP(netip.AddrPortFrom(v6a, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	ub, err := b.ListenUDP(netip.AddrPortFrom(v6b, 53))
	if err != nil {
		t.Fatal(err)
	}
	defer ub.Close()
	if _, err := ua.WriteToAddrPort([]byte("v6 datagram"), netip.AddrPortFrom(v6b, 53)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 32)
	n, from, err := ub.ReadFromAddrPort(buf)
	if err != nil || string(buf[:n]) != "v6 datagram" || from.Addr() != v6a {
		t.Fatalf("udp6: %q from %v: %v", buf[:n], from, err)
	}
	transfer(t, a, b, v6b, 443, 512<<10)
}
