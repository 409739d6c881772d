package idol

import (
	"strconv"
	"strings"

	"spacenet/ipc/idol/ron"
)

// Format returns the interface as canonical Idol RON: every field written
// out (args and recv strategies in the long form, read and write as bools,
// max_len as None or Some(n), idempotent and encoding), in the layout of the
// Hubris files. Parsing the result gives a model that dumps identically.
func Format(iface *Interface) []byte {
	var b strings.Builder
	b.WriteString("Interface(\n    name: ")
	b.WriteString(ron.Quote(iface.Name))
	b.WriteString(",\n    ops: {\n")
	for _, op := range iface.Ops {
		b.WriteString("        " + ron.Quote(op.Name) + ": (\n")
		if op.Doc != nil {
			b.WriteString("            doc: " + ron.Quote(*op.Doc) + ",\n")
		}
		b.WriteString("            args: {")
		for i, a := range op.Args {
			if i == 0 {
				b.WriteString("\n")
			}
			b.WriteString("                " + ron.Quote(a.Name) + ": " + formatAttributed(a.AttributedType) + ",\n")
			if i == len(op.Args)-1 {
				b.WriteString("            ")
			}
		}
		b.WriteString("},\n            leases: {")
		for i, l := range op.Leases {
			if i == 0 {
				b.WriteString("\n")
			}
			b.WriteString("                " + ron.Quote(l.Name) + ": (type: " + ron.Quote(l.Type))
			b.WriteString(", read: " + strconv.FormatBool(l.Read) + ", write: " + strconv.FormatBool(l.Write))
			b.WriteString(", max_len: ")
			if l.MaxLen == nil {
				b.WriteString("None")
			} else {
				b.WriteString("Some(" + strconv.FormatUint(uint64(*l.MaxLen), 10) + ")")
			}
			b.WriteString("),\n")
			if i == len(op.Leases)-1 {
				b.WriteString("            ")
			}
		}
		b.WriteString("},\n")
		switch op.Reply.Kind {
		case Simple:
			b.WriteString("            reply: Simple(" + formatAttributed(op.Reply.Ok) + "),\n")
		default:
			b.WriteString("            reply: Result(\n                ok: " + formatAttributed(op.Reply.Ok) + ",\n")
			b.WriteString("                err: ")
			switch op.Reply.Err.Kind {
			case ServerDeath:
				b.WriteString("ServerDeath")
			default:
				b.WriteString(op.Reply.Err.Kind.String() + "(" + ron.Quote(op.Reply.Err.Type) + ")")
			}
			b.WriteString(",\n            ),\n")
		}
		b.WriteString("            idempotent: " + strconv.FormatBool(op.Idempotent) + ",\n")
		b.WriteString("            encoding: " + op.Encoding.String() + ",\n")
		b.WriteString("        ),\n")
	}
	b.WriteString("    },\n)\n")
	return []byte(b.String())
}

func formatAttributed(t AttributedType) string {
	s := "(type: " + ron.Quote(t.Type) + ", recv: "
	switch t.Recv.Kind {
	case FromPrimitive:
		s += "FromPrimitive(" + ron.Quote(t.Recv.Type) + ")"
	case From:
		s += "From(" + ron.Quote(t.Recv.Type) + ", "
		if t.Recv.Func == nil {
			s += "None"
		} else {
			s += "Some(" + ron.Quote(*t.Recv.Func) + ")"
		}
		s += ")"
	default:
		s += "FromBytes"
	}
	return s + ")"
}
