package frame

import (
	"encoding/hex"
	"strings"
	"testing"
)

// unhex decodes a hex literal written by hand, ignoring spaces and '|'.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	s = strings.NewReplacer(" ", "", "|", "", "\n", "", "\t", "").Replace(s)
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex literal %q: %v", s, err)
	}
	return b
}

// frameOf builds a Frame from a hand-written hex prefix; the rest is zero.
func frameOf(t testing.TB, s string) *Frame {
	t.Helper()
	f := new(Frame)
	b := unhex(t, s)
	if len(b) > Size {
		t.Fatalf("hex literal of %d bytes", len(b))
	}
	copy(f[:], b)
	return f
}
