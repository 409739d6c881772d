package ccsds

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"spacenet/apid/frame"
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

func TestHeaderGolden(t *testing.T) {
	tests := []struct {
		name string
		h    Header
		hex  string
	}{
		{"zero", Header{}, "0000 0000 0000"},
		// 101 1 1 10110100101 | 01 01001000110100 | 0xBEEF
		{"every field", Header{Version: 5, Type: TC, SecondaryHeader: true, APID: 0x5A5, SeqFlags: First, SeqCount: 0x1234, DataLen: 0xBEEF}, "BDA5 5234 BEEF"},
		{"all ones", Header{Version: 7, Type: TC, SecondaryHeader: true, APID: 0x7FF, SeqFlags: Unsegmented, SeqCount: 0x3FFF, DataLen: 0xFFFF}, "FFFF FFFF FFFF"},
		{"version only", Header{Version: 1}, "2000 0000 0000"},
		{"type only", Header{Type: TC}, "1000 0000 0000"},
		{"secondary only", Header{SecondaryHeader: true}, "0800 0000 0000"},
		{"apid only", Header{APID: 0x401}, "0401 0000 0000"},
		{"flags continuation", Header{SeqFlags: Continuation, SeqCount: 1}, "0000 0001 0000"},
		{"flags last", Header{SeqFlags: Last}, "0000 8000 0000"},
		{"flags unsegmented", Header{SeqFlags: Unsegmented, SeqCount: 0x2001}, "0000 E001 0000"},
		{"datalen", Header{DataLen: 0x0102}, "0000 0000 0102"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := unhex(t, tt.hex)
			got := make([]byte, HeaderSize+2) // longer than needed: Put writes 6
			got[6], got[7] = 0xAA, 0xBB
			if err := tt.h.Put(got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[:6], want) || got[6] != 0xAA || got[7] != 0xBB {
				t.Errorf("Put = % X, want % X then AA BB", got, want)
			}
			h, err := ParseHeader(want)
			if err != nil {
				t.Fatal(err)
			}
			if h != tt.h {
				t.Errorf("ParseHeader = %+v, want %+v", h, tt.h)
			}
		})
	}
}

func TestHeaderPutErrors(t *testing.T) {
	tests := []struct {
		name string
		h    Header
		buf  int
		want string // in the message
		is   error
	}{
		{"short buffer", Header{}, 5, "buffer of 5 octets, want 6", ErrBuffer},
		{"version", Header{Version: 8}, 6, "version 8", ErrField},
		{"type", Header{Type: 2}, 6, "packet type 2", ErrField},
		{"apid", Header{APID: 0x800}, 6, "APID 0x800", ErrField},
		{"flags", Header{SeqFlags: 4}, 6, "sequence flags 4", ErrField},
		{"count", Header{SeqCount: 0x4000}, 6, "sequence count 16384", ErrField},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := bytes.Repeat([]byte{0xEE}, tt.buf)
			err := tt.h.Put(b)
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Put = %v, want %v containing %q", err, tt.is, tt.want)
			}
			if !bytes.Equal(b, bytes.Repeat([]byte{0xEE}, tt.buf)) {
				t.Errorf("Put wrote % X on error", b)
			}
		})
	}
}

func TestParseHeaderShort(t *testing.T) {
	for n := range HeaderSize {
		if _, err := ParseHeader(make([]byte, n)); !errors.Is(err, ErrShort) {
			t.Errorf("ParseHeader(%d octets) = %v, want ErrShort", n, err)
		}
	}
}

func TestStrings(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{TM.String(), "TM"}, {TC.String(), "TC"}, {PacketType(2).String(), "PacketType(2)"},
		{Continuation.String(), "Continuation"}, {First.String(), "First"}, {Last.String(), "Last"},
		{Unsegmented.String(), "Unsegmented"}, {SeqFlags(4).String(), "SeqFlags(4)"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestCounter(t *testing.T) {
	var c Counter
	for i := range 5 {
		if got := c.Next(0x010); got != uint16(i) {
			t.Fatalf("Next #%d = %d, want %d", i, got, i)
		}
	}
	if got := c.Next(0x011); got != 0 {
		t.Errorf("another APID starts at %d, want 0", got)
	}
	for range SeqCountMask - 5 {
		c.Next(0x010)
	}
	if got := c.Peek(0x010); got != 16383 {
		t.Fatalf("Peek = %d, want 16383", got)
	}
	if got := c.Next(0x010); got != 16383 {
		t.Fatalf("Next = %d, want 16383", got)
	}
	if got := c.Next(0x010); got != 0 {
		t.Fatalf("Next after 16383 = %d, want 0 (wrap)", got)
	}
	if got := c.Next(0x011); got != 1 {
		t.Errorf("APID 0x011 = %d, want 1: counts are per APID", got)
	}
	// An APID with more than 11 bits uses its low 11 bits and never panics.
	if got := c.Next(0x810); got != 1 {
		t.Errorf("Next(0x810) = %d, want 1 (same as 0x010)", got)
	}
	if got := c.Next(frame.APIDIdle); got != 0 {
		t.Errorf("Next(0x7FF) = %d, want 0", got)
	}
}
