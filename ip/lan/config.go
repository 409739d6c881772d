package lan

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"spacenet/apid/policy"
	"spacenet/ip/lan/fault"
	"spacenet/ip/nic"
	"spacenet/ip/wire"
)

// Port kinds a Config can open.
const (
	KindQEMUStream = "qemu-stream" // nic.ListenQEMUStream on Path
	KindQEMUDgram  = "qemu-dgram"  // nic.ListenQEMUDgram on Path, sending to Peer
	KindTAP        = "tap"         // nic.OpenTAP(Ifname), brought up
	KindPacket     = "packet"      // nic.OpenPacket(Ifname) on an existing interface
	KindVXLAN      = "vxlan"       // nic.OpenVXLAN: Local towards the peer VTEP Remote, with VNI
)

// DefaultDir is where the default configuration puts its sockets.
const DefaultDir = "/tmp/space-lan"

// Config is a virtual LAN described by a file (`spacenet lan run
// --config FILE`): switch settings, tenant reachability and ports.
//
//	ageing = "300s"            # MAC ageing (default 300s)
//	mac_table_size = 4096
//	flood_only = false
//	queue_depth = 256          # default per-port queue depth (frames)
//	pcap = "/tmp/lan.pcap"     # capture every frame entering the switch
//	policy = "policy.toml"     # optional: reach from the APID policy's can_send_to
//	socket_mode = "0600"       # mode of the qemu-* sockets (default 0600)
//	dir_mode = "0700"          # mode of a socket directory the LAN creates (default 0700)
//
//	[[tenant]]                 # optional; without tenants (and policy) all reach all
//	name = "camera"
//	can_reach = ["processor"]  # directional; a tenant always reaches itself
//
//	[[port]]
//	name = "camera"            # unique
//	tenant = "camera"
//	kind = "qemu-stream"       # qemu-stream | qemu-dgram | tap | packet | vxlan
//	path = "/tmp/space-lan/camera.sock"  # qemu-*: the socket we listen on
//	peer = "/tmp/vm-camera.sock"         # qemu-dgram: QEMU's local.path ("" = reply to the sender)
//	ifname = "tap0"            # tap, packet
//	local = "10.0.0.1"         # vxlan: address (and port, default 4789) to bind
//	remote = "10.0.0.2"        # vxlan: the peer VTEP (port default 4789)
//	vni = 42                   # vxlan: 0 to 16777215
//	mac = "52:54:00:00:00:01"  # locks the port to this MAC
//	ips = ["10.0.0.2"]         # locks the port to these source IPs
//	mtu = 1500                 # 0: the NIC's
//	queue_depth = 0
//	sticky_mac = true          # default true, false for kind packet: lock the first source MAC
//	mac_limit = 256            # without sticky_mac: most source MACs (-1: no limit)
//	when_full = "drop"         # or "wait": hold the sender up to hold, then drop
//	hold = "100ms"
//	flush = "0s"               # on detach/stop: time to send what is queued
//	[port.storm]               # frames flooded per second from this port (-1: no limit)
//	broadcast = 1000
//	multicast = 1000
//	unknown_unicast = 1000
//	burst = 100
//	[port.fault]               # faults on frames the switch sends out of this port
//	loss = 0.01
//	corrupt = 0.0
//	duplicate = 0.0
//	reorder = 0.0
//	delay = "5ms"
//	mtu = 0                    # clamp
//	seed = 1
//	[[port.fault.outage]]
//	start = "10s"
//	length = "1s"
//
// Keys are matched exactly (case included); unknown keys are errors.
type Config struct {
	Source string // file name, or "built-in default"

	// onPeer, set by LAN.attach, hears the qemu-stream ports' peers come
	// and go (OpenNIC passes it to nic.QEMUOptions.OnPeer).
	onPeer func(port, tenant, event string, generation uint64)

	Ageing       time.Duration
	MACTableSize int
	FloodOnly    bool
	QueueDepth   int
	Pcap         string
	Policy       string      // path of the APID policy file reach came from, if any
	SocketMode   fs.FileMode // of qemu-* sockets; 0 means DefaultSocketMode
	DirMode      fs.FileMode // of socket directories the LAN creates; 0 means DefaultDirMode

	Tenants map[string][]string // can_reach by tenant; nil: all reach all
	Ports   []PortSpec
}

// PortSpec is one [[port]] of a Config.
type PortSpec struct {
	Name, Tenant, Kind string
	Path, Peer, Ifname string
	MAC                *wire.MAC
	IPs                []netip.Addr
	MTU, QueueDepth    int
	Fault              *fault.Config
	FaultSeed          uint64

	// Local, Remote and VNI are a vxlan port's (Local and Remote with
	// their ports, 4789 unless given).
	Local, Remote netip.AddrPort
	VNI           uint32

	StickyMAC *bool // nil: on, except for kinds packet and vxlan (see PortConfig.NoSticky)
	MACLimit  int
	Storm     StormControl
	WhenFull  WhenFull
	Hold      time.Duration
	Flush     time.Duration
}

// Sticky reports whether the port locks the first source MAC it sends:
// as configured, else on for every kind but packet and vxlan (an
// AF_PACKET port on an existing interface, and a VXLAN port to another
// host's segment, usually face many hosts).
func (p *PortSpec) Sticky() bool {
	if p.StickyMAC != nil {
		return *p.StickyMAC
	}
	return p.Kind != KindPacket && p.Kind != KindVXLAN
}

// Reach returns the tenant policy of c (nil: all reach all).
func (c *Config) Reach() *Reach {
	if c.Tenants == nil {
		return nil
	}
	return NewReach(c.Tenants)
}

// PortConfig returns the switch port configuration of p.
func (p *PortSpec) PortConfig() PortConfig {
	pc := PortConfig{Name: p.Name, Tenant: p.Tenant, MTU: p.MTU, IPs: p.IPs, QueueDepth: p.QueueDepth,
		NoSticky: !p.Sticky(), MACLimit: p.MACLimit, Storm: p.Storm, WhenFull: p.WhenFull, Hold: p.Hold, Flush: p.Flush}
	if p.MAC != nil {
		pc.LockMAC, pc.MAC = true, *p.MAC
	}
	return pc
}

// DefaultConfig is the configuration without a file: one qemu-stream port
// per v0 tenant (camera, processor, spaceos) listening on
// dir/<tenant>.sock, the three tenants reaching each other.
func DefaultConfig(dir string) *Config {
	c := &Config{Source: "built-in default", Ageing: DefaultAgeing}
	for _, t := range policy.Default().Tenants {
		c.Ports = append(c.Ports, PortSpec{Name: t.Name, Tenant: t.Name, Kind: KindQEMUStream, Path: filepath.Join(dir, t.Name+".sock")})
	}
	return c
}

// LoadConfig reads and parses a configuration file.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("lan: config: %w", err)
	}
	return ParseConfig(path, data)
}

type rawConfig struct {
	Ageing       string      `toml:"ageing"`
	MACTableSize int         `toml:"mac_table_size"`
	FloodOnly    bool        `toml:"flood_only"`
	QueueDepth   int         `toml:"queue_depth"`
	Pcap         string      `toml:"pcap"`
	Policy       string      `toml:"policy"`
	SocketMode   string      `toml:"socket_mode"`
	DirMode      string      `toml:"dir_mode"`
	Tenant       []rawTenant `toml:"tenant"`
	Port         []rawPort   `toml:"port"`
}

type rawTenant struct {
	Name     string   `toml:"name"`
	CanReach []string `toml:"can_reach"`
}

type rawPort struct {
	Name       string    `toml:"name"`
	Tenant     string    `toml:"tenant"`
	Kind       string    `toml:"kind"`
	Path       string    `toml:"path"`
	Peer       string    `toml:"peer"`
	Ifname     string    `toml:"ifname"`
	Local      string    `toml:"local"`
	Remote     string    `toml:"remote"`
	VNI        *int64    `toml:"vni"`
	MAC        string    `toml:"mac"`
	IPs        []string  `toml:"ips"`
	MTU        int       `toml:"mtu"`
	QueueDepth int       `toml:"queue_depth"`
	StickyMAC  *bool     `toml:"sticky_mac"`
	MACLimit   int       `toml:"mac_limit"`
	WhenFull   string    `toml:"when_full"`
	Hold       string    `toml:"hold"`
	Flush      string    `toml:"flush"`
	Storm      *rawStorm `toml:"storm"`
	Fault      *rawFault `toml:"fault"`
}

type rawStorm struct {
	Broadcast      int `toml:"broadcast"`
	Multicast      int `toml:"multicast"`
	UnknownUnicast int `toml:"unknown_unicast"`
	Burst          int `toml:"burst"`
}

type rawFault struct {
	Loss      float64     `toml:"loss"`
	Corrupt   float64     `toml:"corrupt"`
	Duplicate float64     `toml:"duplicate"`
	Reorder   float64     `toml:"reorder"`
	Delay     string      `toml:"delay"`
	MTU       int         `toml:"mtu"`
	Seed      uint64      `toml:"seed"`
	Outage    []rawWindow `toml:"outage"`
}

type rawWindow struct {
	Start  string `toml:"start"`
	Length string `toml:"length"`
}

// configKeys are the key paths a file may hold (array indices dropped).
var configKeys = map[string]bool{
	"ageing": true, "mac_table_size": true, "flood_only": true, "queue_depth": true, "pcap": true, "policy": true,
	"socket_mode": true, "dir_mode": true,
	"port.sticky_mac": true, "port.mac_limit": true, "port.when_full": true, "port.hold": true, "port.flush": true,
	"port.storm": true, "port.storm.broadcast": true, "port.storm.multicast": true, "port.storm.unknown_unicast": true, "port.storm.burst": true,
	"tenant": true, "tenant.name": true, "tenant.can_reach": true,
	"port": true, "port.name": true, "port.tenant": true, "port.kind": true, "port.path": true, "port.peer": true,
	"port.ifname": true, "port.local": true, "port.remote": true, "port.vni": true, "port.mac": true, "port.ips": true, "port.mtu": true, "port.queue_depth": true,
	"port.fault": true, "port.fault.loss": true, "port.fault.corrupt": true, "port.fault.duplicate": true,
	"port.fault.reorder": true, "port.fault.delay": true, "port.fault.mtu": true, "port.fault.seed": true,
	"port.fault.outage": true, "port.fault.outage.start": true, "port.fault.outage.length": true,
}

// ParseConfig decodes a configuration (format in Config's doc); name is
// used in errors. It reports every problem found, joined. A policy path is
// read relative to the file's directory.
func ParseConfig(name string, data []byte) (*Config, error) {
	var raw rawConfig
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s:%d: %s", name, pe.Position.Line, pe.Message)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var errs []error
	lines := configLines(data)
	// Each error is FILE:LINE: what (port N ("NAME"): FIELD ...), the line
	// found from what the message names (configpos.go).
	fail := func(format string, a ...any) {
		err := fmt.Errorf(format, a...)
		if l := lineOf(lines, err.Error()); l > 0 {
			errs = append(errs, fmt.Errorf("%s:%d: %w", name, l, err))
			return
		}
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	for _, k := range md.Keys() {
		if !configKeys[k.String()] {
			fail("unknown key %q", k.String())
		}
	}
	c := &Config{Source: name, MACTableSize: raw.MACTableSize, FloodOnly: raw.FloodOnly, QueueDepth: raw.QueueDepth, Pcap: raw.Pcap}
	dur := func(field, s string, def time.Duration) time.Duration {
		if s == "" {
			return def
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			fail("%s %q: want a non-negative duration such as \"300s\"", field, s)
		}
		return d
	}
	c.Ageing = dur("ageing", raw.Ageing, DefaultAgeing)
	mode := func(field, s string) fs.FileMode {
		if s == "" {
			return 0
		}
		m, err := ParseMode(s)
		if err != nil {
			fail("%s: %w", field, err)
		}
		return m
	}
	c.SocketMode, c.DirMode = mode("socket_mode", raw.SocketMode), mode("dir_mode", raw.DirMode)
	if raw.MACTableSize < 0 || raw.QueueDepth < 0 {
		fail("mac_table_size %d, queue_depth %d: want >= 0", raw.MACTableSize, raw.QueueDepth)
	}
	if raw.Policy != "" && len(raw.Tenant) > 0 {
		fail("policy and [[tenant]] both given: choose one")
	}
	if raw.Policy != "" {
		path := raw.Policy
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(name), path)
		}
		p, err := policy.Load(path)
		if err != nil {
			fail("policy: %w", err)
		} else {
			c.Policy = path
			c.Tenants = map[string][]string{}
			for _, t := range p.Tenants {
				c.Tenants[t.Name] = []string{}
				for _, e := range t.CanSendTo {
					if _, ok := p.Index(e); ok {
						c.Tenants[t.Name] = append(c.Tenants[t.Name], e)
					}
				}
			}
		}
	}
	if len(raw.Tenant) > 0 {
		c.Tenants = map[string][]string{}
		for i, t := range raw.Tenant {
			if err := CheckTenant(t.Name); err != nil {
				fail("tenant %d: %w", i+1, err)
				continue
			}
			if _, dup := c.Tenants[t.Name]; dup {
				fail("tenant %q declared twice", t.Name)
			}
			c.Tenants[t.Name] = append([]string{}, t.CanReach...)
		}
		for from, tos := range c.Tenants {
			for _, to := range tos {
				if _, ok := c.Tenants[to]; !ok {
					fail("tenant %q: can_reach %q: no such tenant", from, to)
				}
			}
		}
	}
	names := map[string]bool{}
	locked := map[wire.MAC]string{}
	for i, rp := range raw.Port {
		p := PortSpec{Name: rp.Name, Tenant: rp.Tenant, Kind: rp.Kind, Path: rp.Path, Peer: rp.Peer, Ifname: rp.Ifname, MTU: rp.MTU, QueueDepth: rp.QueueDepth}
		where := fmt.Sprintf("port %d (%q)", i+1, rp.Name)
		if rp.Name == "" {
			fail("%s: name missing", where)
		} else if names[rp.Name] {
			fail("%s: name used twice", where)
		}
		names[rp.Name] = true
		if err := CheckTenant(rp.Tenant); err != nil {
			fail("%s: %w", where, err)
		} else if c.Tenants != nil {
			if _, ok := c.Tenants[rp.Tenant]; !ok {
				fail("%s: tenant %q not declared", where, rp.Tenant)
			}
		}
		if rp.Kind != KindVXLAN {
			for _, k := range []struct {
				key string
				set bool
			}{{"local", rp.Local != ""}, {"remote", rp.Remote != ""}, {"vni", rp.VNI != nil}} {
				if k.set {
					fail("%s: %s: only a vxlan port takes it (this one is kind %q)", where, k.key, rp.Kind)
				}
			}
		}
		switch rp.Kind {
		case KindVXLAN:
			if rp.Path != "" || rp.Peer != "" || rp.Ifname != "" {
				fail("%s: kind vxlan takes local, remote and vni, not path, peer or ifname", where)
			}
			p.Local, p.Remote, p.VNI = parseVXLAN(where, &rp, fail)
		case KindQEMUStream, KindQEMUDgram:
			if rp.Path == "" {
				fail("%s: kind %s needs path", where, rp.Kind)
			}
			if rp.Ifname != "" || (rp.Peer != "" && rp.Kind == KindQEMUStream) {
				fail("%s: kind %s takes path (and peer for qemu-dgram), not ifname", where, rp.Kind)
			}
		case KindTAP, KindPacket:
			if rp.Ifname == "" {
				fail("%s: kind %s needs ifname", where, rp.Kind)
			}
			if rp.Path != "" || rp.Peer != "" {
				fail("%s: kind %s takes ifname, not path or peer", where, rp.Kind)
			}
		default:
			fail("%s: kind %q: want qemu-stream, qemu-dgram, tap, packet or vxlan", where, rp.Kind)
		}
		if rp.MAC != "" {
			m, err := wire.ParseMAC(rp.MAC)
			if err != nil {
				fail("%s: mac %q: %w", where, rp.MAC, err)
			} else if m.IsMulticast() {
				fail("%s: mac %v is a group address", where, m)
			} else if other, dup := locked[m]; dup {
				fail("%s: mac %v is locked to port %q already", where, m, other)
			}
			locked[m] = rp.Name
			p.MAC = &m
		}
		for _, s := range rp.IPs {
			a, err := netip.ParseAddr(s)
			if err != nil || a.IsUnspecified() || a.Zone() != "" {
				fail("%s: ips: %q is not a unicast IP address", where, s)
				continue
			}
			p.IPs = append(p.IPs, a)
		}
		if rp.MTU < 0 || rp.MTU > 65535 || rp.QueueDepth < 0 {
			fail("%s: mtu %d, queue_depth %d out of range", where, rp.MTU, rp.QueueDepth)
		} else if rp.Kind == KindVXLAN && rp.MTU > nic.MaxVXLANMTU {
			fail("%s: mtu %d: a vxlan port carries at most %d (a 64 KiB datagram less its headers)", where, rp.MTU, nic.MaxVXLANMTU)
		}
		p.StickyMAC, p.MACLimit = rp.StickyMAC, rp.MACLimit
		switch rp.WhenFull {
		case "", "drop":
		case "wait":
			p.WhenFull = WhenFullWait
		default:
			fail("%s: when_full %q: want \"drop\" or \"wait\"", where, rp.WhenFull)
		}
		p.Hold = dur(where+": hold", rp.Hold, 0)
		p.Flush = dur(where+": flush", rp.Flush, 0)
		if st := rp.Storm; st != nil {
			p.Storm = StormControl{Broadcast: st.Broadcast, Multicast: st.Multicast, UnknownUnicast: st.UnknownUnicast, Burst: st.Burst}
			if err := p.Storm.check(); err != nil {
				fail("%s: %w", where, err)
			}
		}
		if f := rp.Fault; f != nil {
			fc := &fault.Config{Loss: f.Loss, Corrupt: f.Corrupt, Duplicate: f.Duplicate, Reorder: f.Reorder, MTU: f.MTU,
				Delay: dur(where+": fault.delay", f.Delay, 0)}
			for _, w := range f.Outage {
				fc.Outages = append(fc.Outages, fault.Window{Start: dur(where+": outage.start", w.Start, 0), Len: dur(where+": outage.length", w.Length, 0)})
			}
			if err := fc.Validate(); err != nil {
				fail("%s: %w", where, err)
			}
			p.Fault, p.FaultSeed = fc, f.Seed
		}
		c.Ports = append(c.Ports, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// String writes c back in the file format (the default configuration, as
// `spacenet lan run --print-config` shows it).
func (c *Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\nageing = %q\n", c.Source, c.Ageing.String())
	if c.MACTableSize != 0 {
		fmt.Fprintf(&b, "mac_table_size = %d\n", c.MACTableSize)
	}
	if c.FloodOnly {
		b.WriteString("flood_only = true\n")
	}
	if c.QueueDepth != 0 {
		fmt.Fprintf(&b, "queue_depth = %d\n", c.QueueDepth)
	}
	if c.Pcap != "" {
		fmt.Fprintf(&b, "pcap = %q\n", c.Pcap)
	}
	if c.SocketMode != 0 {
		fmt.Fprintf(&b, "socket_mode = \"%04o\"\n", uint32(c.SocketMode))
	}
	if c.DirMode != 0 {
		fmt.Fprintf(&b, "dir_mode = \"%04o\"\n", uint32(c.DirMode))
	}
	if c.Policy != "" {
		fmt.Fprintf(&b, "policy = %q\n", c.Policy)
	} else {
		for _, t := range slices.Sorted(maps.Keys(c.Tenants)) {
			fmt.Fprintf(&b, "\n[[tenant]]\nname = %q\ncan_reach = [%s]\n", t, quoteList(c.Tenants[t]))
		}
	}
	for _, p := range c.Ports {
		fmt.Fprintf(&b, "\n[[port]]\nname = %q\ntenant = %q\nkind = %q\n", p.Name, p.Tenant, p.Kind)
		if p.Path != "" {
			fmt.Fprintf(&b, "path = %q\n", p.Path)
		}
		if p.Peer != "" {
			fmt.Fprintf(&b, "peer = %q\n", p.Peer)
		}
		if p.Ifname != "" {
			fmt.Fprintf(&b, "ifname = %q\n", p.Ifname)
		}
		if p.Kind == KindVXLAN {
			fmt.Fprintf(&b, "local = %q\nremote = %q\nvni = %d\n", p.Local, p.Remote, p.VNI)
		}
		if p.MAC != nil {
			fmt.Fprintf(&b, "mac = %q\n", p.MAC.String())
		}
		if len(p.IPs) > 0 {
			var s []string
			for _, a := range p.IPs {
				s = append(s, a.String())
			}
			fmt.Fprintf(&b, "ips = [%s]\n", quoteList(s))
		}
		if p.MTU != 0 {
			fmt.Fprintf(&b, "mtu = %d\n", p.MTU)
		}
		if p.QueueDepth != 0 {
			fmt.Fprintf(&b, "queue_depth = %d\n", p.QueueDepth)
		}
		writePortSecurity(&b, &p)
		if f := p.Fault; f != nil {
			fmt.Fprintf(&b, "[port.fault]\nloss = %v\ncorrupt = %v\nduplicate = %v\nreorder = %v\ndelay = %q\nmtu = %d\nseed = %d\n",
				f.Loss, f.Corrupt, f.Duplicate, f.Reorder, f.Delay.String(), f.MTU, p.FaultSeed)
			for _, w := range f.Outages {
				fmt.Fprintf(&b, "[[port.fault.outage]]\nstart = %q\nlength = %q\n", w.Start.String(), w.Len.String())
			}
		}
	}
	return b.String()
}

// writePortSecurity writes the sticky MAC, MAC limit, when-full, flush
// and storm settings of p that are not defaults.
func writePortSecurity(b *strings.Builder, p *PortSpec) {
	if p.StickyMAC != nil {
		fmt.Fprintf(b, "sticky_mac = %v\n", *p.StickyMAC)
	}
	if p.MACLimit != 0 {
		fmt.Fprintf(b, "mac_limit = %d\n", p.MACLimit)
	}
	if p.WhenFull != WhenFullDrop {
		fmt.Fprintf(b, "when_full = %q\n", p.WhenFull.String())
	}
	if p.Hold != 0 {
		fmt.Fprintf(b, "hold = %q\n", p.Hold.String())
	}
	if p.Flush != 0 {
		fmt.Fprintf(b, "flush = %q\n", p.Flush.String())
	}
	if s := p.Storm; s != (StormControl{}) {
		fmt.Fprintf(b, "[port.storm]\nbroadcast = %d\nmulticast = %d\nunknown_unicast = %d\nburst = %d\n",
			s.Broadcast, s.Multicast, s.UnknownUnicast, s.Burst)
	}
}

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}

// parseVXLAN reads a vxlan port's local, remote and vni, reporting each
// problem through fail under where.
func parseVXLAN(where string, rp *rawPort, fail func(string, ...any)) (local, remote netip.AddrPort, vni uint32) {
	addr := func(field, s string) netip.AddrPort {
		if s == "" {
			fail("%s: kind vxlan needs %s", where, field)
			return netip.AddrPort{}
		}
		ap, err := ParseVTEP(s)
		if err != nil {
			fail("%s: %s %q: %v", where, field, s, err)
		}
		return ap
	}
	local, remote = addr("local", rp.Local), addr("remote", rp.Remote)
	switch {
	case !remote.IsValid() || !local.IsValid():
	case remote.Addr().IsUnspecified() || remote.Addr().IsMulticast():
		fail("%s: remote %q: want the peer VTEP's unicast address (no multicast groups)", where, rp.Remote)
	case remote.Port() == 0:
		fail("%s: remote %q: port 0", where, rp.Remote)
	case local.Addr().Is4() != remote.Addr().Is4():
		fail("%s: remote %q: not of local %q's address family", where, rp.Remote, rp.Local)
	}
	switch {
	case rp.VNI == nil:
		fail("%s: kind vxlan needs vni", where)
	case *rp.VNI < 0 || *rp.VNI > wire.MaxVNI:
		fail("%s: vni %d: want 0 to %d", where, *rp.VNI, wire.MaxVNI)
	default:
		vni = uint32(*rp.VNI)
	}
	return local, remote, vni
}

// ParseVTEP parses a VXLAN tunnel endpoint: an IP address with an optional
// port ("10.0.0.2", "10.0.0.2:4789", "[fd00::2]:4789"), the port 4789
// (wire.VXLANPort) when not given.
func ParseVTEP(s string) (netip.AddrPort, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return netip.AddrPort{}, errors.New("want an address without a zone")
		}
		return netip.AddrPortFrom(a, wire.VXLANPort), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Addr().Zone() != "" {
		return netip.AddrPort{}, errors.New("want an IP address, optionally with a port (10.0.0.2 or 10.0.0.2:4789)")
	}
	return ap, nil
}
