package metrics

import (
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"spacenet/ops/metrics/serve"
)

// Collector is what Listen serves: a prometheus.Collector.
type Collector = prometheus.Collector

// Server is the HTTP server of --metrics-listen (package serve).
type Server = serve.Server

// Listen serves c's metrics on addr (HOST:PORT; port 0 picks one) at
// /metrics, and page (if not nil) at /, until Close: serve.Listen.
func Listen(addr string, c prometheus.Collector, page http.Handler, log *slog.Logger) (*Server, error) {
	return serve.Listen(addr, c, page, log)
}
