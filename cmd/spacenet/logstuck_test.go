package main

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"spacenet/apid/frame"
	"spacenet/apid/guest"
	"spacenet/apid/sysmsg"
	"spacenet/internal/logging/logtest"
)

// TestBinaryLogStuck is issue 14's attack on the log against the built
// binary: `spacenet run` with its stderr on a pipe nobody reads while camera
// floods system frames nobody handles. A guest connecting during the flood
// is answered, processor and spaceos exchange frames, and SIGINT stops the
// switch at once, its counters counting every flood frame.
func TestBinaryLogStuck(t *testing.T) {
	const flood = 5000
	const timeout = 20 * time.Second // a safety net, not a synchronisation
	bin := spacenetBinary(t)
	base := t.TempDir()
	dir := filepath.Join(base, "s")
	pipe := logtest.NewPipe(t)
	var stdout bytes.Buffer
	cmd := exec.Command(bin, "run", "--socket-dir", dir)
	cmd.Stdout = &stdout
	cmd.Stderr = pipe.W
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-done
		}
	})
	sock := func(name string) string { return filepath.Join(dir, name+".sock") }

	// Read the log until the switch is ready and camera and processor are
	// attached; then nobody reads it again, and it is filled.
	pipe.R.SetReadDeadline(time.Now().Add(timeout))
	lines := bufio.NewScanner(pipe.R)
	waitLog := func(subs ...string) {
		t.Helper()
		for lines.Scan() {
			match := true
			for _, s := range subs {
				match = match && strings.Contains(lines.Text(), s)
			}
			if match {
				return
			}
		}
		t.Fatalf("no log line with %q: %v", subs, lines.Err())
	}
	for range 3 {
		waitLog("tenant socket")
	}
	dial := func(name string) *guest.Conn {
		t.Helper()
		g, err := guest.Dial(sock(name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { g.Close() })
		g.SetDeadline(time.Now().Add(timeout))
		return g
	}
	cam := dial("camera")
	waitLog("tenant connected", "tenant=camera")
	proc := dial("processor")
	waitLog("tenant connected", "tenant=processor")
	pipe.Fill()

	fs := make([]frame.Frame, flood)
	for i := range fs {
		if err := frame.Encode(&fs[i], frame.TC, 0x010, 0x005, []byte("unhandled")); err != nil {
			t.Fatal(err)
		}
	}
	floodDone := make(chan error, 1)
	go func() { floodDone <- cam.WriteFrames(fs) }()

	sp := dial("spaceos") // a new connection during the flood
	health(t, sp, 0x100)
	for i := range 100 {
		exchange(t, proc, sp, 0x020, 0x100, i)
		exchange(t, sp, proc, 0x100, 0x020, i)
	}
	if err := errWithin(t, floodDone, timeout, "the flood"); err != nil {
		t.Fatalf("flood: %v", err)
	}
	health(t, cam, 0x010) // every flood frame has been routed

	cmd.Process.Signal(syscall.SIGINT)
	if err := errWithin(t, done, timeout, "the switch after SIGINT"); err != nil {
		t.Fatalf("switch exit: %v", err)
	}
	// TENANT GEN CONNECTED RECEIVED DELIVERED SYSTEM GROUND QUEUED HELD DROPPED NOTICES NOTICES_LOST ...
	want := map[string]string{
		"camera":    "camera 1 false 5001 0 5001 0 0 0 0 1 0 -",
		"processor": "processor 1 false 100 100 0 0 0 0 0 0 0 -",
		"spaceos":   "spaceos 1 false 101 100 1 0 0 0 0 1 0 -",
	}
	for _, l := range strings.Split(stdout.String(), "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && want[f[0]] != "" {
			if got := strings.Join(f, " "); got != want[f[0]] {
				t.Errorf("counters: %q, want %q", got, want[f[0]])
			}
			delete(want, f[0])
		}
	}
	if len(want) != 0 || !strings.Contains(stdout.String(), "log: dropped=") {
		t.Errorf("counters missing %v in:\n%s", want, stdout.String())
	}
}

// errWithin returns what ch gives, failing the test if it gives nothing
// within d.
func errWithin(t *testing.T, ch <-chan error, d time.Duration, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
		return nil
	}
}

// health sends a HEALTH request from src and reads until the reply: every
// frame g sent before it has then been routed.
func health(t *testing.T, g *guest.Conn, src frame.APID) {
	t.Helper()
	var f frame.Frame
	frame.Encode(&f, frame.Health, src, sysmsg.APIDHealth, nil)
	if err := g.WriteFrame(&f); err != nil {
		t.Fatal(err)
	}
	for {
		if err := g.ReadFrame(&f); err != nil {
			t.Fatalf("HEALTH from %v: %v", src, err)
		}
		if f.Type() == frame.Health && f.APID() == sysmsg.APIDHealth {
			return
		}
	}
}

// exchange sends frame i from src on a to dst on b and checks that b reads
// it byte for byte.
func exchange(t *testing.T, a, b *guest.Conn, src, dst frame.APID, i int) {
	t.Helper()
	var out, in frame.Frame
	frame.Encode(&out, frame.TM, src, dst, []byte{byte(i)})
	if err := a.WriteFrame(&out); err != nil {
		t.Fatal(err)
	}
	if err := b.ReadFrame(&in); err != nil {
		t.Fatalf("frame %d from %v: %v", i, src, err)
	}
	if in != out {
		t.Fatalf("frame %d from %v: read %x, want %x", i, src, in[:frame.HeaderSize], out[:frame.HeaderSize])
	}
}
