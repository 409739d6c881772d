package ron

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxDepth is how deeply values may nest; deeper input is refused rather
// than risking the stack.
const MaxDepth = 128

// Parse parses one RON document. filename is used only in positions. The
// error, if any, is an *Error: "file:line:col: expected X, found Y".
func Parse(filename string, data []byte) (doc *Document, err error) {
	p := &parser{file: filename, src: data, line: 1, col: 1}
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(*Error)
			if !ok {
				panic(r)
			}
			doc, err = nil, e
		}
	}()
	if !utf8.Valid(data) {
		p.checkUTF8()
	}
	doc = &Document{}
	p.skipWS()
	for p.peek() == '#' {
		p.header(doc)
		p.skipWS()
	}
	doc.Value = p.value()
	p.skipWS()
	if !p.eof() {
		p.fail("expected end of input, found %s", p.found())
	}
	return doc, nil
}

// ParseValue parses a document and returns its value, refusing any
// #![enable] header.
func ParseValue(filename string, data []byte) (*Value, error) {
	doc, err := Parse(filename, data)
	if err != nil {
		return nil, err
	}
	if len(doc.Extensions) > 0 {
		return nil, Errorf(Pos{File: filename, Line: 1, Col: 1}, "unexpected extension %s", doc.Extensions[0])
	}
	return doc.Value, nil
}

type parser struct {
	file      string
	src       []byte
	off       int
	line, col int
	depth     int
}

func (p *parser) pos() Pos { return Pos{File: p.file, Line: p.line, Col: p.col, Offset: p.off} }

func (p *parser) eof() bool { return p.off >= len(p.src) }

func (p *parser) peek() byte {
	if p.off >= len(p.src) {
		return 0
	}
	return p.src[p.off]
}

func (p *parser) peekAt(i int) byte {
	if p.off+i >= len(p.src) {
		return 0
	}
	return p.src[p.off+i]
}

// advance consumes one byte, keeping line and column (in characters).
func (p *parser) advance() {
	b := p.src[p.off]
	p.off++
	switch {
	case b == '\n':
		p.line++
		p.col = 1
	case b&0xC0 != 0x80:
		p.col++
	}
}

func (p *parser) fail(format string, args ...any) {
	panic(Errorf(p.pos(), format, args...))
}

func (p *parser) failAt(pos Pos, format string, args ...any) {
	panic(Errorf(pos, format, args...))
}

func (p *parser) checkUTF8() {
	for p.off < len(p.src) {
		r, n := utf8.DecodeRune(p.src[p.off:])
		if r == utf8.RuneError && n <= 1 {
			p.fail("expected UTF-8 text, found byte 0x%02x", p.src[p.off])
		}
		for range n {
			p.advance()
		}
	}
}

// found describes what is at the current position, for error messages.
func (p *parser) found() string {
	if p.eof() {
		return "end of input"
	}
	c := p.peek()
	switch {
	case c == '"' || p.rawStringAhead():
		return "string"
	case isIdentStart(c):
		end := p.off
		for end < len(p.src) && isIdentChar(p.src[end]) {
			end++
		}
		return "identifier " + string(p.src[p.off:end])
	case c >= '0' && c <= '9':
		end := p.off
		for end < len(p.src) && (isIdentChar(p.src[end]) || p.src[end] == '.') {
			end++
		}
		return "number " + string(p.src[p.off:end])
	}
	r, _ := utf8.DecodeRune(p.src[p.off:])
	return strconv.QuoteRune(r)
}

// foundChar describes the character at the current position.
func (p *parser) foundChar() string {
	if p.eof() {
		return "end of input"
	}
	r, _ := utf8.DecodeRune(p.src[p.off:])
	return strconv.QuoteRune(r)
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentChar(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

// rawStringAhead reports whether r"..." or r#..."..."#... starts here.
func (p *parser) rawStringAhead() bool {
	if p.peek() != 'r' {
		return false
	}
	i := 1
	for p.peekAt(i) == '#' {
		i++
	}
	return p.peekAt(i) == '"'
}

// skipWS skips white space, // comments and nested /* */ comments.
func (p *parser) skipWS() {
	for !p.eof() {
		switch c := p.peek(); {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			p.advance()
		case c == '/' && p.peekAt(1) == '/':
			for !p.eof() && p.peek() != '\n' {
				p.advance()
			}
		case c == '/' && p.peekAt(1) == '*':
			start := p.pos()
			p.advance()
			p.advance()
			depth := 1
			for depth > 0 {
				switch {
				case p.eof():
					p.failAt(start, "expected \"*/\" to close this comment, found end of input")
				case p.peek() == '/' && p.peekAt(1) == '*':
					depth++
					p.advance()
				case p.peek() == '*' && p.peekAt(1) == '/':
					depth--
					p.advance()
				}
				p.advance()
			}
		default:
			return
		}
	}
}

func (p *parser) expect(c byte) {
	if p.peek() != c || p.eof() {
		p.fail("expected %s, found %s", strconv.QuoteRune(rune(c)), p.found())
	}
	p.advance()
}

func (p *parser) ident() string {
	if !isIdentStart(p.peek()) {
		p.fail("expected identifier, found %s", p.found())
	}
	start := p.off
	for !p.eof() && isIdentChar(p.peek()) {
		p.advance()
	}
	return string(p.src[start:p.off])
}

// header parses #![enable(ext, ...)].
func (p *parser) header(doc *Document) {
	p.expect('#')
	p.expect('!')
	p.expect('[')
	p.skipWS()
	pos := p.pos()
	if name := p.ident(); name != "enable" {
		p.failAt(pos, "expected enable, found identifier %s", name)
	}
	p.skipWS()
	p.expect('(')
	for {
		p.skipWS()
		if p.peek() == ')' {
			break
		}
		pos := p.pos()
		name := p.ident()
		if name != "implicit_some" {
			p.failAt(pos, "expected extension implicit_some, found identifier %s (not supported)", name)
		}
		doc.Extensions = append(doc.Extensions, name)
		p.skipWS()
		if p.peek() != ',' {
			break
		}
		p.advance()
	}
	p.expect(')')
	p.skipWS()
	p.expect(']')
}

func (p *parser) value() *Value {
	p.skipWS()
	if p.depth >= MaxDepth {
		p.fail("expected at most %d levels of nesting, found more", MaxDepth)
	}
	p.depth++
	defer func() { p.depth-- }()
	pos := p.pos()
	c := p.peek()
	switch {
	case p.eof():
		p.fail("expected a value, found end of input")
	case c == '(':
		return p.paren("", pos)
	case c == '{':
		return p.mapValue(pos)
	case c == '[':
		return p.list(pos)
	case c == '"':
		return &Value{Kind: String, Pos: pos, Str: p.quoted()}
	case p.rawStringAhead():
		return &Value{Kind: String, Pos: pos, Str: p.raw()}
	case c == '+' || c == '-' || (c >= '0' && c <= '9'):
		return p.integer(pos)
	case isIdentStart(c):
		name := p.ident()
		switch name {
		case "true", "false":
			return &Value{Kind: Bool, Pos: pos, Bool: name == "true"}
		case "None":
			return &Value{Kind: Option, Pos: pos}
		case "Some":
			p.skipWS()
			p.expect('(')
			v := p.value()
			p.skipWS()
			if p.peek() == ',' {
				p.advance()
				p.skipWS()
			}
			p.expect(')')
			return &Value{Kind: Option, Pos: pos, Elems: []*Value{v}}
		}
		// A name then '(' is a named struct or tuple; alone, a unit variant.
		save := *p
		p.skipWS()
		if p.peek() == '(' {
			return p.paren(name, pos)
		}
		*p = save
		return &Value{Kind: Ident, Pos: pos, Name: name}
	}
	p.fail("expected a value, found %s", p.found())
	return nil
}

// paren parses (...) after an optional name: a struct if it starts with
// "ident:", else a tuple (the unit () when empty).
func (p *parser) paren(name string, pos Pos) *Value {
	p.expect('(')
	p.skipWS()
	if p.structAhead() {
		v := &Value{Kind: Struct, Pos: pos, Name: name}
		for {
			p.skipWS()
			if p.peek() == ')' {
				break
			}
			fpos := p.pos()
			fname := p.ident()
			if v.Field(fname) != nil {
				p.failAt(fpos, "duplicate field %q", fname)
			}
			p.skipWS()
			p.expect(':')
			v.Fields = append(v.Fields, Field{Name: fname, NamePos: fpos, Value: p.value()})
			p.skipWS()
			if p.peek() != ',' {
				break
			}
			p.advance()
		}
		p.expectClose(')', "',' or ')'")
		return v
	}
	v := &Value{Kind: Tuple, Pos: pos, Name: name}
	v.Elems = p.elems(')')
	return v
}

// structAhead reports whether "ident :" (not "ident ::") follows.
func (p *parser) structAhead() bool {
	if !isIdentStart(p.peek()) || p.rawStringAhead() {
		return false
	}
	save := *p
	defer func() { *p = save }()
	p.ident()
	p.skipWS()
	return p.peek() == ':' && p.peekAt(1) != ':'
}

func (p *parser) expectClose(c byte, want string) {
	if p.peek() != c || p.eof() {
		p.fail("expected %s, found %s", want, p.found())
	}
	p.advance()
}

// elems parses comma-separated values up to and including close.
func (p *parser) elems(close byte) []*Value {
	var out []*Value
	for {
		p.skipWS()
		if p.peek() == close {
			break
		}
		out = append(out, p.value())
		p.skipWS()
		if p.peek() != ',' {
			break
		}
		p.advance()
	}
	p.expectClose(close, "',' or "+strconv.QuoteRune(rune(close)))
	return out
}

func (p *parser) list(pos Pos) *Value {
	p.expect('[')
	return &Value{Kind: List, Pos: pos, Elems: p.elems(']')}
}

func (p *parser) mapValue(pos Pos) *Value {
	p.expect('{')
	v := &Value{Kind: Map, Pos: pos}
	seenStr, seenOther := map[string]bool{}, map[string]bool{}
	for {
		p.skipWS()
		if p.peek() == '}' {
			break
		}
		k := p.value()
		// Strings (the usual keys) compare by text, others by canonical form.
		seen := seenStr
		key := k.Str
		if k.Kind != String {
			seen, key = seenOther, Format(k)
		}
		if seen[key] {
			p.failAt(k.Pos, "invalid entry: found duplicate key %s", Format(k))
		}
		seen[key] = true
		p.skipWS()
		p.expect(':')
		v.Entries = append(v.Entries, Entry{Key: k, Value: p.value()})
		p.skipWS()
		if p.peek() != ',' {
			break
		}
		p.advance()
	}
	p.expectClose('}', "',' or '}'")
	return v
}

// quoted parses a "..." string with escapes.
func (p *parser) quoted() string {
	start := p.pos()
	p.advance()
	// Fast path: no escape before the closing quote.
	if i := bytes.IndexAny(p.src[p.off:], "\"\\"); i >= 0 && p.src[p.off+i] == '"' {
		s := string(p.src[p.off : p.off+i])
		for range i + 1 {
			p.advance()
		}
		return s
	}
	var b strings.Builder
	for {
		if p.eof() {
			p.failAt(start, "expected '\"' to close this string, found end of input")
		}
		c := p.peek()
		if c == '"' {
			p.advance()
			return b.String()
		}
		if c != '\\' {
			b.WriteByte(c)
			p.advance()
			continue
		}
		epos := p.pos()
		p.advance()
		if p.eof() {
			p.failAt(start, "expected '\"' to close this string, found end of input")
		}
		e := p.peek()
		p.advance()
		switch e {
		case '"', '\\', '/', '\'':
			b.WriteByte(e)
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case '0':
			b.WriteByte(0)
		case 'x':
			n := p.hexDigits(2, 2)
			if n > 0x7f {
				p.failAt(epos, "expected \\x escape at most \\x7F, found \\x%02X", n)
			}
			b.WriteByte(byte(n))
		case 'u':
			var n uint64
			if p.peek() == '{' {
				p.advance()
				n = p.hexDigits(1, 6)
				if p.peek() != '}' || p.eof() {
					p.fail("expected '}' to close \\u{...}, found %s", p.foundChar())
				}
				p.advance()
			} else {
				n = p.hexDigits(4, 4)
			}
			if n > utf8.MaxRune || (n >= 0xD800 && n <= 0xDFFF) {
				p.failAt(epos, "expected a Unicode scalar value, found \\u{%X}", n)
			}
			b.WriteRune(rune(n))
		default:
			r, _ := utf8.DecodeRune(p.src[p.off-1:])
			p.failAt(epos, "expected an escape (\\n \\t \\r \\\\ \\\" \\0 \\u{...} ...), found \\%c", r)
		}
	}
}

// hexDigits reads between min and max hex digits.
func (p *parser) hexDigits(min, max int) uint64 {
	var n uint64
	i := 0
	for ; i < max; i++ {
		d, ok := digitVal(p.peek(), 16)
		if !ok || p.eof() {
			break
		}
		n = n*16 + d
		p.advance()
	}
	if i < min {
		p.fail("expected a hex digit, found %s", p.foundChar())
	}
	return n
}

// raw parses r"..." or r#"..."# (any number of '#').
func (p *parser) raw() string {
	start := p.pos()
	p.advance() // r
	hashes := 0
	for p.peek() == '#' {
		hashes++
		p.advance()
	}
	p.expect('"')
	from := p.off
	for {
		if p.eof() {
			p.failAt(start, "expected '\"%s' to close this raw string, found end of input", strings.Repeat("#", hashes))
		}
		if p.peek() == '"' {
			end := p.off
			n := 0
			for n < hashes && p.peekAt(1+n) == '#' {
				n++
			}
			if n == hashes {
				p.advance()
				for range hashes {
					p.advance()
				}
				return string(p.src[from:end])
			}
		}
		p.advance()
	}
}

func digitVal(c byte, base uint64) (uint64, bool) {
	var d uint64
	switch {
	case c >= '0' && c <= '9':
		d = uint64(c - '0')
	case c >= 'a' && c <= 'f':
		d = uint64(c-'a') + 10
	case c >= 'A' && c <= 'F':
		d = uint64(c-'A') + 10
	default:
		return 0, false
	}
	return d, d < base
}

// integer parses [+-] then decimal, 0x, 0o or 0b digits with '_' separators.
func (p *parser) integer(pos Pos) *Value {
	v := &Value{Kind: Int, Pos: pos}
	if c := p.peek(); c == '+' || c == '-' {
		v.Neg = c == '-'
		p.advance()
	}
	base := uint64(10)
	if p.peek() == '0' {
		switch p.peekAt(1) {
		case 'x':
			base = 16
		case 'o':
			base = 8
		case 'b':
			base = 2
		}
		if base != 10 {
			p.advance()
			p.advance()
		}
	}
	start := p.pos()
	digits := 0
	overflow := false
	for !p.eof() {
		c := p.peek()
		if c == '_' && digits > 0 {
			p.advance()
			continue
		}
		d, ok := digitVal(c, base)
		if !ok {
			break
		}
		if v.Uint > (^uint64(0)-d)/base {
			overflow = true
		}
		v.Uint = v.Uint*base + d
		digits++
		p.advance()
	}
	if digits == 0 {
		p.fail("expected a digit, found %s", p.found())
	}
	if c := p.peek(); base == 10 && (c == '.' || c == 'e' || c == 'E') {
		p.fail("expected an integer (floats are not supported), found %s", p.found())
	}
	if isIdentChar(p.peek()) {
		p.fail("expected end of integer, found %s", p.found())
	}
	if overflow {
		p.failAt(start, "expected an integer that fits 64 bits, found %s", string(p.src[pos.Offset:p.off]))
	}
	if v.Uint == 0 {
		v.Neg = false
	}
	return v
}
