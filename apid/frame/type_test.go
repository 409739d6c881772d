package frame

import (
	"strings"
	"testing"
)

func TestParseType(t *testing.T) {
	names := []string{"TM", "TC", "EVR", "PRM_GET", "PRM_SET", "PRM_RSP", "DP", "HEALTH", "LOG", "ERROR"}
	want := []Type{TM, TC, EVR, PRMGet, PRMSet, PRMRsp, DP, Health, Log, Error}
	for i, n := range names {
		if uint8(want[i]) != uint8(i) {
			t.Errorf("%s = %#x, want %#x", n, uint8(want[i]), i)
		}
		if got := want[i].String(); got != n {
			t.Errorf("String(%d) = %q, want %q", i, got, n)
		}
		for _, s := range []string{n, strings.ToLower(n), " " + n + " ", strings.ReplaceAll(strings.ToLower(n), "_", "-")} {
			got, err := ParseType(s)
			if err != nil || got != want[i] {
				t.Errorf("ParseType(%q) = %v, %v; want %v", s, got, err, want[i])
			}
		}
	}
	for _, tt := range []struct {
		s    string
		want Type
	}{{"prm-get", PRMGet}, {"Prm_Rsp", PRMRsp}, {"hEaLtH", Health}, {"0", TM}, {"9", Error}, {"0x03", PRMGet}, {"0X09", Error}, {"0b110", DP}} {
		if got, err := ParseType(tt.s); err != nil || got != tt.want {
			t.Errorf("ParseType(%q) = %v, %v; want %v", tt.s, got, err, tt.want)
		}
	}
	for _, s := range []string{"", "foo", "TMX", "10", "0x0a", "255", "256", "-1", "3abc", "3 4", "PRM GET"} {
		if got, err := ParseType(s); err == nil {
			t.Errorf("ParseType(%q) = %v, want an error", s, got)
		} else if !strings.Contains(err.Error(), "PRM_GET") || !strings.Contains(err.Error(), "\""+s+"\"") {
			t.Errorf("ParseType(%q) error %q should quote the input and list the names", s, err)
		}
	}
}

func TestTypeString(t *testing.T) {
	for _, tt := range []struct {
		t    Type
		want string
	}{{0x0A, "Type(0x0a)"}, {0x7F, "Type(0x7f)"}, {0xFF, "Type(0xff)"}} {
		if got := tt.t.String(); got != tt.want {
			t.Errorf("String = %q, want %q", got, tt.want)
		}
		if tt.t.Known() {
			t.Errorf("%v Known", tt.t)
		}
	}
}
