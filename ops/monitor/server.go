package monitor

import (
	"bufio"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"spacenet/apid/apidswitch"
	"spacenet/internal/suggest"
	"spacenet/ops/control"
)

// SocketName is the monitor socket's name in a switch's socket directory.
const SocketName = ".monitor"

// Limits of the server.
const (
	MaxClients     = apidswitch.MaxTaps
	RequestTimeout = 2 * time.Second // a client has this long to send its request
	FinishTimeout  = time.Second     // at Close, a client has this long to take what is left
	readBatch      = 256             // records taken from the tap at once
)

// Path is the monitor socket of the switch whose sockets are in dir.
func Path(dir string) string { return filepath.Join(dir, SocketName) }

// Server serves a switch's taps on its monitor socket.
type Server struct {
	sw    *apidswitch.Switch
	ln    *net.UnixListener
	path  string
	file  fs.FileInfo
	log   *slog.Logger
	slots chan struct{}
	wg    sync.WaitGroup

	mu      sync.Mutex
	clients map[*client]struct{}
	closed  bool
}

// client is one monitor being served.
type client struct {
	c   *net.UnixConn
	tap *apidswitch.Tap // nil until the request is read
}

// Listen opens the monitor socket at path (mode 0600; see
// control.ListenSocket) and serves sw's frames to clients of this
// process's uid (or root) until Close.
func Listen(path string, sw *apidswitch.Switch, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	ln, fi, err := control.ListenSocket(path, "monitor socket")
	if err != nil {
		return nil, err
	}
	s := &Server{sw: sw, ln: ln, path: path, file: fi, log: log,
		slots: make(chan struct{}, MaxClients), clients: make(map[*client]struct{})}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		c := control.Accept(s.ln, s.log, "monitor socket")
		if c == nil {
			return
		}
		if !control.Trusted(c) {
			c.Close()
			continue
		}
		select {
		case s.slots <- struct{}{}:
		default:
			c.SetWriteDeadline(time.Now().Add(FinishTimeout))
			c.Write(AppendError(nil, "monitor: busy: "+strconv.Itoa(MaxClients)+" monitors already served"))
			c.Close()
			continue
		}
		cl := &client{c: c}
		if !s.add(cl) {
			c.Close()
			<-s.slots
			return
		}
		s.wg.Add(1)
		go s.serve(cl)
	}
}

// add registers cl, unless the server is closing.
func (s *Server) add(cl *client) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.clients[cl] = struct{}{}
	return true
}

func (s *Server) remove(cl *client) {
	s.mu.Lock()
	delete(s.clients, cl)
	s.mu.Unlock()
}

// serve reads cl's request, opens its tap and streams the tap's records
// until the tap closes (the client went away, or Close).
func (s *Server) serve(cl *client) {
	c := cl.c
	defer s.wg.Done()
	defer c.Close()
	// The slot is given back before the client can see the end (an Error
	// record, or EOF): a client that saw its monitor end may start another.
	release := sync.OnceFunc(func() { s.remove(cl); <-s.slots })
	defer release()
	refuse := func(msg string) {
		release()
		s.refuse(c, msg)
	}
	c.SetReadDeadline(time.Now().Add(RequestTimeout))
	br := bufio.NewReaderSize(io.LimitReader(c, MaxRequest), MaxRequest)
	line, err := br.ReadSlice('\n')
	if err != nil {
		refuse("monitor: no request line (a JSON object and a newline, at most 4096 bytes)")
		return
	}
	if br.Buffered() > 0 {
		refuse("monitor: bytes after the request line: a monitor writes one line, then only reads")
		return
	}
	req, err := ParseRequest(line)
	var filter apidswitch.TapFilter
	size := 0
	if err == nil {
		filter, size, err = req.Filter()
	}
	if err == nil {
		err = s.checkPeers(filter.Tenants)
	}
	if err != nil {
		refuse(err.Error())
		return
	}
	tap, err := s.sw.Tap(filter, size)
	if err != nil {
		refuse(err.Error())
		return
	}
	defer tap.Close()
	s.mu.Lock()
	cl.tap = tap
	closing := s.closed
	s.mu.Unlock()
	if closing {
		tap.Close()
	}
	c.SetReadDeadline(time.Time{})
	// The client only reads from now on: its end, or any byte it writes,
	// closes the tap, which ends the stream below.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		var b [1]byte
		c.Read(b[:])
		tap.Close()
	}()
	s.stream(c, tap)
}

// stream writes the Ready record, then tap's records as they come, a Stats
// record whenever the drops grow, and the last Stats once the tap is read
// to its end.
func (s *Server) stream(c *net.UnixConn, tap *apidswitch.Tap) {
	bw := bufio.NewWriterSize(c, 64<<10)
	out := AppendReady(nil)
	if _, err := bw.Write(out); err != nil || bw.Flush() != nil {
		return
	}
	recs := make([]apidswitch.TapRecord, readBatch)
	var dropped uint64
	for {
		n, st, err := tap.Read(recs, nil)
		for i := range recs[:n] {
			out = AppendFrame(out[:0], &recs[i])
			bw.Write(out)
			recs[i] = apidswitch.TapRecord{}
		}
		if st.Dropped != dropped || err != nil {
			dropped = st.Dropped
			out = AppendStats(out[:0], st)
			bw.Write(out)
		}
		if bw.Flush() != nil || err != nil {
			return // the client is gone (or slow past Close), or the tap ended
		}
	}
}

// refuse answers a refused request with an Error record.
func (s *Server) refuse(c *net.UnixConn, msg string) {
	c.SetWriteDeadline(time.Now().Add(FinishTimeout))
	c.Write(AppendError(nil, msg))
}

// checkPeers refuses a tenant name the switch does not have, with a
// suggestion.
func (s *Server) checkPeers(names []string) error {
	if len(names) == 0 {
		return nil
	}
	known := []string{apidswitch.GroundPeer}
	for _, c := range s.sw.Counters() {
		known = append(known, c.Tenant)
	}
	for _, n := range names {
		if slices.Contains(known, n) {
			continue
		}
		msg := "monitor: no tenant " + n + " in the switch's policy"
		if m := suggest.Closest(n, known); m != "" {
			msg += " (did you mean " + m + "?)"
		}
		return errors.New(msg)
	}
	return nil
}

// Close stops accepting, closes every client's tap (each client gets what
// its tap still holds and the last Stats record, within FinishTimeout),
// waits for them and removes the socket file if it is still its own.
func (s *Server) Close() error {
	s.ln.Close()
	s.mu.Lock()
	s.closed = true
	for cl := range s.clients {
		cl.c.SetWriteDeadline(time.Now().Add(FinishTimeout))
		cl.c.SetReadDeadline(time.Now()) // a request still awaited
		if cl.tap != nil {
			cl.tap.Close()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
	return control.RemoveSocket(s.path, s.file)
}
