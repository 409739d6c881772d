package netnstest

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestUniqueName(t *testing.T) {
	a, b := UniqueName("snev"), UniqueName("snev")
	if a == b {
		t.Fatalf("UniqueName twice = %q", a)
	}
	pid := fmt.Sprint(os.Getpid())
	for _, n := range []string{a, b} {
		if !strings.HasPrefix(n, "snev"+pid+"n") || len(n) > 15 {
			t.Errorf("UniqueName(%q) = %q; want snev%sn<seq>, at most 15 bytes", "snev", n, pid)
		}
	}
}

// recorder is a testing.TB that records Skipf and Fatalf instead of
// ending the test.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Skipf(format string, args ...any)  { r.skipped = fmt.Sprintf(format, args...) }
func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestSkipIfRefused(t *testing.T) {
	wrap := func(e error) error { return fmt.Errorf("open %q: %w", "x", e) }
	for _, tc := range []struct {
		name          string
		tap           bool
		err           error
		skipped, fail string
	}{
		{"nil", false, nil, "", ""},
		{"eperm", false, wrap(unix.EPERM), `kernel refused AF_PACKET: open "x": operation not permitted`, ""},
		{"eacces tap", true, wrap(unix.EACCES), `kernel refused a TAP: open "x": permission denied`, ""},
		{"enodev tap", true, wrap(unix.ENODEV), `kernel refused a TAP: open "x": no such device`, ""},
		{"enodev packet", false, wrap(unix.ENODEV), "", `AF_PACKET: open "x": no such device`},
		{"other", true, errors.New("boom"), "", "a TAP: boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{TB: t}
			if tc.tap {
				SkipIfNoTAP(r, tc.err)
			} else {
				SkipIfRefused(r, tc.err, "AF_PACKET")
			}
			if r.skipped != tc.skipped || r.failed != tc.fail {
				t.Errorf("skipped %q, failed %q; want %q, %q", r.skipped, r.failed, tc.skipped, tc.fail)
			}
		})
	}
}

func TestRunFailure(t *testing.T) {
	r := &recorder{TB: t}
	Run(r, "sh", "-c", "echo bad news; exit 3")
	if want := "sh -c echo bad news; exit 3: exit status 3\nbad news\n"; r.failed != want {
		t.Errorf("Run failure %q; want %q", r.failed, want)
	}
}

// TestVethUp makes a veth pair across a fresh namespace, sets the end here
// up first (its carrier stays off until the peer is up) and then the peer,
// and checks that both are operationally up once the waits return, and
// that waiting for a link already up returns at once.
func TestVethUp(t *testing.T) {
	ns := NewNetns(t, "sn-nt-")
	here, peer := NewVeth(t, ns)
	Run(t, "ip", "link", "set", here, "up")
	SetUpAndWait(t, ns, peer)
	WaitUp(t, "", here)
	WaitUp(t, ns, peer)
	SetUpAndWait(t, ns, "lo") // loopback reports no operational state
	for _, out := range []string{
		Run(t, "ip", "-o", "link", "show", here),
		In(t, ns, "ip", "-o", "link", "show", peer),
	} {
		if !strings.Contains(out, "state UP") || !strings.Contains(out, "LOWER_UP") {
			t.Errorf("ip link show: %s; want state UP and LOWER_UP", out)
		}
	}
	if out := Run(t, "ip", "netns", "list"); !strings.Contains(out, ns) {
		t.Errorf("ip netns list: %s; want %s", out, ns)
	}
}

func TestRefusedOutput(t *testing.T) {
	for _, tc := range []struct {
		out  string
		want bool
	}{
		{"mount --make-shared /run/netns failed: Operation not permitted\n", true},
		{"Cannot create namespace file \"/run/netns/x\": Permission denied\n", true},
		{"Cannot create namespace file \"/run/netns/x\": File exists\n", false},
		{"", false},
	} {
		if got := RefusedOutput([]byte(tc.out)); got != tc.want {
			t.Errorf("RefusedOutput(%q) = %v, want %v", tc.out, got, tc.want)
		}
	}
}
