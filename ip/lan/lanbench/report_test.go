package lanbench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestReportMem: without kernel, one line per frame size, each with the
// switch's figures, the bare pipe's and their ratio.
func TestReportMem(t *testing.T) {
	var out bytes.Buffer
	if err := Report(&out, 50*time.Millisecond, false); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "mem   64 B   switch ") || !strings.HasPrefix(lines[1], "mem 1500 B   switch ") {
		t.Fatalf("output:\n%s", out.String())
	}
	for _, l := range lines {
		if !strings.Contains(l, "bare pipe") || !strings.Contains(l, "ratio ") {
			t.Errorf("line %q", l)
		}
	}
}
