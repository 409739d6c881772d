package frame

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestErrorCodeStrings(t *testing.T) {
	tests := []struct {
		c    ErrorCode
		want string
	}{
		{UnknownType, "Unknown_type"},
		{UnknownVersion, "Unknown_version"},
		{MessageTooLarge, "Message_too_large"},
		{APIDNotAllocated, "Apid_not_allocated"},
		{HostBusy, "Host_busy"},
		{Malformed, "Malformed"},
		{NotPermitted, "Not_permitted"},
		{NoRoute, "No_route"},
		{RateLimited, "Rate_limited"},
		{LinkFailed, "Link_failed"},
		{0, "ErrorCode(0x00)"},
		{0x0B, "ErrorCode(0x0b)"},
		{0xFF, "ErrorCode(0xff)"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("String(%d) = %q, want %q", uint8(tt.c), got, tt.want)
		}
		if got := tt.c.Error(); got != "frame: "+tt.want {
			t.Errorf("Error(%d) = %q", uint8(tt.c), got)
		}
		if known := tt.c >= 1 && tt.c <= 10; tt.c.Known() != known {
			t.Errorf("Known(%d) = %v", uint8(tt.c), tt.c.Known())
		}
	}
	// The values are the wire codes of spec section 2.
	for i, c := range []ErrorCode{UnknownType, UnknownVersion, MessageTooLarge, APIDNotAllocated, HostBusy, Malformed, NotPermitted, NoRoute, RateLimited, LinkFailed} {
		if uint8(c) != uint8(i+1) {
			t.Errorf("%v = %#x, want %#x", c, uint8(c), i+1)
		}
	}
}

func TestEncodeErrorGolden(t *testing.T) {
	tests := []struct {
		name     string
		code     ErrorCode
		rejected string
		want     string
	}{
		// The echo: the refused payload's first 16 bytes, zero past its
		// payload_length (5 here: "hello").
		{"host busy", HostBusy, "01 00 0010 0005 0020 | 68656C6C6F",
			"01 09 0000 0018 0010 | 05 00 0010 0005 0000 | 68656C6C6F 0000000000 000000000000"},
		// Carried values as is; destination = source APID masked to 11 bits;
		// a payload_length past 16 echoes 16 bytes.
		{"malformed bits", Malformed, "01 0A F810 0123 FFFF | 000102030405060708090A0B0C0D0E0F 1011",
			"01 09 0000 0018 0010 | 06 0A F810 0123 0000 | 000102030405060708090A0B0C0D0E0F"},
		{"too large", MessageTooLarge, "01 03 0123 FFFF 0456",
			"01 09 0000 0018 0123 | 03 03 0123 FFFF 0000"},
		// Bytes past payload_length (1: AA) are not echoed.
		{"unknown version", UnknownVersion, "7F 02 07FF 0001 0000 | AA BB CC",
			"01 09 0000 0018 07FF | 02 02 07FF 0001 0000 | AA"},
		{"no route", NoRoute, "01 01 0030 0000 0000 | 11",
			"01 09 0000 0018 0030 | 08 01 0030 0000 0000"},
		{"rate limited", RateLimited, "01 00 0010 0002 0020 | 4142",
			"01 09 0000 0018 0010 | 09 00 0010 0002 0000 | 4142"},
		{"link failed", LinkFailed, "01 00 0010 0001 0000 | 7A",
			"01 09 0000 0018 0010 | 0A 00 0010 0001 0000 | 7A"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := make([]byte, Size)
			copy(want, unhex(t, tt.want))
			rej := frameOf(t, tt.rejected)
			var out Frame
			for i := range out {
				out[i] = 0xEE
			}
			EncodeError(&out, tt.code, rej)
			if !bytes.Equal(out[:], want) {
				t.Errorf("EncodeError =\n% X\nwant\n% X", out[:HeaderSize+ErrorFrameLen+2], want[:HeaderSize+ErrorFrameLen+2])
			}
			if c := out.Check(); c != 0 {
				t.Errorf("ERROR frame invalid: %v", c)
			}
			// In place: the rejected frame is also the output.
			same := frameOf(t, tt.rejected)
			EncodeError(same, tt.code, same)
			if !bytes.Equal(same[:], want) {
				t.Errorf("EncodeError in place =\n% X\nwant\n% X", same[:HeaderSize+ErrorFrameLen+2], want[:HeaderSize+ErrorFrameLen+2])
			}
			p, err := ParseErrorPayload(out.Payload())
			if err != nil {
				t.Fatal(err)
			}
			wantP := ErrorPayload{Code: tt.code, OffendingType: byte(rej.Type()), OffendingAPID: uint16(rej.APID()), OffendingPayLen: rej.PayloadLen()}
			copy(wantP.Echo[:], want[HeaderSize+ErrorPayloadSize:])
			if p != wantP {
				t.Errorf("ParseErrorPayload = %+v, want %+v", p, wantP)
			}
		})
	}
}

func TestErrorPayload(t *testing.T) {
	p := ErrorPayload{Code: NotPermitted, OffendingType: 0xFE, OffendingAPID: 0xBEEF, OffendingPayLen: 0x1234,
		Echo: [16]byte{0: 0xA1, 15: 0xB2}}
	b := bytes.Repeat([]byte{0xEE}, 26)
	p.Put(b)
	want := unhex(t, "07 FE BEEF 1234 0000 A10000000000000000000000000000B2 EE EE")
	if !bytes.Equal(b, want) {
		t.Errorf("Put = % X, want % X", b, want)
	}
	got, err := ParseErrorPayload(want[:ErrorFrameLen])
	if err != nil || got != p {
		t.Errorf("ParseErrorPayload = %+v, %v; want %+v", got, err, p)
	}
	// The 8-byte form of space-wire: no echo.
	got, err = ParseErrorPayload(unhex(t, "07 FE BEEF 1234 0000"))
	if p8 := (ErrorPayload{Code: NotPermitted, OffendingType: 0xFE, OffendingAPID: 0xBEEF, OffendingPayLen: 0x1234}); err != nil || got != p8 {
		t.Errorf("ParseErrorPayload(8 bytes) = %+v, %v; want %+v", got, err, p8)
	}
	// Unknown code as is; the reserved field is ignored.
	got, err = ParseErrorPayload(unhex(t, "42 00 0000 0000 FFFF"))
	if err != nil || got.Code != 0x42 {
		t.Errorf("unknown code: %+v, %v", got, err)
	}
	for n := range ErrorPayloadSize {
		_, err := ParseErrorPayload(make([]byte, n))
		if err == nil || !strings.Contains(err.Error(), "want 8") {
			t.Errorf("ParseErrorPayload(%d bytes) = %v", n, err)
		}
	}
	if errors.Is(err, Malformed) {
		t.Errorf("a short ERROR payload is not a frame error code")
	}
}
