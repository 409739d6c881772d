package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// readmeCommand is one command line of the README: `make run` or a
// pipeline of `go run ./cmd/spacenet ...`, with the exit status a comment
// line before it announces ("exit status N"; 0 without one).
type readmeCommand struct {
	line   int
	text   string
	stages [][]string // each stage's arguments, after "go run ./cmd/spacenet"
	status int
}

// readmeCommands reads every command of the README.
func readmeCommands(t *testing.T, path string) []readmeCommand {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	statusRE := regexp.MustCompile(`exit status (\d+)`)
	var cmds []readmeCommand
	status, n := 0, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "# ") {
			if m := statusRE.FindStringSubmatch(l); m != nil {
				status, _ = strconv.Atoi(m[1])
			}
			continue
		}
		if strings.HasPrefix(l, "make run") {
			cmds = append(cmds, readmeCommand{line: n, text: l, stages: [][]string{{"run"}}})
			continue
		}
		if !strings.HasPrefix(l, "go run ./cmd/spacenet ") {
			status = 0
			continue
		}
		if i := strings.Index(l, " #"); i >= 0 {
			l = strings.TrimSpace(l[:i])
		}
		c := readmeCommand{line: n, text: l, status: status}
		for _, stage := range strings.Split(l, " | ") {
			rest, ok := strings.CutPrefix(stage, "go run ./cmd/spacenet ")
			if !ok {
				t.Fatalf("README.md:%d: a stage that is not spacenet: %q", n, stage)
			}
			c.stages = append(c.stages, shellWords(t, rest))
		}
		cmds = append(cmds, c)
		status = 0
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cmds
}

// shellWords splits s as sh would for the README's commands: words, and
// double-quoted strings as one word.
func shellWords(t *testing.T, s string) []string {
	var words []string
	var w strings.Builder
	inWord, quoted := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("unbalanced quote in %q", s)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// serves reports whether args start a command that runs until stopped.
func serves(args []string) bool {
	switch {
	case args[0] == "run":
		return true
	case len(args) > 1 && args[0] == "lan" && args[1] == "run":
		for _, a := range args {
			if a == "--print-config" {
				return false
			}
		}
		return true
	}
	return false
}

// TestReadmeCommands runs the README's CLI commands from a fresh clone, in
// order, as pasted, with the built binary for `go run ./cmd/spacenet`:
// `make run` and the `run` lines start the switch (in the default socket
// directory, $XDG_RUNTIME_DIR/spacenet, XDG_RUNTIME_DIR a temporary
// directory) and the commands after them use it, each with the exit status
// the README announces; `lan run` starts the virtual LAN; a serving command
// is stopped with SIGTERM when the next one starts. A file under /tmp is
// made in a temporary directory instead, `lan run` and `lan status` get
// --socket-dir in one (/tmp/space-lan is shared by every user of the
// machine). Not run:
// the qemu line, and the bench lines (measurements of seconds to minutes
// each, on a machine that others share) unless SPACENET_README_BENCH=1.
func TestReadmeCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every README command: not with -short")
	}
	clone := freshClone(t)
	cmds := readmeCommands(t, filepath.Join(clone, "README.md"))
	bin := spacenetBinary(t)
	tmp := t.TempDir()
	xdg := filepath.Join(tmp, "xdg")
	if err := os.Mkdir(xdg, 0o700); err != nil {
		t.Fatal(err)
	}
	env := []string{"XDG_RUNTIME_DIR=" + xdg}
	t.Chdir(clone)

	var server *switchProc
	stop := func() {
		if server != nil {
			server.stop(syscall.SIGTERM)
			server = nil
		}
	}
	defer stop()
	ran := map[string]int{}
	for _, c := range cmds {
		args := c.stages[0]
		if args[0] == "bench" && os.Getenv("SPACENET_README_BENCH") != "1" {
			t.Logf("README.md:%d: not run (a measurement): %s", c.line, c.text)
			continue
		}
		for i, stage := range c.stages {
			c.stages[i] = readmeArgs(t, stage, tmp)
		}
		args = c.stages[0]
		if len(args) > 1 && args[0] == "lan" && args[1] == "status" {
			c.stages[0] = append(args, "--socket-dir", filepath.Join(tmp, "lan")) // the one lan run got
		}
		if serves(args) {
			stop()
			if args[0] == "lan" {
				args = append(args, "--socket-dir", filepath.Join(tmp, "lan"))
			}
			server = spawnProc(t, args, env)
			if args[0] == "run" {
				server.dir = filepath.Join(xdg, "spacenet")
				for range 3 {
					line := server.waitLog("tenant socket")
					if strings.Contains(c.text, "--log-format json") && !json.Valid([]byte(line)) {
						t.Errorf("README.md:%d: log line %q is not JSON", c.line, line)
					}
				}
			} else {
				server.waitLog("lan: running")
			}
			ran[args[0]]++
			continue
		}
		out, status := runPipeline(t, bin, env, c.stages)
		if status != c.status {
			t.Errorf("README.md:%d: %s: exit status %d, want %d; output:\n%s", c.line, c.text, status, c.status, out)
		}
		ran[args[0]]++
	}
	stop()
	// Every kind of command was run: a README whose lines stopped
	// matching would otherwise pass with nothing run.
	for _, k := range []string{"run", "inject", "demo", "config", "idl", "lan", "iperf"} {
		if ran[k] == 0 {
			t.Errorf("no README %s command was run", k)
		}
	}
}

// readmeArgs expands globs as sh would and moves a file under /tmp into
// tmp.
func readmeArgs(t *testing.T, args []string, tmp string) []string {
	var out []string
	for _, a := range args {
		switch {
		case strings.ContainsAny(a, "*?["):
			m, err := filepath.Glob(a)
			if err != nil || len(m) == 0 {
				t.Fatalf("%s matches nothing in a fresh clone", a)
			}
			out = append(out, m...)
		case strings.HasPrefix(a, "/tmp/"):
			out = append(out, filepath.Join(tmp, filepath.Base(a)))
		default:
			out = append(out, a)
		}
	}
	return out
}

// runPipeline runs the binary once per stage, each stage's standard output
// the next one's input, and returns the last stage's combined output and
// the first failing stage's exit status.
func runPipeline(t *testing.T, bin string, env []string, stages [][]string) (string, int) {
	t.Helper()
	var in []byte
	var out bytes.Buffer
	for _, args := range stages {
		out.Reset()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdin = bytes.NewReader(in)
		var stdout bytes.Buffer
		cmd.Stdout = &stdout
		cmd.Stderr = &out
		err := cmd.Run()
		out.Write(stdout.Bytes())
		if ee, ok := err.(*exec.ExitError); ok {
			return out.String(), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		in = stdout.Bytes()
	}
	return out.String(), 0
}
