package linkwait_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"spacenet/internal/linkwait"
	"spacenet/internal/netnstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait that should succeed: only a failing
// test takes it.
const waitTimeout = 10 * time.Second

func wait(ns string, want map[string]linkwait.State) error {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	return linkwait.Wait(ctx, ns, want)
}

// needRoot skips the test unless it runs as root (it makes namespaces).
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: makes network namespaces, veth pairs and bridges")
	}
}

// TestWaitUp: links already up count (a veth pair across two namespaces,
// loopback, which reports no operational state), in a named namespace
// and in the caller's, with no links at all returning at once.
func TestWaitUp(t *testing.T) {
	needRoot(t)
	ns := netnstest.NewNetns(t, "sn-lw-")
	here, peer := netnstest.NewVeth(t, ns)
	netnstest.Run(t, "ip", "link", "set", here, "up")
	netnstest.Run(t, "ip", "-n", ns, "link", "set", peer, "up")
	netnstest.Run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	for _, tc := range []struct {
		name string
		ns   string
		want map[string]linkwait.State
	}{
		{"peer", ns, linkwait.AllUp(peer)},
		{"peer and loopback", ns, linkwait.AllUp(peer, "lo")},
		{"here", "", linkwait.AllUp(here)},
		{"nothing", ns, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := wait(tc.ns, tc.want); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestWaitAfterListing: a link that comes up only after Wait has listed
// the links is seen through the subscription, made before the listing.
func TestWaitAfterListing(t *testing.T) {
	needRoot(t)
	ns := netnstest.NewNetns(t, "sn-lw-")
	here, peer := netnstest.NewVeth(t, ns)
	netnstest.Run(t, "ip", "-n", ns, "link", "set", peer, "up") // no carrier until here is up
	calls := 0
	defer linkwait.SetTestHookListed(func() {
		calls++
		netnstest.Run(t, "ip", "link", "set", here, "up")
	})()
	if err := wait(ns, linkwait.AllUp(peer)); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Errorf("listing done %d times; want 1", calls)
	}
}

// TestWaitForwarding: a bridge port is forwarding once up on a bridge
// without spanning tree, and stays out of it (listening for the 15 s
// forward delay) on a bridge with it, though the link itself is up
// (the bridge is not: none of its ports forwards).
func TestWaitForwarding(t *testing.T) {
	needRoot(t)
	for _, tc := range []struct {
		name       string
		stp        string
		forwarding bool
	}{
		{"no stp", "0", true},
		{"stp", "1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := netnstest.NewNetns(t, "sn-lw-")
			port, peer := netnstest.UniqueName("snlw"), netnstest.UniqueName("snlw")
			for _, args := range [][]string{
				{"link", "add", "br0", "type", "bridge", "stp_state", tc.stp, "forward_delay", "1500"},
				{"link", "add", port, "type", "veth", "peer", "name", peer},
				{"link", "set", port, "master", "br0", "up"},
				{"link", "set", peer, "up"},
				{"link", "set", "br0", "up"},
			} {
				netnstest.Run(t, append([]string{"ip", "-n", ns}, args...)...)
			}
			if err := wait(ns, linkwait.AllUp(port, peer)); err != nil {
				t.Fatal(err)
			}
			want := map[string]linkwait.State{port: linkwait.Forwarding}
			if tc.forwarding {
				if err := wait(ns, want); err != nil {
					t.Fatal(err)
				}
				return
			}
			// Cancelled once the whole listing was read and judged: a
			// port taken for forwarding would end the wait with nil.
			ctx, cancel := context.WithCancel(context.Background())
			defer linkwait.SetTestHookListed(cancel)()
			err := linkwait.Wait(ctx, ns, want)
			if wantErr := "namespace " + ns + ": links " + port + " (forwarding) not ready: context canceled"; err == nil || err.Error() != wantErr {
				t.Errorf("Wait: %v; want %s", err, wantErr)
			}
		})
	}
}

// TestWaitNotReady: links that are down, absent, or in a namespace that
// does not exist end the wait with an error naming them and the
// namespace, when ctx is done (cancelled once the listing was read and
// judged, so a link wrongly taken for ready ends the wait with nil).
func TestWaitNotReady(t *testing.T) {
	needRoot(t)
	ns := netnstest.NewNetns(t, "sn-lw-")
	_, peer := netnstest.NewVeth(t, ns)
	netnstest.Run(t, "ip", "-n", ns, "link", "set", peer, "up") // no carrier: here is down
	for _, tc := range []struct {
		name    string
		ns      string
		want    map[string]linkwait.State
		wantErr string
		is      error
	}{
		{"no carrier", ns, linkwait.AllUp(peer), "namespace " + ns + ": links " + peer + " (operationally up) not ready: context canceled", context.Canceled},
		{"absent", ns, map[string]linkwait.State{"snlwnone": linkwait.Forwarding, "lo": linkwait.Up}, "namespace " + ns + ": links lo (operationally up), snlwnone (forwarding) not ready: context canceled", context.Canceled},
		{"caller's", "", linkwait.AllUp("snlwnone"), "the caller's namespace: links snlwnone (operationally up) not ready: context canceled", context.Canceled},
		{"no namespace", "sn-lw-none", linkwait.AllUp("lo"), "netlink in namespace sn-lw-none: netns sn-lw-none: no such file or directory", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			defer linkwait.SetTestHookListed(cancel)()
			err := linkwait.Wait(ctx, tc.ns, tc.want)
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("Wait: %v; want %s", err, tc.wantErr)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("Wait: %v; want it to wrap %v", err, tc.is)
			}
		})
	}
}

func TestStateString(t *testing.T) {
	for s, want := range map[linkwait.State]string{linkwait.Up: "operationally up", linkwait.Forwarding: "forwarding", 7: "State(7)"} {
		if got := s.String(); got != want {
			t.Errorf("State(%d).String() = %q; want %q", int(s), got, want)
		}
	}
}
