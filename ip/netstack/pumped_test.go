package netstack

import (
	"bytes"
	"context"
	"net/netip"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// TestPumpedSeedExample is the seed's example in pumped mode: nobody runs
// the Netstack; the test processes its commands and its device I/O, then
// reads the IP packet off the other end of the Pipe.
func TestPumpedSeedExample(t *testing.T) {
	end1, end2 := NewPipe(1500, 16)
	defer end2.Close()
	ns := mustNew(t, Config{}, end1)
	wake := ns.Wake()
	res := make(chan error, 1)
	go func() {
		ctx := context.Background()
		if _, err := ns.Request(ctx, SetAddrs{Addrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}}); err != nil {
			res <- err
			return
		}
		r, err := ns.Request(ctx, UDPBind{Local: netip.MustParseAddrPort("127.0.0.1:1000")})
		if err != nil {
			res <- err
			return
		}
		// Fire-and-forget send, as in the seed.
		res <- ns.RequestNoWait(UDPSend{Handle: r.(Bound).Handle, To: netip.MustParseAddrPort("1.2.3.4:80"), Buf: []byte("hello")})
	}()
	// Pump until the request goroutine is done and the packet is out.
	sent := false
	for !sent || ns.PollDelay() == 0 {
		ns.Poll()
		ns.PollDeviceIO()
		if ns.PollDelay() == 0 {
			continue
		}
		select {
		case err := <-res:
			if err != nil {
				t.Fatal(err)
			}
			sent = true
		case <-wake:
		}
	}
	// SetAddrs gave only 127/8, so 1.2.3.4 has no route: the
	// fire-and-forget send failed, and was counted.
	if ns.Stats().Failed != 1 {
		t.Fatalf("send to an unrouted address: %+v", ns.Stats())
	}

	// With a default route the packet goes out.
	go func() {
		_, err := ns.Request(context.Background(), SetRoutes{Routes: []Route{{Dst: netip.MustParsePrefix("0.0.0.0/0")}}})
		if err != nil {
			res <- err
			return
		}
		r, err := ns.Request(context.Background(), UDPBind{Local: netip.MustParseAddrPort("0.0.0.0:1001")})
		if err != nil {
			res <- err
			return
		}
		res <- ns.RequestNoWait(UDPSend{Handle: r.(Bound).Handle, To: netip.MustParseAddrPort("1.2.3.4:80"), Buf: []byte("hello")})
	}()
	var pkt []byte
	ctx := ctxT(t)
	for pkt == nil {
		ns.Poll()
		ns.PollDeviceIO()
		select {
		case err := <-res:
			if err != nil {
				t.Fatal(err)
			}
		case <-wake:
		case <-ctx.Done():
			t.Fatal("no packet")
		default:
			if ns.PollDelay() != 0 && len(end2.rx) > 0 {
				var err error
				if pkt, err = end2.Recv(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if len(pkt) != header.IPv4MinimumSize+header.UDPMinimumSize+5 || pkt[0]>>4 != 4 || !bytes.HasSuffix(pkt, []byte("hello")) {
		t.Fatalf("packet % x", pkt)
	}
	ip := header.IPv4(pkt)
	if ip.DestinationAddress().String() != "1.2.3.4" || ip.TransportProtocol() != header.UDPProtocolNumber {
		t.Fatalf("packet to %v proto %d", ip.DestinationAddress(), ip.TransportProtocol())
	}
}

// TestPumpedTCPFakeClock drives two netstacks from one goroutine with a
// manual gVisor clock: connect, 256 KiB, half-close, close. Time moves
// with the work done, and by 1 ms when the pump has nothing to do.
func TestPumpedTCPFakeClock(t *testing.T) {
	clk := faketime.NewManualClock()
	pa, pb := NewPipe(1500, 4096)
	// A queue deep enough for a whole window: in pumped mode a full
	// queue refuses packets (counted), which TCP sees as loss.
	a := mustNew(t, Config{Clock: clk, QueueLen: 8192}, pa)
	b := mustNew(t, Config{Clock: clk, QueueLen: 8192}, pb)
	wa, wb := a.Wake(), b.Wake()
	done := make(chan error, 1)
	want := bytes.Repeat([]byte("pumped"), 256<<10/6)
	go func() {
		ctx := context.Background()
		for _, x := range []struct {
			ns *Netstack
			a  netip.Addr
		}{{a, addrA}, {b, addrB}} {
			if _, err := x.ns.Request(ctx, SetAddrs{Addrs: []netip.Prefix{netip.PrefixFrom(x.a, 24)}}); err != nil {
				done <- err
				return
			}
		}
		l, err := b.ListenTCP(netip.AddrPortFrom(addrB, 99), 4)
		if err != nil {
			done <- err
			return
		}
		defer l.Close()
		c, err := a.DialTCP(ctx, netip.AddrPort{}, netip.AddrPortFrom(addrB, 99))
		if err != nil {
			done <- err
			return
		}
		s, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		go func() {
			c.Write(want)
			c.CloseWrite()
		}()
		var got bytes.Buffer
		if _, err := got.ReadFrom(s); err != nil {
			done <- err
			return
		}
		if !bytes.Equal(got.Bytes(), want) {
			done <- errShort(got.Len())
			return
		}
		s.Close()
		c.Close()
		done <- nil
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		moved := a.Poll()
		moved = a.PollDeviceIO() || moved
		moved = b.Poll() || moved
		moved = b.PollDeviceIO() || moved
		if moved || a.PollDelay() == 0 || b.PollDelay() == 0 {
			// Virtual time flows with the work done (10 us a round), as
			// on a real link; a frozen clock makes every RTT zero and
			// gVisor's RACK then retransmits in a storm.
			clk.Advance(10 * time.Microsecond)
			continue
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			return
		case <-wa:
		case <-wb:
		default:
			// Quiet: let gVisor's goroutines run, then move virtual time.
			if time.Now().After(deadline) {
				t.Fatal("pumped transfer stuck")
			}
			clk.Advance(time.Millisecond)
		}
	}
}

type errShort int

func (e errShort) Error() string { return "short transfer" }

func addrFromT(a netip.Addr) tcpip.Address { return addrFrom(a) }
