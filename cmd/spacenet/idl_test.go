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
	files, err := filepath.Glob("../../ipc/idol/testdata/corpus/*.idol")
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
	good := "../../ipc/idol/testdata/corpus/rng.idol"
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
	// Op "a" (non-idempotent, Simple reply) is what upstream parses: only
	// its client is refused, by idl gen.
	want := bad + `:5:20: op "b": lease "l" is neither read nor write` + "\n" +
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
	out, errOut, err := runIdl(t, "dump", "../../ipc/idol/testdata/corpus/spi.idol")
	if err != nil || errOut != "" {
		t.Fatalf("dump: %v %s", err, errOut)
	}
	want, err := os.ReadFile("../../ipc/idol/testdata/golden/spi.json")
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

// TestIdlCheckClientOnly: a non-idempotent op with a Simple reply checks
// and dumps (upstream parses it); idl gen generates the server, no client
// for that op, and says why.
func TestIdlCheckClientOnly(t *testing.T) {
	const peek = "../../ipc/idol/testdata/clientonly/peek.idol"
	out, errOut, err := runIdl(t, "check", peek)
	if err != nil || errOut != "" || out != peek+": ok\n" {
		t.Fatalf("check: %v %q %q", err, out, errOut)
	}
	if out, _, err := runIdl(t, "dump", peek); err != nil || !strings.Contains(out, `"peek16"`) {
		t.Fatalf("dump: %v\n%s", err, out)
	}
	out, errOut, err = runIdlGen(t, "--go", "--package", "peek", peek)
	if err != nil {
		t.Fatal(err)
	}
	want := "warning: " + peek + ":8:9: op peek16: no client method generated (upstream's client generator refuses it too): non-idempotent op has a Simple reply (it could not report a server restart); the server side is generated\n"
	if errOut != want {
		t.Errorf("stderr\n%s\nwant\n%s", errOut, want)
	}
	if !strings.Contains(out, "Peek16(ctx context.Context, caller ipc.Caller, addr uint16) (uint16, error)") ||
		strings.Contains(out, "func (c *PeekClient) Peek16(") || !strings.Contains(out, "func (c *PeekClient) Poke16(") {
		t.Error("want a Peek16 server method, no Peek16 client method, a Poke16 client method")
	}
}

// TestIdlCheckWarnsAndTypes: an unknown op field is a warning (upstream
// ignores it); --types resolves type names, positioned, with a suggestion.
func TestIdlCheckWarnsAndTypes(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "cam.idol")
	types := filepath.Join(dir, "types.toml")
	src := "Interface(\n  name: \"Cam\",\n  ops: {\n    \"status\": (\n      reply: Simple(\"CameraStaus\"),\n      idempotnt: true,\n    ),\n    \"set\": (\n      args: {\"mode\": \"CameraMod\"},\n      reply: Result(ok: \"()\", err: ServerDeath),\n    ),\n  },\n)\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(types, []byte("[types.CameraMode]\nkind = \"enum\"\nvariants = [{name = \"Off\"}]\n[types.CameraStatus]\nkind = \"struct\"\nfields = [{name = \"mode\", type = \"u8\"}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	warn := "warning: " + file + `:6:7: unknown field idempotnt in op "status" is ignored (as upstream ignores it); did you mean idempotent?` + "\n"
	out, errOut, err := runIdl(t, "check", file)
	if err != nil || out != file+": ok\n" || errOut != warn {
		t.Fatalf("check: %v\nstdout %q\nstderr %q\nwant %q", err, out, errOut, warn)
	}
	out, errOut, err = runIdl(t, "check", "--types", types, file)
	idlCheckTypes = ""
	if exitCode(err) != 1 || out != "" {
		t.Fatalf("check --types: %v, stdout %q", err, out)
	}
	want := warn +
		file + `:5:14: op status: reply: unknown type "CameraStaus" (not in the types file; did you mean CameraStatus?)` + "\n" +
		file + `:9:14: op set: arg mode: unknown type "CameraMod" (not in the types file; did you mean CameraMode?)` + "\n"
	if errOut != want {
		t.Errorf("stderr\n%s\nwant\n%s", errOut, want)
	}
}
