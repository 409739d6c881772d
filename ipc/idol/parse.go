package idol

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"spacenet/ipc/idol/ron"
)

// Parse reads one .idol file's text into an Interface. filename is used only
// in error positions. It reports syntax errors (the first one: parsing stops
// there) and shape errors (a value of the wrong kind, a missing or unknown
// field, a lower-case variant ...: all of them, joined), each as
// "file:line:col: expected X, found Y". It does not run the semantic checks:
// call (*Interface).Check for those, or use ParseFile or ParseChecked, which
// do both.
func Parse(filename string, data []byte) (*Interface, error) {
	iface, _, _, err := parse(filename, data)
	if err != nil {
		return nil, err
	}
	return iface, nil
}

// ParseChecked is Parse followed by Check; semantic errors then carry the
// position of the op, lease or arg concerned. All errors are joined.
func ParseChecked(filename string, data []byte) (*Interface, error) {
	iface, pos, _, err := parse(filename, data)
	if err != nil {
		return nil, err
	}
	if err := iface.check(pos); err != nil {
		return nil, err
	}
	return iface, nil
}

// ParseFile reads the file at path and returns ParseChecked of it.
func ParseFile(path string) (*Interface, error) {
	f, err := LoadFile(path)
	if err != nil {
		return nil, err
	}
	return f.Interface, nil
}

// File is a parsed and checked .idol file: its interface, the warnings
// found while reading it, and where its parts are written (so that later
// problems, such as a type the types file does not name, can point at them).
type File struct {
	Interface *Interface
	// Warnings are things upstream accepts silently that are probably
	// mistakes: an op field upstream ignores (idempotnt: true), with a
	// suggestion when one is close.
	Warnings []*CheckError
	pos      *positions
}

// Load is ParseChecked returning a File.
func Load(filename string, data []byte) (*File, error) {
	iface, pos, warns, err := parse(filename, data)
	if err != nil {
		return nil, err
	}
	if err := iface.check(pos); err != nil {
		return nil, err
	}
	return &File{Interface: iface, Warnings: warns, pos: pos}, nil
}

// LoadFile reads the file at path and returns Load of it.
func LoadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Load(path, data)
}

// ClientProblems is Interface.ClientProblems with positions.
func (f *File) ClientProblems() []*CheckError { return f.Interface.clientProblems(f.pos) }

// OpPos is where op i (0-based) is named.
func (f *File) OpPos(i int) ron.Pos { return at1(f.pos.ops, i) }

// ArgPos is where arg j of op i is named.
func (f *File) ArgPos(i, j int) ron.Pos { return at(f.pos.args, i, j) }

// LeasePos is where lease j of op i is named.
func (f *File) LeasePos(i, j int) ron.Pos { return at(f.pos.leases, i, j) }

// ReplyPos is where op i's reply is written.
func (f *File) ReplyPos(i int) ron.Pos { return at1(f.pos.reply, i) }

// positions remembers where model elements were written, so that semantic
// errors found later can point at them.
type positions struct {
	name   ron.Pos
	ops    []ron.Pos
	args   [][]ron.Pos
	leases [][]ron.Pos
	reply  []ron.Pos
}

// builder turns a ron tree into the model, collecting shape errors.
type builder struct {
	implicitSome bool
	errs         []error // all *ron.Error
	warns        []*CheckError
	pos          *positions
}

func (b *builder) errorf(at ron.Pos, format string, args ...any) {
	b.errs = append(b.errs, ron.Errorf(at, format, args...))
}

// mismatch records "expected want, found <v>".
func (b *builder) mismatch(v *ron.Value, want string) {
	b.errorf(v.Pos, "expected %s, found %s", want, v.Describe())
}

func parse(filename string, data []byte) (*Interface, *positions, []*CheckError, error) {
	doc, err := ron.Parse(filename, data)
	if err != nil {
		return nil, nil, nil, err
	}
	b := &builder{implicitSome: doc.ImplicitSome(), pos: &positions{}}
	iface := b.iface(doc.Value)
	if len(b.errs) > 0 {
		slices.SortStableFunc(b.errs, func(x, y error) int {
			return x.(*ron.Error).Pos.Offset - y.(*ron.Error).Pos.Offset
		})
		return nil, nil, nil, errors.Join(b.errs...)
	}
	return iface, b.pos, b.warns, nil
}

// fields checks that v is a struct named one of names (or anonymous) and
// returns its fields by name; what describes the expected value and short
// names it in field errors. An empty tuple (() or Name()) counts as a struct
// without fields. Unknown fields are errors, or warnings when lenient (as
// upstream ignores them there).
func (b *builder) fields(v *ron.Value, what, short string, names []string, known []string, lenient bool) (map[string]*ron.Value, bool) {
	nameOK := v.Name == ""
	for _, n := range names {
		nameOK = nameOK || v.Name == n
	}
	if !(v.Kind == ron.Struct || v.IsUnit()) || !nameOK {
		b.mismatch(v, what)
		return nil, false
	}
	out := make(map[string]*ron.Value, len(v.Fields))
	for _, f := range v.Fields {
		if !slices.Contains(known, f.Name) {
			if !lenient {
				b.errorf(f.NamePos, "expected field %s in %s, found unknown field %s", orList(known), short, f.Name)
				continue
			}
			msg := fmt.Sprintf("unknown field %s in %s is ignored (as upstream ignores it)", f.Name, short)
			if s := Suggest(f.Name, known); s != "" {
				msg += "; did you mean " + s + "?"
			}
			b.warns = append(b.warns, &CheckError{Pos: f.NamePos, Msg: msg})
			continue
		}
		out[f.Name] = f.Value
	}
	return out, true
}

// orList returns "a, b or c".
func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// required returns the field or records that it is missing from parent.
func (b *builder) required(parent *ron.Value, fs map[string]*ron.Value, field, short string) *ron.Value {
	v := fs[field]
	if v == nil {
		b.errorf(parent.Pos, "missing field %s in %s", field, short)
	}
	return v
}

func (b *builder) str(v *ron.Value, what string) (string, bool) {
	if v.Kind != ron.String {
		b.mismatch(v, what)
		return "", false
	}
	return v.Str, true
}

func (b *builder) boolean(v *ron.Value, what string) bool {
	if v.Kind != ron.Bool {
		b.mismatch(v, what)
		return false
	}
	return v.Bool
}

// option unwraps None/Some(x) (and x under implicit_some): the inner value,
// or nil for None; ok is false after an error.
func (b *builder) option(v *ron.Value, what string) (*ron.Value, bool) {
	if v.Kind == ron.Option {
		if len(v.Elems) == 0 {
			return nil, true
		}
		return v.Elems[0], true
	}
	if b.implicitSome {
		return v, true
	}
	b.mismatch(v, "None or Some("+what+")")
	return nil, false
}

func (b *builder) iface(v *ron.Value) *Interface {
	const what, short = "Interface(name: ..., ops: {...})", "Interface"
	fs, ok := b.fields(v, what, short, []string{"Interface"}, []string{"name", "ops"}, false)
	if !ok {
		return nil
	}
	iface := &Interface{}
	if n := b.required(v, fs, "name", short); n != nil {
		iface.Name, _ = b.str(n, "string name")
		b.pos.name = n.Pos
	}
	ops := b.required(v, fs, "ops", short)
	if ops == nil {
		return iface
	}
	if ops.Kind != ron.Map {
		b.mismatch(ops, "map of ops {\"name\": (...), ...}")
		return iface
	}
	if len(ops.Entries) > math.MaxUint16 {
		b.errorf(ops.Pos, "expected at most %d ops, found %d", math.MaxUint16, len(ops.Entries))
		return iface
	}
	iface.Ops = make([]Op, 0, len(ops.Entries))
	for i, e := range ops.Entries {
		name, _ := b.key(e.Key, "op name")
		op := b.op(e.Value, name)
		op.Name = name
		op.Code = uint16(i + 1)
		iface.Ops = append(iface.Ops, op)
		b.pos.ops = append(b.pos.ops, e.Key.Pos)
	}
	return iface
}

// key checks that a map key is a quoted string.
func (b *builder) key(k *ron.Value, what string) (string, bool) {
	if k.Kind != ron.String {
		b.mismatch(k, "quoted string "+what)
		return "", false
	}
	return k.Str, true
}

var opFields = []string{"args", "leases", "reply", "idempotent", "encoding", "doc", "description"}

func (b *builder) op(v *ron.Value, name string) Op {
	var op Op
	var argPos, leasePos []ron.Pos
	replyPos := v.Pos
	defer func() {
		b.pos.args = append(b.pos.args, argPos)
		b.pos.leases = append(b.pos.leases, leasePos)
		b.pos.reply = append(b.pos.reply, replyPos)
	}()
	what := "op (args: {...}, leases: {...}, reply: ...)"
	short := fmt.Sprintf("op %q", name)
	fs, ok := b.fields(v, what, short, []string{"Operation"}, opFields, true)
	if !ok {
		return op
	}
	if a := fs["args"]; a != nil {
		if a.Kind != ron.Map {
			b.mismatch(a, "map of args {\"name\": \"type\", ...}")
		} else {
			for _, e := range a.Entries {
				n, _ := b.key(e.Key, "arg name")
				op.Args = append(op.Args, Arg{Name: n, AttributedType: b.attributed(e.Value)})
				argPos = append(argPos, e.Key.Pos)
			}
		}
	}
	if l := fs["leases"]; l != nil {
		if l.Kind != ron.Map {
			b.mismatch(l, "map of leases {\"name\": (type: ..., read: ..., write: ...), ...}")
		} else {
			for _, e := range l.Entries {
				n, _ := b.key(e.Key, "lease name")
				lease := b.lease(e.Value)
				lease.Name = n
				op.Leases = append(op.Leases, lease)
				leasePos = append(leasePos, e.Key.Pos)
			}
		}
	}
	if r := b.required(v, fs, "reply", short); r != nil {
		op.Reply = b.reply(r)
		replyPos = r.Pos
	}
	if i := fs["idempotent"]; i != nil {
		op.Idempotent = b.boolean(i, "bool true or false")
	}
	if e := fs["encoding"]; e != nil {
		op.Encoding = b.encoding(e)
	}
	doc := fs["doc"]
	if doc == nil {
		doc = fs["description"]
	}
	if doc != nil {
		if s, ok := b.str(doc, "doc string"); ok {
			op.Doc = &s
		}
	}
	return op
}

func (b *builder) encoding(v *ron.Value) Encoding {
	if v.Kind == ron.Ident {
		switch v.Name {
		case "Zerocopy":
			return Zerocopy
		case "Ssmarshal":
			return Ssmarshal
		case "Hubpack":
			return Hubpack
		}
	}
	b.mismatch(v, "encoding Zerocopy, Ssmarshal or Hubpack")
	return Zerocopy
}

// attributed reads "T" or (type: "T", recv: R).
func (b *builder) attributed(v *ron.Value) AttributedType {
	if v.Kind == ron.String {
		return AttributedType{Type: strings.TrimSpace(v.Str)}
	}
	const what, short = `type "T" or (type: "T", recv: ...)`, "(type: ..., recv: ...)"
	fs, ok := b.fields(v, what, short, []string{"AttributedTy"}, []string{"type", "recv"}, false)
	if !ok {
		return AttributedType{}
	}
	var at AttributedType
	if t := b.required(v, fs, "type", short); t != nil {
		s, _ := b.str(t, "type string")
		at.Type = strings.TrimSpace(s)
	}
	if r := fs["recv"]; r != nil {
		at.Recv = b.recv(r)
	}
	return at
}

const recvWhat = `recv FromBytes, FromPrimitive("T") or From("T"[, None | Some("f")])`

func (b *builder) recv(v *ron.Value) RecvStrategy {
	switch {
	case v.Kind == ron.Ident && v.Name == "FromBytes":
		return RecvStrategy{Kind: FromBytes}
	case v.Kind == ron.Tuple && v.Name == "FromPrimitive" && len(v.Elems) == 1:
		s, _ := b.str(v.Elems[0], "primitive type string")
		return RecvStrategy{Kind: FromPrimitive, Type: strings.TrimSpace(s)}
	case v.Kind == ron.Tuple && v.Name == "From" && (len(v.Elems) == 1 || len(v.Elems) == 2):
		// The function may be left out, as upstream's #[serde(default)] allows.
		s, _ := b.str(v.Elems[0], "wire type string")
		rs := RecvStrategy{Kind: From, Type: strings.TrimSpace(s)}
		if len(v.Elems) == 1 {
			return rs
		}
		if f, ok := b.option(v.Elems[1], `"function"`); ok && f != nil {
			if fn, ok := b.str(f, "function name string"); ok {
				fn = strings.TrimSpace(fn)
				rs.Func = &fn
			}
		}
		return rs
	}
	b.mismatch(v, recvWhat)
	return RecvStrategy{}
}

var leaseFields = []string{"type", "read", "write", "max_len"}

func (b *builder) lease(v *ron.Value) Lease {
	const what, short = `lease (type: "T", read: bool, write: bool, max_len: ...)`, "lease"
	fs, ok := b.fields(v, what, short, []string{"Lease"}, leaseFields, false)
	if !ok {
		return Lease{}
	}
	var l Lease
	if t := b.required(v, fs, "type", short); t != nil {
		s, _ := b.str(t, "type string")
		l.Type = strings.TrimSpace(s)
	}
	if r := fs["read"]; r != nil {
		l.Read = b.boolean(r, "bool true or false")
	}
	if w := fs["write"]; w != nil {
		l.Write = b.boolean(w, "bool true or false")
	}
	if m := fs["max_len"]; m != nil {
		if n, ok := b.option(m, "n"); ok && n != nil {
			if n.Kind != ron.Int || n.Neg || n.Uint > math.MaxUint32 {
				b.mismatch(n, "max_len integer from 1 to 4294967295")
			} else {
				u := uint32(n.Uint)
				l.MaxLen = &u
			}
		}
	}
	return l
}

const replyWhat = `reply Simple(T) or Result(ok: T, err: E)`

func (b *builder) reply(v *ron.Value) Reply {
	switch {
	case v.Kind == ron.Tuple && v.Name == "Simple" && len(v.Elems) == 1:
		return Reply{Kind: Simple, Ok: b.attributed(v.Elems[0])}
	case v.Kind == ron.Struct && v.Name == "Result":
		const what = "Result(ok: T, err: E)"
		fs, _ := b.fields(v, what, "Result", []string{"Result"}, []string{"ok", "err"}, false)
		r := Reply{Kind: Result}
		if ok := b.required(v, fs, "ok", "Result"); ok != nil {
			r.Ok = b.attributed(ok)
		}
		if e := b.required(v, fs, "err", "Result"); e != nil {
			r.Err = b.errorType(e)
		}
		return r
	}
	b.mismatch(v, replyWhat)
	return Reply{}
}

func (b *builder) errorType(v *ron.Value) ErrorType {
	switch {
	case v.Kind == ron.Ident && v.Name == "ServerDeath":
		return ErrorType{Kind: ServerDeath}
	case v.Kind == ron.Tuple && (v.Name == "CLike" || v.Name == "Complex") && len(v.Elems) == 1:
		s, _ := b.str(v.Elems[0], "error type string")
		k := CLike
		if v.Name == "Complex" {
			k = Complex
		}
		return ErrorType{Kind: k, Type: strings.TrimSpace(s)}
	}
	b.mismatch(v, `err CLike("T"), Complex("T") or ServerDeath`)
	return ErrorType{}
}
