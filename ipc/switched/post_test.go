package switched

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"spacenet/apid/frame"
	"spacenet/apid/policy"
	"spacenet/camera/cameraipc"
	"spacenet/camera/camsim"
	"spacenet/ipc"
)

// noteLog records what a server did, in order: calls and notifications.
type noteLog struct {
	mu     sync.Mutex
	lines  []string
	inside atomic.Int32 // handlers running
}

func (l *noteLog) add(format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *noteLog) want(t *testing.T, want ...string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !slices.Equal(l.lines, want) {
		t.Fatalf("server did\n got %q\nwant %q", l.lines, want)
	}
}

// handler wraps h: it logs every call and counts the handlers running.
func (l *noteLog) handler(h ipc.Handler) ipc.Handler {
	return ipc.HandlerFunc(func(ctx context.Context, c ipc.Caller, req *ipc.Request, rep *ipc.Reply) error {
		l.inside.Add(1)
		defer l.inside.Add(-1)
		l.add("%s op%d", c.Tenant, req.Op)
		return h.Handle(ctx, c, req, rep)
	})
}

// notify logs Posted notifications (others are ignored) and fails the test
// if one comes while a handler runs.
func (l *noteLog) notify(t *testing.T, also func(Notification)) func(context.Context, Notification) {
	return func(ctx context.Context, note Notification) {
		if note.Kind != Posted {
			return
		}
		if l.inside.Load() != 0 {
			t.Error("notification while a handler runs")
		}
		l.add("posted %#x", note.Bits)
		if also != nil {
			also(note)
		}
	}
}

// TestPostBetweenCalls: processor posts two notifications to the camera
// while its InOrder server is in a call and another call waits: the bits
// are merged and delivered once, after the call in progress and before the
// waiting one, through the real switch.
func TestPostBetweenCalls(t *testing.T) {
	e := startSwitch(t, nil)
	var l noteLog
	inCapture, release := make(chan struct{}), make(chan struct{})
	cam := &camsim.Camera{Hook: func(ctx context.Context, op string) {
		if op == "capture" {
			close(inCapture)
			<-release
		}
	}}
	queued, posted := make(chan int, 4), make(chan struct{}, 4)
	var srv *Server
	e.node("camera", func(n *Node) {
		srv = serveCamera(t, n, l.handler(cameraipc.NewCameraDispatcher(cam)), func(c *ServerConfig) { c.Notify = l.notify(t, nil) })
		srv.onQueue = func(int) { queued <- 1 }
		srv.onPost = func() { posted <- struct{}{} }
	})
	run(t, srv, nil)
	procN := e.node("processor", nil)
	proc := cameraipc.NewCameraClient(procN.Client(cameraAPID))
	ctx := ctxT(t)

	captured := make(chan error, 1)
	go func() { _, err := proc.Capture(ctx, 100); captured <- err }()
	<-queued
	<-inCapture
	status := make(chan error, 1)
	go func() { _, err := proc.Status(ctx); status <- err }()
	<-queued
	for _, bits := range []uint32{0x1, 0x4} {
		if err := procN.Post(cameraAPID, bits); err != nil {
			t.Fatal(err)
		}
		<-posted
	}
	if st := srv.Stats(); st.Pending != 0x5 || st.Posts != 2 || st.PostNotes != 0 || st.Queued != 1 {
		t.Fatalf("while in a call: %+v", st)
	}
	close(release)
	if err := <-captured; err != nil {
		t.Fatal(err)
	}
	if err := <-status; err != nil {
		t.Fatal(err)
	}
	l.want(t, "processor op1", "posted 0x5", "processor op3")
	if st := srv.Stats(); st.Pending != 0 || st.Posts != 2 || st.PostNotes != 1 {
		t.Fatalf("after: %+v", st)
	}
	if st := procN.Stats(); st.PostsSent != 2 || len(st.PostsRefused) != 0 || st.PostsWentAway != 0 || st.RefusedUnmatched != 0 {
		t.Fatalf("processor node: %+v", st)
	}
}

// TestPostClosedRecv: a server in closed receive (RecvFrom spaceos) gets
// the processor's posts while the processor's call stays queued; bits
// outside its notification mask stay pending until the mask has them.
func TestPostClosedRecv(t *testing.T) {
	e := startSwitch(t, nil)
	var l noteLog
	queued, posted := make(chan int, 4), make(chan struct{}, 4)
	notes := make(chan ServerStats, 4)
	var srv *Server
	e.node("camera", func(n *Node) {
		srv = serveCamera(t, n, l.handler(cameraipc.NewCameraDispatcher(&camsim.Camera{})), func(c *ServerConfig) {
			c.Notify = l.notify(t, func(Notification) { notes <- srv.Stats() })
		})
		srv.onQueue = func(int) { queued <- 1 }
		srv.onPost = func() { posted <- struct{}{} }
	})
	srv.RecvFrom("spaceos")
	srv.SetNotifyMask(0x0F)
	run(t, srv, nil)
	procN := e.node("processor", nil)
	proc := cameraipc.NewCameraClient(procN.Client(cameraAPID))
	ctx := ctxT(t)

	status := make(chan error, 1)
	go func() { _, err := proc.Status(ctx); status <- err }()
	<-queued
	if err := procN.Post(cameraAPID, 0x1_03); err != nil {
		t.Fatal(err)
	}
	<-posted
	if st := <-notes; st.Queued != 1 || st.Served != 0 || st.Pending != 0x1_00 {
		t.Fatalf("at the notification: %+v", st)
	}
	srv.SetNotifyMask(^uint32(0))
	if st := <-notes; st.Queued != 1 || st.Pending != 0 {
		t.Fatalf("at the second notification: %+v", st)
	}
	srv.RecvAny()
	if err := <-status; err != nil {
		t.Fatal(err)
	}
	l.want(t, "posted 0x3", "posted 0x100", "processor op3")
	if st := srv.Stats(); st.Posts != 1 || st.PostNotes != 2 {
		t.Fatalf("server: %+v", st)
	}
}

// TestPostRefused: a post the policy forbids is refused by the switch
// (ERROR Not_permitted), and one to an APID where no server runs is
// answered post refused; the poster counts both by reason, and neither
// fails a call of the poster's.
func TestPostRefused(t *testing.T) {
	pol := policy.Default()
	pol.Tenants = append(pol.Tenants, policy.Tenant{Name: "outsider", Owns: []policy.Range{{First: 0x300, Last: 0x30F}}, CanSendTo: []string{"processor"}})
	for i := range pol.Tenants {
		if pol.Tenants[i].Name == "processor" {
			pol.Tenants[i].CanSendTo = append(pol.Tenants[i].CanSendTo, "outsider") // its replies
		}
	}
	if err := pol.Validate(); err != nil {
		t.Fatal(err)
	}
	e := startSwitch(t, pol)
	var srv *Server
	procN := e.node("processor", func(n *Node) {
		var err error
		srv, err = n.Serve(ServerConfig{APID: 0x020, Handler: cameraipc.NewCameraDispatcher(&camsim.Camera{})})
		if err != nil {
			t.Fatal(err)
		}
	})
	run(t, srv, nil)
	out := e.node("outsider", nil)
	if err := out.Post(cameraAPID, 1); err != nil { // the policy forbids it
		t.Fatal(err)
	}
	if err := out.Post(0x021, 2); err != nil { // no server there
		t.Fatal(err)
	}
	if err := out.Post(0x020, 0); !errors.Is(err, ErrNoBits) {
		t.Fatalf("post of no bits: %v", err)
	}
	// The switch answers the outsider's frames in order, and the processor
	// its frames: both refusals arrive before this call's reply.
	if _, err := cameraipc.NewCameraClient(out.Client(0x020)).Status(ctxT(t)); err != nil {
		t.Fatalf("call after the refused posts: %v", err)
	}
	st := out.Stats()
	if st.PostsSent != 2 || !maps1(st.PostsRefused, frame.NotPermitted) || st.PostsWentAway != 1 ||
		st.ErrorsIn != 1 || st.RefusedUnmatched != 0 || st.Replies != 1 {
		t.Fatalf("outsider node: %+v", st)
	}
	if ps := procN.Stats(); ps.PostsUnserved != 1 {
		t.Fatalf("processor node: %+v", ps)
	}
	if ss := srv.Stats(); ss.Posts != 0 || ss.PostNotes != 0 || ss.Served != 1 {
		t.Fatalf("processor server: %+v", ss)
	}
}

// maps1 reports whether m is exactly {code: 1}.
func maps1(m map[frame.ErrorCode]uint64, code frame.ErrorCode) bool {
	return len(m) == 1 && m[code] == 1
}

// TestPostAllocs: posting allocates nothing.
func TestPostAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts need a build without -race")
	}
	ce := startCamera(t)
	post := func() {
		if err := ce.proc.Post(cameraAPID, 1); err != nil {
			t.Fatal(err)
		}
	}
	if n := testing.AllocsPerRun(200, post); n != 0 {
		t.Errorf("%.2f allocations per post, want 0", n)
	}
}
