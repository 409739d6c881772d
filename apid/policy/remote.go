package policy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Remote is a set of APID ranges served by another switch, on another
// computer, reached through a DTN node (package apid/dtn): frames to those
// APIDs travel as bundles to Endpoint, and frames that come from Endpoint
// are checked like a tenant's, as coming from this remote.
//
// In a policy file, one [[remote]] table per remote:
//
//	[[remote]]
//	name = "payload"                             # as a tenant name; unique among tenants and remotes
//	owns = ["0x040-0x04F"]                       # APIDs the remote switch's tenants own
//	endpoint = "dtn://payload-computer/spacenet" # the remote switch's DTN endpoint ID
//	lifetime = "10m"                             # bundle lifetime; default 1h
//	can_send_to = ["processor"]                  # local tenants it may reach; default every tenant
//
// A tenant reaches a remote's APIDs only through its own can_send_to (the
// remote's name or a range), as it reaches another tenant. A frame from a
// remote never goes on to the ground or to another remote.
type Remote struct {
	Name      string
	Owns      []Range
	Endpoint  string        // "dtn://NODE/DEMUX" or "ipn:NODE.SERVICE"
	Lifetime  time.Duration // 0 means DefaultLifetime
	CanSendTo []string      // as written; nil means every tenant, empty means none
}

// DefaultLifetime is a bundle's lifetime when the remote does not say.
const DefaultLifetime = time.Hour

// MaxLifetime bounds a remote's lifetime.
const MaxLifetime = 30 * 24 * time.Hour

// BundleLifetime returns r.Lifetime, or DefaultLifetime when it is 0.
func (r *Remote) BundleLifetime() time.Duration {
	if r.Lifetime == 0 {
		return DefaultLifetime
	}
	return r.Lifetime
}

// remoteKeys are the keys a [[remote]] table may have.
var remoteKeys = map[string]bool{"name": true, "owns": true, "endpoint": true, "lifetime": true, "can_send_to": true}

// RemoteIndex returns the index in p.Remotes of the remote called name.
func (p *Policy) RemoteIndex(name string) (int, bool) {
	for i := range p.Remotes {
		if p.Remotes[i].Name == name {
			return i, true
		}
	}
	return -1, false
}

// RemoteByEndpoint returns the index of the remote whose endpoint is eid.
func (p *Policy) RemoteByEndpoint(eid string) (int, bool) {
	for i := range p.Remotes {
		if p.Remotes[i].Endpoint == eid {
			return i, true
		}
	}
	return -1, false
}

// RemoteSendTo returns remote i's can_send_to resolved to ranges; nil
// CanSendTo gives every tenant's Owns (never a remote's).
func (p *Policy) RemoteSendTo(i int) []Range {
	if i < 0 || i >= len(p.Remotes) {
		return nil
	}
	if p.Remotes[i].CanSendTo == nil {
		var out []Range
		for _, t := range p.Tenants {
			out = append(out, t.Owns...)
		}
		return out
	}
	return p.resolve(p.Remotes[i].CanSendTo)
}

// convertRemotes types the [[remote]] tables of v (nil when there are none).
func convertRemotes(file string, v any, ps *positions) ([]Remote, []error) {
	var tables []map[string]any
	var errs []error
	switch v := v.(type) {
	case nil:
		return nil, nil
	case []map[string]any:
		tables = v
	case []any:
		for _, e := range v {
			if m, ok := e.(map[string]any); ok {
				tables = append(tables, m)
			}
		}
	}
	if len(tables) == 0 {
		return nil, []error{&Error{File: file, Line: ps.keys["remote"], Field: "remote",
			Err: fmt.Errorf("want [[remote]] tables, got %s", describe(v))}}
	}
	if len(ps.remotes) != len(tables) {
		ps.remotes = make([]*tenantPos, len(tables))
		for i := range ps.remotes {
			ps.remotes[i] = &tenantPos{fields: map[string]int{}, elems: map[string][]int{}}
		}
	}
	var out []Remote
	for i, m := range tables {
		rp := ps.remotes[i]
		nm, _ := m["name"].(string)
		fail := func(line int, field string, err error) {
			errs = append(errs, &Error{File: file, Line: line, Tenant: nm, Number: i + 1, Remote: true, Field: field, Err: err})
			rp.reported[field] = true
		}
		for _, k := range sortedKeys(m) {
			if !remoteKeys[k] {
				errs = append(errs, &Error{File: file, Line: rp.fields[k], Tenant: nm, Number: i + 1, Remote: true, Field: k,
					Err: errors.New("unknown key (want name, owns, endpoint, lifetime, can_send_to)")})
			}
		}
		// name, owns and can_send_to are typed as a tenant's are.
		t, terrs := convert(file, i, rawTenant{Name: m["name"], Owns: m["owns"], CanSendTo: m["can_send_to"]}, rp)
		for _, e := range terrs {
			e.(*Error).Remote = true
		}
		errs = append(errs, terrs...)
		r := Remote{Name: t.Name, Owns: t.Owns, CanSendTo: t.CanSendTo}
		if _, ok := m["can_send_to"]; ok && r.CanSendTo == nil {
			r.CanSendTo = []string{}
		}
		switch v := m["endpoint"].(type) {
		case nil:
		case string:
			r.Endpoint = v
		default:
			fail(rp.fields["endpoint"], "endpoint", fmt.Errorf("want a string such as \"dtn://node/spacenet\", got %s", describe(v)))
		}
		switch v := m["lifetime"].(type) {
		case nil:
		case string:
			d, err := time.ParseDuration(v)
			if err != nil {
				fail(rp.fields["lifetime"], "lifetime", fmt.Errorf("%q: want a duration such as \"10m\"", v))
			} else {
				r.Lifetime = d
				if d == 0 {
					fail(rp.fields["lifetime"], "lifetime", fmt.Errorf("0s: want 1ms to %v (leave it out for %v)", MaxLifetime, DefaultLifetime))
				}
			}
		default:
			fail(rp.fields["lifetime"], "lifetime", fmt.Errorf("want a duration such as \"10m\", got %s", describe(v)))
		}
		out = append(out, r)
	}
	return out, errs
}

// CheckEndpoint checks that s is an endpoint ID a remote may have:
// "dtn://NODE/DEMUX" (NODE not empty, no spaces or control characters) or
// "ipn:NODE.SERVICE".
func CheckEndpoint(s string) error {
	switch {
	case strings.HasPrefix(s, "dtn://"):
		node, _, ok := strings.Cut(s[len("dtn://"):], "/")
		if !ok || node == "" {
			return fmt.Errorf("%q: want dtn://NODE/DEMUX", s)
		}
		for _, c := range s {
			if c <= ' ' || c == 0x7F {
				return fmt.Errorf("%q: a space or control character", s)
			}
		}
		return nil
	case strings.HasPrefix(s, "ipn:"):
		n, svc, ok := strings.Cut(s[len("ipn:"):], ".")
		_, err1 := strconv.ParseUint(n, 10, 64)
		_, err2 := strconv.ParseUint(svc, 10, 64)
		if ok && err1 == nil && err2 == nil {
			return nil
		}
		return fmt.Errorf("%q: want ipn:NODE.SERVICE", s)
	}
	return fmt.Errorf("%q: want dtn://NODE/DEMUX or ipn:NODE.SERVICE", s)
}

// remoteIndex is how Validate records remote i as an owner.
func remoteIndex(i int) int { return -3 - i }

// validateRemotes checks p.Remotes (names, endpoint, lifetime, can_send_to;
// owns is checked with the tenants'), reporting through at.
func (p *Policy) validateRemotes(all []owned, add func(owned), fail func(i int, field string, line int, format string, args ...any)) {
	pos := func(i int) *tenantPos {
		if p.pos != nil && i < len(p.pos.remotes) && p.pos.remotes[i] != nil &&
			len(p.pos.remotes[i].owns) == len(p.Remotes[i].Owns) {
			return p.pos.remotes[i]
		}
		return &tenantPos{}
	}
	for i, r := range p.Remotes {
		rp := pos(i)
		line := rp.fields["name"]
		if line == 0 {
			line = rp.header
		}
		if !rp.reported["name"] {
			switch {
			case r.Name == "":
				fail(i, "name", line, "missing")
			case !nameRE.MatchString(r.Name):
				fail(i, "name", line, "%q does not match %s", r.Name, NamePattern)
			case r.Name == GroundName:
				fail(i, "name", line, "%q is reserved: it names the ground", r.Name)
			default:
				if _, err := ParseRange(r.Name); err == nil {
					fail(i, "name", line, "%q reads as an APID range, which can_send_to could not tell from one", r.Name)
				}
				if k, ok := p.Index(r.Name); ok {
					fail(i, "name", line, "%q already used by tenant #%d", r.Name, k+1)
				}
				for k := range i {
					if p.Remotes[k].Name == r.Name {
						fail(i, "name", line, "%q already used by remote #%d", r.Name, k+1)
						break
					}
				}
			}
		}
		if !rp.reported["endpoint"] {
			eline := rp.fields["endpoint"]
			if eline == 0 {
				eline = rp.header
			}
			if r.Endpoint == "" {
				fail(i, "endpoint", eline, "missing: the remote switch's DTN endpoint, such as \"dtn://payload-computer/spacenet\"")
			} else if err := CheckEndpoint(r.Endpoint); err != nil {
				fail(i, "endpoint", eline, "%v", err)
			} else {
				for k := range i {
					if p.Remotes[k].Endpoint == r.Endpoint {
						fail(i, "endpoint", eline, "%q already used by remote #%d", r.Endpoint, k+1)
						break
					}
				}
			}
		}
		if !rp.reported["lifetime"] && (r.Lifetime < 0 || r.Lifetime > MaxLifetime) {
			fail(i, "lifetime", rp.fields["lifetime"], "%v: want 1ms to %v", r.Lifetime, MaxLifetime)
		}
		if len(r.Owns) == 0 && !rp.reported["owns"] {
			oline := rp.fields["owns"]
			if oline == 0 {
				oline = rp.header
			}
			fail(i, "owns", oline, "none: a remote must own at least one APID range")
		}
		for j, rg := range r.Owns {
			oline := rp.fields["owns"]
			if j < len(rp.owns) {
				oline = rp.owns[j]
			}
			if bad := p.checkOwned(rg, all, remoteIndex(i), oline, func(format string, args ...any) {
				fail(i, "owns", oline, format, args...)
			}); !bad {
				o := owned{rg, remoteIndex(i), oline}
				all = append(all, o)
				add(o)
			}
		}
		if !rp.reported["can_send_to"] {
			p.checkSendTo(r.CanSendTo, rp, func(line int, format string, args ...any) {
				fail(i, "can_send_to", line, format, args...)
			})
			for j, e := range r.CanSendTo {
				if _, ok := p.RemoteIndex(e); ok {
					l := rp.fields["can_send_to"]
					if j < len(rp.sendTo) {
						l = rp.sendTo[j]
					}
					fail(i, "can_send_to", l, "%q is a remote: a remote may reach only this switch's tenants", e)
				}
			}
		}
	}
}

// writeRemotesTOML writes p's [[remote]] tables.
func (p *Policy) writeRemotesTOML(b *strings.Builder, writeList func(string, []string)) {
	for _, r := range p.Remotes {
		b.WriteString("\n[[remote]]\n")
		b.WriteString("name = " + quote(r.Name) + "\n")
		owns := make([]string, 0, len(r.Owns))
		for _, rg := range r.Owns {
			owns = append(owns, rg.String())
		}
		writeList("owns", owns)
		b.WriteString("endpoint = " + quote(r.Endpoint) + "\n")
		if r.Lifetime != 0 {
			b.WriteString("lifetime = " + quote(r.Lifetime.String()) + "\n")
		}
		if r.CanSendTo != nil {
			writeList("can_send_to", r.CanSendTo)
		}
	}
}
