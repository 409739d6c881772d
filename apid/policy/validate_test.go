package policy

import (
	"strings"
	"testing"
)

// TestParseErrors checks every validation rule, type check and syntax
// check against the exact error text.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // one line per error, in order
	}{
		{"overlap between tenants", `
[[tenant]]
name = "camera"
owns = ["0x010-0x01F"]

[[tenant]]
name = "processor"
owns = ["0x015"]
`, []string{`cfg.toml:8: tenant "processor": owns: 0x015 already owned by tenant "camera" (line 4)`}},
		{"overlap of a range, in a multi-line array", `[[tenant]]
name = "a"
owns = ["0x010-0x01F"]
[[tenant]]
name = "b"
owns = [
  "0x030",
  "0x018-0x040",  # overlaps a and b's own 0x030
]
`, []string{
			`cfg.toml:8: tenant "b": owns: 0x018-0x01F already owned by tenant "a" (line 3)`,
			`cfg.toml:8: tenant "b": owns: 0x030 listed twice (line 7)`,
		}},
		{"overlap with several tenants", `[[tenant]]
name = "a"
owns = ["0x010"]
[[tenant]]
name = "b"
owns = ["0x011"]
[[tenant]]
name = "c"
owns = ["0x010-0x011"]
`, []string{
			`cfg.toml:9: tenant "c": owns: 0x010 already owned by tenant "a" (line 3)`,
			`cfg.toml:9: tenant "c": owns: 0x011 already owned by tenant "b" (line 6)`,
		}},
		{"reserved APIDs", `[[tenant]]
name = "a"
owns = ["0x000", "0x001-0x00F", "0x00F-0x010", "0x7FF", "0x7F0-0x7FF", "0x000-0x7FF"]
`, []string{
			`cfg.toml:3: tenant "a": owns: 0x000 includes the switch APID 0x000; a tenant may own only 0x010-0x7FE`,
			`cfg.toml:3: tenant "a": owns: 0x001-0x00F includes system APIDs 0x001-0x00F; a tenant may own only 0x010-0x7FE`,
			`cfg.toml:3: tenant "a": owns: 0x00F-0x010 includes system APIDs 0x00F; a tenant may own only 0x010-0x7FE`,
			`cfg.toml:3: tenant "a": owns: 0x7FF includes the idle APID 0x7FF; a tenant may own only 0x010-0x7FE`,
			`cfg.toml:3: tenant "a": owns: 0x7F0-0x7FF includes the idle APID 0x7FF; a tenant may own only 0x010-0x7FE`,
			`cfg.toml:3: tenant "a": owns: 0x000-0x7FF includes the switch APID 0x000 and system APIDs 0x001-0x00F and the idle APID 0x7FF; a tenant may own only 0x010-0x7FE`,
		}},
		{"bad range syntax", `[[tenant]]
name = "a"
owns = ["0x020-0x010", "0x800", "zz", "0x030"]
`, []string{
			`cfg.toml:3: tenant "a": owns: range "0x020-0x010": first 0x020 > last 0x010`,
			`cfg.toml:3: tenant "a": owns: range "0x800": 0x800 exceeds 0x7FF`,
			`cfg.toml:3: tenant "a": owns: range "zz": "zz" is not an APID (want a number such as 0x010)`,
		}},
		{"every owns entry rejected is not also 'none'", `[[tenant]]
name = "a"
owns = ["0x800"]
`, []string{`cfg.toml:3: tenant "a": owns: range "0x800": 0x800 exceeds 0x7FF`}},
		{"no owns", `[[tenant]]
name = "a"
[[tenant]]
name = "b"
owns = []
`, []string{
			`cfg.toml:1: tenant "a": owns: none: a tenant must own at least one APID range`,
			`cfg.toml:5: tenant "b": owns: none: a tenant must own at least one APID range`,
		}},
		{"names", `[[tenant]]
name = "Camera"
owns = ["0x010"]
[[tenant]]
name = "-a"
owns = ["0x011"]
[[tenant]]
name = "abcdefghijklmnopqrstuvwxyz0123456"
owns = ["0x012"]
[[tenant]]
name = ""
owns = ["0x013"]
[[tenant]]
owns = ["0x014"]
[[tenant]]
name = "0x1f"
owns = ["0x015"]
[[tenant]]
name = "a b"
owns = ["0x016"]
`, []string{
			`cfg.toml:2: tenant "Camera": name: "Camera" does not match [a-z0-9][a-z0-9_-]{0,31}`,
			`cfg.toml:5: tenant "-a": name: "-a" does not match [a-z0-9][a-z0-9_-]{0,31}`,
			`cfg.toml:8: tenant "abcdefghijklmnopqrstuvwxyz0123456": name: "abcdefghijklmnopqrstuvwxyz0123456" does not match [a-z0-9][a-z0-9_-]{0,31}`,
			`cfg.toml:11: tenant #4: name: missing`,
			`cfg.toml:13: tenant #5: name: missing`,
			`cfg.toml:16: tenant "0x1f": name: "0x1f" reads as an APID range, which can_send_to could not tell from one`,
			`cfg.toml:19: tenant "a b": name: "a b" does not match [a-z0-9][a-z0-9_-]{0,31}`,
		}},
		{"longest and shortest names are fine", `[[tenant]]
name = "abcdefghijklmnopqrstuvwxyz012345"
owns = ["0x010"]
[[tenant]]
name = "x"
owns = ["0x011"]
can_send_to = ["abcdefghijklmnopqrstuvwxyz012345", "a_b-c"]
[[tenant]]
name = "a_b-c"
owns = ["0x012"]
`, nil},
		{"duplicate names", `[[tenant]]
name = "camera"
owns = ["0x010"]
[[tenant]]
name = "camera"
owns = ["0x011"]
`, []string{`cfg.toml:5: tenant "camera": name: "camera" already used by tenant #1 (line 2)`}},
		{"can_send_to", `[[tenant]]
name = "camera"
owns = ["0x010"]
can_send_to = ["camera", "processor", "0x000-0x7FF", "0x015", "procesor", "0x800", "0x20-0x10", "", "Camera"]
[[tenant]]
name = "processor"
owns = ["0x020"]
`, []string{
			`cfg.toml:4: tenant "camera": can_send_to: "procesor" is neither a tenant nor an APID range`,
			`cfg.toml:4: tenant "camera": can_send_to: range "0x800": 0x800 exceeds 0x7FF`,
			`cfg.toml:4: tenant "camera": can_send_to: range "0x20-0x10": first 0x020 > last 0x010`,
			`cfg.toml:4: tenant "camera": can_send_to: "" is neither a tenant nor an APID range`,
			`cfg.toml:4: tenant "camera": can_send_to: "Camera" is neither a tenant nor an APID range`,
		}},
		{"can_send_to in a multi-line array", `[[tenant]]
name = "camera"
owns = ["0x010"]
can_send_to = [
	"ok-not",   # a comment, with "quotes"
	'literal',
]
`, []string{
			`cfg.toml:5: tenant "camera": can_send_to: "ok-not" is neither a tenant nor an APID range`,
			`cfg.toml:6: tenant "camera": can_send_to: "literal" is neither a tenant nor an APID range`,
		}},
		{"no tenants", ``, []string{`cfg.toml: no tenants: a policy needs at least one [[tenant]]`}},
		{"only comments", "# nothing\n\n", []string{`cfg.toml: no tenants: a policy needs at least one [[tenant]]`}},
		{"unknown keys", `version = 2
[[tenant]]
name = "a"
owns = ["0x010"]
Downlink = true
can-send-to = []

[[tenant]]
name = "b"
owns = ["0x011"]
downlink = false
Downlink = false

[switch]
socket_dir = "/tmp"
`, []string{
			`cfg.toml:1: version: unknown key (a policy file holds only [[tenant]] tables, one [ground] table and [[remote]] tables)`,
			`cfg.toml:5: tenant "a": Downlink: unknown key (want name, owns, can_send_to, downlink, when_full, hold, rate, burst, when_over_rate, resync)`,
			`cfg.toml:6: tenant "a": can-send-to: unknown key (want name, owns, can_send_to, downlink, when_full, hold, rate, burst, when_over_rate, resync)`,
			`cfg.toml:12: tenant "b": Downlink: unknown key (want name, owns, can_send_to, downlink, when_full, hold, rate, burst, when_over_rate, resync)`,
			`cfg.toml:14: switch: unknown key (a policy file holds only [[tenant]] tables, one [ground] table and [[remote]] tables)`,
		}},
		{"uplink renamed to downlink", `[[tenant]]
name = "a"
owns = ["0x010"]
uplink = true

[[tenant]]
name = "b"
owns = ["0x011"]
downlink = true
uplink = false
`, []string{
			`cfg.toml:4: tenant "a": uplink: renamed to downlink (space to ground): write downlink = true to let the tenant send to the ground`,
			`cfg.toml:10: tenant "b": uplink: renamed to downlink (space to ground): write downlink = true to let the tenant send to the ground`,
		}},
		{"wrong types", `[[tenant]]
name = 5
owns = "0x010"
can_send_to = "b"
downlink = "yes"
[[tenant]]
name = "b"
owns = [16, "0x011", true]
can_send_to = [["a"]]
downlink = 1
`, []string{
			`cfg.toml:2: tenant #1: name: want a string, got integer 5`,
			`cfg.toml:3: tenant #1: owns: want an array of strings, got string "0x010"`,
			`cfg.toml:4: tenant #1: can_send_to: want an array of strings, got string "b"`,
			`cfg.toml:5: tenant #1: downlink: want true or false, got string "yes"`,
			`cfg.toml:8: tenant "b": owns: want a string, got integer 16`,
			`cfg.toml:8: tenant "b": owns: want a string, got boolean true`,
			`cfg.toml:9: tenant "b": can_send_to: want a string, got array`,
			`cfg.toml:10: tenant "b": downlink: want true or false, got integer 1`,
		}},
		{"syntax error", `[[tenant]]
name = "a
owns = ["0x010"]
`, []string{`cfg.toml:2: strings cannot contain newlines`}},
		{"tenant not an array of tables", `tenant = "a"
`, []string{
			`cfg.toml: no tenants: a policy needs at least one [[tenant]]`,
			`cfg.toml:1: tenant: want [[tenant]] tables, got string "a"`,
		}},
		{"keys are case-sensitive", `[[Tenant]]
name = "a"
owns = ["0x010"]
`, []string{
			`cfg.toml: no tenants: a policy needs at least one [[tenant]]`,
			`cfg.toml:1: Tenant: unknown key (a policy file holds only [[tenant]] tables, one [ground] table and [[remote]] tables)`,
		}},
		{"inline tables: no lines", `tenant = [
  {name = "a", owns = ["0x010-0x01F"]},
  {name = "b", owns = ["0x015"], colour = 1},
]
`, []string{
			`cfg.toml: tenant "b": colour: unknown key (want name, owns, can_send_to, downlink, when_full, hold, rate, burst, when_over_rate, resync)`,
			`cfg.toml: tenant "b": owns: 0x015 already owned by tenant "a"`,
		}},
		{"ground overlaps a tenant", `[[tenant]]
name = "camera"
owns = ["0x010-0x01F"]
[ground]
owns = [
  "0x7F0",
  "0x015-0x020",
]
[[tenant]]
name = "processor"
owns = ["0x020-0x02F"]
`, []string{
			`cfg.toml:3: tenant "camera": owns: 0x015-0x01F already owned by the ground (line 7)`,
			`cfg.toml:11: tenant "processor": owns: 0x020 already owned by the ground (line 7)`,
		}},
		{"default ground APID taken by a tenant", `[[tenant]]
name = "a"
owns = ["0x010", "0x7E0-0x7FE"]
`, []string{
			`cfg.toml:3: tenant "a": owns: 0x7F0 already owned by the ground (the default ground APID 0x7F0; a [ground] table can move it)`,
		}},
		{"ground left out owns: the default, still checked", `[[tenant]]
name = "a"
owns = ["0x7F0"]
[ground]
can_send_to = ["a"]
`, []string{
			`cfg.toml:3: tenant "a": owns: 0x7F0 already owned by the ground (the default ground APID 0x7F0; a [ground] table can move it)`,
		}},
		{"ground reserved APIDs and repeats", `[[tenant]]
name = "a"
owns = ["0x010"]

[ground]
owns = ["0x000", "0x002", "0x7FF", "0x7F0-0x7F1", "0x7F1", "0x900"]
`, []string{
			`cfg.toml:6: ground: owns: range "0x900": 0x900 exceeds 0x7FF`,
			`cfg.toml:6: ground: owns: 0x000 includes the switch APID 0x000; the ground may own only 0x010-0x7FE`,
			`cfg.toml:6: ground: owns: 0x002 includes system APIDs 0x002; the ground may own only 0x010-0x7FE`,
			`cfg.toml:6: ground: owns: 0x7FF includes the idle APID 0x7FF; the ground may own only 0x010-0x7FE`,
			`cfg.toml:6: ground: owns: 0x7F1 listed twice (line 6)`,
		}},
		{"ground owns nothing", `[[tenant]]
name = "a"
owns = ["0x010"]
[ground]
owns = []
`, []string{`cfg.toml:5: ground: owns: none: the ground must own at least one APID (leave owns out for the default 0x7F0)`}},
		{"ground owns only bad entries: not also none, no default checked", `[[tenant]]
name = "a"
owns = ["0x7F0"]
[ground]
owns = ["0x800"]
`, []string{`cfg.toml:5: ground: owns: range "0x800": 0x800 exceeds 0x7FF`}},
		{"ground types and keys", `[[tenant]]
name = "a"
owns = ["0x010"]
[ground]
owns = "0x7F0"
can_send_to = [5, "a"]
downlink = true
name = "ground"
[ground.extra]
x = 1
`, []string{
			`cfg.toml:5: ground: owns: want an array of strings, got string "0x7F0"`,
			`cfg.toml:6: ground: can_send_to: want a string, got integer 5`,
			`cfg.toml:7: ground: downlink: unknown key (want owns, can_send_to)`,
			`cfg.toml:8: ground: name: unknown key (want owns, can_send_to)`,
			`cfg.toml:9: ground: extra: unknown key (want owns, can_send_to)`,
		}},
		{"ground can_send_to", `[[tenant]]
name = "camera"
owns = ["0x010"]
[ground]
can_send_to = [
  "camera",
  "camra",
  "0x800",
  "0x000-0x7FF",
  "ground",
]
`, []string{
			`cfg.toml:7: ground: can_send_to: "camra" is neither a tenant nor an APID range`,
			`cfg.toml:8: ground: can_send_to: range "0x800": 0x800 exceeds 0x7FF`,
			`cfg.toml:10: ground: can_send_to: "ground" is neither a tenant nor an APID range`,
		}},
		{"ground as an array of tables", `[[tenant]]
name = "a"
owns = ["0x010"]
[[ground]]
owns = ["0x7F0"]
`, []string{`cfg.toml:4: ground: want one [ground] table, got array of tables`}},
		{"no tenant is called ground", `[[tenant]]
name = "ground"
owns = ["0x010"]
`, []string{`cfg.toml:2: tenant "ground": name: "ground" is reserved: it names the ground in counters and logs (the ground is configured by a [ground] table)`}},
		{"ground moved, the old default free for a tenant", `[[tenant]]
name = "a"
owns = ["0x7F0-0x7FE"]
[ground]
owns = ["0x700"]
`, nil},
		{"quoted keys and table name", `[["tenant"]]
"name" = "a"
'owns' = ["0x010"]
[[ tenant ]]
name = "b"
owns = ["0x010"]
`, []string{`cfg.toml:6: tenant "b": owns: 0x010 already owned by tenant "a" (line 3)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("cfg.toml", []byte(tt.in))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse accepted %+v", p.Tenants)
			}
			if p != nil {
				t.Errorf("Parse returned a policy with an error")
			}
			got := strings.Split(err.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", err, strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestValidateBuilt checks Validate on policies built in Go: no file, no
// lines, and problems ParseRange would have caught first.
func TestValidateBuilt(t *testing.T) {
	tests := []struct {
		name string
		p    Policy
		want string
	}{
		{"reversed range", Policy{Source: "code", Tenants: []Tenant{{Name: "a", Owns: []Range{{0x20, 0x10}}}}},
			`code: tenant "a": owns: 0x020-0x010: first 0x020 > last 0x010`},
		{"beyond 11 bits", Policy{Tenants: []Tenant{{Name: "a", Owns: []Range{{0x7F0, 0x900}}}}},
			`tenant "a": owns: 0x7F0-0x900 includes the idle APID 0x7FF and values beyond 11 bits 0x800-0x900; a tenant may own only 0x010-0x7FE`},
		{"overlap, no lines", Policy{Source: "code", Tenants: []Tenant{
			{Name: "a", Owns: []Range{{0x10, 0x1F}}},
			{Name: "", Owns: []Range{{0x1F, 0x2F}}},
			{Name: "c", Owns: []Range{{0x2F, 0x2F}}},
		}}, `code: tenant #2: name: missing
code: tenant #2: owns: 0x01F already owned by tenant "a"` + "\n" +
			`code: tenant "c": owns: 0x02F already owned by tenant #2`},
		{"empty", Policy{Source: "code"}, `code: no tenants: a policy needs at least one [[tenant]]`},
		{"zero ground is the default", Policy{Source: "code", Tenants: []Tenant{{Name: "a", Owns: []Range{{0x7F0, 0x7F0}}}}},
			`code: tenant "a": owns: 0x7F0 already owned by the ground (the default ground APID 0x7F0; a [ground] table can move it)`},
		{"ground built in Go", Policy{Source: "code", Tenants: []Tenant{{Name: "a", Owns: []Range{{0x010, 0x01F}}}},
			Ground: Ground{Owns: []Range{{0x01F, 0x020}, {0x30, 0x20}}, CanSendTo: []string{"b"}}},
			`code: ground: owns: 0x030-0x020: first 0x030 > last 0x020` + "\n" +
				`code: tenant "a": owns: 0x01F already owned by the ground` + "\n" +
				`code: ground: can_send_to: "b" is neither a tenant nor an APID range`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if err == nil || err.Error() != tt.want {
				t.Errorf("Validate() =\n%v\nwant\n%s", err, tt.want)
			}
		})
	}
}

// TestParsedThenEdited checks that lines are dropped, not misattributed,
// when a parsed policy is edited before Validate.
func TestParsedThenEdited(t *testing.T) {
	p, err := Load("testdata/v0.toml")
	if err != nil {
		t.Fatal(err)
	}
	p.Tenants = append([]Tenant{{Name: "new", Owns: []Range{{0x015, 0x015}}}}, p.Tenants...)
	want := `testdata/v0.toml: tenant "camera": owns: 0x015 already owned by tenant "new"`
	if err := p.Validate(); err == nil || err.Error() != want {
		t.Errorf("Validate() = %v, want %s", err, want)
	}
}
