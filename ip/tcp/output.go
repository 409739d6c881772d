package tcp

import "spacenet/ip/wire"

// MaxHeader is the longest TCP header Output writes.
const MaxHeader = wire.TCPMaxSize

// Output writes the connection's next segment into b (TCP header and
// payload, checksum zero) and returns its length, or 0 when it has nothing
// more to send now. b should hold MaxHeader plus the table's MSS; a
// shorter b shortens the segment. Call it until it returns 0. After a RST
// the connection is gone (its handler was told).
func (c *Conn) Output(now int64, b []byte) int {
	if !c.inUse || len(b) < MaxHeader {
		return 0
	}
	if c.rstPending {
		n := c.header(b, c.sndMax, wire.TCPFlagRST|wire.TCPFlagACK, now)
		err := c.err
		if err == nil {
			err = ErrAborted
		}
		c.release(err)
		return n
	}
	switch c.state {
	case SynSent, SynReceived:
		return c.outputSyn(b, now)
	case Closed, Listen:
		return 0
	}
	if c.keepProbe {
		// A keepalive probe: one sequence number the peer has seen.
		c.keepProbe = false
		return c.header(b, c.sndUna-1, wire.TCPFlagACK, now)
	}
	if c.fastRexmit {
		c.fastRexmit = false
		if seqLT(c.sndUna, c.sndMax) {
			limit := c.nextSACKed(c.sndUna, c.sndMax)
			if n := c.segment(b, c.sndUna, limit, now, true); n > 0 {
				if seqGT(c.sndUna+uint32(c.sndMSS), limit) {
					c.rexmitNext = limit
				} else {
					c.rexmitNext = c.sndUna + uint32(c.sndMSS)
				}
				return n
			}
		}
	}
	if c.holeRexmit {
		// SACK recovery: one hole resent per ACK that arrives in
		// recovery (RFC 6675's NextSeg, rule 1, clocked by ACKs).
		c.holeRexmit = false
		if start, end, ok := c.nextHole(); ok {
			if n := c.segment(b, start, end, now, true); n > 0 {
				c.rexmitNext = end
				return n
			}
		}
	}
	// Data the peer already holds (SACK) is not sent again.
	for seqLT(c.sndNxt, c.sndMax) {
		end, ok := c.sackedEnd(c.sndNxt)
		if !ok {
			break
		}
		if seqGT(end, c.sndMax) {
			end = c.sndMax
		}
		c.sndNxt = end
	}
	win := min(c.cwnd, c.sndWnd)
	used := c.sndNxt - c.sndUna
	usable := uint32(0)
	if win > used {
		usable = win - used
	}
	probe := c.probe
	c.probe = false
	if c.sendable() > 0 {
		if usable == 0 && probe {
			// A zero-window probe, as Linux sends it: one sequence
			// number the peer has seen, which it answers with its
			// window. (A byte beyond the window, RFC 9293 3.8.6.1,
			// would put SND.MAX outside it, and the pure ACKs that
			// carry SND.MAX would be refused.)
			c.info.Retransmits++
			c.table.stats.Retransmits++
			return c.header(b, c.sndUna-1, wire.TCPFlagACK, now)
		}
		if usable > 0 {
			limit := c.sndNxt + usable
			if seqLT(c.sndNxt, c.sndMax) {
				limit = c.nextSACKed(c.sndNxt, limit)
			}
			if n := c.segment(b, c.sndNxt, limit, now, false); n > 0 {
				return n
			}
		} else if c.sndWnd == 0 && c.sndUna == c.sndMax && c.rtoAt == 0 {
			c.rtoAt = now + c.rto // the persist timer
		}
	}
	if c.ackNow || c.dupAcksOwed > 0 {
		if c.dupAcksOwed > 0 {
			c.dupAcksOwed--
		}
		// A pure ACK carries the highest sequence number sent, not
		// sndNxt, which goes back after an RTO: below the peer's
		// RCV.NXT it would be unacceptable there, and two stacks that
		// both went back would answer each other's ACKs for ever.
		return c.header(b, c.sndMax, wire.TCPFlagACK, now)
	}
	return 0
}

// outputSyn sends the SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED), or an ACK
// that a SYN-RECEIVED connection owes.
func (c *Conn) outputSyn(b []byte, now int64) int {
	if !c.synPending {
		if c.ackNow && c.state == SynReceived {
			return c.header(b, c.sndNxt, wire.TCPFlagACK, now)
		}
		return 0
	}
	c.synPending = false
	flags := wire.TCPFlagSYN
	if c.state == SynReceived {
		flags |= wire.TCPFlagACK
	}
	if c.retries > 0 {
		c.info.Retransmits++
		c.table.stats.Retransmits++
		c.rexmitTS = c.tsNow(now)
		c.synLost = true
	} else {
		c.rttAt = now
	}
	c.sndNxt = c.iss + 1
	if seqGT(c.sndNxt, c.sndMax) {
		c.sndMax = c.sndNxt
	}
	if c.rtoAt == 0 {
		c.rtoAt = now + c.rto
	}
	return c.header(b, c.iss, flags, now)
}

// segment writes the segment of data (and FIN) from seq, below limit, and
// advances sndNxt unless it is a retransmission out of turn (fast
// retransmit). It returns 0 if there is nothing there to send.
func (c *Conn) segment(b []byte, seq, limit uint32, now int64, outOfTurn bool) int {
	off := c.offset(seq)
	room := int64(len(b) - MaxHeader)
	n := int64(0)
	if off >= 0 && off < c.pushed {
		n = min(c.pushed-off, int64(limit-seq), int64(c.sndMSS), room)
	}
	fin := c.finOff >= 0 && off+n == c.finOff
	if n == 0 && !fin {
		return 0
	}
	flags := wire.TCPFlagACK
	if fin {
		flags |= wire.TCPFlagFIN
	}
	if n > 0 && off+n == c.pushed {
		flags |= wire.TCPFlagPSH
	}
	hl := c.header(b, seq, flags, now)
	if n > 0 {
		if k, err := c.app.Source.ReadAt(b[hl:hl+int(n)], off); int64(k) < n {
			// The application cannot give back its own bytes: the
			// stream cannot continue.
			c.err = err
			if err == nil {
				c.err = ErrAborted
			}
			c.rstPending = true
			return c.Output(now, b)
		}
	}
	end := seq + uint32(n)
	if fin {
		end++
	}
	if seqLT(seq, c.sndMax) {
		c.info.Retransmits++
		c.table.stats.Retransmits++
		c.rttOn = false // Karn
		c.rexmitTS = c.tsNow(now)
	} else if !c.rttOn && !c.tsOK {
		c.rttOn, c.rttSeq, c.rttAt = true, end, now
	}
	if !outOfTurn {
		c.sndNxt = end
	}
	if seqGT(end, c.sndMax) {
		c.sndMax = end
	}
	if c.rtoAt == 0 {
		c.rtoAt = now + c.rto
	}
	return hl + int(n)
}

// header writes a TCP header with our options, window and
// acknowledgment, and returns its length. Every segment but the first SYN
// acknowledges rcvNxt, so it clears the ACK owed.
func (c *Conn) header(b []byte, seq uint32, flags uint16, now int64) int {
	var o wire.TCPOptions
	syn := flags&wire.TCPFlagSYN != 0
	if syn {
		o.HasMSS, o.MSS = true, uint16(c.rcvMSS)
		o.SACKPermitted = c.sackOK
		o.HasWindowScale, o.WindowScale = c.wsOK, c.rcvScale
	}
	if c.tsOK && flags&wire.TCPFlagRST == 0 {
		o.HasTimestamps, o.TSVal = true, c.tsNow(now)
		if flags&wire.TCPFlagACK != 0 {
			o.TSEcr = c.tsRecent
		}
	}
	if c.sackOK && !syn && c.nooo > 0 {
		// SACK blocks: the out-of-order ranges, at most 3 beside
		// timestamps (RFC 2018).
		o.NumSACK = min(c.nooo, 3)
		if !o.HasTimestamps {
			o.NumSACK = min(c.nooo, 4)
		}
		for i := 0; i < o.NumSACK; i++ {
			r := c.ooo[i]
			left := c.rcvNxt + uint32(r.start-c.rcvNxtOff)
			o.SACK[i] = wire.SACKBlock{Left: left, Right: left + uint32(r.end-r.start)}
		}
	}
	ol := o.Encode(b[wire.TCPMinSize:MaxHeader])
	w := c.rcvWnd()
	var win uint16
	if syn {
		win = uint16(min(w, 65535))
		c.lastAdvWnd = int64(win)
	} else {
		win = uint16(min(w>>c.rcvScale, 65535))
		c.lastAdvWnd = int64(win) << c.rcvScale
	}
	f := wire.TCPFields{SrcPort: c.local.Port(), DstPort: c.remote.Port(), Seq: seq, Flags: flags, Window: win,
		Options: b[wire.TCPMinSize : wire.TCPMinSize+ol]}
	if flags&wire.TCPFlagACK != 0 {
		f.Ack = c.rcvNxt
		c.lastAckSent = c.rcvNxt
		c.ackNow, c.unacked, c.delackAt = false, 0, 0
	}
	wire.TCP(b).Encode(&f)
	c.info.SegsOut++
	c.table.stats.SegsOut++
	return wire.TCPMinSize + ol
}
