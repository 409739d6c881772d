package benchstat

import (
	"errors"
	"math"
	"testing"
	"time"
)

func ds(v ...int) []time.Duration {
	d := make([]time.Duration, len(v))
	for i, x := range v {
		d[i] = time.Duration(x)
	}
	return d
}

// seq returns the samples 1 to n.
func seq(n int) []time.Duration {
	d := make([]time.Duration, n)
	for i := range d {
		d[i] = time.Duration(i + 1)
	}
	return d
}

// TestPercentile checks the nearest-rank rule: the sample of rank
// ceil(p/100 * n), the first for p0.
func TestPercentile(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"one sample p0", ds(7), 0, 7},
		{"one sample p50", ds(7), 50, 7},
		{"one sample p99", ds(7), 99, 7},
		{"one sample p99.9", ds(7), 99.9, 7},
		{"one sample p100", ds(7), 100, 7},
		{"two p0", ds(1, 2), 0, 1},
		{"two p50 is the lower", ds(1, 2), 50, 1},
		{"two p51", ds(1, 2), 51, 2},
		{"two p99", ds(1, 2), 99, 2},
		{"two p100", ds(1, 2), 100, 2},
		{"three p0", ds(1, 2, 3), 0, 1},
		{"three p33", ds(1, 2, 3), 33, 1},
		{"three p34", ds(1, 2, 3), 34, 2},
		{"three p50", ds(1, 2, 3), 50, 2},
		{"three p99", ds(1, 2, 3), 99, 3},
		{"three p100", ds(1, 2, 3), 100, 3},
		{"four p25", ds(1, 2, 3, 4), 25, 1},
		{"four p50", ds(1, 2, 3, 4), 50, 2},
		{"four p75", ds(1, 2, 3, 4), 75, 3},
		{"four p76", ds(1, 2, 3, 4), 76, 4},
		{"five p50", ds(1, 2, 3, 4, 5), 50, 3},
		{"five p99", ds(1, 2, 3, 4, 5), 99, 5},
		{"ten p0", seq(10), 0, 1},
		{"ten p50", seq(10), 50, 5},
		{"ten p90", seq(10), 90, 9},
		{"ten p91", seq(10), 91, 10},
		{"ten p99", seq(10), 99, 10},
		{"hundred p0", seq(100), 0, 1},
		{"hundred p1", seq(100), 1, 1},
		{"hundred p50", seq(100), 50, 50},
		{"hundred p99", seq(100), 99, 99},
		{"hundred p99.9", seq(100), 99.9, 100},
		{"hundred p100", seq(100), 100, 100},
		{"101 p50", seq(101), 50, 51},
		{"101 p99", seq(101), 99, 100},
		{"thousand p50", seq(1000), 50, 500},
		{"thousand p99", seq(1000), 99, 990},
		{"thousand p99.9", seq(1000), 99.9, 999},
		{"thousand p99.95", seq(1000), 99.95, 1000},
		{"thousand p100", seq(1000), 100, 1000},
		{"thousand p0", seq(1000), 0, 1},
		{"ten thousand p99.9 is exact", seq(10000), 99.9, 9990},
		{"ten thousand p99.99", seq(10000), 99.99, 9999},
		{"unsorted values are taken by position", ds(9, 8, 7), 50, 8},
	} {
		if got := Percentile(tc.sorted, tc.p); got != tc.want {
			t.Errorf("%s: Percentile(%d samples, %v) = %v; want %v", tc.name, len(tc.sorted), tc.p, got, tc.want)
		}
	}
	if got := Percentile([]float64{0.5, 1.5, 2.5, 3.5}, 75); got != 2.5 {
		t.Errorf("Percentile of floats, p75 = %v; want 2.5", got)
	}
}

func TestPercentilePanics(t *testing.T) {
	for _, tc := range []struct {
		sorted []time.Duration
		p      float64
	}{{nil, 50}, {ds(1), -1}, {ds(1), 100.01}, {ds(1), math.NaN()}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Percentile(%v, %v) did not panic", tc.sorted, tc.p)
				}
			}()
			Percentile(tc.sorted, tc.p)
		}()
	}
}

func TestLatencies(t *testing.T) {
	s := ds(5, 3, 9, 1, 7)
	if got, want := Latencies(s), (Latency{P50: 5, P99: 9}); got != want {
		t.Errorf("Latencies = %+v; want %+v", got, want)
	}
	for i, want := range ds(1, 3, 5, 7, 9) {
		if s[i] != want {
			t.Fatalf("samples not sorted in place: %v", s)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		v    []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{3, 1}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 3},
		{[]float64{-1, 10, 10, 0, 5}, 5},
	} {
		in := append([]float64(nil), tc.v...)
		if got := Median(tc.v); got != tc.want {
			t.Errorf("Median(%v) = %v; want %v", in, got, tc.want)
		}
		for i := range in {
			if in[i] != tc.v[i] {
				t.Errorf("Median modified its argument: %v; was %v", tc.v, in)
			}
		}
	}
	if got := Median(ds(30, 10, 20)); got != 20 {
		t.Errorf("Median of durations = %v; want 20ns", got)
	}
}

func TestMedianFigure(t *testing.T) {
	rounds := []Figure{
		{Rate: 100, Latency: Latency{P50: 30, P99: 900}},
		{Rate: 300, Latency: Latency{P50: 10, P99: 700}},
		{Rate: 200, Latency: Latency{P50: 20, P99: 800}},
	}
	// Each figure's median on its own: rate 200, p50 20, p99 800.
	if got, want := MedianFigure(rounds), (Figure{Rate: 200, Latency: Latency{P50: 20, P99: 800}}); got != want {
		t.Errorf("MedianFigure = %+v; want %+v", got, want)
	}
	if got, want := MedianLatency([]Latency{{1, 50}, {3, 40}}), (Latency{P50: 3, P99: 50}); got != want {
		t.Errorf("MedianLatency = %+v; want %+v", got, want)
	}
}

func TestPerSecond(t *testing.T) {
	for _, tc := range []struct {
		n    int
		d    time.Duration
		want float64
	}{
		{1000, time.Second, 1000},
		{500, 250 * time.Millisecond, 2000},
		{3, 2 * time.Second, 1.5},
		{0, time.Second, 0},
	} {
		if got := PerSecond(tc.n, tc.d); got != tc.want {
			t.Errorf("PerSecond(%d, %v) = %v; want %v", tc.n, tc.d, got, tc.want)
		}
	}
}

func TestMeasure(t *testing.T) {
	calls := 0
	f, err := Measure(50, func() error { calls++; return nil })
	if err != nil || calls != 50 {
		t.Fatalf("Measure = %v after %d calls; want nil after 50", err, calls)
	}
	if f.Rate <= 0 || f.P50 < 0 || f.P99 < f.P50 {
		t.Errorf("Measure figure %+v: want a positive rate and 0 <= p50 <= p99", f)
	}

	boom := errors.New("boom")
	calls = 0
	_, err = Measure(50, func() error {
		calls++
		if calls == 4 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || err.Error() != "call 3: boom" || calls != 4 {
		t.Errorf("Measure with a failing call = %v after %d calls; want \"call 3: boom\" after 4", err, calls)
	}
}
