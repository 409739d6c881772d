package dtn

import (
	"encoding/hex"
	"testing"

	"spacenet/apid/frame"
)

func seedBundle(f *testing.F) []byte {
	b := Bundle{Destination: "dtn://b/s", Source: "dtn://a/s", ReportTo: "dtn://a/s", Created: 7, Lifetime: 9,
		Payload: AppendFrame(AppendBatch(nil, 1, 0), new(frame.Frame))}
	raw, err := b.Append(nil)
	if err != nil {
		f.Fatal(err)
	}
	return raw
}

// FuzzDecodeMessage: whatever dtnd (or whoever holds its port) sends, the
// message decoder never panics, never reads past the input, and a bundle
// it accepts encodes back to bytes it decodes to the same fields.
func FuzzDecodeMessage(f *testing.F) {
	f.Add(append([]byte{0x82, 0x02}, seedBundle(f)...))
	f.Add([]byte{0x82, 0x00, 0x60})
	f.Add([]byte{0x82, 0x04, 0x82, 0x61, 0x78, 0x40})
	f.Fuzz(func(t *testing.T, in []byte) {
		m, n, err := DecodeMessage(in)
		if err != nil {
			return
		}
		if n <= 0 || n > len(in) {
			t.Fatalf("took %d of %d bytes", n, len(in))
		}
		if m.Kind != msgBundle {
			return
		}
		b := m.Bundle
		if ValidEID(b.Destination) != nil || ValidEID(b.Source) != nil || ValidEID(b.ReportTo) != nil {
			return // read, but not one Append writes (an odd dtn:// form)
		}
		raw, err := b.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		c, _, err := Decode(raw)
		if err != nil || c.Flags != b.Flags || c.Destination != b.Destination || c.Source != b.Source ||
			c.Created != b.Created || c.Seq != b.Seq || c.Lifetime != b.Lifetime || string(c.Payload) != string(b.Payload) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, b, c)
		}
	})
}

// FuzzDecodeBatch: a payload is delivered whole or not at all; every frame
// delivered passes no more than 248 payload bytes and has zero padding.
func FuzzDecodeBatch(f *testing.F) {
	var fr frame.Frame
	_ = frame.Encode(&fr, frame.TM, 0x010, 0x020, []byte("hello"))
	f.Add(AppendFrame(AppendFrame(AppendBatch(nil, 1, 2), &fr), &fr))
	f.Fuzz(func(t *testing.T, in []byte) {
		n := 0
		bt, err := DecodeBatch(in, func(f *frame.Frame) {
			n++
			if int(f.PayloadLen()) > frame.MaxPayload {
				t.Fatalf("payload_length %d", f.PayloadLen())
			}
			for _, c := range f[frame.HeaderSize+int(f.PayloadLen()):] {
				if c != 0 {
					t.Fatal("padding not zero")
				}
			}
		})
		if (err == nil && n != bt.Count) || (err != nil && n != 0) {
			t.Fatalf("err %v, %d frames delivered of %d", err, n, bt.Count)
		}
	})
}

// FuzzDecodeStatusReport never panics on any administrative record.
func FuzzDecodeStatusReport(f *testing.F) {
	raw, _ := hex.DecodeString("8201848481f481f482f51a000f424081f40082016c2f2f612f73706163656e6574821b000000c5ca7f1e4800")
	f.Add(raw)
	f.Fuzz(func(t *testing.T, in []byte) {
		_, _ = DecodeStatusReport(in)
	})
}
