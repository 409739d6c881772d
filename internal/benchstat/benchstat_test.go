package benchstat

import (
	"errors"
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

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i + 1)
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      int
		want   time.Duration
	}{
		{"one sample p0", ds(7), 0, 7},
		{"one sample p50", ds(7), 50, 7},
		{"one sample p100", ds(7), 100, 7},
		{"two p50 is the upper", ds(1, 2), 50, 2},
		{"three p50", ds(1, 2, 3), 50, 2},
		{"three p99", ds(1, 2, 3), 99, 3},
		{"hundred p50", hundred, 50, 51},
		{"hundred p99", hundred, 99, 100},
		{"hundred p100", hundred, 100, 100},
		{"hundred p0", hundred, 0, 1},
		{"ten p99 rounds down", ds(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10},
		{"ten p90", ds(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 10},
		{"ten p89", ds(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 89, 9},
	} {
		if got := Percentile(tc.sorted, tc.p); got != tc.want {
			t.Errorf("%s: Percentile(%v, %d) = %v; want %v", tc.name, tc.sorted, tc.p, got, tc.want)
		}
	}
}

func TestPercentilePanics(t *testing.T) {
	for _, tc := range []struct {
		sorted []time.Duration
		p      int
	}{{nil, 50}, {ds(1), -1}, {ds(1), 101}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Percentile(%v, %d) did not panic", tc.sorted, tc.p)
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
