package ipc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"
)

// Byte vectors worked out by hand from the formats' definitions.
func TestEncoderVectors(t *testing.T) {
	tests := []struct {
		name string
		enc  func(e *Encoder)
		want []byte
	}{
		{"bool true", func(e *Encoder) { e.Bool(true) }, []byte{0x01}},
		{"bool false", func(e *Encoder) { e.Bool(false) }, []byte{0x00}},
		{"u16 LE", func(e *Encoder) { e.U16(0x1234) }, []byte{0x34, 0x12}},
		{"u32 LE", func(e *Encoder) { e.U32(0xdeadbeef) }, []byte{0xef, 0xbe, 0xad, 0xde}},
		{"u64 LE", func(e *Encoder) { e.U64(0x0102030405060708) }, []byte{8, 7, 6, 5, 4, 3, 2, 1}},
		{"u128 LE", func(e *Encoder) { e.U128(U128{Lo: 1, Hi: 2}) }, []byte{1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0}},
		{"i128 -1", func(e *Encoder) { e.I128(I128{Lo: math.MaxUint64, Hi: -1}) }, bytes.Repeat([]byte{0xff}, 16)},
		{"f32 1.0", func(e *Encoder) { e.F32(1.0) }, []byte{0x00, 0x00, 0x80, 0x3f}},
		{"f64 -2.0", func(e *Encoder) { e.F64(-2.0) }, []byte{0, 0, 0, 0, 0, 0, 0x00, 0xc0}},
		{"raw", func(e *Encoder) { e.Raw([]byte{9, 8}) }, []byte{9, 8}},
		{"packed u8,u32,bool", func(e *Encoder) { e.U8(7); e.U32(1); e.Bool(true) }, []byte{7, 1, 0, 0, 0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf [16]byte
			e := NewEncoder(buf[:])
			tt.enc(&e)
			if e.Err() != nil {
				t.Fatal(e.Err())
			}
			if !bytes.Equal(e.Bytes(), tt.want) {
				t.Errorf("got % x, want % x", e.Bytes(), tt.want)
			}
		})
	}
}

func TestEncoderOverflow(t *testing.T) {
	var buf [3]byte
	e := NewEncoder(buf[:])
	e.U16(1)
	e.U16(2) // does not fit
	e.U8(3)  // nothing after the first error
	if e.Err() == nil || e.Len() != 2 {
		t.Fatalf("err %v len %d, want error and 2", e.Err(), e.Len())
	}
	e2 := NewEncoder(buf[:])
	e2.Fail(ErrInvalidValue)
	e2.U8(1)
	if !errors.Is(e2.Err(), ErrInvalidValue) || e2.Len() != 0 {
		t.Fatalf("Fail: err %v len %d", e2.Err(), e2.Len())
	}
}

func TestDecoderVectors(t *testing.T) {
	d := NewDecoder([]byte{0x34, 0x12, 0xef, 0xbe, 0xad, 0xde, 8, 7, 6, 5, 4, 3, 2, 1, 0x00, 0x00, 0x80, 0x3f})
	if v := d.U16(); v != 0x1234 {
		t.Errorf("U16 %#x", v)
	}
	if v := d.U32(); v != 0xdeadbeef {
		t.Errorf("U32 %#x", v)
	}
	if v := d.U64(); v != 0x0102030405060708 {
		t.Errorf("U64 %#x", v)
	}
	if v := d.F32(); v != 1.0 {
		t.Errorf("F32 %v", v)
	}
	if err := d.Finish(); err != nil {
		t.Fatal(err)
	}
}

func TestDecoderBool(t *testing.T) {
	// Zerocopy: any non-zero byte is true.
	d := NewDecoder([]byte{0, 1, 2, 0xff})
	for i, want := range []bool{false, true, true, true} {
		if got := d.BoolAny(); got != want {
			t.Errorf("BoolAny #%d = %v", i, got)
		}
	}
	// Hubpack/Ssmarshal: 0 or 1 only.
	d = NewDecoder([]byte{1, 0, 2})
	if !d.Bool() || d.Bool() {
		t.Fatal("Bool 1, 0")
	}
	d.Bool()
	var de *DecodeError
	if !errors.As(d.Err(), &de) || de.Reason != "invalid bool" || de.Value != 2 || de.Off != 2 {
		t.Fatalf("Bool(2): %v", d.Err())
	}
}

func TestDecoderTag(t *testing.T) {
	d := NewDecoder([]byte{0, 1, 2})
	if d.Tag(2) != 0 || d.Tag(2) != 1 {
		t.Fatal("tags 0, 1")
	}
	d.Tag(2)
	var de *DecodeError
	if !errors.As(d.Err(), &de) || de.Reason != "invalid tag" || de.Value != 2 {
		t.Fatalf("Tag(2) of 2: %v", d.Err())
	}
}

func TestDecoderShortAndTrailing(t *testing.T) {
	d := NewDecoder([]byte{1, 2, 3})
	d.U32()
	var de *DecodeError
	if !errors.As(d.Err(), &de) || de.Reason != "short" || de.Off != 0 {
		t.Fatalf("short: %v", d.Err())
	}
	if v := d.U8(); v != 0 {
		t.Fatalf("read after error returned %d", v)
	}
	d = NewDecoder([]byte{1, 2, 3})
	d.U16()
	if err := d.Finish(); !errors.As(err, &de) || de.Reason != "trailing" || de.Off != 2 {
		t.Fatalf("trailing: %v", err)
	}
}

func TestDecoderUsize(t *testing.T) {
	d := NewDecoder([]byte{5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0})
	if v := d.U64AsU32(); v != 5 {
		t.Fatalf("got %d", v)
	}
	d.U64AsU32()
	if d.Err() == nil {
		t.Fatal("usize above 32 bits accepted")
	}
	d = NewDecoder([]byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	if v := d.I64AsI32(); v != -2 || d.Err() != nil {
		t.Fatalf("isize -2: %d %v", v, d.Err())
	}
}

func TestCodecAllocs(t *testing.T) {
	var buf [32]byte
	allocs := testing.AllocsPerRun(100, func() {
		e := NewEncoder(buf[:])
		e.U8(1)
		e.U32(2)
		e.Bool(true)
		e.F64(3)
		d := NewDecoder(e.Bytes())
		d.U8()
		d.U32()
		d.Bool()
		d.F64()
		if d.Finish() != nil {
			t.Fatal("decode")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per encode+decode, want 0", allocs)
	}
}

// FuzzDecoder runs a byte-driven program of reads over arbitrary input: no
// panics, and the offset never passes the input's end.
func FuzzDecoder(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3}, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{5, 6, 7}, []byte{2, 0xff})
	f.Fuzz(func(t *testing.T, prog, input []byte) {
		d := NewDecoder(input)
		for _, op := range prog {
			switch op % 12 {
			case 0:
				d.U8()
			case 1:
				d.U16()
			case 2:
				d.U32()
			case 3:
				d.U64()
			case 4:
				d.Bool()
			case 5:
				d.BoolAny()
			case 6:
				d.Tag(int(op>>4) + 1)
			case 7:
				d.U128()
			case 8:
				d.U64AsU32()
			case 9:
				d.I64AsI32()
			case 10:
				var p [3]byte
				d.Raw(p[:])
			case 11:
				d.F64()
			}
			if d.Off() > len(input) {
				t.Fatalf("offset %d past %d", d.Off(), len(input))
			}
		}
		_ = d.Finish()
	})
}

// BenchmarkEncodeDecode: a u8, u32, bool, f64 message through Encoder and
// Decoder; BenchmarkBaselineBinary does the same with encoding/binary by hand.
func BenchmarkEncodeDecode(b *testing.B) {
	var buf [14]byte
	b.ReportAllocs()
	for b.Loop() {
		e := NewEncoder(buf[:])
		e.U8(1)
		e.U32(2)
		e.Bool(true)
		e.F64(3)
		d := NewDecoder(e.Bytes())
		d.U8()
		d.U32()
		d.Bool()
		d.F64()
		if d.Finish() != nil {
			b.Fatal("decode")
		}
	}
}

func BenchmarkBaselineBinary(b *testing.B) {
	var buf [14]byte
	b.ReportAllocs()
	for b.Loop() {
		buf[0] = 1
		binary.LittleEndian.PutUint32(buf[1:], 2)
		buf[5] = 1
		binary.LittleEndian.PutUint64(buf[6:], math.Float64bits(3))
		_ = buf[0]
		_ = binary.LittleEndian.Uint32(buf[1:])
		if buf[5] > 1 {
			b.Fatal("bool")
		}
		_ = math.Float64frombits(binary.LittleEndian.Uint64(buf[6:]))
	}
}
