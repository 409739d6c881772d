package guest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
	"unsafe"

	"spacenet/apid/frame"
)

// Conn is a guest's connection to the switch: what a guest VM (or a test, a
// tool, the typed IPC layer) uses to talk to it. It reads and writes whole
// frames, many per system call. One goroutine at a time may read; any
// number may write at once: each WriteFrames (WriteFrame, Write) is one
// write that the runtime's per-file write lock keeps whole, never
// interleaved with another goroutine's, even when the kernel takes it in
// parts (TestConcurrentWritesStayWhole).
//
// A Conn is made by Dial (a tenant's Unix socket, on the host or in a test)
// or by OpenDevice (a virtio-serial port or serial tty inside a VM whose
// QEMU carries the port to the tenant's socket): the frames are the same.
type Conn struct {
	c     *net.UnixConn // the socket, or nil
	f     *os.File      // or the device, opened for polling
	part  frame.Frame   // a frame split across reads
	npart int
}

// The methods below call c or f, not an interface holding either: a slice
// passed through an interface escapes, and the callers' frames with it.

func (g *Conn) write(b []byte) (int, error) {
	if g.c != nil {
		return g.c.Write(b)
	}
	return g.f.Write(b)
}

func (g *Conn) read(b []byte) (int, error) {
	if g.c != nil {
		return g.c.Read(b)
	}
	return g.f.Read(b)
}

// Dial connects to a tenant's socket, <socket_dir>/<tenant>.sock. The switch
// counts it as a new generation of that tenant, replacing any previous
// connection.
func Dial(socketPath string) (*Conn, error) {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: socketPath, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("guest: dial %s: %w", socketPath, err)
	}
	return &Conn{c: c}, nil
}

// frameBytes views fs as one contiguous []byte, without copying.
func frameBytes(fs []frame.Frame) []byte {
	if len(fs) == 0 {
		return nil
	}
	return unsafe.Slice(&fs[0][0], len(fs)*frame.Size)
}

// WriteFrames writes fs in one write (the kernel may split it; the stream
// stays whole frames).
func (g *Conn) WriteFrames(fs []frame.Frame) error {
	_, err := g.write(frameBytes(fs))
	return err
}

// WriteFrame writes one frame.
func (g *Conn) WriteFrame(f *frame.Frame) error {
	_, err := g.write(f[:])
	return err
}

// Write writes raw bytes: a test's way to send partial or malformed frames.
func (g *Conn) Write(b []byte) (int, error) { return g.write(b) }

// ReadFrames blocks until at least one whole frame has arrived and reads as
// many whole frames as are available, up to len(fs), in one read where it
// can. It returns how many frames it filled. A read that fails (its
// deadline passed) keeps the part of a frame that had arrived: the next
// ReadFrames goes on from it, so a reader may be interrupted at any time
// without losing a byte.
func (g *Conn) ReadFrames(fs []frame.Frame) (int, error) {
	if len(fs) == 0 {
		return 0, nil
	}
	buf := frameBytes(fs)
	have := copy(buf, g.part[:g.npart])
	g.npart = 0
	for have < frame.Size {
		n, err := g.read(buf[have:])
		have += n
		if err != nil {
			if have >= frame.Size {
				break
			}
			// Keep what came: after a deadline the next read goes on
			// from it, so an interrupted read loses nothing.
			g.npart = copy(g.part[:], buf[:have])
			if errors.Is(err, io.EOF) && have > 0 {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
	}
	whole := have / frame.Size
	g.npart = copy(g.part[:], buf[whole*frame.Size:have])
	return whole, nil
}

// ReadFrame reads one frame into f.
func (g *Conn) ReadFrame(f *frame.Frame) error {
	var one [1]frame.Frame
	if _, err := g.ReadFrames(one[:]); err != nil {
		return err
	}
	*f = one[0]
	return nil
}

// SetDeadline sets the connection's read and write deadlines.
func (g *Conn) SetDeadline(t time.Time) error {
	if g.c != nil {
		return g.c.SetDeadline(t)
	}
	return g.f.SetDeadline(t)
}

// SetReadDeadline sets the read deadline.
func (g *Conn) SetReadDeadline(t time.Time) error {
	if g.c != nil {
		return g.c.SetReadDeadline(t)
	}
	return g.f.SetReadDeadline(t)
}

// SetWriteDeadline sets the write deadline.
func (g *Conn) SetWriteDeadline(t time.Time) error {
	if g.c != nil {
		return g.c.SetWriteDeadline(t)
	}
	return g.f.SetWriteDeadline(t)
}

// CloseWrite shuts the sending side: the switch sees the end of the stream
// (and refuses a partial frame left in it) but may still write. A device
// has no half-close: it returns ErrNotSocket.
func (g *Conn) CloseWrite() error {
	if g.c == nil {
		return ErrNotSocket
	}
	return g.c.CloseWrite()
}

// Close closes the connection.
func (g *Conn) Close() error {
	if g.c != nil {
		return g.c.Close()
	}
	return g.f.Close()
}

// UnixConn returns the underlying socket, nil for a device.
func (g *Conn) UnixConn() *net.UnixConn { return g.c }
