package frame

import (
	"bytes"
	"testing"
)

// FuzzDecode: any 256 bytes (the input padded with zeros or trimmed) never
// make Check, Payload, ZeroPadding or EncodeError panic; a frame Check
// accepts re-encodes from its Header and Payload to the same bytes after
// ZeroPadding; the ERROR answer to any frame is itself valid.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"01 00 0010 0005 0020 | 68656C6C6F",
		"01 09 0000 0008 0010 | 05 00 0010 0005 0000",
		"01 04 07FF 00F8 0001",
		"02 0A F810 0123 FFFF",
		"01 00 0010 00F9 0020",
		"01 00 0810 0005 0020",
	} {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var fr Frame
		copy(fr[:], in)
		h := fr.Header()
		c := fr.Check()
		if c != h.Check() {
			t.Fatalf("Frame.Check %v, Header.Check %v", c, h.Check())
		}
		if err := fr.Validate(); (err == nil) != (c == 0) {
			t.Fatalf("Validate %v, Check %v", err, c)
		}
		p := fr.Payload()
		var answer Frame
		EncodeError(&answer, Malformed, &fr)
		if ac := answer.Check(); ac != 0 {
			t.Fatalf("ERROR answer invalid: %v", ac)
		}
		if c != 0 {
			if c != UnknownVersion && c != UnknownType && c != MessageTooLarge && c != Malformed {
				t.Fatalf("decode returned %v", c)
			}
			return
		}
		if len(p) != int(h.PayloadLen) {
			t.Fatalf("Payload %d bytes, payload_length %d", len(p), h.PayloadLen)
		}
		var re Frame
		if err := Encode(&re, h.Type, h.APID, h.Dest, p); err != nil {
			t.Fatalf("re-Encode: %v", err)
		}
		fr.ZeroPadding()
		if re != fr {
			t.Fatalf("re-Encode\n% X\nwant\n% X", re[:], fr[:])
		}
	})
}

// FuzzParseDPPayload: never panics; an accepted payload re-encodes with Put
// to the same 80 bytes.
func FuzzParseDPPayload(f *testing.F) {
	f.Add(unhex(f, dpGolden))
	f.Add(make([]byte, DPPayloadSize))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := ParseDPPayload(in)
		if err != nil {
			return
		}
		out := make([]byte, DPPayloadSize)
		if err := p.Put(out); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, in[:DPPayloadSize]) {
			t.Fatalf("Put\n% X\nwant\n% X", out, in[:DPPayloadSize])
		}
	})
}
