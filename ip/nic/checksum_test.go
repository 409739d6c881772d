package nic

import "encoding/binary"

// checksum and fold are the tests' reference Internet checksum (RFC 1071,
// the plain 16-bit loop), kept apart from wire.Sum, which the code under
// test uses, so that the tests check it against an independent oracle.

// checksum adds b, as big-endian 16-bit words (a trailing odd byte padded
// with zero), to the one's complement accumulator sum.
func checksum(b []byte, sum uint64) uint64 {
	for len(b) >= 2 {
		sum += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	return sum
}

// fold reduces a one's complement accumulator to 16 bits.
func fold(sum uint64) uint16 {
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}
