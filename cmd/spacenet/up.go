package main

import (
	"context"
	"errors"
	"fmt"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"spacenet/apid/plane"
	"spacenet/ip/lan"
	"spacenet/ops/system"
)

var upFlags struct {
	config              string
	dryRun              bool
	logFormat, logLevel string
}

var upCmd = &cobra.Command{
	Use:   "up",
	Short: "Bring up the whole computer: both switches and a QEMU guest per [[guest]] of a system file",
	Long: `up reads a system file (--config; format in docs/system.md) describing the
computer: the APID policy, the LAN, and each guest (kernel and initramfs,
memory, tenant, APID port: virtio-serial or a 16550 serial port, MAC, IP,
extra QEMU arguments). It starts the APID switch, then the LAN (its sockets
listening before any QEMU starts), then one QEMU per guest wired to its
tenant's sockets, each guest's console appended to LOG_DIR/NAME.console.

A guest whose QEMU exits is started again (after restart_delay, doubling
while it keeps dying); the switch counts a new generation, so IPC callers
see ServerDeath for calls in flight. SIGINT (Ctrl-C) or SIGTERM stops every
guest (SIGTERM, then SIGKILL after 5 s), then both switches, prints their
counters and exits: nothing it started is left running. spacenet status and
spacenet lan status read the switches while it runs.

--dry-run prints each guest's QEMU command line and exits. Exit status: 0
stopped by a signal or dry run; 1 failed (a system file refused included);
2 usage error.`,
	Example: `  scripts/guest-image.sh                          # prints KERNEL=... INITRD=...
  spacenet up --config system.toml
  spacenet up --config system.toml --dry-run`,
	Args: cobra.NoArgs,
	RunE: runUp,
}

func init() {
	f := upCmd.Flags()
	f.StringVar(&upFlags.config, "config", "", "the system file (TOML; see docs/system.md)")
	f.BoolVar(&upFlags.dryRun, "dry-run", false, "print each guest's QEMU command line and exit")
	addLogFlags(upCmd, &upFlags.logFormat, &upFlags.logLevel)
	upCmd.MarkFlagRequired("config")
	rootCmd.AddCommand(upCmd)
}

func runUp(cmd *cobra.Command, _ []string) error {
	c, err := system.Load(upFlags.config)
	if err == nil {
		var s *system.System
		if s, err = system.Resolve(c); err == nil {
			return up(cmd, s)
		}
	}
	fmt.Fprintln(cmd.ErrOrStderr(), err)
	return &exitError{code: 1, err: errors.New("system file refused")}
}

func up(cmd *cobra.Command, s *system.System) error {
	if upFlags.dryRun {
		return s.WriteCommands(cmd.OutOrStdout())
	}
	ensureProcs()
	log, logs, err := newLogger(cmd.ErrOrStderr(), upFlags.logFormat, upFlags.logLevel)
	if err != nil {
		return err
	}
	defer logs.CloseWithin(logFlushTimeout)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	w := cmd.OutOrStdout()
	return system.Run(ctx, s, system.Options{Logger: log, Stopped: func(p *plane.Plane, l *lan.LAN) {
		fmt.Fprintln(w, "APID switch:")
		p.Report(w)
		fmt.Fprintf(w, "log: dropped=%d failed=%d\n", logs.Dropped(), logs.Failed())
		fmt.Fprintln(w, "LAN:")
		l.Report(w)
	}})
}
