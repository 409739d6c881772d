// Package uplink carries the APID switch's ground link over UDP, in both
// directions as space engineers name them: UDP is the downlink (space to
// ground), sending each Space Packet the switch gives it as one datagram
// (how ground systems such as cFS's CI/TO, Yamcs and COSMOS take CCSDS
// packets); Listener is the uplink (ground to space), receiving datagrams,
// unwrapping each command in its layout (ccsds.Layout: plain, cfs or
// spacenet) into a frame and handing it to the switch for delivery to the
// tenant owning its destination APID. The switch checks such a frame as it
// checks a tenant's: its source APID must be one the policy gives the
// ground (0x7F0 by default), else it is refused (Apid_not_allocated) and
// counted Undeliverable here.
//
// It is not a CCSDS stack (no transfer frames, no segmentation: see package
// ccsds) and not a DTN bundle agent; it does not route (the switch does).
package uplink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"spacenet/apid/ccsds"
	"spacenet/apid/frame"
	"spacenet/apid/policy"
	"spacenet/internal/logging"
)

// ParseURL parses "udp://host:port" (host an IP literal or a name) into a
// UDP address.
func ParseURL(s string) (*net.UDPAddr, error) {
	rest, ok := strings.CutPrefix(s, "udp://")
	if !ok {
		return nil, fmt.Errorf("uplink: %q: want udp://host:port", s)
	}
	if ap, err := netip.ParseAddrPort(rest); err == nil {
		return net.UDPAddrFromAddrPort(ap), nil
	}
	a, err := net.ResolveUDPAddr("udp", rest)
	if err != nil {
		return nil, fmt.Errorf("uplink: %q: %w", s, err)
	}
	return a, nil
}

// UDP sends Space Packets as UDP datagrams to one address. It implements
// apidswitch.Downlink.
//
// A ground station that is not listening answers a datagram with an ICMP
// error (port unreachable). On a connected UDP socket Linux reports it as
// the error of the next send, which is then not sent: every other packet
// would be lost, and each failure blamed on the wrong frame. So UDP asks
// the kernel (IP_RECVERR, IPV6_RECVERR) to queue every such error with the
// datagram it is about; a goroutine reads that queue and hands each refused
// packet to the function SetRefused gave (the switch answers its sender
// with Link_failed), and a send that meets a pending error is tried again,
// since the error was about an earlier datagram.
type UDP struct {
	c       *net.UDPConn
	raw     syscall.RawConn
	sent    atomic.Uint64
	refused atomic.Uint64
	onRef   atomic.Pointer[func(pkt []byte)]
	done    chan struct{}
}

// Dial opens a UDP uplink to url ("udp://host:port") and starts reading
// the refusals of the ground; Close ends that.
func Dial(url string) (*UDP, error) {
	a, err := ParseURL(url)
	if err != nil {
		return nil, err
	}
	c, err := net.DialUDP("udp", nil, a)
	if err != nil {
		return nil, fmt.Errorf("uplink: dial %s: %w", url, err)
	}
	raw, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("uplink: dial %s: %w", url, err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		if a.IP.To4() != nil {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_RECVERR, 1)
		} else {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVERR, 1)
		}
	}); err != nil || serr != nil {
		c.Close()
		return nil, fmt.Errorf("uplink: dial %s: asking for ICMP errors: %w", url, errors.Join(err, serr))
	}
	u := &UDP{c: c, raw: raw, done: make(chan struct{})}
	go u.readRefusals()
	return u, nil
}

// SetRefused makes fn take every packet the ground refused after it was
// sent (fn runs on the uplink's own goroutine; pkt is valid during the
// call). Without it, refusals are only counted (Refused).
func (u *UDP) SetRefused(fn func(pkt []byte)) { u.onRef.Store(&fn) }

// SendPacket sends pkt as one datagram. A send that fails with the error
// the ground gave an earlier datagram (ECONNREFUSED and the like: that
// datagram is accounted for by its own refusal) is tried again.
func (u *UDP) SendPacket(pkt []byte) error {
	// Counted first: its refusal may be read before Write returns.
	u.sent.Add(1)
	_, err := u.c.Write(pkt)
	// Each failed Write takes one pending error; reading the error queue
	// may set the next one, so a burst of refusals can fail a few tries.
	for try := 0; err != nil && pendingICMP(err) && try < maxPendingTries; try++ {
		_, err = u.c.Write(pkt)
	}
	if err != nil {
		u.sent.Add(^uint64(0))
		return fmt.Errorf("uplink: send %d-octet packet: %w", len(pkt), err)
	}
	return nil
}

// maxPendingTries bounds the sends of one packet that meet errors about
// earlier ones.
const maxPendingTries = 16

// pendingICMP reports whether err is an ICMP error the kernel kept for the
// socket (about an earlier datagram), not a failure of this send.
func pendingICMP(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTDOWN)
}

// readRefusals reads the socket's error queue until the socket closes:
// each entry is a datagram the ground (or the network) refused.
func (u *UDP) readRefusals() {
	defer close(u.done)
	buf := make([]byte, ccsds.MaxPacketSize+64)
	oob := make([]byte, 256)
	for {
		var failed error
		err := u.raw.Read(func(fd uintptr) bool {
			for {
				n, _, _, _, err := unix.Recvmsg(int(fd), buf, oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
				switch {
				case err == unix.EINTR:
					continue
				case err == unix.EAGAIN:
					// Datagrams the ground sent to this port are not
					// for us: read and dropped, so they do not wake us.
					if _, _, err := unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT); err == nil {
						continue
					}
					return false
				case err != nil:
					failed = err
					return true
				}
				u.refused.Add(1)
				if fn := u.onRef.Load(); fn != nil {
					(*fn)(buf[:n])
				}
			}
		})
		if err != nil || failed != nil {
			return // closed, or the error queue cannot be read
		}
	}
}

// Sent is how many packets were sent.
func (u *UDP) Sent() uint64 { return u.sent.Load() }

// Refused is how many of them the ground refused after they were sent (an
// ICMP error came back).
func (u *UDP) Refused() uint64 { return u.refused.Load() }

// LocalAddr is the address packets are sent from.
func (u *UDP) LocalAddr() net.Addr { return u.c.LocalAddr() }

// Close closes the socket and waits for the goroutine reading refusals.
func (u *UDP) Close() error {
	err := u.c.Close()
	<-u.done
	return err
}

// Summary is the counters as "name=value" pairs, for a log or a report.
func (u *UDP) Summary() string {
	return fmt.Sprintf("sent=%d refused_by_ground=%d", u.Sent(), u.Refused())
}

// GroundDownlink is a downlink OpenDownlink opens: UDP or TCP.
type GroundDownlink interface {
	SendPacket(pkt []byte) error    // apidswitch.Downlink
	SetRefused(fn func(pkt []byte)) // packets the ground refused after they were sent (UDP)
	Summary() string                // the counters, "name=value ..."
	Close() error
}

// OpenDownlink opens the downlink url names: "udp://host:port" (Dial),
// "tcp://host:port" or "tcp-listen://host:port" (DialTCP, with the default
// queue).
func OpenDownlink(url string) (GroundDownlink, error) {
	if strings.HasPrefix(url, "tcp://") || strings.HasPrefix(url, "tcp-listen://") {
		return DialTCP(url, 0)
	}
	return Dial(url)
}

// Injector takes a frame from the ground: apidswitch.Switch.Inject.
type Injector func(f *frame.Frame) error

// ListenerStats counts what a Listener did with the datagrams it received.
// Received = Injected + Idle + Refused + Undeliverable in every snapshot: a
// datagram is counted once its fate is known.
type ListenerStats struct {
	Received      uint64 // datagrams
	Injected      uint64 // frames the switch accepted
	Idle          uint64 // idle packets (APID 0x7FF), skipped
	Refused       uint64 // datagrams that are not a command in the listener's layout
	Checksum      uint64 // of Refused: cFS commands whose checksum is wrong
	Undeliverable uint64 // frames the switch refused (Apid_not_allocated, No_route, Host_busy, ...)
	ConnsRefused  uint64 // TCP: ground connections closed at once, MaxTCPGrounds being served (not in Received)
}

// ListenConfig is what Listen needs besides the address.
type ListenConfig struct {
	// Layout is how commands from the ground are laid out (the zero value
	// is ccsds.Plain).
	Layout ccsds.Layout
	// Ground gives the source APID of the frames of ccsds.Plain and
	// ccsds.CFS commands, which carry none (Switch.GroundAPID); nil means
	// policy.DefaultGroundAPID. It is called once per datagram.
	Ground func() frame.APID
	// Inject takes each command's frame; required.
	Inject Injector
	// Logger: nil means slog.Default(). It is written through a bounded
	// buffer (logging.Async) that Serve drains, so that a log writer nobody
	// reads cannot stall the listener; one that already writes through a
	// logging.Async is used as it is.
	Logger *slog.Logger
}

// Listener receives Space Packets from the ground on a UDP socket (the
// uplink: ground to space) and injects the frame of each into the switch.
type Listener struct {
	c   *net.UDPConn // a UDP listener's socket, or nil
	ln  net.Listener // a TCP listener's, or nil
	cfg ListenConfig
	log *slog.Logger // writes through logs: never blocks Serve

	logs     *logging.Async // the caller's handler behind a bounded buffer
	ownLogs  bool           // Serve starts and closes logs
	logLimit *logging.Limiter

	injected, idle, refused, checksum, undeliverable, connsRefused atomic.Uint64
}

// Listen listens on url: "udp://host:port" takes one packet per datagram,
// "tcp://host:port" accepts ground connections, each carrying packets back
// to back (port 0 picks one). Packets are handed to cfg.Inject once Serve
// runs.
func Listen(url string, cfg ListenConfig) (*Listener, error) {
	if cfg.Inject == nil {
		return nil, errors.New("uplink: ListenConfig.Inject is nil")
	}
	if cfg.Ground == nil {
		cfg.Ground = func() frame.APID { return policy.DefaultGroundAPID }
	}
	log, logs, own := logging.Wrap(cfg.Logger, 0)
	d := &Listener{cfg: cfg, log: log, logs: logs, ownLogs: own,
		logLimit: logging.NewLimiter(logging.LimitConfig{})}
	if rest, ok := strings.CutPrefix(url, "tcp://"); ok {
		ln, err := net.Listen("tcp", rest)
		if err != nil {
			return nil, fmt.Errorf("uplink: listen %s: %w", url, err)
		}
		d.ln = ln
		return d, nil
	}
	a, err := ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("%w (or tcp://host:port)", err)
	}
	if d.c, err = net.ListenUDP("udp", a); err != nil {
		return nil, fmt.Errorf("uplink: listen %s: %w", url, err)
	}
	return d, nil
}

// Addr is the address the listener listens on.
func (d *Listener) Addr() net.Addr {
	if d.ln != nil {
		return d.ln.Addr()
	}
	return d.c.LocalAddr()
}

// Serve reads datagrams until ctx is done and closes the socket when it
// returns, whether ctx ended or a read failed. Each datagram must be
// exactly one Space Packet in the listener's layout; anything else is
// counted and logged, never fatal. Logs of refusals are thinned
// (logging.Limiter's default: a few a second of each kind, each with the
// count so far and the number of lines suppressed since the last), so that
// a flood of bad datagrams cannot flood the log; the counters count every
// one. Serve writes what is left of the log as it returns, waiting at most
// a second for a stuck writer.
func (d *Listener) Serve(ctx context.Context) error {
	if d.ownLogs {
		d.logs.Start()
		defer d.logs.CloseWithin(time.Second)
	}
	if d.ln != nil {
		return d.serveTCP(ctx)
	}
	defer d.c.Close()
	stop := context.AfterFunc(ctx, func() { d.c.Close() })
	defer stop()
	buf := make([]byte, 64*1024)
	var f frame.Frame
	for read := 1; ; read++ {
		if read%listenerYield == 0 {
			runtime.Gosched()
		}
		n, from, err := d.c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("uplink: read on %s: %w", d.c.LocalAddr(), err)
		}
		d.take(&f, buf[:n], from)
	}
}

// take unwraps one packet from the ground and injects its frame, counting
// and logging its fate.
func (d *Listener) take(f *frame.Frame, pkt []byte, from netip.AddrPort) {
	if _, err := d.cfg.Layout.UnwrapUp(f, pkt, d.cfg.Ground()); err != nil {
		if errors.Is(err, ccsds.ErrIdle) {
			d.idle.Add(1)
			return
		}
		k := d.refused.Add(1)
		if errors.Is(err, ccsds.ErrChecksum) {
			d.checksum.Add(1) // after refused: a snapshot never sees more
		}
		if s, ok := d.logLimit.Allow("ground", logRefused); ok {
			d.log.Warn("ground packet refused", "from", from, "layout", d.cfg.Layout.String(), "octets", len(pkt), "count", k, "err", err, "suppressed", s)
		}
		return
	}
	if err := d.cfg.Inject(f); err != nil {
		k := d.undeliverable.Add(1)
		if s, ok := d.logLimit.Allow("ground", logUndeliverable); ok {
			d.log.Warn("ground frame not delivered", "from", from, "apid", f.APID(), "dest", f.Dest(), "count", k, "err", err, "suppressed", s)
		}
		return
	}
	d.injected.Add(1)
}

// The kinds of the listener's per-datagram log lines, thinned by
// Listener.logLimit.
// listenerYield is how many datagrams the uplink listener reads before it
// yields: a read that finds one does not block, so a ground sending flat
// out would keep the goroutine on its processor and the tenants'
// goroutines waiting (cmd/spacenet's attack suite, case ground).
const listenerYield = 64

const (
	logRefused logging.Reason = iota + 1
	logUndeliverable
	logConnRefused
)

// LogsDropped is how many log records were dropped because the log writer
// was behind.
func (d *Listener) LogsDropped() uint64 { return d.logs.Dropped() }

// Stats returns the listener's counters.
func (d *Listener) Stats() ListenerStats {
	s := ListenerStats{Checksum: d.checksum.Load()} // before Refused
	s = ListenerStats{
		Checksum:      s.Checksum,
		Injected:      d.injected.Load(),
		Idle:          d.idle.Load(),
		Refused:       d.refused.Load(),
		Undeliverable: d.undeliverable.Load(),
		ConnsRefused:  d.connsRefused.Load(),
	}
	s.Received = s.Injected + s.Idle + s.Refused + s.Undeliverable
	return s
}

// addrPortOf is a's address and port, or the zero value.
func addrPortOf(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort()
	}
	return netip.AddrPort{}
}
