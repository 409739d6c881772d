package netstack

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// waitTimeout bounds the waits of these tests, so that a bug fails a test
// instead of hanging it. It is a safety net, not a synchronisation.
const waitTimeout = 20 * time.Second

// errWithin returns what ch gives, failing the test if it gives nothing in
// waitTimeout.
func errWithin(t *testing.T, ch <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(waitTimeout):
		t.Fatalf("%s did not return", what)
		return nil
	}
}

// TestOneCommandSeedExample is the seed's example with its one-at-a-time
// loop: a goroutine takes exactly four commands with WaitCommand and
// processes each with ProcessCommand, while the test sends them; then the
// test pumps the device and reads the UDP packet off an unbounded pipe.
func TestOneCommandSeedExample(t *testing.T) {
	end1, end2 := NewUnboundedPipe(1500)
	defer end2.Close()
	ns := mustNew(t, Config{}, end1)
	ops := make(chan []string, 1)
	go func() {
		var seen []string
		for range 4 {
			q, err := ns.WaitCommand(-1)
			if err != nil {
				t.Error(err)
				break
			}
			seen = append(seen, q.Op())
			ns.ProcessCommand(q)
		}
		ops <- seen
	}()
	ctx := ctxT(t)
	if _, err := ns.Request(ctx, SetAddrs{Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ns.Request(ctx, SetRoutes{Routes: []Route{{Dst: netip.MustParsePrefix("0.0.0.0/0")}}}); err != nil {
		t.Fatal(err)
	}
	r, err := ns.Request(ctx, UDPBind{Local: netip.MustParseAddrPort("10.0.0.1:1000")})
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.RequestNoWait(UDPSend{Handle: r.(Bound).Handle, To: netip.MustParseAddrPort("1.2.3.4:80"), Buf: []byte("hello")}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-ops:
		if want := []string{"set-addrs", "set-routes", "udp-bind", "udp-send"}; !slices.Equal(got, want) {
			t.Fatalf("processed %v, want %v", got, want)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the command goroutine never finished")
	}
	if !ns.PollDeviceIO() {
		t.Fatal("PollDeviceIO moved nothing")
	}
	pkt, err := end2.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkt) != header.IPv4MinimumSize+header.UDPMinimumSize+len("hello") {
		t.Fatalf("packet of %d bytes: %x", len(pkt), pkt)
	}
	ip := header.IPv4(pkt)
	u := header.UDP(ip.Payload())
	if ip.SourceAddress().String() != "10.0.0.1" || ip.DestinationAddress().String() != "1.2.3.4" ||
		ip.Protocol() != uint8(header.UDPProtocolNumber) || u.SourcePort() != 1000 || u.DestinationPort() != 80 ||
		!bytes.Equal(u.Payload(), []byte("hello")) {
		t.Errorf("packet %x: want UDP 10.0.0.1:1000 -> 1.2.3.4:80 \"hello\"", pkt)
	}
	if s := ns.Stats(); s.Commands != 4 || s.Failed != 0 {
		t.Errorf("stats %+v: want 4 commands, none failed", s)
	}
}

// TestWaitCommandTimeout: WaitCommand gives up after its timeout (at once
// for 0) with os.ErrDeadlineExceeded, and with ErrClosed once the Netstack
// closes, also while it waits; a command taken before Close is refused
// with ErrClosed by ProcessCommand.
func TestWaitCommandTimeout(t *testing.T) {
	a, b := NewUnboundedPipe(1500)
	defer b.Close()
	ns := mustNew(t, Config{}, a)
	if q, err := ns.WaitCommand(0); !errors.Is(err, os.ErrDeadlineExceeded) || q.Op() != "" {
		t.Errorf("WaitCommand(0) with nothing queued = %q, %v", q.Op(), err)
	}
	const d = 20 * time.Millisecond
	start := time.Now()
	if _, err := ns.WaitCommand(d); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("WaitCommand(%v) = %v", d, err)
	}
	if e := time.Since(start); e < d {
		t.Errorf("WaitCommand(%v) returned after %v", d, e)
	}

	answered := make(chan error, 1)
	go func() {
		_, err := ns.Request(context.Background(), Nop{})
		answered <- err
	}()
	q, err := ns.WaitCommand(waitTimeout)
	if err != nil || q.Op() != "nop" {
		t.Fatalf("WaitCommand = %q, %v; want nop", q.Op(), err)
	}
	waiting := make(chan error, 1)
	go func() {
		_, err := ns.WaitCommand(-1)
		waiting <- err
	}()
	ns.Close()
	if err := errWithin(t, waiting, "a waiting WaitCommand after Close"); !errors.Is(err, ErrClosed) {
		t.Errorf("a waiting WaitCommand after Close: %v, want ErrClosed", err)
	}
	ns.ProcessCommand(q)
	if err := errWithin(t, answered, "a command processed after Close"); !errors.Is(err, ErrClosed) {
		t.Errorf("a command processed after Close: %v, want ErrClosed", err)
	}
	if _, err := ns.WaitCommand(0); !errors.Is(err, ErrClosed) {
		t.Errorf("WaitCommand after Close: %v, want ErrClosed", err)
	}
	ns.ProcessCommand(Queued{}) // does nothing
}

// TestOneCommandParked: two pumped netstacks on an unbounded pipe, driven
// one command at a time by one goroutine. A UDPRecv with no data parks;
// once the datagram has crossed the pipe, the next ProcessCommand (a Nop)
// also finishes the parked receive.
func TestOneCommandParked(t *testing.T) {
	pa, pb := NewUnboundedPipe(1500)
	a := mustNew(t, Config{}, pa)
	b := mustNew(t, Config{}, pb)
	ctx := ctxT(t)
	// request sends cmd to ns from a goroutine; the caller processes it.
	request := func(ns *Netstack, cmd Command) <-chan Response {
		out := make(chan Response, 1)
		go func() {
			r, err := ns.Request(ctx, cmd)
			if err != nil {
				t.Error(err)
			}
			out <- r
		}()
		return out
	}
	// step takes one command off ns and processes it.
	step := func(ns *Netstack, want string) {
		t.Helper()
		q, err := ns.WaitCommand(waitTimeout)
		if err != nil || q.Op() != want {
			t.Fatalf("WaitCommand = %q, %v; want %s", q.Op(), err, want)
		}
		ns.ProcessCommand(q)
	}
	answer := func(ch <-chan Response) Response {
		t.Helper()
		select {
		case r := <-ch:
			return r
		case <-time.After(waitTimeout):
			t.Fatal("no answer")
			return nil
		}
	}
	for _, s := range []struct {
		ns   *Netstack
		addr string
	}{{a, "10.0.0.1/24"}, {b, "10.0.0.2/24"}} {
		ch := request(s.ns, SetAddrs{Addrs: []netip.Prefix{netip.MustParsePrefix(s.addr)}})
		step(s.ns, "set-addrs")
		answer(ch)
	}
	ch := request(a, UDPBind{Local: netip.MustParseAddrPort("10.0.0.1:7")})
	step(a, "udp-bind")
	ha := answer(ch).(Bound).Handle
	ch = request(b, UDPBind{Local: netip.MustParseAddrPort("10.0.0.2:9")})
	step(b, "udp-bind")
	hb := answer(ch).(Bound).Handle

	recv := request(a, UDPRecv{Handle: ha, MaxLen: 100})
	step(a, "udp-recv") // parks: nothing has arrived
	select {
	case r := <-recv:
		t.Fatalf("UDPRecv answered %#v before any datagram", r)
	default:
	}
	ch = request(b, UDPSend{Handle: hb, To: netip.MustParseAddrPort("10.0.0.1:7"), Buf: []byte("one at a time")})
	step(b, "udp-send")
	answer(ch)
	if !b.PollDeviceIO() || !a.PollDeviceIO() {
		t.Fatal("the datagram did not cross the pipe")
	}
	nop := request(a, Nop{})
	step(a, "nop")
	answer(nop)
	got, ok := answer(recv).(RecvFrom)
	if !ok || string(got.Buf) != "one at a time" || got.Remote != netip.MustParseAddrPort("10.0.0.2:9") {
		t.Errorf("UDPRecv = %#v, want \"one at a time\" from 10.0.0.2:9", got)
	}
	if s := a.Stats(); s.Parked != 1 || s.Retries != 1 || s.Failed != 0 {
		t.Errorf("a's stats %+v: want 1 parked, 1 retry, none failed", s)
	}
}

// TestUnboundedPipe: Send never waits however much the peer leaves unread;
// the packets come out in order, byte for byte, also when sends and
// receives interleave; Close releases what is left (the leak checker in
// TestMain checks) and later sends fail with ErrClosed.
func TestUnboundedPipe(t *testing.T) {
	const n = 10 * unboundedChan
	a, b := NewUnboundedPipe(1500)
	if !a.Unbounded() || !b.Unbounded() {
		t.Fatal("Unbounded() = false")
	}
	pkt := func(i int) []byte { return binary.BigEndian.AppendUint32([]byte("pkt"), uint32(i)) }
	sent := make(chan error, 1)
	go func() {
		// A bounded pipe would block here after unboundedChan packets.
		for i := range n {
			if err := a.Send(context.Background(), pkt(i)); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	if err := errWithin(t, sent, "Send on an unbounded pipe"); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	next := 0
	recvWant := func(k int) {
		t.Helper()
		for range k {
			got, err := b.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, pkt(next)) {
				t.Fatalf("packet %d: %x, want %x", next, got, pkt(next))
			}
			next++
		}
	}
	recvWant(n / 2)
	for i := n; i < n+3*unboundedChan; i++ { // more sends while the overflow is not empty
		if err := a.Send(ctx, pkt(i)); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			recvWant(1)
		}
	}
	recvWant(n + 3*unboundedChan - next - 100) // leave 100 unread for Close
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(ctx, pkt(0)); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close: %v, want ErrClosed", err)
	}
	if _, err := b.Recv(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Recv after Close: %v, want ErrClosed", err)
	}
}

// TestUnboundedPipeTCP: two running netstacks move 4 MiB over TCP across
// an unbounded pipe, byte-exact (transfer checks the SHA-256).
func TestUnboundedPipeTCP(t *testing.T) {
	pa, pb := NewUnboundedPipe(1500)
	a := mustNew(t, Config{}, pa)
	b := mustNew(t, Config{}, pb)
	a.Start()
	b.Start()
	setAddr(t, a, addrA)
	setAddr(t, b, addrB)
	transfer(t, a, b, addrB, 80, 4<<20)
}
