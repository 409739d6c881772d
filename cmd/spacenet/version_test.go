package main

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestBinaryVersion: --version names the Go release, and the commit the
// binary was built from: the one the go command stamped, or the one make
// build links in (-X main.commit) when it stamps none.
func TestBinaryVersion(t *testing.T) {
	out, code := spacenet(t, nil, "--version")
	// "devel" when the go command stamped no version (-buildvcs=false, as
	// this machine's go env sets), a pseudo-version from the commit when
	// it did.
	if code != 0 || !(strings.HasPrefix(out, "spacenet devel ") || strings.HasPrefix(out, "spacenet v")) || !strings.HasSuffix(out, ", "+runtime.Version()+"\n") {
		t.Fatalf("--version: exit %d: %q", code, out)
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("git rev-parse HEAD: %v", err)
	}
	rev := strings.TrimSpace(string(head))
	bin := filepath.Join(t.TempDir(), "spacenet")
	if b, err := exec.Command("go", "build", "-buildvcs=false", "-ldflags", "-X main.commit="+rev, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	b, err := exec.Command(bin, "--version").Output()
	if err != nil || !strings.HasPrefix(string(b), "spacenet devel commit "+rev) {
		t.Errorf("--version of a build linked with its commit: %q, %v (HEAD %s)", b, err, rev)
	}
}
