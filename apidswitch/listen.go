package apidswitch

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"syscall"
)

// makeSocketDir creates dir with mode if it does not exist. An existing
// directory keeps its mode.
func makeSocketDir(dir string, mode fs.FileMode) error {
	fi, err := os.Stat(dir)
	switch {
	case err == nil && fi.IsDir():
		return nil
	case err == nil:
		return fmt.Errorf("apidswitch: socket directory %s is not a directory", dir)
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("apidswitch: socket directory: %w", err)
	}
	if err := os.MkdirAll(dir, mode); err != nil {
		return fmt.Errorf("apidswitch: socket directory: %w", err)
	}
	if err := os.Chmod(dir, mode); err != nil { // MkdirAll is subject to the umask
		return fmt.Errorf("apidswitch: socket directory: %w", err)
	}
	return nil
}

// listenUnix listens on path with mode. A socket file already there is
// replaced only when connecting to it is refused (nobody listens); a live
// listener, or a file that is not a socket, is an error.
func listenUnix(path string, mode fs.FileMode) (*net.UnixListener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		c, err := net.Dial("unix", path)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: another process listens on it", path)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%s: checking whether it is stale: %w", path, err)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing stale socket: %w", err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ln, nil
}
