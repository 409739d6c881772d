package ipcbench

import (
	"fmt"
	"io"
	"time"

	"spacenet/internal/benchstat"
)

// Median returns the median, over rs's rounds, of each figure taken on its
// own. It panics if rs is empty.
func Median(rs []Result) Result {
	var rate []float64
	var p50, p99, p999 []time.Duration
	for _, r := range rs {
		rate = append(rate, r.Rate)
		p50, p99, p999 = append(p50, r.P50), append(p99, r.P99), append(p999, r.P999)
	}
	return Result{Calls: rs[0].Calls, Rate: benchstat.Median(rate),
		P50: benchstat.Median(p50), P99: benchstat.Median(p99), P999: benchstat.Median(p999)}
}

var pathNames = map[Path]string{
	Socketpair: "socketpair, two processes (floor)",
	Raw:        "raw frame through the switch (floor)",
	IPC:        "Idol IPC through the switch",
	GRPC:       "gRPC, Unix socket, plaintext",
	GRPCTLS:    "gRPC, Unix socket, mutual TLS 1.3",
}

func us(d time.Duration) string { return fmt.Sprintf("%.1fµs", float64(d)/1e3) }

// WriteTable writes the medians of every path, the goals' ratios of each
// round (taken within the round: the machine's load changes between
// rounds) and every round's p50.
func (r *Report) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "cross-process: %d sequential calls (%d chunks, paths alternating) x %d rounds (median), %d concurrent callers; request %d bytes, reply %d bytes\n",
		r.Calls, r.Chunks, r.Rounds, r.Parallel, RequestLen, ReplyLen)
	fmt.Fprintf(w, "%-38s %10s %9s %9s %9s %14s\n", "", "calls/s", "p50", "p99", "p99.9", fmt.Sprintf("%d callers/s", r.Parallel))
	for _, p := range Paths {
		m := Median(r.Seq[p])
		par := "-"
		if rs := r.Par[p]; len(rs) > 0 {
			par = fmt.Sprintf("%.0f", Median(rs).Rate)
		}
		fmt.Fprintf(w, "%-38s %10.0f %9s %9s %9s %14s\n", pathNames[p], m.Rate, us(m.P50), us(m.P99), us(m.P999), par)
	}
	fmt.Fprintf(w, "per round (same-run ratios), p50 / p99 of socketpair, raw, ipc, grpc, grpc-mtls:\n")
	for i := range r.Rounds {
		fmt.Fprintf(w, "  round %d:", i+1)
		for _, p := range Paths {
			fmt.Fprintf(w, " %s/%s", us(r.Seq[p][i].P50), us(r.Seq[p][i].P99))
		}
		ipc, tls := r.Seq[IPC][i], r.Seq[GRPCTLS][i]
		fmt.Fprintf(w, "\n    ipc/mtls: p50 %.2f (goal <= 1), p99 %.2f (goal <= 0.5)", ratio(ipc.P50, tls.P50), ratio(ipc.P99, tls.P99))
		if len(r.Par[IPC]) > i && len(r.Par[GRPCTLS]) > i {
			fmt.Fprintf(w, ", %d callers %.2f (goal >= 1)", r.Parallel, r.Par[IPC][i].Rate/r.Par[GRPCTLS][i].Rate)
		}
		fmt.Fprintln(w)
	}
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }
