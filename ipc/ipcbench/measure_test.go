package ipcbench

import (
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
)

// TestSocketpairCallerChecksReply: an echo that answers with another call's
// number fails the call, and measureSeq names the call.
func TestSocketpairCallerChecksReply(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer b.Close()
		buf := make([]byte, blockSize)
		for i := 0; ; i++ {
			if _, err := io.ReadFull(b, buf); err != nil {
				return
			}
			if i == 2 { // the third reply carries the wrong number
				binary.BigEndian.PutUint64(buf, 99)
			}
			if _, err := b.Write(buf); err != nil {
				return
			}
		}
	}()
	c := &socketpairConn{c: a, out: make([]byte, blockSize), buf: make([]byte, blockSize)}
	r, err := measureSeq(10, c.caller(0))
	if err == nil || !strings.Contains(err.Error(), "call 2: echo of call 2 carries 99") || r.Calls != 2 {
		t.Fatalf("measureSeq = %+v, %v; want call 2 refused after 2 calls", r, err)
	}
	a.Close()
	<-done
}

func TestMeasurePar(t *testing.T) {
	seen := make(chan uint64, 64)
	callers := make([]func(uint64) error, 4)
	for i := range callers {
		callers[i] = func(k uint64) error { seen <- k; return nil }
	}
	r, err := measurePar(64, callers)
	if err != nil || r.Calls != 64 || r.Rate <= 0 {
		t.Fatalf("measurePar = %+v, %v", r, err)
	}
	close(seen)
	var got [64]bool
	for k := range seen {
		if got[k] {
			t.Fatalf("call %d made twice", k)
		}
		got[k] = true
	}
	for k, ok := range got {
		if !ok {
			t.Fatalf("call %d not made", k)
		}
	}
}
