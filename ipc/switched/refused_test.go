package switched

import (
	"context"
	"errors"
	"testing"
	"time"

	"spacenet/apid/apidswitch"
	"spacenet/apid/frame"
	"spacenet/apid/policy"
	"spacenet/apid/sysmsg"
	"spacenet/camera/cameraipc"
	"spacenet/camera/camsim"
	"spacenet/ipc"
	"spacenet/ipc/ipcframe"
)

// fillQueueOf floods to's queue in the switch from the raw guest from (whose
// tenant may send to it) until the switch refuses every frame of a chunk
// with Host_busy: to's guest does not read, so its socket and then its
// queue are full, and stay full. Each chunk ends with a HEALTH request,
// answered after every ERROR about the chunk (so from's own queue never
// overflows and the chunk is known processed). With down, it also waits
// for to's tenant to be disconnected (no writer then drains its queue).
func fillQueueOf(t *testing.T, from *rawGuest, src, to frame.APID, bound uint16, down bool) {
	t.Helper()
	const chunk = 8 // its ERRORs and the HEALTH answer fit in from's queue of 16
	fs := make([]frame.Frame, chunk+1)
	for i := range fs[:chunk] {
		if err := frame.Encode(&fs[i], frame.TM, src, to, []byte("flood")); err != nil {
			t.Fatal(err)
		}
	}
	frame.Encode(&fs[chunk], frame.Health, src, sysmsg.APIDHealth, nil)
	from.g.SetReadDeadline(time.Now().Add(testTimeout))
	for range 10000 { // 80 000 frames: far more than a socket buffer holds
		from.send(fs)
		busy := 0
		var h sysmsg.Health
		for {
			var f frame.Frame
			if err := from.g.ReadFrame(&f); err != nil {
				t.Fatalf("reading the flood's answers: %v", err)
			}
			if f.Type() == frame.Error {
				if ep, err := frame.ParseErrorPayload(f.Payload()); err == nil && ep.Code == frame.HostBusy {
					busy++
				}
				continue
			}
			if f.Type() == frame.Health && f.APID() == sysmsg.APIDHealth {
				var err error
				if h, err = sysmsg.ParseHealth(f.Payload()); err != nil {
					t.Fatal(err)
				}
				break
			}
		}
		if busy < chunk {
			continue
		}
		// Every frame refused, with the queue at its bound: the writer is
		// stuck on a full socket. (Refusals while the guest's connection
		// was not yet attached leave the queue to drain: flood on.)
		for _, ht := range h.Tenants {
			if ht.FirstAPID == to&^0xF && ht.QueueLen >= bound && !(down && ht.Connected) {
				return
			}
		}
	}
	t.Fatalf("the queue of %v never filled", to)
}

type settled struct {
	code    frame.ErrorCode
	retried bool
}

func onSettle(ch chan settled) func(*Node) {
	return func(n *Node) {
		n.kept.onSettle = func(code frame.ErrorCode, retried bool) { ch <- settled{code, retried} }
	}
}

// TestReplyRetriedAfterHostBusy: a caller that stops reading fills its
// queue in the switch, so the server's reply is refused Host_busy; the
// server's node sends it again with backoff, and once the caller reads
// again the reply arrives. To make the full queue deterministic the caller
// goes all the way: its connection closes after the request (nothing then
// drains its queue, which the switch keeps), and it reads again from a new
// connection, as a restarted guest would. (With the connection open, how
// many frames its socket buffer takes is the kernel's business.)
func TestReplyRetriedAfterHostBusy(t *testing.T) {
	e := startSwitchCfg(t, apidswitch.Config{QueueLen: 16})
	settle := make(chan settled, 64)
	release, started := make(chan struct{}), make(chan struct{})
	var srv *Server
	cam := e.node("camera", func(n *Node) {
		var err error
		srv, err = n.Serve(ServerConfig{APID: cameraAPID, Handler: ipc.HandlerFunc(func(_ context.Context, _ ipc.Caller, req *ipc.Request, rep *ipc.Reply) error {
			close(started)
			<-release
			rep.Body = append(rep.Body[:0], "pong"...)
			return nil
		})})
		if err != nil {
			t.Fatal(err)
		}
		onSettle(settle)(n)
	}, func(c *Config) { c.ReplyRetries = 200 })
	run(t, srv, nil)
	caller := e.raw("processor")
	caller.call(0x020, cameraAPID, 42, request(t, &ipc.Request{Op: 1, ReplyCap: 64}))
	select {
	case <-started: // the request reached the server
	case <-ctxT(t).Done():
		t.Fatal("the request did not reach the server")
	}
	caller.g.Close() // stops reading for good
	fillQueueOf(t, e.raw("spaceos"), 0x100, 0x020, 14, true)
	close(release) // the handler answers now: into a full queue

	select {
	case s := <-settle:
		if s.code != frame.HostBusy || !s.retried {
			t.Fatalf("reply settled %+v, want Host_busy and a retry", s)
		}
	case <-ctxT(t).Done():
		t.Fatalf("the reply was not refused: camera node %+v, switch %+v", cam.Stats(), e.sw.Counters())
	}
	// The caller reads again: the flood, then the reply.
	again := e.raw("processor")
	h, msg := again.reply()
	if h.Kind != ipcframe.Reply || h.ID != 42 {
		t.Fatalf("reply header %+v", h)
	}
	var rep ipc.Reply
	if err := ipc.ParseReply(msg, &rep); err != nil || rep.RC != 0 || string(rep.Body) != "pong" {
		t.Fatalf("reply: rc %d body %q, %v", rep.RC, rep.Body, err)
	}
	if st := cam.Stats(); st.RepliesRefused == 0 || st.RepliesRetried == 0 || st.RepliesDropped != 0 {
		t.Fatalf("camera node stats %+v", st)
	}
}

// TestReplyRefusedForGood: the policy lets the outsider call the camera but
// not the camera answer it: the reply is refused Not_permitted, not
// retried, dropped and counted.
func TestReplyRefusedForGood(t *testing.T) {
	pol := policy.Default()
	pol.Tenants = append(pol.Tenants, policy.Tenant{Name: "outsider", Owns: []policy.Range{{First: 0x300, Last: 0x30F}}, CanSendTo: []string{"camera"}})
	if err := pol.Validate(); err != nil {
		t.Fatal(err)
	}
	e := startSwitch(t, pol)
	settle := make(chan settled, 4)
	var srv *Server
	cam := e.node("camera", func(n *Node) {
		srv = serveCamera(t, n, cameraipc.NewCameraDispatcher(&camsim.Camera{}))
		onSettle(settle)(n)
	})
	run(t, srv, nil)
	out := e.raw("outsider")
	out.call(0x300, cameraAPID, 7, request(t, &ipc.Request{Op: cameraipc.CameraOpStatus, ReplyCap: 64}))
	select {
	case s := <-settle:
		if s != (settled{frame.NotPermitted, false}) {
			t.Fatalf("reply settled %+v, want Not_permitted without retry", s)
		}
	case <-ctxT(t).Done():
		t.Fatal("the refused reply was not settled")
	}
	st := cam.Stats()
	if st.RepliesRefused != 1 || st.RepliesDropped != 1 || st.RepliesRetried != 0 || st.RefusedUnmatched != 0 {
		t.Fatalf("camera node stats %+v", st)
	}
}

// TestCallRefusedOldestOnly: two calls of the same size in flight; the
// first was taken by the switch (and a later call to another server got
// its reply), the second, to a tenant the policy does not let the
// processor call, is refused (Not_permitted). Only the second fails; the
// first still gets its answer. (Before the echo, every call in flight with
// a frame of that length failed; then the oldest not known to be taken.)
func TestCallRefusedOldestOnly(t *testing.T) { refusedBesideTaken(t, true) }

// refusedBesideTaken runs two calls of the same size from the processor:
// A to the camera (a raw guest that takes it and holds it), then B to an
// outsider the policy does not let the processor call (Not_permitted).
// With callBetween, a call to spaceos's server gets its reply between the
// two. B must fail AccessViolation, at once; A must still be in flight and
// get the camera's answer; the one ERROR matched.
func refusedBesideTaken(t *testing.T, callBetween bool) {
	pol := policy.Default()
	pol.Tenants = append(pol.Tenants, policy.Tenant{Name: "outsider", Owns: []policy.Range{{First: 0x300, Last: 0x30F}}})
	if err := pol.Validate(); err != nil {
		t.Fatal(err)
	}
	e := startSwitch(t, pol)
	if callBetween {
		var echo *Server
		e.node("spaceos", func(n *Node) {
			var err error
			echo, err = n.Serve(ServerConfig{APID: 0x100, Handler: ipc.HandlerFunc(func(context.Context, ipc.Caller, *ipc.Request, *ipc.Reply) error { return nil })})
			if err != nil {
				t.Fatal(err)
			}
		})
		run(t, echo, nil)
	}
	proc := e.node("processor", nil)
	cam := e.raw("camera") // answers by hand
	ctx := ctxT(t)
	req := &ipc.Request{Op: cameraipc.CameraOpStatus, ReplyCap: 64}

	errA := make(chan error, 1)
	go func() { var rep ipc.Reply; errA <- proc.Client(cameraAPID).Call(ctx, req, &rep) }()
	h, _ := readRequest(t, cam) // A's request got through
	var rep ipc.Reply
	if callBetween {
		if err := proc.Client(0x100).Call(ctx, &ipc.Request{Op: 1}, &rep); err != nil {
			t.Fatalf("call to spaceos: %v", err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	errB := proc.Client(0x300).Call(short, req, &rep) // same request, same frame length
	if !errors.Is(errB, ipc.AccessViolation) {
		t.Fatalf("call B = %v, want AccessViolation (Not_permitted)", errB)
	}
	select {
	case err := <-errA:
		t.Fatalf("call A ended with %v while the camera holds it", err)
	default:
	}
	cam.send(mustFrames(t, ipcframe.Reply, cameraAPID, 0x020, h.ID, ipc.AppendFault(nil, ipc.UnknownOperation)))
	if err := <-errA; !errors.Is(err, ipc.UnknownOperation) {
		t.Fatalf("call A = %v, want the camera's answer", err)
	}
	if st := proc.Stats(); st.ErrorsIn != 1 || st.RefusedUnmatched != 0 {
		t.Fatalf("processor stats %+v", st)
	}
}

// readRequest reads frames until an IPC request arrives.
func readRequest(t *testing.T, r *rawGuest) (ipcframe.Header, []byte) {
	t.Helper()
	for {
		var f frame.Frame
		if err := r.g.ReadFrame(&f); err != nil {
			t.Fatalf("reading request: %v", err)
		}
		if f.Type() != frame.TC || !ipcframe.IsIPC(f.Payload()) {
			continue
		}
		h, why := ipcframe.ParseHeader(f.Type(), f.Payload())
		if why != ipcframe.OK {
			t.Fatalf("bad request header: %v", why)
		}
		return h, append([]byte(nil), f.Payload()[ipcframe.HeaderSize:]...)
	}
}

func mustFrames(t *testing.T, k ipcframe.Kind, src, dest frame.APID, id uint32, msg []byte) []frame.Frame {
	t.Helper()
	fs, err := ipcframe.Append(nil, k, src, dest, id, msg)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// refusalOf is the switch's ERROR about segment seg of a message of kind k
// and n bytes, call id, from src, as the node receives it (frame.EncodeError,
// the switch's own encoder, with the echo of the frame's sub-header).
func refusalOf(t *testing.T, code frame.ErrorCode, k ipcframe.Kind, src frame.APID, id uint32, n, seg int) *frame.Frame {
	t.Helper()
	fs := mustFrames(t, k, src, cameraAPID, id, make([]byte, n))
	var f frame.Frame
	frame.EncodeError(&f, code, &fs[seg])
	return &f
}

// TestCallRefusedMatching: which call in flight an ERROR about a request
// frame fails (no connection: the node's calls are set by hand). The ERROR
// names the call by the id in its echo, whatever its size or age.
func TestCallRefusedMatching(t *testing.T) {
	type refusal struct {
		code frame.ErrorCode
		kind ipcframe.Kind
		src  frame.APID
		id   uint32
		n    int // message bytes
		seg  int // the refused frame
	}
	req := func(code frame.ErrorCode, id uint32, n, seg int) refusal {
		return refusal{code, ipcframe.Request, 0x020, id, n, seg}
	}
	for _, tc := range []struct {
		name      string
		calls     []uint32 // ids in flight
		errors    []refusal
		failed    []uint32 // ids failed
		want      []error
		unmatched uint64
		posts     uint64
	}{
		{"two of the same size: the one named", []uint32{1, 2},
			[]refusal{req(frame.HostBusy, 2, 9, 0)}, []uint32{2}, []error{frame.HostBusy}, 0, 0},
		{"Not_permitted and No_route as faults", []uint32{1, 2, 3},
			[]refusal{req(frame.NotPermitted, 1, 9, 0), req(frame.NoRoute, 3, 9, 0)}, []uint32{1, 3}, []error{ipc.AccessViolation, ipc.WentAway}, 0, 0},
		{"several frames of one call: one failure, the rest absorbed", []uint32{1, 2},
			[]refusal{req(frame.HostBusy, 1, 500, 0), req(frame.HostBusy, 1, 500, 1), req(frame.HostBusy, 1, 500, 2)}, []uint32{1}, []error{frame.HostBusy}, 0, 0},
		{"a later frame refused, the first taken", []uint32{1},
			[]refusal{req(frame.NoRoute, 1, 500, 1)}, []uint32{1}, []error{ipc.WentAway}, 0, 0},
		{"no call of that id", []uint32{1},
			[]refusal{req(frame.HostBusy, 7, 9, 0)}, nil, nil, 1, 0},
		{"a request from another of the tenant's APIDs", []uint32{1},
			[]refusal{{frame.HostBusy, ipcframe.Request, 0x021, 1, 9, 0}}, nil, nil, 1, 0},
		{"a frame from an APID not the tenant's", []uint32{1},
			[]refusal{{frame.HostBusy, ipcframe.Request, 0x100, 1, 9, 0}}, nil, nil, 1, 0},
		{"a post: counted, no call fails", []uint32{1},
			[]refusal{{frame.NotPermitted, ipcframe.Post, 0x020, 1, ipcframe.PostSize, 0}}, nil, nil, 0, 1},
	} {
		n, err := NewNode(Config{Socket: "/nonexistent", Tenant: "processor", Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		calls := map[uint32]*pending{}
		for _, id := range tc.calls {
			p := &pending{outcome: make(chan error, 1), id: id, dest: cameraAPID}
			n.calls[id] = p
			calls[id] = p
		}
		for _, r := range tc.errors {
			n.handle(refusalOf(t, r.code, r.kind, r.src, r.id, r.n, r.seg))
		}
		for i, id := range tc.failed {
			select {
			case err := <-calls[id].outcome:
				if !errors.Is(err, tc.want[i]) {
					t.Errorf("%s: call %d failed with %v, want %v", tc.name, id, err, tc.want[i])
				}
				delete(calls, id)
			default:
				t.Errorf("%s: call %d did not fail", tc.name, id)
			}
		}
		for id, p := range calls {
			select {
			case err := <-p.outcome:
				t.Errorf("%s: call %d failed with %v", tc.name, id, err)
			default:
			}
		}
		st := n.Stats()
		if st.RefusedUnmatched != tc.unmatched || st.ErrorsIn != uint64(len(tc.errors)) || uint64(len(st.PostsRefused)) != tc.posts {
			t.Errorf("%s: %d unmatched, %d ERRORs in, posts refused %v; want %d, %d, %d", tc.name, st.RefusedUnmatched, st.ErrorsIn, st.PostsRefused, tc.unmatched, len(tc.errors), tc.posts)
		}
	}
}

// TestRefusalWithoutEcho: an ERROR of the 8-byte form (a switch before the
// echo) names no message: no call fails, it is counted unmatched.
func TestRefusalWithoutEcho(t *testing.T) {
	n, err := NewNode(Config{Socket: "/nonexistent", Tenant: "processor", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	p := &pending{outcome: make(chan error, 1), id: 1, dest: cameraAPID}
	n.calls[1] = p
	f := refusalOf(t, frame.NotPermitted, ipcframe.Request, 0x020, 1, 9, 0)
	clear(f.Payload()[frame.ErrorPayloadSize:])
	f.SetPayloadLen(frame.ErrorPayloadSize)
	n.handle(f)
	select {
	case err := <-p.outcome:
		t.Fatalf("call failed with %v", err)
	default:
	}
	if st := n.Stats(); st.RefusedUnmatched != 1 || st.ErrorsIn != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestRefusalNamesItsCall: two calls of the same size in flight, the first
// taken by the switch (the camera holds it, unanswered), the second refused
// Not_permitted. Only the second fails, at once; the first still gets its
// answer. Nothing tells the node that the first was taken but the ERROR's
// echo. (Before it, the ERROR failed the oldest call of that size not
// known to be taken: the first, with the wrong error, while the second
// hung until its deadline.)
func TestRefusalNamesItsCall(t *testing.T) { refusedBesideTaken(t, false) }
