package switchbench

import (
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"time"

	"spacenet/apid/ccsds"
	"spacenet/apid/frame"
	"spacenet/apid/guest"
)

// The attack roles, for the attack suite (cmd/spacenet's attack_test.go):
// each stops at the first of -frames written, -for elapsed, or its standard
// input closing, and reports what it wrote (Frames) and what came back
// (Errors by code). None of them waits on a victim: a write the switch
// holds back is cut at the stop.
//
//   - malformed: frames with a bad version, type, payload_length, source
//     or destination APID, or random bytes, from the tenant of -socket.
//   - system: HEALTH and other frames to the system APIDs 0x001-0x00F.
//   - valid: well-formed frames from -src to -dst (a victim) flat out.
//   - churn: connect to -socket, write one frame, close, again.
//   - ground: UDP datagrams to the downlink at -socket (HOST:PORT): Space
//     Packets claiming another's source (a tenant's, 0x000, 0x002),
//     malformed packets, and valid packets from -src to -dst.
func init() {
	roles["malformed"] = guestAttack(malformedFrame)
	roles["system"] = guestAttack(systemFrame)
	roles["valid"] = guestAttack(validFrame)
	roles["churn"] = churn
	roles["ground"] = ground
}

// attackClock is the end of an attack: -for from now, or its stop.
type attackClock struct {
	deadline time.Time
	stop     <-chan struct{}
}

func newAttackClock(a RoleArgs, stop <-chan struct{}) attackClock {
	c := attackClock{stop: stop}
	if a.For > 0 {
		c.deadline = time.Now().Add(a.For)
	}
	return c
}

// over reports whether the attack should end.
func (c attackClock) over() bool {
	select {
	case <-c.stop:
		return true
	default:
	}
	return !c.deadline.IsZero() && time.Now().After(c.deadline)
}

// gen fills f with the i-th frame of an attack from a.
type gen func(f *frame.Frame, a RoleArgs, i int)

// guestAttack is an attack role writing the frames of g, a.Batch per write,
// through one connection to a.Socket, while a goroutine reads what comes
// back.
func guestAttack(g gen) func(RoleArgs, func(), <-chan struct{}) (Result, error) {
	return func(a RoleArgs, ready func(), stop <-chan struct{}) (Result, error) {
		c, err := guest.Dial(a.Socket)
		if err != nil {
			return Result{}, err
		}
		defer c.Close()
		ready()
		return attackStream(c, a, g, newAttackClock(a, stop))
	}
}

// attackStream writes g's frames to c until clock says stop or a.Frames
// are written, then shuts its sending side and reads the rest of the
// answers.
func attackStream(c *guest.Conn, a RoleArgs, g gen, clock attackClock) (Result, error) {
	r := Result{Errors: map[string]int{}}
	answers := make(chan map[string]int, 1)
	go func() { answers <- countAnswers(c) }()
	// A write the switch holds back (flow control) is cut at the stop.
	cut := make(chan struct{})
	defer close(cut)
	go func() {
		select {
		case <-clock.stop:
			c.SetWriteDeadline(time.Now())
		case <-cut:
		}
	}()
	if !clock.deadline.IsZero() {
		c.SetWriteDeadline(clock.deadline)
	}
	out := make([]frame.Frame, a.Batch)
	start := time.Now()
	var werr error
	for r.Frames < a.Frames && !clock.over() {
		k := min(a.Batch, a.Frames-r.Frames)
		for i := range out[:k] {
			g(&out[i], a, r.Frames+i)
		}
		if werr = c.WriteFrames(out[:k]); werr != nil {
			break
		}
		r.Frames += k
	}
	r.Elapsed = time.Since(start)
	c.CloseWrite()
	r.Errors = <-answers
	if werr != nil && !errors.Is(werr, os.ErrDeadlineExceeded) {
		return r, werr
	}
	return r, nil
}

// countAnswers reads c until it ends, counting ERRORs by code and the rest
// as "not an ERROR".
func countAnswers(c *guest.Conn) map[string]int {
	got := map[string]int{}
	in := make([]frame.Frame, 64)
	for {
		c.SetReadDeadline(time.Now().Add(roleTimeout))
		k, err := c.ReadFrames(in)
		for i := range in[:k] {
			if in[i].Type() == frame.Error {
				p, _ := frame.ParseErrorPayload(in[i].Payload())
				got[p.Code.String()]++
			} else {
				got["not an ERROR"]++
			}
		}
		if err != nil {
			return got
		}
	}
}

// malformedKinds is how many kinds of bad frame malformedFrame cycles
// through.
const malformedKinds = 8

// malformedFrame is a valid frame from a.Src to a.Dst spoiled one way,
// by i: version, type, payload_length, a source APID outside 11 bits or
// owned by another, a destination outside 11 bits, the switch's own 0x000
// as source, or random bytes.
func malformedFrame(f *frame.Frame, a RoleArgs, i int) {
	frame.Encode(f, frame.TM, a.Src, a.Dst, []byte("bad"))
	switch i % malformedKinds {
	case 0:
		f.SetVersion(0x02)
	case 1:
		f.SetType(0xEE)
	case 2:
		f.SetPayloadLen(0xFFFF)
	case 3:
		f.SetAPID(0xF000 | a.Src)
	case 4:
		f.SetAPID(a.Dst) // another's APID: spoofed
	case 5:
		f.SetDest(0xFFFF)
	case 6:
		f.SetAPID(frame.APIDSwitch)
	case 7:
		rng := rand.New(rand.NewPCG(uint64(i), 14))
		for j := range f {
			f[j] = byte(rng.Uint32())
		}
	}
}

// systemFrame is, by i, a HEALTH frame to 0x001 (a reply comes back), a
// HEALTH to 0x002 (a subscription), or a frame of another type to one of
// 0x003-0x00F (unhandled: counted and logged, thinned).
func systemFrame(f *frame.Frame, a RoleArgs, i int) {
	switch i % 4 {
	case 0:
		frame.Encode(f, frame.Health, a.Src, 0x001, nil)
	case 1:
		frame.Encode(f, frame.Health, a.Src, 0x002, nil)
	default:
		frame.Encode(f, frame.Type(i%int(frame.NumTypes-1)), a.Src, frame.APID(0x003+i%13), []byte("sys"))
	}
}

// validFrame is a well-formed TM frame from a.Src to a.Dst.
func validFrame(f *frame.Frame, a RoleArgs, i int) {
	seqFrame(f, a.Src, a.Dst, uint32(i))
}

// churn connects to a.Socket, writes one valid frame and closes, until
// the clock or a.Frames connections.
func churn(a RoleArgs, ready func(), stop <-chan struct{}) (Result, error) {
	clock := newAttackClock(a, stop)
	r := Result{Extra: map[string]int64{}}
	ready()
	var f frame.Frame
	start := time.Now()
	for r.Frames < a.Frames && !clock.over() {
		c, err := guest.Dial(a.Socket)
		if err != nil {
			r.Extra["dial failed"]++
			continue
		}
		validFrame(&f, a, r.Frames)
		if c.WriteFrame(&f) != nil {
			r.Extra["write failed"]++
		}
		c.Close()
		r.Frames++
	}
	r.Elapsed = time.Since(start)
	return r, nil
}

// groundKinds is how many kinds of datagram groundPacket cycles through.
const groundKinds = 8

// groundPacket writes into b the i-th datagram of a hostile ground and
// returns its length: by i a packet forging a tenant's source (a.Dst's own,
// or 0x020 to a.Dst), the switch's 0x000 or the event APID 0x002, a
// packet that is too short, one whose length field lies, random bytes, or
// a valid packet from a.Src (the ground's APID) to a.Dst.
func groundPacket(b []byte, a RoleArgs, i int) int {
	var f frame.Frame
	src := a.Src
	switch i % groundKinds {
	case 0:
		src = a.Dst
	case 1:
		src = 0x020
	case 2:
		src = frame.APIDSwitch
	case 3:
		src = 0x002
	}
	frame.Encode(&f, frame.TC, src, a.Dst, []byte("ground"))
	n, err := ccsds.Wrap(b, &f, uint16(i)&ccsds.SeqCountMask)
	if err != nil {
		return copy(b, "not a packet")
	}
	switch i % groundKinds {
	case 4:
		return 5 // shorter than a primary header
	case 5:
		b[4], b[5] = 0xFF, 0xFF // data length beyond the datagram
	case 6:
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		for j := range b[:n] {
			b[j] = byte(rng.Uint32())
		}
	}
	return n
}

// ground sends groundPacket datagrams to the downlink at a.Socket
// (HOST:PORT), a.Batch in a row, until the clock or a.Frames. A datagram
// the kernel refuses (the downlink's buffer full) is counted in
// Extra["send failed"], not retried.
func ground(a RoleArgs, ready func(), stop <-chan struct{}) (Result, error) {
	clock := newAttackClock(a, stop)
	c, err := net.Dial("udp", a.Socket)
	if err != nil {
		return Result{}, err
	}
	defer c.Close()
	ready()
	r := Result{Extra: map[string]int64{}}
	b := make([]byte, ccsds.HeaderSize+frame.Size)
	start := time.Now()
	for r.Frames < a.Frames && !clock.over() {
		for range min(a.Batch, a.Frames-r.Frames) {
			n := groundPacket(b, a, r.Frames)
			if _, err := c.Write(b[:n]); err != nil {
				r.Extra["send failed"]++
			}
			r.Frames++
		}
	}
	r.Elapsed = time.Since(start)
	return r, nil
}
