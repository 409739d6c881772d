package netstack

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// TestHotPathAllocs: the command round trip and a UDP send/receive pair
// over the socket layer allocate nothing per call (requests and reply
// channels are pooled; gVisor itself allocates per packet, which is not
// counted here for Nop).
func TestHotPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	a, b := pipePair(t, 1500)
	ctx := context.Background()
	if n := testing.AllocsPerRun(1000, func() { a.Request(ctx, Nop{}) }); n != 0 {
		t.Errorf("Nop round trip: %v allocs", n)
	}
	pa, _ := a.ListenUDP(netip.AddrPortFrom(addrA, 0))
	pb, _ := b.ListenUDP(netip.AddrPortFrom(addrB, 4000))
	defer pa.Close()
	defer pb.Close()
	msg, buf := []byte("zero"), make([]byte, 64)
	to := netip.AddrPortFrom(addrB, 4000)
	n := testing.AllocsPerRun(200, func() {
		pa.WriteToAddrPort(msg, to)
		pb.ReadFromAddrPort(buf)
	})
	// gVisor allocates objects per datagram inside the stack (measured
	// with -memprofile: 9, all in gVisor: route, packet buffer list,
	// payload, demuxer); our layer adds none, so any more is a regression.
	if n > 9 {
		t.Errorf("UDP send+recv: %v allocs", n)
	}
	t.Logf("UDP send+recv through two gVisor stacks: %v allocs", n)
}

// TestCloseFailsEverything: closing a Netstack answers parked and later
// commands with ErrClosed and releases its sockets (goleak and gVisor's
// leak checker in TestMain check the rest).
func TestCloseFailsEverything(t *testing.T) {
	pa, pb := NewPipe(1500, 16)
	defer pb.Close()
	ns, err := New(Config{}, pa)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	setAddr(t, ns, addrA)
	ctx := ctxT(t)
	l, err := ns.ListenTCP(netip.AddrPortFrom(addrA, 1), 4)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ns.ListenUDP(netip.AddrPortFrom(addrA, 2))
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	go func() { _, err := l.Accept(); errs <- err }()
	go func() { _, _, err := p.ReadFrom(make([]byte, 8)); errs <- err }()
	for ns.parkedNow() < 2 {
		ns.Request(ctx, Nop{})
	}
	ns.Close()
	for i := 0; i < 2; i++ {
		if err := <-errs; !errors.Is(err, ErrClosed) {
			t.Fatalf("parked command after Close: %v", err)
		}
	}
	if _, err := ns.Request(ctx, Nop{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("command after Close: %v", err)
	}
	if err := ns.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// FuzzInjectPacket feeds arbitrary bytes to a netstack as inbound IP
// packets: nothing may panic, every packet buffer must be released (the
// leak checker in TestMain), and the stack must still answer afterwards.
func FuzzInjectPacket(f *testing.F) {
	ip := make([]byte, header.IPv4MinimumSize+header.UDPMinimumSize+4)
	h := header.IPv4(ip)
	h.Encode(&header.IPv4Fields{TotalLength: uint16(len(ip)), TTL: 64, Protocol: uint8(header.UDPProtocolNumber),
		SrcAddr: addrFromT(addrB), DstAddr: addrFromT(addrA)})
	h.SetChecksum(^h.CalculateChecksum())
	u := header.UDP(ip[header.IPv4MinimumSize:])
	u.Encode(&header.UDPFields{SrcPort: 9, DstPort: 7, Length: uint16(header.UDPMinimumSize + 4)})
	copy(ip[header.IPv4MinimumSize+header.UDPMinimumSize:], "data")
	f.Add(ip)
	f.Add([]byte{0x60})
	f.Add([]byte{0x45, 0, 0, 20})
	f.Add([]byte{})
	pa, pb := NewPipe(1500, 64)
	ns, err := New(Config{}, pa)
	if err != nil {
		f.Fatal(err)
	}
	defer pb.Close()
	defer ns.Close()
	wake := ns.Wake()
	_ = wake
	go func() { ns.Request(context.Background(), SetAddrs{Addrs: []netip.Prefix{netip.PrefixFrom(addrA, 24)}}) }()
	for ns.Stats().Commands == 0 {
		<-wake
		ns.Poll()
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		if err := pb.Send(context.Background(), pkt); err != nil {
			t.Fatal(err)
		}
		ns.PollDeviceIO()
		for ns.PollDeviceIO() {
		}
		// Drain whatever the stack answered (ICMP errors, ...).
		for len(pb.rx) > 0 {
			b := <-pb.rx
			b.Release()
		}
	})
}
