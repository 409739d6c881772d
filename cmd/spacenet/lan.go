package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"spacenet/ip/lan"
	"spacenet/ops/observe"
)

var lanFlags struct {
	config, dir, pcap    string
	tap, tapTenant       string
	logFormat, logLevel  string
	dirMode, sockMode    string
	printConfig, checkOK bool
	metricsListen        string
}

var lanCmd = &cobra.Command{
	Use:   "lan",
	Short: "The virtual LAN: a learning switch for QEMU guests, TAPs and netstacks",
	Example: `  spacenet lan run
  spacenet lan check lan.toml`,
}

var lanRunCmd = &cobra.Command{
	Use:   "run",
	Short: "Run the virtual LAN switch (one qemu-stream socket per v0 tenant unless --config is given)",
	Long: `run starts the virtual LAN: a learning Ethernet switch whose ports are unix
sockets in QEMU's framing (-netdev stream: 4-byte big-endian length before
each frame; -netdev dgram: one datagram per frame), TAP devices, AF_PACKET
sockets or VXLAN tunnels to another host (RFC 7348, the kernel's vxlan device
interoperates), as the configuration file says (see docs/lan.md for its format).

Without --config: one qemu-stream socket per v0 tenant (camera, processor,
spaceos) in --socket-dir, the three tenants reaching each other. Start a guest with

  qemu-system-x86_64 ... -netdev stream,id=n0,server=off,addr.type=unix,addr.path=/tmp/space-lan/camera.sock \
      -device virtio-net-pci,netdev=n0

--tap IFNAME adds a TAP port to the host (tenant --tap-tenant); --pcap FILE
writes every frame entering the switch to a pcap file (mode 0600).

Defaults that defend the tenants from each other (docs/lan.md): every port
but a packet or vxlan one is sticky (the first source MAC it sends is locked to it),
every port floods at most 1000 broadcast, multicast and unknown-unicast
frames a second (bursts of 100), sockets are 0600 in a 0700 directory, and
a socket directory that another user owns or may write to is refused.

While it runs, spacenet lan status reads its counters and MAC table from
SOCKET-DIR/.control (mode 0600; not made if the directory is another
user's or open to others: logged); --metrics-listen HOST:PORT serves them
to Prometheus (/metrics) and as a status page (/).

Signals: SIGINT or SIGTERM stops the switch and prints every port's counters;
SIGHUP re-reads --config and applies port and tenant changes (a bad file is
refused, its errors logged, the old configuration kept).

The flags are those of spacenet run where they mean the same: --config,
--socket-dir (--dir is its old name), --log-format, --log-level,
--dir-mode (a socket directory the LAN creates; default the file's dir_mode,
else 0700) and --sock-mode (each qemu-* socket; default the file's
socket_mode, else 0600). Exit status: 0 stopped
by a signal; 1 failed (a configuration refused included); 2 usage error.`,
	Example: `  spacenet lan run                               # camera/processor/spaceos sockets in /tmp/space-lan
  spacenet lan run --socket-dir /run/space-lan --sock-mode 0660
  spacenet lan run --config lan.toml --log-format json
  spacenet lan run --print-config                # the configuration in force, then exit
  spacenet lan run --tap sn0 --pcap /tmp/lan.pcap`,
	Args: cobra.NoArgs,
	RunE: runLAN,
}

var lanCheckCmd = &cobra.Command{
	Use:   "check FILE",
	Short: "Check a virtual LAN configuration file and print it as understood",
	Long: `check parses FILE (format in docs/lan.md) and prints it as understood, or
every problem found, one per line, as FILE:LINE: port N ("NAME"): FIELD:
problem. Exits 1 if the file has a problem.`,
	Example: `  spacenet lan check lan.toml
  spacenet lan run --print-config > lan.toml && spacenet lan check lan.toml`,
	Args: cobra.ExactArgs(1),
	RunE: func(cmd *cobra.Command, args []string) error {
		c, err := lan.LoadConfig(args[0])
		if err != nil {
			fmt.Fprintln(cmd.ErrOrStderr(), err)
			return &exitError{code: 1, err: errors.New("configuration refused")}
		}
		fmt.Fprint(cmd.OutOrStdout(), c.String())
		return nil
	},
}

func init() {
	f := lanRunCmd.Flags()
	f.StringVar(&lanFlags.config, "config", "", "LAN configuration file (TOML); default: one qemu-stream port per v0 tenant")
	f.StringVar(&lanFlags.dir, "socket-dir", lan.DefaultDir, "socket directory of the default configuration")
	f.StringVar(&lanFlags.dir, "dir", lan.DefaultDir, "old name of --socket-dir")
	f.MarkDeprecated("dir", "use --socket-dir")
	f.StringVar(&lanFlags.pcap, "pcap", "", "write every frame entering the switch to this pcap file")
	f.StringVar(&lanFlags.tap, "tap", "", "add a TAP port to the host with this interface name")
	f.StringVar(&lanFlags.tapTenant, "tap-tenant", "host", "tenant of the --tap port")
	f.StringVar(&lanFlags.sockMode, "sock-mode", "", "octal mode of the qemu-* sockets (default: the file's socket_mode, else 0600)")
	f.StringVar(&lanFlags.dirMode, "dir-mode", "", "octal mode of a socket directory the LAN creates (default: the file's dir_mode, else 0700)")
	addLogFlags(lanRunCmd, &lanFlags.logFormat, &lanFlags.logLevel)
	f.StringVar(&lanFlags.metricsListen, "metrics-listen", "", "serve Prometheus metrics (/metrics) and a status page (/) on HOST:PORT; spacenet lan status reads SOCKET-DIR/.control")
	f.BoolVar(&lanFlags.printConfig, "print-config", false, "print the configuration in force and exit")
	lanCmd.AddCommand(lanRunCmd, lanCheckCmd)
	rootCmd.AddCommand(lanCmd)
}

// lanConfig loads --config (or the default) and adds the --tap port.
func lanConfig() (*lan.Config, error) {
	c := lan.DefaultConfig(lanFlags.dir)
	if lanFlags.config != "" {
		var err error
		if c, err = lan.LoadConfig(lanFlags.config); err != nil {
			return nil, err
		}
	}
	// The modes as spacenet run checks them (a usage error if bad), each
	// applied only if given.
	dir, sock := lanFlags.dirMode, lanFlags.sockMode
	dirMode, sockMode, err := parseModes(cmp.Or(dir, "0700"), cmp.Or(sock, "0600"))
	if err != nil {
		return nil, err
	}
	if dir != "" {
		c.DirMode = dirMode
	}
	if sock != "" {
		c.SocketMode = sockMode
	}
	if lanFlags.tap != "" {
		if err := lan.CheckTenant(lanFlags.tapTenant); err != nil {
			return nil, fmt.Errorf("--tap-tenant: %w", err)
		}
		if c.Tenants != nil {
			if _, ok := c.Tenants[lanFlags.tapTenant]; !ok {
				return nil, fmt.Errorf("--tap-tenant %q: not a tenant of %s", lanFlags.tapTenant, c.Source)
			}
		}
		c.Ports = append(c.Ports, lan.PortSpec{Name: "tap:" + lanFlags.tap, Tenant: lanFlags.tapTenant, Kind: lan.KindTAP, Ifname: lanFlags.tap})
	}
	return c, nil
}

func runLAN(cmd *cobra.Command, _ []string) error {
	ensureProcs()
	log, logs, err := newLogger(cmd.ErrOrStderr(), lanFlags.logFormat, lanFlags.logLevel)
	if err != nil {
		return err
	}
	defer logs.CloseWithin(logFlushTimeout)
	if err := listenAddrUsage("metrics-listen", lanFlags.metricsListen); err != nil {
		return err
	}
	c, err := lanConfig()
	if err != nil {
		return err
	}
	if lanFlags.printConfig {
		fmt.Fprint(cmd.OutOrStdout(), c.String())
		return nil
	}
	l, err := lan.Open(c, lanFlags.pcap, log)
	if err != nil {
		return err
	}
	var views *observe.Views
	defer func() {
		if views != nil {
			views.Close()
		}
	}()
	up, err := service{log: log, prefix: "lan: ", run: l.Run,
		up: func() error {
			var err error
			if views, err = observe.LAN(l, lanFlags.dir, lanFlags.metricsListen, log); err != nil {
				return err
			}
			log.Info("lan: running", "config", c.Source, "ports", len(c.Ports), "reach", c.Reach().String())
			return nil
		},
		reload: func() { reloadLAN(l, log) },
	}.serve(context.Background())
	if up {
		stopLANCounters(cmd.OutOrStdout(), lanFlags.logFormat, l, logs)
	}
	return errors.Join(err, l.Close())
}

// reloadLAN reads --config again and applies it; a bad file is refused and
// the old configuration kept.
func reloadLAN(l *lan.LAN, log *slog.Logger) {
	if lanFlags.config == "" {
		log.Info("lan: SIGHUP: no --config to reload")
		return
	}
	nc, err := lanConfig()
	if err != nil {
		log.Error("lan: reload refused, old configuration kept", "err", err)
		return
	}
	notes, err := l.Reload(nc)
	for _, n := range notes {
		log.Info("lan: reload: " + n)
	}
	if err != nil {
		log.Error("lan: reload: some ports failed", "err", err)
	}
}
