package archtest

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the package picture in docs/ARCHITECTURE.md")

const module = "spacenet"

// listPackages returns the module's packages (generated corpus packages
// left out), each with its imports inside the module.
func listPackages(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string][]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("go list output: %v", err)
		}
		path := strings.TrimPrefix(p.ImportPath, module+"/")
		if strings.HasPrefix(path, "ipc/idol/gen/internal/") {
			continue // generated packages that only prove goldens compile
		}
		var local []string
		for _, imp := range p.Imports {
			if rel, ok := strings.CutPrefix(imp, module+"/"); ok {
				local = append(local, rel)
			}
		}
		pkgs[path] = local
	}
	return pkgs
}

// under reports whether path is dir or inside it.
func under(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// rule forbids packages matching from to import packages matching to.
type rule struct {
	name     string
	from, to func(string) bool
}

// in matches the packages inside any of dirs.
func in(dirs ...string) func(string) bool {
	return func(p string) bool {
		return slices.ContainsFunc(dirs, func(d string) bool { return under(p, d) })
	}
}

// except matches what f matches but the packages inside dirs.
func except(f func(string) bool, dirs ...string) func(string) bool {
	g := in(dirs...)
	return func(p string) bool { return f(p) && !g(p) }
}

// every matches every package.
func every(string) bool { return true }

// bench matches the measurement packages, which may reach across planes
// to build their baselines.
func bench(p string) bool { return strings.HasSuffix(p, "bench") }

// notBench matches what f matches but measurement packages.
func notBench(f func(string) bool) func(string) bool {
	return func(p string) bool { return f(p) && !bench(p) }
}

// rules are the layering the tree keeps, each named by what it protects.
// (internal/vmtest boots whole computers as `spacenet up` does, through
// ops/system: the one internal package above operations.)
var rules = []rule{
	{"nothing imports a command or an example", every, in("cmd", "examples")},
	{"the planes never import operations (ops/ watches them, not the reverse)", except(in("apid", "ipc", "ip", "camera", "internal"), "internal/vmtest"), in("ops")},
	{"the APID plane stands alone (no IPC, no IP)", notBench(in("apid")), in("ipc", "ip", "camera")},
	{"the IP plane imports no APID code but the policy's tenant names", notBench(in("ip")), except(in("apid"), "apid/policy")},
	{"the IP plane imports no IPC", in("ip"), in("ipc", "camera")},
	{"Idol's front end knows nothing of transports", in("ipc/idol"), except(every, "ipc/idol", "internal")},
	{"the frame codec of IPC knows no transport", in("ipc/ipcframe"), except(every, "apid/frame", "internal")},
	{"netstack runs on any NIC, not only the LAN", notBench(in("ip/netstack")), in("ip/lan")},
	{"the byte layers import nothing of ours", in("ip/wire", "apid/frame"), every},
}

func TestLayering(t *testing.T) {
	pkgs := listPackages(t)
	for _, r := range rules {
		for _, from := range slices.Sorted(maps.Keys(pkgs)) {
			if !r.from(from) {
				continue
			}
			for _, to := range pkgs[from] {
				if r.to(to) {
					t.Errorf("%s imports %s: %s", from, to, r.name)
				}
			}
		}
	}
}

// planes name the top directories of the tree, in the picture's order.
var planes = []struct{ dir, title string }{
	{"apid", "APID plane: apid/"},
	{"ipc", "typed IPC: ipc/"},
	{"ip", "IP plane: ip/"},
	{"camera", "the Camera interface: camera/"},
	{"ops", "operations: ops/"},
	{"cmd", "the binary: cmd/"},
	{"examples", "guest programs: examples/"},
	{"internal", "internal/"},
}

// reduce returns the import graph without the edges implied by others
// (its transitive reduction), so the picture shows only direct layers.
func reduce(pkgs map[string][]string) map[string][]string {
	reach := func(from, skip string) map[string]bool {
		seen := map[string]bool{}
		var walk func(string)
		walk = func(p string) {
			for _, q := range pkgs[p] {
				if (p == from && q == skip) || seen[q] {
					continue
				}
				seen[q] = true
				walk(q)
			}
		}
		walk(from)
		return seen
	}
	out := map[string][]string{}
	for from, imports := range pkgs {
		for _, to := range imports {
			if !reach(from, to)[to] {
				out[from] = append(out[from], to)
			}
		}
		slices.Sort(out[from])
	}
	return out
}

// picture draws the packages grouped by plane as a Mermaid flowchart,
// an arrow from each package to those it imports directly.
func picture(pkgs map[string][]string) string {
	id := func(p string) string { return strings.NewReplacer("/", "_", "-", "_").Replace(p) }
	var b strings.Builder
	b.WriteString("```mermaid\nflowchart TB\n")
	names := slices.Sorted(maps.Keys(pkgs))
	for _, pl := range planes {
		fmt.Fprintf(&b, "  subgraph dir_%s[\"%s\"]\n", pl.dir, pl.title)
		for _, p := range names {
			if under(p, pl.dir) {
				fmt.Fprintf(&b, "    %s[\"%s\"]\n", id(p), p)
			}
		}
		b.WriteString("  end\n")
	}
	edges := reduce(pkgs)
	for _, from := range names {
		for _, to := range edges[from] {
			fmt.Fprintf(&b, "  %s --> %s\n", id(from), id(to))
		}
	}
	b.WriteString("```\n")
	return b.String()
}

const (
	doc       = "../../docs/ARCHITECTURE.md"
	beginMark = "<!-- packages: go test ./internal/archtest -update rewrites this picture -->\n"
	endMark   = "<!-- end of packages -->\n"
)

// TestPicture checks that docs/ARCHITECTURE.md's package picture is the
// tree's import graph today.
func TestPicture(t *testing.T) {
	pkgs := listPackages(t)
	for p := range pkgs {
		if !slices.ContainsFunc(planes, func(pl struct{ dir, title string }) bool { return under(p, pl.dir) }) {
			t.Errorf("package %s is in no plane's directory", p)
		}
	}
	body, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	s := string(body)
	i, j := strings.Index(s, beginMark), strings.Index(s, endMark)
	if i < 0 || j < i {
		t.Fatalf("%s: no picture between %q and %q", doc, beginMark, endMark)
	}
	want := picture(pkgs)
	if got := s[i+len(beginMark) : j]; got != want {
		if *update {
			if err := os.WriteFile(doc, []byte(s[:i+len(beginMark)]+want+s[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("%s: the package picture is not the tree's import graph: run go test ./internal/archtest -update and review", doc)
	}
}
