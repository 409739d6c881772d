package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"spacenet/apid/apidswitch"
	"spacenet/apid/ccsds"
	"spacenet/apid/frame"
	"spacenet/apid/policy"
	"spacenet/apid/uplink"
	"spacenet/internal/logging"
	"spacenet/ops/control"
	"spacenet/ops/observe"
)

var runFlags struct {
	config, socketDir      string
	downlink, uplinkListen string
	layout                 string
	logFormat, logLevel    string
	dirMode, sockMode      string
	queue, batch           int
	metricsListen          string
}

var runCmd = &cobra.Command{
	Use:   "run",
	Short: "Run the APID switch (the default v0 topology unless --config is given)",
	Long: `run starts the APID switch: one Unix socket per tenant in the socket
directory (SOCKET-DIR/TENANT.sock), frames routed by the policy.

The default socket directory is one no other local user can create first:
$XDG_RUNTIME_DIR/spacenet if XDG_RUNTIME_DIR is a directory of yours, else
/run/spacenet as root, else /tmp/space-net if it is already yours and
others cannot write to it, else /tmp/spacenet-UID. The switch refuses a
socket directory that is a symbolic link, is owned by another user or is
writable by group or others (or lies under a directory another user could
change), and says how to fix it. It holds SOCKET-DIR/.lock while it runs:
a second switch on the same directory fails at once, naming the first's
pid.

Signals: SIGHUP reloads the policy file without dropping connections (a bad
file is refused, its errors logged, and the old policy kept); SIGINT or
SIGTERM stops the switch and prints every tenant's counters.

--downlink udp://HOST:PORT (space to ground) sends every frame routed to the
ground (to 0x000, to the ground's APIDs, 0x7F0 unless the policy's [ground]
table says otherwise, or to an APID no tenant owns, from a tenant with
uplink = true) as one CCSDS Space Packet per UDP datagram. --downlink
tcp://HOST:PORT connects to the ground and sends the packets back to back
(tcp-listen://HOST:PORT waits for the ground to connect), reconnecting when
the connection ends and holding up to 256 packets meanwhile; what does not
fit is refused to its sender (Link_failed). Without --downlink there is no
ground link:
such frames are refused with No_route, the sender gets an ERROR frame and
the frame is counted in its DROPPED column (No_route); nothing is queued for
a later link.

--uplink-listen udp://HOST:PORT (ground to space) receives Space Packets and
delivers each command to the tenant owning its APID (tcp://HOST:PORT:
ground connections carrying packets back to back). The ground is checked
like a tenant: a frame whose source APID is not the ground's is refused
(Apid_not_allocated), as is one to a tenant outside the ground's
can_send_to (Not_permitted); refusals are counted in the "ground" row.

--layout says how packets carry frames, both ways (docs/ground.md):
  plain     telemetry from APID A is a TM packet with APID A and the frame's
            payload as data; a TC packet with APID B is a command to B's
            owner from the ground's APID (0x7F0), payload = its data
  cfs       as plain, with cFE's secondary headers: TM time (seconds since
            1980-001, subseconds), TC function code and checksum (checked;
            the frame's payload is the function code, then the data)
  spacenet  the frame's own 8-byte header inside (switch to switch)

--dtn-agent HOST:PORT --dtn-endpoint dtn://NODE/spacenet join switches on
other computers through a local dtnd (dtn7-go, its web agent): frames for
the APIDs of the policy's [[remote]] tables travel as bundles to the
remote's endpoint, and frames from it are checked like a tenant's
(docs/dtn.md). Without them, frames for remotes are refused (No_route).
--dtn-ground EID makes the ground link go the same way, to a ground
station's endpoint, instead of --downlink.

Exit status: 0 stopped by a signal; 1 failed (a refused policy file or
socket directory included); 2 usage error.`,
	Example: `  spacenet run                                        # built-in v0 topology, default socket directory
  spacenet run --socket-dir /tmp/sn --config apid/policy/testdata/v0.toml --log-format json
  spacenet run --downlink udp://127.0.0.1:10000 --uplink-listen udp://127.0.0.1:10001`,
	Args: cobra.NoArgs,
	RunE: runSwitch,
}

func init() {
	f := runCmd.Flags()
	f.StringVar(&runFlags.config, "config", "", "policy file (TOML); default: the built-in v0 topology")
	f.StringVar(&runFlags.socketDir, "socket-dir", apidswitch.DefaultSocketDir(), "directory of the tenants' sockets (the default depends on the user: see above)")
	f.StringVar(&runFlags.downlink, "downlink", "", "send ground-bound frames as CCSDS packets to udp://HOST:PORT (space to ground)")
	f.StringVar(&runFlags.uplinkListen, "uplink-listen", "", "receive CCSDS packets from the ground on udp://HOST:PORT (ground to space)")
	f.StringVar(&runFlags.layout, "layout", "plain", "CCSDS packet layout of the ground link: plain, cfs or spacenet")
	addLogFlags(runCmd, &runFlags.logFormat, &runFlags.logLevel)
	f.StringVar(&runFlags.dirMode, "dir-mode", "0700", "mode of the socket directory, if the switch creates it (at most 0755)")
	f.StringVar(&runFlags.sockMode, "sock-mode", "0600", "mode of each socket file")
	f.IntVar(&runFlags.queue, "queue", apidswitch.DefaultQueueLen, "frames each tenant's queue holds")
	f.IntVar(&runFlags.batch, "batch", apidswitch.DefaultBatch, "most frames per read and per write")
	addDTNFlags(f)
	f.StringVar(&runFlags.metricsListen, "metrics-listen", "", "serve Prometheus metrics (/metrics) and a status page (/) on HOST:PORT; spacenet status reads SOCKET-DIR/.control")
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

// parseModes reads --dir-mode and --sock-mode, the same on both switches
// (a usage error if bad).
func parseModes(dir, sock string) (dirMode, sockMode fs.FileMode, err error) {
	if dirMode, err = parseMode("dir-mode", dir); err != nil {
		return 0, 0, &exitError{code: exitUsage, err: err}
	}
	if dirMode&0o022 != 0 {
		return 0, 0, usageError("--dir-mode %q: group or others could replace the sockets; at most 0755", dir)
	}
	if sockMode, err = parseMode("sock-mode", sock); err != nil {
		return 0, 0, &exitError{code: exitUsage, err: err}
	}
	return dirMode, sockMode, nil
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
	dirMode, sockMode, err := parseModes(rf.dirMode, rf.sockMode)
	if err != nil {
		return err
	}
	if rf.queue < 1 || rf.batch < 1 {
		return &exitError{code: 2, err: fmt.Errorf("--queue %d and --batch %d: both must be at least 1", rf.queue, rf.batch)}
	}
	for flag, url := range map[string]string{"downlink": rf.downlink, "uplink-listen": rf.uplinkListen} {
		if err := checkGroundURL(url); url != "" && err != nil {
			return urlUsage(flag, err)
		}
	}
	if err := listenAddrUsage("metrics-listen", rf.metricsListen); err != nil {
		return err
	}
	pol, err := loadPolicy(rf.config)
	if err != nil {
		return err
	}
	layout, err := ccsds.ParseLayout(rf.layout)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("--layout: %w", err)}
	}
	cfg := apidswitch.Config{
		Policy:    pol,
		SocketDir: rf.socketDir,
		DirMode:   dirMode,
		SockMode:  sockMode,
		QueueLen:  rf.queue,
		Batch:     rf.batch,
		Logger:    log,
		Layout:    layout,
	}
	link, err := newDTNLink(pol, log)
	if err != nil {
		return err
	}
	if link != nil {
		cfg.Remote = link
		if dtnFlags.ground != "" {
			if rf.downlink != "" {
				return usageError("--dtn-ground and --downlink: the ground link is one or the other")
			}
			cfg.DownlinkFrames = link
		}
	}
	var up uplink.GroundDownlink
	if rf.downlink != "" {
		u, err := uplink.OpenDownlink(rf.downlink)
		if err != nil {
			return err
		}
		defer u.Close()
		cfg.Downlink, up = u, u
		log.Info("ground downlink", "to", rf.downlink, "layout", layout.String())
	}
	sw, err := apidswitch.New(cfg)
	if err != nil {
		return err
	}
	if up != nil {
		up.SetRefused(sw.DownlinkRefused) // the ground refused a packet: answer its sender
	}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- sw.Run(ctx) }()
	stopDTN := func() {}
	defer func() { stopDTN() }()

	var dl *uplink.Listener
	dlErr := make(chan error, 1)
	if rf.uplinkListen != "" {
		dl, err = uplink.Listen(rf.uplinkListen, uplink.ListenConfig{Layout: layout, Ground: sw.GroundAPID, Inject: sw.Inject, Logger: log})
		if err != nil {
			cancel()
			<-runErr
			return err
		}
		log.Info("ground uplink listening", "addr", dl.Addr().String(), "layout", layout.String())
		go func() { dlErr <- dl.Serve(ctx) }()
	}

	select {
	case <-sw.Ready():
		views, err := observe.APID(&control.APIDSource{Switch: sw, Downlink: up, Uplink: dl}, rf.metricsListen, log)
		if err != nil {
			cancel()
			<-runErr
			if dl != nil {
				<-dlErr
			}
			return err
		}
		defer views.Close()
		for _, t := range sw.Tenants() {
			log.Info("tenant socket", "tenant", t.Name, "path", t.Socket)
		}
		stopDTN = startDTN(ctx, link, sw, log)
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
					log.Error("ground uplink", "err", e)
				}
			}
			printCounters(cmd.OutOrStdout(), sw, up, dl, logs)
			return err
		case err := <-runErr:
			return err
		case err := <-dlErr:
			// The uplink socket failed: stop the switch rather than run half.
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

// printCounters prints one line per tenant, then the ground's, the ground
// links' counters if there are any, and the log records dropped.
func printCounters(w io.Writer, sw *apidswitch.Switch, up uplink.GroundDownlink, dl *uplink.Listener, logs *logging.Async) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tGEN\tCONNECTED\tRECEIVED\tDELIVERED\tSYSTEM\tGROUND\tQUEUED\tHELD\tDROPPED\tNOTICES\tNOTICES_LOST\tDROPPED_BY_REASON")
	all := append(sw.Counters(), sw.Ground())
	remotes := sw.RemoteCounters()
	for i := range remotes {
		remotes[i].Tenant += " (remote)"
	}
	all = append(all, remotes...)
	for _, c := range all {
		if c.Removed {
			c.Tenant += " (removed)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%v\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", c.Tenant, c.Generation, c.Connected,
			c.Received, c.Delivered, c.DeliveredSystem, c.DeliveredGround, c.Queued, c.Held, c.DroppedTotal(),
			c.NoticesQueued, c.NoticesLost, reasons(&c))
	}
	tw.Flush()
	printDeliveredRemote(w, all)
	if up != nil {
		fmt.Fprintf(w, "downlink: %s send_failures=%d unattributed=%d\n",
			up.Summary(), sw.DownlinkFailures(), sw.DownlinkRefusedUnknown())
	}
	if dl != nil {
		s := dl.Stats()
		fmt.Fprintf(w, "uplink: received=%d injected=%d idle=%d refused=%d bad_checksum=%d undeliverable=%d conns_refused=%d\n",
			s.Received, s.Injected, s.Idle, s.Refused, s.Checksum, s.Undeliverable, s.ConnsRefused)
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

// checkGroundURL checks a ground link's address: udp://HOST:PORT, or for
// TCP tcp://HOST:PORT or tcp-listen://HOST:PORT.
func checkGroundURL(url string) error {
	for _, scheme := range []string{"tcp://", "tcp-listen://"} {
		if rest, ok := strings.CutPrefix(url, scheme); ok {
			if _, _, err := net.SplitHostPort(rest); err != nil {
				return fmt.Errorf("%q: want %sHOST:PORT", url, scheme)
			}
			return nil
		}
	}
	if _, err := uplink.ParseURL(url); err != nil {
		return fmt.Errorf("%q: want udp://HOST:PORT, tcp://HOST:PORT or tcp-listen://HOST:PORT", url)
	}
	return nil
}
