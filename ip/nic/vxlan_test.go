package nic

import (
	"net/netip"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestVXLANAllocs: a frame sent and received through a VXLAN NIC (to
// itself on the loopback) allocates nothing.
func TestVXLANAllocs(t *testing.T) {
	if vxlanRace {
		t.Skip("the race detector allocates")
	}
	v, err := OpenVXLAN(VXLANConfig{Local: netip.MustParseAddrPort("127.0.0.1:0"), Peer: netip.MustParseAddrPort("127.0.0.1:9"), VNI: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	v.peer = v.LocalAddr() // to itself
	frame := make([]byte, 100)
	frames := [][]byte{frame}
	bufs := [][]byte{make([]byte, 1514)}
	sizes := make([]int, 1)
	if n := testing.AllocsPerRun(200, func() {
		if _, err := v.Send(frames); err != nil {
			t.Fatal(err)
		}
		if n, err := v.Recv(bufs, sizes); err != nil || n != 1 || sizes[0] != 100 {
			t.Fatalf("%d %v", n, err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per frame", n)
	}
}

func TestVXLANConfigErrors(t *testing.T) {
	for _, c := range []VXLANConfig{
		{Peer: netip.MustParseAddrPort("127.0.0.1:4789"), VNI: 1 << 24},
		{VNI: 1},
		{Peer: netip.MustParseAddrPort("127.0.0.1:4789"), MTU: -1},
	} {
		if v, err := OpenVXLAN(c); err == nil {
			v.Close()
			t.Errorf("%+v accepted", c)
		}
	}
}

// BenchmarkVXLANSendRecv: one 1400-byte frame through a VXLAN NIC to
// itself over the loopback (a datagram sent and received per op).
func BenchmarkVXLANSendRecv(b *testing.B) {
	v, err := OpenVXLAN(VXLANConfig{Local: netip.MustParseAddrPort("127.0.0.1:0"), Peer: netip.MustParseAddrPort("127.0.0.1:9"), VNI: 7})
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	v.peer = v.LocalAddr()
	frames := [][]byte{make([]byte, 1400)}
	bufs := [][]byte{make([]byte, 1514)}
	sizes := make([]int, 1)
	b.SetBytes(1400)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Send(frames); err != nil {
			b.Fatal(err)
		}
		if _, err := v.Recv(bufs, sizes); err != nil {
			b.Fatal(err)
		}
	}
}

// TestVXLANReadBuffer: the socket's receive buffer is 4 MiB by default
// (the kernel reports twice what was set), the kernel's default with a
// negative ReadBuffer. Root may exceed net.core.rmem_max; others are
// capped by it, so only root checks the size exactly.
func TestVXLANReadBuffer(t *testing.T) {
	rcvbuf := func(cfg VXLANConfig) int {
		t.Helper()
		cfg.Local, cfg.Peer = netip.MustParseAddrPort("127.0.0.1:0"), netip.MustParseAddrPort("127.0.0.1:9")
		v, err := OpenVXLAN(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		rc, err := v.conn.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var size int
		var gerr error
		rc.Control(func(fd uintptr) { size, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF) })
		if gerr != nil {
			t.Fatal(gerr)
		}
		return size
	}
	def, kernel := rcvbuf(VXLANConfig{}), rcvbuf(VXLANConfig{ReadBuffer: -1})
	if os.Geteuid() == 0 && def != 2*DefaultVXLANReadBuffer {
		t.Errorf("SO_RCVBUF %d as root, want %d", def, 2*DefaultVXLANReadBuffer)
	}
	if def < kernel {
		t.Errorf("SO_RCVBUF %d by default, below the kernel's default %d", def, kernel)
	}
	if big := rcvbuf(VXLANConfig{ReadBuffer: 1 << 20}); os.Geteuid() == 0 && big != 2<<20 {
		t.Errorf("ReadBuffer 1 MiB: SO_RCVBUF %d, want %d", big, 2<<20)
	}
}

// TestVXLANOverflow: datagrams the kernel drops because the socket's
// receive buffer is full are counted (Stats.RxKernel, from SO_RXQ_OVFL): 300 datagrams into a small buffer, the k it kept drained,
// then one more, received by Recv, which carries the kernel's count:
// exactly 300-k.
func TestVXLANOverflow(t *testing.T) {
	v, err := OpenVXLAN(VXLANConfig{Local: netip.MustParseAddrPort("127.0.0.1:0"), Peer: netip.MustParseAddrPort("127.0.0.1:9"), VNI: 7, ReadBuffer: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	peer, err := OpenVXLAN(VXLANConfig{Local: netip.MustParseAddrPort("127.0.0.1:0"), Peer: v.LocalAddr(), VNI: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	v.peer = peer.LocalAddr()
	frame := [][]byte{make([]byte, 1400)}
	const sent = 300
	for range sent {
		if _, err := peer.Send(frame); err != nil {
			t.Fatal(err)
		}
	}
	rc, err := v.conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	kept := 0
	rc.Control(func(fd uintptr) {
		buf := make([]byte, 2048)
		for {
			if _, _, err := unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT); err != nil {
				return
			}
			kept++
		}
	})
	if kept == 0 || kept == sent {
		t.Fatalf("the buffer kept %d of %d datagrams: want some dropped", kept, sent)
	}
	if _, err := peer.Send(frame); err != nil {
		t.Fatal(err)
	}
	bufs, sizes := [][]byte{make([]byte, 1514)}, make([]int, 1)
	if n, err := v.Recv(bufs, sizes); n != 1 || err != nil {
		t.Fatalf("Recv %d %v", n, err)
	}
	if got := v.Stats().RxKernel; got != sent-uint64(kept) {
		t.Fatalf("RxKernel %d; the kernel kept %d of %d, so want %d", got, kept, sent, sent-kept)
	}
	t.Logf("kept %d of %d, %d counted RxKernel", kept, sent, sent-kept)
}
