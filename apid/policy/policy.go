// Package policy is the APID plane's configuration: which tenants (guest VMs)
// exist, which APID ranges each one owns, to whom each may send, and whether
// it may send to the ground (the downlink); and which APIDs the ground owns and to
// whom it may send. It parses and validates the policy file and provides
// the built-in "v0" topology used when no file is given.
//
// It is not the router: package router compiles a validated Policy into the
// 2048-entry table that the switch consults per frame. Nothing here is on the
// per-frame path, so clarity wins over speed.
//
// # File format
//
// A policy file is TOML with one [[tenant]] table per tenant, at most one
// [ground] table, [[remote]] tables for APIDs other switches serve through
// DTN (see Remote) and nothing else:
//
//	# camera owns 0x010-0x01F and may talk to processor and spaceos.
//	[[tenant]]
//	name = "camera"                       # [a-z0-9][a-z0-9_-]{0,31}, unique
//	owns = ["0x010-0x01F"]                # at least one range, inside 0x010-0x7FE
//	can_send_to = ["processor", "spaceos"] # tenant names or APID ranges
//	downlink = true                       # may send to the ground (space to ground)
//
//	# The ground (frames from the uplink, Switch.Inject) sends from 0x7F0.
//	[ground]
//	owns = ["0x7F0"]                      # default ["0x7F0"]
//	can_send_to = ["processor"]           # default: every tenant
//
// A range is "FIRST-LAST" (inclusive) or a single APID, each written as a Go
// integer literal, conventionally three hex digits: "0x010-0x01F", "0x015".
// owns and name are required; can_send_to defaults to empty (the tenant can
// still reach itself and the system APIDs) and downlink to false. The
// key was called uplink until 2026-12 (uplink is ground to space): a file
// that still says uplink is refused with an error saying so. The optional
// keys when_full, hold, rate, burst, when_over_rate and resync set the tenant's Flow
// (see Flow: by default the switch holds a frame for a full queue up to
// 100 ms rather than refuse it, and no rate limit applies). Unknown keys
// are errors, so a misspelt key never silently changes routing. See
// testdata/v0.toml for the default topology written out.
//
// # The ground
//
// [decision, 2026-12] The ground is a sender like a tenant, with its own
// APIDs: a frame from the ground must carry one of them as its source APID,
// so the ground cannot pose as a tenant, as the switch (0x000) or as a
// system APID (0x001-0x00F: only the switch sends from those). Its owns
// follows the tenants' rules (inside 0x010-0x7FE, owned by no tenant);
// without a [ground] table, or without owns in it, the ground owns
// DefaultGroundAPID (0x7F0). Its can_send_to lists, as a tenant's does, the
// tenants it may reach; left out, the ground may reach every tenant (what
// the ground could do before it had APIDs of its own), while
// `can_send_to = []` lets it reach none (only the system APIDs). Tenants
// send to the ground's APIDs, as to 0x000 and to unowned APIDs, through the
// downlink (their downlink key decides); their can_send_to plays no part there.
// "ground" is not a tenant name: it names the ground in counters and logs.
//
// # Validation
//
// Validate reports every problem at once, each naming the file, the line
// where it can be found, the tenant and the field:
//
//	cfg.toml:7: tenant "processor": owns: 0x015 already owned by tenant "camera" (line 3)
//
// Rules (spec section 5): owned ranges lie inside 0x010-0x7FE with
// FIRST <= LAST, so 0x000 (the switch, "to ground"), 0x001-0x00F (system) and
// 0x7FF (idle) are owned by nobody; no APID is owned twice (by two tenants,
// or by a tenant and the ground); names match [a-z0-9][a-z0-9_-]{0,31}, are
// unique and are not "ground"; every can_send_to entry (the ground's too)
// is an APID range or an existing tenant's name; every tenant owns
// something. An APID both the ground and a tenant own is reported at the
// tenant, naming the ground's line:
//
//	cfg.toml:3: tenant "camera": owns: 0x7F0 already owned by the ground (default 0x7F0: a [ground] table can move it)
//
// [decision] A can_send_to entry that reads as an APID range is a range;
// otherwise it is a tenant name. To keep that unambiguous, a tenant name
// that reads as an APID (such as "16" or "0x1f") is rejected. A can_send_to
// range may be any valid range in 0x000-0x7FF: only the owned APIDs in it
// matter, since unowned destinations go to the ground and system ones are
// always reachable. A tenant whose own ranges overlap each other is an error
// too, as it is always a typing mistake. A file with no tenants is an error.
package policy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"spacenet/apid/frame"
)

// Range is an inclusive range of APIDs, First <= Last.
type Range struct{ First, Last frame.APID }

// String formats r as "0x010-0x01F", or "0x015" when it holds one APID.
func (r Range) String() string {
	if r.First == r.Last {
		return r.First.String()
	}
	return r.First.String() + "-" + r.Last.String()
}

// Contains reports whether a lies inside r.
func (r Range) Contains(a frame.APID) bool { return a >= r.First && a <= r.Last }

// Len returns how many APIDs r holds (0 when First > Last).
func (r Range) Len() int {
	if r.First > r.Last {
		return 0
	}
	return int(r.Last) - int(r.First) + 1
}

// intersect returns the APIDs that r and o share, and whether there are any.
func (r Range) intersect(o Range) (Range, bool) {
	x := Range{max(r.First, o.First), min(r.Last, o.Last)}
	return x, x.First <= x.Last
}

// ParseRange parses "0x010-0x01F" (inclusive) or a single APID "0x015". Each
// APID is a Go integer literal ("0x010", "16") of at most 11 bits; spaces
// around each APID are allowed. It fails when FIRST > LAST.
func ParseRange(s string) (Range, error) {
	first, last, isRange := strings.Cut(s, "-")
	a, err := parseAPID(first)
	if err != nil {
		return Range{}, fmt.Errorf("range %q: %w", s, err)
	}
	if !isRange {
		return Range{a, a}, nil
	}
	b, err := parseAPID(last)
	if err != nil {
		return Range{}, fmt.Errorf("range %q: %w", s, err)
	}
	if a > b {
		return Range{}, fmt.Errorf("range %q: first %v > last %v", s, a, b)
	}
	return Range{a, b}, nil
}

// parseAPID parses one APID of a range, with short error messages.
func parseAPID(s string) (frame.APID, error) {
	s = strings.Trim(s, " \t")
	v, err := strconv.ParseUint(s, 0, 64)
	switch {
	case err != nil && errors.Is(err, strconv.ErrRange):
		return 0, fmt.Errorf("%s exceeds 0x7FF", s)
	case err != nil:
		return 0, fmt.Errorf("%q is not an APID (want a number such as 0x010)", s)
	case v > uint64(frame.MaxAPID):
		return 0, fmt.Errorf("%s exceeds 0x7FF", s)
	}
	return frame.APID(v), nil
}

// DefaultGroundAPID is what the ground owns when the policy does not say.
const DefaultGroundAPID frame.APID = 0x7F0

// GroundName names the ground where tenants are named (counters, logs,
// Config.System); no tenant may take it.
const GroundName = "ground"

// Ground is the ground link as a sender: the APIDs frames from the ground
// may carry as their source, and the tenants it may send to.
type Ground struct {
	// Owns are the ground's APIDs; empty means DefaultGroundAPID.
	Owns []Range
	// CanSendTo lists, as written, the tenant names or APID ranges the
	// ground may send to. nil means every tenant; an empty, non-nil list
	// means none (the system APIDs stay reachable).
	CanSendTo []string
}

// Tenant is one guest VM: its name, the APIDs it owns (and may send from),
// where it may send, and whether it may send to the ground (the downlink).
type Tenant struct {
	Name      string
	Owns      []Range
	CanSendTo []string // as written: tenant names or APID ranges ("0x020-0x02F")
	Downlink  bool     // may send to the ground (space to ground): the downlink key
	Flow      Flow     // flow control and rate limit; the zero Flow is the default
}

// Policy is the whole APID plane configuration. Build one with Default,
// Load or Parse; a Policy built by hand must pass Validate before use.
type Policy struct {
	Tenants []Tenant
	Ground  Ground   // the zero Ground: DefaultGroundAPID, may send to every tenant
	Remotes []Remote // APID ranges served by other switches through DTN (see Remote)
	Source  string   // file it came from, or "built-in v0"

	pos *positions // where each tenant and field was found in Source, if parsed
}

// DefaultSource is the Source of Default's policy.
const DefaultSource = "built-in v0"

// Default returns the v0 topology of spec section 5: camera 0x010-0x01F,
// processor 0x020-0x02F and spaceos 0x100-0x2FF, each allowed to send to the
// other two, and the ground on DefaultGroundAPID (0x7F0), allowed to send
// to all three.
//
// [decision] All three may send to the ground: the seed forwards every frame
// whose destination no tenant owns to the DTN ground callback, with no
// per-tenant restriction, so the default keeps that behaviour.
func Default() *Policy {
	return &Policy{
		Source: DefaultSource,
		Tenants: []Tenant{
			{Name: "camera", Owns: []Range{{0x010, 0x01F}}, CanSendTo: []string{"processor", "spaceos"}, Downlink: true},
			{Name: "processor", Owns: []Range{{0x020, 0x02F}}, CanSendTo: []string{"camera", "spaceos"}, Downlink: true},
			{Name: "spaceos", Owns: []Range{{0x100, 0x2FF}}, CanSendTo: []string{"camera", "processor"}, Downlink: true},
		},
		Ground: Ground{Owns: []Range{{DefaultGroundAPID, DefaultGroundAPID}}},
	}
}

// GroundOwns returns the ground's APIDs: p.Ground.Owns, or DefaultGroundAPID
// when that is empty.
func (p *Policy) GroundOwns() []Range {
	if len(p.Ground.Owns) == 0 {
		return []Range{{DefaultGroundAPID, DefaultGroundAPID}}
	}
	return p.Ground.Owns
}

// GroundSendTo returns the ground's can_send_to resolved to ranges, as
// SendTo does for a tenant; a nil CanSendTo gives every tenant's Owns.
func (p *Policy) GroundSendTo() []Range {
	if p.Ground.CanSendTo == nil {
		var out []Range
		for _, t := range p.Tenants {
			out = append(out, t.Owns...)
		}
		return out
	}
	return p.resolve(p.Ground.CanSendTo)
}

// Index returns the index in p.Tenants of the tenant called name.
func (p *Policy) Index(name string) (int, bool) {
	for i := range p.Tenants {
		if p.Tenants[i].Name == name {
			return i, true
		}
	}
	return -1, false
}

// Owner returns the index of the tenant that owns a. On a policy that
// failed Validate, the first owner wins.
func (p *Policy) Owner(a frame.APID) (tenant int, ok bool) {
	for i := range p.Tenants {
		for _, r := range p.Tenants[i].Owns {
			if r.Contains(a) {
				return i, true
			}
		}
	}
	return -1, false
}

// SendTo returns tenant's can_send_to resolved to ranges: a range entry as
// itself, a tenant name as that tenant's Owns. Entries that resolve to
// nothing (which Validate rejects) are skipped; an index out of range gives
// nil.
func (p *Policy) SendTo(tenant int) []Range {
	if tenant < 0 || tenant >= len(p.Tenants) {
		return nil
	}
	return p.resolve(p.Tenants[tenant].CanSendTo)
}

// resolve turns can_send_to entries into ranges: a range as itself, a
// tenant name as that tenant's Owns; anything else is skipped.
func (p *Policy) resolve(entries []string) []Range {
	var out []Range
	for _, e := range entries {
		if r, err := ParseRange(e); err == nil {
			out = append(out, r)
		} else if i, ok := p.Index(e); ok {
			out = append(out, p.Tenants[i].Owns...)
		} else if i, ok := p.RemoteIndex(e); ok {
			out = append(out, p.Remotes[i].Owns...)
		}
	}
	return out
}
