package lan

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"spacenet/internal/logging"
	"spacenet/ip/nic"
	"spacenet/ip/wire"
)

// Defaults for Options fields left zero.
const (
	DefaultAgeing       = 300 * time.Second
	DefaultMACTableSize = 4096
	DefaultQueueDepth   = 256
	DefaultBatch        = 64
	// DefaultMACLimit is the most source MACs a port without sticky MAC
	// may have in the table.
	DefaultMACLimit = 256
)

// Options configures a Switch. The zero value is a learning switch with
// the defaults above, the system clock, every tenant reaching every other.
type Options struct {
	// Clock is used for MAC ageing; nil means SystemClock.
	Clock Clock
	// Ageing is how long a learned MAC stays without being seen again; 0
	// means DefaultAgeing, negative means forever.
	Ageing time.Duration
	// MACTableSize bounds the number of learned MACs; when the table is
	// full (after removing expired entries) new MACs are not learned, their
	// frames are flooded, and Stats.LearnFull counts them. Locked and
	// sticky addresses (one per port at most) are kept apart from this
	// bound, so a full table never keeps a port from locking its address.
	// 0 means DefaultMACTableSize.
	MACTableSize int
	// MACLimit is the default PortConfig.MACLimit; 0 means
	// DefaultMACLimit, negative no limit.
	MACLimit int
	// Storm is the default storm control of ports; zero fields mean
	// DefaultStormRate and DefaultStormBurst, a negative rate no limit.
	Storm StormControl
	// FloodOnly turns learning off: every frame goes to every other port
	// its tenant may reach, as in mirage-vnetif.
	FloodOnly bool
	// QueueDepth is the default outbound queue depth of ports (frames).
	QueueDepth int
	// Batch is how many frames a port's reader and writer move per call.
	Batch int
	// Reach is the tenant policy; nil lets every tenant reach every other.
	Reach *Reach
	// Monitor, if set, sees every frame in both directions (see Monitor).
	Monitor Monitor
	// Logger receives port failures; nil means slog.Default().
	Logger *slog.Logger
}

// Stats are the switch-wide counters.
type Stats struct {
	MACs      int    // live entries in the MAC table
	LearnFull uint64 // source MACs not learned because the table was full
	Moves     uint64 // MACs seen moving to another port
}

// Switch is a learning Ethernet switch. Its methods are safe for
// concurrent use.
type Switch struct {
	opts  Options
	clock Clock
	log   *slog.Logger
	macs  *macTable

	refusals *logging.Limiter // thins the debug lines of dropped frames (refusallog.go)

	mu      sync.Mutex // guards the fields below and topology changes
	ports   map[string]*port
	tenants map[string]int
	names   []string // tenant names by id
	reach   *Reach
	closed  bool

	topo atomic.Pointer[topology]
}

// topology is an immutable snapshot of the ports and of tenant
// reachability, replaced on every change.
type topology struct {
	ports []*port
	n     int    // tenants known when built
	ok    []bool // ok[from*n+to]
	reach *Reach
}

func (t *topology) reaches(from, to *port) bool {
	if from.tid < t.n && to.tid < t.n {
		return t.ok[from.tid*t.n+to.tid]
	}
	return t.reach.Allows(from.tenant, to.tenant) // a port newer than t
}

// New returns a switch with no ports.
func New(opts Options) *Switch {
	if opts.Clock == nil {
		opts.Clock = SystemClock
	}
	if opts.Ageing == 0 {
		opts.Ageing = DefaultAgeing
	}
	if opts.MACTableSize <= 0 {
		opts.MACTableSize = DefaultMACTableSize
	}
	if opts.QueueDepth <= 0 {
		opts.QueueDepth = DefaultQueueDepth
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	if opts.MACLimit == 0 {
		opts.MACLimit = DefaultMACLimit
	}
	opts.Storm = opts.Storm.withDefaults(StormControl{
		Broadcast: DefaultStormRate, Multicast: DefaultStormRate, UnknownUnicast: DefaultStormRate, Burst: DefaultStormBurst})
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Switch{
		opts:    opts,
		clock:   opts.Clock,
		log:     opts.Logger,
		macs:    newMACTable(opts.MACTableSize, opts.Ageing),
		ports:   map[string]*port{},
		tenants: map[string]int{},
		reach:   opts.Reach,
	}
	s.refusals = logging.NewLimiter(logging.LimitConfig{})
	s.topo.Store(&topology{reach: opts.Reach})
	return s
}

// ErrSwitchClosed is returned (wrapped) by Attach after Close.
var ErrSwitchClosed = errors.New("lan: switch closed")

// rebuild publishes a new topology. s.mu held.
func (s *Switch) rebuild() {
	t := &topology{n: len(s.names), reach: s.reach}
	for _, p := range s.ports {
		t.ports = append(t.ports, p)
	}
	slices.SortFunc(t.ports, func(a, b *port) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	t.ok = make([]bool, t.n*t.n)
	for i, from := range s.names {
		for j, to := range s.names {
			t.ok[i*t.n+j] = s.reach.Allows(from, to)
		}
	}
	s.topo.Store(t)
}

// SetReach replaces the tenant policy; it applies to the next frames.
func (s *Switch) SetReach(r *Reach) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reach = r
	s.rebuild()
}

// newPort validates pc and registers a port (not yet in the topology).
// nicMTU is the MTU of the NIC behind it. The caller makes its queue.
// s.mu held.
func (s *Switch) newPort(pc PortConfig, nicMTU int) (*port, error) {
	if s.closed {
		return nil, fmt.Errorf("lan: attach %q: %w", pc.Name, ErrSwitchClosed)
	}
	if pc.Name == "" {
		return nil, errors.New("lan: attach: empty port name")
	}
	if _, dup := s.ports[pc.Name]; dup {
		return nil, fmt.Errorf("lan: attach %q: a port of that name exists", pc.Name)
	}
	if err := CheckTenant(pc.Tenant); err != nil {
		return nil, fmt.Errorf("lan: attach %q: %w", pc.Name, err)
	}
	mtu := nicMTU
	if pc.MTU < 0 || pc.MTU > nicMTU {
		return nil, fmt.Errorf("lan: attach %q: MTU %d not in [0, %d] (the NIC's MTU)", pc.Name, pc.MTU, nicMTU)
	}
	if pc.MTU > 0 {
		mtu = pc.MTU
	}
	if pc.LockMAC && pc.MAC.IsMulticast() {
		return nil, fmt.Errorf("lan: attach %q: cannot lock to group address %v", pc.Name, pc.MAC)
	}
	if pc.LockMAC {
		for _, q := range s.ports {
			if q.g.lockMAC && q.g.mac == pc.MAC {
				return nil, fmt.Errorf("lan: attach %q: MAC %v is locked to port %q already", pc.Name, pc.MAC, q.name)
			}
		}
	}
	for _, a := range pc.IPs {
		if !a.IsValid() || a.IsUnspecified() || a.Zone() != "" {
			return nil, fmt.Errorf("lan: attach %q: IP %v: want a unicast address without zone", pc.Name, a)
		}
	}
	storm := pc.Storm.withDefaults(s.opts.Storm)
	if err := storm.check(); err != nil {
		return nil, fmt.Errorf("lan: attach %q: %w", pc.Name, err)
	}
	if pc.WhenFull > WhenFullWait || pc.Hold < 0 || pc.Flush < 0 {
		return nil, fmt.Errorf("lan: attach %q: WhenFull %d, Hold %v, Flush %v: want drop or wait and durations >= 0", pc.Name, pc.WhenFull, pc.Hold, pc.Flush)
	}
	hold := pc.Hold
	if hold == 0 {
		hold = DefaultHold
	}
	limit := pc.MACLimit
	if limit == 0 {
		limit = s.opts.MACLimit
	}
	depth := pc.QueueDepth
	if depth <= 0 {
		depth = s.opts.QueueDepth
	}
	tid, ok := s.tenants[pc.Tenant]
	if !ok {
		tid = len(s.names)
		s.tenants[pc.Tenant] = tid
		s.names = append(s.names, pc.Tenant)
	}
	ips := make([]netip.Addr, len(pc.IPs))
	for i, a := range pc.IPs {
		ips[i] = a.Unmap()
	}
	p := &port{
		sw: s, name: pc.Name, tenant: pc.Tenant, tid: tid,
		mtu: mtu, size: mtu + nic.HeaderLen, depth: depth,
		g:       guard{lockMAC: pc.LockMAC, mac: pc.MAC, ips: ips},
		frames:  make([][]byte, s.opts.Batch),
		pending: make([]wire.MAC, 0, s.opts.Batch),
		wait:    pc.WhenFull == WhenFullWait, hold: hold, flush: pc.Flush,
		sticky: !pc.NoSticky && !pc.LockMAC, macLimit: limit,
	}
	p.storm[stormBroadcast] = newBucket(storm.Broadcast, storm.Burst)
	p.storm[stormMulticast] = newBucket(storm.Multicast, storm.Burst)
	p.storm[stormUnknown] = newBucket(storm.UnknownUnicast, storm.Burst)
	return p, nil
}

// plug puts p, made by newPort and given its queue, into the switch: a
// locked MAC is installed in the table, the topology rebuilt. s.mu held.
func (s *Switch) plug(p *port) {
	if p.g.lockMAC {
		s.macs.lock(p, p.g.mac, s.clock.Now().UnixNano())
	}
	s.ports[p.name] = p
	s.rebuild()
}

// Attach plugs n into a new port and starts forwarding. The switch owns n
// from now on: Detach or Close closes it.
func (s *Switch) Attach(n nic.NIC, pc PortConfig) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.newPort(pc, n.MTU())
	if err != nil {
		return err
	}
	if vn, ok := n.(nic.VnetNIC); ok && vn.VnetPassThrough() && s.opts.Monitor == nil {
		// Frames pass through with their virtio-net header: queue slots
		// take a 64 KiB super-frame and its header.
		p.out = &vnetEgress{vn: vn}
		p.q = newVnetQueue(p.depth)
		p.hdrs = make([][]byte, s.opts.Batch)
		p.segBuf = make([]byte, nic.MaxSuperFrame)
	} else {
		p.out = &nicEgress{nic: n}
		p.q = newQueue(p.depth, p.size)
	}
	p.writerDone = make(chan struct{})
	s.plug(p)
	p.wg.Add(2)
	go p.readLoop(n)
	go p.writeLoop()
	return nil
}

// AttachPipe adds an in-process port to tenant and returns its NIC, for a
// network stack in this process (nic.NIC's contract; MTU nic.DefaultMTU).
// Closing the NIC detaches the port.
func (s *Switch) AttachPipe(name, tenant string) (nic.NIC, error) {
	return s.AttachMem(PortConfig{Name: name, Tenant: tenant})
}

// AttachMem adds an in-process port described by pc (MTU 0 means
// nic.DefaultMTU, at most 65535) and returns its NIC. Send on it forwards
// in the caller's goroutine; Recv drains the port's queue.
func (s *Switch) AttachMem(pc PortConfig) (*MemNIC, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.newMemPort(pc)
	if err != nil {
		return nil, err
	}
	p.out = memEgress{}
	p.q = newQueue(p.depth, p.size)
	s.plug(p)
	return &MemNIC{p: p, errClosed: fmt.Errorf("lan: port %s: %w", p.name, nic.ErrClosed)}, nil
}

// newMemPort makes (but does not plug in) an in-process port: MTU 0 means
// nic.DefaultMTU, at most 65535. s.mu is held.
func (s *Switch) newMemPort(pc PortConfig) (*port, error) {
	if pc.MTU == 0 {
		pc.MTU = nic.DefaultMTU
	}
	return s.newPort(pc, 65535)
}

// Detach unplugs the named port: frames to it are dropped from now on,
// the MACs behind it are forgotten, its NIC is closed. If the port has a
// Flush time, what it has queued is sent first (by its writer, or for an
// in-process port handed out by Recv, which someone must keep calling)
// for up to that time; the rest is dropped (ReasonDown).
func (s *Switch) Detach(name string) error {
	s.mu.Lock()
	p, ok := s.ports[name]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("lan: detach %q: no such port", name)
	}
	delete(s.ports, name)
	s.rebuild()
	s.mu.Unlock()
	p.unlink()
	p.drain(time.Now().Add(p.flush))
	s.unplug(p)
	return nil
}

// Unstick forgets the sticky address of the named port (after its guest
// changed its MAC): the next source MAC the port sends is locked.
func (s *Switch) Unstick(name string) error {
	s.mu.Lock()
	p, ok := s.ports[name]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("lan: unstick %q: no such port", name)
	}
	s.macs.unstick(p)
	return nil
}

// unlink begins removing a port already out of the topology: it learns
// nothing more, its MACs are forgotten and its queue takes no more
// frames (ReasonDown) but can still be drained.
func (p *port) unlink() {
	p.closing.Store(true) // before forget: learn skips closing ports
	p.sw.macs.forget(p)
	p.q.close()
}

// drain waits until p's queue is drained (by its writer, or the Recv of
// an in-process port), or until deadline.
func (p *port) drain(deadline time.Time) {
	if p.flush <= 0 {
		return
	}
	done := p.q.drained
	if p.writerDone != nil {
		done = p.writerDone
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// unplug stops a port after unlink: what is still queued is dropped
// (ReasonDown), the NIC closed, its goroutines waited for.
func (s *Switch) unplug(p *port) {
	if n := p.q.discard(); n > 0 {
		p.st.txDrops[ReasonDown].Add(uint64(n))
	}
	if n := p.out.device(); n != nil {
		n.Close()
	}
	p.wg.Wait()
}

// Close detaches every port (flushing those with a Flush time, all at
// once) and refuses new ones.
func (s *Switch) Close() error {
	s.mu.Lock()
	s.closed = true
	ports := s.ports
	s.ports = map[string]*port{}
	s.rebuild()
	s.mu.Unlock()
	start := time.Now()
	for _, p := range ports {
		p.unlink()
	}
	for _, p := range ports {
		p.drain(start.Add(p.flush))
	}
	for _, p := range ports {
		s.unplug(p)
	}
	return nil
}

// Ports returns every port's counters, sorted by name.
func (s *Switch) Ports() []PortStats {
	t := s.topo.Load()
	out := make([]PortStats, len(t.ports))
	for i, p := range t.ports {
		out[i] = p.stats()
	}
	return out
}

// Port returns the named port's counters.
func (s *Switch) Port(name string) (PortStats, bool) {
	s.mu.Lock()
	p, ok := s.ports[name]
	s.mu.Unlock()
	if !ok {
		return PortStats{}, false
	}
	return p.stats(), true
}

// Stats returns the switch-wide counters.
func (s *Switch) Stats() Stats {
	now := s.clock.Now().UnixNano()
	s.macs.mu.RLock()
	n := 0
	for _, e := range s.macs.m {
		if s.macs.live(e, now) {
			n++
		}
	}
	s.macs.mu.RUnlock()
	return Stats{MACs: n, LearnFull: s.macs.full.Load(), Moves: s.macs.moves.Load()}
}

// MACs returns the live entries of the MAC table, in no order.
func (s *Switch) MACs() []MACEntry { return s.macs.snapshot(s.clock.Now().UnixNano()) }

// Sweep removes expired MAC entries now and returns how many; the switch
// also sweeps by itself when the table is full.
func (s *Switch) Sweep() int { return s.macs.sweep(s.clock.Now().UnixNano()) }

// ingress forwards a batch of frames received on in. hdrs is nil, or
// holds each frame's virtio-net header (a pass-through port's reader),
// each hdrs[i] a slice of the buffer that frames[i] follows in.
func (s *Switch) ingress(in *port, frames, hdrs [][]byte) {
	if mon := s.opts.Monitor; mon != nil {
		for _, f := range frames {
			mon(in.name, In, f)
		}
	}
	now := s.clock.Now().UnixNano()
	t := s.topo.Load()
	pending := in.pending[:0]
	var bytes uint64
	// One descriptor for the batch: per frame only what changes is set.
	fr := frame{form: plainFrame}
	if hdrs != nil {
		fr.form = vnetFrame
	}
	// Counted received before any is counted dropped: a snapshot taken
	// during the batch never sees more dropped than received.
	in.st.rxFrames.Add(uint64(len(frames)))
	s.macs.mu.RLock()
	for i, f := range frames {
		bytes += uint64(len(f))
		fr.bytes, fr.size, fr.wireLen = f, len(f), len(f)
		if hdrs != nil {
			fr.vnet = hdrs[i]
		}
		if r := s.forward(in, t, &fr, now, &pending); r != NumReasons {
			in.st.rxDrops[r].Add(1)
			s.logRefused(in, r)
		}
	}
	s.macs.mu.RUnlock()
	in.st.rxBytes.Add(bytes)
	s.afterBatch(in, pending, now)
}

// forward decides where frame f, received on in, goes and queues it there
// (destinations copy it or take another reference; the caller keeps its
// own); it returns the reason f was dropped at ingress, or NumReasons.
// The MAC table's read lock is held.
func (s *Switch) forward(in *port, t *topology, f *frame, now int64, pending *[]wire.MAC) Reason {
	if f.size < nic.HeaderLen {
		return ReasonRunt
	}
	if f.offload() {
		// A GSO super-frame is within the MTU if its segments are.
		w, ok := nic.VnetWireLen(f.vnet, f.bytes)
		if !ok {
			return ReasonBadGSO
		}
		f.wireLen = w
	}
	if f.wireLen > in.size {
		return ReasonMTU
	}
	eth := wire.Ethernet(f.bytes)
	src := eth.Src()
	if src.IsMulticast() {
		return ReasonBadSrc
	}
	if in.g.active() {
		if r := in.g.check(f.bytes); r != NumReasons {
			return r
		}
	}
	if r := s.admit(in, src, now, pending); r != NumReasons {
		return r
	}
	dst := eth.Dst()
	class := stormBroadcast
	switch {
	case dst == wire.Broadcast:
	case dst.IsMulticast():
		class = stormMulticast
	case s.opts.FloodOnly:
		class = numStormClasses // not limited
	default:
		if e := s.macs.m[dst]; e != nil && s.macs.live(e, now) {
			switch {
			case e.port == in:
				return ReasonLocal
			case !t.reaches(in, e.port):
				return ReasonIsolated
			}
			if f.form == vnetFrame && f.wireLen <= e.port.size {
				if out, ok := e.port.out.(*vnetEgress); ok {
					// Both ports pass headers: header and frame are
					// contiguous, send them as they came.
					out.sendDirect(e.port, in, f)
					return NumReasons
				}
			}
			e.port.deliver(in, f)
			return NumReasons
		}
		class = stormUnknown
	}
	if class < numStormClasses && !in.storm[class].take(now) {
		return stormReasons[class]
	}
	delivered, isolated := 0, 0
	for _, p := range t.ports {
		if p == in {
			continue
		}
		if !t.reaches(in, p) {
			isolated++
			continue
		}
		p.deliver(in, f)
		delivered++
	}
	switch {
	case delivered > 0:
		return NumReasons
	case isolated > 0:
		return ReasonIsolated
	}
	return ReasonNoPort
}

// admit applies the MAC rules to a frame from in with source src: a MAC
// locked to another port is refused (ReasonMACTaken); a sticky port
// accepts only its locked address, or before it has one, the first
// source of the batch (ReasonSpoofedMAC); another port accepts a new
// source while it has fewer than its MAC limit (ReasonMACLimit). New
// sources go to pending, learnt after the batch. A known source on its
// own port is refreshed. The MAC table's read lock is held.
func (s *Switch) admit(in *port, src wire.MAC, now int64, pending *[]wire.MAC) Reason {
	e := s.macs.m[src]
	switch {
	case e != nil && e.port == in:
		if e.seen.Load() != now {
			e.seen.Store(now)
		}
		return NumReasons
	case e != nil && e.pinned:
		return ReasonMACTaken
	case in.sticky:
		switch {
		case in.stuck || (in.hasTentative && in.tentative != src):
			return ReasonSpoofedMAC
		case !in.hasTentative:
			in.tentative, in.hasTentative = src, true
			*pending = append(*pending, src)
		}
		return NumReasons
	case s.opts.FloodOnly || slices.Contains(*pending, src):
		return NumReasons
	case in.macLimit > 0 && in.macs+len(*pending) >= in.macLimit:
		in.limitHit = true
		return ReasonMACLimit
	}
	if len(*pending) < cap(*pending) {
		*pending = append(*pending, src)
	}
	return NumReasons
}

// afterBatch learns what in's batch admitted and resets its scratch.
func (s *Switch) afterBatch(in *port, pending []wire.MAC, now int64) {
	if len(pending) > 0 {
		s.macs.learn(in, pending, now)
	}
	if in.limitHit {
		// Expired entries may be what keeps in at its limit.
		s.macs.sweepIfDue(now)
	}
	in.pending = pending[:0]
	in.hasTentative, in.limitHit = false, false
}

// vnReadBatch bounds the reader's batch on a pass-through port: each
// buffer takes a 64 KiB super-frame, and a few buffers stay in the cache
// where 64 would not.
const vnReadBatch = 8

// readLoop feeds the frames that n, the NIC of the port, receives to the
// switch.
func (p *port) readLoop(n nic.NIC) {
	defer p.wg.Done()
	s := p.sw
	batch := s.opts.Batch
	size := max(n.MTU(), p.mtu) + nic.HeaderLen
	recv := n.Recv
	vnet, pass := p.out.(*vnetEgress)
	if pass {
		size, recv = nic.VnetBufLen, vnet.vn.RecvVnet
		batch = min(batch, vnReadBatch)
	}
	mem := make([]byte, batch*size)
	bufs := make([][]byte, batch)
	for i := range bufs {
		bufs[i] = mem[i*size : (i+1)*size : (i+1)*size]
	}
	sizes := make([]int, batch)
	for {
		k, err := recv(bufs, sizes)
		if k > 0 {
			if pass {
				for i := range k {
					p.hdrs[i] = bufs[i][:nic.VnetHdrLen]
					p.frames[i] = bufs[i][nic.VnetHdrLen:sizes[i]]
				}
				s.ingress(p, p.frames[:k], p.hdrs[:k])
			} else {
				for i := range k {
					p.frames[i] = bufs[i][:sizes[i]]
				}
				s.ingress(p, p.frames[:k], nil)
			}
		}
		if err != nil {
			if p.closing.Load() || errors.Is(err, nic.ErrClosed) {
				return
			}
			if errors.Is(err, nic.ErrFraming) {
				s.log.Warn("lan: port framing error", "port", p.name, "err", err)
				continue
			}
			s.log.Error("lan: port failed: receive", "port", p.name, "err", err)
			p.failed.Store(true)
			if k := p.q.close(); k > 0 {
				p.st.txDrops[ReasonDown].Add(uint64(p.q.discard()))
			}
			return
		}
		// A receive that finds frames does not block: a port storming
		// flat out would keep this goroutine on its processor until the
		// runtime preempts it (10 ms), and the other ports' goroutines
		// would wait that long. Yield after each batch (the attack suite's
		// storm: cmd/spacenet TestAttackLANStorm).
		runtime.Gosched()
	}
}

// writeLoop sends what the port's queue holds out of its NIC.
func (p *port) writeLoop() {
	defer p.wg.Done()
	defer close(p.writerDone)
	s := p.sw
	var (
		slot, hdrLen = p.size, 0
		send         func([][]byte) (int, error)
		sendMu       *sync.Mutex // held while sending (pass-through ports, see sendDirect)
	)
	switch out := p.out.(type) {
	case *vnetEgress:
		slot, send, hdrLen, sendMu = nic.VnetBufLen, out.vn.SendVnet, nic.VnetHdrLen, &out.sendMu
	case *nicEgress:
		send = out.nic.Send
	}
	mem := make([]byte, s.opts.Batch*slot)
	bufs := make([][]byte, s.opts.Batch)
	for i := range bufs {
		bufs[i] = mem[i*slot : i*slot : (i+1)*slot]
	}
	for p.q.wait() {
		if sendMu != nil {
			sendMu.Lock()
		}
		ok := p.sendQueued(bufs, send, hdrLen)
		if sendMu != nil {
			sendMu.Unlock()
		}
		if !ok {
			return
		}
	}
}

// sendQueued takes what the queue holds (up to len(bufs) frames) and
// sends it; it reports false when the NIC is closed.
func (p *port) sendQueued(bufs [][]byte, send func([][]byte) (int, error), hdrLen int) bool {
	s := p.sw
	k := p.q.swap(bufs)
	frames := bufs[:k]
	if mon := s.opts.Monitor; mon != nil {
		for _, f := range frames {
			mon(p.name, Out, f)
		}
	}
	for len(frames) > 0 {
		n, err := send(frames)
		var bytes uint64
		for _, f := range frames[:n] {
			bytes += uint64(len(f) - hdrLen)
		}
		p.st.txFrames.Add(uint64(n))
		p.st.txBytes.Add(bytes)
		frames = frames[n:]
		if err == nil {
			break
		}
		if p.closing.Load() || errors.Is(err, nic.ErrClosed) {
			p.st.txDrops[ReasonDown].Add(uint64(len(frames)))
			return false
		}
		// The NIC refused frames[0]: count it, go on with the rest.
		p.st.txDrops[ReasonTxError].Add(1)
		frames = frames[1:]
		p.logTxError(err)
	}
	return true
}
