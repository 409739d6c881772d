package switchbench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"spacenet/apid/apidswitch"
	"spacenet/apid/frame"
	"spacenet/internal/benchstat"
)

// Launcher returns a command that plays a role: it runs RunRole with
// roleArgs (and nothing else on its standard output).
type Launcher func(roleArgs []string) *exec.Cmd

// child is a role running in a process of its own.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser // closing it stops an attack role
	stderr bytes.Buffer
	done   chan childResult
}

type childResult struct {
	r   Result
	err error
}

// startRole starts a in a child process and returns once it is connected.
func startRole(l Launcher, a RoleArgs) (*child, error) {
	c := &child{cmd: l(a.Flags()), done: make(chan childResult, 1)}
	c.cmd.Stderr = &c.stderr
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("switchbench: starting %s: %w", a.Role, err)
	}
	br := bufio.NewReader(out)
	line, err := br.ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		c.stdin.Close()
		c.cmd.Wait()
		return nil, fmt.Errorf("switchbench: %s did not connect (%q, %v): %s", a.Role, line, err, strings.TrimSpace(c.stderr.String()))
	}
	go func() {
		var res childResult
		data, _ := io.ReadAll(br)
		if err := c.cmd.Wait(); err != nil {
			res.err = fmt.Errorf("switchbench: %s: %w: %s", a.Role, err, strings.TrimSpace(c.stderr.String()))
		} else if err := json.Unmarshal(data, &res.r); err != nil {
			res.err = fmt.Errorf("switchbench: %s result %q: %w", a.Role, data, err)
		} else if res.r.Err != "" {
			res.err = fmt.Errorf("switchbench: %s: %s", a.Role, res.r.Err)
		}
		c.done <- res
	}()
	return c, nil
}

func (c *child) wait() (Result, error) {
	res := <-c.done
	c.stdin.Close()
	return res.r, res.err
}

// Role is a role playing in a process of its own (StartRole).
type Role struct{ c *child }

// StartRole starts a in a process of its own through l and returns once
// the role is connected.
func StartRole(l Launcher, a RoleArgs) (*Role, error) {
	c, err := startRole(l, a)
	if err != nil {
		return nil, err
	}
	return &Role{c: c}, nil
}

// Pid is the role's process id.
func (r *Role) Pid() int { return r.c.cmd.Process.Pid }

// Stop closes the role's standard input (an attack role stops at that)
// and waits for its Result.
func (r *Role) Stop() (Result, error) {
	r.c.stdin.Close()
	return r.c.wait()
}

// Kill ends the role's process (a role that waits for frames that will not
// come) and waits for it.
func (r *Role) Kill() {
	r.c.cmd.Process.Kill()
	r.c.wait()
}

// Wait waits for the role to end by itself and returns its Result.
func (r *Role) Wait() (Result, error) { return r.c.wait() }

// Target is a pair of sockets a sender and a receiver connect to: two
// tenants' sockets on a switch, or a relay's two ends.
type Target struct {
	Sender, Receiver string     // socket paths
	Src, Dst         frame.APID // the sender's APID and the receiver's
}

// Flow is what one flat-out run measured.
type Flow struct {
	Sent, Received int
	Errors         int // ERRORs the sender read
	OutOfSeq       int
	FPS            float64 // frames per second at the receiver
}

// Lost is how many frames the sender wrote that the receiver did not read.
func (f Flow) Lost() int { return f.Sent - f.Received }

// Throughput runs a flood of frames frames, batch per write, from
// t.Sender to a sink on t.Receiver, each a process of its own, and returns
// what the sink read. The sink stops at frames frames, or after idle time
// with nothing to read (frames were lost).
func Throughput(l Launcher, t Target, frames, batch int) (Flow, error) {
	sk, err := startRole(l, RoleArgs{Role: "sink", Socket: t.Receiver, Frames: frames, Src: t.Dst, Dst: t.Src})
	if err != nil {
		return Flow{}, err
	}
	fl, err := startRole(l, RoleArgs{Role: "flood", Socket: t.Sender, Frames: frames, Batch: batch, Src: t.Src, Dst: t.Dst})
	if err != nil {
		sk.cmd.Process.Kill()
		sk.wait()
		return Flow{}, err
	}
	rs, serr := sk.wait()
	rf, ferr := fl.wait()
	f := Flow{Sent: rf.Frames, Received: rs.Frames, OutOfSeq: rs.OutOfSeq}
	for _, n := range rf.Errors {
		f.Errors += n
	}
	if rs.Elapsed > 0 {
		f.FPS = float64(rs.Frames) / rs.Elapsed.Seconds()
	}
	return f, errors.Join(ferr, serr)
}

// PingPong bounces one frame t.Sender -> t.Receiver -> t.Sender pings
// times, the pinger and the echoer each a process, and returns the round
// trips' latency.
func PingPong(l Launcher, t Target, pings int) (benchstat.Latency, error) {
	rtt, err := PingPongRoles(l, t, pings, "ping", "echo", 0)
	if err != nil {
		return benchstat.Latency{}, err
	}
	return benchstat.Latencies(rtt), nil
}

// PingPongRoles is PingPong with the given pinger and echoer roles (ping
// and echo, or lanping and lanecho) and read timeout (0: the roles'
// default; a frame lost fails the run after it), returning every round
// trip, sorted.
func PingPongRoles(l Launcher, t Target, pings int, pinger, echoer string, timeout time.Duration) ([]time.Duration, error) {
	warm := pings / 10
	ec, err := startRole(l, RoleArgs{Role: echoer, Socket: t.Receiver, Frames: warm + pings, Src: t.Dst, Dst: t.Src, Timeout: timeout})
	if err != nil {
		return nil, err
	}
	pc, err := startRole(l, RoleArgs{Role: pinger, Socket: t.Sender, Frames: pings, Src: t.Src, Dst: t.Dst, Timeout: timeout})
	if err != nil {
		ec.cmd.Process.Kill()
		ec.wait()
		return nil, err
	}
	rp, perr := pc.wait()
	re, eerr := ec.wait()
	if eerr == nil && re.OutOfSeq > 0 {
		eerr = fmt.Errorf("switchbench: %s: %d pings out of sequence (duplicated or lost)", echoer, re.OutOfSeq)
	}
	if err := errors.Join(perr, eerr); err != nil {
		return nil, err
	}
	if len(rp.RTT) != pings {
		return nil, fmt.Errorf("switchbench: %s: %d round trips, want %d", pinger, len(rp.RTT), pings)
	}
	return rp.RTT, nil
}

// Relay is the baseline: two Unix sockets, a.sock and b.sock, each taking
// one connection, and a goroutine per direction that reads up to 256
// frames and writes the whole frames read with a blocking write: the
// kernel's own flow control, nothing lost, no routing or counting.
type Relay struct {
	A, B  string // the sockets' paths
	lns   [2]*net.UnixListener
	conns [2]*net.UnixConn
	wg    sync.WaitGroup
	err   chan error
}

// StartRelay listens on dir/a.sock and dir/b.sock and relays between the
// first connection on each, once both have come.
func StartRelay(dir string) (*Relay, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	r := &Relay{A: filepath.Join(dir, "a.sock"), B: filepath.Join(dir, "b.sock"), err: make(chan error, 1)}
	for i, path := range []string{r.A, r.B} {
		os.Remove(path)
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		if err != nil {
			r.Close()
			return nil, err
		}
		r.lns[i] = ln
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		var wg sync.WaitGroup
		for i := range r.lns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := r.lns[i].AcceptUnix()
				if err == nil {
					r.conns[i] = c
				}
			}()
		}
		wg.Wait()
		if r.conns[0] == nil || r.conns[1] == nil {
			return
		}
		var cp sync.WaitGroup
		cp.Add(2)
		go func() { defer cp.Done(); relayCopy(r.conns[0], r.conns[1]) }()
		go func() { defer cp.Done(); relayCopy(r.conns[1], r.conns[0]) }()
		cp.Wait()
	}()
	return r, nil
}

// relayCopy copies whole frames from src to dst until src ends, then
// closes dst's sending side.
func relayCopy(src, dst *net.UnixConn) {
	buf := make([]byte, apidswitch.DefaultBatch*frame.Size)
	rem := 0
	for {
		n, err := src.Read(buf[rem:])
		total := rem + n
		whole := total - total%frame.Size
		if whole > 0 {
			if _, werr := dst.Write(buf[:whole]); werr != nil {
				break
			}
		}
		rem = copy(buf, buf[whole:total])
		if err != nil {
			break
		}
	}
	dst.CloseWrite()
}

// Close stops the relay and waits for its goroutines.
func (r *Relay) Close() {
	for _, ln := range r.lns {
		if ln != nil {
			ln.Close()
		}
	}
	for _, c := range r.conns {
		if c != nil {
			c.Close()
		}
	}
	r.wg.Wait()
}

// Config is a RunProcesses run.
type Config struct {
	Launcher Launcher
	Frames   int   // frames per throughput round
	Batches  []int // frames per write
	Pings    int   // round trips per latency round
	Rounds   int   // rounds per figure; medians are printed
	Dir      string
	Out      io.Writer
	// Switch makes a fresh switch under dir (v0 topology), running until
	// the returned stop is called.
	Switch func(dir string) (*apidswitch.Switch, func(), error)
}

// Report is what RunProcesses measured: per batch the switch's and the
// relay's medians, and the ping-pong latencies.
type Report struct {
	Batches               []int
	Switch, Relay         []Flow // median fps; lost and errors summed over the rounds
	SwitchPing, RelayPing benchstat.Latency
}

// RunProcesses measures the switch against the relay with every guest a
// process of its own, alternating them round by round, and prints a table.
func RunProcesses(ctx context.Context, cfg Config) (Report, error) {
	var rep Report
	sw, stop, err := cfg.Switch(filepath.Join(cfg.Dir, "switch"))
	if err != nil {
		return rep, err
	}
	defer stop()
	swT := Target{Sender: sw.SocketPath("camera"), Receiver: sw.SocketPath("processor"), Src: 0x010, Dst: 0x020}
	round := 0
	relayT := func() (Target, *Relay, error) {
		round++
		r, err := StartRelay(filepath.Join(cfg.Dir, fmt.Sprint("relay", round)))
		if err != nil {
			return Target{}, nil, err
		}
		return Target{Sender: r.A, Receiver: r.B, Src: 0x010, Dst: 0x020}, r, nil
	}
	out := cfg.Out
	fmt.Fprintf(out, "APID switch vs plain relay, every guest a separate process writing flat out (no window),\n%d frames per round, median of %d rounds\n\n", cfg.Frames, cfg.Rounds)
	fmt.Fprintf(out, "%-6s %13s %13s %7s %12s %12s\n", "batch", "switch fr/s", "relay fr/s", "ratio", "switch lost", "relay lost")
	for _, b := range cfg.Batches {
		var sf, rf []float64
		var sw, rl Flow
		for range cfg.Rounds {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			f, err := Throughput(cfg.Launcher, swT, cfg.Frames, b)
			if err != nil {
				return rep, fmt.Errorf("switch, batch %d: %w", b, err)
			}
			sf = append(sf, f.FPS)
			sw.Sent, sw.Received, sw.Errors, sw.OutOfSeq = sw.Sent+f.Sent, sw.Received+f.Received, sw.Errors+f.Errors, sw.OutOfSeq+f.OutOfSeq
			t, r, err := relayT()
			if err != nil {
				return rep, err
			}
			f, err = Throughput(cfg.Launcher, t, cfg.Frames, b)
			r.Close()
			if err != nil {
				return rep, fmt.Errorf("relay, batch %d: %w", b, err)
			}
			rf = append(rf, f.FPS)
			rl.Sent, rl.Received, rl.Errors, rl.OutOfSeq = rl.Sent+f.Sent, rl.Received+f.Received, rl.Errors+f.Errors, rl.OutOfSeq+f.OutOfSeq
		}
		sw.FPS, rl.FPS = benchstat.Median(sf), benchstat.Median(rf)
		rep.Batches = append(rep.Batches, b)
		rep.Switch = append(rep.Switch, sw)
		rep.Relay = append(rep.Relay, rl)
		fmt.Fprintf(out, "%-6d %13.0f %13.0f %7.2f %12d %12d\n", b, sw.FPS, rl.FPS, sw.FPS/rl.FPS, sw.Lost(), rl.Lost())
		if sw.Errors+rl.Errors+sw.OutOfSeq+rl.OutOfSeq > 0 {
			fmt.Fprintf(out, "       ERRORs read: switch %d, relay %d; out of order: switch %d, relay %d\n", sw.Errors, rl.Errors, sw.OutOfSeq, rl.OutOfSeq)
		}
	}
	var sl, rl []benchstat.Latency
	for range cfg.Rounds {
		l, err := PingPong(cfg.Launcher, swT, cfg.Pings)
		if err != nil {
			return rep, fmt.Errorf("switch ping-pong: %w", err)
		}
		sl = append(sl, l)
		t, r, err := relayT()
		if err != nil {
			return rep, err
		}
		l, err = PingPong(cfg.Launcher, t, cfg.Pings)
		r.Close()
		if err != nil {
			return rep, fmt.Errorf("relay ping-pong: %w", err)
		}
		rl = append(rl, l)
	}
	rep.SwitchPing, rep.RelayPing = benchstat.MedianLatency(sl), benchstat.MedianLatency(rl)
	fmt.Fprintf(out, "\nround trip, one frame ping-pong, pinger and echoer separate processes (%d pings per round)\n", cfg.Pings)
	fmt.Fprintf(out, "%-8s %12s %12s\n", "", "p50", "p99")
	fmt.Fprintf(out, "%-8s %12v %12v\n", "switch", rep.SwitchPing.P50, rep.SwitchPing.P99)
	fmt.Fprintf(out, "%-8s %12v %12v\n", "relay", rep.RelayPing.P50, rep.RelayPing.P99)
	fmt.Fprintf(out, "%-8s %12.2f %12.2f\n", "ratio", float64(rep.SwitchPing.P50)/float64(rep.RelayPing.P50), float64(rep.SwitchPing.P99)/float64(rep.RelayPing.P99))
	return rep, nil
}

// quiet is the logger of the switches the bench starts: their logs would
// only blur the figures.
var quiet = slog.New(slog.DiscardHandler)

// Start makes an APID switch with cfg (logging nowhere unless cfg.Logger
// says otherwise), runs it until ctx ends or stop is called, and returns
// once it is ready. stop ends the switch and waits for its Run to return.
func Start(ctx context.Context, cfg apidswitch.Config) (sw *apidswitch.Switch, stop func(), err error) {
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	sw, err = apidswitch.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sw.Run(ctx) }()
	select {
	case <-sw.Ready():
		return sw, func() { cancel(); <-done }, nil
	case err := <-done:
		cancel()
		return nil, nil, err
	}
}
