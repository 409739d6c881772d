package ipcbench

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"spacenet/internal/benchstat"
)

// Result is one measurement by a caller process: Calls calls whose replies
// were all checked, their rate and (sequential only) latency percentiles.
type Result struct {
	Calls int           `json:"calls"`
	Rate  float64       `json:"rate"` // calls per second
	P50   time.Duration `json:"p50"`
	P99   time.Duration `json:"p99"`
	P999  time.Duration `json:"p999"`
	Err   string        `json:"err,omitempty"`
}

func writeResult(w io.Writer, r Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// samples accumulates the latencies of sequential calls, made in chunks
// between which other paths run, until flushed.
type samples struct {
	lat   []time.Duration
	total time.Duration // the time the chunks took
}

// seq makes n sequential calls, timing each; their numbers continue from
// the last chunk's.
func (s *samples) seq(n int, call func(uint64) error) error {
	start := time.Now()
	defer func() { s.total += time.Since(start) }()
	for range n {
		k := len(s.lat)
		t0 := time.Now()
		if err := call(uint64(k)); err != nil {
			return fmt.Errorf("call %d: %w", k, err)
		}
		s.lat = append(s.lat, time.Since(t0))
	}
	return nil
}

// flush returns the rate and percentiles of every call since the last
// flush and forgets them.
func (s *samples) flush() Result {
	n := len(s.lat)
	if n == 0 {
		return Result{}
	}
	slices.Sort(s.lat)
	r := Result{Calls: n, Rate: benchstat.PerSecond(n, s.total),
		P50: benchstat.Percentile(s.lat, 50), P99: benchstat.Percentile(s.lat, 99), P999: benchstat.Percentile(s.lat, 99.9)}
	s.lat, s.total = s.lat[:0], 0
	return r
}

// measureSeq makes n sequential calls in one chunk and returns their
// figures (the calls made before an error, with it).
func measureSeq(n int, call func(uint64) error) (Result, error) {
	var s samples
	err := s.seq(n, call)
	return s.flush(), err
}

// measurePar runs every caller at once, each making n/len(callers) calls,
// and returns their total rate.
func measurePar(n int, callers []func(uint64) error) (Result, error) {
	per := n / len(callers)
	var wg sync.WaitGroup
	errs := make(chan error, len(callers))
	start := time.Now()
	for w, call := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				if err := call(uint64(w*per + i)); err != nil {
					errs <- fmt.Errorf("caller %d, call %d: %w", w, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	d := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return Result{}, err
	}
	return Result{Calls: per * len(callers), Rate: benchstat.PerSecond(per*len(callers), d)}, nil
}
