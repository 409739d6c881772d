package lan

import (
	"context"
	"log/slog"

	"spacenet/internal/logging"
)

// logRefused logs, at debug level, that a frame port in took in was
// dropped for reason r: "frame refused" with tenant, port and reason,
// thinned per (port, reason) (suppressed: the lines left out since the
// last), the shape the APID switch logs its refusals in. At any other
// level it costs a level check; the frame is counted either way (RxDrops).
func (s *Switch) logRefused(in *port, r Reason) {
	if !s.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	if k, ok := s.refusals.Allow(in.name, logging.Reason(r)); ok {
		s.log.Debug("frame refused", "tenant", in.tenant, "port", in.name, "reason", r.String(), "suppressed", k)
	}
}
