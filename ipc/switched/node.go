// Package switched carries typed Idol calls (package ipc) between tenants
// through the APID switch, as docs/ipc.md describes: a Node is one
// tenant's connection to the switch; a Client, made by Node.Client, is an
// ipc.Transport calling a server APID; a Server, made by Node.Serve, serves
// an ipc.Handler (InOrder) or a pipelined handler on one of the tenant's
// own APIDs. It is guest code: it talks to the switch through package
// guest and reads its system messages with package sysmsg, never importing
// the switch itself.
//
// Requests are TC frames and replies TM frames, each starting with the IPC
// sub-header of package ipcframe, so the switch authenticates the source
// APID of every call and enforces the policy on it. The caller's identity
// given to servers (ipc.Caller) is the tenant owning the request's source
// APID, which the switch checked.
//
// The files follow the two directions of the connection:
//
//   - send.go: what the node writes. Every message is one write, from the
//     goroutine that has it (a caller, a server, a poster), under no lock
//     of the node's; the reader never writes: the answers it makes itself
//     go through the outbox goroutine. Replies are kept a while so that
//     one the switch refused Host_busy can be sent again.
//   - receive.go: what the node reads: replies delivered to their calls,
//     requests queued for their servers, posts, tenant events, and the
//     switch's ERRORs, each of which names the refused frame's IPC
//     sub-header (its echo, spec apid-plane.md section 2), so the call or
//     reply it refuses is found by id.
//   - role.go: who reads the socket. One goroutine at a time: a caller
//     waiting for its reply, an idle server loop, or the node's background
//     goroutine when nobody else does (leader/follower), so that a lone
//     caller reads its own reply and an idle server loop reads its own
//     calls: no frame is handed from one goroutine to another on the
//     common path.
//   - client.go (calls) and server.go (serving) on top.
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
// Package switched does not marshal messages (package ipc does), does not
// segment them (package ipcframe does) and does not route frames (the
// switch does).
package switched

import (
	"context"
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
//
// Its locks, each held for a few field updates and never across a system
// call (writes take none; reads hold none):
//
//   - mu: the calls in flight, what the node knows of each tenant, closed,
//     and (to register one) servers;
//   - kept.mu: the replies kept for a retry (send.go);
//   - reader.mu: the reader role and the callers' context watches (role.go);
//   - reassemblyMu: the reassembler, which the reader role's holder uses and
//     Stats reads.
type Node struct {
	cfg   Config
	log   *slog.Logger
	pol   *policy.Policy
	self  int                   // the node's tenant, an index in pol.Tenants
	owner [frame.NumAPIDs]int16 // APID -> tenant index, -1 for none
	now   func() time.Time

	conn    *guest.Conn
	started atomic.Bool
	ready   chan struct{} // closed when the event subscription is acknowledged
	done    chan struct{} // closed when the connection has ended (read failed)
	readErr error         // why it ended, set before done closes
	nextID  atomic.Uint32 // the last call (or post) id taken

	mu      sync.Mutex
	calls   map[uint32]*pending // calls in flight, by id
	tenants []tenantState       // by index in pol.Tenants
	closed  bool
	servers atomic.Pointer[map[frame.APID]*Server] // replaced whole, under mu

	reassemblyMu sync.Mutex
	reassembler  *ipcframe.Reassembler

	kept    keptReplies     // send.go
	answers chan *sentReply // the reader's answers, for the outbox goroutine (send.go)
	scratch []frame.Frame   // the reader role holder's frames for an answer it makes
	reader  readerRole      // role.go
	stats   nodeStats
	// callStats counts calls by outcome and their latency (callstats.go).
	callStats callStats
}

type nodeStats struct {
	calls, replies, stray, notIPC, events              atomic.Uint64
	answered                                           [16]atomic.Uint64 // runtime answers by fault
	errorsIn, repliesRefused, staleEvents              atomic.Uint64
	repliesRetried, repliesDropped, repliesUnconfirmed atomic.Uint64
	refusedUnmatched                                   atomic.Uint64
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
		calls:   make(map[uint32]*pending),
		tenants: make([]tenantState, len(cfg.Policy.Tenants)),
		answers: make(chan *sentReply, maxOutbox),
	}
	if (cfg.Socket == "") == (cfg.Device == "") {
		return nil, errors.New("switched: Config: give one of Socket and Device")
	}
	self, ok := n.pol.Index(cfg.Tenant)
	if !ok {
		return nil, fmt.Errorf("switched: tenant %q is not in policy %s", cfg.Tenant, n.pol.Source)
	}
	n.self = self
	n.mapOwners()
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
	n.reassembler = ipcframe.NewReassembler(lim)
	n.kept.retrying = make(map[*sentReply]struct{})
	n.reader.init(n)
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

// mapOwners fills owner from the policy: the first tenant owning an APID
// owns it.
func (n *Node) mapOwners() {
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
// tenant; through a Device, QEMU's connection already counted it),
// subscribes to tenant events and returns once the switch has acknowledged
// the subscription, or ctx is done.
func (n *Node) Start(ctx context.Context) error {
	if !n.started.CompareAndSwap(false, true) {
		return errors.New("switched: Start called twice")
	}
	var conn *guest.Conn
	var err error
	if n.cfg.Device != "" {
		conn, err = guest.OpenDevice(n.cfg.Device)
	} else {
		conn, err = guest.Dial(n.cfg.Socket)
	}
	if err != nil {
		close(n.done)
		return err
	}
	n.conn = conn
	n.kept.timers.Add(1)
	go n.outLoop()
	go n.bgLoop()
	var sub frame.Frame
	if err := frame.Encode(&sub, frame.Health, n.cfg.APID, sysmsg.APIDEvents, nil); err != nil {
		panic(err) // the APIDs are valid by construction
	}
	if err := n.conn.WriteFrame(&sub); err != nil {
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
// Run return. It waits for the node's goroutines.
func (n *Node) Close() error {
	if !n.started.Load() || n.conn == nil {
		return nil
	}
	err := n.conn.Close()
	n.closeRole()
	<-n.done
	n.stopWatches()
	n.kept.timers.Wait()
	return err
}

// Done is closed when the node's connection has ended.
func (n *Node) Done() <-chan struct{} { return n.done }

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

// newID returns a call (or post) id: never 0.
func (n *Node) newID() uint32 {
	id := n.nextID.Add(1)
	if id == 0 {
		id = n.nextID.Add(1)
	}
	return id
}

// shutdown fails every call in flight once the connection ended.
func (n *Node) shutdown(cause error) {
	n.stopRetries()
	n.mu.Lock()
	n.closed = true
	calls := n.calls
	n.calls = map[uint32]*pending{}
	n.mu.Unlock()
	for _, p := range calls {
		p.finish(fmt.Errorf("%w: %w", ErrClosed, cause))
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
	// RepliesUnconfirmed counts replies forgotten within keepReplies of
	// their write, before an ERROR about them could have come: more than
	// maxKeptReplyFrames frames were kept (send.go).
	RepliesUnconfirmed uint64
	// RefusedUnmatched counts ERRORs about this node's frames that named
	// no call in flight and no reply kept (the call had ended, the reply
	// was forgotten, the frame was not IPC, or the ERROR had no echo).
	RefusedUnmatched uint64
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
	// CallOutcomes counts the calls this node's clients made, each once
	// when Call returned, by how it ended (indexed by Outcome); their sum
	// is Latency.Count(). A call the switch refused is OutcomeRefused
	// (not the AccessViolation or WentAway its caller sees), counted by
	// ERROR code in CallsRefused.
	CallOutcomes [NumOutcomes]uint64
	CallsRefused [16]uint64 // by frame.ErrorCode
	// Latency is the histogram of those calls' durations.
	Latency Latency
	// Answers counts what this node answered to the calls it received
	// (its servers and its runtime), by Outcome: OutcomeOK for a reply,
	// a fault's outcome, OutcomeBusy.
	Answers    [NumOutcomes]uint64
	Reassembly ipcframe.Stats
}

// Stats returns a snapshot of the node's counters.
func (n *Node) Stats() Stats {
	st := &n.stats
	s := Stats{
		Calls: st.calls.Load(), Replies: st.replies.Load(), Stray: st.stray.Load(),
		NotIPC: st.notIPC.Load(), Events: st.events.Load(), StaleEvents: st.staleEvents.Load(), ErrorsIn: st.errorsIn.Load(),
		RepliesRefused: st.repliesRefused.Load(),
		RepliesRetried: st.repliesRetried.Load(), RepliesDropped: st.repliesDropped.Load(),
		RepliesUnconfirmed: st.repliesUnconfirmed.Load(), RefusedUnmatched: st.refusedUnmatched.Load(),
		SelfRead: st.selfRead.Load(), Handovers: st.handovers.Load(),
		FaultsSent: map[ipc.Fault]uint64{}, PostsRefused: map[frame.ErrorCode]uint64{},
		PostsSent: st.postsSent.Load(), PostsWentAway: st.postsWentAway.Load(), PostsUnserved: st.postsUnserved.Load(),
	}
	for i := range st.postsRefused {
		if v := st.postsRefused[i].Load(); v != 0 {
			s.PostsRefused[frame.ErrorCode(i)] = v
		}
	}
	for i := range st.answered {
		if v := st.answered[i].Load(); v != 0 {
			s.FaultsSent[ipc.Fault(i)] = v
		}
	}
	n.callStats.snapshot(&s)
	s.BusySent = s.Answers[OutcomeBusy] // counted once, as an answer
	n.reassemblyMu.Lock()
	s.Reassembly = n.reassembler.Stats()
	n.reassemblyMu.Unlock()
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
