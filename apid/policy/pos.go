package policy

// positions records where, in a policy file, each [[tenant]] table and each
// of its keys and array elements start, so that semantic errors can carry a
// line number. BurntSushi/toml keeps positions to itself, so this is a small
// forgiving scanner run over input that the TOML parser has already
// accepted. A tenant written as an inline table (tenant = [{...}]) gets no
// positions, and errors about it no line.
type positions struct {
	tenants []*tenantPos   // one per [[tenant]] header, in order
	ground  *tenantPos     // the [ground] table, nil if none
	remotes []*tenantPos   // one per [[remote]] header, in order
	keys    map[string]int // "table.key" (or "key" at top level) -> line of first occurrence
}

type tenantPos struct {
	header int              // line of the [[tenant]] (or [ground]) header
	fields map[string]int   // key -> line of "key ="
	elems  map[string][]int // key -> line of each array element, as written
	owns   []int            // line of each Tenant.Owns entry (set by Parse)
	sendTo []int            // line of each Tenant.CanSendTo entry (set by Parse)

	reported map[string]bool // fields Parse already reported a type error for
}

// scan finds the positions in data. It never fails: on input it does not
// understand it records less.
func scan(data []byte) *positions {
	ps := &positions{keys: make(map[string]int)}
	var (
		line       = 1
		depth      int // nesting of [ and { inside a value
		inValue    bool
		key        []byte // key being read, before '='
		curKey     string // key whose value is being read
		table      string // current [table] or [[table]] name
		cur        *tenantPos
		expectElem bool // at depth 1, the next value starts an element
	)
	elem := func() {
		if depth == 1 && expectElem && cur != nil {
			cur.elems[curKey] = append(cur.elems[curKey], line)
		}
		expectElem = false
	}
	n := len(data)
	for i := 0; i < n; i++ {
		c := data[i]
		switch {
		case c == '\n':
			line++
			if depth == 0 {
				inValue, key = false, key[:0]
			}
		case c == ' ' || c == '\t' || c == '\r':
		case c == '#':
			for i+1 < n && data[i+1] != '\n' {
				i++
			}
		case c == '"' || c == '\'':
			start := line
			end := skipString(data, i)
			for _, b := range data[i:end] {
				if b == '\n' {
					line++
				}
			}
			if depth == 0 && !inValue {
				key = append(key, data[i:end]...)
			} else {
				l := line
				line = start
				elem()
				line = l
			}
			i = end - 1
		case c == '[' && depth == 0 && !inValue:
			j := i
			for j < n && data[j] != '\n' {
				j++
			}
			h := string(data[i:j])
			if k := indexByte(h, '#'); k >= 0 {
				h = h[:k]
			}
			h = trimSpace(h)
			array := len(h) >= 4 && h[:2] == "[[" && h[len(h)-2:] == "]]"
			if array {
				table = trimSpace(h[2 : len(h)-2])
			} else if len(h) >= 2 && h[len(h)-1] == ']' {
				table = trimSpace(h[1 : len(h)-1])
			}
			if _, ok := ps.keys[unquote(table)]; !ok {
				ps.keys[unquote(table)] = line
			}
			cur = nil
			if array && unquote(table) == "tenant" {
				cur = &tenantPos{header: line, fields: make(map[string]int), elems: make(map[string][]int)}
				ps.tenants = append(ps.tenants, cur)
			}
			if array && unquote(table) == "remote" {
				cur = &tenantPos{header: line, fields: make(map[string]int), elems: make(map[string][]int)}
				ps.remotes = append(ps.remotes, cur)
			}
			if !array && unquote(table) == "ground" && ps.ground == nil {
				cur = &tenantPos{header: line, fields: make(map[string]int), elems: make(map[string][]int)}
				ps.ground = cur
			}
			i = j - 1
		case c == '[' || c == '{':
			elem()
			depth++
			if depth == 1 {
				expectElem = true
			}
		case c == ']' || c == '}':
			if depth > 0 {
				depth--
			}
			expectElem = false
		case c == ',':
			if depth == 1 {
				expectElem = true
			}
		case c == '=' && depth == 0 && !inValue:
			inValue = true
			curKey = unquote(trimSpace(string(key)))
			full := curKey
			if table != "" {
				full = unquote(table) + "." + curKey
			}
			if _, ok := ps.keys[full]; !ok {
				ps.keys[full] = line
			}
			if cur != nil {
				if _, ok := cur.fields[curKey]; !ok {
					cur.fields[curKey] = line
				}
			}
		default:
			if depth == 0 && !inValue {
				key = append(key, c)
				continue
			}
			elem()
			// Skip the rest of a bare value (number, bool, date).
			for i+1 < n && !isDelim(data[i+1]) {
				i++
			}
		}
	}
	return ps
}

// skipString returns the index just past the string literal starting at
// data[i] (a basic or literal string, single- or multi-line), or len(data).
func skipString(data []byte, i int) int {
	q := data[i]
	n := len(data)
	if i+2 < n && data[i+1] == q && data[i+2] == q { // multi-line
		for j := i + 3; j+2 < n; j++ {
			if q == '"' && data[j] == '\\' {
				j++
				continue
			}
			if data[j] == q && data[j+1] == q && data[j+2] == q {
				for j+3 < n && data[j+3] == q { // up to two quotes may end the content
					j++
				}
				return j + 3
			}
		}
		return n
	}
	for j := i + 1; j < n; j++ {
		switch {
		case q == '"' && data[j] == '\\':
			j++
		case data[j] == q:
			return j + 1
		case data[j] == '\n':
			return j
		}
	}
	return n
}

func isDelim(b byte) bool {
	switch b {
	case ',', ']', '}', '\n', '#', ' ', '\t', '\r':
		return true
	}
	return false
}

func indexByte(s string, b byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return i
		}
	}
	return -1
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t' || s[0] == '\r') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}

// unquote strips one pair of quotes from a simple quoted key ("name" or
// 'name'); anything else is returned as is.
func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// tenant returns the positions of the i-th tenant, or nil if unknown.
func (ps *positions) tenant(i int) *tenantPos {
	if ps == nil || i < 0 || i >= len(ps.tenants) {
		return nil
	}
	return ps.tenants[i]
}
