package apidswitch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"spacenet/apid/sockdir"
	"spacenet/internal/logging/logtest"
)

// runRefused runs sw, which should refuse to start, and returns Run's
// error. A switch that starts instead is stopped at once and the test
// fails (rather than hanging).
func runRefused(t *testing.T, sw *Switch) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sw.Run(ctx) }()
	select {
	case err := <-done:
		return err
	case <-sw.Ready():
		cancel()
		t.Errorf("the switch started; Run after stop: %v", <-done)
		return nil
	}
}

// socketFiles lists the sockets in dir.
func socketFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.Type() == fs.ModeSocket {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestSocketDirRefused: a socket directory others could change is refused
// with an error saying how to fix it, before any socket is made in it and
// without touching its mode. Today's code used them all without a word.
func TestSocketDirRefused(t *testing.T) {
	const nobody = 65534
	root := os.Geteuid() == 0
	tests := []struct {
		name     string
		needRoot bool
		// setup makes the directory to give the switch under base and
		// returns it and where sockets would have gone.
		setup func(t *testing.T, base string) (dir, where string)
		want  func(base string) string
	}{
		{"writable by others", false, func(t *testing.T, base string) (string, string) {
			mkdir(t, base+"/s", 0o777)
			return base + "/s", base + "/s"
		}, func(base string) string {
			return fmt.Sprintf("apidswitch: socket directory %s/s has mode 0777: group or others could replace the sockets; fix it: chmod go-w %s/s", base, base)
		}},
		{"writable by group", false, func(t *testing.T, base string) (string, string) {
			mkdir(t, base+"/s", 0o770)
			return base + "/s", base + "/s"
		}, func(base string) string {
			return fmt.Sprintf("apidswitch: socket directory %s/s has mode 0770: group or others could replace the sockets; fix it: chmod go-w %s/s", base, base)
		}},
		{"owned by another user", true, func(t *testing.T, base string) (string, string) {
			mkdir(t, base+"/s", 0o700)
			chown(t, base+"/s", nobody)
			return base + "/s", base + "/s"
		}, func(base string) string {
			return fmt.Sprintf("apidswitch: socket directory %s/s is owned by uid %d, not by this switch's uid %d: that user could replace the sockets; use a directory of your own, or take it over: chown %d %s/s",
				base, nobody, os.Geteuid(), os.Geteuid(), base)
		}},
		{"a symbolic link to a good directory", false, func(t *testing.T, base string) (string, string) {
			mkdir(t, base+"/real", 0o700)
			if err := os.Symlink(base+"/real", base+"/s"); err != nil {
				t.Fatal(err)
			}
			return base + "/s", base + "/real"
		}, func(base string) string {
			return fmt.Sprintf("apidswitch: socket directory %s/s is a symbolic link (to %s/real), refused: whoever can change the link can redirect the sockets; give the directory itself (--socket-dir %s/real)", base, base, base)
		}},
		{"under a directory of another user", true, func(t *testing.T, base string) (string, string) {
			mkdir(t, base+"/p", 0o755)
			mkdir(t, base+"/p/s", 0o700)
			chown(t, base+"/p", nobody)
			return base + "/p/s", base + "/p/s"
		}, func(base string) string {
			return fmt.Sprintf("apidswitch: socket directory %s/p/s: the directory above it, %s/p, is owned by uid %d: that user could replace it; use a directory under one owned by root or by uid %d",
				base, base, nobody, os.Geteuid())
		}},
		{"under a directory writable by others, not sticky", false, func(t *testing.T, base string) (string, string) {
			mkdir(t, base+"/p", 0o777)
			mkdir(t, base+"/p/s", 0o700)
			return base + "/p/s", base + "/p/s"
		}, func(base string) string {
			return fmt.Sprintf("apidswitch: socket directory %s/p/s: the directory above it, %s/p, has mode 0777: group or others could rename it away; fix it: chmod go-w %s/p (or chmod +t %s/p)", base, base, base, base)
		}},
		{"not a directory", false, func(t *testing.T, base string) (string, string) {
			if err := os.WriteFile(base+"/s", nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return base + "/s", base
		}, func(base string) string {
			return fmt.Sprintf("apidswitch: socket directory %s/s is not a directory", base)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needRoot && !root {
				t.Skip("needs root to chown a directory to another user")
			}
			base := t.TempDir()
			dir, where := tc.setup(t, base)
			before, err := os.Lstat(dir)
			if err != nil {
				t.Fatal(err)
			}
			sw, err := New(Config{SocketDir: dir, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			err = runRefused(t, sw)
			if want := tc.want(base); err == nil || err.Error() != want {
				t.Fatalf("Run: %v\nwant: %s", err, want)
			}
			if fi, err := os.Lstat(dir); err != nil || fi.Mode() != before.Mode() {
				t.Errorf("socket directory mode changed: %v -> %v (%v)", before.Mode(), fi.Mode(), err)
			}
			if fi, err := os.Stat(where); err == nil && fi.IsDir() {
				if s := socketFiles(t, where); len(s) != 0 {
					t.Errorf("sockets made in a refused directory: %v", s)
				}
				if _, err := os.Lstat(filepath.Join(where, lockName)); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("lock file made in a refused directory: %v", err)
				}
			}
		})
	}
}

// TestSocketDirAccepted: a directory the switch creates is 0700 (whatever
// the umask); an existing one of ours keeps its mode, also under a sticky
// directory writable by all (as /tmp is).
func TestSocketDirAccepted(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(t *testing.T, base string) string
		wantMode fs.FileMode
	}{
		{"created, parents too", func(t *testing.T, base string) string { return base + "/a/b/s" }, 0o700},
		{"existing 0755", func(t *testing.T, base string) string {
			mkdir(t, base+"/s", 0o755)
			return base + "/s"
		}, 0o755},
		{"under a sticky directory writable by all", func(t *testing.T, base string) string {
			mkdir(t, base+"/tmp", 0o777|fs.ModeSticky)
			return base + "/tmp/s"
		}, 0o700},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.setup(t, t.TempDir())
			sw, err := New(Config{SocketDir: dir, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			stop := runSwitch(t, sw)
			fi, err := os.Lstat(dir)
			if err != nil || !fi.IsDir() || fi.Mode().Perm() != tc.wantMode || sockdir.Owner(fi) != os.Geteuid() {
				t.Errorf("socket directory %v owned by %d, want %v owned by %d (%v)", fi.Mode(), sockdir.Owner(fi), tc.wantMode, os.Geteuid(), err)
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
				t.Errorf("left after stop: %v %v", ents, err)
			}
		})
	}
}

// TestDirModeWritableRefused: a DirMode that would let others replace the
// sockets is refused by New.
func TestDirModeWritableRefused(t *testing.T) {
	_, err := New(Config{SocketDir: t.TempDir(), DirMode: 0o775})
	if want := "apidswitch: DirMode 0775: group or others could replace the sockets; at most 0755"; err == nil || err.Error() != want {
		t.Fatalf("New: %v, want %s", err, want)
	}
}

// TestSecondSwitchKeepsGuest: a second switch on the directory of a running
// one fails at once, naming the pid that holds it, and does not touch the
// first one's guests. Today's code checked whether camera.sock was live by
// connecting to it, which the first switch took for camera restarting: the
// guest's connection was replaced (generation 1 -> 2) and it got EOF.
func TestSecondSwitchKeepsGuest(t *testing.T) {
	h := startSwitch(t, Config{})
	cam := h.dial("camera")
	sw2, err := New(Config{SocketDir: h.dir, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	err = runRefused(t, sw2)
	want := fmt.Sprintf("apidswitch: socket directory %s is in use by another switch (pid %d holds %s/.lock)", h.dir, os.Getpid(), h.dir)
	if err == nil || err.Error() != want {
		t.Errorf("second Run: %v\nwant: %s", err, want)
	}
	// The guest still talks to the first switch on its first connection.
	if back := barrier(t, cam, 0x010); len(back) != 0 {
		t.Errorf("camera got %d frames before its HEALTH reply", len(back))
	}
	for _, ti := range h.sw.Tenants() {
		if ti.Name == "camera" && (ti.Generation != 1 || !ti.Connected) {
			t.Errorf("camera: generation %d, connected %v; want 1, true", ti.Generation, ti.Connected)
		}
	}
	if e, ok := h.nextEvent(); ok {
		t.Errorf("event after the second switch: %+v", e)
	}
	for _, name := range []string{"camera", "processor", "spaceos"} {
		if _, err := os.Lstat(h.sw.SocketPath(name)); err != nil {
			t.Errorf("%s socket: %v", name, err)
		}
	}
}

// TestStaleSocketsNotDialled: after a switch was killed (its sockets and
// lock file left behind, the lock free), the next one removes whatever
// socket files are there without connecting to them: a connection to a
// socket someone listens on would have been taken for a guest. A file that
// is not a socket is never removed.
func TestStaleSocketsNotDialled(t *testing.T) {
	dir := t.TempDir()
	// camera.sock: stale, nobody listens.
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: dir + "/camera.sock", Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()
	// processor.sock: something listens there but holds no lock.
	live, err := net.ListenUnix("unix", &net.UnixAddr{Name: dir + "/processor.sock", Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	live.SetUnlinkOnClose(false)
	// The lock file of a killed switch.
	if err := os.WriteFile(dir+"/.lock", []byte("999999\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sw, err := New(Config{SocketDir: dir, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	stop := runSwitch(t, sw)
	if n := pending(t, live); n != 0 {
		t.Errorf("the switch connected %d times to a socket it replaced", n)
	}
	if lock, err := os.ReadFile(dir + "/.lock"); err != nil || string(lock) != fmt.Sprintf("%d\n", os.Getpid()) {
		t.Errorf("lock file %q (%v), want our pid", lock, err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// A regular file where a socket goes is an error, and stays.
	if err := os.WriteFile(dir+"/spaceos.sock", []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	sw, err = New(Config{SocketDir: dir, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("apidswitch: tenant spaceos: %s/spaceos.sock exists and is not a socket", dir)
	if err := runRefused(t, sw); err == nil || err.Error() != want {
		t.Fatalf("Run: %v, want %s", err, want)
	}
	if b, err := os.ReadFile(dir + "/spaceos.sock"); err != nil || string(b) != "x" {
		t.Errorf("regular file: %q %v", b, err)
	}
}

// pending accepts, without waiting, every connection queued on ln.
func pending(t *testing.T, ln *net.UnixListener) int {
	t.Helper()
	raw, err := ln.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	var aerr error
	raw.Read(func(fd uintptr) bool {
		for {
			nfd, _, err := syscall.Accept(int(fd))
			if err != nil {
				if !errors.Is(err, syscall.EAGAIN) {
					aerr = err
				}
				return true
			}
			syscall.Close(nfd)
			n++
		}
	})
	if aerr != nil {
		t.Fatal(aerr)
	}
	return n
}

func mkdir(t *testing.T, dir string, mode fs.FileMode) {
	t.Helper()
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
}

func chown(t *testing.T, path string, uid int) {
	t.Helper()
	if err := os.Chown(path, uid, -1); err != nil {
		t.Fatal(err)
	}
}

// wantLog waits for the next record with message msg and checks its
// tenant and err attributes.
func wantLog(t *testing.T, logs logtest.Records, msg, tenant, err string) {
	t.Helper()
	if a := logs.Next(t, msg, testTimeout); a["tenant"] != tenant || a["err"] != err {
		t.Errorf("%q: %v, want tenant %s, err %q", msg, a, tenant, err)
	}
}

// TestSocketReplacement: a socket file replaced (someone listening in its
// place) or removed while the switch runs is reported when it happens, and
// at stop it is left in place and reported again. Today's code said
// nothing and, at stop, removed the impostor, hiding what happened. The
// files the switch itself removes (a tenant dropped by a reload, stop) are
// not reported.
func TestSocketReplacement(t *testing.T) {
	logs := make(logtest.Records, 1024)
	dir := t.TempDir() + "/s"
	sw, err := New(Config{SocketDir: dir, Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	stop := runSwitch(t, sw)
	cam, proc := sw.SocketPath("camera"), sw.SocketPath("processor")
	removed := func(path string) string {
		return fmt.Sprintf("socket file %s was removed while the switch listened: guests could not reach it", path)
	}
	replaced := fmt.Sprintf("socket file %s was replaced while the switch listened (now a socket owned by uid %d): guests may have connected to another listener; the file is left in place", proc, os.Geteuid())

	if err := os.Remove(cam); err != nil {
		t.Fatal(err)
	}
	wantLog(t, logs, "socket file replaced or removed", "camera", removed(cam))
	impostor, err := net.ListenUnix("unix", &net.UnixAddr{Name: proc + ".new", Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer impostor.Close()
	impostor.SetUnlinkOnClose(false)
	if err := os.Rename(proc+".new", proc); err != nil {
		t.Fatal(err)
	}
	wantLog(t, logs, "socket file replaced or removed", "processor", replaced)

	// A reload that drops spaceos removes its socket: not reported. It
	// adds logger, whose socket is then removed: reported, after anything
	// about spaceos would have been (inotify keeps the order).
	p := restricted()
	p.Tenants[2].Name = "logger"
	p.Tenants[1].CanSendTo = []string{"camera", "logger"}
	if err := sw.Reload(p); err != nil {
		t.Fatal(err)
	}
	logger := sw.SocketPath("logger")
	if err := os.Remove(logger); err != nil {
		t.Fatal(err)
	}
	wantLog(t, logs, "socket file replaced or removed", "logger", removed(logger))

	if err := stop(); err != nil {
		t.Fatal(err)
	}
	close(logs)
	atStop := map[string]string{}
	for rec := range logs {
		a := logtest.Attrs(rec)
		switch rec.Message {
		case "socket file replaced or removed":
			t.Errorf("reported again: %v", a)
		case "socket file not removed":
			atStop[a["tenant"]] = a["err"]
		}
	}
	want := map[string]string{"camera": removed(cam), "processor": replaced, "logger": removed(logger)}
	if len(atStop) != len(want) {
		t.Errorf("at stop: %v, want %v", atStop, want)
	}
	for k, v := range want {
		if atStop[k] != v {
			t.Errorf("at stop, %s: %q, want %q", k, atStop[k], v)
		}
	}
	// The impostor is left; the switch's own files are gone.
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 1 || ents[0].Name() != "processor.sock" || ents[0].Type() != fs.ModeSocket {
		t.Errorf("left in the socket directory: %v %v", ents, err)
	}
}
