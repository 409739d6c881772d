package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// SocketName is the control socket's name in a switch's socket directory.
const SocketName = ".control"

// Limits of the server and the client.
const (
	MaxClients   = 4               // served at once; more are closed unanswered
	WriteTimeout = 2 * time.Second // a client has this long to read its answer
	MaxDocument  = 16 << 20        // the most a client reads
)

// ErrNoServer is the error of Fetch when nothing listens at the path.
var ErrNoServer = errors.New("no switch answers")

// Path is the control socket of the switch whose sockets are in dir.
func Path(dir string) string { return filepath.Join(dir, SocketName) }

// Server answers every connection on its socket with one snapshot.
type Server struct {
	ln       *net.UnixListener
	path     string
	file     fs.FileInfo
	snapshot func() any
	log      *slog.Logger
	slots    chan struct{}
	wg       sync.WaitGroup
}

// Listen opens the control socket at path (mode 0600) and serves
// snapshot() to every client of this process's uid (or root) until Close.
// A socket file already at path is removed if no server answers on it; a
// live one, or a file that is not a socket, is an error.
func Listen(path string, snapshot func() any, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	ln, fi, err := ListenSocket(path, "control socket")
	if err != nil {
		return nil, err
	}
	s := &Server{ln: ln, path: path, file: fi, snapshot: snapshot, log: log, slots: make(chan struct{}, MaxClients)}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// ListenSocket opens an operator's Unix socket at path (mode 0600), as the
// control socket and the monitor socket (package monitor) are opened: the
// directory is checked (checkDir), a socket file already at path is
// removed if no server answers on it, and a live one, or a file that is not
// a socket, is an error. what names the socket in errors. It returns the
// listener (which leaves the file when closed) and the file's identity,
// for RemoveSocket.
func ListenSocket(path, what string) (*net.UnixListener, fs.FileInfo, error) {
	if err := checkDir(filepath.Dir(path), what); err != nil {
		return nil, nil, err
	}
	if err := removeStale(path, what); err != nil {
		return nil, nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	ln.SetUnlinkOnClose(false)
	var fi fs.FileInfo
	if err = os.Chmod(path, 0o600); err == nil {
		fi, err = os.Lstat(path)
	}
	if err != nil {
		ln.Close()
		os.Remove(path)
		return nil, nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	return ln, fi, nil
}

// RemoveSocket removes the socket file at path if it is still fi, the one
// ListenSocket made; one removed or replaced by someone else is left.
func RemoveSocket(path string, fi fs.FileInfo) error {
	cur, err := os.Lstat(path)
	if err != nil || !os.SameFile(cur, fi) {
		return nil
	}
	return os.Remove(path)
}

// checkDir refuses a directory another user could put a socket of their
// own in, or replace ours: a symbolic link, one owned by another uid than
// ours or root, or one writable by group or others without the sticky bit.
func checkDir(dir, what string) error {
	fi, err := os.Lstat(dir)
	switch {
	case err != nil:
		return fmt.Errorf("%s: directory: %w", what, err)
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s: directory %s is a symbolic link", what, dir)
	case !fi.IsDir():
		return fmt.Errorf("%s: %s is not a directory", what, dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != uint32(os.Geteuid()) && st.Uid != 0 {
		return fmt.Errorf("%s: directory %s belongs to uid %d, not us", what, dir, st.Uid)
	}
	if p := fi.Mode().Perm(); p&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0 {
		return fmt.Errorf("%s: directory %s is writable by others (mode %04o) without the sticky bit", what, dir, p)
	}
	return nil
}

// removeStale removes a socket left by a server that is gone.
func removeStale(path, what string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s %s exists and is not a socket", what, path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("%s %s: another switch answers on it", what, path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("%s: removing stale %s: %w", what, path, err)
	}
	return nil
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

// Accept returns the next connection on ln, retrying after any error but
// ln's closing (EMFILE and the like: logged, then a short pause so as not
// to spin), or nil once ln is closed.
func Accept(ln *net.UnixListener, log *slog.Logger, what string) *net.UnixConn {
	for {
		c, err := ln.AcceptUnix()
		if err == nil {
			return c
		}
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		log.Warn(what+": accept", "err", err)
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		c := Accept(s.ln, s.log, "control socket")
		if c == nil {
			return
		}
		select {
		case s.slots <- struct{}{}:
		default:
			c.Close() // MaxClients already served: refuse rather than queue
			continue
		}
		s.wg.Add(1)
		go s.serve(c)
	}
}

func (s *Server) serve(c *net.UnixConn) {
	defer func() { <-s.slots; s.wg.Done() }()
	defer c.Close()
	if !Trusted(c) {
		return
	}
	b, err := json.Marshal(s.snapshot())
	if err != nil {
		s.log.Error("control socket: snapshot", "err", err)
		return
	}
	c.SetWriteDeadline(time.Now().Add(WriteTimeout))
	c.Write(append(b, '\n'))
}

// Trusted reports whether c's peer is root or of this process's uid
// (SO_PEERCRED).
func Trusted(c *net.UnixConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var cred *syscall.Ucred
	var cerr error
	err = rc.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	})
	if err != nil || cerr != nil {
		return false
	}
	return cred.Uid == 0 || int(cred.Uid) == os.Geteuid()
}

// Close stops serving, waits for the clients being answered and removes the
// socket file if it is still the one Listen made.
func (s *Server) Close() error {
	s.ln.Close()
	s.wg.Wait()
	return RemoveSocket(s.path, s.file)
}

// Fetch reads one snapshot from the control socket at path into v.
func Fetch(path string, v any) error {
	c, err := net.DialTimeout("unix", path, WriteTimeout)
	if err != nil {
		return fmt.Errorf("%w on %s: %v (is the switch running with this --socket-dir?)", ErrNoServer, path, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * WriteTimeout))
	b, err := io.ReadAll(io.LimitReader(c, MaxDocument+1))
	if err != nil {
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	if len(b) > MaxDocument {
		return fmt.Errorf("control socket %s: answer over %d bytes", path, MaxDocument)
	}
	if len(b) == 0 {
		return fmt.Errorf("control socket %s: no answer (busy, or served to another user only)", path)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	return nil
}
