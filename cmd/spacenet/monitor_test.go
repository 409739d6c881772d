package main

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"spacenet/ops/control/controltest"
)

// TestBinaryMonitor: three `spacenet monitor` processes on a running
// `spacenet run` during the known pattern (controltest): --json for camera
// gives exactly camera's frames (12 in, 3 ERRORs and 2 HEALTH replies out)
// and a last stats object with passed = delivered = 17; the text monitor of
// processor's frames in prints one line per frame; --write makes a
// pcapng file. They end when the switch stops (no signal, no sleep).
func TestBinaryMonitor(t *testing.T) {
	p := startRun(t, 3)
	pcap := filepath.Join(t.TempDir(), "all.pcapng")
	start := func(args ...string) *switchProc {
		m := spawnProc(t, append([]string{"monitor", "--socket-dir", p.dir}, args...), nil)
		m.waitLog("monitor: watching")
		return m
	}
	js := start("--json", "--tenant", "camera")
	text := start("--tenant", "processor", "--direction", "in")
	all := start("--write", pcap)
	g, err := controltest.Run(p.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	p.stop(syscall.SIGINT)
	finish := func(m *switchProc) (stdout string, stderr []string) {
		for l := range m.lines {
			stderr = append(stderr, l)
		}
		if err := <-m.done; err != nil {
			t.Fatalf("monitor %v: %v\n%s", m.cmd.Args, err, stderr)
		}
		return m.out.String(), stderr
	}

	const sent, spoofed, healths = controltest.Sent, controltest.Spoofed, controltest.Healths
	out, stderr := finish(js)
	type line struct {
		Tenant, Direction, Type, Error string
		APID, Dest                     uint16
		Stats                          map[string]uint64
	}
	counts := map[string]int{}
	var stats map[string]uint64
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, l := range lines {
		var j line
		if err := json.Unmarshal([]byte(l), &j); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		if j.Stats != nil {
			stats = j.Stats
			continue
		}
		counts[j.Tenant+" "+j.Direction+" "+j.Type+" "+j.Error]++
	}
	want := map[string]int{
		"camera in TM ":                       sent + spoofed,
		"camera in HEALTH ":                   healths,
		"camera out ERROR Apid_not_allocated": spoofed,
		"camera out HEALTH ":                  healths,
	}
	total := uint64(sent + 2*spoofed + 2*healths)
	if !maps.Equal(counts, want) || stats["passed"] != total || stats["delivered"] != total || stats["dropped"] != 0 {
		t.Errorf("monitor --json: %v, last stats %v; want %v and %d passed and delivered", counts, stats, want, total)
	}
	if last := stderr[len(stderr)-1]; last != "17 frames shown, 0 dropped by the monitor, of 17 selected" {
		t.Errorf("summary %q", last)
	}

	out, _ = finish(text)
	got := strings.Split(strings.TrimSpace(out), "\n")
	if len(got) != healths {
		t.Fatalf("processor in: %d lines, want %d:\n%s", len(got), healths, out)
	}
	for _, l := range got {
		if f := strings.Fields(l); len(f) != 9 || f[1] != "processor" || f[2] != "in" || f[3] != "HEALTH" || f[4] != "0x020" || f[6] != "0x001" {
			t.Errorf("line %q", l)
		}
	}

	_, stderr = finish(all)
	// Camera's 17, processor's 2 in, 7 TM and 2 HEALTH replies out.
	if last := stderr[len(stderr)-1]; last != "28 frames shown, 0 dropped by the monitor, of 28 selected" {
		t.Errorf("--write summary %q", last)
	}
	fi, err := os.Stat(pcap)
	if err != nil || fi.Size() < 28*256 || fi.Mode().Perm() != 0o600 {
		t.Errorf("capture file: %v %v", fi, err)
	}
}

// TestBinaryMonitorErrors: exit 3 without a switch, 2 for a bad flag, 1
// for a tenant the switch does not have (with a suggestion).
func TestBinaryMonitorErrors(t *testing.T) {
	out, code := spacenet(t, nil, "monitor", "--socket-dir", t.TempDir())
	if code != 3 || !strings.Contains(out, "is the switch running") {
		t.Errorf("no switch: exit %d\n%s", code, out)
	}
	out, code = spacenet(t, nil, "monitor", "--socket-dir", t.TempDir(), "--direction", "up")
	if code != 2 || !strings.Contains(out, `--direction "up": want in, out or both`) {
		t.Errorf("bad direction: exit %d\n%s", code, out)
	}
	p := startRun(t, 3)
	out, code = spacenet(t, nil, "monitor", "--socket-dir", p.dir, "--tenant", "camra")
	if code != 1 || !strings.Contains(out, "did you mean camera?") {
		t.Errorf("unknown tenant: exit %d\n%s", code, out)
	}
}
