// Package router decides, per frame, where the APID switch sends it: to a
// local tenant, to the system handler, to the ground (the downlink), to a remote
// switch through DTN, or nowhere (an
// ERROR frame with a code back to the sender). It compiles a validated
// policy.Policy into per-sender 2048-entry tables (one per tenant, one for
// the ground), so that Route and RouteFromGround are a header check and two
// array loads, with no allocation.
//
// It is not the switch: it moves no bytes, keeps no counters and knows
// nothing of sockets or queues. It is not the policy either: what is allowed
// is package policy's business; this package only makes asking fast.
package router

import (
	"fmt"

	"spacenet/apid/frame"
	"spacenet/apid/policy"
)

// Action is what the switch does with a frame.
type Action uint8

// The four actions of spec section 5.
const (
	Drop   Action = iota // refuse; answer the sender with an ERROR frame carrying Decision.Code
	Local                // deliver to tenant Decision.Tenant
	System               // hand to the system handler (destination 0x001-0x00F)
	Ground               // send to the ground (the downlink)
	Remote               // send to remote switch Decision.Remote through DTN (policy.Remote)
)

var actionNames = [...]string{"Drop", "Local", "System", "Ground", "Remote"}

// String returns the action's name, "Local".
func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// Decision is the router's verdict on one frame.
type Decision struct {
	Action Action
	Tenant int             // Local: the destination tenant's index in the Policy; -1 otherwise
	Remote int             // Remote: the remote's index in the Policy's Remotes; 0 otherwise
	Code   frame.ErrorCode // Drop: the ERROR code to answer with; 0 otherwise
}

// String formats d as "Local(1)", "Drop(Not_permitted)", "System" or
// "Ground", for logs and test failures.
func (d Decision) String() string {
	switch d.Action {
	case Local:
		return fmt.Sprintf("Local(%d)", d.Tenant)
	case Remote:
		return fmt.Sprintf("Remote(%d)", d.Remote)
	case Drop:
		return "Drop(" + d.Code.String() + ")"
	}
	return d.Action.String()
}

// An entry packs a Decision into 16 bits: the action in the top 4 bits, the
// tenant index (Local) or error code (Drop) in the low 12. A validated
// policy has at most 0x7FE-0x010 = 2030 tenants (the ground owns at least
// one APID), which fit.
type entry uint16

const valueMask = 0xFFF

func pack(a Action, v int) entry { return entry(a)<<12 | entry(v&valueMask) }

func (e entry) decision() Decision {
	a, v := Action(e>>12), int(e&valueMask)
	switch a {
	case Local:
		return Decision{Action: Local, Tenant: v}
	case Remote:
		return Decision{Action: Remote, Tenant: -1, Remote: v}
	case Drop:
		return Decision{Action: Drop, Tenant: -1, Code: frame.ErrorCode(v)}
	}
	return Decision{Action: a, Tenant: -1}
}

// Table is a compiled policy. It is immutable after Compile, so any number
// of goroutines may Route through it at once; to change policy, compile a
// new Table and swap it in (for example with an atomic.Pointer).
type Table struct {
	p        *policy.Policy
	downlink bool                    // a ground downlink is configured
	owner    [frame.NumAPIDs]int16   // tenant owning each APID, noOwner, groundOwner or remoteOwner(r)
	dest     [][frame.NumAPIDs]entry // per sender, the decision per destination
	inject   [frame.NumAPIDs]entry   // for frames from the ground, per destination
	remote   [][frame.NumAPIDs]entry // per remote, for frames from it, per destination
}

// Values of Table.owner that are not a tenant index.
const (
	noOwner     = -1
	groundOwner = -2
)

// Compile validates p and builds its routing table. downlink says whether a
// ground downlink (space to ground) is configured; without one, frames that
// would go to the ground are dropped with No_route. The Table keeps p, which
// must not be modified afterwards.
func Compile(p *policy.Policy, downlink bool) (*Table, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("router: invalid policy: %w", err)
	}
	t := &Table{p: p, downlink: downlink, dest: make([][frame.NumAPIDs]entry, len(p.Tenants))}
	for a := range t.owner {
		t.owner[a] = noOwner
	}
	for i, tn := range p.Tenants {
		for _, r := range tn.Owns {
			for a := int(r.First); a <= int(r.Last); a++ {
				t.owner[a] = int16(i)
			}
		}
	}
	for _, r := range p.GroundOwns() {
		for a := int(r.First); a <= int(r.Last); a++ {
			t.owner[a] = groundOwner
		}
	}
	t.compileRemotes()
	for i, tn := range p.Tenants {
		allowed := reachable(append(p.SendTo(i), tn.Owns...))
		d := &t.dest[i]
		for a := range d {
			o := t.owner[a]
			switch {
			case frame.APID(a).System():
				d[a] = pack(System, 0)
			case o >= 0 && allowed[a]:
				d[a] = pack(Local, int(o))
			case o >= 0:
				d[a] = pack(Drop, int(frame.NotPermitted))
			case o <= remoteOwner(0) && allowed[a]:
				d[a] = pack(Remote, remoteOf(o))
			case o <= remoteOwner(0):
				d[a] = pack(Drop, int(frame.NotPermitted))
			case downlink && tn.Downlink:
				d[a] = pack(Ground, 0)
			default:
				d[a] = pack(Drop, int(frame.NoRoute))
			}
		}
	}
	t.inbound(&t.inject, p.GroundSendTo())
	return t, nil
}

// reachable marks the APIDs inside rs.
func reachable(rs []policy.Range) *[frame.NumAPIDs]bool {
	var allowed [frame.NumAPIDs]bool
	for _, r := range rs {
		for a := int(r.First); a <= int(r.Last) && a < frame.NumAPIDs; a++ {
			allowed[a] = true
		}
	}
	return &allowed
}

// Route decides what to do with a frame with header h that tenant sender
// (an index into the Policy's Tenants) sent, in the order of spec section 5:
//
//  1. h.Check(): Unknown_version, Unknown_type, Message_too_large, Malformed;
//  2. the source APID must be owned by sender, else Apid_not_allocated (also
//     when sender is not a tenant index);
//  3. destination 0x001-0x00F: System;
//  4. destination owned by a tenant: Local when it is sender itself or
//     inside sender's can_send_to, else Not_permitted; destination owned
//     by a remote (policy.Remote): Remote when inside sender's can_send_to,
//     else Not_permitted;
//  5. otherwise (0x000, the ground's APIDs and unowned APIDs): Ground when
//     sender may send to the ground (its policy's downlink key) and a
//     downlink is configured, else No_route.
//
// It never allocates and never panics.
func (t *Table) Route(sender int, h frame.Header) Decision {
	if c := h.Check(); c != 0 {
		return Decision{Action: Drop, Tenant: -1, Code: c}
	}
	if uint(sender) >= uint(len(t.dest)) || int(t.owner[h.APID&frame.MaxAPID]) != sender {
		return Decision{Action: Drop, Tenant: -1, Code: frame.APIDNotAllocated}
	}
	return t.dest[sender][h.Dest&frame.MaxAPID].decision()
}

// RouteFromGround decides what to do with a frame from the ground (the
// uplink, Switch.Inject), checked as a tenant's is, in the same order
// ([decision, 2026-12]: the ground is a sender with its own APIDs):
//
//  1. h.Check(): Unknown_version, Unknown_type, Message_too_large, Malformed;
//  2. the source APID must be one the ground owns (policy.Policy.GroundOwns),
//     else Apid_not_allocated: the ground cannot pose as a tenant, as the
//     switch (0x000) or as a system APID (0x001-0x00F);
//  3. destination 0x001-0x00F: System;
//  4. destination owned by a tenant: Local when it is inside the ground's
//     can_send_to (every tenant when the policy leaves it out), else
//     Not_permitted;
//  5. otherwise (0x000, the ground's own APIDs, unowned APIDs): No_route; a
//     frame from the ground is never sent back down.
//
// It never allocates and never panics.
func (t *Table) RouteFromGround(h frame.Header) Decision {
	if c := h.Check(); c != 0 {
		return Decision{Action: Drop, Tenant: -1, Code: c}
	}
	if t.owner[h.APID&frame.MaxAPID] != groundOwner {
		return Decision{Action: Drop, Tenant: -1, Code: frame.APIDNotAllocated}
	}
	return t.inject[h.Dest&frame.MaxAPID].decision()
}

// Owner returns the index of the tenant owning a, in O(1); the ground's
// APIDs are no tenant's.
func (t *Table) Owner(a frame.APID) (tenant int, ok bool) {
	if !a.Valid() || t.owner[a] < 0 {
		return -1, false
	}
	return int(t.owner[a]), true
}

// Ground reports whether the ground owns a, in O(1).
func (t *Table) Ground(a frame.APID) bool {
	return a.Valid() && t.owner[a] == groundOwner
}

// Policy returns the policy the table was compiled from.
func (t *Table) Policy() *policy.Policy { return t.p }

// GroundConfigured reports whether the table was compiled with a downlink.
func (t *Table) GroundConfigured() bool { return t.downlink }
