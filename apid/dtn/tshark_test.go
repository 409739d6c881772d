package dtn_test

import (
	"bufio"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPairTshark: Wireshark's own TCPCL and BPv7 dissectors decode the
// traffic between the two dtnds, live on B's end of the link: the TCPCLv4
// session (contact header version 4, session init with node IDs dtn://a/
// and dtn://b/), our bundles (dtn://a/spacenet to dtn://b/spacenet,
// report-to ours, delivery and deletion reports requested, not to be
// fragmented, lifetime 60000 ms) and the delivery reports coming back
// (administrative records from dtn://b/ to dtn://a/spacenet).
func TestPairTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark missing: run scripts/deps.sh")
	}
	var lines <-chan string
	p := newPairCapture(t, "1m", func(nsB string) { lines = decodeLive(t, nsB, "vethB") })
	cam := dial(t, &p.a, "camera")
	proc := dial(t, &p.b, "processor")
	send(t, cam, 0, 3)
	readNumbered(t, proc, 0, 3, 20*time.Second, p)

	var version, nodeA, nodeB bool
	var ours, reports int
	timeout := time.After(20 * time.Second)
	for !(version && nodeA && nodeB && ours > 0 && reports > 0) {
		var line string
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("tshark ended")
			}
			line = l
		case <-timeout:
			t.Fatalf("not decoded within 20s: version %v, node IDs %v %v, %d bundles of ours, %d reports", version, nodeA, nodeB, ours, reports)
		}
		f := strings.Split(line, "|")
		if len(f) != 10 {
			continue
		}
		version = version || f[0] == "4"
		nodeA = nodeA || f[1] == "dtn://a/"
		nodeB = nodeB || f[1] == "dtn://b/"
		switch f[2] + "|" + f[3] + "|" + f[4] {
		case "dtn://a/spacenet|dtn://b/spacenet|dtn://a/spacenet":
			if !yes(f[6]) || !yes(f[7]) || !yes(f[8]) || yes(f[5]) || f[9] != "60000" {
				t.Errorf("our bundle decoded as %q", line)
			}
			ours++
		case "dtn://b/|dtn://a/spacenet|dtn://b/":
			if !yes(f[5]) {
				t.Errorf("report decoded as %q", line)
			}
			reports++
		}
	}
	t.Logf("tshark decoded the TCPCLv4 session, %d bundles of ours and %d delivery reports", ours, reports)
}

func yes(s string) bool { return s == "1" || s == "True" }

// decodeLive runs tshark on iface in namespace ns, decoding TCPCL and BPv7
// as packets come, and returns its lines: contact header version, session
// node ID, then per bundle source, destination, report-to, the admin
// record, delivery report, deletion report and no-fragment flags, and the
// lifetime, separated by |. tshark is stopped when the test ends.
func decodeLive(t *testing.T, ns, iface string) <-chan string {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, "tshark", "-l", "-i", iface, "-T", "fields", "-E", "separator=|",
		"-Y", "tcpcl.contact_hdr.version || tcpcl.v4.sess_init.nodeid_data || bpv7.primary.version",
		"-e", "tcpcl.contact_hdr.version", "-e", "tcpcl.v4.sess_init.nodeid_data",
		"-e", "bpv7.primary.src_uri", "-e", "bpv7.primary.dst_uri", "-e", "bpv7.primary.report_uri",
		"-e", "bpv7.primary.bundle_flags.payload_admin", "-e", "bpv7.primary.bundle_flags.delivery_report",
		"-e", "bpv7.primary.bundle_flags.deletion_report", "-e", "bpv7.primary.bundle_flags.no_fragment",
		"-e", "bpv7.primary.lifetime")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errp, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// tshark says "Capture started." once dumpcap captures ("Capturing on"
	// comes before).
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(errp)
		ok := false
		for sc.Scan() {
			if !ok && strings.Contains(sc.Text(), "Capture started") {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
	}()
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // the test stopped reading
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
		for range lines {
		}
	})
	if !<-ready {
		t.Fatal("tshark did not start capturing")
	}
	return lines
}
