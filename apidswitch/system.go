package apidswitch

import (
	"encoding/binary"
	"fmt"
	"time"

	"spacenet/frame"
)

// The system APIDs the switch answers itself (spec section 5 leaves their
// meaning to the switch; these are this project's decisions).
const (
	// APIDHealth: a HEALTH frame sent here is answered with a HEALTH frame
	// from this APID carrying the switch's status (see Health).
	APIDHealth frame.APID = 0x001
	// APIDEvents: a HEALTH frame sent here subscribes the sending
	// connection to tenant events. The switch answers at once with a HEALTH
	// status frame from this APID (the acknowledgement), then sends a
	// HEALTH frame from this APID carrying an event payload (see
	// EventNotice) every time a tenant connects, is replaced (a restarted
	// guest: its generation changed) or goes away. A subscription lasts as
	// long as the connection: a reconnected guest subscribes again.
	APIDEvents frame.APID = 0x002
)

// Health payload layout (HEALTH frame from APIDHealth or APIDEvents):
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

// ParseEventNotice decodes an event notification payload.
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
		n := s.healthPayload(r.st, reply[frame.HeaderSize:])
		reply.SetVersion(frame.Version)
		reply.SetType(frame.Health)
		reply.SetAPID(f.Dest())
		reply.SetDest(f.APID())
		reply.SetPayloadLen(uint16(n))
		if t.enqueueNotice(&reply) {
			t.q.signal()
		}
	case s.cfg.System != nil:
		s.cfg.System(t.name, f)
	default:
		n := s.systemOther.Add(1)
		s.log.Info("system frame not handled", "tenant", t.name, "type", f.Type(), "apid", f.APID(), "dest", f.Dest(), "payload_length", f.PayloadLen(), "count", n)
	}
}

// event tells the subscribed guests and Config.OnEvent about e.
func (s *Switch) event(e Event) {
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
