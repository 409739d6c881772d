package netstack

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// TestPollDelayTimers pumps a Netstack on a manual clock whose SYNs go
// into a pipe nobody answers: PollDelay names the retransmission timer to
// the nanosecond (gVisor's initial RTO of 1 s, then doubling), advancing
// the clock by less fires nothing, and advancing by exactly PollDelay
// makes the next SYN.
func TestPollDelayTimers(t *testing.T) {
	clk := faketime.NewManualClock()
	pa, pb := NewPipe(1500, 16)
	defer pb.Close()
	ns := mustNew(t, Config{Clock: clk}, pa)
	wake := ns.Wake()
	if d := ns.PollDelay(); d != -1 {
		t.Fatalf("fresh stack: PollDelay %v, want -1 (no timer armed)", d)
	}
	setup := make(chan error, 1)
	go func() {
		_, err := ns.Request(context.Background(), SetAddrs{Addrs: []netip.Prefix{netip.PrefixFrom(addrA, 24)}})
		if err == nil {
			err = ns.RequestNoWait(TCPConnect{Remote: netip.AddrPortFrom(addrB, 99)})
		}
		setup <- err
	}()
	// pumpUntilSYN pumps until one more SYN is on the pipe and returns the
	// clock's time then.
	syns := 0
	pumpUntilSYN := func() time.Duration {
		t.Helper()
		for {
			ns.Poll()
			ns.PollDeviceIO()
			for len(pb.rx) > 0 {
				b := <-pb.rx
				pkt := b.Flatten()
				b.Release()
				ip := header.IPv4(pkt)
				if ip.TransportProtocol() == header.TCPProtocolNumber && header.TCP(ip.Payload()).Flags().Contains(header.TCPFlagSyn) {
					syns++
					return clk.NowMonotonic().Sub(tcpip.MonotonicTime{})
				}
			}
			if ns.PollDelay() == 0 {
				continue
			}
			select {
			case err := <-setup:
				if err != nil {
					t.Fatal(err)
				}
			case <-wake:
			}
		}
	}
	first := pumpUntilSYN()
	var times []time.Duration
	for range 3 {
		d := ns.PollDelay()
		if d <= 0 {
			t.Fatalf("after SYN %d: PollDelay %v, want a timer", syns, d)
		}
		clk.Advance(d - time.Nanosecond)
		if got := ns.PollDelay(); got != time.Nanosecond {
			t.Fatalf("after SYN %d, advanced %v of %v: PollDelay %v, want 1ns", syns, d-time.Nanosecond, d, got)
		}
		clk.Advance(time.Nanosecond)
		times = append(times, pumpUntilSYN()-first)
	}
	want := []time.Duration{time.Second, 3 * time.Second, 7 * time.Second}
	for i := range want {
		if times[i] != want[i] {
			t.Fatalf("SYN retransmissions at %v after the first, want %v", times, want)
		}
	}
}
