package ipc

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRequestLayout(t *testing.T) {
	req := &Request{Op: 2, ReplyCap: 4, Args: []byte{0xaa, 0xbb},
		Leases: []Lease{{Read: true, Data: []byte{1, 2, 3}}, {Write: true, Data: make([]byte, 5)}}}
	b, err := AppendRequest(nil, req)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		0x02, 0x00, // op
		0x04, 0x00, 0x00, 0x00, // reply cap
		0x02, 0x00, 0xaa, 0xbb, // args
		0x02,                         // two leases
		0x01, 0x03, 0, 0, 0, 1, 2, 3, // read lease with contents
		0x02, 0x05, 0, 0, 0, // write lease: its length only
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("got  % x\nwant % x", b, want)
	}
	got, err := ParseRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(req, got); diff != "" {
		t.Fatal(diff)
	}
}

func TestReplyLayout(t *testing.T) {
	rep := &Reply{RC: 7, Body: []byte{9}, Written: [][]byte{nil, {4, 5}}}
	b, err := AppendReply(nil, rep)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0, 7, 0, 0, 0, 1, 0, 0, 0, 9, 2, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 4, 5}
	if !bytes.Equal(b, want) {
		t.Fatalf("got  % x\nwant % x", b, want)
	}
	var got Reply
	if err := ParseReply(b, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rep, &got); diff != "" {
		t.Fatal(diff)
	}
	// Owned: the same reply, the lease's bytes are b's own, capped so an
	// append cannot run past them.
	var owned Reply
	if err := ParseReplyOwned(b, &owned); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rep, &owned); diff != "" {
		t.Fatal(diff)
	}
	if w := owned.Written[1]; &w[0] != &b[19] || cap(w) != 2 {
		t.Errorf("owned Written[1] does not alias b[19:21] with cap 2 (cap %d)", cap(w))
	}
	if &got.Written[1][0] == &b[19] {
		t.Error("ParseReply's Written[1] aliases b")
	}
	fb := AppendFault(nil, AccessViolation)
	if !bytes.Equal(fb, []byte{1, 6, 0, 0, 0}) {
		t.Fatalf("fault % x", fb)
	}
	if err := ParseReply(fb, &got); err != AccessViolation {
		t.Fatalf("fault parsed as %v", err)
	}
}

func TestParseMalformed(t *testing.T) {
	reqs := map[string][]byte{
		"empty":         {},
		"short args":    {1, 0, 0, 0, 0, 0, 5, 0, 1},
		"bad flags":     {1, 0, 0, 0, 0, 0, 0, 0, 1, 4, 0, 0, 0, 0},
		"no rights":     {1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0},
		"huge lease":    {1, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0xff, 0xff, 0xff, 0x7f},
		"trailing":      {1, 0, 0, 0, 0, 0, 0, 0, 0, 9},
		"short content": {1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 4, 0, 0, 0, 1},
	}
	for name, b := range reqs {
		if _, err := ParseRequest(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("request %s: %v", name, err)
		}
	}
	reps := map[string][]byte{
		"empty":         {},
		"kind":          {2},
		"unknown fault": {1, 99, 0, 0, 0},
		"short body":    {0, 0, 0, 0, 0, 5, 0, 0, 0, 1},
		"huge body":     {0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f},
		"trailing":      {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
	}
	for name, b := range reps {
		var r Reply
		if err := ParseReply(b, &r); !errors.Is(err, ErrMalformed) {
			t.Errorf("reply %s: %v", name, err)
		}
	}
}

// FuzzParseRequest: no panics; whatever parses re-encodes to the same bytes.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte{0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02, 0x00, 0xaa, 0xbb, 0x02, 0x01, 0x03, 0, 0, 0, 1, 2, 3, 0x02, 0x05, 0, 0, 0})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := ParseRequest(b)
		if err != nil {
			return
		}
		again, err := AppendRequest(nil, req)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoded % x from % x", again, b)
		}
	})
}

// FuzzParseReply: no panics; whatever parses as a reply re-encodes the same.
func FuzzParseReply(f *testing.F) {
	f.Add([]byte{0, 7, 0, 0, 0, 1, 0, 0, 0, 9, 2, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 4, 5})
	f.Add([]byte{1, 6, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r, owned Reply
		err := ParseReply(b, &r)
		errOwned := ParseReplyOwned(bytes.Clone(b), &owned)
		if (err == nil) != (errOwned == nil) || (err != nil && err.Error() != errOwned.Error()) {
			t.Fatalf("ParseReply: %v, ParseReplyOwned: %v", err, errOwned)
		}
		if diff := cmp.Diff(&r, &owned); diff != "" {
			t.Fatalf("ParseReplyOwned differs: %s", diff)
		}
		if _, ok := AsFault(err); ok || err != nil {
			return
		}
		again, err := AppendReply(nil, &r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoded % x from % x", again, b)
		}
	})
}
