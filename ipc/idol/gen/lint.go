package gen

import "spacenet/ipc/idol"

// lint warns about what generates but upstream could not build or send.
func (g *generator) lint(oi *opInfo) {
	i := oi.index
	for j, a := range oi.op.Args {
		if a.Recv.Kind == idol.From && a.Recv.Func == nil {
			g.warn(i, "arg", j, "arg %s: From(%q) without a function: the server gets the wire type %s, not %s (Go has no From; name a Go function, From(%q, Some(\"f\")), to convert)",
				a.Name, a.Recv.Type, a.Recv.Type, a.Type, a.Recv.Type)
		}
	}
	switch oi.op.Encoding {
	case idol.Zerocopy:
		for j, a := range oi.args {
			if a.wire != nil || (a.t.kind == kPrim && a.t.prim.rust == "bool") {
				continue // FromPrimitive, and a bare bool sent as a u8
			}
			if what := notFromBytes(a.t); what != "" {
				g.warn(i, "arg", j, "arg %s: Zerocopy type %s contains %s: upstream cannot derive FromBytes for it, so a Hubris server of this interface would not build", a.name, oi.op.Args[j].Type, what)
			}
		}
		bareBool := oi.ok != nil && oi.ok.kind == kPrim && oi.ok.prim.rust == "bool" // read as a u8, != 0
		if oi.ok != nil && oi.okWire == nil && !bareBool {
			if what := notFromBytes(oi.ok); what != "" {
				g.warn(i, "reply", 0, "reply: Zerocopy type %s contains %s: upstream cannot derive FromBytes for it, so a Hubris client of this interface would not build", oi.op.Reply.Ok.Type, what)
			}
		}
	case idol.Ssmarshal:
		// Upstream sizes Ssmarshal buffers with size_of, not the encoding's
		// maximum: where the encoding can be longer, Hubris cannot send it.
		var fields []*typ
		for _, a := range oi.args {
			fields = append(fields, a.t)
		}
		if len(fields) > 0 {
			if rs := rustLayoutOf(&typ{kind: kTuple, elems: fields}).size; oi.argsSize > rs {
				g.warn(i, "op", 0, "Ssmarshal arguments encode in up to %d bytes, but upstream's buffer is size_of = %d bytes: a Hubris client cannot send every value (see docs/idol-gen.md)", oi.argsSize, rs)
			}
		}
		if oi.ok != nil && oi.okWire == nil {
			if rs := rustLayoutOf(oi.ok).size; size(oi.ok, fS) > rs {
				g.warn(i, "reply", 0, "reply: Ssmarshal %s encodes in up to %d bytes, but upstream's buffer is size_of = %d bytes: a Hubris server cannot send every value (see docs/idol-gen.md)", oi.op.Reply.Ok.Type, size(oi.ok, fS), rs)
			}
		}
	}
}

// notFromBytes names what in t zerocopy cannot read from arbitrary bytes: a
// bool or a C-like enum (not every byte pattern is a value); "" if nothing.
func notFromBytes(t *typ) string {
	switch t.kind {
	case kPrim:
		if t.prim.rust == "bool" {
			return "a bool"
		}
	case kArray:
		return notFromBytes(t.elem)
	case kNamed:
		n := t.named
		if n.kind == "enum" {
			return "the C-like enum " + n.key
		}
		for _, f := range n.fields {
			if what := notFromBytes(f.t); what != "" {
				return what + " (field " + n.key + "." + f.name + ")"
			}
		}
	}
	return ""
}

// rustLayout is the size and alignment of a type as Rust lays it out on
// Hubris's 32-bit targets, and whether it has a niche (invalid bit
// patterns Option can use for None).
type rustLayout struct {
	size, align int
	niche       bool
}

func roundUp(n, a int) int { return (n + a - 1) / a * a }

// rustLayoutOf approximates core::mem::size_of for t: repr(Rust) structs
// and tuples reorder fields (no padding but the tail), Option uses a niche
// when its payload has one, an enum with data is a tag plus its largest
// payload. It is exact for the types the docs' table lists.
func rustLayoutOf(t *typ) rustLayout {
	switch t.kind {
	case kPrim:
		switch t.prim.rust {
		case "()":
			return rustLayout{0, 1, false}
		case "bool":
			return rustLayout{1, 1, true}
		case "usize", "isize":
			return rustLayout{4, 4, false}
		case "u128", "i128":
			return rustLayout{16, 8, false}
		}
		return rustLayout{t.prim.zsize, t.prim.zsize, false}
	case kArray:
		e := rustLayoutOf(t.elem)
		return rustLayout{t.n * e.size, e.align, e.niche && t.n > 0}
	case kTuple:
		return aggregate(t.elems)
	case kOption:
		e := rustLayoutOf(t.elem)
		if e.niche {
			return e
		}
		return rustLayout{roundUp(e.size+e.align, e.align), e.align, true}
	case kResult:
		return taggedUnion([]*typ{t.elems[0], t.elems[1]})
	case kNamed:
		n := t.named
		switch {
		case n.kind == "struct":
			var fs []*typ
			for _, f := range n.fields {
				fs = append(fs, f.t)
			}
			return aggregate(fs)
		case n.data:
			var ps []*typ
			for _, v := range n.variants {
				if v.payload != nil {
					ps = append(ps, v.payload)
				}
			}
			return taggedUnion(ps)
		default:
			return rustLayout{n.repr.zsize, n.repr.zsize, true}
		}
	}
	return rustLayout{}
}

func aggregate(ts []*typ) rustLayout {
	l := rustLayout{align: 1}
	for _, t := range ts {
		e := rustLayoutOf(t)
		l.size += e.size
		l.align = max(l.align, e.align)
		l.niche = l.niche || e.niche
	}
	l.size = roundUp(l.size, l.align)
	return l
}

// taggedUnion is an enum of payloads ts: a tag, aligned, then the largest.
func taggedUnion(ts []*typ) rustLayout {
	l := rustLayout{align: 1, niche: true}
	big := 0
	for _, t := range ts {
		e := rustLayoutOf(t)
		big = max(big, e.size)
		l.align = max(l.align, e.align)
	}
	l.size = roundUp(l.align+big, l.align)
	return l
}
