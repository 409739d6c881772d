package netstack

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"
)

var (
	addrA = netip.MustParseAddr("10.0.0.1")
	addrB = netip.MustParseAddr("10.0.0.2")
)

// pipePair makes two running netstacks joined by a Pipe, 10.0.0.1 and
// 10.0.0.2, closed at the end of the test.
func pipePair(t testing.TB, mtu int) (a, b *Netstack) {
	t.Helper()
	pa, pb := NewPipe(mtu, 512)
	a = mustNew(t, Config{}, pa)
	b = mustNew(t, Config{}, pb)
	a.Start()
	b.Start()
	setAddr(t, a, addrA)
	setAddr(t, b, addrB)
	return a, b
}

func mustNew(t testing.TB, cfg Config, d Device) *Netstack {
	t.Helper()
	ns, err := New(cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

// setAddr gives ns address a, in a /24 (IPv4) or a /64 (IPv6).
func setAddr(t testing.TB, ns *Netstack, a netip.Addr) {
	t.Helper()
	bits := 24
	if a.Is6() {
		bits = 64
	}
	if _, err := ns.Request(context.Background(), SetAddrs{Addrs: []netip.Prefix{netip.PrefixFrom(a, bits)}}); err != nil {
		t.Fatal(err)
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestCommandsUDPOverPipe(t *testing.T) {
	a, b := pipePair(t, 1500)
	ctx := ctxT(t)
	rb, err := b.Request(ctx, UDPBind{Local: netip.AddrPortFrom(addrB, 7000)})
	if err != nil {
		t.Fatal(err)
	}
	hb := rb.(Bound)
	if hb.Local != netip.AddrPortFrom(addrB, 7000) {
		t.Fatalf("bound %v", hb.Local)
	}
	ra, err := a.Request(ctx, UDPBind{Local: netip.AddrPortFrom(addrA, 0)})
	if err != nil {
		t.Fatal(err)
	}
	ha := ra.(Bound)

	// Recv parks first (no data yet), then the send wakes it.
	got := make(chan Response, 1)
	go func() {
		r, err := b.Request(ctx, UDPRecv{Handle: hb.Handle, MaxLen: 5})
		if err != nil {
			t.Error(err)
		}
		got <- r
	}()
	s, err := a.Request(ctx, UDPSend{Handle: ha.Handle, To: hb.Local, Buf: []byte("hello, world")})
	if err != nil || s.(Sent).N != 12 {
		t.Fatalf("send: %v %v", s, err)
	}
	r := (<-got).(RecvFrom)
	if string(r.Buf) != "hello" || !r.Truncated || r.Remote != ha.Local {
		t.Fatalf("recv %+v, want hello truncated from %v", r, ha.Local)
	}

	tests := []struct {
		name string
		cmd  Command
		kind error
	}{
		{"zero-size recv", UDPRecv{Handle: hb.Handle, MaxLen: 0}, ErrBadRequest},
		{"wrong version", UDPSend{Handle: ha.Handle, To: netip.MustParseAddrPort("[fe80::1]:5"), Buf: []byte("x")}, ErrBadRequest},
		{"unaddressable", UDPSend{Handle: ha.Handle, Buf: []byte("x")}, ErrBadRequest},
		{"too big", UDPSend{Handle: ha.Handle, To: hb.Local, Buf: make([]byte, 70000)}, ErrBadRequest},
		{"bad handle", UDPRecv{Handle: 999, MaxLen: 5}, ErrInternal},
		{"wrong kind", TCPAccept{Handle: ha.Handle}, ErrInternal},
		{"raw version", RawOpen{IPVersion: 5, Protocol: 17}, ErrBadRequest},
		{"connect unaddressable", TCPConnect{}, ErrBadRequest},
		{"no route", UDPSend{Handle: ha.Handle, To: netip.MustParseAddrPort("192.0.2.1:9"), Buf: []byte("x")}, ErrBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := a.Request(ctx, tc.cmd)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err %v, want %v", err, tc.kind)
			}
		})
	}
	if _, err := b.Request(ctx, Close{Handle: hb.Handle}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Request(ctx, Close{Handle: hb.Handle}); !errors.Is(err, ErrInternal) {
		t.Fatalf("double close: %v", err)
	}
}

func TestCommandsTCPOverPipe(t *testing.T) {
	a, b := pipePair(t, 1500)
	ctx := ctxT(t)
	l, err := b.Request(ctx, TCPListen{Local: netip.AddrPortFrom(addrB, 80), Backlog: 16})
	if err != nil {
		t.Fatal(err)
	}
	lh := l.(Listening).Handle
	acc := make(chan Accepted, 1)
	go func() {
		r, err := b.Request(ctx, TCPAccept{Handle: lh})
		if err != nil {
			t.Error(err)
			close(acc)
			return
		}
		acc <- r.(Accepted)
	}()
	c, err := a.Request(ctx, TCPConnect{Remote: netip.AddrPortFrom(addrB, 80)})
	if err != nil {
		t.Fatal(err)
	}
	conn := c.(Connected)
	if conn.Remote != netip.AddrPortFrom(addrB, 80) || conn.Local.Addr() != addrA {
		t.Fatalf("connected %+v", conn)
	}
	ac, ok := <-acc
	if !ok {
		t.FailNow()
	}
	if ac.Remote != conn.Local {
		t.Fatalf("accepted from %v, connected from %v", ac.Remote, conn.Local)
	}
	want := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 KB
	sent := make(chan error, 1)
	go func() {
		r, err := a.Request(ctx, TCPSend{Handle: conn.Handle, Buf: want})
		if err == nil && r.(Sent).N != len(want) {
			err = errors.New("short send")
		}
		if err == nil {
			_, err = a.Request(ctx, TCPShutdown{Handle: conn.Handle})
		}
		sent <- err
	}()
	var got []byte
	for {
		r, err := b.Request(ctx, TCPRecv{Handle: ac.Handle, MaxLen: 65536})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := r.(Finished); ok {
			break
		}
		got = append(got, r.(Received).Buf...)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes, want %d", len(got), len(want))
	}
	// Half-close: b can still send to a after a's FIN.
	if _, err := b.Request(ctx, TCPSend{Handle: ac.Handle, Buf: []byte("bye")}); err != nil {
		t.Fatal(err)
	}
	r, err := a.Request(ctx, TCPRecv{Handle: conn.Handle, MaxLen: 10})
	if err != nil || string(r.(Received).Buf) != "bye" {
		t.Fatalf("recv after half-close: %v %v", r, err)
	}
	b.Request(ctx, Close{Handle: ac.Handle})
	r, err = a.Request(ctx, TCPRecv{Handle: conn.Handle, MaxLen: 10})
	if _, ok := r.(Finished); !ok || err != nil {
		t.Fatalf("want Finished, got %v %v", r, err)
	}
}
