package lan

import (
	"regexp"
	"strconv"
	"strings"
)

// configLine is one key (or table header, key "") of a configuration
// file and where it is: the table it is in ("port.fault"), the top-level
// array table it belongs to ("port") and that table's 1-based number.
type configLine struct {
	top, table string
	number     int
	key, value string
	line       int
}

// configLines lists a file's keys and headers with their lines, so that an
// error found after decoding can name its line. It reads lines the simple
// way TOML files are usually written (one key or header per line); a key
// it cannot place gets no line, never a wrong one from another table.
func configLines(data []byte) []configLine {
	var out []configLine
	table, top, counts, number := "", "", map[string]int{}, 0
	for i, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "[["):
			table = strings.TrimSpace(strings.Trim(strings.SplitN(l, "#", 2)[0], "[] \t"))
			top = table
			counts[table]++
			number = counts[table]
			out = append(out, configLine{top: top, table: table, number: number, line: i + 1})
		case strings.HasPrefix(l, "["):
			table = strings.TrimSpace(strings.Trim(strings.SplitN(l, "#", 2)[0], "[] \t"))
			if !strings.HasPrefix(table, top+".") {
				top, number = "", 0
			}
			out = append(out, configLine{top: top, table: table, number: number, line: i + 1})
		default:
			k, v, ok := strings.Cut(l, "=")
			if ok && !strings.HasPrefix(l, "#") {
				out = append(out, configLine{top: top, table: table, number: number,
					key: strings.Trim(strings.TrimSpace(k), `"`), value: strings.TrimSpace(v), line: i + 1})
			}
		}
	}
	return out
}

var (
	numberedRE = regexp.MustCompile(`^(port|tenant) (\d+)(?: \("[^"]*"\))?: (?:fault: |(?:fault|outage)\.)?([a-z_]+)?`)
	namedRE    = regexp.MustCompile(`^tenant ("[^"]*")(?:: ([a-z_]+))?`)
	unknownRE  = regexp.MustCompile(`^unknown key "([^"]+)"`)
	topRE      = regexp.MustCompile(`^([a-z_]+)[ :]`)
)

// lineOf returns the line an error message of ParseConfig is about, from
// the way the message starts (`port 2 ("cam"): mac ...`, `tenant "a":
// can_reach ...`, `unknown key "port.Name"`, `ageing "soon" ...`), or 0.
func lineOf(lines []configLine, msg string) int {
	find := func(match func(configLine) bool) int {
		for _, l := range lines {
			if match(l) {
				return l.line
			}
		}
		return 0
	}
	if m := numberedRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[2])
		if m[3] != "" {
			if l := find(func(l configLine) bool { return l.top == m[1] && l.number == n && l.key == m[3] }); l > 0 {
				return l
			}
		}
		return find(func(l configLine) bool { return l.table == m[1] && l.number == n && l.key == "" })
	}
	if m := namedRE.FindStringSubmatch(msg); m != nil {
		n := 0
		find(func(l configLine) bool {
			if l.top == "tenant" && l.key == "name" && l.value == m[1] {
				n = l.number
				return true
			}
			return false
		})
		key := m[2]
		if key == "" {
			key = "name"
		}
		return find(func(l configLine) bool { return l.top == "tenant" && l.number == n && n > 0 && l.key == key })
	}
	if m := unknownRE.FindStringSubmatch(msg); m != nil {
		path := m[1]
		table, key := "", path
		if i := strings.LastIndex(path, "."); i >= 0 {
			table, key = path[:i], path[i+1:]
		}
		if l := find(func(l configLine) bool { return l.table == table && l.key == key }); l > 0 {
			return l
		}
		return find(func(l configLine) bool { return l.table == path && l.key == "" }) // a [table]
	}
	if strings.HasPrefix(msg, "policy and [[tenant]]") {
		return find(func(l configLine) bool { return l.table == "" && l.key == "policy" })
	}
	if m := topRE.FindStringSubmatch(msg); m != nil {
		return find(func(l configLine) bool { return l.table == "" && l.key == m[1] })
	}
	return 0
}
