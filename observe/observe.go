// Package observe starts what an operator sees of a running switch: its
// control socket (package control, read by spacenet status) and, when an
// address is given, its Prometheus endpoint (package metrics). It is the
// one call `spacenet run` and `spacenet lan run` make once their switch is
// up; it does not start or stop a switch.
package observe

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"spacenet/control"
	"spacenet/lan"
	"spacenet/metrics"
)

// Views are a running switch's control socket and metrics server.
type Views struct {
	ctl *control.Server
	met *metrics.Server
}

// APID opens the control socket of src's switch in its socket directory
// (which the switch holds locked) and, if metricsAddr is not empty, serves
// its metrics there, with the status page (APIDPage) at /.
func APID(src *control.APIDSource, metricsAddr string, log *slog.Logger) (*Views, error) {
	return start(control.Path(src.Switch.SocketDir()), func() any { return src.Snapshot() },
		metricsAddr, metrics.NewAPID(src.Snapshot), APIDPage(src.Snapshot), log)
}

// LAN opens the control socket of l in dir (created 0700 if missing) and, if metricsAddr is not
// empty, serves its metrics there.
func LAN(l *lan.LAN, dir, metricsAddr string, log *slog.Logger) (*Views, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	snap := func() *control.LAN { return control.LANSnapshot(l) }
	return start(control.Path(dir), func() any { return snap() }, metricsAddr, metrics.NewLAN(snap), nil, log)
}

func start(path string, snapshot func() any, metricsAddr string, c metrics.Collector, page http.Handler, log *slog.Logger) (*Views, error) {
	if log == nil {
		log = slog.Default()
	}
	ctl, err := control.Listen(path, snapshot, log)
	if err != nil {
		return nil, err
	}
	v := &Views{ctl: ctl}
	log.Info("control socket", "path", path)
	if metricsAddr != "" {
		if v.met, err = metrics.Listen(metricsAddr, c, page, log); err != nil {
			ctl.Close()
			return nil, err
		}
		log.Info("metrics listening", "addr", v.met.Addr().String())
	}
	return v, nil
}

// MetricsAddr is the metrics server's address ("" without one).
func (v *Views) MetricsAddr() string {
	if v.met == nil {
		return ""
	}
	return v.met.Addr().String()
}

// Close stops serving both.
func (v *Views) Close() error {
	if v.met != nil {
		v.met.Close()
	}
	return v.ctl.Close()
}
