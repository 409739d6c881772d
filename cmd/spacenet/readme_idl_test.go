package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeIdlCommands runs the README's `spacenet idl` commands, as
// written, in a fresh clone of the repository (git clone of the committed
// tree): every file they name must be in the repository. Globs are
// expanded as a shell would; an output under /tmp goes to a temporary
// directory instead.
func TestReadmeIdlCommands(t *testing.T) {
	clone := freshClone(t)
	cmds := readmeIdlCommands(t, filepath.Join(clone, "README.md"))
	if len(cmds) < 3 {
		t.Fatalf("README has %d idl commands, want at least 3 (check, dump, gen)", len(cmds))
	}
	t.Chdir(clone)
	out := t.TempDir()
	for _, line := range cmds {
		var args []string
		for _, f := range strings.Fields(line) {
			switch {
			case strings.ContainsAny(f, "*?["):
				m, err := filepath.Glob(f)
				if err != nil || len(m) == 0 {
					t.Fatalf("%s: %s matches nothing in a fresh clone", line, f)
				}
				args = append(args, m...)
			case strings.HasPrefix(f, "/tmp/"):
				args = append(args, filepath.Join(out, filepath.Base(f)))
			default:
				args = append(args, f)
			}
		}
		idlGenFlags.goOut, idlGenFlags.pkg, idlGenFlags.types, idlGenFlags.outPath = false, "", "", ""
		idlCheckTypes = ""
		_, errOut, err := runIdl(t, args[1:]...) // args[0] is "idl"
		if err != nil {
			t.Errorf("%s: %v\n%s", line, err, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "camera_idol.go")); err != nil {
		t.Errorf("idl gen wrote nothing: %v", err)
	}
}

// freshClone clones the committed tree of this repository into a
// temporary directory and returns its path.
func freshClone(t *testing.T) string {
	t.Helper()
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("no git")
	}
	top, err := exec.Command(git, "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	clone := filepath.Join(t.TempDir(), "clone")
	if out, err := exec.Command(git, "clone", "-q", "--no-hardlinks", strings.TrimSpace(string(top)), clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	return clone
}

// readmeIdlCommands returns what follows "go run ./cmd/spacenet " on each
// README line running an idl command, without a trailing # comment.
func readmeIdlCommands(t *testing.T, path string) []string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cmds []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		rest, ok := strings.CutPrefix(l, "go run ./cmd/spacenet idl ")
		if !ok {
			continue
		}
		if i := strings.Index(rest, "#"); i >= 0 {
			rest = rest[:i]
		}
		cmds = append(cmds, "idl "+strings.TrimSpace(rest))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cmds
}
