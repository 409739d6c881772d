package apidswitch

import (
	"errors"

	"spacenet/ccsds"
	"spacenet/frame"
)

// hasUplink reports whether cfg configures a ground link.
func (c *Config) hasUplink() bool { return c.Uplink != nil || c.UplinkFrames != nil }

// sendUplink gives f, sent by tenant from, to the ground link: wrapped as a
// Space Packet of Config.Layout for Config.Uplink, as it is (padding zeroed) for
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
		var t ccsds.CFSTime
		if s.cfg.Layout == ccsds.CFS {
			t = ccsds.CFSTimeOf(s.cfg.Clock())
		}
		var n int
		n, err = s.cfg.Layout.WrapDown(s.uplinkPkt[:], f, s.uplinkSeq.Next(f.APID()), t)
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

// UplinkRefused takes back a packet the ground link had sent but the ground
// refused afterwards (uplink.UDP learns of it from an ICMP error): its
// frame moves from its sender's DeliveredUplink to Dropped[Link_failed],
// and the sender is answered with an ERROR naming it. pkt is the Space
// Packet as sent. A packet that is not one of the switch's, or whose sender
// no tenant in force owns, is counted in UplinkRefusedUnknown.
func (s *Switch) UplinkRefused(pkt []byte) {
	var f frame.Frame
	if _, err := s.cfg.Layout.UnwrapDown(&f, pkt); err != nil {
		s.uplinkRefusedUnknown.Add(1)
		return
	}
	st := s.state.Load()
	i, ok := st.pol.Owner(f.APID())
	if !ok {
		s.uplinkRefusedUnknown.Add(1)
		return
	}
	t := st.tenants[i]
	t.st.mu.Lock()
	if t.st.deliveredUplink == 0 {
		t.st.mu.Unlock()
		s.uplinkRefusedUnknown.Add(1)
		return
	}
	t.st.deliveredUplink--
	t.st.dropped[frame.LinkFailed]++
	t.st.mu.Unlock()
	var e frame.Frame
	frame.EncodeError(&e, frame.LinkFailed, &f)
	if t.enqueueNotice(&e) {
		t.q.signal()
	}
}

// UplinkRefusedUnknown is how many refusals UplinkRefused could not
// attribute to a frame of a tenant in force.
func (s *Switch) UplinkRefusedUnknown() uint64 { return s.uplinkRefusedUnknown.Load() }
