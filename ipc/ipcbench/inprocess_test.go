package ipcbench

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestBenchIPCSmoke runs the in-process bench (`spacenet bench ipc`) with
// few calls: every row and ratio is printed, and every call got its reply.
func TestBenchIPCSmoke(t *testing.T) {
	var out bytes.Buffer
	if err := RunInProcess(context.Background(), InProcess{Calls: 200, Rounds: 1, Parallel: 2, Dir: t.TempDir(), Out: &out}); err != nil {
		t.Fatalf("bench ipc: %v\n%s", err, out.String())
	}
	for _, s := range []string{"raw frame ping-pong", "Idol IPC through the switch", "gRPC over a Unix socket",
		"IPC p50 / raw p50", "gRPC p50 / IPC p50", "2 goroutines", "IPC client: 1400 calls, 1400 replies, 0 stray"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q:\n%s", s, out.String())
		}
	}
}
