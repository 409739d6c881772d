package apidswitch

import (
	"errors"

	"spacenet/ccsds"
	"spacenet/frame"
)

// hasUplink reports whether cfg configures a ground link.
func (c *Config) hasUplink() bool { return c.Uplink != nil || c.UplinkFrames != nil }

// sendUplink gives f to the ground link: wrapped as a Space Packet for
// Config.Uplink, as it is (padding zeroed) for Config.UplinkFrames.
func (s *Switch) sendUplink(f *frame.Frame) error {
	if !s.cfg.hasUplink() {
		return errNoUplink
	}
	s.uplinkMu.Lock()
	defer s.uplinkMu.Unlock()
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
	if err != nil {
		if n := s.uplinkFailures.Add(1); n&(n-1) == 0 { // log failures 1, 2, 4, 8, ...
			s.log.Warn("uplink refused a frame", "apid", f.APID(), "failures", n, "err", err)
		}
	}
	return err
}

var errNoUplink = errors.New("apidswitch: no uplink configured")
