package main

import (
	"strings"
	"testing"
)

// TestBinaryUsageErrors: flags that cannot work are refused with exit
// status 2 and a message naming the flag, instead of silently meaning a
// default.
func TestBinaryUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"run", "--dir-mode", "0"}, `--dir-mode "0": the owner needs read and write`},
		{[]string{"run", "--sock-mode", "0400"}, `--sock-mode "0400": the owner needs read and write`},
		{[]string{"run", "--dir-mode", "rwx"}, `--dir-mode "rwx": want an octal mode`},
		{[]string{"run", "--queue", "0"}, "--queue 0 and --batch 256: both must be at least 1"},
		{[]string{"run", "--batch", "-3"}, "both must be at least 1"},
		{[]string{"inject", "--type", "TM", "--apid", "0x010", "--uplink", "udp://127.0.0.1:9", "--wait", "1s"}, "--wait does not apply to --uplink"},
		{[]string{"run", "--dir-mode", "0770"}, `--dir-mode "0770": group or others could replace the sockets; at most 0755`},
		{[]string{"inject", "--apid", "0x010", "--socket", "/nonexistent/camera.sock", "--socket-dir", "/tmp"}, "--socket-dir goes with --tenant"},
		{[]string{"inject", "--apid", "0x010", "--tenant", "../camera"}, `--tenant "../camera": want a tenant name, not a path`},
		{[]string{"run", "--layout", "ccsds"}, `--layout: ccsds: layout "ccsds": want plain, cfs or spacenet`},
		{[]string{"inject", "--apid", "0x7F0", "--uplink", "udp://127.0.0.1:9", "--layout", "raw"}, `--layout: ccsds: layout "raw": want plain, cfs or spacenet`},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, code := spacenet(t, nil, tc.args...)
			if code != 2 {
				t.Fatalf("exit status %d, want 2; output:\n%s", code, out)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("output %q does not say %q", out, tc.want)
			}
		})
	}
}
