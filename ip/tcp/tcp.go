// Package tcp is a bufferless TCP engine (RFC 9293): the state machine,
// retransmission and congestion control of a fixed table of connections,
// with no I/O of its own and no copy of the data it sends.
//
// The application owns its bytes. On the sending side it hands a
// connection an io.ReaderAt and says how many bytes of the stream exist
// (Conn.Push); the engine reads them by stream offset whenever it
// (re)transmits, straight into the outgoing segment, and reports how far
// the peer has acknowledged (Conn.Acked) so that the application may reuse
// that memory. On the receiving side it hands an io.WriterAt and grants a
// window (Conn.Grant); the engine writes each segment's data at its stream
// offset, out-of-order data included, and reports how far the stream is
// contiguous (Conn.Readable). The engine keeps no send or receive buffer,
// so a retransmission costs a ReadAt and nothing else.
//
// A Table holds every connection and listener, sized once by NewTable;
// nothing allocates per segment. The caller (package stack) feeds it
// segments (Table.Input), drives its timers (Table.Tick) and drains the
// segments it wants sent (Table.Next, Conn.Output), computing checksums
// and adding the IP and link headers. Time is a monotonic count of
// nanoseconds the caller passes in, so tests run on a fake clock.
//
// Implemented: active, passive and simultaneous open and close, RST
// processing with RFC 5961 challenge ACKs, MSS, window scaling,
// timestamps (RTT measurement, PAWS), SACK (blocks sent for the
// out-of-order ranges held; blocks received steer retransmissions, one
// hole resent per ACK in recovery), RTO per RFC 6298 with Karn's rule,
// NewReno (RFC 5681, 6582), delayed ACKs, zero-window probes,
// keepalive, TIME-WAIT, ISNs per RFC 6528, listener quotas against SYN
// floods. Not implemented: urgent data (the pointer is ignored), the
// rest of RFC 6675, RACK, ECN, Nagle's algorithm (every push is sent at
// once), path MTU discovery, TCP-AO/MD5, SYN cookies (see docs/tcp.md).
// A Table is not safe for concurrent use: one goroutine (the stack's)
// drives it.
package tcp

import (
	"io"
	"net/netip"

	"spacenet/ip/wire"
)

// State is a connection state (RFC 9293 section 3.3.2).
type State uint8

// The states. Listen belongs to listeners; a connection slot that is free
// is Closed.
const (
	Closed State = iota
	Listen
	SynSent
	SynReceived
	Established
	FinWait1
	FinWait2
	CloseWait
	Closing
	LastAck
	TimeWait
)

var stateNames = [...]string{"CLOSED", "LISTEN", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED", "FIN-WAIT-1",
	"FIN-WAIT-2", "CLOSE-WAIT", "CLOSING", "LAST-ACK", "TIME-WAIT"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "State(?)"
}

// synchronized reports whether s is one of the synchronized states.
func (s State) synchronized() bool { return s >= Established }

// Event says what happened to a connection; Handler.Event receives it.
type Event uint8

// The events.
const (
	// Connected: the handshake completed (ESTABLISHED).
	Connected Event = iota
	// Readable: Conn.Readable advanced (new in-order data written).
	Readable
	// Acked: Conn.Acked advanced; the bytes below it may be reused.
	Acked
	// PeerClosed: the peer's FIN arrived in order; no more data follows.
	PeerClosed
	// Gone: the connection ended (Conn.Err says how, nil for an orderly
	// close); its slot is reused after the call returns.
	Gone
)

// Handler receives a connection's events, on the goroutine that drives
// the Table. It may call the Conn's methods (Push, Grant, Close, Abort).
type Handler interface {
	Event(c *Conn, ev Event)
}

// Segment is one received segment, as the stack hands it to Table.Input.
// Options nil means none; Payload is only read during Input.
type Segment struct {
	Remote, Local netip.AddrPort
	Seq, Ack      uint32
	Flags         uint16
	Window        uint16
	Options       *wire.TCPOptions
	Payload       []byte
}

// Len is the segment's length in sequence space: data plus SYN and FIN.
func (s *Segment) Len() uint32 {
	n := uint32(len(s.Payload))
	if s.Flags&wire.TCPFlagSYN != 0 {
		n++
	}
	if s.Flags&wire.TCPFlagFIN != 0 {
		n++
	}
	return n
}

// App is what an application gives a connection: its bytes and its
// handler.
type App struct {
	// Source holds the bytes to send, by stream offset from 0; the engine
	// reads only offsets below what Push made available and at or above
	// Acked.
	Source io.ReaderAt
	// Sink receives data at stream offsets within the granted window (the
	// same bytes may be written more than once, always with the same
	// content).
	Sink io.WriterAt
	// Grant is the receive window granted at the start.
	Grant int
	// Handler receives events; nil ignores them.
	Handler Handler
}

// sequence-space comparisons, modulo 2^32.
func seqLT(a, b uint32) bool  { return int32(a-b) < 0 }
func seqLEQ(a, b uint32) bool { return int32(a-b) <= 0 }
func seqGT(a, b uint32) bool  { return int32(a-b) > 0 }
func seqGEQ(a, b uint32) bool { return int32(a-b) >= 0 }

// Timing defaults, in nanoseconds.
const (
	ms = int64(1e6)
	s  = int64(1e9)

	InitialRTO   = 1 * s    // RFC 6298 2.1
	MinRTO       = 200 * ms // Linux's floor (RFC 6298 2.4 allows a lower one than 1 s)
	MaxRTO       = 60 * s   // RFC 6298 2.5
	DelayedACK   = 40 * ms  // RFC 9293 3.8.6.3: less than 0.5 s
	DefaultMSL   = 30 * s   // TIME-WAIT lasts 2 MSL
	MaxSynRetry  = 6
	MaxRetries   = 15 // data retransmissions before the connection is aborted
	KeepIdle     = 2 * 3600 * s
	KeepInterval = 75 * s
	KeepCount    = 9
)
