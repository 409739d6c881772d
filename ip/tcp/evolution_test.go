package tcp

import (
	"fmt"
	"spacenet/ip/wire"
	"testing"
)

// cc checks the congestion window, slow-start threshold and RTO.
func cc(cwnd, ssthresh uint32, rto int64) func(*Conn) string {
	return func(c *Conn) string {
		if c.cwnd != cwnd || c.ssthresh != ssthresh || (rto != 0 && c.rto != rto) {
			return fmt.Sprintf("cwnd %d ssthresh %d rto %v; want %d %d %v", c.cwnd, c.ssthresh, c.rto, cwnd, ssthresh, rto)
		}
		return ""
	}
}

// TestCongestionEvolution follows RTO (RFC 6298) and the congestion
// window (RFC 5681 slow start, RFC 6582 NewReno fast recovery, RFC 5681
// 3.1 after a timeout) through one connection on the fake clock, with
// MSS 1000 and no options, to the byte.
func TestCongestionEvolution(t *testing.T) {
	const huge = 1 << 30
	k := newConformance(t, true, plainConfig())
	k.run([]cstep{
		{name: "dial", state: SynSent, out: []cseg{out("S", 0, 0, 0)}},
		{name: "100 ms", wait: 100 * ms, state: SynSent},
		// First sample R = 100 ms: SRTT 100, RTTVAR 50, RTO = 100 + 4*50.
		{name: "SYN-ACK", in: in("S.", 0, 1, 0), state: Established, out: []cseg{out(".", 1, 1, 0)},
			check: cc(4000, huge, 300*ms)},
		// IW = 4 MSS for MSS <= 1095 (RFC 5681 3.1).
		{name: "push 10000", do: func(c *Conn) { c.Push(10000) }, state: Established,
			out: []cseg{out(".", 1, 1, 1000), out(".", 1001, 1, 1000), out(".", 2001, 1, 1000), out(".", 3001, 1, 1000)}},
		{name: "100 ms", wait: 100 * ms, state: Established},
		// Second sample R = 100: RTTVAR = 3/4*50 + 1/4*0, RTO = 100 + 4*37.5.
		// Slow start: cwnd += acked.
		{name: "ACK 1001", in: in(".", 1, 1001, 0), state: Established,
			out:   []cseg{out(".", 4001, 1, 1000), out(".", 5001, 1, 1000)},
			check: cc(5000, huge, 250*ms)},
		{name: "ACK 2001", in: in(".", 1, 2001, 0), state: Established,
			out:   []cseg{out(".", 6001, 1, 1000), out(".", 7001, 1, 1000)},
			check: cc(6000, huge, 0)},
		{name: "dup 1", in: in(".", 1, 2001, 0), state: Established, check: cc(6000, huge, 0)},
		{name: "dup 2", in: in(".", 1, 2001, 0), state: Established, check: cc(6000, huge, 0)},
		// Third duplicate: ssthresh = flight/2, cwnd = ssthresh + 3 MSS,
		// the segment at SND.UNA again.
		{name: "dup 3", in: in(".", 1, 2001, 0), state: Established, out: []cseg{out(".", 2001, 1, 1000)},
			check: cc(6000, 3000, 0)},
		// Each further duplicate inflates by one MSS, letting one new
		// segment out.
		{name: "dup 4", in: in(".", 1, 2001, 0), state: Established, out: []cseg{out(".", 8001, 1, 1000)},
			check: cc(7000, 3000, 0)},
		// Partial ACK (below recover = 8001): the next hole again, cwnd
		// deflated by the bytes acked and inflated by one MSS.
		{name: "partial ACK", in: in(".", 1, 3001, 0), state: Established,
			out:   []cseg{out(".", 3001, 1, 1000), out("P.", 9001, 1, 1000)},
			check: cc(7000, 3000, 0)},
		// Full ACK: cwnd = min(ssthresh, flight + MSS), recovery ends.
		{name: "full ACK", in: in(".", 1, 8001, 0), state: Established, check: cc(3000, 3000, 0)},
		// No ACK for one RTO: ssthresh = max(flight/2, 2 MSS), cwnd =
		// 1 MSS (loss window), RTO doubled, the first unacked again.
		{name: "RTO", wait: 250 * ms, state: Established, out: []cseg{out(".", 8001, 1, 1000)},
			check: cc(1000, 2000, 500*ms)},
		{name: "RTO again", wait: 500 * ms, state: Established, out: []cseg{out(".", 8001, 1, 1000)},
			check: cc(1000, 2000, 1000*ms)},
		// The ACK of a retransmission gives no sample (Karn), but it
		// ends the backoff; slow start again.
		{name: "ACK 9001", in: in(".", 1, 9001, 0), state: Established, out: []cseg{out("P.", 9001, 1, 1000)},
			check: cc(2000, 2000, 250*ms)},
		// At ssthresh: congestion avoidance, one MSS per window acked.
		{name: "ACK all", in: in(".", 1, 10001, 0), state: Established, check: cc(2000, 2000, 0)},
	})
}

// TestRTOAfterSYNLoss: the SYN was lost once, so data transmission
// starts with an RTO of 3 s (RFC 6298 5.7; no sample: Karn) and an
// initial window of one segment (RFC 5681 3.1), active and passive.
func TestRTOAfterSYNLoss(t *testing.T) {
	k := newConformance(t, true, plainConfig())
	k.run([]cstep{
		{name: "dial", state: SynSent, out: []cseg{out("S", 0, 0, 0)}},
		{name: "SYN again", wait: InitialRTO, state: SynSent, out: []cseg{out("S", 0, 0, 0)}},
		{name: "SYN-ACK", in: in("S.", 0, 1, 0), state: Established, out: []cseg{out(".", 1, 1, 0)},
			check: cc(1000, 1<<30, 3*s)},
	})
	k = newConformance(t, false, plainConfig())
	k.conn = nil
	k.run([]cstep{
		{name: "SYN", in: in("S", 0, 0, 0), state: SynReceived, out: []cseg{out("S.", 0, 1, 0)}},
		{name: "SYN-ACK again", wait: InitialRTO, state: SynReceived, out: []cseg{out("S.", 0, 1, 0)}},
		{name: "ACK", in: in(".", 1, 1, 0), state: Established, check: cc(1000, 1<<30, 3*s)},
	})
}

// TestSACKDupAcksWithChangingWindow: ACKs that carry SACK blocks count as
// duplicates even when their window changes (a receiver holding data
// beyond a hole shrinks its window with each): the third triggers fast
// retransmit. Counting them out (a window update is no duplicate, RFC
// 5681) left loss to the RTO: 30 RTOs instead of 8 in
// TestKernelTCPFaults.
func TestSACKDupAcksWithChangingWindow(t *testing.T) {
	cfg := plainConfig()
	cfg.NoSACK = false
	k := newConformance(t, true, cfg)
	k.run([]cstep{{name: "dial", state: SynSent, out: []cseg{out("S", 0, 0, 0)}}})
	synack := k.rel(cseg{flags: "S.", seq: 0, ack: 1})
	synack.Options.SACKPermitted = true
	k.tab.Input(synack, k.now)
	k.drain()
	c := k.conn
	if !c.sackOK {
		t.Fatal("SACK not negotiated")
	}
	c.Push(4000)
	if got := len(k.drain()); got != 4 {
		t.Fatalf("%d segments sent, want 4", got)
	}
	var sent []cseg
	for i, win := range []uint16{60000, 59000, 58000} {
		ack := k.rel(cseg{flags: ".", seq: 1, ack: 1, win: win})
		ack.Options.NumSACK = 1
		ack.Options.SACK[0] = wire.SACKBlock{Left: c.iss + 1001, Right: c.iss + 1001 + uint32(1000*(i+1))}
		k.tab.Input(ack, k.now)
		sent = append(sent, k.drain()...)
	}
	if c.info.FastRetransmits != 1 || fmt.Sprint(sent) != fmt.Sprint([]cseg{out(".", 1, 1, 1000)}) {
		t.Errorf("fast retransmits %d, sent %v; want 1 and the first segment again", c.info.FastRetransmits, sent)
	}
}
