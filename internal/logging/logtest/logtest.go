// Package logtest gives tests of log writing a writer that blocks: the
// write end of a pipe that is full and that nobody reads, as stderr is when
// a switch is started with its stderr on a pipe nobody drains; and a
// slog.Handler that hands the records to the test (Records). It is for
// tests only and holds no assertions of its own beyond failing a test
// whose awaited record never comes (Records.Next).
package logtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// Pipe is a pipe whose read end nobody reads.
type Pipe struct {
	W *os.File // the write end: writes block once Fill has run
	R *os.File // the read end: a test may read it before Fill, never after

	t    testing.TB
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
	p := &Pipe{W: w, R: r, t: t}
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
// blocks until Unstick. It writes through a file description of its own
// (opened through /proc/self/fd, non-blocking), so that W's mode, which a
// child process given W shares, stays as it is.
func (p *Pipe) Fill() {
	p.t.Helper()
	raw, err := p.W.SyscallConn()
	if err != nil {
		p.t.Fatal(err)
	}
	var path string
	if err := raw.Control(func(fd uintptr) { path = fmt.Sprintf("/proc/self/fd/%d", fd) }); err != nil {
		p.t.Fatal(err)
	}
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		p.t.Fatalf("filling the pipe: %v", err)
	}
	defer unix.Close(fd)
	fill := make([]byte, 64<<10)
	for err == nil {
		_, err = unix.Write(fd, fill)
	}
	if !errors.Is(err, unix.EAGAIN) {
		p.t.Fatalf("filling the pipe: %v", err)
	}
}

// Unstick closes the read end, so that blocked and later writes fail at
// once (EPIPE). Calls after the first do nothing.
func (p *Pipe) Unstick() { p.once.Do(func() { p.R.Close() }) }

// Buffer is a bytes.Buffer a log writer and a test may use at once.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
