package apidswitch

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"spacenet/apid/frame"
	"spacenet/apid/router"
)

// Remotes (policy.Remote): APID ranges another switch serves, reached
// through a DTN node by Config.Remote (package apid/dtn). Frames a tenant
// sends to them are handed to the link (counted DeliveredRemote); frames
// the link brings from a remote come in through InjectRemote and are
// checked as a tenant's are (router.Table.RouteFromRemote).

// RemoteLink takes the frames routed to a remote switch. SendRemote is
// called from a reader goroutine with no lock of the switch held, one frame
// at a time in the order the switch routed them; remote indexes the
// Remotes of the policy in force; f (256 bytes, padding zeroed) is only
// valid during the call. It may wait for room (a bounded time). An error
// refuses the frame: a frame.ErrorCode is the code the sender is answered
// with, any other error Link_failed. Returning nil hands the frame over:
// if the link later learns it was not delivered, it calls
// Switch.RemoteUndelivered.
type RemoteLink interface {
	SendRemote(remote int, f *frame.Frame) error
}

// remote is one remote switch as a sender: its counters, and what
// InjectRemote needs to wait for room. It survives reloads by name.
type remote struct {
	name string
	st   stats

	injectMu sync.Mutex // one InjectRemote at a time per remote: w and timer are shared
	w        *waiter
	timer    *time.Timer
}

func newRemote(name string) *remote {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &remote{name: name, w: newWaiter(), timer: t}
}

// remoteSide is the switch's state about remotes that belongs to no
// sender.
type remoteSide struct {
	mu                 sync.Mutex
	byName             map[string]*remote // every remote any policy named: counters survive reloads
	notices            atomic.Uint64
	noticesLost        atomic.Uint64
	answersLost        atomic.Uint64
	undeliveredUnknown atomic.Uint64
	unknown            atomic.Uint64
}

// remoteState gives st the remotes of its policy, reusing those s already
// has by name. s.mu is held, or s is being built.
func (s *Switch) remoteState(st *state) {
	s.rmt.mu.Lock()
	defer s.rmt.mu.Unlock()
	if s.rmt.byName == nil {
		s.rmt.byName = make(map[string]*remote)
	}
	for _, r := range st.pol.Remotes {
		rm := s.rmt.byName[r.Name]
		if rm == nil {
			rm = newRemote(r.Name)
			s.rmt.byName[r.Name] = rm
		}
		st.remotes = append(st.remotes, rm)
	}
}

var errNoRemoteLink = errors.New("apidswitch: no remote link (Config.Remote) configured")

// sendRemote hands f, from sender from, to the remote link.
func (s *Switch) sendRemote(remote int, f *frame.Frame) error {
	if s.cfg.Remote == nil {
		return errNoRemoteLink
	}
	f.ZeroPadding()
	return s.cfg.Remote.SendRemote(remote, f)
}

// remoteRefusal returns the code to answer a frame the link refused with.
func remoteRefusal(err error) frame.ErrorCode {
	var code frame.ErrorCode
	switch {
	case errors.Is(err, errNoRemoteLink):
		return frame.NoRoute
	case errors.As(err, &code) && code.Known():
		return code
	}
	return frame.LinkFailed
}

// routeRemote hands f, which tenant t's reader routed to a remote, to the
// link, and counts it: DeliveredRemote, or dropped and answered. ss (t's
// counters) is locked, and released during the hand-off.
func (r *reader) routeRemote(ss *stats, d router.Decision, f *frame.Frame) {
	ss.deliveredRemote++
	ss.mu.Unlock()
	r.flush() // frames already queued must not wait for a slow link
	err := r.c.sw.sendRemote(d.Remote, f)
	ss.mu.Lock()
	if err != nil {
		code := remoteRefusal(err)
		ss.deliveredRemote--
		ss.dropped[code]++
		r.notice(code, f)
	}
}

// InjectRemote delivers f, which came from remote (an index into the
// Remotes of the policy in force) through the link, as a tenant's frame
// is: router.Table.RouteFromRemote checks that its source APID is one the
// remote owns and that the remote may reach its destination. A frame for
// a full queue waits for room while the destination makes progress, up to
// its hold time without any. A frame
// refused is counted under the remote and answered with an ERROR sent back
// to the remote through the link. An ERROR from the remote switch itself
// (source APID 0x000, the answer to a frame a local tenant sent there) is
// passed to the local tenant owning its destination, as the switch's own
// notices are, and counted in RemoteNotices.
//
// It returns nil once f is queued or handed to the system handler, else
// the frame.ErrorCode it was refused with. Calls for one remote are
// serialised; the link calls it from one goroutine.
func (s *Switch) InjectRemote(remote int, f *frame.Frame) error {
	st := s.state.Load()
	if remote < 0 || remote >= len(st.remotes) {
		s.rmt.unknown.Add(1)
		return frame.NoRoute
	}
	rm := st.remotes[remote]
	if f.Type() == frame.Error && f.APID() == frame.APIDSwitch {
		return s.remoteNotice(st, f)
	}
	rm.injectMu.Lock()
	defer rm.injectMu.Unlock()
	g := &rm.st
	g.mu.Lock()
	g.received++
	d := st.table.RouteFromRemote(remote, f.Header())
	code := d.Code
	var dst *tenant
	switch d.Action {
	case router.Local:
		dst = st.tenants[d.Tenant]
		code = s.injectWait(rm, dst, st.flow[d.Tenant].HoldTime(), f)
	case router.System:
		g.deliveredSystem++
		g.mu.Unlock()
		s.systemFrom(rm.name, f)
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
		var e frame.Frame
		frame.EncodeError(&e, code, f)
		if err := s.sendRemote(remote, &e); err != nil {
			s.rmt.answersLost.Add(1)
		}
		return code
	}
	dst.q.signal()
	return nil
}

// systemFrom hands a system frame from sender name (the ground, a remote)
// to Config.System, or logs and counts it when there is none.
func (s *Switch) systemFrom(name string, f *frame.Frame) {
	if s.cfg.System != nil {
		s.cfg.System(name, f)
		return
	}
	n := s.systemOther.Add(1)
	if k, ok := s.logLimit.Allow(name, logSystemUnhandled); ok {
		s.log.Info("system frame not handled", "tenant", name, "type", f.Type(), "apid", f.APID(), "dest", f.Dest(), "count", n, "suppressed", k)
	}
}

// injectWait queues f for dst, waiting for room until dst makes no
// progress for hold (queue.waitRoom); rm.st is
// locked (released while waiting). It returns 0 once queued, else the code
// to refuse f with.
func (s *Switch) injectWait(rm *remote, dst *tenant, hold time.Duration, f *frame.Frame) frame.ErrorCode {
	g := &rm.st
	for {
		switch dst.q.push(f, g) {
		case pushed:
			g.queued++
			return 0
		case pushClosed:
			return frame.NoRoute
		}
		g.held++
		g.mu.Unlock()
		dst.q.signal()
		res := dst.q.waitRoom(g, rm.w, rm.timer, hold, nil, s.quit)
		g.mu.Lock()
		g.held--
		if res != roomGranted {
			return frame.HostBusy
		}
	}
}

// remoteNotice passes an ERROR from a remote switch to the local tenant
// owning its destination.
func (s *Switch) remoteNotice(st *state, f *frame.Frame) error {
	i, ok := st.table.Owner(f.Dest())
	if !ok {
		s.rmt.noticesLost.Add(1)
		return frame.NoRoute
	}
	s.rmt.notices.Add(1)
	t := st.tenants[i]
	if t.enqueueNotice(f) {
		t.q.signal()
	}
	return nil
}

// RemoteUndelivered takes back a frame the link had taken (SendRemote
// returned nil) but could not deliver: its bundle expired, or dtnd
// reported it deleted. The frame moves from its sender's DeliveredRemote
// to Dropped[code] and the sender is answered with an ERROR naming it. A
// frame whose sender no tenant in force owns (a remote switch's own ERROR,
// a tenant removed since) is counted in RemoteStats.UndeliveredUnknown.
func (s *Switch) RemoteUndelivered(f *frame.Frame, code frame.ErrorCode) {
	s.takeBack(f, code, func(st *stats) *uint64 { return &st.deliveredRemote })
}

// GroundUndelivered is RemoteUndelivered for a frame that a FrameDownlink
// (Config.DownlinkFrames) had taken but could not deliver to the ground,
// such as package apid/dtn's Link when the ground is a DTN node: the frame
// moves from its sender's DeliveredGround to Dropped[code], and the sender
// is answered.
func (s *Switch) GroundUndelivered(f *frame.Frame, code frame.ErrorCode) {
	s.takeBack(f, code, func(st *stats) *uint64 { return &st.deliveredGround })
}

// takeBack moves f from the bucket of its sender's counters that bucket
// names to Dropped[code], and answers the sender.
func (s *Switch) takeBack(f *frame.Frame, code frame.ErrorCode, bucket func(*stats) *uint64) {
	st := s.state.Load()
	i, ok := st.table.Owner(f.APID())
	if !ok {
		s.rmt.undeliveredUnknown.Add(1)
		return
	}
	t := st.tenants[i]
	t.st.mu.Lock()
	b := bucket(&t.st)
	if *b == 0 {
		t.st.mu.Unlock()
		s.rmt.undeliveredUnknown.Add(1)
		return
	}
	*b--
	t.st.dropped[code]++
	t.st.mu.Unlock()
	var e frame.Frame
	frame.EncodeError(&e, code, f)
	if t.enqueueNotice(&e) {
		t.q.signal()
	}
}

// RemoteCounters returns the counters of the frames that came from each
// remote of the policy in force (Tenant is the remote's name), in policy
// order.
func (s *Switch) RemoteCounters() []Counters {
	st := s.state.Load()
	out := make([]Counters, len(st.remotes))
	for i, rm := range st.remotes {
		out[i].Tenant = rm.name
		rm.st.snapshot(&out[i])
	}
	return out
}

// RemoteStats are the switch's counts about remotes that belong to no
// sender.
type RemoteStats struct {
	Notices            uint64 // ERRORs from remote switches passed to local tenants
	NoticesLost        uint64 // such ERRORs for an APID no local tenant owns
	AnswersLost        uint64 // ERRORs for refused remote frames the link did not take
	UndeliveredUnknown uint64 // RemoteUndelivered and GroundUndelivered calls no tenant's counters could take
	UnknownRemote      uint64 // InjectRemote calls with no such remote
}

// RemoteStats returns the switch's counts about remotes.
func (s *Switch) RemoteStats() RemoteStats {
	return RemoteStats{
		Notices:            s.rmt.notices.Load(),
		NoticesLost:        s.rmt.noticesLost.Load(),
		AnswersLost:        s.rmt.answersLost.Load(),
		UndeliveredUnknown: s.rmt.undeliveredUnknown.Load(),
		UnknownRemote:      s.rmt.unknown.Load(),
	}
}
