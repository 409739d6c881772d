package nic

import (
	"encoding/binary"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"spacenet/internal/netnstest"
)

// superTCP builds an Ethernet/IP/TCP super-frame with payload bytes of
// payload and its virtio-net header (GSO, mss).
func superTCP(v6 bool, payload, mss int, flags byte) (hdr, f []byte) {
	f = append(f, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1)
	hdr = make([]byte, vnetHdrLen)
	hdr[0] = unix.VIRTIO_NET_HDR_F_NEEDS_CSUM
	binary.NativeEndian.PutUint16(hdr[4:], uint16(mss))
	if v6 {
		f = append(f, 0x86, 0xdd)
		f = append(f, 0x60, 0, 0, 0, 0, 0, 6, 64)
		f = append(f, netip.MustParseAddr("fd00::1").AsSlice()...)
		f = append(f, netip.MustParseAddr("fd00::2").AsSlice()...)
		binary.BigEndian.PutUint16(f[14+4:], uint16(20+payload))
		hdr[1] = unix.VIRTIO_NET_HDR_GSO_TCPV6
	} else {
		f = append(f, 0x08, 0x00)
		f = append(f, 0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2)
		binary.BigEndian.PutUint16(f[14+2:], uint16(20+20+payload))
		hdr[1] = unix.VIRTIO_NET_HDR_GSO_TCPV4
	}
	tcp := []byte{0x30, 0x39, 0x00, 0x50, 0xff, 0xff, 0xff, 0x00, 0, 0, 0, 1, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0}
	f = append(f, tcp...)
	for i := range payload {
		f = append(f, byte(i))
	}
	return hdr, f
}

// verifyL4 checks the IPv4 header checksum and the TCP/UDP checksum of an
// Ethernet frame and returns the L4 segment.
func verifyL4(t *testing.T, f []byte) (ip, l4 []byte) {
	t.Helper()
	var pseudo uint64
	switch binary.BigEndian.Uint16(f[12:]) {
	case 0x0800:
		ihl := int(f[14]&0xf) * 4
		ip = f[14 : 14+ihl]
		if s := fold(checksum(ip, 0)); s != 0xffff {
			t.Errorf("IPv4 header checksum bad (%#04x)", s)
		}
		if int(binary.BigEndian.Uint16(ip[2:])) != len(f)-14 {
			t.Errorf("IPv4 total length %d; frame has %d", binary.BigEndian.Uint16(ip[2:]), len(f)-14)
		}
		l4 = f[14+ihl:]
		pseudo = checksum(ip[12:20], 0) + uint64(ip[9]) + uint64(len(l4))
	default:
		ip = f[14:54]
		if int(binary.BigEndian.Uint16(ip[4:])) != len(f)-54 {
			t.Errorf("IPv6 payload length %d; frame has %d", binary.BigEndian.Uint16(ip[4:]), len(f)-54)
		}
		l4 = f[54:]
		pseudo = checksum(ip[8:40], 0) + uint64(ip[6]) + uint64(len(l4))
	}
	if s := fold(checksum(l4, pseudo)); s != 0xffff {
		t.Errorf("L4 checksum bad (%#04x)", s)
	}
	return ip, l4
}

func TestGSOSegmentTCP(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		hdr, super := superTCP(v6, 2500, 1000, 0x80|0x10|0x08|0x01) // CWR ACK PSH FIN
		var g gsoState
		if !g.start(hdr, super[:30], super[30:]) {
			t.Fatalf("v6=%v: start refused", v6)
		}
		wantLens := []int{1000, 1000, 500}
		wantFlags := []byte{0x80 | 0x10, 0x10, 0x10 | 0x08 | 0x01}
		dst := make([]byte, 1514)
		for i := range wantLens {
			if !g.active {
				t.Fatalf("v6=%v: only %d segments", v6, i)
			}
			n := g.next(dst)
			hl := map[bool]int{false: 54, true: 74}[v6]
			if n != hl+wantLens[i] {
				t.Fatalf("v6=%v segment %d: %d bytes; want %d", v6, i, n, hl+wantLens[i])
			}
			ip, tcp := verifyL4(t, dst[:n])
			if seq := binary.BigEndian.Uint32(tcp[4:]); seq != 0xffffff00+uint32(i*1000) {
				t.Errorf("v6=%v segment %d: seq %#x", v6, i, seq)
			}
			if tcp[13] != wantFlags[i] {
				t.Errorf("v6=%v segment %d: flags %#02x; want %#02x", v6, i, tcp[13], wantFlags[i])
			}
			if !v6 && binary.BigEndian.Uint16(ip[4:]) != 0x1234+uint16(i) {
				t.Errorf("segment %d: IPv4 ID %#04x", i, binary.BigEndian.Uint16(ip[4:]))
			}
			for j, b := range tcp[20:] {
				if b != byte(i*1000+j) {
					t.Fatalf("v6=%v segment %d: payload byte %d = %d", v6, i, j, b)
				}
			}
		}
		if g.active {
			t.Errorf("v6=%v: still active after the last segment", v6)
		}
	}
	// Too short a buffer skips the segment; unsupported shapes are refused.
	hdr, super := superTCP(false, 2500, 1000, 0x10)
	var g gsoState
	g.start(hdr, super, nil)
	if n := g.next(make([]byte, 100)); n != -1 {
		t.Errorf("next into 100 bytes = %d; want -1", n)
	}
	hdr[1] = unix.VIRTIO_NET_HDR_GSO_UDP
	if g.start(hdr, super, nil) {
		t.Error("UFO accepted")
	}
	hdr[1] = unix.VIRTIO_NET_HDR_GSO_TCPV6
	if g.start(hdr, super, nil) {
		t.Error("TCPV6 on an IPv4 frame accepted")
	}
}

// TestTAPGSO opens a TAP with GSO offloads in a netns and has the kernel
// send one UDP GSO datagram (UDP_SEGMENT) to it: with USO the kernel
// hands over one super-frame, which Recv must cut into the segments the
// sender asked for, with correct checksums.
func TestTAPGSO(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed (used to set UDP_SEGMENT)")
	}
	ns := netnstest.NewNetns(t, "sn-nic-")
	tap := openTAP(t, netnstest.UniqueName("snt"), TAPOptions{GSO: true})
	defer tap.Close()
	watchdog(t, tap, 20*time.Second)
	kernelIP, ourIP := netip.MustParseAddr("10.237.0.1"), netip.MustParseAddr("10.237.0.2")
	netnstest.Run(t, "ip", "link", "set", tap.Name(), "netns", ns)
	netnstest.Run(t, "ip", "-n", ns, "addr", "add", kernelIP.String()+"/24", "dev", tap.Name())
	netnstest.SetUpAndWait(t, ns, tap.Name())
	netnstest.Run(t, "ip", "-n", ns, "neigh", "add", ourIP.String(), "lladdr", "02:53:4e:00:00:01", "dev", tap.Name())
	script := `import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_UDP, 103, 1000)  # UDP_SEGMENT
s.sendto(bytes(i % 251 for i in range(3500)), ("` + ourIP.String() + `", 9998))
`
	netnstest.Run(t, "ip", "netns", "exec", ns, "python3", "-c", script)
	bufs, sizes := makeBufs(2, 1514) // fewer buffers than segments: some wait for the next call
	var got [][]byte
	for len(got) < 4 {
		n, err := tap.Recv(bufs, sizes)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if f := bufs[i][:sizes[i]]; isUDPTo(f, ourIP, 9998) {
				got = append(got, append([]byte(nil), f...))
			}
		}
	}
	off := 0
	for i, f := range got {
		_, udp := verifyL4(t, f)
		want := min(1000, 3500-off)
		if len(udp) != 8+want || int(binary.BigEndian.Uint16(udp[4:])) != 8+want {
			t.Fatalf("segment %d: UDP length %d (field %d); want %d", i, len(udp), binary.BigEndian.Uint16(udp[4:]), 8+want)
		}
		for j, b := range udp[8:] {
			if b != byte((off+j)%251) {
				t.Fatalf("segment %d byte %d = %d", i, j, b)
			}
		}
		off += want
	}
	if tap.gso.buf == nil {
		t.Log("the kernel segmented the datagram itself (no USO): gsoState not exercised")
		if out, _ := exec.Command("uname", "-r").Output(); !strings.HasPrefix(string(out), "5.") {
			t.Errorf("kernel %s should support USO on TAP", strings.TrimSpace(string(out)))
		}
	}
	if s := tap.Stats(); s.RxGSO != 0 || s.RxTooBig != 0 {
		t.Errorf("stats %+v", s)
	}
}

// BenchmarkSegment: a 64 KiB TCP super-frame (IPv4, IPv6) cut into
// 1448-byte segments with their headers and checksums, as a switch does
// for a port without pass-through.
func BenchmarkSegment(b *testing.B) {
	for _, v6 := range []bool{false, true} {
		name := "v4"
		if v6 {
			name = "v6"
		}
		b.Run(name, func(b *testing.B) {
			hdr, f := superTCP(v6, 65000-74, 1448, 0x18)
			dst := make([]byte, 1600)
			var s Segmenter
			b.SetBytes(int64(len(f)))
			b.ReportAllocs()
			for range b.N {
				if !s.Start(hdr, f) {
					b.Fatal("Start refused the super-frame")
				}
				for {
					n, ok := s.Next(dst)
					if !ok {
						break
					}
					if n < 0 {
						b.Fatal("segment too long")
					}
				}
			}
		})
	}
}

// BenchmarkVnetFinish: checksum completion (NEEDS_CSUM) of a 1514-byte
// frame.
func BenchmarkVnetFinish(b *testing.B) {
	hdr, f := superTCP(false, 1460, 1460, 0x18)
	hdr[1] = unix.VIRTIO_NET_HDR_GSO_NONE
	binary.NativeEndian.PutUint16(hdr[6:], 34)
	binary.NativeEndian.PutUint16(hdr[8:], 16)
	b.SetBytes(int64(len(f)))
	b.ReportAllocs()
	for range b.N {
		if vnetFinish(hdr, f) != vnetOK {
			b.Fatal("refused")
		}
	}
}

// TestSegmentAllocs: cutting a super-frame into segments, and completing
// a checksum, allocate nothing once the Segmenter has its buffer.
func TestSegmentAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	hdr, f := superTCP(false, 20000, 1448, 0x18)
	dst := make([]byte, 1514)
	var s Segmenter
	cut := func() {
		s.Start(hdr, f)
		for {
			if _, ok := s.Next(dst); !ok {
				return
			}
		}
	}
	cut()
	if a := testing.AllocsPerRun(50, cut); a != 0 {
		t.Errorf("Segmenter: %v allocations per super-frame; want 0", a)
	}
	one, g := superTCP(true, 1000, 1000, 0)
	one[1] = unix.VIRTIO_NET_HDR_GSO_NONE
	binary.NativeEndian.PutUint16(one[6:], 54)
	binary.NativeEndian.PutUint16(one[8:], 16)
	if a := testing.AllocsPerRun(50, func() { vnetFinish(one, g) }); a != 0 {
		t.Errorf("vnetFinish: %v allocations; want 0", a)
	}
}

// TestGSOKeepsReservedBits: segmentation rewrites the TCP flags it must
// (FIN and PSH on the last segment only, CWR on the first only) and leaves
// the reserved bits beside them as they came.
func TestGSOKeepsReservedBits(t *testing.T) {
	hdr, f := superTCP(false, 3000, 1000, 0x89) // CWR, PSH, FIN
	f[14+20+12] |= 0x0e                         // the three reserved bits
	var s Segmenter
	if !s.Start(hdr, f) {
		t.Fatal("Start refused the super-frame")
	}
	dst := make([]byte, 1514)
	want := []byte{0x80, 0x00, 0x09} // flags of segments 0, 1, 2
	for i := 0; ; i++ {
		n, ok := s.Next(dst)
		if !ok {
			if i != len(want) {
				t.Fatalf("%d segments; want %d", i, len(want))
			}
			return
		}
		if i >= len(want) || n < 0 {
			t.Fatalf("segment %d: length %d", i, n)
		}
		if got := dst[14+20+12 : 14+20+14]; got[0] != 0x5e || got[1] != want[i] {
			t.Errorf("segment %d: data offset/flags %x; want 5e%02x", i, got, want[i])
		}
		verifyL4(t, dst[:n])
	}
}
