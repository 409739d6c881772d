package policy

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"spacenet/apid/frame"
)

func TestParseRange(t *testing.T) {
	tests := []struct {
		in      string
		want    Range
		wantErr string
	}{
		{"0x010-0x01F", Range{0x010, 0x01F}, ""},
		{"0x015", Range{0x015, 0x015}, ""},
		{"0x010-0x01f", Range{0x010, 0x01F}, ""},
		{"16-31", Range{0x010, 0x01F}, ""},
		{" 0x010 - 0x01F ", Range{0x010, 0x01F}, ""},
		{"0x000-0x7FF", Range{0x000, 0x7FF}, ""},
		{"0x020-0x010", Range{}, `range "0x020-0x010": first 0x020 > last 0x010`},
		{"0x800", Range{}, `range "0x800": 0x800 exceeds 0x7FF`},
		{"0x010-0xFFFFFFFFFFFFFFFFFF", Range{}, `range "0x010-0xFFFFFFFFFFFFFFFFFF": 0xFFFFFFFFFFFFFFFFFF exceeds 0x7FF`},
		{"camera", Range{}, `range "camera": "camera" is not an APID (want a number such as 0x010)`},
		{"", Range{}, `range "": "" is not an APID (want a number such as 0x010)`},
		{"0x010-", Range{}, `range "0x010-": "" is not an APID (want a number such as 0x010)`},
		{"0x010-0x011-0x012", Range{}, `range "0x010-0x011-0x012": "0x011-0x012" is not an APID (want a number such as 0x010)`},
		{"-1", Range{}, `range "-1": "" is not an APID (want a number such as 0x010)`},
	}
	for _, tt := range tests {
		got, err := ParseRange(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseRange(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseRange(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestRangeString(t *testing.T) {
	tests := []struct {
		r    Range
		want string
	}{
		{Range{0x010, 0x01F}, "0x010-0x01F"},
		{Range{0x015, 0x015}, "0x015"},
		{Range{0x000, 0x7FF}, "0x000-0x7FF"},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.r, got, tt.want)
		}
		if back, err := ParseRange(tt.want); err != nil || back != tt.r {
			t.Errorf("ParseRange(%q) = %v, %v; want %v", tt.want, back, err, tt.r)
		}
	}
	if got := (Range{0x010, 0x01F}).Len(); got != 16 {
		t.Errorf("Len = %d, want 16", got)
	}
	if got := (Range{0x011, 0x010}).Len(); got != 0 {
		t.Errorf("Len of reversed = %d, want 0", got)
	}
}

func TestDefault(t *testing.T) {
	p := Default()
	if err := p.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	if p.Source != "built-in v0" {
		t.Errorf("Source = %q", p.Source)
	}
	want := []Tenant{
		{"camera", []Range{{0x010, 0x01F}}, []string{"processor", "spaceos"}, true, Flow{}},
		{"processor", []Range{{0x020, 0x02F}}, []string{"camera", "spaceos"}, true, Flow{}},
		{"spaceos", []Range{{0x100, 0x2FF}}, []string{"camera", "processor"}, true, Flow{}},
	}
	if !reflect.DeepEqual(p.Tenants, want) {
		t.Errorf("Default().Tenants = %+v, want %+v", p.Tenants, want)
	}
	if g := (Ground{Owns: []Range{{0x7F0, 0x7F0}}}); !reflect.DeepEqual(p.Ground, g) {
		t.Errorf("Default().Ground = %+v, want %+v (0x7F0, every tenant)", p.Ground, g)
	}
	// Each call returns a fresh policy.
	Default().Tenants[0].Name = "changed"
	if Default().Tenants[0].Name != "camera" {
		t.Error("Default shares state between calls")
	}
}

func TestV0FileIsDefault(t *testing.T) {
	p, err := Load("testdata/v0.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Tenants, Default().Tenants) || !reflect.DeepEqual(p.Ground, Default().Ground) {
		t.Errorf("testdata/v0.toml = %+v %+v, want Default()", p.Tenants, p.Ground)
	}
	if p.Source != "testdata/v0.toml" {
		t.Errorf("Source = %q", p.Source)
	}
}

const defaultTOML = `# spacenet APID plane policy, from "built-in v0".
# Check it with: spacenet config check FILE

[[tenant]]
name = "camera"
owns = ["0x010-0x01F"]
can_send_to = ["processor", "spaceos"]
downlink = true

[[tenant]]
name = "processor"
owns = ["0x020-0x02F"]
can_send_to = ["camera", "spaceos"]
downlink = true

[[tenant]]
name = "spaceos"
owns = ["0x100-0x2FF"]
can_send_to = ["camera", "processor"]
downlink = true

# The ground: the source APIDs of frames from the uplink.
[ground]
owns = ["0x7F0"]
# can_send_to left out: the ground may send to every tenant
`

func TestWriteTOMLRoundTrip(t *testing.T) {
	var b bytes.Buffer
	if err := Default().WriteTOML(&b); err != nil {
		t.Fatal(err)
	}
	if b.String() != defaultTOML {
		t.Errorf("WriteTOML(Default()) =\n%s\nwant\n%s", b.String(), defaultTOML)
	}
	p, err := Parse("rt.toml", b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Tenants, Default().Tenants) || !reflect.DeepEqual(p.Ground, Default().Ground) {
		t.Errorf("round trip = %+v %+v, want Default()", p.Tenants, p.Ground)
	}
}

func TestWriteTOMLQuoting(t *testing.T) {
	// A policy WriteTOML must still write parseable TOML for, even if it
	// is invalid, so that its problems can be shown.
	p := &Policy{Source: "odd\nsource", Tenants: []Tenant{{
		Name:      "a\"b\\c\x01\u0085é",
		Owns:      []Range{{0x010, 0x010}},
		CanSendTo: []string{"x\ty", " 0x010 "},
	}}}
	var b bytes.Buffer
	if err := p.WriteTOML(&b); err != nil {
		t.Fatal(err)
	}
	_, err := Parse("q.toml", b.Bytes())
	want := `q.toml:5: tenant "a\"b\\c\x01\u0085é": name: "a\"b\\c\x01\u0085é" does not match [a-z0-9][a-z0-9_-]{0,31}
q.toml:7: tenant "a\"b\\c\x01\u0085é": can_send_to: "x\ty" is neither a tenant nor an APID range`
	if err == nil || err.Error() != want {
		t.Errorf("Parse(WriteTOML(odd)) error =\n%v\nwant\n%s\noutput:\n%s", err, want, b.String())
	}
}

func TestIndexOwnerSendTo(t *testing.T) {
	p := Default()
	p.Tenants = append(p.Tenants, Tenant{Name: "ranges", Owns: []Range{{0x300, 0x300}, {0x400, 0x40F}},
		CanSendTo: []string{"0x010-0x014", "spaceos", "0x7FF"}})
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		i    int
		ok   bool
	}{{"camera", 0, true}, {"spaceos", 2, true}, {"ranges", 3, true}, {"nobody", -1, false}, {"", -1, false}} {
		if i, ok := p.Index(tt.name); i != tt.i || ok != tt.ok {
			t.Errorf("Index(%q) = %d, %v; want %d, %v", tt.name, i, ok, tt.i, tt.ok)
		}
	}
	for _, tt := range []struct {
		a  frame.APID
		i  int
		ok bool
	}{
		{0x000, -1, false}, {0x00F, -1, false}, {0x010, 0, true}, {0x01F, 0, true}, {0x020, 1, true},
		{0x02F, 1, true}, {0x030, -1, false}, {0x0FF, -1, false}, {0x100, 2, true}, {0x2FF, 2, true},
		{0x300, 3, true}, {0x301, -1, false}, {0x40F, 3, true}, {0x7FF, -1, false}, {0x800, -1, false},
	} {
		if i, ok := p.Owner(tt.a); i != tt.i || ok != tt.ok {
			t.Errorf("Owner(%v) = %d, %v; want %d, %v", tt.a, i, ok, tt.i, tt.ok)
		}
	}
	for _, tt := range []struct {
		i    int
		want []Range
	}{
		{0, []Range{{0x020, 0x02F}, {0x100, 0x2FF}}},
		{3, []Range{{0x010, 0x014}, {0x100, 0x2FF}, {0x7FF, 0x7FF}}},
		{-1, nil},
		{4, nil},
	} {
		if got := p.SendTo(tt.i); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SendTo(%d) = %v, want %v", tt.i, got, tt.want)
		}
	}
}

func TestLoadMissing(t *testing.T) {
	_, err := Load("testdata/does-not-exist.toml")
	if err == nil || !strings.Contains(err.Error(), "testdata/does-not-exist.toml") {
		t.Errorf("Load(missing) = %v, want an error naming the file", err)
	}
}

func TestErrorFields(t *testing.T) {
	_, err := Parse("cfg.toml", []byte(`[[tenant]]
name = "camera"
owns = ["0x010-0x01F"]
[[tenant]]
name = "processor"
owns = ["0x015"]
`))
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("Parse error %v is not an *Error", err)
	}
	want := Error{File: "cfg.toml", Line: 6, Tenant: "processor", Number: 2, Field: "owns"}
	got := *pe
	got.Err = nil
	if got != want {
		t.Errorf("*Error = %+v, want %+v", got, want)
	}
}

// TestGround checks what Parse makes of the [ground] table, its defaults,
// GroundOwns and GroundSendTo, and that WriteTOML keeps nil (every tenant)
// apart from empty (none).
func TestGround(t *testing.T) {
	const base = "[[tenant]]\nname = \"a\"\nowns = [\"0x010-0x01F\"]\n[[tenant]]\nname = \"b\"\nowns = [\"0x020-0x02F\", \"0x300\"]\n"
	def := []Range{{0x7F0, 0x7F0}}
	every := []Range{{0x010, 0x01F}, {0x020, 0x02F}, {0x300, 0x300}}
	for _, tt := range []struct {
		name   string
		in     string
		want   Ground
		sendTo []Range
	}{
		{"no [ground]", base, Ground{Owns: def}, every},
		{"owns only", base + "[ground]\nowns = [\"0x700-0x701\", \"0x7A0\"]\n",
			Ground{Owns: []Range{{0x700, 0x701}, {0x7A0, 0x7A0}}}, every},
		{"can_send_to only", base + "[ground]\ncan_send_to = [\"b\", \"0x011\"]\n",
			Ground{Owns: def, CanSendTo: []string{"b", "0x011"}}, []Range{{0x020, 0x02F}, {0x300, 0x300}, {0x011, 0x011}}},
		{"can_send_to empty", base + "[ground]\ncan_send_to = []\n", Ground{Owns: def, CanSendTo: []string{}}, nil},
	} {
		p, err := Parse("g.toml", []byte(tt.in))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !reflect.DeepEqual(p.Ground, tt.want) {
			t.Errorf("%s: Ground = %#v, want %#v", tt.name, p.Ground, tt.want)
		}
		if got := p.GroundOwns(); !reflect.DeepEqual(got, tt.want.Owns) {
			t.Errorf("%s: GroundOwns = %v", tt.name, got)
		}
		if got := p.GroundSendTo(); !reflect.DeepEqual(got, tt.sendTo) {
			t.Errorf("%s: GroundSendTo = %v, want %v", tt.name, got, tt.sendTo)
		}
		var b bytes.Buffer
		if err := p.WriteTOML(&b); err != nil {
			t.Fatal(err)
		}
		q, err := Parse("again.toml", b.Bytes())
		if err != nil || !reflect.DeepEqual(q.Ground, tt.want) {
			t.Errorf("%s: written back: %#v, %v\n%s", tt.name, q, err, b.String())
		}
	}
	// A Policy built in Go with no Ground has the default one.
	p := &Policy{Tenants: []Tenant{{Name: "a", Owns: []Range{{0x010, 0x010}}}}}
	if got := p.GroundOwns(); !reflect.DeepEqual(got, def) {
		t.Errorf("zero Ground owns %v, want %v", got, def)
	}
	if got := p.GroundSendTo(); !reflect.DeepEqual(got, []Range{{0x010, 0x010}}) {
		t.Errorf("zero Ground sends to %v, want every tenant", got)
	}
}

func TestGroundErrorFields(t *testing.T) {
	_, err := Parse("cfg.toml", []byte("[[tenant]]\nname = \"a\"\nowns = [\"0x010\"]\n[ground]\ncan_send_to = [\"z\"]\n"))
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("Parse error %v is not an *Error", err)
	}
	want := Error{File: "cfg.toml", Line: 5, Ground: true, Field: "can_send_to"}
	got := *pe
	got.Err = nil
	if got != want {
		t.Errorf("*Error = %+v, want %+v", got, want)
	}
}
