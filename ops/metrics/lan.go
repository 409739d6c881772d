package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"spacenet/ops/control"
)

// The LAN's metrics.
var (
	lanFrames = desc("spacenet_lan_frames_total",
		"Frames of a port: direction in = received from its NIC (before checks), out = accepted by its NIC.",
		"port", "tenant", "direction")
	lanBytes   = desc("spacenet_lan_bytes_total", "Bytes of those frames.", "port", "tenant", "direction")
	lanDropped = desc("spacenet_lan_dropped_total",
		"Frames dropped, by reason: direction in = at ingress on this port, out = on the way out of it.",
		"port", "tenant", "direction", "reason")
	lanQueued = desc("spacenet_lan_queue_length", "Frames waiting in a port's outbound queue.", "port", "tenant")
	lanHeld   = desc("spacenet_lan_held_total", "Frames for a port whose sender waited for room.", "port", "tenant")
	lanMACs   = desc("spacenet_lan_mac_table_entries", "Live entries in the MAC table.")
	lanLearn  = desc("spacenet_lan_mac_learn_full_total", "Source MACs not learnt because the table was full.")
	lanMoves  = desc("spacenet_lan_mac_moves_total", "MACs seen moving to another port.")
)

// LAN collects a virtual LAN's counters at scrape time.
type LAN struct{ snapshot func() *control.LAN }

// NewLAN returns the collector of the LAN snapshot reads.
func NewLAN(snapshot func() *control.LAN) *LAN { return &LAN{snapshot: snapshot} }

// Describe implements prometheus.Collector.
func (c *LAN) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{lanFrames, lanBytes, lanDropped, lanQueued, lanHeld, lanMACs, lanLearn, lanMoves} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one snapshot per scrape.
func (c *LAN) Collect(ch chan<- prometheus.Metric) {
	s := c.snapshot()
	for i := range s.Ports {
		p := &s.Ports[i]
		counter(ch, lanFrames, p.RxFrames, p.Name, p.Tenant, "in")
		counter(ch, lanFrames, p.TxFrames, p.Name, p.Tenant, "out")
		counter(ch, lanBytes, p.RxBytes, p.Name, p.Tenant, "in")
		counter(ch, lanBytes, p.TxBytes, p.Name, p.Tenant, "out")
		for reason, v := range p.RxDrops {
			counter(ch, lanDropped, v, p.Name, p.Tenant, "in", reason)
		}
		for reason, v := range p.TxDrops {
			counter(ch, lanDropped, v, p.Name, p.Tenant, "out", reason)
		}
		gauge(ch, lanQueued, float64(p.Queued), p.Name, p.Tenant)
		counter(ch, lanHeld, p.Held, p.Name, p.Tenant)
	}
	gauge(ch, lanMACs, float64(s.TableMACs))
	counter(ch, lanLearn, s.LearnFull)
	counter(ch, lanMoves, s.Moves)
}
