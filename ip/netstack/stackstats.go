package netstack

// StackStats are gVisor's own counters of a Netstack (tcpip.Stats), read
// at once: what the stack did with the packets the link gave it and sent,
// why it dropped some, and its TCP connections. Each counter is read on
// its own (atomically), so a snapshot taken while packets flow is not
// consistent across counters. It adds nothing to the packet path: gVisor
// keeps these counters whether or not anyone reads them.
type StackStats struct {
	IP  IPStats
	TCP TCPStats
	UDP UDPStats
	// Dropped counts the packets gVisor dropped at the transport layer
	// without a more specific counter (tcpip.Stats.DroppedPackets).
	Dropped uint64
}

// IPStats are the IP layer's counters (IPv4 and IPv6 together).
type IPStats struct {
	Received  uint64 // packets the link handed to IP
	Delivered uint64 // packets handed to a transport protocol (or ICMP)
	Sent      uint64 // packets IP sent
	// Drops by reason.
	Malformed          uint64 // a bad header
	MalformedFragments uint64
	InvalidDestination uint64 // not for one of our addresses
	InvalidSource      uint64
	OutgoingErrors     uint64 // packets IP could not send
}

// TCPStats are the TCP counters gVisor keeps.
type TCPStats struct {
	ActiveOpenings  uint64 // connections we opened (connect)
	PassiveOpenings uint64 // connections others opened to us (accepted)
	Failed          uint64 // connection attempts that failed
	Resets          uint64 // established connections reset
	Established     uint64 // connections now established (a gauge)
	SegmentsIn      uint64 // valid segments received
	SegmentsOut     uint64 // segments sent
	InvalidSegments uint64 // segments refused as malformed
	ChecksumErrors  uint64
	Retransmits     uint64
	Timeouts        uint64 // retransmission timeouts
	ListenDrops     uint64 // SYNs and ACKs dropped because a listen backlog was full
}

// UDPStats are the UDP counters gVisor keeps.
type UDPStats struct {
	Received       uint64 // datagrams delivered to a socket
	Sent           uint64
	UnknownPort    uint64 // datagrams for a port nobody bound
	ReceiveBuffer  uint64 // dropped: the socket's receive buffer was full
	Malformed      uint64
	ChecksumErrors uint64
	SendErrors     uint64
}

// StackStats reads gVisor's counters.
func (ns *Netstack) StackStats() StackStats {
	s := ns.st.Stats()
	ip, tcp, udp := s.IP, s.TCP, s.UDP
	return StackStats{
		Dropped: s.DroppedPackets.Value(),
		IP: IPStats{
			Received:           ip.PacketsReceived.Value(),
			Delivered:          ip.PacketsDelivered.Value(),
			Sent:               ip.PacketsSent.Value(),
			Malformed:          ip.MalformedPacketsReceived.Value(),
			MalformedFragments: ip.MalformedFragmentsReceived.Value(),
			InvalidDestination: ip.InvalidDestinationAddressesReceived.Value(),
			InvalidSource:      ip.InvalidSourceAddressesReceived.Value(),
			OutgoingErrors:     ip.OutgoingPacketErrors.Value(),
		},
		TCP: TCPStats{
			ActiveOpenings:  tcp.ActiveConnectionOpenings.Value(),
			PassiveOpenings: tcp.PassiveConnectionOpenings.Value(),
			Failed:          tcp.FailedConnectionAttempts.Value(),
			Resets:          tcp.EstablishedResets.Value(),
			Established:     tcp.CurrentEstablished.Value(),
			SegmentsIn:      tcp.ValidSegmentsReceived.Value(),
			SegmentsOut:     tcp.SegmentsSent.Value(),
			InvalidSegments: tcp.InvalidSegmentsReceived.Value(),
			ChecksumErrors:  tcp.ChecksumErrors.Value(),
			Retransmits:     tcp.Retransmits.Value(),
			Timeouts:        tcp.Timeouts.Value(),
			ListenDrops:     tcp.ListenOverflowSynDrop.Value() + tcp.ListenOverflowAckDrop.Value(),
		},
		UDP: UDPStats{
			Received:       udp.PacketsReceived.Value(),
			Sent:           udp.PacketsSent.Value(),
			UnknownPort:    udp.UnknownPortErrors.Value(),
			ReceiveBuffer:  udp.ReceiveBufferErrors.Value(),
			Malformed:      udp.MalformedPacketsReceived.Value(),
			ChecksumErrors: udp.ChecksumErrors.Value(),
			SendErrors:     udp.PacketSendErrors.Value(),
		},
	}
}
