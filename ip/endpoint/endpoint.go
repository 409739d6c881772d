// Package endpoint is ethox's answering layer in Go: a host on any NIC, with
// one IPv4 and one IPv6 address, that answers ARP requests, NDP neighbour
// solicitations and ICMP echo requests (v4 and v6), and hands UDP datagrams
// to a callback that may answer them in place.
//
// Every answer is written over the request, in the receive buffer the frame
// arrived in, and sent from there: an Endpoint allocates its buffers once,
// in New, and nothing per frame. What happens to answers the NIC does not
// accept is the user's choice (Queue). Every frame that is not answered is
// counted under a Reason.
//
// An Endpoint is not a TCP/IP stack: it keeps no connections, no neighbour
// cache and no routes; it answers the sender of each request, at the
// sender's MAC address. It does not reassemble fragments (they are refused
// and counted) and sends nothing on its own. Package stack, which does
// keep connections, neighbours and routes, uses an Endpoint made by
// NewAnswerer as its answering layer: the frames its own layers do not
// take go to Answer.
package endpoint

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"

	"spacenet/ip/nic"
	"spacenet/ip/wire"
)

// Datagram is a UDP datagram handed to Config.UDP. It is valid only during
// the call.
type Datagram struct {
	Src, Dst netip.AddrPort
	// Payload is the received data. It lies in the frame's buffer, and its
	// capacity is the largest answer that fits the NIC's MTU: the callback
	// may overwrite it and extend it up to cap(Payload).
	Payload []byte
}

// UDPHandler receives a datagram and returns the length of the answer it
// wrote into d.Payload[:n] (within cap(d.Payload)), sent from d.Dst to d.Src,
// or a negative number for no answer.
type UDPHandler func(d *Datagram) int

// Echo is a UDPHandler that answers every datagram with its own payload.
func Echo(d *Datagram) int { return len(d.Payload) }

// Queue is the user's queueing policy: it decides the fate of answers the
// NIC did not accept.
type Queue interface {
	// Refused is called when Send accepted only part of a batch: unsent
	// answers remain, err is what Send said, and attempt counts the calls
	// for this batch from 1. Return true to Send the remaining answers
	// again, false to drop them (counted under QueueDrop). It is not called
	// when the NIC is closed.
	Refused(unsent int, err error, attempt int) bool
}

// DropNewest is a Queue that drops what the NIC refuses, counting it.
type DropNewest struct{}

// Refused implements Queue: never retry.
func (DropNewest) Refused(int, error, int) bool { return false }

// Retry is a Queue that tries again up to Max times per batch, blocking the
// endpoint meanwhile. Max <= 0 retries until the NIC takes the answers or
// is closed: use it only with a NIC whose refusals are transient (a NIC's
// Send already blocks under backpressure; a short count is an error).
type Retry struct{ Max int }

// Refused implements Queue.
func (r Retry) Refused(_ int, _ error, attempt int) bool { return r.Max <= 0 || attempt <= r.Max }

// Config configures New.
type Config struct {
	MAC wire.MAC // our unicast address
	// IPv4 and IPv6 are our addresses (Addr; the prefix length is not used,
	// as the endpoint answers senders directly and routes nothing). A zero
	// prefix turns that family off.
	IPv4 netip.Prefix
	IPv6 netip.Prefix
	UDP  UDPHandler // nil: datagrams are refused (NoHandler)
	// Queue is the policy for answers Send refuses; nil means DropNewest.
	Queue Queue
	// Batch is the number of frames per Recv and Send; 0 means 32.
	Batch int
}

// DefaultBatch is the batch size when Config.Batch is 0.
const DefaultBatch = 32

// Endpoint answers on one NIC. Run it with Run; read its counters with Stats
// from any goroutine.
type Endpoint struct {
	nic   nic.NIC
	mac   wire.MAC
	ip4   netip.Addr
	ip6   netip.Addr
	sn6   netip.Addr // solicited-node group of ip6
	snMAC wire.MAC
	udp   UDPHandler
	queue Queue
	mtu   int

	rx    [][]byte
	sizes []int
	tx    [][]byte
	pkt   wire.Packet
	dgram Datagram
	ipID  uint16

	st counters
}

// New makes an Endpoint on n. It allocates every buffer the endpoint will
// use: Batch buffers of MTU + 14 + 8 bytes (two VLAN tags).
func New(n nic.NIC, c Config) (*Endpoint, error) {
	if c.Batch < 0 {
		return nil, fmt.Errorf("endpoint: batch %d < 0", c.Batch)
	}
	if c.Batch == 0 {
		c.Batch = DefaultBatch
	}
	e, err := makeEndpoint(n.Name(), n.MTU(), c)
	if err != nil {
		return nil, err
	}
	e.nic = n
	size := e.mtu + wire.EthernetSize + wire.MaxVLANTags*wire.VLANSize
	mem := make([]byte, size*c.Batch)
	e.rx = make([][]byte, c.Batch)
	for i := range e.rx {
		e.rx[i] = mem[i*size : (i+1)*size : (i+1)*size]
	}
	e.sizes = make([]int, c.Batch)
	e.tx = make([][]byte, 0, c.Batch)
	return e, nil
}

// NewAnswerer makes an Endpoint without a NIC or buffers of its own, for a
// caller that receives frames itself and passes them to Answer (Run must
// not be called). mtu is the largest IP packet answered.
func NewAnswerer(mtu int, c Config) (*Endpoint, error) {
	return makeEndpoint("answerer", mtu, c)
}

func makeEndpoint(name string, mtu int, c Config) (*Endpoint, error) {
	if c.MAC.IsMulticast() || c.MAC == (wire.MAC{}) {
		return nil, fmt.Errorf("endpoint: MAC %v is not a unicast address", c.MAC)
	}
	if c.IPv4.IsValid() && !c.IPv4.Addr().Is4() {
		return nil, fmt.Errorf("endpoint: IPv4 prefix %v is not IPv4", c.IPv4)
	}
	if c.IPv6.IsValid() && (!c.IPv6.Addr().Is6() || c.IPv6.Addr().Is4In6()) {
		return nil, fmt.Errorf("endpoint: IPv6 prefix %v is not IPv6", c.IPv6)
	}
	if !c.IPv4.IsValid() && !c.IPv6.IsValid() {
		return nil, errors.New("endpoint: neither an IPv4 nor an IPv6 address")
	}
	if mtu < 1280 {
		return nil, fmt.Errorf("endpoint: %s: MTU %d below IPv6's minimum 1280", name, mtu)
	}
	e := &Endpoint{mac: c.MAC, udp: c.UDP, queue: c.Queue, mtu: mtu}
	if e.queue == nil {
		e.queue = DropNewest{}
	}
	if c.IPv4.IsValid() {
		e.ip4 = c.IPv4.Addr()
	}
	if c.IPv6.IsValid() {
		e.ip6 = c.IPv6.Addr()
		e.sn6 = wire.SolicitedNode(e.ip6)
		e.snMAC = wire.IPv6MulticastMAC(e.sn6)
	}
	return e, nil
}

// Run receives, answers and sends until ctx is done (it then closes the
// NIC and returns nil) or the NIC fails (it returns the NIC's error). Run
// must not be called twice at once.
func (e *Endpoint) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { e.nic.Close() })
	defer stop()
	for {
		n, err := e.nic.Recv(e.rx, e.sizes)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("endpoint: %w", err)
		}
		tx := e.tx[:0]
		for i := 0; i < n; i++ {
			if m := e.Answer(e.rx[i], e.sizes[i]); m > 0 {
				tx = append(tx, e.rx[i][:m])
			}
		}
		if err := e.send(tx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// send hands tx to the NIC, asking the Queue what to do with refusals.
func (e *Endpoint) send(tx [][]byte) error {
	for attempt := 1; len(tx) > 0; attempt++ {
		k, err := e.nic.Send(tx)
		e.st.txFrames.Add(uint64(k))
		tx = tx[k:]
		if len(tx) == 0 {
			return nil
		}
		if errors.Is(err, nic.ErrClosed) {
			e.st.refused[QueueDrop].Add(uint64(len(tx)))
			return fmt.Errorf("endpoint: %w", err)
		}
		if err == nil {
			err = errors.New("short send without error")
		}
		if !e.queue.Refused(len(tx), err, attempt) {
			e.st.refused[QueueDrop].Add(uint64(len(tx)))
			return nil
		}
	}
	return nil
}

// Reason says why a frame was not answered.
type Reason int

// The reasons.
const (
	Malformed   Reason = iota // wire.Decode refused the frame
	BadSource                 // multicast source MAC, or unusable source address
	NotForUs                  // another host's MAC or IP address, or an ARP/NDP target not ours
	BadChecksum               // IPv4 header, ICMP, UDP checksum does not verify
	Fragment                  // IPv4 or IPv6 fragment: not reassembled
	Unsupported               // an EtherType, protocol or ICMP type not answered (replies, MLD, RS...)
	BadNDP                    // NDP with hop limit not 255 or code not 0 (RFC 4861 7.1.1)
	NoHandler                 // UDP datagram and Config.UDP is nil
	NoAnswer                  // UDP handler chose not to answer
	TooBig                    // UDP handler's answer exceeded cap(Payload)
	QueueDrop                 // answer refused by the NIC and dropped by the Queue
	NumReasons
)

var reasonNames = [NumReasons]string{"malformed", "bad_source", "not_for_us", "bad_checksum", "fragment",
	"unsupported", "bad_ndp", "no_handler", "no_answer", "too_big", "queue_drop"}

// String names the reason ("not_for_us").
func (r Reason) String() string {
	if r >= 0 && r < NumReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

// Stats are an endpoint's counters. Every received frame is answered
// (ARP + NDP + EchoV4 + EchoV6 + UDPAnswered) or counted once in Refused.
type Stats struct {
	RxFrames    uint64 // frames received
	TxFrames    uint64 // answers the NIC accepted
	ARP         uint64 // ARP replies made
	NDP         uint64 // neighbour advertisements made
	EchoV4      uint64 // ICMPv4 echo replies made
	EchoV6      uint64 // ICMPv6 echo replies made
	UDPAnswered uint64 // UDP answers made
	Refused     [NumReasons]uint64
}

// Answered returns the number of answers made.
func (s Stats) Answered() uint64 { return s.ARP + s.NDP + s.EchoV4 + s.EchoV6 + s.UDPAnswered }

// RefusedTotal returns the number of frames refused, all reasons. (A frame
// answered and then dropped by the Queue counts in both.)
func (s Stats) RefusedTotal() uint64 {
	var t uint64
	for _, v := range s.Refused {
		t += v
	}
	return t
}

type counters struct {
	rxFrames, txFrames                  atomic.Uint64
	arp, ndp, echo4, echo6, udpAnswered atomic.Uint64
	refused                             [NumReasons]atomic.Uint64
}

// Stats returns a snapshot of the counters.
func (e *Endpoint) Stats() Stats {
	s := Stats{
		RxFrames: e.st.rxFrames.Load(), TxFrames: e.st.txFrames.Load(),
		ARP: e.st.arp.Load(), NDP: e.st.ndp.Load(), EchoV4: e.st.echo4.Load(), EchoV6: e.st.echo6.Load(),
		UDPAnswered: e.st.udpAnswered.Load(),
	}
	for i := range s.Refused {
		s.Refused[i] = e.st.refused[i].Load()
	}
	return s
}

func (e *Endpoint) refuse(r Reason) int {
	e.st.refused[r].Add(1)
	return 0
}
