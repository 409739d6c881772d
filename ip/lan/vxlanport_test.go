package lan

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"spacenet/ip/nic"
	"spacenet/ip/wire"
)

const vxlanPort = "[[port]]\nname = \"vx\"\ntenant = \"t\"\nkind = \"vxlan\"\n"

// TestParseVXLANPort: a vxlan port's local, remote and vni, their
// defaults (port 4789, MTU the NIC's 1450, no sticky MAC), and the file
// String writes back.
func TestParseVXLANPort(t *testing.T) {
	for _, tc := range []struct {
		name, body    string
		local, remote string
		vni           uint32
		mtu           int
	}{
		{"defaults", "local = \"10.88.0.1\"\nremote = \"10.88.0.2\"\nvni = 42\n", "10.88.0.1:4789", "10.88.0.2:4789", 42, 0},
		{"ports", "local = \"127.0.0.1:0\"\nremote = \"127.0.0.2:4790\"\nvni = 0\nmtu = 9000\n", "127.0.0.1:0", "127.0.0.2:4790", 0, 9000},
		{"ipv6", "local = \"[fd00::1]:4789\"\nremote = \"fd00::2\"\nvni = 16777215\n", "[fd00::1]:4789", "[fd00::2]:4789", 16777215, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig("t.toml", []byte(vxlanPort+tc.body))
			if err != nil {
				t.Fatal(err)
			}
			p := c.Ports[0]
			if p.Local.String() != tc.local || p.Remote.String() != tc.remote || p.VNI != tc.vni || p.MTU != tc.mtu || p.Sticky() {
				t.Fatalf("port %+v; want local %s remote %s vni %d mtu %d, not sticky", p, tc.local, tc.remote, tc.vni, tc.mtu)
			}
			again, err := ParseConfig("again", []byte(c.String()))
			if err != nil {
				t.Fatalf("%v\n%s", err, c.String())
			}
			if q := again.Ports[0]; q.Local != p.Local || q.Remote != p.Remote || q.VNI != p.VNI || q.MTU != p.MTU {
				t.Fatalf("written back as\n%s\nread as %+v", c.String(), q)
			}
			want := "kind = \"vxlan\"\nlocal = \"" + tc.local + "\"\nremote = \"" + tc.remote + "\"\nvni = "
			if !strings.Contains(c.String(), want) {
				t.Errorf("String():\n%s\nwant it to contain %q", c.String(), want)
			}
		})
	}
}

// TestParseVXLANPortErrors: each problem of a vxlan port names the file,
// the line of the key, the port and the field.
func TestParseVXLANPortErrors(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"no local", "remote = \"10.0.0.2\"\nvni = 1", `t.toml:4: port 1 ("vx"): kind vxlan needs local`},
		{"no remote", "local = \"10.0.0.1\"\nvni = 1", `t.toml:4: port 1 ("vx"): kind vxlan needs remote`},
		{"no vni", "local = \"10.0.0.1\"\nremote = \"10.0.0.2\"", `t.toml:4: port 1 ("vx"): kind vxlan needs vni`},
		{"bad local", "local = \"host-a\"\nremote = \"10.0.0.2\"\nvni = 1", `t.toml:5: port 1 ("vx"): local "host-a": want an IP address, optionally with a port (10.0.0.2 or 10.0.0.2:4789)`},
		{"zone", "local = \"fe80::1%eth0\"\nremote = \"fe80::2\"\nvni = 1", `t.toml:5: port 1 ("vx"): local "fe80::1%eth0": want an address without a zone`},
		{"bad remote", "local = \"10.0.0.1\"\nremote = \"10.0.0.2:99999\"\nvni = 1", `t.toml:6: port 1 ("vx"): remote "10.0.0.2:99999": want an IP address`},
		{"multicast", "local = \"10.0.0.1\"\nremote = \"239.1.1.1\"\nvni = 1", `t.toml:6: port 1 ("vx"): remote "239.1.1.1": want the peer VTEP's unicast address (no multicast groups)`},
		{"remote port 0", "local = \"10.0.0.1\"\nremote = \"10.0.0.2:0\"\nvni = 1", `t.toml:6: port 1 ("vx"): remote "10.0.0.2:0": port 0`},
		{"family", "local = \"10.0.0.1\"\nremote = \"fd00::2\"\nvni = 1", `t.toml:6: port 1 ("vx"): remote "fd00::2": not of local "10.0.0.1"'s address family`},
		{"vni big", "local = \"10.0.0.1\"\nremote = \"10.0.0.2\"\nvni = 16777216", `t.toml:7: port 1 ("vx"): vni 16777216: want 0 to 16777215`},
		{"vni negative", "local = \"10.0.0.1\"\nremote = \"10.0.0.2\"\nvni = -1", `t.toml:7: port 1 ("vx"): vni -1: want 0 to 16777215`},
		{"mtu", "local = \"10.0.0.1\"\nremote = \"10.0.0.2\"\nvni = 1\nmtu = 65500", `t.toml:8: port 1 ("vx"): mtu 65500: a vxlan port carries at most 65465`},
		{"path", "local = \"10.0.0.1\"\nremote = \"10.0.0.2\"\nvni = 1\nifname = \"x\"", `t.toml:4: port 1 ("vx"): kind vxlan takes local, remote and vni, not path, peer or ifname`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig("t.toml", []byte(vxlanPort+tc.body))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("err = %v; want one error starting %q", err, tc.want)
			}
		})
	}
	// vxlan's keys on another kind.
	_, err := ParseConfig("t.toml", []byte(tapPort+"vni = 4\n"))
	if want := `t.toml:6: port 1 ("a"): vni: only a vxlan port takes it (this one is kind "tap")`; err == nil || err.Error() != want {
		t.Errorf("err = %v; want %q", err, want)
	}
}

// TestOpenVXLANPort: lan.Open (what spacenet lan run runs) opens a vxlan
// port from a file. A broadcast from an in-process port leaves it as one
// VXLAN datagram (VNI 42) to the remote VTEP, a UDP socket of the test's;
// the frame the remote sends back (to the port's address, learnt from
// that datagram) reaches the in-process port byte for byte.
func TestOpenVXLANPort(t *testing.T) {
	remote, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	file := vxlanPort + "local = \"127.0.0.1:0\"\nremote = \"" + remote.LocalAddr().String() + "\"\nvni = 42\n"
	c, err := ParseConfig("t.toml", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(c, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m, err := l.Switch.AttachMem(PortConfig{Name: "stack", Tenant: "t"})
	if err != nil {
		t.Fatal(err)
	}
	out := eth(bcast, macA, 0x88b5, []byte("to the remote"), 60)
	if _, err := m.Send([][]byte{out}); err != nil {
		t.Fatal(err)
	}
	remote.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2048)
	n, from, err := remote.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	var fe wire.FieldError
	vni, inner, ok := wire.VXLANCheck(buf[:n], &fe)
	if !ok || vni != 42 || !bytes.Equal(inner, out) {
		t.Fatalf("datagram % x: vni %d, frame % x; want vni 42 and % x", buf[:n], vni, inner, out)
	}
	back := eth(macA, macB, 0x88b5, []byte("from the remote"), 60)
	dgram := make([]byte, wire.VXLANSize+len(back))
	wire.PutVXLAN(dgram, 42)
	copy(dgram[wire.VXLANSize:], back)
	if _, err := remote.WriteToUDPAddrPort(dgram, from); err != nil {
		t.Fatal(err)
	}
	bufs, sizes := [][]byte{make([]byte, 1514)}, make([]int, 1)
	if k, err := m.Recv(bufs, sizes); err != nil || k != 1 || !bytes.Equal(bufs[0][:sizes[0]], back) {
		t.Fatalf("Recv %d %v: % x; want % x", k, err, bufs[0][:sizes[0]], back)
	}
	// (Its transmit counters may lag the datagram: the remote's read
	// proved the send.)
	st, _ := l.Switch.Port("vx")
	if st.RxFrames != 1 || st.Forwarded() != 1 || st.NIC != "vxlan:42" || st.NICStats.RxFrames != 1 {
		t.Fatalf("vxlan port %+v", st)
	}
	if got := l.Config().Ports[0].PortConfig(); !got.NoSticky || got.MTU != 0 {
		t.Errorf("port config %+v; want no sticky MAC, the NIC's MTU", got)
	}
	if mtu := nic.DefaultVXLANMTU; st.MTU != mtu {
		t.Errorf("port MTU %d, want %d", st.MTU, mtu)
	}
}
