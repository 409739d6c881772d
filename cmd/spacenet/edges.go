package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"spacenet/ops/control"
	"spacenet/ops/topology"
)

// edgeRow is one edge of a running switch: frames on it so far and per
// second.
type edgeRow struct {
	From, To string
	Frames   uint64
	Rate     string
}

// edgeRows lists the edges of the policy in force in s (topology.Edges),
// then any other pair that carried frames (before a reload), with their
// totals and their rates against prev (nil: "-").
func edgeRows(s, prev *control.APID) []edgeRow {
	pol, err := s.PolicyInForce()
	if err != nil {
		return nil
	}
	var dt time.Duration
	if prev != nil {
		dt = s.Time.Sub(prev.Time)
	}
	var rows []edgeRow
	seen := map[string]bool{}
	add := func(from, to string) {
		k := topology.EdgeKey(from, to)
		if seen[k] {
			return
		}
		seen[k] = true
		n := s.EdgeFrames(from, to)
		r := "-"
		if prev != nil {
			r = rate(n, prev.EdgeFrames(from, to), dt, true)
		}
		rows = append(rows, edgeRow{From: from, To: to, Frames: n, Rate: r})
	}
	for _, e := range topology.Edges(pol) {
		add(e.From, e.To)
	}
	for _, e := range s.Edges {
		add(e.From, e.To)
	}
	return rows
}

// writeEdges writes the edges' table under the tenants'.
func writeEdges(w io.Writer, s, prev *control.APID) {
	rows := edgeRows(s, prev)
	if len(rows) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "EDGE\tFRAMES/s\tFRAMES")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s -> %s\t%s\t%d\n", r.From, r.To, r.Rate, r.Frames)
	}
	tw.Flush()
}

// edgeNotes are topology notes with each edge's rate.
func edgeNotes(notes map[string]string, s, prev *control.APID) {
	for _, r := range edgeRows(s, prev) {
		notes[topology.EdgeKey(r.From, r.To)] = r.Rate + "/s"
	}
}
