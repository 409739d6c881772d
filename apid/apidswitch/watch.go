package apidswitch

import (
	"encoding/binary"
	"os"
	"strings"
	"syscall"
)

// watchSockets reports, while the switch runs, a tenant's socket file that
// is removed or replaced (someone listening in its place), and the socket
// directory being removed or moved: the directory checks keep other users
// out, so this is this uid's or root's doing, and guests can no longer
// reach the switch through that path. It watches the directory with
// inotify; stop ends the watch and waits for its goroutine. Each listener
// is reported once; at stop, Close reports what it leaves in place again.
func (s *Switch) watchSockets() (stop func()) {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		s.log.Warn("socket files not watched", "err", err)
		return func() {}
	}
	const mask = syscall.IN_CREATE | syscall.IN_DELETE | syscall.IN_MOVED_FROM | syscall.IN_MOVED_TO |
		syscall.IN_DELETE_SELF | syscall.IN_MOVE_SELF | syscall.IN_ONLYDIR | syscall.IN_DONT_FOLLOW
	if _, err := syscall.InotifyAddWatch(fd, s.cfg.SocketDir, mask); err != nil {
		syscall.Close(fd)
		s.log.Warn("socket files not watched", "err", err)
		return func() {}
	}
	f := os.NewFile(uintptr(fd), "inotify") // non-blocking: Close ends a pending Read
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.readWatch(f)
	}()
	return func() {
		f.Close()
		<-done
	}
}

// readWatch reads inotify events from f until f is closed.
func (s *Switch) readWatch(f *os.File) {
	var buf [4096]byte
	for {
		n, err := f.Read(buf[:])
		if err != nil {
			return
		}
		for b := buf[:n]; len(b) >= syscall.SizeofInotifyEvent; {
			mask := binary.NativeEndian.Uint32(b[4:8])
			size := syscall.SizeofInotifyEvent + int(binary.NativeEndian.Uint32(b[12:16]))
			if size > len(b) {
				break
			}
			name := strings.TrimRight(string(b[syscall.SizeofInotifyEvent:size]), "\x00")
			b = b[size:]
			switch {
			case mask&(syscall.IN_DELETE_SELF|syscall.IN_MOVE_SELF) != 0:
				s.log.Error("socket directory removed or moved while the switch runs: guests cannot reach it", "socket_dir", s.cfg.SocketDir)
			case mask&syscall.IN_Q_OVERFLOW != 0:
				for _, t := range s.state.Load().tenants {
					s.checkSocket(t)
				}
			case strings.HasSuffix(name, ".sock"):
				if t := s.tenantNamed(strings.TrimSuffix(name, ".sock")); t != nil {
					s.checkSocket(t)
				}
			}
		}
	}
}

// tenantNamed is the tenant of the policy in force called name, or nil.
func (s *Switch) tenantNamed(name string) *tenant {
	for _, t := range s.state.Load().tenants {
		if t.name == name {
			return t
		}
	}
	return nil
}

// checkSocket logs, once per listener, that t's socket file is no longer
// the one its listener made. A listener being closed (stop, reload)
// removes its own file: that is not reported.
func (s *Switch) checkSocket(t *tenant) {
	t.mu.Lock()
	ln := t.ln
	t.mu.Unlock()
	if ln == nil {
		return
	}
	err := ln.check()
	if err == nil || ln.closed.Load() || !ln.reported.CompareAndSwap(false, true) {
		return
	}
	s.log.Error("socket file replaced or removed", "tenant", t.name, "err", err)
}
