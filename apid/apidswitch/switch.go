package apidswitch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"spacenet/apid/ccsds"
	"spacenet/apid/frame"
	"spacenet/apid/policy"
	"spacenet/apid/router"
	"spacenet/apid/sysmsg"
	"spacenet/internal/logging"
)

// Switch is the APID switch. Build it with New, start it with Run.
type Switch struct {
	cfg   Config
	log   *slog.Logger // writes through logs: never blocks the caller
	start time.Time
	ready chan struct{} // closed when Run listens on every socket
	quit  chan struct{} // closed when Run starts to stop

	logs     *logging.Async   // Config.Logger's handler behind a bounded buffer
	ownLogs  bool             // the switch starts and closes logs
	logLimit *logging.Limiter // thins the per-frame lines

	state atomic.Pointer[state]
	taps  tapSet // monitors' copies of the frames: tap.go

	mu      sync.Mutex // guards byName, removed, running, the listeners and Reload
	byName  map[string]*tenant
	removed map[string]*tenant // tenants a reload removed, kept for their counters
	running bool
	stopped bool
	wg      sync.WaitGroup

	ground      stats // frames injected from the ground (Inject, downlink)
	systemOther atomic.Uint64
	changes     atomic.Uint64 // tenant events so far: see reader.sysChanges

	// eventOrder is held from a change of a tenant's connection to the end
	// of its event, so that subscribers and OnEvent see the events in the
	// order the changes happened: never a guest's "disconnected" after
	// its successor's "connected".
	eventOrder       sync.Mutex
	downlinkMu       sync.Mutex
	downlinkSeq      ccsds.Counter
	downlinkPkt      [ccsds.MaxLayoutPacketSize]byte
	downlinkFailures atomic.Uint64
	// downlinkRefusedUnknown counts refusals of the ground DownlinkRefused
	// could not attribute.
	downlinkRefusedUnknown atomic.Uint64

	rmt remoteSide // remotes: see remote.go
}

// state is one policy compiled: swapped whole by Reload, read by every
// reader once per batch.
type state struct {
	pol     *policy.Policy
	table   *router.Table
	tenants []*tenant       // by policy index
	index   map[*tenant]int // the reverse
	flow    []policy.Flow   // by policy index: each tenant's flow control and rate limit
	gone    []*tenant       // tenants removed by reloads, by name: their counters stay reported
	remotes []*remote       // by index in pol.Remotes
}

// tenant is one guest: its listener, its current connection, its queue and
// its counters. It survives Reload as long as the new policy keeps its name.
type tenant struct {
	sw    *Switch
	name  string
	path  string
	st    stats
	notes notices
	q     *queue

	mu      sync.Mutex
	ln      *listener
	conn    *conn
	gen     uint64
	removed bool
}

// New checks cfg, compiles its policy and returns a switch that is not yet
// listening.
func New(cfg Config) (*Switch, error) {
	c := cfg.withDefaults()
	if c.Downlink != nil && c.DownlinkFrames != nil {
		return nil, errors.New("apidswitch: Config.Downlink and Config.DownlinkFrames are both set; give the ground link one of them")
	}
	if c.Layout > ccsds.Spacenet {
		return nil, fmt.Errorf("apidswitch: Config.Layout %v: want ccsds.Plain, CFS or Spacenet", c.Layout)
	}
	if c.DirMode&0o022 != 0 {
		return nil, fmt.Errorf("apidswitch: DirMode %#o: group or others could replace the sockets; at most 0755", c.DirMode)
	}
	log, logs, own := logging.Wrap(c.Logger, 0)
	s := &Switch{
		cfg:      c,
		log:      log,
		logs:     logs,
		ownLogs:  own,
		logLimit: logging.NewLimiter(logging.LimitConfig{}),
		start:    time.Now(),
		ready:    make(chan struct{}),
		quit:     make(chan struct{}),
		byName:   make(map[string]*tenant),
		removed:  make(map[string]*tenant),
	}
	st, _, err := s.compile(c.Policy)
	if err != nil {
		return nil, err
	}
	s.state.Store(st)
	return s, nil
}

// compile builds the state of p, reusing the tenants s already has by name,
// and those a reload removed whose name p brings back. It returns the
// tenants that need a socket: created, or brought back.
func (s *Switch) compile(p *policy.Policy) (*state, []*tenant, error) {
	tab, err := router.Compile(p, s.cfg.hasDownlink())
	if err != nil {
		return nil, nil, fmt.Errorf("apidswitch: policy %s: %w", p.Source, err)
	}
	if len(p.Tenants) > 1<<15 {
		return nil, nil, fmt.Errorf("apidswitch: policy %s has %d tenants", p.Source, len(p.Tenants))
	}
	st := &state{pol: p, table: tab, index: make(map[*tenant]int, len(p.Tenants))}
	s.remoteState(st)
	var created []*tenant
	for i, pt := range p.Tenants {
		t := s.byName[pt.Name]
		if t == nil && s.removed[pt.Name] != nil {
			t = s.removed[pt.Name]
			created = append(created, t)
		}
		if t == nil {
			t = &tenant{
				sw:   s,
				name: pt.Name,
				path: filepath.Join(s.cfg.SocketDir, pt.Name+".sock"),
				q:    newQueue(s.cfg.QueueLen),
			}
			t.q.owner = t
			created = append(created, t)
		}
		st.tenants = append(st.tenants, t)
		st.index[t] = i
		st.flow = append(st.flow, pt.Flow)
	}
	return st, created, nil
}

// Ready is closed once Run listens on every tenant's socket.
func (s *Switch) Ready() <-chan struct{} { return s.ready }

// SocketPath returns the socket of the tenant called name.
func (s *Switch) SocketPath(name string) string {
	return filepath.Join(s.cfg.SocketDir, name+".sock")
}

// Policy returns the policy in force.
func (s *Switch) Policy() *policy.Policy { return s.state.Load().pol }

// Run checks or creates the socket directory and takes its lock (see
// prepareSocketDir: a directory others could change, or one another switch
// holds, is refused), listens on every tenant's socket and serves until ctx
// is done. It then closes every listener and connection, removes the socket
// files that are still its own, waits for every goroutine it started,
// releases the lock and returns nil. Frames still queued stay counted as
// queued. A Switch runs once.
func (s *Switch) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running || s.stopped {
		s.mu.Unlock()
		return errors.New("apidswitch: Run called twice")
	}
	lock, err := prepareSocketDir(s.cfg.SocketDir, s.cfg.DirMode)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	defer lock.release()
	st := s.state.Load()
	for i, t := range st.tenants {
		if err := s.listen(t); err != nil {
			for _, u := range st.tenants[:i] {
				u.closeListener()
			}
			s.stopped = true
			s.mu.Unlock()
			s.wg.Wait() // the accept loops already started
			return err
		}
	}
	for _, t := range st.tenants {
		s.byName[t.name] = t
	}
	s.running = true
	s.mu.Unlock()
	if s.ownLogs {
		s.logs.Start()
		defer s.logs.CloseWithin(logFlushTimeout)
	}
	stopWatch := s.watchSockets()
	s.log.Info("switch listening", "socket_dir", s.cfg.SocketDir, "tenants", len(st.tenants), "policy", st.pol.Source, "ground_link", s.cfg.hasDownlink())
	close(s.ready)

	<-ctx.Done()
	close(s.quit)
	stopWatch()

	s.mu.Lock()
	s.running = false
	s.stopped = true
	for _, t := range s.byName {
		t.closeListener()
		t.mu.Lock()
		c := t.conn
		t.mu.Unlock()
		if c != nil {
			c.close()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
	queued := 0
	for _, t := range s.state.Load().tenants {
		queued += t.q.len()
	}
	s.log.Info("switch stopped", "socket_dir", s.cfg.SocketDir, "frames_left_queued", queued)
	return nil
}

// logFlushTimeout bounds how long Run waits, as it stops, for its logs to
// be written: a log writer nobody drains must not hold up the stop.
const logFlushTimeout = time.Second

// The kinds of the switch's per-frame log lines, thinned per tenant and kind
// by Switch.logLimit.
const (
	logSystemUnhandled logging.Reason = iota + 1
	logDownlinkRefused
	logAcceptFailed
	logResync
)

// listen opens t's socket and starts its accept loop. s.mu is held.
func (s *Switch) listen(t *tenant) error {
	ln, err := listenUnix(t.path, s.cfg.SockMode)
	if err != nil {
		return fmt.Errorf("apidswitch: tenant %s: %w", t.name, err)
	}
	t.mu.Lock()
	t.ln = ln
	t.mu.Unlock()
	s.wg.Add(1)
	go s.acceptLoop(t, ln)
	return nil
}

func (t *tenant) closeListener() {
	t.mu.Lock()
	ln := t.ln
	t.ln = nil
	t.mu.Unlock()
	if ln == nil {
		return
	}
	if err := ln.Close(); err != nil { // removes the socket file if still ours
		t.sw.log.Error("socket file not removed", "tenant", t.name, "err", err)
	}
}

func (s *Switch) acceptLoop(t *tenant, ln *listener) {
	defer s.wg.Done()
	backoff := 5 * time.Millisecond
	var conns bucket // connection churn: see acceptRate
	for {
		for !conns.take(time.Now(), acceptRate, acceptBurst) {
			select {
			case <-time.After(conns.wait(acceptRate)):
			case <-s.quit:
				return
			}
		}
		uc, err := ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and friends: keep serving the others, retry later.
			if k, ok := s.logLimit.Allow(t.name, logAcceptFailed); ok {
				s.log.Warn("accept failed", "tenant", t.name, "err", err, "suppressed", k)
			}
			select {
			case <-time.After(backoff):
			case <-s.quit:
				return
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		s.attach(t, uc)
	}
}

// acceptRate and acceptBurst limit how fast a tenant's connections are
// accepted: acceptBurst at once, then acceptRate a second. A guest connects
// once per start; one that reconnects faster (issue 14's churn attack:
// 10,000 connects a second cost the switch 270 MB of garbage to collect and
// the other tenants' round trips 86 ms at p99) waits in its own socket's
// listen backlog, and its connects there block or fail (EAGAIN). Each tenant
// has its own accept loop, so nobody else waits.
const (
	acceptRate  = 128
	acceptBurst = 128
)

// attach makes uc the tenant's connection, replacing (and closing) any
// previous one, and starts its reader and writer.
func (s *Switch) attach(t *tenant, uc *net.UnixConn) {
	raw, err := uc.SyscallConn()
	if err != nil {
		s.log.Warn("accepted connection unusable", "tenant", t.name, "err", err)
		uc.Close()
		return
	}
	c := &conn{
		sw:         s,
		t:          t,
		uc:         uc,
		raw:        raw,
		done:       make(chan struct{}),
		closed:     make(chan struct{}),
		finish:     make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	c.directFn = c.writeDirectFd
	c.outqFn = c.readOutq
	s.lockEvents()
	defer s.eventOrder.Unlock()
	s.mu.Lock()
	t.mu.Lock()
	if !s.running || t.removed {
		t.mu.Unlock()
		s.mu.Unlock()
		uc.Close()
		return
	}
	old := t.conn
	t.gen++
	c.gen = t.gen
	t.conn = c
	t.mu.Unlock()
	s.wg.Add(2)
	s.mu.Unlock()
	kind := sysmsg.Connected
	if old != nil {
		kind = sysmsg.Replaced
		old.retire()
	}
	// Announce before the reader starts: otherwise a guest that connects and
	// goes away at once could be reported disconnected before connected.
	s.log.Info("tenant "+kind.String(), "tenant", t.name, "generation", c.gen)
	s.event(Event{Kind: kind, Tenant: t.name, Generation: c.gen})
	go c.writeLoop(old)
	go c.readLoop()
	if h := testHooks.Load(); h != nil {
		h.attached(s, t.name)
	}
}

// lockEvents takes eventOrder (telling a test hook when it must wait).
func (s *Switch) lockEvents() {
	if s.eventOrder.TryLock() {
		return
	}
	if h := testHooks.Load(); h != nil {
		h.eventsBusy(s)
	}
	s.eventOrder.Lock()
}

// eventHooks are test hooks: a connection went away and its event is
// about to be sent (detached), a connection was attached and announced
// (attached), a change waits for an earlier change's event (eventsBusy).
type eventHooks struct {
	detached, attached func(s *Switch, tenant string)
	eventsBusy         func(s *Switch)
}

// testHooks is nil outside tests.
var testHooks atomic.Pointer[eventHooks]

// detach is called by c's reader when it ends.
func (s *Switch) detach(c *conn) {
	t := c.t
	s.lockEvents()
	defer s.eventOrder.Unlock()
	t.mu.Lock()
	gone := t.conn == c
	if gone {
		t.conn = nil
	}
	gen := t.gen
	t.mu.Unlock()
	if h := testHooks.Load(); gone && h != nil {
		h.detached(s, t.name)
	}
	if gone {
		s.log.Info("tenant disconnected", "tenant", t.name, "generation", gen)
		s.event(Event{Kind: sysmsg.Disconnected, Tenant: t.name, Generation: gen})
	}
}

// Reload swaps in policy p without dropping connections: tenants that keep
// their name keep their connection, queue, generation and counters; new
// tenants get a socket; tenants p no longer has lose theirs, and the frames
// waiting for them are counted as dropped with No_route. A removed tenant's
// counters are kept: Counters reports them (Removed set) after the tenants
// in force, and a later policy that brings the name back gives the tenant
// its counters and generation again, so that its earlier frames stay
// accounted for and its generations only grow. A p that does not compile
// is refused and the old policy stays.
func (s *Switch) Reload(p *policy.Policy) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("apidswitch: Reload after stop")
	}
	st, created, err := s.compile(p)
	if err != nil {
		return err
	}
	var back []*tenant // removed earlier, in p again
	for _, t := range created {
		if s.removed[t.name] == t {
			back = append(back, t)
			t.setRemoved(false) // its socket may take connections
		}
	}
	if s.running {
		for i, t := range created {
			if err := s.listen(t); err != nil {
				for _, u := range created[:i] {
					u.closeListener()
				}
				for _, u := range back {
					u.setRemoved(true)
				}
				return err
			}
		}
	}
	var removed []*tenant
	for name, t := range s.byName {
		if _, ok := st.index[t]; !ok {
			removed = append(removed, t)
			delete(s.byName, name)
			s.removed[name] = t
		}
	}
	for _, t := range st.tenants {
		s.byName[t.name] = t
	}
	for _, t := range back {
		delete(s.removed, t.name)
		t.q.reopen()
	}
	for _, t := range s.removed {
		st.gone = append(st.gone, t)
	}
	slices.SortFunc(st.gone, func(a, b *tenant) int { return strings.Compare(a.name, b.name) })
	s.state.Store(st)
	for _, t := range removed {
		t.setRemoved(true)
		t.closeListener()
		for _, from := range t.q.drain() {
			if from == nil {
				t.notes.lost.Add(1)
				continue
			}
			from.mu.Lock()
			from.queued--
			from.dropped[frame.NoRoute]++
			from.mu.Unlock()
		}
	}
	s.log.Info("policy reloaded", "policy", p.Source, "tenants", len(st.tenants), "added", len(created)-len(back), "back", len(back), "removed", len(removed))
	return nil
}

// setRemoved marks t removed (its socket takes no connection, and the one
// it has is closed) or not.
func (t *tenant) setRemoved(removed bool) {
	t.mu.Lock()
	t.removed = removed
	c := t.conn
	t.mu.Unlock()
	if removed && c != nil {
		c.close()
	}
}

// Inject delivers f from the ground to the tenant owning its destination
// APID, as the downlink does (router.Table.RouteFromGround decides). The
// ground is a sender like a tenant: f's source APID must be one the policy
// gives the ground (policy.Policy.GroundOwns, 0x7F0 by default), so that
// the ground can pose neither as a tenant nor as the switch (0x000-0x00F:
// no forged ERROR, HEALTH reply or event reaches a tenant), and it reaches
// only the tenants in its can_send_to. It returns nil once f is queued (or,
// for a system APID, handed to Config.System as tenant "ground"), or the
// frame.ErrorCode it was dropped with, counted in Ground: the frame's own
// decode failure, Apid_not_allocated for a source that is not the
// ground's, Not_permitted for a tenant outside the ground's can_send_to,
// No_route when no tenant owns the destination, Host_busy when the
// tenant's queue is full.
func (s *Switch) Inject(f *frame.Frame) error {
	s.tapFrames(GroundPeer, false, f[:])
	st := s.state.Load()
	g := &s.ground
	g.mu.Lock()
	g.received++
	d := st.table.RouteFromGround(f.Header())
	var dst *tenant
	code := d.Code
	switch d.Action {
	case router.Local:
		dst = st.tenants[d.Tenant]
		switch dst.q.push(f, g) {
		case pushed:
			g.queued++
			g.countTo(dst, 1)
		case pushFull:
			code = frame.HostBusy
		case pushClosed:
			code = frame.NoRoute
		}
	case router.System:
		g.deliveredSystem++
		g.mu.Unlock()
		s.systemFrom("ground", f)
		return nil
	default:
		if !code.Known() {
			code = frame.NoRoute
		}
	}
	if code != 0 {
		g.dropped[code]++
	}
	g.mu.Unlock()
	if code != 0 {
		s.logRefused(GroundPeer, code, f)
		return code
	}
	dst.q.signal()
	return nil
}

// Ground returns the counters of the frames injected from the ground.
func (s *Switch) Ground() Counters {
	c := Counters{Tenant: "ground"}
	s.ground.snapshot(&c)
	return c
}

// Counters returns a snapshot of every tenant's counters, in the order of
// the policy in force, then those of the tenants reloads removed (Removed
// set), by name. Each tenant's snapshot is consistent on its own.
func (s *Switch) Counters() []Counters {
	st := s.state.Load()
	out := make([]Counters, len(st.tenants)+len(st.gone))
	for i, t := range st.tenants {
		t.counters(&out[i])
	}
	for i, t := range st.gone {
		c := &out[len(st.tenants)+i]
		t.counters(c)
		c.Removed = true
	}
	return out
}

func (t *tenant) counters(c *Counters) {
	c.Tenant = t.name
	t.mu.Lock()
	c.Generation = t.gen
	c.Connected = t.conn != nil
	t.mu.Unlock()
	t.st.snapshot(c)
	t.notes.snapshot(c)
	c.QueueLen = t.q.len()
}

// SystemUnhandled is how many system frames no handler took (logged).
func (s *Switch) SystemUnhandled() uint64 { return s.systemOther.Load() }

// LogsDropped is how many log records were dropped because the log writer
// was behind (the switch's log buffer was full) or the switch had stopped.
func (s *Switch) LogsDropped() uint64 { return s.logs.Dropped() }

// DownlinkFailures is how many packets (or frames, with Config.DownlinkFrames)
// the ground link refused.
func (s *Switch) DownlinkFailures() uint64 { return s.downlinkFailures.Load() }

// TenantInfo is a tenant's connection state.
type TenantInfo struct {
	Name       string
	Socket     string
	Generation uint64 // connections accepted so far; changes when the guest restarts
	Connected  bool
}

// Tenants returns the connection state of every tenant, in policy order.
func (s *Switch) Tenants() []TenantInfo {
	st := s.state.Load()
	out := make([]TenantInfo, len(st.tenants))
	for i, t := range st.tenants {
		t.mu.Lock()
		out[i] = TenantInfo{Name: t.name, Socket: t.path, Generation: t.gen, Connected: t.conn != nil}
		t.mu.Unlock()
	}
	return out
}

// Uptime is how long ago New built the switch.
func (s *Switch) Uptime() time.Duration { return time.Since(s.start) }

// SocketDir is the directory of the tenants' sockets.
func (s *Switch) SocketDir() string { return s.cfg.SocketDir }

// GroundAPID is the source APID of the commands the ground sends in the
// ccsds.Plain and ccsds.CFS layouts (which carry none): the first APID the
// policy in force gives the ground.
func (s *Switch) GroundAPID() frame.APID {
	return s.state.Load().pol.GroundOwns()[0].First
}
