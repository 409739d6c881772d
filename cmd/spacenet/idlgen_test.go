package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runIdlGen runs `spacenet idl gen args...` with fresh flag values.
func runIdlGen(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	idlGenFlags.goOut, idlGenFlags.pkg, idlGenFlags.types, idlGenFlags.outPath = false, "", "", ""
	var out, errOut bytes.Buffer
	rootCmd.SetOut(&out)
	rootCmd.SetErr(&errOut)
	rootCmd.SetArgs(append([]string{"idl", "gen"}, args...))
	defer func() {
		rootCmd.SetArgs(nil)
		rootCmd.SetOut(nil)
		rootCmd.SetErr(nil)
	}()
	err := rootCmd.Execute()
	return out.String(), errOut.String(), err
}

func TestIdlGen(t *testing.T) {
	golden, err := os.ReadFile("../../ipc/idol/gen/testdata/golden/spi.go.golden")
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--go", "--package", "spi", "--types", "../../ipc/idol/gen/testdata/types.toml", "../../ipc/idol/testdata/corpus/spi.idol"}

	// To standard output.
	out, errOut, err := runIdlGen(t, args...)
	if err != nil || errOut != "" || out != string(golden) {
		t.Fatalf("stdout run: err %v stderr %q, output equals golden: %v", err, errOut, out == string(golden))
	}
	// To a file with -o.
	path := filepath.Join(t.TempDir(), "spi_idol.go")
	if _, _, err := runIdlGen(t, append(args, "-o", path)...); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, golden) {
		t.Fatalf("-o output differs from golden (%v)", err)
	}

	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no --go", []string{"--package", "spi", "../../ipc/idol/testdata/corpus/spi.idol"}, 2, "--go is required"},
		{"no --package", []string{"--go", "../../ipc/idol/testdata/corpus/spi.idol"}, 2, "--package is required"},
		{"no file", []string{"--go", "--package", "spi"}, 2, "accepts 1 arg"},
		{"unknown type", []string{"--go", "--package", "spi", "../../ipc/idol/testdata/corpus/spi.idol"}, 1,
			`spi.idol: cannot generate`},
		{"missing types file", []string{"--go", "--package", "spi", "--types", "nope.toml", "../../ipc/idol/testdata/corpus/spi.idol"}, 1, "nope.toml"},
	}
	for _, tt := range tests {
		_, _, err := runIdlGen(t, tt.args...)
		if err == nil || exitCode(err) != tt.code || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: err %v (code %d), want code %d containing %q", tt.name, err, exitCode(err), tt.code, tt.msg)
		}
	}
}

// TestIdlGenUnknownTypePositioned: gen names an unknown type at the
// file:line:col where the .idol file writes it.
func TestIdlGenUnknownTypePositioned(t *testing.T) {
	_, errOut, err := runIdlGen(t, "--go", "--package", "spi", "../../ipc/idol/testdata/corpus/spi.idol")
	if exitCode(err) != 1 {
		t.Fatalf("err %v", err)
	}
	want := `../../ipc/idol/testdata/corpus/spi.idol:15:20: op read: error type: unknown type "drv_spi_api::SpiError" (not in the types file)`
	if !strings.HasPrefix(errOut, want+"\n") {
		t.Errorf("stderr\n%s\nwant first line\n%s", errOut, want)
	}
}
