package netstack

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Handle names one socket (UDP, TCP listener, TCP stream, raw) inside a
// Netstack. Handles are never reused while the Netstack lives.
type Handle uint32

// Command is one request to a Netstack. The concrete types below are the
// vocabulary of the command channel (spec §3): stack control, UDP, TCP
// listen, TCP stream, raw IP and ICMP echo.
type Command interface{ isCommand() }

// Response is one answer from a Netstack; see the concrete types below.
type Response interface{ isResponse() }

// Stack control.
type (
	// Nop does nothing; it measures the command round trip. Reply: Ok.
	Nop struct{}
	// SetAddrs replaces the interface's addresses; each prefix also
	// installs an on-link route for its subnet. Reply: Ok.
	SetAddrs struct{ Addrs []netip.Prefix }
	// SetRoutes replaces the gateway routes (on-link subnet routes from
	// SetAddrs are kept). Reply: Ok.
	SetRoutes struct{ Routes []Route }
)

// Route sends packets for Dst through the gateway Via (the zero Addr means
// on-link).
type Route struct {
	Dst netip.Prefix
	Via netip.Addr
}

// UDP.
type (
	// UDPBind opens a UDP socket bound to Local (port 0 picks one).
	// Reply: Bound.
	UDPBind struct{ Local netip.AddrPort }
	// UDPSend sends one datagram. Reply: Sent.
	UDPSend struct {
		Handle Handle
		To     netip.AddrPort
		Buf    []byte
	}
	// UDPRecv waits for one datagram and copies up to MaxLen bytes of it.
	// Reply: RecvFrom.
	UDPRecv struct {
		Handle Handle
		MaxLen int
	}
)

// TCP.
type (
	// TCPListen opens a listener on Local with an accept queue of Backlog
	// connections (0 means 128). Reply: Listening.
	TCPListen struct {
		Local   netip.AddrPort
		Backlog int
	}
	// TCPAccept waits for one established connection. Reply: Accepted.
	TCPAccept struct{ Handle Handle }
	// TCPConnect opens a connection from Local (zero: any) to Remote and
	// waits until it is established. Reply: Connected.
	TCPConnect struct{ Local, Remote netip.AddrPort }
	// TCPSend queues all of Buf, waiting for room as needed. Reply: Sent.
	TCPSend struct {
		Handle Handle
		Buf    []byte
	}
	// TCPRecv waits for data (or end of stream) and returns up to MaxLen
	// bytes. Reply: Received or Finished.
	TCPRecv struct {
		Handle Handle
		MaxLen int
	}
	// TCPShutdown half-closes the stream: a FIN is sent after queued
	// data; receiving continues. Reply: Ok.
	TCPShutdown struct{ Handle Handle }
)

// Raw IP and ICMP echo.
type (
	// RawOpen opens a raw socket for one IP version (4 or 6) and
	// transport protocol number; gVisor offers raw sockets only for the
	// protocols it implements (ICMP, TCP, UDP), others are a BadRequest.
	// Reply: Opened.
	RawOpen struct {
		IPVersion int
		Protocol  uint8
	}
	// RawSend sends Buf as the payload of an IP packet to To; the stack
	// writes the IP header. Reply: Sent.
	RawSend struct {
		Handle Handle
		To     netip.Addr
		Buf    []byte
	}
	// RawRecv waits for one packet. IPv4 packets come with their IP header
	// (as on Linux), IPv6 ones without. Reply: RawPacket.
	RawRecv struct {
		Handle Handle
		MaxLen int
	}
	// Ping sends one ICMP echo request to To and waits for the reply.
	// Reply: Pong.
	Ping struct {
		To      netip.Addr
		Payload []byte
	}
)

// Close closes any socket. For a TCP stream it sends FIN after queued data
// (graceful close continues in the background), or RST when Reset is set.
// Reply: Ok.
type Close struct {
	Handle Handle
	Reset  bool
}

// Responses.
type (
	// Ok acknowledges a command that returns nothing.
	Ok struct{}
	// Bound answers UDPBind.
	Bound struct {
		Handle Handle
		Local  netip.AddrPort
	}
	// RecvFrom answers UDPRecv.
	RecvFrom struct {
		Remote    netip.AddrPort
		Buf       []byte
		Truncated bool
	}
	// Listening answers TCPListen.
	Listening struct {
		Handle Handle
		Local  netip.AddrPort
	}
	// Accepted answers TCPAccept: the new stream's handle.
	Accepted struct {
		Handle Handle
		Remote netip.AddrPort
	}
	// Connected answers TCPConnect.
	Connected struct {
		Handle        Handle
		Local, Remote netip.AddrPort
	}
	// Sent answers UDPSend, TCPSend, RawSend.
	Sent struct{ N int }
	// Received answers TCPRecv with data.
	Received struct{ Buf []byte }
	// Finished answers TCPRecv at end of stream (the peer sent FIN).
	Finished struct{}
	// Opened answers RawOpen.
	Opened struct{ Handle Handle }
	// RawPacket answers RawRecv.
	RawPacket struct {
		Buf       []byte
		Truncated bool
	}
	// Pong answers Ping.
	Pong struct {
		From netip.Addr
		RTT  time.Duration
		Len  int
	}
)

func (Nop) isCommand()         {}
func (SetAddrs) isCommand()    {}
func (SetRoutes) isCommand()   {}
func (UDPBind) isCommand()     {}
func (UDPSend) isCommand()     {}
func (UDPRecv) isCommand()     {}
func (TCPListen) isCommand()   {}
func (TCPAccept) isCommand()   {}
func (TCPConnect) isCommand()  {}
func (TCPSend) isCommand()     {}
func (TCPRecv) isCommand()     {}
func (TCPShutdown) isCommand() {}
func (RawOpen) isCommand()     {}
func (RawSend) isCommand()     {}
func (RawRecv) isCommand()     {}
func (Ping) isCommand()        {}
func (Close) isCommand()       {}

func (Ok) isResponse()        {}
func (Bound) isResponse()     {}
func (RecvFrom) isResponse()  {}
func (Listening) isResponse() {}
func (Accepted) isResponse()  {}
func (Connected) isResponse() {}
func (Sent) isResponse()      {}
func (Received) isResponse()  {}
func (Finished) isResponse()  {}
func (Opened) isResponse()    {}
func (RawPacket) isResponse() {}
func (Pong) isResponse()      {}

// Error kinds (spec §3). Every error a Netstack returns wraps exactly one of
// them; test with errors.Is.
var (
	// ErrBadRequest: the request itself is wrong (unaddressable, packet
	// too big, zero-size buffer, wrong IP version).
	ErrBadRequest = errors.New("netstack: bad request")
	// ErrInternal: the request names a bad handle or finds the socket in
	// the wrong state, the channel is closed, or a buffer is full.
	ErrInternal = errors.New("netstack: internal")
	// ErrConnectionReset: the peer reset the connection (or refused it).
	ErrConnectionReset = errors.New("netstack: connection reset")
	// ErrClosed is returned (wrapped in ErrInternal) after Close of the
	// socket or of the Netstack.
	ErrClosed = errors.New("netstack: closed")
)

// Error is the error a command fails with: its kind (one of the Err*
// sentinels), the command, and the cause.
type Error struct {
	Kind error
	Op   string
	Err  error
}

// Error names the kind, the command and, if there is one, the cause.
func (e *Error) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("%v: %s", e.Kind, e.Op)
	}
	return fmt.Sprintf("%v: %s: %v", e.Kind, e.Op, e.Err)
}

// Unwrap returns the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}
