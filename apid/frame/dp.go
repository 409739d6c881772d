package frame

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Sizes of the DP payload and its name field.
const (
	DPPayloadSize = 80 // the DP payload (spec section 3)
	DPNameSize    = 64 // the NUL-padded name field
	dpCRCOffset   = 76 // where the crc32 sits, and how many bytes it covers
)

// DPPayload is the 80-byte payload of a DP (data product notification)
// frame, spec section 3:
//
//	block_offset u32 @0, block_count u32 @4, dp_class u16 @8, priority u8 @10,
//	name_len u8 @11, name [64] NUL-padded @12, crc32 u32 @76.
//
// It is named DPPayload, not DP, because DP is already the frame Type.
//
// [decision] The spec does not say what the crc32 covers. Following
// space-wire, which puts a CRC over the preceding bytes at the end of its
// structures, it is CRC-32 (IEEE, as hash/crc32.ChecksumIEEE) over bytes
// 0..75, everything before it. Put computes it; ParseDPPayload verifies it
// and returns a *DPCRCError carrying both values when it disagrees.
//
// [decision] The name is NUL-padded: the bytes after name_len must be zero.
// Put writes them as zeros; ParseDPPayload refuses non-zero padding
// (ErrDPPadding), so that a parsed payload re-encodes to the same bytes.
type DPPayload struct {
	BlockOffset uint32
	BlockCount  uint32
	Class       uint16
	Priority    uint8
	NameLen     uint8            // meaningful bytes of Name, at most DPNameSize
	Name        [DPNameSize]byte // the name; bytes after NameLen are ignored by Put
	CRC32       uint32           // as carried; Put ignores it and writes the computed CRC
}

// Errors of the DP payload, wrapped with the offending values.
var (
	ErrDPShort    = errors.New("frame: DP payload too short")
	ErrDPNameLen  = errors.New("frame: DP name_len exceeds 64")
	ErrDPPadding  = errors.New("frame: DP name padding is not NUL")
	ErrDPCRC      = errors.New("frame: DP crc32 mismatch")
	errDPNameLong = fmt.Errorf("frame: DP name longer than %d bytes: %w", DPNameSize, ErrDPNameLen)
)

// DPCRCError reports a DP payload whose carried crc32 differs from the one
// computed over bytes 0..75. errors.Is(err, ErrDPCRC) matches it.
type DPCRCError struct {
	Carried, Computed uint32
}

// Error implements error.
func (e *DPCRCError) Error() string {
	return fmt.Sprintf("frame: DP crc32 carried %#08x, computed %#08x", e.Carried, e.Computed)
}

// Is makes errors.Is(err, ErrDPCRC) true.
func (e *DPCRCError) Is(target error) bool { return target == ErrDPCRC }

// NameString returns the name as a string (it allocates; the parse path
// does not).
func (p *DPPayload) NameString() string {
	n := min(int(p.NameLen), DPNameSize)
	return string(p.Name[:n])
}

// NameBytes returns the meaningful name bytes, a view of p.Name.
func (p *DPPayload) NameBytes() []byte {
	n := min(int(p.NameLen), DPNameSize)
	return p.Name[:n]
}

// SetName sets Name and NameLen from s; it fails if s is longer than
// DPNameSize bytes, leaving p unchanged.
func (p *DPPayload) SetName(s string) error {
	if len(s) > DPNameSize {
		return errDPNameLong
	}
	p.Name = [DPNameSize]byte{}
	p.NameLen = uint8(copy(p.Name[:], s))
	return nil
}

// Put writes p into b[:DPPayloadSize] with the name NUL-padded and the
// crc32 computed over bytes 0..75 (p.CRC32 is ignored). It fails, leaving b
// unchanged, if b is too short or NameLen exceeds DPNameSize. It never
// allocates on success.
func (p *DPPayload) Put(b []byte) error {
	if len(b) < DPPayloadSize {
		return fmt.Errorf("frame: DP buffer of %d bytes, want %d: %w", len(b), DPPayloadSize, ErrDPShort)
	}
	if p.NameLen > DPNameSize {
		return fmt.Errorf("frame: DP name_len %d: %w", p.NameLen, ErrDPNameLen)
	}
	b = b[:DPPayloadSize]
	binary.BigEndian.PutUint32(b[0:], p.BlockOffset)
	binary.BigEndian.PutUint32(b[4:], p.BlockCount)
	binary.BigEndian.PutUint16(b[8:], p.Class)
	b[10] = p.Priority
	b[11] = p.NameLen
	n := copy(b[12:12+DPNameSize], p.Name[:p.NameLen])
	clear(b[12+n : 12+DPNameSize])
	binary.BigEndian.PutUint32(b[dpCRCOffset:], crc32.ChecksumIEEE(b[:dpCRCOffset]))
	return nil
}

// ParseDPPayload decodes a DP payload from b[:DPPayloadSize]. It checks, in
// order: the length (ErrDPShort), name_len <= 64 (ErrDPNameLen), NUL
// padding after the name (ErrDPPadding) and the crc32 (*DPCRCError, which
// matches ErrDPCRC). It never allocates on success.
func ParseDPPayload(b []byte) (DPPayload, error) {
	var p DPPayload
	if len(b) < DPPayloadSize {
		return p, fmt.Errorf("frame: DP payload of %d bytes, want %d: %w", len(b), DPPayloadSize, ErrDPShort)
	}
	b = b[:DPPayloadSize]
	p.BlockOffset = binary.BigEndian.Uint32(b[0:])
	p.BlockCount = binary.BigEndian.Uint32(b[4:])
	p.Class = binary.BigEndian.Uint16(b[8:])
	p.Priority = b[10]
	p.NameLen = b[11]
	p.CRC32 = binary.BigEndian.Uint32(b[dpCRCOffset:])
	if p.NameLen > DPNameSize {
		return p, fmt.Errorf("frame: DP name_len %d: %w", p.NameLen, ErrDPNameLen)
	}
	copy(p.Name[:], b[12:12+DPNameSize])
	for i := int(p.NameLen); i < DPNameSize; i++ {
		if p.Name[i] != 0 {
			return p, fmt.Errorf("frame: DP name_len %d, byte %d of the name is %#02x: %w", p.NameLen, i, p.Name[i], ErrDPPadding)
		}
	}
	if c := crc32.ChecksumIEEE(b[:dpCRCOffset]); c != p.CRC32 {
		return p, &DPCRCError{Carried: p.CRC32, Computed: c}
	}
	return p, nil
}
