package metrics

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"spacenet/ops/control"
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// The APID switch's metrics.
var (
	apidFrames = desc("spacenet_apid_frames_total",
		"Frames of a sender (tenant, or ground): direction in = read from it, out = handed on (to a tenant's socket, the system handler or the ground link).",
		"tenant", "direction")
	apidForwarded = desc("spacenet_apid_forwarded_total",
		"Frames of a sender handed on, by where to: tenant (a tenant's socket), system (the system handler), ground (the ground link).",
		"tenant", "to")
	apidDropped = desc("spacenet_apid_dropped_total",
		"Frames of a sender refused, by the ERROR code answered.", "tenant", "reason")
	apidNotices = desc("spacenet_apid_notices_total",
		"Frames the switch made for a tenant (ERROR, HEALTH replies, events): queued, lost (queue full) or delivered.",
		"tenant", "outcome")
	apidEdges = desc("spacenet_apid_edge_frames_total",
		"Frames a sender (tenant, or ground) forwarded to a tenant (written to its socket or queued for it) or to the ground link: the traffic on each edge of the policy.",
		"from", "to")
	apidQueueLen = desc("spacenet_apid_queue_length",
		"Frames now in a tenant's queue, from every sender.", "tenant")
	apidQueued = desc("spacenet_apid_sender_queued",
		"Frames of a sender now waiting in destinations' queues.", "tenant")
	apidHeld = desc("spacenet_apid_sender_held",
		"Frames of a sender read and held by flow control or its rate limit.", "tenant")
	apidConnected = desc("spacenet_apid_connected",
		"1 if the tenant's guest is connected.", "tenant")
	apidConnections = desc("spacenet_apid_connections_total",
		"Connections accepted for a tenant (its generation).", "tenant")
	apidSystemUnhandled = desc("spacenet_apid_system_unhandled_total",
		"System frames no handler took.")
	apidLogsDropped = desc("spacenet_apid_log_records_dropped_total",
		"Log records dropped because the log writer was behind.")
	downlinkPackets = desc("spacenet_downlink_packets_total",
		"Space Packets to the ground (space to ground): sent, refused_by_ground, queue_full, send_failed, refused_unattributed.", "outcome")
	uplinkPackets = desc("spacenet_uplink_packets_total",
		"Space Packets from the ground (ground to space): received, then injected, idle, refused (bad_checksum among them) or undeliverable; conns_refused (TCP).", "outcome")
)

// APID collects an APID switch's counters at scrape time.
type APID struct{ snapshot func() *control.APID }

// NewAPID returns the collector of the switch snapshot reads.
func NewAPID(snapshot func() *control.APID) *APID { return &APID{snapshot: snapshot} }

// Describe implements prometheus.Collector.
func (c *APID) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{apidFrames, apidForwarded, apidEdges, apidDropped, apidNotices, apidQueueLen,
		apidQueued, apidHeld, apidConnected, apidConnections, apidSystemUnhandled, apidLogsDropped,
		uplinkPackets, downlinkPackets} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one snapshot per scrape.
func (c *APID) Collect(ch chan<- prometheus.Metric) {
	s := c.snapshot()
	for i := range s.Tenants {
		tenant(ch, &s.Tenants[i], true)
	}
	tenant(ch, &s.Ground, false)
	for _, e := range s.Edges {
		counter(ch, apidEdges, e.Frames, e.From, e.To)
	}
	counter(ch, apidSystemUnhandled, s.SystemUnhandled)
	counter(ch, apidLogsDropped, s.LogsDropped)
	if d := s.Downlink; d != nil {
		counter(ch, downlinkPackets, d.Sent, "sent")
		counter(ch, downlinkPackets, d.RefusedByGround, "refused_by_ground")
		counter(ch, downlinkPackets, d.QueueFull, "queue_full")
		counter(ch, downlinkPackets, d.SendFailures, "send_failed")
		counter(ch, downlinkPackets, d.Unattributed, "refused_unattributed")
	}
	if u := s.Uplink; u != nil {
		counter(ch, uplinkPackets, u.Received, "received")
		counter(ch, uplinkPackets, u.Injected, "injected")
		counter(ch, uplinkPackets, u.Idle, "idle")
		counter(ch, uplinkPackets, u.Refused, "refused")
		counter(ch, uplinkPackets, u.BadChecksum, "bad_checksum")
		counter(ch, uplinkPackets, u.Undeliverable, "undeliverable")
		counter(ch, uplinkPackets, u.ConnsRefused, "conns_refused")
	}
}

// tenant sends t's metrics; a guest's (isGuest) include its queue and
// connection, which the ground has not.
func tenant(ch chan<- prometheus.Metric, t *control.Tenant, isGuest bool) {
	n := t.Name
	counter(ch, apidFrames, t.Received, n, "in")
	counter(ch, apidFrames, t.Forwarded(), n, "out")
	counter(ch, apidForwarded, t.Delivered, n, "tenant")
	counter(ch, apidForwarded, t.DeliveredSystem, n, "system")
	counter(ch, apidForwarded, t.DeliveredGround, n, "ground")
	for reason, v := range t.Dropped {
		counter(ch, apidDropped, v, n, strings.ToLower(reason))
	}
	gauge(ch, apidQueued, float64(t.Queued), n)
	gauge(ch, apidHeld, float64(t.Held), n)
	if !isGuest {
		return
	}
	counter(ch, apidNotices, t.NoticesQueued, n, "queued")
	counter(ch, apidNotices, t.NoticesLost, n, "lost")
	counter(ch, apidNotices, t.NoticesDelivered, n, "delivered")
	gauge(ch, apidQueueLen, float64(t.QueueLen), n)
	connected := 0.0
	if t.Connected {
		connected = 1
	}
	gauge(ch, apidConnected, connected, n)
	counter(ch, apidConnections, t.Generation, n)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}
