package dtn

import (
	"bytes"
	"encoding/hex"
	"testing"

	"spacenet/apid/frame"
)

// TestBundleBytes: the exact CBOR of a bundle as Append writes it (RFC
// 9171: an indefinite array of a primary block without CRC and a payload
// block), and Decode of it gives the fields back.
func TestBundleBytes(t *testing.T) {
	b := Bundle{Flags: FlagReportDelivery, Destination: "dtn://b/s", Source: "dtn://a/s", ReportTo: "dtn:none",
		Created: 1000, Seq: 2, Lifetime: 60000, Payload: []byte("hi")}
	got, err := b.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "9f" + // indefinite array
		"88" + "07" + "1a00020000" + "00" + // primary: 8 fields, version 7, flags 0x020000, CRC none
		"8201652f2f622f73" + "8201652f2f612f73" + "820100" + // dtn://b/s, dtn://a/s, dtn:none: [1, "//b/s"]...
		"821903e802" + "19ea60" + // [1000, 2], lifetime 60000
		"85" + "01010000" + "426869" + // payload block: type 1, number 1, flags 0, CRC none, h'6869'
		"ff"
	if hex.EncodeToString(got) != want {
		t.Fatalf("got  %x\nwant %s", got, want)
	}
	d, n, err := Decode(got)
	if err != nil || n != len(got) {
		t.Fatalf("Decode: %v, %d of %d bytes", err, n, len(got))
	}
	d.Payload = append([]byte(nil), d.Payload...)
	if d.Flags != b.Flags || d.Destination != b.Destination || d.Source != b.Source || d.ReportTo != b.ReportTo ||
		d.Created != 1000 || d.Seq != 2 || d.Lifetime != 60000 || !bytes.Equal(d.Payload, b.Payload) {
		t.Fatalf("Decode: %+v", d)
	}
	for i := range got[:len(got)-1] {
		if _, _, err := Decode(got[:i]); !IsShort(err) {
			t.Fatalf("Decode of the first %d bytes: %v, want short", i, err)
		}
	}
}

// TestDecodeExtras: blocks other than the payload are skipped, CRCs and
// fragment fields read past, ipn endpoint IDs read.
func TestDecodeExtras(t *testing.T) {
	in := "9f" +
		"8b" + "07" + "01" + "01" + // 11 fields: fragment, CRC-16
		"820282020a" + "820282010a" + "820100" + // ipn:2.10, ipn:1.10, dtn:none
		"8200" + "01" + "1864" + // [0, 1], lifetime 100
		"05" + "190100" + // fragment offset 5, total length 256
		"42abcd" + // CRC
		"86" + "07" + "02" + "00" + "01" + "4100" + "42abcd" + // previous node block with CRC
		"85" + "01010000" + "43616263" +
		"ff"
	raw, _ := hex.DecodeString(in)
	b, n, err := Decode(raw)
	if err != nil || n != len(raw) {
		t.Fatalf("%v (%d of %d)", err, n, len(raw))
	}
	if b.Destination != "ipn:2.10" || b.Source != "ipn:1.10" || b.Lifetime != 100 || string(b.Payload) != "abc" || b.Seq != 1 {
		t.Fatalf("%+v", b)
	}
}

func TestDecodeRefuses(t *testing.T) {
	for name, in := range map[string]string{
		"definite outer array": "82",
		"version 6":            "9f8806",
		"no payload block":     "9f88070000820100820100820100820000" + "00" + "ff",
		"two payload blocks":   "9f88070000820100820100820100820000" + "00" + "85010100004100" + "85010100004100" + "ff",
		"block of 4":           "9f88070000820100820100820100820000" + "00" + "840101000041" + "ff",
		"scheme 3":             "9f8807000082030082",
	} {
		raw, _ := hex.DecodeString(in)
		if _, _, err := Decode(raw); err == nil || IsShort(err) {
			t.Errorf("%s: %v, want malformed", name, err)
		}
	}
}

// TestStatusReport decodes the delivery report dtnd (v0.9.1) sends: the
// bytes of bpv7.AdministrativeRecordToCbor(NewStatusReport(...)), written
// out by hand from its MarshalCbor methods.
func TestStatusReport(t *testing.T) {
	in := "82" + "01" + // [1, report]
		"84" + "84" + "81f4" + "81f4" + "82f51a000f4240" + "81f4" + // received no, forwarded no, delivered [true, t], deleted no
		"00" + "82016c2f2f612f73706163656e6574" + "821b000000c5ca7f1e4800" // reason, dtn://a/spacenet, [time, 0]
	raw, err := hex.DecodeString(in)
	if err != nil {
		t.Fatal(err)
	}
	r, err := DecodeStatusReport(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Delivered || r.Received || r.Deleted || r.Bundle.Source != "dtn://a/spacenet" || r.Bundle.Created != 0xc5ca7f1e48 {
		t.Fatalf("%+v", r)
	}
}

func TestBatch(t *testing.T) {
	var fs [3]frame.Frame
	for i := range fs {
		if err := frame.Encode(&fs[i], frame.TM, 0x010, 0x020, bytes.Repeat([]byte{byte(i + 1)}, i*100)); err != nil {
			t.Fatal(err)
		}
	}
	b := AppendBatch(nil, 0x0102030405060708, 9)
	for i := range fs {
		b = AppendFrame(b, &fs[i])
	}
	if len(b) != batchHeader+3*8+0+100+200 {
		t.Fatalf("batch of %d bytes", len(b))
	}
	if hex.EncodeToString(b[:20]) != "01000003"+"0102030405060708"+"0000000000000009" {
		t.Fatalf("header %x", b[:20])
	}
	var got []frame.Frame
	bt, err := DecodeBatch(b, func(f *frame.Frame) { got = append(got, *f) })
	if err != nil || bt != (Batch{Count: 3, Stream: 0x0102030405060708, Position: 9}) || len(got) != 3 {
		t.Fatalf("%+v %v %d", bt, err, len(got))
	}
	for i := range fs {
		if got[i] != fs[i] {
			t.Errorf("frame %d differs", i)
		}
	}
	for i := range len(b) - 1 {
		if _, err := DecodeBatch(b[:i], func(*frame.Frame) { t.Fatal("delivered from a cut batch") }); err == nil {
			t.Fatalf("batch cut at %d accepted", i)
		}
	}
	long := append([]byte(nil), b...)
	long[batchHeader+5] = 249 // payload_length beyond 248
	if _, err := DecodeBatch(long, nil); err == nil {
		t.Fatal("payload_length 249 accepted")
	}
}

func TestValidEID(t *testing.T) {
	for s, ok := range map[string]bool{
		"dtn://a/spacenet": true, "dtn://a/": true, "dtn:none": true, "ipn:1.2": true,
		"dtn://a": false, "dtn:///x": false, "dtn://a b/x": false, "ipn:1": false, "http://a/": false, "": false,
	} {
		if err := ValidEID(s); (err == nil) != ok {
			t.Errorf("%q: %v", s, err)
		}
	}
}

func TestAgentMessages(t *testing.T) {
	raw, _ := hex.DecodeString("8200" + "60" + "8200" + "6378797a")
	m, n, err := DecodeMessage(raw)
	if err != nil || m.Kind != msgStatus || m.Status != "" || n != 3 {
		t.Fatalf("%+v %d %v", m, n, err)
	}
	m, _, err = DecodeMessage(raw[n:])
	if err != nil || m.Status != "xyz" {
		t.Fatalf("%+v %v", m, err)
	}
	if _, _, err := DecodeMessage([]byte{0x82, 0x09, 0x00}); err == nil || IsShort(err) {
		t.Fatalf("type 9: %v", err)
	}
}
