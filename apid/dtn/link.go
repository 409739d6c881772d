package dtn

import (
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
	// For the ground (LinkConfig.Ground): frames from the ground's
	// endpoint, and frames for it not delivered.
	Inject(f *frame.Frame) error
	GroundUndelivered(f *frame.Frame, code frame.ErrorCode)
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
	// Window is the most batches in flight (sent, not yet reported
	// delivered); 0 means 32. While it is full no new bundle is made and
	// the queue fills.
	Window int
	// Retry is how long the link waits for a batch's delivery report
	// before it sends the batch again, as a new bundle with the same
	// stream position, at least: the link waits four times the smoothed
	// report round trip if that is longer. The wait doubles for each copy,
	// up to MaxRetry. 0 means 1s. dtnd (v0.9.1) loses a bundle now and then under load ("Transaction
	// Conflict" in its store): the copy makes up for it.
	Retry time.Duration
	// Ground, if set, is the endpoint ID of a ground station reached
	// through DTN: the link is then also the switch's ground link
	// (apidswitch.Config.DownlinkFrames): frames routed to the ground go
	// to it as bundles (GroundLifetime, 0 meaning 1h), and frames in
	// bundles from it are injected as the ground's (Switch.Inject).
	Ground         string
	GroundLifetime time.Duration
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

	mu          sync.Mutex       // guards inflight, window and lastCreated
	inflight    map[uint64]*sent // by the creation time of each copy sent
	window      []*sent          // the batches in flight, in the order first sent
	lastCreated uint64           // creation time of the last bundle made
	srtt        time.Duration    // smoothed report round trip (see retryAfter)
	sw          Switch

	wake     chan struct{}     // the sender's expiry timer must be recomputed
	position map[string]uint64 // per remote endpoint, the next bundle's stream position (sendLoop's)

	stats   linkStats
	changed chan struct{} // closed and replaced (under mu) when a bundle is settled: see WaitStats
}

// item is one frame waiting to be bundled.
type item struct {
	remote int
	f      frame.Frame
}

type linkStats struct {
	bundlesSent, framesSent         atomic.Uint64
	delivered, framesDelivered      atomic.Uint64
	expired, framesExpired          atomic.Uint64
	deleted                         atomic.Uint64
	copies                          atomic.Uint64
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
	if cfg.Ground != "" {
		if err := ValidEID(cfg.Ground); err != nil {
			return nil, errors.New("dtn: LinkConfig.Ground: " + err.Error())
		}
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
	if cfg.Window <= 0 {
		cfg.Window = 32
	}
	if cfg.Retry <= 0 {
		cfg.Retry = time.Second
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
		changed:  make(chan struct{}),
	}, nil
}

// SendRemote queues f for remote, waiting up to Hold for room; then, or
// once the link has stopped, it refuses f with Host_busy or Link_failed.
// It implements apidswitch.RemoteLink.
func (l *Link) SendRemote(remote int, f *frame.Frame) error {
	select {
	case <-l.quit:
		l.stats.refused.Add(1)
		return frame.LinkFailed
	default:
	}
	select {
	case l.queue <- item{remote, *f}:
		return nil
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

// dialTimeout bounds one attempt to reach dtnd and register; dialLogEvery
// thins the log of failed attempts (one in that many).
const (
	dialTimeout  = 5 * time.Second
	dialLogEvery = 300
)

// groundRemote stands for the ground (LinkConfig.Ground) where remotes are
// indexed.
const groundRemote = -1

// SendFrame queues f for the ground (LinkConfig.Ground), as SendRemote
// does for a remote. It implements apidswitch.FrameDownlink.
func (l *Link) SendFrame(f *frame.Frame) error {
	if l.cfg.Ground == "" {
		return frame.NoRoute
	}
	return l.SendRemote(groundRemote, f)
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
	failures := 0
	for ctx.Err() == nil {
		dctx, cancel := context.WithTimeout(ctx, dialTimeout)
		a, err := l.cfg.Dial(dctx, l.cfg.Agent, l.cfg.Endpoint)
		cancel()
		if err != nil {
			// Logged at the first failure, then once a minute or so.
			if failures%dialLogEvery == 0 {
				l.log.Warn("dtn: cannot reach dtnd", "agent", l.cfg.Agent, "err", err, "attempts", failures+1)
			}
			failures++
			t := time.NewTimer(l.cfg.Redial)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
			continue
		}
		failures = 0
		l.stats.connect.Add(1)
		l.log.Info("dtn: registered with dtnd", "agent", l.cfg.Agent, "endpoint", l.cfg.Endpoint)
		l.settled()
		readDone := make(chan struct{})
		go func() {
			defer close(readDone)
			l.readLoop(a, in)
		}()
		l.sendLoop(ctx, a, readDone)
		a.Close()
		<-readDone
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
	defer l.settled()
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
			l.stats.lateReports.Add(1) // another copy's report came first, or it was given back
			return
		}
		l.stats.delivered.Add(1)
		l.stats.framesDelivered.Add(s.count())
	case r.Deleted:
		// One copy was deleted (its lifetime ended on the way): the
		// others may still arrive, and expiry gives the frames back if
		// none does.
		l.stats.deleted.Add(1)
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Done is closed when Run has returned.
func (l *Link) Done() <-chan struct{} { return l.done }
