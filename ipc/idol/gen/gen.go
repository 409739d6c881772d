// Package gen generates Go code from Idol interfaces: op-code constants,
// message sizes, a client type with one method per op (but for ops
// upstream's client generator refuses), a server interface, a dispatcher
// that checks and decodes requests, calls the server and encodes its reply,
// and the typed pipelined side (per-op argument decoders, a pipelined
// server interface whose methods answer held calls later), all on top of
// package ipc. Named types come from a types file (see Types). Check
// resolves an interface's types without generating.
//
// It does not parse .idol files (package idol does) and does not carry
// calls (package ipc and its transports do).
package gen

import (
	"bytes"
	"errors"
	"fmt"
	goformat "go/format"
	"sort"
	"strconv"
	"strings"

	"spacenet/ipc/idol"
)

// Options says what to generate.
type Options struct {
	Package string // Go package name of the output
	Source  string // the .idol file's name, for the header
	Types   *Types // named types and constants; nil for none; not modified
	// File, when set, is the parsed file iface came from: errors and
	// warnings then carry the file:line:col of the op, arg or lease.
	File *idol.File
	// Warn, when set, receives each warning: an op no client is generated
	// for and why, a type upstream could not build or send (see
	// docs/idol-gen.md), a From receive strategy without a function.
	Warn func(msg string)
}

type writer struct{ b bytes.Buffer }

func (w *writer) p(f string, a ...any) {
	fmt.Fprintf(&w.b, f, a...)
	w.b.WriteByte('\n')
}

func (w *writer) raw(s string) { w.b.WriteString(s) }

type generator struct {
	w           *writer
	iface       *idol.Interface
	types       *Types
	ops         []*opInfo
	needStrconv bool
	needErrors  bool
	opts        *Options
}

type argInfo struct {
	name, param, field string
	t                  *typ   // the type on the wire (the client's type)
	wire               *prim  // FromPrimitive: the primitive on the wire
	srv                *typ   // From with a function: the server's type
	conv               string // From with a function: the Go function, wire -> srv
}

type leaseInfo struct {
	name, param string
	field       string // in the op's Args struct
	read, write bool
	slice       bool
	elem        *typ // element type
	maxLen      int
	goType      string
	bytesDirect bool // []byte: no conversion
	elemSize    int
}

type opInfo struct {
	op                  *idol.Op
	goName              string
	f                   format
	args                []argInfo
	leases              []leaseInfo
	ok                  *typ  // nil for ()
	okWire              *prim // FromPrimitive reply
	errKind             idol.ErrorKind
	errT                *named
	result              bool
	argsSize, replySize int
	index               int    // position in iface.Ops
	noClient            string // why no client method is generated, "" if one is
}

// partError is a problem with one part of an op, so that it can be
// positioned: part is "arg", "lease", "reply" or "err"; i indexes args or
// leases.
type partError struct {
	part string
	i    int
	err  error
}

func (e *partError) Error() string { return e.err.Error() }
func (e *partError) Unwrap() error { return e.err }

func (g *generator) partErr(part string, i int, format string, args ...any) error {
	return &partError{part: part, i: i, err: fmt.Errorf(format, args...)}
}

// where returns "file:line:col: op NAME" for a part of op i when a File
// was given, else "SOURCE: op NAME".
func (g *generator) where(i int, part string, j int) string {
	op := g.iface.Ops[i].Name
	f := g.opts.File
	if f == nil {
		return fmt.Sprintf("%s: op %s", g.opts.Source, op)
	}
	var p fmt.Stringer
	switch part {
	case "arg":
		p = f.ArgPos(i, j)
	case "lease":
		p = f.LeasePos(i, j)
	case "reply", "err":
		p = f.ReplyPos(i)
	default:
		p = f.OpPos(i)
	}
	return fmt.Sprintf("%s: op %s", p, op)
}

func (g *generator) warn(i int, part string, j int, format string, args ...any) {
	if g.opts.Warn != nil {
		g.opts.Warn(g.where(i, part, j) + ": " + fmt.Sprintf(format, args...))
	}
}

// Generate returns gofmt-formatted Go source for iface.
func Generate(iface *idol.Interface, opts Options) ([]byte, error) {
	if opts.Package == "" || !isGoIdent(opts.Package) {
		return nil, fmt.Errorf("gen: package name %q is not a Go identifier", opts.Package)
	}
	// Resolution marks what to emit on the named types, so each call
	// resolves into its own copy: calls may share one Types, at once.
	types := &Types{}
	if opts.Types != nil {
		types.Consts, types.Types = opts.Types.Consts, opts.Types.Types
	}
	if err := types.init(); err != nil {
		return nil, fmt.Errorf("%s: types: %w", opts.Source, err)
	}
	g := &generator{w: &writer{}, iface: iface, types: types, opts: &opts}
	if err := g.resolveOps(); err != nil {
		return nil, err
	}
	body := &writer{}
	g.w = body
	g.emitInterface()
	var namedList []*named
	for _, n := range types.named {
		if n.needZ || n.needS || n.needValid || n.isError || n.declare {
			namedList = append(namedList, n)
		}
	}
	sort.Slice(namedList, func(i, j int) bool { return namedList[i].goName < namedList[j].goName })
	if err := g.checkNames(namedList); err != nil {
		return nil, fmt.Errorf("%s: %w", opts.Source, err)
	}
	for _, n := range namedList {
		g.emitNamed(n)
	}

	out := &writer{}
	out.p("// Code generated by spacenet idl gen from %s. DO NOT EDIT.", opts.Source)
	out.p("")
	out.p("package %s", opts.Package)
	out.p("")
	out.p("import (")
	out.p("%q", "context")
	if g.needErrors {
		out.p("%q", "errors")
	}
	if g.needStrconv {
		out.p("%q", "strconv")
	}
	out.p("")
	out.p("%q", "spacenet/ipc")
	out.p(")")
	out.p("")
	out.raw(body.b.String())
	src, err := goformat.Source(out.b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("gen: formatting generated code for %s: %w\n%s", opts.Source, err, out.b.String())
	}
	return src, nil
}

// Check resolves every type f's interface names against types, as
// Generate does, and returns the problems joined, each at its
// file:line:col; warn, if not nil, receives the warnings.
func Check(f *idol.File, types *Types, warn func(msg string)) error {
	_, err := Generate(f.Interface, Options{Package: "check", Source: "check", Types: types, File: f, Warn: warn})
	return err
}

// resolveOps resolves every op's types, refuses what cannot be generated
// (joined, each positioned when a File was given) and warns about the rest.
func (g *generator) resolveOps() error {
	var errs []error
	for i := range g.iface.Ops {
		oi, err := g.opInfo(&g.iface.Ops[i])
		if err != nil {
			part, j := "op", 0
			var pe *partError
			if errors.As(err, &pe) {
				part, j = pe.part, pe.i
			}
			errs = append(errs, fmt.Errorf("%s: %w", g.where(i, part, j), err))
			continue
		}
		oi.index = i
		g.ops = append(g.ops, oi)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	var problems []*idol.CheckError
	if g.opts.File != nil {
		problems = g.opts.File.ClientProblems()
	} else {
		problems = g.iface.ClientProblems()
	}
	for _, p := range problems {
		for _, oi := range g.ops {
			if oi.op.Name == p.Op && oi.noClient == "" {
				oi.noClient = p.Msg
				g.warn(oi.index, "op", 0, "no client method generated (upstream's client generator refuses it too): %s; the server side is generated", p.Msg)
			}
		}
	}
	for _, oi := range g.ops {
		g.lint(oi)
	}
	return nil
}

func (g *generator) resolve(s string, f format, ssm bool) (*typ, error) {
	t, err := g.types.parse(s)
	if err != nil {
		return nil, err
	}
	if err := check(t, f, ssm); err != nil {
		return nil, fmt.Errorf("type %q: %w", s, err)
	}
	return t, nil
}

func (g *generator) fromPrimitive(ty string, wire string) (*typ, *prim, error) {
	t, err := g.types.parse(ty)
	if err != nil {
		return nil, nil, err
	}
	if t.kind != kNamed || t.named.kind != "enum" || t.named.data {
		return nil, nil, fmt.Errorf("FromPrimitive type %q is not a C-like enum in the types file", ty)
	}
	p := prims[wire]
	if p == nil || p.gotype == "struct{}" || p.rust == "bool" || strings.HasPrefix(p.rust, "f") || p.zsize == 16 {
		return nil, nil, fmt.Errorf("FromPrimitive(%q): not an integer primitive", wire)
	}
	t.named.needValid = true
	return t, p, nil
}

func (g *generator) opInfo(op *idol.Op) (*opInfo, error) {
	oi := &opInfo{op: op, goName: goCamel(op.Name), f: formatOf(op.Encoding)}
	ssm := op.Encoding == idol.Ssmarshal
	used := map[string]bool{}
	param := func(name string) string {
		p := goLower(name)
		for used[p] {
			p += "_"
		}
		used[p] = true
		return p
	}
	for _, a := range op.Args {
		ai := argInfo{name: a.Name, param: param(a.Name), field: goCamel(a.Name)}
		switch a.Recv.Kind {
		case idol.FromPrimitive:
			t, p, err := g.fromPrimitive(a.Type, a.Recv.Type)
			if err != nil {
				return nil, g.partErr("arg", len(oi.args), "arg %s: %w", a.Name, err)
			}
			ai.t, ai.wire = t, p
		case idol.From:
			// The client sends the wire type. With a function f, the server
			// gets the arg's type, converted by a Go function f (func(W) T)
			// the package defines next to the generated file; without one,
			// it gets the wire type (Go has no From), with a warning.
			t, err := g.resolve(a.Recv.Type, oi.f, ssm)
			if err != nil {
				return nil, g.partErr("arg", len(oi.args), "arg %s: %w", a.Name, err)
			}
			ai.t = t
			if a.Recv.Func != nil {
				st, err := g.types.parse(a.Type)
				if err != nil {
					return nil, g.partErr("arg", len(oi.args), "arg %s: From(%q, %q): %w", a.Name, a.Recv.Type, *a.Recv.Func, err)
				}
				if !isGoIdent(*a.Recv.Func) || reserved[*a.Recv.Func] {
					return nil, g.partErr("arg", len(oi.args), "arg %s: From function %q cannot be a Go function name", a.Name, *a.Recv.Func)
				}
				if st.kind == kNamed {
					st.named.declare = true
				}
				ai.srv, ai.conv = st, *a.Recv.Func
			}
		default:
			t, err := g.resolve(a.Type, oi.f, ssm)
			if err != nil {
				return nil, g.partErr("arg", len(oi.args), "arg %s: %w", a.Name, err)
			}
			ai.t = t
		}
		if ai.wire != nil {
			oi.argsSize += map[format]int{fZ: ai.wire.zsize, fS: ai.wire.ssize}[oi.f]
		} else {
			oi.argsSize += size(ai.t, oi.f)
		}
		oi.args = append(oi.args, ai)
	}
	for _, l := range op.Leases {
		li := leaseInfo{name: l.Name, param: param(l.Name), field: goCamel(l.Name), read: l.Read, write: l.Write}
		ts, slice := idol.SliceElem(l.Type)
		if !slice {
			ts = l.Type
		}
		t, err := g.resolve(ts, fZ, false)
		if err != nil {
			return nil, g.partErr("lease", len(oi.leases), "lease %s: %w", l.Name, err)
		}
		li.slice, li.elem, li.elemSize = slice, t, size(t, fZ)
		if l.MaxLen != nil {
			li.maxLen = int(*l.MaxLen)
		}
		switch {
		case slice && isU8(t):
			li.goType, li.bytesDirect = "[]byte", true
		case slice:
			li.goType = "[]" + goType(t)
		default:
			li.goType = "*" + goType(t)
		}
		if li.elemSize == 0 {
			return nil, g.partErr("lease", len(oi.leases), "lease %s: zero-sized element type", l.Name)
		}
		oi.leases = append(oi.leases, li)
	}
	fields := map[string]string{}
	for _, a := range oi.args {
		fields[a.field] = a.name
	}
	for j, l := range oi.leases {
		if prev, dup := fields[l.field]; dup {
			return nil, g.partErr("lease", j, "lease %s and arg %s both become field %s", l.name, prev, l.field)
		}
		fields[l.field] = l.name
	}
	r := op.Reply
	oi.result = r.Kind == idol.Result
	switch r.Ok.Recv.Kind {
	case idol.FromPrimitive:
		t, p, err := g.fromPrimitive(r.Ok.Type, r.Ok.Recv.Type)
		if err != nil {
			return nil, g.partErr("reply", 0, "reply: %w", err)
		}
		oi.ok, oi.okWire = t, p
		oi.replySize = map[format]int{fZ: p.zsize, fS: p.ssize}[oi.f]
	default:
		ty := r.Ok.Type
		if r.Ok.Recv.Kind == idol.From {
			ty = r.Ok.Recv.Type
		}
		t, err := g.resolve(ty, oi.f, ssm)
		if err != nil {
			return nil, g.partErr("reply", 0, "reply: %w", err)
		}
		if !isUnit(t) {
			oi.ok = t
			oi.replySize = size(t, oi.f)
		}
	}
	if oi.result {
		oi.errKind = r.Err.Kind
		switch r.Err.Kind {
		case idol.CLike:
			t, err := g.types.parse(r.Err.Type)
			if err != nil {
				return nil, g.partErr("err", 0, "error type: %w", err)
			}
			if t.kind != kNamed || t.named.kind != "clike" {
				return nil, g.partErr("err", 0, "error type %q is not kind \"clike\" in the types file", r.Err.Type)
			}
			oi.errT = t.named
			t.named.isError = true
		case idol.Complex:
			t, err := g.resolve(r.Err.Type, fS, false) // Complex errors are Hubpack
			if err != nil {
				return nil, g.partErr("err", 0, "error type: %w", err)
			}
			if t.kind != kNamed {
				return nil, g.partErr("err", 0, "complex error type %q is not a named type", r.Err.Type)
			}
			oi.errT = t.named
			t.named.isError = true
			oi.replySize = max(oi.replySize, size(t, fS))
		}
		if oi.errT != nil {
			g.needErrors = true
		}
	}
	return oi, nil
}

func (g *generator) emitInterface() {
	w, name := g.w, g.iface.Name
	w.p("// Op codes of the %s interface: 1-based positions in the file.", name)
	w.p("const (")
	for _, oi := range g.ops {
		w.p("%sOp%s uint16 = %d", name, oi.goName, oi.op.Code)
	}
	w.p(")")
	w.p("")
	w.p("// Message sizes of the %s interface, in bytes: the encoded arguments", name)
	w.p("// (exact for Zerocopy ops, the maximum for Hubpack and Ssmarshal ops) and the")
	w.p("// largest reply body. %sIncomingSize is the largest argument message:", name)
	w.p("// the maximum over ops, not their sum.")
	w.p("const (")
	maxIn := 0
	for _, oi := range g.ops {
		w.p("%s%sArgsSize = %d", name, oi.goName, oi.argsSize)
		w.p("%s%sReplySize = %d", name, oi.goName, oi.replySize)
		maxIn = max(maxIn, oi.argsSize)
	}
	w.p("%sIncomingSize = %d", name, maxIn)
	w.p(")")
	w.p("")
	g.emitClient()
	g.emitServer()
}

func (g *generator) methodDoc(oi *opInfo, what string) {
	w := g.w
	flags := oi.op.Encoding.String()
	if oi.op.Idempotent {
		flags += ", idempotent"
	}
	w.p("// %s %s op %s (%d, %s).", oi.goName, what, oi.op.Name, oi.op.Code, flags)
	if oi.op.Doc != nil && strings.TrimSpace(*oi.op.Doc) != "" {
		g.docLines(*oi.op.Doc)
	}
}

func (g *generator) okGoType(oi *opInfo) string {
	if oi.ok == nil {
		return ""
	}
	return goType(oi.ok)
}

func (g *generator) params(oi *opInfo) string {
	var ps []string
	for _, a := range oi.args {
		ps = append(ps, a.param+" "+goType(a.t))
	}
	for _, l := range oi.leases {
		ps = append(ps, l.param+" "+l.goType)
	}
	if len(ps) == 0 {
		return ""
	}
	return ", " + strings.Join(ps, ", ")
}

func (g *generator) results(oi *opInfo) string {
	if oi.ok == nil {
		return "error"
	}
	return "(" + g.okGoType(oi) + ", error)"
}

func (g *generator) emitClient() {
	w, name := g.w, g.iface.Name
	w.p("// %sClient calls a %s server over a transport.", name, name)
	w.p("type %sClient struct {", name)
	w.p("T ipc.Transport")
	w.p("}")
	w.p("")
	w.p("// New%sClient returns a client sending its calls over t.", name)
	w.p("func New%sClient(t ipc.Transport) *%sClient { return &%sClient{T: t} }", name, name, name)
	w.p("")
	w.p("// call sends req, retrying an idempotent op up to ipc.MaxRetries times")
	w.p("// after the server restarted (ServerDeath).")
	w.p("func (c *%sClient) call(ctx context.Context, op string, req *ipc.Request, rep *ipc.Reply, idempotent bool) error {", name)
	w.p("for attempt := 0; ; attempt++ {")
	w.p("err := c.T.Call(ctx, req, rep)")
	w.p("if err == nil {")
	w.p("return nil")
	w.p("}")
	w.p("if idempotent && attempt < ipc.MaxRetries {")
	w.p("if f, ok := ipc.AsFault(err); ok && f == ipc.ServerDeath {")
	w.p("continue")
	w.p("}")
	w.p("}")
	w.p("return &ipc.CallError{Interface: %q, Op: op, Err: err}", name)
	w.p("}")
	w.p("}")
	w.p("")
	for _, oi := range g.ops {
		g.emitClientOp(oi)
	}
}

func (g *generator) emitClientOp(oi *opInfo) {
	w, name := g.w, g.iface.Name
	if oi.noClient != "" {
		w.p("// No client method for op %s (%d): %s.", oi.op.Name, oi.op.Code, oi.noClient)
		w.p("")
		return
	}
	g.methodDoc(oi, "calls")
	zero := ""
	if oi.ok != nil {
		zero = "v, "
	}
	w.p("func (c *%sClient) %s(ctx context.Context%s) %s {", name, oi.goName, g.params(oi), g.results(oi))
	if oi.ok != nil {
		w.p("var v %s", goType(oi.ok))
	}
	for _, l := range oi.leases {
		if l.slice && l.maxLen > 0 {
			w.p("if len(%s) > %d {", l.param, l.maxLen)
			w.p("return %s&ipc.LeaseTooLongError{Interface: %q, Op: %q, Lease: %q, Len: len(%s), Max: %d}", zero, name, oi.op.Name, l.name, l.param, l.maxLen)
			w.p("}")
		}
	}
	// The call's Request, Reply and buffers come from a pool: passed to
	// Transport.Call through an interface they would escape to the heap.
	w.p("s := ipc.GetScratch()")
	w.p("defer s.Put()")
	if len(oi.args) > 0 {
		w.p("enc := ipc.NewEncoder(s.Args(%s%sArgsSize))", name, oi.goName)
		w.p("e := &enc")
		for _, a := range oi.args {
			if a.wire != nil {
				conv := a.wire.gotype + "(" + a.param + ")"
				if oi.f == fZ {
					w.raw(fmt.Sprintf(a.wire.zenc, conv) + "\n")
				} else {
					w.raw(fmt.Sprintf(a.wire.senc, conv) + "\n")
				}
				continue
			}
			w.raw(enc(a.t, oi.f, a.param, 0))
		}
		w.p("if err := e.Err(); err != nil {")
		w.p("return %s&ipc.CallError{Interface: %q, Op: %q, Err: err}", zero, name, oi.op.Name)
		w.p("}")
	}
	// Leases.
	var leases []string
	for i, l := range oi.leases {
		data := l.param
		if !l.bytesDirect {
			data = fmt.Sprintf("lb%d", i)
			n := "1"
			if l.slice {
				n = "len(" + l.param + ")"
			}
			w.p("%s := make([]byte, %s*%d)", data, n, l.elemSize)
			if l.read {
				w.p("{")
				w.p("enc := ipc.NewEncoder(%s)", data)
				w.p("e := &enc")
				g.leaseElems(l, true)
				w.p("}")
			}
		}
		leases = append(leases, fmt.Sprintf("ipc.Lease{Read: %v, Write: %v, Data: %s}", l.read, l.write, data))
	}
	args := "s.Args(0)"
	if len(oi.args) > 0 {
		args = "e.Bytes()"
	}
	w.p("req, rep := &s.Req, &s.Rep")
	w.p("*req = ipc.Request{Op: %sOp%s, Args: %s, ReplyCap: %s%sReplySize}", name, oi.goName, args, name, oi.goName)
	if len(leases) > 0 {
		w.p("req.Leases = s.Leases(%d)", len(leases))
		for i, l := range leases {
			w.p("req.Leases[%d] = %s", i, l)
		}
	}
	w.p("if err := c.call(ctx, %q, req, rep, %v); err != nil {", oi.op.Name, oi.op.Idempotent)
	w.p("return %serr", zero)
	w.p("}")
	bad := func(errExpr string) {
		w.p("return %s&ipc.BadReplyError{Interface: %q, Op: %q, Err: %s}", zero, name, oi.op.Name, errExpr)
	}
	if len(oi.leases) > 0 {
		w.p("if err := ipc.CopyWritten(req.Leases, rep); err != nil {")
		bad("err")
		w.p("}")
		for i, l := range oi.leases {
			if l.bytesDirect || !l.write {
				continue
			}
			w.p("{")
			w.p("dec := ipc.NewDecoder(lb%d)", i)
			w.p("d := &dec")
			g.leaseElems(l, false)
			w.p("if err := d.Err(); err != nil {")
			bad("err")
			w.p("}")
			w.p("}")
		}
	}
	w.p("if rep.RC != 0 {")
	switch {
	case oi.errKind == idol.CLike && oi.result:
		w.p("return %s%s(rep.RC)", zero, oi.errT.goName)
	case oi.errKind == idol.Complex && oi.result:
		w.p("if rep.RC == 1 {")
		w.p("var ev %s", oi.errT.goName)
		w.p("dec := ipc.NewDecoder(rep.Body)")
		w.p("ev.decodeSerde(&dec)")
		w.p("if err := dec.Err(); err != nil {")
		bad("err")
		w.p("}")
		w.p("return %sev", zero)
		w.p("}")
		fallthrough
	default:
		bad("&ipc.DecodeError{Reason: \"invalid value\", Value: uint64(rep.RC)}")
	}
	w.p("}")
	if oi.ok != nil {
		w.p("dec := ipc.NewDecoder(rep.Body)")
		w.p("d := &dec")
		if oi.okWire != nil {
			dexp := oi.okWire.zdec
			if oi.f == fS {
				dexp = oi.okWire.sdec
			}
			w.p("x := %s", dexp)
			w.p("v = %s(x)", goType(oi.ok))
			w.p("if !v.Valid() {")
			w.p("d.Invalid(uint64(x))")
			w.p("}")
		} else {
			w.raw(dec(oi.ok, oi.f, "v", 0))
		}
		if oi.f == fZ {
			w.p("if err := d.Finish(); err != nil {")
		} else {
			w.p("if err := d.Err(); err != nil {")
		}
		bad("err")
		w.p("}")
		w.p("return v, nil")
	} else {
		w.p("return nil")
	}
	w.p("}")
	w.p("")
}

// leaseElems encodes (or decodes) a typed lease's elements with e (or d).
func (g *generator) leaseElems(l leaseInfo, encode bool) {
	w := g.w
	if !l.slice {
		if encode {
			w.raw(enc(l.elem, fZ, "(*"+l.param+")", 1))
		} else {
			w.raw(dec(l.elem, fZ, "(*"+l.param+")", 1))
		}
		return
	}
	w.p("for i := range %s {", l.param)
	if encode {
		w.raw(enc(l.elem, fZ, l.param+"[i]", 1))
	} else {
		w.raw(dec(l.elem, fZ, l.param+"[i]", 1))
	}
	w.p("}")
}

func (g *generator) emitServer() {
	w, name := g.w, g.iface.Name
	w.p("// %sServer is implemented by a %s server: one method per op. A method", name, name)
	w.p("// returns the op's error type (CLike or Complex) to answer with it, an")
	w.p("// ipc.Fault to fault the caller, or any other error for a server failure.")
	w.p("// Write leases arrive as zeroed buffers of the caller's length.")
	w.p("type %sServer interface {", name)
	for _, oi := range g.ops {
		g.methodDoc(oi, "serves")
		w.p("%s(ctx context.Context, caller ipc.Caller%s) %s", oi.goName, g.srvParams(oi), g.results(oi))
	}
	w.p("}")
	w.p("")
	for _, oi := range g.ops {
		if len(oi.leases) == 0 {
			continue
		}
		w.p("var %s%sLeases = []ipc.LeaseSpec{", lowerFirst(name), oi.goName)
		for _, l := range oi.leases {
			w.p("{Name: %q, Read: %v, Write: %v, ElemSize: %d, Slice: %v, MaxLen: %d},", l.name, l.read, l.write, l.elemSize, l.slice, l.maxLen)
		}
		w.p("}")
		w.p("")
	}
	w.p("// check%sRequest applies the checks every op shares: unknown op, then", name)
	w.p("// access, then the interface's IncomingSize.")
	w.p("func check%sRequest(access *ipc.Access, caller ipc.Caller, req *ipc.Request) error {", name)
	w.p("if req.Op == 0 || req.Op > %d {", len(g.ops))
	w.p("return ipc.UnknownOperation")
	w.p("}")
	w.p("if !access.Allowed(req.Op, caller) {")
	w.p("return ipc.AccessViolation")
	w.p("}")
	w.p("if len(req.Args) > %sIncomingSize {", name)
	w.p("return ipc.BadMessageSize")
	w.p("}")
	w.p("return nil")
	w.p("}")
	w.p("")
	g.emitDispatcherType(name+"Dispatcher", name+"Server",
		fmt.Sprintf("serves %s requests with a %sServer: it implements ipc.Handler.", name, name), "a dispatcher")
	w.p("// Handle implements ipc.Handler: unknown op, then access, then the op's")
	w.p("// argument size and contents and its leases, in that order.")
	w.p("func (s *%sDispatcher) Handle(ctx context.Context, caller ipc.Caller, req *ipc.Request, rep *ipc.Reply) error {", name)
	w.p("if err := check%sRequest(&s.access, caller, req); err != nil {", name)
	w.p("return err")
	w.p("}")
	w.p("rep.Reset()")
	w.p("switch req.Op {")
	for _, oi := range g.ops {
		w.p("case %sOp%s:", name, oi.goName)
		w.p("return s.handle%s(ctx, caller, req, rep)", oi.goName)
	}
	w.p("}")
	w.p("return ipc.UnknownOperation")
	w.p("}")
	w.p("")
	for _, oi := range g.ops {
		g.emitReadArgs(oi)
		g.emitAnswer(oi)
		g.emitHandler(oi)
	}
	g.emitPipelined()
}

// emitDispatcherType writes a dispatcher type holding impl and the access
// rules, and its constructor NewT.
func (g *generator) emitDispatcherType(typeName, implName, doc, what string) {
	w := g.w
	w.p("// %s %s", typeName, doc)
	w.p("type %s struct {", typeName)
	w.p("impl %s", implName)
	w.p("access ipc.Access")
	w.p("}")
	w.p("")
	w.p("// New%s returns %s calling impl; ipc.Restrict options limit ops", typeName, what)
	w.p("// to named callers.")
	w.p("func New%s(impl %s, opts ...ipc.DispatchOption) *%s {", typeName, implName, typeName)
	w.p("return &%s{impl: impl, access: ipc.NewAccess(opts)}", typeName)
	w.p("}")
	w.p("")
	w.p("// OpNames implements ipc.OpNamer: the interface's ops in op-code order")
	w.p("// (op code i+1 is OpNames()[i]), for a server runtime's check of the")
	w.p("// restrictions at start.")
	w.p("func (s *%s) OpNames() []string {", typeName)
	names := make([]string, len(g.ops))
	for i, oi := range g.ops {
		names[i] = strconv.Quote(oi.op.Name)
	}
	w.p("return []string{%s}", strings.Join(names, ", "))
	w.p("}")
	w.p("")
	w.p("// Restrictions implements ipc.Restricter: the access rules given to")
	w.p("// New%s, which a server runtime checks at start.", typeName)
	w.p("func (s *%s) Restrictions() *ipc.Access { return &s.access }", typeName)
	w.p("")
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// srvType is the Go type the server gets for an arg: the From type when a
// conversion function is named, else the wire type.
func srvType(a argInfo) string {
	if a.srv != nil {
		return goType(a.srv)
	}
	return goType(a.t)
}

// srvParams is params with the server's argument types.
func (g *generator) srvParams(oi *opInfo) string {
	var ps []string
	for _, a := range oi.args {
		ps = append(ps, a.param+" "+srvType(a))
	}
	for _, l := range oi.leases {
		ps = append(ps, l.param+" "+l.goType)
	}
	if len(ps) == 0 {
		return ""
	}
	return ", " + strings.Join(ps, ", ")
}

// argsFields lists a.Field for each arg and lease of the op: the call's
// arguments from a decoded Args struct.
func argsFields(oi *opInfo) string {
	var out []string
	for _, a := range oi.args {
		out = append(out, "a."+a.field)
	}
	for _, l := range oi.leases {
		out = append(out, "a."+l.field)
	}
	if len(out) == 0 {
		return ""
	}
	return ", " + strings.Join(out, ", ")
}

// emitReadArgs writes the op's Args struct and its Read function, the
// counterpart of upstream's read_<op>_msg.
func (g *generator) emitReadArgs(oi *opInfo) {
	w, name := g.w, g.iface.Name
	tn := name + oi.goName + "Args"
	w.p("// %s holds the decoded arguments and leases of op %s.", tn, oi.op.Name)
	w.p("type %s struct {", tn)
	for _, a := range oi.args {
		w.p("%s %s", a.field, srvType(a))
	}
	for _, l := range oi.leases {
		w.p("%s %s", l.field, l.goType)
	}
	w.p("}")
	w.p("")
	w.p("// Read%s checks and decodes a request's arguments and leases for op", tn)
	w.p("// %s (as upstream's read_%s_msg), or returns the ipc.Fault that", oi.op.Name, oi.op.Name)
	w.p("// refuses it. It does not check the op code, access or IncomingSize.")
	w.p("func Read%s(req *ipc.Request) (a %s, err error) {", tn, tn)
	// As upstream: a Zerocopy message of the wrong length does not convert
	// (BadMessageContents); a serde message is bounded only by the
	// interface's IncomingSize and its trailing bytes are ignored.
	if oi.f == fZ {
		w.p("if len(req.Args) != %s%sArgsSize {", name, oi.goName)
		w.p("return a, ipc.BadMessageContents")
		w.p("}")
	}
	if len(oi.args) > 0 {
		w.p("dec := ipc.NewDecoder(req.Args)")
		w.p("d := &dec")
		for _, a := range oi.args {
			dst := "a." + a.field
			switch {
			case a.wire != nil:
				dexp := a.wire.zdec
				if oi.f == fS {
					dexp = a.wire.sdec
				}
				w.p("if x := %s; d.Err() == nil {", dexp)
				w.p("%s = %s(x)", dst, goType(a.t))
				w.p("if !%s.Valid() {", dst)
				w.p("d.Invalid(uint64(x))")
				w.p("}")
				w.p("}")
			case a.conv != "":
				w.p("{")
				w.p("var x %s", goType(a.t))
				w.raw(dec(a.t, oi.f, "x", 0))
				w.p("%s = %s(x)", dst, a.conv)
				w.p("}")
			case a.t.kind == kPrim && a.t.prim.rust == "bool":
				// Upstream holds a bare bool argument as a u8 and tests != 0,
				// in every encoding.
				w.p("%s = d.BoolAny()", dst)
			default:
				w.raw(dec(a.t, oi.f, dst, 0))
			}
		}
		w.p("if d.Err() != nil {")
		w.p("return a, ipc.BadMessageContents")
		w.p("}")
	}
	if len(oi.leases) > 0 {
		w.p("if err := ipc.CheckLeases(req.Leases, %s%sLeases); err != nil {", lowerFirst(name), oi.goName)
		w.p("return a, err")
		w.p("}")
		for i, l := range oi.leases {
			dst := "a." + l.field
			if l.bytesDirect {
				w.p("%s = req.Leases[%d].Data", dst, i)
				continue
			}
			if l.slice {
				w.p("%s = make(%s, len(req.Leases[%d].Data)/%d)", dst, l.goType, i, l.elemSize)
			} else {
				w.p("%s = new(%s)", dst, goType(l.elem))
			}
			if l.read {
				w.p("{")
				w.p("dec := ipc.NewDecoder(req.Leases[%d].Data)", i)
				w.p("d := &dec")
				l.param = dst
				g.leaseElems(l, false)
				w.p("if d.Err() != nil {")
				w.p("return a, ipc.BadLease")
				w.p("}")
				w.p("}")
			}
		}
	}
	w.p("return a, nil")
	w.p("}")
	w.p("")
}

func (g *generator) emitHandler(oi *opInfo) {
	w, name := g.w, g.iface.Name
	w.p("func (s *%sDispatcher) handle%s(ctx context.Context, caller ipc.Caller, req *ipc.Request, rep *ipc.Reply) error {", name, oi.goName)
	w.p("a, err := Read%s%sArgs(req)", name, oi.goName)
	w.p("if err != nil {")
	w.p("return err")
	w.p("}")
	if oi.ok != nil {
		w.p("v, err := s.impl.%s(ctx, caller%s)", oi.goName, argsFields(oi))
		w.p("return answer%s%s(req, rep, &a, v, err)", name, oi.goName)
	} else {
		w.p("err = s.impl.%s(ctx, caller%s)", oi.goName, argsFields(oi))
		w.p("return answer%s%s(req, rep, &a, err)", name, oi.goName)
	}
	w.p("}")
	w.p("")
}

// emitAnswer writes the function that turns a server's (v, err) into the
// reply: typed write leases back into the lease bytes (error or not), then
// the op's error type, a fault, or v encoded.
func (g *generator) emitAnswer(oi *opInfo) {
	w, name := g.w, g.iface.Name
	vparam := ""
	if oi.ok != nil {
		vparam = ", v " + goType(oi.ok)
	}
	w.p("// answer%s%s fills rep with what a server's result (v, err) for op %s", name, oi.goName, oi.op.Name)
	w.p("// means, or returns the fault to send instead.")
	w.p("func answer%s%s(req *ipc.Request, rep *ipc.Reply, a *%s%sArgs%s, err error) error {", name, oi.goName, name, oi.goName, vparam)
	if len(oi.leases) == 0 {
		w.p("_ = a")
	}
	for i, l := range oi.leases {
		if l.bytesDirect || !l.write {
			continue
		}
		w.p("{")
		w.p("enc := ipc.NewEncoder(req.Leases[%d].Data)", i)
		w.p("e := &enc")
		l.param = "a." + l.field
		g.leaseElems(l, true)
		w.p("}")
	}
	if len(oi.leases) > 0 {
		w.p("ipc.SetWritten(rep, req.Leases)")
	}
	w.p("if err != nil {")
	switch {
	case oi.result && oi.errKind == idol.CLike:
		w.p("var ce %s", oi.errT.goName)
		w.p("if errors.As(err, &ce) && ce != 0 {")
		w.p("rep.RC = uint32(ce)")
		w.p("return nil")
		w.p("}")
	case oi.result && oi.errKind == idol.Complex:
		w.p("var ce %s", oi.errT.goName)
		w.p("if errors.As(err, &ce) {")
		w.p("enc := ipc.NewEncoder(rep.Buf(%s%sReplySize))", name, oi.goName)
		w.p("ce.encodeSerde(&enc)")
		w.p("if enc.Err() != nil {")
		w.p("return ipc.ServerError(%q, %q, enc.Err())", name, oi.op.Name)
		w.p("}")
		w.p("rep.RC, rep.Body = 1, enc.Bytes()")
		w.p("return ipc.FitReply(req, rep)")
		w.p("}")
	}
	w.p("return ipc.ServerError(%q, %q, err)", name, oi.op.Name)
	w.p("}")
	if oi.ok != nil {
		w.p("enc := ipc.NewEncoder(rep.Buf(%s%sReplySize))", name, oi.goName)
		w.p("e := &enc")
		if oi.okWire != nil {
			conv := oi.okWire.gotype + "(v)"
			if oi.f == fZ {
				w.raw(fmt.Sprintf(oi.okWire.zenc, conv) + "\n")
			} else {
				w.raw(fmt.Sprintf(oi.okWire.senc, conv) + "\n")
			}
		} else {
			w.raw(enc(oi.ok, oi.f, "v", 0))
		}
		w.p("if e.Err() != nil {")
		w.p("return ipc.ServerError(%q, %q, e.Err())", name, oi.op.Name)
		w.p("}")
		w.p("rep.Body = e.Bytes()")
	}
	w.p("return ipc.FitReply(req, rep)")
	w.p("}")
	w.p("")
}

// emitPipelined writes the typed pipelined side: an interface whose methods
// get a held call to answer (now or later, from any goroutine), one Call
// type per op, and a dispatcher that checks and decodes each held request.
func (g *generator) emitPipelined() {
	w, name := g.w, g.iface.Name
	w.p("// %sHeld is a call a pipelined server holds open until it answers it,", name)
	w.p("// exactly once; *switched.Call implements it.")
	w.p("type %sHeld = ipc.Held", name)
	w.p("")
	w.p("// %sPipelinedServer is implemented by a pipelined %s server: a method", name, name)
	w.p("// gets the op's decoded arguments and a call, which it answers exactly")
	w.p("// once, now or later and from any goroutine, as %sServer's method would", name)
	w.p("// return. Calls that fail the dispatcher's checks never reach it.")
	w.p("type %sPipelinedServer interface {", name)
	for _, oi := range g.ops {
		g.methodDoc(oi, "receives")
		w.p("%s(ctx context.Context, caller ipc.Caller, call *%s%sCall%s)", oi.goName, name, oi.goName, g.srvParams(oi))
	}
	w.p("}")
	w.p("")
	for _, oi := range g.ops {
		ct := name + oi.goName + "Call"
		w.p("// %s is a held call of op %s.", ct, oi.op.Name)
		w.p("type %s struct {", ct)
		w.p("held %sHeld", name)
		w.p("req *ipc.Request")
		w.p("args %s%sArgs", name, oi.goName)
		w.p("}")
		w.p("")
		if oi.ok != nil {
			ot := goType(oi.ok)
			w.p("// Reply answers the call with v.")
			w.p("func (c *%s) Reply(v %s) error { return c.Finish(v, nil) }", ct, ot)
			w.p("")
			w.p("// Fail answers the call with err, as Finish does.")
			w.p("func (c *%s) Fail(err error) error {", ct)
			w.p("var v %s", ot)
			w.p("return c.Finish(v, err)")
			w.p("}")
			w.p("")
			w.p("// Finish answers the call as a %sServer method returning (v, err) would:", name)
			w.p("// the op's error type, an ipc.Fault, or any other error for a server")
			w.p("// failure. It returns the held call's Finish error.")
			w.p("func (c *%s) Finish(v %s, err error) error {", ct, ot)
			w.p("rep := new(ipc.Reply)")
			w.p("if ferr := answer%s%s(c.req, rep, &c.args, v, err); ferr != nil {", name, oi.goName)
		} else {
			w.p("// Reply answers the call.")
			w.p("func (c *%s) Reply() error { return c.Finish(nil) }", ct)
			w.p("")
			w.p("// Fail answers the call with err, as Finish does.")
			w.p("func (c *%s) Fail(err error) error { return c.Finish(err) }", ct)
			w.p("")
			w.p("// Finish answers the call as a %sServer method returning err would:", name)
			w.p("// nil, the op's error type, an ipc.Fault, or any other error for a")
			w.p("// server failure. It returns the held call's Finish error.")
			w.p("func (c *%s) Finish(err error) error {", ct)
			w.p("rep := new(ipc.Reply)")
			w.p("if ferr := answer%s%s(c.req, rep, &c.args, err); ferr != nil {", name, oi.goName)
		}
		w.p("return c.held.Finish(nil, ferr)")
		w.p("}")
		w.p("return c.held.Finish(rep, nil)")
		w.p("}")
		w.p("")
	}
	g.emitDispatcherType(name+"Pipelined", name+"PipelinedServer",
		fmt.Sprintf("serves held %s requests with a %sPipelinedServer.", name, name), "a pipelined dispatcher")
	w.p("// Serve checks and decodes held's request (req) as %sDispatcher.Handle", name)
	w.p("// does and passes it to impl, or answers held with the fault that refuses")
	w.p("// it and returns held's Finish error. It implements ipc.PipelinedHandler:")
	w.p("// a server runtime takes the dispatcher as it is (switched.ServerConfig's")
	w.p("// Pipelined).")
	w.p("func (s *%sPipelined) Serve(ctx context.Context, caller ipc.Caller, req *ipc.Request, held %sHeld) error {", name, name)
	w.p("if err := check%sRequest(&s.access, caller, req); err != nil {", name)
	w.p("return held.Finish(nil, err)")
	w.p("}")
	w.p("switch req.Op {")
	for _, oi := range g.ops {
		w.p("case %sOp%s:", name, oi.goName)
		w.p("a, err := Read%s%sArgs(req)", name, oi.goName)
		w.p("if err != nil {")
		w.p("return held.Finish(nil, err)")
		w.p("}")
		w.p("s.impl.%s(ctx, caller, &%s%sCall{held: held, req: req, args: a}%s)", oi.goName, name, oi.goName, argsFields(oi))
		w.p("return nil")
	}
	w.p("}")
	w.p("return held.Finish(nil, ipc.UnknownOperation)")
	w.p("}")
	w.p("")
}

// checkNames refuses output that would not compile because two generated
// top-level identifiers (or two fields of a generated struct) coincide.
func (g *generator) checkNames(namedList []*named) error {
	seen := map[string]string{}
	add := func(id, what string) error {
		if prev, dup := seen[id]; dup {
			return fmt.Errorf("generated Go name %s is both %s and %s", id, prev, what)
		}
		seen[id] = what
		return nil
	}
	name := g.iface.Name
	ids := []string{name + "Client", "New" + name + "Client", name + "Server", name + "Dispatcher",
		"New" + name + "Dispatcher", name + "IncomingSize", name + "Held", name + "PipelinedServer",
		name + "Pipelined", "New" + name + "Pipelined"}
	for _, id := range ids {
		if err := add(id, "part of interface "+name); err != nil {
			return err
		}
	}
	methods := map[string]string{}
	for _, oi := range g.ops {
		for _, id := range []string{name + "Op" + oi.goName, name + oi.goName + "ArgsSize", name + oi.goName + "ReplySize",
			name + oi.goName + "Args", "Read" + name + oi.goName + "Args", name + oi.goName + "Call"} {
			if err := add(id, "a constant of op "+oi.op.Name); err != nil {
				return err
			}
		}
		if prev, dup := methods[oi.goName]; dup {
			return fmt.Errorf("ops %s and %s both become method %s", prev, oi.op.Name, oi.goName)
		}
		methods[oi.goName] = oi.op.Name
	}
	for _, n := range namedList {
		if err := add(n.goName, "type "+n.key); err != nil {
			return err
		}
		if n.data {
			if err := add(n.goName+"Variant", "the variant type of "+n.key); err != nil {
				return err
			}
		}
		for _, v := range n.variants {
			if err := add(v.goName, "variant "+n.key+"::"+v.name); err != nil {
				return err
			}
		}
		if n.data {
			fields := map[string]bool{"Variant": true}
			for _, v := range n.variants {
				if v.payload == nil {
					continue
				}
				f := goCamel(v.name)
				if fields[f] {
					return fmt.Errorf("enum %s: variant %s's field %s collides with another field", n.key, v.name, f)
				}
				fields[f] = true
			}
		}
	}
	return nil
}
