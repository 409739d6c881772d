package gen

import (
	"fmt"
	"strings"

	"spacenet/ipc/idol"
)

// format is the wire format code is generated for: Zerocopy, or serde
// (Hubpack and Ssmarshal encode every supported type identically).
type format uint8

const (
	fZ format = iota
	fS
)

func formatOf(e idol.Encoding) format {
	if e == idol.Zerocopy {
		return fZ
	}
	return fS
}

// size returns the Zerocopy size or the serde maximum size of t.
func size(t *typ, f format) int {
	switch t.kind {
	case kPrim:
		if f == fZ {
			return t.prim.zsize
		}
		return t.prim.ssize
	case kArray:
		return t.n * size(t.elem, f)
	case kTuple:
		n := 0
		for _, e := range t.elems {
			n += size(e, f)
		}
		return n
	case kOption:
		return 1 + size(t.elem, f)
	case kResult:
		return 1 + max(size(t.elems[0], f), size(t.elems[1], f))
	case kNamed:
		return namedSize(t.named, f)
	}
	panic("unreachable")
}

func namedSize(n *named, f format) int {
	switch n.kind {
	case "struct":
		s := 0
		for _, fl := range n.fields {
			s += size(fl.t, f)
		}
		return s
	default:
		if f == fZ {
			return n.repr.zsize
		}
		m := 0
		for _, v := range n.variants {
			if v.payload != nil {
				m = max(m, size(v.payload, f))
			}
		}
		return 1 + m
	}
}

// check reports why t cannot travel in format f (and enc for Ssmarshal's
// limits), and marks the methods named types need.
func check(t *typ, f format, ssm bool) error {
	switch t.kind {
	case kPrim:
		if ssm && t.prim.noSsmarshal {
			return fmt.Errorf("%s is not supported by Ssmarshal", t.prim.rust)
		}
	case kArray:
		return check(t.elem, f, ssm)
	case kTuple, kOption, kResult:
		if f == fZ {
			return fmt.Errorf("%s is not a Zerocopy type", goType(t))
		}
		for _, e := range append(t.elems, t.elem) {
			if e != nil {
				if err := check(e, f, ssm); err != nil {
					return err
				}
			}
		}
	case kNamed:
		return checkNamed(t.named, f, ssm)
	}
	return nil
}

func checkNamed(n *named, f format, ssm bool) error {
	if n.kind == "clike" {
		return fmt.Errorf("CLike error type %s cannot be used as a value", n.key)
	}
	if f == fZ {
		if n.needZ {
			return nil
		}
		if n.data {
			return fmt.Errorf("enum %s carries data: not a Zerocopy type", n.key)
		}
		n.needZ = true
		if n.kind == "enum" {
			n.needValid = true
		}
	} else {
		if n.needS {
			return nil
		}
		n.needS = true
	}
	for _, fl := range n.fields {
		if err := check(fl.t, f, ssm); err != nil {
			return fmt.Errorf("%s.%s: %w", n.key, fl.name, err)
		}
	}
	for _, v := range n.variants {
		if v.payload != nil {
			if err := check(v.payload, f, ssm); err != nil {
				return fmt.Errorf("%s::%s: %w", n.key, v.name, err)
			}
		}
	}
	return nil
}

// goType returns the Go type of t.
func goType(t *typ) string {
	switch t.kind {
	case kPrim:
		return t.prim.gotype
	case kArray:
		return fmt.Sprintf("[%d]%s", t.n, goType(t.elem))
	case kTuple:
		parts := make([]string, len(t.elems))
		for i, e := range t.elems {
			parts[i] = goType(e)
		}
		return fmt.Sprintf("ipc.Tuple%d[%s]", len(t.elems), strings.Join(parts, ", "))
	case kOption:
		return "ipc.Option[" + goType(t.elem) + "]"
	case kResult:
		return "ipc.Result[" + goType(t.elems[0]) + ", " + goType(t.elems[1]) + "]"
	case kNamed:
		return t.named.goName
	}
	panic("unreachable")
}

func isUnit(t *typ) bool { return t.kind == kPrim && t.prim.rust == "()" }

func isU8(t *typ) bool { return t.kind == kPrim && t.prim.rust == "u8" }

// enc returns statements encoding the value v (an addressable expression)
// with encoder e (*ipc.Encoder).
func enc(t *typ, f format, v string, depth int) string {
	switch t.kind {
	case kPrim:
		if isUnit(t) {
			return ""
		}
		if f == fZ {
			return fmt.Sprintf(t.prim.zenc, v) + "\n"
		}
		return fmt.Sprintf(t.prim.senc, v) + "\n"
	case kArray:
		if isU8(t.elem) {
			return "e.Raw(" + v + "[:])\n"
		}
		i := fmt.Sprintf("i%d", depth)
		return fmt.Sprintf("for %s := range %s {\n%s}\n", i, v, enc(t.elem, f, v+"["+i+"]", depth+1))
	case kTuple:
		var b strings.Builder
		for i, el := range t.elems {
			b.WriteString(enc(el, f, fmt.Sprintf("%s.V%d", v, i), depth))
		}
		return b.String()
	case kOption:
		return fmt.Sprintf("if %s.Some {\ne.U8(1)\n%s} else {\ne.U8(0)\n}\n", v, enc(t.elem, f, v+".V", depth))
	case kResult:
		return fmt.Sprintf("if %s.IsErr {\ne.U8(1)\n%s} else {\ne.U8(0)\n%s}\n", v,
			enc(t.elems[1], f, v+".Err", depth), enc(t.elems[0], f, v+".Ok", depth))
	case kNamed:
		if f == fZ {
			return v + ".encodeZerocopy(e)\n"
		}
		return v + ".encodeSerde(e)\n"
	}
	panic("unreachable")
}

// dec returns statements decoding into dst (an addressable expression)
// with decoder d (*ipc.Decoder).
func dec(t *typ, f format, dst string, depth int) string {
	switch t.kind {
	case kPrim:
		if isUnit(t) {
			return ""
		}
		if f == fZ {
			return dst + " = " + t.prim.zdec + "\n"
		}
		return dst + " = " + t.prim.sdec + "\n"
	case kArray:
		if isU8(t.elem) {
			return "d.Raw(" + dst + "[:])\n"
		}
		i := fmt.Sprintf("i%d", depth)
		return fmt.Sprintf("for %s := range %s {\n%s}\n", i, dst, dec(t.elem, f, dst+"["+i+"]", depth+1))
	case kTuple:
		var b strings.Builder
		for i, el := range t.elems {
			b.WriteString(dec(el, f, fmt.Sprintf("%s.V%d", dst, i), depth))
		}
		return b.String()
	case kOption:
		return fmt.Sprintf("if d.Tag(2) == 1 {\n%s.Some = true\n%s}\n", dst, dec(t.elem, f, dst+".V", depth))
	case kResult:
		return fmt.Sprintf("if d.Tag(2) == 1 {\n%s.IsErr = true\n%s} else {\n%s}\n", dst,
			dec(t.elems[1], f, dst+".Err", depth), dec(t.elems[0], f, dst+".Ok", depth))
	case kNamed:
		if f == fZ {
			return dst + ".decodeZerocopy(d)\n"
		}
		return dst + ".decodeSerde(d)\n"
	}
	panic("unreachable")
}

// emitNamed writes the Go declaration of n and the methods it needs.
func (g *generator) emitNamed(n *named) {
	w := g.w
	doc := n.doc
	switch n.kind {
	case "clike":
		w.p("// %s is the CLike error %s: its code travels as the reply's RC.", n.goName, n.key)
		g.docLines(doc)
		w.p("type %s uint32", n.goName)
		w.p("")
		g.variantConsts(n, n.goName)
		g.errorMethod(n)
		return
	case "struct":
		w.p("// %s is %s, a struct whose fields travel in this order, packed.", n.goName, n.key)
		g.docLines(doc)
		w.p("type %s struct {", n.goName)
		for _, f := range n.fields {
			w.p("%s %s", f.goName, goType(f.t))
		}
		w.p("}")
		w.p("")
	case "enum":
		if n.data {
			w.p("// %s is the enum %s: Variant says which variant it holds, and the", n.goName, n.key)
			w.p("// field named after a variant holds that variant's data.")
			g.docLines(doc)
			w.p("type %s struct {", n.goName)
			w.p("Variant %sVariant", n.goName)
			for _, v := range n.variants {
				if v.payload != nil {
					w.p("%s %s", goCamel(v.name), goType(v.payload))
				}
			}
			w.p("}")
			w.p("")
			w.p("// %sVariant names a variant of %s.", n.goName, n.goName)
			w.p("type %sVariant uint8", n.goName)
			w.p("")
			g.variantConsts(n, n.goName+"Variant")
		} else {
			w.p("// %s is the enum %s.", n.goName, n.key)
			g.docLines(doc)
			w.p("type %s %s", n.goName, n.repr.gotype)
			w.p("")
			g.variantConsts(n, n.goName)
		}
	}
	if n.isError {
		g.errorMethod(n)
	}
	if n.kind == "enum" && !n.data {
		w.p("// Valid reports whether v is one of the variants of %s.", n.key)
		w.p("func (v %s) Valid() bool {", n.goName)
		w.p("switch v {")
		names := make([]string, len(n.variants))
		for i, vr := range n.variants {
			names[i] = vr.goName
		}
		w.p("case %s:", strings.Join(names, ", "))
		w.p("return true")
		w.p("}")
		w.p("return false")
		w.p("}")
		w.p("")
	}
	for _, f := range []format{fZ, fS} {
		if (f == fZ && !n.needZ) || (f == fS && !n.needS) {
			continue
		}
		suffix := "Zerocopy"
		if f == fS {
			suffix = "Serde"
		}
		w.p("func (v *%s) encode%s(e *ipc.Encoder) {", n.goName, suffix)
		g.encNamedBody(n, f)
		w.p("}")
		w.p("")
		w.p("func (v *%s) decode%s(d *ipc.Decoder) {", n.goName, suffix)
		g.decNamedBody(n, f)
		w.p("}")
		w.p("")
	}
}

func (g *generator) encNamedBody(n *named, f format) {
	w := g.w
	switch {
	case n.kind == "struct":
		for _, fl := range n.fields {
			w.raw(enc(fl.t, f, "v."+fl.goName, 0))
		}
	case f == fZ:
		w.raw(fmt.Sprintf(n.repr.zenc, n.repr.gotype+"(*v)") + "\n")
	default:
		sel := "*v"
		if n.data {
			sel = "v.Variant"
		}
		w.p("switch %s {", sel)
		for i, vr := range n.variants {
			w.p("case %s:", vr.goName)
			w.p("e.U8(%d)", i)
			if vr.payload != nil {
				w.raw(enc(vr.payload, f, "v."+goCamel(vr.name), 0))
			}
		}
		w.p("default:")
		w.p("e.Fail(ipc.ErrInvalidValue)")
		w.p("}")
	}
}

func (g *generator) decNamedBody(n *named, f format) {
	w := g.w
	switch {
	case n.kind == "struct":
		for _, fl := range n.fields {
			w.raw(dec(fl.t, f, "v."+fl.goName, 0))
		}
	case f == fZ:
		w.p("x := %s", n.repr.zdec)
		w.p("*v = %s(x)", n.goName)
		w.p("if !v.Valid() {")
		w.p("d.Invalid(uint64(x))")
		w.p("}")
	default:
		sel := "*v"
		if n.data {
			sel = "v.Variant"
		}
		w.p("switch d.Tag(%d) {", len(n.variants))
		for i, vr := range n.variants {
			w.p("case %d:", i)
			w.p("%s = %s", sel, vr.goName)
			if vr.payload != nil {
				w.raw(dec(vr.payload, f, "v."+goCamel(vr.name), 0))
			}
		}
		w.p("}")
	}
}

func (g *generator) variantConsts(n *named, typeName string) {
	w := g.w
	w.p("// The variants of %s.", n.key)
	w.p("const (")
	for i, v := range n.variants {
		val := v.value
		if n.data {
			val = int64(i)
		}
		w.p("%s %s = %d", v.goName, typeName, val)
	}
	w.p(")")
	w.p("")
}

func (g *generator) errorMethod(n *named) {
	w := g.w
	w.p("// Error implements error.")
	sel := "v"
	if n.kind == "struct" {
		w.p("func (v %s) Error() string { return %q }", n.goName, n.key)
		w.p("")
		return
	}
	if n.data {
		sel = "v.Variant"
	}
	w.p("func (v %s) Error() string {", n.goName)
	w.p("switch %s {", sel)
	for _, vr := range n.variants {
		w.p("case %s:", vr.goName)
		w.p("return %q", n.key+"::"+vr.name)
	}
	w.p("}")
	w.p("return %q + strconv.FormatUint(uint64(%s), 10) + \")\"", n.key+"(", sel)
	w.p("}")
	w.p("")
	g.needStrconv = true
}

func (g *generator) docLines(doc string) {
	if doc == "" {
		return
	}
	g.w.p("//")
	for _, l := range strings.Split(strings.TrimSpace(doc), "\n") {
		g.w.p("// %s", strings.TrimSpace(l))
	}
}
