package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"spacenet/idol"
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
}

var idlCheckCmd = &cobra.Command{
	Use:   "check FILE...",
	Short: "Parse and check .idol files, printing every error found",
	Long: `check parses each file and applies the semantic checks of upstream idol.
It prints "FILE: ok" for a good file and, on standard error, every error
(file:line:col: ...) of a bad one; it exits with status 1 if any file failed.`,
	Args: usageArgs(cobra.MinimumNArgs(1)),
	RunE: func(cmd *cobra.Command, args []string) error {
		failed := 0
		for _, path := range args {
			if _, err := idol.ParseFile(path); err != nil {
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
	Args:  usageArgs(cobra.ExactArgs(1)),
	RunE: func(cmd *cobra.Command, args []string) error {
		iface, err := idol.ParseFile(args[0])
		if err != nil {
			for _, e := range flatten(err) {
				fmt.Fprintln(cmd.ErrOrStderr(), e)
			}
			return &exitError{code: 1, err: fmt.Errorf("idl dump: %s has errors", args[0])}
		}
		out, err := idol.Dump(iface)
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
	idlCmd.AddCommand(idlCheckCmd, idlDumpCmd)
	rootCmd.AddCommand(idlCmd)
}
