package frame

import "testing"

func TestParseAPID(t *testing.T) {
	for _, tt := range []struct {
		s    string
		want APID
	}{{"0x010", 0x010}, {"0X7FF", 0x7FF}, {"16", 16}, {"0o20", 16}, {"2047", 0x7FF}, {"0", 0}, {"0b11", 3}} {
		if got, err := ParseAPID(tt.s); err != nil || got != tt.want {
			t.Errorf("ParseAPID(%q) = %v, %v; want %v", tt.s, got, err, tt.want)
		}
	}
	for _, s := range []string{"0x800", "2048", "65535", "65536", "-1", "abc", "", "0x"} {
		if got, err := ParseAPID(s); err == nil {
			t.Errorf("ParseAPID(%q) = %v, want an error", s, got)
		}
	}
}

func TestAPIDMethods(t *testing.T) {
	for _, tt := range []struct {
		a             APID
		str           string
		valid, system bool
	}{
		{0x000, "0x000", true, false},
		{0x001, "0x001", true, true},
		{0x00F, "0x00F", true, true},
		{0x010, "0x010", true, false},
		{0x7FF, "0x7FF", true, false},
		{0x800, "0x800", false, false},
		{0xFFFF, "0xFFFF", false, false},
	} {
		if got := tt.a.String(); got != tt.str {
			t.Errorf("String = %q, want %q", got, tt.str)
		}
		if tt.a.Valid() != tt.valid || tt.a.System() != tt.system {
			t.Errorf("%v: Valid %v System %v", tt.a, tt.a.Valid(), tt.a.System())
		}
	}
}
