package switched

import (
	"context"
	"errors"
	"sync"
	"testing"

	"spacenet/ipc"
)

// roleEnv is a camera node serving a pipelined server on cameraAPID (its
// calls arrive on calls) and a processor node whose reads are reported on
// reads (the id of the call whose caller enters read(2), 0 for another
// goroutine).
type roleEnv struct {
	cam, proc *Node
	cl        *Client
	calls     chan *Call
	reads     chan uint32
	waits     chan uint32 // the ids of calls whose caller waits for the role
}

func startRoleEnv(t *testing.T) *roleEnv {
	e := startSwitch(t, nil)
	re := &roleEnv{calls: make(chan *Call, 64), reads: make(chan uint32, 1024), waits: make(chan uint32, 1024)}
	var srv *Server
	re.cam = e.node("camera", func(n *Node) {
		var err error
		srv, err = n.Serve(ServerConfig{APID: cameraAPID, Pipelined: PipelinedFunc(func(ctx context.Context, c *Call) { re.calls <- c })})
		if err != nil {
			t.Fatal(err)
		}
	})
	run(t, srv, nil)
	re.proc = e.node("processor", func(n *Node) {
		n.reader.onRead = func(w waiter) {
			var id uint32
			if p, ok := w.(*pending); ok {
				id = p.id
			}
			select {
			case re.reads <- id:
			default:
			}
		}
		n.reader.onWait = func(w waiter) {
			if p, ok := w.(*pending); ok {
				select {
				case re.waits <- p.id:
				default:
				}
			}
		}
	})
	re.cl = re.proc.Client(cameraAPID)
	return re
}

// waitRead waits until the caller of call id enters read(2) as the holder.
func (re *roleEnv) waitRead(t *testing.T, ids ...uint32) uint32 {
	t.Helper()
	ctx := ctxT(t)
	for {
		select {
		case id := <-re.reads:
			for _, want := range ids {
				if id == want {
					return id
				}
			}
		case <-ctx.Done():
			t.Fatalf("no caller of %v entered read", ids)
		}
	}
}

// holderID is the call whose caller holds the processor's reader role (0:
// another goroutine, or none).
func (re *roleEnv) holderID() uint32 {
	r := &re.proc.reader
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.holder.(*pending); ok {
		return p.id
	}
	return 0
}

type callResult struct {
	arg  byte
	body []byte
	err  error
}

func (re *roleEnv) call(ctx context.Context, arg byte, out chan<- callResult) {
	var rep ipc.Reply
	err := re.cl.Call(ctx, &ipc.Request{Op: 1, Args: []byte{arg}, ReplyCap: 8}, &rep)
	out <- callResult{arg, rep.Body, err}
}

// TestCallerReadsOwnReply: a lone caller takes the reader role from the
// node's background goroutine and reads its reply itself: no goroutine
// hands it over.
func TestCallerReadsOwnReply(t *testing.T) {
	re := startRoleEnv(t)
	out := make(chan callResult, 1)
	go re.call(ctxT(t), 7, out)
	c := <-re.calls
	re.waitRead(t, c.id) // the caller itself is in read(2)
	if got := re.holderID(); got != c.id {
		t.Fatalf("reader role held by call %d, want %d", got, c.id)
	}
	if err := c.Reply(&ipc.Reply{Body: []byte{7, 7}}); err != nil {
		t.Fatal(err)
	}
	r := <-out
	if r.err != nil || string(r.body) != "\x07\x07" {
		t.Fatalf("call = %x, %v", r.body, r.err)
	}
	st := re.proc.Stats()
	if st.SelfRead != 1 || st.Replies != 1 || st.Stray != 0 {
		t.Fatalf("SelfRead %d Replies %d Stray %d, want 1 1 0", st.SelfRead, st.Replies, st.Stray)
	}
	if h := re.holderID(); h != 0 {
		t.Fatalf("call %d still holds the reader role after returning", h)
	}
}

// TestReaderHandover: three callers wait at once. The first one reads (it
// was alone when it started waiting); when its reply comes two are left,
// and it hands the role to the node's background goroutine, which reads for
// both (no hand-off from caller to caller on every call); when one of them
// has its reply, the last caller is alone: the background goroutine hands
// the role to it and it reads its own reply. Every reply reaches its
// caller.
func TestReaderHandover(t *testing.T) {
	re := startRoleEnv(t)
	ctx := ctxT(t)
	out := make(chan callResult, 3)
	go re.call(ctx, 1, out)
	c1 := <-re.calls
	re.waitRead(t, c1.id)
	go re.call(ctx, 2, out)
	go re.call(ctx, 3, out)
	c2, c3 := <-re.calls, <-re.calls
	if c2.Request.Args[0] == 3 {
		c2, c3 = c3, c2
	}
	waiting := map[uint32]bool{}
	for !waiting[c2.id] || !waiting[c3.id] {
		select {
		case id := <-re.waits:
			waiting[id] = true
		case <-ctx.Done():
			t.Fatal("callers 2 and 3 do not wait for the role")
		}
	}
	if h := re.holderID(); h != c1.id {
		t.Fatalf("holder %d, want call 1 (%d)", h, c1.id)
	}
	st0 := re.proc.Stats()
	for len(re.reads) > 0 {
		<-re.reads
	}
	reply := func(c *Call, arg byte) {
		t.Helper()
		if err := c.Reply(&ipc.Reply{Body: []byte{arg, arg}}); err != nil {
			t.Fatal(err)
		}
		r := <-out
		if r.err != nil || r.arg != arg || string(r.body) != string([]byte{arg, arg}) {
			t.Fatalf("call %d = %d %x %v", arg, r.arg, r.body, r.err)
		}
	}
	reply(c1, 1)
	re.waitRead(t, 0) // the background goroutine reads for callers 2 and 3
	if h := re.holderID(); h != 0 {
		t.Fatalf("holder: call %d, want the background goroutine", h)
	}
	reply(c2, 2) // delivered by the background goroutine
	re.waitRead(t, c3.id)
	reply(c3, 3) // read by its caller
	st := re.proc.Stats()
	if st.SelfRead-st0.SelfRead != 2 || st.Handovers-st0.Handovers != 2 || st.Replies != 3 || st.Stray != 0 {
		t.Fatalf("SelfRead +%d (want 2) Handovers +%d (want 2) Replies %d Stray %d",
			st.SelfRead-st0.SelfRead, st.Handovers-st0.Handovers, st.Replies, st.Stray)
	}
}

// TestCancelReadingCaller: the caller reading is cancelled mid-read: it
// returns context.Canceled and hands the role to the other caller, which
// then reads its own reply; the cancelled call's late reply is counted
// stray, nothing is lost.
func TestCancelReadingCaller(t *testing.T) {
	re := startRoleEnv(t)
	out := make(chan callResult, 2)
	ctx1, cancel1 := context.WithCancel(ctxT(t))
	defer cancel1()
	go re.call(ctx1, 1, out)
	c1 := <-re.calls
	re.waitRead(t, c1.id) // call 1's caller reads
	go re.call(ctxT(t), 2, out)
	c2 := <-re.calls // call 2 is written
	for id := uint32(0); id != c2.id; {
		select {
		case id = <-re.waits: // and its caller waits for the role
		case <-ctxT(t).Done():
			t.Fatal("call 2's caller does not wait for the role")
		}
	}
	handed := re.proc.Stats().Handovers
	cancel1()
	re.waitRead(t, c2.id) // the role went to call 2's caller
	r := <-out
	if r.arg != 1 || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled call = %d %v", r.arg, r.err)
	}
	if h := re.proc.Stats().Handovers; h != handed+1 {
		t.Fatalf("Handovers %d, want %d", h, handed+1)
	}
	if err := c1.Reply(&ipc.Reply{Body: []byte{1}}); err != nil { // too late: stray
		t.Fatal(err)
	}
	if err := c2.Reply(&ipc.Reply{Body: []byte{2, 2}}); err != nil {
		t.Fatal(err)
	}
	r = <-out
	if r.arg != 2 || r.err != nil || string(r.body) != "\x02\x02" {
		t.Fatalf("call 2 = %x %v", r.body, r.err)
	}
	st := re.proc.Stats()
	if st.SelfRead != 1 || st.Replies != 1 || st.Stray != 1 {
		t.Fatalf("SelfRead %d Replies %d Stray %d, want 1 1 1", st.SelfRead, st.Replies, st.Stray)
	}
}

// TestServerLoopReads: an idle InOrder server loop reads the socket itself
// and runs the handler, and many goroutines calling through one client at
// once all get their own replies.
func TestServerLoopReads(t *testing.T) {
	e := startSwitch(t, nil)
	var srv *Server
	loopRead := make(chan struct{}, 1)
	e.node("camera", func(n *Node) {
		srv = serveCamera(t, n, ipc.HandlerFunc(func(ctx context.Context, c ipc.Caller, req *ipc.Request, rep *ipc.Reply) error {
			rep.Body = append(rep.Body, req.Args...)
			return nil
		}))
		n.reader.onRead = func(w waiter) {
			if w == waiter(srv) {
				select {
				case loopRead <- struct{}{}:
				default:
				}
			}
		}
	})
	run(t, srv, nil)
	<-loopRead
	proc := e.node("processor", nil)
	cl := proc.Client(cameraAPID)
	const goroutines, calls = 8, 200
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	ctx := ctxT(t)
	for g := range goroutines {
		wg.Go(func() {
			var rep ipc.Reply
			for i := range calls {
				args := []byte{byte(g), byte(i)}
				if err := cl.Call(ctx, &ipc.Request{Op: 1, Args: args, ReplyCap: 8}, &rep); err != nil {
					errs <- err
					return
				}
				if string(rep.Body) != string(args) {
					errs <- errors.New("reply for another call")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := proc.Stats()
	if st.Replies != goroutines*calls || st.Stray != 0 {
		t.Fatalf("Replies %d Stray %d", st.Replies, st.Stray)
	}
	if s := srv.Stats(); s.Served != goroutines*calls {
		t.Fatalf("served %d", s.Served)
	}
}

// TestBusyServer: while an InOrder server's handler runs, the node's
// background goroutine takes the parked reader role and queues the calls
// that arrive; the server, taking a call with more queued, leaves the role
// to it for the burst, and takes it back once its queue is empty. Every
// call is answered.
func TestBusyServer(t *testing.T) {
	e := startSwitch(t, nil)
	var srv *Server
	var cam *Node
	entered, release := make(chan struct{}), make(chan struct{})
	queued := make(chan int, 16)
	loopReads := make(chan struct{}, 1)
	cam = e.node("camera", func(n *Node) {
		srv = serveCamera(t, n, ipc.HandlerFunc(func(ctx context.Context, c ipc.Caller, req *ipc.Request, rep *ipc.Reply) error {
			if req.Args[0] == 1 {
				close(entered)
				<-release
			}
			rep.Body = append(rep.Body, req.Args...)
			return nil
		}))
		srv.onQueue = func(q int) { queued <- q }
		n.reader.onRead = func(w waiter) {
			if w == waiter(srv) {
				select {
				case loopReads <- struct{}{}:
				default:
				}
			}
		}
	})
	run(t, srv, nil)
	cl := e.node("processor", nil).Client(cameraAPID)
	ctx := ctxT(t)
	out := make(chan callResult, 3)
	call := func(arg byte) {
		var rep ipc.Reply
		err := cl.Call(ctx, &ipc.Request{Op: 1, Args: []byte{arg}, ReplyCap: 8}, &rep)
		out <- callResult{arg, rep.Body, err}
	}
	go call(1)
	<-entered // the server runs call 1; the role is parked
	<-queued
	go call(2)
	go call(3)
	for q := 0; q < 2; { // the background goroutine takes the role and queues 2 and 3
		select {
		case q = <-queued:
		case <-ctx.Done():
			t.Fatal("calls 2 and 3 were not queued")
		}
	}
	cam.reader.mu.Lock()
	holder := cam.reader.holder
	cam.reader.mu.Unlock()
	if holder != waiter(&cam.reader.background) {
		t.Fatalf("reader role held by %T, want the background goroutine", holder)
	}
	for len(loopReads) > 0 {
		<-loopReads
	}
	close(release)
	for range 3 {
		r := <-out
		if r.err != nil || string(r.body) != string([]byte{r.arg}) {
			t.Fatalf("call %d = %x %v", r.arg, r.body, r.err)
		}
	}
	select {
	case <-loopReads: // the server loop reads again, its queue empty
	case <-ctx.Done():
		t.Fatal("the server loop did not take the reader role back")
	}
	if s := srv.Stats(); s.Served != 3 {
		t.Fatalf("served %d", s.Served)
	}
}
