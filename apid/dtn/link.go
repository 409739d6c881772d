package dtn

import (
	"container/heap"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"spacenet/apid/frame"
	"spacenet/apid/policy"
)

// Switch is what a Link needs of the APID switch (apidswitch.Switch has
// these): the policy in force, for the remotes' endpoints and lifetimes;
// a way in for frames from remotes; and a way to take back frames whose
// bundles were not delivered.
type Switch interface {
	Policy() *policy.Policy
	InjectRemote(remote int, f *frame.Frame) error
	RemoteUndelivered(f *frame.Frame, code frame.ErrorCode)
}

// LinkConfig configures a Link. Agent and Endpoint are required.
type LinkConfig struct {
	Agent    string // dtnd's web agent, host:port
	Endpoint string // this switch's endpoint ID, "dtn://flight-computer/spacenet"
	// Dial connects to dtnd; nil means Dial. Tests use it to dial from
	// inside a network namespace.
	Dial func(ctx context.Context, addr, endpoint string) (*Agent, error)
	// QueueLen bounds the frames waiting to be bundled; 0 means 4096.
	QueueLen int
	// Batch is the most frames in one bundle; 0 means 64, at most MaxBatch.
	Batch int
	// Hold is the longest SendRemote waits for room in the queue before it
	// refuses a frame with Host_busy; 0 means 1s.
	Hold time.Duration
	// ReportGrace is how long after a bundle's lifetime ends the link still
	// waits for its delivery report before it gives its frames back to the
	// switch as undelivered (Link_failed); 0 means 2s.
	ReportGrace time.Duration
	// Redial is the pause between attempts to reach dtnd; 0 means 200ms.
	Redial time.Duration
	Logger *slog.Logger // nil means slog.Default()
}

// Link carries frames between the APID switch and remote switches through
// a local dtnd: frames for a remote are batched into bundles (all the
// frames waiting for the same remote, up to Batch, in one bundle) to the
// remote's endpoint, with the remote's lifetime and a delivery report
// requested; bundles from a remote's endpoint are put back in order and
// their frames given to Switch.InjectRemote. It implements
// apidswitch.RemoteLink.
type Link struct {
	cfg    LinkConfig
	log    *slog.Logger
	stream uint64 // this link's stream value (see the payload format)

	queue chan item
	quit  chan struct{}
	done  chan struct{}

	mu          sync.Mutex       // guards inflight, expiry, lastCreated and agent
	inflight    map[uint64]*sent // by creation time
	lastCreated uint64
	expiry      expiryHeap
	agent       *Agent
	sw          Switch

	wake     chan struct{}     // the sender's expiry timer must be recomputed
	position map[string]uint64 // per remote endpoint, the next bundle's stream position (sendLoop's)

	stats linkStats
}

// item is one frame waiting to be bundled.
type item struct {
	remote int
	f      frame.Frame
}

// sent is a bundle handed to dtnd and not yet reported delivered.
type sent struct {
	created  uint64 // creation time: the bundle's identity (see nextCreated)
	deadline time.Time
	frames   []byte // the batch payload
	index    int    // in the expiry heap
}

type linkStats struct {
	bundlesSent, framesSent         atomic.Uint64
	delivered, framesDelivered      atomic.Uint64
	expired, framesExpired          atomic.Uint64
	deleted                         atomic.Uint64
	failed, framesFailed            atomic.Uint64
	lateReports                     atomic.Uint64
	refused                         atomic.Uint64
	bundlesIn, framesIn             atomic.Uint64
	duplicates, gaps, malformed     atomic.Uint64
	unknownSource, reports, connect atomic.Uint64
}

// NewLink returns a link that is not yet running.
func NewLink(cfg LinkConfig) (*Link, error) {
	if cfg.Agent == "" {
		return nil, errors.New("dtn: LinkConfig.Agent: dtnd's web agent address is required")
	}
	if err := ValidEID(cfg.Endpoint); err != nil {
		return nil, errors.New("dtn: LinkConfig.Endpoint: " + err.Error())
	}
	if cfg.Dial == nil {
		cfg.Dial = Dial
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 4096
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 64
	}
	cfg.Batch = min(cfg.Batch, MaxBatch)
	if cfg.Hold <= 0 {
		cfg.Hold = time.Second
	}
	if cfg.ReportGrace <= 0 {
		cfg.ReportGrace = 2 * time.Second
	}
	if cfg.Redial <= 0 {
		cfg.Redial = 200 * time.Millisecond
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	var r [8]byte
	_, _ = rand.Read(r[:])
	return &Link{
		cfg:      cfg,
		log:      log,
		stream:   binary.BigEndian.Uint64(r[:]),
		queue:    make(chan item, cfg.QueueLen),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		inflight: make(map[uint64]*sent),
		wake:     make(chan struct{}, 1),
		position: make(map[string]uint64),
	}, nil
}

// SendRemote queues f for remote, waiting up to Hold for room; then, or
// once the link has stopped, it refuses f with Host_busy or Link_failed.
// It implements apidswitch.RemoteLink.
func (l *Link) SendRemote(remote int, f *frame.Frame) error {
	select {
	case l.queue <- item{remote, *f}:
		return nil
	case <-l.quit:
		l.stats.refused.Add(1)
		return frame.LinkFailed
	default:
	}
	t := time.NewTimer(l.cfg.Hold)
	defer t.Stop()
	select {
	case l.queue <- item{remote, *f}:
		return nil
	case <-l.quit:
		l.stats.refused.Add(1)
		return frame.LinkFailed
	case <-t.C:
		l.stats.refused.Add(1)
		return frame.HostBusy
	}
}

// Run connects to dtnd (again whenever the connection fails), sends what
// SendRemote queues and delivers what comes, until ctx is done. Frames
// still queued, and bundles not yet reported delivered, stay unanswered at
// stop (the switch stops with them too). Run returns when every goroutine
// it started has.
func (l *Link) Run(ctx context.Context, sw Switch) {
	l.sw = sw
	defer close(l.done)
	in := make(chan Bundle, 64)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.deliverLoop(in)
	}()
	defer func() {
		close(l.quit)
		close(in)
		wg.Wait()
	}()
	for ctx.Err() == nil {
		a, err := l.cfg.Dial(ctx, l.cfg.Agent, l.cfg.Endpoint)
		if err != nil {
			l.log.Warn("dtn: cannot reach dtnd", "agent", l.cfg.Agent, "err", err)
			t := time.NewTimer(l.cfg.Redial)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
			continue
		}
		l.stats.connect.Add(1)
		l.log.Info("dtn: registered with dtnd", "agent", l.cfg.Agent, "endpoint", l.cfg.Endpoint)
		l.mu.Lock()
		l.agent = a
		l.mu.Unlock()
		readDone := make(chan struct{})
		go func() {
			defer close(readDone)
			l.readLoop(a, in)
		}()
		l.sendLoop(ctx, a, readDone)
		a.Close()
		<-readDone
		l.mu.Lock()
		l.agent = nil
		l.mu.Unlock()
	}
}

// sendLoop bundles queued frames and sends them through a, and gives back
// the frames of bundles whose time is up, until ctx is done or the
// connection fails.
func (l *Link) sendLoop(ctx context.Context, a *Agent, readDone <-chan struct{}) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var pending *item // the first frame of the next bundle, taken from the queue
	buf := make([]byte, 0, batchHeader+l.cfg.Batch*frame.Size)
	for {
		l.armExpiry(timer)
		if pending == nil {
			select {
			case <-ctx.Done():
				return
			case <-readDone:
				return
			case <-timer.C:
				l.expire(time.Now())
				continue
			case <-l.wake:
				continue
			case it := <-l.queue:
				pending = &it
			}
		}
		// Take what else is waiting for the same remote, up to a batch.
		remote := pending.remote
		rm, ok := l.remote(remote)
		if !ok {
			l.sw.RemoteUndelivered(&pending.f, frame.NoRoute)
			pending = nil
			continue
		}
		pos := l.position[rm.Endpoint]
		buf = AppendBatch(buf[:0], l.stream, pos)
		buf = AppendFrame(buf, &pending.f)
		pending = nil
	fill:
		for n := 1; n < l.cfg.Batch; n++ {
			select {
			case it := <-l.queue:
				if it.remote != remote {
					pending = &it
					break fill
				}
				buf = AppendFrame(buf, &it.f)
			default:
				break fill
			}
		}
		if err := l.send(a, rm, buf); err != nil {
			// The position is used again: the bundle did not reach dtnd
			// (if it did, the receiver takes the next with the same
			// position for a duplicate: see docs/dtn.md).
			l.log.Warn("dtn: send to dtnd failed", "err", err)
			return
		}
		l.position[rm.Endpoint] = pos + 1
	}
}

// remote returns remote i of the policy in force.
func (l *Link) remote(i int) (policy.Remote, bool) {
	rs := l.sw.Policy().Remotes
	if i < 0 || i >= len(rs) {
		return policy.Remote{}, false
	}
	return rs[i], true
}

// send makes one bundle of batch for remote rm and gives it to dtnd. A
// failure gives the frames back to the switch as Link_failed.
func (l *Link) send(a *Agent, rm policy.Remote, batch []byte) error {
	now := time.Now()
	lifetime := rm.BundleLifetime()
	s := &sent{
		deadline: now.Add(lifetime + l.cfg.ReportGrace),
		frames:   append([]byte(nil), batch...),
	}
	l.mu.Lock()
	s.created = max(DTNTime(now), l.lastCreated+1)
	l.lastCreated = s.created
	l.inflight[s.created] = s
	heap.Push(&l.expiry, s)
	l.mu.Unlock()
	b := Bundle{
		Flags:       FlagMustNotFragment | FlagReportDelivery | FlagReportDeletion,
		Destination: rm.Endpoint,
		Source:      l.cfg.Endpoint,
		ReportTo:    l.cfg.Endpoint,
		Created:     s.created,
		Seq:         0,
		Lifetime:    uint64(lifetime / time.Millisecond),
		Payload:     batch,
	}
	n := uint64(binary.BigEndian.Uint16(batch[2:]))
	if err := a.Send(&b); err != nil {
		if l.take(s.created) != nil {
			l.stats.failed.Add(1)
			l.stats.framesFailed.Add(n)
			l.giveBack(s.frames, frame.LinkFailed)
		}
		return err
	}
	l.stats.bundlesSent.Add(1)
	l.stats.framesSent.Add(n)
	return nil
}

// take removes the bundle created at created from those in flight and
// returns it, or nil.
//
// A bundle's identity is its source, creation time and sequence number.
// dtnd numbers the bundles an application gives it itself (0 for the
// first with a given source and creation time, then 1, 2, ...: its
// IdKeeper), whatever number they carry; so the link gives each bundle a
// creation time of its own (a millisecond after the last at least), and
// dtnd's number is then always 0: the creation time alone names the bundle
// in reports.
func (l *Link) take(created uint64) *sent {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.inflight[created]
	if s == nil {
		return nil
	}
	delete(l.inflight, created)
	heap.Remove(&l.expiry, s.index)
	return s
}

// giveBack hands every frame of batch back to the switch as undelivered.
func (l *Link) giveBack(batch []byte, code frame.ErrorCode) {
	_, _ = DecodeBatch(batch, func(f *frame.Frame) { l.sw.RemoteUndelivered(f, code) })
}

// armExpiry sets timer to the earliest deadline of the bundles in flight.
func (l *Link) armExpiry(timer *time.Timer) {
	l.mu.Lock()
	d := time.Hour
	if len(l.expiry) > 0 {
		d = max(0, time.Until(l.expiry[0].deadline))
	}
	l.mu.Unlock()
	timer.Reset(d)
}

// expire gives back the frames of every bundle whose deadline is past.
func (l *Link) expire(now time.Time) {
	for {
		l.mu.Lock()
		if len(l.expiry) == 0 || l.expiry[0].deadline.After(now) {
			l.mu.Unlock()
			return
		}
		s := heap.Pop(&l.expiry).(*sent)
		delete(l.inflight, s.created)
		l.mu.Unlock()
		n := uint64(binary.BigEndian.Uint16(s.frames[2:]))
		l.stats.expired.Add(1)
		l.stats.framesExpired.Add(n)
		l.log.Warn("dtn: bundle not reported delivered within its lifetime", "created", s.created, "frames", n)
		l.giveBack(s.frames, frame.LinkFailed)
	}
}

// readLoop reads what dtnd sends until the connection ends: status
// reports about the bundles in flight, and bundles from remotes, passed
// to the deliverer in.
func (l *Link) readLoop(a *Agent, in chan<- Bundle) {
	for {
		m, err := a.Receive()
		if err != nil {
			select {
			case <-l.quit:
			default:
				l.log.Warn("dtn: connection to dtnd ended", "err", err)
			}
			return
		}
		if m.Kind != msgBundle {
			continue
		}
		b := m.Bundle
		if b.Flags&FlagAdminRecord != 0 {
			l.report(&b)
			continue
		}
		b.Payload = append([]byte(nil), b.Payload...)
		select {
		case in <- b:
		case <-l.quit:
			return
		}
	}
}

// report handles a status report about a bundle this link sent.
func (l *Link) report(b *Bundle) {
	l.stats.reports.Add(1)
	r, err := DecodeStatusReport(b.Payload)
	if err != nil || r.Bundle.Source != l.cfg.Endpoint {
		l.stats.malformed.Add(1)
		return
	}
	switch {
	case r.Delivered:
		s := l.take(r.Bundle.Created)
		if s == nil {
			l.stats.lateReports.Add(1) // already given back as expired (or not ours)
			return
		}
		l.stats.delivered.Add(1)
		l.stats.framesDelivered.Add(uint64(binary.BigEndian.Uint16(s.frames[2:])))
	case r.Deleted:
		s := l.take(r.Bundle.Created)
		if s == nil {
			return
		}
		l.stats.deleted.Add(1)
		l.giveBack(s.frames, frame.LinkFailed)
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Done is closed when Run has returned.
func (l *Link) Done() <-chan struct{} { return l.done }

// expiryHeap orders bundles in flight by deadline.
type expiryHeap []*sent

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *expiryHeap) Push(x any) {
	s := x.(*sent)
	s.index = len(*h)
	*h = append(*h, s)
}
func (h *expiryHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	*h = old[:len(old)-1]
	return s
}
