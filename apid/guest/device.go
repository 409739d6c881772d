package guest

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ErrNotSocket is returned by Conn.CloseWrite on a device.
var ErrNotSocket = errors.New("guest: not a socket (a device has no half-close)")

// OpenDevice opens the guest's side of a tenant's connection inside a VM: a
// virtio-serial port (/dev/virtio-ports/NAME, /dev/vportNpM) or a serial
// tty (/dev/ttyS1) that QEMU carries to <socket_dir>/<tenant>.sock with
// -chardev socket. See FromDevice.
func OpenDevice(path string) (*Conn, error) {
	// O_NOCTTY: a tty must not become this process's controlling
	// terminal (a hangup would signal us). The file is opened for the
	// runtime's poller, so deadlines work as on a socket.
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("guest: open device: %w", err)
	}
	g, err := FromDevice(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return g, nil
}

// FromDevice makes a Conn of an open character device, which it then
// owns (Conn.Close closes it). A tty is put in raw mode (no echo, no line
// editing, no translation of CR or NL, 8 bits, reads return as soon as a
// byte is there), and what arrived before and the echo of it not yet sent
// are discarded (an echo already on the wire is not: the switch then sees
// junk, see docs/apid-switch.md "Guests in VMs"); a virtio-serial port needs
// nothing. Keep the one Conn open
// for the life of the program: closing a virtio-serial port discards what
// the guest had received, and a tty's bytes sent while nobody has it open
// are lost or echoed.
//
// A serial tty has no framing: a lost byte leaves every later frame
// misaligned. Prefer virtio-serial, which is reliable.
func FromDevice(f *os.File) (*Conn, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("guest: device %s: %w", f.Name(), err)
	}
	if st.Mode()&os.ModeCharDevice == 0 {
		return nil, fmt.Errorf("guest: device %s: not a character device (mode %v)", f.Name(), st.Mode())
	}
	if err := rawTTY(f); err != nil {
		return nil, fmt.Errorf("guest: device %s: %w", f.Name(), err)
	}
	return &Conn{f: f}, nil
}

// rawTTY puts f in raw mode if it is a tty (as cfmakeraw(3), with VMIN 1
// and VTIME 0) and flushes its input and output; it leaves any other device
// alone.
func rawTTY(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	err = rc.Control(func(fd uintptr) {
		t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			if !errors.Is(err, unix.ENOTTY) && !errors.Is(err, unix.EINVAL) {
				opErr = fmt.Errorf("reading its terminal modes: %w", err)
			}
			return // not a tty: a virtio-serial port
		}
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON | unix.IXOFF
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB | unix.CRTSCTS
		t.Cflag |= unix.CS8 | unix.CREAD | unix.CLOCAL
		t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
		if err := unix.IoctlSetTermios(int(fd), unix.TCSETS, t); err != nil {
			opErr = fmt.Errorf("setting raw mode: %w", err)
			return
		}
		// Input that came before, and its echo if not yet sent.
		if err := unix.IoctlSetInt(int(fd), unix.TCFLSH, unix.TCIOFLUSH); err != nil {
			opErr = fmt.Errorf("flushing: %w", err)
		}
	})
	if err != nil {
		return err
	}
	return opErr
}
