package netstack

import (
	"go/build"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoLANImport checks that package netstack (its non-test files, and
// every package of this module they import, transitively) does not import
// ip/lan: the LAN switch is one NIC a stack may use, through nic.NIC and
// nic.RefNIC, not a dependency of the stack.
func TestNoLANImport(t *testing.T) {
	const module, lan = "spacenet", "spacenet/ip/lan"
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			t.Fatal("go.mod not found above the package")
		}
		root = parent
	}
	seen := map[string]bool{}
	var walk func(path, via string)
	walk = func(path, via string) {
		if seen[path] {
			return
		}
		seen[path] = true
		pkg, err := build.ImportDir(filepath.Join(root, strings.TrimPrefix(path, module+"/")), 0)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, imp := range pkg.Imports {
			switch {
			case imp == lan:
				t.Errorf("%s imports %s (%s)", path, lan, via+path)
			case strings.HasPrefix(imp, module+"/"):
				walk(imp, via+path+" -> ")
			}
		}
	}
	walk(module+"/ip/netstack", "")
	if !seen[module+"/ip/nic"] {
		t.Fatalf("walked only %v: the walk does not see netstack's imports", seen)
	}
}
