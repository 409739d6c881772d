// Package benchstat summarises the measurements of the spacenet bench
// commands: percentiles of latency samples, medians over rounds, and rates
// per second. It holds the arithmetic those commands share so that their
// figures mean the same thing (p99 is the same sample everywhere).
//
// It is not a statistics library: no confidence intervals, no outlier
// removal, no comparison between runs (use golang.org/x/perf/cmd/benchstat
// on `go test -bench` output for that).
package benchstat

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0 <= p <= 100) of sorted, which
// must be sorted in increasing order and not empty, by the nearest-rank
// rule: the sample of rank ceil(p/100 * n) (ranks 1 to n, n = len(sorted)),
// that is the smallest sample that at least p percent of the samples do not
// exceed; p = 0 is the first sample. p may have a fraction (99.9) and is
// taken to a thousandth of a percent, so that the rank is computed exactly
// in integers. It is the one percentile of the spacenet bench commands.
// It panics if sorted is empty or p is out of range.
//
// For example, of 100 samples p50 is the 50th and p99 the 99th; of 10, p99
// and p91 are the 10th and p90 the 9th; of 2, p50 is the first (the lower
// median).
func Percentile[T ~int64 | ~float64](sorted []T, p float64) T {
	if len(sorted) == 0 || !(p >= 0 && p <= 100) {
		panic(fmt.Sprintf("benchstat: percentile %v of %d samples", p, len(sorted)))
	}
	milli := int64(math.Round(p * 1000)) // p in thousandths of a percent
	n := int64(len(sorted))
	rank := (n*milli + 100*1000 - 1) / (100 * 1000) // ceil(n*milli / 100000)
	return sorted[max(rank, 1)-1]
}

// Latency is the median and the 99th percentile of a set of latency
// samples.
type Latency struct {
	P50, P99 time.Duration
}

// Latencies sorts samples in place and returns their p50 and p99 (see
// Percentile). It panics if samples is empty.
func Latencies(samples []time.Duration) Latency {
	slices.Sort(samples)
	return Latency{P50: Percentile(samples, 50), P99: Percentile(samples, 99)}
}

// Median returns the median of v: the element at index len(v)/2 of a
// sorted copy (the upper median for an even count, where Percentile(v, 50)
// is the lower one). It is the median of a few rounds' figures, not a
// percentile of samples. v is not modified. It panics if v is empty.
func Median[T ~int64 | ~float64](v []T) T {
	if len(v) == 0 {
		panic("benchstat: median of no values")
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// MedianLatency returns the median p50 and the median p99 of rounds, each
// taken on its own.
func MedianLatency(rounds []Latency) Latency {
	p50 := make([]time.Duration, len(rounds))
	p99 := make([]time.Duration, len(rounds))
	for i, r := range rounds {
		p50[i], p99[i] = r.P50, r.P99
	}
	return Latency{P50: Median(p50), P99: Median(p99)}
}

// PerSecond returns n events in d as events per second.
func PerSecond(n int, d time.Duration) float64 {
	return float64(n) / d.Seconds()
}

// Figure is one round of sequential calls: the calls per second and the
// latency of each call.
type Figure struct {
	Rate float64 // calls per second
	Latency
}

// Measure makes n sequential calls to call, timing each, and returns their
// rate and latency. It stops at the first error, returning it with the
// call's index. n must be positive.
func Measure(n int, call func() error) (Figure, error) {
	lat := make([]time.Duration, n)
	start := time.Now()
	for i := range lat {
		t0 := time.Now()
		if err := call(); err != nil {
			return Figure{}, fmt.Errorf("call %d: %w", i, err)
		}
		lat[i] = time.Since(t0)
	}
	total := time.Since(start)
	return Figure{Rate: PerSecond(n, total), Latency: Latencies(lat)}, nil
}

// MedianFigure returns the median rate, p50 and p99 of rounds, each taken
// on its own. It panics if rounds is empty.
func MedianFigure(rounds []Figure) Figure {
	rates := make([]float64, len(rounds))
	lats := make([]Latency, len(rounds))
	for i, f := range rounds {
		rates[i], lats[i] = f.Rate, f.Latency
	}
	return Figure{Rate: Median(rates), Latency: MedianLatency(lats)}
}
