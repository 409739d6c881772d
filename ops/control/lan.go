package control

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"spacenet/ip/lan"
)

// LAN is a snapshot of a virtual LAN switch.
type LAN struct {
	Plane     string    `json:"plane"` // "lan"
	Time      time.Time `json:"time"`
	Config    string    `json:"config"` // the configuration's source
	Ports     []Port    `json:"ports"`  // in the order the switch lists them
	MACs      []FDB     `json:"fdb"`    // the MAC table, by port then MAC
	TableMACs int       `json:"table_macs"`
	LearnFull uint64    `json:"learn_full"` // source MACs not learnt: table full
	Moves     uint64    `json:"moves"`
}

// Port is one LAN port's counters (lan.PortStats) and locks.
type Port struct {
	Name   string `json:"name"`
	Tenant string `json:"tenant"`
	NIC    string `json:"nic"`
	MTU    int    `json:"mtu"`
	Failed bool   `json:"failed,omitempty"`
	Queued int    `json:"queued"`

	// The port's locks, from the configuration in force.
	LockedMAC string   `json:"locked_mac,omitempty"` // the port's own MAC, if locked
	LockedIPs []string `json:"locked_ips,omitempty"`
	Sticky    bool     `json:"sticky"`

	RxFrames uint64            `json:"rx_frames"`
	RxBytes  uint64            `json:"rx_bytes"`
	TxFrames uint64            `json:"tx_frames"`
	TxBytes  uint64            `json:"tx_bytes"`
	Held     uint64            `json:"held"`
	RxDrops  map[string]uint64 `json:"rx_drops"` // by reason, every reason
	TxDrops  map[string]uint64 `json:"tx_drops"`
}

// FDB is one MAC table entry, as `bridge fdb` shows one.
type FDB struct {
	MAC        string  `json:"mac"`
	Port       string  `json:"port"`
	AgeSeconds float64 `json:"age_seconds"`
	Locked     bool    `json:"locked"` // locked or sticky: never ages, cannot move
}

// LANSnapshot reads every counter of l now.
func LANSnapshot(l *lan.LAN) *LAN {
	cfg := l.Config()
	specs := make(map[string]*lan.PortSpec, len(cfg.Ports))
	for i := range cfg.Ports {
		specs[cfg.Ports[i].Name] = &cfg.Ports[i]
	}
	st := l.Switch.Stats()
	out := &LAN{Plane: "lan", Time: time.Now().UTC(), Config: cfg.Source, TableMACs: st.MACs, LearnFull: st.LearnFull, Moves: st.Moves}
	for _, p := range l.Switch.Ports() {
		q := Port{
			Name: p.Name, Tenant: p.Tenant, NIC: p.NIC, MTU: p.MTU, Failed: p.Failed, Queued: p.Queued,
			RxFrames: p.RxFrames, RxBytes: p.RxBytes, TxFrames: p.TxFrames, TxBytes: p.TxBytes, Held: p.Held,
			RxDrops: make(map[string]uint64, lan.NumReasons), TxDrops: make(map[string]uint64, lan.NumReasons),
		}
		for r := range lan.NumReasons {
			q.RxDrops[r.String()], q.TxDrops[r.String()] = p.RxDrops[r], p.TxDrops[r]
		}
		if s := specs[p.Name]; s != nil {
			q.Sticky = s.Sticky()
			if s.MAC != nil {
				q.LockedMAC = s.MAC.String()
			}
			for _, ip := range s.IPs {
				q.LockedIPs = append(q.LockedIPs, ip.String())
			}
		}
		out.Ports = append(out.Ports, q)
	}
	for _, e := range l.Switch.MACs() {
		out.MACs = append(out.MACs, FDB{MAC: e.MAC.String(), Port: e.Port, AgeSeconds: e.Age.Seconds(), Locked: e.Locked})
	}
	slices.SortFunc(out.MACs, func(a, b FDB) int { return cmp.Or(cmp.Compare(a.Port, b.Port), cmp.Compare(a.MAC, b.MAC)) })
	return out
}

// Locks lists the port's locks as "mac=M", "ip=A,B", "sticky" (those it
// has).
func (p *Port) Locks() []string {
	var out []string
	if p.LockedMAC != "" {
		out = append(out, "mac="+p.LockedMAC)
	}
	if len(p.LockedIPs) > 0 {
		out = append(out, "ip="+strings.Join(p.LockedIPs, ","))
	}
	if p.Sticky {
		out = append(out, "sticky")
	}
	return out
}

// Drops lists the port's non-zero drops as "rx:REASON=N", then
// "tx:REASON=N", each sorted by reason.
func (p *Port) Drops() []string {
	return append(NonZero("rx:", p.RxDrops), NonZero("tx:", p.TxDrops)...)
}

// NonZero lists the non-zero counts of m as PREFIX+NAME=N, sorted by name
// (the drops of a Tenant or a Port by reason).
func NonZero(prefix string, m map[string]uint64) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] > 0 {
			out = append(out, prefix+k+"="+strconv.FormatUint(m[k], 10))
		}
	}
	return out
}
