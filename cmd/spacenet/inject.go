package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"spacenet/apid/ccsds"
	"spacenet/apid/frame"
	"spacenet/apid/guest"
	"spacenet/apid/sockdir"
	"spacenet/apid/sysmsg"
	"spacenet/apid/uplink"
)

var injectFlags struct {
	typ, apid, dest     string
	payload, payloadHex string
	socket, uplink      string
	layout              string
	device              string
	tenant, socketDir   string
	wait                time.Duration
	replace             bool
}

var injectCmd = &cobra.Command{
	Use:   "inject",
	Short: "Send one frame to the switch as a guest and print what comes back",
	Long: `inject connects to a tenant's socket as that guest, sends one frame and,
with --wait, prints every frame the switch sends back within that time:
ERROR frames decoded, others as header and payload.

Connecting as a tenant replaces that tenant's connection: the switch drops
the guest that was connected (its server exits, its callers hang). So
inject first asks the kernel (not the switch) whether a guest holds a live
connection on the socket, and refuses with status 5 if one does, unless
--replace is given. The check and the connect are two steps: a guest that
connects in between is still replaced. There is no read-only monitor: the
switch offers no way to watch a tenant's traffic without becoming it.

--tenant NAME connects to SOCKET-DIR/NAME.sock, where --socket-dir has the
same default as in spacenet run; --socket names a socket file instead.
With --uplink, the frame comes from the ground: it is sent as one CCSDS
Space Packet (sequence count 0) in one UDP datagram to the switch's
--uplink-listen address, in the --layout the switch uses (plain: a TC
packet to --dest carrying the payload; cfs: the same with cFE's secondary
header, the function code being the payload's first byte; spacenet: the
whole frame). UDP carries no answer, but a port nobody listens on makes
the kernel send back an ICMP refusal (and an unreachable host or network,
an ICMP error of its own): inject reads its socket for up to 250ms after
sending and, if such an error arrives, says so and exits with status 3. Without one it says the packet was handed to the network, not
that the switch took it (its "ground" counters say that).

What inject prints is what it knows: without --wait, that the frame was
handed to the switch (written to the socket); the switch may still refuse
it (a destination not allowed, a full queue, a ground link that fails),
and its ERROR frame comes back to the tenant's socket, which only --wait
reads. With --wait, every frame back within that time, and whether an
ERROR was among them.
Inside a guest VM, --device names the virtio-serial port (or serial tty,
put in raw mode) that QEMU carries to the tenant's socket.

APIDs are hex with 0x (0x010) or decimal (16); a leading 0 is refused
(is 010 octal, decimal or hex?).

Exit status: 0 handed to the switch (and, with --wait, no ERROR back within
that time; with --uplink, no ICMP refusal); 2 usage error; 3 cannot reach
the switch (with --uplink: an ICMP refusal or error came back); 4 the switch refused
the frame (the ERROR code is printed); 5 the tenant's guest is connected
and --replace was not given.`,
	Example: `  # as the camera, a TM frame to the processor; print what comes back
  spacenet inject --type TM --apid 0x010 --dest 0x020 --payload hello --tenant camera --wait 200ms

  # ask the switch's health service (every tenant's connected flag)
  spacenet inject --type HEALTH --apid 0x020 --dest 0x001 --tenant processor --wait 200ms

  # from the ground, to a switch run with --uplink-listen udp://127.0.0.1:10001
  spacenet inject --type TC --apid 0x7F0 --dest 0x020 --payload "from ground" --uplink udp://127.0.0.1:10001`,
	Args: cobra.NoArgs,
	RunE: runInject,
}

func init() {
	f := injectCmd.Flags()
	f.StringVar(&injectFlags.typ, "type", "TM", "frame type: TM, TC, EVR, PRM_GET, PRM_SET, PRM_RSP, DP, HEALTH, LOG, ERROR or a number")
	f.StringVar(&injectFlags.apid, "apid", "", "source APID, e.g. 0x010 (required)")
	f.StringVar(&injectFlags.dest, "dest", "0x000", "destination APID (0x000: to the ground)")
	f.StringVar(&injectFlags.payload, "payload", "", "payload text")
	f.StringVar(&injectFlags.payloadHex, "payload-hex", "", "payload as hex bytes (instead of --payload)")
	f.StringVar(&injectFlags.tenant, "tenant", "", "connect as this tenant, to SOCKET-DIR/TENANT.sock")
	f.StringVar(&injectFlags.socketDir, "socket-dir", sockdir.Default(), "with --tenant: the switch's socket directory (the default of spacenet run)")
	f.StringVar(&injectFlags.socket, "socket", "", "instead of --tenant: the guest's socket file, e.g. /run/spacenet/camera.sock")
	f.StringVar(&injectFlags.uplink, "uplink", "", "instead of --tenant or --socket: send the frame from the ground, as one CCSDS packet to the switch's --uplink-listen udp://HOST:PORT")
	f.StringVar(&injectFlags.layout, "layout", "plain", "with --uplink: the packet layout, plain, cfs or spacenet (as the switch's --layout)")
	f.StringVar(&injectFlags.device, "device", "", "inside a guest VM, instead of --tenant: its virtio-serial port or serial tty, e.g. /dev/virtio-ports/spacenet")
	f.DurationVar(&injectFlags.wait, "wait", 0, "how long to wait for frames back (0: do not wait; not with --uplink)")
	f.BoolVar(&injectFlags.replace, "replace", false, "connect even if the tenant's guest is connected (the switch drops that guest)")
	injectCmd.RegisterFlagCompletionFunc("type", cobra.FixedCompletions(frameTypeNames(), cobra.ShellCompDirectiveNoFileComp))
	injectCmd.RegisterFlagCompletionFunc("tenant", completeTenants)
	injectCmd.MarkFlagRequired("apid")
	injectCmd.MarkFlagsOneRequired("tenant", "socket", "uplink", "device")
	injectCmd.MarkFlagsMutuallyExclusive("tenant", "socket", "uplink", "device")
	rootCmd.AddCommand(injectCmd)
}

func runInject(cmd *cobra.Command, _ []string) error {
	fl := injectFlags
	typ, err := parseTypeFlag(fl.typ)
	if err != nil {
		return err
	}
	src, err := parseAPIDFlag("apid", fl.apid)
	if err != nil {
		return err
	}
	dst, err := parseAPIDFlag("dest", fl.dest)
	if err != nil {
		return err
	}
	payload := []byte(fl.payload)
	if fl.payloadHex != "" {
		if fl.payload != "" {
			return usageError("give --payload or --payload-hex, not both")
		}
		if payload, err = hex.DecodeString(fl.payloadHex); err != nil {
			return usageError("--payload-hex %q: want pairs of hex digits such as 68656c6c6f", fl.payloadHex)
		}
	}
	var f frame.Frame
	if err := frame.Encode(&f, typ, src, dst, payload); err != nil {
		if len(payload) > frame.MaxPayload {
			return usageError("payload of %d bytes: a frame holds at most %d", len(payload), frame.MaxPayload)
		}
		return &exitError{code: exitUsage, err: err}
	}
	if fl.uplink != "" {
		if fl.wait > 0 {
			// The ground gets nothing back through the uplink: an ERROR
			// for a refused injection is counted by the switch, not sent.
			return usageError("--wait does not apply to --uplink: the switch answers the ground with counters, not frames")
		}
		if fl.replace {
			return usageError("--replace does not apply to --uplink: the ground replaces no guest")
		}
		layout, err := ccsds.ParseLayout(fl.layout)
		if err != nil {
			return &exitError{code: 2, err: fmt.Errorf("--layout: %w", err)}
		}
		return injectUplink(cmd.OutOrStdout(), &f, layout, fl.uplink)
	}
	if fl.tenant == "" && cmd.Flags().Changed("socket-dir") {
		return usageError("--socket-dir goes with --tenant")
	}
	path := fl.socket
	if fl.tenant != "" {
		if fl.tenant != filepath.Base(fl.tenant) || strings.HasPrefix(fl.tenant, ".") {
			return usageError("--tenant %q: want a tenant name, not a path", fl.tenant)
		}
		path = filepath.Join(fl.socketDir, fl.tenant+".sock")
	}
	var g *guest.Conn
	if fl.device != "" {
		g, err = guest.OpenDevice(fl.device)
	} else {
		if err := checkNoGuest(path, fl.replace); err != nil {
			return err
		}
		g, err = guest.Dial(path)
	}
	if err != nil {
		return unreachable(path, err)
	}
	defer g.Close()
	if err := g.WriteFrame(&f); err != nil {
		return fmt.Errorf("send to %s: %v", path, errnoText(err))
	}
	out := cmd.OutOrStdout()
	sent := fmt.Sprintf("handed to the switch: %s from %v to %v, %d payload bytes", typ, src, dst, len(payload))
	if fl.wait <= 0 {
		fmt.Fprintf(out, "%s (not waiting: the switch may still refuse it; --wait 200ms prints its ERROR)\n", sent)
		return nil
	}
	fmt.Fprintf(out, "%s; reading what comes back for %v\n", sent, fl.wait)
	g.SetReadDeadline(time.Now().Add(fl.wait))
	var refused []string
	var in [16]frame.Frame
	for {
		n, err := g.ReadFrames(in[:])
		for i := range in[:n] {
			printFrame(out, &in[i])
			if in[i].Type() == frame.Error {
				refused = append(refused, errorCodeOf(&in[i]))
			}
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if errors.Is(err, io.EOF) {
				fmt.Fprintln(out, "switch closed the connection")
				break
			}
			return fmt.Errorf("receive from %s: %v", path, errnoText(err))
		}
	}
	if len(refused) > 0 {
		return &exitError{code: exitRefused, err: fmt.Errorf("the switch refused the frame: %s", strings.Join(refused, ", "))}
	}
	fmt.Fprintf(out, "no ERROR back within %v\n", fl.wait)
	return nil
}

// errorCodeOf names the code of an ERROR frame: "Not_permitted (0x03)".
func errorCodeOf(f *frame.Frame) string {
	p, err := frame.ParseErrorPayload(f.Payload())
	if err != nil {
		return "malformed ERROR frame"
	}
	return fmt.Sprintf("%s (0x%02X)", p.Code.String(), uint8(p.Code))
}

func printFrame(w io.Writer, f *frame.Frame) {
	if f.Type() == frame.Error {
		if p, err := frame.ParseErrorPayload(f.Payload()); err == nil {
			fmt.Fprintf(w, "ERROR %s (0x%02X) from %v: offending type %s, apid 0x%03X, payload_length %d\n",
				p.Code.String(), uint8(p.Code), f.APID(), frame.Type(p.OffendingType), p.OffendingAPID, p.OffendingPayLen)
			return
		}
	}
	if f.Type() == frame.Health && f.APID() == sysmsg.APIDHealth {
		if h, err := sysmsg.ParseHealth(f.Payload()); err == nil {
			fmt.Fprintf(w, "HEALTH from %v: uptime %v", f.APID(), h.Uptime)
			for _, t := range h.Tenants {
				fmt.Fprintf(w, ", [%v gen %d connected %v queue %d]", t.FirstAPID, t.Generation, t.Connected, t.QueueLen)
			}
			fmt.Fprintln(w)
			return
		}
	}
	fmt.Fprintf(w, "%s from %v to %v, %d bytes: %q\n", f.Type(), f.APID(), f.Dest(), f.PayloadLen(), f.Payload())
}

// uplinkRefusalWait is how long injectUplink reads its connected UDP socket
// after sending, for the kernel's report of an ICMP port unreachable (the
// address has no listener). On loopback the refusal arrives within
// microseconds; a remote switch needs a round trip. The switch itself
// answers the ground with nothing, so the read ends at the deadline when
// somebody listens.
const uplinkRefusalWait = 250 * time.Millisecond

// uplinkRefusal is what injectUplink's read after sending says: nil when
// it ended at its deadline (nothing came back), else the exitNoSwitch
// error for an ICMP refusal (ECONNREFUSED: nobody listens), another ICMP
// error (host or network unreachable, ...) or a failed read.
func uplinkRefusal(url string, readErr error) error {
	switch {
	case readErr == nil || errors.Is(readErr, os.ErrDeadlineExceeded):
		return nil
	case errors.Is(readErr, syscall.ECONNREFUSED):
		return &exitError{code: exitNoSwitch, err: fmt.Errorf("cannot reach the switch's uplink listener at %s: the packet was refused (ICMP port unreachable: nobody listens there; is the switch running with --uplink-listen %s?)", url, url)}
	default:
		return &exitError{code: exitNoSwitch, err: fmt.Errorf("cannot reach the switch's uplink listener at %s: %s", url, errnoText(readErr))}
	}
}

// injectUplink sends f from the ground to a switch's uplink listener, then
// waits up to uplinkRefusalWait for an ICMP refusal: one is reported as
// exitNoSwitch.
func injectUplink(w io.Writer, f *frame.Frame, layout ccsds.Layout, url string) error {
	addr, err := uplink.ParseURL(url)
	if err != nil {
		return urlUsage("uplink", err)
	}
	var pkt [ccsds.MaxLayoutPacketSize]byte
	n, err := layout.WrapUp(pkt[:], f, 0)
	if err != nil {
		return err
	}
	c, err := net.DialUDP("udp", nil, addr)
	if err != nil {
		return &exitError{code: exitNoSwitch, err: fmt.Errorf("cannot reach the switch's uplink listener at %s: %v", url, errnoText(err))}
	}
	defer c.Close()
	if _, err := c.Write(pkt[:n]); err != nil {
		return &exitError{code: exitNoSwitch, err: fmt.Errorf("cannot reach the switch's uplink listener at %s: %v", url, errnoText(err))}
	}
	// A connected UDP socket gets the ICMP error of a datagram it sent as
	// ECONNREFUSED on its next call; a read with a deadline waits for it.
	c.SetReadDeadline(time.Now().Add(uplinkRefusalWait))
	var b [1]byte
	_, err = c.Read(b[:])
	if err := uplinkRefusal(url, err); err != nil {
		return err
	}
	fmt.Fprintf(w, "handed to the network: %s from %v to %v as a %d-octet %v CCSDS packet to %s; no ICMP refusal within %v (the switch counts what it takes in its \"ground\" row)\n",
		f.Type(), f.APID(), f.Dest(), n, layout, addr, uplinkRefusalWait)
	return nil
}
