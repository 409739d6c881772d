package tcp

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"spacenet/ip/wire"
)

// The conformance tables, worked from RFC 9293 section 3.10 (event
// processing), RFC 5961 (challenge ACKs) and RFC 9293 figures 7-13: our
// Table on one side, a scripted peer on the other. Each step injects a
// segment (or calls the application, or moves the clock) and gives the
// state that must follow and the exact segments that must come out.
// Sequence numbers are relative: ours to our ISS, the peer's to its ISN
// (peerISN), so "S 0" is a SYN at ISS and ".1/1" an ACK with seq ISS+1,
// ack peerISN+1.

const peerISN = 5000

// cseg is a segment in relative numbers: flags as flagString writes
// them, seq and ack relative, n bytes of data, window (unscaled).
type cseg struct {
	flags    string
	seq, ack uint32
	n        int
	win      uint16
}

func (s cseg) String() string {
	return fmt.Sprintf("%s seq=%d ack=%d len=%d", s.flags, s.seq, s.ack, s.n)
}

type cstep struct {
	name  string
	in    *cseg       // a segment from the peer
	do    func(*Conn) // or an application call
	wait  int64       // or time passing (ns)
	state State       // the state after the step (Closed: slot freed)
	out   []cseg      // exactly these segments out (win not compared)
	rst   bool        // the Table answers with a RST (no connection)
	check func(*Conn) string
}

// conformance runs steps against one Table; active says we dial first,
// otherwise we listen.
type conformance struct {
	t    *testing.T
	tab  *Table
	conn *Conn
	app  *app
	now  int64
	buf  []byte
}

var (
	us   = netip.MustParseAddrPort("10.0.0.1:80")
	peer = netip.MustParseAddrPort("10.0.0.2:4000")
)

func newConformance(t *testing.T, active bool, cfg Config) *conformance {
	t.Helper()
	tab, err := NewTable(cfg)
	if err != nil {
		t.Fatal(err)
	}
	k := &conformance{t: t, tab: tab, now: 1e9, buf: make([]byte, MaxHeader+2000), app: &app{regrant: true}}
	if active {
		c, err := tab.Dial(us, peer, k.app.App(65535), k.now)
		if err != nil {
			t.Fatal(err)
		}
		k.conn = c
	} else if err := tab.Listen(Listener{Port: us.Port(), Quota: 2, Accept: func(l, r netip.AddrPort) (App, bool) {
		return k.app.App(65535), true
	}}); err != nil {
		t.Fatal(err)
	}
	return k
}

// plainConfig turns the options off so that segments are bare.
func plainConfig() Config {
	return Config{Conns: 4, MSS: 1000, WindowScale: -1, NoTimestamps: true, NoSACK: true}
}

func (k *conformance) rel(s cseg) *Segment {
	flags := uint16(0)
	for _, ch := range s.flags {
		flags |= map[rune]uint16{'S': wire.TCPFlagSYN, 'F': wire.TCPFlagFIN, 'R': wire.TCPFlagRST,
			'P': wire.TCPFlagPSH, '.': wire.TCPFlagACK}[ch]
	}
	iss := uint32(0)
	if k.conn != nil {
		iss = k.conn.iss
	}
	win := s.win
	if win == 0 && !strings.Contains(s.flags, "R") {
		win = 65535
	}
	o := &wire.TCPOptions{}
	if strings.Contains(s.flags, "S") {
		o.HasMSS, o.MSS = true, 1000
	}
	return &Segment{Remote: peer, Local: us, Seq: peerISN + s.seq, Ack: iss + s.ack, Flags: flags, Window: win,
		Options: o, Payload: make([]byte, s.n)}
}

func (k *conformance) run(steps []cstep) {
	for i, st := range steps {
		label := fmt.Sprintf("step %d (%s)", i, st.name)
		var out []cseg
		switch {
		case st.in != nil:
			seg := k.rel(*st.in)
			if rst := k.tab.Input(seg, k.now); rst != st.rst {
				k.t.Errorf("%s: RST answer %v, want %v", label, rst, st.rst)
			} else if rst {
				n := Reset(seg, k.buf)
				d := k.decode(k.buf[:n])
				if seg.Flags&wire.TCPFlagACK == 0 {
					d.seq = wire.TCP(k.buf).Seq() // 0: not one of ours
				}
				out = append(out, d)
			}
		case st.do != nil:
			st.do(k.conn)
		default:
			k.now += st.wait
			k.tab.Tick(k.now)
		}
		if k.conn == nil && k.tab.Conns() > 0 {
			for i := range k.tab.conns {
				if k.tab.conns[i].inUse {
					k.conn = &k.tab.conns[i]
				}
			}
		}
		out = append(out, k.drain()...)
		if got := k.state(); got != st.state {
			k.t.Errorf("%s: state %v, want %v", label, got, st.state)
		}
		if fmt.Sprint(out) != fmt.Sprint(st.out) {
			k.t.Errorf("%s: sent %v, want %v", label, out, st.out)
		}
		if st.check != nil {
			if msg := st.check(k.conn); msg != "" {
				k.t.Errorf("%s: %s", label, msg)
			}
		}
	}
}

func (k *conformance) state() State {
	if k.conn == nil || !k.conn.inUse {
		return Closed
	}
	return k.conn.state
}

func (k *conformance) drain() []cseg {
	var out []cseg
	for c := k.tab.Next(); c != nil; c = k.tab.Next() {
		for {
			n := c.Output(k.now, k.buf)
			if n == 0 {
				break
			}
			out = append(out, k.decode(k.buf[:n]))
		}
	}
	return out
}

func (k *conformance) decode(b []byte) cseg {
	h := wire.TCP(b)
	iss := uint32(0)
	if k.conn != nil {
		iss = k.conn.iss
	}
	s := cseg{flags: flagString(h.Flags()), seq: h.Seq() - iss, ack: h.Ack() - peerISN, n: len(h.Payload())}
	if h.Flags()&wire.TCPFlagACK == 0 {
		s.ack = 0
	}
	return s
}

func in(flags string, seq, ack uint32, n int) *cseg {
	return &cseg{flags: flags, seq: seq, ack: ack, n: n}
}
func out(flags string, seq, ack uint32, n int) cseg {
	return cseg{flags: flags, seq: seq, ack: ack, n: n}
}

func errIs(want error) func(*Conn) string {
	return func(c *Conn) string {
		if c.err != want {
			return fmt.Sprintf("err %v, want %v", c.err, want)
		}
		return ""
	}
}

// established is the active open of figure 7 seen from A.
var established = []cstep{
	{name: "dial", wait: 0, state: SynSent, out: []cseg{out("S", 0, 0, 0)}},
	{name: "SYN-ACK", in: in("S.", 0, 1, 0), state: Established, out: []cseg{out(".", 1, 1, 0)}},
}

func steps(parts ...[]cstep) []cstep {
	var all []cstep
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name   string
		active bool
		steps  []cstep
	}{
		{"active open (fig. 7)", true, established},
		{"passive open (fig. 7, B)", false, []cstep{
			{name: "SYN", in: in("S", 0, 0, 0), state: SynReceived, out: []cseg{out("S.", 0, 1, 0)}},
			// The ACK of the SYN grows no window: IW stays 4 MSS.
			{name: "ACK", in: in(".", 1, 1, 0), state: Established, check: cc(4000, 1<<30, 0)},
		}},
		{"simultaneous open (fig. 8)", true, []cstep{
			{name: "dial", state: SynSent, out: []cseg{out("S", 0, 0, 0)}},
			{name: "SYN crosses", in: in("S", 0, 0, 0), state: SynReceived, out: []cseg{out("S.", 0, 1, 0)}},
			{name: "peer's SYN-ACK", in: in("S.", 0, 1, 0), state: Established, out: []cseg{out(".", 1, 1, 0)}},
		}},
		{"SYN-SENT: RST with our ACK refuses (3.10.7.3)", true, []cstep{
			{name: "dial", state: SynSent, out: []cseg{out("S", 0, 0, 0)}},
			{name: "RST", in: in("R.", 0, 1, 0), state: Closed, check: errIs(ErrRefused)},
		}},
		{"SYN-SENT: bad ACK answered with RST, RST without ACK ignored", true, []cstep{
			{name: "dial", state: SynSent, out: []cseg{out("S", 0, 0, 0)}},
			{name: "ACK of nothing", in: in(".", 0, 5, 0), state: SynSent, rst: true, out: []cseg{out("R", 5, 0, 0)}},
			{name: "RST no ACK", in: in("R", 0, 0, 0), state: SynSent},
		}},
		{"SYN-SENT: SYN retransmitted at RTO, given up after 6", true, []cstep{
			{name: "dial", state: SynSent, out: []cseg{out("S", 0, 0, 0)}},
			{name: "1 s", wait: InitialRTO, state: SynSent, out: []cseg{out("S", 0, 0, 0)}},
			{name: "2 s", wait: 2 * InitialRTO, state: SynSent, out: []cseg{out("S", 0, 0, 0)}},
			{name: "4 s", wait: 4 * InitialRTO, state: SynSent, out: []cseg{out("S", 0, 0, 0)}},
			{name: "8 s", wait: 8 * InitialRTO, state: SynSent, out: []cseg{out("S", 0, 0, 0)}},
			{name: "16 s", wait: 16 * InitialRTO, state: SynSent, out: []cseg{out("S", 0, 0, 0)}},
			{name: "32 s", wait: 32 * InitialRTO, state: SynSent, out: []cseg{out("S", 0, 0, 0)}},
			{name: "60 s", wait: 60 * InitialRTO, state: Closed, check: errIs(ErrTimeout)},
		}},
		{"active close (fig. 12, A)", true, steps(established, []cstep{
			{name: "Close", do: (*Conn).Close, state: FinWait1, out: []cseg{out("F.", 1, 1, 0)}},
			{name: "ACK of FIN", in: in(".", 1, 2, 0), state: FinWait2},
			{name: "peer FIN", in: in("F.", 1, 2, 0), state: TimeWait, out: []cseg{out(".", 2, 2, 0)}},
			{name: "FIN again: ACK again", in: in("F.", 1, 2, 0), state: TimeWait, out: []cseg{out(".", 2, 2, 0)}},
			{name: "2 MSL", wait: 2 * DefaultMSL, state: Closed, check: errIs(nil)},
		})},
		{"passive close (fig. 12, B)", true, steps(established, []cstep{
			{name: "peer FIN", in: in("F.", 1, 1, 0), state: CloseWait, out: []cseg{out(".", 1, 2, 0)}},
			{name: "Close", do: (*Conn).Close, state: LastAck, out: []cseg{out("F.", 1, 2, 0)}},
			{name: "ACK of FIN", in: in(".", 2, 2, 0), state: Closed, check: errIs(nil)},
		})},
		{"simultaneous close (fig. 13)", true, steps(established, []cstep{
			{name: "Close", do: (*Conn).Close, state: FinWait1, out: []cseg{out("F.", 1, 1, 0)}},
			{name: "FINs cross", in: in("F.", 1, 1, 0), state: Closing, out: []cseg{out(".", 2, 2, 0)}},
			{name: "ACK of FIN", in: in(".", 2, 2, 0), state: TimeWait},
			{name: "2 MSL", wait: 2 * DefaultMSL, state: Closed},
		})},
		{"FIN retransmitted at RTO in FIN-WAIT-1", true, steps(established, []cstep{
			{name: "Close", do: (*Conn).Close, state: FinWait1, out: []cseg{out("F.", 1, 1, 0)}},
			{name: "RTO", wait: InitialRTO, state: FinWait1, out: []cseg{out("F.", 1, 1, 0)}},
		})},
		{"RST exactly at RCV.NXT resets (RFC 5961 3.2)", true, steps(established, []cstep{
			{name: "RST", in: in("R", 1, 0, 0), state: Closed, check: errIs(ErrReset)},
		})},
		{"RST in window, not exact: challenge ACK", true, steps(established, []cstep{
			{name: "RST", in: in("R", 100, 0, 0), state: Established, out: []cseg{out(".", 1, 1, 0)}},
		})},
		{"RST outside the window: dropped", true, steps(established, []cstep{
			{name: "RST", in: in("R", 1<<20, 0, 0), state: Established},
		})},
		{"SYN in ESTABLISHED: challenge ACK (RFC 5961 4.2)", true, steps(established, []cstep{
			{name: "SYN", in: in("S", 1, 0, 0), state: Established, out: []cseg{out(".", 1, 1, 0)}},
		})},
		{"ACK of unsent data: ACK, dropped", true, steps(established, []cstep{
			{name: "ACK too far", in: in(".", 1, 99, 10), state: Established, out: []cseg{out(".", 1, 1, 0)},
				check: func(c *Conn) string {
					if c.Readable() != 0 {
						return "data of a segment with a bad ACK was taken"
					}
					return ""
				}},
		})},
		{"segment outside the window: ACK (3.10.7.4)", true, steps(established, []cstep{
			{name: "old", in: in(".", 0, 1, 0), state: Established, out: []cseg{out(".", 1, 1, 0)}},
			{name: "beyond", in: in(".", 70000, 1, 10), state: Established, out: []cseg{out(".", 1, 1, 0)}},
		})},
		{"segment without ACK in ESTABLISHED: dropped", true, steps(established, []cstep{
			{name: "no ACK", in: in("", 1, 0, 10), state: Established},
		})},
		{"delayed ACK: every second segment, else after 40 ms", true, steps(established, []cstep{
			{name: "data 1", in: in(".", 1, 1, 100), state: Established},
			{name: "data 2", in: in(".", 101, 1, 100), state: Established, out: []cseg{out(".", 1, 201, 0)}},
			{name: "data 3", in: in(".", 201, 1, 100), state: Established},
			{name: "39 ms", wait: DelayedACK - 1, state: Established},
			{name: "40 ms", wait: 1, state: Established, out: []cseg{out(".", 1, 301, 0)}},
		})},
		{"out of order: a duplicate ACK each, then the gap filled", true, steps(established, []cstep{
			{name: "gap", in: in(".", 101, 1, 100), state: Established, out: []cseg{out(".", 1, 1, 0)}},
			{name: "gap 2", in: in(".", 201, 1, 100), state: Established, out: []cseg{out(".", 1, 1, 0)}},
			{name: "fill", in: in(".", 1, 1, 100), state: Established, out: []cseg{out(".", 1, 301, 0)}},
		})},
		{"no connection: SYN and ACK answered with RST (3.10.7.1)", true, []cstep{
			{name: "dial", state: SynSent, out: []cseg{out("S", 0, 0, 0)}},
			{name: "abort", do: (*Conn).Abort, state: Closed},
			{name: "SYN", in: in("S", 0, 0, 0), state: Closed, rst: true, out: []cseg{out("R.", 0, 1, 0)}},
			{name: "RST", in: in("R", 0, 0, 0), state: Closed},
		}},
		{"LISTEN: ACK answered with RST, RST ignored, then SYN", false, []cstep{
			{name: "ACK", in: in(".", 0, 77, 0), state: Closed, rst: true, out: []cseg{out("R", 77, 0, 0)}},
			{name: "RST", in: in("R", 0, 0, 0), state: Closed},
			{name: "SYN", in: in("S", 0, 0, 0), state: SynReceived, out: []cseg{out("S.", 0, 1, 0)}},
			{name: "SYN-ACK lost: again at RTO", wait: InitialRTO, state: SynReceived, out: []cseg{out("S.", 0, 1, 0)}},
			{name: "RST from the peer frees the slot", in: in("R", 1, 0, 0), state: Closed},
		}},
		{"SYN-RECEIVED: bad ACK answered with RST", false, []cstep{
			{name: "SYN", in: in("S", 0, 0, 0), state: SynReceived, out: []cseg{out("S.", 0, 1, 0)}},
			{name: "bad ACK", in: in(".", 1, 9, 0), state: SynReceived, rst: true, out: []cseg{out("R", 9, 0, 0)}},
		}},
		{"data and FIN in one segment", true, steps(established, []cstep{
			{name: "data+FIN", in: in("F.", 1, 1, 10), state: CloseWait, out: []cseg{out(".", 1, 12, 0)}},
		})},
		{"send: data, retransmission at RTO, ACK", true, steps(established, []cstep{
			{name: "push", do: func(c *Conn) { c.Push(1500) }, state: Established,
				out: []cseg{out(".", 1, 1, 1000), out("P.", 1001, 1, 500)}},
			{name: "RTO", wait: InitialRTO, state: Established, out: []cseg{out(".", 1, 1, 1000)}},
			{name: "ACK 1000", in: in(".", 1, 1001, 0), state: Established, out: []cseg{out("P.", 1001, 1, 500)}},
			{name: "ACK all", in: in(".", 1, 1501, 0), state: Established},
		})},
		{"Abort sends RST", true, steps(established, []cstep{
			{name: "Abort", do: (*Conn).Abort, state: Closed, out: []cseg{out("R.", 1, 1, 0)}},
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newConformance(t, tc.active, plainConfig())
			if !tc.active {
				k.conn = nil
			}
			k.run(tc.steps)
		})
	}
}

// TestPAWS: with timestamps, a segment whose TSval is older than
// TS.Recent is refused and answered with an ACK (RFC 7323 5.3 R1); one
// with a newer TSval is taken and updates TS.Recent (R3).
func TestPAWS(t *testing.T) {
	cfg := plainConfig()
	cfg.NoTimestamps = false
	k := newConformance(t, true, cfg)
	k.run([]cstep{{name: "dial", state: SynSent, out: []cseg{out("S", 0, 0, 0)}}})
	c := k.conn
	ts := func(s *Segment, val uint32) *Segment {
		s.Options.HasTimestamps, s.Options.TSVal, s.Options.TSEcr = true, val, c.tsNow(k.now)
		return s
	}
	synack := ts(k.rel(cseg{flags: "S.", seq: 0, ack: 1}), 100)
	k.tab.Input(synack, k.now)
	k.drain()
	if c.State() != Established || !c.tsOK || c.tsRecent != 100 {
		t.Fatalf("state %v, timestamps %v, TS.Recent %d", c.State(), c.tsOK, c.tsRecent)
	}
	k.tab.Input(ts(k.rel(cseg{flags: ".", seq: 1, ack: 1, n: 100}), 200), k.now)
	if c.Readable() != 100 || c.tsRecent != 200 {
		t.Errorf("newer TSval: read %d, TS.Recent %d; want 100, 200", c.Readable(), c.tsRecent)
	}
	k.drain()
	refused := k.tab.Stats().Refused[Unacceptable]
	k.tab.Input(ts(k.rel(cseg{flags: ".", seq: 101, ack: 1, n: 100}), 150), k.now)
	got := k.drain()
	if c.Readable() != 100 || k.tab.Stats().Refused[Unacceptable] != refused+1 || fmt.Sprint(got) != fmt.Sprint([]cseg{out(".", 1, 101, 0)}) {
		t.Errorf("older TSval: read %d, refused %d, sent %v; want 100, %d, an ACK", c.Readable(), k.tab.Stats().Refused[Unacceptable], got, refused+1)
	}
}

// TestSYNWindowUnscaled: the window of a SYN-ACK is not scaled (RFC 7323
// 2.2), even when both sides scale; the next ACK's is.
func TestSYNWindowUnscaled(t *testing.T) {
	cfg := plainConfig()
	cfg.WindowScale = 7
	k := newConformance(t, true, cfg)
	k.run([]cstep{{name: "dial", state: SynSent, out: []cseg{out("S", 0, 0, 0)}}})
	synack := k.rel(cseg{flags: "S.", seq: 0, ack: 1, win: 1000})
	synack.Options.HasWindowScale, synack.Options.WindowScale = true, 3
	k.tab.Input(synack, k.now)
	if c := k.conn; c.State() != Established || c.sndScale != 3 || c.sndWnd != 1000 {
		t.Fatalf("state %v, scale %d, window %d; want ESTABLISHED, 3, 1000", c.State(), c.sndScale, c.sndWnd)
	}
	k.tab.Input(k.rel(cseg{flags: ".", seq: 1, ack: 1, win: 1000}), k.now)
	if c := k.conn; c.sndWnd != 8000 {
		t.Errorf("window after an ACK %d, want 8000", c.sndWnd)
	}
}
