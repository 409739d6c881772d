package router

import (
	"fmt"
	"testing"

	"spacenet/apid/frame"
	"spacenet/apid/policy"
)

// ref is the reference router, written from the text of spec section 5
// with plain loops over the policy, to check the compiled tables against.
func ref(p *policy.Policy, downlink bool, sender int, h frame.Header) Decision {
	drop := func(c frame.ErrorCode) Decision { return Decision{Action: Drop, Tenant: -1, Code: c} }
	// 1. decode
	if h.Version != frame.Version {
		return drop(frame.UnknownVersion)
	}
	if h.Type > frame.Error {
		return drop(frame.UnknownType)
	}
	if h.PayloadLen > 248 {
		return drop(frame.MessageTooLarge)
	}
	if h.APID > 0x7FF || h.Dest > 0x7FF {
		return drop(frame.Malformed)
	}
	owner := func(a frame.APID) int {
		for i, t := range p.Tenants {
			for _, r := range t.Owns {
				if r.First <= a && a <= r.Last {
					return i
				}
			}
		}
		return -1
	}
	// 2. source APID belongs to the sender
	if sender < 0 || sender >= len(p.Tenants) || owner(h.APID) != sender {
		return drop(frame.APIDNotAllocated)
	}
	// 3. system
	if h.Dest >= 0x001 && h.Dest <= 0x00F {
		return Decision{Action: System, Tenant: -1}
	}
	// 4. owned destination
	if o := owner(h.Dest); o >= 0 {
		if o == sender {
			return Decision{Action: Local, Tenant: o}
		}
		for _, e := range p.Tenants[sender].CanSendTo {
			if e == p.Tenants[o].Name {
				return Decision{Action: Local, Tenant: o}
			}
			if r, err := policy.ParseRange(e); err == nil && r.First <= h.Dest && h.Dest <= r.Last {
				return Decision{Action: Local, Tenant: o}
			}
		}
		return drop(frame.NotPermitted)
	}
	// 5. everything else, 0x000 included
	if downlink && p.Tenants[sender].Downlink {
		return Decision{Action: Ground, Tenant: -1}
	}
	return drop(frame.NoRoute)
}

// refGround is the reference for frames from the ground, from the text of
// spec section 2's 2026-12 decision and section 5: the ground is checked as
// a sender like a tenant, with its own APIDs and can_send_to.
func refGround(p *policy.Policy, h frame.Header) Decision {
	drop := func(c frame.ErrorCode) Decision { return Decision{Action: Drop, Tenant: -1, Code: c} }
	if d := ref(p, false, 0, h); d.Action == Drop && d.Code != frame.APIDNotAllocated && d.Code != frame.NotPermitted && d.Code != frame.NoRoute {
		return d // 1. decode, as for a tenant
	}
	in := func(rs []policy.Range, a frame.APID) bool {
		for _, r := range rs {
			if r.First <= a && a <= r.Last {
				return true
			}
		}
		return false
	}
	groundOwns := p.Ground.Owns
	if len(groundOwns) == 0 {
		groundOwns = []policy.Range{{First: 0x7F0, Last: 0x7F0}}
	}
	// 2. the source APID is the ground's; 0x000-0x00F never are.
	if h.APID <= 0x00F || !in(groundOwns, h.APID) {
		return drop(frame.APIDNotAllocated)
	}
	// 3. system
	if h.Dest >= 0x001 && h.Dest <= 0x00F {
		return Decision{Action: System, Tenant: -1}
	}
	// 4. owned destination: every tenant when can_send_to is left out.
	for o, t := range p.Tenants {
		if !in(t.Owns, h.Dest) {
			continue
		}
		if p.Ground.CanSendTo == nil {
			return Decision{Action: Local, Tenant: o}
		}
		for _, e := range p.Ground.CanSendTo {
			if e == t.Name {
				return Decision{Action: Local, Tenant: o}
			}
			if r, err := policy.ParseRange(e); err == nil && r.First <= h.Dest && h.Dest <= r.Last {
				return Decision{Action: Local, Tenant: o}
			}
		}
		return drop(frame.NotPermitted)
	}
	// 5. nobody's, the ground's own, 0x000: never sent back up.
	return drop(frame.NoRoute)
}

// mixed is a policy exercising what v0 does not: can_send_to ranges that
// cover part of a tenant, a tenant reaching nobody, no downlink for some,
// several ranges per tenant, a ground with two ranges that may reach part
// of the tenants.
func mixed(t testing.TB) *policy.Policy {
	p, err := policy.Parse("mixed.toml", []byte(`
[[tenant]]
name = "camera"
owns = ["0x010-0x01F", "0x7F0-0x7FE"]
can_send_to = ["0x020-0x024", "0x000-0x00F"]
downlink = true

[[tenant]]
name = "processor"
owns = ["0x020-0x02F"]
can_send_to = ["camera", "0x300"]

[[tenant]]
name = "loner"
owns = ["0x300", "0x302"]

[[tenant]]
name = "spaceos"
owns = ["0x100-0x2FF"]
can_send_to = ["0x000-0x7FF"]
downlink = true

[ground]
owns = ["0x7A0-0x7A3", "0x050"]
can_send_to = ["processor", "0x300", "0x2FF"]
`))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func valid(src, dest frame.APID) frame.Header {
	return frame.Header{Version: frame.Version, Type: frame.TM, APID: src, PayloadLen: 5, Dest: dest}
}

// TestRouteExhaustive compares Route with ref for every sender (and two
// that are not tenants), every source APID and every destination APID, and
// RouteFromGround with refGround for every source and destination, on v0
// and on the mixed policy, with and without a downlink. Under -race, where
// this is slow, every source APID is replaced by one per class: owned by the
// sender at each end of each of its ranges, owned by another tenant, unowned
// and reserved.
func TestRouteExhaustive(t *testing.T) {
	for _, pc := range []struct {
		name string
		p    *policy.Policy
	}{{"v0", policy.Default()}, {"mixed", mixed(t)}} {
		for _, downlink := range []bool{true, false} {
			tb, err := Compile(pc.p, downlink)
			if err != nil {
				t.Fatal(err)
			}
			var sources []frame.APID
			if raceEnabled {
				sources = []frame.APID{0x000, 0x001, 0x00F, 0x030, 0x7FF}
				for _, tn := range pc.p.Tenants {
					for _, r := range tn.Owns {
						sources = append(sources, r.First, r.Last, (r.First+r.Last)/2)
					}
				}
			} else {
				for a := range frame.NumAPIDs {
					sources = append(sources, frame.APID(a))
				}
			}
			calls, bad := 0, 0
			for sender := -1; sender <= len(pc.p.Tenants); sender++ {
				for _, src := range sources {
					for d := range frame.NumAPIDs {
						h := valid(src, frame.APID(d))
						got, want := tb.Route(sender, h), ref(pc.p, downlink, sender, h)
						calls++
						if got != want {
							bad++
							if bad <= 10 {
								t.Errorf("%s downlink=%v: Route(%d, src %v, dest %v) = %v, want %v", pc.name, downlink, sender, src, frame.APID(d), got, want)
							}
						}
					}
				}
			}
			// The ground as the sender: every source APID, every destination.
			for s := range frame.NumAPIDs {
				for d := range frame.NumAPIDs {
					h := valid(frame.APID(s), frame.APID(d))
					got, want := tb.RouteFromGround(h), refGround(pc.p, h)
					calls++
					if got != want {
						bad++
						if bad <= 10 {
							t.Errorf("%s downlink=%v: RouteFromGround(src %v, dest %v) = %v, want %v", pc.name, downlink, frame.APID(s), frame.APID(d), got, want)
						}
					}
				}
			}
			if bad > 0 {
				t.Errorf("%s downlink=%v: %d of %d decisions differ", pc.name, downlink, bad, calls)
			}
			t.Logf("%s downlink=%v: %d decisions checked", pc.name, downlink, calls)
		}
	}
}

// TestRouteHeaders checks step 1 and its order against ref for headers with
// every kind of defect, alone and combined, from every sender.
func TestRouteHeaders(t *testing.T) {
	p := policy.Default()
	tb, err := Compile(p, true)
	if err != nil {
		t.Fatal(err)
	}
	versions := []uint8{0, frame.Version, 2, 0xFF}
	types := []frame.Type{frame.TM, frame.Error, 10, 0xFF}
	lens := []uint16{0, 248, 249, 0xFFFF}
	apids := []frame.APID{0x010, 0x020, 0x7F0, 0x7FF, 0x800, 0xF810, 0xFFFF}
	n := 0
	for sender := -1; sender <= 3; sender++ {
		for _, v := range versions {
			for _, ty := range types {
				for _, l := range lens {
					for _, src := range apids {
						for _, dst := range apids {
							h := frame.Header{Version: v, Type: ty, APID: src, PayloadLen: l, Dest: dst}
							if got, want := tb.Route(sender, h), ref(p, true, sender, h); got != want {
								t.Errorf("Route(%d, %+v) = %v, want %v", sender, h, got, want)
							}
							if sender == 0 {
								if got, want := tb.RouteFromGround(h), refGround(p, h); got != want {
									t.Errorf("RouteFromGround(%+v) = %v, want %v", h, got, want)
								}
							}
							n++
						}
					}
				}
			}
		}
	}
	t.Logf("%d headers checked", n)
}

// tables compiles the named tests' policies: v0 with and without a
// downlink, and mixed with one.
func tables(t *testing.T) (v0, v0NoDownlink, mx *Table) {
	t.Helper()
	for _, c := range []struct {
		tb       **Table
		p        *policy.Policy
		downlink bool
	}{{&v0, policy.Default(), true}, {&v0NoDownlink, policy.Default(), false}, {&mx, mixed(t), true}} {
		tb, err := Compile(c.p, c.downlink)
		if err != nil {
			t.Fatal(err)
		}
		*c.tb = tb
	}
	return v0, v0NoDownlink, mx
}

func local(i int) Decision            { return Decision{Action: Local, Tenant: i} }
func drop(c frame.ErrorCode) Decision { return Decision{Action: Drop, Tenant: -1, Code: c} }

// TestRouteNamed checks named cases of spec section 5 with hand-written
// expectations, independent of ref.
func TestRouteNamed(t *testing.T) {
	const camera, processor, spaceos = 0, 1, 2
	v0, v0NoDownlink, mx := tables(t)
	system := Decision{Action: System, Tenant: -1}
	up := Decision{Action: Ground, Tenant: -1}
	tests := []struct {
		name   string
		tb     *Table
		sender int
		h      frame.Header
		want   Decision
	}{
		{"camera to processor", v0, camera, valid(0x010, 0x020), local(processor)},
		{"camera to spaceos, last APID", v0, camera, valid(0x01F, 0x2FF), local(spaceos)},
		{"camera to itself", v0, camera, valid(0x015, 0x010), local(camera)},
		{"spaceos to camera", v0, spaceos, valid(0x200, 0x01F), local(camera)},
		{"system APID 0x001", v0, camera, valid(0x010, 0x001), system},
		{"system APID 0x00F", v0, processor, valid(0x020, 0x00F), system},
		{"to ground 0x000", v0, camera, valid(0x010, 0x000), up},
		{"unowned 0x030", v0, camera, valid(0x010, 0x030), up},
		{"idle 0x7FF is unowned", v0, spaceos, valid(0x100, 0x7FF), up},
		{"no downlink configured: 0x000", v0NoDownlink, camera, valid(0x010, 0x000), drop(frame.NoRoute)},
		{"no downlink configured: unowned", v0NoDownlink, camera, valid(0x010, 0x400), drop(frame.NoRoute)},
		{"no downlink: local still works", v0NoDownlink, camera, valid(0x010, 0x020), local(processor)},
		{"spoofed source", v0, camera, valid(0x020, 0x020), drop(frame.APIDNotAllocated)},
		{"source 0x000", v0, camera, valid(0x000, 0x020), drop(frame.APIDNotAllocated)},
		{"source unowned", v0, camera, valid(0x030, 0x020), drop(frame.APIDNotAllocated)},
		{"sender -1", v0, -1, valid(0x010, 0x020), drop(frame.APIDNotAllocated)},
		{"sender 3", v0, 3, valid(0x010, 0x020), drop(frame.APIDNotAllocated)},
		{"sender huge", v0, 1 << 40, valid(0x010, 0x020), drop(frame.APIDNotAllocated)},
		{"bad version first", v0, 7, frame.Header{Version: 0, Type: 0xFF, APID: 0xFFFF, PayloadLen: 999, Dest: 0xFFFF}, drop(frame.UnknownVersion)},
		{"bad type before length", v0, camera, frame.Header{Version: 1, Type: 10, APID: 0x010, PayloadLen: 249}, drop(frame.UnknownType)},
		{"length before APID bits", v0, camera, frame.Header{Version: 1, Type: frame.TC, APID: 0x810, PayloadLen: 249}, drop(frame.MessageTooLarge)},
		{"source with upper bits", v0, camera, frame.Header{Version: 1, Type: frame.TC, APID: 0x810, Dest: 0x020}, drop(frame.Malformed)},
		{"dest with upper bits", v0, camera, frame.Header{Version: 1, Type: frame.TC, APID: 0x010, Dest: 0x820}, drop(frame.Malformed)},
		{"malformed before ownership", v0, 9, frame.Header{Version: 1, APID: 0x010, Dest: 0x8000}, drop(frame.Malformed)},
		{"range covers part of processor", mx, camera, valid(0x010, 0x024), local(processor)},
		{"outside that range", mx, camera, valid(0x010, 0x025), drop(frame.NotPermitted)},
		{"second owned range as source", mx, camera, valid(0x7FE, 0x7F0), local(camera)},
		{"system range in can_send_to changes nothing", mx, processor, valid(0x020, 0x005), system},
		{"processor may not reach spaceos", mx, processor, valid(0x020, 0x100), drop(frame.NotPermitted)},
		{"processor by range to loner", mx, processor, valid(0x020, 0x300), local(2)},
		{"not loner's other APID", mx, processor, valid(0x020, 0x302), drop(frame.NotPermitted)},
		{"processor has no downlink", mx, processor, valid(0x020, 0x000), drop(frame.NoRoute)},
		{"loner reaches itself", mx, 2, valid(0x302, 0x300), local(2)},
		{"loner reaches nobody else", mx, 2, valid(0x300, 0x010), drop(frame.NotPermitted)},
		{"loner reaches system", mx, 2, valid(0x300, 0x00A), system},
		{"gap between loner's APIDs", mx, 2, valid(0x300, 0x301), drop(frame.NoRoute)},
		{"spaceos may reach all", mx, 3, valid(0x2FF, 0x302), local(2)},
		{"spaceos to unowned", mx, 3, valid(0x2FF, 0x7FF), up},
	}
	for _, tt := range tests {
		if got := tt.tb.Route(tt.sender, tt.h); got != tt.want {
			t.Errorf("%s: Route(%d, %+v) = %v, want %v", tt.name, tt.sender, tt.h, got, tt.want)
		}
	}
}

// TestRouteFromGround checks named cases for frames from the ground with
// hand-written expectations, among them every forged source of issue 14
// item 1: a tenant's APID (0x020, processor), the receiving tenant's own
// APID, the switch's 0x000 (a fake ERROR) and the event APID 0x002 (a fake
// "processor disconnected").
func TestRouteFromGround(t *testing.T) {
	v0, _, mx := tables(t)
	system := Decision{Action: System, Tenant: -1}
	health := func(src, dest frame.APID) frame.Header {
		h := valid(src, dest)
		h.Type = frame.Health
		return h
	}
	errorFrom := func(src, dest frame.APID) frame.Header {
		h := valid(src, dest)
		h.Type, h.PayloadLen = frame.Error, 24
		return h
	}
	tests := []struct {
		name string
		tb   *Table
		h    frame.Header
		want Decision
	}{
		{"ground to camera", v0, valid(0x7F0, 0x010), local(0)},
		{"ground to processor", v0, valid(0x7F0, 0x02F), local(1)},
		{"ground to spaceos", v0, valid(0x7F0, 0x2FF), local(2)},
		{"ground to a system APID", v0, valid(0x7F0, 0x003), system},
		{"forged: processor's APID", v0, valid(0x020, 0x010), drop(frame.APIDNotAllocated)},
		{"forged: the receiving tenant's own APID", v0, valid(0x020, 0x020), drop(frame.APIDNotAllocated)},
		{"forged: switch ERROR from 0x000", v0, errorFrom(0x000, 0x020), drop(frame.APIDNotAllocated)},
		{"forged: event from 0x002", v0, health(0x002, 0x020), drop(frame.APIDNotAllocated)},
		{"forged: HEALTH reply from 0x001", v0, health(0x001, 0x020), drop(frame.APIDNotAllocated)},
		{"forged: 0x00F", v0, valid(0x00F, 0x020), drop(frame.APIDNotAllocated)},
		{"unowned source", v0, valid(0x500, 0x020), drop(frame.APIDNotAllocated)},
		{"idle source", v0, valid(0x7FF, 0x010), drop(frame.APIDNotAllocated)},
		{"next to the ground's APID", v0, valid(0x7F1, 0x010), drop(frame.APIDNotAllocated)},
		{"ground to 0x000", v0, valid(0x7F0, 0x000), drop(frame.NoRoute)},
		{"ground to itself", v0, valid(0x7F0, 0x7F0), drop(frame.NoRoute)},
		{"ground to nobody", v0, valid(0x7F0, 0x030), drop(frame.NoRoute)},
		{"decode before source", v0, frame.Header{Version: 1, Type: frame.TM, APID: 0x020, Dest: 0x810}, drop(frame.Malformed)},
		{"version first", v0, frame.Header{Version: 3, APID: 0x002}, drop(frame.UnknownVersion)},
		{"mixed: second ground range", mx, valid(0x050, 0x020), local(1)},
		{"mixed: first ground range", mx, valid(0x7A3, 0x02F), local(1)},
		{"mixed: 0x7F0 is camera's now", mx, valid(0x7F0, 0x020), drop(frame.APIDNotAllocated)},
		{"mixed: camera not allowed", mx, valid(0x7A0, 0x010), drop(frame.NotPermitted)},
		{"mixed: loner by range", mx, valid(0x7A0, 0x300), local(2)},
		{"mixed: loner's other APID not", mx, valid(0x7A0, 0x302), drop(frame.NotPermitted)},
		{"mixed: one APID of spaceos", mx, valid(0x7A0, 0x2FF), local(3)},
		{"mixed: rest of spaceos not", mx, valid(0x7A0, 0x2FE), drop(frame.NotPermitted)},
		{"mixed: system still reachable", mx, valid(0x050, 0x00F), system},
	}
	for _, tt := range tests {
		if got := tt.tb.RouteFromGround(tt.h); got != tt.want {
			t.Errorf("%s: RouteFromGround(%+v) = %v, want %v", tt.name, tt.h, got, tt.want)
		}
	}
}

// TestRouteToGround: tenants reach the ground's APIDs through the downlink,
// whatever their can_send_to says, and nobody but the ground sends from them.
func TestRouteToGround(t *testing.T) {
	v0, noDown, mx := tables(t)
	up := Decision{Action: Ground, Tenant: -1}
	for _, tt := range []struct {
		name   string
		tb     *Table
		sender int
		h      frame.Header
		want   Decision
	}{
		{"camera to the ground's APID", v0, 0, valid(0x010, 0x7F0), up},
		{"no downlink: No_route", noDown, 0, valid(0x010, 0x7F0), drop(frame.NoRoute)},
		{"camera from the ground's APID", v0, 0, valid(0x7F0, 0x020), drop(frame.APIDNotAllocated)},
		{"mixed: to the ground's range", mx, 3, valid(0x100, 0x7A2), up},
		{"mixed: processor may not use the downlink", mx, 1, valid(0x020, 0x050), drop(frame.NoRoute)},
	} {
		if got := tt.tb.Route(tt.sender, tt.h); got != tt.want {
			t.Errorf("%s: Route(%d, %+v) = %v, want %v", tt.name, tt.sender, tt.h, got, tt.want)
		}
	}
	for _, tt := range []struct {
		tb    *Table
		a     frame.APID
		owner int
		ok    bool
		grd   bool
	}{
		{v0, 0x7F0, -1, false, true}, {v0, 0x7F1, -1, false, false}, {v0, 0x010, 0, true, false},
		{v0, 0x800, -1, false, false}, {mx, 0x7F0, 0, true, false}, {mx, 0x050, -1, false, true},
		{mx, 0x7A3, -1, false, true}, {mx, 0x7A4, -1, false, false},
	} {
		o, ok := tt.tb.Owner(tt.a)
		if o != tt.owner || ok != tt.ok || tt.tb.Ground(tt.a) != tt.grd {
			t.Errorf("Owner(%v) = %d, %v, Ground = %v; want %d, %v, %v", tt.a, o, ok, tt.tb.Ground(tt.a), tt.owner, tt.ok, tt.grd)
		}
	}
}

func TestOwnerAndAccessors(t *testing.T) {
	p := policy.Default()
	tb, err := Compile(p, false)
	if err != nil {
		t.Fatal(err)
	}
	if tb.Policy() != p || tb.GroundConfigured() {
		t.Error("Policy() or GroundConfigured() wrong")
	}
	for a := range frame.APID(0x900) {
		wi, wok := p.Owner(a)
		if gi, gok := tb.Owner(a); gi != wi || gok != wok {
			t.Fatalf("Owner(%v) = %d, %v; want %d, %v", a, gi, gok, wi, wok)
		}
	}
}

func TestCompileInvalid(t *testing.T) {
	p := policy.Default()
	p.Tenants[1].Owns = append(p.Tenants[1].Owns, policy.Range{First: 0x015, Last: 0x015})
	_, err := Compile(p, true)
	want := `router: invalid policy: built-in v0: tenant "processor": owns: 0x015 already owned by tenant "camera"`
	if err == nil || err.Error() != want {
		t.Errorf("Compile = %v, want %s", err, want)
	}
}

// TestCompileManyTenants checks the largest possible policy, one tenant per
// ownable APID but the ground's, so that tenant indices above 255 survive
// packing.
func TestCompileManyTenants(t *testing.T) {
	p := manyTenants()
	for i := range p.Tenants {
		p.Tenants[i].Downlink = false
	}
	tb, err := Compile(p, true)
	if err != nil {
		t.Fatal(err)
	}
	last := len(p.Tenants) - 1
	if got := tb.Route(last, valid(0x7FD, 0x010)); got != (Decision{Action: Local, Tenant: 0}) {
		t.Errorf("last to first = %v", got)
	}
	if got := tb.Route(0, valid(0x010, 0x7FD)); got != (Decision{Action: Local, Tenant: last}) {
		t.Errorf("first to last = %v, want Local(%d)", got, last)
	}
	if got := tb.RouteFromGround(valid(0x7FE, 0x7FD)); got != (Decision{Action: Local, Tenant: last}) {
		t.Errorf("ground to last = %v, want Local(%d)", got, last)
	}
	if got := tb.Route(0, valid(0x010, 0x000)); got != (Decision{Action: Drop, Tenant: -1, Code: frame.NoRoute}) {
		t.Errorf("to ground without permission = %v", got)
	}
}

func TestStrings(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{Drop.String(), "Drop"}, {Local.String(), "Local"}, {System.String(), "System"}, {Ground.String(), "Ground"},
		{Action(9).String(), "Action(9)"},
		{Decision{Action: Local, Tenant: 2}.String(), "Local(2)"},
		{Decision{Action: Drop, Tenant: -1, Code: frame.NotPermitted}.String(), "Drop(Not_permitted)"},
		{Decision{Action: Ground, Tenant: -1}.String(), "Ground"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestRouteAllocs(t *testing.T) {
	tb, err := Compile(policy.Default(), true)
	if err != nil {
		t.Fatal(err)
	}
	hs := benchHeaders()
	i := 0
	var sink, sinkUp Decision
	allocs := testing.AllocsPerRun(1000, func() {
		sink = tb.Route(i%4, hs[i%len(hs)])
		sinkUp = tb.RouteFromGround(hs[i%len(hs)])
		i++
	})
	if allocs != 0 {
		t.Errorf("Route allocates %v times per call", allocs)
	}
	_, _ = sink, sinkUp
}

// benchHeaders is a mix of every outcome on v0: 16 headers, so that the
// benchmarks index it with a mask.
func benchHeaders() []frame.Header {
	return []frame.Header{
		valid(0x010, 0x020), valid(0x010, 0x100), valid(0x010, 0x005), valid(0x010, 0x000),
		valid(0x010, 0x400), valid(0x020, 0x010), valid(0x100, 0x2FF), valid(0x020, 0x030),
		valid(0x015, 0x01A), valid(0x02F, 0x7FF), valid(0x2FF, 0x01F), valid(0x050, 0x010),
		{Version: 2}, {Version: 1, Type: 0x0A}, {Version: 1, PayloadLen: 300}, {Version: 1, APID: 0x810},
	}
}

// manyTenants is the largest policy: one tenant per ownable APID but the
// last, which is the ground's, each allowed to reach all others.
func manyTenants() *policy.Policy {
	p := &policy.Policy{Source: "many", Ground: policy.Ground{Owns: []policy.Range{{First: frame.TenantLast, Last: frame.TenantLast}}}}
	for a := frame.TenantFirst; a < frame.TenantLast; a++ {
		p.Tenants = append(p.Tenants, policy.Tenant{
			Name:      fmt.Sprintf("t%d", a),
			Owns:      []policy.Range{{First: a, Last: a}},
			CanSendTo: []string{"0x010-0x7FE"},
			Downlink:  true,
		})
	}
	return p
}

// benchPolicies are the policies the benchmarks run on, with frames whose
// source each sender owns (v0) or a spread of senders (many).
var benchPolicies = []struct {
	name string
	p    func() *policy.Policy
}{{"v0", policy.Default}, {"2031-tenants", manyTenants}}

// BenchmarkRoute measures the compiled table; BenchmarkRouteReference the
// plain-loop reference router on the same frames, as the baseline.
func BenchmarkRoute(b *testing.B) {
	for _, bp := range benchPolicies {
		b.Run(bp.name, func(b *testing.B) {
			p := bp.p()
			tb, err := Compile(p, true)
			if err != nil {
				b.Fatal(err)
			}
			hs, senders := benchFrames(p)
			b.ReportAllocs()
			var sink Decision
			i := 0
			for b.Loop() {
				sink = tb.Route(senders[i&15], hs[i&15])
				i++
			}
			_ = sink
		})
	}
}

func BenchmarkRouteReference(b *testing.B) {
	for _, bp := range benchPolicies {
		b.Run(bp.name, func(b *testing.B) {
			p := bp.p()
			hs, senders := benchFrames(p)
			b.ReportAllocs()
			var sink Decision
			i := 0
			for b.Loop() {
				sink = ref(p, true, senders[i&15], hs[i&15])
				i++
			}
			_ = sink
		})
	}
}

// benchFrames returns 16 headers and, for each, the sender: the owner of
// its source APID (or tenant 0 when nobody owns it), so that most frames
// pass step 2 and reach the destination lookup.
func benchFrames(p *policy.Policy) ([]frame.Header, []int) {
	hs := benchHeaders()
	if len(p.Tenants) > 3 {
		for i := range 12 {
			hs[i] = valid(frame.APID(0x010+i*151), frame.APID(0x7FE-i*97))
		}
	}
	senders := make([]int, len(hs))
	for i, h := range hs {
		if o, ok := p.Owner(h.APID); ok {
			senders[i] = o
		}
	}
	return hs, senders
}

func BenchmarkCompile(b *testing.B) {
	for _, bp := range benchPolicies {
		b.Run(bp.name, func(b *testing.B) {
			p := bp.p()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Compile(p, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
