package ipc

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"spacenet/internal/suggest"
)

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
// same op again adds tenants. Nothing is checked here: a server runtime
// checks the ops and tenants named when the server starts (Access.Check).
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

// OpNamer is implemented by a handler that can name the ops of the
// interface it serves, in op-code order: op code i+1 is OpNames()[i]. A
// server runtime checks restrictions against it at start (Access.Check).
type OpNamer interface {
	OpNames() []string
}

// Restricter is implemented by a handler that holds access rules of its
// own (a generated dispatcher built with Restrict options): a server
// runtime checks them at start as it checks its own (Access.Check).
type Restricter interface {
	Restrictions() *Access
}

// Check checks the restrictions against what exists, so that a typo fails
// at server start instead of silently locking an op for everyone (a
// misspelt tenant) or restricting nothing (an unknown op code): every
// restricted op must be one of ops (op codes 1..len(ops); with ops nil,
// only op 0, never valid, is refused) and every tenant named must be one
// of tenants. The error names each offending op and tenant, with the
// closest known name when one is near; it is an errors.Join of
// *RestrictError, in op order. Restricting an op to no tenant (nobody may
// call it) is allowed.
func (a *Access) Check(ops, tenants []string) error {
	known := make(map[string]bool, len(tenants))
	for _, t := range tenants {
		known[t] = true
	}
	var errs []error
	for _, op := range slices.Sorted(maps.Keys(a.allow)) {
		name := ""
		switch {
		case op == 0 || (ops != nil && int(op) > len(ops)):
			errs = append(errs, &RestrictError{Op: op, Ops: len(ops)})
			continue
		case ops != nil:
			name = ops[op-1]
		}
		for _, t := range slices.Sorted(maps.Keys(a.allow[op])) {
			if !known[t] {
				errs = append(errs, &RestrictError{Op: op, OpName: name, Ops: len(ops), Tenant: t, Suggest: suggest.Closest(t, tenants)})
			}
		}
	}
	return errors.Join(errs...)
}

// RestrictError is a restriction that names an op or a tenant that does
// not exist (Access.Check).
type RestrictError struct {
	Op     uint16
	OpName string // the op's name, when known
	Ops    int    // the interface's ops, 0 when unknown
	// Tenant is the unknown tenant; "" when the op is the problem.
	Tenant  string
	Suggest string // the closest known name, "" for none near
}

// Error says what is wrong: "ipc: Restrict(1 capture, "procesor"): no
// tenant "procesor" in the policy (did you mean "processor"?)".
func (e *RestrictError) Error() string {
	if e.Tenant == "" {
		if e.Ops > 0 {
			return fmt.Sprintf("ipc: Restrict(%d): no op %d (the interface has ops 1-%d)", e.Op, e.Op, e.Ops)
		}
		return fmt.Sprintf("ipc: Restrict(%d): no op %d (op codes start at 1)", e.Op, e.Op)
	}
	op := strconv.Itoa(int(e.Op))
	if e.OpName != "" {
		op += " " + e.OpName
	}
	msg := fmt.Sprintf("ipc: Restrict(%s, %q): no tenant %q in the policy", op, e.Tenant, e.Tenant)
	if e.Suggest != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", e.Suggest)
	}
	return msg
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
