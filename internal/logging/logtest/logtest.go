// Package logtest gives tests of log writing a writer that blocks: the
// write end of a pipe that is full and that nobody reads, as stderr is when
// a switch is started with its stderr on a pipe nobody drains. It is for
// tests only and holds no assertions of its own.
package logtest

import (
	"errors"
	"os"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// Pipe is a pipe whose read end nobody reads.
type Pipe struct {
	W *os.File // the write end: writes block once Fill has run

	t    testing.TB
	r    *os.File
	once sync.Once
}

// NewPipe returns an empty pipe nobody reads. Unstick is registered with
// t.Cleanup, after which the write end is closed.
func NewPipe(t testing.TB) *Pipe {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &Pipe{W: w, t: t, r: r}
	t.Cleanup(func() { p.Unstick(); w.Close() })
	return p
}

// StuckPipe returns a pipe nobody reads that is already full.
func StuckPipe(t testing.TB) *Pipe {
	t.Helper()
	p := NewPipe(t)
	p.Fill()
	return p
}

// Fill writes until the pipe's buffer is full: from then on any write to W
// blocks until Unstick.
func (p *Pipe) Fill() {
	p.t.Helper()
	raw, err := p.W.SyscallConn()
	if err != nil {
		p.t.Fatal(err)
	}
	fill := make([]byte, 64<<10)
	var werr error
	// The pipe is in non-blocking mode under Go's poller: write until the
	// kernel says it is full.
	err = raw.Control(func(fd uintptr) {
		for werr == nil {
			_, werr = unix.Write(int(fd), fill)
		}
	})
	if err != nil || !errors.Is(werr, unix.EAGAIN) {
		p.t.Fatalf("filling the pipe: %v, %v", err, werr)
	}
}

// Unstick closes the read end, so that blocked and later writes fail at
// once (EPIPE). Calls after the first do nothing.
func (p *Pipe) Unstick() { p.once.Do(func() { p.r.Close() }) }
