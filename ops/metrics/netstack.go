package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"spacenet/ip/netstack"
)

// The netstacks' metrics: the link's and the command loop's counters
// (netstack.Stats) and gVisor's own (netstack.StackStats).
var (
	nsPackets = desc("spacenet_netstack_packets_total",
		"Packets between a netstack and its device: in = injected into the stack, out = handed to the device.", "netstack", "direction")
	nsIP = desc("spacenet_netstack_ip_packets_total",
		"IP packets of a netstack (gVisor's counters): received from the link, delivered to a transport, sent.", "netstack", "outcome")
	nsDropped = desc("spacenet_netstack_dropped_total",
		"Packets a netstack dropped or could not send, by reason (link, IP, TCP and UDP layers).", "netstack", "reason")
	nsTCPConns = desc("spacenet_netstack_tcp_connections_total",
		"TCP connections of a netstack: active_open (connect), passive_open (accepted), failed attempts, reset when established.", "netstack", "outcome")
	nsTCPEstablished = desc("spacenet_netstack_tcp_established",
		"TCP connections of a netstack now established.", "netstack")
	nsTCPSegments = desc("spacenet_netstack_tcp_segments_total",
		"Valid TCP segments received (in) and sent (out) by a netstack.", "netstack", "direction")
	nsTCPRetransmits = desc("spacenet_netstack_tcp_retransmits_total",
		"TCP segments a netstack retransmitted.", "netstack")
	nsTCPTimeouts = desc("spacenet_netstack_tcp_timeouts_total",
		"TCP retransmission timeouts of a netstack.", "netstack")
	nsUDP = desc("spacenet_netstack_udp_datagrams_total",
		"UDP datagrams delivered to a socket (in) and sent (out) by a netstack.", "netstack", "direction")
	nsCommands = desc("spacenet_netstack_commands_total",
		"Commands a netstack processed, and of them failed (answered with an error).", "netstack", "outcome")
	nsParked = desc("spacenet_netstack_command_waits_total",
		"Times a command waited for its socket to be ready.", "netstack")
	nsLinkWaits = desc("spacenet_netstack_link_queue_waits_total",
		"Times a writer into a netstack's outbound link queue waited for room (backpressure).", "netstack")
	nsLinkDepth = desc("spacenet_netstack_link_queue_max_depth",
		"The deepest a netstack's outbound link queue has been, in packets.", "netstack")
)

// NamedNetstack is a netstack and the name its metrics carry (the label
// netstack: a tenant's or a program's name, from a fixed set).
type NamedNetstack struct {
	Name string
	NS   *netstack.Netstack
}

// Netstacks collects netstacks' counters at scrape time.
type Netstacks struct{ list func() []NamedNetstack }

// NewNetstacks returns the collector of the netstacks list returns (called
// once per scrape). A program that embeds netstacks serves them with
// serve.Listen(addr, NewNetstacks(...), nil, log) (package
// spacenet/ops/metrics/serve).
func NewNetstacks(list func() []NamedNetstack) *Netstacks { return &Netstacks{list: list} }

// Describe implements prometheus.Collector.
func (c *Netstacks) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{nsPackets, nsIP, nsDropped, nsTCPConns, nsTCPEstablished, nsTCPSegments,
		nsTCPRetransmits, nsTCPTimeouts, nsUDP, nsCommands, nsParked, nsLinkWaits, nsLinkDepth} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. Every reason is exported,
// zeros included.
func (c *Netstacks) Collect(ch chan<- prometheus.Metric) {
	for _, n := range c.list() {
		st, ss := n.NS.Stats(), n.NS.StackStats()
		name := n.Name
		counter(ch, nsPackets, st.Link.Received, name, "in")
		counter(ch, nsPackets, st.Link.Sent, name, "out")
		counter(ch, nsIP, ss.IP.Received, name, "received")
		counter(ch, nsIP, ss.IP.Delivered, name, "delivered")
		counter(ch, nsIP, ss.IP.Sent, name, "sent")
		for _, d := range []struct {
			reason string
			v      uint64
		}{
			{"not_ip", st.Dropped},
			{"device_closed", st.DeviceClosed},
			{"link_queue_full", st.Link.Refused},
			{"link_closed", st.Link.Closed},
			{"ip_malformed", ss.IP.Malformed},
			{"ip_malformed_fragment", ss.IP.MalformedFragments},
			{"ip_invalid_destination", ss.IP.InvalidDestination},
			{"ip_invalid_source", ss.IP.InvalidSource},
			{"ip_send_error", ss.IP.OutgoingErrors},
			{"tcp_invalid_segment", ss.TCP.InvalidSegments},
			{"tcp_checksum", ss.TCP.ChecksumErrors},
			{"tcp_listen_overflow", ss.TCP.ListenDrops},
			{"udp_unknown_port", ss.UDP.UnknownPort},
			{"udp_receive_buffer_full", ss.UDP.ReceiveBuffer},
			{"udp_malformed", ss.UDP.Malformed},
			{"udp_checksum", ss.UDP.ChecksumErrors},
			{"udp_send_error", ss.UDP.SendErrors},
			{"transport", ss.Dropped},
		} {
			counter(ch, nsDropped, d.v, name, d.reason)
		}
		counter(ch, nsTCPConns, ss.TCP.ActiveOpenings, name, "active_open")
		counter(ch, nsTCPConns, ss.TCP.PassiveOpenings, name, "passive_open")
		counter(ch, nsTCPConns, ss.TCP.Failed, name, "failed")
		counter(ch, nsTCPConns, ss.TCP.Resets, name, "reset")
		gauge(ch, nsTCPEstablished, float64(ss.TCP.Established), name)
		counter(ch, nsTCPSegments, ss.TCP.SegmentsIn, name, "in")
		counter(ch, nsTCPSegments, ss.TCP.SegmentsOut, name, "out")
		counter(ch, nsTCPRetransmits, ss.TCP.Retransmits, name)
		counter(ch, nsTCPTimeouts, ss.TCP.Timeouts, name)
		counter(ch, nsUDP, ss.UDP.Received, name, "in")
		counter(ch, nsUDP, ss.UDP.Sent, name, "out")
		counter(ch, nsCommands, st.Commands, name, "processed")
		counter(ch, nsCommands, st.Failed, name, "failed")
		counter(ch, nsParked, st.Parked, name)
		counter(ch, nsLinkWaits, st.Link.Waits, name)
		gauge(ch, nsLinkDepth, float64(st.Link.MaxDepth), name)
	}
}
