package lan

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"syscall"
)

// Modes of the files a LAN makes, whatever the umask.
const (
	DefaultSocketMode = fs.FileMode(0o600) // qemu-* sockets
	DefaultDirMode    = fs.FileMode(0o700) // socket directories the LAN creates
	pcapMode          = fs.FileMode(0o600) // a capture holds every tenant's traffic
)

// ParseMode parses an octal file mode such as "0600". The owner needs
// read and write: the switch could not use its own sockets without them.
func ParseMode(s string) (fs.FileMode, error) {
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o777 {
		return 0, fmt.Errorf("mode %q: want an octal mode such as \"0600\"", s)
	}
	if v&0o600 != 0o600 {
		return 0, fmt.Errorf("mode %q: the owner needs read and write (0600 at least)", s)
	}
	return fs.FileMode(v), nil
}

// makeSocketDir creates dir with mode (not subject to the umask) if it
// does not exist. An existing directory keeps its mode but must be safe
// to put sockets in: not a symbolic link, owned by us or root, and not
// writable by others unless sticky (as /tmp): otherwise another local
// user could replace our sockets with their own.
func makeSocketDir(dir string, mode fs.FileMode) error {
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, mode); err != nil {
			return fmt.Errorf("socket directory: %w", err)
		}
		if err := os.Chmod(dir, mode); err != nil { // MkdirAll is subject to the umask
			return fmt.Errorf("socket directory: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("socket directory: %w", err)
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("socket directory %s is a symbolic link: name the directory itself", dir)
	case !fi.IsDir():
		return fmt.Errorf("socket directory %s is not a directory", dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != uint32(os.Geteuid()) && st.Uid != 0 {
		return fmt.Errorf("socket directory %s belongs to uid %d, not us: remove it or choose another (another user could replace our sockets)", dir, st.Uid)
	}
	if p := fi.Mode().Perm(); p&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0 {
		return fmt.Errorf("socket directory %s is writable by others (mode %04o) without the sticky bit: chmod go-w %s", dir, p, dir)
	}
	return nil
}

// chmodSocket sets a listening socket's mode, which bind(2) created
// subject to the umask.
func chmodSocket(path string, mode fs.FileMode) error {
	if err := os.Chmod(path, mode); err != nil {
		return fmt.Errorf("socket mode: %w", err)
	}
	return nil
}
