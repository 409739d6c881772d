package gen

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"spacenet/ipc/idol"
)

func mustTypes(t *testing.T, src string) *Types {
	t.Helper()
	ty, err := ParseTypes("test.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return ty
}

func arg(name, typ string) idol.Arg {
	return idol.Arg{Name: name, AttributedType: idol.AttributedType{Type: typ}}
}

func simple(typ string) idol.Reply {
	return idol.Reply{Kind: idol.Simple, Ok: idol.AttributedType{Type: typ}}
}

// A model built by hand: INCOMING_SIZE is the maximum over ops, not the sum.
func TestIncomingSizeIsMax(t *testing.T) {
	iface := &idol.Interface{Name: "Demo", Ops: []idol.Op{
		{Name: "a", Code: 1, Args: []idol.Arg{arg("x", "u32")}, Reply: simple("()"), Idempotent: true},
		{Name: "b", Code: 2, Args: []idol.Arg{arg("x", "u64"), arg("y", "u16")}, Reply: simple("()"), Idempotent: true},
		{Name: "c", Code: 3, Args: []idol.Arg{arg("x", "Option<u32>")}, Reply: simple("u8"), Idempotent: true, Encoding: idol.Hubpack},
	}}
	src, err := Generate(iface, Options{Package: "demo", Source: "demo.idol"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"DemoAArgsSize                 = 4", "DemoBArgsSize                 = 10", "DemoCArgsSize                 = 5", "DemoIncomingSize              = 10"} {
		if !strings.Contains(strings.Join(strings.Fields(string(src)), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("generated code lacks %q", want)
		}
	}
}

func TestSizes(t *testing.T) {
	ty := mustTypes(t, `
[consts]
"m::N" = 3
[types.E]
kind = "enum"
variants = [{name = "A"}, {name = "B", type = "(u8, u64)"}]
[types.S]
kind = "struct"
fields = [{name = "a", type = "bool"}, {name = "b", type = "[u16; m::N]"}, {name = "c", type = "usize"}]
`)
	tests := []struct {
		typ    string
		z, s   int
		zerror bool
	}{
		{"u8", 1, 1, false},
		{"usize", 4, 8, false}, // Hubris targets are 32-bit; serde writes usize as u64
		{"bool", 1, 1, false},
		{"()", 0, 0, false},
		{"u128", 16, 16, false},
		{"[u32; 4]", 16, 16, false},
		{"[u8; m::N]", 3, 3, false},
		{"(u8, u16)", 0, 3, true},
		{"Option<u32>", 0, 5, true},
		{"Option<Option<u8>>", 0, 3, true},
		{"Result<f32, E>", 0, 1 + 10, true},
		{"E", 0, 10, true},
		{"S", 1 + 6 + 4, 1 + 6 + 8, false},
	}
	for _, tt := range tests {
		p, err := ty.parse(tt.typ)
		if err != nil {
			t.Fatalf("%s: %v", tt.typ, err)
		}
		if got := size(p, fS); got != tt.s {
			t.Errorf("%s: serde size %d, want %d", tt.typ, got, tt.s)
		}
		err = check(p, fZ, false)
		if tt.zerror != (err != nil) {
			t.Errorf("%s: Zerocopy check: %v", tt.typ, err)
		}
		if err == nil {
			if got := size(p, fZ); got != tt.z {
				t.Errorf("%s: zerocopy size %d, want %d", tt.typ, got, tt.z)
			}
		}
	}
}

func TestGenerateErrors(t *testing.T) {
	ty := mustTypes(t, `
[types.Err]
kind = "clike"
variants = [{name = "Bad"}]
[types.En]
kind = "enum"
variants = [{name = "A"}]
`)
	op := func(o idol.Op) *idol.Interface {
		o.Code = 1
		return &idol.Interface{Name: "X", Ops: []idol.Op{o}}
	}
	tests := []struct {
		name  string
		iface *idol.Interface
		want  string
	}{
		{"unknown arg type", op(idol.Op{Name: "frob", Args: []idol.Arg{arg("a", "drv::Mystery")}, Reply: simple("()"), Idempotent: true}),
			`x.idol: op frob: arg a: unknown type "drv::Mystery"`},
		{"unknown error type", op(idol.Op{Name: "frob", Reply: idol.Reply{Kind: idol.Result, Ok: idol.AttributedType{Type: "()"}, Err: idol.ErrorType{Kind: idol.CLike, Type: "Nope"}}}),
			`x.idol: op frob: error type: unknown type "Nope"`},
		{"Option in Zerocopy", op(idol.Op{Name: "f", Args: []idol.Arg{arg("a", "Option<u8>")}, Reply: simple("()"), Idempotent: true}),
			"not a Zerocopy type"},
		{"u128 in Ssmarshal", op(idol.Op{Name: "f", Args: []idol.Arg{arg("a", "u128")}, Reply: simple("()"), Idempotent: true, Encoding: idol.Ssmarshal}),
			"not supported by Ssmarshal"},
		{"CLike as a value", op(idol.Op{Name: "f", Args: []idol.Arg{arg("a", "Err")}, Reply: simple("()"), Idempotent: true}),
			"cannot be used as a value"},
		{"CLike error not clike", op(idol.Op{Name: "f", Reply: idol.Reply{Kind: idol.Result, Ok: idol.AttributedType{Type: "()"}, Err: idol.ErrorType{Kind: idol.CLike, Type: "En"}}}),
			`is not kind "clike"`},
		{"FromPrimitive of a primitive", op(idol.Op{Name: "f", Args: []idol.Arg{{Name: "a", AttributedType: idol.AttributedType{Type: "u8", Recv: idol.RecvStrategy{Kind: idol.FromPrimitive, Type: "u8"}}}}, Reply: simple("()"), Idempotent: true}),
			"not a C-like enum"},
		{"unknown const", op(idol.Op{Name: "f", Args: []idol.Arg{arg("a", "[u8; x::N]")}, Reply: simple("()"), Idempotent: true}),
			`unknown constant "x::N"`},
		{"slice arg", op(idol.Op{Name: "f", Args: []idol.Arg{arg("a", "[u8]")}, Reply: simple("()"), Idempotent: true}),
			"only allowed as a lease type"},
	}
	for _, tt := range tests {
		_, err := Generate(tt.iface, Options{Package: "x", Source: "x.idol", Types: ty})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
	if _, err := Generate(&idol.Interface{Name: "X"}, Options{Package: "not-a-name"}); err == nil {
		t.Error("bad package name accepted")
	}
}

func TestTypesFileErrors(t *testing.T) {
	tests := map[string]string{
		"unknown kind": "[types.A]\nkind = \"union\"",
		"unknown key":  "[types.A]\nkind = \"enum\"\ncolour = 1",
		"bad go name":  "[types.A]\nkind = \"enum\"\ngo = \"lower\"",
		"duplicate go": "[types.A]\nkind = \"enum\"\ngo = \"B\"\n[types.\"x::B\"]\nkind = \"enum\"",
		"not toml":     "[types.A",
	}
	for name, src := range tests {
		if _, err := ParseTypes("t.toml", []byte(src)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Errors found when a type is resolved.
	ty := mustTypes(t, `
[types.Z]
kind = "clike"
variants = [{name = "Ok", value = 0}]
[types.Loop]
kind = "struct"
fields = [{name = "a", type = "Loop"}]
[types.Empty]
kind = "enum"
[types.Repr]
kind = "enum"
repr = "f32"
variants = [{name = "A"}]
`)
	for name, want := range map[string]string{"Z": "code 0", "Loop": "contains itself", "Empty": "needs variants", "Repr": "repr"} {
		if _, err := ty.parse(name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", name, err, want)
		}
	}
}

func TestLookupByLastSegment(t *testing.T) {
	ty := mustTypes(t, "[types.SpiError]\nkind = \"clike\"\nvariants = [{name = \"A\"}]\n")
	p, err := ty.parse("drv_spi_api::SpiError")
	if err != nil || p.named.goName != "SpiError" {
		t.Fatalf("%v %+v", err, p)
	}
}

func TestParseTypeSyntax(t *testing.T) {
	ty := mustTypes(t, "")
	for _, bad := range []string{"", "[u8", "Option<u8", "Result<u8>", "(u8,", "u8 u8", "[u8; -1]", "Vec<u8>", "(u8, u8, u8, u8, u8)", "&u8"} {
		if _, err := ty.parse(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for typ, want := range map[string]string{
		"(u8)":                   "uint8",
		"(u8,)":                  "uint8",
		"( u16 , u32 )":          "ipc.Tuple2[uint16, uint32]",
		"[[u8; 2]; 0x3]":         "[3][2]uint8",
		"Option<(f32, u64)>":     "ipc.Option[ipc.Tuple2[float32, uint64]]",
		"Result<(), bool>":       "ipc.Result[struct{}, bool]",
		"[u8; 1_0]":              "[10]uint8",
		"Option<Option<[i8;2]>>": "ipc.Option[ipc.Option[[2]int8]]",
	} {
		p, err := ty.parse(typ)
		if err != nil {
			t.Errorf("%q: %v", typ, err)
			continue
		}
		if got := goType(p); got != want {
			t.Errorf("%q: Go type %s, want %s", typ, got, want)
		}
	}
}

// FuzzParseType: no panics, and every accepted type has a size.
func FuzzParseType(f *testing.F) {
	for _, s := range []string{"u8", "Option<(Result<f32, E>, u64)>", "[u32; m::N]", "(u8, bool)", "S", "[[u8; 2]; 3]"} {
		f.Add(s)
	}
	ty, err := ParseTypes("f.toml", []byte(`
[consts]
"m::N" = 4
[types.E]
kind = "enum"
variants = [{name = "A"}, {name = "B", type = "u16"}]
[types.S]
kind = "struct"
fields = [{name = "e", type = "E"}]
`))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ty.parse(s)
		if err != nil {
			return
		}
		if size(p, fS) < 0 || goType(p) == "" {
			t.Fatalf("%q: bad result", s)
		}
	})
}

func TestNameCollisions(t *testing.T) {
	tests := map[string]string{
		"variant vs type": `
[types.Slot]
kind = "enum"
variants = [{name = "Id"}]
[types.SlotId]
kind = "struct"
fields = [{name = "x", type = "u8"}]
`,
		"payload field vs Variant": `
[types.Slot]
kind = "enum"
variants = [{name = "Variant", type = "u8"}]
[types.SlotId]
kind = "struct"
fields = [{name = "x", type = "Slot"}]
`,
	}
	for name, src := range tests {
		ty := mustTypes(t, src)
		iface := &idol.Interface{Name: "X", Ops: []idol.Op{{Name: "f", Code: 1, Args: []idol.Arg{arg("a", "SlotId"), arg("b", "Slot")}, Reply: simple("()"), Idempotent: true, Encoding: idol.Hubpack}}}
		if _, err := Generate(iface, Options{Package: "x", Source: "x.idol", Types: ty}); err == nil || !strings.Contains(err.Error(), "collides") && !strings.Contains(err.Error(), "is both") {
			t.Errorf("%s: %v", name, err)
		}
	}
	dup := &idol.Interface{Name: "X", Ops: []idol.Op{
		{Name: "get_a", Code: 1, Reply: simple("()"), Idempotent: true},
		{Name: "getA", Code: 2, Reply: simple("()"), Idempotent: true},
	}}
	if _, err := Generate(dup, Options{Package: "x", Source: "x.idol"}); err == nil {
		t.Error("two ops with one Go name accepted")
	}
}

// TestVariantValueOverflow: a value its repr cannot hold is refused in the
// types file, at the variant's line (the Go would fail with "overflows").
func TestVariantValueOverflow(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"u8 300", "[types.Mode]\nkind = \"enum\"\nrepr = \"u8\"\nvariants = [\n  {name = \"Off\"},\n  {name = \"Big\", value = 300},\n]\n",
			`t.toml:6: type "Mode" variant Big: value 300 does not fit its repr u8 (0 to 255)`},
		{"u16 negative", "[types.\"a::Mode\"]\nkind = \"enum\"\nrepr = \"u16\"\nvariants = [{name = \"Neg\", value = -1}]\n",
			`t.toml:4: type "a::Mode" variant Neg: value -1 does not fit its repr u16 (0 to 65535)`},
		{"implicit 256", "[types.E]\nkind = \"enum\"\nvariants = [{name = \"A\", value = 255}, {name = \"B\"}]\n",
			`t.toml:3: type "E" variant B: value 256 does not fit its repr u8 (0 to 255)`},
		{"clike past u32", "[types.Err]\nkind = \"clike\"\nvariants = [{name = \"A\", value = 4294967296}]\n",
			`t.toml:3: type "Err" variant A: value 4294967296 does not fit its repr u32 (0 to 4294967295)`},
	}
	for _, tt := range tests {
		_, err := ParseTypes("t.toml", []byte(tt.src))
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s:\n got: %v\nwant: %s", tt.name, err, tt.want)
		}
	}
	if _, err := ParseTypes("t.toml", []byte("[types.E]\nkind = \"enum\"\nvariants = [{name = \"A\", value = 255}]\n")); err != nil {
		t.Errorf("255 in u8: %v", err)
	}
}

// TestUnknownTypeSuggestion: an unknown type name says which one was meant.
func TestUnknownTypeSuggestion(t *testing.T) {
	ty := mustTypes(t, "[types.CameraMode]\nkind = \"enum\"\nvariants = [{name = \"Off\"}]\n")
	for _, tt := range []struct{ in, want string }{
		{"CameraMod", `unknown type "CameraMod" (not in the types file; did you mean CameraMode?)`},
		{"cam::CamraMode", `unknown type "cam::CamraMode" (not in the types file; did you mean CameraMode?)`},
		{"usise", `unknown type "usise" (not in the types file; did you mean usize?)`},
		{"Telescope", `unknown type "Telescope" (not in the types file)`},
	} {
		if _, err := ty.parse(tt.in); err == nil || err.Error() != tt.want {
			t.Errorf("%s:\n got: %v\nwant: %s", tt.in, err, tt.want)
		}
	}
}

// TestWarnings: generation warns where upstream could not build or send
// what it generates, and says nothing for what upstream handles.
func TestWarnings(t *testing.T) {
	ty := mustTypes(t, `
[types.Mode]
kind = "enum"
variants = [{name = "Off"}, {name = "On"}]
[types.Status]
kind = "struct"
fields = [{name = "mode", type = "Mode"}, {name = "count", type = "u32"}]
[types.Flags]
kind = "struct"
fields = [{name = "busy", type = "bool"}, {name = "count", type = "u16"}]
[types.SensorId]
kind = "struct"
fields = [{name = "index", type = "u32"}]
`)
	ssm := func(name string, args []idol.Arg, reply idol.Reply) idol.Op {
		return idol.Op{Name: name, Args: args, Reply: reply, Idempotent: true, Encoding: idol.Ssmarshal}
	}
	iface := &idol.Interface{Name: "W", Ops: []idol.Op{
		{Name: "status", Reply: simple("Status"), Idempotent: true},
		{Name: "set", Args: []idol.Arg{arg("f", "Flags")}, Reply: simple("()"), Idempotent: true},
		{Name: "bare", Args: []idol.Arg{arg("on", "bool")}, Reply: simple("bool"), Idempotent: true},
		ssm("opt_bool", []idol.Arg{arg("b", "Option<bool>")}, simple("()")),
		ssm("opt_mode", nil, simple("Option<Mode>")),
		ssm("size", []idol.Arg{arg("n", "usize")}, simple("()")),
		ssm("fits", []idol.Arg{arg("a", "u8"), arg("b", "u32")}, simple("Option<u32>")),
		{Name: "sense", Args: []idol.Arg{{Name: "id", AttributedType: idol.AttributedType{Type: "SensorId", Recv: idol.RecvStrategy{Kind: idol.From, Type: "u32"}}}}, Reply: simple("()"), Idempotent: true},
	}}
	for i := range iface.Ops {
		iface.Ops[i].Code = uint16(i + 1)
	}
	var got []string
	if _, err := Generate(iface, Options{Package: "w", Source: "w.idol", Types: ty, Warn: func(m string) { got = append(got, m) }}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`w.idol: op status: reply: Zerocopy type Status contains the C-like enum Mode (field Status.mode): upstream cannot derive FromBytes for it, so a Hubris client of this interface would not build`,
		`w.idol: op set: arg f: Zerocopy type Flags contains a bool (field Flags.busy): upstream cannot derive FromBytes for it, so a Hubris server of this interface would not build`,
		`w.idol: op opt_bool: Ssmarshal arguments encode in up to 2 bytes, but upstream's buffer is size_of = 1 bytes: a Hubris client cannot send every value (see docs/idol-gen.md)`,
		`w.idol: op opt_mode: reply: Ssmarshal Option<Mode> encodes in up to 2 bytes, but upstream's buffer is size_of = 1 bytes: a Hubris server cannot send every value (see docs/idol-gen.md)`,
		`w.idol: op size: Ssmarshal arguments encode in up to 8 bytes, but upstream's buffer is size_of = 4 bytes: a Hubris client cannot send every value (see docs/idol-gen.md)`,
		`w.idol: op sense: arg id: From("u32") without a function: the server gets the wire type u32, not SensorId (Go has no From; name a Go function, From("u32", Some("f")), to convert)`,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("warnings (-want +got):\n%s", d)
	}
}

// TestRustLayout: size_of as Rust lays types out on a 32-bit target.
func TestRustLayout(t *testing.T) {
	ty := mustTypes(t, `
[types.Mode]
kind = "enum"
variants = [{name = "Off"}, {name = "On"}]
[types.S]
kind = "struct"
fields = [{name = "a", type = "u8"}, {name = "b", type = "u32"}, {name = "c", type = "u16"}]
[types.D]
kind = "enum"
variants = [{name = "A"}, {name = "B", type = "u32"}]
`)
	for _, tt := range []struct {
		typ  string
		size int
	}{
		{"bool", 1}, {"usize", 4}, {"u64", 8}, {"()", 0}, {"Option<bool>", 1}, {"Option<Mode>", 1},
		{"Option<u8>", 2}, {"Option<u32>", 8}, {"Option<Option<bool>>", 1}, {"(u8, u32)", 8},
		{"S", 8}, {"[u16; 3]", 6}, {"D", 8}, {"Mode", 1},
	} {
		p, err := ty.parse(tt.typ)
		if err != nil {
			t.Fatal(err)
		}
		if got := rustLayoutOf(p).size; got != tt.size {
			t.Errorf("size_of::<%s>() = %d, want %d", tt.typ, got, tt.size)
		}
	}
}
