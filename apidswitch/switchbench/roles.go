// Package switchbench measures the APID switch as guests use it: each guest
// a separate process writing flat out, against a plain relay (read, then a
// blocking write: the kernel's own flow control) in the same run. `spacenet
// bench switch --processes` and the package's tests use it.
//
// A guest here is a role (RunRole) that a child process plays: flood (write
// frames as fast as the socket takes them, counting the ERRORs that come
// back), sink (read frames, checking their order), echo (answer every frame)
// and ping (one frame round trips). Each prints one JSON Result line on its
// standard output. Run starts the children through a Launcher, which says
// how to start the current program in a role (the spacenet binary's hidden
// `bench role` command, or a test binary re-executing itself).
//
// It is not a test of the switch's rules: it measures and counts. The
// switch's promises under load are tested in package apidswitch.
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
	"time"

	"spacenet/apidswitch"
	"spacenet/frame"
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
	Role   string     // flood, sink, echo, ping
	Socket string     // the tenant socket (or relay socket) to connect to
	Frames int        // frames to write (flood, ping) or read (sink, echo)
	Batch  int        // frames per write (flood)
	Src    frame.APID // source APID of the frames written
	Dst    frame.APID // their destination
}

// Flags returns a as the command-line flags RunRole parses.
func (a RoleArgs) Flags() []string {
	return []string{
		"-role", a.Role, "-socket", a.Socket,
		"-frames", fmt.Sprint(a.Frames), "-batch", fmt.Sprint(max(a.Batch, 1)),
		"-src", fmt.Sprint(uint16(a.Src)), "-dst", fmt.Sprint(uint16(a.Dst)),
	}
}

// RunRole parses args (see RoleArgs.Flags), connects, plays the role, and
// writes its Result as one JSON line to out. It first writes the line
// "ready" once connected, so that a launcher can start the next role.
func RunRole(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("role", flag.ContinueOnError)
	var a RoleArgs
	var src, dst uint
	fs.StringVar(&a.Role, "role", "", "flood, sink, echo or ping")
	fs.StringVar(&a.Socket, "socket", "", "socket to connect to")
	fs.IntVar(&a.Frames, "frames", 0, "frames")
	fs.IntVar(&a.Batch, "batch", 1, "frames per write")
	fs.UintVar(&src, "src", 0, "source APID")
	fs.UintVar(&dst, "dst", 0, "destination APID")
	if err := fs.Parse(args); err != nil {
		return err
	}
	a.Src, a.Dst = frame.APID(src), frame.APID(dst)
	if a.Frames < 1 || a.Batch < 1 || a.Socket == "" {
		return errors.New("switchbench: role needs -socket, -frames >= 1 and -batch >= 1")
	}
	g, err := apidswitch.Dial(a.Socket)
	if err != nil {
		return err
	}
	defer g.Close()
	fmt.Fprintln(out, "ready")
	var r Result
	switch a.Role {
	case "flood":
		r, err = flood(g, a)
	case "sink":
		r, err = sink(g, a)
	case "echo":
		r, err = echo(g, a)
	case "ping":
		r, err = ping(g, a)
	default:
		return fmt.Errorf("switchbench: unknown role %q", a.Role)
	}
	r.Role = a.Role
	if err != nil {
		r.Err = err.Error()
	}
	return json.NewEncoder(out).Encode(r)
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
		var p [16]byte
		binary.BigEndian.PutUint32(p[:], first+uint32(i))
		frame.Encode(&fs[i], frame.TM, src, dst, p[:])
	}
}

// flood writes a.Frames frames in writes of a.Batch, as fast as the socket
// takes them, while a goroutine reads what comes back (ERRORs) until the
// connection ends. It closes its sending side when done, then waits for the
// switch to close (every ERROR read).
func flood(g *apidswitch.Guest, a RoleArgs) (Result, error) {
	r := Result{Errors: map[string]int{}}
	errs := make(chan map[string]int, 1)
	go func() {
		got := map[string]int{}
		in := make([]frame.Frame, 64)
		for {
			g.SetReadDeadline(time.Now().Add(roleTimeout))
			k, err := g.ReadFrames(in)
			for i := range in[:k] {
				if in[i].Type() == frame.Error {
					p, _ := frame.ParseErrorPayload(in[i].Payload())
					got[p.Code.String()]++
				} else {
					got["not an ERROR"]++
				}
			}
			if err != nil {
				errs <- got
				return
			}
		}
	}()
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
func sink(g *apidswitch.Guest, a RoleArgs) (Result, error) {
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

// echo answers each of a.Frames frames with one from a.Src to its source.
func echo(g *apidswitch.Guest, a RoleArgs) (Result, error) {
	var r Result
	var f, pong frame.Frame
	frame.Encode(&pong, frame.TM, a.Src, a.Dst, []byte("pong"))
	for r.Frames < a.Frames {
		g.SetReadDeadline(time.Now().Add(roleTimeout))
		if err := g.ReadFrame(&f); err != nil {
			return r, err
		}
		if err := g.WriteFrame(&pong); err != nil {
			return r, err
		}
		r.Frames++
	}
	return r, nil
}

// ping sends a frame and waits for the answer, a.Frames times (plus a
// tenth as warm-up, not timed).
func ping(g *apidswitch.Guest, a RoleArgs) (Result, error) {
	var r Result
	var f, p frame.Frame
	frame.Encode(&p, frame.TM, a.Src, a.Dst, []byte("ping"))
	warm := a.Frames / 10
	r.RTT = make([]time.Duration, 0, a.Frames)
	start := time.Now()
	for i := range warm + a.Frames {
		t0 := time.Now()
		if err := g.WriteFrame(&p); err != nil {
			return r, err
		}
		g.SetReadDeadline(time.Now().Add(roleTimeout))
		if err := g.ReadFrame(&f); err != nil {
			return r, err
		}
		if f.Type() == frame.Error {
			return r, fmt.Errorf("ping %d refused: %x", i, f[:24])
		}
		if i >= warm {
			r.RTT = append(r.RTT, time.Since(t0))
		}
	}
	r.Elapsed = time.Since(start)
	r.Frames = warm + a.Frames
	sort.Slice(r.RTT, func(i, j int) bool { return r.RTT[i] < r.RTT[j] })
	return r, nil
}
