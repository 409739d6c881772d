package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBinaryTopology: DOT by default, SVG through dot, a bad format is a
// usage error.
func TestBinaryTopology(t *testing.T) {
	out, code := spacenet(t, nil, "topology")
	if code != 0 || !strings.HasPrefix(out, "digraph spacenet {") || !strings.Contains(out, `"ground" -> "spaceos" [id="ground->spaceos", style=dashed];`) {
		t.Errorf("topology: exit %d\n%s", code, out)
	}
	out, code = spacenet(t, nil, "topology", "--format", "png")
	if code != 2 || !strings.Contains(out, `--format "png": want dot or svg`) {
		t.Errorf("--format png: exit %d\n%s", code, out)
	}
	if _, err := exec.LookPath("dot"); err != nil {
		t.Skip("Graphviz's dot not installed (scripts/deps.sh installs graphviz)")
	}
	out, code = spacenet(t, nil, "topology", "--format", "svg")
	if code != 0 || !strings.Contains(out, "<svg") || strings.Count(out, `class="edge"`) != 12 || strings.Count(out, `class="node"`) != 4 {
		t.Errorf("topology --format svg: exit %d\n%s", code, out)
	}
}

// TestBinaryTopologyLive: --live draws the running switch's policy (the
// same edges as the file's) with each node's rates and drops, and each
// edge's rate last on its label.
func TestBinaryTopologyLive(t *testing.T) {
	p := startRunPattern(t)
	out, code := spacenet(t, nil, "topology", "--live", "--socket-dir", p.dir, "--interval", "20ms")
	file, _ := spacenet(t, nil, "topology")
	if code != 0 {
		t.Fatalf("topology --live: exit %d\n%s", code, out)
	}
	for _, want := range []string{
		`"camera" [id="tenant-camera", label="camera\n0x010-0x01F\nin 0/s, out 0/s, dropped 3"];`,
		`"processor" [id="tenant-processor", label="processor\n0x020-0x02F\nin 0/s, out 0/s, dropped 0"];`,
		`"ground" [id="ground", shape=ellipse, label="ground\n0x7F0\nin 0/s, out 0/s, dropped 0"];`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in\n%s", want, out)
		}
	}
	live := strings.Contains(out, " -> ")
	edges := func(dot string) (e []string) {
		for _, l := range strings.Split(dot, "\n") {
			if !strings.Contains(l, " -> ") {
				continue
			}
			if live {
				// The edge's own label, without the rate line --live adds.
				l = strings.NewReplacer(`\n0/s"`, `"`, `, label="0/s"`, "").Replace(l)
			}
			e = append(e, l)
		}
		return e
	}
	for _, want := range []string{`"camera" -> "processor" [id="camera->processor", label="0/s"];`,
		`"camera" -> "ground" [id="camera->ground", style=dashed, label="downlink\n0/s"];`} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in\n%s", want, out)
		}
	}
	if a, b := strings.Join(edges(out), "\n"), strings.Join(edges(file), "\n"); a != b || a == "" {
		t.Errorf("--live edges:\n%s\nthe built-in policy's:\n%s", a, b)
	}
	if out, code := spacenet(t, nil, "topology", "--live", "--config", "x.toml"); code != exitUsage {
		t.Errorf("--live --config: exit %d\n%s", code, out)
	}
	if out, code := spacenet(t, nil, "topology", "--live", "--socket-dir", t.TempDir()); code != exitNoSwitch {
		t.Errorf("--live without a switch: exit %d\n%s", code, out)
	}
}

// TestBinaryLANTopology: the default LAN's ports and reach, and a refused
// configuration file.
func TestBinaryLANTopology(t *testing.T) {
	out, code := spacenet(t, nil, "lan", "topology", "--socket-dir", "/run/x")
	for _, want := range []string{
		`"port:camera" [id="port-camera", shape=box, label="camera\nqemu-stream /run/x/camera.sock\nsticky"];`,
		`"port:camera" -> "tenant:camera" [id="camera--camera", dir=none, style=dotted];`,
		`"tenant:camera" -> "tenant:spaceos" [id="camera->spaceos"];`,
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("lan topology: exit %d: no %s in\n%s", code, want, out)
		}
	}
	if out, code := spacenet(t, nil, "lan", "topology", "--config", "/nonexistent.toml"); code != exitFailure {
		t.Errorf("a missing file: exit %d\n%s", code, out)
	}
}
