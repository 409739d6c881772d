package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"spacenet/apid/frame"
	"spacenet/apid/guest"
	"spacenet/internal/dtntest"
)

// TestBinaryDTN: two `spacenet run` switches, each with --dtn-agent and
// --dtn-endpoint naming its own dtnd (two dtnds on the loopback, TCPCLv4
// between them): a frame injected as camera on the first reaches the
// processor on the second, byte-exact; the first's stop log counts it
// delivered.
func TestBinaryDTN(t *testing.T) {
	bListen := dtntest.FreePort(t)
	nb := dtntest.Start(t, dtntest.Options{NodeID: "dtn://b/", Listen: bListen})
	na := dtntest.Start(t, dtntest.Options{NodeID: "dtn://a/", Listen: dtntest.FreePort(t), Peers: []string{bListen}})
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	polA := write("a.toml", `[[tenant]]
name = "camera"
owns = ["0x010-0x01F"]
can_send_to = ["payload"]

[[remote]]
name = "payload"
owns = ["0x020-0x02F"]
endpoint = "dtn://b/spacenet"
`)
	polB := write("b.toml", `[[tenant]]
name = "processor"
owns = ["0x020-0x02F"]

[[remote]]
name = "flight"
owns = ["0x010-0x01F"]
endpoint = "dtn://a/spacenet"
`)
	// The link registers once the switch is ready, so its line and the
	// tenant socket's come in either order.
	a := startRun(t, 0, "--config", polA, "--dtn-agent", na.Agent, "--dtn-endpoint", "dtn://a/spacenet")
	b := startRun(t, 0, "--config", polB, "--dtn-agent", nb.Agent, "--dtn-endpoint", "dtn://b/spacenet")
	for _, p := range []*switchProc{a, b} {
		p.waitLogs("registered with dtnd", "tenant socket")
	}
	proc, err := guest.Dial(b.sock("processor"))
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	out, code := inject(t, "--type", "TM", "--apid", "0x010", "--dest", "0x020", "--payload", "across", "--socket", a.sock("camera"))
	if code != 0 {
		t.Fatalf("inject: %d %s", code, out)
	}
	var want, got frame.Frame
	frame.Encode(&want, frame.TM, 0x010, 0x020, []byte("across"))
	proc.SetReadDeadline(time.Now().Add(20 * time.Second))
	if err := proc.ReadFrame(&got); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("processor got %x", got[:16])
	}
	a.cmd.Process.Signal(syscall.SIGINT)
	if l := a.waitLog("dtn link stopped"); !strings.Contains(l, "frames_sent=1") {
		t.Fatalf("stop log: %q", l)
	}
	// Signal 0 sends nothing: one SIGINT stops the switch, a second one
	// after its handler is gone would kill it.
	if stdout := a.stop(syscall.Signal(0)); !strings.Contains(stdout, "delivered_remote: camera=1") || !strings.Contains(stdout, "payload (remote)") {
		t.Fatalf("counters:\n%s", stdout)
	}
	b.stop(syscall.SIGINT)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--dtn-agent", "127.0.0.1:1"}, "--dtn-agent and --dtn-endpoint go together"},
		{[]string{"--dtn-ground", "dtn://g/x"}, "--dtn-ground needs --dtn-agent and --dtn-endpoint"},
		{[]string{"--dtn-agent", "127.0.0.1:1", "--dtn-endpoint", "dtn://a"}, "--dtn-endpoint: endpoint \"dtn://a\": want dtn://NODE/DEMUX"},
		{[]string{"--dtn-agent", "127.0.0.1:1", "--dtn-endpoint", "dtn://a/s", "--dtn-ground", "dtn://g/x", "--downlink", "udp://127.0.0.1:9"},
			"--dtn-ground and --downlink: the ground link is one or the other"},
	} {
		usage, code := spacenet(t, nil, append([]string{"run", "--socket-dir", filepath.Join(dir, "never")}, tc.args...)...)
		if code != 2 || !strings.Contains(usage, tc.want) {
			t.Errorf("%v: exit %d: %s, want %q", tc.args, code, usage, tc.want)
		}
	}
}
