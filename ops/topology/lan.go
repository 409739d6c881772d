package topology

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"spacenet/ip/lan"
)

// WriteLANDOT writes a LAN configuration as a Graphviz digraph: an ellipse
// per tenant, a box per port (its kind and its locks) tied to its tenant,
// and an arrow for each tenant that may send frames to another (lan.Reach:
// without a tenants table, every tenant reaches every other).
func WriteLANDOT(w io.Writer, c *lan.Config) error {
	var b strings.Builder
	fmt.Fprintf(&b, "digraph spacenet_lan {\n  label=%s;\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n",
		quote("LAN: "+c.Source))
	var tenants []string
	for _, p := range c.Ports {
		if !slices.Contains(tenants, p.Tenant) {
			tenants = append(tenants, p.Tenant)
		}
	}
	for name := range c.Tenants {
		if !slices.Contains(tenants, name) {
			tenants = append(tenants, name)
		}
	}
	slices.Sort(tenants)
	for _, t := range tenants {
		fmt.Fprintf(&b, "  %s [id=%s, shape=ellipse, label=%s];\n", quote("tenant:"+t), quote("tenant-"+t), quote(t))
	}
	for _, p := range c.Ports {
		where := p.Path
		if where == "" {
			where = p.Ifname
		}
		var locks []string
		if p.MAC != nil {
			locks = append(locks, "mac "+p.MAC.String())
		}
		for _, ip := range p.IPs {
			locks = append(locks, "ip "+ip.String())
		}
		if p.Sticky() {
			locks = append(locks, "sticky")
		}
		l := p.Name + "\n" + p.Kind + " " + where
		if len(locks) > 0 {
			l += "\n" + strings.Join(locks, ", ")
		}
		fmt.Fprintf(&b, "  %s [id=%s, shape=box, label=%s];\n", quote("port:"+p.Name), quote("port-"+p.Name), quote(l))
		fmt.Fprintf(&b, "  %s -> %s [id=%s, dir=none, style=dotted];\n", quote("port:"+p.Name), quote("tenant:"+p.Tenant), quote(p.Name+"--"+p.Tenant))
	}
	reach := c.Reach()
	for _, from := range tenants {
		for _, to := range tenants {
			if from != to && reach.Allows(from, to) {
				fmt.Fprintf(&b, "  %s -> %s [id=%s];\n", quote("tenant:"+from), quote("tenant:"+to), quote(from+"->"+to))
			}
		}
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}
