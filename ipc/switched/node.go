// Package switched carries typed Idol calls (package ipc) between tenants
// through the APID switch (package apidswitch), as docs/ipc.md describes:
// a Node is one tenant's connection to the switch; a Client, made by
// Node.Client, is an ipc.Transport calling a server APID; a Server, made by
// Node.Serve, serves an ipc.Handler (InOrder) or a pipelined handler on one
// of the tenant's own APIDs.
//
// Requests are TC frames and replies TM frames, each starting with the IPC
// sub-header of package ipcframe, so the switch authenticates the source
// APID of every call and enforces the policy on it. The caller's identity
// given to servers (ipc.Caller) is the tenant owning the request's source
// APID, which the switch checked.
//
// One goroutine at a time reads the node's socket: a caller waiting for
// its reply, an idle server loop, or the node's background goroutine when
// nobody else does (leader/follower, see role.go), so that a lone caller
// reads its own reply and an idle server loop reads its own calls: no
// frame is handed from one goroutine to another on the common path.
//
// The Node subscribes to the switch's tenant events (sysmsg.APIDEvents):
// a call in flight to a tenant whose connection goes away or is replaced
// (its generation changes) fails with ipc.ServerDeath, which generated
// clients retry for idempotent ops; servers receive the events as
// notifications between calls.
//
// A tenant posts notification bits to another's server with Node.Post
// (Hubris's sys_post): an ordinary frame, checked by the switch like any
// other, delivered to the server as a Posted notification between calls.
//
// The switch answers a frame it refuses with an ERROR that names the
// frame's type, source APID and length but not its call. The Node keeps its
// replies for a while; after an ERROR it probes (HEALTH frames to
// sysmsg.APIDHealth, which the switch answers in order) to learn which
// of them were refused: a reply refused Host_busy (the caller's queue was
// full) is sent again with backoff, one refused for good is logged,
// counted and dropped. A refused request fails the oldest call in flight it
// can be about. Without ERRORs the node sends no probe.
//
// Package switched does not marshal messages (package ipc does), does not
// segment them (package ipcframe does) and does not route frames (the
// switch does).
package switched

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"spacenet/apid/frame"
	"spacenet/apid/guest"
	"spacenet/apid/policy"
	"spacenet/apid/sysmsg"
	"spacenet/ipc"
	"spacenet/ipc/ipcframe"
)

// Config is what NewNode needs. Tenant and one of Socket and Device are
// required.
type Config struct {
	Socket string // the tenant's socket, <socket_dir>/<tenant>.sock
	// Device, instead of Socket, is the character device of a guest VM
	// that QEMU carries to the tenant's socket: a virtio-serial port
	// (/dev/virtio-ports/NAME) or a serial tty (guest.OpenDevice).
	Device string
	Tenant string         // the tenant this connection is
	Policy *policy.Policy // who owns which APID; nil means policy.Default()
	// APID is the source APID of this node's calls (and its event
	// subscription); 0 means the first APID the tenant owns.
	APID frame.APID
	// Limits bound reassembly of incoming messages. Its Sender, if nil,
	// is the policy's tenant owning the source APID (Senders the number
	// of tenants): budgets are per tenant, with a guaranteed share each.
	Limits ipcframe.Limits
	// MaxInFlight bounds the calls waiting for a reply; 0 means 4096.
	MaxInFlight int
	// Other receives the frames that are not IPC (no IPC magic) on the
	// goroutine reading the socket (the node's own one, a waiting caller's
	// or an idle server loop's: see role.go), one call at a time in arrival
	// order; it must not block, and f is valid only during the call. nil
	// means they are counted only.
	Other func(f *frame.Frame)
	// Logger receives the node's logs; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock used for reassembly timeouts; nil means time.Now.
	Now func() time.Time
	// ReplyRetries is how many times a reply the switch refused with
	// Host_busy (the caller's queue was full) is sent again, with a delay
	// of ReplyBackoff doubling each time (at most 200 ms); 0 means
	// DefaultReplyRetries, negative means never.
	ReplyRetries int
	// ReplyBackoff is the delay before the first retry; 0 means
	// DefaultReplyBackoff.
	ReplyBackoff time.Duration
}

// ErrClosed is wrapped by the errors of calls on a Node whose connection
// closed.
var ErrClosed = errors.New("switched: connection closed")

// ErrServerBusy is returned by a call the server refused because its queue
// of calls, or its reassembly budget, was full. The call did not run.
var ErrServerBusy = errors.New("switched: server busy")

// SwitchError is a call's frame refused by the switch (an ERROR frame);
// errors.Is(err, frame.HostBusy) and friends match its code. Not_permitted
// and No_route are reported as ipc.AccessViolation and ipc.WentAway instead.
type SwitchError struct {
	Code frame.ErrorCode
}

// Error names the ERROR code the switch answered.
func (e *SwitchError) Error() string { return "switched: switch refused the call: " + e.Code.String() }

// Unwrap returns the frame.ErrorCode.
func (e *SwitchError) Unwrap() error { return e.Code }

type tenantState struct {
	gen       uint32 // the generation, low 32 bits (as the switch reports it)
	connected bool
}

// Node is one tenant's connection to the switch, shared by every Client and
// Server of that tenant (the switch keeps one connection per tenant: a
// second one would replace the first). Build it with NewNode, register
// servers with Serve, then Start it.
type Node struct {
	cfg   Config
	log   *slog.Logger
	pol   *policy.Policy
	self  int
	owner [frame.NumAPIDs]int16 // APID -> tenant index, -1 for none
	now   func() time.Time

	g       *guest.Conn
	out     outbox // what the reader has to write
	wmu     sync.Mutex
	started atomic.Bool
	ready   chan struct{} // closed when the event subscription is acknowledged
	done    chan struct{} // closed when the connection has ended (read failed)
	readErr error         // why it ended, set before done closes

	rmu sync.Mutex // guards rs (the reader owns it; Stats reads it)
	rs  *ipcframe.Reassembler

	servers atomic.Pointer[map[frame.APID]*Server]
	srvMu   sync.Mutex // serialises changes of servers

	mu      sync.Mutex // guards pending, tenants, closed
	pending map[uint32]*pending
	tenants []tenantState
	closed  bool
	nextID  atomic.Uint32

	scratch []frame.Frame // the reader role holder's frames for answers it sends itself
	wseq    uint64        // calls written, guarded by wmu
	replied uint64        // the latest call (seq) answered, guarded by mu
	tombs   []tomb        // calls failed by an ERROR, guarded by mu
	tr      tracker
	rd      role    // who reads the socket (role.go)
	ws      watches // callers' contexts (role.go)
	st      nodeStats
}

type nodeStats struct {
	calls, replies, stray, notIPC, events              atomic.Uint64
	answered                                           [16]atomic.Uint64 // runtime answers by fault
	busySent, errorsIn, repliesRefused, staleEvents    atomic.Uint64
	repliesRetried, repliesDropped, repliesUnconfirmed atomic.Uint64
	refusedUnmatched, probes                           atomic.Uint64
	selfRead, handovers                                atomic.Uint64
	postsSent, postsWentAway, postsUnserved            atomic.Uint64
	postsRefused                                       [16]atomic.Uint64 // by ERROR code
}

// NewNode checks cfg and returns a node that is not yet connected.
func NewNode(cfg Config) (*Node, error) {
	if cfg.Policy == nil {
		cfg.Policy = policy.Default()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 4096
	}
	switch {
	case cfg.ReplyRetries == 0:
		cfg.ReplyRetries = DefaultReplyRetries
	case cfg.ReplyRetries < 0:
		cfg.ReplyRetries = 0
	}
	if cfg.ReplyBackoff <= 0 {
		cfg.ReplyBackoff = DefaultReplyBackoff
	}
	n := &Node{
		cfg:     cfg,
		log:     cfg.Logger.With("tenant", cfg.Tenant),
		pol:     cfg.Policy,
		now:     cfg.Now,
		ready:   make(chan struct{}),
		done:    make(chan struct{}),
		pending: make(map[uint32]*pending),
		tenants: make([]tenantState, len(cfg.Policy.Tenants)),
	}
	if (cfg.Socket == "") == (cfg.Device == "") {
		return nil, errors.New("switched: Config: give one of Socket and Device")
	}
	self, ok := n.pol.Index(cfg.Tenant)
	if !ok {
		return nil, fmt.Errorf("switched: tenant %q is not in policy %s", cfg.Tenant, n.pol.Source)
	}
	n.self = self
	for i := range n.owner {
		n.owner[i] = -1
	}
	for ti, t := range n.pol.Tenants {
		for _, r := range t.Owns {
			for a := r.First; a <= r.Last && a <= frame.MaxAPID; a++ {
				if n.owner[a] == -1 {
					n.owner[a] = int16(ti)
				}
			}
		}
	}
	if n.cfg.APID == 0 {
		owns := n.pol.Tenants[self].Owns
		if len(owns) == 0 {
			return nil, fmt.Errorf("switched: tenant %q owns no APID", cfg.Tenant)
		}
		n.cfg.APID = owns[0].First
	}
	if !n.ownsAPID(n.cfg.APID) {
		return nil, fmt.Errorf("switched: tenant %q does not own APID %v", cfg.Tenant, n.cfg.APID)
	}
	lim := cfg.Limits
	if lim.Sender == nil {
		// Budgets per tenant, not per APID: a tenant owning many APIDs
		// gets one budget, and a guaranteed share each (docs/ipc.md).
		lim.Sender, lim.Senders = n.tenantOf, len(n.pol.Tenants)
	}
	n.rs = ipcframe.NewReassembler(lim)
	n.initTracker()
	n.initRole()
	m := map[frame.APID]*Server{}
	n.servers.Store(&m)
	return n, nil
}

// Dial is NewNode then Start, for a node that serves nothing (or registers
// its servers later, accepting that calls arriving before are answered
// WentAway).
func Dial(ctx context.Context, cfg Config) (*Node, error) {
	n, err := NewNode(cfg)
	if err != nil {
		return nil, err
	}
	if err := n.Start(ctx); err != nil {
		return nil, err
	}
	return n, nil
}

// tenantOf is the index of the tenant owning a, -1 for none.
func (n *Node) tenantOf(a frame.APID) int {
	if !a.Valid() {
		return -1
	}
	return int(n.owner[a])
}

func (n *Node) ownsAPID(a frame.APID) bool {
	return a.Valid() && int(n.owner[a]) == n.self
}

// APID is the source APID of this node's calls.
func (n *Node) APID() frame.APID { return n.cfg.APID }

// Tenant is the node's tenant name.
func (n *Node) Tenant() string { return n.cfg.Tenant }

// Start connects to the switch (the switch counts a new generation of the
// tenant; through a Device, QEMU's connection already counted it), subscribes to tenant events and returns once the switch has
// acknowledged the subscription, or ctx is done.
func (n *Node) Start(ctx context.Context) error {
	if !n.started.CompareAndSwap(false, true) {
		return errors.New("switched: Start called twice")
	}
	var g *guest.Conn
	var err error
	if n.cfg.Device != "" {
		g, err = guest.OpenDevice(n.cfg.Device)
	} else {
		g, err = guest.Dial(n.cfg.Socket)
	}
	if err != nil {
		close(n.done)
		return err
	}
	n.g = g
	n.out.kick = make(chan struct{}, 1)
	n.tr.wg.Add(1)
	go n.outLoop()
	go n.bgLoop()
	var sub frame.Frame
	if err := frame.Encode(&sub, frame.Health, n.cfg.APID, sysmsg.APIDEvents, nil); err != nil {
		panic(err) // the APIDs are valid by construction
	}
	if err := n.writeFrame(&sub); err != nil {
		n.Close()
		return fmt.Errorf("switched: subscribing to events: %w", err)
	}
	select {
	case <-n.ready:
		return nil
	case <-n.done:
		return fmt.Errorf("switched: connection ended before the switch answered: %w", n.readErr)
	case <-ctx.Done():
		n.Close()
		return ctx.Err()
	}
}

// Close closes the connection: calls in flight fail with ErrClosed, servers'
// Run return. It waits for the node's background goroutine.
func (n *Node) Close() error {
	if !n.started.Load() || n.g == nil {
		return nil
	}
	err := n.g.Close()
	n.closeRole()
	<-n.done
	n.stopWatches()
	n.tr.wg.Wait()
	return err
}

// Done is closed when the node's connection has ended.
func (n *Node) Done() <-chan struct{} { return n.done }

func (n *Node) writeFrame(f *frame.Frame) error {
	n.wmu.Lock()
	err := n.g.WriteFrame(f)
	n.wmu.Unlock()
	return err
}

// callerOf is who sent from src, as the switch authenticated it.
func (n *Node) callerOf(src frame.APID) ipc.Caller {
	c := ipc.Caller{APID: uint16(src)}
	if src.Valid() {
		if i := n.owner[src]; i >= 0 {
			c.Tenant = n.pol.Tenants[i].Name
		}
	}
	return c
}

func (n *Node) server(a frame.APID) *Server { return (*n.servers.Load())[a] }

// shutdown fails every pending call once the connection ended.
func (n *Node) shutdown(cause error) {
	n.stopTracker()
	n.mu.Lock()
	n.closed = true
	n.tombs = nil
	ps := n.pending
	n.pending = map[uint32]*pending{}
	n.mu.Unlock()
	for _, p := range ps {
		p.finish(fmt.Errorf("%w: %w", ErrClosed, cause))
	}
}

func (n *Node) handle(f *frame.Frame) {
	switch {
	case f.Type() == frame.Error && f.APID() == frame.APIDSwitch:
		n.switchError(f)
		return
	case f.Type() == frame.Health && f.APID() == sysmsg.APIDEvents:
		n.eventFrame(f)
		return
	case f.Type() == frame.Health && f.APID() == sysmsg.APIDHealth && n.probeAnswer():
		return
	}
	p := f.Payload()
	if !ipcframe.IsIPC(p) {
		n.st.notIPC.Add(1)
		if n.cfg.Other != nil {
			n.cfg.Other(f)
		}
		return
	}
	n.rmu.Lock()
	res := n.rs.Add(f, n.now())
	n.rmu.Unlock()
	switch res.Key.Kind {
	case ipcframe.Request:
		n.request(&res)
	case ipcframe.Reply, ipcframe.Busy:
		n.reply(&res)
	case ipcframe.Post:
		n.post(&res)
	case ipcframe.PostRefused:
		if res.Status == ipcframe.Complete && res.Key.Dest == n.cfg.APID {
			n.st.postsWentAway.Add(1)
		}
	}
}

// post delivers a post to the server on its destination: its bits join the
// server's pending mask (Server.Run delivers them between calls). A post
// to no server is answered post refused and counted.
func (n *Node) post(res *ipcframe.Result) {
	if res.Status != ipcframe.Complete {
		return // refused by reassembly: counted there
	}
	k := res.Key
	s := n.server(k.Dest)
	if s == nil || !s.post(ipcframe.PostBits(res.Data), n.now) {
		n.st.postsUnserved.Add(1)
		n.scratch, _ = ipcframe.Append(n.scratch[:0], ipcframe.PostRefused, k.Dest, k.Src, k.ID, nil)
		n.sendScratch(k)
	}
}

// newID returns a call (or post) id: never 0.
func (n *Node) newID() uint32 {
	id := n.nextID.Add(1)
	if id == 0 {
		id = n.nextID.Add(1)
	}
	return id
}

// ErrNoBits is Post's answer to a post of no bits.
var ErrNoBits = errors.New("switched: post of no bits")

// Post posts bits to the server on dest, in another tenant or this one
// (Hubris's sys_post): the switch checks the post like any frame (source
// APID, policy), and the server receives the bits, merged with any others
// posted since, as a Posted notification between calls (Server.Run). Post
// does not wait: it returns once the frame is written. A post the switch
// refuses comes back as an ERROR, a post to an APID with no server as a
// post refused answer; both are counted (Stats.PostsRefused,
// Stats.PostsWentAway). It allocates nothing.
func (n *Node) Post(dest frame.APID, bits uint32) error {
	if bits == 0 {
		return ErrNoBits
	}
	if !n.started.Load() {
		return errors.New("switched: Post before Start")
	}
	select {
	case <-n.done:
		return fmt.Errorf("switched: post: %w", ErrClosed)
	default:
	}
	var buf [2]frame.Frame // the post, and room for a probe (writeTracked)
	fs, err := ipcframe.AppendPost(buf[:0], n.cfg.APID, dest, n.newID(), bits)
	if err != nil {
		return err
	}
	n.wmu.Lock()
	_, err = n.writeTracked(fs, nil)
	n.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("switched: post: %w: %w", ErrClosed, err)
	}
	n.st.postsSent.Add(1)
	return nil
}

// request handles a request frame's outcome: answers refusals that the
// caller must hear about, checks the server and the access rights on the
// first segment, queues complete calls.
func (n *Node) request(res *ipcframe.Result) {
	k := res.Key
	first := res.Header.Offset == 0
	switch res.Status {
	case ipcframe.Refused:
		switch res.Reason {
		case ipcframe.TooLarge:
			if first {
				n.answerFault(k, ipc.BadMessageSize)
			}
		case ipcframe.SenderLimit, ipcframe.SenderBufferLimit, ipcframe.PartialLimit, ipcframe.BufferLimit:
			n.answerBusy(k)
		}
		return
	case ipcframe.Partial:
		return
	}
	s := n.server(k.Dest)
	if s == nil || s.stopped.Load() {
		n.drop(k, res.Status)
		n.answerFault(k, ipc.WentAway)
		return
	}
	caller := n.callerOf(k.Src)
	if len(res.Data) >= 2 {
		op := binary.LittleEndian.Uint16(res.Data)
		if !s.access.Allowed(op, caller) {
			s.st.denied.Add(1)
			n.drop(k, res.Status)
			n.answerFault(k, ipc.AccessViolation)
			return
		}
	}
	if res.Status == ipcframe.Complete {
		s.enqueue(caller, k, res.Data, len(res.Data) > ipcframe.MaxData)
	}
}

func (n *Node) drop(k ipcframe.Key, st ipcframe.Status) {
	if st == ipcframe.Started {
		n.rmu.Lock()
		n.rs.Drop(k)
		n.rmu.Unlock()
	}
}

// answerFault sends a fault reply for call k from the goroutine reading
// (through the outbox: the reader never writes).
func (n *Node) answerFault(k ipcframe.Key, f ipc.Fault) {
	if int(f) < len(n.st.answered) {
		n.st.answered[f].Add(1)
	}
	var b [8]byte
	msg := ipc.AppendFault(b[:0], f)
	n.scratch, _ = ipcframe.Append(n.scratch[:0], ipcframe.Reply, k.Dest, k.Src, k.ID, msg)
	n.sendScratch(k)
}

func (n *Node) answerBusy(k ipcframe.Key) {
	n.st.busySent.Add(1)
	n.scratch, _ = ipcframe.Append(n.scratch[:0], ipcframe.Busy, k.Dest, k.Src, k.ID, nil)
	n.sendScratch(k)
}

func (n *Node) sendScratch(k ipcframe.Key) {
	n.postAnswer(n.tr.newReply(n.scratch, k.Src, k.ID))
}

// reply delivers a reply (or busy answer) to the call waiting for it.
func (n *Node) reply(res *ipcframe.Result) {
	k := res.Key
	var err error
	switch res.Status {
	case ipcframe.Started, ipcframe.Partial:
		return
	case ipcframe.Refused:
		switch res.Reason {
		case ipcframe.TooLarge, ipcframe.SenderLimit, ipcframe.SenderBufferLimit, ipcframe.PartialLimit, ipcframe.BufferLimit:
			err = fmt.Errorf("switched: reply for call %d refused: %w", k.ID, res.Reason)
		default:
			return
		}
	}
	if k.Dest != n.cfg.APID {
		n.st.stray.Add(1)
		return
	}
	n.mu.Lock()
	p := n.pending[k.ID]
	if p == nil || p.dest != k.Src {
		n.mu.Unlock()
		n.st.stray.Add(1)
		return
	}
	delete(n.pending, k.ID)
	if p.seq > n.replied {
		n.replied = p.seq // everything written before p was processed
	}
	n.mu.Unlock()
	n.st.replies.Add(1)
	if n.rd.holder == waiter(p) {
		n.st.selfRead.Add(1) // the caller reads its own reply: no hand-off
	}
	if err == nil && k.Kind == ipcframe.Busy {
		err = ErrServerBusy
	}
	if err == nil {
		if len(res.Data) > ipcframe.MaxData {
			p.data = res.Data // reassembled: the reassembler gave it away
		} else {
			p.buf = append(p.buf[:0], res.Data...) // aliases the read buffer
			p.data = p.buf
		}
	}
	p.finish(err)
}

// switchError handles an ERROR frame from the switch about one of this
// node's frames. An ERROR names the refused frame's type, source APID and
// payload length, not its call: a refused reply is found among the replies
// kept unconfirmed (replyRefused), a refused request fails the oldest call
// in flight (write order) with a frame of that length not yet known to be
// taken (see callRefused).
func (n *Node) switchError(f *frame.Frame) {
	n.st.errorsIn.Add(1)
	ep, err := frame.ParseErrorPayload(f.Payload())
	if err != nil {
		return
	}
	switch {
	case frame.Type(ep.OffendingType) == frame.TM:
		n.st.repliesRefused.Add(1)
		n.replyRefused(ep.Code, frame.APID(ep.OffendingAPID), ep.OffendingPayLen)
	case frame.Type(ep.OffendingType) == frame.TC && frame.APID(ep.OffendingAPID) == n.cfg.APID &&
		ep.OffendingPayLen == ipcframe.PostPayloadLen:
		n.st.postsRefused[ep.Code&0xF].Add(1) // a post: no request is that short
	case frame.Type(ep.OffendingType) == frame.TC && frame.APID(ep.OffendingAPID) == n.cfg.APID:
		n.callRefused(ep.Code, ep.OffendingPayLen)
	}
}

// eventFrame handles a HEALTH frame from APIDEvents: the acknowledgement
// of the subscription (first byte sysmsg.SubscribeAckKind) or an event
// (first byte its EventKind).
func (n *Node) eventFrame(f *frame.Frame) {
	p := f.Payload()
	if sysmsg.PayloadKind(p) == sysmsg.SubscribeAckKind {
		a, err := sysmsg.ParseSubscribeAck(p)
		if err != nil {
			n.log.Warn("bad event acknowledgement", "err", err)
			return
		}
		n.mu.Lock()
		for _, t := range a.Tenants {
			if t.FirstAPID.Valid() {
				if i := n.owner[t.FirstAPID]; i >= 0 && t.Generation >= n.tenants[i].gen {
					n.tenants[i] = tenantState{gen: t.Generation, connected: t.Connected}
				}
			}
		}
		n.mu.Unlock()
		select {
		case <-n.ready:
		default:
			close(n.ready)
		}
		return
	}
	e, err := sysmsg.ParseEventNotice(p)
	if err != nil {
		n.log.Warn("bad event", "err", err)
		return
	}
	n.st.events.Add(1)
	ti, ok := n.pol.Index(e.Tenant)
	if !ok {
		return
	}
	gen := e.Generation
	var dead []*pending
	n.mu.Lock()
	n.log.Debug("tenant event", "kind", e.Kind, "of", e.Tenant, "generation", e.Generation, "pending", len(n.pending))
	// Generations only grow. An event older than what the node knows, or
	// a connection of the generation it already knows (connected, or gone
	// since), arrived late: the switch announces a connection from its
	// accept goroutine, which can run after the connection's traffic (and
	// even its end) reached us. Acting on it would kill calls bound to a
	// newer generation.
	ts := n.tenants[ti]
	if gen < ts.gen || (gen == ts.gen && (e.Kind != sysmsg.Disconnected || !ts.connected)) {
		n.mu.Unlock()
		n.st.staleEvents.Add(1)
		return
	}
	n.tenants[ti] = tenantState{gen: gen, connected: e.Kind != sysmsg.Disconnected}
	for id, p := range n.pending {
		if p.tenant != ti {
			continue
		}
		if (e.Kind == sysmsg.Disconnected && gen == p.bound) || (e.Kind != sysmsg.Disconnected && gen != p.bound) {
			delete(n.pending, id)
			dead = append(dead, p)
		}
	}
	n.mu.Unlock()
	for _, p := range dead {
		p.finish(ipc.ServerDeath)
	}
	if e.Kind != sysmsg.Connected && ti != n.self {
		n.rmu.Lock()
		n.rs.DropPeer(func(a frame.APID) bool { return n.tenantOf(a) == ti })
		n.rmu.Unlock()
	}
	for _, s := range *n.servers.Load() {
		s.notify(Notification{Kind: TenantEvent, Event: e, At: n.now()})
	}
}

// Stats is a snapshot of a node's counters.
type Stats struct {
	Calls          uint64 // calls sent
	Replies        uint64 // replies matched to a call
	Stray          uint64 // replies for no call in flight (late, after a deadline or a restart)
	NotIPC         uint64 // frames without the IPC magic
	Events         uint64 // tenant events received
	StaleEvents    uint64 // of which late ones, ignored (an older generation)
	ErrorsIn       uint64 // ERROR frames from the switch
	RepliesRefused uint64 // of which refusals of this node's replies
	// RepliesRetried counts replies sent again after Host_busy (the
	// caller's queue was full).
	RepliesRetried uint64
	// RepliesDropped counts replies given up: refused for good
	// (Not_permitted, No_route, ...) or still Host_busy after
	// Config.ReplyRetries retries, or still waiting when the node closed.
	RepliesDropped uint64
	// RepliesUnconfirmed counts replies forgotten before an ERROR about
	// them could be ruled out (more than 4096 frames kept, or congested).
	RepliesUnconfirmed uint64
	// RefusedUnmatched counts ERRORs about this node's frames that matched
	// no call and no reply kept.
	RefusedUnmatched uint64
	Probes           uint64 // probes sent (HEALTH frames to sysmsg.APIDHealth), only after ERRORs
	// SelfRead counts the replies read by their caller itself (it held
	// the reader role), which no goroutine had to hand over.
	SelfRead uint64
	// Handovers counts the times the reader role went to a waiting
	// goroutine (a caller or a server loop).
	Handovers uint64
	BusySent  uint64 // busy answers sent
	// PostsSent counts posts written (Post); PostsRefused, by ERROR code,
	// those the switch refused (Not_permitted: the policy does not let
	// this tenant send to the destination); PostsWentAway those answered
	// post refused (no server on the destination APID).
	PostsSent     uint64
	PostsRefused  map[frame.ErrorCode]uint64
	PostsWentAway uint64
	// PostsUnserved counts posts that came for an APID where no server
	// runs (answered post refused).
	PostsUnserved uint64
	// FaultsSent counts the fault answers the runtime sent itself (before
	// any server saw the call), by fault.
	FaultsSent map[ipc.Fault]uint64
	Reassembly ipcframe.Stats
}

// Stats returns a snapshot of the node's counters.
func (n *Node) Stats() Stats {
	s := Stats{
		Calls: n.st.calls.Load(), Replies: n.st.replies.Load(), Stray: n.st.stray.Load(),
		NotIPC: n.st.notIPC.Load(), Events: n.st.events.Load(), StaleEvents: n.st.staleEvents.Load(), ErrorsIn: n.st.errorsIn.Load(),
		RepliesRefused: n.st.repliesRefused.Load(), BusySent: n.st.busySent.Load(),
		RepliesRetried: n.st.repliesRetried.Load(), RepliesDropped: n.st.repliesDropped.Load(),
		RepliesUnconfirmed: n.st.repliesUnconfirmed.Load(), RefusedUnmatched: n.st.refusedUnmatched.Load(),
		Probes: n.st.probes.Load(), SelfRead: n.st.selfRead.Load(), Handovers: n.st.handovers.Load(),
		FaultsSent: map[ipc.Fault]uint64{}, PostsRefused: map[frame.ErrorCode]uint64{},
		PostsSent: n.st.postsSent.Load(), PostsWentAway: n.st.postsWentAway.Load(), PostsUnserved: n.st.postsUnserved.Load(),
	}
	for i := range n.st.postsRefused {
		if v := n.st.postsRefused[i].Load(); v != 0 {
			s.PostsRefused[frame.ErrorCode(i)] = v
		}
	}
	for i := range n.st.answered {
		if v := n.st.answered[i].Load(); v != 0 {
			s.FaultsSent[ipc.Fault(i)] = v
		}
	}
	n.rmu.Lock()
	s.Reassembly = n.rs.Stats()
	n.rmu.Unlock()
	return s
}

// TenantConnected reports what the node last heard of a tenant: its
// generation (low 32 bits) and whether it is connected.
func (n *Node) TenantConnected(name string) (gen uint32, connected bool, ok bool) {
	i, ok := n.pol.Index(name)
	if !ok {
		return 0, false, false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.tenants[i].gen, n.tenants[i].connected, true
}
