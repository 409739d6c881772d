package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// exampleCommands returns the spacenet command lines of an Example text:
// each line split into shell words (single and double quotes kept as one
// word), cut at a comment, split at pipes and &&, redirections and a
// leading sudo dropped, and the stages that do not run spacenet (jq, dot,
// man, scripts) left out. The words returned follow "spacenet".
func exampleCommands(t *testing.T, example string) [][]string {
	t.Helper()
	var cmds [][]string
	for _, line := range strings.Split(example, "\n") {
		var stage []string
		flush := func() {
			if len(stage) > 0 && stage[0] == "sudo" {
				stage = stage[1:]
			}
			if len(stage) > 0 && stage[0] == "spacenet" {
				cmds = append(cmds, stage[1:])
			}
			stage = nil
		}
		words, ops := exampleWords(t, line)
		for i, w := range words {
			switch ops[i] {
			case "|", "&&":
				flush()
			case ">":
				// the redirection's target is the next word: skip it
			default:
				if i > 0 && ops[i-1] == ">" {
					continue
				}
				stage = append(stage, w)
			}
		}
		flush()
	}
	return cmds
}

// exampleWords splits one line into words as sh would for the examples,
// with ops[i] naming the unquoted operator (|, &&, >) that words[i] is,
// "" for a word; a # starting a word ends the line.
func exampleWords(t *testing.T, line string) (words, ops []string) {
	t.Helper()
	var w strings.Builder
	inWord := false
	var quote rune
	end := func() {
		if inWord {
			words, ops = append(words, w.String()), append(ops, "")
			w.Reset()
			inWord = false
		}
	}
	rs := []rune(line)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			w.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			end()
		case r == '#' && !inWord:
			i = len(rs) // a comment, to the end of the line
		case r == '|', r == '>':
			end()
			words, ops = append(words, string(r)), append(ops, string(r))
		case r == '&' && i+1 < len(rs) && rs[i+1] == '&':
			end()
			words, ops = append(words, "&&"), append(ops, "&&")
			i++
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		t.Fatalf("unbalanced quote in %q", line)
	}
	end()
	return words, ops
}

// TestBinaryHelpExamples: every spacenet command line of every command's
// Example (what `--help` and the man pages show) goes through the built
// binary's own flag parser: the line's words with --help added. Cobra
// parses every flag before it looks at --help, so a flag that does not
// exist (inject --downlink once) or a value its flag refuses fails with
// "unknown flag" or the value's message and status 2; a line that parses
// prints the help of the command it names.
func TestBinaryHelpExamples(t *testing.T) {
	type example struct {
		owner string // the command whose Example shows it
		args  []string
	}
	var examples []example
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden {
			return // bench role: its own flag package, started by benchmarks only
		}
		for _, args := range exampleCommands(t, c.Example) {
			examples = append(examples, example{c.CommandPath(), args})
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	rootCmd.InitDefaultCompletionCmd() // as Execute does, for "spacenet completion bash"
	walk(rootCmd)
	if len(examples) < 60 {
		t.Fatalf("%d example command lines, want every command's", len(examples))
	}
	for _, ex := range examples {
		t.Run(ex.owner+" "+strings.Join(ex.args, " "), func(t *testing.T) {
			target, _, err := rootCmd.Find(ex.args)
			if err != nil {
				t.Fatalf("no such command: %v", err)
			}
			out, code := spacenet(t, nil, append(ex.args, "--help")...)
			if code != 0 || strings.Contains(out, "unknown flag") {
				t.Fatalf("status %d, output:\n%s", code, out)
			}
			path := target.CommandPath()
			if !strings.Contains(out, "Usage:\n  "+path) {
				t.Errorf("output is not the help of %q:\n%s", path, out)
			}
		})
	}
}
