package main

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"spacenet/apid/apidswitch"
	"spacenet/apid/ccsds"
	"spacenet/apid/plane"
	"spacenet/apid/policy"
	"spacenet/apid/sockdir"
	"spacenet/apid/uplink"
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
downlink = true in the policy) as one CCSDS Space Packet per UDP datagram.
--downlink tcp://HOST:PORT connects to the ground and sends the packets back to back
(tcp-listen://HOST:PORT waits for the ground to connect), reconnecting when
the connection ends and holding up to 256 packets meanwhile; what does not
fit is refused to its sender (Link_failed). Without --downlink there is no
ground link: such frames are refused with No_route, the sender gets an ERROR
frame and the frame is counted in its DROPPED column (No_route); nothing is
queued for a later link.

--uplink-listen udp://HOST:PORT (ground to space) receives Space Packets and
delivers each command to the tenant owning its APID (tcp://HOST:PORT:
ground connections carrying packets back to back). The ground is checked
like a tenant: a frame whose source APID is not the ground's is refused
(Apid_not_allocated), as is one to a tenant outside the ground's
can_send_to (Not_permitted); refusals are counted in the "ground" row.

--layout says how packets carry frames, both ways (docs/ground.md):
  plain     telemetry from APID A is a TM packet with APID A and the frame's
            payload as data; a TC packet with APID B is a command to B's
            owner from the ground's first APID (0x7F0 unless the policy's
            [ground] owns says otherwise), payload = its data
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
	f.StringVar(&runFlags.socketDir, "socket-dir", sockdir.Default(), "directory of the tenants' sockets (the default depends on the user: see above)")
	f.StringVar(&runFlags.downlink, "downlink", "", "send ground-bound frames as CCSDS packets to udp://HOST:PORT, tcp://HOST:PORT or tcp-listen://HOST:PORT (space to ground)")
	f.StringVar(&runFlags.uplinkListen, "uplink-listen", "", "receive CCSDS packets from the ground on udp://HOST:PORT or tcp://HOST:PORT (ground to space)")
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
	link, err := newDTNLink(pol, log)
	if err != nil {
		return err
	}
	if dtnFlags.ground != "" && rf.downlink != "" {
		return usageError("--dtn-ground and --downlink: the ground link is one or the other")
	}
	p, err := plane.Open(plane.Config{
		DTN:       link,
		DTNGround: dtnFlags.ground != "",
		Switch: apidswitch.Config{
			Policy:    pol,
			SocketDir: rf.socketDir,
			DirMode:   dirMode,
			SockMode:  sockMode,
			QueueLen:  rf.queue,
			Batch:     rf.batch,
			Logger:    log,
			Layout:    layout,
		},
		Downlink:     rf.downlink,
		UplinkListen: rf.uplinkListen,
	})
	if err != nil {
		return err
	}
	defer p.Close()
	var views *observe.Views
	defer func() {
		if views != nil {
			views.Close()
		}
	}()
	up, err := service{log: log, run: p.Run, ready: p.Ready(),
		up: func() error {
			var err error
			views, err = observe.APID(&control.APIDSource{Switch: p.Switch, Downlink: p.Downlink, Uplink: p.Uplink}, rf.metricsListen, log)
			if err != nil {
				return err
			}
			for _, t := range p.Switch.Tenants() {
				log.Info("tenant socket", "tenant", t.Name, "path", t.Socket)
			}
			return nil
		},
		reload: func() { reload(p.Switch, rf.config, log) },
	}.serve(context.Background())
	if up {
		stopCounters(cmd.OutOrStdout(), rf.logFormat, p, logs)
	}
	return err
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
		for _, e := range flatten(err) {
			log.Error("policy reload refused; old policy kept", "file", path, "err", e)
		}
		return
	}
	log.Info("policy reloaded", "file", path, "tenants", len(p.Tenants))
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
