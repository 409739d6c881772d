package lan

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tshark returns the path of tshark, installing it (scripts/deps.sh does
// the same) or skipping the test if it cannot be had.
func tshark(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("tshark"); err == nil {
		return p
	}
	if os.Geteuid() == 0 {
		cmd := exec.Command("sh", "-c", "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tshark")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("installing tshark: %v\n%s", err, out)
		}
		if p, err := exec.LookPath("tshark"); err == nil {
			return p
		}
	}
	t.Skip("tshark missing and cannot be installed (run scripts/deps.sh as root)")
	return ""
}

// TestPcap: tshark reads the capture and counts exactly the frames the
// switch saw, with their lengths, in both modes.
func TestPcap(t *testing.T) {
	ts := tshark(t)
	for _, both := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "lan.pcap")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		pw, err := NewPcapWriter(f, newFakeClock())
		if err != nil {
			t.Fatal(err)
		}
		pw.Both = both
		s := New(Options{Monitor: pw.Monitor, Storm: StormControl{Broadcast: -1}}) // 137 broadcasts at once
		ps := memPorts(t, s, pc("a", "t"), pc("b", "t"), PortConfig{Name: "c", Tenant: "t", LockMAC: true, MAC: macC})
		const n = 137
		for i := range n {
			send(t, ps[0], eth(bcast, macA, 0x88b5, []byte{byte(i)}, 60+i))
		}
		send(t, ps[2], eth(bcast, macX, 0x88b5, nil, 60)) // spoofed: seen, refused
		drain(t, ps[1], n)
		drain(t, ps[2], n)
		s.Close()
		if err := pw.Flush(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		want := n + 1
		if both {
			want += 2 * n
		}
		if got := pw.Frames(); got != uint64(want) {
			t.Errorf("both=%v: writer wrote %d frames; want %d", both, got, want)
		}
		out, err := exec.Command(ts, "-r", path, "-T", "fields", "-e", "frame.number", "-e", "frame.len").Output()
		if err != nil {
			t.Fatalf("tshark: %v\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != want {
			t.Fatalf("both=%v: tshark counted %d frames; want %d", both, len(lines), want)
		}
		if !both && (lines[0] != "1\t60" || lines[n-1] != "137\t196" || lines[n] != "138\t60") {
			t.Errorf("tshark lines %q, %q, %q", lines[0], lines[n-1], lines[n])
		}
	}
}
