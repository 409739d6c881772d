package ipc

import (
	"errors"
	"fmt"
	"testing"
)

func TestFaults(t *testing.T) {
	names := map[Fault]string{
		UnknownOperation: "UnknownOperation", BadMessageSize: "BadMessageSize",
		BadMessageContents: "BadMessageContents", BadLease: "BadLease",
		ReplyBufferTooSmall: "ReplyBufferTooSmall", AccessViolation: "AccessViolation",
		WentAway: "WentAway", ServerDeath: "ServerDeath",
	}
	for f, n := range names {
		if !f.Known() || f.String() != n || f.Error() != "ipc: "+n {
			t.Errorf("%d: %v %q %q", uint32(f), f.Known(), f.String(), f.Error())
		}
		wrapped := fmt.Errorf("call: %w", f)
		if !errors.Is(wrapped, f) {
			t.Errorf("errors.Is(wrapped %v) false", f)
		}
		if g, ok := AsFault(wrapped); !ok || g != f {
			t.Errorf("AsFault: %v %v", g, ok)
		}
	}
	if Fault(0).Known() || Fault(9).Known() || Fault(9).String() != "Fault(9)" {
		t.Error("unknown faults")
	}
	if errors.Is(BadLease, ServerDeath) {
		t.Error("distinct faults compare equal")
	}
	lt := &LeaseTooLongError{Interface: "I", Op: "o", Lease: "l", Len: 3, Max: 2}
	if !errors.Is(lt, BadLease) {
		t.Error("LeaseTooLongError is not BadLease")
	}
	if got := ServerError("I", "o", fmt.Errorf("x: %w", AccessViolation)); got != AccessViolation {
		t.Errorf("ServerError(fault) = %v", got)
	}
	var sf *ServerFailure
	if got := ServerError("I", "o", errors.New("boom")); !errors.As(got, &sf) || sf.Op != "o" {
		t.Errorf("ServerError(other) = %v", got)
	}
}
