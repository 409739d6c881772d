package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"spacenet/ipc/idol"
	"spacenet/ipc/idol/gen"
)

// idlCmd is the parent of every `spacenet idl X`: check and dump live here,
// gen in the code generator's file.
var idlCmd = &cobra.Command{
	Use:   "idl",
	Short: "Read, check and dump Idol interface definitions (.idol files)",
	Long: `Idol is the interface definition language of the Hubris operating system:
an .idol file is a RON value naming an interface and its operations.
These subcommands parse such files, check them the way upstream idol does,
and print the model as JSON.`,
	Example: `  spacenet idl check ipc/idol/testdata/corpus/*.idol
  spacenet idl dump idl/camera.idol
  spacenet idl gen --go --package cameraipc --types idl/types.toml idl/camera.idol -o camera_idol.go`,
}

var idlCheckTypes string

var idlCheckCmd = &cobra.Command{
	Use:   "check [--types TYPES.toml] FILE...",
	Short: "Parse and check .idol files, printing every error found",
	Long: `check parses each file and applies the semantic checks of upstream idol
(what upstream parses is accepted: the rules upstream applies only to
client generation are left to 'idl gen'). It prints "FILE: ok" for a good
file and, on standard error, every error (file:line:col: ...) of a bad one
and every warning ("warning: file:line:col: ..."), such as an op field
upstream ignores; it exits with status 1 if any file failed.

With --types, it also resolves every type the files name against the types
file, as 'idl gen' would, and reports an unknown one at its file:line:col
with the closest name ("did you mean ...?").`,
	Example: `  spacenet idl check ipc/idol/testdata/corpus/*.idol
  spacenet idl check --types idl/types.toml idl/camera.idol`,
	Args: usageArgs(cobra.MinimumNArgs(1)),
	RunE: func(cmd *cobra.Command, args []string) error {
		var types *gen.Types
		if idlCheckTypes != "" {
			var err error
			if types, err = gen.LoadTypes(idlCheckTypes); err != nil {
				return &exitError{code: 1, err: fmt.Errorf("idl check: %w", err)}
			}
		}
		failed := 0
		for _, path := range args {
			f, err := idol.LoadFile(path)
			if err == nil {
				printWarnings(cmd, f.Warnings)
				if types != nil {
					err = gen.Check(f, types, func(m string) { fmt.Fprintln(cmd.ErrOrStderr(), "warning: "+m) })
				}
			}
			if err != nil {
				failed++
				for _, e := range flatten(err) {
					fmt.Fprintln(cmd.ErrOrStderr(), e)
				}
				continue
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", path)
		}
		if failed > 0 {
			return &exitError{code: 1, err: fmt.Errorf("idl check: %d of %d files failed", failed, len(args))}
		}
		return nil
	},
}

var idlDumpCmd = &cobra.Command{
	Use:   "dump FILE",
	Short: "Print the checked interface of an .idol file as JSON",
	Long: `dump parses and checks an .idol file as 'idl check' does and prints its
model as JSON on standard output; warnings go to standard error.`,
	Example: `  spacenet idl dump ipc/idol/testdata/corpus/spi.idol`,
	Args:    usageArgs(cobra.ExactArgs(1)),
	RunE: func(cmd *cobra.Command, args []string) error {
		f, err := idol.LoadFile(args[0])
		if err != nil {
			for _, e := range flatten(err) {
				fmt.Fprintln(cmd.ErrOrStderr(), e)
			}
			return &exitError{code: 1, err: fmt.Errorf("idl dump: %s has errors", args[0])}
		}
		printWarnings(cmd, f.Warnings)
		out, err := idol.Dump(f.Interface)
		if err != nil {
			return err
		}
		_, err = cmd.OutOrStdout().Write(out)
		return err
	},
}

// usageArgs makes an argument-count error exit with status 2.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return &exitError{code: 2, err: fmt.Errorf("%s %s: %w", cmd.Parent().Name(), cmd.Name(), err)}
		}
		return nil
	}
}

// printWarnings writes each warning to standard error as "warning: ...".
func printWarnings(cmd *cobra.Command, ws []*idol.CheckError) {
	for _, w := range ws {
		fmt.Fprintln(cmd.ErrOrStderr(), "warning: "+w.Error())
	}
}

// flatten lists the errors inside an errors.Join, one per line.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

func init() {
	idlCheckCmd.Flags().StringVar(&idlCheckTypes, "types", "", "also resolve the types against this TOML types file")
	idlCmd.AddCommand(idlCheckCmd, idlDumpCmd)
	rootCmd.AddCommand(idlCmd)
}
