package ipc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The wire formats (spec section 2). All three are little-endian with fixed
// widths and no padding; the generator picks the calls per format:
//
//   - Zerocopy: a packed little-endian struct. bool is one byte and any
//     non-zero byte reads as true (Decoder.BoolAny); usize/isize are 32-bit
//     as on Hubris targets; an enum is its discriminant in its repr width;
//     there are no Option, Result or data-carrying enums.
//   - Hubpack (Oxide's serde format): bool is one byte, 0 or 1 only
//     (Decoder.Bool); Option and enums are a one-byte tag (None 0, Some 1;
//     the variant's index in declaration order, not its discriminant) then
//     the payload; Result is an enum with Ok = 0, Err = 1; tuples, structs
//     and arrays are their fields in order; usize is serialized by serde as
//     u64 (8 bytes). MAX_SIZE of an enum or Option is 1 + its largest payload.
//   - Ssmarshal (the ssmarshal crate, read from its source): the same
//     encoding as Hubpack for every type both support: bool 0/1 strict,
//     Option tag u8 0/1 strict, variant index as u8, integers and floats LE
//     fixed width, usize as u64. It has no u128/i128, which the generator
//     refuses for Ssmarshal ops.

// DecodeError is a decoding failure: where, and the offending value.
type DecodeError struct {
	Off    int    // byte offset in the input
	Reason string // "short", "invalid bool", "invalid tag", "invalid value", "trailing"
	Value  uint64 // the offending value, when there is one
}

// Error describes the failure with its offset and, when there is one, the
// offending value.
func (e *DecodeError) Error() string {
	if e.Reason == "short" || e.Reason == "trailing" {
		return fmt.Sprintf("ipc: decode: %s input at offset %d", e.Reason, e.Off)
	}
	return fmt.Sprintf("ipc: decode: %s %d at offset %d", e.Reason, e.Value, e.Off)
}

// ErrInvalidValue is returned by an Encoder asked to encode a value that has
// no encoding (an enum value that is not one of its variants).
var ErrInvalidValue = errors.New("ipc: encode: value is not a variant of its enum")

// Encoder writes values into a fixed buffer sized by the generator for the
// largest value. It is a value type: a generated encoder lives on the stack.
// Writing past the buffer records an error instead of panicking.
type Encoder struct {
	buf []byte
	n   int
	err error
}

// NewEncoder returns an Encoder writing into buf from offset 0.
func NewEncoder(buf []byte) Encoder { return Encoder{buf: buf} }

// Bytes returns what has been written.
func (e *Encoder) Bytes() []byte { return e.buf[:e.n] }

// Len returns how many bytes have been written.
func (e *Encoder) Len() int { return e.n }

// Err returns the first error, if any.
func (e *Encoder) Err() error { return e.err }

// Fail records err (the first one wins).
func (e *Encoder) Fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

func (e *Encoder) room(n int) []byte {
	if e.err != nil {
		return nil
	}
	if len(e.buf)-e.n < n {
		e.err = fmt.Errorf("ipc: encode: buffer of %d bytes too small at offset %d", len(e.buf), e.n)
		return nil
	}
	b := e.buf[e.n : e.n+n]
	e.n += n
	return b
}

// U8 writes v.
func (e *Encoder) U8(v uint8) {
	if b := e.room(1); b != nil {
		b[0] = v
	}
}

// U16 writes v little-endian.
func (e *Encoder) U16(v uint16) {
	if b := e.room(2); b != nil {
		binary.LittleEndian.PutUint16(b, v)
	}
}

// U32 writes v little-endian.
func (e *Encoder) U32(v uint32) {
	if b := e.room(4); b != nil {
		binary.LittleEndian.PutUint32(b, v)
	}
}

// U64 writes v little-endian.
func (e *Encoder) U64(v uint64) {
	if b := e.room(8); b != nil {
		binary.LittleEndian.PutUint64(b, v)
	}
}

// U128 writes v little-endian (Lo first).
func (e *Encoder) U128(v U128) {
	e.U64(v.Lo)
	e.U64(v.Hi)
}

// I128 writes v little-endian (Lo first).
func (e *Encoder) I128(v I128) {
	e.U64(v.Lo)
	e.U64(uint64(v.Hi))
}

// F32 writes v's IEEE 754 bits little-endian.
func (e *Encoder) F32(v float32) { e.U32(math.Float32bits(v)) }

// F64 writes v's IEEE 754 bits little-endian.
func (e *Encoder) F64(v float64) { e.U64(math.Float64bits(v)) }

// Bool writes 1 for true, 0 for false.
func (e *Encoder) Bool(v bool) {
	if v {
		e.U8(1)
	} else {
		e.U8(0)
	}
}

// Raw writes p as is.
func (e *Encoder) Raw(p []byte) {
	if b := e.room(len(p)); b != nil {
		copy(b, p)
	}
}

// Decoder reads values from a buffer. A failed read records the first error
// and returns zero values from then on, so generated code checks Err once.
type Decoder struct {
	buf []byte
	n   int
	err error
}

// NewDecoder returns a Decoder reading buf from offset 0.
func NewDecoder(buf []byte) Decoder { return Decoder{buf: buf} }

// Err returns the first error, if any.
func (d *Decoder) Err() error { return d.err }

// Off returns how many bytes have been consumed.
func (d *Decoder) Off() int { return d.n }

// Finish returns the first error, or a "trailing" error when bytes remain.
func (d *Decoder) Finish() error {
	if d.err == nil && d.n != len(d.buf) {
		d.err = &DecodeError{Off: d.n, Reason: "trailing"}
	}
	return d.err
}

// Invalid records that value, read just before the current offset, is not
// valid for its type.
func (d *Decoder) Invalid(value uint64) {
	if d.err == nil {
		d.err = &DecodeError{Off: d.n, Reason: "invalid value", Value: value}
	}
}

func (d *Decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.buf)-d.n < n {
		d.err = &DecodeError{Off: d.n, Reason: "short"}
		return nil
	}
	b := d.buf[d.n : d.n+n]
	d.n += n
	return b
}

// U8 reads a byte.
func (d *Decoder) U8() uint8 {
	if b := d.take(1); b != nil {
		return b[0]
	}
	return 0
}

// U16 reads a little-endian u16.
func (d *Decoder) U16() uint16 {
	if b := d.take(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

// U32 reads a little-endian u32.
func (d *Decoder) U32() uint32 {
	if b := d.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

// U64 reads a little-endian u64.
func (d *Decoder) U64() uint64 {
	if b := d.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// U64AsU32 reads a u64 that must fit 32 bits: a serde usize on a 32-bit target.
func (d *Decoder) U64AsU32() uint32 {
	v := d.U64()
	if v > math.MaxUint32 {
		d.Invalid(v)
		return 0
	}
	return uint32(v)
}

// I64AsI32 reads an i64 that must fit 32 bits: a serde isize on a 32-bit target.
func (d *Decoder) I64AsI32() int32 {
	v := int64(d.U64())
	if v > math.MaxInt32 || v < math.MinInt32 {
		d.Invalid(uint64(v))
		return 0
	}
	return int32(v)
}

// U128 reads a little-endian u128.
func (d *Decoder) U128() U128 {
	lo := d.U64()
	return U128{Lo: lo, Hi: d.U64()}
}

// I128 reads a little-endian i128.
func (d *Decoder) I128() I128 {
	lo := d.U64()
	return I128{Lo: lo, Hi: int64(d.U64())}
}

// F32 reads an IEEE 754 single.
func (d *Decoder) F32() float32 { return math.Float32frombits(d.U32()) }

// F64 reads an IEEE 754 double.
func (d *Decoder) F64() float64 { return math.Float64frombits(d.U64()) }

// BoolAny reads a Zerocopy bool: any non-zero byte is true.
func (d *Decoder) BoolAny() bool { return d.U8() != 0 }

// Bool reads a Hubpack/Ssmarshal bool: 0 or 1, anything else is an error.
func (d *Decoder) Bool() bool {
	v := d.U8()
	if v > 1 {
		if d.err == nil {
			d.err = &DecodeError{Off: d.n - 1, Reason: "invalid bool", Value: uint64(v)}
		}
		return false
	}
	return v == 1
}

// Tag reads a one-byte enum or Option tag that must be below n.
func (d *Decoder) Tag(n int) uint8 {
	v := d.U8()
	if int(v) >= n {
		if d.err == nil {
			d.err = &DecodeError{Off: d.n - 1, Reason: "invalid tag", Value: uint64(v)}
		}
		return 0
	}
	return v
}

// Raw fills p from the input.
func (d *Decoder) Raw(p []byte) {
	if b := d.take(len(p)); b != nil {
		copy(p, b)
	}
}

// U128 is a Rust u128 (Go has none).
type U128 struct{ Lo, Hi uint64 }

// I128 is a Rust i128, two's complement across Hi:Lo.
type I128 struct {
	Lo uint64
	Hi int64
}

// Option is a Rust Option<T>.
type Option[T any] struct {
	Some bool
	V    T
}

// Some returns an Option holding v.
func Some[T any](v T) Option[T] { return Option[T]{Some: true, V: v} }

// Result is a Rust Result<T, E> used as a value (not as an op's reply).
type Result[T, E any] struct {
	IsErr bool
	Ok    T
	Err   E
}

// Tuple2 is a Rust (A, B).
type Tuple2[A, B any] struct {
	V0 A
	V1 B
}

// Tuple3 is a Rust (A, B, C).
type Tuple3[A, B, C any] struct {
	V0 A
	V1 B
	V2 C
}

// Tuple4 is a Rust (A, B, C, D).
type Tuple4[A, B, C, D any] struct {
	V0 A
	V1 B
	V2 C
	V3 D
}
