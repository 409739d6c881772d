package policy

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"spacenet/apid/frame"
)

// Error is one problem in a policy: where it is and what is wrong.
type Error struct {
	File   string // the policy's Source; may be empty
	Line   int    // 1-based line in File, 0 if unknown
	Tenant string // the tenant's name, "" if it has none
	Number int    // the tenant's 1-based position in Policy.Tenants, 0 if not about one tenant
	Ground bool   // the problem is in the [ground] table
	Remote bool   // Tenant and Number name a [[remote]] table, not a [[tenant]]
	Field  string // "name", "owns", "can_send_to", "downlink" or an unknown key
	Err    error
}

// Error formats e as "FILE:LINE: tenant "NAME": FIELD: problem", leaving
// out what is unknown; an unnamed tenant is "tenant #N" (1-based), the
// [ground] table "ground".
func (e *Error) Error() string {
	var parts []string
	switch {
	case e.File != "" && e.Line > 0:
		parts = append(parts, e.File+":"+strconv.Itoa(e.Line))
	case e.File != "":
		parts = append(parts, e.File)
	case e.Line > 0:
		parts = append(parts, "line "+strconv.Itoa(e.Line))
	}
	kind := "tenant "
	if e.Remote {
		kind = "remote "
	}
	switch {
	case e.Tenant != "":
		parts = append(parts, kind+strconv.Quote(e.Tenant))
	case e.Number > 0:
		parts = append(parts, kind+"#"+strconv.Itoa(e.Number))
	case e.Ground:
		parts = append(parts, GroundName)
	}
	if e.Field != "" {
		parts = append(parts, e.Field)
	}
	parts = append(parts, e.Err.Error())
	return strings.Join(parts, ": ")
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// NamePattern is what a tenant name must match.
const NamePattern = `[a-z0-9][a-z0-9_-]{0,31}`

var nameRE = regexp.MustCompile(`^` + NamePattern + `$`)

// reserved are the APIDs no tenant may own, with what they are.
var reserved = []struct {
	r    Range
	what string
}{
	{Range{frame.APIDSwitch, frame.APIDSwitch}, "the switch APID"},
	{Range{frame.SystemFirst, frame.SystemLast}, "system APIDs"},
	{Range{frame.APIDIdle, frame.APIDIdle}, "the idle APID"},
	{Range{frame.MaxAPID + 1, 0xFFFF}, "values beyond 11 bits"},
}

// Validate checks p against the rules in the package doc and returns nil
// or every problem, joined with errors.Join, each an *Error.
func (p *Policy) Validate() error {
	var errs []error
	at := func(i int, field string, line int, format string, args ...any) {
		e := &Error{File: p.Source, Line: line, Number: i + 1, Field: field, Err: fmt.Errorf(format, args...)}
		if i >= 0 {
			e.Tenant = p.Tenants[i].Name
		}
		errs = append(errs, e)
	}
	if len(p.Tenants) == 0 {
		at(-1, "", 0, "no tenants: a policy needs at least one [[tenant]]")
	}
	pos := p.positionsOK()
	// lines returns the positions of tenant i, or an empty one.
	lines := func(i int) *tenantPos {
		if tp := pos.tenant(i); tp != nil {
			return tp
		}
		return &tenantPos{}
	}
	ownsLine := func(i, j int) int {
		tp := lines(i)
		if j < len(tp.owns) {
			return tp.owns[j]
		}
		return tp.fields["owns"]
	}

	// Names.
	for i, t := range p.Tenants {
		line := lines(i).fields["name"]
		if line == 0 {
			line = lines(i).header
		}
		if lines(i).reported["name"] {
			continue
		}
		switch {
		case t.Name == "":
			at(i, "name", line, "missing")
			continue
		case !nameRE.MatchString(t.Name):
			at(i, "name", line, "%q does not match %s", t.Name, NamePattern)
			continue
		}
		if _, err := ParseRange(t.Name); err == nil {
			at(i, "name", line, "%q reads as an APID range, which can_send_to could not tell from one", t.Name)
		}
		if t.Name == GroundName {
			at(i, "name", line, "%q is reserved: it names the ground in counters and logs (the ground is configured by a [ground] table)", t.Name)
		}
		for k := range i {
			if p.Tenants[k].Name == t.Name {
				at(i, "name", line, "%q already used by tenant #%d%s", t.Name, k+1, lineNote(lines(k).fields["name"]))
				break
			}
		}
	}

	// Owned ranges: bounds, then overlaps among those in bounds.
	var all []owned
	// The ground's first, so that a tenant that takes one of its APIDs is
	// told so at its own line.
	gp := p.groundPos()
	if !gp.reported["owns"] || len(p.Ground.Owns) > 0 { // not when every entry was refused: no default then
		for j, r := range p.GroundOwns() {
			line := gp.fields["owns"]
			if j < len(gp.owns) {
				line = gp.owns[j]
			}
			if bad := p.checkOwned(r, all, groundIndex, line, func(format string, args ...any) {
				errs = append(errs, &Error{File: p.Source, Line: line, Ground: true, Field: "owns", Err: fmt.Errorf(format, args...)})
			}); !bad {
				all = append(all, owned{r, groundIndex, line})
			}
		}
	}
	for i, t := range p.Tenants {
		if len(t.Owns) == 0 {
			if !lines(i).reported["owns"] {
				line := lines(i).fields["owns"]
				if line == 0 {
					line = lines(i).header
				}
				at(i, "owns", line, "none: a tenant must own at least one APID range")
			}
			continue
		}
		for j, r := range t.Owns {
			line := ownsLine(i, j)
			if bad := p.checkOwned(r, all, i, line, func(format string, args ...any) {
				at(i, "owns", line, format, args...)
			}); !bad {
				all = append(all, owned{r, i, line})
			}
		}
	}

	// Remotes, owns checked against the tenants' and the ground's.
	p.validateRemotes(all, func(o owned) { all = append(all, o) }, func(i int, field string, line int, format string, args ...any) {
		errs = append(errs, &Error{File: p.Source, Line: line, Tenant: p.Remotes[i].Name, Number: i + 1, Remote: true, Field: field, Err: fmt.Errorf(format, args...)})
	})

	// can_send_to.
	for i, t := range p.Tenants {
		p.checkSendTo(t.CanSendTo, lines(i), func(line int, format string, args ...any) {
			at(i, "can_send_to", line, format, args...)
		})
	}
	if !gp.reported["can_send_to"] {
		p.checkSendTo(p.Ground.CanSendTo, gp, func(line int, format string, args ...any) {
			errs = append(errs, &Error{File: p.Source, Line: line, Ground: true, Field: "can_send_to", Err: fmt.Errorf(format, args...)})
		})
	}
	// Flow control and rate limit.
	for i, t := range p.Tenants {
		tp := lines(i)
		problems := t.Flow.check()
		for _, field := range flowKeys {
			if err := problems[field]; err != nil && !tp.reported[field] {
				at(i, field, tp.fields[field], "%w", err)
			}
		}
	}
	return errors.Join(errs...)
}

// groundIndex stands for the ground where Validate records owners.
const groundIndex = -2

// owned is an owned range Validate has accepted: by whom, and where.
type owned struct {
	r      Range
	tenant int // index in Policy.Tenants, groundIndex or remoteIndex(i)
	line   int
}

// checkOwned reports, through fail, what is wrong with range r that owner
// (a tenant index or groundIndex) owns at line, given the ranges accepted
// so far. It returns true when r is out of bounds (and must not be kept).
func (p *Policy) checkOwned(r Range, all []owned, owner, line int, fail func(format string, args ...any)) bool {
	if r.First > r.Last {
		fail("%v: first %v > last %v", r, r.First, r.Last)
		return true
	}
	var bad []string
	for _, rs := range reserved {
		if x, ok := r.intersect(rs.r); ok {
			bad = append(bad, rs.what+" "+x.String())
		}
	}
	if len(bad) > 0 {
		who := "a tenant"
		switch {
		case owner == groundIndex:
			who = "the ground"
		case owner <= remoteIndex(0):
			who = "a remote"
		}
		fail("%v includes %s; %s may own only %v", r, strings.Join(bad, " and "), who, Range{frame.TenantFirst, frame.TenantLast})
		return true
	}
	for _, o := range all {
		x, ok := r.intersect(o.r)
		switch {
		case !ok:
		case o.tenant == owner:
			fail("%v listed twice%s", x, lineNote(o.line))
		case o.tenant == groundIndex && o.line == 0 && len(p.GroundOwns()) == 1 && p.GroundOwns()[0] == (Range{DefaultGroundAPID, DefaultGroundAPID}):
			fail("%v already owned by the ground (the default ground APID %v; a [ground] table can move it)", x, DefaultGroundAPID)
		case o.tenant == groundIndex:
			fail("%v already owned by the ground%s", x, lineNote(o.line))
		case o.tenant <= remoteIndex(0):
			fail("%v already owned by remote %q%s", x, p.Remotes[remoteIndex(0)-o.tenant].Name, lineNote(o.line))
		default:
			fail("%v already owned by tenant %s%s", x, p.label(o.tenant), lineNote(o.line))
		}
	}
	return false
}

// checkSendTo reports, through fail, every can_send_to entry that is
// neither an APID range nor a tenant's name; tp gives their lines.
func (p *Policy) checkSendTo(entries []string, tp *tenantPos, fail func(line int, format string, args ...any)) {
	for j, e := range entries {
		line := tp.fields["can_send_to"]
		if j < len(tp.sendTo) {
			line = tp.sendTo[j]
		}
		_, rerr := ParseRange(e)
		if rerr == nil {
			continue
		}
		if _, ok := p.Index(e); ok {
			continue
		}
		if _, ok := p.RemoteIndex(e); ok {
			continue
		}
		if e != "" && e[0] >= '0' && e[0] <= '9' {
			fail(line, "%w", rerr)
		} else {
			fail(line, "%q is neither a tenant nor an APID range", e)
		}
	}
}

// label names tenant i for messages: "camera" quoted, or #N.
func (p *Policy) label(i int) string {
	if n := p.Tenants[i].Name; n != "" {
		return strconv.Quote(n)
	}
	return "#" + strconv.Itoa(i+1)
}

// lineNote is " (line N)", or "" when the line is unknown.
func lineNote(line int) string {
	if line == 0 {
		return ""
	}
	return " (line " + strconv.Itoa(line) + ")"
}

// groundPos returns where the [ground] table's fields were found, if the
// positions still describe p.Ground, else an empty record.
func (p *Policy) groundPos() *tenantPos {
	if p.pos != nil && p.pos.ground != nil {
		gp := p.pos.ground
		if len(gp.owns) == len(p.Ground.Owns) && len(gp.sendTo) == len(p.Ground.CanSendTo) {
			return gp
		}
		if len(gp.owns) == 0 && gp.fields["owns"] == 0 && len(gp.sendTo) == len(p.Ground.CanSendTo) {
			return gp // owns left out: Parse put the default in
		}
	}
	return &tenantPos{}
}

// positionsOK returns p's positions if they still describe p.Tenants (a
// caller may have edited the policy since Parse), else nil.
func (p *Policy) positionsOK() *positions {
	if p.pos == nil || len(p.pos.tenants) != len(p.Tenants) {
		return nil
	}
	for i, tp := range p.pos.tenants {
		t := &p.Tenants[i]
		if len(tp.owns) != len(t.Owns) || len(tp.sendTo) != len(t.CanSendTo) {
			return nil
		}
	}
	return p.pos
}
