package ron

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Format returns v as canonical one-line RON: strings quoted with Quote,
// integers in decimal, ", " between elements and no trailing commas.
// Parsing the result gives a value that formats identically.
func Format(v *Value) string {
	var b strings.Builder
	format(&b, v)
	return b.String()
}

func format(b *strings.Builder, v *Value) {
	switch v.Kind {
	case Struct:
		b.WriteString(v.Name)
		b.WriteByte('(')
		for i, f := range v.Fields {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(f.Name)
			b.WriteString(": ")
			format(b, f.Value)
		}
		b.WriteByte(')')
	case Tuple:
		b.WriteString(v.Name)
		b.WriteByte('(')
		formatElems(b, v.Elems)
		b.WriteByte(')')
	case List:
		b.WriteByte('[')
		formatElems(b, v.Elems)
		b.WriteByte(']')
	case Map:
		b.WriteByte('{')
		for i, e := range v.Entries {
			if i > 0 {
				b.WriteString(", ")
			}
			format(b, e.Key)
			b.WriteString(": ")
			format(b, e.Value)
		}
		b.WriteByte('}')
	case String:
		b.WriteString(Quote(v.Str))
	case Int:
		b.WriteString(v.intText())
	case Bool:
		b.WriteString(strconv.FormatBool(v.Bool))
	case Ident:
		b.WriteString(v.Name)
	case Option:
		if len(v.Elems) == 0 {
			b.WriteString("None")
			return
		}
		b.WriteString("Some(")
		format(b, v.Elems[0])
		b.WriteByte(')')
	default:
		b.WriteString("/* invalid value */")
	}
}

func formatElems(b *strings.Builder, vs []*Value) {
	for i, e := range vs {
		if i > 0 {
			b.WriteString(", ")
		}
		format(b, e)
	}
}

// Quote returns s as a RON string literal: '"' and '\' escaped, \n \r \t,
// other control characters as \u{XX}, everything else as is. Invalid
// UTF-8 bytes become \u{FFFD}.
func Quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f || (r == utf8.RuneError && n <= 1):
			if r == utf8.RuneError {
				r = 0xFFFD
			}
			b.WriteString(`\u{`)
			b.WriteString(strconv.FormatUint(uint64(r), 16))
			b.WriteByte('}')
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
