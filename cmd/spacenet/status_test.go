package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"spacenet/ops/control"
	"spacenet/ops/control/controltest"
)

// startRunPattern starts `spacenet run` with args and plays the known
// pattern (controltest) through it; the guests stay connected.
func startRunPattern(t *testing.T, args ...string) *switchProc {
	t.Helper()
	p := startRun(t, 3, args...)
	g, err := controltest.Run(p.dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return p
}

// TestBinaryStatusJSON: status --json after the known pattern gives exact
// counts.
func TestBinaryStatusJSON(t *testing.T) {
	p := startRunPattern(t)
	out, code := spacenet(t, nil, "status", "--socket-dir", p.dir, "--json")
	if code != 0 {
		t.Fatalf("status --json: exit %d\n%s", code, out)
	}
	var s control.APID
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	type row struct {
		name                                   string
		gen                                    uint64
		connected                              bool
		received, delivered, system, apidNotAl uint64
		noticesQueued                          uint64
	}
	got := []row{}
	for _, t := range append(s.Tenants, s.Ground) {
		got = append(got, row{t.Name, t.Generation, t.Connected, t.Received, t.Delivered, t.DeliveredSystem,
			t.Dropped["Apid_not_allocated"], t.NoticesQueued})
	}
	const sent, spoofed, healths = controltest.Sent, controltest.Spoofed, controltest.Healths
	want := []row{
		{"camera", 1, true, sent + spoofed + healths, sent, healths, spoofed, spoofed + healths},
		{"processor", 1, true, healths, 0, healths, 0, healths},
		{"spaceos", 0, false, 0, 0, 0, 0, 0},
		{"ground", 0, false, 0, 0, 0, 0, 0},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("status --json:\n got %v\nwant %v", got, want)
	}
	for _, t2 := range append(s.Tenants, s.Ground) {
		if t2.DroppedTotal != t2.Dropped["Apid_not_allocated"] || t2.Queued != 0 || t2.Held != 0 || t2.NoticesLost != 0 {
			t.Errorf("%s: %+v", t2.Name, t2)
		}
	}
}

// TestBinaryStatusTable: the table has one line per tenant with its APIDs,
// connection, generation, zero rates (no traffic between the snapshots)
// and totals.
func TestBinaryStatusTable(t *testing.T) {
	p := startRunPattern(t)
	out, code := spacenet(t, nil, "status", "--socket-dir", p.dir, "--interval", "50ms")
	if code != 0 {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 6+13 || !strings.HasPrefix(lines[0], "APID switch "+p.dir+"  policy built-in v0") {
		t.Fatalf("status:\n%s", out)
	}
	want := [][]string{
		{"TENANT", "APIDS", "CONNECTED", "GEN", "QUEUE", "IN/s", "OUT/s", "RECEIVED", "FORWARDED", "QUEUED", "HELD", "DROPPED", "NOTICES_LOST", "DROPPED_BY_REASON"},
		{"camera", "0x010-0x01F", "yes", "1", "0", "0", "0", "12", "9", "0", "0", "3", "0", "Apid_not_allocated=3"},
		{"processor", "0x020-0x02F", "yes", "1", "0", "0", "0", "2", "2", "0", "0", "0", "0", "-"},
		{"spaceos", "0x100-0x2FF", "no", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "-"},
		{"ground", "0x7F0", "-", "-", "-", "0", "0", "0", "0", "0", "0", "0", "0", "-"},
		// Every edge of the policy, with the frames it carried.
		{"EDGE", "FRAMES/s", "FRAMES"},
		{"camera", "->", "processor", "0", "7"},
		{"camera", "->", "spaceos", "0", "0"},
		{"camera", "->", "ground", "0", "0"},
		{"processor", "->", "camera", "0", "0"},
		{"processor", "->", "spaceos", "0", "0"},
		{"processor", "->", "ground", "0", "0"},
		{"spaceos", "->", "camera", "0", "0"},
		{"spaceos", "->", "processor", "0", "0"},
		{"spaceos", "->", "ground", "0", "0"},
		{"ground", "->", "camera", "0", "0"},
		{"ground", "->", "processor", "0", "0"},
		{"ground", "->", "spaceos", "0", "0"},
	}
	for i, w := range want {
		if got := strings.Fields(lines[i+1]); strings.Join(got, " ") != strings.Join(w, " ") {
			t.Errorf("line %d:\n got %q\nwant %q", i+1, got, w)
		}
	}
}

// openPTY returns the two ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err == nil {
		err = unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0)
	}
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	return m, s
}

// TestBinaryStatusWatch: in a terminal, --watch redraws in place (home,
// clear, the table) each interval; into a pipe it writes plain blocks; with
// --json, one snapshot per line.
func TestBinaryStatusWatch(t *testing.T) {
	p := startRunPattern(t)
	const clear = "\x1b[H\x1b[2J"
	args := []string{"status", "--socket-dir", p.dir, "--watch", "--count", "3", "--interval", "20ms"}

	m, s := openPTY(t)
	defer m.Close()
	cmd := exec.Command(spacenetBinary(t), args...)
	cmd.Stdout, cmd.Stderr = s, s
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.Close() // the child has its copy: EOF (EIO) on m when it exits
	screen, err := io.ReadAll(m)
	if err != nil && !errors.Is(err, syscall.EIO) {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("status --watch: %v\n%q", err, screen)
	}
	views := strings.Split(string(screen), clear)
	if len(views) != 4 || views[0] != "" {
		t.Fatalf("in a terminal, want 3 redraws each after %q, got %d parts:\n%q", clear, len(views)-1, screen)
	}
	for i, v := range views[1:] {
		if !strings.HasPrefix(v, "APID switch "+p.dir) || strings.Count(v, "TENANT") != 1 || !strings.Contains(v, "camera") {
			t.Errorf("redraw %d:\n%q", i+1, v)
		}
	}

	out, err := exec.Command(spacenetBinary(t), args...).Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "\x1b") || strings.Count(string(out), "APID switch ") != 3 || strings.Count(string(out), "\ncamera  ") != 3 {
		t.Errorf("into a pipe, want 3 plain views:\n%q", out)
	}

	// --json --watch: JSON Lines, each a whole snapshot.
	out, err = exec.Command(spacenetBinary(t), append(args, "--json")...).Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("--json --watch --count 3: %d lines:\n%s", len(lines), out)
	}
	for i, l := range lines {
		var s control.APID
		if err := json.Unmarshal([]byte(l), &s); err != nil || len(s.Tenants) != 3 || s.Tenants[0].Received != controltest.Sent+controltest.Spoofed+controltest.Healths {
			t.Errorf("line %d: %v %q", i+1, err, l)
		}
	}
}

// TestBinaryStatusNoSwitch: status says which socket it tried, exit 3.
func TestBinaryStatusNoSwitch(t *testing.T) {
	dir := t.TempDir()
	out, code := spacenet(t, nil, "status", "--socket-dir", dir)
	if code != exitNoSwitch || !strings.Contains(out, filepath.Join(dir, ".control")) || !strings.Contains(out, "is the switch running") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	out, code = spacenet(t, nil, "status", "--socket-dir", dir, "--interval", "1ns")
	if code != 2 {
		t.Errorf("--interval 1ns: exit %d\n%s", code, out)
	}
}
