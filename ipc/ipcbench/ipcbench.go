// Package ipcbench measures typed IPC as guests use it: the caller, the
// server and the APID switch each in its own process, against gRPC in
// plaintext and with mutual TLS (client and server in two processes), with
// two floors: one raw frame round trip through the switch and a direct
// socketpair round trip between two processes. Every reply is checked.
//
// The harness does not know how to start a process: the caller of Run
// says how to start a peer (a process running Peer, normally the spacenet
// binary re-executed with a hidden subcommand) and the switch (normally
// `spacenet run`). It is not the in-process `spacenet bench ipc`, and it
// is not a load generator: one caller process per path, at most
// Config.Parallel goroutines in it.
package ipcbench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"spacenet/apid/frame"
	"spacenet/apid/policy"
	"spacenet/camera/cameraipc"
	"spacenet/ipc"
	"spacenet/ipc/ipcframe"
)

// Path is one way of making the call.
type Path string

// The paths, in the order each round measures them.
const (
	Socketpair Path = "socketpair" // floor: 256 bytes each way on a socketpair between two processes
	Raw        Path = "raw"        // floor: one frame each way through the switch process
	IPC        Path = "ipc"        // Camera.status through ipc/switched and the switch process
	GRPC       Path = "grpc"       // the same bytes over gRPC on a Unix socket, plaintext
	GRPCTLS    Path = "grpc-mtls"  // the same over gRPC with mutual TLS 1.3
)

// Paths lists every path in measuring order.
var Paths = []Path{Socketpair, Raw, IPC, GRPC, GRPCTLS}

// Parallel reports whether p is measured with concurrent callers too (the
// floors are one connection read by one caller).
func (p Path) Parallel() bool { return p == IPC || p == GRPC || p == GRPCTLS }

// RequestLen and ReplyLen are the IPC Camera.status call's request and
// reply messages' sizes: gRPC carries as many bytes, and the raw frames
// those plus the IPC frame header.
var RequestLen, ReplyLen = messageLens()

var rawRequestLen, rawReplyLen = RequestLen + ipcframe.HeaderSize, ReplyLen + ipcframe.HeaderSize

func messageLens() (int, int) {
	req, _ := ipc.AppendRequest(nil, &ipc.Request{Op: cameraipc.CameraOpStatus, ReplyCap: cameraipc.CameraStatusReplySize})
	rep, _ := ipc.AppendReply(nil, &ipc.Reply{Body: make([]byte, cameraipc.CameraStatusReplySize)})
	return len(req), len(rep)
}

const (
	pingAPID frame.APID = 0x300
	pongAPID frame.APID = 0x310
)

// Policy is the switch's policy for the bench: the v0 topology plus
// tenants ping and pong for the raw round trip.
func Policy() *policy.Policy {
	p := policy.Default()
	p.Tenants = append(p.Tenants,
		policy.Tenant{Name: "ping", Owns: []policy.Range{{First: pingAPID, Last: pingAPID + 0xF}}, CanSendTo: []string{"pong"}},
		policy.Tenant{Name: "pong", Owns: []policy.Range{{First: pongAPID, Last: pongAPID + 0xF}}, CanSendTo: []string{"ping"}})
	return p
}

// Config says what to measure and how to start the processes.
type Config struct {
	// Peer returns the command of a process that runs Peer(ctx, role,
	// args, stdin, stdout). Run sets its stdin, stdout, stderr and
	// ExtraFiles.
	Peer func(role string, args ...string) *exec.Cmd
	// Switch returns the command of an APID switch process with the
	// policy file and socket directory given. It must log a line
	// containing "tenant socket" on stderr for each tenant once it is
	// ready (as `spacenet run` does) and stop on SIGTERM.
	Switch func(socketDir, policyFile string) *exec.Cmd
	// Calls per measurement, made in Chunks chunks (0 or 1: one) with
	// the paths alternating from chunk to chunk, so that a change in the
	// machine's load falls on every path alike; Rounds of every
	// measurement; Parallel concurrent callers (0: none).
	Calls, Chunks, Rounds, Parallel int
	// Progress, if not nil, gets a line per round.
	Progress io.Writer
}

// Report holds every round of every measurement.
type Report struct {
	Calls, Chunks, Rounds, Parallel int
	Seq, Par                        map[Path][]Result
}

// Run starts the switch, the servers and one caller process per path in a
// fresh 0700 temporary directory, measures cfg.Rounds rounds, stops every
// process it started and removes the directory.
func Run(ctx context.Context, cfg Config) (rep *Report, err error) {
	cfg.Chunks = max(cfg.Chunks, 1)
	chunk := cfg.Calls / cfg.Chunks
	if chunk < 1 || cfg.Rounds < 1 || cfg.Parallel < 0 || chunk < cfg.Parallel {
		return nil, fmt.Errorf("ipcbench: calls %d, chunks %d, rounds %d, parallel %d: want calls/chunks >= 1 and >= parallel >= 0, rounds >= 1",
			cfg.Calls, cfg.Chunks, cfg.Rounds, cfg.Parallel)
	}
	dir, err := os.MkdirTemp("", "spacenet-ipcbench")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := writeCerts(dir); err != nil {
		return nil, err
	}
	polFile := filepath.Join(dir, "policy.toml")
	var pol bytes.Buffer
	if err := Policy().WriteTOML(&pol); err != nil {
		return nil, err
	}
	if err := os.WriteFile(polFile, pol.Bytes(), 0o600); err != nil {
		return nil, err
	}
	sockDir := filepath.Join(dir, "s")

	var procs procSet
	// A cancelled ctx kills every process, which ends any wait for one
	// (stop's too: this is deferred first, so it ends last).
	defer context.AfterFunc(ctx, procs.kill)()
	defer func() { err = errors.Join(err, procs.stop()) }()
	if err := procs.startSwitch(cfg.Switch(sockDir, polFile), len(Policy().Tenants)); err != nil {
		return nil, err
	}
	pairs, err := socketpairs()
	if err != nil {
		return nil, err
	}
	servers := []struct {
		role  string
		dir   string
		extra *os.File
	}{{RoleEcho, dir, pairs[0]}, {RolePong, sockDir, nil}, {RoleCamera, sockDir, nil}, {RoleGRPC, dir, nil}}
	for _, s := range servers {
		if _, err := procs.startPeer(cfg.Peer(s.role, s.dir), s.role, s.extra); err != nil {
			pairs[1].Close()
			return nil, err
		}
	}
	callers := make(map[Path]*peer)
	for _, p := range Paths {
		d, extra := sockDir, (*os.File)(nil)
		switch p {
		case Socketpair:
			extra = pairs[1]
		case GRPC, GRPCTLS:
			d = dir
		}
		c, err := procs.startPeer(cfg.Peer(RoleCaller, string(p), d), "caller "+string(p), extra)
		if err != nil {
			return nil, err
		}
		callers[p] = c
	}

	rep = &Report{Calls: chunk * cfg.Chunks, Chunks: cfg.Chunks, Rounds: cfg.Rounds, Parallel: cfg.Parallel, Seq: map[Path][]Result{}, Par: map[Path][]Result{}}
	for _, p := range Paths { // warm every path up
		if _, err := callers[p].command(fmt.Sprintf("seq %d", min(cfg.Calls, 1000))); err != nil {
			return nil, err
		}
		if _, err := callers[p].command("flush"); err != nil {
			return nil, err
		}
	}
	for round := range cfg.Rounds {
		for range cfg.Chunks {
			for _, p := range Paths {
				if _, err := callers[p].command(fmt.Sprintf("seq %d", chunk)); err != nil {
					return nil, err
				}
			}
		}
		for _, p := range Paths {
			r, err := callers[p].command("flush")
			if err != nil {
				return nil, err
			}
			rep.Seq[p] = append(rep.Seq[p], r)
		}
		if cfg.Parallel > 0 {
			par := make(map[Path]*parTotal)
			for range cfg.Chunks {
				for _, p := range Paths {
					if !p.Parallel() {
						continue
					}
					r, err := callers[p].command(fmt.Sprintf("par %d %d", cfg.Parallel, chunk))
					if err != nil {
						return nil, err
					}
					if par[p] == nil {
						par[p] = &parTotal{}
					}
					par[p].add(r)
				}
			}
			for _, p := range Paths {
				if t := par[p]; t != nil {
					rep.Par[p] = append(rep.Par[p], t.result())
				}
			}
		}
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "round %d/%d done\n", round+1, cfg.Rounds)
		}
	}
	return rep, nil
}

// parTotal adds up the chunks of a concurrent measurement.
type parTotal struct {
	calls   int
	seconds float64
}

func (t *parTotal) add(r Result) {
	t.calls += r.Calls
	t.seconds += float64(r.Calls) / r.Rate
}

func (t *parTotal) result() Result {
	return Result{Calls: t.calls, Rate: float64(t.calls) / t.seconds}
}

// socketpairs returns the two ends of a Unix stream socketpair as files.
func socketpairs() ([2]*os.File, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return [2]*os.File{}, fmt.Errorf("ipcbench: socketpair: %w", err)
	}
	return [2]*os.File{os.NewFile(uintptr(fds[0]), "echo"), os.NewFile(uintptr(fds[1]), "caller")}, nil
}

// tail keeps the last few KiB written to it: a peer's stderr, for the
// error that names why it ended.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailMax = 4096

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailMax {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailMax:]...)
	}
	t.mu.Unlock()
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

// peer is a running peer process: commands go to its stdin, results come
// from its stdout.
type peer struct {
	name   string
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *tail
}

func (p *peer) fail(err error) error {
	return fmt.Errorf("ipcbench: %s: %w (stderr: %q)", p.name, err, p.stderr.String())
}

// command sends line to a caller and reads its Result.
func (p *peer) command(line string) (Result, error) {
	var r Result
	if _, err := fmt.Fprintln(p.in, line); err != nil {
		return r, p.fail(err)
	}
	b, err := p.out.ReadBytes('\n')
	if err != nil {
		return r, p.fail(err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, p.fail(fmt.Errorf("result %q: %w", b, err))
	}
	if r.Err != "" {
		return r, fmt.Errorf("ipcbench: %s: %s: %s", p.name, line, r.Err)
	}
	return r, nil
}

// procSet is every process Run started, stopped in reverse order.
type procSet struct {
	mu      sync.Mutex // guards started against kill
	started []*exec.Cmd
	peers   []*peer
	sw      *exec.Cmd
	swErr   *tail
	swDone  chan struct{} // closed when the switch's stderr is read to its end
}

func (s *procSet) startPeer(cmd *exec.Cmd, name string, extra *os.File) (*peer, error) {
	p := &peer{name: name, cmd: cmd, stderr: &tail{}}
	cmd.Stderr = p.stderr
	if extra != nil {
		cmd.ExtraFiles = []*os.File{extra}
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.in, p.out = in, bufio.NewReader(out)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("ipcbench: start %s: %w", name, err)
	}
	s.add(cmd)
	if extra != nil {
		extra.Close() // the child holds its own copy
	}
	s.peers = append(s.peers, p)
	line, err := p.out.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != readyLine {
		return nil, p.fail(fmt.Errorf("not ready: %q, %v", line, err))
	}
	return p, nil
}

func (s *procSet) startSwitch(cmd *exec.Cmd, tenants int) error {
	s.swErr = &tail{}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("ipcbench: start switch: %w", err)
	}
	s.sw = cmd
	s.add(cmd)
	sc := bufio.NewScanner(stderr)
	for seen := 0; seen < tenants; {
		if !sc.Scan() {
			return fmt.Errorf("ipcbench: switch ended before it was ready: %q, %v", s.swErr.String(), sc.Err())
		}
		fmt.Fprintln(s.swErr, sc.Text())
		if strings.Contains(sc.Text(), "tenant socket") {
			seen++
		}
	}
	s.swDone = make(chan struct{})
	go func() {
		defer close(s.swDone)
		_, _ = io.Copy(s.swErr, stderr)
	}()
	return nil
}

func (s *procSet) add(cmd *exec.Cmd) {
	s.mu.Lock()
	s.started = append(s.started, cmd)
	s.mu.Unlock()
}

// kill kills every process started.
func (s *procSet) kill() {
	s.mu.Lock()
	started := slices.Clone(s.started)
	s.mu.Unlock()
	for _, c := range started {
		_ = c.Process.Kill()
	}
}

// stop closes every peer's stdin (a peer ends when it does), waits for
// each, then stops the switch with SIGTERM and waits for it.
func (s *procSet) stop() error {
	var errs []error
	for i := len(s.peers) - 1; i >= 0; i-- {
		p := s.peers[i]
		p.in.Close()
		if err := p.cmd.Wait(); err != nil {
			errs = append(errs, p.fail(err))
		}
	}
	if s.sw != nil {
		if err := s.sw.Process.Signal(syscall.SIGTERM); err != nil {
			errs = append(errs, fmt.Errorf("ipcbench: stop switch: %w", err))
		}
		if s.swDone != nil {
			<-s.swDone // Wait closes the pipe: read it to its end first
		}
		if err := s.sw.Wait(); err != nil {
			errs = append(errs, fmt.Errorf("ipcbench: switch: %w (stderr: %q)", err, s.swErr.String()))
		}
	}
	return errors.Join(errs...)
}
