// Package switchbench measures the APID switch as guests use it: each guest
// a separate process writing flat out, against a plain relay (read, then a
// blocking write: the kernel's own flow control) in the same run. `spacenet
// bench switch --processes` and the package's tests use it.
//
// A guest here is a role (RunRole) that a child process plays: flood (write
// frames as fast as the socket takes them, counting the ERRORs that come
// back), sink (read frames, checking their order), echo (answer every frame
// of its peer, with its sequence number) and ping (one frame round trips);
// the attack roles of attack.go (malformed, system, valid, churn, ground)
// and the LAN roles of lanroles.go (lanstorm, lanping, lanecho), which the
// attack suite in cmd/spacenet plays against the built binary. Each prints
// one JSON Result line on its standard output. Run starts the children through a Launcher, which says
// how to start the current program in a role (the spacenet binary's hidden
// `bench role` command, or a test binary re-executing itself).
//
// It is not a test of the switch's rules: it measures and counts. The
// switch's promises under load are tested in package apidswitch, and under
// attack in cmd/spacenet (attack_test.go).
package switchbench

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"spacenet/apid/frame"
	"spacenet/apid/guest"
)

// Result is what a role reports, as one JSON line.
type Result struct {
	Role     string
	Frames   int              // frames written (flood, ping) or read (sink, echo)
	Errors   map[string]int   `json:",omitempty"` // ERROR frames read, by code name (flood)
	OutOfSeq int              `json:",omitempty"` // sink: frames whose sequence number was not the next
	Elapsed  time.Duration    // first frame to last
	RTT      []time.Duration  `json:",omitempty"` // ping: every round trip, sorted
	Note     string           `json:",omitempty"`
	Err      string           `json:",omitempty"`
	Extra    map[string]int64 `json:",omitempty"`
}

// RoleArgs are a role's parameters, as command-line flags.
type RoleArgs struct {
	Role   string     // a role of RoleNames
	Socket string     // the socket to connect to (a tenant's, a relay's, a LAN port's; ground: the downlink's HOST:PORT)
	Frames int        // frames to write (flood, ping, attacks) or read (sink, echo)
	Batch  int        // frames per write (flood, attacks)
	Src    frame.APID // source APID of the frames written (LAN roles: the last byte of the MAC)
	Dst    frame.APID // their destination
	// For bounds an attack role's run (0: no bound but Frames and its
	// standard input closing).
	For time.Duration
	// Timeout bounds each read of ping and echo (0: roleTimeout): a frame
	// lost ends the run with an error after Timeout instead of hanging it.
	Timeout time.Duration
}

// Flags returns a as the command-line flags RunRole parses.
func (a RoleArgs) Flags() []string {
	return []string{
		"-role", a.Role, "-socket", a.Socket,
		"-frames", fmt.Sprint(a.Frames), "-batch", fmt.Sprint(max(a.Batch, 1)),
		"-src", fmt.Sprint(uint16(a.Src)), "-dst", fmt.Sprint(uint16(a.Dst)),
		"-for", a.For.String(), "-timeout", a.Timeout.String(),
	}
}

// readTimeout is a's Timeout, or roleTimeout.
func (a RoleArgs) readTimeout() time.Duration {
	if a.Timeout > 0 {
		return a.Timeout
	}
	return roleTimeout
}

// roles are the roles RunRole plays. Each connects, calls ready, then plays.
// The attack roles (attack.go) also stop when stop is closed (their
// standard input closed).
var roles = map[string]func(a RoleArgs, ready func(), stop <-chan struct{}) (Result, error){
	"flood": guestRole(flood),
	"sink":  guestRole(sink),
	"echo":  guestRole(echo),
	"ping":  guestRole(ping),
}

// RoleNames returns the names of the roles RunRole plays, sorted.
func RoleNames() []string {
	names := make([]string, 0, len(roles))
	for n := range roles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// guestRole makes a role of f: connect to a.Socket as a guest of the APID
// switch, then play f.
func guestRole(f func(*guest.Conn, RoleArgs) (Result, error)) func(RoleArgs, func(), <-chan struct{}) (Result, error) {
	return func(a RoleArgs, ready func(), _ <-chan struct{}) (Result, error) {
		g, err := guest.Dial(a.Socket)
		if err != nil {
			return Result{}, err
		}
		defer g.Close()
		ready()
		return f(g, a)
	}
}

// RunRole parses args (see RoleArgs.Flags), connects, plays the role, and
// writes its Result as one JSON line to out. It first writes the line
// "ready" once connected, so that a launcher can start the next role. An
// attack role also stops when stdin ends (the launcher closes it).
func RunRole(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("role", flag.ContinueOnError)
	var a RoleArgs
	var src, dst uint
	fs.StringVar(&a.Role, "role", "", "one of "+strings.Join(RoleNames(), ", "))
	fs.StringVar(&a.Socket, "socket", "", "socket to connect to")
	fs.IntVar(&a.Frames, "frames", 0, "frames")
	fs.IntVar(&a.Batch, "batch", 1, "frames per write")
	fs.UintVar(&src, "src", 0, "source APID")
	fs.UintVar(&dst, "dst", 0, "destination APID")
	fs.DurationVar(&a.For, "for", 0, "longest run of an attack role")
	fs.DurationVar(&a.Timeout, "timeout", 0, "longest wait for each frame read (ping, echo)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	a.Src, a.Dst = frame.APID(src), frame.APID(dst)
	if a.Frames < 1 || a.Batch < 1 || a.Socket == "" {
		return errors.New("switchbench: role needs -socket, -frames >= 1 and -batch >= 1")
	}
	play, ok := roles[a.Role]
	if !ok {
		return fmt.Errorf("switchbench: unknown role %q (want one of %s)", a.Role, strings.Join(RoleNames(), ", "))
	}
	started := false
	r, err := play(a, func() { started = true; fmt.Fprintln(out, "ready") }, stdinClosed(os.Stdin))
	if !started {
		return err // failed to connect: no result line
	}
	r.Role = a.Role
	if err != nil {
		r.Err = err.Error()
	}
	return json.NewEncoder(out).Encode(r)
}

// stdinClosed returns a channel closed when r ends (EOF or an error).
func stdinClosed(r io.Reader) <-chan struct{} {
	c := make(chan struct{})
	go func() {
		io.Copy(io.Discard, r)
		close(c)
	}()
	return c
}

// roleTimeout bounds every read of a role: a switch that stops carrying
// frames ends the run with an error instead of hanging it.
const roleTimeout = 60 * time.Second

// idleTimeout is how long a sink that has read frames waits for the next
// before it decides the rest were lost.
const idleTimeout = 2 * time.Second

// seqFrames fills fs with frames from src to dst carrying sequence numbers
// first, first+1, ... in their first four payload bytes.
func seqFrames(fs []frame.Frame, src, dst frame.APID, first uint32) {
	for i := range fs {
		seqFrame(&fs[i], src, dst, first+uint32(i))
	}
}

// seqFrame makes f a frame from src to dst carrying sequence number seq.
func seqFrame(f *frame.Frame, src, dst frame.APID, seq uint32) {
	var p [16]byte
	binary.BigEndian.PutUint32(p[:], seq)
	frame.Encode(f, frame.TM, src, dst, p[:])
}

// flood writes a.Frames frames in writes of a.Batch, as fast as the socket
// takes them, while a goroutine reads what comes back (ERRORs) until the
// connection ends. It closes its sending side when done, then waits for the
// switch to close (every ERROR read).
func flood(g *guest.Conn, a RoleArgs) (Result, error) {
	r := Result{Errors: map[string]int{}}
	errs := make(chan map[string]int, 1)
	go func() { errs <- countAnswers(g) }()
	out := make([]frame.Frame, a.Batch)
	start := time.Now()
	for sent := 0; sent < a.Frames; sent += a.Batch {
		k := min(a.Batch, a.Frames-sent)
		seqFrames(out[:k], a.Src, a.Dst, uint32(sent))
		if err := g.WriteFrames(out[:k]); err != nil {
			r.Frames = sent
			return r, err
		}
		r.Frames = sent + k
	}
	r.Elapsed = time.Since(start)
	g.CloseWrite()
	r.Errors = <-errs
	return r, nil
}

// sink reads a.Frames frames, checking that their sequence numbers follow
// each other from 0.
func sink(g *guest.Conn, a RoleArgs) (Result, error) {
	var r Result
	in := make([]frame.Frame, 256)
	var start time.Time
	next := uint32(0)
	var last time.Time
	for r.Frames < a.Frames {
		wait := roleTimeout
		if r.Frames > 0 {
			wait = idleTimeout
		}
		g.SetReadDeadline(time.Now().Add(wait))
		k, err := g.ReadFrames(in[:min(len(in), a.Frames-r.Frames)])
		if k > 0 {
			last = time.Now()
		}
		if r.Frames == 0 && k > 0 {
			start = last
		}
		for i := range in[:k] {
			if seq := binary.BigEndian.Uint32(in[i].Payload()); seq != next {
				r.OutOfSeq++
				next = seq
			}
			next++
		}
		r.Frames += k
		if errors.Is(err, os.ErrDeadlineExceeded) && r.Frames > 0 {
			r.Elapsed = last.Sub(start)
			r.Note = fmt.Sprintf("nothing for %v after %d frames: the rest were lost", idleTimeout, r.Frames)
			return r, nil
		}
		if err != nil {
			r.Elapsed = time.Since(start)
			return r, err
		}
	}
	r.Elapsed = last.Sub(start)
	return r, nil
}

// echo answers each of a.Frames frames from a.Dst with one from a.Src to
// a.Dst carrying the same sequence number (ping's). Frames from anyone else
// (an attacker flooding this tenant) are read and counted in
// Extra["ignored"], not answered; a sequence number that is not the next
// is counted in OutOfSeq.
func echo(g *guest.Conn, a RoleArgs) (Result, error) {
	r := Result{Extra: map[string]int64{}}
	var pong frame.Frame
	in := make([]frame.Frame, 64)
	for r.Frames < a.Frames {
		g.SetReadDeadline(time.Now().Add(a.readTimeout()))
		k, err := g.ReadFrames(in)
		for i := range in[:k] {
			if in[i].APID() != a.Dst || in[i].Type() == frame.Error {
				r.Extra["ignored"]++
				continue
			}
			seq := binary.BigEndian.Uint32(in[i].Payload())
			if seq != uint32(r.Frames) {
				r.OutOfSeq++
			}
			seqFrame(&pong, a.Src, a.Dst, seq)
			if err := g.WriteFrame(&pong); err != nil {
				return r, err
			}
			r.Frames++
		}
		if err != nil {
			return r, fmt.Errorf("after %d answers: %w", r.Frames, err)
		}
	}
	return r, nil
}

// ping sends a frame and waits for the answer, a.Frames times (plus a
// tenth as warm-up, not timed). An ERROR, or no answer within the read
// timeout, ends it with an error: the victims of an attack lose nothing.
func ping(g *guest.Conn, a RoleArgs) (Result, error) {
	var r Result
	var f, p frame.Frame
	warm := a.Frames / 10
	r.RTT = make([]time.Duration, 0, a.Frames)
	start := time.Now()
	for i := range warm + a.Frames {
		t0 := time.Now()
		seqFrame(&p, a.Src, a.Dst, uint32(i))
		if err := g.WriteFrame(&p); err != nil {
			return r, err
		}
		if err := readPong(g, &f, a); err != nil {
			return r, fmt.Errorf("ping %d: %w", i, err)
		}
		if seq := binary.BigEndian.Uint32(f.Payload()); seq != uint32(i) {
			return r, fmt.Errorf("ping %d: answer to ping %d", i, seq)
		}
		if i >= warm {
			r.RTT = append(r.RTT, time.Since(t0))
		}
	}
	r.pinged(start, warm+a.Frames)
	return r, nil
}

// pinged completes a pinger's Result: n round trips since start, the
// timed ones sorted.
func (r *Result) pinged(start time.Time, n int) {
	r.Elapsed = time.Since(start)
	r.Frames = n
	sort.Slice(r.RTT, func(i, j int) bool { return r.RTT[i] < r.RTT[j] })
}

// readPong reads into f until a frame from a.Dst arrives; an ERROR is an
// error, anything else from another source is skipped.
func readPong(g *guest.Conn, f *frame.Frame, a RoleArgs) error {
	g.SetReadDeadline(time.Now().Add(a.readTimeout()))
	for {
		if err := g.ReadFrame(f); err != nil {
			return err
		}
		if f.Type() == frame.Error {
			return fmt.Errorf("refused: %x", f[:24])
		}
		if f.APID() == a.Dst {
			return nil
		}
	}
}
