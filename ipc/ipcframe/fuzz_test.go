package ipcframe

import (
	"testing"
	"time"

	"spacenet/apid/frame"
	"spacenet/ipc"
)

// FuzzReassemble feeds a stream of frames, cut from the fuzzer's bytes, to a
// small Reassembler: it must never panic, keep its accounting exact, respect
// its limits, and every completed message must be as long as its header said.
func FuzzReassemble(f *testing.F) {
	seed := func(msgs ...[]frame.Frame) []byte {
		var b []byte
		for _, fs := range msgs {
			for i := range fs {
				b = append(b, fs[i][:]...)
			}
		}
		return b
	}
	one, _ := Append(nil, Request, 0x20, 0x10, 1, []byte("hello"))
	multi, _ := Append(nil, Reply, 0x10, 0x20, 2, msgOf(600))
	f.Add(seed(one))
	f.Add(seed(multi))
	f.Add(seed(multi[:2], one, multi[2:]))
	f.Add(seed(multi[1:], multi[:1]))
	req, _ := ipc.AppendRequest(nil, &ipc.Request{Op: 2, Args: make([]byte, 8), ReplyCap: 4,
		Leases: []ipc.Lease{{Write: true, Data: make([]byte, 65536)}, {Read: true, Data: msgOf(300)}}})
	reqFs, _ := Append(nil, Request, 0x20, 0x10, 3, req)
	f.Add(seed(reqFs))
	rep, _ := ipc.AppendReply(nil, &ipc.Reply{RC: 0, Body: []byte{1, 2, 3, 4}, Written: [][]byte{msgOf(500), nil}})
	repFs, _ := Append(nil, Reply, 0x10, 0x20, 3, rep)
	f.Add(seed(repFs))
	post, _ := AppendPost(nil, 0x20, 0x10, 4, 0x8001)
	refused, _ := Append(nil, PostRefused, 0x10, 0x20, 4, nil)
	f.Add(seed(post, refused, multi[:1], post))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReassembler(Limits{MaxMessage: 2000, MaxPartial: 5, MaxPartialSender: 3, MaxBuffered: 3000,
			MaxBufferedSender: 1600, IdleTimeout: time.Second, Sender: tenants, Senders: 3})
		now := t0
		for len(b) > 0 {
			var fr frame.Frame
			n := copy(fr[:], b)
			b = b[n:]
			now = now.Add(time.Duration(fr[frame.Size-1]) * 10 * time.Millisecond)
			res := r.Add(&fr, now)
			st := r.Stats()
			if st.Partial > 5 || st.Buffered > 3000 {
				t.Fatalf("limits exceeded: %+v", st)
			}
			checkShares(t, r)
			switch res.Status {
			case Complete:
				if len(res.Data) != int(res.Header.Total) {
					t.Fatalf("complete message of %d bytes, header says %d", len(res.Data), res.Header.Total)
				}
				if res.Key.Kind == Post && len(res.Data) != PostSize {
					t.Fatalf("post of %d bytes", len(res.Data))
				}
				// Decoding what came out must not panic either.
				if res.Key.Kind == Request {
					ipc.ParseRequest(res.Data)
				} else {
					var rep ipc.Reply
					ipc.ParseReply(res.Data, &rep)
				}
			case Refused:
				if res.Reason == OK || res.Reason >= numReasons {
					t.Fatalf("refused with %v", res.Reason)
				}
			}
			sum := 0
			for _, p := range r.parts {
				sum += cap(p.buf)
			}
			if sum != st.Buffered {
				t.Fatalf("buffered %d, partials hold %d", st.Buffered, sum)
			}
		}
	})
}

// checkShares checks a Reassembler's per-sender accounting against its
// partial messages, its per-sender limits, and that the shares the senders
// leave unused are still free overall.
func checkShares(t *testing.T, r *Reassembler) {
	t.Helper()
	used := make([]budget, len(r.used))
	for _, p := range r.parts {
		used[p.sender].parts++
		used[p.sender].bytes += cap(p.buf)
	}
	var unused budget
	for s := range used {
		if used[s] != r.used[s] {
			t.Fatalf("sender %d charged %+v, holds %+v", s, r.used[s], used[s])
		}
		if used[s].parts > r.lim.MaxPartialSender || used[s].bytes > r.lim.MaxBufferedSender {
			t.Fatalf("sender %d holds %+v, past its limits", s, used[s])
		}
		u := unusedOf(r.reserveOf(s), used[s])
		unused.parts += u.parts
		unused.bytes += u.bytes
	}
	if unused != r.unused {
		t.Fatalf("unused shares %+v, counted %+v", unused, r.unused)
	}
	if len(r.parts)+unused.parts > r.lim.MaxPartial || r.buffered+unused.bytes > r.lim.MaxBuffered {
		t.Fatalf("%d partials, %d bytes: another sender's share is taken (unused %+v)", len(r.parts), r.buffered, unused)
	}
}
