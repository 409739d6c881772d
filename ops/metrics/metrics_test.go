package metrics_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"spacenet/ops/control"
	"spacenet/ops/metrics"
)

// The collectors are checked on fixed snapshots (the end-to-end values
// through a running switch are cmd/spacenet's TestBinaryPrometheus).

func apidSnapshot() *control.APID {
	drops := map[string]uint64{"No_route": 2, "Not_permitted": 0}
	return &control.APID{
		Tenants: []control.Tenant{{Name: "camera", Received: 9, Delivered: 5, DeliveredSystem: 1, DeliveredGround: 1,
			Dropped: drops, NoticesQueued: 2, NoticesDelivered: 2, QueueLen: 3, Connected: true, Generation: 4}},
		Ground:   control.Tenant{Name: "ground", Received: 1, Delivered: 1, Dropped: map[string]uint64{"No_route": 0}},
		Edges:    []control.Edge{{From: "camera", To: "processor", Frames: 5}, {From: "camera", To: "ground", Frames: 1}},
		Downlink: &control.Downlink{Sent: 1, RefusedByGround: 1},
		Uplink:   &control.Uplink{Received: 1, Injected: 1},
	}
}

func TestAPIDCollector(t *testing.T) {
	c := metrics.NewAPID(apidSnapshot)
	if probs, err := testutil.CollectAndLint(c); err != nil || len(probs) > 0 {
		t.Fatalf("lint: %v %v", err, probs)
	}
	want := `
# HELP spacenet_apid_frames_total Frames of a sender (tenant, or ground): direction in = read from it, out = handed on (to a tenant's socket, the system handler or the ground link).
# TYPE spacenet_apid_frames_total counter
spacenet_apid_frames_total{direction="in",tenant="camera"} 9
spacenet_apid_frames_total{direction="out",tenant="camera"} 7
spacenet_apid_frames_total{direction="in",tenant="ground"} 1
spacenet_apid_frames_total{direction="out",tenant="ground"} 1
# HELP spacenet_apid_dropped_total Frames of a sender refused, by the ERROR code answered.
# TYPE spacenet_apid_dropped_total counter
spacenet_apid_dropped_total{reason="no_route",tenant="camera"} 2
spacenet_apid_dropped_total{reason="not_permitted",tenant="camera"} 0
spacenet_apid_dropped_total{reason="no_route",tenant="ground"} 0
# HELP spacenet_apid_queue_length Frames now in a tenant's queue, from every sender.
# TYPE spacenet_apid_queue_length gauge
spacenet_apid_queue_length{tenant="camera"} 3
# HELP spacenet_apid_connections_total Connections accepted for a tenant (its generation).
# TYPE spacenet_apid_connections_total counter
spacenet_apid_connections_total{tenant="camera"} 4
# HELP spacenet_apid_edge_frames_total Frames a sender (tenant, or ground) forwarded to a tenant (written to its socket or queued for it) or to the ground link: the traffic on each edge of the policy.
# TYPE spacenet_apid_edge_frames_total counter
spacenet_apid_edge_frames_total{from="camera",to="ground"} 1
spacenet_apid_edge_frames_total{from="camera",to="processor"} 5
# HELP spacenet_downlink_packets_total Space Packets to the ground (space to ground): sent, refused_by_ground, queue_full, send_failed, refused_unattributed.
# TYPE spacenet_downlink_packets_total counter
spacenet_downlink_packets_total{outcome="queue_full"} 0
spacenet_downlink_packets_total{outcome="refused_by_ground"} 1
spacenet_downlink_packets_total{outcome="refused_unattributed"} 0
spacenet_downlink_packets_total{outcome="send_failed"} 0
spacenet_downlink_packets_total{outcome="sent"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "spacenet_apid_frames_total", "spacenet_apid_dropped_total",
		"spacenet_apid_queue_length", "spacenet_apid_connections_total", "spacenet_apid_edge_frames_total", "spacenet_downlink_packets_total"); err != nil {
		t.Error(err)
	}
}

func TestLANCollector(t *testing.T) {
	c := metrics.NewLAN(func() *control.LAN {
		return &control.LAN{TableMACs: 2, Ports: []control.Port{{Name: "camera", Tenant: "cam", RxFrames: 4, TxFrames: 3,
			RxDrops: map[string]uint64{"spoofed_mac": 1}, TxDrops: map[string]uint64{"queue_full": 2}, Queued: 1}}}
	})
	if probs, err := testutil.CollectAndLint(c); err != nil || len(probs) > 0 {
		t.Fatalf("lint: %v %v", err, probs)
	}
	want := `
# HELP spacenet_lan_frames_total Frames of a port: direction in = received from its NIC (before checks), out = accepted by its NIC.
# TYPE spacenet_lan_frames_total counter
spacenet_lan_frames_total{direction="in",port="camera",tenant="cam"} 4
spacenet_lan_frames_total{direction="out",port="camera",tenant="cam"} 3
# HELP spacenet_lan_dropped_total Frames dropped, by reason: direction in = at ingress on this port, out = on the way out of it.
# TYPE spacenet_lan_dropped_total counter
spacenet_lan_dropped_total{direction="in",port="camera",reason="spoofed_mac",tenant="cam"} 1
spacenet_lan_dropped_total{direction="out",port="camera",reason="queue_full",tenant="cam"} 2
# HELP spacenet_lan_mac_table_entries Live entries in the MAC table.
# TYPE spacenet_lan_mac_table_entries gauge
spacenet_lan_mac_table_entries 2
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "spacenet_lan_frames_total", "spacenet_lan_dropped_total", "spacenet_lan_mac_table_entries"); err != nil {
		t.Error(err)
	}
}
