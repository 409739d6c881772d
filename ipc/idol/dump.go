package idol

import (
	"bytes"
	"encoding/json"
)

// The JSON model of spec section 3: these structs list their fields in the
// order the keys must appear.
type (
	jsonInterface struct {
		Name string   `json:"name"`
		Ops  []jsonOp `json:"ops"`
	}
	jsonOp struct {
		Name       string      `json:"name"`
		Code       uint16      `json:"code"`
		Args       []jsonArg   `json:"args"`
		Leases     []jsonLease `json:"leases"`
		Reply      jsonReply   `json:"reply"`
		Idempotent bool        `json:"idempotent"`
		Encoding   string      `json:"encoding"`
		Doc        *string     `json:"doc"`
	}
	jsonArg struct {
		Name string   `json:"name"`
		Type string   `json:"type"`
		Recv jsonRecv `json:"recv"`
	}
	jsonAttributed struct {
		Type string   `json:"type"`
		Recv jsonRecv `json:"recv"`
	}
	jsonLease struct {
		Name   string  `json:"name"`
		Type   string  `json:"type"`
		Read   bool    `json:"read"`
		Write  bool    `json:"write"`
		MaxLen *uint32 `json:"max_len"`
	}
	jsonReply struct {
		Kind string         `json:"kind"`
		Ok   jsonAttributed `json:"ok"`
		Err  *jsonErr       `json:"err,omitempty"`
	}
	jsonErr struct {
		Kind string  `json:"kind"`
		Type *string `json:"type,omitempty"`
	}
	// jsonRecv marshals as {"kind"}, {"kind","type"} or {"kind","type","func"}.
	jsonRecv RecvStrategy
)

func (r jsonRecv) MarshalJSON() ([]byte, error) {
	switch r.Kind {
	case FromPrimitive:
		return json.Marshal(struct {
			Kind string `json:"kind"`
			Type string `json:"type"`
		}{"FromPrimitive", r.Type})
	case From:
		return json.Marshal(struct {
			Kind string  `json:"kind"`
			Type string  `json:"type"`
			Func *string `json:"func"`
		}{"From", r.Type, r.Func})
	}
	return json.Marshal(struct {
		Kind string `json:"kind"`
	}{RecvKind(r.Kind).String()})
}

func toJSON(iface *Interface) jsonInterface {
	out := jsonInterface{Name: iface.Name, Ops: make([]jsonOp, 0, len(iface.Ops))}
	for _, op := range iface.Ops {
		j := jsonOp{
			Name:       op.Name,
			Code:       op.Code,
			Args:       make([]jsonArg, 0, len(op.Args)),
			Leases:     make([]jsonLease, 0, len(op.Leases)),
			Idempotent: op.Idempotent,
			Encoding:   op.Encoding.String(),
			Doc:        op.Doc,
		}
		for _, a := range op.Args {
			j.Args = append(j.Args, jsonArg{Name: a.Name, Type: a.Type, Recv: jsonRecv(a.Recv)})
		}
		for _, l := range op.Leases {
			j.Leases = append(j.Leases, jsonLease(l))
		}
		j.Reply = jsonReply{Kind: op.Reply.Kind.String(), Ok: jsonAttributed{Type: op.Reply.Ok.Type, Recv: jsonRecv(op.Reply.Ok.Recv)}}
		if op.Reply.Kind == Result {
			e := &jsonErr{Kind: op.Reply.Err.Kind.String()}
			if op.Reply.Err.Kind != ServerDeath {
				t := op.Reply.Err.Type
				e.Type = &t
			}
			j.Reply.Err = e
		}
		out.Ops = append(out.Ops, j)
	}
	return out
}

// Dump returns the interface as the JSON model of the spec (section 3): keys
// in the spec's order, two-space indentation, null for a missing doc,
// max_len or From function, and a final newline.
func Dump(iface *Interface) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(toJSON(iface)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
