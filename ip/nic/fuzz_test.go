package nic

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// FuzzQEMUStreamParse feeds arbitrary bytes to the stream parser, split at
// an arbitrary point (two reads): it must never panic, every frame it
// returns must be one that the bytes encode, in order, and it must stop at
// the first bad length prefix with ErrFraming.
func FuzzQEMUStreamParse(f *testing.F) {
	f.Add(framed(frameOf(60, 1), frameOf(14, 2)), uint16(3))
	f.Add([]byte{0, 0, 0, 0}, uint16(0))
	f.Add([]byte{0, 0, 5, 0xef, 1, 2}, uint16(5))
	f.Add(append(framed(frameOf(100, 9)), 0xff, 0xff, 0xff, 0xff), uint16(50))
	f.Fuzz(func(t *testing.T, wire []byte, split uint16) {
		s := newQEMUStream("fuzz", 1500)
		s.rgen = 1
		bufs, sizes := makeBufs(4, 1514)
		var got [][]byte
		feed := func(b []byte) {
			copy(s.rbuf[s.rend:], b)
			s.rend += len(b)
			for s.rpending == nil {
				n := s.parse(bufs, sizes, 1)
				for i := range n {
					got = append(got, bytes.Clone(bufs[i][:sizes[i]]))
				}
				if n == 0 {
					break
				}
			}
			if s.rstart > 0 {
				s.rend = copy(s.rbuf, s.rbuf[s.rstart:s.rend])
				s.rstart = 0
			}
		}
		if len(wire) > len(s.rbuf)/2 {
			wire = wire[:len(s.rbuf)/2]
		}
		cut := min(int(split), len(wire))
		feed(wire[:cut])
		if s.rpending == nil {
			feed(wire[cut:])
		}
		// The reference decoder.
		var want [][]byte
		var bad bool
		for rest := wire; len(rest) >= 4; {
			l := int(binary.BigEndian.Uint32(rest))
			if l == 0 || l > 1514 {
				bad = true
				break
			}
			if len(rest) < 4+l {
				break
			}
			want = append(want, rest[4:4+l])
			rest = rest[4+l:]
		}
		if bad != (s.rpending != nil) || (bad && !errors.Is(s.rpending, ErrFraming)) {
			t.Fatalf("framing error %v; reference says bad=%v", s.rpending, bad)
		}
		if len(got) != len(want) {
			t.Fatalf("got %d frames; want %d", len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("frame %d differs", i)
			}
		}
	})
}

// FuzzVnetFinish applies arbitrary virtio-net headers to arbitrary frames:
// no panic, out-of-bounds requests refused, and a completed checksum
// verifies against the pseudo-header sum the field held.
func FuzzVnetFinish(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 0, 0, 34, 0, 6, 0}, frameOf(60, 0))
	f.Add([]byte{0, 1, 54, 0, 0xa8, 5, 34, 0, 16, 0}, frameOf(100, 0))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, frameOf(20, 0))
	f.Fuzz(func(t *testing.T, hdr, frame []byte) {
		if len(hdr) < vnetHdrLen {
			return
		}
		start := int(binary.NativeEndian.Uint16(hdr[6:]))
		field := start + int(binary.NativeEndian.Uint16(hdr[8:]))
		var pseudo uint64 // what the kernel left in the field
		if field+2 <= len(frame) {
			pseudo = uint64(binary.BigEndian.Uint16(frame[field:]))
		}
		r := vnetFinish(hdr, frame)
		if r != vnetOK || hdr[0]&1 == 0 || hdr[1]&^0x80 != 0 {
			return
		}
		// Verification as the receiver does it: pseudo-header sum plus
		// the segment with its checksum.
		if s := fold(checksum(frame[start:], pseudo)); s != 0xffff {
			t.Fatalf("checksum from %d does not verify: %#04x", start, s)
		}
	})
}

// TestVnetFinish checks a partial UDP checksum completed by hand-computed
// bytes.
func TestVnetFinish(t *testing.T) {
	// IPv4 UDP 10.0.0.1:1000 -> 10.0.0.2:2000, payload "hi".
	frame := []byte{
		0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x08, 0x00,
		0x45, 0, 0, 30, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
		0x03, 0xe8, 0x07, 0xd0, 0, 10, 0, 0, 'h', 'i',
	}
	// The kernel leaves the pseudo-header sum (not inverted) in the field.
	pseudo := fold(checksum(frame[26:34], 0) + 17 + 10)
	binary.BigEndian.PutUint16(frame[40:], pseudo)
	hdr := []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.NativeEndian.PutUint16(hdr[6:], 34)
	binary.NativeEndian.PutUint16(hdr[8:], 6)
	if r := vnetFinish(hdr, frame); r != vnetOK {
		t.Fatalf("vnetFinish = %d", r)
	}
	// Sum of 10.0.0.1 + 10.0.0.2 + 17 + 10 + ports, length, "hi":
	// 0x0a00+0x0001+0x0a00+0x0002+0x0011+0x000a+0x03e8+0x07d0+0x000a+0x6869 = 0x8849
	if got, want := binary.BigEndian.Uint16(frame[40:]), uint16(^uint16(0x8849)); got != want {
		t.Errorf("checksum %#04x; want %#04x", got, want)
	}
	binary.NativeEndian.PutUint16(hdr[6:], 44)
	if r := vnetFinish(hdr, frame); r != vnetBadCsum {
		t.Errorf("out of bounds: %d; want vnetBadCsum", r)
	}
	if r := vnetFinish([]byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, frame); r != vnetGSO {
		t.Errorf("GSO: %d; want vnetGSO", r)
	}
}

// FuzzGSOSegment cuts arbitrary super-frames: no panic, the segments'
// payloads add up to the super-frame's, and each segment's IPv4 and L4
// checksums verify.
func FuzzGSOSegment(f *testing.F) {
	for _, v6 := range []bool{false, true} {
		hdr, super := superTCP(v6, 300, 100, 0x19)
		f.Add(hdr, super)
	}
	f.Add([]byte{0, 5, 0, 0, 8, 0, 0, 0, 0, 0}, []byte{0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 8, 0, 0x45, 0, 0, 40, 0, 0, 0, 0, 64, 17, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 0, 1, 0, 2, 0, 20, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Fuzz(func(t *testing.T, hdr, frame []byte) {
		if len(hdr) < vnetHdrLen {
			return
		}
		var g gsoState
		if !g.start(hdr, frame, nil) {
			return
		}
		dst := make([]byte, len(frame))
		total := 0
		for g.active {
			n := g.next(dst)
			if n < 0 {
				t.Fatal("segment longer than the super-frame")
			}
			total += n - g.hlen
			verifyL4(t, dst[:n])
			if t.Failed() {
				t.FailNow()
			}
		}
		if total != len(frame)-g.hlen {
			t.Fatalf("segments carry %d payload bytes; super-frame %d", total, len(frame)-g.hlen)
		}
	})
}
