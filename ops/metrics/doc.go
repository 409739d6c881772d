// Package metrics exposes a running switch's counters to Prometheus: a
// custom Collector per plane that reads one control snapshot per scrape
// (control.APIDSource.Snapshot, control.LANSnapshot), so the switch does no
// work per frame for it. The HTTP server behind --metrics-listen (/metrics,
// and / the status page) is package spacenet/ops/metrics/serve.
//
// Labels are bounded: tenant and port names come from the operator's
// policy or configuration, reasons and directions from fixed lists. It is
// not a history: Prometheus keeps that.
package metrics
