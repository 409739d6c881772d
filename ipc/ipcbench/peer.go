package ipcbench

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"spacenet/apid/frame"
	"spacenet/apid/guest"
	"spacenet/camera/cameraipc"
	"spacenet/camera/camsim"
	"spacenet/ipc"
	"spacenet/ipc/switched"
)

// The roles a peer process plays (the first argument of Peer).
const (
	RoleEcho      = "echo"        // echoes 256-byte blocks on the socket it inherits as fd 3
	RolePong      = "pong"        // tenant pong: answers each TC frame with a TM frame carrying its payload
	RoleCamera    = "camera"      // tenant camera: serves camsim's Camera on APID 0x010
	RoleGRPC      = "grpc-server" // the gRPC Camera.Status service on a Unix socket
	RoleCaller    = "caller"      // the caller of one path: measures on command
	readyLine     = "ready"
	blockSize     = frame.Size
	cameraAPID    = 0x010
	serverName    = "spacenet-bench-server"
	grpcSocket    = "grpc.sock"
	grpcTLSSocket = "grpc-tls.sock"
)

// Peer runs one peer process of the harness: role and args as the harness
// passed them (Config.Peer), commands read from in, results and the ready
// line written to out. It returns when in ends (the harness closes it to
// stop a peer) or on the first error.
func Peer(ctx context.Context, role string, args []string, in io.Reader, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if role == RoleCaller {
		if len(args) != 2 {
			return fmt.Errorf("ipcbench: caller wants PATH DIR, got %q", args)
		}
		return runCaller(ctx, Path(args[0]), args[1], in, out)
	}
	if len(args) != 1 {
		return fmt.Errorf("ipcbench: %s wants DIR, got %q", role, args)
	}
	dir := args[0]
	// A server runs until the harness closes its stdin.
	go func() {
		_, _ = io.Copy(io.Discard, in)
		cancel()
	}()
	ready := func() error {
		_, err := fmt.Fprintln(out, readyLine)
		return err
	}
	switch role {
	case RoleEcho:
		return serveEcho(ctx, ready)
	case RolePong:
		return servePong(ctx, dir, ready)
	case RoleCamera:
		return serveCamera(ctx, dir, ready)
	case RoleGRPC:
		return serveGRPC(ctx, dir, ready)
	}
	return fmt.Errorf("ipcbench: unknown peer role %q", role)
}

// closeOnDone closes c when ctx ends, unblocking its reader; the returned
// function stops the watch.
func closeOnDone(ctx context.Context, c io.Closer) func() {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	return func() { stop() }
}

func serveEcho(ctx context.Context, ready func() error) error {
	f := os.NewFile(3, "socketpair")
	if f == nil {
		return errors.New("ipcbench: echo: no fd 3")
	}
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("ipcbench: echo: %w", err)
	}
	defer closeOnDone(ctx, c)()
	defer c.Close()
	if err := ready(); err != nil {
		return err
	}
	buf := make([]byte, blockSize)
	for {
		if _, err := io.ReadFull(c, buf); err != nil {
			return quietEnd(ctx, err)
		}
		if _, err := c.Write(buf); err != nil {
			return quietEnd(ctx, err)
		}
	}
}

// quietEnd turns the error that ends a serving loop into nil when it is
// the harness stopping the peer (ctx done or the other end gone).
func quietEnd(ctx context.Context, err error) error {
	if ctx.Err() != nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func socketPath(dir, tenant string) string { return filepath.Join(dir, tenant+".sock") }

func servePong(ctx context.Context, dir string, ready func() error) error {
	g, err := guest.Dial(socketPath(dir, "pong"))
	if err != nil {
		return err
	}
	defer closeOnDone(ctx, g)()
	defer g.Close()
	if err := ready(); err != nil {
		return err
	}
	var in, rep frame.Frame
	payload := make([]byte, rawReplyLen)
	for {
		if err := g.ReadFrame(&in); err != nil {
			return quietEnd(ctx, err)
		}
		if in.Type() != frame.TC {
			continue // the switch's notices
		}
		copy(payload, in.Payload())
		if err := frame.Encode(&rep, frame.TM, pongAPID, in.APID(), payload); err != nil {
			return err
		}
		if err := g.WriteFrame(&rep); err != nil {
			return quietEnd(ctx, err)
		}
	}
}

func serveCamera(ctx context.Context, dir string, ready func() error) error {
	node, err := switched.NewNode(switched.Config{Socket: socketPath(dir, "camera"), Tenant: "camera",
		Policy: Policy(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	srv, err := node.Serve(switched.ServerConfig{APID: cameraAPID, Handler: cameraipc.NewCameraDispatcher(&camsim.Camera{})})
	if err != nil {
		return err
	}
	if err := node.Start(ctx); err != nil {
		return err
	}
	defer node.Close()
	if err := ready(); err != nil {
		return err
	}
	return srv.Run(ctx)
}

// runCaller connects to path's server and then, for each command line
// read from in, writes one Result line to out: "seq N" makes N sequential
// calls and keeps their latencies (the Result has only the count),
// "flush" returns the figures of every call since the last flush, "par
// WORKERS N" makes N calls from WORKERS goroutines at once. Every reply is
// checked; the first wrong one ends the command with an error line.
func runCaller(ctx context.Context, path Path, dir string, in io.Reader, out io.Writer) error {
	c, err := dialPath(ctx, path, dir)
	if err != nil {
		return err
	}
	defer c.close()
	if _, err := fmt.Fprintln(out, readyLine); err != nil {
		return err
	}
	var acc samples
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		var r Result
		switch {
		case len(f) == 2 && f[0] == "seq":
			n, err := strconv.Atoi(f[1])
			if err != nil || n < 1 {
				return fmt.Errorf("ipcbench: caller: bad command %q", sc.Text())
			}
			r.Calls = n
			if err := acc.seq(n, c.caller(0)); err != nil {
				r.Err = err.Error()
			}
		case len(f) == 1 && f[0] == "flush":
			r = acc.flush()
		case len(f) == 3 && f[0] == "par":
			w, err1 := strconv.Atoi(f[1])
			n, err2 := strconv.Atoi(f[2])
			if err1 != nil || err2 != nil || w < 1 || n < w {
				return fmt.Errorf("ipcbench: caller: bad command %q", sc.Text())
			}
			if !c.parallel() {
				return fmt.Errorf("ipcbench: caller: %s has no parallel mode", path)
			}
			callers := make([]func(uint64) error, w)
			for i := range callers {
				callers[i] = c.caller(i)
			}
			r, err = measurePar(n, callers)
			if err != nil {
				r.Err = err.Error()
			}
		default:
			return fmt.Errorf("ipcbench: caller: bad command %q", sc.Text())
		}
		if err := writeResult(out, r); err != nil {
			return err
		}
	}
	return sc.Err()
}

// conn is a caller's connection to one path's server.
type conn interface {
	// caller returns the call function of worker i: call k sends k and
	// checks that the reply is k's.
	caller(i int) func(k uint64) error
	parallel() bool // whether callers may run at once
	close()
}

func dialPath(ctx context.Context, path Path, dir string) (conn, error) {
	switch path {
	case Socketpair:
		return dialSocketpair()
	case Raw:
		return dialRaw(dir)
	case IPC:
		return dialIPC(ctx, dir)
	case GRPC, GRPCTLS:
		return dialGRPC(dir, path == GRPCTLS)
	}
	return nil, fmt.Errorf("ipcbench: unknown path %q", path)
}

type socketpairConn struct {
	c        net.Conn
	out, buf []byte
}

func dialSocketpair() (conn, error) {
	f := os.NewFile(3, "socketpair")
	if f == nil {
		return nil, errors.New("ipcbench: socketpair caller: no fd 3")
	}
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	return &socketpairConn{c: c, out: make([]byte, blockSize), buf: make([]byte, blockSize)}, nil
}

func (s *socketpairConn) caller(int) func(uint64) error {
	return func(k uint64) error {
		binary.BigEndian.PutUint64(s.out, k)
		if _, err := s.c.Write(s.out); err != nil {
			return err
		}
		if _, err := io.ReadFull(s.c, s.buf); err != nil {
			return err
		}
		if got := binary.BigEndian.Uint64(s.buf); got != k {
			return fmt.Errorf("echo of call %d carries %d", k, got)
		}
		return nil
	}
}
func (s *socketpairConn) parallel() bool { return false }
func (s *socketpairConn) close()         { s.c.Close() }

type rawConn struct {
	g       *guest.Conn
	req, in frame.Frame
	payload []byte
}

func dialRaw(dir string) (conn, error) {
	g, err := guest.Dial(socketPath(dir, "ping"))
	if err != nil {
		return nil, err
	}
	return &rawConn{g: g, payload: make([]byte, rawRequestLen)}, nil
}

func (r *rawConn) caller(int) func(uint64) error {
	return func(k uint64) error {
		binary.BigEndian.PutUint64(r.payload, k)
		if err := frame.Encode(&r.req, frame.TC, pingAPID, pongAPID, r.payload); err != nil {
			return err
		}
		if err := r.g.WriteFrame(&r.req); err != nil {
			return err
		}
		for {
			if err := r.g.ReadFrame(&r.in); err != nil {
				return err
			}
			if r.in.Type() != frame.TM {
				continue // the switch's notices
			}
			p := r.in.Payload()
			if len(p) != rawReplyLen || binary.BigEndian.Uint64(p) != k {
				return fmt.Errorf("reply to frame %d: %d bytes, %x", k, len(p), p[:min(8, len(p))])
			}
			return nil
		}
	}
}
func (r *rawConn) parallel() bool { return false }
func (r *rawConn) close()         { r.g.Close() }

type ipcConn struct {
	ctx    context.Context
	node   *switched.Node
	client *cameraipc.CameraClient
	want   cameraipc.CameraStatus
}

func dialIPC(ctx context.Context, dir string) (conn, error) {
	node, err := switched.Dial(ctx, switched.Config{Socket: socketPath(dir, "processor"), Tenant: "processor",
		Policy: Policy(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	// The camera serving the calls is a fresh camsim: its status is a
	// fresh camsim's.
	want, err := new(camsim.Camera).Status(ctx, ipc.Caller{})
	if err != nil {
		node.Close()
		return nil, err
	}
	return &ipcConn{ctx: ctx, node: node, client: cameraipc.NewCameraClient(node.Client(cameraAPID)), want: want}, nil
}

func (c *ipcConn) caller(int) func(uint64) error {
	return func(k uint64) error {
		st, err := c.client.Status(c.ctx)
		if err != nil {
			return err
		}
		if st != c.want {
			return fmt.Errorf("status %+v, want %+v", st, c.want)
		}
		return nil
	}
}
func (c *ipcConn) parallel() bool { return true }
func (c *ipcConn) close()         { c.node.Close() }
