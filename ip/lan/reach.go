package lan

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"spacenet/apid/policy"
)

// tenantName is the syntax of tenant names, the same as the APID plane's.
var tenantName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// CheckTenant returns an error if name is not a valid tenant name
// ([a-z0-9][a-z0-9_-]{0,31}, as in package policy).
func CheckTenant(name string) error {
	if !tenantName.MatchString(name) {
		return fmt.Errorf("lan: tenant %q: want [a-z0-9][a-z0-9_-]{0,31}", name)
	}
	return nil
}

// Reach says which tenants may send frames to which. It is directional,
// like the APID plane's can_send_to: two tenants that are to hold a
// conversation (ARP, TCP) must each reach the other. A tenant always
// reaches itself. A nil *Reach lets every tenant reach every other.
type Reach struct {
	allow map[string]map[string]bool
}

// NewReach returns the Reach in which tenant t may send to the tenants
// listed in canReach[t], and nothing else (besides itself).
func NewReach(canReach map[string][]string) *Reach {
	r := &Reach{allow: map[string]map[string]bool{}}
	for from, tos := range canReach {
		m := map[string]bool{}
		for _, to := range tos {
			m[to] = true
		}
		r.allow[from] = m
	}
	return r
}

// ReachFromPolicy returns the Reach of an APID plane policy: tenant A
// reaches tenant B if B's name is among A's can_send_to entries (APID
// range entries say nothing about the LAN and are ignored).
func ReachFromPolicy(p *policy.Policy) *Reach {
	m := map[string][]string{}
	for _, t := range p.Tenants {
		m[t.Name] = nil
		for _, e := range t.CanSendTo {
			if _, ok := p.Index(e); ok {
				m[t.Name] = append(m[t.Name], e)
			}
		}
	}
	return NewReach(m)
}

// Allows reports whether tenant from may send to tenant to.
func (r *Reach) Allows(from, to string) bool {
	if r == nil || from == to {
		return true
	}
	return r.allow[from][to]
}

// String lists the rules, one "from -> to, to" per tenant, sorted.
func (r *Reach) String() string {
	if r == nil {
		return "all tenants reach each other"
	}
	var b strings.Builder
	for _, from := range slices.Sorted(maps.Keys(r.allow)) {
		fmt.Fprintf(&b, "%s -> %s\n", from, strings.Join(slices.Sorted(maps.Keys(r.allow[from])), ", "))
	}
	return b.String()
}
