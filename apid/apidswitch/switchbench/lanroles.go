package switchbench

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"spacenet/ip/wire"
)

// The LAN roles, for the attack suite's storm against `spacenet lan run`:
// each connects to a port's socket of the virtual LAN and speaks QEMU's
// stream framing (a 4-byte big-endian length before each Ethernet frame),
// as a guest's `-netdev stream` does. A role's MAC is 02:00:00:00:HH:LL
// with HH:LL its -src (the peer's, from -dst).
//
//   - lanstorm: broadcast frames flat out, -batch per write (an attack:
//     stops as the others do), reading and discarding what comes back.
//   - lanping: -frames round trips of a unicast frame to -dst's MAC (plus
//     a tenth as warm-up), each with its sequence number, frames from
//     others skipped; no answer within -timeout ends it with an error.
//   - lanecho: answers -frames frames from -dst's MAC, skips the rest.
func init() {
	roles["lanstorm"] = lanStorm
	roles["lanping"] = lanRole(lanPing)
	roles["lanecho"] = lanRole(lanEcho)
}

// lanEtherType marks the roles' frames (IEEE 802 local experimental).
const lanEtherType = 0x88B5

// lanFrameLen is the length of every frame the roles write.
const lanFrameLen = 64

// lanMAC is the MAC of the role whose -src (or -dst) is id.
func lanMAC(id uint16) wire.MAC {
	return wire.MAC{0x02, 0, 0, 0, byte(id >> 8), byte(id)}
}

// lanConn is a connection to a LAN port in QEMU stream framing.
type lanConn struct {
	c  *net.UnixConn
	rd *bufio.Reader
	in []byte
}

func dialLAN(path string) (*lanConn, error) {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	return &lanConn{c: c, rd: bufio.NewReaderSize(c, 64<<10), in: make([]byte, 64<<10)}, nil
}

// read returns the next frame (valid until the next read).
func (l *lanConn) read(timeout time.Duration) (wire.Ethernet, error) {
	l.c.SetReadDeadline(time.Now().Add(timeout))
	var hdr [4]byte
	if _, err := io.ReadFull(l.rd, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > uint32(len(l.in)) {
		return nil, fmt.Errorf("lan: frame of %d bytes", n)
	}
	if _, err := io.ReadFull(l.rd, l.in[:n]); err != nil {
		return nil, err
	}
	return wire.ParseEthernet(l.in[:n])
}

// putFrame writes into b a length prefix and a lanFrameLen frame from src
// to dst carrying seq, and returns the bytes used.
func putFrame(b []byte, src, dst wire.MAC, seq uint32) int {
	binary.BigEndian.PutUint32(b, lanFrameLen)
	e := wire.Ethernet(b[4 : 4+lanFrameLen])
	e.Encode(&wire.EthernetFields{Dst: dst, Src: src, EtherType: lanEtherType})
	clear(e.Payload())
	binary.BigEndian.PutUint32(e.Payload(), seq)
	return 4 + lanFrameLen
}

// lanRole makes a role of f: connect to the LAN port a.Socket, then play f.
func lanRole(f func(*lanConn, RoleArgs) (Result, error)) func(RoleArgs, func(), <-chan struct{}) (Result, error) {
	return func(a RoleArgs, ready func(), _ <-chan struct{}) (Result, error) {
		l, err := dialLAN(a.Socket)
		if err != nil {
			return Result{}, err
		}
		defer l.c.Close()
		ready()
		return f(l, a)
	}
}

// lanStorm writes broadcast frames from its MAC, a.Batch per write, until
// the clock or a.Frames, while a goroutine reads and discards.
func lanStorm(a RoleArgs, ready func(), stop <-chan struct{}) (Result, error) {
	clock := newAttackClock(a, stop)
	l, err := dialLAN(a.Socket)
	if err != nil {
		return Result{}, err
	}
	defer l.c.Close()
	ready()
	drained := make(chan int64, 1)
	go func() {
		var n int64
		for {
			if _, err := l.read(roleTimeout); err != nil {
				drained <- n
				return
			}
			n++
		}
	}()
	cut := make(chan struct{})
	defer close(cut)
	go func() {
		select {
		case <-clock.stop:
			l.c.SetWriteDeadline(time.Now())
		case <-cut:
		}
	}()
	if !clock.deadline.IsZero() {
		l.c.SetWriteDeadline(clock.deadline)
	}
	src, bcast := lanMAC(uint16(a.Src)), wire.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	buf := make([]byte, a.Batch*(4+lanFrameLen))
	r := Result{Extra: map[string]int64{}}
	start := time.Now()
	var werr error
	for r.Frames < a.Frames && !clock.over() {
		k := min(a.Batch, a.Frames-r.Frames)
		n := 0
		for i := range k {
			n += putFrame(buf[n:], src, bcast, uint32(r.Frames+i))
		}
		if _, werr = l.c.Write(buf[:n]); werr != nil {
			break
		}
		r.Frames += k
	}
	r.Elapsed = time.Since(start)
	l.c.CloseWrite()
	l.c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	r.Extra["read"] = <-drained
	if werr != nil && !errors.Is(werr, os.ErrDeadlineExceeded) {
		return r, werr
	}
	return r, nil
}

// lanPing is ping over the LAN. The first ping is sent again every
// lanHello until answered: the LAN may not have taken the echo's connection
// yet when it floods that ping (a QEMU stream port drops what it sends
// without a peer), and it is not timed.
func lanPing(l *lanConn, a RoleArgs) (Result, error) {
	var r Result
	src, dst := lanMAC(uint16(a.Src)), lanMAC(uint16(a.Dst))
	buf := make([]byte, 4+lanFrameLen)
	warm := a.Frames / 10
	r.RTT = make([]time.Duration, 0, a.Frames)
	start := time.Now()
	for i := range warm + a.Frames {
		t0 := time.Now()
		n := putFrame(buf, src, dst, uint32(i))
		for try := 0; ; try++ {
			if _, err := l.c.Write(buf[:n]); err != nil {
				return r, err
			}
			wait := a.readTimeout()
			if i == 0 && try < int(wait/lanHello) {
				wait = lanHello
			}
			err := l.readPong(dst, uint32(i), wait)
			if err == nil {
				break
			}
			if i > 0 || !errors.Is(err, os.ErrDeadlineExceeded) || wait != lanHello {
				return r, fmt.Errorf("ping %d: %w", i, err)
			}
		}
		if i >= warm {
			r.RTT = append(r.RTT, time.Since(t0))
		}
	}
	r.pinged(start, warm+a.Frames)
	return r, nil
}

// lanHello is how often lanPing sends its first ping until answered.
const lanHello = 50 * time.Millisecond

// readPong reads until the answer to ping seq from mac arrives; answers
// to earlier pings (the first one's repeats) and others' frames are
// skipped, an answer to a later ping is an error.
func (l *lanConn) readPong(mac wire.MAC, seq uint32, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		e, err := l.read(time.Until(deadline))
		if err != nil {
			return err
		}
		if e.Src() != mac || e.EtherType() != lanEtherType {
			continue
		}
		switch got := binary.BigEndian.Uint32(e.Payload()); {
		case got == seq:
			return nil
		case got > seq:
			return fmt.Errorf("answer to ping %d", got)
		}
	}
}

// lanEcho is echo over the LAN: it answers every frame from -dst's MAC
// with one carrying the same sequence number, and counts those with the
// next number (a repeat of an earlier one is answered, not counted; a
// later one is counted in OutOfSeq too).
func lanEcho(l *lanConn, a RoleArgs) (Result, error) {
	r := Result{Extra: map[string]int64{}}
	src, dst := lanMAC(uint16(a.Src)), lanMAC(uint16(a.Dst))
	buf := make([]byte, 4+lanFrameLen)
	for r.Frames < a.Frames {
		e, err := l.read(a.readTimeout())
		if err != nil {
			return r, fmt.Errorf("after %d answers: %w", r.Frames, err)
		}
		if e.Src() != dst || e.Dst() != src || e.EtherType() != lanEtherType {
			r.Extra["ignored"]++
			continue
		}
		seq := binary.BigEndian.Uint32(e.Payload())
		n := putFrame(buf, src, dst, seq)
		if _, err := l.c.Write(buf[:n]); err != nil {
			return r, err
		}
		switch {
		case seq < uint32(r.Frames):
			r.Extra["repeated"]++
			continue
		case seq > uint32(r.Frames):
			r.OutOfSeq++
		}
		r.Frames++
	}
	return r, nil
}
