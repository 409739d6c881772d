package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"spacenet/internal/netnstest"
)

// TestBinaryLANVXLAN: `spacenet lan run` with a vxlan port (VNI 42) and a
// TAP port, run in one network namespace, joined by a veth to another
// where the kernel's vxlan device (VNI 42) pings the TAP's address:
// ARP and the echoes cross our VXLAN port both ways. --print-config
// shows the port as the file says, and the counters printed at SIGTERM
// count the frames on the vxlan port.
func TestBinaryLANVXLAN(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	if _, err := exec.LookPath("ping"); err != nil {
		t.Skip("ping missing: run scripts/deps.sh")
	}
	ours := netnstest.NewNetns(t, "lvo")
	kern := netnstest.NewNetns(t, "lvk")
	netnstest.In(t, ours, "ip", "link", "add", "uv", "type", "veth", "peer", "name", "kv", "netns", kern)
	netnstest.In(t, ours, "ip", "addr", "add", "10.89.0.1/24", "dev", "uv")
	netnstest.In(t, kern, "ip", "addr", "add", "10.89.0.2/24", "dev", "kv")
	netnstest.In(t, kern, "ip", "link", "set", "kv", "up") // uv comes up only with its peer
	netnstest.SetUpAndWait(t, ours, "uv")
	netnstest.SetUpAndWait(t, kern, "kv")
	netnstest.In(t, kern, "ip", "link", "add", "vx0", "type", "vxlan", "id", "42", "remote", "10.89.0.1",
		"local", "10.89.0.2", "dstport", "4789", "dev", "kv")
	netnstest.In(t, kern, "ip", "addr", "add", "192.168.89.2/24", "dev", "vx0")
	netnstest.SetUpAndWait(t, kern, "vx0")

	dir := t.TempDir()
	file := filepath.Join(dir, "lan.toml")
	body := `[[port]]
name = "vx42"
tenant = "t"
kind = "vxlan"
local = "10.89.0.1"
remote = "10.89.0.2"
vni = 42

[[port]]
name = "host"
tenant = "t"
kind = "tap"
ifname = "lvt0"
`
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := spacenet(t, nil, "lan", "run", "--config", file, "--print-config")
	if want := "kind = \"vxlan\"\nlocal = \"10.89.0.1:4789\"\nremote = \"10.89.0.2:4789\"\nvni = 42\n"; code != 0 || !strings.Contains(out, want) {
		t.Fatalf("lan run --print-config: status %d, output:\n%s\nwant it to contain:\n%s", code, out, want)
	}

	p := spawnCmd(t, exec.Command("ip", "netns", "exec", ours, spacenetBinary(t), "lan", "run", "--config", file, "--socket-dir", filepath.Join(dir, "s")), nil)
	p.waitLog("lan: port up", "port=vx42", "kind=vxlan", "nic=vxlan:42")
	p.waitLog("lan: running")
	netnstest.In(t, ours, "ip", "addr", "add", "192.168.89.1/24", "dev", "lvt0")
	netnstest.WaitUp(t, ours, "lvt0")
	ping, err := exec.Command("ip", "netns", "exec", kern, "ping", "-c", "3", "-i", "0.2", "-W", "5", "192.168.89.1").CombinedOutput()
	if err != nil || !strings.Contains(string(ping), "3 received") {
		t.Fatalf("kernel vxlan ping through lan run's vxlan port: %v\n%s", err, ping)
	}
	p.drainLog()
	report := p.stop(syscall.SIGTERM)
	// PORT TENANT RX_FRAMES RX_BYTES TX_FRAMES ...: ARP request and 3
	// echo requests in, ARP reply and 3 replies out, at least (the
	// kernel may ARP again, IPv6 may speak).
	m := regexp.MustCompile(`(?m)^vx42\s+t\s+(\d+)\s+\d+\s+(\d+)\s`).FindStringSubmatch(report)
	if m == nil {
		t.Fatalf("no vx42 line in the report:\n%s", report)
	}
	rx, _ := strconv.Atoi(m[1])
	tx, _ := strconv.Atoi(m[2])
	if rx < 4 || tx < 4 {
		t.Fatalf("vx42: rx %d tx %d frames, want at least 4 each:\n%s", rx, tx, report)
	}
	t.Logf("%s\n%s", strings.TrimSpace(string(ping)), report)
}

// TestBinaryLANCheckVXLAN: lan check reports a vxlan port's problems at
// their file:line, naming the port and the field, and exits 1.
func TestBinaryLANCheckVXLAN(t *testing.T) {
	file := filepath.Join(t.TempDir(), "lan.toml")
	body := "[[port]]\nname = \"vx\"\ntenant = \"t\"\nkind = \"vxlan\"\nlocal = \"10.0.0.1\"\nremote = \"239.0.0.1\"\nvni = 16777216\n\n" +
		"[[port]]\nname = \"tap\"\ntenant = \"t\"\nkind = \"tap\"\nifname = \"t0\"\nvni = 3\n\n" +
		"[[port]]\nname = \"vx2\"\ntenant = \"t\"\nkind = \"vxlan\"\nremote = \"10.0.0.2\"\nvni = 1\n"
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := spacenet(t, nil, "lan", "check", file)
	want := file + `:6: port 1 ("vx"): remote "239.0.0.1": want the peer VTEP's unicast address (no multicast groups)` + "\n" +
		file + `:7: port 1 ("vx"): vni 16777216: want 0 to 16777215` + "\n" +
		file + `:14: port 2 ("tap"): vni: only a vxlan port takes it (this one is kind "tap")` + "\n" +
		file + `:19: port 3 ("vx2"): kind vxlan needs local` + "\n" +
		"spacenet: configuration refused\n"
	if code != exitFailure || out != want {
		t.Errorf("lan check: status %d, output:\n%s\nwant status 1, output:\n%s", code, out, want)
	}
}

// TestBinaryIperfVXLAN: spacenet iperf --via vxlan, 4 MiB: our VXLAN, then
// the kernel's vxlan pair, the same-run ratio and the kernel's own TCP
// over its vxlan pair for scale (root only).
func TestBinaryIperfVXLAN(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	out, code := spacenet(t, nil, "iperf", "--via", "vxlan", "--bytes", "4M", "--quiet")
	if code != 0 || !regexp.MustCompile(`(?s)via vxlan.*summary: 4194304 bytes.*via kernel-vxlan.*summary: 4194304 bytes.*same run: vxlan [0-9.]+ Gbit/s, kernel-vxlan [0-9.]+ Gbit/s: ratio [0-9.]+\nreference: kernel tcp over kernel vxlan, 4 MiB: [0-9.]+ Gbit/s \(no netstack\)\n$`).MatchString(out) {
		t.Fatalf("iperf --via vxlan: status %d, output:\n%s", code, out)
	}
	t.Log(out)
}
