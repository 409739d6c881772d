// Package sockdir knows where the switch's tenant sockets live: the default
// socket directory (Default), which both the switch and its guests use, and
// the check that a directory is one no other local user can change (Check),
// which the switch runs before it listens and Default runs on its
// candidates; and how many guests a switch holds on a socket file
// (Connected, asked of the kernel's socket table: what spacenet inject
// checks before it would replace a guest).
//
// Package sockdir does not create, lock or clean up the directory (the
// switch does, package apidswitch) and does not connect to a socket
// (package guest).
package sockdir

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// Legacy was the default before the default became per user; it is still
// the default for a user who owns it (see Default).
const Legacy = "/tmp/space-net"

// Default returns the socket directory of a switch whose Config.SocketDir
// is "", which is also where `spacenet inject` and the examples look. It is
// a directory no other local user can create first:
//
//   - $XDG_RUNTIME_DIR/spacenet when XDG_RUNTIME_DIR names a directory
//     owned by this process's effective uid and not writable by others;
//   - /run/spacenet when the effective uid is root;
//   - /tmp/space-net (the old default) when it already exists as a
//     directory of ours that others cannot write to;
//   - else /tmp/spacenet-<euid>.
//
// The choice does not make the directory safe by itself: the switch checks
// the directory it uses whichever it is.
func Default() string {
	return defaultDir(host{getenv: os.Getenv, euid: os.Geteuid(), lstat: os.Lstat})
}

// host is what Default looks at, injected in tests.
type host struct {
	getenv func(string) string
	euid   int
	lstat  func(string) (fs.FileInfo, error)
}

func defaultDir(h host) string {
	if x := h.getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(x) && ownDir(h, x) == nil {
		return filepath.Join(x, "spacenet")
	}
	if h.euid == 0 {
		return "/run/spacenet"
	}
	if ownDir(h, Legacy) == nil {
		return Legacy
	}
	return "/tmp/spacenet-" + strconv.Itoa(h.euid)
}

// ownDir says why dir is not a directory that only h.euid can change.
func ownDir(h host, dir string) error {
	fi, err := h.lstat(dir)
	if err != nil {
		return fmt.Errorf("socket directory: %w", err)
	}
	return Check(dir, fi, h.euid)
}

// Check says why dir, for which Lstat returned fi, is not a directory that
// only euid can change: it is a symbolic link, not a directory, owned by
// someone else or writable by group or others. Each error starts "socket
// directory <dir>" (the caller adds its own name) and says how to fix it.
func Check(dir string, fi fs.FileInfo, euid int) error {
	if fi.Mode().Type() == fs.ModeSymlink {
		to, _ := os.Readlink(dir)
		return fmt.Errorf("socket directory %s is a symbolic link (to %s), refused: whoever can change the link can redirect the sockets; give the directory itself (--socket-dir %s)", dir, to, to)
	}
	if !fi.IsDir() {
		return fmt.Errorf("socket directory %s is not a directory", dir)
	}
	if uid := Owner(fi); uid != euid {
		return fmt.Errorf("socket directory %s is owned by uid %d, not by this switch's uid %d: that user could replace the sockets; use a directory of your own, or take it over: chown %d %s", dir, uid, euid, euid, dir)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("socket directory %s has mode %#o: group or others could replace the sockets; fix it: chmod go-w %s", dir, perm, dir)
	}
	return nil
}

// Owner is the uid owning fi's file, -1 when fi does not say.
func Owner(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}
