package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runIdl runs `spacenet idl args...` and returns stdout, stderr and the error.
func runIdl(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	rootCmd.SetOut(&out)
	rootCmd.SetErr(&errOut)
	rootCmd.SetArgs(append([]string{"idl"}, args...))
	defer func() {
		rootCmd.SetArgs(nil)
		rootCmd.SetOut(nil)
		rootCmd.SetErr(nil)
	}()
	err := rootCmd.Execute()
	return out.String(), errOut.String(), err
}

func TestIdlCheckCorpus(t *testing.T) {
	files, err := filepath.Glob("../../idol/testdata/corpus/*.idol")
	if err != nil || len(files) != 16 {
		t.Fatalf("corpus: %d files, %v", len(files), err)
	}
	out, errOut, err := runIdl(t, append([]string{"check"}, files...)...)
	if err != nil || errOut != "" {
		t.Fatalf("check: %v\n%s", err, errOut)
	}
	var want strings.Builder
	for _, f := range files {
		want.WriteString(f + ": ok\n")
	}
	if out != want.String() {
		t.Errorf("check printed\n%s\nwant\n%s", out, want.String())
	}
}

func TestIdlCheckErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.idol")
	syntax := filepath.Join(dir, "syntax.idol")
	good := "../../idol/testdata/corpus/rng.idol"
	if err := os.WriteFile(bad, []byte("Interface(\n  name: \"T\",\n  ops: {\n    \"a\": (reply: Simple(\"u8\")),\n    \"b\": (leases: {\"l\": (type: \"[u8]\")}, reply: Simple(\"u8\"), idempotent: true),\n  },\n)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(syntax, []byte("Interface(name: \"T\", ops: {\"a\": (args: ())})"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runIdl(t, "check", bad, good, syntax)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("err = %v, want exit status 1", err)
	}
	if out != good+": ok\n" {
		t.Errorf("stdout = %q", out)
	}
	want := bad + `:4:18: op "a": non-idempotent op has a Simple reply (it could not report a server restart)` + "\n" +
		bad + `:5:20: op "b": lease "l" is neither read nor write` + "\n" +
		syntax + `:1:33: missing field reply in op "a"` + "\n" +
		syntax + `:1:40: expected map of args {"name": "type", ...}, found ()` + "\n"
	if errOut != want {
		t.Errorf("stderr =\n%s\nwant\n%s", errOut, want)
	}
	if err.Error() != "idl check: 2 of 3 files failed" {
		t.Errorf("error = %v", err)
	}
}

func TestIdlDump(t *testing.T) {
	out, errOut, err := runIdl(t, "dump", "../../idol/testdata/corpus/spi.idol")
	if err != nil || errOut != "" {
		t.Fatalf("dump: %v %s", err, errOut)
	}
	want, err := os.ReadFile("../../idol/testdata/golden/spi.json")
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Errorf("dump differs from golden:\n%s", out)
	}
	_, errOut, err = runIdl(t, "dump", filepath.Join(t.TempDir(), "missing.idol"))
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing file: %v %q", err, errOut)
	}
	_, _, err = runIdl(t, "dump")
	if !errors.As(err, &ee) || ee.code != 2 || err.Error() != "idl dump: accepts 1 arg(s), received 0" {
		t.Errorf("dump without a file: %v", err)
	}
	_, _, err = runIdl(t, "check")
	if !errors.As(err, &ee) || ee.code != 2 {
		t.Errorf("check without a file: %v", err)
	}
}
