// Package tcppeer is the Linux kernel's side of the tests that run our
// TCP against the kernel's: plain sockets, driven by one argument list,
// reporting on standard output in lines that Parse reads back. The
// ip/stack kernel tests run it in a network namespace (their test binary
// re-executed), the vmtest TCP test inside a QEMU guest (the static
// program internal/vmtest/tcppeer).
//
//	[-deadline D] listen ADDR SIZE   print "listening", accept one connection
//	[-deadline D] dial ADDR SIZE     connect to ADDR
//	[-deadline D] echo ADDR          print "listening", accept one connection
//	                                 and send back what it reads until EOF
//
// Everything ends by D from the start (default DefaultDeadline; a caller
// passes its own test's bound): the accept or connect, which also ends
// after DialTimeout, and the transfer.
//
// In listen and dial the peer sends the first SIZE bytes of the
// checkstream stream, then half-closes, while it hashes what it reads
// until EOF. When half of SIZE has arrived it prints the kernel's view of
// the connection: `ss -tino` (each line prefixed "ss "; -i prints the
// options wscale and mss, -o makes ss print ts and sack) and "tcpinfo
// OPTIONS TOTAL_RETRANS" from TCP_INFO. At the end it prints "received N
// sha256 HEX" (echo: "received N sha256 -"). ss lists no closed
// connection: the other side must not finish the exchange (send its FIN)
// before this look, or the ss lines say nothing of it.
package tcppeer

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"spacenet/internal/checkstream"
)

// Timeouts of a peer: to connect or be connected to, and for the whole
// run unless -deadline says otherwise.
const (
	DialTimeout     = 30 * time.Second
	DefaultDeadline = 2 * time.Minute
)

// Main runs the peer with args (see the package comment), printing to
// standard output, and returns the process's exit code: 0, 1 when the
// transfer failed, 2 for bad arguments. The failure is printed as a
// line "tcppeer: ERROR".
func Main(args []string) int {
	if err := Run(args, os.Stdout); err != nil {
		fmt.Println("tcppeer:", err)
		var usage usageError
		if errors.As(err, &usage) {
			return 2
		}
		return 1
	}
	return 0
}

// usageError is a bad argument list.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// Run runs the peer with args (see the package comment), printing its
// lines to out.
func Run(args []string, out io.Writer) error {
	flags := flag.NewFlagSet("tcppeer", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	limit := flags.Duration("deadline", DefaultDeadline, "end everything by this long from the start")
	if err := flags.Parse(args); err != nil {
		return usageError{fmt.Sprintf("%q: %v", args, err)}
	}
	if *limit <= 0 {
		return usageError{fmt.Sprintf("-deadline %v: not positive", *limit)}
	}
	deadline := time.Now().Add(*limit)
	args = flags.Args()
	if len(args) == 2 && args[0] == "echo" {
		return echo(args[1], out, deadline)
	}
	if len(args) != 3 || (args[0] != "listen" && args[0] != "dial") {
		return usageError{fmt.Sprintf("usage: [-deadline D] listen|dial ADDR SIZE or [-deadline D] echo ADDR, not %q", args)}
	}
	size, err := strconv.ParseInt(args[2], 10, 64)
	if err != nil || size < 0 {
		return usageError{fmt.Sprintf("SIZE %q: not a byte count", args[2])}
	}
	var c net.Conn
	if args[0] == "listen" {
		if c, err = accept(args[1], out, deadline); err != nil {
			return err
		}
	} else {
		d := net.Dialer{Timeout: DialTimeout, Deadline: deadline}
		if c, err = d.Dial("tcp", args[1]); err != nil {
			return err
		}
	}
	defer c.Close()
	c.SetDeadline(deadline)
	tc := c.(*net.TCPConn)
	n, sum, err := checkstream.DuplexHalfway(tc, size, func() { show(tc, out) })
	if err != nil {
		return fmt.Errorf("after %d bytes read: %w", n, err)
	}
	fmt.Fprintf(out, "received %d sha256 %s\n", n, hex.EncodeToString(sum[:]))
	return nil
}

// accept listens on addr, prints "listening" and accepts one connection,
// waiting for it no longer than DialTimeout and not beyond deadline.
func accept(addr string, out io.Writer, deadline time.Time) (net.Conn, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	if err := l.(*net.TCPListener).SetDeadline(earlier(time.Now().Add(DialTimeout), deadline)); err != nil {
		return nil, err
	}
	fmt.Fprintln(out, "listening")
	return l.Accept()
}

// earlier is the earlier of a and b.
func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// echo accepts one connection on addr and sends back what it reads until
// EOF or deadline.
func echo(addr string, out io.Writer, deadline time.Time) error {
	c, err := accept(addr, out, deadline)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(deadline)
	n, err := io.Copy(c, c)
	fmt.Fprintf(out, "received %d sha256 -\n", n)
	if err != nil {
		return fmt.Errorf("echo: %w", err)
	}
	return nil
}

// ssPath is the ss program: from PATH, else /usr/bin/ss (a guest's
// init may run with no PATH).
func ssPath() string {
	if p, err := exec.LookPath("ss"); err == nil {
		return p
	}
	return "/usr/bin/ss"
}

// show prints ss -tino's lines about c, each prefixed "ss ", and its
// TCP_INFO as "tcpinfo OPTIONS TOTAL_RETRANS".
func show(c *net.TCPConn, out io.Writer) {
	dst := c.RemoteAddr().(*net.TCPAddr).AddrPort()
	dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	ss, err := exec.Command(ssPath(), "-tino", "dst", dst.String()).CombinedOutput()
	if err != nil {
		fmt.Fprintf(out, "ss failed: %v\n", err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(ss)), "\n") {
		fmt.Fprintln(out, "ss "+l)
	}
	raw, err := c.SyscallConn()
	if err != nil {
		fmt.Fprintln(out, "tcpinfo failed:", err)
		return
	}
	var info *unix.TCPInfo
	if cerr := raw.Control(func(fd uintptr) { info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); cerr != nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(out, "tcpinfo failed:", err)
		return
	}
	fmt.Fprintf(out, "tcpinfo %d %d\n", info.Options, info.Total_retrans)
}

// Result is what a peer printed.
type Result struct {
	Received int64  // bytes read
	Sum      string // their sha256 in hex ("-" from echo)
	Options  uint8  // tcpi_options halfway through: TCPI_OPT_TIMESTAMPS 1, SACK 2, WSCALE 4
	Retrans  int    // tcpi_total_retrans halfway through
	SS       SS     // ss -tino halfway through
	Output   string // all it printed, for error messages
}

// SS is what `ss -tino` says of a connection's options.
type SS struct {
	Line     string // the line with the options
	TS, SACK bool
	SndScale int // wscale:SND,RCV: SND is the peer's (the scale the peer of the kernel sent)
	RcvScale int
	MSS      int // the kernel's send MSS
}

// Parse reads a peer's output. Lines it does not know (failures) are
// left in Output only.
func Parse(out string) Result {
	r := Result{Output: out}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 4 && f[0] == "received":
			r.Received, _ = strconv.ParseInt(f[1], 10, 64)
			r.Sum = f[3]
		case len(f) == 3 && f[0] == "tcpinfo":
			o, _ := strconv.ParseUint(f[1], 10, 8)
			r.Options = uint8(o)
			r.Retrans, _ = strconv.Atoi(f[2])
		case len(f) > 1 && f[0] == "ss" && strings.Contains(l, "wscale:"):
			r.SS = parseSS(strings.TrimPrefix(l, "ss "))
		}
	}
	return r
}

// parseSS reads the options from ss -tino's line under the
// connection's, e.g. "ts sack cubic wscale:7,7 rto:204 ... mss:1448 ...".
func parseSS(l string) SS {
	s := SS{Line: strings.TrimSpace(l)}
	for _, f := range strings.Fields(l) {
		k, v, _ := strings.Cut(f, ":")
		switch k {
		case "ts":
			s.TS = true
		case "sack":
			s.SACK = true
		case "wscale":
			a, b, _ := strings.Cut(v, ",")
			s.SndScale, _ = strconv.Atoi(a)
			s.RcvScale, _ = strconv.Atoi(b)
		case "mss":
			s.MSS, _ = strconv.Atoi(v)
		}
	}
	return s
}
