package lan

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"spacenet/apid/policy"
	"spacenet/ip/lan/fault"
	"spacenet/ip/wire"
)

const fullConfig = `
ageing = "60s"
mac_table_size = 100
queue_depth = 32
socket_mode = "0660"
dir_mode = "0750"

[[tenant]]
name = "camera"
can_reach = ["processor"]
[[tenant]]
name = "processor"

[[port]]
name = "cam"
tenant = "camera"
kind = "qemu-stream"
path = "DIR/cam.sock"
mac = "52:54:00:12:34:56"
ips = ["10.0.0.2", "fe80::5054:ff:fe12:3456"]
mtu = 1400
sticky_mac = false
mac_limit = 8
when_full = "wait"
hold = "20ms"
flush = "1s"
[port.storm]
broadcast = 50
unknown_unicast = -1
burst = 10
[port.fault]
loss = 0.01
delay = "5ms"
seed = 7
[[port.fault.outage]]
start = "10s"
length = "1s"

[[port]]
name = "proc"
tenant = "processor"
kind = "qemu-dgram"
path = "DIR/proc.sock"
peer = "DIR/proc-vm.sock"
`

func TestParseConfig(t *testing.T) {
	dir := t.TempDir()
	c, err := ParseConfig("lan.toml", []byte(strings.ReplaceAll(fullConfig, "DIR", dir)))
	if err != nil {
		t.Fatal(err)
	}
	if c.Ageing != time.Minute || c.MACTableSize != 100 || c.QueueDepth != 32 || len(c.Ports) != 2 {
		t.Fatalf("config %+v", c)
	}
	p := c.Ports[0]
	mac, _ := wire.ParseMAC("52:54:00:12:34:56")
	if p.MAC == nil || *p.MAC != mac || len(p.IPs) != 2 || p.IPs[1] != netip.MustParseAddr("fe80::5054:ff:fe12:3456") || p.MTU != 1400 {
		t.Errorf("port %+v", p)
	}
	want := fault.Config{Loss: 0.01, Delay: 5 * time.Millisecond, Outages: []fault.Window{{Start: 10 * time.Second, Len: time.Second}}}
	if p.Fault == nil || p.Fault.Loss != want.Loss || p.Fault.Delay != want.Delay || len(p.Fault.Outages) != 1 || p.Fault.Outages[0] != want.Outages[0] || p.FaultSeed != 7 {
		t.Errorf("fault %+v seed %d", p.Fault, p.FaultSeed)
	}
	if c.SocketMode != 0o660 || c.DirMode != 0o750 {
		t.Errorf("modes %04o %04o", c.SocketMode, c.DirMode)
	}
	pcam, pproc := c.Ports[0].PortConfig(), c.Ports[1].PortConfig()
	if !pcam.NoSticky || pcam.MACLimit != 8 || pcam.WhenFull != WhenFullWait || pcam.Hold != 20*time.Millisecond || pcam.Flush != time.Second ||
		pcam.Storm != (StormControl{Broadcast: 50, UnknownUnicast: -1, Burst: 10}) {
		t.Errorf("cam port config %+v", pcam)
	}
	if pproc.NoSticky || pproc.WhenFull != WhenFullDrop || pproc.Storm != (StormControl{}) {
		t.Errorf("proc port config %+v; want the defaults (sticky, drop)", pproc)
	}
	r := c.Reach()
	if !r.Allows("camera", "processor") || r.Allows("processor", "camera") {
		t.Errorf("reach %v", r)
	}
	// String writes a file that parses back to the same configuration.
	c2, err := ParseConfig("again", []byte(c.String()))
	if err != nil {
		t.Fatalf("%v\n%s", err, c.String())
	}
	if c2.String()[len("# again"):] != c.String()[len("# lan.toml"):] {
		t.Errorf("round trip differs:\n%s\n---\n%s", c.String(), c2.String())
	}
}

const tapPort = "[[port]]\nname = \"a\"\ntenant = \"t\"\nkind = \"tap\"\nifname = \"x\"\n"

func TestParseConfigErrors(t *testing.T) {
	tests := []struct{ name, file, want string }{
		{"unknown key", `colour = "blue"`, `unknown key "colour"`},
		{"case", "[[port]]\nName = \"x\"", `unknown key "port.Name"`},
		{"syntax", `ageing = `, "t.toml:1: unexpected EOF; expected value"},
		{"bad ageing", `ageing = "soon"`, `ageing "soon"`},
		{"kind", "[[port]]\nname = \"a\"\ntenant = \"t\"\nkind = \"usb\"", `kind "usb"`},
		{"no path", "[[port]]\nname = \"a\"\ntenant = \"t\"\nkind = \"qemu-stream\"", "needs path"},
		{"no ifname", "[[port]]\nname = \"a\"\ntenant = \"t\"\nkind = \"tap\"", "needs ifname"},
		{"dup", "[[port]]\nname = \"a\"\ntenant = \"t\"\nkind = \"tap\"\nifname = \"x\"\n[[port]]\nname = \"a\"\ntenant = \"t\"\nkind = \"tap\"\nifname = \"y\"", "name used twice"},
		{"tenant", "[[port]]\nname = \"a\"\ntenant = \"T!\"\nkind = \"tap\"\nifname = \"x\"", `tenant "T!"`},
		{"undeclared", "[[tenant]]\nname = \"a\"\n[[port]]\nname = \"a\"\ntenant = \"b\"\nkind = \"tap\"\nifname = \"x\"", `tenant "b" not declared`},
		{"can_reach", "[[tenant]]\nname = \"a\"\ncan_reach = [\"zz\"]", `can_reach "zz": no such tenant`},
		{"mac", "[[port]]\nname = \"a\"\ntenant = \"t\"\nkind = \"tap\"\nifname = \"x\"\nmac = \"ff:ff:ff:ff:ff:ff\"", "group address"},
		{"ip", "[[port]]\nname = \"a\"\ntenant = \"t\"\nkind = \"tap\"\nifname = \"x\"\nips = [\"0.0.0.0\"]", "not a unicast IP"},
		{"fault", "[[port]]\nname = \"a\"\ntenant = \"t\"\nkind = \"tap\"\nifname = \"x\"\n[port.fault]\nloss = 2.0", "loss 2 not in [0, 1]"},
		{"both", "policy = \"p.toml\"\n[[tenant]]\nname = \"a\"", "choose one"},
		{"when_full", tapPort + "when_full = \"sometimes\"", `port 1 ("a"): when_full "sometimes"`},
		{"hold", tapPort + "hold = \"-1s\"", `hold "-1s"`},
		{"burst", tapPort + "[port.storm]\nburst = -2", `port 1 ("a"): storm burst -2`},
		{"storm key", tapPort + "[port.storm]\nrate = 2", `unknown key "port.storm.rate"`},
		{"socket_mode", `socket_mode = "0644x"`, `socket_mode: mode "0644x"`},
		{"dir_mode", `dir_mode = "0070"`, `dir_mode: mode "0070": the owner needs read and write`},
		{"locked twice", tapPort + "mac = \"02:00:00:00:00:01\"\n[[port]]\nname = \"b\"\ntenant = \"t\"\nkind = \"tap\"\nifname = \"y\"\nmac = \"02:00:00:00:00:01\"", `port 2 ("b"): mac 02:00:00:00:00:01 is locked to port "a" already`},
	}
	for _, tt := range tests {
		_, err := ParseConfig("t.toml", []byte(tt.file))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v; want it to contain %q", tt.name, err, tt.want)
		}
	}
}

func TestDefaultConfigAndPolicy(t *testing.T) {
	c := DefaultConfig("/tmp/x")
	for _, p := range c.Ports {
		if pc := p.PortConfig(); pc.NoSticky || pc.WhenFull != WhenFullDrop {
			t.Errorf("default port %s: %+v; want sticky, drop", p.Name, pc)
		}
	}
	if (&PortSpec{Kind: KindPacket}).Sticky() || !(&PortSpec{Kind: KindTAP}).Sticky() {
		t.Error("sticky by default: want every kind but packet")
	}
	if len(c.Ports) != 3 || c.Ports[1].Path != "/tmp/x/processor.sock" || c.Ports[1].Tenant != "processor" || c.Reach() != nil {
		t.Errorf("default %+v", c)
	}
	dir := t.TempDir()
	pol := "[[tenant]]\nname = \"camera\"\nowns = [\"0x010-0x01F\"]\ncan_send_to = [\"processor\", \"0x100\"]\n[[tenant]]\nname = \"processor\"\nowns = [\"0x020\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "policy.toml"), []byte(pol), 0o644); err != nil {
		t.Fatal(err)
	}
	cf := filepath.Join(dir, "lan.toml")
	if err := os.WriteFile(cf, []byte("policy = \"policy.toml\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(cf)
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Reach(); !r.Allows("camera", "processor") || r.Allows("processor", "camera") {
		t.Errorf("reach from policy: %v", r)
	}
	r := ReachFromPolicy(policy.Default())
	for _, from := range []string{"camera", "processor", "spaceos"} {
		for _, to := range []string{"camera", "processor", "spaceos"} {
			if !r.Allows(from, to) {
				t.Errorf("v0 policy: %s does not reach %s", from, to)
			}
		}
		if r.Allows(from, "host") {
			t.Errorf("v0 policy: %s reaches undeclared host", from)
		}
	}
	if got := r.String(); got != "camera -> processor, spaceos\nprocessor -> camera, spaceos\nspaceos -> camera, processor\n" {
		t.Errorf("Reach.String() = %q", got)
	}
}

// TestReload: SIGHUP's work: changed ports are re-opened, removed ones
// closed, new ones opened, reach replaced.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	c, err := ParseConfig("a", []byte(strings.ReplaceAll(fullConfig, "DIR", dir)))
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(c, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	next := strings.ReplaceAll(fullConfig, "DIR", dir)
	next = strings.Replace(next, `can_reach = ["processor"]`, `can_reach = []`, 1)
	next = strings.Replace(next, "name = \"proc\"", "name = \"proc2\"", 1)
	next = strings.Replace(next, "ageing = \"60s\"", "ageing = \"61s\"", 1)
	c2, err := ParseConfig("b", []byte(next))
	if err != nil {
		t.Fatal(err)
	}
	notes, err := l.Reload(c2)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(notes, "; ")
	for _, want := range []string{"after a restart", "port proc detached", "port proc2 attached"} {
		if !strings.Contains(got, want) {
			t.Errorf("notes %q lack %q", got, want)
		}
	}
	if strings.Contains(got, "port cam") {
		t.Errorf("unchanged port cam was touched: %q", got)
	}
	var names []string
	for _, p := range l.Switch.Ports() {
		names = append(names, p.Name)
	}
	if strings.Join(names, ",") != "cam,proc2" {
		t.Errorf("ports %v", names)
	}
	if l.Switch.topo.Load().reach.Allows("camera", "processor") {
		t.Error("reach not replaced")
	}
}

// TestWhenFullDefault: a port without when_full drops on a full queue
// (issue 21): the tap and qemu kinds keep dropping by default (a host
// kernel or a guest cannot be held); so do packet and vxlan ports, drop
// being every kind's default. when_full = "wait" is taken on any kind.
func TestWhenFullDefault(t *testing.T) {
	tests := []struct{ kind, where string }{
		{KindTAP, "ifname = \"tap0\""},
		{KindQEMUStream, "path = \"/tmp/x/a.sock\""},
		{KindQEMUDgram, "path = \"/tmp/x/a.sock\"\npeer = \"/tmp/x/vm.sock\""},
		{KindPacket, "ifname = \"eth0\""},
		{KindVXLAN, "local = \"10.0.0.1\"\nremote = \"10.0.0.2\"\nvni = 42"},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			port := "[[port]]\nname = \"a\"\ntenant = \"t\"\nkind = \"" + tt.kind + "\"\n" + tt.where + "\n"
			for _, wc := range []struct {
				line string
				want WhenFull
			}{
				{"", WhenFullDrop},
				{"when_full = \"wait\"\n", WhenFullWait},
			} {
				c, err := ParseConfig("t.toml", []byte(port+wc.line))
				if err != nil {
					t.Fatal(err)
				}
				p := c.Ports[0]
				if p.WhenFull != wc.want || p.PortConfig().WhenFull != wc.want {
					t.Errorf("%q: WhenFull %v, PortConfig().WhenFull %v; want %v", wc.line, p.WhenFull, p.PortConfig().WhenFull, wc.want)
				}
			}
		})
	}
}
