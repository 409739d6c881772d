package apidswitch

import (
	"time"

	"spacenet/apid/frame"
	"spacenet/apid/sysmsg"
)

// healthPayload writes the switch's status into p (MaxPayload bytes) and
// returns its length.
func (s *Switch) healthPayload(st *state, p []byte) int {
	n := min(len(st.tenants), sysmsg.MaxHealthTenants)
	for i, t := range st.tenants[:n] {
		t.mu.Lock()
		gen, connected := t.gen, t.conn != nil
		t.mu.Unlock()
		sysmsg.PutHealthTenant(p, i, sysmsg.HealthTenant{
			FirstAPID:  firstAPID(st, i),
			Generation: uint16(gen),
			Connected:  connected,
			QueueLen:   uint16(min(t.q.len(), 0xFFFF)),
		})
	}
	return sysmsg.PutHealthHeader(p, n, s.Uptime())
}

// firstAPID is the first APID tenant i of st owns, which names it on the
// wire; 0 if it owns none.
func firstAPID(st *state, i int) frame.APID {
	if owns := st.pol.Tenants[i].Owns; len(owns) > 0 {
		return owns[0].First
	}
	return 0
}

// ackPayload writes the subscription acknowledgement into p (MaxPayload
// bytes) and returns its length.
func (s *Switch) ackPayload(st *state, p []byte) int {
	n := min(len(st.tenants), sysmsg.MaxAckTenants)
	for i, t := range st.tenants[:n] {
		t.mu.Lock()
		gen, connected := t.gen, t.conn != nil
		t.mu.Unlock()
		sysmsg.PutAckTenant(p, i, sysmsg.AckTenant{
			FirstAPID:  firstAPID(st, i),
			Generation: uint32(gen),
			Connected:  connected,
		})
	}
	return sysmsg.PutAckHeader(p, n, len(st.tenants), s.Uptime())
}

// system handles a frame routed to a system APID, on the sender's reader
// goroutine, with the sender's counters unlocked.
func (s *Switch) system(r *reader, f *frame.Frame) {
	t := r.c.t
	switch {
	case f.Type() == frame.Health && (f.Dest() == sysmsg.APIDHealth || f.Dest() == sysmsg.APIDEvents):
		if f.Dest() == sysmsg.APIDEvents {
			r.c.sub.Lock()
			r.c.subAPID = f.APID()
			r.c.sub.Unlock()
		}
		var reply frame.Frame
		n := r.sysPayload(f.Dest(), reply[frame.HeaderSize:])
		reply.SetVersion(frame.Version)
		reply.SetType(frame.Health)
		reply.SetAPID(f.Dest())
		reply.SetDest(f.APID())
		reply.SetPayloadLen(uint16(n))
		r.send(&reply) // the writer is woken once, at the end of the read batch
	case s.cfg.System != nil:
		s.cfg.System(t.name, f)
	default:
		n := s.systemOther.Add(1)
		if k, ok := s.logLimit.Allow(t.name, logSystemUnhandled); ok {
			s.log.Info("system frame not handled", "tenant", t.name, "type", f.Type(), "apid", f.APID(), "dest", f.Dest(), "payload_length", f.PayloadLen(), "count", n, "suppressed", k)
		}
	}
}

// event tells the subscribed guests and Config.OnEvent about e.
func (s *Switch) event(e Event) {
	s.changes.Add(1) // HEALTH answers made before are out of date
	st := s.state.Load()
	var note frame.Frame
	note.SetVersion(frame.Version)
	note.SetType(frame.Health)
	note.SetAPID(sysmsg.APIDEvents)
	var first frame.APID
	for i, t := range st.tenants {
		if t.name == e.Tenant {
			first = firstAPID(st, i)
			break
		}
	}
	n := sysmsg.PutEventNotice(note[frame.HeaderSize:], sysmsg.EventNotice{
		Kind:       e.Kind,
		Tenant:     e.Tenant,
		FirstAPID:  first,
		Generation: uint32(e.Generation),
	})
	note.SetPayloadLen(uint16(n))
	for _, t := range st.tenants {
		t.mu.Lock()
		c := t.conn
		t.mu.Unlock()
		if c == nil {
			continue
		}
		c.sub.Lock()
		to := c.subAPID
		c.sub.Unlock()
		if to == 0 {
			continue
		}
		note.SetDest(to)
		if t.enqueueNotice(&note) {
			t.q.signal()
		}
	}
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(e)
	}
}

// sysCacheTime is how long a reader reuses the payload of its last HEALTH
// answer while no tenant connected or went away (Switch.changes) and the
// policy stayed: building one reads every tenant's lock and queue lock, and
// a tenant flooding HEALTH requests must not take those from the tenants
// forwarding through them (issue 14: their p99 round trip doubled). Only
// the queue lengths and the uptime can be that much older.
var sysCacheTime = time.Millisecond // a variable for TestHealthFloodTakesNoLocks

// sysPayload writes the payload answering a HEALTH frame to dest
// (sysmsg.APIDHealth or sysmsg.APIDEvents) into p and returns its length, from the
// reader's cache when it is fresh.
func (r *reader) sysPayload(dest frame.APID, p []byte) int {
	s := r.c.sw
	now := time.Now()
	changes := s.changes.Load()
	if dest == r.sysDest && r.sysSt == r.st && changes == r.sysChanges && now.Sub(r.sysAt) < sysCacheTime {
		return copy(p, r.sysCache[:r.sysN])
	}
	var n int
	if dest == sysmsg.APIDEvents {
		n = s.ackPayload(r.st, p)
	} else {
		n = s.healthPayload(r.st, p)
	}
	r.sysDest, r.sysSt, r.sysChanges, r.sysAt = dest, r.st, changes, now
	r.sysN = copy(r.sysCache[:], p[:n])
	return n
}
