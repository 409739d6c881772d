package apidswitch

import (
	"errors"

	"spacenet/apid/ccsds"
	"spacenet/apid/frame"
)

// hasDownlink reports whether cfg configures a ground link.
func (c *Config) hasDownlink() bool { return c.Downlink != nil || c.DownlinkFrames != nil }

// sendGround gives f, sent by tenant from, to the ground link: wrapped as a
// Space Packet of Config.Layout for Config.Downlink, as it is (padding zeroed) for
// Config.DownlinkFrames. A failure is logged (thinned per tenant) after the
// downlink's lock is released.
func (s *Switch) sendGround(from string, f *frame.Frame) error {
	if !s.cfg.hasDownlink() {
		return errNoDownlink
	}
	s.downlinkMu.Lock()
	var err error
	if s.cfg.DownlinkFrames != nil {
		f.ZeroPadding()
		err = s.cfg.DownlinkFrames.SendFrame(f)
	} else {
		var t ccsds.CFSTime
		if s.cfg.Layout == ccsds.CFS {
			t = ccsds.CFSTimeOf(s.cfg.Clock())
		}
		var n int
		n, err = s.cfg.Layout.WrapDown(s.downlinkPkt[:], f, s.downlinkSeq.Next(f.APID()), t)
		if err == nil {
			err = s.cfg.Downlink.SendPacket(s.downlinkPkt[:n])
		}
	}
	s.downlinkMu.Unlock()
	if err == nil {
		s.tapFrames(GroundPeer, true, f[:])
	}
	if err != nil {
		n := s.downlinkFailures.Add(1)
		if k, ok := s.logLimit.Allow(from, logDownlinkRefused); ok {
			s.log.Warn("ground link refused a frame", "tenant", from, "apid", f.APID(), "failures", n, "err", err, "suppressed", k)
		}
	}
	return err
}

var errNoDownlink = errors.New("apidswitch: no ground link (downlink) configured")

// DownlinkRefused takes back a packet the ground link had sent but the ground
// refused afterwards (uplink.UDP learns of it from an ICMP error): its
// frame moves from its sender's DeliveredGround to Dropped[Link_failed],
// and the sender is answered with an ERROR naming it. pkt is the Space
// Packet as sent. A packet that is not one of the switch's, or whose sender
// no tenant in force owns, is counted in DownlinkRefusedUnknown.
func (s *Switch) DownlinkRefused(pkt []byte) {
	var f frame.Frame
	if _, err := s.cfg.Layout.UnwrapDown(&f, pkt); err != nil {
		s.downlinkRefusedUnknown.Add(1)
		return
	}
	st := s.state.Load()
	i, ok := st.pol.Owner(f.APID())
	if !ok {
		s.downlinkRefusedUnknown.Add(1)
		return
	}
	t := st.tenants[i]
	t.st.mu.Lock()
	if t.st.deliveredGround == 0 {
		t.st.mu.Unlock()
		s.downlinkRefusedUnknown.Add(1)
		return
	}
	t.st.deliveredGround--
	t.st.dropped[frame.LinkFailed]++
	t.st.mu.Unlock()
	var e frame.Frame
	frame.EncodeError(&e, frame.LinkFailed, &f)
	if t.enqueueNotice(&e) {
		t.q.signal()
	}
}

// DownlinkRefusedUnknown is how many refusals DownlinkRefused could not
// attribute to a frame of a tenant in force.
func (s *Switch) DownlinkRefusedUnknown() uint64 { return s.downlinkRefusedUnknown.Load() }
