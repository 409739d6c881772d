package wire

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// Sum returns the 16-bit ones'-complement sum (RFC 1071) of b added to
// initial, not complemented. An odd final byte is padded with zero. It reads
// eight bytes at a time. Chain calls to sum discontiguous parts; every part
// but the last must have even length.
func Sum(b []byte, initial uint16) uint16 {
	var acc uint64 = uint64(initial)
	var carry uint64
	for len(b) >= 32 {
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[8:]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[16:]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[24:]), carry)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b), carry)
		b = b[8:]
	}
	acc, carry = bits.Add64(acc, 0, carry)
	acc += carry
	if len(b) >= 4 {
		acc, carry = bits.Add64(acc, uint64(binary.BigEndian.Uint32(b)), 0)
		acc += carry
		b = b[4:]
	}
	if len(b) >= 2 {
		acc, carry = bits.Add64(acc, uint64(binary.BigEndian.Uint16(b)), 0)
		acc += carry
		b = b[2:]
	}
	if len(b) == 1 {
		acc, carry = bits.Add64(acc, uint64(b[0])<<8, 0)
		acc += carry
	}
	return fold64(acc)
}

// fold64 folds a 64-bit ones'-complement accumulator to 16 bits.
func fold64(a uint64) uint16 {
	s := (a >> 32) + (a & 0xffffffff)
	s = (s >> 32) + (s & 0xffffffff)
	t := uint32(s)
	t = (t >> 16) + (t & 0xffff)
	t = (t >> 16) + (t & 0xffff)
	return uint16(t)
}

// Combine adds two ones'-complement sums.
func Combine(a, b uint16) uint16 {
	s := uint32(a) + uint32(b)
	return uint16(s + s>>16)
}

// Checksum returns the Internet checksum of b: the complement of Sum(b, 0).
// A header whose checksum field holds the right value has Checksum 0.
func Checksum(b []byte) uint16 { return ^Sum(b, 0) }

// PseudoHeaderSum returns the ones'-complement sum of the IPv4 or IPv6
// pseudo-header (RFC 768, RFC 8200 section 8.1) for protocol proto and an
// upper-layer length of length bytes. src and dst must be of the same family.
func PseudoHeaderSum(proto uint8, src, dst netip.Addr, length int) uint16 {
	var acc uint64
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		acc = uint64(binary.BigEndian.Uint32(s[:])) + uint64(binary.BigEndian.Uint32(d[:]))
	} else {
		// Eight 32-bit words cannot overflow a 64-bit accumulator.
		s, d := src.As16(), dst.As16()
		acc = uint64(binary.BigEndian.Uint32(s[0:])) + uint64(binary.BigEndian.Uint32(s[4:])) +
			uint64(binary.BigEndian.Uint32(s[8:])) + uint64(binary.BigEndian.Uint32(s[12:])) +
			uint64(binary.BigEndian.Uint32(d[0:])) + uint64(binary.BigEndian.Uint32(d[4:])) +
			uint64(binary.BigEndian.Uint32(d[8:])) + uint64(binary.BigEndian.Uint32(d[12:]))
	}
	acc += uint64(proto) + uint64(uint32(length)>>16) + uint64(length&0xffff)
	return fold64(acc)
}

// pseudoSum is PseudoHeaderSum with the source and destination addresses
// as they sit next to each other in an IP header.
func pseudoSum(addrs []byte, proto uint8, length int) uint16 {
	return Sum(addrs, fold64(uint64(proto)+uint64(uint32(length)>>16)+uint64(length&0xffff)))
}

// UpdateChecksum returns the checksum field hc updated for one 16-bit word
// of the covered data changing from old to new, by RFC 1624 equation 3:
// HC' = ~(~HC + ~m + m').
func UpdateChecksum(hc, old, new uint16) uint16 {
	return ^Combine(Combine(^hc, ^old), new)
}

// UpdateChecksum32 is UpdateChecksum for a 32-bit word (an IPv4 address).
func UpdateChecksum32(hc uint16, old, new uint32) uint16 {
	hc = UpdateChecksum(hc, uint16(old>>16), uint16(new>>16))
	return UpdateChecksum(hc, uint16(old), uint16(new))
}

// UpdateChecksumBytes updates hc for the even-length data old changing to
// new in place (same length).
func UpdateChecksumBytes(hc uint16, old, new []byte) uint16 {
	s := Combine(^hc, ^Sum(old, 0))
	return ^Combine(s, Sum(new, 0))
}
