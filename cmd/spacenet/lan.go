package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"spacenet/lan"
)

var lanFlags struct {
	config, dir, pcap    string
	tap, tapTenant       string
	sockMode, dirMode    string
	logLevel             string
	printConfig, checkOK bool
}

var lanCmd = &cobra.Command{
	Use:   "lan",
	Short: "The virtual LAN: a learning switch for QEMU guests, TAPs and netstacks",
}

var lanRunCmd = &cobra.Command{
	Use:   "run",
	Short: "Run the virtual LAN switch (one qemu-stream socket per v0 tenant unless --config is given)",
	Long: `run starts the virtual LAN: a learning Ethernet switch whose ports are unix
sockets in QEMU's framing (-netdev stream: 4-byte big-endian length before
each frame; -netdev dgram: one datagram per frame), TAP devices or AF_PACKET
sockets, as the configuration file says (see docs/lan.md for its format).

Without --config: one qemu-stream socket per v0 tenant (camera, processor,
spaceos) in --dir, the three tenants reaching each other. Start a guest with

  qemu-system-x86_64 ... -netdev stream,id=n0,server=off,addr.type=unix,addr.path=/tmp/space-lan/camera.sock \
      -device virtio-net-pci,netdev=n0

--tap IFNAME adds a TAP port to the host (tenant --tap-tenant); --pcap FILE
writes every frame entering the switch to a pcap file (mode 0600).

Defaults that defend the tenants from each other (docs/lan.md): every port
but a packet one is sticky (the first source MAC it sends is locked to it),
every port floods at most 1000 broadcast, multicast and unknown-unicast
frames a second (bursts of 100), sockets are 0600 in a 0700 directory, and
a socket directory that another user owns or may write to is refused.

Signals: SIGINT or SIGTERM stops the switch and prints every port's counters;
SIGHUP re-reads --config and applies port and tenant changes (a bad file is
refused, its errors logged, the old configuration kept).`,
	Args: cobra.NoArgs,
	RunE: runLAN,
}

var lanCheckCmd = &cobra.Command{
	Use:   "check FILE",
	Short: "Check a virtual LAN configuration file and print it as understood",
	Args:  cobra.ExactArgs(1),
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
	f.StringVar(&lanFlags.dir, "dir", lan.DefaultDir, "socket directory of the default configuration")
	f.StringVar(&lanFlags.pcap, "pcap", "", "write every frame entering the switch to this pcap file")
	f.StringVar(&lanFlags.tap, "tap", "", "add a TAP port to the host with this interface name")
	f.StringVar(&lanFlags.tapTenant, "tap-tenant", "host", "tenant of the --tap port")
	f.StringVar(&lanFlags.sockMode, "sock-mode", "", "octal mode of the qemu-* sockets (default: the file's socket_mode, else 0600)")
	f.StringVar(&lanFlags.dirMode, "dir-mode", "", "octal mode of a socket directory the LAN creates (default: the file's dir_mode, else 0700)")
	f.StringVar(&lanFlags.logLevel, "log-level", "info", "log level: debug, info, warn or error")
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
	for _, m := range []struct {
		flag, value string
		mode        *fs.FileMode
	}{{"sock-mode", lanFlags.sockMode, &c.SocketMode}, {"dir-mode", lanFlags.dirMode, &c.DirMode}} {
		if m.value != "" {
			v, err := parseMode(m.flag, m.value)
			if err != nil {
				return nil, err
			}
			*m.mode = v
		}
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
	log, logs, err := newLogger(cmd.ErrOrStderr(), "text", lanFlags.logLevel)
	if err != nil {
		return err
	}
	defer logs.CloseWithin(logFlushTimeout)
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
	log.Info("lan: running", "config", c.Source, "ports", len(c.Ports), "reach", c.Reach().String())
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	sweep := time.NewTicker(30 * time.Second)
	defer sweep.Stop()
	for {
		select {
		case <-sweep.C:
			if n := l.Switch.Sweep(); n > 0 {
				log.Debug("lan: aged out MACs", "n", n)
			}
			if err := l.Flush(); err != nil {
				log.Error("lan: pcap", "err", err)
			}
		case sig := <-sigs:
			if sig != syscall.SIGHUP {
				log.Info("lan: stopping", "signal", sig.String())
				l.Report(cmd.OutOrStdout())
				return l.Close()
			}
			if lanFlags.config == "" {
				log.Info("lan: SIGHUP: no --config to reload")
				continue
			}
			nc, err := lanConfig()
			if err != nil {
				log.Error("lan: reload refused, old configuration kept", "err", err)
				continue
			}
			notes, err := l.Reload(nc)
			for _, n := range notes {
				log.Info("lan: reload: " + n)
			}
			if err != nil {
				log.Error("lan: reload: some ports failed", "err", err)
			}
		}
	}
}
