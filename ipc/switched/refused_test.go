package switched

import (
	"context"
	"errors"
	"strings"
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
		n.tr.onSettle = func(code frame.ErrorCode, retried bool) { ch <- settled{code, retried} }
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
	if st := cam.Stats(); st.RepliesRefused == 0 || st.RepliesRetried == 0 || st.RepliesDropped != 0 || st.Probes == 0 {
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
// first was taken by the switch (known because a later call to another
// server got its reply), the second, to a tenant the policy does not let
// the processor call, is refused (Not_permitted). Only the second fails;
// the first still gets its answer. (Before, every call in flight with a
// frame of that length failed.)
func TestCallRefusedOldestOnly(t *testing.T) {
	pol := policy.Default()
	pol.Tenants = append(pol.Tenants, policy.Tenant{Name: "outsider", Owns: []policy.Range{{First: 0x300, Last: 0x30F}}})
	if err := pol.Validate(); err != nil {
		t.Fatal(err)
	}
	e := startSwitch(t, pol)
	var echo *Server
	e.node("spaceos", func(n *Node) {
		var err error
		echo, err = n.Serve(ServerConfig{APID: 0x100, Handler: ipc.HandlerFunc(func(context.Context, ipc.Caller, *ipc.Request, *ipc.Reply) error { return nil })})
		if err != nil {
			t.Fatal(err)
		}
	})
	run(t, echo, nil)
	proc := e.node("processor", nil)
	cam := e.raw("camera") // answers by hand
	ctx := ctxT(t)
	req := &ipc.Request{Op: cameraipc.CameraOpStatus, ReplyCap: 64}

	errA := make(chan error, 1)
	go func() { var rep ipc.Reply; errA <- proc.Client(cameraAPID).Call(ctx, req, &rep) }()
	h, _ := readRequest(t, cam) // A's request got through
	var rep ipc.Reply
	if err := proc.Client(0x100).Call(ctx, &ipc.Request{Op: 1}, &rep); err != nil {
		t.Fatalf("call to spaceos: %v", err)
	}
	if st := proc.Stats(); st.Probes != 0 {
		t.Fatalf("%d probes sent without any ERROR", st.Probes)
	}
	errB := proc.Client(0x300).Call(ctx, req, &rep) // same request, same frame length
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

// errFrame is the switch's ERROR about a frame of the given type, source
// and payload length, as the node receives it.
func errFrame(code frame.ErrorCode, typ frame.Type, src frame.APID, plen uint16) *frame.Frame {
	var rejected frame.Frame
	frame.Encode(&rejected, typ, src, cameraAPID, make([]byte, plen))
	var f frame.Frame
	frame.EncodeError(&f, code, &rejected)
	return &f
}

// TestCallRefusedMatching: which calls in flight an ERROR about a request
// frame fails (no connection: the node's state is set by hand).
func TestCallRefusedMatching(t *testing.T) {
	type call struct {
		seq, epoch uint64
		lens       frameLens
	}
	type refusal struct {
		code frame.ErrorCode
		plen uint16
	}
	for _, tc := range []struct {
		name     string
		answered uint64 // probes answered
		calls    []call
		errors   []refusal
		failed   []uint64 // seqs failed, in order
		want     []error
		unmatch  uint64
	}{
		{"two of the same size: the oldest only", 0,
			[]call{{2, 0, frameLens{other: 23}}, {1, 0, frameLens{other: 23}}},
			[]refusal{{frame.HostBusy, 23}}, []uint64{1}, []error{frame.HostBusy}, 0},
		{"the oldest was taken (probe answered): the newer", 1,
			[]call{{1, 0, frameLens{other: 23}}, {2, 1, frameLens{other: 23}}},
			[]refusal{{frame.HostBusy, 23}}, []uint64{2}, []error{frame.HostBusy}, 0},
		{"a later call was answered: the newer", 0,
			[]call{{1, 0, frameLens{other: 23}}, {3, 0, frameLens{other: 23}}},
			[]refusal{{frame.HostBusy, 23}}, []uint64{3}, []error{frame.HostBusy}, 0},
		{"another size does not match", 0,
			[]call{{1, 0, frameLens{other: 23}}, {2, 0, frameLens{other: 40}}},
			[]refusal{{frame.NotPermitted, 40}}, []uint64{2}, []error{ipc.AccessViolation}, 0},
		{"several frames of one call: one failure, the rest absorbed", 0,
			[]call{{1, 0, frameLens{full: 2, other: 30}}, {2, 0, frameLens{full: 1}}},
			[]refusal{{frame.HostBusy, 248}, {frame.HostBusy, 248}, {frame.HostBusy, 30}}, []uint64{1}, []error{frame.HostBusy}, 0},
		{"then the next call's frame", 0,
			[]call{{1, 0, frameLens{full: 2, other: 30}}, {2, 0, frameLens{full: 1}}},
			[]refusal{{frame.NoRoute, 248}, {frame.NoRoute, 248}, {frame.NoRoute, 248}}, []uint64{1, 2}, []error{ipc.WentAway, ipc.WentAway}, 0},
		{"no call of that size", 0,
			[]call{{1, 0, frameLens{other: 23}}},
			[]refusal{{frame.HostBusy, 24}}, nil, nil, 1},
	} {
		n, err := NewNode(Config{Socket: "/nonexistent", Tenant: "processor", Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		n.tr.probes, n.tr.answered = tc.answered, tc.answered
		if strings.HasPrefix(tc.name, "a later call was answered") {
			n.replied = 2
		}
		ps := map[uint64]*pending{}
		for i, c := range tc.calls {
			p := &pending{ch: make(chan error, 1), seq: c.seq, epoch: c.epoch, lens: c.lens}
			n.pending[uint32(i+1)] = p
			ps[c.seq] = p
		}
		for _, r := range tc.errors {
			n.handle(errFrame(r.code, frame.TC, 0x020, r.plen))
		}
		for i, seq := range tc.failed {
			select {
			case err := <-ps[seq].ch:
				if !errors.Is(err, tc.want[i]) {
					t.Errorf("%s: call %d failed with %v, want %v", tc.name, seq, err, tc.want[i])
				}
				delete(ps, seq)
			default:
				t.Errorf("%s: call %d did not fail", tc.name, seq)
			}
		}
		for seq, p := range ps {
			select {
			case err := <-p.ch:
				t.Errorf("%s: call %d failed with %v", tc.name, seq, err)
			default:
			}
		}
		if u := n.Stats().RefusedUnmatched; u != tc.unmatch {
			t.Errorf("%s: %d unmatched, want %d", tc.name, u, tc.unmatch)
		}
	}
}
