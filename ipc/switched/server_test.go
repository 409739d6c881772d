package switched

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"spacenet/apid/frame"
	"spacenet/apid/sysmsg"
	"spacenet/camera/cameraipc"
	"spacenet/camera/camsim"
	"spacenet/internal/logging/logtest"
	"spacenet/ipc"
	"spacenet/ipc/ipcframe"
)

// TestClosedRecv: while the camera receives only from the processor,
// spaceos's calls wait in their order and none is lost; the processor's
// later calls are served before them.
func TestClosedRecv(t *testing.T) {
	e := startSwitch(t, nil)
	cam := &camsim.Camera{}
	disp := cameraipc.NewCameraDispatcher(cam)
	var (
		mu  sync.Mutex
		log []string
		srv *Server
	)
	queued := make(chan int, 16)
	h := ipc.HandlerFunc(func(ctx context.Context, caller ipc.Caller, req *ipc.Request, rep *ipc.Reply) error {
		entry := fmt.Sprintf("%s op%d", caller.Tenant, req.Op)
		if req.Op == cameraipc.CameraOpCapture && len(req.Args) == 4 {
			entry += fmt.Sprintf(" %d", binary.LittleEndian.Uint32(req.Args))
		}
		mu.Lock()
		log = append(log, entry)
		mu.Unlock()
		if req.Op == cameraipc.CameraOpSetMode && caller.Tenant == "processor" {
			if req.Args[0] == byte(cameraipc.CameraModeScience) {
				srv.RecvFrom("processor")
			} else {
				srv.RecvAny()
			}
		}
		return disp.Handle(ctx, caller, req, rep)
	})
	e.node("camera", func(n *Node) {
		srv = serveCamera(t, n, h)
		srv.onQueue = func(q int) { queued <- q }
	})
	run(t, srv, nil)
	proc := cameraipc.NewCameraClient(e.node("processor", nil).Client(cameraAPID))
	ctx := ctxT(t)

	if err := proc.SetMode(ctx, cameraipc.CameraModeScience); err != nil { // closes the receive
		t.Fatal(err)
	}
	<-queued
	spaceos := e.raw("spaceos")
	var fs []frame.Frame
	for i := uint32(1); i <= 3; i++ {
		args := binary.LittleEndian.AppendUint32(nil, 10+i)
		fs, _ = ipcframe.Append(fs, ipcframe.Request, 0x100, cameraAPID, i,
			request(t, &ipc.Request{Op: cameraipc.CameraOpCapture, Args: args, ReplyCap: 4}))
	}
	spaceos.send(fs)
	for q := range queued {
		if q == 3 {
			break
		}
	}
	for _, exp := range []uint32{21, 22} {
		if _, err := proc.Capture(ctx, exp); err != nil {
			t.Fatal(err)
		}
		<-queued
	}
	if err := proc.SetMode(ctx, cameraipc.CameraModePreview); err != nil { // opens it
		t.Fatal(err)
	}
	<-queued
	for i := uint32(1); i <= 3; i++ {
		h, msg := spaceos.reply()
		var rep ipc.Reply
		if err := ipc.ParseReply(msg, &rep); err != nil || h.ID != i || rep.RC != 0 {
			t.Fatalf("spaceos reply %d: id %d, rc %d, %v", i, h.ID, rep.RC, err)
		}
		if id := binary.LittleEndian.Uint32(rep.Body); id != i+2 {
			t.Fatalf("spaceos call %d got picture %d, want %d", i, id, i+2)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"processor op4", "processor op1 21", "processor op1 22", "processor op4",
		"spaceos op1 11", "spaceos op1 12", "spaceos op1 13"}
	if !slices.Equal(log, want) {
		t.Fatalf("served order\n got %q\nwant %q", log, want)
	}
}

// TestServerRestart kills the camera's connection while a read_image
// (idempotent) is in its handler and a capture (not idempotent) waits
// behind it, then connects a new camera: read_image is retried and
// succeeds on the new server, capture returns ServerDeath.
func TestServerRestart(t *testing.T) {
	e := startSwitch(t, nil)
	ctx := ctxT(t)
	camA := &camsim.Camera{}
	if _, err := camA.Capture(ctx, ipc.Caller{}, 300); err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan string, 4), make(chan struct{})
	camA.Hook = func(ctx context.Context, op string) {
		entered <- op
		<-release
	}
	queued := make(chan int, 4)
	var srvA *Server
	nodeA := e.node("camera", func(n *Node) {
		srvA = serveCamera(t, n, cameraipc.NewCameraDispatcher(camA))
		srvA.onQueue = func(q int) { queued <- q }
	})
	run(t, srvA, nil)
	procN := e.node("processor", nil, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	client := cameraipc.NewCameraClient(procN.Client(cameraAPID))

	buf := make([]byte, 1000)
	readRes := make(chan error, 1)
	go func() {
		n, err := client.ReadImage(ctx, 1, 0, buf)
		if err == nil && n != 1000 {
			err = fmt.Errorf("read %d bytes", n)
		}
		readRes <- err
	}()
	if op := <-entered; op != "read_image" {
		t.Fatalf("first call in the handler: %s", op)
	}
	<-queued
	capRes := make(chan error, 1)
	go func() {
		_, err := client.Capture(ctx, 300)
		capRes <- err
	}()
	<-queued // capture waits behind read_image, in the doomed server

	nodeA.Close() // the camera dies mid-call
	if err := <-capRes; !errors.Is(err, ipc.ServerDeath) {
		t.Fatalf("Capture across the restart: %v, want ServerDeath", err)
	}
	camB := &camsim.Camera{}
	if _, err := camB.Capture(ctx, ipc.Caller{}, 300); err != nil {
		t.Fatal(err)
	}
	var bOps []string
	var bMu sync.Mutex
	camB.Hook = func(ctx context.Context, op string) { bMu.Lock(); bOps = append(bOps, op); bMu.Unlock() }
	var srvB *Server
	e.node("camera", func(n *Node) { srvB = serveCamera(t, n, cameraipc.NewCameraDispatcher(camB)) })
	run(t, srvB, nil)
	if err := <-readRes; err != nil {
		t.Fatalf("ReadImage across the restart: %v", err)
	}
	for i := range buf {
		if buf[i] != camsim.Pixel(1, 300, i) {
			t.Fatalf("pixel %d differs", i)
		}
	}
	close(release) // let the dead server's handler finish
	if st := srvB.Stats(); st.Served != 1 {
		bMu.Lock()
		t.Fatalf("new server served %d calls, want 1 (the retried read_image): %v; proc stats %+v", st.Served, bOps, procN.Stats())
	}
	for _, ti := range e.sw.Tenants() {
		if ti.Name == "camera" && ti.Generation != 2 {
			t.Fatalf("camera generation %d, want 2", ti.Generation)
		}
	}
}

// TestReassemblyPerTenant (issue 14 item 5): spaceos starts 64 multi-frame
// requests from 8 of its APIDs and never finishes them. Its partial messages
// are limited per tenant (16 by default), the 48 others are answered busy,
// and processor's multi-frame request is reassembled and served: one
// tenant's partial messages cannot take what another needs. (Limits per
// APID let spaceos hold all 64, the overall limit, and processor got busy.)
func TestReassemblyPerTenant(t *testing.T) {
	ce := startCamera(t)
	ctx := ctxT(t)
	h := ce.raw("spaceos")
	const apids, perAPID = 8, 8
	id := uint32(0)
	for a := range frame.APID(apids) {
		for range perAPID {
			id++
			fs, err := ipcframe.Append(nil, ipcframe.Request, 0x100+a, cameraAPID, id, make([]byte, 1000))
			if err != nil {
				t.Fatal(err)
			}
			h.send(fs[:1])
		}
	}
	// A one-frame call after them, answered by the server; the busy
	// answers come from the node's outbox, in any order with it. Every
	// answer is read (h.reply fails the test at its deadline if one is
	// missing).
	h.call(0x100, cameraAPID, 9999, request(t, &ipc.Request{Op: 0, ReplyCap: 10}))
	const held = ipcframe.DefaultMaxPartialSender
	busy := map[uint32]bool{}
	for settled := false; !settled || len(busy) < apids*perAPID-held; {
		hd, msg := h.reply()
		if hd.ID == 9999 {
			if f := h.fault(msg); f != ipc.UnknownOperation {
				t.Fatalf("settling call: %v", f)
			}
			settled = true
			continue
		}
		if hd.Kind != ipcframe.Busy || busy[hd.ID] {
			t.Fatalf("answer %+v, want one busy per refused call", hd)
		}
		busy[hd.ID] = true
	}
	if len(busy) != apids*perAPID-held {
		t.Fatalf("%d calls answered busy, want %d", len(busy), apids*perAPID-held)
	}
	for id := uint32(1); id <= held; id++ {
		if busy[id] {
			t.Fatalf("call %d answered busy: the first %d are held", id, held)
		}
	}

	table := make([]byte, 1000) // 5 frames
	for i := range table {
		table[i] = byte(i * 13)
	}
	sum, err := ce.client.UploadCalibration(ctx, table)
	if err != nil || sum != camsim.Checksum(table) {
		t.Fatalf("processor's multi-frame call with spaceos's partials held: %d, %v", sum, err)
	}
	cs := ce.camN.Stats()
	rs := cs.Reassembly
	if rs.Partial != held || rs.Refused[ipcframe.SenderLimit] != apids*perAPID-held || rs.Complete != 2 || cs.BusySent != apids*perAPID-held {
		t.Fatalf("camera node: busy sent %d, reassembly %+v", cs.BusySent, rs)
	}
	for r := range ipcframe.NumReasons {
		if why := ipcframe.Reason(r); why != ipcframe.SenderLimit && rs.Refused[why] != 0 {
			t.Fatalf("reassembly refused %d frames for %v", rs.Refused[why], why)
		}
	}
}

// TestHostile: spaceos sends malformed and abusive requests by hand; each
// is answered with the right fault or counted, and the processor's calls
// keep working in between.
func TestHostile(t *testing.T) {
	e := startSwitch(t, nil)
	var (
		clockMu sync.Mutex
		now     = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	)
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	advance := func(d time.Duration) { clockMu.Lock(); now = now.Add(d); clockMu.Unlock() }
	var srv *Server
	camN := e.node("camera", func(n *Node) {
		srv = serveCamera(t, n, cameraipc.NewCameraDispatcher(&camsim.Camera{}))
	}, func(c *Config) { c.Now = clock; c.Limits = ipcframe.Limits{MaxPartialSender: 2} })
	run(t, srv, nil)
	proc := cameraipc.NewCameraClient(e.node("processor", nil).Client(cameraAPID))
	ctx := ctxT(t)
	works := func(step string) {
		t.Helper()
		if _, err := proc.Status(ctx); err != nil {
			t.Fatalf("after %s: processor Status: %v", step, err)
		}
	}
	h := e.raw("spaceos")
	expect := func(step string, id uint32, want ipc.Fault) {
		t.Helper()
		hd, msg := h.reply()
		if hd.ID != id || hd.Kind != ipcframe.Reply {
			t.Fatalf("%s: reply %+v, want call %d", step, hd, id)
		}
		if f := h.fault(msg); f != want {
			t.Fatalf("%s: fault %v, want %v", step, f, want)
		}
		works(step)
	}

	// settle makes sure the camera handled everything spaceos sent before:
	// one connection's frames stay in order, and this one is answered.
	pings := uint32(0)
	settle := func(step string) {
		t.Helper()
		pings++
		h.call(0x100, cameraAPID, 1000+pings, request(t, &ipc.Request{Op: 0, ReplyCap: 10}))
		expect(step, 1000+pings, ipc.UnknownOperation)
	}

	h.call(0x100, cameraAPID, 1, []byte{1, 0, 3})
	expect("truncated request", 1, ipc.BadMessageContents)

	h.call(0x100, cameraAPID, 2, append(request(t, &ipc.Request{Op: 3, ReplyCap: 10}), 0xEE))
	expect("trailing bytes", 2, ipc.BadMessageContents)

	h.call(0x100, cameraAPID, 3, request(t, &ipc.Request{Op: 77, ReplyCap: 10}))
	expect("unknown op", 3, ipc.UnknownOperation)

	h.call(0x100, cameraAPID, 4, request(t, &ipc.Request{Op: cameraipc.CameraOpStatus, Args: []byte{1}, ReplyCap: 10}))
	expect("args for an op without", 4, ipc.BadMessageContents) // a Zerocopy op: wrong length, as upstream

	var huge frame.Frame
	p := make([]byte, ipcframe.HeaderSize+10)
	ipcframe.Header{Kind: ipcframe.Request, ID: 5, Total: 1 << 30}.Put(p)
	frame.Encode(&huge, frame.TC, 0x100, cameraAPID, p)
	h.send([]frame.Frame{huge})
	expect("1 GiB message", 5, ipc.BadMessageSize)

	// Half a message, then silence: it is held until the idle timeout.
	half, _ := ipcframe.Append(nil, ipcframe.Request, 0x100, cameraAPID, 6, make([]byte, 1000))
	h.send(half[:2])
	settle("half a message")
	if st := camN.Stats().Reassembly; st.Partial != 1 {
		t.Fatalf("partials %+v", st)
	}
	advance(ipcframe.DefaultIdleTimeout + time.Second)
	works("idle timeout") // the next frame in expires it
	st := camN.Stats().Reassembly
	if st.Partial != 0 || st.Buffered != 0 || st.Refused[ipcframe.Expired] != 1 {
		t.Fatalf("after timeout: %+v", st)
	}
	h.send(half[2:]) // the rest is an orphan: counted, not answered
	settle("orphan segments")

	// More partial messages than allowed per peer: the third is answered busy.
	for id := uint32(7); id <= 9; id++ {
		fs, _ := ipcframe.Append(nil, ipcframe.Request, 0x100, cameraAPID, id, make([]byte, 1000))
		h.send(fs[:1])
	}
	hd, _ := h.reply()
	if hd.ID != 9 || hd.Kind != ipcframe.Busy {
		t.Fatalf("over the peer limit: %+v, want busy for call 9", hd)
	}
	works("peer limit")

	// Not IPC at all, and a reply nobody asked for: counted, no answer.
	var plain frame.Frame
	frame.Encode(&plain, frame.TC, 0x100, cameraAPID, []byte("hello"))
	bogus, _ := ipcframe.Append(nil, ipcframe.Reply, 0x100, 0x010, 1234, []byte{0, 0, 0, 0, 0})
	h.send(append([]frame.Frame{plain}, bogus...))
	settle("non-IPC frames")

	// The spoofed source APID never reaches the camera: the switch refuses it.
	h.call(0x020, cameraAPID, 10, request(t, &ipc.Request{Op: 3, ReplyCap: 10}))
	if ep := h.errorFrame(); ep.Code != frame.APIDNotAllocated || ep.OffendingAPID != 0x020 {
		t.Fatalf("spoofed source: ERROR %+v", ep)
	}
	works("spoofed source")

	cs := camN.Stats()
	rs := cs.Reassembly
	if rs.Refused[ipcframe.Orphan] != 3 || rs.Refused[ipcframe.TooLarge] != 1 || rs.Refused[ipcframe.SenderLimit] != 1 {
		t.Fatalf("reassembly counters %+v", rs)
	}
	if cs.NotIPC != 1 || cs.Stray != 1 || cs.BusySent != 1 || cs.FaultsSent[ipc.BadMessageSize] != 1 {
		t.Fatalf("node counters %+v", cs)
	}
	if ss := srv.Stats(); ss.ParseErrors != 2 || ss.Faults != 2+uint64(pings) {
		t.Fatalf("server counters %+v", ss)
	}
	for _, c := range e.sw.Counters() {
		if c.Tenant == "spaceos" && c.Dropped[frame.APIDNotAllocated] != 1 {
			t.Fatalf("switch counters for spaceos: %+v", c)
		}
	}
}

// TestPipelined: the server holds several calls open and answers them out
// of order; answering twice is refused; a call left unanswered is reported
// when Run stops and when the garbage collector finds it.
func TestPipelined(t *testing.T) {
	e := startSwitch(t, nil)
	calls := make(chan *Call, 8)
	var srv, leaky *Server
	e.node("camera", func(n *Node) {
		var err error
		srv, err = n.Serve(ServerConfig{APID: 0x011, Pipelined: PipelinedFunc(func(ctx context.Context, c *Call) { calls <- c })})
		if err != nil {
			t.Fatal(err)
		}
		leaky, err = n.Serve(ServerConfig{APID: 0x012, Pipelined: PipelinedFunc(func(ctx context.Context, c *Call) {})})
		if err != nil {
			t.Fatal(err)
		}
	})
	ctx, stop := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- srv.Run(ctx) }()
	run(t, leaky, nil)
	proc := e.node("processor", nil)
	cl := proc.Client(0x011)

	type result struct {
		arg  byte
		body []byte
		err  error
	}
	results := make(chan result, 4)
	for i := byte(1); i <= 4; i++ {
		go func() {
			var rep ipc.Reply
			err := cl.Call(ctxT(t), &ipc.Request{Op: 1, Args: []byte{i}, ReplyCap: 8}, &rep)
			results <- result{i, rep.Body, err}
		}()
	}
	var open []*Call
	for range 4 {
		open = append(open, <-calls) // four calls open at once
	}
	if st := srv.Stats(); st.Open != 4 {
		t.Fatalf("open = %d", st.Open)
	}
	slices.SortFunc(open, func(a, b *Call) int { return int(a.Request.Args[0]) - int(b.Request.Args[0]) })
	// Answer 3, then 2 with a fault, leave 1 open, 4 gets a reply.
	if err := open[2].Reply(&ipc.Reply{Body: []byte{3, 3}}); err != nil {
		t.Fatal(err)
	}
	if err := open[2].Reply(&ipc.Reply{}); err != ErrAnswered {
		t.Fatalf("second answer: %v", err)
	}
	if err := open[1].Fail(ipc.BadMessageContents); err != nil {
		t.Fatal(err)
	}
	if err := open[3].Finish(&ipc.Reply{Body: []byte{4, 4}}, nil); err != nil {
		t.Fatal(err)
	}
	got := map[byte]result{}
	for range 3 {
		r := <-results
		got[r.arg] = r
	}
	if r := got[3]; r.err != nil || string(r.body) != "\x03\x03" {
		t.Fatalf("call 3: %+v", r)
	}
	if r := got[2]; !errors.Is(r.err, ipc.BadMessageContents) {
		t.Fatalf("call 2: %+v", r)
	}
	if r := got[4]; r.err != nil || string(r.body) != "\x04\x04" {
		t.Fatalf("call 4: %+v", r)
	}
	// Stopping with call 1 open: Run reports it, its caller gets ServerDeath.
	stop()
	var ue *UnansweredError
	if err := <-runErr; !errors.As(err, &ue) || len(ue.Calls) != 1 || ue.Calls[0].Caller.Tenant != "processor" {
		t.Fatalf("Run = %v", err)
	}
	if r := <-results; r.arg != 1 || !errors.Is(r.err, ipc.ServerDeath) {
		t.Fatalf("call 1: %+v", r)
	}
	runtime.KeepAlive(open)

	// A call dropped on the floor: the garbage collector finds it.
	res := make(chan error, 1)
	go func() {
		var rep ipc.Reply
		res <- proc.Client(0x012).Call(ctxT(t), &ipc.Request{Op: 1, ReplyCap: 8}, &rep)
	}()
	deadline := time.After(testTimeout)
	for {
		runtime.GC()
		select {
		case err := <-res:
			if !errors.Is(err, ipc.ServerDeath) {
				t.Fatalf("dropped call: %v, want ServerDeath", err)
			}
			if st := leaky.Stats(); st.Unanswered != 1 {
				t.Fatalf("leaky stats %+v", st)
			}
			return
		case <-deadline:
			t.Fatal("dropped call never reported")
		case <-time.After(5 * time.Millisecond): // let the GC and the cleanup run
		}
	}
}

// serveFunc is a hand-written ipc.PipelinedHandler.
type serveFunc func(ctx context.Context, caller ipc.Caller, req *ipc.Request, held ipc.Held) error

func (f serveFunc) Serve(ctx context.Context, caller ipc.Caller, req *ipc.Request, held ipc.Held) error {
	return f(ctx, caller, req, held)
}

// TestPipelinedServeError: a pipelined handler whose Serve returns an
// error has it logged with what it is: a second answer (Call.Finish's
// ErrAnswered, the only error a Call gives) or an error of the handler's
// own; the log names the op, caller and call ID read before the handoff
// (the handler owns the Call from Serve on). The caller has the first
// answer; the second changes no counter. The log said "pipelined handler
// failed" for both and read the op from the Call after Serve.
func TestPipelinedServeError(t *testing.T) {
	e := startSwitch(t, nil)
	logs := make(logtest.Records, 64)
	cases := []struct {
		name  string
		apid  frame.APID
		after func(held ipc.Held) error // after the first answer, in Serve
		msg   string
		err   string
	}{
		{"answered twice", 0x011, func(held ipc.Held) error { return held.Finish(&ipc.Reply{Body: []byte{2}}, nil) },
			"pipelined handler answered a call twice; the second answer was dropped", ErrAnswered.Error()},
		{"error of its own", 0x012, func(ipc.Held) error { return errors.New("handler bug") },
			"pipelined handler's Serve returned an error not from answering its call", "handler bug"},
	}
	servers := make([]*Server, len(cases))
	ids := make(chan uint32, len(cases))
	e.node("camera", func(n *Node) {
		for i, tc := range cases {
			var err error
			servers[i], err = n.Serve(ServerConfig{APID: tc.apid, Pipelined: serveFunc(
				func(ctx context.Context, caller ipc.Caller, req *ipc.Request, held ipc.Held) error {
					ids <- held.(*Call).id
					if err := held.Finish(&ipc.Reply{Body: []byte{1}}, nil); err != nil {
						return fmt.Errorf("first answer: %w", err)
					}
					return tc.after(held)
				})})
			if err != nil {
				t.Fatal(err)
			}
			run(t, servers[i], nil)
		}
	}, func(c *Config) { c.Logger = slog.New(logs) })
	proc := e.node("processor", nil)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var rep ipc.Reply
			if err := proc.Client(tc.apid).Call(ctxT(t), &ipc.Request{Op: 3, ReplyCap: 8}, &rep); err != nil || string(rep.Body) != "\x01" {
				t.Fatalf("Call = %v, body %x; want the first answer, 01", err, rep.Body)
			}
			id := <-ids
			got := logs.Next(t, tc.msg, testTimeout)
			want := map[string]string{"apid": tc.apid.String(), "op": "3", "caller": "processor", "id": fmt.Sprint(id), "err": tc.err}
			if !maps.Equal(got, want) {
				t.Fatalf("log %q: %v, want %v", tc.msg, got, want)
			}
			if st := servers[i].Stats(); st.Served != 1 || st.Faults != 0 || st.Failures != 0 || st.Open != 0 || st.Unanswered != 0 {
				t.Fatalf("stats %+v, want 1 served and nothing else", st)
			}
		})
	}
}

// TestPipelinedFunc: PipelinedFunc passes a *Call to its function; any
// other ipc.Held (another runtime's, as cameraipc's tests run a pipelined
// dispatcher behind ipc.Pipe) is answered as a server failure without
// calling it, and Serve returns that answer's error.
func TestPipelinedFunc(t *testing.T) {
	var got *Call
	f := PipelinedFunc(func(_ context.Context, c *Call) { got = c })
	c := &Call{}
	if err := f.Serve(context.Background(), ipc.Caller{}, &ipc.Request{}, c); err != nil || got != c {
		t.Fatalf("Serve(*Call) = %v, function got %p, want nil and %p", err, got, c)
	}
	got = nil
	other := &otherHeld{result: errors.New("finish result")}
	err := f.Serve(context.Background(), ipc.Caller{}, &ipc.Request{}, other)
	if err != other.result || got != nil {
		t.Fatalf("Serve(other Held) = %v, function got %p; want %v and no call", err, got, other.result)
	}
	const want = "switched: PipelinedFunc needs a *switched.Call, got *switched.otherHeld"
	if len(other.answers) != 1 || other.answers[0].rep != nil || other.answers[0].err == nil || other.answers[0].err.Error() != want {
		t.Fatalf("answers %+v, want one: nil reply, error %q", other.answers, want)
	}
}

// otherHeld is an ipc.Held that is not a *Call: it records its answers.
type otherHeld struct {
	answers []heldAnswer
	result  error
}

type heldAnswer struct {
	rep *ipc.Reply
	err error
}

func (h *otherHeld) Finish(rep *ipc.Reply, err error) error {
	h.answers = append(h.answers, heldAnswer{rep, err})
	return h.result
}

// TestNotifications: tenant events and the timer reach the server between
// calls, never while a handler runs.
func TestNotifications(t *testing.T) {
	e := startSwitch(t, nil)
	var inside atomic.Int32
	notes := make(chan Notification, 16)
	var srv *Server
	disp := cameraipc.NewCameraDispatcher(&camsim.Camera{})
	h := ipc.HandlerFunc(func(ctx context.Context, caller ipc.Caller, req *ipc.Request, rep *ipc.Reply) error {
		inside.Add(1)
		defer inside.Add(-1)
		return disp.Handle(ctx, caller, req, rep)
	})
	e.node("camera", func(n *Node) {
		srv = serveCamera(t, n, h, func(c *ServerConfig) {
			c.Notify = func(ctx context.Context, note Notification) {
				if inside.Load() != 0 {
					t.Error("notification during a call")
				}
				notes <- note
			}
		})
	})
	run(t, srv, nil)
	next := func(kind NoteKind, tenant string, ek sysmsg.EventKind) Notification {
		t.Helper()
		timeout := time.After(testTimeout)
		for {
			select {
			case n := <-notes:
				if n.Kind == kind && (kind == Timer || (n.Event.Tenant == tenant && n.Event.Kind == ek)) {
					return n
				}
			case <-timeout:
				t.Fatalf("no %v notification for %q %v", kind, tenant, ek)
			}
		}
	}
	proc := e.node("processor", nil)
	next(TenantEvent, "processor", sysmsg.Connected)
	client := cameraipc.NewCameraClient(proc.Client(cameraAPID))
	if _, err := client.Status(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	srv.SetTimer(time.Millisecond)
	next(Timer, "", 0)
	sp := e.node("spaceos", nil)
	next(TenantEvent, "spaceos", sysmsg.Connected)
	sp.Close()
	n := next(TenantEvent, "spaceos", sysmsg.Disconnected)
	if n.Event.FirstAPID != 0x100 || n.Event.Generation != 1 {
		t.Fatalf("event %+v", n.Event)
	}
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }

// TestQueueFull: with the receive closed to the processor and room for two
// waiting calls, spaceos's third call is answered busy; the two others are
// served once the receive opens.
func TestQueueFull(t *testing.T) {
	e := startSwitch(t, nil)
	queued := make(chan int, 16)
	var srv *Server
	e.node("camera", func(n *Node) {
		srv = serveCamera(t, n, cameraipc.NewCameraDispatcher(&camsim.Camera{}), func(c *ServerConfig) { c.MaxQueued = 2 })
		srv.onQueue = func(q int) { queued <- q }
	})
	srv.RecvFrom("processor")
	run(t, srv, nil)
	sp := e.raw("spaceos")
	var fs []frame.Frame
	for id := uint32(1); id <= 3; id++ {
		fs, _ = ipcframe.Append(fs, ipcframe.Request, 0x100, cameraAPID, id, request(t, &ipc.Request{Op: cameraipc.CameraOpStatus, ReplyCap: 10}))
	}
	sp.send(fs)
	if h, _ := sp.reply(); h.ID != 3 || h.Kind != ipcframe.Busy {
		t.Fatalf("third call: %+v, want busy", h)
	}
	if st := srv.Stats(); st.Busy != 1 || st.Queued != 2 {
		t.Fatalf("stats %+v", st)
	}
	srv.RecvAny()
	for id := uint32(1); id <= 2; id++ {
		h, msg := sp.reply()
		var rep ipc.Reply
		if err := ipc.ParseReply(msg, &rep); err != nil || h.ID != id || h.Kind != ipcframe.Reply {
			t.Fatalf("call %d: %+v %v", id, h, err)
		}
	}
	// Through a Client, busy is ErrServerBusy.
	proc := e.node("processor", nil)
	srv.RecvFrom("spaceos")
	cl := proc.Client(cameraAPID)
	ctx := ctxT(t)
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			var rep ipc.Reply
			errs <- cl.Call(ctx, &ipc.Request{Op: cameraipc.CameraOpStatus, ReplyCap: 10}, &rep)
		}()
	}
	if err := <-errs; !errors.Is(err, ErrServerBusy) {
		t.Fatalf("first answer: %v, want ErrServerBusy", err)
	}
	srv.RecvAny()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestMaxOpen: a pipelined server at its bound of open calls takes no new
// call until one is answered.
func TestMaxOpen(t *testing.T) {
	e := startSwitch(t, nil)
	calls := make(chan *Call, 4)
	queued := make(chan int, 4)
	var srv *Server
	e.node("camera", func(n *Node) {
		var err error
		srv, err = n.Serve(ServerConfig{APID: cameraAPID, MaxOpen: 2, Pipelined: PipelinedFunc(func(ctx context.Context, c *Call) { calls <- c })})
		if err != nil {
			t.Fatal(err)
		}
		srv.onQueue = func(q int) { queued <- q }
	})
	run(t, srv, nil)
	cl := e.node("processor", nil).Client(cameraAPID)
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			var rep ipc.Reply
			errs <- cl.Call(ctxT(t), &ipc.Request{Op: 1, ReplyCap: 10}, &rep)
		}()
	}
	c1, c2 := <-calls, <-calls
	<-queued
	<-queued
	<-queued // all three arrived; the server wakes for each
	if st := srv.Stats(); st.Open != 2 {
		t.Fatalf("stats %+v", st)
	}
	select {
	case <-calls:
		t.Fatal("a third call was taken with two open")
	default:
	}
	c1.Reply(&ipc.Reply{})
	c3 := <-calls
	c2.Reply(&ipc.Reply{})
	c3.Reply(&ipc.Reply{})
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestClosedRecvReopens: a server receiving only from spaceos opens again
// when spaceos goes away, so the processor's waiting call is served.
func TestClosedRecvReopens(t *testing.T) {
	e := startSwitch(t, nil)
	queued := make(chan int, 4)
	var srv *Server
	e.node("camera", func(n *Node) {
		srv = serveCamera(t, n, cameraipc.NewCameraDispatcher(&camsim.Camera{}))
		srv.onQueue = func(q int) { queued <- q }
	})
	sp := e.node("spaceos", nil)
	srv.RecvFrom("spaceos")
	run(t, srv, nil)
	client := cameraipc.NewCameraClient(e.node("processor", nil).Client(cameraAPID))
	res := make(chan error, 1)
	go func() {
		_, err := client.Status(ctxT(t))
		res <- err
	}()
	<-queued
	select {
	case err := <-res:
		t.Fatalf("served while the receive was closed: %v", err)
	default:
	}
	sp.Close()
	if err := <-res; err != nil {
		t.Fatal(err)
	}
}

// TestNodeClose: closing a node fails its calls in flight with ErrClosed
// and makes later calls fail at once.
func TestNodeClose(t *testing.T) {
	ce := startCamera(t)
	entered := make(chan struct{})
	release := make(chan struct{})
	ce.cam.Hook = func(ctx context.Context, op string) {
		close(entered)
		<-release
	}
	defer close(release)
	res := make(chan error, 1)
	go func() {
		_, err := ce.client.Status(ctxT(t))
		res <- err
	}()
	<-entered
	ce.proc.Close()
	if err := <-res; !errors.Is(err, ErrClosed) {
		t.Fatalf("call in flight: %v, want ErrClosed", err)
	}
	if _, err := ce.client.Status(ctxT(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after Close: %v, want ErrClosed", err)
	}
}
