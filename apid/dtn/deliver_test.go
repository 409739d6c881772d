package dtn

import (
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"spacenet/apid/frame"
	"spacenet/apid/policy"
)

// fakeSwitch records what a Link gives it: a mock isolating the link's
// ordering logic from the switch and dtnd.
type fakeSwitch struct {
	pol      *policy.Policy
	mu       sync.Mutex
	injected []uint8 // first payload byte of each frame injected
	ground   []uint8
	back     []frame.ErrorCode
}

func (s *fakeSwitch) Policy() *policy.Policy { return s.pol }
func (s *fakeSwitch) InjectRemote(remote int, f *frame.Frame) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.injected = append(s.injected, f.Payload()[0])
	return nil
}
func (s *fakeSwitch) Inject(f *frame.Frame) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ground = append(s.ground, f.Payload()[0])
	return nil
}
func (s *fakeSwitch) RemoteUndelivered(f *frame.Frame, code frame.ErrorCode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.back = append(s.back, code)
}
func (s *fakeSwitch) GroundUndelivered(f *frame.Frame, code frame.ErrorCode) {
	s.RemoteUndelivered(f, code)
}

func testLink(t *testing.T) (*Link, *fakeSwitch) {
	t.Helper()
	p, err := policy.Parse("p.toml", []byte("[[tenant]]\nname = \"processor\"\nowns = [\"0x020\"]\n[[remote]]\nname = \"flight\"\nowns = [\"0x010\"]\nendpoint = \"dtn://a/s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLink(LinkConfig{Agent: "127.0.0.1:1", Endpoint: "dtn://b/s", Ground: "dtn://g/s",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	sw := &fakeSwitch{pol: p}
	l.sw = sw
	return l, sw
}

// batchBundle is a bundle from src with one frame whose payload is tag, at
// position pos of stream, created at created with lifetime 1000 ms.
func batchBundle(src string, stream, pos uint64, tag byte, created uint64) Bundle {
	var f frame.Frame
	_ = frame.Encode(&f, frame.TM, 0x010, 0x020, []byte{tag})
	return Bundle{Source: src, Created: created, Lifetime: 1000, Payload: AppendFrame(AppendBatch(nil, stream, pos), &f)}
}

// TestArriveInOrder: batches arriving out of order are delivered in stream
// order; repeats are dropped as duplicates; a missing batch is waited for
// until the lifetime of the first held back after it has passed, then
// given up; a new stream starts at position 0 after the old one's
// held-back batches; the ground's endpoint goes to Inject; an unknown
// endpoint and a malformed payload are counted, not delivered.
func TestArriveInOrder(t *testing.T) {
	l, sw := testLink(t)
	streams := make(map[int]*inStream)
	const a = "dtn://a/s"
	for _, b := range []Bundle{
		batchBundle(a, 1, 2, 'c', 5000),
		batchBundle(a, 1, 0, 'a', 5000),
		batchBundle(a, 1, 0, 'a', 5000), // a copy
		batchBundle(a, 1, 1, 'b', 5000),
		batchBundle(a, 1, 2, 'c', 5000), // a late copy
		batchBundle(a, 1, 5, 'f', 6000), // 3 and 4 missing
		batchBundle(a, 1, 4, 'e', 5500),
	} {
		l.arrive(streams, b)
	}
	if got := string(sw.injected); got != "abc" {
		t.Fatalf("delivered %q, want abc", got)
	}
	// Position 3 is given up once e's lifetime (created 5500 + 1000 ms)
	// has passed, and not before.
	at := func(ms uint64) time.Time { return dtnEpoch.Add(time.Duration(ms) * time.Millisecond) }
	if d, ok := gapDeadline(streams[0]); !ok || !d.Equal(at(6500)) {
		t.Fatalf("gap deadline %v %v, want %v", d, ok, at(6500))
	}
	l.skipGaps(streams, at(6499))
	if got := string(sw.injected); got != "abc" {
		t.Fatalf("delivered %q before the gap's deadline", got)
	}
	l.skipGaps(streams, at(6500))
	if got := string(sw.injected); got != "abcef" {
		t.Fatalf("delivered %q, want abcef", got)
	}
	// The sender restarted: stream 2 from 0, after stream 1's held back.
	l.arrive(streams, batchBundle(a, 1, 7, 'h', 7000))
	l.arrive(streams, batchBundle(a, 2, 1, 'j', 8000))
	l.arrive(streams, batchBundle(a, 2, 0, 'i', 8000))
	if got := string(sw.injected); got != "abcefhij" {
		t.Fatalf("delivered %q, want abcefhij", got)
	}
	l.arrive(streams, batchBundle("dtn://g/s", 9, 0, 'G', 9000))
	l.arrive(streams, batchBundle("dtn://x/s", 9, 0, 'X', 9000))
	bad := batchBundle(a, 2, 2, 'k', 9000)
	bad.Payload = bad.Payload[:len(bad.Payload)-1]
	l.arrive(streams, bad)
	st := l.Stats()
	if string(sw.ground) != "G" || st.Duplicates != 2 || st.Gaps != 2 || st.UnknownSource != 1 || st.Malformed != 1 || st.FramesIn != 9 {
		t.Fatalf("ground %q, stats %+v", sw.ground, st)
	}
}

// TestSendRemoteFull: with the queue full for Hold, SendRemote refuses
// with Host_busy; after Run has ended, with Link_failed.
func TestSendRemoteFull(t *testing.T) {
	l, err := NewLink(LinkConfig{Agent: "127.0.0.1:1", Endpoint: "dtn://b/s", QueueLen: 1, Hold: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var f frame.Frame
	if err := l.SendRemote(0, &f); err != nil {
		t.Fatal(err)
	}
	if err := l.SendRemote(0, &f); err != frame.HostBusy {
		t.Fatalf("full queue: %v", err)
	}
	close(l.quit)
	<-l.queue
	if err := l.SendRemote(0, &f); err != frame.LinkFailed {
		t.Fatalf("stopped: %v", err)
	}
	if err := l.SendFrame(&f); err != frame.NoRoute {
		t.Fatalf("no ground: %v", err)
	}
}
