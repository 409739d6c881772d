package gen

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/BurntSushi/toml"

	"spacenet/ipc/idol"
)

// Types is a parsed types file: how the named types and constants an .idol
// file mentions map to Go, and how they travel on the wire.
//
// The file is TOML:
//
//	[consts]
//	"drv_hash_api::SHA256_SZ" = 32          # array lengths written as paths
//
//	[types."drv_spi_api::SpiError"]         # a CLike error: its code is the RC
//	kind = "clike"
//	go = "SpiError"                         # default: the last path segment
//	variants = [{name = "BadDevice", value = 1}, {name = "Busy"}]  # values default to previous+1, from 1
//
//	[types.CsState]                         # a C-like enum
//	kind = "enum"
//	repr = "u8"                             # Zerocopy width (default u8)
//	variants = [{name = "Deasserted"}, {name = "Asserted"}]          # values default to previous+1, from 0
//
//	[types.ApobHash]                        # an enum with data (Hubpack/Ssmarshal only)
//	kind = "enum"
//	variants = [{name = "Sha256", type = "[u8; 32]"}]
//
//	[types.UdpMetadata]                     # a struct: fields in wire order, packed
//	kind = "struct"
//	fields = [{name = "port", type = "u16"}, {name = "size", type = "u32"}]
//
// A name in an .idol file is looked up as written, then by its last path
// segment, so a key "SpiError" also serves "drv_spi_api::SpiError".
type Types struct {
	Consts map[string]int64      `toml:"consts"`
	Types  map[string]*NamedSpec `toml:"types"`
	named  map[string]*named     // resolved, by key
	byGo   map[string]string     // Go name -> key, to refuse two keys with one Go name
	src    string                // the file's name, for positions
	text   string                // the file's text, for positions
}

// NamedSpec is one [types."X"] table.
type NamedSpec struct {
	Kind     string        `toml:"kind"` // clike, enum, struct
	Go       string        `toml:"go"`
	Repr     string        `toml:"repr"`
	Doc      string        `toml:"doc"`
	Variants []VariantSpec `toml:"variants"`
	Fields   []FieldSpec   `toml:"fields"`
}

// VariantSpec is one variant of an enum or CLike error.
type VariantSpec struct {
	Name  string `toml:"name"`
	Value *int64 `toml:"value"`
	Type  string `toml:"type"` // payload type, for enums with data
}

// FieldSpec is one field of a struct.
type FieldSpec struct {
	Name string `toml:"name"`
	Type string `toml:"type"`
}

// LoadTypes reads a types file.
func LoadTypes(path string) (*Types, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseTypes(path, data)
}

// ParseTypes parses a types file's text; name is used in errors.
func ParseTypes(name string, data []byte) (*Types, error) {
	t := Types{src: name, text: string(data)}
	md, err := toml.Decode(string(data), &t)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("%s: unknown key %q", name, und[0].String())
	}
	if err := t.init(); err != nil {
		if strings.HasPrefix(err.Error(), name+":") {
			return nil, err // already positioned
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &t, nil
}

func (t *Types) init() error {
	t.named = make(map[string]*named)
	t.byGo = make(map[string]string)
	keys := make([]string, 0, len(t.Types))
	for k := range t.Types {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s := t.Types[k]
		gn := s.Go
		if gn == "" {
			gn = lastSeg(k)
		}
		if !isGoIdent(gn) || !unicode.IsUpper(rune(gn[0])) {
			return fmt.Errorf("type %q: Go name %q is not an exported Go identifier", k, gn)
		}
		if o, dup := t.byGo[gn]; dup {
			return fmt.Errorf("types %q and %q both map to Go type %s", o, k, gn)
		}
		t.byGo[gn] = k
		switch s.Kind {
		case "clike", "enum", "struct":
		default:
			return fmt.Errorf("type %q: kind %q is not clike, enum or struct", k, s.Kind)
		}
		if err := t.checkValues(k, s); err != nil {
			return err
		}
	}
	return nil
}

// checkValues refuses a variant value its repr cannot hold (the Go would
// not compile: "overflows"), naming file:line when the text is known.
func (t *Types) checkValues(key string, s *NamedSpec) error {
	if s.Kind == "struct" {
		return nil
	}
	repr := s.Repr
	if repr == "" {
		repr = "u8"
		if s.Kind == "clike" {
			repr = "u32" // a CLike code is the u32 RC
		}
	}
	bits := map[string]uint{"u8": 8, "u16": 16, "u32": 32, "u64": 64}[repr]
	if bits == 0 || (s.Kind == "clike" && repr != "u32") {
		return nil // refused with its own message at resolution
	}
	next := int64(0)
	if s.Kind == "clike" {
		next = 1
	}
	for _, v := range s.Variants {
		if v.Value != nil {
			next = *v.Value
		}
		val := next
		next++
		if v.Type != "" {
			return nil // an enum with data travels its variant's index, not a value
		}
		if val < 0 || (bits < 64 && uint64(val) >= 1<<bits) {
			return fmt.Errorf("%stype %q variant %s: value %d does not fit its repr %s (0 to %d)",
				t.lineOf(key, v.Name), key, v.Name, val, repr, uint64(1)<<bits-1)
		}
	}
	return nil
}

// lineOf returns "file:line: " of variant name in the table of key, or of
// the table, or "" when the text is not known.
func (t *Types) lineOf(key, variant string) string {
	if t.text == "" {
		return ""
	}
	lines := strings.Split(t.text, "\n")
	start := -1
	for i, l := range lines {
		h := strings.ReplaceAll(strings.TrimSpace(l), " ", "")
		if h == "[types."+key+"]" || h == "[types.\""+key+"\"]" {
			start = i
			break
		}
	}
	if start < 0 {
		return t.src + ": "
	}
	for i := start + 1; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if strings.HasPrefix(l, "[") && !strings.HasPrefix(l, "[{") {
			break
		}
		if strings.Contains(strings.ReplaceAll(l, " ", ""), "name=\""+variant+"\"") {
			return fmt.Sprintf("%s:%d: ", t.src, i+1)
		}
	}
	return fmt.Sprintf("%s:%d: ", t.src, start+1)
}

func lastSeg(s string) string {
	if i := strings.LastIndex(s, "::"); i >= 0 {
		return s[i+2:]
	}
	return s
}

func isGoIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || unicode.IsLetter(r) || (i > 0 && unicode.IsDigit(r))) {
			return false
		}
	}
	return true
}

// kind of a resolved type expression.
type tkind uint8

const (
	kPrim tkind = iota
	kArray
	kTuple
	kOption
	kResult
	kNamed
)

// typ is a resolved Rust type expression.
type typ struct {
	kind  tkind
	prim  *prim
	elem  *typ   // array, option
	n     int    // array length
	elems []*typ // tuple; result: ok, err
	named *named
}

// prim is a Rust primitive and its Go mapping.
type prim struct {
	rust, gotype string
	zsize, ssize int    // Zerocopy size; Hubpack/Ssmarshal size
	zenc, senc   string // encode call, %s is the value
	zdec, sdec   string // decode expression
	noSsmarshal  bool
}

var prims = map[string]*prim{}

func init() {
	add := func(p prim) { pp := p; prims[p.rust] = &pp }
	simple := func(rust, gotype, method string, size int, conv string) {
		enc := "e." + method + "(%s)"
		dec := "d." + method + "()"
		if conv != "" {
			enc = "e." + method + "(" + conv + "(%s))"
			dec = gotype + "(d." + method + "())"
		}
		add(prim{rust: rust, gotype: gotype, zsize: size, ssize: size, zenc: enc, senc: enc, zdec: dec, sdec: dec})
	}
	simple("u8", "uint8", "U8", 1, "")
	simple("u16", "uint16", "U16", 2, "")
	simple("u32", "uint32", "U32", 4, "")
	simple("u64", "uint64", "U64", 8, "")
	simple("i8", "int8", "U8", 1, "uint8")
	simple("i16", "int16", "U16", 2, "uint16")
	simple("i32", "int32", "U32", 4, "uint32")
	simple("i64", "int64", "U64", 8, "uint64")
	simple("f32", "float32", "F32", 4, "")
	simple("f64", "float64", "F64", 8, "")
	add(prim{rust: "u128", gotype: "ipc.U128", zsize: 16, ssize: 16, zenc: "e.U128(%s)", senc: "e.U128(%s)", zdec: "d.U128()", sdec: "d.U128()", noSsmarshal: true})
	add(prim{rust: "i128", gotype: "ipc.I128", zsize: 16, ssize: 16, zenc: "e.I128(%s)", senc: "e.I128(%s)", zdec: "d.I128()", sdec: "d.I128()", noSsmarshal: true})
	add(prim{rust: "usize", gotype: "uint32", zsize: 4, ssize: 8, zenc: "e.U32(%s)", senc: "e.U64(uint64(%s))", zdec: "d.U32()", sdec: "d.U64AsU32()"})
	add(prim{rust: "isize", gotype: "int32", zsize: 4, ssize: 8, zenc: "e.U32(uint32(%s))", senc: "e.U64(uint64(int64(%s)))", zdec: "int32(d.U32())", sdec: "d.I64AsI32()"})
	add(prim{rust: "bool", gotype: "bool", zsize: 1, ssize: 1, zenc: "e.Bool(%s)", senc: "e.Bool(%s)", zdec: "d.BoolAny()", sdec: "d.Bool()"})
	add(prim{rust: "()", gotype: "struct{}"})
}

// named is a resolved named type.
type named struct {
	key, goName, doc string
	kind             string // clike, enum, struct
	repr             *prim  // enum: Zerocopy width
	variants         []variant
	fields           []field
	data             bool // enum with a payload on some variant
	resolving        bool
	resolved         bool
	// what the generator must emit for it
	needZ, needS, needValid, isError bool
	declare                          bool // named by a From conversion: declared, no codec
}

type variant struct {
	name, goName string
	value        int64
	payload      *typ
}

type field struct {
	name, goName string
	t            *typ
}

// lookup resolves a named type reference.
func (t *Types) lookup(name string) (*named, error) {
	key := name
	s, ok := t.Types[key]
	if !ok {
		key = lastSeg(name)
		s, ok = t.Types[key]
	}
	if !ok {
		msg := fmt.Sprintf("unknown type %q (not in the types file", name)
		if s := t.suggest(name); s != "" {
			msg += "; did you mean " + s + "?"
		}
		return nil, errors.New(msg + ")")
	}
	if n := t.named[key]; n != nil {
		if n.resolving {
			return nil, fmt.Errorf("type %q contains itself", name)
		}
		return n, nil
	}
	gn := s.Go
	if gn == "" {
		gn = lastSeg(key)
	}
	n := &named{key: key, goName: gn, kind: s.Kind, doc: s.Doc, resolving: true}
	t.named[key] = n
	defer func() { n.resolving = false }()
	switch s.Kind {
	case "clike", "enum":
		repr := s.Repr
		if repr == "" {
			repr = "u8"
			if s.Kind == "clike" {
				repr = "u32"
			}
		}
		p := prims[repr]
		if p == nil || !strings.HasPrefix(repr, "u") || repr == "u128" || repr == "usize" {
			return nil, fmt.Errorf("type %q: repr %q is not u8, u16, u32 or u64", key, repr)
		}
		n.repr = p
		next := int64(0)
		if s.Kind == "clike" {
			next = 1
		}
		seen := map[string]bool{}
		for _, v := range s.Variants {
			if !isGoIdent(v.Name) || seen[v.Name] {
				return nil, fmt.Errorf("type %q: bad or duplicate variant name %q", key, v.Name)
			}
			seen[v.Name] = true
			if v.Value != nil {
				next = *v.Value
			}
			vr := variant{name: v.Name, goName: gn + goCamel(v.Name), value: next}
			next++
			if v.Type != "" {
				if s.Kind == "clike" {
					return nil, fmt.Errorf("type %q: CLike variant %s cannot carry data", key, v.Name)
				}
				pt, err := t.parse(v.Type)
				if err != nil {
					return nil, fmt.Errorf("type %q variant %s: %w", key, v.Name, err)
				}
				vr.payload = pt
				n.data = true
			}
			n.variants = append(n.variants, vr)
		}
		if len(n.variants) == 0 {
			return nil, fmt.Errorf("type %q: an enum needs variants", key)
		}
		if len(n.variants) > 256 {
			return nil, fmt.Errorf("type %q: more than 256 variants", key)
		}
		if s.Kind == "clike" {
			for _, v := range n.variants {
				if v.value == 0 {
					return nil, fmt.Errorf("type %q: CLike variant %s has code 0, which means success", key, v.name)
				}
			}
		}
	case "struct":
		seen := map[string]bool{}
		for _, f := range s.Fields {
			gf := goCamel(f.Name)
			if !isGoIdent(gf) || seen[gf] {
				return nil, fmt.Errorf("type %q: bad or duplicate field name %q", key, f.Name)
			}
			seen[gf] = true
			ft, err := t.parse(f.Type)
			if err != nil {
				return nil, fmt.Errorf("type %q field %s: %w", key, f.Name, err)
			}
			n.fields = append(n.fields, field{name: f.Name, goName: gf, t: ft})
		}
	}
	n.resolved = true
	return n, nil
}

// suggest returns the types file key or primitive closest to name.
func (t *Types) suggest(name string) string {
	var cands []string
	for k := range t.Types {
		cands = append(cands, k)
	}
	for p := range prims {
		cands = append(cands, p)
	}
	sort.Strings(cands)
	if s := idol.Suggest(name, cands); s != "" {
		return s
	}
	last := lastSeg(name)
	for _, k := range cands {
		if idol.Suggest(last, []string{lastSeg(k)}) != "" {
			return k
		}
	}
	return ""
}

// parse resolves a Rust type expression as written in an .idol file.
func (t *Types) parse(s string) (*typ, error) {
	p := &tparser{src: s, types: t}
	p.lex()
	ty, err := p.typ()
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("type %q: unexpected %q", s, p.toks[p.pos])
	}
	return ty, nil
}

type tparser struct {
	src   string
	toks  []string
	pos   int
	types *Types
}

func (p *tparser) lex() {
	s := p.src
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case strings.ContainsRune("[];(),<>", rune(c)):
			p.toks = append(p.toks, string(c))
			i++
		default:
			j := i
			for j < len(s) && !strings.ContainsRune("[];(),<> \t\r\n", rune(s[j])) {
				j++
			}
			p.toks = append(p.toks, s[i:j])
			i = j
		}
	}
}

func (p *tparser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *tparser) expect(tok string) error {
	if p.peek() != tok {
		return fmt.Errorf("type %q: expected %q, found %q", p.src, tok, p.peek())
	}
	p.pos++
	return nil
}

func (p *tparser) typ() (*typ, error) {
	tok := p.peek()
	switch tok {
	case "":
		return nil, fmt.Errorf("type %q: unexpected end", p.src)
	case "(":
		p.pos++
		if p.peek() == ")" {
			p.pos++
			return &typ{kind: kPrim, prim: prims["()"]}, nil
		}
		var elems []*typ
		for {
			e, err := p.typ()
			if err != nil {
				return nil, err
			}
			elems = append(elems, e)
			if p.peek() == "," {
				p.pos++
				if p.peek() == ")" {
					break
				}
				continue
			}
			break
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		if len(elems) == 1 {
			return elems[0], nil // (T) is T; the one-tuple (T,) encodes as T in every format
		}
		if len(elems) > 4 {
			return nil, fmt.Errorf("type %q: tuples of more than 4 elements are not supported", p.src)
		}
		return &typ{kind: kTuple, elems: elems}, nil
	case "[":
		p.pos++
		e, err := p.typ()
		if err != nil {
			return nil, err
		}
		if p.peek() != ";" {
			return nil, fmt.Errorf("type %q: a slice [T] is only allowed as a lease type", p.src)
		}
		p.pos++
		lt := p.peek()
		p.pos++
		n, err := p.types.arrayLen(lt)
		if err != nil {
			return nil, fmt.Errorf("type %q: %w", p.src, err)
		}
		if err := p.expect("]"); err != nil {
			return nil, err
		}
		return &typ{kind: kArray, elem: e, n: n}, nil
	}
	p.pos++
	if pr, ok := prims[tok]; ok {
		return &typ{kind: kPrim, prim: pr}, nil
	}
	if tok == "Option" || tok == "Result" {
		if err := p.expect("<"); err != nil {
			return nil, err
		}
		a, err := p.typ()
		if err != nil {
			return nil, err
		}
		if tok == "Option" {
			if err := p.expect(">"); err != nil {
				return nil, err
			}
			return &typ{kind: kOption, elem: a}, nil
		}
		if err := p.expect(","); err != nil {
			return nil, err
		}
		b, err := p.typ()
		if err != nil {
			return nil, err
		}
		if err := p.expect(">"); err != nil {
			return nil, err
		}
		return &typ{kind: kResult, elems: []*typ{a, b}}, nil
	}
	if !isPath(tok) {
		return nil, fmt.Errorf("type %q: %q is not a type name", p.src, tok)
	}
	if p.peek() == "<" {
		return nil, fmt.Errorf("type %q: generic type %s is not supported", p.src, tok)
	}
	n, err := p.types.lookup(tok)
	if err != nil {
		return nil, err
	}
	return &typ{kind: kNamed, named: n}, nil
}

func isPath(s string) bool {
	for _, seg := range strings.Split(s, "::") {
		if !isGoIdent(seg) {
			return false
		}
	}
	return true
}

func (t *Types) arrayLen(s string) (int, error) {
	if v, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, 64); err == nil {
		if v < 0 || v > 1<<20 {
			return 0, fmt.Errorf("array length %d out of range", v)
		}
		return int(v), nil
	}
	v, ok := t.Consts[s]
	if !ok {
		v, ok = t.Consts[lastSeg(s)]
	}
	if !ok {
		return 0, fmt.Errorf("unknown constant %q (not in the types file's [consts])", s)
	}
	if v < 0 || v > 1<<20 {
		return 0, fmt.Errorf("constant %s = %d out of range", s, v)
	}
	return int(v), nil
}

// goCamel turns snake_case into CamelCase.
func goCamel(s string) string {
	var b strings.Builder
	up := true
	for _, r := range s {
		if r == '_' {
			up = true
			continue
		}
		if up {
			b.WriteRune(unicode.ToUpper(r))
			up = false
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// goLower turns snake_case into lowerCamel, avoiding Go keywords and the
// names generated code uses.
func goLower(s string) string {
	c := goCamel(s)
	if c == "" {
		return "arg"
	}
	r := []rune(c)
	r[0] = unicode.ToLower(r[0])
	out := string(r)
	if reserved[out] {
		out += "Arg"
	}
	return out
}

var reserved = map[string]bool{
	"break": true, "case": true, "chan": true, "const": true, "continue": true, "default": true,
	"defer": true, "else": true, "fallthrough": true, "for": true, "func": true, "go": true,
	"goto": true, "if": true, "import": true, "interface": true, "map": true, "package": true,
	"range": true, "return": true, "select": true, "struct": true, "switch": true, "type": true,
	"var": true, "len": true, "cap": true, "copy": true, "append": true, "make": true, "new": true,
	"errors": true, "ipc": true, "context": true, "ctx": true, "caller": true, "c": true, "s": true,
	"d": true, "e": true, "enc": true, "dec": true, "req": true, "rep": true, "err": true, "buf": true,
	"v": true, "ok": true, "nil": true, "true": true, "false": true, "strconv": true, "body": true,
	"string": true, "error": true, "int": true, "bool": true, "byte": true, "uint8": true, "uint16": true,
	"uint32": true, "uint64": true, "max": true, "min": true, "clear": true, "ce": true, "ev": true,
}
