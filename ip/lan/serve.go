package lan

import (
	"context"
	"time"
)

// SweepInterval is how often a running LAN ages out its MAC table and
// writes out its pcap buffer.
const SweepInterval = 30 * time.Second

// Run keeps the LAN's housekeeping going until ctx is done: every
// SweepInterval it ages out the MAC table (logged at debug level) and
// writes out the pcap buffer (a failure logged, not fatal). It returns nil
// once ctx is done; the ports keep forwarding until Close, so that Report
// can read their counters first. Run is the LAN's counterpart of the APID
// switch's Run; it does not catch signals or reload (Reload is the
// caller's).
func (l *LAN) Run(ctx context.Context) error {
	sweep := time.NewTicker(SweepInterval)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sweep.C:
			if n := l.Switch.Sweep(); n > 0 {
				l.log.Debug("lan: aged out MACs", "n", n)
			}
			if err := l.Flush(); err != nil {
				l.log.Error("lan: pcap", "err", err)
			}
		}
	}
}
