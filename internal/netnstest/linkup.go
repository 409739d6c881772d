package netnstest

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// upTimeout bounds the wait for the kernel to bring a link up.
const upTimeout = 10 * time.Second

// SetUpAndWait sets the named interfaces of namespace ns ("" for the
// test's own) up and waits until the kernel reports each of them
// operationally up.
//
// "ip link set up" returns before the kernel's linkwatch work has
// activated the queueing discipline of a device whose carrier came on
// (a veth whose peer was already up, for instance); until then frames
// sent on it are silently dropped (noop qdisc, counted as TX dropped), so
// a test that sends at once must wait. The kernel announces the new
// operational state only after that activation.
func SetUpAndWait(t testing.TB, ns string, names ...string) {
	t.Helper()
	if err := waitUp(ns, names, func() error {
		for _, n := range names {
			args := []string{"ip", "link", "set", n, "up"}
			if ns != "" {
				args = append([]string{"ip", "-n", ns}, args[1:]...)
			}
			Run(t, args...)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// WaitUp waits until the kernel reports each named interface of namespace
// ns ("" for the test's own) operationally up, without setting it up: for
// the end of a veth pair set up before its peer, whose carrier comes on
// only when the peer is up.
func WaitUp(t testing.TB, ns string, names ...string) {
	t.Helper()
	if err := waitUp(ns, names, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
}

// waitUp subscribes to link updates in ns (listing the links as they are
// now, so that a link already up counts), calls act, and waits until
// every named link is up.
func waitUp(ns string, names []string, act func() error) error {
	opts := netlink.LinkSubscribeOptions{ListExisting: true}
	if ns != "" {
		h, err := netns.GetFromName(ns)
		if err != nil {
			return fmt.Errorf("network namespace %s: %w", ns, err)
		}
		defer h.Close()
		opts.Namespace = &h
	}
	ch := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	if err := netlink.LinkSubscribeWithOptions(ch, done, opts); err != nil {
		return fmt.Errorf("netlink subscribe in namespace %q: %w", ns, err)
	}
	defer func() {
		close(done)
		for range ch { // until the subscription's goroutine has exited
		}
	}()
	if err := act(); err != nil {
		return err
	}
	pending := map[string]bool{}
	for _, n := range names {
		pending[n] = true
	}
	timeout := time.NewTimer(upTimeout)
	defer timeout.Stop()
	for len(pending) > 0 {
		select {
		case u, ok := <-ch:
			if !ok {
				return fmt.Errorf("netlink subscription in namespace %q closed", ns)
			}
			if isUp(u) {
				delete(pending, u.Attrs().Name)
			}
		case <-timeout.C:
			return fmt.Errorf("interfaces %v of namespace %q not operationally up after %v", slices.Sorted(maps.Keys(pending)), ns, upTimeout)
		}
	}
	return nil
}

// isUp reports whether an update shows a link operationally up. A device
// that does not report an operational state (OperUnknown, as TAP and
// loopback devices) counts as up once it is administratively up with its
// carrier on (IFF_UP and IFF_LOWER_UP).
func isUp(u netlink.LinkUpdate) bool {
	a := u.Attrs()
	switch a.OperState {
	case netlink.OperUp:
		return true
	case netlink.OperUnknown:
		return a.RawFlags&unix.IFF_UP != 0 && a.RawFlags&unix.IFF_LOWER_UP != 0
	}
	return false
}
