package tcppeer

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"

	"spacenet/internal/checkstream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestParse reads back the lines the peer prints.
func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		want      Result
	}{
		{"transfer", "listening\n" +
			"ss State Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n" +
			"ss ESTAB 0 0 10.77.0.1:5001 10.77.0.2:41000 timer:(on,204ms,0) ino:0 sk:1\n" +
			"ss \t ts sack cubic wscale:7,9 rto:204 rtt:1.5/0.75 mss:1448 pmtu:1500 rcvmss:1448\n" +
			"tcpinfo 7 12\n" +
			"received 4194304 sha256 0a1b\n",
			Result{Received: 4194304, Sum: "0a1b", Options: 7, Retrans: 12,
				SS: SS{Line: "ts sack cubic wscale:7,9 rto:204 rtt:1.5/0.75 mss:1448 pmtu:1500 rcvmss:1448",
					TS: true, SACK: true, SndScale: 7, RcvScale: 9, MSS: 1448}}},
		{"echo", "listening\nreceived 32000 sha256 -\n", Result{Received: 32000, Sum: "-"}},
		{"failure", "ss failed: exit status 1\ntcpinfo failed: bad file descriptor\ntcppeer: after 12 bytes read: read: connection reset by peer\n",
			Result{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.want.Output = tc.out
			if got := Parse(tc.out); got != tc.want {
				t.Errorf("Parse:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestRunDial: the peer dials a loopback listener that runs the duplex
// transfer too; both sides receive the stream, and the peer's report
// says so with its halfway look at the connection. The listener holds
// back its FIN until the peer has printed that look: else the whole
// exchange can end before the peer reads half, and ss no longer lists
// a closed connection.
func TestRunDial(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const size = 3*checkstream.Period + 5
	out := &halfwayWriter{seen: make(chan struct{})}
	seen, ran := out.seen, make(chan struct{})
	res := make(chan checkstream.Result, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			res <- checkstream.Result{Err: err}
			return
		}
		defer c.Close()
		var r checkstream.Result
		r.N, r.Sum, r.Err = checkstream.Duplex(heldFIN{c.(*net.TCPConn), seen, ran}, size)
		res <- r
	}()
	err = Run([]string{"dial", l.Addr().String(), strconv.Itoa(size)}, out)
	close(ran)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	r, theirs := Parse(out.String()), <-res
	want := checkstream.Sum(size)
	if r.Received != size || r.Sum != hex.EncodeToString(want[:]) {
		t.Errorf("peer received %d, sha256 %s; want %d, %x\n%s", r.Received, r.Sum, size, want, r.Output)
	}
	if theirs.Err != nil || theirs.N != size || theirs.Sum != want {
		t.Errorf("listener received %d (%v), sum ok %v", theirs.N, theirs.Err, theirs.Sum == want)
	}
	// Loopback's TCP negotiates timestamps, SACK and window scaling
	// (the kernel's defaults).
	if r.Options&7 != 7 {
		t.Errorf("tcpinfo options %#x, want 7\n%s", r.Options, r.Output)
	}
	if _, err := exec.LookPath(ssPath()); err == nil && (!r.SS.TS || !r.SS.SACK || r.SS.MSS == 0) {
		t.Errorf("ss -tino: %+v\n%s", r.SS, r.Output)
	}
}

// halfwayWriter is the peer's output; it closes seen once the peer has
// printed the last line of its halfway look ("tcpinfo ...", one Write
// per line).
type halfwayWriter struct {
	bytes.Buffer
	seen chan struct{}
}

func (w *halfwayWriter) Write(p []byte) (int, error) {
	if w.seen != nil && bytes.HasPrefix(p, []byte("tcpinfo")) {
		defer func() { close(w.seen); w.seen = nil }()
	}
	return w.Buffer.Write(p)
}

// heldFIN is a connection whose CloseWrite waits until seen or ran is
// closed (the peer's halfway look printed, or the peer done).
type heldFIN struct {
	*net.TCPConn
	seen, ran <-chan struct{}
}

func (c heldFIN) CloseWrite() error {
	select {
	case <-c.seen:
	case <-c.ran:
	}
	return c.TCPConn.CloseWrite()
}

// TestRunListenDeadline: a listening peer nobody connects to gives up at
// its deadline, the accept timing out (it had no deadline: it waited for
// ever).
func TestRunListenDeadline(t *testing.T) {
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- Run([]string{"-deadline=100ms", "listen", "127.0.0.1:0", "5"}, &out) }()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) || out.String() != "listening\n" {
			t.Errorf("Run = %v, printed %q; want the accept's timeout, after listening", err, out.String())
		}
	case <-time.After(DialTimeout):
		t.Fatalf("Run still accepting %v on, its deadline 100ms", DialTimeout)
	}
}

// TestRunUsage: a bad argument list names what is wrong and exits 2.
func TestRunUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"listen", "127.0.0.1:0"}, {"send", "127.0.0.1:1", "5"}, {"dial", "127.0.0.1:1", "-1"}, {"dial", "127.0.0.1:1", "many"},
		{"-deadline=soon", "echo", "127.0.0.1:1"}, {"-deadline=0s", "echo", "127.0.0.1:1"}, {"-size=5", "dial", "127.0.0.1:1", "5"}} {
		var out bytes.Buffer
		var usage usageError
		if err := Run(args, &out); !errors.As(err, &usage) || out.Len() != 0 {
			t.Errorf("Run(%q) = %v, printed %q; want a usage error, nothing printed", args, err, out.String())
		}
	}
}
