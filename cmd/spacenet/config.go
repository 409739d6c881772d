package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"spacenet/apid/policy"
)

// configCmd is `spacenet config`: print and check APID plane policy files.
var configCmd = &cobra.Command{
	Use:   "config",
	Short: "Print or check APID plane policy files",
	Long: `A policy file says which tenants (guest VMs) exist, which APIDs each owns,
to whom each may send and whether it may send to the ground (downlink = true). Without one,
the switch runs the built-in v0 topology that "config default" prints.`,
	Example: `  spacenet config default > policy.toml
  spacenet config check policy.toml`,
}

var configDefaultCmd = &cobra.Command{
	Use:     "default",
	Short:   "Print the built-in v0 policy as TOML",
	Example: `  spacenet config default > policy.toml`,
	Args:    cobra.NoArgs,
	RunE: func(cmd *cobra.Command, _ []string) error {
		return policy.Default().WriteTOML(cmd.OutOrStdout())
	},
}

var configCheckCmd = &cobra.Command{
	Use:   "check FILE...",
	Short: `Validate policy files ("/dev/stdin" reads standard input)`,
	Long: `Validate each policy file and print "FILE: ok" or every problem found, one
per line, as FILE:LINE: tenant "NAME": FIELD: problem. Exits 1 if any file
has a problem.`,
	Example: `  spacenet config check policy.toml
  spacenet config default | spacenet config check /dev/stdin`,
	Args: cobra.MinimumNArgs(1),
	RunE: func(cmd *cobra.Command, args []string) error {
		return configCheck(cmd.OutOrStdout(), args)
	},
}

func init() {
	configCmd.AddCommand(configDefaultCmd, configCheckCmd)
	rootCmd.AddCommand(configCmd)
}

// configCheck validates each file, printing "FILE: ok" or one line per
// problem to w. It returns an exitError with status 1 if any file failed.
func configCheck(w io.Writer, files []string) error {
	bad := 0
	for _, f := range files {
		if _, err := policy.Load(f); err != nil {
			bad++
			for _, e := range flatten(err) {
				fmt.Fprintln(w, e)
			}
			continue
		}
		fmt.Fprintf(w, "%s: ok\n", f)
	}
	if bad > 0 {
		return &exitError{code: 1, err: fmt.Errorf("config check: %d of %d files have problems", bad, len(files))}
	}
	return nil
}
