package ipc

import (
	"errors"
	"fmt"
	"strconv"
)

// Fault is an error the Idol runtime itself returns for a call (spec section
// 2): the server never saw a well-formed request, or the call could not
// complete. It is comparable, so errors.Is(err, ipc.BadLease) works on
// wrapped faults; converting it to error does not allocate.
type Fault uint32

// The runtime faults. The values are this project's wire codes.
const (
	UnknownOperation    Fault = 1 // the op code names no operation
	BadMessageSize      Fault = 2 // the argument bytes have the wrong length
	BadMessageContents  Fault = 3 // the argument bytes do not decode
	BadLease            Fault = 4 // a lease is missing, extra, lacks a right, or has a bad length
	ReplyBufferTooSmall Fault = 5 // the reply does not fit the client's reply buffer
	AccessViolation     Fault = 6 // the caller may not call this restricted operation
	WentAway            Fault = 7 // the server is gone and will not come back
	ServerDeath         Fault = 8 // the server restarted during the call
	maxFault                  = ServerDeath
)

var faultNames = [...]string{
	UnknownOperation:    "UnknownOperation",
	BadMessageSize:      "BadMessageSize",
	BadMessageContents:  "BadMessageContents",
	BadLease:            "BadLease",
	ReplyBufferTooSmall: "ReplyBufferTooSmall",
	AccessViolation:     "AccessViolation",
	WentAway:            "WentAway",
	ServerDeath:         "ServerDeath",
}

// Known reports whether f is one of the defined faults.
func (f Fault) Known() bool { return f >= UnknownOperation && f <= maxFault }

// String returns the fault's name.
func (f Fault) String() string {
	if f.Known() {
		return faultNames[f]
	}
	return "Fault(" + strconv.FormatUint(uint64(f), 10) + ")"
}

// Error implements error.
func (f Fault) Error() string { return "ipc: " + f.String() }

// AsFault returns the Fault err is or wraps, if any.
func AsFault(err error) (Fault, bool) {
	var f Fault
	if errors.As(err, &f) {
		return f, true
	}
	return 0, false
}

// ServerFailure is what a generated dispatcher returns when a server method
// fails with an error that is neither a Fault nor the op's declared error
// type: the server broke its contract, which transports report to the client
// as ServerDeath.
type ServerFailure struct {
	Interface, Op string
	Err           error
}

// Error names the interface, the op and the server's error.
func (e *ServerFailure) Error() string {
	return fmt.Sprintf("ipc: %s.%s: server failed: %v", e.Interface, e.Op, e.Err)
}

// Unwrap returns the server's error.
func (e *ServerFailure) Unwrap() error { return e.Err }

// ServerError is how a generated dispatcher turns a server method's error
// that is not the op's declared error type into Handle's result: a Fault is
// returned as is, anything else becomes a *ServerFailure.
func ServerError(iface, op string, err error) error {
	if f, ok := AsFault(err); ok {
		return f
	}
	return &ServerFailure{Interface: iface, Op: op, Err: err}
}

// LeaseTooLongError is returned by a generated client, before anything is
// sent, for a lease longer than the op's max_len (max_len is inclusive).
type LeaseTooLongError struct {
	Interface, Op, Lease string
	Len, Max             int // in elements
}

// Error names the op, the lease, its length and the bound.
func (e *LeaseTooLongError) Error() string {
	return fmt.Sprintf("ipc: %s.%s: lease %q has %d elements, max_len is %d", e.Interface, e.Op, e.Lease, e.Len, e.Max)
}

// Is makes errors.Is(err, BadLease) true: the server would refuse it so.
func (e *LeaseTooLongError) Is(target error) bool { return target == BadLease }

// ErrBadReply is wrapped by the error a generated client returns for a reply
// it cannot decode (wrong length, invalid value, unexpected RC).
var ErrBadReply = errors.New("ipc: malformed reply")

// BadReplyError says which op got a malformed reply, and why.
type BadReplyError struct {
	Interface, Op string
	Err           error
}

// Error names the op and why its reply is malformed.
func (e *BadReplyError) Error() string {
	return fmt.Sprintf("ipc: %s.%s: malformed reply: %v", e.Interface, e.Op, e.Err)
}

// Unwrap returns the cause.
func (e *BadReplyError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrBadReply) true.
func (e *BadReplyError) Is(target error) bool { return target == ErrBadReply }

// CallError wraps an error from the transport with the op it happened in.
type CallError struct {
	Interface, Op string
	Err           error
}

// Error names the op and the transport's error.
func (e *CallError) Error() string { return fmt.Sprintf("ipc: %s.%s: %v", e.Interface, e.Op, e.Err) }

// Unwrap returns the transport's error.
func (e *CallError) Unwrap() error { return e.Err }
