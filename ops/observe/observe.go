// Package observe starts what an operator sees of a running switch: its
// control socket (package control, read by spacenet status) and, when an
// address is given, its Prometheus endpoint (package metrics's collectors,
// served by package serve). It is the one call `spacenet run` and
// `spacenet lan run` make once their switch is up; it does not start or
// stop a switch.
package observe

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"spacenet/ip/lan"
	"spacenet/ops/control"
	"spacenet/ops/metrics"
	"spacenet/ops/metrics/serve"
	"spacenet/ops/monitor"
)

// Views are a running switch's control socket, monitor socket (the APID
// switch's) and metrics server.
type Views struct {
	ctl *control.Server
	mon *monitor.Server
	met *serve.Server
}

// APID opens the control socket and the monitor socket (package monitor)
// of src's switch in its socket directory (which the switch holds locked)
// and, if metricsAddr is not empty, serves its metrics there, with the
// status page (APIDPage) at /. Any of them failing is an error.
func APID(src *control.APIDSource, metricsAddr string, log *slog.Logger) (*Views, error) {
	if log == nil {
		log = slog.Default()
	}
	path := control.Path(src.Switch.SocketDir())
	ctl, err := control.Listen(path, func() any { return src.Snapshot() }, log)
	if err != nil {
		return nil, err
	}
	log.Info("control socket", "path", path)
	v := &Views{ctl: ctl}
	mpath := monitor.Path(src.Switch.SocketDir())
	if v.mon, err = monitor.Listen(mpath, src.Switch, log); err != nil {
		ctl.Close()
		return nil, err
	}
	log.Info("monitor socket", "path", mpath)
	if err := v.serveMetrics(metricsAddr, metrics.NewAPID(src.Snapshot), APIDPage(src.Snapshot), log); err != nil {
		v.Close()
		return nil, err
	}
	return v, nil
}

// LAN opens the control socket of l in dir (created 0700 if missing) and,
// if metricsAddr is not empty, serves its metrics there, with the status
// page (LANPage) at /. The LAN's ports
// need not be in dir (a configuration file puts them anywhere), so a
// control socket that cannot be opened there is logged as an error and the
// LAN runs without one; the metrics server failing is an error.
func LAN(l *lan.LAN, dir, metricsAddr string, log *slog.Logger) (*Views, error) {
	if log == nil {
		log = slog.Default()
	}
	snap := func() *control.LAN { return control.LANSnapshot(l) }
	v := &Views{}
	path := control.Path(dir)
	err := os.MkdirAll(dir, 0o700)
	if err == nil {
		v.ctl, err = control.Listen(path, func() any { return snap() }, log)
	}
	if err != nil {
		log.Error("lan: no control socket: lan status cannot reach this LAN", "path", path, "err", err)
	} else {
		log.Info("control socket", "path", path)
	}
	if err := v.serveMetrics(metricsAddr, metrics.NewLAN(snap), LANPage(snap), log); err != nil {
		v.Close()
		return nil, err
	}
	return v, nil
}

// serveMetrics starts the metrics server on addr, if not empty.
func (v *Views) serveMetrics(addr string, c prometheus.Collector, page http.Handler, log *slog.Logger) error {
	if addr == "" {
		return nil
	}
	m, err := serve.Listen(addr, c, page, log)
	if err != nil {
		return fmt.Errorf("--metrics-listen %s: %w", addr, err)
	}
	v.met = m
	log.Info("metrics listening", "addr", m.Addr().String())
	return nil
}

// MetricsAddr is the metrics server's address ("" without one).
func (v *Views) MetricsAddr() string {
	if v.met == nil {
		return ""
	}
	return v.met.Addr().String()
}

// Close stops serving them all; monitors get what their taps still hold.
func (v *Views) Close() error {
	if v.met != nil {
		v.met.Close()
	}
	if v.mon != nil {
		v.mon.Close()
	}
	if v.ctl == nil {
		return nil
	}
	return v.ctl.Close()
}
