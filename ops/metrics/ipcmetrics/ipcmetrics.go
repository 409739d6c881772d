// Package ipcmetrics exposes IPC nodes' call counters (switched.Node.Stats)
// to Prometheus: calls by outcome, their latency histogram, the calls the
// switch refused by ERROR code, and what the node answered to the calls it
// received. One snapshot per node per scrape; the node keeps its counters
// anyway (atomics, no work per call for a scrape).
//
// It is guest-side: an IPC node lives in a guest program (a tenant), not in
// the switch, so the program serves its node's metrics itself, with
// Serve (--metrics-listen) or Listen. It imports neither
// the switch nor package metrics (whose collectors read the switches'
// control snapshots). Labels are bounded: node is the tenant's name (from
// the policy), outcome and reason come from fixed lists.
package ipcmetrics

import (
	"log/slog"
	"math"
	"net"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"spacenet/apid/frame"
	"spacenet/ipc"
	"spacenet/ipc/switched"
	"spacenet/ops/metrics/serve"
)

// The metrics.
var (
	calls = prometheus.NewDesc("spacenet_ipc_calls_total",
		"Calls a node's clients made, by how they ended: ok, a fault (unknown_operation ... server_death), refused (by the switch: spacenet_ipc_refusals_total), busy, deadline, canceled, closed, bad_reply, error.",
		[]string{"node", "outcome"}, nil)
	duration = prometheus.NewDesc("spacenet_ipc_call_duration_seconds",
		"Duration of a node's clients' calls, from the call to its return, whatever the outcome.",
		[]string{"node"}, nil)
	refusals = prometheus.NewDesc("spacenet_ipc_refusals_total",
		"Calls of a node the switch refused, by the ERROR code it answered (lower case: not_permitted, host_busy, ...).",
		[]string{"node", "reason"}, nil)
	served = prometheus.NewDesc("spacenet_ipc_served_total",
		"Calls a node received, by the answer it sent: ok (a reply), a fault (from a server or the node's runtime), busy.",
		[]string{"node", "outcome"}, nil)
)

// servedOutcomes are the answers a node sends: a reply, a fault, busy.
var servedOutcomes = []switched.Outcome{
	switched.OutcomeOK,
	switched.Outcome(ipc.UnknownOperation), switched.Outcome(ipc.BadMessageSize),
	switched.Outcome(ipc.BadMessageContents), switched.Outcome(ipc.BadLease),
	switched.Outcome(ipc.ReplyBufferTooSmall), switched.Outcome(ipc.AccessViolation),
	switched.Outcome(ipc.WentAway), switched.OutcomeServerDeath,
	switched.OutcomeBusy,
}

// bounds are the histogram's upper bounds in seconds: the first times
// powers of 2, exactly (so that le reads 1.6384, not 1.6383999999999999).
var bounds = func() []float64 {
	b := make([]float64, switched.NumLatencyBuckets)
	for i := range b {
		b[i] = math.Ldexp(switched.LatencyBound(0).Seconds(), i)
	}
	return b
}()

// Collector collects IPC nodes' counters at scrape time.
type Collector struct{ nodes []*switched.Node }

// New returns the collector of nodes, each labelled with its tenant
// (node="camera"): give a program's nodes, one per tenant.
func New(nodes ...*switched.Node) *Collector { return &Collector{nodes: nodes} }

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{calls, duration, refusals, served} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. Every outcome and reason is
// exported, zeros included.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, n := range c.nodes {
		st := n.Stats()
		name := n.Tenant()
		for o := range switched.Outcome(switched.NumOutcomes) {
			ch <- prometheus.MustNewConstMetric(calls, prometheus.CounterValue, float64(st.CallOutcomes[o]), name, o.String())
		}
		for code := frame.UnknownType; code <= frame.MaxErrorCode; code++ {
			ch <- prometheus.MustNewConstMetric(refusals, prometheus.CounterValue, float64(st.CallsRefused[code]),
				name, strings.ToLower(code.String()))
		}
		for _, o := range servedOutcomes {
			ch <- prometheus.MustNewConstMetric(served, prometheus.CounterValue, float64(st.Answers[o]), name, o.String())
		}
		ch <- prometheus.MustNewConstHistogram(duration, st.Latency.Count(), st.Latency.Sum.Seconds(), cumulative(&st.Latency), name)
	}
}

// cumulative is the histogram's buckets as Prometheus has them: the count
// of calls at most each bound (the +Inf bucket is the count).
func cumulative(l *switched.Latency) map[float64]uint64 {
	m := make(map[float64]uint64, len(bounds))
	var acc uint64
	for i, b := range bounds {
		acc += l.Counts[i]
		m[b] = acc
	}
	return m
}

// Listen serves nodes' metrics on addr (HOST:PORT; port 0 picks one) at
// /metrics until Close (serve.Listen).
func Listen(addr string, log *slog.Logger, nodes ...*switched.Node) (*serve.Server, error) {
	return serve.Listen(addr, New(nodes...), nil, log)
}

// Serve is what a guest program's --metrics-listen ADDR does: nothing when
// addr is empty; else Listen, the address logged and given to ready (if
// not nil: tests learn the port 0 picked). stop closes the server (a no-op
// when there is none).
func Serve(addr string, log *slog.Logger, ready func(net.Addr), nodes ...*switched.Node) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	m, err := Listen(addr, log, nodes...)
	if err != nil {
		return nil, err
	}
	log.Info("serving metrics", "addr", m.Addr())
	if ready != nil {
		ready(m.Addr())
	}
	return func() { m.Close() }, nil
}
