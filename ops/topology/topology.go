// Package topology draws an APID policy (and a LAN configuration, see
// WriteLANDOT) as a Graphviz graph: one node per
// tenant with the APID ranges it owns, the ground with its APIDs, and an
// edge for each "may send to": tenant to tenant (can_send_to), tenant to
// ground (downlink = true), ground to tenant (the ground's can_send_to). It
// draws what the policy permits; rates of what flowed (the switch counts
// per pair: apidswitch.Switch.Edges) go on nodes and edges as notes (see
// WriteDOT). SVG comes from Graphviz's dot program.
package topology

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"spacenet/apid/policy"
)

// Ground is the ground's node name (never a tenant's: policy refuses it).
const Ground = policy.GroundName

// WriteDOT writes p as a Graphviz digraph. notes, if not nil, adds a line
// to the label of each node it names (tenants by name, the ground as
// Ground) and of each edge it names (by EdgeKey), after the edge's own:
// spacenet topology --live and the status page put rates there. Each edge
// has the id policy.EdgeKey(from, to) and each node "tenant-NAME" (the ground's
// "ground") in the SVG.
func WriteDOT(w io.Writer, p *policy.Policy, notes map[string]string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "digraph spacenet {\n  label=%s;\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n",
		quote("APID policy: "+p.Source))
	for _, t := range p.Tenants {
		fmt.Fprintf(&b, "  %s [id=%s, label=%s];\n", quote(t.Name), quote("tenant-"+t.Name), quote(label(t.Name, ranges(t.Owns), notes)))
	}
	fmt.Fprintf(&b, "  %s [id=%s, shape=ellipse, label=%s];\n", quote(Ground), quote("ground"), quote(label(Ground, ranges(p.GroundOwns()), notes)))
	for _, e := range p.Edges() {
		key := policy.EdgeKey(e.From, e.To)
		attrs := fmt.Sprintf("id=%s", quote(key))
		var lines []string
		switch e.Kind {
		case "downlink":
			attrs += ", style=dashed"
			lines = append(lines, "downlink")
		case "uplink":
			attrs += ", style=dashed"
		}
		if e.Ranges != nil {
			lines = append(lines, ranges(e.Ranges))
		}
		if n := notes[key]; n != "" {
			lines = append(lines, n)
		}
		if len(lines) > 0 {
			attrs += ", label=" + quote(strings.Join(lines, "\n"))
		}
		fmt.Fprintf(&b, "  %s -> %s [%s];\n", quote(e.From), quote(e.To), attrs)
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func label(name, apids string, notes map[string]string) string {
	l := name + "\n" + apids
	if n := notes[name]; n != "" {
		l += "\n" + n
	}
	return l
}

func ranges(rs []policy.Range) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = r.String()
	}
	return strings.Join(s, ", ")
}

// quote makes s a DOT string.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

// SVG renders dot with Graphviz's dot program (within 30 s).
func SVG(dot []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "dot", "-Tsvg")
	cmd.Stdin = bytes.NewReader(dot)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("dot -Tsvg: %v: %s (is Graphviz installed? apt install graphviz)", err, strings.TrimSpace(stderr.String()))
	}
	return out.Bytes(), nil
}
