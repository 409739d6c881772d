package guest

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"spacenet/apid/frame"
)

// openPTY returns a pseudo-terminal's master and the path of its slave, a
// real tty in the default (cooked, echoing) mode a serial port starts in.
func openPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	rc, err := m.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var opErr error
	rc.Control(func(fd uintptr) {
		if opErr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); opErr != nil {
			return
		}
		n, opErr = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
	})
	if opErr != nil {
		t.Fatal(opErr)
	}
	return m, "/dev/pts/" + strconv.Itoa(n)
}

// ttyFrame is a frame whose payload holds every byte a cooked tty would
// change or act on: CR, NL, ^C, ^D, ^S, ^Q, DEL, ^Z, ^\ and 8-bit bytes.
func ttyFrame(t *testing.T, src, dst frame.APID) frame.Frame {
	t.Helper()
	var f frame.Frame
	if err := frame.Encode(&f, frame.TM, src, dst, []byte("\r\n\x03\x04\x13\x11\x7f\x1a\x1c\xff\x80 raw")); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestDeviceGuestTTY: OpenDevice on a tty sets raw mode and discards the
// input that arrived before it opened; frames then pass byte-exact both ways, and a
// read deadline interrupts a read as on a socket, keeping a split frame.
func TestDeviceGuestTTY(t *testing.T) {
	m, slave := openPTY(t)
	// A pty echoes at once, as a UART sends: the echo of what came before
	// the guest opened the port is already on the wire (NL as CR NL) and
	// is not recalled; the input itself is discarded.
	if _, err := m.Write([]byte("junk before the guest opened the port\n")); err != nil {
		t.Fatal(err)
	}
	echo := make([]byte, len("junk before the guest opened the port\r\n"))
	if _, err := io.ReadFull(m, echo); err != nil || string(echo) != "junk before the guest opened the port\r\n" {
		t.Fatalf("echo %q, %v", echo, err)
	}
	g, err := OpenDevice(slave)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g.UnixConn() != nil {
		t.Fatal("UnixConn of a device is not nil")
	}
	if err := g.CloseWrite(); !errors.Is(err, ErrNotSocket) {
		t.Fatalf("CloseWrite on a device: %v, want ErrNotSocket", err)
	}
	// Not File.Fd: it would put the file back in blocking mode.
	rc, err := g.f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var tf *unix.Termios
	rc.Control(func(fd uintptr) { tf, err = unix.IoctlGetTermios(int(fd), unix.TCGETS) })
	if err != nil {
		t.Fatal(err)
	}
	if tf.Lflag&(unix.ECHO|unix.ICANON|unix.ISIG) != 0 || tf.Oflag&unix.OPOST != 0 || tf.Iflag&(unix.ICRNL|unix.IXON) != 0 || tf.Cflag&unix.CSIZE != unix.CS8 {
		t.Fatalf("not raw: iflag %#x oflag %#x lflag %#x cflag %#x", tf.Iflag, tf.Oflag, tf.Lflag, tf.Cflag)
	}

	// Host to guest, in two writes split inside the first frame, with a
	// deadline expiring between them.
	in := [2]frame.Frame{ttyFrame(t, 0x020, 0x010), ttyFrame(t, 0x021, 0x010)}
	b := frameBytes(in[:])
	if _, err := m.Write(b[:100]); err != nil {
		t.Fatal(err)
	}
	// What came so far is read before the deadline is checked; then the
	// next read waits and times out, keeping the 100 bytes.
	g.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var got [2]frame.Frame
	if n, err := g.ReadFrames(got[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadFrames with 100 bytes there: %d, %v; want a deadline error", n, err)
	}
	g.SetReadDeadline(time.Time{})
	if _, err := m.Write(b[100:]); err != nil {
		t.Fatal(err)
	}
	for have := 0; have < 2; {
		n, err := g.ReadFrames(got[have:])
		if err != nil {
			t.Fatal(err)
		}
		have += n
	}
	if got != in {
		t.Fatalf("guest read\n%x\nwant\n%x", frameBytes(got[:]), b)
	}

	// Guest to host: no echo of what the host wrote, nothing translated.
	out := ttyFrame(t, 0x010, 0x020)
	if err := g.WriteFrame(&out); err != nil {
		t.Fatal(err)
	}
	var back frame.Frame
	if _, err := io.ReadFull(m, back[:]); err != nil {
		t.Fatal(err)
	}
	if back != out {
		t.Fatalf("host read\n%x\nwant\n%x", back[:], out[:])
	}
}

// TestOpenDeviceRefuses: a path that is not a character device is refused,
// naming it.
func TestOpenDeviceRefuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, filepath.Dir(path), path + ".missing"} {
		g, err := OpenDevice(p)
		if err == nil {
			g.Close()
			t.Fatalf("OpenDevice(%s) succeeded", p)
		}
		t.Logf("%s: %v", p, err)
	}
}
