package switched

import (
	"slices"
	"testing"
	"time"

	"spacenet/apid/frame"
	"spacenet/ipc/ipcframe"
)

// keptHarness is a node with no connection whose kept replies are set by
// hand; refused replies are never retried (no connection to write to).
type keptHarness struct {
	t       *testing.T
	n       *Node
	now     time.Time
	settled []frame.ErrorCode
}

func newKeptHarness(t *testing.T) *keptHarness {
	n, err := NewNode(Config{Socket: "/nonexistent", Tenant: "camera", Logger: quiet(), ReplyRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	h := &keptHarness{t: t, n: n, now: time.Unix(1000, 0)}
	n.kept.onSettle = func(code frame.ErrorCode, retried bool) {
		if retried {
			t.Errorf("a retry with ReplyRetries < 0")
		}
		h.settled = append(h.settled, code)
	}
	return h
}

// keep keeps a reply of msgLen bytes from src for call id, as written (its
// write done) at h.now.
func (h *keptHarness) keep(src frame.APID, id uint32, msgLen int) *sentReply {
	fs := mustFrames(h.t, ipcframe.Reply, src, 0x020, id, make([]byte, msgLen))
	r := h.n.kept.newReply(fs, 0x020, id)
	if early := h.n.kept.add(r, h.now); early != 0 {
		h.t.Fatalf("keeping call %d forgot %d replies early", id, early)
	}
	h.n.kept.wrote(r)
	return r
}

// kept lists the replies kept, oldest first.
func (h *keptHarness) kept() []*sentReply {
	k := &h.n.kept
	var out []*sentReply
	for i := range k.count {
		if r := k.ring[(k.head+i)&(len(k.ring)-1)]; r != nil {
			out = append(out, r)
		}
	}
	return out
}

// TestKeptRepliesLookup: an ERROR about a reply finds the replies kept by
// server APID, kind, call id and length: a permanent refusal the oldest
// match only, Host_busy every match; later segments of a settled reply are
// absorbed, a first segment matching nothing is counted unmatched.
func TestKeptRepliesLookup(t *testing.T) {
	h := newKeptHarness(t)
	a := h.keep(0x010, 5, 9)   // call 5 of one caller
	b := h.keep(0x010, 5, 9)   // call 5 of another caller: looks the same
	c := h.keep(0x010, 6, 9)   // another call
	d := h.keep(0x011, 5, 9)   // another server APID
	e := h.keep(0x010, 5, 300) // another length (two frames)
	h.n.handle(refusalOf(t, frame.NotPermitted, ipcframe.Reply, 0x010, 5, 9, 0))
	if got, want := h.kept(), []*sentReply{b, c, d, e}; !slices.Equal(got, want) || !slices.Equal(h.settled, []frame.ErrorCode{frame.NotPermitted}) || !slices.Contains(h.n.kept.free, a) {
		t.Fatalf("after Not_permitted: kept %v settled %v; want the oldest match (a) settled and recycled", got, h.settled)
	}
	h.n.handle(refusalOf(t, frame.HostBusy, ipcframe.Reply, 0x010, 5, 300, 1)) // e's second frame
	h.n.handle(refusalOf(t, frame.HostBusy, ipcframe.Reply, 0x010, 5, 300, 0)) // e's first: e is gone, unmatched
	h.n.handle(refusalOf(t, frame.HostBusy, ipcframe.Reply, 0x010, 5, 300, 1)) // again: absorbed
	if got, want := h.kept(), []*sentReply{b, c, d}; !slices.Equal(got, want) {
		t.Fatalf("after e's refusals: kept %v, want b c d", got)
	}
	h.n.handle(refusalOf(t, frame.HostBusy, ipcframe.Busy, 0x010, 6, 0, 0)) // a busy answer, not c's reply
	st := h.n.Stats()
	if len(h.settled) != 2 || st.RefusedUnmatched != 2 || st.RepliesRefused != 5 || st.RepliesDropped != 2 || st.RepliesRetried != 0 {
		t.Fatalf("settled %v, stats %+v; want 2 settled, 2 unmatched, 5 refused, 2 dropped", h.settled, st)
	}
}

// TestKeptRepliesBounds: replies are forgotten once older than keepReplies
// (not counted) or beyond maxKeptReplyFrames frames (counted early).
func TestKeptRepliesBounds(t *testing.T) {
	h := newKeptHarness(t)
	h.keep(0x010, 1, 9)
	h.now = h.now.Add(keepReplies + time.Millisecond)
	second := h.keep(0x010, 2, 9) // the first is old enough: forgotten, not early
	if got := h.kept(); !slices.Equal(got, []*sentReply{second}) {
		t.Fatalf("kept %v, want the second only", got)
	}
	for id := uint32(3); id < maxKeptReplyFrames+2; id++ {
		h.keep(0x010, id, 9)
	}
	k := &h.n.kept
	if k.count != maxKeptReplyFrames || k.frames != maxKeptReplyFrames {
		t.Fatalf("%d replies, %d frames kept; want %d", k.count, k.frames, maxKeptReplyFrames)
	}
	fs := mustFrames(t, ipcframe.Reply, 0x010, 0x020, 9999, make([]byte, 9))
	if early := k.add(k.newReply(fs, 0x020, 9999), h.now); early != 1 {
		t.Fatalf("one more reply at the bound forgot %d early, want 1", early)
	}
}

// TestKeptReplyRecycledAfterItsWrite: a reply settled (dropped) while its
// write goes on is not recycled, and so not overwritten by the next reply,
// until that write returns.
func TestKeptReplyRecycledAfterItsWrite(t *testing.T) {
	h := newKeptHarness(t)
	k := &h.n.kept
	fs := mustFrames(t, ipcframe.Reply, 0x010, 0x020, 7, make([]byte, 9))
	r := k.newReply(fs, 0x020, 7)
	k.add(r, h.now) // kept, its write in progress
	h.n.handle(refusalOf(t, frame.NoRoute, ipcframe.Reply, 0x010, 7, 9, 0))
	if len(h.settled) != 1 || slices.Contains(k.free, r) {
		t.Fatalf("settled %v; recycled during its write: %v", h.settled, slices.Contains(k.free, r))
	}
	k.wrote(r)
	if !slices.Contains(k.free, r) {
		t.Fatal("not recycled after its write")
	}
}
