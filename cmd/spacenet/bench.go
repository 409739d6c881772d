package main

import "github.com/spf13/cobra"

// benchCmd is the parent of every `spacenet bench X`; each area's file adds
// its own subcommand to it in an init function.
var benchCmd = &cobra.Command{
	Use:   "bench",
	Short: "Measure a part of spacenet against a baseline in the same run",
	Long: `Each bench subcommand measures one part of spacenet over real sockets or
stacks and, in the same run, a baseline doing the same job without spacenet
(a plain relay, bare gVisor, kernel loopback, ...). It prints both figures and
their ratio, so results from different machines can be compared by ratio.`,
	Example: `  spacenet bench switch
  spacenet bench ipc
  spacenet bench lan`,
}

func init() { rootCmd.AddCommand(benchCmd) }
