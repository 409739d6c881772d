package switched

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"spacenet/apid/frame"
	"spacenet/apid/sysmsg"
	"spacenet/ipc"
	"spacenet/ipc/ipcframe"
)

// NoteKind says what a notification is about.
type NoteKind uint8

// The notification kinds.
const (
	// TenantEvent: a tenant connected, was replaced (restarted) or went
	// away (Notification.Event).
	TenantEvent NoteKind = 1
	// Timer: the timer set with Server.SetTimer fired.
	Timer NoteKind = 2
	// Posted: tenants posted bits to the server (Node.Post, Hubris's
	// sys_post); Notification.Bits is every bit posted since the last
	// Posted notification, within the server's mask (SetNotifyMask).
	Posted NoteKind = 3
)

// Notification is delivered to a server between calls, never while one of
// its handlers runs.
type Notification struct {
	Kind  NoteKind
	Event sysmsg.EventNotice // TenantEvent
	Bits  uint32             // Posted
	At    time.Time          // when it was raised (Posted: when the first of its bits came)
}

// ServerConfig is what Node.Serve needs: APID and one of Handler or
// Pipelined.
type ServerConfig struct {
	// APID the server answers on; the node's tenant must own it.
	APID frame.APID
	// Handler serves calls InOrder: one call at a time, its reply sent
	// before the next call is taken. Generated dispatchers are Handlers.
	// The *ipc.Request it gets (Args, leases' Data) is decoded into storage
	// the server reuses for the next call: it is valid until Handle returns.
	Handler ipc.Handler
	// Pipelined, if set instead of Handler, receives each call and returns
	// without answering; the server answers later, from any goroutine,
	// through the held call (a *Call: Call.Reply, Call.Fail or
	// Call.Finish). Generated pipelined dispatchers (NewCameraPipelined)
	// are PipelinedHandlers; PipelinedFunc adapts a function taking the
	// *Call. An error Serve returns is logged; by the ipc.PipelinedHandler
	// contract it can only be Call.Finish's ErrAnswered (the handler
	// answered the call twice). A call dropped without an answer is
	// reported (logged, counted, its caller answered ServerDeath) when the
	// garbage collector finds it or when Run returns.
	Pipelined ipc.PipelinedHandler
	// Restrict limits ops to named tenants (ipc.Restrict); other callers
	// are answered AccessViolation by the runtime from the first segment of
	// the request, before anything is reassembled or decoded. Serve
	// refuses a restriction naming a tenant the policy does not have, or
	// an op the interface does not have (see Ops). The restrictions a
	// Handler or Pipelined holds of its own (ipc.Restricter: a generated
	// dispatcher's constructor options) are checked the same way.
	Restrict []ipc.DispatchOption
	// Ops names the interface's ops in op-code order (op code i+1 is
	// Ops[i]), to check Restrict against; nil means the OpNames of the
	// Handler or Pipelined (ipc.OpNamer), if it has them, else only op 0
	// is refused.
	Ops []string
	// Notify receives notifications between calls; nil drops them.
	Notify func(ctx context.Context, note Notification)
	// MaxQueued bounds the calls waiting to be served (closed RECV keeps
	// the others waiting here); beyond it callers get ErrServerBusy. 0
	// means 1024.
	MaxQueued int
	// MaxOpen bounds a pipelined server's unanswered calls: at the bound
	// the server takes no new call until one is answered. 0 means 256.
	MaxOpen int
}

// PipelinedFunc adapts a function taking the server's *Call to
// ipc.PipelinedHandler, for ServerConfig.Pipelined.
type PipelinedFunc func(ctx context.Context, c *Call)

// Serve calls f with held, the *Call the server holds open; any other
// Held is answered as a server failure.
func (f PipelinedFunc) Serve(ctx context.Context, _ ipc.Caller, _ *ipc.Request, held ipc.Held) error {
	c, ok := held.(*Call)
	if !ok {
		return held.Finish(nil, fmt.Errorf("switched: PipelinedFunc needs a *switched.Call, got %T", held))
	}
	f(ctx, c)
	return nil
}

// maxKeptFrames is the most frames of storage an InOrder server keeps for
// its next reply: a 64 KiB lease's reply (281 frames) fits.
const maxKeptFrames = 320

// MaxNotes is how many notifications wait for a server at most; further
// ones are counted and dropped.
const MaxNotes = 64

// Server serves one interface on one APID. Build it with Node.Serve and run
// it with Run.
type Server struct {
	node   *Node
	cfg    ServerConfig
	access ipc.Access
	wake   chan struct{}
	timer  *time.Timer

	mu      sync.Mutex
	queue   []*incoming
	notes   []Notification
	only    string // closed RECV: serve only this tenant; "" is open
	posted  uint32 // bits posted, not delivered yet
	postAt  time.Time
	mask    uint32 // the posted bits delivered (SetNotifyMask)
	open    map[uint64]openCall
	openSeq uint64
	running bool

	stopped atomic.Bool
	onQueue func(queued int) // tests: called by the reader after queueing a call
	onPost  func()           // tests: called by the reader after merging a post
	reply   ipc.Reply        // InOrder reply, reused
	request ipc.Request      // InOrder request, reused (valid during Handle only)
	encoded []byte           // InOrder reply message, reused
	frames  []frame.Frame    // InOrder reply frames, reused
	stats   serverStats
}

type serverStats struct {
	served, faults, failures, busy, denied, notesDropped, unanswered, parseErrors atomic.Uint64
	posts, postNotes                                                              atomic.Uint64
}

// incoming is one complete request waiting to be served.
type incoming struct {
	caller ipc.Caller
	src    frame.APID
	id     uint32
	msg    []byte
}

var incomingPool = sync.Pool{New: func() any { return new(incoming) }}

type openCall struct {
	src    frame.APID
	id     uint32
	op     uint16
	caller ipc.Caller
}

// Serve registers a server on cfg.APID. Register servers before Start so
// that calls waiting in the switch for this tenant find them.
func (n *Node) Serve(cfg ServerConfig) (*Server, error) {
	if !n.ownsAPID(cfg.APID) {
		return nil, fmt.Errorf("switched: tenant %q does not own APID %v", n.cfg.Tenant, cfg.APID)
	}
	// A typed nil (a nil *Dispatcher, a nil PipelinedFunc) is not nil as
	// an interface: it would pass the check below and panic on its first
	// method call (Restrictions, below, or the first call served).
	if cfg.Handler != nil && isNil(cfg.Handler) {
		return nil, fmt.Errorf("switched: ServerConfig.Handler is a nil %T", cfg.Handler)
	}
	if cfg.Pipelined != nil && isNil(cfg.Pipelined) {
		return nil, fmt.Errorf("switched: ServerConfig.Pipelined is a nil %T", cfg.Pipelined)
	}
	if (cfg.Handler == nil) == (cfg.Pipelined == nil) {
		return nil, errors.New("switched: ServerConfig needs exactly one of Handler and Pipelined")
	}
	if cfg.MaxQueued <= 0 {
		cfg.MaxQueued = 1024
	}
	if cfg.MaxOpen <= 0 {
		cfg.MaxOpen = 256
	}
	access := ipc.NewAccess(cfg.Restrict)
	if err := access.Check(n.opsOf(cfg), n.tenantNames()); err != nil {
		return nil, fmt.Errorf("switched: server on %v: %w", cfg.APID, err)
	}
	if r, ok := cfg.dispatcher().(ipc.Restricter); ok {
		// A generated dispatcher's own Restrict options.
		if err := r.Restrictions().Check(n.opsOf(cfg), n.tenantNames()); err != nil {
			return nil, fmt.Errorf("switched: server on %v: dispatcher: %w", cfg.APID, err)
		}
	}
	s := &Server{
		node:   n,
		cfg:    cfg,
		access: access,
		wake:   make(chan struct{}, 1),
		open:   make(map[uint64]openCall),
		mask:   ^uint32(0),
	}
	s.timer = time.AfterFunc(time.Hour, func() { s.notify(Notification{Kind: Timer, At: time.Now()}) })
	s.timer.Stop()
	n.mu.Lock()
	defer n.mu.Unlock()
	old := *n.servers.Load()
	if o := old[cfg.APID]; o != nil && !o.stopped.Load() {
		return nil, fmt.Errorf("switched: APID %v already served", cfg.APID)
	}
	m := make(map[frame.APID]*Server, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[cfg.APID] = s
	n.servers.Store(&m)
	return s, nil
}

// isNil reports whether v, a non-nil interface value, holds a nil pointer,
// func, map, channel or slice.
func isNil(v any) bool {
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Func, reflect.Map, reflect.Chan, reflect.Slice, reflect.Interface, reflect.UnsafePointer:
		return rv.IsNil()
	}
	return false
}

// opsOf is the ops of the interface cfg serves, nil when unknown.
func (n *Node) opsOf(cfg ServerConfig) []string {
	if cfg.Ops != nil {
		return cfg.Ops
	}
	if o, ok := cfg.dispatcher().(ipc.OpNamer); ok {
		return o.OpNames()
	}
	return nil
}

// dispatcher is the Handler or the Pipelined handler, whichever is set.
func (cfg *ServerConfig) dispatcher() any {
	if cfg.Pipelined != nil {
		return cfg.Pipelined
	}
	return cfg.Handler
}

// tenantNames is the policy's tenants.
func (n *Node) tenantNames() []string {
	names := make([]string, len(n.pol.Tenants))
	for i := range n.pol.Tenants {
		names[i] = n.pol.Tenants[i].Name
	}
	return names
}

// APID is the APID the server answers on.
func (s *Server) APID() frame.APID { return s.cfg.APID }

// signal wakes the server's loop, interrupting its read if it reads.
func (s *Server) signal() {
	s.offer()
	s.node.kick(s)
}

// offer wakes the server's loop: it holds the reader role now (reader.mu
// held), or has something to do.
func (s *Server) offer() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// enqueue queues a complete request; called by the node's reader. data
// is copied unless owned (a reassembled message the reassembler gave away).
func (s *Server) enqueue(caller ipc.Caller, k ipcframe.Key, data []byte, owned bool) {
	in := incomingPool.Get().(*incoming)
	in.caller, in.src, in.id = caller, k.Src, k.ID
	if owned {
		in.msg = data
	} else {
		in.msg = append(in.msg[:0], data...)
	}
	s.mu.Lock()
	if s.stopped.Load() {
		s.mu.Unlock()
		s.node.answerFault(k, ipc.WentAway)
		putIncoming(in)
		return
	}
	if len(s.queue) >= s.cfg.MaxQueued {
		s.mu.Unlock()
		s.stats.busy.Add(1)
		s.node.answerBusy(k)
		putIncoming(in)
		return
	}
	s.queue = append(s.queue, in)
	queued := len(s.queue)
	s.mu.Unlock()
	s.signal()
	if s.onQueue != nil {
		s.onQueue(queued)
	}
}

func putIncoming(in *incoming) {
	if cap(in.msg) > 4*ipcframe.MaxData {
		in.msg = nil // do not keep large requests' storage in the pool
	}
	incomingPool.Put(in)
}

func (s *Server) notify(note Notification) {
	s.mu.Lock()
	if len(s.notes) >= MaxNotes {
		s.mu.Unlock()
		s.stats.notesDropped.Add(1)
		return
	}
	s.notes = append(s.notes, note)
	// Closed RECV from a tenant that went away would make every other
	// caller wait forever: open it again (the server hears why).
	if note.Kind == TenantEvent && note.Event.Kind == sysmsg.Disconnected && s.only == note.Event.Tenant {
		s.only = ""
	}
	s.mu.Unlock()
	s.signal()
}

// post merges bits posted to the server into its pending mask; called by
// the node's reader. It reports false when the server has stopped.
func (s *Server) post(bits uint32, now func() time.Time) bool {
	s.mu.Lock()
	if s.stopped.Load() {
		s.mu.Unlock()
		return false
	}
	if s.posted == 0 {
		s.postAt = now()
	}
	s.posted |= bits
	deliver := s.posted&s.mask != 0
	s.mu.Unlock()
	s.stats.posts.Add(1)
	if deliver {
		s.signal()
	}
	if s.onPost != nil {
		s.onPost()
	}
	return true
}

// SetNotifyMask sets which posted bits are delivered (Hubris's
// notification mask): bits outside mask stay pending, merged with later
// posts, until a mask includes them. The initial mask has every bit.
func (s *Server) SetNotifyMask(mask uint32) {
	s.mu.Lock()
	s.mask = mask
	s.mu.Unlock()
	s.signal()
}

// RecvFrom closes the server's receive to one tenant: until RecvAny, only
// calls from that tenant are served; calls from others wait in their order
// (up to MaxQueued) and nothing is lost. If the tenant disconnects, the
// receive opens again and the server gets the TenantEvent notification.
func (s *Server) RecvFrom(tenant string) {
	s.mu.Lock()
	s.only = tenant
	s.mu.Unlock()
	s.signal()
}

// RecvAny opens the server's receive to every caller again.
func (s *Server) RecvAny() { s.RecvFrom("") }

// SetTimer arms the server's timer: a Timer notification arrives after d
// (between calls). It replaces the previous setting; d <= 0 disarms it.
func (s *Server) SetTimer(d time.Duration) {
	s.timer.Stop()
	if d > 0 {
		s.timer.Reset(d)
	}
}

// take removes the first queued call the receive accepts. s.mu is held.
func (s *Server) take() *incoming {
	for i, in := range s.queue {
		if s.only == "" || in.caller.Tenant == s.only {
			copy(s.queue[i:], s.queue[i+1:])
			s.queue[len(s.queue)-1] = nil
			s.queue = s.queue[:len(s.queue)-1]
			return in
		}
	}
	return nil
}

// Run serves calls and notifications until ctx is done or the node's
// connection ends. It then unregisters the server, answers the calls still
// queued with WentAway and returns nil, or, for a pipelined server that left
// calls unanswered, an *UnansweredError (those callers get ServerDeath).
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running || s.stopped.Load() {
		s.mu.Unlock()
		return errors.New("switched: Server.Run called twice")
	}
	s.running = true
	s.mu.Unlock()
	defer s.timer.Stop()
	stopKick := context.AfterFunc(ctx, s.signal)
	defer stopKick()
	n := s.node
	for {
		kicks := n.reader.kicks.Load()
		w := s.next()
		switch {
		case w.noted:
			n.withdraw(s) // nobody waits for the socket while the server's code runs
			if s.cfg.Notify != nil {
				s.cfg.Notify(ctx, w.note)
			}
			continue
		case w.call != nil:
			if w.more {
				// Busy: the background goroutine reads while the calls
				// queued run, as a second reader on another core.
				n.handToBG(s)
			} else {
				n.withdraw(s)
			}
			s.dispatch(ctx, w.call)
			continue
		case ctx.Err() != nil:
			return s.stop()
		}
		// Idle: read the socket while nobody else does (role.go).
		if n.acquire(s) {
			if err := n.readBatch(s, kicks); err != nil && err != errKicked {
				return s.stop()
			}
			continue
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			return s.stop()
		case <-n.done:
			return s.stop()
		}
	}
}

// work is what the server's loop does next: a notification (noted), or a
// call (with more queued behind it), or nothing (it reads or waits).
type work struct {
	note  Notification
	noted bool
	call  *incoming
	more  bool
}

// next takes the server loop's next work, in this order: a notification,
// the posted bits (as a Posted notification), a call the receive accepts
// (unless a pipelined server is at MaxOpen).
func (s *Server) next() work {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.notes) > 0 {
		w := work{note: s.notes[0], noted: true}
		copy(s.notes, s.notes[1:])
		s.notes = s.notes[:len(s.notes)-1]
		return w
	}
	if bits := s.posted & s.mask; bits != 0 {
		s.posted &^= bits
		s.stats.postNotes.Add(1)
		return work{note: Notification{Kind: Posted, Bits: bits, At: s.postAt}, noted: true}
	}
	var w work
	if s.cfg.Pipelined == nil || len(s.open) < s.cfg.MaxOpen {
		w.call = s.take()
	}
	w.more = len(s.queue) > 0
	return w
}

// stop unregisters the server and settles what is left.
func (s *Server) stop() error {
	s.stopped.Store(true)
	s.node.withdraw(s)
	s.mu.Lock()
	q := s.queue
	s.queue = nil
	open := s.open
	s.open = map[uint64]openCall{}
	s.mu.Unlock()
	for _, in := range q {
		s.sendFault(in.src, in.id, ipc.WentAway)
		putIncoming(in)
	}
	if len(open) == 0 {
		return nil
	}
	e := &UnansweredError{APID: s.cfg.APID}
	for _, oc := range open {
		s.stats.unanswered.Add(1)
		e.Calls = append(e.Calls, UnansweredCall{Caller: oc.caller, Op: oc.op, ID: oc.id})
		s.sendFault(oc.src, oc.id, ipc.ServerDeath)
	}
	s.node.log.Error("pipelined server stopped with calls unanswered", "apid", s.cfg.APID, "calls", len(e.Calls))
	return e
}

// UnansweredError reports the calls a pipelined server left without an
// answer when it stopped: a bug in the server.
type UnansweredError struct {
	APID  frame.APID
	Calls []UnansweredCall
}

// UnansweredCall is one call left without an answer.
type UnansweredCall struct {
	Caller ipc.Caller
	Op     uint16
	ID     uint32
}

// Error names the server's APID and how many calls it left unanswered.
func (e *UnansweredError) Error() string {
	return fmt.Sprintf("switched: server on %v left %d call(s) unanswered", e.APID, len(e.Calls))
}

func (s *Server) dispatch(ctx context.Context, in *incoming) {
	var req *ipc.Request
	var err error
	if s.cfg.Pipelined != nil {
		req, err = ipc.ParseRequest(in.msg) // the Call keeps it until answered
	} else {
		req, err = &s.request, ipc.ParseRequestInto(in.msg, &s.request)
	}
	if err != nil {
		s.stats.parseErrors.Add(1)
		s.sendFault(in.src, in.id, ipc.BadMessageContents)
		putIncoming(in)
		return
	}
	if s.cfg.Pipelined != nil {
		c := &Call{Caller: in.caller, Request: req, server: s, src: in.src, id: in.id}
		s.mu.Lock()
		s.openSeq++
		c.key = s.openSeq
		s.open[c.key] = openCall{src: in.src, id: in.id, op: req.Op, caller: in.caller}
		s.mu.Unlock()
		runtime.AddCleanup(c, s.leaked, c.key)
		// c is the handler's from Serve on (it may answer it from another
		// goroutine at once): what the log needs is read before.
		op, caller, id := req.Op, in.caller, in.id
		putIncoming(in)
		err := s.cfg.Pipelined.Serve(ctx, caller, req, c)
		switch {
		case err == nil:
		case errors.Is(err, ErrAnswered):
			// Serve's error is its call's Finish error, and Call.Finish
			// fails only for a call answered already: the handler
			// answered twice; the caller has the first answer.
			s.node.log.Error("pipelined handler answered a call twice; the second answer was dropped",
				"apid", s.cfg.APID, "op", op, "caller", caller.Tenant, "id", id, "err", err)
		default:
			// Not from Call.Finish: a handler breaking the
			// ipc.PipelinedHandler contract. The call is answered only if
			// the handler did (else it is reported as unanswered).
			s.node.log.Error("pipelined handler's Serve returned an error not from answering its call",
				"apid", s.cfg.APID, "op", op, "caller", caller.Tenant, "id", id, "err", err)
		}
		return
	}
	s.reply.Reset()
	err = s.cfg.Handler.Handle(ctx, in.caller, req, &s.reply)
	s.encoded = s.encode(s.encoded[:0], req, &s.reply, err)
	s.frames = s.send(s.frames[:0], in.src, in.id, s.encoded)
	putIncoming(in)
}

// encode turns a handler's outcome into the reply message: the reply, or
// the fault it returned, or ServerDeath for any other error (a server
// failure, logged).
func (s *Server) encode(b []byte, req *ipc.Request, rep *ipc.Reply, err error) []byte {
	if err == nil {
		err = ipc.FitReply(req, rep)
	}
	if err == nil {
		out, merr := ipc.AppendReply(b, rep)
		if merr == nil {
			s.stats.served.Add(1)
			s.node.callStats.answered(OutcomeOK)
			return out
		}
		err = merr
	}
	if f, ok := ipc.AsFault(err); ok {
		s.stats.faults.Add(1)
		s.node.callStats.answered(faultOutcome(f))
		return ipc.AppendFault(b[:0], f)
	}
	s.stats.failures.Add(1)
	s.node.callStats.answered(OutcomeServerDeath)
	s.node.log.Error("server failed", "apid", s.cfg.APID, "op", req.Op, "err", err)
	return ipc.AppendFault(b[:0], ipc.ServerDeath)
}

func (s *Server) send(fs []frame.Frame, dest frame.APID, id uint32, msg []byte) []frame.Frame {
	fs, err := ipcframe.Append(fs, ipcframe.Reply, s.cfg.APID, dest, id, msg)
	if err == nil {
		err = s.node.sendReply(fs, dest, id)
	}
	if err != nil {
		s.node.log.Debug("reply not sent", "apid", s.cfg.APID, "err", err)
	}
	if cap(fs) > maxKeptFrames {
		return nil
	}
	return fs
}

func (s *Server) sendFault(dest frame.APID, id uint32, f ipc.Fault) {
	s.node.callStats.answered(faultOutcome(f))
	var b [8]byte
	var fs [1]frame.Frame
	s.send(fs[:0], dest, id, ipc.AppendFault(b[:0], f))
}

// leaked runs when the garbage collector finds a pipelined Call that was
// never answered.
func (s *Server) leaked(key uint64) {
	s.mu.Lock()
	oc, ok := s.open[key]
	delete(s.open, key)
	s.mu.Unlock()
	if !ok {
		return
	}
	s.stats.unanswered.Add(1)
	s.node.log.Error("pipelined call dropped without an answer", "apid", s.cfg.APID, "op", oc.op, "caller", oc.caller.Tenant, "id", oc.id)
	s.sendFault(oc.src, oc.id, ipc.ServerDeath)
	s.signal()
}

// Call is one call a pipelined server holds open. Answer it exactly once,
// from any goroutine.
type Call struct {
	Caller  ipc.Caller
	Request *ipc.Request
	server  *Server
	src     frame.APID
	id      uint32
	key     uint64
}

// ErrAnswered is returned when a Call is answered twice.
var ErrAnswered = errors.New("switched: call already answered")

// Reply answers the call with rep.
func (c *Call) Reply(rep *ipc.Reply) error { return c.Finish(rep, nil) }

// Fail answers the call with err: an ipc.Fault as is, anything else as a
// server failure (ServerDeath to the caller).
func (c *Call) Fail(err error) error { return c.Finish(nil, err) }

// Finish answers the call with what a Handler would have returned: rep
// when err is nil, else err.
func (c *Call) Finish(rep *ipc.Reply, err error) error {
	s := c.server
	s.mu.Lock()
	_, ok := s.open[c.key]
	atBound := len(s.open) >= s.cfg.MaxOpen
	delete(s.open, c.key)
	s.mu.Unlock()
	if !ok {
		return ErrAnswered
	}
	if rep == nil && err == nil {
		rep = &ipc.Reply{}
	}
	out := s.encode(nil, c.Request, rep, err)
	s.send(nil, c.src, c.id, out)
	if atBound {
		s.signal() // the loop may take the next call now
	}
	return nil
}

// ServerStats is a snapshot of a server's counters.
type ServerStats struct {
	Served       uint64 // calls answered with a reply
	Faults       uint64 // calls answered with a fault the handler returned
	Failures     uint64 // handler errors that were not faults (ServerDeath to the caller)
	ParseErrors  uint64 // requests that did not decode (BadMessageContents)
	Denied       uint64 // restricted ops refused (AccessViolation)
	Busy         uint64 // calls refused with the queue full
	NotesDropped uint64 // notifications dropped with MaxNotes waiting
	Unanswered   uint64 // pipelined calls left without an answer
	Posts        uint64 // posts received (Node.Post by a tenant)
	PostNotes    uint64 // Posted notifications delivered (posts merged between calls)
	Queued       int    // calls waiting now
	Open         int    // pipelined calls open now
	Pending      uint32 // bits posted, not delivered yet (outside the mask, or not yet between calls)
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() ServerStats {
	s.mu.Lock()
	q, o, p := len(s.queue), len(s.open), s.posted
	s.mu.Unlock()
	return ServerStats{
		Served: s.stats.served.Load(), Faults: s.stats.faults.Load(), Failures: s.stats.failures.Load(),
		ParseErrors: s.stats.parseErrors.Load(), Denied: s.stats.denied.Load(), Busy: s.stats.busy.Load(),
		NotesDropped: s.stats.notesDropped.Load(), Unanswered: s.stats.unanswered.Load(),
		Posts: s.stats.posts.Load(), PostNotes: s.stats.postNotes.Load(), Queued: q, Open: o, Pending: p,
	}
}
