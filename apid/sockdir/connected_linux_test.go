package sockdir

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConnected: the kernel's socket table tells a live connection
// on a socket file from none, from a listener alone, from one whose guest
// has gone (the server side not yet closed) and from a socket on another
// file.
func TestConnected(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "camera.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	other, err := net.Listen("unix", filepath.Join(dir, "processor.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	count := func(want int) {
		t.Helper()
		if n, err := Connected(path); n != want || err != nil {
			t.Fatalf("Connected = %d, %v; want %d", n, err, want)
		}
	}
	count(0)
	oc, err := net.Dial("unix", filepath.Join(dir, "processor.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer oc.Close()
	os2, err := other.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer os2.Close()
	count(0)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	count(1)
	c.Close() // the guest goes; the server has not closed its side yet
	count(0)
	if _, err := Connected(filepath.Join(dir, "nosuch.sock")); err == nil {
		t.Error("no error for a missing socket")
	}
	if err := os.WriteFile(filepath.Join(dir, "plain"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Connected(filepath.Join(dir, "plain")); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Errorf("plain file: %v", err)
	}
}
