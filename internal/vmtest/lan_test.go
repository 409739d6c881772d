package vmtest_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"spacenet/internal/vmtest"
	"spacenet/ip/lan"
)

// lanGuest is a guest on the LAN driven through its control port.
type lanGuest struct {
	name, tenant, ip, mac string
	ctl                   *vmtest.Ctl
}

// TestLANGuests: three guests on `spacenet lan` QEMU stream sockets (the
// LAN listening before QEMU starts), the LAN policy letting camera and
// processor reach each other and spaceos reach nobody (nor be reached).
// Camera and processor ping each other (3 echoes each way, -A) and move
// 1 MiB of random bytes over TCP, the sha256 of what was sent equal to that
// of what arrived; the pcap, read by tshark, holds exactly 6 echo requests
// and 6 replies, and exactly 1 MiB of TCP payload towards the listener.
// spaceos pings camera and camera pings spaceos: both fail; every frame
// spaceos sent was dropped `isolated` (pcap count = RxFrames = drops) and
// its port sent nothing.
func TestLANGuests(t *testing.T) {
	needQEMU(t)
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed (scripts/deps.sh)")
	}
	img := image(t, nil)
	dir := t.TempDir()
	guests := []*lanGuest{
		{name: "camera", tenant: "camera", ip: "10.0.0.1", mac: "52:54:00:00:00:01"},
		{name: "processor", tenant: "processor", ip: "10.0.0.2", mac: "52:54:00:00:00:02"},
		{name: "spaceos", tenant: "spaceos", ip: "10.0.0.3", mac: "52:54:00:00:00:03"},
	}
	conf := `
[[tenant]]
name = "camera"
can_reach = ["processor"]
[[tenant]]
name = "processor"
can_reach = ["camera"]
[[tenant]]
name = "spaceos"
can_reach = []
`
	for _, g := range guests {
		conf += fmt.Sprintf("\n[[port]]\nname = %q\ntenant = %q\nkind = \"qemu-stream\"\npath = %q\nmac = %q\n",
			g.name, g.tenant, filepath.Join(dir, g.name+".sock"), g.mac)
	}
	c, err := lan.ParseConfig("vm-lan.toml", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	pcap := filepath.Join(dir, "lan.pcap")
	l, err := lan.Open(c, pcap, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			l.Close()
		}
	}()

	deadline := time.Now().Add(testTimeout)
	boot := time.Now()
	for _, g := range guests {
		if g.ctl, err = vmtest.ListenCtl(dir, g.name); err != nil {
			t.Fatal(err)
		}
		defer g.ctl.Close()
		startVM(t, g.name, vmtest.VMConfig{
			Image:  img,
			Append: "ipv6.disable=1", // no router solicitations or DAD: the pcap holds only what the test does
			Run:    fmt.Sprintf("ip addr add %s/24 dev eth0 && ip link set eth0 up\n%s", g.ip, vmtest.CtlScript),
			Ports:  []vmtest.Port{{Name: "ctl", Socket: g.ctl.Socket}},
			NIC:    &vmtest.NIC{Socket: filepath.Join(dir, g.name+".sock"), MAC: g.mac},
		})
	}
	for _, g := range guests {
		if err := g.ctl.Accept(deadline); err != nil {
			t.Fatal(err)
		}
	}
	run := func(g *lanGuest, cmd string, wantRC int) string {
		t.Helper()
		out, rc, err := g.ctl.Run(cmd, deadline)
		if err != nil {
			t.Fatalf("%s: %s: %v", g.name, cmd, err)
		}
		if rc != wantRC {
			t.Fatalf("%s: %s: exit %d, want %d\n%s", g.name, cmd, rc, wantRC, out)
		}
		return out
	}
	for _, g := range guests {
		run(g, "true", 0)
	}
	t.Logf("3 guests up after %v", time.Since(boot).Round(time.Millisecond))
	cam, proc, sos := guests[0], guests[1], guests[2]

	start := time.Now()
	run(cam, "ping -A -c 3 -W 5 "+proc.ip, 0)
	run(proc, "ping -A -c 3 -W 5 "+cam.ip, 0)
	t.Logf("pings in %v", time.Since(start).Round(time.Millisecond))

	// 1 MiB over TCP: the listener in the processor, its socket checked
	// listening (state 0A, port 5000 = 0x1388) before the camera connects.
	start = time.Now()
	sent := run(cam, "head -c 1048576 /dev/urandom > /tmp/d && sha256sum /tmp/d", 0)
	// nc quits at the end of its input: give it a FIFO this shell holds
	// open for writing, so that it ends at the end of the connection.
	if err := proc.ctl.Start("mkfifo /tmp/f; exec 4<>/tmp/f; nc -l -p 5000 </tmp/f >/tmp/r & nc=$!; until grep -q ':1388 00000000:0000 0A' /proc/net/tcp; do :; done; echo listening; wait $nc && sha256sum /tmp/r"); err != nil {
		t.Fatal(err)
	}
	if line, _, _, err := proc.ctl.Line(deadline); err != nil || line != "listening" {
		t.Fatalf("processor: %q, %v; want listening", line, err)
	}
	run(cam, "nc "+proc.ip+" 5000 < /tmp/d", 0)
	got, rc, err := proc.ctl.Wait(deadline)
	if err != nil || rc != 0 {
		t.Fatalf("processor: %q, exit %d, %v", got, rc, err)
	}
	sumSent, sumGot := strings.Fields(sent), strings.Fields(got)
	if len(sumSent) != 2 || len(sumGot) != 2 || sumSent[0] != sumGot[0] {
		t.Fatalf("sha256 sent %q, received %q", sent, got)
	}
	t.Logf("1 MiB over TCP in %v, sha256 %s on both sides", time.Since(start).Round(time.Millisecond), sumGot[0])

	// The pair the policy forbids.
	run(sos, "ping -c 2 -W 1 -w 2 "+cam.ip, 1)
	run(cam, "ping -c 2 -W 1 -w 2 "+sos.ip, 1)

	ports := map[string]lan.PortStats{}
	for _, p := range l.Switch.Ports() {
		ports[p.Name] = p
	}
	closed = true
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	so := ports["spaceos"]
	if so.TxFrames != 0 {
		t.Errorf("spaceos's port sent %d frames, want 0", so.TxFrames)
	}
	if so.RxFrames == 0 || so.RxDrops[lan.ReasonIsolated] != so.RxFrames {
		t.Errorf("spaceos's port: %d frames in, %d dropped isolated; want all", so.RxFrames, so.RxDrops[lan.ReasonIsolated])
	}

	for _, tc := range []struct {
		what, filter string
		want         int
	}{
		{"echo requests camera to processor", "icmp.type==8 && ip.src==10.0.0.1 && ip.dst==10.0.0.2", 3},
		{"echo replies processor to camera", "icmp.type==0 && ip.src==10.0.0.2 && ip.dst==10.0.0.1", 3},
		{"echo requests processor to camera", "icmp.type==8 && ip.src==10.0.0.2 && ip.dst==10.0.0.1", 3},
		{"echo replies camera to processor", "icmp.type==0 && ip.src==10.0.0.1 && ip.dst==10.0.0.2", 3},
		{"ICMP in all", "icmp", 12},
		{"TCP connections opened", "tcp.flags.syn==1 && tcp.flags.ack==0", 1},
		{"frames from spaceos", "eth.src==" + sos.mac, int(so.RxFrames)},
		{"IPv6", "ipv6", 0},
	} {
		if got := tsharkCount(t, pcap, tc.filter); got != tc.want {
			t.Errorf("pcap: %s (%s): %d, want %d", tc.what, tc.filter, got, tc.want)
		}
	}
	var payload int
	for _, f := range strings.Fields(tshark(t, pcap, "tcp.dstport==5000 && !tcp.analysis.retransmission", "tcp.len")) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatal(err)
		}
		payload += n
	}
	if payload != 1<<20 {
		t.Errorf("pcap: %d bytes of TCP payload to port 5000, want %d", payload, 1<<20)
	}
}

var tsharkMu sync.Mutex

// tshark returns field of every frame of pcap matching filter, one a line.
func tshark(t *testing.T, pcap, filter, field string) string {
	t.Helper()
	tsharkMu.Lock()
	defer tsharkMu.Unlock()
	out, err := exec.Command("tshark", "-n", "-r", pcap, "-Y", filter, "-T", "fields", "-e", field).Output()
	if err != nil {
		t.Fatalf("tshark -Y %q: %v", filter, err)
	}
	return string(out)
}

func tsharkCount(t *testing.T, pcap, filter string) int {
	return len(strings.Fields(tshark(t, pcap, filter, "frame.number")))
}
