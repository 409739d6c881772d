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

// StuckPipe returns the write end of a pipe whose buffer is full and whose
// read end nobody reads: any write to it blocks. unstick closes the read end,
// so that blocked and later writes fail at once (EPIPE); it is also
// registered with t.Cleanup, and later calls do nothing.
func StuckPipe(t testing.TB) (w *os.File, unstick func()) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := w.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fill := make([]byte, 64<<10)
	var werr error
	// The pipe is in non-blocking mode under Go's poller: write until the
	// kernel says it is full.
	err = raw.Control(func(fd uintptr) {
		for {
			if _, werr = unix.Write(int(fd), fill); werr != nil {
				return
			}
		}
	})
	if err != nil || !errors.Is(werr, unix.EAGAIN) {
		t.Fatalf("filling the pipe: %v, %v", err, werr)
	}
	var once sync.Once
	unstick = func() { once.Do(func() { r.Close() }) }
	t.Cleanup(func() { unstick(); w.Close() })
	return w, unstick
}
