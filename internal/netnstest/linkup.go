package netnstest

import (
	"testing"

	"spacenet/internal/linkwait"
)

// SetUpAndWait sets the named interfaces of namespace ns ("" for the
// test's own) up and waits until the kernel reports each of them
// operationally up (package linkwait).
//
// "ip link set up" returns before the kernel's linkwatch work has
// activated the queueing discipline of a device whose carrier came on
// (a veth whose peer was already up, for instance); until then frames
// sent on it are silently dropped (noop qdisc, counted as TX dropped), so
// a test that sends at once must wait. The kernel announces the new
// operational state only after that activation.
func SetUpAndWait(t testing.TB, ns string, names ...string) {
	t.Helper()
	for _, n := range names {
		args := []string{"ip", "link", "set", n, "up"}
		if ns != "" {
			args = append([]string{"ip", "-n", ns}, args[1:]...)
		}
		Run(t, args...)
	}
	WaitUp(t, ns, names...)
}

// WaitUp waits until the kernel reports each named interface of namespace
// ns ("" for the test's own) operationally up, without setting it up: for
// the end of a veth pair set up before its peer, whose carrier comes on
// only when the peer is up.
func WaitUp(t testing.TB, ns string, names ...string) {
	t.Helper()
	if err := linkwait.WaitWithin(linkwait.Timeout, ns, linkwait.AllUp(names...)); err != nil {
		t.Fatal(err)
	}
}
