package topology_test

import (
	"bytes"
	"encoding/xml"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"spacenet/apid/policy"
	"spacenet/ip/lan"
	"spacenet/ops/topology"
)

// load is apid/policy's fixture with every kind of edge: whole tenants,
// part of one (a range entry), one that may not send to the ground, and a
// ground restricted to one tenant.
func load(t *testing.T) *policy.Policy {
	t.Helper()
	p, err := policy.Load("../../apid/policy/testdata/edges.toml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// svgGraph is what a Graphviz SVG names: nodes and edges, by title.
type svgGraph struct {
	Groups []struct {
		Class string   `xml:"class,attr"`
		Title string   `xml:"title"`
		Texts []string `xml:"text"`
	} `xml:"g>g"`
}

// render runs dot on a graph write writes and returns what the SVG names:
// each node's and each edge's title and texts, in dot's order. It skips
// the test without Graphviz.
func render(t *testing.T, write func(*bytes.Buffer) error) (nodes, edges [][]string) {
	t.Helper()
	if _, err := exec.LookPath("dot"); err != nil {
		t.Skip("Graphviz's dot not installed (scripts/deps.sh installs graphviz)")
	}
	var dot bytes.Buffer
	if err := write(&dot); err != nil {
		t.Fatal(err)
	}
	svg, err := topology.SVG(dot.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var g svgGraph
	if err := xml.Unmarshal(svg, &g); err != nil {
		t.Fatalf("%v\n%s", err, svg)
	}
	for _, x := range g.Groups {
		switch x.Class {
		case "node":
			nodes = append(nodes, append([]string{x.Title}, x.Texts...))
		case "edge":
			edges = append(edges, append([]string{x.Title}, x.Texts...))
		}
	}
	return nodes, edges
}

// joined joins each entry's strings with sep.
func joined(entries [][]string, sep string) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = strings.Join(e, sep)
	}
	return out
}

// TestSVG: the SVG rendered by dot names every tenant (with its APIDs), the
// ground and every edge, and nothing else.
func TestSVG(t *testing.T) {
	p := load(t)
	n, e := render(t, func(b *bytes.Buffer) error { return topology.WriteDOT(b, p, nil) })
	nodes, edges := joined(n, " "), joined(e, " ")
	wantNodes := []string{"camera camera 0x010-0x01F", "processor processor 0x020-0x02F", "spaceos spaceos 0x100-0x2FF", "ground ground 0x7F0"}
	wantEdges := []string{"camera->processor", "camera->spaceos 0x100-0x10F", "camera->ground downlink", "processor->camera",
		"spaceos->camera", "spaceos->processor", "spaceos->ground downlink", "ground->spaceos"}
	if !slices.Equal(nodes, wantNodes) || !slices.Equal(edges, wantEdges) {
		t.Errorf("SVG:\nnodes %q\nwant  %q\nedges %q\nwant  %q", nodes, wantNodes, edges, wantEdges)
	}
}

// TestQuote: a source with quotes and backslashes stays one DOT string.
func TestQuote(t *testing.T) {
	p := load(t)
	p.Source = `a "b" \c`
	var dot bytes.Buffer
	topology.WriteDOT(&dot, p, nil)
	if !strings.Contains(dot.String(), `label="APID policy: a \"b\" \\c";`) {
		t.Errorf("%s", dot.String())
	}
}

// TestNotes: a note goes on its node's label, after the APIDs.
func TestNotes(t *testing.T) {
	var dot bytes.Buffer
	topology.WriteDOT(&dot, load(t), map[string]string{"camera": "in 5/s", topology.Ground: "in 1/s"})
	for _, want := range []string{`label="camera\n0x010-0x01F\nin 5/s"`, `label="ground\n0x7F0\nin 1/s"`, `label="processor\n0x020-0x02F"`} {
		if !strings.Contains(dot.String(), want) {
			t.Errorf("no %s in\n%s", want, dot.String())
		}
	}
}

// TestLANSVG: a LAN with a tenants table: every port with its tenant and
// locks, and only the reach the table gives.
func TestLANSVG(t *testing.T) {
	c := lan.DefaultConfig("/run/lan")
	c.Tenants = map[string][]string{"camera": {"processor"}, "processor": {"camera", "spaceos"}, "spaceos": nil}
	n, e := render(t, func(b *bytes.Buffer) error { return topology.WriteLANDOT(b, c) })
	var nodes, edges []string
	for i := range n {
		nodes = append(nodes, strings.Join(n[i][1:], " "))
	}
	for i := range e {
		edges = append(edges, e[i][0])
	}
	wantNodes := []string{"camera", "processor", "spaceos",
		"camera qemu-stream /run/lan/camera.sock sticky", "processor qemu-stream /run/lan/processor.sock sticky", "spaceos qemu-stream /run/lan/spaceos.sock sticky"}
	wantEdges := []string{"port:camera->tenant:camera", "port:processor->tenant:processor", "port:spaceos->tenant:spaceos",
		"tenant:camera->tenant:processor", "tenant:processor->tenant:camera", "tenant:processor->tenant:spaceos"}
	slices.Sort(edges) // dot writes them in its own order
	if !slices.Equal(nodes, wantNodes) || !slices.Equal(edges, wantEdges) {
		t.Errorf("SVG:\nnodes %q\nwant  %q\nedges %q\nwant  %q", nodes, wantNodes, edges, wantEdges)
	}
}

// TestEdgeNotes: an edge's note goes on its label after the edge's own
// (the ranges it reaches, "downlink"), and the SVG shows it.
func TestEdgeNotes(t *testing.T) {
	p := load(t)
	notes := map[string]string{policy.EdgeKey("camera", "processor"): "12/s", policy.EdgeKey("camera", "spaceos"): "3/s",
		policy.EdgeKey("camera", topology.Ground): "1/s"}
	_, e := render(t, func(b *bytes.Buffer) error { return topology.WriteDOT(b, p, notes) })
	edges := joined(e, " ")
	want := []string{"camera->processor 12/s", "camera->spaceos 0x100-0x10F 3/s", "camera->ground downlink 1/s", "processor->camera",
		"spaceos->camera", "spaceos->processor", "spaceos->ground downlink", "ground->spaceos"}
	if !slices.Equal(edges, want) {
		t.Errorf("edges %q\nwant  %q", edges, want)
	}
}
