package wire

import (
	"encoding/hex"
	"net/netip"
	"testing"
)

var (
	macA = MAC{2, 0, 0, 0, 0, 1}
	macB = MAC{2, 0, 0, 0, 0, 2}
	s4   = netip.MustParseAddr("192.0.2.1")
	d4   = netip.MustParseAddr("192.0.2.2")
	s6   = netip.MustParseAddr("fd00::1")
	d6   = netip.MustParseAddr("fd00::2")
)

// frameOf returns a fresh copy of golden frame name.
func frameOf(t testing.TB, name string) []byte {
	t.Helper()
	h, ok := golden[name]
	if !ok {
		t.Fatalf("no golden frame %q", name)
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		t.Fatalf("golden %q: %v", name, err)
	}
	return b
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func sameBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if string(got) != string(want) {
		t.Errorf("%s:\n got %x\nwant %x", what, got, want)
	}
}
