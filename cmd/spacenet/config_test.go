package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"spacenet/apid/policy"
)

const twoOwners = `[[tenant]]
name = "camera"
owns = ["0x010-0x01F"]

[[tenant]]
name = "processor"
owns = ["0x015", "0x020-0x02F"]
can_send_to = ["camera"]
`

// runConfig runs `spacenet args...` through the root command.
func runConfig(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	rootCmd.SetOut(&out)
	rootCmd.SetErr(&out)
	rootCmd.SetArgs(args)
	defer rootCmd.SetArgs(nil)
	err := rootCmd.Execute()
	return out.String(), err
}

func TestConfigDefaultThenCheck(t *testing.T) {
	out, err := runConfig(t, "config", "default")
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := policy.Default().WriteTOML(&want); err != nil {
		t.Fatal(err)
	}
	if out != want.String() {
		t.Errorf("config default printed\n%s\nwant\n%s", out, want.String())
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "v0.toml")
	if err := os.WriteFile(f, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := runConfig(t, "config", "check", f)
	if err != nil || got != f+": ok\n" {
		t.Errorf("config check = %q, %v; want %q", got, err, f+": ok\n")
	}
}

func TestConfigCheckErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(good, []byte("[[tenant]]\nname = \"a\"\nowns = [\"0x010\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(twoOwners), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.toml")
	var out bytes.Buffer
	err := configCheck(&out, []string{good, bad, missing})
	want := good + ": ok\n" +
		bad + `:7: tenant "processor": owns: 0x015 already owned by tenant "camera" (line 3)` + "\n" +
		"policy: open " + missing + ": no such file or directory\n"
	if out.String() != want {
		t.Errorf("output\n%s\nwant\n%s", out.String(), want)
	}
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || err.Error() != "config check: 2 of 3 files have problems" {
		t.Errorf("error = %v, want exit status 1", err)
	}
	if _, err := runConfig(t, "config", "check"); err == nil {
		t.Error("config check with no file succeeded")
	}
}

// TestConfigCheckStdin runs this test binary as `spacenet config check
// /dev/stdin` with a policy piped in, as a shell pipeline would.
func TestConfigCheckStdin(t *testing.T) {
	if os.Getenv("SPACENET_CONFIG_STDIN_HELPER") == "1" {
		rootCmd.SetArgs([]string{"config", "check", "/dev/stdin"})
		if err := rootCmd.Execute(); err != nil {
			os.Exit(exitCode(err))
		}
		os.Exit(0)
	}
	for _, tt := range []struct {
		in   string
		out  string
		code int
	}{
		{func() string { var b bytes.Buffer; _ = policy.Default().WriteTOML(&b); return b.String() }(), "/dev/stdin: ok\n", 0},
		{twoOwners, `/dev/stdin:7: tenant "processor": owns: 0x015 already owned by tenant "camera" (line 3)` + "\n", 1},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestConfigCheckStdin$")
		cmd.Env = append(os.Environ(), "SPACENET_CONFIG_STDIN_HELPER=1")
		cmd.Stdin = strings.NewReader(tt.in)
		var stdout bytes.Buffer
		cmd.Stdout = &stdout
		err := cmd.Run()
		code := 0
		var xe *exec.ExitError
		if errors.As(err, &xe) {
			code = xe.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if stdout.String() != tt.out || code != tt.code {
			t.Errorf("config check /dev/stdin: %q, exit %d; want %q, exit %d", stdout.String(), code, tt.out, tt.code)
		}
	}
}
