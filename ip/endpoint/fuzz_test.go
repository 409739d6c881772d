package endpoint

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"spacenet/ip/wire"
)

// FuzzAnswer feeds arbitrary frames to Answer: it must not panic, must
// count each frame exactly once (answered or refused), and every answer it
// makes must decode with valid checksums, from our MAC and address.
func FuzzAnswer(f *testing.F) {
	for _, c := range goldenCases {
		f.Add(unhex(f, c.request))
	}
	// One endpoint for all inputs: each fuzzing process calls the function
	// serially.
	e, _, _ := newEndpoint(f, Config{UDP: Echo})
	buf := make([]byte, 1522)
	f.Fuzz(func(t *testing.T, req []byte) {
		if len(req) > len(buf) {
			req = req[:len(buf)]
		}
		before := e.Stats()
		got := answer(e, buf, req)
		s := e.Stats()
		if s.RxFrames != before.RxFrames+1 || s.Answered()+s.RefusedTotal() != before.Answered()+before.RefusedTotal()+1 {
			t.Fatalf("frame not counted exactly once: %+v then %+v", before, s)
		}
		if len(got) == 0 {
			return
		}
		var p wire.Packet
		if err := wire.Decode(got, &p); err != nil {
			t.Fatalf("answer does not decode: %v\n%x", err, got)
		}
		if p.Ethernet.Src() != usMAC {
			t.Fatalf("answer from %v", p.Ethernet.Src())
		}
		switch {
		case p.ARP != nil:
			if p.ARP.SenderIP() != us4.Addr() || p.ARP.Op() != wire.ARPReply {
				t.Fatal("bad ARP answer")
			}
		case p.IPv4 != nil:
			if !p.IPv4.ChecksumValid() || p.IPv4.Src() != us4.Addr() {
				t.Fatal("bad IPv4 answer")
			}
			if p.ICMPv4 != nil && !p.ICMPv4.ChecksumValid() {
				t.Fatal("bad ICMPv4 checksum")
			}
			if p.UDP != nil && !p.UDP.ChecksumValid(p.IPv4.PseudoHeaderSum(), false) {
				t.Fatal("bad UDP checksum")
			}
		case p.IPv6 != nil:
			h := p.IPv6
			if h.Src() != us6.Addr() {
				t.Fatal("bad IPv6 source")
			}
			if p.ICMPv6 != nil && !p.ICMPv6.ChecksumValid(wire.PseudoHeaderSum(wire.ProtoICMPv6, h.Src(), h.Dst(), len(p.ICMPv6))) {
				t.Fatal("bad ICMPv6 checksum")
			}
			if p.UDP != nil && !p.UDP.ChecksumValid(wire.PseudoHeaderSum(wire.ProtoUDP, h.Src(), h.Dst(), len(p.UDP)), false) {
				t.Fatal("bad UDP checksum")
			}
		default:
			t.Fatalf("answer of no known kind: %x", got)
		}
	})
}

// TestWriteFuzzCorpus regenerates testdata/fuzz/FuzzAnswer from the golden
// requests when ENDPOINT_WRITE_CORPUS=1, and otherwise checks it exists.
func TestWriteFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzAnswer")
	if os.Getenv("ENDPOINT_WRITE_CORPUS") == "1" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, c := range goldenCases {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", unhex(t, c.request))
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("golden%02d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) == 0 {
		t.Errorf("%s: no seed corpus (%v)", dir, err)
	}
}
