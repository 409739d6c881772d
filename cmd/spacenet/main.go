// Command spacenet runs and drives the onboard network of a partitioned
// spacecraft computer: the APID switch, the Idol tools, the virtual LAN and
// the userspace netstack. Each subcommand lives in its own file and adds
// itself to the root command in an init function.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Exit statuses, the same for every subcommand (listed in the root
// command's help and the man page) so that scripts can tell them apart.
const (
	exitOK        = 0
	exitFailure   = 1 // the command failed, or a check found problems (printed)
	exitUsage     = 2 // bad flags or arguments: nothing was done
	exitNoSwitch  = 3 // cannot reach the switch (no socket, nobody listening)
	exitRefused   = 4 // the switch refused the frame (its ERROR code printed)
	exitConnected = 5 // inject: the tenant's guest is connected; --replace evicts it
)

const exitStatusHelp = `Exit status:
  0  success
  1  failure, or a check found problems (they are printed)
  2  usage error: bad flag, argument or value; nothing was done
  3  cannot reach the switch (no socket there, or no switch listening)
  4  the switch refused the frame (inject --wait; the ERROR code is printed)
  5  inject: the tenant's guest is connected (--replace evicts it)`

var rootCmd = &cobra.Command{
	Use:   "spacenet",
	Short: "The onboard network of a partitioned spacecraft computer",
	Long: `spacenet is how the guest VMs of one spacecraft computer talk:

  APID plane  fixed 256-byte frames between guests over Unix sockets,
              source APIDs authenticated, policy enforced, the rest to ground
  Typed IPC   Idol interfaces (from Hubris) carried as frames through the switch
  IP plane    a virtual LAN and a userspace TCP/IP stack for guests that need IP

` + exitStatusHelp,
	Example: `  spacenet run                       # the APID switch, built-in v0 topology
  spacenet inject --type HEALTH --apid 0x020 --dest 0x001 --tenant processor --wait 200ms
  spacenet lan run                   # the virtual LAN for QEMU guests
  spacenet completion bash > /etc/bash_completion.d/spacenet`,
	SilenceUsage:  true,
	SilenceErrors: true,
	// Cobra checks flags and arguments before it runs the persistent
	// pre-run, and required flags and flag groups after it: checked here,
	// the command line is accepted once this returns nil, and an error
	// without a status before that is a usage error.
	PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
		if err := cmd.ValidateRequiredFlags(); err != nil {
			return &exitError{code: exitUsage, err: err}
		}
		if err := cmd.ValidateFlagGroups(); err != nil {
			return &exitError{code: exitUsage, err: err}
		}
		argsAccepted = true
		return nil
	},
}

// argsAccepted is set once cobra has accepted the command line.
var argsAccepted bool

func init() {
	rootCmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: plainFlagError(err)}
	})
}

// plainFlagError rewords a flag value the flag package refused, whose
// message would end in Go's parser error ("strconv.ParseInt: parsing
// ..."), to say what the flag wants.
func plainFlagError(err error) error {
	var ive *pflag.InvalidValueError
	if !errors.As(err, &ive) {
		return err
	}
	want := map[string]string{
		"int": "a whole number", "uint": "a whole number", "uint32": "a whole number", "uint64": "a whole number",
		"int64": "a whole number", "bool": "true or false", "duration": "a duration such as 200ms, 5s or 1m",
		"float64": "a number",
	}[ive.GetFlag().Value.Type()]
	if want == "" {
		want = "a " + ive.GetFlag().Value.Type()
	}
	return fmt.Errorf("--%s %q: want %s", ive.GetFlag().Name, ive.GetValue(), want)
}

func main() {
	if err := rootCmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "spacenet:", err)
		os.Exit(exitCode(err))
	}
}

// exitError carries an exit status (one of the exit* constants) out of a
// subcommand.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError is an exitUsage error with a formatted message.
func usageError(format string, a ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
}

func exitCode(err error) int {
	if e, ok := err.(*exitError); ok {
		return e.code
	}
	if !argsAccepted {
		return exitUsage // unknown command, missing argument or required flag
	}
	return exitFailure
}
