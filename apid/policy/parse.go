package policy

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// rawTenant is one [[tenant]] table as TOML values, typed by hand so that a
// wrong type is reported with the tenant, the field and a line.
type rawTenant struct {
	Name, Owns, CanSendTo, Downlink any
}

// tenantKeys are the keys a [[tenant]] table may have.
var tenantKeys = map[string]bool{"name": true, "owns": true, "can_send_to": true, "downlink": true,
	"when_full": true, "hold": true, "rate": true, "burst": true, "when_over_rate": true, "resync": true}

// Load reads the policy file at path and parses it with Parse. "/dev/stdin"
// works.
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes a policy file (format in the package doc) and validates it.
// name is the file name used in errors and as the Policy's Source. Unknown
// keys, wrong types and every Validate problem are all reported, joined with
// errors.Join and ordered by line, each an *Error; a TOML syntax error stops
// decoding and is the only one reported.
//
// Keys are matched exactly: the file is decoded into maps rather than with
// toml.MetaData.Undecoded, because BurntSushi/toml matches struct fields
// case-insensitively and would take "Downlink" for "downlink".
func Parse(name string, data []byte) (*Policy, error) {
	var top map[string]any
	if _, err := toml.Decode(string(data), &top); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &Error{File: name, Line: pe.Position.Line, Err: errors.New(pe.Message)}
		}
		return nil, &Error{File: name, Err: err}
	}
	ps := scan(data)
	var errs []error
	for _, k := range sortedKeys(top) {
		if k != "tenant" && k != "ground" && k != "remote" {
			errs = append(errs, &Error{File: name, Line: ps.keys[k], Field: k,
				Err: errors.New("unknown key (a policy file holds only [[tenant]] tables, one [ground] table and [[remote]] tables)")})
		}
	}
	var tables []map[string]any
	switch v := top["tenant"].(type) {
	case nil:
	case []map[string]any:
		tables = v
	case []any:
		for _, e := range v {
			m, ok := e.(map[string]any)
			if !ok {
				errs = append(errs, &Error{File: name, Line: ps.keys["tenant"], Field: "tenant",
					Err: fmt.Errorf("want tables, got %s", describe(e))})
				continue
			}
			tables = append(tables, m)
		}
	default:
		errs = append(errs, &Error{File: name, Line: ps.keys["tenant"], Field: "tenant",
			Err: fmt.Errorf("want [[tenant]] tables, got %s", describe(v))})
	}
	if len(ps.tenants) != len(tables) {
		// Inline tables: lines would be misattributed, so keep none.
		ps.tenants = make([]*tenantPos, len(tables))
		for i := range ps.tenants {
			ps.tenants[i] = &tenantPos{fields: map[string]int{}, elems: map[string][]int{}}
		}
	}
	p := &Policy{Source: name, pos: ps}
	for i, m := range tables {
		tp := ps.tenants[i]
		rt := rawTenant{Name: m["name"], Owns: m["owns"], CanSendTo: m["can_send_to"], Downlink: m["downlink"]}
		nm, _ := rt.Name.(string)
		for _, k := range sortedKeys(m) {
			switch {
			case k == "uplink":
				// The key was renamed: uplink is ground to space, and this
				// key lets a tenant send the other way.
				errs = append(errs, &Error{File: name, Line: tp.fields[k], Tenant: nm, Number: i + 1, Field: k,
					Err: errors.New("renamed to downlink (space to ground): write downlink = true to let the tenant send to the ground")})
			case !tenantKeys[k]:
				errs = append(errs, &Error{File: name, Line: tp.fields[k], Tenant: nm, Number: i + 1, Field: k,
					Err: errors.New("unknown key (want name, owns, can_send_to, downlink, " + strings.Join(flowKeys, ", ") + ")")})
			}
		}
		t, terrs := convert(name, i, rt, tp)
		t.Flow = convertFlow(m, func(f string) int { return tp.fields[f] }, func(line int, field string, err error) {
			terrs = append(terrs, &Error{File: name, Line: line, Tenant: nm, Number: i + 1, Field: field, Err: err})
			tp.reported[field] = true
		})
		p.Tenants = append(p.Tenants, t)
		errs = append(errs, terrs...)
	}
	g, gerrs := convertGround(name, top["ground"], ps)
	p.Ground = g
	errs = append(errs, gerrs...)
	rs, rerrs := convertRemotes(name, top["remote"], ps)
	p.Remotes = rs
	errs = append(errs, rerrs...)
	if err := p.Validate(); err != nil {
		errs = append(errs, err.(interface{ Unwrap() []error }).Unwrap()...)
	}
	if len(errs) > 0 {
		sortErrors(errs)
		return nil, errors.Join(errs...)
	}
	return p, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// convert types one raw tenant. It returns the tenant and type errors, and
// fills tp.owns and tp.sendTo with the lines of the entries kept.
func convert(file string, i int, rt rawTenant, tp *tenantPos) (Tenant, []error) {
	var t Tenant
	var errs []error
	fieldLine := func(f string) int {
		if tp == nil {
			return 0
		}
		return tp.fields[f]
	}
	elemLine := func(f string, j int) int {
		if tp != nil && j < len(tp.elems[f]) {
			return tp.elems[f][j]
		}
		return fieldLine(f)
	}
	name, _ := rt.Name.(string)
	fail := func(line int, field string, err error) {
		errs = append(errs, &Error{File: file, Line: line, Tenant: name, Number: i + 1, Field: field, Err: err})
	}
	if tp != nil && tp.reported == nil {
		tp.reported = make(map[string]bool)
	}
	switch v := rt.Name.(type) {
	case nil, string:
		t.Name = name
	default:
		fail(fieldLine("name"), "name", fmt.Errorf("want a string, got %s", describe(v)))
	}
	strs := func(field string, v any) (out []string, lines []int) {
		switch v := v.(type) {
		case nil:
		case []any:
			for j, e := range v {
				s, ok := e.(string)
				if !ok {
					fail(elemLine(field, j), field, fmt.Errorf("want a string, got %s", describe(e)))
					continue
				}
				out = append(out, s)
				lines = append(lines, elemLine(field, j))
			}
		default:
			fail(fieldLine(field), field, fmt.Errorf("want an array of strings, got %s", describe(v)))
		}
		return out, lines
	}
	owns, ownsLines := strs("owns", rt.Owns)
	var kept []int
	for j, s := range owns {
		r, err := ParseRange(s)
		if err != nil {
			fail(ownsLines[j], "owns", err)
			continue
		}
		t.Owns = append(t.Owns, r)
		kept = append(kept, ownsLines[j])
	}
	var sendLines []int
	t.CanSendTo, sendLines = strs("can_send_to", rt.CanSendTo)
	switch v := rt.Downlink.(type) {
	case nil:
	case bool:
		t.Downlink = v
	default:
		fail(fieldLine("downlink"), "downlink", fmt.Errorf("want true or false, got %s", describe(v)))
	}
	if tp != nil {
		tp.owns, tp.sendTo = kept, sendLines
		// Fields with a type error are not checked again by Validate, and a
		// tenant whose owns entries were all rejected is not also reported
		// as owning nothing.
		for _, e := range errs {
			tp.reported[e.(*Error).Field] = true
		}
	}
	return t, errs
}

// groundKeys are the keys the [ground] table may have.
var groundKeys = map[string]bool{"owns": true, "can_send_to": true}

// convertGround types the [ground] table v (nil when the file has none). It
// returns the ground, with owns defaulted to DefaultGroundAPID when left
// out, and the type errors; it fills ps.ground's owns and sendTo lines.
func convertGround(file string, v any, ps *positions) (Ground, []error) {
	def := []Range{{DefaultGroundAPID, DefaultGroundAPID}}
	gp := ps.ground
	if gp == nil {
		gp = &tenantPos{fields: map[string]int{}, elems: map[string][]int{}}
		ps.ground = gp
	}
	gp.reported = make(map[string]bool)
	var m map[string]any
	switch v := v.(type) {
	case nil:
		return Ground{Owns: def}, nil
	case map[string]any:
		m = v
	default:
		return Ground{Owns: def}, []error{&Error{File: file, Line: ps.keys["ground"], Ground: true,
			Err: fmt.Errorf("want one [ground] table, got %s", describe(v))}}
	}
	var errs []error
	for _, k := range sortedKeys(m) {
		if !groundKeys[k] {
			line := gp.fields[k]
			if line == 0 {
				line = ps.keys["ground."+k] // a [ground.k] table
			}
			errs = append(errs, &Error{File: file, Line: line, Ground: true, Field: k,
				Err: errors.New("unknown key (want owns, can_send_to)")})
		}
	}
	// The ground's fields are typed as a tenant's are.
	t, terrs := convert(file, -1, rawTenant{Owns: m["owns"], CanSendTo: m["can_send_to"]}, gp)
	for _, e := range terrs {
		pe := e.(*Error)
		pe.Number, pe.Ground = 0, true
	}
	errs = append(errs, terrs...)
	g := Ground{Owns: t.Owns, CanSendTo: t.CanSendTo}
	if _, ok := m["can_send_to"]; ok && g.CanSendTo == nil {
		g.CanSendTo = []string{} // written, and empty: the ground may reach no tenant
	}
	switch _, ok := m["owns"]; {
	case !ok:
		g.Owns = def
	case len(g.Owns) == 0 && !gp.reported["owns"]: // owns = []
		gp.reported["owns"] = true
		errs = append(errs, &Error{File: file, Line: gp.fields["owns"], Ground: true, Field: "owns",
			Err: fmt.Errorf("none: the ground must own at least one APID (leave owns out for the default %v)", DefaultGroundAPID)})
	}
	return g, errs
}

// describe names a TOML value's type and shows it, for type errors.
func describe(v any) string {
	switch v := v.(type) {
	case string:
		return "string " + strconv.Quote(v)
	case int64:
		return fmt.Sprintf("integer %d", v)
	case float64:
		return fmt.Sprintf("float %v", v)
	case bool:
		return fmt.Sprintf("boolean %v", v)
	case []any:
		return "array"
	case map[string]any:
		return "table"
	case []map[string]any:
		return "array of tables"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// sortErrors orders errors by line, keeping the order of equal lines.
func sortErrors(errs []error) {
	line := func(e error) int {
		var pe *Error
		if errors.As(e, &pe) {
			return pe.Line
		}
		return 0
	}
	sort.SliceStable(errs, func(a, b int) bool { return line(errs[a]) < line(errs[b]) })
}

// WriteTOML writes p in the policy file format. The output of a valid
// policy parses back, with Parse, to the same tenants.
func (p *Policy) WriteTOML(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# spacenet APID plane policy")
	if p.Source != "" {
		b.WriteString(", from " + strconv.Quote(p.Source))
	}
	b.WriteString(".\n# Check it with: spacenet config check FILE\n")
	writeList := func(key string, l []string) {
		b.WriteString(key + " = [")
		for j, s := range l {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(quote(s))
		}
		b.WriteString("]\n")
	}
	for _, t := range p.Tenants {
		b.WriteString("\n[[tenant]]\n")
		b.WriteString("name = " + quote(t.Name) + "\n")
		owns := make([]string, 0, len(t.Owns))
		for _, r := range t.Owns {
			owns = append(owns, r.String())
		}
		writeList("owns", owns)
		writeList("can_send_to", t.CanSendTo)
		fmt.Fprintf(&b, "downlink = %v\n", t.Downlink)
		t.Flow.writeTOML(&b)
	}
	b.WriteString("\n# The ground: the source APIDs of frames from the uplink.\n[ground]\n")
	owns := make([]string, 0, len(p.GroundOwns()))
	for _, r := range p.GroundOwns() {
		owns = append(owns, r.String())
	}
	writeList("owns", owns)
	if p.Ground.CanSendTo == nil {
		b.WriteString("# can_send_to left out: the ground may send to every tenant\n")
	} else {
		writeList("can_send_to", p.Ground.CanSendTo)
	}
	p.writeRemotesTOML(&b, writeList)
	_, err := io.WriteString(w, b.String())
	return err
}

// quote writes s as a TOML basic string: quotes and backslashes escaped,
// control characters as \uXXXX; invalid UTF-8 becomes U+FFFD.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || (r >= 0x7F && r <= 0x9F):
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
