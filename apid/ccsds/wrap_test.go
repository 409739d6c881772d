package ccsds

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"spacenet/apid/frame"
)

func mustEncode(t testing.TB, typ frame.Type, src, dst frame.APID, payload []byte) *frame.Frame {
	t.Helper()
	f := new(frame.Frame)
	if err := frame.Encode(f, typ, src, dst, payload); err != nil {
		t.Fatal(err)
	}
	return f
}

// Golden packets, written by hand from spec section 4:
// word0 = version(3) type(1) sec(1) APID(11); word1 = flags(2) count(14);
// data length = 8 + payload_length - 1; then the frame's header and payload.
var goldenWraps = []struct {
	name            string
	typ             frame.Type
	src, dst        frame.APID
	payload         string
	seq             uint16
	hex             string
	wantType        PacketType
	wantAPID        frame.APID
	wantSeq, wantDL uint16
}{
	{"TM hello", frame.TM, 0x010, 0x020, "hello", 5,
		"0010 C005 000C | 01 00 0010 0005 0020 | 68656C6C6F", TM, 0x010, 5, 12},
	{"TC", frame.TC, 0x123, 0x010, "\x01\x02", 16383,
		"1123 FFFF 0009 | 01 01 0123 0002 0010 | 0102", TC, 0x123, 16383, 9},
	{"HEALTH empty", frame.Health, 0x7FE, 0x000, "", 0,
		"07FE C000 0007 | 01 07 07FE 0000 0000", TM, 0x7FE, 0, 7},
	{"ERROR from switch", frame.Error, 0x000, 0x010, "\x03\x00\x00\x10\x00\xF9\x00\x00", 0x2A,
		"0000 C02A 000F | 01 09 0000 0008 0010 | 03 00 0010 00F9 0000", TM, 0x000, 0x2A, 15},
}

func TestWrapGolden(t *testing.T) {
	for _, g := range goldenWraps {
		t.Run(g.name, func(t *testing.T) {
			f := mustEncode(t, g.typ, g.src, g.dst, []byte(g.payload))
			want := unhex(t, g.hex)
			buf := bytes.Repeat([]byte{0xEE}, MaxPacketSize+1)
			n, err := Wrap(buf, f, g.seq)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(want) || !bytes.Equal(buf[:n], want) {
				t.Fatalf("Wrap = %d % X\nwant %d % X", n, buf[:n], len(want), want)
			}
			if buf[n] != 0xEE {
				t.Errorf("Wrap wrote past n")
			}
			if got := WrappedLen(f); got != n {
				t.Errorf("WrappedLen = %d, want %d", got, n)
			}
			// Exactly n octets suffice.
			if n2, err := Wrap(make([]byte, n), f, g.seq); err != nil || n2 != n {
				t.Errorf("Wrap into exact buffer = %d, %v", n2, err)
			}

			var back frame.Frame
			for i := range back {
				back[i] = 0x5A // Unwrap must overwrite all 256 bytes
			}
			h, err := Unwrap(&back, want)
			if err != nil {
				t.Fatal(err)
			}
			wantH := Header{Type: g.wantType, APID: g.wantAPID, SeqFlags: Unsegmented, SeqCount: g.wantSeq, DataLen: g.wantDL}
			if h != wantH {
				t.Errorf("Unwrap header = %+v, want %+v", h, wantH)
			}
			if back != *f {
				t.Errorf("Unwrap frame = % X\nwant % X", back[:], f[:])
			}
		})
	}
}

func TestWrapErrors(t *testing.T) {
	valid := mustEncode(t, frame.TM, 0x010, 0x020, []byte("hello"))
	badVersion := *valid
	badVersion.SetVersion(2)
	badType := *valid
	badType.SetType(10)
	tooLong := *valid
	tooLong.SetPayloadLen(249)
	badDest := *valid
	badDest.SetDest(0x800)
	badSrc := *valid
	badSrc.SetAPID(0xF810)
	tests := []struct {
		name string
		f    *frame.Frame
		seq  uint16
		buf  int
		is   []error
		msg  string
	}{
		{"version", &badVersion, 0, 300, []error{ErrFrame, frame.UnknownVersion}, "APID 0x010"},
		{"type", &badType, 0, 300, []error{ErrFrame, frame.UnknownType}, "type Type(0x0a)"},
		{"too large", &tooLong, 0, 300, []error{ErrFrame, frame.MessageTooLarge}, "payload_length 249"},
		{"dest bits", &badDest, 0, 300, []error{ErrFrame, frame.Malformed}, "APID 0x010"},
		{"src bits", &badSrc, 0, 300, []error{ErrFrame, frame.Malformed}, "APID 0xF810"},
		{"idle APID", mustEncode(t, frame.TC, 0x7FF, 0x010, nil), 0, 300, []error{ErrIdleAPID}, "source APID 0x7FF"},
		{"seq", valid, 16384, 300, []error{ErrSeqCount}, "sequence count 16384"},
		{"buffer", valid, 0, 18, []error{ErrBuffer}, "buffer of 18 octets, packet needs 19"},
		{"nil buffer", valid, 0, 0, []error{ErrBuffer}, "buffer of 0 octets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := bytes.Repeat([]byte{0xEE}, tt.buf)
			n, err := Wrap(buf, tt.f, tt.seq)
			if n != 0 || err == nil {
				t.Fatalf("Wrap = %d, %v; want an error", n, err)
			}
			for _, is := range tt.is {
				if !errors.Is(err, is) {
					t.Errorf("Wrap error %q is not %v", err, is)
				}
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Wrap error %q does not contain %q", err, tt.msg)
			}
			if !bytes.Equal(buf, bytes.Repeat([]byte{0xEE}, tt.buf)) {
				t.Errorf("Wrap wrote into dst on error")
			}
		})
	}
}

func TestUnwrapErrors(t *testing.T) {
	// The golden TM packet, then one field broken per case.
	good := "0010 C005 000C | 01 00 0010 0005 0020 | 68656C6C6F"
	tests := []struct {
		name string
		hex  string
		is   []error
		msg  string
	}{
		{"empty", "", []error{ErrShort}, "packet of 0 octets"},
		{"short header", "0010 C005 00", []error{ErrShort}, "packet of 5 octets"},
		{"version 1", "2010 C005 000C | 01 00 0010 0005 0020 | 68656C6C6F", []error{ErrVersion}, "version 1"},
		{"version 7", "E010 C005 000C | 01 00 0010 0005 0020 | 68656C6C6F", []error{ErrVersion}, "version 7"},
		{"trailing octet", good + "00", []error{ErrLength}, "data length 12 announces a 19-octet packet, got 20"},
		{"truncated", "0010 C005 000C | 01 00 0010 0005 0020 | 68656C6C", []error{ErrLength}, "got 18"},
		{"header only", "0010 C005 000C", []error{ErrLength}, "got 6"},
		{"idle", "07FF C000 0000 | 00", []error{ErrIdle}, "idle packet"},
		{"idle TC with frame", "17FF C005 000C | 01 01 07FF 0005 0020 | 68656C6C6F", []error{ErrIdle}, "idle packet"},
		{"data field 1", "0010 C005 0000 | 01", []error{ErrDataField}, "data field of 1 octets"},
		{"data field 7", "0010 C005 0006 | 01 00 0010 0000 00", []error{ErrDataField}, "data field of 7 octets"},
		{"inner version", "0010 C005 000C | 02 00 0010 0005 0020 | 68656C6C6F", []error{ErrFrame, frame.UnknownVersion}, "inner frame version 2"},
		{"inner type", "0010 C005 000C | 01 0A 0010 0005 0020 | 68656C6C6F", []error{ErrFrame, frame.UnknownType}, "type Type(0x0a)"},
		{"inner version beats type", "0010 C005 000C | 00 0A 0010 0005 0020 | 68656C6C6F", []error{ErrFrame, frame.UnknownVersion}, "version 0"},
		{"inner too large", "0010 C005 000C | 01 00 0010 00F9 0020 | 68656C6C6F", []error{ErrFrame, frame.MessageTooLarge}, "payload_length 249"},
		{"inner src bits", "0010 C005 000C | 01 00 0810 0005 0020 | 68656C6C6F", []error{ErrFrame, frame.Malformed}, "APID 0x810"},
		{"inner dest bits", "0010 C005 000C | 01 00 0010 0005 F820 | 68656C6C6F", []error{ErrFrame, frame.Malformed}, "dest 0xF820"},
		{"payload_length short", "0010 C005 000C | 01 00 0010 0004 0020 | 68656C6C6F", []error{ErrPayloadLen}, "inner payload_length 4, data field carries 5"},
		{"payload_length long", "0010 C005 000C | 01 00 0010 0006 0020 | 68656C6C6F", []error{ErrPayloadLen}, "inner payload_length 6, data field carries 5"},
		{"apid", "0011 C005 000C | 01 00 0010 0005 0020 | 68656C6C6F", []error{ErrAPID}, "packet APID 0x011, inner source APID 0x010"},
		{"TC packet, TM frame", "1010 C005 000C | 01 00 0010 0005 0020 | 68656C6C6F", []error{ErrType}, "packet type TC, inner frame type TM wants TM"},
		{"TM packet, TC frame", "0010 C005 000C | 01 01 0010 0005 0020 | 68656C6C6F", []error{ErrType}, "packet type TM, inner frame type TC wants TC"},
		{"TC packet, ERROR frame", "1010 C005 000C | 01 09 0010 0005 0020 | 68656C6C6F", []error{ErrType}, "inner frame type ERROR wants TM"},
		{"flags first", "0010 4005 000C | 01 00 0010 0005 0020 | 68656C6C6F", []error{ErrSeqFlags}, "sequence flags First"},
		{"flags continuation", "0010 0005 000C | 01 00 0010 0005 0020 | 68656C6C6F", []error{ErrSeqFlags}, "sequence flags Continuation"},
		{"flags last", "0010 8005 000C | 01 00 0010 0005 0020 | 68656C6C6F", []error{ErrSeqFlags}, "sequence flags Last"},
		{"secondary header", "0810 C005 000C | 01 00 0010 0005 0020 | 68656C6C6F", []error{ErrSecondaryHeader}, "secondary header"},
	}
	all := []error{ErrShort, ErrVersion, ErrLength, ErrIdle, ErrDataField, ErrFrame, ErrPayloadLen, ErrAPID, ErrType, ErrSeqFlags, ErrSecondaryHeader}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f frame.Frame
			for i := range f {
				f[i] = 0x5A
			}
			before := f
			_, err := Unwrap(&f, unhex(t, tt.hex))
			if err == nil {
				t.Fatal("Unwrap accepted the packet")
			}
			for _, is := range tt.is {
				if !errors.Is(err, is) {
					t.Errorf("error %q is not %v", err, is)
				}
			}
			// Distinct: no other sentinel matches.
			for _, other := range all {
				if other != tt.is[0] && errors.Is(err, other) {
					t.Errorf("error %q also matches %v", err, other)
				}
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
			if f != before {
				t.Errorf("Unwrap changed f on error")
			}
		})
	}
	// The idle sentinel is returned bare, so == works too.
	if _, err := Unwrap(new(frame.Frame), unhex(t, "07FF C000 0000 | 00")); err != ErrIdle {
		t.Errorf("idle: %v, want ErrIdle itself", err)
	}
}

func TestPacketTypeOf(t *testing.T) {
	for ty := range frame.Type(frame.NumTypes) {
		want := TM
		if ty == frame.TC {
			want = TC
		}
		if got := PacketTypeOf(ty); got != want {
			t.Errorf("PacketTypeOf(%v) = %v, want %v", ty, got, want)
		}
	}
}

func TestAllocs(t *testing.T) {
	f := mustEncode(t, frame.TC, 0x123, 0x010, bytes.Repeat([]byte{7}, frame.MaxPayload))
	buf := make([]byte, MaxPacketSize)
	var back frame.Frame
	var n int
	var err error
	if a := testing.AllocsPerRun(100, func() { n, err = Wrap(buf, f, 42) }); a != 0 || err != nil {
		t.Errorf("Wrap: %v allocs, err %v", a, err)
	}
	if a := testing.AllocsPerRun(100, func() { _, err = Unwrap(&back, buf[:n]) }); a != 0 || err != nil {
		t.Errorf("Unwrap: %v allocs, err %v", a, err)
	}
	idle := unhex(t, "07FF C000 0000 | 00")
	if a := testing.AllocsPerRun(100, func() { _, err = Unwrap(&back, idle) }); a != 0 || err != ErrIdle {
		t.Errorf("Unwrap idle: %v allocs, err %v", a, err)
	}
	var c Counter
	if a := testing.AllocsPerRun(100, func() { c.Next(0x123) }); a != 0 {
		t.Errorf("Counter.Next: %v allocs", a)
	}
	h := Header{Type: TC, APID: 0x123, SeqFlags: Unsegmented, SeqCount: 1, DataLen: 9}
	if a := testing.AllocsPerRun(100, func() { err = h.Put(buf); h, err = ParseHeader(buf) }); a != 0 || err != nil {
		t.Errorf("Header.Put+ParseHeader: %v allocs, err %v", a, err)
	}
}

func BenchmarkWrap(b *testing.B) {
	f := mustEncode(b, frame.TM, 0x010, 0x020, bytes.Repeat([]byte{7}, 128))
	buf := make([]byte, MaxPacketSize)
	b.SetBytes(int64(WrappedLen(f)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Wrap(buf, f, 5); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnwrap(b *testing.B) {
	f := mustEncode(b, frame.TM, 0x010, 0x020, bytes.Repeat([]byte{7}, 128))
	buf := make([]byte, MaxPacketSize)
	n, err := Wrap(buf, f, 5)
	if err != nil {
		b.Fatal(err)
	}
	var back frame.Frame
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Unwrap(&back, buf[:n]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCopyFrame is the baseline: copying a whole 256-byte frame.
func BenchmarkCopyFrame(b *testing.B) {
	f := mustEncode(b, frame.TM, 0x010, 0x020, bytes.Repeat([]byte{7}, 128))
	dst := make([]byte, frame.Size)
	b.SetBytes(frame.Size)
	b.ReportAllocs()
	for b.Loop() {
		copy(dst, f[:])
	}
}
