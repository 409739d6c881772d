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
