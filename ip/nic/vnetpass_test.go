package nic

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"spacenet/internal/netnstest"
)

func TestVnetWireLen(t *testing.T) {
	hdr4, f4 := superTCP(false, 5000, 1448, 0x10)
	hdr6, f6 := superTCP(true, 5000, 1428, 0x10)
	csum := func(start, off uint16) []byte {
		h := make([]byte, vnetHdrLen)
		h[0] = unix.VIRTIO_NET_HDR_F_NEEDS_CSUM
		binary.NativeEndian.PutUint16(h[6:], start)
		binary.NativeEndian.PutUint16(h[8:], off)
		return h
	}
	mss := func(h []byte, m uint16) []byte {
		h = bytes.Clone(h)
		binary.NativeEndian.PutUint16(h[4:], m)
		return h
	}
	for _, tc := range []struct {
		name    string
		hdr, f  []byte
		wire    int
		ok      bool
		offload bool
	}{
		{"plain", make([]byte, vnetHdrLen), make([]byte, 60), 60, true, false},
		{"csum", csum(34, 16), f4[:100], 100, true, true},
		{"csum outside", csum(34, 66), f4[:100], 0, false, true},
		{"csum odd offset", csum(34, 15), f4[:100], 0, false, true},
		{"tcp4 gso", hdr4, f4, 54 + 1448, true, true},
		{"tcp6 gso", hdr6, f6, 74 + 1428, true, true},
		{"gso short payload", hdr4, f4[:54+100], 54 + 100, true, true},
		{"gso mss 0", mss(hdr4, 0), f4, 0, false, true},
		{"gso v6 type on v4", []byte{1, unix.VIRTIO_NET_HDR_GSO_TCPV6, 0, 0, 200, 0, 34, 0, 16, 0}, f4, 0, false, true},
		{"gso truncated", hdr4, f4[:40], 0, false, true},
	} {
		wire, ok := VnetWireLen(tc.hdr, tc.f)
		if wire != tc.wire || ok != tc.ok {
			t.Errorf("%s: VnetWireLen = %d, %v; want %d, %v", tc.name, wire, ok, tc.wire, tc.ok)
		}
		if got := VnetOffload(tc.hdr); got != tc.offload {
			t.Errorf("%s: VnetOffload = %v; want %v", tc.name, got, tc.offload)
		}
	}
}

func TestSegmenter(t *testing.T) {
	var s Segmenter
	dst := make([]byte, 1514)
	for _, v6 := range []bool{false, true} {
		hdr, super := superTCP(v6, 3000, 1400, 0x18)
		orig := bytes.Clone(super)
		if !s.Start(hdr, super) {
			t.Fatalf("v6=%v: Start refused", v6)
		}
		var sizes []int
		for {
			n, ok := s.Next(dst)
			if !ok {
				break
			}
			sizes = append(sizes, n)
			verifyL4(t, dst[:n])
		}
		hl := 54
		if v6 {
			hl = 74
		}
		if want := []int{hl + 1400, hl + 1400, hl + 200}; !equalInts(sizes, want) {
			t.Errorf("v6=%v: segments %v; want %v", v6, sizes, want)
		}
		if !bytes.Equal(super, orig) {
			t.Errorf("v6=%v: Start changed the super-frame", v6)
		}
	}

	// A checksum to complete, no GSO: one frame, completed.
	hdr, f := superTCP(false, 100, 1400, 0x18)
	binary.BigEndian.PutUint16(f[16:], 140) // IPv4 total length of the frame
	ip := f[14:34]
	binary.BigEndian.PutUint16(ip[10:], ^fold(checksum(ip, 0)))
	binary.BigEndian.PutUint16(f[34+16:], fold(checksum(ip[12:20], 6+120)))
	hdr[1] = unix.VIRTIO_NET_HDR_GSO_NONE
	binary.NativeEndian.PutUint16(hdr[6:], 34)
	binary.NativeEndian.PutUint16(hdr[8:], 16)
	if !s.Start(hdr, f) {
		t.Fatal("Start refused a checksum request")
	}
	n, ok := s.Next(dst)
	if !ok || n != len(f) {
		t.Fatalf("Next = %d, %v; want %d, true", n, ok, len(f))
	}
	verifyL4(t, dst[:n])
	if _, ok := s.Next(dst); ok {
		t.Error("a second frame after a checksum-only one")
	}
	// Too short a destination: skipped, reported as -1.
	s.Start(hdr, f)
	if n, ok := s.Next(dst[:50]); n != -1 || !ok {
		t.Errorf("Next into 50 bytes = %d, %v; want -1, true", n, ok)
	}
	// A malformed request: refused, nothing out.
	binary.NativeEndian.PutUint16(hdr[8:], 500)
	if s.Start(hdr, f) {
		t.Error("Start accepted a checksum offset outside the frame")
	}
	if _, ok := s.Next(dst); ok {
		t.Error("Next after a refused Start")
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestTAPPassThrough: a TAP opened with PassThrough hands the kernel's
// frames over with their virtio-net header (an ARP request: GSO none),
// takes a super-frame with its header, and refuses one whose segments are
// longer than the MTU; RecvVnet/SendVnet on a TAP without PassThrough
// fail.
func TestTAPPassThrough(t *testing.T) {
	ns := netnstest.NewNetns(t, "sn-nvp-")
	tap, err := OpenTAP(netnstest.UniqueName("snvp"), TAPOptions{PassThrough: true})
	netnstest.SkipIfNoTAP(t, err)
	defer tap.Close()
	timer := time.AfterFunc(20*time.Second, func() { tap.Close() })
	defer timer.Stop()
	if !tap.VnetPassThrough() {
		t.Fatal("VnetPassThrough false")
	}
	netnstest.Run(t, "ip", "link", "set", tap.Name(), "netns", ns)
	netnstest.In(t, ns, "ip", "addr", "add", "10.232.0.1/24", "dev", tap.Name())
	netnstest.SetUpAndWait(t, ns, tap.Name())
	netnstest.In(t, ns, "bash", "-c", "echo x > /dev/udp/10.232.0.2/9999")

	bufs, sizes := [][]byte{make([]byte, VnetBufLen)}, []int{0}
	for {
		n, err := tap.RecvVnet(bufs, sizes)
		if err != nil {
			t.Fatalf("RecvVnet: %v", err)
		}
		if n != 1 {
			continue
		}
		f := bufs[0][:sizes[0]]
		if len(f) >= VnetHdrLen+42 && binary.BigEndian.Uint16(f[VnetHdrLen+12:]) == 0x0806 {
			if f[1] != unix.VIRTIO_NET_HDR_GSO_NONE || f[0]&unix.VIRTIO_NET_HDR_F_NEEDS_CSUM != 0 {
				t.Errorf("ARP request header % x; want no offload", f[:VnetHdrLen])
			}
			if len(f) != VnetHdrLen+42 {
				t.Errorf("ARP request %d bytes with header; want %d", len(f), VnetHdrLen+42)
			}
			break
		}
	}

	hdr, super := superTCP(false, 3000, 1400, 0x10)
	copy(super[:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	binary.NativeEndian.PutUint16(hdr[2:], 54) // hdr_len
	binary.NativeEndian.PutUint16(hdr[6:], 34) // csum_start: the TCP header
	binary.NativeEndian.PutUint16(hdr[8:], 16) // csum_offset: its checksum
	raw := append(bytes.Clone(hdr), super...)
	if n, err := tap.SendVnet([][]byte{raw}); n != 1 || err != nil {
		t.Errorf("SendVnet(super-frame of 1400-byte segments) = %d, %v", n, err)
	}
	if sent, err := tap.TrySendVnet(raw); !sent || err != nil {
		t.Errorf("TrySendVnet(super-frame) = %v, %v; want true, nil", sent, err)
	}
	hdrBig, superBig := superTCP(false, 3000, 1500, 0x10)
	if n, err := tap.SendVnet([][]byte{append(hdrBig, superBig...)}); n != 0 || !errors.Is(err, ErrTooBig) {
		t.Errorf("SendVnet(1554-byte segments) = %d, %v; want 0, ErrTooBig", n, err)
	}
	st := tap.Stats()
	if st.TxFrames != 2 || st.TxBytes != 2*uint64(len(super)) || st.TxTooBig != 1 {
		t.Errorf("stats %+v; want 2 frames of %d bytes sent, 1 too big", st, len(super))
	}

	plain, err := OpenTAP("", TAPOptions{GSO: true})
	netnstest.SkipIfNoTAP(t, err)
	defer plain.Close()
	if plain.VnetPassThrough() {
		t.Error("VnetPassThrough true without PassThrough")
	}
	if _, err := plain.RecvVnet(bufs, sizes); err == nil {
		t.Error("RecvVnet without PassThrough: no error")
	}
	if _, err := plain.SendVnet([][]byte{raw}); err == nil {
		t.Error("SendVnet without PassThrough: no error")
	}
	if sent, err := plain.TrySendVnet(raw); sent || err == nil {
		t.Errorf("TrySendVnet without PassThrough = %v, %v; want false and an error", sent, err)
	}
}

// FuzzVnetWireLen: any header and frame: VnetWireLen and a Segmenter never
// panic, agree on what they accept, and no frame out is longer than the
// length VnetWireLen announced.
func FuzzVnetWireLen(f *testing.F) {
	for _, v6 := range []bool{false, true} {
		hdr, super := superTCP(v6, 300, 100, 0x19)
		f.Add(hdr, super)
	}
	f.Add([]byte{1, 0, 0, 0, 0, 0, 34, 0, 16, 0}, make([]byte, 60))
	f.Add([]byte{0, 5, 0, 0, 8, 0, 0, 0, 0, 0}, []byte{0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 8, 0, 0x45, 0, 0, 40, 0, 0, 0, 0, 64, 17, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 0, 1, 0, 2, 0, 20, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	var s Segmenter
	dst := make([]byte, MaxSuperFrame)
	f.Fuzz(func(t *testing.T, hdr, frame []byte) {
		if len(hdr) < vnetHdrLen || len(frame) > MaxSuperFrame {
			return
		}
		wire, ok := VnetWireLen(hdr, frame)
		started := s.Start(hdr, frame)
		if ok != started && len(frame) > 0 {
			// A GSO frame whose headers fill it entirely parses but has
			// nothing to segment.
			if !(ok && VnetOffload(hdr) && hdr[1]&^unix.VIRTIO_NET_HDR_GSO_ECN != 0 && wire == len(frame)) {
				t.Fatalf("VnetWireLen ok=%v, Segmenter.Start %v", ok, started)
			}
		}
		for {
			n, more := s.Next(dst)
			if !more {
				break
			}
			if n > wire {
				t.Fatalf("frame of %d bytes out; VnetWireLen said %d", n, wire)
			}
		}
	})
}
