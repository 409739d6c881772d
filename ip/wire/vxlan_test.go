package wire

import (
	"encoding/hex"
	"errors"
	"testing"
)

// TestVXLANHeader: the exact header bytes (RFC 7348 5), and parsing them
// back; a header without the I flag or without a whole inner Ethernet
// header is refused with the field named.
func TestVXLANHeader(t *testing.T) {
	b := make([]byte, VXLANSize+EthernetSize)
	PutVXLAN(b, 0xABCDEF)
	if got := hex.EncodeToString(b[:VXLANSize]); got != "08000000abcdef00" {
		t.Fatalf("header %s", got)
	}
	vni, inner, err := ParseVXLAN(b)
	if err != nil || vni != 0xABCDEF || len(inner) != EthernetSize {
		t.Fatalf("%x %d %v", vni, len(inner), err)
	}
	b[7], b[1] = 0xFF, 0xFF // reserved bits are ignored
	if vni, _, err := ParseVXLAN(b); err != nil || vni != 0xABCDEF {
		t.Fatalf("reserved bits: %x %v", vni, err)
	}
	b[0] = 0
	var fe *FieldError
	if _, _, err := ParseVXLAN(b); !errors.As(err, &fe) || fe.Field != "flags" || !errors.Is(err, Invalid) {
		t.Fatalf("no I flag: %v", err)
	}
	PutVXLAN(b, 1)
	if _, _, err := ParseVXLAN(b[:VXLANSize+13]); !errors.As(err, &fe) || fe.Field != "inner_ethernet" || !errors.Is(err, Truncated) {
		t.Fatalf("short: %v", err)
	}
}

func FuzzParseVXLAN(f *testing.F) {
	b := make([]byte, VXLANSize+EthernetSize+4)
	PutVXLAN(b, 42)
	f.Add(b)
	f.Add([]byte{8, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		vni, inner, err := ParseVXLAN(in)
		if err != nil {
			return
		}
		if vni > MaxVNI || len(inner) != len(in)-VXLANSize || len(inner) < EthernetSize || in[0]&VXLANFlagI == 0 {
			t.Fatalf("accepted vni %d, inner %d of %d bytes", vni, len(inner), len(in))
		}
	})
}
