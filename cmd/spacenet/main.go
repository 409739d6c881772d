// Command spacenet runs and drives the onboard network of a partitioned
// spacecraft computer: the APID switch, the Idol tools, the virtual LAN and
// the userspace netstack. Each subcommand lives in its own file and adds
// itself to the root command in an init function.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

var rootCmd = &cobra.Command{
	Use:   "spacenet",
	Short: "The onboard network of a partitioned spacecraft computer",
	Long: `spacenet is how the guest VMs of one spacecraft computer talk:

  APID plane  fixed 256-byte frames between guests over Unix sockets,
              source APIDs authenticated, policy enforced, the rest to ground
  Typed IPC   Idol interfaces (from Hubris) carried as frames through the switch
  IP plane    a virtual LAN and a userspace TCP/IP stack for guests that need IP`,
	SilenceUsage:  true,
	SilenceErrors: true,
}

func main() {
	if err := rootCmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "spacenet:", err)
		os.Exit(exitCode(err))
	}
}

// exitError carries an exit status out of a subcommand: 1 for a check that
// found problems (already printed), 2 for a usage error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	if e, ok := err.(*exitError); ok {
		return e.code
	}
	return 1
}
