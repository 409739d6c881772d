package router

import (
	"spacenet/apid/frame"
	"spacenet/apid/policy"
)

// Remotes (policy.Remote): APIDs served by another switch through DTN. In
// Table.owner, remote r is remoteOwner(r).

func remoteOwner(r int) int16 { return int16(-3 - r) }

func remoteOf(o int16) int { return int(-3 - o) }

// compileRemotes marks the remotes' APIDs in t.owner and builds the table
// for frames from each remote. t.owner holds the tenants' and the ground's
// already.
func (t *Table) compileRemotes() {
	p := t.p
	for i, rm := range p.Remotes {
		for _, r := range rm.Owns {
			for a := int(r.First); a <= int(r.Last); a++ {
				t.owner[a] = remoteOwner(i)
			}
		}
	}
	t.remote = make([][frame.NumAPIDs]entry, len(p.Remotes))
	for i := range p.Remotes {
		t.inbound(&t.remote[i], p.RemoteSendTo(i))
	}
}

// inbound fills d, the table of a sender from outside (the ground, a
// remote) that may reach the tenants in sendTo: system APIDs, those
// tenants, Not_permitted for other tenants, No_route for anything else.
func (t *Table) inbound(d *[frame.NumAPIDs]entry, sendTo []policy.Range) {
	allowed := reachable(sendTo)
	for a := range d {
		o := t.owner[a]
		switch {
		case frame.APID(a).System():
			d[a] = pack(System, 0)
		case o >= 0 && allowed[a]:
			d[a] = pack(Local, int(o))
		case o >= 0:
			d[a] = pack(Drop, int(frame.NotPermitted))
		default:
			d[a] = pack(Drop, int(frame.NoRoute))
		}
	}
}

// RouteFromRemote decides what to do with a frame that came from remote
// (an index into the Policy's Remotes) through DTN, checked as a tenant's
// is, in the same order:
//
//  1. h.Check(): Unknown_version, Unknown_type, Message_too_large, Malformed;
//  2. the source APID must be one the remote owns, else Apid_not_allocated
//     (also when remote is not an index): a remote cannot pose as a local
//     tenant, the ground, another remote or the switch;
//  3. destination 0x001-0x00F: System;
//  4. destination owned by a local tenant: Local when it is inside the
//     remote's can_send_to (every tenant when the policy leaves it out),
//     else Not_permitted;
//  5. otherwise No_route: a frame from a remote never goes on to the
//     ground or to another remote.
//
// It never allocates and never panics.
func (t *Table) RouteFromRemote(remote int, h frame.Header) Decision {
	if c := h.Check(); c != 0 {
		return Decision{Action: Drop, Tenant: -1, Code: c}
	}
	if uint(remote) >= uint(len(t.remote)) || t.owner[h.APID&frame.MaxAPID] != remoteOwner(remote) {
		return Decision{Action: Drop, Tenant: -1, Code: frame.APIDNotAllocated}
	}
	return t.remote[remote][h.Dest&frame.MaxAPID].decision()
}

// RemoteOwner returns the index of the remote owning a, in O(1).
func (t *Table) RemoteOwner(a frame.APID) (remote int, ok bool) {
	if !a.Valid() || t.owner[a] > remoteOwner(0) {
		return -1, false
	}
	return remoteOf(t.owner[a]), true
}
