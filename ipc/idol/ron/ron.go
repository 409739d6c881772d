// Package ron parses RON (Rusty Object Notation) text into a generic value
// tree in which every value carries its position, for readers such as the
// Idol interface loader that map the tree onto their own types and want to
// report problems as file:line:col.
//
// It covers the RON that Idol files use and the reference parser accepts:
// named and anonymous structs and tuples, maps, lists, strings (with
// escapes, and raw strings r"..." r#"..."#), integers (decimal, 0x, 0o, 0b,
// '_' separators, a sign), true/false, None/Some(x), unit (), bare
// identifiers (unit variants), // and nested /* */ comments, trailing commas
// and #![enable(...)] headers (implicit_some only). It is not a serde-style
// deserializer into Go types, and it does not support floats, chars, byte
// strings or the unwrap_newtypes extensions.
package ron

import (
	"fmt"
	"strconv"
)

// Pos is a position in a source file: 1-based line and column (columns count
// characters, not bytes), and the 0-based byte offset.
type Pos struct {
	File   string
	Line   int
	Col    int
	Offset int
}

// String returns "file:line:col" (or "line:col" without a file name).
func (p Pos) String() string {
	if p.File == "" {
		return strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Col)
	}
	return p.File + ":" + strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Col)
}

// IsValid reports whether p was set by the parser.
func (p Pos) IsValid() bool { return p.Line > 0 }

// Error is a problem at a position in a RON file.
type Error struct {
	Pos Pos
	Msg string // e.g. "expected ':', found '}'"
}

// Error returns "file:line:col: msg".
func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// Errorf returns an *Error at pos.
func Errorf(pos Pos, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// Kind is the kind of a Value.
type Kind uint8

// The kinds of value.
const (
	Struct Kind = iota + 1 // Name(a: 1, b: 2) or (a: 1)
	Tuple                  // Name(1, 2), (1, 2), Name() or the unit ()
	Map                    // {k: v, ...}
	List                   // [a, b]
	String                 // "..." or r#"..."#
	Int                    // 42, -1, 0xff, 1_000
	Bool                   // true, false
	Ident                  // a bare identifier: a unit variant such as ServerDeath
	Option                 // None or Some(x)
)

var kindNames = [...]string{
	Struct: "struct", Tuple: "tuple", Map: "map", List: "list", String: "string",
	Int: "integer", Bool: "bool", Ident: "identifier", Option: "option",
}

// String returns the kind's name as used in error messages.
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one RON value and where it starts.
type Value struct {
	Kind Kind
	Pos  Pos

	// Name is the struct or tuple name ("" when anonymous), or the
	// identifier of an Ident.
	Name string
	// Str is a String's decoded text.
	Str string
	// Uint is the magnitude of an Int and Neg its sign.
	Uint uint64
	Neg  bool
	// Bool is a Bool's value.
	Bool bool
	// Fields are a Struct's fields in order.
	Fields []Field
	// Elems are a Tuple's or List's elements, and an Option's value (none
	// for None, one for Some).
	Elems []*Value
	// Entries are a Map's entries in order.
	Entries []Entry
}

// Field is one name: value of a struct.
type Field struct {
	Name    string
	NamePos Pos
	Value   *Value
}

// Entry is one key: value of a map.
type Entry struct {
	Key   *Value
	Value *Value
}

// Field returns the struct field called name, or nil.
func (v *Value) Field(name string) *Field {
	for i := range v.Fields {
		if v.Fields[i].Name == name {
			return &v.Fields[i]
		}
	}
	return nil
}

// IsUnit reports whether v is the unit value () or an empty named tuple.
func (v *Value) IsUnit() bool { return v.Kind == Tuple && len(v.Elems) == 0 }

// Describe returns a short description of v for error messages, such as
// `integer 1`, `string "u8"`, `identifier result`, `result(...)`, `()` or `map`.
func (v *Value) Describe() string {
	switch v.Kind {
	case Struct:
		if v.Name == "" {
			return "struct (...)"
		}
		return "struct " + v.Name + "(...)"
	case Tuple:
		if len(v.Elems) == 0 {
			return v.Name + "()"
		}
		return v.Name + "(...)"
	case Map:
		return "map"
	case List:
		return "list"
	case String:
		return "string " + Quote(v.Str)
	case Int:
		return "integer " + v.intText()
	case Bool:
		return "bool " + strconv.FormatBool(v.Bool)
	case Ident:
		return "identifier " + v.Name
	case Option:
		if len(v.Elems) == 0 {
			return "None"
		}
		return "Some(...)"
	}
	return v.Kind.String()
}

func (v *Value) intText() string {
	s := strconv.FormatUint(v.Uint, 10)
	if v.Neg && v.Uint != 0 {
		return "-" + s
	}
	return s
}

// Document is a parsed RON file: its extensions and its one value.
type Document struct {
	// Extensions named by #![enable(...)] headers; only "implicit_some" is
	// accepted.
	Extensions []string
	Value      *Value
}

// ImplicitSome reports whether the document enabled implicit_some, under
// which a plain value stands for Some(value) where an option is expected.
func (d *Document) ImplicitSome() bool {
	for _, e := range d.Extensions {
		if e == "implicit_some" {
			return true
		}
	}
	return false
}
