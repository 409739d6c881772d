package stack

import (
	"encoding/hex"

	"spacenet/internal/checkstream"
)

// The test application is package tcptest's StreamApp: it sends size
// bytes of the checkstream stream and hashes what it receives.

// streamSum returns the sha256 of the first size bytes of the stream.
func streamSum(size int64) string {
	s := checkstream.Sum(size)
	return hex.EncodeToString(s[:])
}
