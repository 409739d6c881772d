package tcp

import (
	"fmt"
	"net/netip"
	"testing"

	"spacenet/ip/wire"
)

// boundedSink records a write outside the window the engine granted.
type boundedSink struct {
	conn *Conn
	bad  string
}

func (s *boundedSink) WriteAt(p []byte, off int64) (int, error) {
	if c := s.conn; c != nil && (off < 0 || off+int64(len(p)) > c.granted) {
		s.bad = fmt.Sprintf("write [%d, %d) outside the window [0, %d)", off, off+int64(len(p)), c.granted)
	}
	return len(p), nil
}

// FuzzSegmentInput feeds an arbitrary TCP segment (header, options,
// data) to a connection in one of five situations, with its sequence and
// acknowledgment numbers taken relative to the connection's so that they
// land in and around the windows, then runs the timers. Nothing may
// panic; every segment the engine writes must parse; the send pointers
// stay ordered; data is written only inside the granted window.
func FuzzSegmentInput(f *testing.F) {
	for _, s := range []struct {
		flags    uint16
		seq, ack uint32
		n        int
		opts     wire.TCPOptions
	}{
		{flags: wire.TCPFlagACK, n: 100},
		{flags: wire.TCPFlagACK | wire.TCPFlagFIN, n: 10},
		{flags: wire.TCPFlagRST},
		{flags: wire.TCPFlagSYN, opts: wire.TCPOptions{HasMSS: true, MSS: 500, SACKPermitted: true, HasWindowScale: true, WindowScale: 9}},
		{flags: wire.TCPFlagSYN | wire.TCPFlagACK, ack: 1},
		{flags: wire.TCPFlagACK, seq: 3000, n: 200, opts: wire.TCPOptions{NumSACK: 2,
			SACK: [4]wire.SACKBlock{{Left: 1, Right: 100}, {Left: 300, Right: 400}}, HasTimestamps: true, TSVal: 7}},
		{flags: wire.TCPFlagACK, ack: 1 << 31},
	} {
		b := make([]byte, 60+s.n)
		ol := s.opts.Encode(b[20:])
		wire.TCP(b).Encode(&wire.TCPFields{SrcPort: 80, DstPort: 40000, Seq: s.seq, Ack: s.ack, Flags: s.flags,
			Window: 1000, Options: b[20 : 20+ol]})
		for st := range 6 {
			f.Add(uint8(st), b[:20+ol+s.n])
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, b []byte) {
		h, err := wire.ParseTCP(b)
		if err != nil {
			return
		}
		var opts wire.TCPOptions
		if h.ParseOptions(&opts) != nil {
			return
		}
		d := newDuo(t)
		target, tab, local, remote := d.ca, d.a, addrA, addrB
		if which%6 == 5 {
			fuzzSYN(t, d, h, &opts)
			return
		}
		switch which % 6 {
		case 1: // FIN-WAIT-1 with data lost in flight
			d.ca.Push(5000)
			d.pump()
			d.ca.Push(3000)
			d.lose = true
			d.ca.Close()
			d.pump()
			d.lose = false
		case 2: // the passive side, with data to send
			target, tab, local, remote = d.cb, d.b, addrB, addrA
			d.cb.Push(4000)
		case 3: // SYN-SENT
			remote = netip.MustParseAddrPort("10.0.0.3:80")
			target, _ = d.a.Dial(addrA, remote, App{Source: genSource{}, Sink: &boundedSink{}, Grant: 1000}, d.now)
			d.lose = true
			d.pump()
			d.lose = false
		case 4: // a listener: no connection for this tuple
			local, remote = addrB, netip.MustParseAddrPort("10.0.0.4:999")
			target, tab = nil, d.b
		}
		sink := &boundedSink{conn: target}
		if target != nil {
			target.app.Sink = sink
		}
		seg := &Segment{Remote: remote, Local: local, Seq: h.Seq(), Ack: h.Ack(), Flags: h.Flags(), Window: h.Window(),
			Options: &opts, Payload: h.Payload()}
		if target != nil && which&0x80 == 0 {
			seg.Seq += target.rcvNxt
			seg.Ack += target.sndUna
		}
		if tab.Input(seg, d.now) {
			if n := Reset(seg, d.buf); n != wire.TCPMinSize {
				t.Fatalf("Reset wrote %d bytes", n)
			}
		}
		for i := range 3 {
			for c := tab.Next(); c != nil; c = tab.Next() {
				for {
					n := c.Output(d.now, d.buf)
					if n == 0 {
						break
					}
					if _, err := wire.ParseTCP(d.buf[:n]); err != nil {
						t.Fatalf("wrote a bad segment: %v", err)
					}
					var o wire.TCPOptions
					if err := wire.TCP(d.buf[:n]).ParseOptions(&o); err != nil {
						t.Fatalf("wrote bad options: %v", err)
					}
				}
			}
			if target != nil && target.inUse {
				c := target
				if !seqLEQ(c.sndUna, c.sndNxt) || !seqLEQ(c.sndNxt, c.sndMax) {
					t.Fatalf("send pointers una %d nxt %d max %d", c.sndUna, c.sndNxt, c.sndMax)
				}
				if c.nooo > maxOOO || c.nsacked > maxSACK || c.rcvNxtOff > c.granted && !c.finRcvd {
					t.Fatalf("receive state: ooo %d sacked %d rcvNxtOff %d granted %d", c.nooo, c.nsacked, c.rcvNxtOff, c.granted)
				}
			}
			if sink.bad != "" {
				t.Fatal(sink.bad)
			}
			d.now += int64(i+1) * InitialRTO
			tab.Tick(d.now)
		}
	})
}

// fuzzSYN opens a passive connection with the fuzzed segment's options
// (as a SYN), completes the handshake and sends data: the negotiated
// MSS, window scale and timestamps drive the output.
func fuzzSYN(t *testing.T, d *duo, h wire.TCP, opts *wire.TCPOptions) {
	remote := netip.MustParseAddrPort("10.0.0.5:1234")
	seg := &Segment{Remote: remote, Local: addrB, Seq: h.Seq(), Flags: wire.TCPFlagSYN, Window: h.Window(), Options: opts}
	d.b.Input(seg, d.now)
	c := d.b.lookup(addrB, remote)
	if c == nil {
		return
	}
	for k := c.Output(d.now, d.buf); k > 0; k = c.Output(d.now, d.buf) {
	}
	ack := &Segment{Remote: remote, Local: addrB, Seq: h.Seq() + 1, Ack: c.iss + 1, Flags: wire.TCPFlagACK,
		Window: h.Window(), Options: &wire.TCPOptions{HasTimestamps: opts.HasTimestamps, TSVal: opts.TSVal, TSEcr: c.tsRecent}}
	d.b.Input(ack, d.now)
	c.Push(20000)
	for i := 0; i < 50; i++ {
		k := c.Output(d.now, d.buf)
		if k == 0 {
			d.now += InitialRTO << i
			d.b.Tick(d.now)
			continue
		}
		p, err := wire.ParseTCP(d.buf[:k])
		if err != nil {
			t.Fatalf("wrote a bad segment: %v", err)
		}
		if len(p.Payload()) > c.sndMSS || c.sndMSS < minMSS-12 {
			t.Fatalf("segment of %d bytes, send MSS %d", len(p.Payload()), c.sndMSS)
		}
	}
}
