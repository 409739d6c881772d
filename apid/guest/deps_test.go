package guest

import (
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// switchPkg is the server: a guest program never imports it.
const switchPkg = "spacenet/apid/apidswitch"

// guestSide are the packages a guest program is built from (their non-test
// code): the client side of the APID plane, the typed IPC layer over it,
// the camera's IPC and simulator, the examples. (mkguest, which builds
// the VM tests' guest image on the host, is not one.)
// (The benchmark harnesses, ipcbench and switchbench, start switches of
// their own and are not guests, though guests run their roles.)
var guestSide = []string{
	"spacenet/apid/guest",
	"spacenet/apid/sysmsg",
	"spacenet/apid/sockdir",
	"spacenet/ipc/switched",
	"spacenet/camera/cameraipc",
	"spacenet/camera/camsim",
	"spacenet/examples/camera-server",
	"spacenet/examples/processor",
	"spacenet/ops/control/controltest",
}

// TestGuestSideDoesNotImportSwitch: no guest-side package depends on the
// switch, directly or through another package (go list -deps, non-test
// code only).
func TestGuestSideDoesNotImportSwitch(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skipf("no go command: %v", err)
	}
	for _, pkg := range guestSide {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 2 {
			t.Fatalf("go list -deps %s listed %q: too few to be real", pkg, deps)
		}
		for _, d := range deps {
			if d == switchPkg {
				t.Errorf("%s depends on %s", pkg, switchPkg)
			}
		}
	}
}

// TestInjectDoesNotImportSwitch: `spacenet inject` is a guest; it lives in
// the CLI's package, which also runs the switch, so its file is checked.
func TestInjectDoesNotImportSwitch(t *testing.T) {
	path := filepath.Join("..", "..", "cmd", "spacenet", "inject.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Imports) == 0 {
		t.Fatalf("%s: no imports found", path)
	}
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == switchPkg {
			t.Errorf("%s imports %s", path, switchPkg)
		}
	}
}
