package idol

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"spacenet/ipc/idol/ron"
)

// one wraps a single op body as the whole file `(name: "T", ops: {"op": BODY})`.
func one(body string) string { return `(name: "T", ops: {"op": ` + body + `})` }

// TestAccepted checks each accepted syntax by the op it produces.
func TestAccepted(t *testing.T) {
	unit := AttributedType{Type: "()"}
	simple := Reply{Kind: Simple, Ok: AttributedType{Type: "u8"}}
	tests := []struct {
		name string
		in   string
		want Op
	}{
		{"minimal", one(`(reply: Simple("u8"), idempotent: true)`),
			Op{Reply: simple, Idempotent: true}},
		{"struct names written", `Interface(name: "T", ops: {"op": Operation(args: {"a": AttributedTy(type: "u8")}, leases: {"l": Lease(type: "[u8]", read: true)}, reply: Simple("u8"), idempotent: true)})`,
			Op{Args: []Arg{{Name: "a", AttributedType: AttributedType{Type: "u8"}}}, Leases: []Lease{{Name: "l", Type: "[u8]", Read: true}}, Reply: simple, Idempotent: true}},
		{"fields in any order, trailing commas", one(`(idempotent: true, reply: Simple("u8",), leases: {}, args: {},)`),
			Op{Reply: simple, Idempotent: true}},
		{"empty maps over lines", one("(args: {\n}, leases: {\n\n}, reply: Simple(\"u8\"), idempotent: true)"),
			Op{Reply: simple, Idempotent: true}},
		{"idempotent false written", one(`(reply: Result(ok: "()", err: ServerDeath), idempotent: false)`),
			Op{Reply: Reply{Kind: Result, Ok: unit, Err: ErrorType{Kind: ServerDeath}}}},
		{"long-form type with recv FromBytes", one(`(args: {"a": (type: "u32", recv: FromBytes)}, reply: Simple("u8"), idempotent: true)`),
			Op{Args: []Arg{{Name: "a", AttributedType: AttributedType{Type: "u32"}}}, Reply: simple, Idempotent: true}},
		{"recv FromPrimitive", one(`(args: {"a": (recv: FromPrimitive("u8"), type: "Mode")}, reply: Simple("u8"), idempotent: true)`),
			Op{Args: []Arg{{Name: "a", AttributedType: AttributedType{Type: "Mode", Recv: RecvStrategy{Kind: FromPrimitive, Type: "u8"}}}}, Reply: simple, Idempotent: true}},
		{"recv From None", one(`(args: {"a": (type: "SensorId", recv: From("usize", None))}, reply: Simple("u8"), idempotent: true)`),
			Op{Args: []Arg{{Name: "a", AttributedType: AttributedType{Type: "SensorId", Recv: RecvStrategy{Kind: From, Type: "usize"}}}}, Reply: simple, Idempotent: true}},
		{"recv From without function", one(`(args: {"a": (type: "SensorId", recv: From("usize"))}, reply: Simple("u8"), idempotent: true)`),
			Op{Args: []Arg{{Name: "a", AttributedType: AttributedType{Type: "SensorId", Recv: RecvStrategy{Kind: From, Type: "usize"}}}}, Reply: simple, Idempotent: true}},
		{"recv From Some", one(`(args: {"a": (type: "SensorId", recv: From("usize", Some("sensor_id")))}, reply: Simple("u8"), idempotent: true)`),
			Op{Args: []Arg{{Name: "a", AttributedType: AttributedType{Type: "SensorId", Recv: RecvStrategy{Kind: From, Type: "usize", Func: ptr("sensor_id")}}}}, Reply: simple, Idempotent: true}},
		{"Simple reply long form", one(`(reply: Simple((type: "Mode", recv: FromPrimitive("u8"))), idempotent: true)`),
			Op{Reply: Reply{Kind: Simple, Ok: AttributedType{Type: "Mode", Recv: RecvStrategy{Kind: FromPrimitive, Type: "u8"}}}, Idempotent: true}},
		{"Result CLike", one(`(reply: Result(err: CLike("E"), ok: "()"))`),
			Op{Reply: Reply{Kind: Result, Ok: unit, Err: ErrorType{Kind: CLike, Type: "E"}}}},
		{"Complex with Hubpack", one(`(reply: Result(ok: "()", err: Complex("E")), encoding: Hubpack)`),
			Op{Reply: Reply{Kind: Result, Ok: unit, Err: ErrorType{Kind: Complex, Type: "E"}}, Encoding: Hubpack}},
		{"Ssmarshal", one(`(reply: Result(ok: "()", err: CLike("E")), encoding: Ssmarshal)`),
			Op{Reply: Reply{Kind: Result, Ok: unit, Err: ErrorType{Kind: CLike, Type: "E"}}, Encoding: Ssmarshal}},
		{"Zerocopy written", one(`(reply: Simple("u8"), idempotent: true, encoding: Zerocopy)`),
			Op{Reply: simple, Idempotent: true}},
		{"lease flags and max_len", one(`(leases: {"a": (type: "[u8]", read: true, write: false, max_len: Some(0x1_00)), "b": (type: "[u32]", write: true, max_len: None)}, reply: Simple("u8"), idempotent: true)`),
			Op{Leases: []Lease{{Name: "a", Type: "[u8]", Read: true, MaxLen: ptr(uint32(256))}, {Name: "b", Type: "[u32]", Write: true}}, Reply: simple, Idempotent: true}},
		{"max_len at u32 max", one(`(leases: {"a": (type: "[u8]", read: true, max_len: Some(4_294_967_295))}, reply: Simple("u8"), idempotent: true)`),
			Op{Leases: []Lease{{Name: "a", Type: "[u8]", Read: true, MaxLen: ptr(uint32(4294967295))}}, Reply: simple, Idempotent: true}},
		{"implicit_some", "#![enable(implicit_some)]\n" + one(`(args: {"a": (type: "S", recv: From("usize", "f"))}, leases: {"a2": (type: "[u8]", read: true, max_len: 64)}, reply: Simple("u8"), idempotent: true)`),
			Op{Args: []Arg{{Name: "a", AttributedType: AttributedType{Type: "S", Recv: RecvStrategy{Kind: From, Type: "usize", Func: ptr("f")}}}}, Leases: []Lease{{Name: "a2", Type: "[u8]", Read: true, MaxLen: ptr(uint32(64))}}, Reply: simple, Idempotent: true}},
		{"implicit_some still takes Some and None", "#![enable(implicit_some)]\n" + one(`(leases: {"a": (type: "[u8]", read: true, max_len: Some(64)), "b": (type: "[u8]", read: true, max_len: None)}, reply: Simple("u8"), idempotent: true)`),
			Op{Leases: []Lease{{Name: "a", Type: "[u8]", Read: true, MaxLen: ptr(uint32(64))}, {Name: "b", Type: "[u8]", Read: true}}, Reply: simple, Idempotent: true}},
		{"types trimmed, raw strings", one(`(args: {"a": r#" (u8, u16) "#, "b": " [u32; 4]"}, reply: Simple(r"drv_spi_api::SpiError "), idempotent: true)`),
			Op{Args: []Arg{{Name: "a", AttributedType: AttributedType{Type: "(u8, u16)"}}, {Name: "b", AttributedType: AttributedType{Type: "[u32; 4]"}}}, Reply: Reply{Kind: Simple, Ok: AttributedType{Type: "drv_spi_api::SpiError"}}, Idempotent: true}},
		{"doc with escapes", one(`(doc: "a \"b\"\n\u{e9}", reply: Simple("u8"), idempotent: true)`),
			Op{Reply: simple, Idempotent: true, Doc: ptr("a \"b\"\né")}},
		{"description as doc", one(`(description: "d", reply: Simple("u8"), idempotent: true)`),
			Op{Reply: simple, Idempotent: true, Doc: ptr("d")}},
		{"doc preferred to description", one(`(description: "d", doc: "x", reply: Simple("u8"), idempotent: true)`),
			Op{Reply: simple, Idempotent: true, Doc: ptr("x")}},
		{"unknown op fields ignored", one(`(reply: Simple("u8"), idempotent: true, since: [1, 2], note: (a: Foo))`),
			Op{Reply: simple, Idempotent: true}},
		{"comments everywhere", "// head\n/* block /* nested */ */\n" + one("( // after paren\n reply: /* here */ Simple(\"u8\"), // end\n idempotent: true)") + "\n// tail\n",
			Op{Reply: simple, Idempotent: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iface, err := ParseChecked("t.idol", []byte(tt.in))
			if err != nil {
				t.Fatalf("ParseChecked: %v", err)
			}
			if iface.Name != "T" || len(iface.Ops) != 1 {
				t.Fatalf("got %+v", iface)
			}
			want := tt.want
			want.Name, want.Code = "op", 1
			if d := cmp.Diff(want, iface.Ops[0]); d != "" {
				t.Errorf("op (-want +got):\n%s", d)
			}
		})
	}
}

func TestOpOrderAndCodes(t *testing.T) {
	iface, err := ParseChecked("t.idol", []byte(`Interface(name: "T", ops: {
		"zeta": (reply: Simple("u8"), idempotent: true),
		"alpha": (reply: Simple("u8"), idempotent: true),
		"mid": (reply: Simple("u8"), idempotent: true),
	})`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, op := range iface.Ops {
		got = append(got, op.Name+"="+string(rune('0'+op.Code)))
	}
	if strings.Join(got, " ") != "zeta=1 alpha=2 mid=3" {
		t.Errorf("ops = %v", got)
	}
}

func TestEmptyInterface(t *testing.T) {
	iface, err := ParseChecked("t.idol", []byte(`Interface(ops: {}, name: "Empty")`))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := Dump(iface)
	if string(out) != "{\n  \"name\": \"Empty\",\n  \"ops\": []\n}\n" {
		t.Errorf("dump = %s", out)
	}
}

// TestRejected checks each syntax and shape rejection with its exact message.
func TestRejected(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"unquoted op key", `(name: "T", ops: {op: (reply: Simple("u8"), idempotent: true)})`,
			`t.idol:1:19: expected quoted string op name, found identifier op`},
		{"unquoted arg key", one(`(args: {a: "u8"}, reply: Simple("u8"), idempotent: true)`),
			`t.idol:1:33: expected quoted string arg name, found identifier a`},
		{"args: ()", one(`(args: (), reply: Simple("u8"), idempotent: true)`),
			`t.idol:1:32: expected map of args {"name": "type", ...}, found ()`},
		{"leases: ()", one(`(leases: (), reply: Simple("u8"), idempotent: true)`),
			`t.idol:1:34: expected map of leases {"name": (type: ..., read: ..., write: ...), ...}, found ()`},
		{"ServerDeath()", one(`(reply: Result(ok: "()", err: ServerDeath()))`),
			`t.idol:1:55: expected err CLike("T"), Complex("T") or ServerDeath, found ServerDeath()`},
		{"idempotent: 1", one(`(reply: Simple("u8"), idempotent: 1)`),
			`t.idol:1:59: expected bool true or false, found integer 1`},
		{"lower-case result", one(`(reply: result(ok: "()", err: ServerDeath))`),
			`t.idol:1:33: expected reply Simple(T) or Result(ok: T, err: E), found struct result(...)`},
		{"lower-case simple", one(`(reply: simple("u8"), idempotent: true)`),
			`t.idol:1:33: expected reply Simple(T) or Result(ok: T, err: E), found simple(...)`},
		{"lower-case clike", one(`(reply: Result(ok: "()", err: clike("E")))`),
			`t.idol:1:55: expected err CLike("T"), Complex("T") or ServerDeath, found clike(...)`},
		{"lower-case serverdeath", one(`(reply: Result(ok: "()", err: serverDeath))`),
			`t.idol:1:55: expected err CLike("T"), Complex("T") or ServerDeath, found identifier serverDeath`},
		{"lower-case encoding", one(`(reply: Simple("u8"), idempotent: true, encoding: hubpack)`),
			`t.idol:1:75: expected encoding Zerocopy, Ssmarshal or Hubpack, found identifier hubpack`},
		{"lower-case recv", one(`(args: {"a": (type: "M", recv: fromPrimitive("u8"))}, reply: Simple("u8"), idempotent: true)`),
			`t.idol:1:56: expected recv FromBytes, FromPrimitive("T") or From("T"[, None | Some("f")]), found fromPrimitive(...)`},
		{"lower-case interface", `interface(name: "T", ops: {})`,
			`t.idol:1:1: expected Interface(name: ..., ops: {...}), found struct interface(...)`},
		{"op field given twice", one(`(reply: Simple("u8"), reply: Simple("u8"), idempotent: true)`),
			`t.idol:1:47: duplicate field "reply"`},
		{"interface field given twice", `(name: "T", name: "U", ops: {})`,
			`t.idol:1:13: duplicate field "name"`},
		{"lease field given twice", one(`(leases: {"l": (type: "[u8]", read: true, read: false)}, reply: Simple("u8"), idempotent: true)`),
			`t.idol:1:67: duplicate field "read"`},
		{"duplicate op", "(name: \"T\", ops: {\n  \"a\": (reply: Simple(\"u8\"), idempotent: true),\n  \"a\": (reply: Simple(\"u8\"), idempotent: true),\n})",
			`t.idol:3:3: invalid entry: found duplicate key "a"`},
		{"duplicate arg", one(`(args: {"a": "u8", "a": "u16"}, reply: Simple("u8"), idempotent: true)`),
			`t.idol:1:44: invalid entry: found duplicate key "a"`},
		{"duplicate lease", one(`(leases: {"l": (type: "[u8]", read: true), "l": (type: "[u8]", write: true)}, reply: Simple("u8"), idempotent: true)`),
			`t.idol:1:68: invalid entry: found duplicate key "l"`},
		{"max_len without Some", one(`(leases: {"l": (type: "[u8]", read: true, max_len: 64)}, reply: Simple("u8"), idempotent: true)`),
			`t.idol:1:76: expected None or Some(n), found integer 64`},
		{"max_len negative", one(`(leases: {"l": (type: "[u8]", read: true, max_len: Some(-1))}, reply: Simple("u8"), idempotent: true)`),
			`t.idol:1:81: expected max_len integer from 1 to 4294967295, found integer -1`},
		{"max_len too big", one(`(leases: {"l": (type: "[u8]", read: true, max_len: Some(4294967296))}, reply: Simple("u8"), idempotent: true)`),
			`t.idol:1:81: expected max_len integer from 1 to 4294967295, found integer 4294967296`},
		{"max_len string", one(`(leases: {"l": (type: "[u8]", read: true, max_len: Some("8"))}, reply: Simple("u8"), idempotent: true)`),
			`t.idol:1:81: expected max_len integer from 1 to 4294967295, found string "8"`},
		{"From with three", one(`(args: {"a": (type: "M", recv: From("usize", None, None))}, reply: Simple("u8"), idempotent: true)`),
			`t.idol:1:56: expected recv FromBytes, FromPrimitive("T") or From("T"[, None | Some("f")]), found From(...)`},
		{"From function not optional", one(`(args: {"a": (type: "M", recv: From("usize", "f"))}, reply: Simple("u8"), idempotent: true)`),
			`t.idol:1:70: expected None or Some("function"), found string "f"`},
		{"FromPrimitive not a string", one(`(args: {"a": (type: "M", recv: FromPrimitive(u8))}, reply: Simple("u8"), idempotent: true)`),
			`t.idol:1:70: expected primitive type string, found identifier u8`},
		{"Simple as struct", one(`(reply: Simple(type: "u8"), idempotent: true)`),
			`t.idol:1:33: expected reply Simple(T) or Result(ok: T, err: E), found struct Simple(...)`},
		{"Result as tuple", one(`(reply: Result("()", ServerDeath))`),
			`t.idol:1:33: expected reply Simple(T) or Result(ok: T, err: E), found Result(...)`},
		{"unknown arg field", one(`(args: {"a": (type: "u8", kind: 1)}, reply: Simple("u8"), idempotent: true)`),
			`t.idol:1:51: expected field type or recv in (type: ..., recv: ...), found unknown field kind`},
		{"unknown lease field", one(`(leases: {"l": (type: "[u8]", read: true, len: 4)}, reply: Simple("u8"), idempotent: true)`),
			`t.idol:1:67: expected field type, read, write or max_len in lease, found unknown field len`},
		{"unknown Result field", one(`(reply: Result(ok: "()", err: ServerDeath, why: 1))`),
			`t.idol:1:68: expected field ok or err in Result, found unknown field why`},
		{"unknown interface field", `(name: "T", ops: {}, version: 2)`,
			`t.idol:1:22: expected field name or ops in Interface, found unknown field version`},
		{"missing reply", one(`(args: {}, idempotent: true)`),
			`t.idol:1:25: missing field reply in op "op"`},
		{"empty op", one(`()`),
			`t.idol:1:25: missing field reply in op "op"`},
		{"missing ops", `Interface(name: "T")`,
			`t.idol:1:1: missing field ops in Interface`},
		{"missing name", `Interface(ops: {})`,
			`t.idol:1:1: missing field name in Interface`},
		{"missing lease type", one(`(leases: {"l": (read: true)}, reply: Simple("u8"), idempotent: true)`),
			`t.idol:1:40: missing field type in lease`},
		{"missing arg type", one(`(args: {"a": (recv: FromBytes)}, reply: Simple("u8"), idempotent: true)`),
			`t.idol:1:38: missing field type in (type: ..., recv: ...)`},
		{"missing err", one(`(reply: Result(ok: "u8"))`),
			`t.idol:1:33: missing field err in Result`},
		{"name not a string", `(name: Spi, ops: {})`,
			`t.idol:1:8: expected string name, found identifier Spi`},
		{"ops not a map", `(name: "T", ops: ["a"])`,
			`t.idol:1:18: expected map of ops {"name": (...), ...}, found list`},
		{"op not a struct", one(`"u8"`),
			`t.idol:1:25: expected op (args: {...}, leases: {...}, reply: ...), found string "u8"`},
		{"op wrongly named", one(`Op(reply: Simple("u8"), idempotent: true)`),
			`t.idol:1:25: expected op (args: {...}, leases: {...}, reply: ...), found struct Op(...)`},
		{"doc not a string", one(`(doc: 3, reply: Simple("u8"), idempotent: true)`),
			`t.idol:1:31: expected doc string, found integer 3`},
		{"read not a bool", one(`(leases: {"l": (type: "[u8]", read: "yes")}, reply: Simple("u8"), idempotent: true)`),
			`t.idol:1:61: expected bool true or false, found string "yes"`},
		{"root is a list", `[1]`,
			`t.idol:1:1: expected Interface(name: ..., ops: {...}), found list`},
		{"syntax error", one(`(reply: Simple("u8") idempotent: true)`),
			`t.idol:1:46: expected ',' or ')', found identifier idempotent`},
		{"several shape errors at once", one(`(args: (), reply: Simple("u8"), idempotent: 1)`),
			"t.idol:1:32: expected map of args {\"name\": \"type\", ...}, found ()\nt.idol:1:69: expected bool true or false, found integer 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iface, err := Parse("t.idol", []byte(tt.in))
			if err == nil {
				t.Fatalf("Parse accepted %s: %+v", tt.in, iface)
			}
			if err.Error() != tt.want {
				t.Errorf("Parse(%s)\n got: %s\nwant: %s", tt.in, err, tt.want)
			}
			var re *ron.Error
			if !errors.As(err, &re) {
				t.Errorf("error %T has no *ron.Error", err)
			}
		})
	}
}

// TestCheck checks each semantic rule with its exact message, as
// ParseChecked reports it (positioned) and as Check does (no position).
func TestCheck(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string // positioned messages; Check gives them without the position
	}{
		{"lease neither read nor write", one(`(leases: {"buf": (type: "[u8]")}, reply: Simple("u8"), idempotent: true)`),
			[]string{`t.idol:1:35: op "op": lease "buf" is neither read nor write`}},
		{"lease read false write false", one(`(leases: {"buf": (type: "[u8]", read: false, write: false)}, reply: Simple("u8"), idempotent: true)`),
			[]string{`t.idol:1:35: op "op": lease "buf" is neither read nor write`}},
		{"Complex without Hubpack", one(`(reply: Result(ok: "()", err: Complex("E")))`),
			[]string{`t.idol:1:33: op "op": Complex error "E" needs encoding: Hubpack, found Zerocopy`}},
		{"Complex with Ssmarshal", one(`(reply: Result(ok: "()", err: Complex("E")), encoding: Ssmarshal)`),
			[]string{`t.idol:1:33: op "op": Complex error "E" needs encoding: Hubpack, found Ssmarshal`}},
		{"FromPrimitive arg with Hubpack", one(`(args: {"m": (type: "M", recv: FromPrimitive("u8"))}, reply: Simple("u8"), idempotent: true, encoding: Hubpack)`),
			[]string{`t.idol:1:33: op "op": arg "m": recv FromPrimitive needs encoding: Zerocopy, found Hubpack`}},
		{"From arg with Ssmarshal", one(`(args: {"m": (type: "M", recv: From("usize", None))}, reply: Simple("u8"), idempotent: true, encoding: Ssmarshal)`),
			[]string{`t.idol:1:33: op "op": arg "m": recv From needs encoding: Zerocopy, found Ssmarshal`}},
		{"FromPrimitive reply with Hubpack", one(`(reply: Simple((type: "M", recv: FromPrimitive("u8"))), idempotent: true, encoding: Hubpack)`),
			[]string{`t.idol:1:33: op "op": reply ok: recv FromPrimitive needs encoding: Zerocopy, found Hubpack`}},
		{"max_len on a single value", one(`(leases: {"v": (type: "u32", read: true, max_len: Some(4))}, reply: Simple("u8"), idempotent: true)`),
			[]string{`t.idol:1:35: op "op": lease "v": max_len needs a slice type [T], found "u32"`}},
		{"max_len on an array", one(`(leases: {"v": (type: "[u32; 4]", read: true, max_len: Some(4))}, reply: Simple("u8"), idempotent: true)`),
			[]string{`t.idol:1:35: op "op": lease "v": max_len needs a slice type [T], found "[u32; 4]"`}},
		{"max_len 0", one(`(leases: {"v": (type: "[u8]", read: true, max_len: Some(0))}, reply: Simple("u8"), idempotent: true)`),
			[]string{`t.idol:1:35: op "op": lease "v": max_len must be at least 1, found 0`}},
		{"interface name not an identifier", `(name: "my-iface", ops: {})`,
			[]string{`t.idol:1:8: interface name "my-iface" is not an identifier`}},
		{"interface name empty", `(name: "", ops: {})`,
			[]string{`t.idol:1:8: interface name "" is not an identifier`}},
		{"op name not an identifier", `(name: "T", ops: {"1op": (reply: Simple("u8"), idempotent: true)})`,
			[]string{`t.idol:1:19: op "1op": name is not an identifier`}},
		{"arg name not an identifier", one(`(args: {"a b": "u8"}, reply: Simple("u8"), idempotent: true)`),
			[]string{`t.idol:1:33: op "op": arg "a b": name is not an identifier`}},
		{"lease name not an identifier", one(`(leases: {"_": (type: "[u8]", read: true)}, reply: Simple("u8"), idempotent: true)`),
			[]string{`t.idol:1:35: op "op": lease "_": name is not an identifier`}},
		{"lease named like an arg", one(`(args: {"x": "u8"}, leases: {"x": (type: "[u8]", read: true)}, reply: Simple("u8"), idempotent: true)`),
			[]string{`t.idol:1:54: op "op": lease "x" has the same name as an arg`}},
		{"empty types", one(`(args: {"a": " "}, leases: {"l": (type: "", read: true)}, reply: Result(ok: "", err: CLike("")))`),
			[]string{
				`t.idol:1:33: op "op": arg "a": type is empty`,
				`t.idol:1:53: op "op": lease "l": type is empty`,
				`t.idol:1:90: op "op": reply ok: type is empty`,
				`t.idol:1:90: op "op": err type is empty`,
			}},
		{"empty recv type", one(`(args: {"a": (type: "M", recv: FromPrimitive(""))}, reply: Simple("u8"), idempotent: true)`),
			[]string{`t.idol:1:33: op "op": arg "a": recv FromPrimitive wire type is empty`}},
		{"From function not an identifier", one(`(args: {"a": (type: "M", recv: From("usize", Some("a::f")))}, reply: Simple("u8"), idempotent: true)`),
			[]string{`t.idol:1:33: op "op": arg "a": recv From function "a::f" is not an identifier`}},
		{"keywords as names", `(name: "Self", ops: {"type": (args: {"fn": "u8"}, leases: {"mut": (type: "[u8]", read: true)}, reply: Simple((type: "S", recv: From("u8", Some("match")))), idempotent: true)})`,
			[]string{
				`t.idol:1:8: interface name "Self" is a Rust keyword, not an identifier`,
				`t.idol:1:22: op "type": name is a Rust keyword, not an identifier`,
				`t.idol:1:38: op "type": arg "fn": name is a Rust keyword, not an identifier`,
				`t.idol:1:60: op "type": lease "mut": name is a Rust keyword, not an identifier`,
				`t.idol:1:103: op "type": reply ok: recv From function "match" is a Rust keyword, not an identifier`,
			}},
		{"every problem reported", "(name: \"T\", ops: {\n" +
			"  \"a\": (leases: {\"x\": (type: \"u8\", max_len: Some(0))}, reply: Result(ok: \"()\", err: Complex(\"E\"))),\n" +
			"  \"b\": (reply: Simple(\"u8\")),\n" +
			"})",
			[]string{
				`t.idol:2:18: op "a": lease "x" is neither read nor write`,
				`t.idol:2:18: op "a": lease "x": max_len needs a slice type [T], found "u8"`,
				`t.idol:2:18: op "a": lease "x": max_len must be at least 1, found 0`,
				`t.idol:2:63: op "a": Complex error "E" needs encoding: Hubpack, found Zerocopy`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iface, err := Parse("t.idol", []byte(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			_, err = ParseChecked("t.idol", []byte(tt.in))
			if err == nil {
				t.Fatal("ParseChecked accepted it")
			}
			if got := err.Error(); got != strings.Join(tt.want, "\n") {
				t.Errorf("ParseChecked\n got: %s\nwant: %s", got, strings.Join(tt.want, "\n"))
			}
			var unpositioned []string
			for _, w := range tt.want {
				unpositioned = append(unpositioned, w[strings.Index(w, ": ")+2:])
			}
			err = iface.Check()
			if err == nil || err.Error() != strings.Join(unpositioned, "\n") {
				t.Errorf("Check\n got: %v\nwant: %s", err, strings.Join(unpositioned, "\n"))
			}
			var ce *CheckError
			if !errors.As(err, &ce) {
				t.Errorf("error %T has no *CheckError", err)
			}
		})
	}
}

// TestClientProblems: the rules upstream applies only when generating a
// client are not Check's: ParseChecked accepts such files, and
// File.ClientProblems (positioned) and Interface.ClientProblems report them.
func TestClientProblems(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"idempotent with read+write lease", one(`(leases: {"buf": (type: "[u8]", read: true, write: true)}, reply: Simple("u8"), idempotent: true)`),
			[]string{`t.idol:1:35: op "op": idempotent op has lease "buf" that is both read and write`}},
		{"idempotent with ServerDeath", one(`(reply: Result(ok: "()", err: ServerDeath), idempotent: true)`),
			[]string{`t.idol:1:33: op "op": idempotent op has err: ServerDeath (it is retried, a restart is never reported)`}},
		{"non-idempotent with Simple", one(`(reply: Simple("u8"))`),
			[]string{`t.idol:1:33: op "op": non-idempotent op has a Simple reply (it could not report a server restart)`}},
		{"no problem", one(`(reply: Result(ok: "u8", err: ServerDeath))`), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Load("t.idol", []byte(tt.in))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			var got, unpositioned []string
			for _, p := range f.ClientProblems() {
				got = append(got, p.Error())
			}
			for _, p := range f.Interface.ClientProblems() {
				unpositioned = append(unpositioned, p.Error())
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("File.ClientProblems (-want +got):\n%s", d)
			}
			var want []string
			for _, w := range tt.want {
				want = append(want, w[strings.Index(w, ": ")+2:])
			}
			if d := cmp.Diff(want, unpositioned); d != "" {
				t.Errorf("Interface.ClientProblems (-want +got):\n%s", d)
			}
		})
	}
}

// TestUnknownOpFieldWarning: upstream ignores an unknown op field, so it
// parses; Load warns, positioned, with a suggestion when one is close.
func TestUnknownOpFieldWarning(t *testing.T) {
	in := "Interface(name: \"T\", ops: {\"op\": (\n  reply: Simple(\"u8\"),\n  idempotnt: true,\n  colour: 3,\n)})"
	f, err := Load("t.idol", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range f.Warnings {
		got = append(got, w.Error())
	}
	want := []string{
		`t.idol:3:3: unknown field idempotnt in op "op" is ignored (as upstream ignores it); did you mean idempotent?`,
		`t.idol:4:3: unknown field colour in op "op" is ignored (as upstream ignores it)`,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("warnings (-want +got):\n%s", d)
	}
	if f.Interface.Ops[0].Idempotent {
		t.Error("the misspelt field made the op idempotent")
	}
}

func TestSuggest(t *testing.T) {
	for _, tt := range []struct{ name, want string }{
		{"idempotnt", "idempotent"}, {"Idempotent", "idempotent"}, {"lease", "leases"},
		{"arg", "args"}, {"colour", ""}, {"x", ""},
	} {
		if got := Suggest(tt.name, opFields); got != tt.want {
			t.Errorf("Suggest(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestCheckOK(t *testing.T) {
	for _, in := range []string{
		one(`(leases: {"l": (type: "[u8]", read: true, write: true)}, reply: Result(ok: "()", err: CLike("E")))`),
		one(`(leases: {"l": (type: "[u8]", read: true, max_len: Some(1))}, reply: Result(ok: "()", err: ServerDeath))`),
		one(`(leases: {"l": (type: "u32", write: true)}, reply: Simple("u8"), idempotent: true)`),
		one(`(args: {"m": (type: "M", recv: From("usize", Some("conv")))}, reply: Simple("u8"), idempotent: true)`),
		one(`(args: {"m": (type: "M", recv: From("usize"))}, reply: Simple("u8"), idempotent: true)`),
		one(`(reply: Result(ok: "M", err: Complex("E")), encoding: Hubpack, idempotent: true)`),
	} {
		if _, err := ParseChecked("t.idol", []byte(in)); err != nil {
			t.Errorf("%s: %v", in, err)
		}
	}
}

func TestSliceElem(t *testing.T) {
	for in, want := range map[string]string{
		"[u8]":           "u8",
		" [ u32 ] ":      "u32",
		"[(u8, u16)]":    "(u8, u16)",
		"[[u8; 4]]":      "[u8; 4]",
		"[Foo<A, B>]":    "Foo<A, B>",
		"[u8; 4]":        "",
		"u8":             "",
		"[]":             "",
		"[u8]]":          "",
		"[[u8]":          "",
		"[a::B]":         "a::B",
		"[u8; N]":        "",
		"[usize; a::N]":  "",
		"[(u8; 2)]":      "(u8; 2)",
		"[[u8; 2]; 2]":   "",
		"(u8, [u8])":     "",
		"[u8] ":          "u8",
		"[Option<u8>]":   "Option<u8>",
		"[&'static str]": "&'static str",
	} {
		got, ok := SliceElem(in)
		if got != want || ok != (want != "") {
			t.Errorf("SliceElem(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestIsIdent(t *testing.T) {
	for in, want := range map[string]bool{
		"read": true, "_x": true, "A1": true, "r#type": false, "type": false, "Self": false, "self_": true, "": false, "_": false, "1a": false, "a-b": false, "é": false, "a b": false,
	} {
		if IsIdent(in) != want {
			t.Errorf("IsIdent(%q) = %v", in, !want)
		}
	}
}

func TestParseFileMissing(t *testing.T) {
	if _, err := ParseFile("testdata/no-such.idol"); err == nil {
		t.Error("ParseFile of a missing file succeeded")
	}
}

func TestStrings(t *testing.T) {
	got := []string{
		FromBytes.String(), FromPrimitive.String(), From.String(), RecvKind(9).String(),
		Simple.String(), Result.String(), ReplyKind(9).String(),
		CLike.String(), Complex.String(), ServerDeath.String(), ErrorKind(9).String(),
	}
	want := "FromBytes FromPrimitive From RecvKind(?) Simple Result ReplyKind(?) CLike Complex ServerDeath ErrorKind(?)"
	if strings.Join(got, " ") != want {
		t.Errorf("got %v", got)
	}
}

// TestDumpShapes checks the JSON of every recv, reply and err form.
func TestDumpShapes(t *testing.T) {
	iface, err := ParseChecked("t.idol", []byte(`(name: "T", ops: {
		"a": (args: {"p": (type: "M", recv: FromPrimitive("u8")), "f": (type: "S", recv: From("usize", None)), "g": (type: "S", recv: From("usize", Some("conv")))},
		      reply: Simple("u8"), idempotent: true),
		"b": (reply: Result(ok: "()", err: ServerDeath)),
		"c": (reply: Result(ok: "Vec<u8>", err: Complex("E<&'a>")), encoding: Hubpack, doc: "<b>"),
	})`))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Dump(iface)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"recv": {
            "kind": "FromPrimitive",
            "type": "u8"
          }`,
		`"recv": {
            "kind": "From",
            "type": "usize",
            "func": null
          }`,
		`"func": "conv"`,
		`"reply": {
        "kind": "Simple",
        "ok": {
          "type": "u8",
          "recv": {
            "kind": "FromBytes"
          }
        }
      },`,
		`"err": {
          "kind": "ServerDeath"
        }`,
		`"err": {
          "kind": "Complex",
          "type": "E<&'a>"
        }`,
		`"type": "Vec<u8>"`,
		`"encoding": "Hubpack",
      "doc": "<b>"`,
		`"doc": null`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("dump lacks\n%s\nin\n%s", want, out)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(one(`(args: {"a": (type: "S", recv: From("usize", Some("f")))}, leases: {"l": (type: "[u8]", read: true, max_len: Some(4))}, reply: Simple("u8"), idempotent: true)`)))
	f.Add([]byte("#![enable(implicit_some)]\n" + one(`(leases: {"l": (type: "[u8]", read: true, max_len: 4)}, reply: Result(ok: "()", err: Complex("E")), encoding: Hubpack, doc: r#"x"#)`)))
	f.Add([]byte(one(`(reply: Result(ok: "()", err: ServerDeath()), idempotent: 1)`)))
	f.Fuzz(func(t *testing.T, data []byte) {
		iface, err := Parse("fuzz", data)
		if err != nil {
			return
		}
		_ = iface.Check()
		want, err := Dump(iface)
		if err != nil {
			t.Fatalf("Dump: %v", err)
		}
		text := Format(iface)
		again, err := Parse("formatted", text)
		if err != nil {
			t.Fatalf("Format output does not parse: %v\n%s", err, text)
		}
		got, err := Dump(again)
		if err != nil {
			t.Fatalf("Dump: %v", err)
		}
		if string(got) != string(want) {
			t.Fatalf("re-dump differs:\n%s\n%s", want, got)
		}
		if (iface.Check() == nil) != (again.Check() == nil) {
			t.Fatalf("Check differs after Format: %v / %v", iface.Check(), again.Check())
		}
	})
}

func TestTooManyOps(t *testing.T) {
	var b strings.Builder
	b.WriteString(`(name: "T", ops: {`)
	for i := range 65536 {
		b.WriteString(`"o` + strconv.Itoa(i) + `": (reply: Simple("u8"), idempotent: true),`)
	}
	b.WriteString("})")
	_, err := Parse("t.idol", []byte(b.String()))
	if err == nil || err.Error() != "t.idol:1:18: expected at most 65535 ops, found 65536" {
		t.Errorf("got %v", err)
	}
}

// TestFormat checks the canonical RON text of a small interface.
func TestFormat(t *testing.T) {
	iface, err := ParseChecked("t.idol", []byte(`Interface(name: "Demo", ops: {
		"get": (description: "Get \"it\".", args: {"i": "u8", "m": (type: "Mode", recv: FromPrimitive("u8"))},
		        leases: {"buf": (type: "[u8]", write: true, max_len: Some(16))}, reply: Simple("u32"), idempotent: true),
		"put": (args: {"s": (type: "S", recv: From("usize", Some("new_s")))}, leases: {"v": (type: "u32", read: true)},
		        reply: Result(ok: "()", err: CLike("E"))),
		"hub": (reply: Result(ok: "T", err: Complex("E")), encoding: Hubpack),
	})`))
	if err != nil {
		t.Fatal(err)
	}
	want := `Interface(
    name: "Demo",
    ops: {
        "get": (
            doc: "Get \"it\".",
            args: {
                "i": (type: "u8", recv: FromBytes),
                "m": (type: "Mode", recv: FromPrimitive("u8")),
            },
            leases: {
                "buf": (type: "[u8]", read: false, write: true, max_len: Some(16)),
            },
            reply: Simple((type: "u32", recv: FromBytes)),
            idempotent: true,
            encoding: Zerocopy,
        ),
        "put": (
            args: {
                "s": (type: "S", recv: From("usize", Some("new_s"))),
            },
            leases: {
                "v": (type: "u32", read: true, write: false, max_len: None),
            },
            reply: Result(
                ok: (type: "()", recv: FromBytes),
                err: CLike("E"),
            ),
            idempotent: false,
            encoding: Zerocopy,
        ),
        "hub": (
            args: {},
            leases: {},
            reply: Result(
                ok: (type: "T", recv: FromBytes),
                err: Complex("E"),
            ),
            idempotent: false,
            encoding: Hubpack,
        ),
    },
)
`
	if got := string(Format(iface)); got != want {
		t.Errorf("Format:\n%s", cmp.Diff(want, got))
	}
}
