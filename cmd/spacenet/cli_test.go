package main

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/spf13/cobra"

	"spacenet/apid/frame"
	"spacenet/apid/sysmsg"
)

func TestParseNumber(t *testing.T) {
	tests := []struct {
		in      string
		max     uint64
		want    uint64
		wantErr string
	}{
		{"0x010", 0x7FF, 0x010, ""},
		{"0X7ff", 0x7FF, 0x7FF, ""},
		{"16", 0x7FF, 16, ""},
		{"0", 0x7FF, 0, ""},
		{" 0x10 ", 0x7FF, 0x10, ""},
		{"010", 0x7FF, 0, "a leading 0 is ambiguous (octal?): write 0x10 for hex or 10 for decimal"},
		{"00", 0x7FF, 0, "a leading 0 is ambiguous (octal?): write 0x0 for hex or 0 for decimal"},
		{"0o10", 0x7FF, 0, "a leading 0 is ambiguous (octal?): write 0xo10 for hex or o10 for decimal"},
		{"0x800", 0x7FF, 0, "above the largest, 0x7FF"},
		{"2048", 0x7FF, 0, "above the largest, 2047 (0x7FF)"},
		{"0x", 0x7FF, 0, "want hex digits after 0x"},
		{"0x+1", 0x7FF, 0, "want hex digits after 0x"},
		{"0x1_0", 0x7FF, 0, "want hex digits after 0x"},
		{"+16", 0x7FF, 0, "want hex with 0x (0x010) or decimal (16)"},
		{"-1", 0x7FF, 0, "want hex with 0x (0x010) or decimal (16)"},
		{"", 0x7FF, 0, "want hex with 0x (0x010) or decimal (16)"},
		{"1e3", 0x7FF, 0, "want hex with 0x (0x010) or decimal (16)"},
		{"99999999999999999999999", 0x7FF, 0, "want hex with 0x (0x010) or decimal (16)"},
	}
	for _, tc := range tests {
		got, err := parseNumber(tc.in, tc.max)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got != tc.want || gotErr != tc.wantErr {
			t.Errorf("parseNumber(%q) = %d, %q; want %d, %q", tc.in, got, gotErr, tc.want, tc.wantErr)
		}
	}
}

// TestBinaryInjectKeepsGuest: inject refuses (status 5) to connect as a
// tenant whose guest is connected, and the guest keeps its connection;
// with --replace it connects and the switch drops the guest. Before,
// inject replaced the guest silently.
func TestBinaryInjectKeepsGuest(t *testing.T) {
	p := startRun(t, 3)
	cam := p.connect("camera")

	args := []string{"--type", "TM", "--apid", "0x010", "--dest", "0x020", "--payload", "x", "--tenant", "camera", "--socket-dir", p.dir}
	out, code := inject(t, args...)
	want := "spacenet: a guest is connected to " + p.sock("camera") + ": connecting would drop it (the switch keeps one connection per tenant); give --replace to do so\n"
	if code != exitConnected || out != want {
		t.Fatalf("inject over a connected guest: status %d, output:\n%s\nwant status %d, output:\n%s", code, out, exitConnected, want)
	}
	// The guest still has its connection: HEALTH says generation 1.
	h := askHealth(t, cam, 0x010)
	if i := slices.IndexFunc(h.Tenants, func(t sysmsg.HealthTenant) bool { return t.FirstAPID == 0x010 }); i < 0 || h.Tenants[i].Generation != 1 || !h.Tenants[i].Connected {
		t.Fatalf("camera's health after the refused inject: %+v", h.Tenants)
	}

	out, code = inject(t, append(args, "--replace")...)
	if code != 0 || out != "handed to the switch: TM from 0x010 to 0x020, 1 payload bytes (not waiting: the switch may still refuse it; --wait 200ms prints its ERROR)\n" {
		t.Fatalf("inject --replace: status %d, output:\n%s", code, out)
	}
	// The guest was dropped: EOF.
	var got frame.Frame
	if err := cam.ReadFrame(&got); err == nil {
		t.Fatalf("the replaced guest still reads: %x", got[:16])
	}
	// inject's own connection, closed, does not count as a guest: a second
	// inject goes through without --replace.
	out, code = inject(t, args...)
	if code != 0 {
		t.Fatalf("inject after inject: status %d, output:\n%s", code, out)
	}
}

// TestBinaryNoSwitch: a socket that is not there, or that nobody listens
// on, exits with status 3 (exitNoSwitch), says so in plain words and how
// to start the switch.
func TestBinaryNoSwitch(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "camera.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close() // the file stays, nobody listens: a switch that was killed
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--tenant", "processor", "--socket-dir", dir},
			"spacenet: cannot reach the switch at " + dir + "/processor.sock: no socket there; is the switch running? spacenet run --socket-dir " + dir + "\n"},
		{[]string{"--socket", stale},
			"spacenet: cannot reach the switch at " + stale + ": no switch is listening on it; is the switch running? spacenet run --socket-dir " + dir + "\n"},
	}
	for _, tc := range tests {
		out, code := inject(t, append([]string{"--apid", "0x010"}, tc.args...)...)
		if code != exitNoSwitch || out != tc.want {
			t.Errorf("inject %v: status %d, output:\n%s\nwant status %d, output:\n%s", tc.args, code, out, exitNoSwitch, tc.want)
		}
	}
	out, code := spacenet(t, nil, "demo", "--socket-dir", filepath.Join(dir, "none"))
	want := "switch:    using the switch running in " + dir + "/none\n" +
		"spacenet: cannot reach the switch at " + dir + "/none/camera.sock: no socket there; is the switch running? spacenet run --socket-dir " + dir + "/none\n"
	if code != exitNoSwitch || out != want {
		t.Errorf("demo: status %d, output:\n%s\nwant status %d, output:\n%s", code, out, exitNoSwitch, want)
	}
}

// TestBinaryCompletion: the shell completion offers the values of --type,
// --via, --log-format, --log-level and monitor's --direction and --tenant.
func TestBinaryCompletion(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"inject", "--type", ""}, frameTypeNames()},
		{[]string{"iperf", "--via", ""}, []string{"pipe", "lan", "tap", "vxlan", "kernel-vxlan"}},
		{[]string{"run", "--log-format", ""}, []string{"text", "json"}},
		{[]string{"lan", "run", "--log-format", ""}, []string{"text", "json"}},
		{[]string{"lan", "run", "--log-level", ""}, []string{"debug", "info", "warn", "error"}},
		{[]string{"monitor", "--direction", ""}, []string{"in", "out", "both"}},
		{[]string{"monitor", "--socket-dir", "/nonexistent", "--tenant", ""}, []string{"ground"}},
	}
	for _, tc := range tests {
		out, code := spacenet(t, nil, append([]string{cobra.ShellCompRequestCmd}, tc.args...)...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		// The last lines are the directive and cobra's note about it.
		if code != 0 || len(lines) < len(tc.want) || !slices.Equal(lines[:len(tc.want)], tc.want) || lines[len(tc.want)] != ":4" {
			t.Errorf("complete %v: status %d, output:\n%s", tc.args, code, out)
		}
	}
}

// TestEveryCommandHasExample: every command (but cobra's own, and the
// hidden ones that benchmarks start in their child processes) shows an
// Examples section in its help and man page.
func TestEveryCommandHasExample(t *testing.T) {
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		if c.Name() == "help" || c.Name() == "completion" || c.Hidden {
			return
		}
		n++
		if c.Example == "" {
			t.Errorf("%q has no Example", c.CommandPath())
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(rootCmd)
	if n < 20 {
		t.Errorf("walked %d commands, want the whole tree", n)
	}
}

// TestBinaryMan: `spacenet man DIR` (make man) writes one page per
// command, with its examples and without the maker's socket directory.
func TestBinaryMan(t *testing.T) {
	dir := t.TempDir()
	out, code := spacenet(t, nil, "man", dir)
	if code != 0 || out != "man pages written to "+dir+"\n" {
		t.Fatalf("man: status %d, output:\n%s", code, out)
	}
	page, err := os.ReadFile(filepath.Join(dir, "spacenet-inject.1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`.TH "SPACENET" "1"`, "EXAMPLE", `\fB--replace\fP`, "SOCKET-DIR/NAME.sock",
		`\fB--socket-dir\fP="$XDG_RUNTIME_DIR/spacenet, /run/spacenet for root, else /tmp/spacenet-UID"`} {
		if !strings.Contains(string(page), w) {
			t.Errorf("spacenet-inject.1 lacks %q", w)
		}
	}
	root, err := os.ReadFile(filepath.Join(dir, "spacenet.1"))
	if err != nil || !strings.Contains(string(root), "cannot reach the switch") {
		t.Errorf("spacenet.1 lacks the exit statuses: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) < 20 {
		t.Errorf("%d pages, want one per command", len(ents))
	}
}

// TestBinaryLANRunFlags: lan run takes the flags of run: --socket-dir
// (--dir still works, with a notice), --log-format json, --sock-mode.
func TestBinaryLANRunFlags(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lan")
	out, code := spacenet(t, nil, "lan", "run", "--socket-dir", dir, "--print-config")
	if code != 0 || !strings.Contains(out, `path = "`+dir+`/camera.sock"`) {
		t.Fatalf("lan run --socket-dir --print-config: status %d, output:\n%s", code, out)
	}
	out, code = spacenet(t, nil, "lan", "run", "--dir", dir, "--print-config")
	if code != 0 || !strings.HasPrefix(out, "Flag --dir has been deprecated, use --socket-dir\n") || !strings.Contains(out, `path = "`+dir+`/camera.sock"`) {
		t.Fatalf("lan run --dir --print-config: status %d, output:\n%s", code, out)
	}

	p := spawnLAN(t, "--socket-dir", dir, "--sock-mode", "0600", "--dir-mode", "0700", "--log-format", "json")
	line := p.waitLog(`"msg":"lan: running"`)
	var rec map[string]any
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Errorf("log line %q is not JSON: %v", line, err)
	}
	for name, want := range map[string]os.FileMode{dir: os.ModeDir | 0o700, filepath.Join(dir, "camera.sock"): os.ModeSocket | 0o600} {
		if fi, err := os.Stat(name); err != nil || fi.Mode() != want {
			t.Errorf("%s: %v, want mode %v (%v)", name, fi.Mode(), want, err)
		}
	}
	p.stop(syscall.SIGTERM)
}

// spawnLAN starts `spacenet lan run args...` as a child, its log read as
// spawnRun reads the APID switch's.
func spawnLAN(t *testing.T, args ...string) *switchProc {
	t.Helper()
	return spawnProc(t, append([]string{"lan", "run"}, args...), nil)
}

// TestBinaryLANCheckLines: lan check reports each problem of a LAN
// configuration at its file:line, naming the port and the field, and
// exits 1, as config check does for policy files.
func TestBinaryLANCheckLines(t *testing.T) {
	file := filepath.Join(t.TempDir(), "lan.toml")
	body := "[[port]]\nname = \"cam\"\ntenant = \"camera\"\nkind = \"usb\"\n\n[[port]]\nname = \"cam\"\ntenant = \"camera\"\nkind = \"tap\"\nifname = \"t0\"\nmtu = 70000\n"
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := spacenet(t, nil, "lan", "check", file)
	want := file + `:4: port 1 ("cam"): kind "usb": want qemu-stream, qemu-dgram, tap, packet or vxlan` + "\n" +
		file + `:7: port 2 ("cam"): name used twice` + "\n" +
		file + `:11: port 2 ("cam"): mtu 70000, queue_depth 0 out of range` + "\n" +
		"spacenet: configuration refused\n"
	if code != exitFailure || out != want {
		t.Errorf("lan check: status %d, output:\n%s\nwant status 1, output:\n%s", code, out, want)
	}
}

// TestUplinkRefusal: inject --uplink's read after sending; only its
// deadline (or a datagram) means "handed to the network": a port refusal
// and any other ICMP error or failed read exit with exitNoSwitch, naming
// the cause.
func TestUplinkRefusal(t *testing.T) {
	const url = "udp://192.0.2.7:7000"
	readErr := func(errno syscall.Errno) error {
		return &net.OpError{Op: "read", Net: "udp", Err: os.NewSyscallError("read", errno)}
	}
	cases := []struct {
		err  error
		want string // "" for nil
	}{
		{nil, ""},
		{&net.OpError{Op: "read", Net: "udp", Err: os.ErrDeadlineExceeded}, ""},
		{readErr(syscall.ECONNREFUSED), "cannot reach the switch's uplink listener at " + url + ": the packet was refused (ICMP port unreachable: nobody listens there; is the switch running with --uplink-listen " + url + "?)"},
		{readErr(syscall.EHOSTUNREACH), "cannot reach the switch's uplink listener at " + url + ": no route to host"},
		{readErr(syscall.ENETUNREACH), "cannot reach the switch's uplink listener at " + url + ": network is unreachable"},
		{errors.New("odd"), "cannot reach the switch's uplink listener at " + url + ": odd"},
	}
	for _, c := range cases {
		err := uplinkRefusal(url, c.err)
		if c.want == "" {
			if err != nil {
				t.Errorf("%v: %v, want nil", c.err, err)
			}
			continue
		}
		var e *exitError
		if !errors.As(err, &e) || e.code != exitNoSwitch || err.Error() != c.want {
			t.Errorf("%v: %v (%T), want exit %d with %q", c.err, err, err, exitNoSwitch, c.want)
		}
	}
}
