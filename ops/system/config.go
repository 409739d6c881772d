package system

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"spacenet/apid/policy"
	"spacenet/apid/sockdir"
	"spacenet/ip/lan"
)

// Config is a system file: the computer `spacenet up` brings up.
//
//	policy = "policy.toml"       # APID policy (spacenet run --config); default: the v0 policy
//	socket_dir = "/tmp/sn"       # the APID switch's sockets; default: spacenet run's
//	lan = "lan.toml"             # LAN configuration (spacenet lan run --config);
//	                             # default: one qemu-stream port per v0 tenant in lan_dir
//	lan_dir = "/tmp/space-lan"   # the default LAN's sockets and the LAN's control socket
//	log_dir = "logs"             # each guest's console: <log_dir>/<name>.console; default "."
//	restart_delay = "1s"         # before a guest that died is started again (doubling, at most 30s)
//
//	[[guest]]
//	name = "camera"              # required, unique
//	tenant = "camera"            # its tenant on both planes; default: name
//	kernel = "vmlinuz"           # with initrd (or with disk, its root there); or no kernel and a
//	initrd = "initrd.cpio"       # bootable disk image alone
//	disk = "root.img"            # a disk image (raw; qcow2 if named *.qcow2), the guest's virtio disk;
//	                             # without kernel the guest boots from it (SeaBIOS) and sets itself up:
//	                             # ip, run and append need a kernel (they go on its command line)
//	memory = 256                 # MiB
//	port = "virtio"              # the APID plane: "virtio" (virtio-serial, /dev/virtio-ports/<port_name>),
//	                             # "serial" (a 16550: the guest's /dev/ttyS1; set resync = true in the policy),
//	                             # or "none"
//	port_name = "spacenet"       # the virtio-serial port's name
//	lan_port = "camera"          # the LAN port (a qemu-stream one) its NIC is on; default: the port
//	                             # named like the guest, else the tenant's only qemu-stream port; "none": no NIC
//	mac = "52:54:00:53:4e:01"    # default 52:54:00:53:4e:NN, NN the guest's number
//	ip = "10.0.0.1/24"           # eth0's address (spacenet.ip= for /init of scripts/guest-image.sh images)
//	append = "..."               # more kernel command line
//	run = "camera-server --device /dev/virtio-ports/spacenet"  # what /init runs (guest-image.sh images)
//	qemu_args = ["-smp", "2"]    # more QEMU arguments
//
// Relative paths are relative to the file's directory. Keys are matched
// exactly; unknown keys are errors.
type Config struct {
	Source       string // the file's name
	Policy       string
	SocketDir    string
	LAN          string
	LANDir       string
	LogDir       string
	RestartDelay time.Duration
	Guests       []Guest
}

// Guest is one [[guest]] of a Config.
type Guest struct {
	Name, Tenant   string
	Kernel, Initrd string
	Disk           string // a disk image; without Kernel the guest boots from it
	Memory         int
	Port           string // PortVirtio, PortSerial or PortNone
	PortName       string
	LANPort        string // "" the default, "none" no NIC
	MAC            string
	IP             string // a prefix, "10.0.0.1/24"; "" none
	Append, Run    string
	QEMUArgs       []string

	line int // of its [[guest]] header, 0 if unknown
}

// The guests' APID ports.
const (
	PortVirtio = "virtio"
	PortSerial = "serial"
	PortNone   = "none"
)

// DefaultRestartDelay is restart_delay's default.
const DefaultRestartDelay = time.Second

type rawConfig struct {
	Policy       string     `toml:"policy"`
	SocketDir    string     `toml:"socket_dir"`
	LAN          string     `toml:"lan"`
	LANDir       string     `toml:"lan_dir"`
	LogDir       string     `toml:"log_dir"`
	RestartDelay string     `toml:"restart_delay"`
	Guests       []rawGuest `toml:"guest"`
}

type rawGuest struct {
	Name     string   `toml:"name"`
	Tenant   string   `toml:"tenant"`
	Kernel   string   `toml:"kernel"`
	Initrd   string   `toml:"initrd"`
	Disk     string   `toml:"disk"`
	Memory   int      `toml:"memory"`
	Port     string   `toml:"port"`
	PortName string   `toml:"port_name"`
	LANPort  string   `toml:"lan_port"`
	MAC      string   `toml:"mac"`
	IP       string   `toml:"ip"`
	Append   string   `toml:"append"`
	Run      string   `toml:"run"`
	QEMUArgs []string `toml:"qemu_args"`
}

// Load reads and parses the system file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("system: %w", err)
	}
	return Parse(path, data)
}

// Parse parses a system file's contents; name is its path, for errors and
// for relative paths. Every problem is reported, each as
// FILE:LINE: guest N ("NAME"): FIELD: problem.
func Parse(name string, data []byte) (*Config, error) {
	var raw rawConfig
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	lines := keyLines(data)
	var errs []error
	fail := func(guest int, field string, err error) {
		where := name
		l := lines[lineKey{guest, field}]
		if l == 0 && guest > 0 {
			l = lines[lineKey{guest, ""}] // a missing key: its [[guest]]
		}
		if l > 0 {
			where = fmt.Sprintf("%s:%d", name, l)
		}
		if guest > 0 {
			where += fmt.Sprintf(": guest %d", guest)
			if g := raw.Guests[guest-1].Name; g != "" {
				where += fmt.Sprintf(" (%q)", g)
			}
		}
		errs = append(errs, fmt.Errorf("%s: %s: %w", where, field, err))
	}
	for _, k := range md.Undecoded() {
		guest, field := 0, k.String()
		if len(k) == 2 && k[0] == "guest" {
			field = k[1]
			guest = guestOfKey(lines, field)
		}
		fail(guest, field, errors.New("unknown key"))
	}
	dir := filepath.Dir(name)
	if d, err := filepath.Abs(dir); err == nil {
		dir = d // QEMU and the switches get absolute paths
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	c := &Config{Source: name, Policy: abs(raw.Policy), SocketDir: abs(raw.SocketDir), LAN: abs(raw.LAN),
		LANDir: abs(raw.LANDir), LogDir: abs(raw.LogDir), RestartDelay: DefaultRestartDelay}
	if c.SocketDir == "" {
		c.SocketDir = sockdir.Default()
	}
	if c.LANDir == "" {
		c.LANDir = lan.DefaultDir
	}
	if c.LogDir == "" {
		c.LogDir = dir
	}
	if raw.RestartDelay != "" {
		d, err := time.ParseDuration(raw.RestartDelay)
		if err != nil || d <= 0 || d > time.Hour {
			fail(0, "restart_delay", fmt.Errorf("%q: want a duration from 1ms to 1h, such as \"1s\"", raw.RestartDelay))
		} else {
			c.RestartDelay = d
		}
	}
	names, macs := map[string]bool{}, map[string]string{}
	for i, rg := range raw.Guests {
		n := i + 1
		g := Guest{Name: rg.Name, Tenant: rg.Tenant, Kernel: abs(rg.Kernel), Initrd: abs(rg.Initrd), Disk: abs(rg.Disk), Memory: rg.Memory,
			Port: rg.Port, PortName: rg.PortName, LANPort: rg.LANPort, MAC: strings.ToLower(rg.MAC), IP: rg.IP,
			Append: rg.Append, Run: rg.Run, QEMUArgs: rg.QEMUArgs, line: lines[lineKey{n, ""}]}
		switch {
		case g.Name == "":
			fail(n, "name", errors.New("missing"))
		case !validName.MatchString(g.Name):
			fail(n, "name", fmt.Errorf("%q: want letters, digits, '-' and '_'", g.Name))
		case names[g.Name]:
			fail(n, "name", fmt.Errorf("%q: a second guest of that name", g.Name))
		}
		names[g.Name] = true
		if g.Tenant == "" {
			g.Tenant = g.Name
		}
		switch {
		case g.Kernel == "" && g.Disk == "":
			fail(n, "kernel", errors.New("missing (give kernel and initrd, or a bootable disk)"))
			if g.Initrd == "" {
				fail(n, "initrd", errors.New("missing"))
			}
		case g.Kernel != "" && g.Initrd == "" && g.Disk == "":
			fail(n, "initrd", errors.New("missing (or a disk holding the root file system)"))
		case g.Kernel == "":
			if g.Initrd != "" {
				fail(n, "initrd", errors.New("needs kernel"))
			}
			for _, f := range []struct{ field, value string }{{"ip", rg.IP}, {"run", rg.Run}, {"append", rg.Append}} {
				if f.value != "" {
					fail(n, f.field, errors.New("needs kernel: it goes on the kernel's command line (a guest booted from its disk sets itself up)"))
				}
			}
		}
		if g.Memory == 0 {
			g.Memory = 256
		} else if g.Memory < 64 || g.Memory > 1<<20 {
			fail(n, "memory", fmt.Errorf("%d: want 64 to 1048576 MiB", g.Memory))
		}
		switch g.Port {
		case "":
			g.Port = PortVirtio
		case PortVirtio, PortSerial, PortNone:
		default:
			fail(n, "port", fmt.Errorf("%q: want \"virtio\", \"serial\" or \"none\"", g.Port))
		}
		if g.PortName == "" {
			g.PortName = "spacenet"
		} else if !validName.MatchString(g.PortName) {
			fail(n, "port_name", fmt.Errorf("%q: want letters, digits, '-' and '_'", g.PortName))
		}
		if g.MAC == "" {
			g.MAC = fmt.Sprintf("52:54:00:53:4e:%02x", n)
		} else if hw, err := net.ParseMAC(g.MAC); err != nil || len(hw) != 6 || hw[0]&1 != 0 {
			fail(n, "mac", fmt.Errorf("%q: want a unicast MAC such as 52:54:00:53:4e:01", rg.MAC))
		}
		if other, ok := macs[g.MAC]; ok {
			fail(n, "mac", fmt.Errorf("%s: guest %q has it too", g.MAC, other))
		}
		macs[g.MAC] = g.Name
		if g.IP != "" {
			if p, err := netip.ParsePrefix(g.IP); err != nil || !p.Addr().Is4() {
				fail(n, "ip", fmt.Errorf("%q: want an IPv4 address with its prefix length, such as 10.0.0.1/24", g.IP))
			}
		}
		c.Guests = append(c.Guests, g)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

var validName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// lineKey names a key of the file: guest 0 is the top level; field "" is
// a [[guest]] header.
type lineKey struct {
	guest int
	field string
}

// keyLines finds the line of every key the simple way files are written
// (one key or header per line). A key it cannot place gets no line, never
// a wrong one.
func keyLines(data []byte) map[lineKey]int {
	out := map[lineKey]int{}
	guest := 0
	for i, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "[[guest]]"):
			guest++
			out[lineKey{guest, ""}] = i + 1
		case strings.HasPrefix(l, "["):
			guest = -1 // a table this file does not have: place nothing in it
		default:
			if k, _, ok := strings.Cut(l, "="); ok && guest >= 0 {
				key := lineKey{guest, strings.TrimSpace(k)}
				if _, seen := out[key]; !seen {
					out[key] = i + 1
				}
			}
		}
	}
	return out
}

// guestOfKey returns the number of the first guest with key field, for an
// unknown key (the decoder does not say which guest had it).
func guestOfKey(lines map[lineKey]int, field string) int {
	best, bestLine := 0, 0
	for k, l := range lines {
		if k.field == field && k.guest > 0 && (bestLine == 0 || l < bestLine) {
			best, bestLine = k.guest, l
		}
	}
	return best
}

// System is a Config with its policy and LAN configuration loaded and
// every guest placed on them: what Run runs.
type System struct {
	Config *Config
	Policy *policy.Policy
	LAN    *lan.Config
	Guests []Placed
}

// Placed is a guest with the sockets it uses.
type Placed struct {
	Guest
	APIDSocket string // its tenant's socket on the APID switch ("" with port "none")
	LANSocket  string // its LAN port's socket ("" without a NIC)
}

// Machine is the QEMU guest of p.
func (p *Placed) Machine() *Machine {
	m := &Machine{Kernel: p.Kernel, Initrd: p.Initrd, Disk: p.Disk, Memory: p.Memory, Append: p.Append, Run: p.Run, Extra: p.QEMUArgs}
	switch p.Port {
	case PortVirtio:
		m.Ports = []Port{{Name: p.PortName, Socket: p.APIDSocket}}
	case PortSerial:
		m.Serial = p.APIDSocket
	}
	if p.LANSocket != "" {
		m.NIC = &NIC{Socket: p.LANSocket, MAC: p.MAC}
		if p.IP != "" {
			m.Append = strings.TrimSpace(m.Append + " spacenet.ip=" + p.IP)
		}
	}
	return m
}

// Resolve loads c's policy and LAN configuration (the v0 defaults where c
// names none) and places every guest: its tenant must be in the policy
// (unless port is "none"), its LAN port a qemu-stream port of its tenant.
func Resolve(c *Config) (*System, error) {
	s := &System{Config: c, Policy: policy.Default(), LAN: lan.DefaultConfig(c.LANDir)}
	var err error
	if c.Policy != "" {
		if s.Policy, err = policy.Load(c.Policy); err != nil {
			return nil, err
		}
	}
	if c.LAN != "" {
		if s.LAN, err = lan.LoadConfig(c.LAN); err != nil {
			return nil, err
		}
	}
	var errs []error
	users := map[string]string{} // socket -> the guest on it
	share := func(where, field, sock string, g *Guest) {
		if other, ok := users[sock]; ok {
			errs = append(errs, fmt.Errorf("%s: %s: %s is guest %q's too (one guest per socket)", where, field, sock, other))
		}
		users[sock] = g.Name
	}
	for i := range c.Guests {
		g := &c.Guests[i]
		where := fmt.Sprintf("%s: guest %d (%q)", c.Source, i+1, g.Name)
		if g.line > 0 {
			where = fmt.Sprintf("%s:%d: guest %d (%q)", c.Source, g.line, i+1, g.Name)
		}
		p := Placed{Guest: *g}
		if g.Port != PortNone {
			if _, ok := s.Policy.Index(g.Tenant); !ok {
				errs = append(errs, fmt.Errorf("%s: tenant: %q is not a tenant of the policy %s (%s)", where, g.Tenant, s.Policy.Source, tenantNames(s.Policy)))
			}
			p.APIDSocket = filepath.Join(c.SocketDir, g.Tenant+".sock")
			share(where, "tenant", p.APIDSocket, g)
		}
		if g.LANPort != "none" {
			port, err := lanPort(s.LAN, g)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: lan_port: %w", where, err))
			} else if port != nil {
				p.LANSocket = port.Path
				share(where, "lan_port", p.LANSocket, g)
				if port.MAC != nil && !strings.EqualFold(port.MAC.String(), g.MAC) {
					errs = append(errs, fmt.Errorf("%s: mac: %s, but LAN port %q is locked to %s", where, g.MAC, port.Name, port.MAC))
				}
			}
		}
		s.Guests = append(s.Guests, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// lanPort finds g's LAN port: the one named g.LANPort, else the one named
// like the guest, else its tenant's only qemu-stream port. No port found
// without lan_port is not an error: the guest has no NIC.
func lanPort(c *lan.Config, g *Guest) (*lan.PortSpec, error) {
	find := func(name string) *lan.PortSpec {
		for i := range c.Ports {
			if c.Ports[i].Name == name {
				return &c.Ports[i]
			}
		}
		return nil
	}
	if g.LANPort != "" {
		p := find(g.LANPort)
		switch {
		case p == nil:
			return nil, fmt.Errorf("%q: no such port in %s", g.LANPort, c.Source)
		case p.Kind != lan.KindQEMUStream:
			return nil, fmt.Errorf("%q: a %s port; a guest needs a %s one", g.LANPort, p.Kind, lan.KindQEMUStream)
		}
		return p, nil
	}
	if p := find(g.Name); p != nil && p.Kind == lan.KindQEMUStream {
		return p, nil
	}
	var mine []*lan.PortSpec
	for i := range c.Ports {
		if p := &c.Ports[i]; p.Tenant == g.Tenant && p.Kind == lan.KindQEMUStream {
			mine = append(mine, p)
		}
	}
	switch len(mine) {
	case 0:
		return nil, nil
	case 1:
		return mine[0], nil
	}
	return nil, fmt.Errorf("tenant %q has %d qemu-stream ports in %s: name one", g.Tenant, len(mine), c.Source)
}

func tenantNames(p *policy.Policy) string {
	var names []string
	for _, t := range p.Tenants {
		names = append(names, t.Name)
	}
	sort.Strings(names)
	return "tenants: " + strings.Join(names, ", ")
}
