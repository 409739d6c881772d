package ipc

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func mustRequest(t testing.TB, req *Request) []byte {
	t.Helper()
	b, err := AppendRequest(nil, req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseRequestInto: decoding a sequence of requests into one Request
// gives what ParseRequest gives each time, whatever the previous one held
// (a reused empty slice is empty, not nil).
func TestParseRequestInto(t *testing.T) {
	msgs := []*Request{
		{Op: 3, ReplyCap: 10},
		{Op: 7, ReplyCap: 64, Args: []byte{1, 2, 3, 4}, Leases: []Lease{
			{Read: true, Data: []byte("hello")}, {Write: true, Data: make([]byte, 9)}, {Read: true, Write: true, Data: []byte{9, 9}},
		}},
		{Op: 1, Args: []byte{5}, Leases: []Lease{{Write: true, Data: make([]byte, 3)}}}, // over old read data: zeroed
		{Op: 2, Leases: []Lease{{Read: true}, {Write: true}}},                           // empty leases
		{Op: 9, Args: bytes.Repeat([]byte{7}, 300)},
	}
	var into Request
	for i, m := range msgs {
		b := mustRequest(t, m)
		want, err := ParseRequest(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := ParseRequestInto(b, &into); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if diff := cmp.Diff(want, &into, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("message %d (-ParseRequest +ParseRequestInto):\n%s", i, diff)
		}
		for j, l := range into.Leases {
			if !l.Read && len(l.Data) != len(m.Leases[j].Data) {
				t.Errorf("message %d lease %d: %d bytes", i, j, len(l.Data))
			}
			if !l.Read && !bytes.Equal(l.Data, make([]byte, len(l.Data))) {
				t.Errorf("message %d lease %d: write-only buffer not zeroed: %x", i, j, l.Data)
			}
		}
	}
}

// TestParseRequestIntoErrors: malformed requests fail like ParseRequest.
func TestParseRequestIntoErrors(t *testing.T) {
	good := mustRequest(t, &Request{Op: 7, Args: []byte{1}, Leases: []Lease{{Read: true, Data: []byte("ab")}}})
	for _, b := range [][]byte{
		nil,
		good[:3],
		good[:len(good)-1],
		append(append([]byte{}, good...), 0),
		{1, 0, 0, 0, 0, 0, 0, 0, 1, 4, 0, 0, 0, 0},             // lease flags 4
		{1, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0xFF, 0xFF, 0xFF, 0x7F}, // lease too long
	} {
		_, want := ParseRequest(b)
		var req Request
		got := ParseRequestInto(b, &req)
		if want == nil || got == nil || got.Error() != want.Error() {
			t.Errorf("% x: ParseRequestInto = %v, ParseRequest = %v", b, got, want)
		}
	}
}

// TestParseRequestIntoAllocs: reusing the Request allocates nothing.
func TestParseRequestIntoAllocs(t *testing.T) {
	b := mustRequest(t, &Request{Op: 7, ReplyCap: 64, Args: []byte{1, 2, 3, 4}, Leases: []Lease{
		{Read: true, Data: make([]byte, 4096)}, {Write: true, Data: make([]byte, 65536)},
	}})
	var req Request
	if err := ParseRequestInto(b, &req); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if err := ParseRequestInto(b, &req); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("ParseRequestInto: %v allocations per run, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { ParseRequest(b) }); n == 0 {
		t.Errorf("ParseRequest: no allocation: the baseline is wrong")
	}
}

func BenchmarkParseRequest(b *testing.B) {
	msg := mustRequest(b, &Request{Op: 7, ReplyCap: 64, Args: []byte{1, 2, 3, 4}, Leases: []Lease{{Write: true, Data: make([]byte, 64)}}})
	b.Run("ParseRequest", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseRequest(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ParseRequestInto", func(b *testing.B) {
		b.ReportAllocs()
		var req Request
		for b.Loop() {
			if err := ParseRequestInto(msg, &req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzParseRequestInto: decoding into a reused Request agrees with
// ParseRequest on every input.
func FuzzParseRequestInto(f *testing.F) {
	f.Add(mustRequest(f, &Request{Op: 3, ReplyCap: 10}))
	f.Add(mustRequest(f, &Request{Op: 7, Args: []byte{1}, Leases: []Lease{{Read: true, Data: []byte("ab")}, {Write: true, Data: make([]byte, 5)}}}))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1, 4, 0, 0, 0, 0})
	var into Request
	f.Fuzz(func(t *testing.T, b []byte) {
		want, werr := ParseRequest(b)
		gerr := ParseRequestInto(b, &into)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("ParseRequest: %v, ParseRequestInto: %v", werr, gerr)
		}
		if werr != nil {
			return
		}
		if into.Op != want.Op || into.ReplyCap != want.ReplyCap || !bytes.Equal(into.Args, want.Args) || len(into.Leases) != len(want.Leases) {
			t.Fatalf("got %+v, want %+v", into, want)
		}
		for i := range want.Leases {
			w, g := want.Leases[i], into.Leases[i]
			if w.Read != g.Read || w.Write != g.Write || !bytes.Equal(w.Data, g.Data) {
				t.Fatalf("lease %d: got %+v, want %+v", i, g, w)
			}
		}
	})
}
