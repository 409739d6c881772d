package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"spacenet/apid/sockdir"
	"spacenet/ip/lan"
	"spacenet/ops/control"
)

var statusFlags struct {
	socketDir    string // status
	lanSocketDir string // lan status
	json         bool
	watch        bool
	count        int
	interval     time.Duration
}

var statusCmd = &cobra.Command{
	Use:   "status",
	Short: "Show a running APID switch: tenants, connections, queues, rates and drops",
	Long: `status reads a running switch's control socket (SOCKET-DIR/.control, mode
0600, answered only to its own user or root) and prints one line per tenant:
the APID ranges it owns, whether its guest is connected and its generation
(connections so far), the frames now in its queue, frames per second read
from it (IN/s) and handed on (OUT/s: to a tenant's socket, the system
handler or the ground link), its totals, and its frames refused by reason. The
rates come from two snapshots --interval apart. The ground's row counts the
frames injected from the ground. The switch counts per sender, not per
receiver: a tenant's OUT/s is what it sent that left the switch.

--json prints one snapshot as JSON (every counter; no rates) and exits;
with --watch, one snapshot per line (JSON Lines) at once and then every
--interval.
--watch redraws every --interval like top (plain blocks of lines, one per
interval, when standard output is not a terminal) until interrupted or
--count views. Exit status: 0 shown; 1 failed; 2 usage error; 3 no switch
answers on SOCKET-DIR/.control.`,
	Example: `  spacenet status
  spacenet status --socket-dir /tmp/sn --json | jq '.tenants[] | {name, received, dropped_total}'
  spacenet status --watch`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, _ []string) error {
		return showStatus(cmd, statusFlags.socketDir, renderAPID)
	},
}

var lanStatusCmd = &cobra.Command{
	Use:   "status",
	Short: "Show a running virtual LAN: ports, locks, counters and the MAC table",
	Long: `status reads a running LAN's control socket (SOCKET-DIR/.control, mode 0600,
answered only to its own user or root) and prints one line per port: its
tenant, NIC, locks (a locked MAC, locked IPs, sticky), frames and bytes in
and out, frames per second in and out (two snapshots --interval apart),
queue, held and drops by reason; then the MAC table as "bridge fdb" shows
it. --json, --watch and --count as for spacenet status.`,
	Example: `  spacenet lan status
  spacenet lan status --socket-dir /tmp/space-lan --json | jq .fdb
  spacenet lan status --watch`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, _ []string) error {
		return showStatus(cmd, statusFlags.lanSocketDir, renderLAN)
	},
}

func init() {
	for _, c := range []*cobra.Command{statusCmd, lanStatusCmd} {
		f := c.Flags()
		f.BoolVar(&statusFlags.json, "json", false, "print one snapshot as JSON and exit (with --watch: one per line, every --interval)")
		f.BoolVar(&statusFlags.watch, "watch", false, "redraw every --interval until interrupted")
		f.IntVar(&statusFlags.count, "count", 0, "with --watch: stop after this many views (0: until interrupted)")
		f.DurationVar(&statusFlags.interval, "interval", time.Second, "time between the two snapshots a rate is computed from")
	}
	statusCmd.Flags().StringVar(&statusFlags.socketDir, "socket-dir", sockdir.Default(), "the switch's socket directory, as given to run")
	lanStatusCmd.Flags().StringVar(&statusFlags.lanSocketDir, "socket-dir", lan.DefaultDir, "the LAN's socket directory, as given to lan run")
	rootCmd.AddCommand(statusCmd)
	lanCmd.AddCommand(lanStatusCmd)
}

// listenAddrUsage checks a HOST:PORT flag value ("" is off): a usage
// error naming the flag if it is not one.
func listenAddrUsage(flag, addr string) error {
	if addr == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		var p uint64
		if p, err = strconv.ParseUint(port, 10, 16); err == nil && p == 0 && port != "0" {
			err = errors.New("bad port")
		}
	}
	if err != nil {
		return usageError("--%s %q: want HOST:PORT, such as 127.0.0.1:9464 (port 0: any free port)", flag, addr)
	}
	return nil
}

// A renderer fetches a snapshot from the control socket at path and writes
// it to w in form, with rates against prev (a value it returned before, or
// nil; text only).
type renderer func(w io.Writer, path string, prev any, form outputForm) (any, error)

// outputForm is how a renderer writes a snapshot.
type outputForm int

const (
	asText     outputForm = iota // tables, with rates
	asJSON                       // one indented JSON document
	asJSONLine                   // one line of JSON (JSON Lines)
)

func showStatus(cmd *cobra.Command, dir string, render renderer) error {
	sf := statusFlags
	if sf.interval < 10*time.Millisecond || sf.count < 0 {
		return usageError("--interval %s and --count %d: the interval must be at least 10ms, the count not negative", sf.interval, sf.count)
	}
	path := control.Path(dir)
	w := cmd.OutOrStdout()
	fail := func(err error) error {
		if errors.Is(err, control.ErrNoServer) {
			return &exitError{code: exitNoSwitch, err: err}
		}
		return &exitError{code: exitFailure, err: err}
	}
	if sf.json && !sf.watch {
		_, err := render(w, path, nil, asJSON)
		if err != nil {
			return fail(err)
		}
		return nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if sf.json {
		if err := watchJSON(ctx, w, path, render, sf.interval, sf.count); err != nil {
			return fail(err)
		}
		return nil
	}
	prev, err := render(io.Discard, path, nil, asText)
	if err != nil {
		return fail(err)
	}
	tick := time.NewTicker(sf.interval)
	defer tick.Stop()
	tty := isTerminal(w)
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		var b strings.Builder
		cur, err := render(&b, path, prev, asText)
		if err != nil {
			return fail(err)
		}
		prev = cur
		switch {
		case !sf.watch:
			io.WriteString(w, b.String())
			return nil
		case tty:
			io.WriteString(w, "\x1b[H\x1b[2J"+b.String()) // home, clear: redraw in place
		default:
			io.WriteString(w, b.String()+"\n")
		}
		if sf.count > 0 && n >= sf.count {
			return nil
		}
	}
}

// watchJSON writes a snapshot as one line of JSON at once and then every
// interval, until ctx ends or count lines (0: no limit).
func watchJSON(ctx context.Context, w io.Writer, path string, render renderer, interval time.Duration, count int) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for n := 1; ; n++ {
		if _, err := render(w, path, nil, asJSONLine); err != nil {
			return err
		}
		if count > 0 && n >= count {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// fetchSnapshot reads the snapshot at path into v, refusing one of
// another plane than plane (other is the command for that one); in a JSON
// form it writes v to w, formatted once, and reports that it is done.
func fetchSnapshot(w io.Writer, path, plane, other string, v any, form outputForm) (done bool, err error) {
	var raw json.RawMessage
	if err := control.Fetch(path, &raw); err != nil {
		return false, err
	}
	var head struct {
		Plane string `json:"plane"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return false, fmt.Errorf("control socket %s: %w", path, err)
	}
	if head.Plane != plane {
		return false, fmt.Errorf("%s is the control socket of a %q switch: use %s", path, head.Plane, other)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("control socket %s: %w", path, err)
	}
	switch form {
	case asJSON:
		return true, writeJSON(w, v, "  ")
	case asJSONLine:
		return true, writeJSON(w, v, "")
	}
	return false, nil
}

// writeJSON writes v as JSON and a newline: indented by indent, or on one
// line if indent is "".
func writeJSON(w io.Writer, v any, indent string) error {
	var b []byte
	var err error
	if indent == "" {
		b, err = json.Marshal(v)
	} else {
		b, err = json.MarshalIndent(v, "", indent)
	}
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func renderAPID(w io.Writer, path string, prev any, form outputForm) (any, error) {
	var s control.APID
	if done, err := fetchSnapshot(w, path, "apid", "spacenet lan status", &s, form); done || err != nil {
		return &s, err
	}
	p, _ := prev.(*control.APID)
	d := s.Since(p)
	fmt.Fprintf(w, "APID switch %s  policy %s  up %s  %s\n", s.SocketDir, s.Policy,
		(time.Duration(s.UptimeSeconds) * time.Second).String(), s.Time.Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tAPIDS\tCONNECTED\tGEN\tQUEUE\tIN/s\tOUT/s\tRECEIVED\tFORWARDED\tQUEUED\tHELD\tDROPPED\tNOTICES_LOST\tDROPPED_BY_REASON")
	rows := append(slices.Clone(s.Tenants), s.Ground)
	for i := range rows {
		t := &rows[i]
		in, out := d.TenantRates(t)
		name, conn, gen, queue := t.Name, "no", fmt.Sprint(t.Generation), fmt.Sprint(t.QueueLen)
		switch {
		case t.Name == "ground" && i == len(rows)-1:
			conn, gen, queue = "-", "-", "-"
		case t.Connected:
			conn = "yes"
		}
		if t.Removed {
			name += " (removed)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", name, orDash(strings.Join(t.APIDs, ",")),
			conn, gen, queue, in, out,
			t.Received, t.Forwarded(), t.Queued, t.Held, t.DroppedTotal, t.NoticesLost, byReason(t.Dropped))
	}
	tw.Flush()
	writeEdges(w, d)
	if d := s.Downlink; d != nil {
		fmt.Fprintf(w, "downlink: sent=%d refused_by_ground=%d queue_full=%d send_failures=%d unattributed=%d\n", d.Sent, d.RefusedByGround, d.QueueFull, d.SendFailures, d.Unattributed)
	}
	if u := s.Uplink; u != nil {
		fmt.Fprintf(w, "uplink: received=%d injected=%d idle=%d refused=%d bad_checksum=%d undeliverable=%d conns_refused=%d\n", u.Received, u.Injected, u.Idle, u.Refused, u.BadChecksum, u.Undeliverable, u.ConnsRefused)
	}
	return &s, nil
}

func renderLAN(w io.Writer, path string, prev any, form outputForm) (any, error) {
	var s control.LAN
	if done, err := fetchSnapshot(w, path, "lan", "spacenet status", &s, form); done || err != nil {
		return &s, err
	}
	p, _ := prev.(*control.LAN)
	before := map[string]*control.Port{}
	var dt time.Duration
	if p != nil {
		dt = s.Time.Sub(p.Time)
		for i := range p.Ports {
			before[p.Ports[i].Name] = &p.Ports[i]
		}
	}
	fmt.Fprintf(w, "LAN %s  %d MACs (%d not learnt: table full, %d moves)  %s\n", s.Config, s.TableMACs, s.LearnFull, s.Moves, s.Time.Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PORT\tTENANT\tNIC\tLOCKS\tRX/s\tTX/s\tRX\tRX_BYTES\tTX\tTX_BYTES\tQUEUE\tHELD\tDROPS")
	for i := range s.Ports {
		q := &s.Ports[i]
		b, have := before[q.Name]
		if b == nil {
			b = &control.Port{}
		}
		drops := strings.Join(q.Drops(), ",")
		if q.Failed {
			drops += " FAILED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", q.Name, q.Tenant, q.NIC, orDash(strings.Join(q.Locks(), " ")),
			control.RateOf(q.RxFrames, b.RxFrames, dt, have), control.RateOf(q.TxFrames, b.TxFrames, dt, have),
			q.RxFrames, q.RxBytes, q.TxFrames, q.TxBytes, q.Queued, q.Held, orDash(strings.TrimSpace(drops)))
	}
	tw.Flush()
	fmt.Fprintln(w, "fdb:")
	for _, e := range s.MACs {
		if e.Locked {
			fmt.Fprintf(w, "%s dev %s master lan permanent\n", e.MAC, e.Port)
		} else {
			fmt.Fprintf(w, "%s dev %s master lan used %.0f\n", e.MAC, e.Port, e.AgeSeconds)
		}
	}
	return &s, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// byReason lists the non-zero counts of m as NAME=N, sorted by name; "-"
// if none.
func byReason(m map[string]uint64) string { return orDash(strings.Join(control.NonZero("", m), ",")) }
