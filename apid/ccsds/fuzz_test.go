package ccsds

import (
	"bytes"
	"errors"
	"testing"

	"spacenet/apid/frame"
)

func addSeeds(f *testing.F) {
	for _, g := range goldenWraps {
		f.Add(unhex(f, g.hex))
	}
	f.Add([]byte{})
	f.Add(unhex(f, "07FF C000 0000 | 00"))
	f.Add(unhex(f, "0010 C005 000C | 01 00 0010 0006 0020 | 68656C6C6F"))
}

// FuzzUnwrap: Unwrap never panics; a packet it accepts re-wraps to exactly
// the same bytes, and the frame it produced is valid with zero padding.
func FuzzUnwrap(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		var fr frame.Frame
		h, err := Unwrap(&fr, pkt)
		if err != nil {
			if errors.Is(err, ErrIdle) && h.APID != frame.APIDIdle {
				t.Fatalf("ErrIdle for APID %v", h.APID)
			}
			return
		}
		if c := fr.Check(); c != 0 {
			t.Fatalf("accepted packet gave invalid frame: %v", c)
		}
		padded := fr
		padded.ZeroPadding()
		if padded != fr {
			t.Fatal("Unwrap left non-zero padding")
		}
		buf := make([]byte, MaxPacketSize)
		n, err := Wrap(buf, &fr, h.SeqCount)
		if err != nil {
			t.Fatalf("re-Wrap: %v", err)
		}
		if !bytes.Equal(buf[:n], pkt) {
			t.Fatalf("re-Wrap % X, want % X", buf[:n], pkt)
		}
	})
}

// FuzzParseHeader: ParseHeader never panics, and any header it decodes
// re-encodes with Put to the same six octets.
func FuzzParseHeader(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			if len(b) >= HeaderSize {
				t.Fatalf("refused %d octets: %v", len(b), err)
			}
			return
		}
		out := make([]byte, HeaderSize)
		if err := h.Put(out); err != nil {
			t.Fatalf("Put(%+v): %v", h, err)
		}
		if !bytes.Equal(out, b[:HeaderSize]) {
			t.Fatalf("Put % X, want % X", out, b[:HeaderSize])
		}
	})
}
