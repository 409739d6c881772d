package policy

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseFlow(t *testing.T) {
	tests := []struct {
		name string
		keys string // added to tenant "a"
		want Flow
	}{
		{"defaults", ``, Flow{}},
		{"wait with hold", `when_full = "wait"
hold = "250ms"`, Flow{Hold: 250 * time.Millisecond}},
		{"drop", `when_full = "drop"`, Flow{WhenFull: Drop}},
		{"hold 0 is drop", `hold = "0s"`, Flow{WhenFull: Drop}},
		{"rate, integer", `rate = 2000`, Flow{Rate: 2000}},
		{"rate, float, burst, drop", `rate = 0.5
burst = 3
when_over_rate = "drop"`, Flow{Rate: 0.5, Burst: 3, WhenOverRate: Drop}},
		{"resync", `resync = true`, Flow{Resync: true}},
		{"resync off", `resync = false`, Flow{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("cfg.toml", []byte("[[tenant]]\nname = \"a\"\nowns = [\"0x010\"]\n"+tt.keys+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Tenants[0].Flow; got != tt.want {
				t.Errorf("Flow = %+v, want %+v", got, tt.want)
			}
			// WriteTOML writes it back.
			var b bytes.Buffer
			if err := p.WriteTOML(&b); err != nil {
				t.Fatal(err)
			}
			q, err := Parse("rt.toml", b.Bytes())
			if err != nil {
				t.Fatalf("%v\n%s", err, b.String())
			}
			if !reflect.DeepEqual(q.Tenants, p.Tenants) {
				t.Errorf("round trip = %+v, want %+v\n%s", q.Tenants, p.Tenants, b.String())
			}
		})
	}
}

func TestParseFlowErrors(t *testing.T) {
	tests := []struct {
		name string
		keys string // added to tenant "a" from line 4
		want []string
	}{
		{"when_full word", `when_full = "block"`, []string{`cfg.toml:4: tenant "a": when_full: "block": want "wait" or "drop"`}},
		{"when_full type", `when_full = true`, []string{`cfg.toml:4: tenant "a": when_full: want "wait" or "drop", got boolean true`}},
		{"hold syntax", `hold = "100"`, []string{`cfg.toml:4: tenant "a": hold: "100": want a duration such as "100ms"`}},
		{"hold type", `hold = 100`, []string{`cfg.toml:4: tenant "a": hold: want a duration string such as "100ms", got integer 100`}},
		{"hold range", `hold = "2m"`, []string{`cfg.toml:4: tenant "a": hold: 2m0s: want 0s to 1m0s`}},
		{"hold negative", `hold = "-1s"`, []string{`cfg.toml:4: tenant "a": hold: -1s: want 0s to 1m0s`}},
		{"rate negative", `rate = -5`, []string{`cfg.toml:4: tenant "a": rate: -5: want 0 (no limit) to 1e+09 frames per second`}},
		{"rate nan", `rate = nan`, []string{`cfg.toml:4: tenant "a": rate: NaN: want 0 (no limit) to 1e+09 frames per second`}},
		{"rate type", `rate = "fast"`, []string{`cfg.toml:4: tenant "a": rate: want frames per second, got string "fast"`}},
		{"burst without rate", `burst = 10`, []string{`cfg.toml:4: tenant "a": burst: set without rate`}},
		{"burst zero", "rate = 10\nburst = 0", []string{`cfg.toml:5: tenant "a": burst: 0: want 1 to 1073741824 frames`}},
		{"resync type", `resync = "yes"`, []string{`cfg.toml:4: tenant "a": resync: want true or false, got string "yes"`}},
		{"over rate without rate", `when_over_rate = "drop"`, []string{`cfg.toml:4: tenant "a": when_over_rate: set without rate`}},
		{"misspelt", `when-full = "drop"`, []string{`cfg.toml:4: tenant "a": when-full: unknown key (want name, owns, can_send_to, downlink, when_full, hold, rate, burst, when_over_rate, resync)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("cfg.toml", []byte("[[tenant]]\nname = \"a\"\nowns = [\"0x010\"]\n"+tt.keys+"\n"))
			if err == nil {
				t.Fatal("Parse accepted it")
			}
			if got, want := err.Error(), strings.Join(tt.want, "\n"); got != want {
				t.Errorf("errors:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestFlowDefaults(t *testing.T) {
	var f Flow
	if f.HoldTime() != DefaultHold || DefaultHold != 100*time.Millisecond {
		t.Errorf("HoldTime() = %v, want 100ms", f.HoldTime())
	}
	for _, tt := range []struct {
		rate  float64
		burst int
	}{{0, 1}, {5, 1}, {10, 1}, {2000, 200}, {25, 2}} {
		if got := (Flow{Rate: tt.rate}).BurstSize(); got != tt.burst {
			t.Errorf("BurstSize(rate %v) = %d, want %d", tt.rate, got, tt.burst)
		}
	}
	if got := (Flow{Rate: 100, Burst: 7}).BurstSize(); got != 7 {
		t.Errorf("BurstSize = %d, want 7", got)
	}
	// Validate checks a hand-built Flow too.
	p := Default()
	p.Tenants[1].Flow = Flow{Rate: -1}
	if err := p.Validate(); err == nil || err.Error() != `built-in v0: tenant "processor": rate: -1: want 0 (no limit) to 1e+09 frames per second` {
		t.Errorf("Validate = %v", err)
	}
}
