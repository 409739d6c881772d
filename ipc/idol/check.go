package idol

import (
	"errors"
	"fmt"
	"strings"

	"spacenet/ipc/idol/ron"
)

// CheckError is one semantic problem found by Check.
type CheckError struct {
	Pos ron.Pos // where the op, arg or lease is written; zero when unknown
	Op  string  // the op concerned, "" for the interface itself
	Msg string  // e.g. `lease "sink" is neither read nor write`
}

// Error returns "[file:line:col: ][op "x": ]msg".
func (e *CheckError) Error() string {
	var b strings.Builder
	if e.Pos.IsValid() {
		b.WriteString(e.Pos.String())
		b.WriteString(": ")
	}
	if e.Op != "" {
		fmt.Fprintf(&b, "op %q: ", e.Op)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Check applies the semantic rules upstream idol enforces and returns every
// problem found, joined (nil if none); each is a *CheckError:
//
//   - the interface, op, arg and lease names are identifiers, types are not empty;
//   - a lease is read, write or both;
//   - a Complex error needs the Hubpack encoding;
//   - recv strategies other than FromBytes need the Zerocopy encoding;
//   - max_len only on slice leases ([T]), and at least 1.
//
// The rules upstream applies only when it generates a client (idolatry's
// client.rs) are not here: see ClientProblems. Errors from Check carry no
// position; ParseChecked and ParseFile add them.
func (iface *Interface) Check() error { return iface.check(nil) }

func (iface *Interface) check(pos *positions) error {
	c := &checker{pos: pos}
	if !IsIdent(iface.Name) {
		c.add(c.namePos(), "", "interface name %q %s", iface.Name, identProblem(iface.Name))
	}
	for i := range iface.Ops {
		c.op(i, &iface.Ops[i])
	}
	return errors.Join(c.errs...)
}

type checker struct {
	pos  *positions
	errs []error
}

func (c *checker) add(at ron.Pos, op, format string, args ...any) {
	c.errs = append(c.errs, &CheckError{Pos: at, Op: op, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) namePos() ron.Pos {
	if c.pos == nil {
		return ron.Pos{}
	}
	return c.pos.name
}

func at(ps [][]ron.Pos, i, j int) ron.Pos {
	if i < len(ps) && j < len(ps[i]) {
		return ps[i][j]
	}
	return ron.Pos{}
}

func at1(ps []ron.Pos, i int) ron.Pos {
	if i < len(ps) {
		return ps[i]
	}
	return ron.Pos{}
}

func (c *checker) op(i int, op *Op) {
	var p positions
	if c.pos != nil {
		p = *c.pos
	}
	opPos, replyPos := at1(p.ops, i), at1(p.reply, i)
	if !IsIdent(op.Name) {
		c.add(opPos, op.Name, "name %s", identProblem(op.Name))
	}
	for j, a := range op.Args {
		apos := at(p.args, i, j)
		if !IsIdent(a.Name) {
			c.add(apos, op.Name, "arg %q: name %s", a.Name, identProblem(a.Name))
		}
		c.attributed(apos, op, fmt.Sprintf("arg %q", a.Name), a.AttributedType)
	}
	for j, l := range op.Leases {
		lpos := at(p.leases, i, j)
		if !IsIdent(l.Name) {
			c.add(lpos, op.Name, "lease %q: name %s", l.Name, identProblem(l.Name))
		}
		for _, a := range op.Args {
			if a.Name == l.Name {
				c.add(lpos, op.Name, "lease %q has the same name as an arg", l.Name)
			}
		}
		if l.Type == "" {
			c.add(lpos, op.Name, "lease %q: type is empty", l.Name)
		}
		if !l.Read && !l.Write {
			c.add(lpos, op.Name, "lease %q is neither read nor write", l.Name)
		}
		if l.MaxLen != nil && !l.IsSlice() {
			c.add(lpos, op.Name, "lease %q: max_len needs a slice type [T], found %q", l.Name, l.Type)
		}
		if l.MaxLen != nil && *l.MaxLen == 0 {
			c.add(lpos, op.Name, "lease %q: max_len must be at least 1, found 0", l.Name)
		}
	}
	c.attributed(replyPos, op, "reply ok", op.Reply.Ok)
	if op.Reply.Kind == Result {
		switch op.Reply.Err.Kind {
		case Complex:
			if op.Encoding != Hubpack {
				c.add(replyPos, op.Name, "Complex error %q needs encoding: Hubpack, found %v", op.Reply.Err.Type, op.Encoding)
			}
			fallthrough
		case CLike:
			if op.Reply.Err.Type == "" {
				c.add(replyPos, op.Name, "err type is empty")
			}
		}
	}
}

// ClientProblems returns, for each op a client cannot be generated for, why
// not: the rules upstream idol applies only in client generation
// (idolatry's client.rs), while its parser and server generation accept
// such files, and Hubris's own interfaces rely on that:
//
//   - an idempotent op has no read+write lease (a retry could carry one
//     server's half-written state to the next);
//   - an idempotent op has no err: ServerDeath (it is retried, a restart is
//     never reported);
//   - a non-idempotent op has no Simple reply (it could not report a
//     server restart).
//
// The errors carry no position; File.ClientProblems adds them.
func (iface *Interface) ClientProblems() []*CheckError { return iface.clientProblems(nil) }

func (iface *Interface) clientProblems(pos *positions) []*CheckError {
	var p positions
	if pos != nil {
		p = *pos
	}
	var out []*CheckError
	add := func(at ron.Pos, op, format string, args ...any) {
		out = append(out, &CheckError{Pos: at, Op: op, Msg: fmt.Sprintf(format, args...)})
	}
	for i := range iface.Ops {
		op := &iface.Ops[i]
		replyPos := at1(p.reply, i)
		if !op.Idempotent {
			if op.Reply.Kind == Simple {
				add(replyPos, op.Name, "non-idempotent op has a Simple reply (it could not report a server restart)")
			}
			continue
		}
		for j, l := range op.Leases {
			if l.Read && l.Write {
				add(at(p.leases, i, j), op.Name, "idempotent op has lease %q that is both read and write", l.Name)
			}
		}
		if op.Reply.Kind == Result && op.Reply.Err.Kind == ServerDeath {
			add(replyPos, op.Name, "idempotent op has err: ServerDeath (it is retried, a restart is never reported)")
		}
	}
	return out
}

// attributed checks a type and its recv strategy.
func (c *checker) attributed(at ron.Pos, op *Op, what string, t AttributedType) {
	if t.Type == "" {
		c.add(at, op.Name, "%s: type is empty", what)
	}
	if t.Recv.Kind != FromBytes {
		if t.Recv.Type == "" {
			c.add(at, op.Name, "%s: recv %v wire type is empty", what, t.Recv.Kind)
		}
		if op.Encoding != Zerocopy {
			c.add(at, op.Name, "%s: recv %v needs encoding: Zerocopy, found %v", what, t.Recv.Kind, op.Encoding)
		}
	}
	if t.Recv.Kind == From && t.Recv.Func != nil && !IsIdent(*t.Recv.Func) {
		c.add(at, op.Name, "%s: recv From function %q %s", what, *t.Recv.Func, identProblem(*t.Recv.Func))
	}
}

// IsIdent reports whether s can name an interface, op, arg, lease or From
// function, as upstream parses names with syn::Ident: an ASCII letter or '_'
// then letters, digits and '_', not "_" alone and not a Rust keyword.
// (Upstream also takes non-ASCII letters and r#raw identifiers; Go code
// generation could not use them as written, so they are refused here.)
func IsIdent(s string) bool {
	if s == "" || s == "_" || rustKeywords[s] {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}

// identProblem says why s is not an identifier.
func identProblem(s string) string {
	if rustKeywords[s] {
		return "is a Rust keyword, not an identifier"
	}
	return "is not an identifier"
}

// rustKeywords are the strict and reserved keywords of Rust 2021, which
// syn refuses as identifiers.
var rustKeywords = map[string]bool{}

func init() {
	for _, k := range strings.Fields(`as break const continue crate else enum extern false fn for if impl in
		let loop match mod move mut pub ref return self Self static struct super trait true type unsafe
		use where while async await dyn abstract become box do final macro override priv typeof unsized
		virtual yield try`) {
		rustKeywords[k] = true
	}
}

// IsSlice reports whether the lease's type is a slice [T] (not an array
// [T; N]).
func (l Lease) IsSlice() bool {
	_, ok := SliceElem(l.Type)
	return ok
}

// SliceElem returns T for a slice type "[T]" (trimmed), and false for any
// other type, including arrays "[T; N]".
func SliceElem(typ string) (string, bool) {
	t := strings.TrimSpace(typ)
	if len(t) < 2 || t[0] != '[' || t[len(t)-1] != ']' {
		return "", false
	}
	inner := t[1 : len(t)-1]
	depth := 0
	for i := 0; i < len(inner); i++ {
		switch inner[i] {
		case '[', '(', '<':
			depth++
		case ']', ')', '>':
			depth--
			if depth < 0 {
				return "", false
			}
		case ';':
			if depth == 0 {
				return "", false
			}
		}
	}
	if depth != 0 {
		return "", false
	}
	inner = strings.TrimSpace(inner)
	return inner, inner != ""
}

// String returns the strategy kind's name as written in a file.
func (k RecvKind) String() string {
	switch k {
	case FromBytes:
		return "FromBytes"
	case FromPrimitive:
		return "FromPrimitive"
	case From:
		return "From"
	}
	return "RecvKind(?)"
}

// String returns "Simple" or "Result".
func (k ReplyKind) String() string {
	if k == Simple {
		return "Simple"
	}
	if k == Result {
		return "Result"
	}
	return "ReplyKind(?)"
}

// String returns "CLike", "Complex" or "ServerDeath".
func (k ErrorKind) String() string {
	switch k {
	case CLike:
		return "CLike"
	case Complex:
		return "Complex"
	case ServerDeath:
		return "ServerDeath"
	}
	return "ErrorKind(?)"
}
