package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// docBlocks returns the fenced blocks of a markdown file that follow an
// HTML comment line "<!-- KEY -->", by KEY ("file: main.go", "steps").
func docBlocks(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	blocks := map[string]string{}
	var key string
	var body []string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case in && l == "```":
			blocks[key] = strings.Join(body, "\n") + "\n"
			in, key, body = false, "", nil
		case in:
			body = append(body, l)
		case key != "" && strings.HasPrefix(l, "```"):
			in = true
		case strings.HasPrefix(l, "<!-- ") && strings.HasSuffix(l, " -->"):
			key = strings.TrimSuffix(strings.TrimPrefix(l, "<!-- "), " -->")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return blocks
}

// TestIdolGenOtherModule follows docs/idol-gen.md's "Using generated code
// from another module" as written: its files in a new module beside a
// "spacenet" link to this repository, its commands run by sh, offline
// (the modules come from the module cache), and the program's output
// compared with the one the doc shows.
func TestIdolGenOtherModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module: not with -short")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	blocks := docBlocks(t, filepath.Join(repo, "docs", "idol-gen.md"))
	base := t.TempDir()
	if err := os.Symlink(repo, filepath.Join(base, "spacenet")); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "thermo")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := 0
	for k, body := range blocks {
		if name, ok := strings.CutPrefix(k, "file: "); ok {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			files++
		}
	}
	steps, want := blocks["steps"], blocks["output"]
	if files != 3 || steps == "" || want == "" {
		t.Fatalf("docs/idol-gen.md: %d files, steps %q, output %q; want 3 files, steps and output", files, steps, want)
	}
	cmd := exec.Command("sh", "-e")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(steps)
	cmd.Env = append(os.Environ(), "PWD="+dir, "GOFLAGS=-mod=mod", "GOPROXY=off", "GOSUMDB=off", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the doc's steps: %v\n%s", err, out)
	}
	if !strings.HasSuffix(string(out), want) {
		t.Errorf("output:\n%s\nwant it to end with:\n%s", out, want)
	}
	gen, err := os.ReadFile(filepath.Join(dir, "thermoipc", "thermo_idol.go"))
	if err != nil || !strings.Contains(string(gen), "\t\"spacenet/ipc\"\n") {
		t.Errorf("the generated file does not import spacenet/ipc: %v", err)
	}
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil || !strings.Contains(string(mod), "replace spacenet => ../spacenet") {
		t.Errorf("go.mod lacks the replace:\n%s", mod)
	}
}
