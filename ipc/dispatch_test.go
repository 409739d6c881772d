package ipc

import (
	"context"
	"errors"
	"testing"
)

func TestCheckLeases(t *testing.T) {
	slice := []LeaseSpec{{Name: "sink", Write: true, ElemSize: 1, Slice: true, MaxLen: 4}}
	words := []LeaseSpec{{Name: "bins", Write: true, ElemSize: 4, Slice: true, MaxLen: 2}}
	one := []LeaseSpec{{Name: "x", Read: true, ElemSize: 8}}
	tests := []struct {
		name   string
		leases []Lease
		specs  []LeaseSpec
		ok     bool
	}{
		{"max_len equal is fine", []Lease{{Write: true, Data: make([]byte, 4)}}, slice, true},
		{"max_len+1 refused", []Lease{{Write: true, Data: make([]byte, 5)}}, slice, false},
		{"empty ok", []Lease{{Write: true}}, slice, true},
		{"extra rights ok", []Lease{{Read: true, Write: true, Data: make([]byte, 1)}}, slice, true},
		{"missing write right", []Lease{{Read: true, Data: make([]byte, 1)}}, slice, false},
		{"missing lease", nil, slice, false},
		{"extra lease", []Lease{{Write: true}, {Read: true}}, slice, false},
		{"typed: 2 elements", []Lease{{Write: true, Data: make([]byte, 8)}}, words, true},
		{"typed: 3 elements", []Lease{{Write: true, Data: make([]byte, 12)}}, words, false},
		{"typed: partial element", []Lease{{Write: true, Data: make([]byte, 6)}}, words, false},
		{"single: exact", []Lease{{Read: true, Data: make([]byte, 8)}}, one, true},
		{"single: short", []Lease{{Read: true, Data: make([]byte, 7)}}, one, false},
	}
	for _, tt := range tests {
		err := CheckLeases(tt.leases, tt.specs)
		if tt.ok != (err == nil) || (err != nil && err != BadLease) {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

func TestAccess(t *testing.T) {
	a := NewAccess([]DispatchOption{Restrict(2, "ops"), Restrict(2, "ground")})
	for _, tt := range []struct {
		op     uint16
		tenant string
		ok     bool
	}{{1, "camera", true}, {2, "ops", true}, {2, "ground", true}, {2, "camera", false}, {2, "", false}} {
		if got := a.Allowed(tt.op, Caller{Tenant: tt.tenant}); got != tt.ok {
			t.Errorf("op %d tenant %q: %v", tt.op, tt.tenant, got)
		}
	}
}

// TestAccessCheck: restrictions naming an op or a tenant that does not
// exist are refused with an error naming them (issue 21: a misspelt tenant
// locked the op for everyone, an unknown op code restricted nothing).
func TestAccessCheck(t *testing.T) {
	ops := []string{"capture", "read_image", "status"}
	tenants := []string{"camera", "processor", "spaceos"}
	for _, tc := range []struct {
		name string
		opts []DispatchOption
		ops  []string
		want string // the error, "" for none
	}{
		{"valid", []DispatchOption{Restrict(1, "processor"), Restrict(3, "spaceos", "camera")}, ops, ""},
		{"to nobody", []DispatchOption{Restrict(2)}, ops, ""},
		{"misspelt tenant", []DispatchOption{Restrict(1, "procesor")}, ops,
			`ipc: Restrict(1 capture, "procesor"): no tenant "procesor" in the policy (did you mean "processor"?)`},
		{"unknown tenant, nothing near", []DispatchOption{Restrict(2, "ground")}, ops,
			`ipc: Restrict(2 read_image, "ground"): no tenant "ground" in the policy`},
		{"case", []DispatchOption{Restrict(3, "Camera")}, ops,
			`ipc: Restrict(3 status, "Camera"): no tenant "Camera" in the policy (did you mean "camera"?)`},
		{"unknown op", []DispatchOption{Restrict(4, "processor")}, ops,
			`ipc: Restrict(4): no op 4 (the interface has ops 1-3)`},
		{"op 0, ops unknown", []DispatchOption{Restrict(0, "processor")}, nil,
			`ipc: Restrict(0): no op 0 (op codes start at 1)`},
		{"ops unknown: tenants still checked", []DispatchOption{Restrict(9, "spaceOS")}, nil,
			`ipc: Restrict(9, "spaceOS"): no tenant "spaceOS" in the policy (did you mean "spaceos"?)`},
		{"all of them, in op order", []DispatchOption{Restrict(7, "camera"), Restrict(1, "prcessor", "x", "camera")}, ops,
			`ipc: Restrict(1 capture, "prcessor"): no tenant "prcessor" in the policy (did you mean "processor"?)` + "\n" +
				`ipc: Restrict(1 capture, "x"): no tenant "x" in the policy` + "\n" +
				`ipc: Restrict(7): no op 7 (the interface has ops 1-3)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewAccess(tc.opts)
			err := a.Check(tc.ops, tenants)
			got := ""
			if err != nil {
				got = err.Error()
				var re *RestrictError
				if !errors.As(err, &re) {
					t.Errorf("error %T is no *RestrictError", err)
				}
			}
			if got != tc.want {
				t.Fatalf("Check:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestPipe(t *testing.T) {
	var seen Caller
	h := HandlerFunc(func(ctx context.Context, c Caller, req *Request, rep *Reply) error {
		seen = c
		switch req.Op {
		case 1:
			req.Leases[0].Data[0] = 0xee // must not reach the client's read lease
			copy(req.Leases[1].Data, "hi")
			rep.RC = 0
			rep.Body = append(rep.Body, 42)
			SetWritten(rep, req.Leases)
			return nil
		case 2:
			return BadLease
		default:
			return errors.New("crash")
		}
	})
	p := NewPipe(h, Caller{Tenant: "t", APID: 0x42})
	in, out := []byte{1}, make([]byte, 3)
	req := &Request{Op: 1, ReplyCap: 1, Leases: []Lease{{Read: true, Data: in}, {Write: true, Data: out}}}
	var rep Reply
	if err := p.Call(context.Background(), req, &rep); err != nil {
		t.Fatal(err)
	}
	if in[0] != 1 {
		t.Fatal("server wrote into the client's read lease")
	}
	if err := CopyWritten(req.Leases, &rep); err != nil || string(out[:2]) != "hi" || rep.Body[0] != 42 {
		t.Fatalf("reply %+v out %q err %v", rep, out, err)
	}
	if seen.Tenant != "t" || seen.APID != 0x42 {
		t.Fatalf("caller %+v", seen)
	}
	req.ReplyCap = 0
	if err := p.Call(context.Background(), req, &rep); err != ReplyBufferTooSmall {
		t.Fatalf("reply cap: %v", err)
	}
	if err := p.Call(context.Background(), &Request{Op: 2}, &rep); err != BadLease {
		t.Fatalf("fault: %v", err)
	}
	if err := p.Call(context.Background(), &Request{Op: 3}, &rep); !errors.Is(err, ServerDeath) {
		t.Fatalf("crash: %v", err)
	}
	p.InjectServerDeath(1)
	if err := p.Call(context.Background(), &Request{Op: 2}, &rep); err != ServerDeath {
		t.Fatalf("injected: %v", err)
	}
	if calls, served := p.Stats(); calls != 5 || served != 4 {
		t.Fatalf("stats %d %d", calls, served)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Call(ctx, &Request{Op: 1}, &rep); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}
