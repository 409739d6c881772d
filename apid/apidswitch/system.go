package apidswitch

import (
	"encoding/binary"
	"fmt"
	"time"

	"spacenet/apid/frame"
)

// The system APIDs the switch answers itself (spec section 5 leaves their
// meaning to the switch; these are this project's decisions).
const (
	// APIDHealth: a HEALTH frame sent here is answered with a HEALTH frame
	// from this APID carrying the switch's status (see Health).
	APIDHealth frame.APID = 0x001
	// APIDEvents: a HEALTH frame sent here subscribes the sending
	// connection to tenant events. The switch answers at once with a HEALTH
	// frame from this APID carrying the acknowledgement (see SubscribeAck:
	// its first byte is SubscribeAckKind), then sends a HEALTH frame from
	// this APID carrying an event payload (see EventNotice: its first byte
	// is the EventKind, 1-3) every time a tenant connects, is replaced (a
	// restarted guest: its generation changed) or goes away. A subscription
	// lasts as long as the connection: a reconnected guest subscribes again.
	APIDEvents frame.APID = 0x002
)

// Health payload layout (HEALTH frame from APIDHealth):
//
//	0  u8   format, HealthFormat
//	1  u8   number of tenant entries that follow (at most MaxHealthTenants)
//	2  u16  reserved, 0
//	4  u32  switch uptime in seconds
//	8  entries of 8 bytes, in policy order:
//	   0 u16 first APID the tenant owns (names it on the wire)
//	   2 u16 generation, low 16 bits
//	   4 u8  flags: bit 0 connected
//	   5 u8  reserved, 0
//	   6 u16 frames in its queue (clamped to 65535)
const (
	HealthFormat     = 1
	healthHeader     = 8
	healthEntry      = 8
	MaxHealthTenants = (frame.MaxPayload - healthHeader) / healthEntry // 30
)

// HealthTenant is one tenant entry of a Health payload.
type HealthTenant struct {
	FirstAPID  frame.APID
	Generation uint16
	Connected  bool
	QueueLen   uint16
}

// Health is the decoded payload of the switch's HEALTH reply.
type Health struct {
	Uptime  time.Duration // whole seconds
	Tenants []HealthTenant
}

// ParseHealth decodes a HEALTH reply payload.
func ParseHealth(p []byte) (Health, error) {
	if len(p) < healthHeader {
		return Health{}, fmt.Errorf("apidswitch: HEALTH payload of %d bytes, want at least %d", len(p), healthHeader)
	}
	if p[0] != HealthFormat {
		return Health{}, fmt.Errorf("apidswitch: HEALTH payload format %d, want %d", p[0], HealthFormat)
	}
	n := int(p[1])
	if len(p) < healthHeader+n*healthEntry {
		return Health{}, fmt.Errorf("apidswitch: HEALTH payload of %d bytes cannot hold %d tenants", len(p), n)
	}
	h := Health{Uptime: time.Duration(binary.BigEndian.Uint32(p[4:])) * time.Second}
	for i := range n {
		e := p[healthHeader+i*healthEntry:]
		h.Tenants = append(h.Tenants, HealthTenant{
			FirstAPID:  frame.APID(binary.BigEndian.Uint16(e[0:])),
			Generation: binary.BigEndian.Uint16(e[2:]),
			Connected:  e[4]&1 == 1,
			QueueLen:   binary.BigEndian.Uint16(e[6:]),
		})
	}
	return h, nil
}

// healthPayload writes the switch's status into p (MaxPayload bytes) and
// returns its length.
func (s *Switch) healthPayload(st *state, p []byte) int {
	n := min(len(st.tenants), MaxHealthTenants)
	p[0] = HealthFormat
	p[1] = byte(n)
	binary.BigEndian.PutUint16(p[2:], 0)
	binary.BigEndian.PutUint32(p[4:], uint32(min(s.Uptime()/time.Second, 1<<32-1)))
	for i, t := range st.tenants[:n] {
		e := p[healthHeader+i*healthEntry:]
		var first frame.APID
		if owns := st.pol.Tenants[i].Owns; len(owns) > 0 {
			first = owns[0].First
		}
		t.mu.Lock()
		gen, connected := t.gen, t.conn != nil
		t.mu.Unlock()
		binary.BigEndian.PutUint16(e[0:], uint16(first))
		binary.BigEndian.PutUint16(e[2:], uint16(gen))
		e[4] = 0
		if connected {
			e[4] = 1
		}
		e[5] = 0
		binary.BigEndian.PutUint16(e[6:], uint16(min(t.q.len(), 0xFFFF)))
	}
	return healthHeader + n*healthEntry
}

// Event payload layout (HEALTH frame from APIDEvents, after subscribing):
//
//	0  u8   kind: 1 connected, 2 replaced (restarted), 3 disconnected
//	1  u8   name length, at most 32
//	2  u16  first APID the tenant owns
//	4  u32  the tenant's generation after the event, low 32 bits
//	8  name bytes
const eventHeader = 8

// EventNotice is the decoded payload of an event notification.
type EventNotice struct {
	Kind       EventKind
	Tenant     string
	FirstAPID  frame.APID
	Generation uint32
}

// ParseEventNotice decodes an event notification payload. The subscription
// acknowledgement (first byte SubscribeAckKind) is not an event: it is
// refused here, ParseSubscribeAck decodes it.
func ParseEventNotice(p []byte) (EventNotice, error) {
	if len(p) < eventHeader {
		return EventNotice{}, fmt.Errorf("apidswitch: event payload of %d bytes, want at least %d", len(p), eventHeader)
	}
	k := EventKind(p[0])
	if k < Connected || k > Disconnected {
		return EventNotice{}, fmt.Errorf("apidswitch: event kind %d unknown", p[0])
	}
	n := int(p[1])
	if len(p) < eventHeader+n {
		return EventNotice{}, fmt.Errorf("apidswitch: event payload of %d bytes cannot hold a %d-byte name", len(p), n)
	}
	return EventNotice{
		Kind:       k,
		FirstAPID:  frame.APID(binary.BigEndian.Uint16(p[2:])),
		Generation: binary.BigEndian.Uint32(p[4:]),
		Tenant:     string(p[eventHeader : eventHeader+n]),
	}, nil
}

// Subscription acknowledgement layout (the first HEALTH frame from
// APIDEvents after a subscription). Its first byte, SubscribeAckKind, is
// never an EventKind, so a subscriber tells it from an event by that byte
// alone (PayloadKind):
//
//	0  u8   kind, SubscribeAckKind
//	1  u8   number of tenant entries that follow (at most MaxAckTenants)
//	2  u16  number of tenants in the policy (more than the entries: the list was cut)
//	4  u32  switch uptime in seconds
//	8  entries of 8 bytes, in policy order:
//	   0 u16 first APID the tenant owns (names it on the wire)
//	   2 u8  flags: bit 0 connected
//	   3 u8  reserved, 0
//	   4 u32 generation, low 32 bits (as in events)
const (
	SubscribeAckKind = 0x80
	ackHeader        = 8
	ackEntry         = 8
	MaxAckTenants    = (frame.MaxPayload - ackHeader) / ackEntry // 30
)

// PayloadKind is the first byte of a HEALTH payload from APIDEvents:
// SubscribeAckKind for the acknowledgement, an EventKind for an event, 0
// for an empty payload.
func PayloadKind(p []byte) byte {
	if len(p) == 0 {
		return 0
	}
	return p[0]
}

// AckTenant is one tenant entry of a SubscribeAck.
type AckTenant struct {
	FirstAPID  frame.APID
	Generation uint32 // low 32 bits, as in EventNotice
	Connected  bool
}

// SubscribeAck is the decoded acknowledgement of an event subscription: the
// state of every tenant when the subscription started.
type SubscribeAck struct {
	Uptime  time.Duration // whole seconds
	Total   int           // tenants in the policy; len(Tenants) < Total means cut
	Tenants []AckTenant
}

// ParseSubscribeAck decodes a subscription acknowledgement payload.
func ParseSubscribeAck(p []byte) (SubscribeAck, error) {
	if len(p) < ackHeader {
		return SubscribeAck{}, fmt.Errorf("apidswitch: subscription ack of %d bytes, want at least %d", len(p), ackHeader)
	}
	if p[0] != SubscribeAckKind {
		return SubscribeAck{}, fmt.Errorf("apidswitch: subscription ack kind 0x%02X, want 0x%02X", p[0], SubscribeAckKind)
	}
	n := int(p[1])
	if n > MaxAckTenants || len(p) < ackHeader+n*ackEntry {
		return SubscribeAck{}, fmt.Errorf("apidswitch: subscription ack of %d bytes cannot hold %d tenants", len(p), n)
	}
	a := SubscribeAck{
		Uptime: time.Duration(binary.BigEndian.Uint32(p[4:])) * time.Second,
		Total:  int(binary.BigEndian.Uint16(p[2:])),
	}
	if a.Total < n {
		return SubscribeAck{}, fmt.Errorf("apidswitch: subscription ack lists %d tenants of %d", n, a.Total)
	}
	a.Tenants = make([]AckTenant, n)
	for i := range n {
		e := p[ackHeader+i*ackEntry:]
		a.Tenants[i] = AckTenant{
			FirstAPID:  frame.APID(binary.BigEndian.Uint16(e[0:])),
			Connected:  e[2]&1 == 1,
			Generation: binary.BigEndian.Uint32(e[4:]),
		}
	}
	return a, nil
}

// ackPayload writes the subscription acknowledgement into p (MaxPayload
// bytes) and returns its length.
func (s *Switch) ackPayload(st *state, p []byte) int {
	n := min(len(st.tenants), MaxAckTenants)
	p[0] = SubscribeAckKind
	p[1] = byte(n)
	binary.BigEndian.PutUint16(p[2:], uint16(min(len(st.tenants), 0xFFFF)))
	binary.BigEndian.PutUint32(p[4:], uint32(min(s.Uptime()/time.Second, 1<<32-1)))
	for i, t := range st.tenants[:n] {
		e := p[ackHeader+i*ackEntry:]
		var first frame.APID
		if owns := st.pol.Tenants[i].Owns; len(owns) > 0 {
			first = owns[0].First
		}
		t.mu.Lock()
		gen, connected := t.gen, t.conn != nil
		t.mu.Unlock()
		binary.BigEndian.PutUint16(e[0:], uint16(first))
		e[2], e[3] = 0, 0
		if connected {
			e[2] = 1
		}
		binary.BigEndian.PutUint32(e[4:], uint32(gen))
	}
	return ackHeader + n*ackEntry
}

// system handles a frame routed to a system APID, on the sender's reader
// goroutine, with the sender's counters unlocked.
func (s *Switch) system(r *reader, f *frame.Frame) {
	t := r.c.t
	switch {
	case f.Type() == frame.Health && (f.Dest() == APIDHealth || f.Dest() == APIDEvents):
		if f.Dest() == APIDEvents {
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
	note.SetAPID(APIDEvents)
	p := note[frame.HeaderSize:]
	p[0] = byte(e.Kind)
	name := e.Tenant
	if len(name) > 32 {
		name = name[:32]
	}
	p[1] = byte(len(name))
	var first frame.APID
	for i, t := range st.tenants {
		if t.name == e.Tenant && len(st.pol.Tenants[i].Owns) > 0 {
			first = st.pol.Tenants[i].Owns[0].First
		}
	}
	binary.BigEndian.PutUint16(p[2:], uint16(first))
	binary.BigEndian.PutUint32(p[4:], uint32(e.Generation))
	copy(p[eventHeader:], name)
	note.SetPayloadLen(uint16(eventHeader + len(name)))
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
// (APIDHealth or APIDEvents) into p and returns its length, from the
// reader's cache when it is fresh.
func (r *reader) sysPayload(dest frame.APID, p []byte) int {
	s := r.c.sw
	now := time.Now()
	changes := s.changes.Load()
	if dest == r.sysDest && r.sysSt == r.st && changes == r.sysChanges && now.Sub(r.sysAt) < sysCacheTime {
		return copy(p, r.sysCache[:r.sysN])
	}
	var n int
	if dest == APIDEvents {
		n = s.ackPayload(r.st, p)
	} else {
		n = s.healthPayload(r.st, p)
	}
	r.sysDest, r.sysSt, r.sysChanges, r.sysAt = dest, r.st, changes, now
	r.sysN = copy(r.sysCache[:], p[:n])
	return n
}
