package metrics_test

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"spacenet/ip/netstack"
	"spacenet/ops/metrics"
)

func startNetstack(t *testing.T, dev netstack.Device, addr string) *netstack.Netstack {
	t.Helper()
	ns, err := netstack.New(netstack.Config{}, dev)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	ns.Start()
	if _, err := ns.Request(context.Background(), netstack.SetAddrs{Addrs: []netip.Prefix{netip.MustParsePrefix(addr + "/24")}}); err != nil {
		t.Fatal(err)
	}
	return ns
}

// sample returns the value of the series name{labels} in fams.
func sample(t *testing.T, fams []*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

// TestNetstackCollector: two netstacks joined by a pipe, a TCP connection
// from a to b with one round trip, and a UDP datagram from a to a port of
// b nobody bound. The collector gives gVisor's counts for them: one
// active and one passive opening, one connection established on each
// side, the datagram sent by a and dropped by b as udp_unknown_port;
// nothing failed. promlint is clean.
func TestNetstackCollector(t *testing.T) {
	pa, pb := netstack.NewPipe(1500, 512)
	a := startNetstack(t, pa, "10.0.0.1")
	b := startNetstack(t, pb, "10.0.0.2")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := b.ListenTCP(netip.MustParseAddrPort("10.0.0.2:5201"), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	c, err := a.DialTCP(ctx, netip.AddrPort{}, netip.MustParseAddrPort("10.0.0.2:5201"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	defer sc.Close()
	u, err := a.ListenUDP(netip.MustParseAddrPort("10.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if _, err := u.WriteTo([]byte("x"), net.UDPAddrFromAddrPort(netip.MustParseAddrPort("10.0.0.2:9"))); err != nil {
		t.Fatal(err)
	}
	// A round trip on the connection after the datagram: b took the
	// datagram in before the segment (the pipe keeps order).
	buf := make([]byte, 4)
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(sc, buf); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}

	col := metrics.NewNetstacks(func() []metrics.NamedNetstack { return []metrics.NamedNetstack{{Name: "a", NS: a}, {Name: "b", NS: b}} })
	if probs, err := testutil.CollectAndLint(col); err != nil || len(probs) > 0 {
		t.Fatalf("lint: %v %v", err, probs)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(col)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"spacenet_netstack_tcp_connections_total", map[string]string{"netstack": "a", "outcome": "active_open"}, 1},
		{"spacenet_netstack_tcp_connections_total", map[string]string{"netstack": "a", "outcome": "passive_open"}, 0},
		{"spacenet_netstack_tcp_connections_total", map[string]string{"netstack": "b", "outcome": "passive_open"}, 1},
		{"spacenet_netstack_tcp_connections_total", map[string]string{"netstack": "b", "outcome": "active_open"}, 0},
		{"spacenet_netstack_tcp_connections_total", map[string]string{"netstack": "a", "outcome": "failed"}, 0},
		{"spacenet_netstack_tcp_established", map[string]string{"netstack": "a"}, 1},
		{"spacenet_netstack_tcp_established", map[string]string{"netstack": "b"}, 1},
		{"spacenet_netstack_udp_datagrams_total", map[string]string{"netstack": "a", "direction": "out"}, 1},
		{"spacenet_netstack_udp_datagrams_total", map[string]string{"netstack": "b", "direction": "in"}, 0},
		{"spacenet_netstack_dropped_total", map[string]string{"netstack": "b", "reason": "udp_unknown_port"}, 1},
		{"spacenet_netstack_dropped_total", map[string]string{"netstack": "a", "reason": "udp_unknown_port"}, 0},
		{"spacenet_netstack_dropped_total", map[string]string{"netstack": "b", "reason": "not_ip"}, 0},
		{"spacenet_netstack_commands_total", map[string]string{"netstack": "a", "outcome": "failed"}, 0},
	} {
		if got := sample(t, fams, w.name, w.labels); got != w.want {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.want)
		}
	}
	// Packets both ways at the link and at IP (how many depends on TCP's
	// acknowledgements).
	for _, n := range []string{"a", "b"} {
		in := sample(t, fams, "spacenet_netstack_packets_total", map[string]string{"netstack": n, "direction": "in"})
		ipIn := sample(t, fams, "spacenet_netstack_ip_packets_total", map[string]string{"netstack": n, "outcome": "received"})
		out := sample(t, fams, "spacenet_netstack_packets_total", map[string]string{"netstack": n, "direction": "out"})
		if in < 3 || out < 3 || ipIn < 3 {
			t.Errorf("%s: link in %v out %v, IP received %v", n, in, out, ipIn)
		}
	}
}
