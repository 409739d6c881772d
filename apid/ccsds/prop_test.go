package ccsds

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"pgregory.net/rapid"
	"spacenet/apid/frame"
)

// genFrame draws a valid frame: any of the ten types, any 11-bit source and
// destination, a payload of 0..248 arbitrary bytes.
func genFrame(t *rapid.T) *frame.Frame {
	typ := frame.Type(rapid.IntRange(0, frame.NumTypes-1).Draw(t, "type"))
	src := frame.APID(rapid.IntRange(0, int(frame.MaxAPID)).Draw(t, "src"))
	dst := frame.APID(rapid.IntRange(0, int(frame.MaxAPID)).Draw(t, "dst"))
	payload := rapid.SliceOfN(rapid.Byte(), 0, frame.MaxPayload).Draw(t, "payload")
	f := new(frame.Frame)
	if err := frame.Encode(f, typ, src, dst, payload); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestRoundTripProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		f := genFrame(t)
		seq := uint16(rapid.IntRange(0, SeqCountMask).Draw(t, "seq"))
		buf := make([]byte, MaxPacketSize+8)
		n, err := Wrap(buf, f, seq)
		if f.APID() == frame.APIDIdle {
			// Its packet would be an idle packet: Wrap refuses it.
			if !errors.Is(err, ErrIdleAPID) || n != 0 {
				t.Fatalf("Wrap from 0x7FF = %d, %v; want ErrIdleAPID", n, err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		pl := len(f.Payload())
		if n != HeaderSize+frame.HeaderSize+pl {
			t.Fatalf("n = %d, want %d", n, HeaderSize+frame.HeaderSize+pl)
		}
		// The data field is the frame's header and meaningful payload.
		if !bytes.Equal(buf[HeaderSize:n], f[:frame.HeaderSize+pl]) {
			t.Fatalf("data field % X, want % X", buf[HeaderSize:n], f[:frame.HeaderSize+pl])
		}
		// The header bits, computed independently of Header.put.
		wantW0 := uint16(f.APID())
		if f.Type() == frame.TC {
			wantW0 |= 0x1000
		}
		if w0 := binary.BigEndian.Uint16(buf); w0 != wantW0 {
			t.Fatalf("word 0 = %#04x, want %#04x", w0, wantW0)
		}
		if w1 := binary.BigEndian.Uint16(buf[2:]); w1 != 0xC000|seq {
			t.Fatalf("word 1 = %#04x, want %#04x", w1, 0xC000|seq)
		}
		if dl := binary.BigEndian.Uint16(buf[4:]); int(dl) != n-HeaderSize-1 {
			t.Fatalf("data length %d, want %d", dl, n-HeaderSize-1)
		}

		var back frame.Frame
		for i := range back {
			back[i] = 0xA5
		}
		h, err := Unwrap(&back, buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		if back != *f {
			t.Fatalf("round trip:\n got % X\nwant % X", back[:], f[:])
		}
		want := Header{Type: PacketTypeOf(f.Type()), APID: f.APID(), SeqFlags: Unsegmented, SeqCount: seq, DataLen: uint16(n - HeaderSize - 1)}
		if h != want {
			t.Fatalf("header %+v, want %+v", h, want)
		}
	})
}

// TestUnwrapSingleBitFlips: flipping any one bit of a valid packet's
// primary header or frame header is either refused or, where the bit is
// one no check covers (sequence count, destination), accepted with that
// field changed. Never a panic, never a silent change elsewhere.
func TestUnwrapSingleBitFlips(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		f := genFrame(t)
		if f.APID() == frame.APIDIdle {
			return
		}
		buf := make([]byte, MaxPacketSize)
		n, err := Wrap(buf, f, uint16(rapid.IntRange(0, SeqCountMask).Draw(t, "seq")))
		if err != nil {
			t.Fatal(err)
		}
		bit := rapid.IntRange(0, (HeaderSize+frame.HeaderSize)*8-1).Draw(t, "bit")
		pkt := bytes.Clone(buf[:n])
		pkt[bit/8] ^= 0x80 >> (bit % 8)
		var back frame.Frame
		_, err = Unwrap(&back, pkt)
		if err != nil {
			return
		}
		// Accepted: it must re-wrap to exactly the flipped bytes.
		h, _ := ParseHeader(pkt)
		n2, err := Wrap(buf, &back, h.SeqCount)
		if err != nil || !bytes.Equal(buf[:n2], pkt) {
			t.Fatalf("accepted flip at bit %d does not re-wrap: %v % X vs % X", bit, err, buf[:n2], pkt)
		}
	})
}

// TestRoundTripEveryLength complements the property test: every payload
// length 0..248 for every type, exactly.
func TestRoundTripEveryLength(t *testing.T) {
	buf := make([]byte, MaxPacketSize)
	for ty := range frame.Type(frame.NumTypes) {
		for pl := 0; pl <= frame.MaxPayload; pl++ {
			payload := make([]byte, pl)
			for i := range payload {
				payload[i] = byte(i*7 + pl)
			}
			var f, back frame.Frame
			if err := frame.Encode(&f, ty, frame.APID(0x010+pl), frame.APID(0x7FE-pl), payload); err != nil {
				t.Fatal(err)
			}
			n, err := Wrap(buf, &f, uint16(pl*67)&SeqCountMask)
			if err != nil || n != HeaderSize+frame.HeaderSize+pl {
				t.Fatalf("%v/%d: Wrap = %d, %v", ty, pl, n, err)
			}
			h, err := Unwrap(&back, buf[:n])
			if err != nil || back != f || h.SeqCount != uint16(pl*67)&SeqCountMask || h.Type != PacketTypeOf(ty) {
				t.Fatalf("%v/%d: Unwrap = %+v, %v", ty, pl, h, err)
			}
		}
	}
}
