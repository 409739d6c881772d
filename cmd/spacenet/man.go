package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"spacenet/apid/sockdir"
)

// manCmd writes the man pages of the whole command tree (`make man`). It
// is hidden: the pages are for installing, not for daily use.
var manCmd = &cobra.Command{
	Use:    "man DIR",
	Short:  "Write man pages for spacenet and every subcommand to DIR",
	Hidden: true,
	Example: `  spacenet man docs/man
  man -l docs/man/spacenet-inject.1`,
	Args: cobra.ExactArgs(1),
	RunE: func(cmd *cobra.Command, args []string) error {
		if err := os.MkdirAll(args[0], 0o755); err != nil {
			return err
		}
		root := cmd.Root()
		root.DisableAutoGenTag = true // the same pages from the same tree
		userDefaults(root)
		h := &doc.GenManHeader{Title: "SPACENET", Section: "1", Source: "spacenet", Manual: "spacenet manual"}
		if err := doc.GenManTree(root, h, args[0]); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "man pages written to %s\n", args[0])
		return nil
	},
}

// userDefaults replaces, in the help of cmd and its subcommands, a
// default that depends on who runs the command (the socket directory) by
// a description, so that pages do not depend on who made them.
func userDefaults(cmd *cobra.Command) {
	if f := cmd.Flags().Lookup("socket-dir"); f != nil && f.DefValue == sockdir.Default() {
		f.DefValue = "$XDG_RUNTIME_DIR/spacenet, /run/spacenet for root, else /tmp/spacenet-UID"
	}
	for _, c := range cmd.Commands() {
		userDefaults(c)
	}
}

func init() {
	rootCmd.AddCommand(manCmd)
	// The bench ipc and switch commands live in files others maintain;
	// their examples are set here so that every command has one.
	if benchIPCCmd.Example == "" {
		benchIPCCmd.Example = `  spacenet bench ipc
  spacenet bench ipc --calls 20000`
	}
	if benchSwitchCmd.Example == "" {
		benchSwitchCmd.Example = `  spacenet bench switch
  spacenet bench switch --frames 200000`
	}
}
