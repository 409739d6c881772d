package ipc

// LeaseSpec is what an op declares about one lease; generated dispatchers
// check requests against it with CheckLeases.
type LeaseSpec struct {
	Name        string
	Read, Write bool
	ElemSize    int  // bytes per element
	Slice       bool // [T]: any number of elements up to MaxLen; else exactly one
	MaxLen      int  // slice leases: elements allowed, inclusive; 0 for no limit
}

// CheckLeases checks a request's leases against the op's declaration: the
// same count, at least the declared rights, a whole number of elements, no
// more than max_len of them (equal is fine), exactly one element for a
// non-slice lease. Any mismatch is BadLease.
func CheckLeases(leases []Lease, specs []LeaseSpec) error {
	if len(leases) != len(specs) {
		return BadLease
	}
	for i := range specs {
		s, l := &specs[i], &leases[i]
		if (s.Read && !l.Read) || (s.Write && !l.Write) {
			return BadLease
		}
		n := len(l.Data)
		if !s.Slice {
			if n != s.ElemSize {
				return BadLease
			}
			continue
		}
		if s.ElemSize > 1 && n%s.ElemSize != 0 {
			return BadLease
		}
		if s.MaxLen > 0 && n/max(s.ElemSize, 1) > s.MaxLen {
			return BadLease
		}
	}
	return nil
}

// Access holds a dispatcher's restricted operations: op code to the tenants
// allowed to call it. Ops not listed are open to every caller.
type Access struct {
	allow map[uint16]map[string]bool
}

// DispatchOption configures a generated dispatcher.
type DispatchOption func(*Access)

// Restrict allows op only to the named tenants; every other caller gets
// AccessViolation before anything of its request is decoded. Restrict on the
// same op again adds tenants.
func Restrict(op uint16, tenants ...string) DispatchOption {
	return func(a *Access) {
		if a.allow == nil {
			a.allow = make(map[uint16]map[string]bool)
		}
		m := a.allow[op]
		if m == nil {
			m = make(map[string]bool)
			a.allow[op] = m
		}
		for _, t := range tenants {
			m[t] = true
		}
	}
}

// NewAccess applies opts.
func NewAccess(opts []DispatchOption) Access {
	var a Access
	for _, o := range opts {
		o(&a)
	}
	return a
}

// Allowed reports whether caller may call op.
func (a *Access) Allowed(op uint16, caller Caller) bool {
	m, ok := a.allow[op]
	return !ok || m[caller.Tenant]
}

// CopyWritten copies what the server left in the write leases back into the
// client's buffers. A reply with the wrong number of leases, or more bytes
// than a lease holds, is malformed.
func CopyWritten(leases []Lease, reply *Reply) error {
	if len(reply.Written) != len(leases) {
		if len(reply.Written) == 0 && !anyWrite(leases) {
			return nil
		}
		return &DecodeError{Reason: "invalid value", Value: uint64(len(reply.Written))}
	}
	for i := range leases {
		if !leases[i].Write {
			continue
		}
		w := reply.Written[i]
		if len(w) > len(leases[i].Data) {
			return &DecodeError{Reason: "invalid value", Value: uint64(len(w))}
		}
		copy(leases[i].Data, w)
	}
	return nil
}

func anyWrite(leases []Lease) bool {
	for i := range leases {
		if leases[i].Write {
			return true
		}
	}
	return false
}

// SetWritten records the leases' final contents in reply: the buffer of each
// write lease, nil for read-only ones.
func SetWritten(reply *Reply, leases []Lease) {
	reply.Written = reply.Written[:0]
	for i := range leases {
		if leases[i].Write {
			reply.Written = append(reply.Written, leases[i].Data)
		} else {
			reply.Written = append(reply.Written, nil)
		}
	}
}

// FitReply checks that the reply body fits the client's reply buffer.
func FitReply(req *Request, reply *Reply) error {
	if uint64(len(reply.Body)) > uint64(req.ReplyCap) {
		return ReplyBufferTooSmall
	}
	return nil
}
