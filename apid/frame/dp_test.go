package frame

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// dpGolden is a DP payload written by hand from spec section 3. The crc32
// (IEEE over bytes 0..75) was computed independently with Python's
// zlib.crc32.
const dpGolden = "01020304 00000010 0A0B 07 0C | 696D672D303030312E726177" + // "img-0001.raw"
	"0000000000000000000000000000000000000000000000000000" + // 52 NULs
	"0000000000000000000000000000000000000000000000000000" +
	"| 16E210D1"

func TestDPGolden(t *testing.T) {
	want := unhex(t, dpGolden)
	if len(want) != DPPayloadSize {
		t.Fatalf("golden is %d bytes", len(want))
	}
	p := DPPayload{BlockOffset: 0x01020304, BlockCount: 0x10, Class: 0x0A0B, Priority: 7, CRC32: 0xDEADBEEF}
	if err := p.SetName("img-0001.raw"); err != nil {
		t.Fatal(err)
	}
	b := bytes.Repeat([]byte{0xEE}, DPPayloadSize+1)
	if err := p.Put(b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[:DPPayloadSize], want) || b[DPPayloadSize] != 0xEE {
		t.Errorf("Put =\n% X\nwant\n% X", b, want)
	}
	got, err := ParseDPPayload(want)
	if err != nil {
		t.Fatal(err)
	}
	p.CRC32 = 0x16E210D1
	if got != p {
		t.Errorf("ParseDPPayload = %+v, want %+v", got, p)
	}
	if s := got.NameString(); s != "img-0001.raw" {
		t.Errorf("NameString = %q", s)
	}
	if s := got.NameBytes(); string(s) != "img-0001.raw" {
		t.Errorf("NameBytes = %q", s)
	}
}

func TestDPEdges(t *testing.T) {
	// All fields at their maximum, a 64-byte name: crc by zlib.crc32.
	full := unhex(t, "FFFFFFFF FFFFFFFF FFFF FF 40"+strings.Repeat("4E", 64)+"D6F373D5")
	p := DPPayload{BlockOffset: 0xFFFFFFFF, BlockCount: 0xFFFFFFFF, Class: 0xFFFF, Priority: 0xFF}
	if err := p.SetName(strings.Repeat("N", 64)); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, DPPayloadSize)
	if err := p.Put(b); err != nil || !bytes.Equal(b, full) {
		t.Errorf("Put = % X, %v; want % X", b, err, full)
	}
	// All zero: empty name, crc of 76 NULs.
	zero := unhex(t, strings.Repeat("00", 76)+"E038A199")
	got, err := ParseDPPayload(zero)
	if err != nil || got != (DPPayload{CRC32: 0xE038A199}) || got.NameString() != "" {
		t.Errorf("zero: %+v, %v", got, err)
	}
	// Put ignores name bytes after NameLen.
	q := DPPayload{NameLen: 2}
	copy(q.Name[:], "abcdef")
	if err := q.Put(b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[12:16], []byte{'a', 'b', 0, 0}) {
		t.Errorf("Put wrote name % X", b[12:16])
	}
}

func TestDPErrors(t *testing.T) {
	golden := unhex(t, dpGolden)
	mut := func(f func(b []byte)) []byte {
		b := bytes.Clone(golden)
		f(b)
		return b
	}
	tests := []struct {
		name string
		b    []byte
		is   error
		msg  string
	}{
		{"short", golden[:79], ErrDPShort, "DP payload of 79 bytes, want 80"},
		{"empty", nil, ErrDPShort, "of 0 bytes"},
		{"name_len 65", mut(func(b []byte) { b[11] = 65 }), ErrDPNameLen, "name_len 65"},
		{"name_len 255", mut(func(b []byte) { b[11] = 255 }), ErrDPNameLen, "name_len 255"},
		{"padding", mut(func(b []byte) { b[12+40] = 'x' }), ErrDPPadding, "byte 40 of the name is 0x78"},
		{"short name_len exposes name", mut(func(b []byte) { b[11] = 3 }), ErrDPPadding, "byte 3 of the name is 0x2d"},
		{"crc field", mut(func(b []byte) { b[79] ^= 1 }), ErrDPCRC, "carried 0x16e210d0, computed 0x16e210d1"},
		{"crc covers block_offset", mut(func(b []byte) { b[0] ^= 0x80 }), ErrDPCRC, "carried 0x16e210d1"},
		{"crc covers name", mut(func(b []byte) { b[12] = 'I' }), ErrDPCRC, "carried 0x16e210d1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDPPayload(tt.b)
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("ParseDPPayload = %v, want %v containing %q", err, tt.is, tt.msg)
			}
		})
	}
	var ce *DPCRCError
	_, err := ParseDPPayload(tests[6].b)
	if !errors.As(err, &ce) || ce.Carried != 0x16E210D0 || ce.Computed != 0x16E210D1 {
		t.Errorf("DPCRCError = %+v", ce)
	}

	p := DPPayload{NameLen: 65}
	b := bytes.Repeat([]byte{0xEE}, DPPayloadSize)
	if err := p.Put(b); !errors.Is(err, ErrDPNameLen) || !strings.Contains(err.Error(), "65") {
		t.Errorf("Put name_len 65 = %v", err)
	}
	p.NameLen = 0
	if err := p.Put(b[:79]); !errors.Is(err, ErrDPShort) {
		t.Errorf("Put short = %v", err)
	}
	if !bytes.Equal(b, bytes.Repeat([]byte{0xEE}, DPPayloadSize)) {
		t.Errorf("Put wrote on error")
	}
	before := p
	if err := p.SetName(strings.Repeat("x", 65)); !errors.Is(err, ErrDPNameLen) || p != before {
		t.Errorf("SetName(65 bytes) = %v, p %+v", err, p)
	}
	// NameString never panics on a hand-built NameLen > 64.
	p.NameLen = 200
	if s := p.NameString(); len(s) != DPNameSize {
		t.Errorf("NameString len %d", len(s))
	}
}

func TestDPAllocs(t *testing.T) {
	golden := unhex(t, dpGolden)
	var p DPPayload
	var err error
	if a := testing.AllocsPerRun(100, func() { p, err = ParseDPPayload(golden) }); a != 0 || err != nil {
		t.Errorf("ParseDPPayload: %v allocs, %v", a, err)
	}
	b := make([]byte, DPPayloadSize)
	if a := testing.AllocsPerRun(100, func() { err = p.Put(b) }); a != 0 || err != nil {
		t.Errorf("Put: %v allocs, %v", a, err)
	}
}

// A DP frame end to end: the DP payload inside a DP frame.
func TestDPInFrame(t *testing.T) {
	var f Frame
	p := DPPayload{BlockOffset: 1, BlockCount: 2}
	var buf [DPPayloadSize]byte
	if err := p.Put(buf[:]); err != nil {
		t.Fatal(err)
	}
	if err := Encode(&f, DP, 0x010, 0x100, buf[:]); err != nil {
		t.Fatal(err)
	}
	got, err := ParseDPPayload(f.Payload())
	if err != nil || got.BlockOffset != 1 || got.BlockCount != 2 {
		t.Errorf("%+v, %v", got, err)
	}
}
