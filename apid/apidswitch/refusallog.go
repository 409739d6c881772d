package apidswitch

import (
	"context"
	"log/slog"

	"spacenet/apid/frame"
	"spacenet/internal/logging"
)

// logRefusedBase is the first of the log-line kinds of refused frames: one
// per ERROR code, so that each (tenant, code) is thinned on its own.
const logRefusedBase logging.Reason = 16

// logRefused logs, at debug level, that a frame of tenant was refused with
// code: "frame refused" with tenant, reason, type, apid and dest, thinned
// per (tenant, code) (suppressed: the lines left out since the last). The
// LAN logs its refusals in the same shape (package lan). At any other
// level it costs a level check.
func (s *Switch) logRefused(tenant string, code frame.ErrorCode, f *frame.Frame) {
	if !s.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	if k, ok := s.logLimit.Allow(tenant, logRefusedBase+logging.Reason(code)); ok {
		s.log.Debug("frame refused", "tenant", tenant, "reason", code.String(), "type", f.Type(), "apid", f.APID(), "dest", f.Dest(), "suppressed", k)
	}
}
