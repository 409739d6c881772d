package control

import (
	"fmt"
	"time"

	"spacenet/apid/apidswitch"
	"spacenet/apid/frame"
	"spacenet/apid/policy"
	"spacenet/apid/uplink"
)

// APID is a snapshot of an APID switch.
type APID struct {
	Plane         string    `json:"plane"` // "apid"
	Time          time.Time `json:"time"`
	UptimeSeconds float64   `json:"uptime_seconds"`
	SocketDir     string    `json:"socket_dir"`
	Policy        string    `json:"policy"` // the policy's source

	// Tenants in policy order, then those a reload removed (Removed set).
	Tenants []Tenant `json:"tenants"`
	// Ground: the frames injected from the ground (the downlink).
	Ground Tenant `json:"ground"`

	// Edges: the frames each sender forwarded to each tenant (written to
	// its socket or queued for it) and to the ground link, pairs that
	// carried nothing left out (apidswitch.Switch.Edges).
	Edges []Edge `json:"edges"`

	Downlink        *Downlink `json:"downlink,omitempty"` // space to ground: only with --downlink
	Uplink          *Uplink   `json:"uplink,omitempty"`   // ground to space: only with --uplink-listen
	SystemUnhandled uint64    `json:"system_unhandled"`
	LogsDropped     uint64    `json:"logs_dropped"`
}

// Tenant is one tenant's (or the ground's) counters, as
// apidswitch.Counters: as a sender, Received = Delivered + DeliveredSystem
// + DeliveredGround + DeliveredRemote + Queued + Held + the sum of Dropped.
type Tenant struct {
	Name        string   `json:"name"`
	APIDs       []string `json:"apids"`       // the ranges it owns ("0x100-0x1FF")
	CanSendTo   []string `json:"can_send_to"` // as the policy says
	MayDownlink bool     `json:"downlink"`    // may send to the ground (the policy's downlink key)
	Generation  uint64   `json:"generation"`
	Connected   bool     `json:"connected"`
	Removed     bool     `json:"removed,omitempty"`

	Received        uint64            `json:"received"`
	Delivered       uint64            `json:"delivered"`
	DeliveredSystem uint64            `json:"delivered_system"`
	DeliveredGround uint64            `json:"delivered_ground"`
	DeliveredRemote uint64            `json:"delivered_remote,omitempty"` // to remote switches through DTN (docs/dtn.md)
	Queued          uint64            `json:"queued"`
	Held            uint64            `json:"held"`
	Dropped         map[string]uint64 `json:"dropped"` // by ERROR code name, every code
	DroppedTotal    uint64            `json:"dropped_total"`

	// A tenant whose policy sets resync: times its stream was found
	// misaligned, and the bytes skipped to find a header again.
	Resyncs      uint64 `json:"resyncs"`
	SkippedBytes uint64 `json:"skipped_bytes"`

	NoticesQueued    uint64 `json:"notices_queued"`
	NoticesLost      uint64 `json:"notices_lost"`
	NoticesDelivered uint64 `json:"notices_delivered"`
	QueueLen         int    `json:"queue_len"` // frames now in its queue, from every sender
}

// Edge is the traffic on one edge of the policy: frames From (a tenant or
// "ground") forwarded to To (a tenant or "ground").
type Edge struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Frames uint64 `json:"frames"`
}

// EdgeFrames is the frames on the edge from from to to (0 when none).
func (s *APID) EdgeFrames(from, to string) uint64 {
	for _, e := range s.Edges {
		if e.From == from && e.To == to {
			return e.Frames
		}
	}
	return 0
}

// Forwarded is how many of the tenant's frames left the switch: to a
// tenant's socket, the system handler, the ground link or the remote link.
func (t *Tenant) Forwarded() uint64 {
	return t.Delivered + t.DeliveredSystem + t.DeliveredGround + t.DeliveredRemote
}

// Downlink is the ground link's sending side (space to ground).
type Downlink struct {
	Sent            uint64 `json:"sent"`              // packets sent
	RefusedByGround uint64 `json:"refused_by_ground"` // the ground said no (ICMP, UDP)
	QueueFull       uint64 `json:"queue_full"`        // refused while a TCP ground was away and the queue full
	SendFailures    uint64 `json:"send_failures"`     // the switch could not send
	Unattributed    uint64 `json:"unattributed"`      // refusals no sender could be found for
}

// Uplink is the ground link's receiving side (ground to space,
// uplink.ListenerStats).
type Uplink struct {
	Received      uint64 `json:"received"`
	Injected      uint64 `json:"injected"`
	Idle          uint64 `json:"idle"`
	Refused       uint64 `json:"refused"`
	BadChecksum   uint64 `json:"bad_checksum"`
	Undeliverable uint64 `json:"undeliverable"`
	ConnsRefused  uint64 `json:"conns_refused"`
}

// APIDSource is what an APID snapshot reads: the switch, and the ground
// link's two ends when there are any (nil otherwise).
type APIDSource struct {
	Switch   *apidswitch.Switch
	Downlink uplink.GroundDownlink
	Uplink   *uplink.Listener
}

// Snapshot reads every counter of src now.
func (src *APIDSource) Snapshot() *APID {
	sw := src.Switch
	pol := sw.Policy()
	out := &APID{
		Plane:           "apid",
		Time:            time.Now().UTC(),
		UptimeSeconds:   sw.Uptime().Seconds(),
		SocketDir:       sw.SocketDir(),
		Policy:          pol.Source,
		SystemUnhandled: sw.SystemUnhandled(),
		LogsDropped:     sw.LogsDropped(),
	}
	for _, c := range sw.Counters() {
		t := tenantOf(&c)
		if i, ok := pol.Index(c.Tenant); ok && !c.Removed {
			pt := &pol.Tenants[i]
			t.APIDs, t.CanSendTo, t.MayDownlink = ranges(pt.Owns), pt.CanSendTo, pt.Downlink
		}
		out.Tenants = append(out.Tenants, t)
	}
	// Tenants' edges to tenants, their downlinks, then the ground's.
	edges := sw.Edges()
	out.Edges = []Edge{}
	for _, fromGround := range []bool{false, true} {
		if fromGround {
			for _, t := range out.Tenants {
				if t.DeliveredGround > 0 {
					out.Edges = append(out.Edges, Edge{From: t.Name, To: apidswitch.GroundPeer, Frames: t.DeliveredGround})
				}
			}
		}
		for _, e := range edges {
			if (e.From == apidswitch.GroundPeer) == fromGround {
				out.Edges = append(out.Edges, Edge{From: e.From, To: e.To, Frames: e.Frames})
			}
		}
	}
	g := sw.Ground()
	out.Ground = tenantOf(&g)
	out.Ground.APIDs = ranges(pol.GroundOwns())
	out.Ground.CanSendTo = pol.Ground.CanSendTo
	if src.Downlink != nil {
		d := &Downlink{SendFailures: sw.DownlinkFailures(), Unattributed: sw.DownlinkRefusedUnknown()}
		switch l := src.Downlink.(type) {
		case *uplink.UDP:
			d.Sent, d.RefusedByGround = l.Sent(), l.Refused()
		case *uplink.TCP:
			st := l.Stats()
			d.Sent, d.QueueFull = st.Sent, st.QueueFull
		}
		out.Downlink = d
	}
	if src.Uplink != nil {
		s := src.Uplink.Stats()
		out.Uplink = &Uplink{Received: s.Received, Injected: s.Injected, Idle: s.Idle, Refused: s.Refused,
			BadChecksum: s.Checksum, Undeliverable: s.Undeliverable, ConnsRefused: s.ConnsRefused}
	}
	return out
}

func tenantOf(c *apidswitch.Counters) Tenant {
	t := Tenant{
		Name: c.Tenant, Generation: c.Generation, Connected: c.Connected, Removed: c.Removed,
		Received: c.Received, Delivered: c.Delivered, DeliveredSystem: c.DeliveredSystem,
		DeliveredGround: c.DeliveredGround, DeliveredRemote: c.DeliveredRemote, Queued: c.Queued, Held: c.Held,
		Dropped: make(map[string]uint64, len(c.Dropped)), DroppedTotal: c.DroppedTotal(),
		NoticesQueued: c.NoticesQueued, NoticesLost: c.NoticesLost, NoticesDelivered: c.NoticesDelivered,
		QueueLen: c.QueueLen, Resyncs: c.Resyncs, SkippedBytes: c.SkippedBytes,
	}
	for code := 1; code < len(c.Dropped); code++ {
		t.Dropped[frame.ErrorCode(code).String()] = c.Dropped[code]
	}
	return t
}

func ranges(rs []policy.Range) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return out
}

// PolicyInForce rebuilds, from the snapshot, the policy the switch had in
// force: its tenants (removed ones aside) with their APIDs, can_send_to and
// downlink, and the ground's APIDs and can_send_to. Flow control is not in a
// snapshot and is left at its defaults.
func (s *APID) PolicyInForce() (*policy.Policy, error) {
	p := &policy.Policy{Source: s.Policy}
	parse := func(who string, rs []string) ([]policy.Range, error) {
		out := make([]policy.Range, len(rs))
		for i, r := range rs {
			var err error
			if out[i], err = policy.ParseRange(r); err != nil {
				return nil, fmt.Errorf("snapshot: %s: apids: %w", who, err)
			}
		}
		return out, nil
	}
	for _, t := range s.Tenants {
		if t.Removed {
			continue
		}
		owns, err := parse(t.Name, t.APIDs)
		if err != nil {
			return nil, err
		}
		p.Tenants = append(p.Tenants, policy.Tenant{Name: t.Name, Owns: owns, CanSendTo: t.CanSendTo, Downlink: t.MayDownlink})
	}
	owns, err := parse("ground", s.Ground.APIDs)
	if err != nil {
		return nil, err
	}
	p.Ground = policy.Ground{Owns: owns, CanSendTo: s.Ground.CanSendTo}
	return p, nil
}
