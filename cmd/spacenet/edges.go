package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"spacenet/apid/policy"
	"spacenet/ops/control"
)

// edgeRow is one edge of a running switch: frames on it so far and per
// second.
type edgeRow struct {
	From, To string
	Frames   uint64
	Rate     string
}

// rowsOf formats d's edges; none when its policy cannot be rebuilt.
func rowsOf(d *control.Delta) []edgeRow {
	edges, err := d.Edges()
	if err != nil {
		return nil
	}
	rows := make([]edgeRow, len(edges))
	for i, e := range edges {
		rows[i] = edgeRow{From: e.From, To: e.To, Frames: e.Frames, Rate: e.Rate.String()}
	}
	return rows
}

// writeEdges writes d's edges' table under the tenants'.
func writeEdges(w io.Writer, d *control.Delta) {
	rows := rowsOf(d)
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

// edgeNotes are topology notes with each of d's edges' rate.
func edgeNotes(notes map[string]string, d *control.Delta) {
	for _, r := range rowsOf(d) {
		notes[policy.EdgeKey(r.From, r.To)] = r.Rate + "/s"
	}
}
