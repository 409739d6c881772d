package frame

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestEncodeGolden(t *testing.T) {
	tests := []struct {
		name     string
		typ      Type
		src, dst APID
		payload  []byte
		want     string // header and meaningful payload; the rest must be zero
	}{
		{"TM hello", TM, 0x010, 0x020, []byte("hello"), "01 00 0010 0005 0020 | 68 65 6C 6C 6F"},
		{"TC empty", TC, 0x123, 0x7FF, nil, "01 01 0123 0000 07FF"},
		{"ERROR", Error, 0x000, 0x010, []byte{3, 0, 0, 0x10, 0, 0xF9, 0, 0}, "01 09 0000 0008 0010 | 03 00 0010 00F9 0000"},
		{"PRM_SET full", PRMSet, 0x7FF, 0x001, bytes.Repeat([]byte{0xAB}, 248),
			"01 04 07FF 00F8 0001 |" + strings.Repeat("AB", 248)},
		{"unknown type is written as given", Type(0x0A), 0x010, 0x011, []byte{0}, "01 0A 0010 0001 0011 | 00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f Frame
			for i := range f {
				f[i] = 0xEE // Encode must clear the padding
			}
			if err := Encode(&f, tt.typ, tt.src, tt.dst, tt.payload); err != nil {
				t.Fatal(err)
			}
			want := make([]byte, Size)
			copy(want, unhex(t, tt.want))
			if !bytes.Equal(f[:], want) {
				t.Errorf("Encode =\n% X\nwant\n% X", f[:], want)
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name     string
		src, dst APID
		n        int
		code     ErrorCode
		msg      string
	}{
		{"payload 249", 0x010, 0x020, 249, MessageTooLarge, "payload of 249 bytes exceeds 248"},
		{"source bits", 0x800, 0x020, 0, Malformed, "source APID 0x800"},
		{"dest bits", 0x010, 0xF810, 0, Malformed, "destination APID 0xF810"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f Frame
			for i := range f {
				f[i] = 0xEE
			}
			before := f
			err := Encode(&f, TM, tt.src, tt.dst, make([]byte, tt.n))
			if !errors.Is(err, tt.code) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Encode = %v, want %v containing %q", err, tt.code, tt.msg)
			}
			if f != before {
				t.Errorf("Encode changed the frame on error")
			}
		})
	}
}

func TestAccessors(t *testing.T) {
	f := frameOf(t, "02 0A F810 0123 FFFF | 01 02 03")
	if got := f.Version(); got != 0x02 {
		t.Errorf("Version = %#x", got)
	}
	if got := f.Type(); got != 0x0A {
		t.Errorf("Type = %#x", got)
	}
	if got := f.APID(); got != 0xF810 {
		t.Errorf("APID = %#x", uint16(got))
	}
	if got := f.PayloadLen(); got != 0x0123 {
		t.Errorf("PayloadLen = %#x", got)
	}
	if got := f.Dest(); got != 0xFFFF {
		t.Errorf("Dest = %#x", uint16(got))
	}
	want := Header{Version: 2, Type: 0x0A, APID: 0xF810, PayloadLen: 0x0123, Dest: 0xFFFF}
	if got := f.Header(); got != want {
		t.Errorf("Header = %+v, want %+v", got, want)
	}
}

func TestSetters(t *testing.T) {
	tests := []struct {
		name string
		set  func(*Frame)
		want string // the first 8 bytes after the setter, from a frame of 0xEE
	}{
		{"SetVersion", func(f *Frame) { f.SetVersion(0x01) }, "01 EE EEEE EEEE EEEE"},
		{"SetType", func(f *Frame) { f.SetType(PRMRsp) }, "EE 05 EEEE EEEE EEEE"},
		{"SetAPID", func(f *Frame) { f.SetAPID(0x1234) }, "EE EE 1234 EEEE EEEE"},
		{"SetPayloadLen", func(f *Frame) { f.SetPayloadLen(0x00F8) }, "EE EE EEEE 00F8 EEEE"},
		{"SetDest", func(f *Frame) { f.SetDest(0x07FE) }, "EE EE EEEE EEEE 07FE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f Frame
			for i := range f {
				f[i] = 0xEE
			}
			tt.set(&f)
			want := bytes.Repeat([]byte{0xEE}, Size)
			copy(want, unhex(t, tt.want))
			if !bytes.Equal(f[:], want) {
				t.Errorf("%s: header % X, want % X", tt.name, f[:HeaderSize], want[:HeaderSize])
			}
		})
	}
}

func TestPayloadClamp(t *testing.T) {
	tests := []struct {
		pl   uint16
		want int
	}{{0, 0}, {5, 5}, {248, 248}, {249, 248}, {0xFFFF, 248}}
	for _, tt := range tests {
		var f Frame
		f.SetPayloadLen(tt.pl)
		p := f.Payload()
		if len(p) != tt.want {
			t.Errorf("payload_length %d: len(Payload) = %d, want %d", tt.pl, len(p), tt.want)
		}
		if len(p) > 0 && &p[0] != &f[HeaderSize] {
			t.Errorf("Payload is not a view of the frame")
		}
	}
}

func TestZeroPadding(t *testing.T) {
	tests := []struct {
		pl    uint16
		zeros int // bytes from HeaderSize+pl on that must be zero
	}{{0, 248}, {3, 245}, {247, 1}, {248, 0}, {249, 0}, {0xFFFF, 0}}
	for _, tt := range tests {
		var f Frame
		for i := range f {
			f[i] = 0xFF
		}
		f.SetPayloadLen(tt.pl)
		f.ZeroPadding()
		want := bytes.Repeat([]byte{0xFF}, Size)
		want[4], want[5] = byte(tt.pl>>8), byte(tt.pl)
		clear(want[Size-tt.zeros:])
		if !bytes.Equal(f[:], want) {
			t.Errorf("payload_length %d: ZeroPadding gave\n% X\nwant\n% X", tt.pl, f[:], want)
		}
	}
}

// TestCheck covers every ErrorCode that decoding can return, in the spec's
// decode order: version, then type, then payload_length, then APID bits.
func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		hdr  string // version type APID payload_length dest
		want ErrorCode
	}{
		{"valid TM", "01 00 0010 0005 0020", 0},
		{"valid ERROR from switch", "01 09 0000 0008 0010", 0},
		{"valid edges", "01 08 07FF 00F8 07FF", 0},
		{"valid zero", "01 06 0000 0000 0000", 0},
		{"version 0", "00 00 0010 0005 0020", UnknownVersion},
		{"version 2", "02 00 0010 0005 0020", UnknownVersion},
		{"version FF", "FF 00 0010 0005 0020", UnknownVersion},
		{"version beats type", "02 0A 0010 0005 0020", UnknownVersion},
		{"version beats length", "02 00 0010 00F9 0020", UnknownVersion},
		{"version beats APID", "02 00 0810 0005 0020", UnknownVersion},
		{"type 0A", "01 0A 0010 0005 0020", UnknownType},
		{"type FF", "01 FF 0010 0005 0020", UnknownType},
		{"type beats length", "01 0A 0010 00F9 0020", UnknownType},
		{"type beats APID", "01 0A 0810 0005 0820", UnknownType},
		{"payload 248", "01 00 0010 00F8 0020", 0},
		{"payload 249", "01 00 0010 00F9 0020", MessageTooLarge},
		{"payload FFFF", "01 00 0010 FFFF 0020", MessageTooLarge},
		{"length beats APID", "01 00 0810 00F9 F820", MessageTooLarge},
		{"APID 0x7FF", "01 00 07FF 0000 0000", 0},
		{"APID bit 11", "01 00 0800 0000 0000", Malformed},
		{"APID bit 12", "01 00 1000 0000 0000", Malformed},
		{"APID bit 13", "01 00 2000 0000 0000", Malformed},
		{"APID bit 14", "01 00 4000 0000 0000", Malformed},
		{"APID bit 15", "01 00 8000 0000 0000", Malformed},
		{"APID all", "01 00 FFFF 0000 0000", Malformed},
		{"dest 0x7FF", "01 00 0000 0000 07FF", 0},
		{"dest bit 11", "01 00 0000 0000 0800", Malformed},
		{"dest bit 12", "01 00 0000 0000 1000", Malformed},
		{"dest bit 13", "01 00 0000 0000 2000", Malformed},
		{"dest bit 14", "01 00 0000 0000 4000", Malformed},
		{"dest bit 15", "01 00 0000 0000 8000", Malformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := frameOf(t, tt.hdr)
			if got := f.Check(); got != tt.want {
				t.Errorf("Check = %v, want %v", got, tt.want)
			}
			if got := f.Header().Check(); got != tt.want {
				t.Errorf("Header().Check = %v, want %v", got, tt.want)
			}
			err := f.Validate()
			if tt.want == 0 {
				if err != nil {
					t.Errorf("Validate = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("Validate = %v, want %v", err, tt.want)
			}
			var c ErrorCode
			if !errors.As(err, &c) || c != tt.want {
				t.Errorf("errors.As = %v, want %v", c, tt.want)
			}
		})
	}
	// Every known type is valid.
	for ty := range Type(NumTypes) {
		f := frameOf(t, "01 00 0010 0000 0020")
		f.SetType(ty)
		if c := f.Check(); c != 0 {
			t.Errorf("type %v: %v", ty, c)
		}
	}
}

func TestCheckAllocs(t *testing.T) {
	valid := frameOf(t, "01 00 0010 0005 0020")
	invalid := []*Frame{
		frameOf(t, "02 00 0010 0005 0020"),
		frameOf(t, "01 0A 0010 0005 0020"),
		frameOf(t, "01 00 0010 00F9 0020"),
		frameOf(t, "01 00 0810 0005 0020"),
	}
	var h Header
	var c ErrorCode
	var err error
	check := func(name string, f func()) {
		t.Helper()
		if a := testing.AllocsPerRun(100, f); a != 0 {
			t.Errorf("%s: %v allocs/op", name, a)
		}
	}
	check("Header", func() { h = valid.Header() })
	check("Check valid", func() { c = valid.Check() })
	check("Validate valid", func() { err = valid.Validate() })
	for _, f := range invalid {
		check("Check invalid", func() { c = f.Check() })
		check("Validate invalid", func() { err = f.Validate() })
	}
	var out Frame
	payload := []byte("hello")
	check("Encode", func() { err = Encode(&out, TM, 0x010, 0x020, payload) })
	check("EncodeError", func() { EncodeError(&out, HostBusy, invalid[1]) })
	check("EncodeError in place", func() { EncodeError(&out, HostBusy, &out) })
	check("Payload", func() { payload = valid.Payload() })
	check("ZeroPadding", func() { out.ZeroPadding() })
	_, _, _ = h, c, err
}

func BenchmarkDecodeValidate(b *testing.B) {
	var f Frame
	if err := Encode(&f, TM, 0x010, 0x020, []byte("hello, space")); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(Size)
	b.ReportAllocs()
	var n int
	for b.Loop() {
		h := f.Header()
		if f.Validate() != nil {
			b.Fatal("invalid")
		}
		n += int(h.PayloadLen)
	}
	_ = n
}

var benchSink Frame

// BenchmarkCopyFrame is the baseline for BenchmarkDecodeValidate: copying
// one 256-byte frame, as every read does anyway.
func BenchmarkCopyFrame(b *testing.B) {
	f := new(Frame)
	f[0] = 1
	b.SetBytes(Size)
	b.ReportAllocs()
	for b.Loop() {
		benchSink = *f
	}
}

func BenchmarkEncode(b *testing.B) {
	var f Frame
	payload := bytes.Repeat([]byte{7}, 128)
	b.SetBytes(Size)
	b.ReportAllocs()
	for b.Loop() {
		if err := Encode(&f, TM, 0x010, 0x020, payload); err != nil {
			b.Fatal(err)
		}
	}
}
