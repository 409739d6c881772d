package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"spacenet/apid/apidswitch"
	"spacenet/apid/frame"
	"spacenet/apid/sockdir"
	"spacenet/ops/control"
	"spacenet/ops/monitor"
)

var monitorFlags struct {
	socketDir string
	tenants   []string
	apids     []string
	direction string
	json      bool
	hex       bool
	write     string
	count     int
	buffer    int
}

var monitorCmd = &cobra.Command{
	Use:   "monitor",
	Short: "Watch the frames passing through a running APID switch (read-only, like tcpdump)",
	Long: `monitor prints the frames passing through a running switch, one line each:
the time the switch saw it, the peer (a tenant, or "ground" for the ground
link), the direction ("in": written by the peer to the switch; "out":
written by the switch to the peer: frames from others, and the switch's own
ERRORs, HEALTH replies and events), the type, source > destination APID,
the payload length, and for an ERROR its code and the frame it refused.

It reads the switch's monitor socket (SOCKET-DIR/.monitor, mode 0600,
answered only to the switch's own user or root) and cannot send anything:
the switch copies the frames selected by --tenant, --apid and --direction
into a buffer of --buffer frames, and when a monitor falls behind the
buffer fills and frames are dropped for the monitor only, never for the
tenants, and counted: drops are reported on standard error as they grow,
and at the end "N frames shown, D dropped by the monitor, of M selected"
(M = N + D once the stream ended). At most 4 monitors at once.

--json prints one JSON object per frame (time, tenant, direction, type,
apid, dest, length, payload in hex, error) and {"stats":{...}} objects when
the drop count grows and at the end. --write FILE writes a pcapng capture
instead of lines: one interface per peer, the direction in each packet's
flags, link type USER0 (DLT 147), which Wireshark reads with
contrib/wireshark/spacenet.lua.

It runs until interrupted (SIGINT, SIGTERM: the frames the switch still
holds for it are printed, then the summary), until --count frames, or
until the switch stops. Exit status: 0; 1 failed or refused by the switch
(an unknown tenant, 4 monitors already); 2 usage error; 3 no switch answers
on SOCKET-DIR/.monitor.`,
	Example: `  spacenet monitor
  spacenet monitor --tenant camera
  spacenet monitor --tenant processor --direction out --apid 0x010-0x01F
  spacenet monitor --json --count 10 | jq .type
  spacenet monitor --write camera.pcapng --tenant camera`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, _ []string) error { return runMonitor(cmd) },
}

func init() {
	f := monitorCmd.Flags()
	f.StringVar(&monitorFlags.socketDir, "socket-dir", sockdir.Default(), "the switch's socket directory, as given to run")
	f.StringSliceVar(&monitorFlags.tenants, "tenant", nil, `only this tenant's frames ("ground": the ground link's); repeat or comma-separate for several`)
	f.StringSliceVar(&monitorFlags.apids, "apid", nil, "only frames whose source or destination APID is in this range (0x010-0x01F, 0x020, or decimal); repeatable")
	f.StringVar(&monitorFlags.direction, "direction", "both", "in (written by the peer), out (written to the peer) or both")
	f.BoolVar(&monitorFlags.json, "json", false, "one JSON object per frame")
	f.BoolVar(&monitorFlags.hex, "hex", false, "print each frame's payload in hex")
	f.StringVarP(&monitorFlags.write, "write", "w", "", "write a pcapng capture to this file instead of lines")
	f.IntVarP(&monitorFlags.count, "count", "c", 0, "stop after this many frames (0: until interrupted)")
	f.IntVar(&monitorFlags.buffer, "buffer", monitor.DefaultBuffer, fmt.Sprintf("frames the switch holds for this monitor before it drops (1 to %d)", apidswitch.MaxTapCapacity))
	monitorCmd.RegisterFlagCompletionFunc("tenant", func(cmd *cobra.Command, args []string, s string) ([]string, cobra.ShellCompDirective) {
		names, d := completeTenants(cmd, args, s)
		return append(names, apidswitch.GroundPeer), d
	})
	monitorCmd.RegisterFlagCompletionFunc("direction", cobra.FixedCompletions([]string{"in", "out", "both"}, cobra.ShellCompDirectiveNoFileComp))
	rootCmd.AddCommand(monitorCmd)
}

func runMonitor(cmd *cobra.Command) error {
	mf := monitorFlags
	req := monitor.Request{Tenants: mf.tenants, APIDs: mf.apids, Direction: mf.direction, Buffer: mf.buffer}
	if _, _, err := req.Filter(); err != nil || mf.count < 0 {
		if err == nil {
			err = fmt.Errorf("--count %d: not negative", mf.count)
		}
		return usageError("%v", monitorFlagError(err))
	}
	var pcap *monitor.Pcapng
	var file *os.File
	if mf.write != "" {
		var err error
		if file, err = os.OpenFile(mf.write, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
			return err
		}
		defer file.Close()
		pcap = monitor.NewPcapng(file)
	}
	c, err := monitor.Dial(monitor.Path(mf.socketDir), req)
	if err != nil {
		if errors.Is(err, control.ErrNoServer) {
			return &exitError{code: exitNoSwitch, err: err}
		}
		return err
	}
	defer c.Close()
	fmt.Fprintf(cmd.ErrOrStderr(), "monitor: watching %s on %s (read-only; Ctrl-C to stop)\n", describeRequest(req), mf.socketDir)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	stopping := make(chan struct{})
	defer close(stopping)
	go func() {
		select {
		case <-sigs:
			c.CloseWrite() // the switch sends what it holds for us, and the last stats
		case <-stopping:
		}
	}()

	out := bufio.NewWriter(cmd.OutOrStdout())
	defer out.Flush()
	errw := cmd.ErrOrStderr()
	var shown uint64
	var last apidswitch.TapStats
	ended := false
	for mf.count == 0 || shown < uint64(mf.count) {
		e, err := c.Next()
		if errors.Is(err, io.EOF) {
			ended = true
			break
		}
		if err != nil {
			out.Flush()
			return fmt.Errorf("monitor: %w", err)
		}
		switch e.Kind {
		case monitor.KindFrame:
			shown++
			switch {
			case pcap != nil:
				err = pcap.Write(&e.Record)
			case mf.json:
				err = writeFrameJSON(out, &e.Record)
			default:
				writeFrameLine(out, &e.Record, mf.hex)
			}
			if err != nil {
				return err
			}
			if c.Buffered() == 0 {
				out.Flush() // a line as soon as the switch is quiet: no waiting on a full buffer
			}
		case monitor.KindStats:
			grew := e.Stats.Dropped > last.Dropped
			last = e.Stats
			if mf.json && pcap == nil {
				writeStatsJSON(out, e.Stats)
			} else if grew {
				fmt.Fprintf(errw, "monitor: %d frames dropped so far (this monitor fell behind; the switch's tenants lost nothing; --buffer to hold more)\n", e.Stats.Dropped)
			}
		}
	}
	out.Flush()
	if pcap != nil {
		if err := pcap.Flush(); err != nil {
			return err
		}
	}
	switch {
	case ended:
		fmt.Fprintf(errw, "%d frames shown, %d dropped by the monitor, of %d selected\n", shown, last.Dropped, last.Passed)
	default:
		fmt.Fprintf(errw, "%d frames shown (--count), %d dropped by the monitor so far\n", shown, last.Dropped)
	}
	return nil
}

// monitorFlagError names the flag of a request error.
func monitorFlagError(err error) error {
	var msg = err.Error()
	for _, f := range [][2]string{{"request: tenants: ", "--tenant "}, {"request: apids: ", "--apid "}, {"request: direction ", "--direction "}, {"request: buffer ", "--buffer "}} {
		if len(msg) > len(f[0]) && msg[:len(f[0])] == f[0] {
			return errors.New(f[1] + msg[len(f[0]):])
		}
	}
	return err
}

// writeFrameLine writes r as one line: time, peer, direction, type,
// source > destination, length, and for an ERROR its code and the refused
// frame.
func writeFrameLine(w *bufio.Writer, r *apidswitch.TapRecord, withHex bool) {
	f := &r.Frame
	dir := "in "
	if r.Out {
		dir = "out"
	}
	fmt.Fprintf(w, "%s %-10s %s %-7s %v > %v len %d", r.Time.Format("15:04:05.000000"), r.Tenant, dir, f.Type(), f.APID(), f.Dest(), f.PayloadLen())
	if f.Type() == frame.Error {
		if p, err := frame.ParseErrorPayload(f.Payload()); err == nil {
			fmt.Fprintf(w, " %s (refused %v from 0x%03X)", p.Code.String(), frame.Type(p.OffendingType), p.OffendingAPID)
		}
	}
	if withHex {
		fmt.Fprintf(w, " payload %x", f.Payload())
	}
	w.WriteByte('\n')
}

// frameJSON is a frame in --json output.
type frameJSON struct {
	Time      time.Time `json:"time"`
	Tenant    string    `json:"tenant"`
	Direction string    `json:"direction"`
	Type      string    `json:"type"`
	APID      uint16    `json:"apid"`
	Dest      uint16    `json:"dest"`
	Length    uint16    `json:"length"`
	Payload   string    `json:"payload"`
	Error     string    `json:"error,omitempty"`
}

func writeFrameJSON(w io.Writer, r *apidswitch.TapRecord) error {
	f := &r.Frame
	j := frameJSON{Time: r.Time, Tenant: r.Tenant, Direction: "in", Type: f.Type().String(),
		APID: uint16(f.APID()), Dest: uint16(f.Dest()), Length: f.PayloadLen(), Payload: hex.EncodeToString(f.Payload())}
	if r.Out {
		j.Direction = "out"
	}
	if f.Type() == frame.Error {
		if p, err := frame.ParseErrorPayload(f.Payload()); err == nil {
			j.Error = p.Code.String()
		}
	}
	return json.NewEncoder(w).Encode(j)
}

func writeStatsJSON(w io.Writer, st apidswitch.TapStats) error {
	return json.NewEncoder(w).Encode(map[string]map[string]uint64{"stats": {
		"passed": st.Passed, "delivered": st.Delivered, "dropped": st.Dropped}})
}

// describeRequest says which frames req selects, for the first line.
func describeRequest(req monitor.Request) string {
	s := "every peer"
	if len(req.Tenants) > 0 {
		s = strings.Join(req.Tenants, ",")
	}
	if len(req.APIDs) > 0 {
		s += " APIDs " + strings.Join(req.APIDs, ",")
	}
	if req.Direction != "" && req.Direction != "both" {
		s += " " + req.Direction
	}
	return s + fmt.Sprintf(", buffer %d frames", req.Buffer)
}
