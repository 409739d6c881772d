package main

import (
	"strings"
	"testing"
)

// TestBinaryUsageErrors: flags that cannot work are refused with exit
// status 2 (exitUsage) and a message naming the flag, in plain words (no
// Go error chains such as "strconv.ParseUint: ..."), instead of silently
// meaning a default. Unknown commands and flags, missing arguments and
// required flags are usage errors too (they were status 1).
func TestBinaryUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"run", "--queue", "abc"}, `spacenet: --queue "abc": want a whole number` + "\n"},
		{[]string{"inject", "--wait", "soon"}, `spacenet: --wait "soon": want a duration such as 200ms, 5s or 1m` + "\n"},
		{[]string{"iperf", "--quiet=maybe"}, `spacenet: --quiet "maybe": want true or false` + "\n"},
		{[]string{"run", "--downlink", "foo"}, `spacenet: --downlink "foo": want udp://HOST:PORT, tcp://HOST:PORT or tcp-listen://HOST:PORT` + "\n"},
		{[]string{"run", "--uplink-listen", "tcp://nohost"}, `spacenet: --uplink-listen "tcp://nohost": want tcp://HOST:PORT` + "\n"},
		{[]string{"inject", "--apid", "16", "--uplink", "tcp://127.0.0.1:9"}, `spacenet: --uplink "tcp://127.0.0.1:9": want udp://host:port` + "\n"},
		{[]string{"nosuch"}, `spacenet: unknown command "nosuch" for "spacenet"` + "\n"},
		{[]string{"run", "--bogus"}, "spacenet: unknown flag: --bogus\n"},
		{[]string{"run", "extra"}, `spacenet: unknown command "extra" for "spacenet run"` + "\n"},
		{[]string{"config", "check"}, "spacenet: requires at least 1 arg(s), only received 0\n"},
		{[]string{"inject", "--tenant", "camera"}, `spacenet: required flag(s) "apid" not set` + "\n"},
		{[]string{"inject", "--apid", "0x010"}, "spacenet: at least one of the flags in the group [tenant socket uplink device] is required\n"},
		{[]string{"inject", "--apid", "010", "--tenant", "camera"}, `spacenet: --apid "010": a leading 0 is ambiguous (octal?): write 0x10 for hex or 10 for decimal` + "\n"},
		{[]string{"inject", "--apid", "0x010", "--dest", "0800", "--tenant", "camera"}, `spacenet: --dest "0800": a leading 0 is ambiguous (octal?): write 0x800 for hex or 800 for decimal` + "\n"},
		{[]string{"inject", "--apid", "0x800", "--tenant", "camera"}, `spacenet: --apid "0x800": above the largest, 0x7FF` + "\n"},
		{[]string{"inject", "--apid", "2048", "--tenant", "camera"}, `spacenet: --apid "2048": above the largest, 2047 (0x7FF)` + "\n"},
		{[]string{"inject", "--apid", "cam", "--tenant", "camera"}, `spacenet: --apid "cam": want hex with 0x (0x010) or decimal (16)` + "\n"},
		{[]string{"inject", "--apid", "0x", "--tenant", "camera"}, `spacenet: --apid "0x": want hex digits after 0x` + "\n"},
		{[]string{"inject", "--apid", "16", "--type", "FOO", "--tenant", "camera"}, `spacenet: --type "FOO": want one of TM, TC, EVR, PRM_GET, PRM_SET, PRM_RSP, DP, HEALTH, LOG, ERROR, or a number 0 to 9` + "\n"},
		{[]string{"inject", "--apid", "16", "--type", "10", "--tenant", "camera"}, `spacenet: --type "10": above the largest, 9 (0x9)` + "\n"},
		{[]string{"inject", "--apid", "16", "--payload-hex", "zz", "--tenant", "camera"}, `spacenet: --payload-hex "zz": want pairs of hex digits such as 68656c6c6f` + "\n"},
		{[]string{"inject", "--apid", "16", "--replace", "--uplink", "udp://127.0.0.1:9"}, "spacenet: --replace does not apply to --uplink: the ground replaces no guest\n"},
		{[]string{"run", "--log-format", "xml"}, "spacenet: --log-format"},
		{[]string{"lan", "run", "--log-format", "xml"}, "spacenet: --log-format"},
		{[]string{"lan", "run", "--sock-mode", "0400"}, `spacenet: --sock-mode "0400": the owner needs read and write (0600 at least)` + "\n"},
		{[]string{"lan", "run", "--dir-mode", "0777"}, `spacenet: --dir-mode "0777": group or others could replace the sockets; at most 0755` + "\n"},
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

// TestBinaryRunHelp: `run --help` says what happens to ground-bound frames
// without --downlink (issue 21), with no stray line break after "no ground
// link:" (a line ended there, half empty).
func TestBinaryRunHelp(t *testing.T) {
	out, code := spacenet(t, nil, "run", "--help")
	if code != 0 {
		t.Fatalf("run --help: exit status %d, output:\n%s", code, out)
	}
	const want = "Without --downlink there is no ground link: such frames are refused with No_route, " +
		"the sender gets an ERROR frame and the frame is counted in its DROPPED column (No_route); " +
		"nothing is queued for a later link."
	if flat := strings.Join(strings.Fields(out), " "); !strings.Contains(flat, want) {
		t.Errorf("run --help lacks %q; output:\n%s", want, out)
	}
	if strings.Contains(out, "ground link:\n") {
		t.Errorf("run --help breaks the line after \"no ground link:\"; output:\n%s", out)
	}
}
