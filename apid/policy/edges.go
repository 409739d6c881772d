package policy

// The policy as a graph: one edge per "may send to", as ops/topology draws
// it and as the switch's status pages and metrics key their per-pair
// counts.

// Edge is one "may send to".
type Edge struct {
	From, To string
	Kind     string  // "route" (tenant to tenant), "downlink" (to the ground: space to ground), "uplink" (from it)
	Ranges   []Range // the destination's APIDs the sender may reach; nil: all of them
}

// Edges lists p's edges, what it permits (package ops/topology draws
// them): each tenant's in policy order (routes to tenants in policy order,
// then its downlink), then the ground's.
func (p *Policy) Edges() []Edge {
	var out []Edge
	for i := range p.Tenants {
		from := p.Tenants[i].Name
		out = append(out, reach(p, from, p.SendTo(i), "route")...)
		if p.Tenants[i].Downlink {
			out = append(out, Edge{From: from, To: GroundName, Kind: "downlink"})
		}
	}
	return append(out, reach(p, GroundName, p.GroundSendTo(), "uplink")...)
}

// reach gives an edge from from to every other tenant that owns an APID in
// to, with the ranges it reaches (nil when it reaches all it owns).
func reach(p *Policy, from string, to []Range, kind string) []Edge {
	var out []Edge
	for j := range p.Tenants {
		dst := &p.Tenants[j]
		if dst.Name == from {
			continue
		}
		var got []Range
		all := true
		for _, own := range dst.Owns {
			n := 0
			for _, r := range to {
				if lo, hi := max(own.First, r.First), min(own.Last, r.Last); lo <= hi {
					got = append(got, Range{First: lo, Last: hi})
					n += Range{First: lo, Last: hi}.Len()
				}
			}
			all = all && n >= own.Len()
		}
		if len(got) == 0 {
			continue
		}
		if all {
			got = nil
		}
		out = append(out, Edge{From: from, To: dst.Name, Kind: kind, Ranges: got})
	}
	return out
}

// EdgeKey names the edge from from to to in notes, SVG ids and indexes of per-pair counts: "from->to".
func EdgeKey(from, to string) string { return from + "->" + to }
