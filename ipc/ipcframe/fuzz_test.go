package ipcframe

import (
	"testing"
	"time"

	"spacenet/frame"
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
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReassembler(Limits{MaxMessage: 2000, MaxPartial: 4, MaxPartialPeer: 2, MaxBuffered: 3000, IdleTimeout: time.Second})
		now := t0
		for len(b) > 0 {
			var fr frame.Frame
			n := copy(fr[:], b)
			b = b[n:]
			now = now.Add(time.Duration(fr[frame.Size-1]) * 10 * time.Millisecond)
			res := r.Add(&fr, now)
			st := r.Stats()
			if st.Partial > 4 || st.Buffered > 3000 {
				t.Fatalf("limits exceeded: %+v", st)
			}
			switch res.Status {
			case Complete:
				if len(res.Data) != int(res.Header.Total) {
					t.Fatalf("complete message of %d bytes, header says %d", len(res.Data), res.Header.Total)
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
