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

// quantile returns the sample at index ceil(q*len)-1 of sorted (the
// smallest sample at least a fraction q of the samples do not exceed).
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// measureSeq makes n sequential calls, timing each.
func measureSeq(n int, call func(uint64) error) (Result, error) {
	lat := make([]time.Duration, n)
	start := time.Now()
	for i := range lat {
		t0 := time.Now()
		if err := call(uint64(i)); err != nil {
			return Result{Calls: i}, fmt.Errorf("call %d: %w", i, err)
		}
		lat[i] = time.Since(t0)
	}
	total := time.Since(start)
	slices.Sort(lat)
	return Result{Calls: n, Rate: benchstat.PerSecond(n, total),
		P50: quantile(lat, 0.50), P99: quantile(lat, 0.99), P999: quantile(lat, 0.999)}, nil
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
