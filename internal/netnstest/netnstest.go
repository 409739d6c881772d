// Package netnstest holds test-only helpers for tests that need real
// network namespaces, veth pairs and TAP devices: names unique to the test
// run, running ip(8) and friends with the command's output in the failure,
// namespaces and links removed at cleanup, skipping only when the kernel
// refuses, and waiting until the kernel has really brought a link up.
//
// It is for _test.go files only (it takes a testing.TB and fails or skips
// the test); it is not for production code.
package netnstest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

var seq atomic.Int32

// UniqueName returns prefix, this process's PID, "n" and a sequence number:
// unique among the names made in this test run, and across test binaries
// running at once. For interface names (at most 15 bytes) keep prefix to 4
// bytes or less: the PID takes up to 7 digits and the sequence 3.
func UniqueName(prefix string) string {
	return fmt.Sprintf("%s%dn%d", prefix, os.Getpid(), seq.Add(1)%1000)
}

// Run runs a command and returns its combined output; if the command fails
// it fails the test with the command line, the error and the output.
func Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// In runs a command inside network namespace ns (ip netns exec), as Run.
func In(t testing.TB, ns string, args ...string) string {
	t.Helper()
	return Run(t, append([]string{"ip", "netns", "exec", ns}, args...)...)
}

// NewNetns creates a network namespace named UniqueName(prefix), deleted
// when the test ends, and returns its name. It skips the test if ip(8) is
// missing or the kernel refuses the namespace (EPERM, EACCES); any other
// failure of ip netns add fails the test.
func NewNetns(t testing.TB, prefix string) string {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip (iproute2) not installed: run scripts/deps.sh")
	}
	ns := UniqueName(prefix)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		msg := fmt.Sprintf("ip netns add %s: %v: %s", ns, err, bytes.TrimSpace(out))
		if RefusedOutput(out) {
			t.Skipf("kernel refused a network namespace (%s)", msg)
		} else {
			t.Fatal(msg)
		}
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	return ns
}

// NewVeth creates a veth pair with unique names, deleted when the test
// ends, and returns the names of its two ends. The first stays in the
// test's namespace; the second is created in namespace peerNS, or in the
// test's namespace too if peerNS is "". Both ends are left down.
func NewVeth(t testing.TB, peerNS string) (here, peer string) {
	t.Helper()
	here, peer = UniqueName("snv"), UniqueName("snp")
	args := []string{"ip", "link", "add", here, "type", "veth", "peer", "name", peer}
	if peerNS != "" {
		args = append(args, "netns", peerNS)
	}
	Run(t, args...)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "link", "del", here).CombinedOutput(); err != nil {
			t.Errorf("ip link del %s: %v: %s", here, err, bytes.TrimSpace(out))
		}
	})
	return here, peer
}

// refused lists the errors with which the kernel, or the test's missing
// privileges, refuse an operation outright.
var refused = []error{unix.EPERM, unix.EACCES, unix.EAFNOSUPPORT, unix.EPROTONOSUPPORT}

// RefusedOutput reports whether a command's output says the kernel
// refused it for lack of privilege (EPERM or EACCES, as ip(8) and most
// tools print them): the only failures a test may skip on.
func RefusedOutput(out []byte) bool {
	return bytes.Contains(out, []byte("Operation not permitted")) || bytes.Contains(out, []byte("Permission denied"))
}

// SkipIfRefused does nothing if err is nil, skips the test if err is one
// with which the kernel refuses an operation outright (EPERM, EACCES,
// EAFNOSUPPORT, EPROTONOSUPPORT), saying that it refused what, and fails
// the test otherwise.
func SkipIfRefused(t testing.TB, err error, what string) {
	t.Helper()
	skipOrFail(t, err, what, refused...)
}

// SkipIfNoTAP is SkipIfRefused for opening a TAP device, which the kernel
// also refuses with ENOENT or ENODEV when /dev/net/tun or the tun driver
// is missing.
func SkipIfNoTAP(t testing.TB, err error) {
	t.Helper()
	skipOrFail(t, err, "a TAP", append([]error{unix.ENOENT, unix.ENODEV}, refused...)...)
}

func skipOrFail(t testing.TB, err error, what string, skip ...error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, e := range skip {
		if errors.Is(err, e) {
			t.Skipf("kernel refused %s: %v", what, err)
			return
		}
	}
	t.Fatalf("%s: %v", what, err)
}
