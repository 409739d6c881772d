package control

import (
	"fmt"
	"time"

	"spacenet/apid/apidswitch"
	"spacenet/apid/policy"
)

// Rate is a counter's rate per second between two snapshots.
type Rate struct {
	PerSecond float64
	// Known is false without an earlier snapshot, when no time passed
	// between the two, or when the counter went back (a restart).
	Known bool
}

// RateOf is the rate of a counter that was before in an earlier snapshot
// (have: there is one) and is now, dt later.
func RateOf(now, before uint64, dt time.Duration, have bool) Rate {
	if !have || dt <= 0 || now < before {
		return Rate{}
	}
	return Rate{PerSecond: float64(now-before) / dt.Seconds(), Known: true}
}

// String is the rate rounded to a whole number of frames, "-" when it is
// not known.
func (r Rate) String() string {
	if !r.Known {
		return "-"
	}
	return fmt.Sprintf("%.0f", r.PerSecond)
}

// ByName indexes the snapshot's tenants (removed ones too) and its ground
// (as "ground", apidswitch.GroundPeer) by name: build it once, then look a
// tenant up in constant time. A name twice (a tenant removed by a reload,
// then added again) is its first row: the tenant of the policy in force,
// whose rows come before the removed ones', as FramesByEdge keeps a
// pair's first edge.
func (s *APID) ByName() map[string]*Tenant {
	m := make(map[string]*Tenant, len(s.Tenants)+1)
	for i := range s.Tenants {
		if _, dup := m[s.Tenants[i].Name]; !dup {
			m[s.Tenants[i].Name] = &s.Tenants[i]
		}
	}
	m[apidswitch.GroundPeer] = &s.Ground
	return m
}

// FramesByEdge indexes the snapshot's edges' frames by policy.EdgeKey,
// keeping a pair's first edge as EdgeFrames does (a tenant removed and
// added again by a reload can appear twice): one lookup per edge, where
// EdgeFrames scans them all.
func (s *APID) FramesByEdge() map[string]uint64 {
	m := make(map[string]uint64, len(s.Edges))
	for _, e := range s.Edges {
		k := policy.EdgeKey(e.From, e.To)
		if _, dup := m[k]; !dup {
			m[k] = e.Frames
		}
	}
	return m
}

// Delta is a snapshot of a switch against an earlier one of the same
// switch: the rates of its counters between the two. Make one with
// APID.Since; its indexes are built once.
type Delta struct {
	Now    *APID
	Before *APID // nil: no earlier snapshot, every rate unknown
	// Interval is Now.Time - Before.Time (0 without Before).
	Interval time.Duration

	tenants map[string]*Tenant // Before's, by name (empty without Before)
	edges   map[string]uint64  // Before's edges' frames by policy.EdgeKey
	now     map[string]uint64  // Now's edges' frames by policy.EdgeKey
}

// Since compares s with before, an earlier snapshot of the same switch
// (nil: none).
func (s *APID) Since(before *APID) *Delta {
	d := &Delta{Now: s, Before: before, tenants: map[string]*Tenant{}, edges: map[string]uint64{}, now: s.FramesByEdge()}
	if before != nil {
		d.Interval = s.Time.Sub(before.Time)
		d.tenants = before.ByName()
		d.edges = before.FramesByEdge()
	}
	return d
}

// TenantRates is the rates of t (one of Now's tenants, or its ground)
// against Before's tenant of the same name: frames received (in) and
// forwarded (out, Tenant.Forwarded) per second. Both are unknown when
// Before has no such tenant.
func (d *Delta) TenantRates(t *Tenant) (in, out Rate) {
	b, have := d.tenants[t.Name]
	if !have {
		return Rate{}, Rate{}
	}
	return RateOf(t.Received, b.Received, d.Interval, true), RateOf(t.Forwarded(), b.Forwarded(), d.Interval, true)
}

// EdgeRate is one edge of a running switch: the frames on it so far and
// their rate.
type EdgeRate struct {
	From, To string
	Frames   uint64
	Rate     Rate
}

// Edges lists the edges of the policy in force in Now (policy.Policy.Edges,
// in that order), then any other pair of Now.Edges that carried frames
// (before a reload), each once, with its frames (0 when none) and its rate
// against Before. The error is Now.PolicyInForce's.
func (d *Delta) Edges() ([]EdgeRate, error) {
	pol, err := d.Now.PolicyInForce()
	if err != nil {
		return nil, err
	}
	policyEdges := pol.Edges()
	rows := make([]EdgeRate, 0, len(policyEdges)+len(d.Now.Edges))
	seen := make(map[string]bool, cap(rows))
	add := func(from, to string) {
		k := policy.EdgeKey(from, to)
		if seen[k] {
			return
		}
		seen[k] = true
		n := d.now[k]
		rows = append(rows, EdgeRate{From: from, To: to, Frames: n, Rate: RateOf(n, d.edges[k], d.Interval, d.Before != nil)})
	}
	for _, e := range policyEdges {
		add(e.From, e.To)
	}
	for _, e := range d.Now.Edges {
		add(e.From, e.To)
	}
	return rows, nil
}
