package apidswitch

// The socket directory: which one is the default, whether an existing one
// may be trusted, the lock a running switch holds on it, and socket files
// that are removed at stop only while they are still the switch's own.

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"spacenet/apid/sockdir"
)

// lockName is the lock file a running switch holds in its socket directory.
const lockName = ".lock"

// prepareSocketDir makes dir a directory that only this process's uid (and
// root) can change, creating it with mode (and any missing parents) if it
// does not exist, and takes its lock. An existing directory keeps its mode;
// it is refused if it is a symbolic link, owned by another uid or writable
// by group or others, or if a directory above it is owned by another uid
// than root or ours, or writable by group or others without the sticky bit
// (they could rename it away). The caller releases the lock at stop.
func prepareSocketDir(dir string, mode fs.FileMode) (*dirLock, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("apidswitch: socket directory: %w", err)
	}
	euid := os.Geteuid()
	if err := checkParents(abs, euid); err != nil {
		return nil, err
	}
	fi, err := os.Lstat(abs)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(abs, mode); err != nil {
			return nil, fmt.Errorf("apidswitch: socket directory: %w", err)
		}
		if err := os.Chmod(abs, mode); err != nil { // MkdirAll is subject to the umask
			return nil, fmt.Errorf("apidswitch: socket directory: %w", err)
		}
		fi, err = os.Lstat(abs)
	}
	if err != nil {
		return nil, fmt.Errorf("apidswitch: socket directory: %w", err)
	}
	if err := sockdir.Check(dir, fi, euid); err != nil {
		return nil, fmt.Errorf("apidswitch: %w", err)
	}
	return lockDir(dir)
}

// checkParents checks every existing directory above dir, on the path as
// given and on the path its symbolic links resolve to: each must be owned
// by root or euid, and writable by group or others only with the sticky
// bit (as /tmp is).
func checkParents(dir string, euid int) error {
	parent := filepath.Dir(dir)
	paths := []string{parent}
	if real, err := filepath.EvalSymlinks(parent); err == nil && real != parent {
		paths = append(paths, real)
	}
	for _, p := range paths {
		for _, d := range ancestors(p) {
			fi, err := os.Stat(d)
			if errors.Is(err, fs.ErrNotExist) {
				break // the rest will be ours: prepareSocketDir creates them
			}
			if err != nil {
				return fmt.Errorf("apidswitch: socket directory %s: %w", dir, err)
			}
			if uid := sockdir.Owner(fi); uid != 0 && uid != euid {
				return fmt.Errorf("apidswitch: socket directory %s: the directory above it, %s, is owned by uid %d: that user could replace it; use a directory under one owned by root or by uid %d", dir, d, uid, euid)
			}
			if m := fi.Mode(); m.Perm()&0o022 != 0 && m&fs.ModeSticky == 0 {
				return fmt.Errorf("apidswitch: socket directory %s: the directory above it, %s, has mode %#o: group or others could rename it away; fix it: chmod go-w %s (or chmod +t %s)", dir, d, m.Perm(), d, d)
			}
		}
	}
	return nil
}

// ancestors returns "/" and every directory down to p, in that order.
func ancestors(p string) []string {
	out := []string{"/"}
	for i := 1; i < len(p); i++ {
		if p[i] == '/' {
			out = append(out, p[:i])
		}
	}
	if p != "/" {
		out = append(out, p)
	}
	return out
}

// dirLock is the lock of a socket directory: an flock on <dir>/.lock, held
// while the switch runs, with the holder's pid in the file.
type dirLock struct {
	f    *os.File
	path string
}

// lockDir takes dir's lock without waiting. A lock held by another switch
// is an error naming the pid written in the lock file.
func lockDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, lockName)
	// A switch that stops removes its lock file: a file opened just before
	// that is locked but no longer the one at path, so try again.
	for range 8 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
		if err != nil {
			return nil, fmt.Errorf("apidswitch: socket directory lock: %w", err)
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid := holder(f)
			f.Close()
			return nil, fmt.Errorf("apidswitch: socket directory %s is in use by another switch (pid %s holds %s)", dir, pid, path)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("apidswitch: locking %s: %w", path, err)
		}
		if !samePath(f, path) {
			f.Close()
			continue
		}
		err = f.Truncate(0)
		if err == nil {
			_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("apidswitch: writing %s: %w", path, err)
		}
		return &dirLock{f: f, path: path}, nil
	}
	return nil, fmt.Errorf("apidswitch: socket directory %s: its lock file keeps being replaced", dir)
}

// holder is the pid written in a lock file, or "unknown".
func holder(f *os.File) string {
	var b [32]byte
	n, _ := f.ReadAt(b[:], 0)
	pid := strings.TrimSpace(string(b[:n]))
	if _, err := strconv.Atoi(pid); err != nil {
		return "unknown"
	}
	return pid
}

// samePath says whether path still names the open file f.
func samePath(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Lstat(path)
	return err == nil && os.SameFile(a, b)
}

// release removes the lock file and then unlocks it.
func (l *dirLock) release() {
	os.Remove(l.path)
	l.f.Close()
}

// listener is a tenant's listening socket and the identity of the socket
// file it made, so that stop removes that file and no other.
type listener struct {
	*net.UnixListener
	path     string
	file     fs.FileInfo // the socket file as created
	closed   atomic.Bool // set by Close before it removes the file
	reported atomic.Bool // the watch reported the file gone or replaced
}

// listenUnix listens on path with mode. The caller holds the directory's
// lock, so a socket file already there belongs to no running switch: it is
// removed without connecting to it (a connection would be taken for a
// guest). A file that is not a socket is an error.
func listenUnix(path string, mode fs.FileMode) (*listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing stale socket: %w", err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(false) // Close removes the file only if it is still ours
	l := &listener{UnixListener: ln, path: path}
	if err = os.Chmod(path, mode); err == nil {
		l.file, err = os.Lstat(path)
	}
	if err != nil {
		ln.Close()
		os.Remove(path)
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

// Close closes the listener and removes its socket file if the file at its
// path is still the one it made. Otherwise it leaves the path alone and
// says what became of the file: replaced (by whom) or removed.
func (l *listener) Close() error {
	l.closed.Store(true)
	l.UnixListener.Close()
	if err := l.check(); err != nil {
		return err
	}
	if err := os.Remove(l.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// check says whether the socket file at l's path is still the one l made.
func (l *listener) check() error {
	fi, err := os.Lstat(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("socket file %s was removed while the switch listened: guests could not reach it", l.path)
	}
	if err != nil {
		return err
	}
	if !os.SameFile(fi, l.file) {
		return fmt.Errorf("socket file %s was replaced while the switch listened (now a %s owned by uid %d): guests may have connected to another listener; the file is left in place", l.path, kind(fi.Mode()), sockdir.Owner(fi))
	}
	return nil
}

// kind names a file's type.
func kind(m fs.FileMode) string {
	switch m.Type() {
	case fs.ModeSocket:
		return "socket"
	case 0:
		return "regular file"
	case fs.ModeDir:
		return "directory"
	case fs.ModeSymlink:
		return "symbolic link"
	}
	return "special file"
}
