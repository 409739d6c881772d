package apidswitch

import (
	"errors"

	"spacenet/ccsds"
	"spacenet/frame"
)

// hasUplink reports whether cfg configures a ground link.
func (c *Config) hasUplink() bool { return c.Uplink != nil || c.UplinkFrames != nil }

// sendUplink gives f, sent by tenant from, to the ground link: wrapped as a
// Space Packet for Config.Uplink, as it is (padding zeroed) for
// Config.UplinkFrames. A failure is logged (thinned per tenant) after the
// uplink's lock is released.
func (s *Switch) sendUplink(from string, f *frame.Frame) error {
	if !s.cfg.hasUplink() {
		return errNoUplink
	}
	s.uplinkMu.Lock()
	var err error
	if s.cfg.UplinkFrames != nil {
		f.ZeroPadding()
		err = s.cfg.UplinkFrames.SendFrame(f)
	} else {
		var n int
		n, err = ccsds.Wrap(s.uplinkPkt[:], f, s.uplinkSeq.Next(f.APID()))
		if err == nil {
			err = s.cfg.Uplink.SendPacket(s.uplinkPkt[:n])
		}
	}
	s.uplinkMu.Unlock()
	if err != nil {
		n := s.uplinkFailures.Add(1)
		if k, ok := s.logLimit.Allow(from, logUplinkRefused); ok {
			s.log.Warn("uplink refused a frame", "tenant", from, "apid", f.APID(), "failures", n, "err", err, "suppressed", k)
		}
	}
	return err
}

var errNoUplink = errors.New("apidswitch: no uplink configured")
