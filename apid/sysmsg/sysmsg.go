// Package sysmsg is the system protocol between the switch and its guests:
// the system APIDs the switch answers itself (APIDHealth, APIDEvents) and
// the codecs of the payloads it answers with: the HEALTH status (Health),
// the acknowledgement of an event subscription (SubscribeAck) and the
// tenant events that follow it (EventNotice). The switch encodes them (the
// Put functions) and guests decode them (the Parse functions); both import
// this package, so a guest program never imports the switch.
//
// Package sysmsg holds no switch logic (what the switch reports and when
// is package apidswitch's) and no transport (package guest). The frame
// header and the ERROR payload are package frame's.
package sysmsg

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

// EventKind says what happened to a tenant's connection.
type EventKind uint8

// The event kinds, also the first payload byte of an event notification.
const (
	Connected    EventKind = 1 // a first connection, or one after the tenant went away
	Replaced     EventKind = 2 // a new connection replaced a live one (a restarted guest)
	Disconnected EventKind = 3 // the connection ended and none replaced it
)

// String returns "connected", "replaced" or "disconnected".
func (k EventKind) String() string {
	switch k {
	case Connected:
		return "connected"
	case Replaced:
		return "replaced"
	case Disconnected:
		return "disconnected"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// uptimeSeconds is d in whole seconds, clamped to a u32.
func uptimeSeconds(d time.Duration) uint32 {
	return uint32(min(d/time.Second, 1<<32-1))
}

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
		return Health{}, fmt.Errorf("sysmsg: HEALTH payload of %d bytes, want at least %d", len(p), healthHeader)
	}
	if p[0] != HealthFormat {
		return Health{}, fmt.Errorf("sysmsg: HEALTH payload format %d, want %d", p[0], HealthFormat)
	}
	n := int(p[1])
	if len(p) < healthHeader+n*healthEntry {
		return Health{}, fmt.Errorf("sysmsg: HEALTH payload of %d bytes cannot hold %d tenants", len(p), n)
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

// PutHealthHeader writes the header of a Health payload of n tenant
// entries (n at most MaxHealthTenants) into p and returns the payload's
// length; PutHealthTenant writes the entries. It never allocates.
func PutHealthHeader(p []byte, n int, uptime time.Duration) int {
	p[0] = HealthFormat
	p[1] = byte(n)
	binary.BigEndian.PutUint16(p[2:], 0)
	binary.BigEndian.PutUint32(p[4:], uptimeSeconds(uptime))
	return healthHeader + n*healthEntry
}

// PutHealthTenant writes entry i of a Health payload into p.
func PutHealthTenant(p []byte, i int, t HealthTenant) {
	e := p[healthHeader+i*healthEntry:]
	binary.BigEndian.PutUint16(e[0:], uint16(t.FirstAPID))
	binary.BigEndian.PutUint16(e[2:], t.Generation)
	e[4] = 0
	if t.Connected {
		e[4] = 1
	}
	e[5] = 0
	binary.BigEndian.PutUint16(e[6:], t.QueueLen)
}

// Event payload layout (HEALTH frame from APIDEvents, after subscribing):
//
//	0  u8   kind: 1 connected, 2 replaced (restarted), 3 disconnected
//	1  u8   name length, at most MaxEventName
//	2  u16  first APID the tenant owns
//	4  u32  the tenant's generation after the event, low 32 bits
//	8  name bytes
const (
	eventHeader  = 8
	MaxEventName = 32 // a longer tenant name is cut
)

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
		return EventNotice{}, fmt.Errorf("sysmsg: event payload of %d bytes, want at least %d", len(p), eventHeader)
	}
	k := EventKind(p[0])
	if k < Connected || k > Disconnected {
		return EventNotice{}, fmt.Errorf("sysmsg: event kind %d unknown", p[0])
	}
	n := int(p[1])
	if len(p) < eventHeader+n {
		return EventNotice{}, fmt.Errorf("sysmsg: event payload of %d bytes cannot hold a %d-byte name", len(p), n)
	}
	return EventNotice{
		Kind:       k,
		FirstAPID:  frame.APID(binary.BigEndian.Uint16(p[2:])),
		Generation: binary.BigEndian.Uint32(p[4:]),
		Tenant:     string(p[eventHeader : eventHeader+n]),
	}, nil
}

// PutEventNotice writes e into p (MaxPayload bytes), its tenant name cut
// to MaxEventName bytes, and returns the payload's length. It never
// allocates.
func PutEventNotice(p []byte, e EventNotice) int {
	name := e.Tenant
	if len(name) > MaxEventName {
		name = name[:MaxEventName]
	}
	p[0] = byte(e.Kind)
	p[1] = byte(len(name))
	binary.BigEndian.PutUint16(p[2:], uint16(e.FirstAPID))
	binary.BigEndian.PutUint32(p[4:], e.Generation)
	return eventHeader + copy(p[eventHeader:], name)
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
		return SubscribeAck{}, fmt.Errorf("sysmsg: subscription ack of %d bytes, want at least %d", len(p), ackHeader)
	}
	if p[0] != SubscribeAckKind {
		return SubscribeAck{}, fmt.Errorf("sysmsg: subscription ack kind 0x%02X, want 0x%02X", p[0], SubscribeAckKind)
	}
	n := int(p[1])
	if n > MaxAckTenants || len(p) < ackHeader+n*ackEntry {
		return SubscribeAck{}, fmt.Errorf("sysmsg: subscription ack of %d bytes cannot hold %d tenants", len(p), n)
	}
	a := SubscribeAck{
		Uptime: time.Duration(binary.BigEndian.Uint32(p[4:])) * time.Second,
		Total:  int(binary.BigEndian.Uint16(p[2:])),
	}
	if a.Total < n {
		return SubscribeAck{}, fmt.Errorf("sysmsg: subscription ack lists %d tenants of %d", n, a.Total)
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

// PutAckHeader writes the header of a SubscribeAck payload of n tenant
// entries (n at most MaxAckTenants) out of total into p and returns the
// payload's length; PutAckTenant writes the entries. It never allocates.
func PutAckHeader(p []byte, n, total int, uptime time.Duration) int {
	p[0] = SubscribeAckKind
	p[1] = byte(n)
	binary.BigEndian.PutUint16(p[2:], uint16(min(total, 0xFFFF)))
	binary.BigEndian.PutUint32(p[4:], uptimeSeconds(uptime))
	return ackHeader + n*ackEntry
}

// PutAckTenant writes entry i of a SubscribeAck payload into p.
func PutAckTenant(p []byte, i int, t AckTenant) {
	e := p[ackHeader+i*ackEntry:]
	binary.BigEndian.PutUint16(e[0:], uint16(t.FirstAPID))
	e[2], e[3] = 0, 0
	if t.Connected {
		e[2] = 1
	}
	binary.BigEndian.PutUint32(e[4:], t.Generation)
}
