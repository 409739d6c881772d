// Package uplink carries the APID switch's ground link over UDP: UDP sends
// each CCSDS Space Packet the switch gives it as one datagram (how ground
// systems such as cFS's CI/TO and Yamcs take CCSDS packets), and Downlink
// receives datagrams, unwraps each Space Packet into a frame and hands it
// to the switch for delivery to the tenant owning its destination APID.
// The switch checks such a frame as it checks a tenant's: its source APID
// must be one the policy gives the ground (0x7F0 by default), else it is
// refused (Apid_not_allocated) and counted Undeliverable here.
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
	"strings"
	"sync/atomic"
	"time"

	"spacenet/ccsds"
	"spacenet/frame"
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
// apidswitch.Uplink.
type UDP struct {
	c    *net.UDPConn
	sent atomic.Uint64
}

// Dial opens a UDP uplink to url ("udp://host:port").
func Dial(url string) (*UDP, error) {
	a, err := ParseURL(url)
	if err != nil {
		return nil, err
	}
	c, err := net.DialUDP("udp", nil, a)
	if err != nil {
		return nil, fmt.Errorf("uplink: dial %s: %w", url, err)
	}
	return &UDP{c: c}, nil
}

// SendPacket sends pkt as one datagram.
func (u *UDP) SendPacket(pkt []byte) error {
	if _, err := u.c.Write(pkt); err != nil {
		return fmt.Errorf("uplink: send %d-octet packet: %w", len(pkt), err)
	}
	u.sent.Add(1)
	return nil
}

// Sent is how many packets were sent.
func (u *UDP) Sent() uint64 { return u.sent.Load() }

// LocalAddr is the address packets are sent from.
func (u *UDP) LocalAddr() net.Addr { return u.c.LocalAddr() }

// Close closes the socket.
func (u *UDP) Close() error { return u.c.Close() }

// Injector takes a frame from the ground: apidswitch.Switch.Inject.
type Injector func(f *frame.Frame) error

// DownlinkStats counts what a Downlink did with the datagrams it received.
// Received = Injected + Idle + Refused + Undeliverable in every snapshot: a
// datagram is counted once its fate is known.
type DownlinkStats struct {
	Received      uint64 // datagrams
	Injected      uint64 // frames the switch accepted
	Idle          uint64 // idle packets (APID 0x7FF), skipped
	Refused       uint64 // datagrams that are not a packet as ccsds.Wrap makes them
	Undeliverable uint64 // frames the switch refused (Apid_not_allocated, No_route, Host_busy, ...)
}

// Downlink receives Space Packets on a UDP socket and injects the frame of
// each into the switch.
type Downlink struct {
	c      *net.UDPConn
	inject Injector
	log    *slog.Logger // writes through logs: never blocks Serve

	logs     *logging.Async // the caller's handler behind a bounded buffer
	ownLogs  bool           // Serve starts and closes logs
	logLimit *logging.Limiter

	injected, idle, refused, undeliverable atomic.Uint64
}

// ListenDownlink listens on url ("udp://host:port"; port 0 picks one).
// Packets are handed to inject once Serve runs. log (nil means
// slog.Default()) is written through a bounded buffer (logging.Async) that
// Serve drains, so that a log writer nobody reads cannot stall the
// downlink; one that already writes through a logging.Async is used as it
// is.
func ListenDownlink(url string, inject Injector, log *slog.Logger) (*Downlink, error) {
	a, err := ParseURL(url)
	if err != nil {
		return nil, err
	}
	c, err := net.ListenUDP("udp", a)
	if err != nil {
		return nil, fmt.Errorf("uplink: downlink listen %s: %w", url, err)
	}
	log, logs, own := logging.Wrap(log, 0)
	return &Downlink{c: c, inject: inject, log: log, logs: logs, ownLogs: own,
		logLimit: logging.NewLimiter(logging.LimitConfig{})}, nil
}

// Addr is the address the downlink listens on.
func (d *Downlink) Addr() *net.UDPAddr { return d.c.LocalAddr().(*net.UDPAddr) }

// Serve reads datagrams until ctx is done and closes the socket when it
// returns, whether ctx ended or a read failed. Each datagram must be
// exactly one Space Packet; anything else is counted and logged, never
// fatal. Logs of refusals are thinned (logging.Limiter's default: a few a
// second of each kind, each with the count so far and the number of lines
// suppressed since the last), so that a flood of bad datagrams cannot flood
// the log; the counters count every one. Serve writes what is left of the
// log as it returns, waiting at most a second for a stuck writer.
func (d *Downlink) Serve(ctx context.Context) error {
	if d.ownLogs {
		d.logs.Start()
		defer d.logs.CloseWithin(time.Second)
	}
	defer d.c.Close()
	stop := context.AfterFunc(ctx, func() { d.c.Close() })
	defer stop()
	buf := make([]byte, 64*1024)
	var f frame.Frame
	for {
		n, from, err := d.c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("uplink: downlink read on %s: %w", d.c.LocalAddr(), err)
		}
		if _, err := ccsds.Unwrap(&f, buf[:n]); err != nil {
			if errors.Is(err, ccsds.ErrIdle) {
				d.idle.Add(1)
				continue
			}
			k := d.refused.Add(1)
			if s, ok := d.logLimit.Allow("ground", logRefused); ok {
				d.log.Warn("downlink packet refused", "from", from, "octets", n, "count", k, "err", err, "suppressed", s)
			}
			continue
		}
		if err := d.inject(&f); err != nil {
			k := d.undeliverable.Add(1)
			if s, ok := d.logLimit.Allow("ground", logUndeliverable); ok {
				d.log.Warn("downlink frame not delivered", "from", from, "apid", f.APID(), "dest", f.Dest(), "count", k, "err", err, "suppressed", s)
			}
			continue
		}
		d.injected.Add(1)
	}
}

// The kinds of the downlink's per-datagram log lines, thinned by
// Downlink.logLimit.
const (
	logRefused logging.Reason = iota + 1
	logUndeliverable
)

// LogsDropped is how many log records were dropped because the log writer
// was behind.
func (d *Downlink) LogsDropped() uint64 { return d.logs.Dropped() }

// Stats returns the downlink's counters.
func (d *Downlink) Stats() DownlinkStats {
	s := DownlinkStats{
		Injected:      d.injected.Load(),
		Idle:          d.idle.Load(),
		Refused:       d.refused.Load(),
		Undeliverable: d.undeliverable.Load(),
	}
	s.Received = s.Injected + s.Idle + s.Refused + s.Undeliverable
	return s
}
