package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"spacenet/apidswitch"
	"spacenet/frame"
	"spacenet/internal/logging"
	"spacenet/policy"
	"spacenet/uplink"
)

var runFlags struct {
	config, socketDir      string
	uplink, downlinkListen string
	logFormat, logLevel    string
	dirMode, sockMode      string
	queue, batch           int
}

var runCmd = &cobra.Command{
	Use:   "run",
	Short: "Run the APID switch (the default v0 topology unless --config is given)",
	Long: `run starts the APID switch: one Unix socket per tenant in the socket
directory (<socket-dir>/<tenant>.sock), frames routed by the policy.

The default socket directory is one no other local user can create first:
$XDG_RUNTIME_DIR/spacenet if XDG_RUNTIME_DIR is a directory of yours, else
/run/spacenet as root, else /tmp/space-net if it is already yours and
others cannot write to it, else /tmp/spacenet-<uid>. The switch refuses a
socket directory that is a symbolic link, is owned by another user or is
writable by group or others (or lies under a directory another user could
change), and says how to fix it. It holds <socket-dir>/.lock while it runs:
a second switch on the same directory fails at once, naming the first's
pid.

Signals: SIGHUP reloads the policy file without dropping connections (a bad
file is refused, its errors logged, and the old policy kept); SIGINT or
SIGTERM stops the switch and prints every tenant's counters.

--uplink udp://HOST:PORT sends every frame routed to the ground (to 0x000, to
the ground's APIDs, 0x7F0 unless the policy's [ground] table says otherwise,
or to an APID no tenant owns, from a tenant with uplink = true) as one CCSDS
Space Packet per UDP datagram. Without --uplink there is no ground link:
such frames are refused with No_route, the sender gets an ERROR frame and
the frame is counted in its DROPPED column (No_route); nothing is queued for
a later link.

--downlink-listen udp://HOST:PORT receives Space Packets and delivers each
frame to the tenant owning its destination. The ground is checked like a
tenant: a frame whose source APID is not the ground's is refused
(Apid_not_allocated), as is one to a tenant outside the ground's
can_send_to (Not_permitted); refusals are counted in the "ground" row.`,
	Args: cobra.NoArgs,
	RunE: runSwitch,
}

func init() {
	f := runCmd.Flags()
	f.StringVar(&runFlags.config, "config", "", "policy file (TOML); default: the built-in v0 topology")
	f.StringVar(&runFlags.socketDir, "socket-dir", apidswitch.DefaultSocketDir(), "directory of the tenants' sockets (the default depends on the user: see above)")
	f.StringVar(&runFlags.uplink, "uplink", "", "send ground-bound frames as CCSDS packets to udp://HOST:PORT")
	f.StringVar(&runFlags.downlinkListen, "downlink-listen", "", "receive CCSDS packets from the ground on udp://HOST:PORT")
	f.StringVar(&runFlags.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&runFlags.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&runFlags.dirMode, "dir-mode", "0700", "mode of the socket directory, if the switch creates it (at most 0755)")
	f.StringVar(&runFlags.sockMode, "sock-mode", "0600", "mode of each socket file")
	f.IntVar(&runFlags.queue, "queue", apidswitch.DefaultQueueLen, "frames each tenant's queue holds")
	f.IntVar(&runFlags.batch, "batch", apidswitch.DefaultBatch, "most frames per read and per write")
	rootCmd.AddCommand(runCmd)
}

// minProcs is the fewest Go processors (GOMAXPROCS) the switches run with,
// whatever the number of cores, unless the GOMAXPROCS variable says
// otherwise. The runtime looks for goroutines woken by their sockets only
// when a processor has nothing else to run: with as many processors as
// cores (2), a tenant flooding the switch keeps them all busy, and another
// tenant's woken goroutine waits for the runtime's 10 ms poll (issue 14's
// attack suite: a HEALTH flood raised two other tenants' p99 round trip
// 4-15x, the same flood on another switch process about 1.5x). With idle
// processors to spare, a woken goroutine runs at once, on a thread of its
// own, and the kernel shares the cores among the threads as it does among
// processes. It costs a few idle threads.
const minProcs = 8

// ensureProcs raises GOMAXPROCS to minProcs unless the environment sets it.
func ensureProcs() {
	if os.Getenv("GOMAXPROCS") == "" && runtime.GOMAXPROCS(0) < minProcs {
		runtime.GOMAXPROCS(minProcs)
	}
}

// logFlushTimeout bounds how long a command waits, as it exits, for its
// last log lines to be written: a stderr nobody reads must not hold it up.
const logFlushTimeout = time.Second

// newLogger builds the logger of every long-running command: format and
// level as the --log-format and --log-level flags say, written to w through
// a bounded buffer (logging.Async, started here) so that a stderr nobody
// reads cannot stall the command or the switch. The caller closes the
// Async with CloseWithin(logFlushTimeout) as it exits.
func newLogger(w io.Writer, format, level string) (*slog.Logger, *logging.Async, error) {
	h, err := logging.NewHandler(w, format, level)
	if err != nil {
		// err names the field ("level ..." or "format ..."): name the flag.
		return nil, nil, &exitError{code: 2, err: fmt.Errorf("--log-%w", err)}
	}
	logs := logging.NewAsync(h, 0)
	logs.Start()
	return slog.New(logs), logs, nil
}

func parseMode(flag, s string) (fs.FileMode, error) {
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o777 {
		return 0, fmt.Errorf("--%s %q: want an octal mode such as 0700", flag, s)
	}
	if v&0o600 != 0o600 {
		// Without owner read and write the switch could not use its own
		// sockets (and 0 would silently mean the default to the library).
		return 0, fmt.Errorf("--%s %q: the owner needs read and write (0600 at least)", flag, s)
	}
	return fs.FileMode(v), nil
}

func loadPolicy(path string) (*policy.Policy, error) {
	if path == "" {
		return policy.Default(), nil
	}
	return policy.Load(path)
}

func runSwitch(cmd *cobra.Command, _ []string) error {
	ensureProcs()
	rf := runFlags
	log, logs, err := newLogger(cmd.ErrOrStderr(), rf.logFormat, rf.logLevel)
	if err != nil {
		return err
	}
	defer logs.CloseWithin(logFlushTimeout)
	dirMode, err := parseMode("dir-mode", rf.dirMode)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if dirMode&0o022 != 0 {
		return &exitError{code: 2, err: fmt.Errorf("--dir-mode %q: group or others could replace the sockets; at most 0755", rf.dirMode)}
	}
	sockMode, err := parseMode("sock-mode", rf.sockMode)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if rf.queue < 1 || rf.batch < 1 {
		return &exitError{code: 2, err: fmt.Errorf("--queue %d and --batch %d: both must be at least 1", rf.queue, rf.batch)}
	}
	pol, err := loadPolicy(rf.config)
	if err != nil {
		return err
	}
	cfg := apidswitch.Config{
		Policy:    pol,
		SocketDir: rf.socketDir,
		DirMode:   dirMode,
		SockMode:  sockMode,
		QueueLen:  rf.queue,
		Batch:     rf.batch,
		Logger:    log,
	}
	var up *uplink.UDP
	if rf.uplink != "" {
		u, err := uplink.Dial(rf.uplink)
		if err != nil {
			return err
		}
		defer u.Close()
		cfg.Uplink, up = u, u
		log.Info("uplink", "to", rf.uplink, "from", u.LocalAddr().String())
	}
	sw, err := apidswitch.New(cfg)
	if err != nil {
		return err
	}
	if up != nil {
		up.SetRefused(sw.UplinkRefused) // the ground refused a packet: answer its sender
	}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- sw.Run(ctx) }()

	var dl *uplink.Downlink
	dlErr := make(chan error, 1)
	if rf.downlinkListen != "" {
		dl, err = uplink.ListenDownlink(rf.downlinkListen, sw.Inject, log)
		if err != nil {
			cancel()
			<-runErr
			return err
		}
		log.Info("downlink listening", "addr", dl.Addr().String())
		go func() { dlErr <- dl.Serve(ctx) }()
	}

	select {
	case <-sw.Ready():
		for _, t := range sw.Tenants() {
			log.Info("tenant socket", "tenant", t.Name, "path", t.Socket)
		}
	case err := <-runErr:
		cancel()
		if dl != nil {
			<-dlErr
		}
		return err
	}

	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				reload(sw, rf.config, log)
				continue
			}
			log.Info("stopping", "signal", sig.String())
			cancel()
			err := <-runErr
			if dl != nil {
				if e := <-dlErr; e != nil {
					log.Error("downlink", "err", e)
				}
			}
			printCounters(cmd.OutOrStdout(), sw, up, dl, logs)
			return err
		case err := <-runErr:
			return err
		case err := <-dlErr:
			// The downlink socket failed: stop the switch rather than run half.
			cancel()
			<-runErr
			printCounters(cmd.OutOrStdout(), sw, up, dl, logs)
			return err
		}
	}
}

// reload loads the policy file again and swaps it in; a bad file is refused
// and the old policy kept.
func reload(sw *apidswitch.Switch, path string, log *slog.Logger) {
	if path == "" {
		log.Info("SIGHUP: no --config file; the built-in v0 policy stays")
		return
	}
	p, err := policy.Load(path)
	if err == nil {
		err = sw.Reload(p)
	}
	if err != nil {
		var errs []error
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		} else {
			errs = []error{err}
		}
		for _, e := range errs {
			log.Error("policy reload refused; old policy kept", "file", path, "err", e)
		}
		return
	}
	log.Info("policy reloaded", "file", path, "tenants", len(p.Tenants))
}

// printCounters prints one line per tenant, then the ground's, the
// downlink's counters if there is one, and the log records dropped.
func printCounters(w io.Writer, sw *apidswitch.Switch, up *uplink.UDP, dl *uplink.Downlink, logs *logging.Async) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tGEN\tCONNECTED\tRECEIVED\tDELIVERED\tSYSTEM\tUPLINK\tQUEUED\tHELD\tDROPPED\tNOTICES\tNOTICES_LOST\tDROPPED_BY_REASON")
	all := append(sw.Counters(), sw.Ground())
	for _, c := range all {
		if c.Removed {
			c.Tenant += " (removed)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%v\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", c.Tenant, c.Generation, c.Connected,
			c.Received, c.Delivered, c.DeliveredSystem, c.DeliveredUplink, c.Queued, c.Held, c.DroppedTotal(),
			c.NoticesQueued, c.NoticesLost, reasons(&c))
	}
	tw.Flush()
	if up != nil {
		fmt.Fprintf(w, "uplink: sent=%d refused_by_ground=%d send_failures=%d unattributed=%d\n",
			up.Sent(), up.Refused(), sw.UplinkFailures(), sw.UplinkRefusedUnknown())
	}
	if dl != nil {
		s := dl.Stats()
		fmt.Fprintf(w, "downlink: received=%d injected=%d idle=%d refused=%d undeliverable=%d\n",
			s.Received, s.Injected, s.Idle, s.Refused, s.Undeliverable)
	}
	fmt.Fprintf(w, "log: dropped=%d failed=%d\n", logs.Dropped(), logs.Failed())
}

func reasons(c *apidswitch.Counters) string {
	var parts []string
	for code, n := range c.Dropped {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", frame.ErrorCode(code).String(), n))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}
