package dtn

import (
	"errors"
	"math"
)

// The little CBOR (RFC 8949) this package needs: definite and indefinite
// arrays, unsigned integers, byte and text strings, booleans; anything else
// is skipped whole or refused. Decoding works on a byte slice and never
// allocates; every length is checked against what is left, so a hostile
// input cannot make it read past the end or ask for a huge buffer.

// CBOR major types.
const (
	majorUint  = 0
	majorNeg   = 1
	majorBytes = 2
	majorText  = 3
	majorArray = 4
	majorMap   = 5
	majorTag   = 6
	majorOther = 7
)

// indefinite is the additional-information value of an indefinite length;
// breakCode ends an indefinite item.
const (
	indefinite = 31
	breakCode  = 0xFF
)

// errShort means the input ends inside an item: more bytes may complete it.
var errShort = errors.New("dtn: cbor: input ends inside an item")

// errCBOR is any other malformation.
var errCBOR = errors.New("dtn: cbor: malformed")

// maxDepth bounds the nesting skip follows.
const maxDepth = 16

// decoder reads CBOR items from b, from off.
type decoder struct {
	b   []byte
	off int
}

// head reads an item's initial byte and argument. For an indefinite length
// it returns arg 0 and indef true.
func (d *decoder) head() (major byte, arg uint64, indef bool, err error) {
	if d.off >= len(d.b) {
		return 0, 0, false, errShort
	}
	ib := d.b[d.off]
	major, info := ib>>5, ib&0x1F
	d.off++
	switch {
	case info < 24:
		return major, uint64(info), false, nil
	case info == indefinite:
		if major == majorUint || major == majorNeg || major == majorTag {
			return 0, 0, false, errCBOR
		}
		return major, 0, true, nil
	case info > 27:
		return 0, 0, false, errCBOR
	}
	n := 1 << (info - 24) // 1, 2, 4 or 8 bytes
	if len(d.b)-d.off < n {
		return 0, 0, false, errShort
	}
	for _, c := range d.b[d.off : d.off+n] {
		arg = arg<<8 | uint64(c)
	}
	d.off += n
	return major, arg, false, nil
}

// uint reads an unsigned integer.
func (d *decoder) uint() (uint64, error) {
	m, v, indef, err := d.head()
	if err != nil {
		return 0, err
	}
	if m != majorUint || indef {
		return 0, errCBOR
	}
	return v, nil
}

// arrayLen reads a definite array's length.
func (d *decoder) arrayLen() (int, error) {
	m, v, indef, err := d.head()
	if err != nil {
		return 0, err
	}
	if m != majorArray || indef || v > math.MaxInt32 {
		return 0, errCBOR
	}
	return int(v), nil
}

// str reads a definite byte string (major majorBytes) or text string
// (majorText) and returns it as a slice of d.b.
func (d *decoder) str(major byte) ([]byte, error) {
	m, v, indef, err := d.head()
	if err != nil {
		return nil, err
	}
	if m != major || indef {
		return nil, errCBOR
	}
	if uint64(len(d.b)-d.off) < v {
		return nil, errShort
	}
	s := d.b[d.off : d.off+int(v)]
	d.off += int(v)
	return s, nil
}

// bool reads true or false.
func (d *decoder) bool() (bool, error) {
	if d.off >= len(d.b) {
		return false, errShort
	}
	switch d.b[d.off] {
	case 0xF4:
		d.off++
		return false, nil
	case 0xF5:
		d.off++
		return true, nil
	}
	return false, errCBOR
}

// atBreak reports whether the next byte is the break code, and takes it.
func (d *decoder) atBreak() (bool, error) {
	if d.off >= len(d.b) {
		return false, errShort
	}
	if d.b[d.off] == breakCode {
		d.off++
		return true, nil
	}
	return false, nil
}

// skip steps over one whole item of any kind.
func (d *decoder) skip(depth int) error {
	if depth > maxDepth {
		return errCBOR
	}
	m, v, indef, err := d.head()
	if err != nil {
		return err
	}
	switch m {
	case majorUint, majorNeg:
		return nil
	case majorBytes, majorText:
		if indef { // chunks of the same major, then break
			for {
				if brk, err := d.atBreak(); err != nil || brk {
					return err
				}
				if _, err := d.str(m); err != nil {
					return err
				}
			}
		}
		if uint64(len(d.b)-d.off) < v {
			return errShort
		}
		d.off += int(v)
		return nil
	case majorArray, majorMap:
		per := 1
		if m == majorMap {
			per = 2
		}
		if indef {
			for {
				if brk, err := d.atBreak(); err != nil || brk {
					return err
				}
				for range per {
					if err := d.skip(depth + 1); err != nil {
						return err
					}
				}
			}
		}
		// Each element takes at least one byte: a count beyond what is
		// left cannot be right (and must not loop for long).
		if v > uint64(len(d.b)-d.off) {
			return errShort
		}
		for range int(v) * per {
			if err := d.skip(depth + 1); err != nil {
				return err
			}
		}
		return nil
	case majorTag:
		return d.skip(depth + 1)
	default: // simple values and floats: the argument was the whole item
		if indef {
			return errCBOR // a stray break
		}
		return nil
	}
}

// appendHead appends an item's initial byte and argument, shortest form.
func appendHead(b []byte, major byte, v uint64) []byte {
	m := major << 5
	switch {
	case v < 24:
		return append(b, m|byte(v))
	case v <= math.MaxUint8:
		return append(b, m|24, byte(v))
	case v <= math.MaxUint16:
		return append(b, m|25, byte(v>>8), byte(v))
	case v <= math.MaxUint32:
		return append(b, m|26, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	return append(b, m|27, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func appendUint(b []byte, v uint64) []byte { return appendHead(b, majorUint, v) }

func appendText(b []byte, s string) []byte {
	return append(appendHead(b, majorText, uint64(len(s))), s...)
}

func appendBytes(b []byte, s []byte) []byte {
	return append(appendHead(b, majorBytes, uint64(len(s))), s...)
}
