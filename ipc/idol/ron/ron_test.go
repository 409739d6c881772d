package ron

import (
	"strings"
	"testing"
)

// TestParseAccepted checks every accepted syntax by the canonical form it
// parses to.
func TestParseAccepted(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"named struct", `Interface(name: "Spi", ops: {})`, `Interface(name: "Spi", ops: {})`},
		{"anonymous struct", `(name: "Spi")`, `(name: "Spi")`},
		{"trailing commas", `(a: [1, 2,], b: {"k": 1,}, c: (1,),)`, `(a: [1, 2], b: {"k": 1}, c: (1))`},
		{"unit", `()`, `()`},
		{"named empty tuple", `ServerDeath()`, `ServerDeath()`},
		{"unit variant", `ServerDeath`, `ServerDeath`},
		{"tuple variant", `From("usize", None)`, `From("usize", None)`},
		{"newtype of struct", `Simple((type: "u8", recv: FromPrimitive("u8")))`, `Simple((type: "u8", recv: FromPrimitive("u8")))`},
		{"space before paren", "Some (1)", "Some(1)"},
		{"name then space then paren", "CLike (\"E\")", `CLike("E")`},
		{"Some with trailing comma", "Some(1,)", "Some(1)"},
		{"bools", `[true, false]`, `[true, false]`},
		{"None", `None`, `None`},
		{"line comment", "// head\n(a: 1, // x\n b: 2)\n// tail", `(a: 1, b: 2)`},
		{"block comment", "/* a */ (a: /* b */ 1)", `(a: 1)`},
		{"nested block comment", "/* a /* b */ c */ 1", `1`},
		{"comment with stars", "/** x **/ 1", `1`},
		{"escapes", `"a\n\t\r\\\"\/\'\0\b\f"`, `"a\n\t\r\\\"/'\u{0}\u{8}\u{c}"`},
		{"unicode braces", `"\u{48}\u{1F600}"`, `"H😀"`},
		{"unicode four", `"\u0048\u00e9"`, `"Hé"`},
		{"hex escape", `"\x41"`, `"A"`},
		{"raw string", `r"a\n"`, `"a\\n"`},
		{"raw string hashes", `r#"say "hi""#`, `"say \"hi\""`},
		{"raw string two hashes", `r##"a"#b"##`, `"a\"#b"`},
		{"multi-line string", "\"a\nb\"", `"a\nb"`},
		{"utf8 string", `"héllo"`, `"héllo"`},
		{"decimal", `65535`, `65535`},
		{"underscores", `1_000_000`, `1000000`},
		{"hex", `0xff_FF`, `65535`},
		{"octal", `0o17`, `15`},
		{"binary", `0b1010`, `10`},
		{"negative", `-42`, `-42`},
		{"plus", `+42`, `42`},
		{"minus zero", `-0`, `0`},
		{"max u64", `18446744073709551615`, `18446744073709551615`},
		{"map with non-string keys", `{1: "a", "b": 2}`, `{1: "a", "b": 2}`},
		{"empty map over lines", "{\n}", `{}`},
		{"list", `["a", 1]`, `["a", 1]`},
		{"underscore identifier", `_1`, `_1`},
		{"field named type", `(type: "u8")`, `(type: "u8")`},
		{"path inside tuple", `("a::b")`, `("a::b")`},
		{"crlf", "(\r\n a: 1,\r\n)", `(a: 1)`},
		{"deep but allowed", strings.Repeat("[", MaxDepth-1) + strings.Repeat("]", MaxDepth-1), strings.Repeat("[", MaxDepth-1) + strings.Repeat("]", MaxDepth-1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse("t.ron", []byte(tt.in))
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got := Format(doc.Value); got != tt.want {
				t.Errorf("Format(Parse(%q)) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

// TestParseRejected checks every rejection and its exact message.
func TestParseRejected(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"duplicate map key", "{\n  \"a\": 1,\n  \"a\": 2,\n}", `t.ron:3:3: invalid entry: found duplicate key "a"`},
		{"duplicate key, other spelling", `{"a": 1, r#"a"#: 2}`, `t.ron:1:10: invalid entry: found duplicate key "a"`},
		{"field given twice", `(a: 1, b: 2, a: 3)`, `t.ron:1:14: duplicate field "a"`},
		{"missing colon", `(a 1)`, `t.ron:1:4: expected ',' or ')', found number 1`},
		{"missing comma", `(a: 1 b: 2)`, `t.ron:1:7: expected ',' or ')', found identifier b`},
		{"missing map colon", `{"a" 1}`, `t.ron:1:6: expected ':', found number 1`},
		{"unclosed map", `{"a": 1`, `t.ron:1:8: expected ',' or '}', found end of input`},
		{"unclosed list", `[1, 2`, `t.ron:1:6: expected ',' or ']', found end of input`},
		{"mismatched close", `[1)`, `t.ron:1:3: expected ',' or ']', found ')'`},
		{"empty input", ``, `t.ron:1:1: expected a value, found end of input`},
		{"only comment", `// x`, `t.ron:1:5: expected a value, found end of input`},
		{"trailing garbage", `1 2`, `t.ron:1:3: expected end of input, found number 2`},
		{"stray char", `@`, `t.ron:1:1: expected a value, found '@'`},
		{"unterminated string", `"abc`, `t.ron:1:1: expected '"' to close this string, found end of input`},
		{"unterminated raw", `r#"abc"`, `t.ron:1:1: expected '"#' to close this raw string, found end of input`},
		{"unterminated comment", `/* /* */ 1`, `t.ron:1:1: expected "*/" to close this comment, found end of input`},
		{"bad escape", `"a\q"`, `t.ron:1:3: expected an escape (\n \t \r \\ \" \0 \u{...} ...), found \q`},
		{"surrogate", `"\u{D800}"`, `t.ron:1:2: expected a Unicode scalar value, found \u{D800}`},
		{"too big unicode", `"\u{110000}"`, `t.ron:1:2: expected a Unicode scalar value, found \u{110000}`},
		{"unclosed unicode", `"\u{41"`, `t.ron:1:7: expected '}' to close \u{...}, found '"'`},
		{"short unicode", `"\u41"`, `t.ron:1:6: expected a hex digit, found '"'`},
		{"high hex escape", `"\xff"`, `t.ron:1:2: expected \x escape at most \x7F, found \xFF`},
		{"float", `1.5`, `t.ron:1:2: expected an integer (floats are not supported), found '.'`},
		{"exponent", `1e5`, `t.ron:1:2: expected an integer (floats are not supported), found identifier e5`},
		{"bad hex digit", `0xg`, `t.ron:1:3: expected a digit, found identifier g`},
		{"letters after number", `12ab`, `t.ron:1:3: expected end of integer, found identifier ab`},
		{"overflow", `18446744073709551616`, `t.ron:1:1: expected an integer that fits 64 bits, found 18446744073709551616`},
		{"lone sign", `-x`, `t.ron:1:2: expected a digit, found identifier x`},
		{"empty Some", `Some()`, `t.ron:1:6: expected a value, found ')'`},
		{"Some with two", `Some(1, 2)`, `t.ron:1:9: expected ')', found number 2`},
		{"mixed struct then tuple", `(a: 1, 2)`, `t.ron:1:8: expected identifier, found number 2`},
		{"invalid utf8", "\"a\xffb\"", `t.ron:1:3: expected UTF-8 text, found byte 0xff`},
		{"column counts characters", "\"é\" x", `t.ron:1:5: expected end of input, found identifier x`},
		{"line counting", "(\n\n  a: 1,\n  a: 2)", `t.ron:4:3: duplicate field "a"`},
		{"unknown extension", `#![enable(unwrap_newtypes)] 1`, `t.ron:1:11: expected extension implicit_some, found identifier unwrap_newtypes (not supported)`},
		{"not enable", `#![allow(x)] 1`, `t.ron:1:4: expected enable, found identifier allow`},
		{"too deep", strings.Repeat("[", MaxDepth+1), `t.ron:1:129: expected at most 128 levels of nesting, found more`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse("t.ron", []byte(tt.in))
			if err == nil {
				t.Fatalf("Parse(%q) = %s, want error %s", tt.in, Format(doc.Value), tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("Parse(%q) error\n got: %s\nwant: %s", tt.in, err, tt.want)
			}
			if _, ok := err.(*Error); !ok {
				t.Errorf("error is %T, want *ron.Error", err)
			}
		})
	}
}

func TestExtensions(t *testing.T) {
	doc, err := Parse("t.ron", []byte("// c\n#![enable(implicit_some)]\n#![enable()]\n(max_len: 64)"))
	if err != nil {
		t.Fatal(err)
	}
	if !doc.ImplicitSome() || len(doc.Extensions) != 1 {
		t.Errorf("extensions = %v, want [implicit_some]", doc.Extensions)
	}
	if _, err := ParseValue("t.ron", []byte("#![enable(implicit_some)] 1")); err == nil {
		t.Error("ParseValue accepted an extension")
	}
	v, err := ParseValue("t.ron", []byte("1"))
	if err != nil || v.Kind != Int || v.Uint != 1 {
		t.Errorf("ParseValue(1) = %+v, %v", v, err)
	}
}

// TestPositions checks the positions and fields of a parsed tree.
func TestPositions(t *testing.T) {
	src := "Op(\n  args: {\"x\": \"u8\"},\n  n: -7,\n  é: true,\n)"
	_, err := Parse("t.ron", []byte(src))
	if err == nil || err.Error() != `t.ron:4:3: expected identifier, found 'é'` {
		t.Fatalf("non-ASCII field name: %v", err)
	}
	src = "Op(\n  args: {\"x\": \"u8\"},\n  n: -7,\n  ok: true,\n)"
	doc, err := Parse("t.ron", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	v := doc.Value
	if v.Kind != Struct || v.Name != "Op" || len(v.Fields) != 3 {
		t.Fatalf("got %s", v.Describe())
	}
	args := v.Field("args")
	if args == nil || args.NamePos.String() != "t.ron:2:3" || args.Value.Pos.String() != "t.ron:2:9" {
		t.Fatalf("args at %+v", args)
	}
	k := args.Value.Entries[0].Key
	if k.Str != "x" || k.Pos.Line != 2 || k.Pos.Col != 10 || k.Pos.Offset != 13 {
		t.Errorf("key %q at %+v", k.Str, k.Pos)
	}
	n := v.Field("n").Value
	if n.Kind != Int || !n.Neg || n.Uint != 7 || n.Describe() != "integer -7" {
		t.Errorf("n = %+v", n)
	}
	if v.Field("missing") != nil {
		t.Error("Field(missing) != nil")
	}
}

func TestDescribe(t *testing.T) {
	for in, want := range map[string]string{
		`(a: 1)`:   "struct (...)",
		`A(a: 1)`:  "struct A(...)",
		`A(1)`:     "A(...)",
		`()`:       "()",
		`A()`:      "A()",
		`{}`:       "map",
		`[]`:       "list",
		`"x"`:      `string "x"`,
		`1`:        "integer 1",
		`true`:     "bool true",
		`foo`:      "identifier foo",
		`None`:     "None",
		`Some(1)`:  "Some(...)",
		`"a\"b\n"`: `string "a\"b\n"`,
	} {
		v, err := ParseValue("", []byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if got := v.Describe(); got != want {
			t.Errorf("Describe(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestErrorWithoutFile(t *testing.T) {
	_, err := Parse("", []byte("("))
	if err == nil || err.Error() != "1:2: expected a value, found end of input" {
		t.Errorf("got %v", err)
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"plain":     `"plain"`,
		"a\"b\\c":   `"a\"b\\c"`,
		"\x01\x7f":  `"\u{1}\u{7f}"`,
		"bad\xff":   `"bad\u{fffd}"`,
		"tab\there": `"tab\there"`,
		"日本":        `"日本"`,
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`Interface(name: "Spi", ops: {"read": (args: {"i": "u8"}, reply: Result(ok: "()", err: CLike("E")))})`,
		`#![enable(implicit_some)] (max_len: 64, s: r#"x"#, n: -0x_1f, l: [1, 2,], u: (), o: Some(None))`,
		"/* a /* b */ */ // c\n\"\\u{1F600}\\n\"",
		`{"a": 1, "a": 2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse("fuzz", data)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T is not *Error: %v", err, err)
			}
			return
		}
		s := Format(doc.Value)
		doc2, err := Parse("fuzz", []byte(s))
		if err != nil {
			t.Fatalf("Format output %q does not parse: %v", s, err)
		}
		if s2 := Format(doc2.Value); s2 != s {
			t.Fatalf("Format not stable:\n%s\n%s", s, s2)
		}
	})
}

func TestMapKeysOfDifferentKinds(t *testing.T) {
	v, err := ParseValue("t.ron", []byte(`{"1": "a", 1: "b", "\u{0}1": "c", A: 1, "A": 2}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Entries) != 5 {
		t.Errorf("entries = %d", len(v.Entries))
	}
	_, err = ParseValue("t.ron", []byte(`{1: "a", 0x1: "b"}`))
	if err == nil || err.Error() != "t.ron:1:10: invalid entry: found duplicate key 1" {
		t.Errorf("got %v", err)
	}
}
