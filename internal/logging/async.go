package logging

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultSize is the number of records an Async holds when NewAsync is
// given a size below 1.
const DefaultSize = 1024

// Async is a slog.Handler that queues each record in a bounded buffer for
// one goroutine, which hands it to the wrapped handler. Handle never blocks
// on the wrapped handler: when the buffer is full, or the Async is closed,
// the record is dropped and counted (Dropped), and the next record written
// carries the count not yet reported as attribute "logs_dropped".
//
// Build it with NewAsync, start its goroutine with Start, and stop it with
// Close. Records handled before Start wait in the buffer. The handlers
// returned by WithAttrs and WithGroup share the buffer, the goroutine and the
// counters of the Async they came from.
type Async struct {
	s *sink
	h slog.Handler
}

// sink is what an Async and the handlers derived from it share.
type sink struct {
	q chan entry

	mu     sync.RWMutex // guards closed against a send into q after Close
	closed bool

	startOnce, stopOnce sync.Once
	started             atomic.Bool
	stop                chan struct{} // closed by Close
	done                chan struct{} // closed when the goroutine returns

	dropped    atomic.Uint64 // records not queued: buffer full or closed
	unreported atomic.Uint64 // dropped records no written line mentions yet
	failed     atomic.Uint64 // records the wrapped handler returned an error for
}

// entry is one queued record and the handler that writes it.
type entry struct {
	h slog.Handler
	r slog.Record
}

// NewAsync returns an Async in front of h holding up to size records (below
// 1 means DefaultSize). Its goroutine starts with Start.
func NewAsync(h slog.Handler, size int) *Async {
	if size < 1 {
		size = DefaultSize
	}
	return &Async{
		s: &sink{
			q:    make(chan entry, size),
			stop: make(chan struct{}),
			done: make(chan struct{}),
		},
		h: h,
	}
}

// Enabled reports whether the wrapped handler takes records of level l.
func (a *Async) Enabled(ctx context.Context, l slog.Level) bool { return a.h.Enabled(ctx, l) }

// Handle queues a copy of r and returns nil at once, whether the record was
// queued or dropped.
func (a *Async) Handle(_ context.Context, r slog.Record) error {
	s := a.s
	s.mu.RLock()
	if !s.closed && len(s.q) < cap(s.q) {
		select {
		case s.q <- entry{h: a.h, r: r.Clone()}:
			s.mu.RUnlock()
			return nil
		default: // filled by another caller meanwhile
		}
	}
	s.mu.RUnlock()
	s.dropped.Add(1)
	s.unreported.Add(1)
	return nil
}

// WithAttrs returns a handler that writes through the same buffer to the
// wrapped handler's WithAttrs(as).
func (a *Async) WithAttrs(as []slog.Attr) slog.Handler {
	return &Async{s: a.s, h: a.h.WithAttrs(as)}
}

// WithGroup returns a handler that writes through the same buffer to the
// wrapped handler's WithGroup(name).
func (a *Async) WithGroup(name string) slog.Handler {
	return &Async{s: a.s, h: a.h.WithGroup(name)}
}

// Start starts the goroutine that writes the queued records. Calls after
// the first, and calls on a nil Async, do nothing.
func (a *Async) Start() {
	if a == nil {
		return
	}
	a.s.startOnce.Do(func() {
		a.s.started.Store(true)
		go a.s.run()
	})
}

// Close stops taking records (later ones are dropped and counted), lets the
// goroutine write what is queued, and waits until it has returned or ctx is
// done; it then returns ctx.Err(). A goroutine stuck in a write of the
// wrapped handler returns when that write does. Without Start, what is
// queued is dropped and counted. Close on a nil Async does nothing.
func (a *Async) Close(ctx context.Context) error {
	if a == nil {
		return nil
	}
	s := a.s
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.stopOnce.Do(func() { close(s.stop) })
	if !s.started.Load() {
		for {
			select {
			case <-s.q:
				s.dropped.Add(1)
				s.unreported.Add(1)
			default:
				return nil
			}
		}
	}
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CloseWithin is Close with a context that ends after d.
func (a *Async) CloseWithin(d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return a.Close(ctx)
}

// Dropped is how many records were dropped, because the buffer was full or
// the Async closed; 0 for a nil Async.
func (a *Async) Dropped() uint64 {
	if a == nil {
		return 0
	}
	return a.s.dropped.Load()
}

// Failed is how many records the wrapped handler returned an error for;
// 0 for a nil Async.
func (a *Async) Failed() uint64 {
	if a == nil {
		return 0
	}
	return a.s.failed.Load()
}

// run writes queued records until Close, then what is left, and returns.
func (s *sink) run() {
	defer close(s.done)
	for {
		select {
		case e := <-s.q:
			s.write(e)
		case <-s.stop:
			for {
				select {
				case e := <-s.q:
					s.write(e)
				default:
					return
				}
			}
		}
	}
}

func (s *sink) write(e entry) {
	if n := s.unreported.Swap(0); n > 0 {
		e.r.AddAttrs(slog.Uint64("logs_dropped", n))
	}
	if err := e.h.Handle(context.Background(), e.r); err != nil {
		s.failed.Add(1)
	}
}

// Wrap returns a logger that writes l's records through a new Async of size
// records, that Async, and true: the caller starts and closes it. If l
// already writes through an Async, Wrap returns l, that Async and false:
// its owner starts and closes it. A nil l means slog.Default().
func Wrap(l *slog.Logger, size int) (*slog.Logger, *Async, bool) {
	if l == nil {
		l = slog.Default()
	}
	if a, ok := l.Handler().(*Async); ok {
		return l, a, false
	}
	a := NewAsync(l.Handler(), size)
	return slog.New(a), a, true
}
