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
	"time"

	"github.com/spf13/cobra"

	"spacenet/apidswitch"
	"spacenet/ccsds"
	"spacenet/frame"
	"spacenet/uplink"
)

var injectFlags struct {
	typ, apid, dest     string
	payload, payloadHex string
	socket, downlink    string
	device              string
	tenant, socketDir   string
	wait                time.Duration
}

var injectCmd = &cobra.Command{
	Use:   "inject",
	Short: "Send one frame to the switch as a guest and print what comes back",
	Long: `inject connects to a tenant's socket as that guest (which replaces the
guest's connection and bumps its generation), sends one frame and, with
--wait, prints every frame the switch sends back within that time: ERROR
frames decoded, others as header and payload. It exits with status 1 if an
ERROR frame came back.

--tenant NAME connects to <socket-dir>/NAME.sock, where --socket-dir has the
same default as in spacenet run; --socket names a socket file instead.
Inside a guest VM, --device names the virtio-serial port (or serial tty,
put in raw mode) that QEMU carries to the tenant's socket.
With --downlink, the frame comes from the ground: it is wrapped as one CCSDS
Space Packet (sequence count 0) and sent as one UDP datagram to the
switch's --downlink-listen address.

  spacenet inject --type TM --apid 0x010 --dest 0x020 --payload hello \
      --tenant camera --wait 200ms`,
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
	f.StringVar(&injectFlags.tenant, "tenant", "", "connect as this tenant, to <socket-dir>/<tenant>.sock")
	f.StringVar(&injectFlags.socketDir, "socket-dir", apidswitch.DefaultSocketDir(), "with --tenant: the switch's socket directory (the default of spacenet run)")
	f.StringVar(&injectFlags.socket, "socket", "", "instead of --tenant: the guest's socket file, e.g. /run/spacenet/camera.sock")
	f.StringVar(&injectFlags.downlink, "downlink", "", "instead of --tenant or --socket: send the frame from the ground, as one CCSDS packet to the switch's --downlink-listen udp://HOST:PORT")
	f.StringVar(&injectFlags.device, "device", "", "inside a guest VM, instead of --tenant: its virtio-serial port or serial tty, e.g. /dev/virtio-ports/spacenet")
	f.DurationVar(&injectFlags.wait, "wait", 0, "how long to wait for frames back (0: do not wait; not with --downlink)")
	injectCmd.MarkFlagRequired("apid")
	injectCmd.MarkFlagsOneRequired("tenant", "socket", "downlink", "device")
	injectCmd.MarkFlagsMutuallyExclusive("tenant", "socket", "downlink", "device")
	rootCmd.AddCommand(injectCmd)
}

func runInject(cmd *cobra.Command, _ []string) error {
	fl := injectFlags
	typ, err := frame.ParseType(fl.typ)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	src, err := frame.ParseAPID(fl.apid)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("--apid: %w", err)}
	}
	dst, err := frame.ParseAPID(fl.dest)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("--dest: %w", err)}
	}
	payload := []byte(fl.payload)
	if fl.payloadHex != "" {
		if fl.payload != "" {
			return &exitError{code: 2, err: errors.New("give --payload or --payload-hex, not both")}
		}
		if payload, err = hex.DecodeString(fl.payloadHex); err != nil {
			return &exitError{code: 2, err: fmt.Errorf("--payload-hex: %w", err)}
		}
	}
	var f frame.Frame
	if err := frame.Encode(&f, typ, src, dst, payload); err != nil {
		return &exitError{code: 2, err: err}
	}
	if fl.downlink != "" {
		if fl.wait > 0 {
			// The ground gets nothing back through the downlink: an ERROR
			// for a refused injection is counted by the switch, not sent.
			return &exitError{code: 2, err: fmt.Errorf("--wait does not apply to --downlink: the switch answers the ground with counters, not frames")}
		}
		return injectDownlink(cmd.OutOrStdout(), &f, fl.downlink)
	}
	if fl.tenant == "" && cmd.Flags().Changed("socket-dir") {
		return &exitError{code: 2, err: errors.New("--socket-dir goes with --tenant")}
	}
	path := fl.socket
	if fl.tenant != "" {
		if fl.tenant != filepath.Base(fl.tenant) || strings.HasPrefix(fl.tenant, ".") {
			return &exitError{code: 2, err: fmt.Errorf("--tenant %q: want a tenant name, not a path", fl.tenant)}
		}
		path = filepath.Join(fl.socketDir, fl.tenant+".sock")
	}
	var g *apidswitch.Guest
	if fl.device != "" {
		g, err = apidswitch.OpenDevice(fl.device)
	} else {
		g, err = apidswitch.Dial(path)
	}
	if err != nil {
		return err
	}
	defer g.Close()
	if err := g.WriteFrame(&f); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "sent %s from %v to %v, %d payload bytes\n", typ, src, dst, len(payload))
	if fl.wait <= 0 {
		return nil
	}
	g.SetReadDeadline(time.Now().Add(fl.wait))
	sawError := false
	var in [16]frame.Frame
	for {
		n, err := g.ReadFrames(in[:])
		for i := range in[:n] {
			printFrame(out, &in[i])
			sawError = sawError || in[i].Type() == frame.Error
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if errors.Is(err, io.EOF) {
				fmt.Fprintln(out, "switch closed the connection")
				break
			}
			return fmt.Errorf("receive: %w", err)
		}
	}
	if sawError {
		return &exitError{code: 1, err: errors.New("the switch refused the frame")}
	}
	return nil
}

func printFrame(w io.Writer, f *frame.Frame) {
	if f.Type() == frame.Error {
		if p, err := frame.ParseErrorPayload(f.Payload()); err == nil {
			fmt.Fprintf(w, "ERROR %s (0x%02X) from %v: offending type %s, apid 0x%03X, payload_length %d\n",
				p.Code.String(), uint8(p.Code), f.APID(), frame.Type(p.OffendingType), p.OffendingAPID, p.OffendingPayLen)
			return
		}
	}
	if f.Type() == frame.Health && f.APID() == apidswitch.APIDHealth {
		if h, err := apidswitch.ParseHealth(f.Payload()); err == nil {
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

// injectDownlink sends f from the ground to a switch's downlink listener.
func injectDownlink(w io.Writer, f *frame.Frame, url string) error {
	addr, err := uplink.ParseURL(url)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	var pkt [ccsds.MaxPacketSize]byte
	n, err := ccsds.Wrap(pkt[:], f, 0)
	if err != nil {
		return err
	}
	c, err := net.DialUDP("udp", nil, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write(pkt[:n]); err != nil {
		return fmt.Errorf("send to %s: %w", url, err)
	}
	fmt.Fprintf(w, "sent %s from %v to %v as a %d-octet CCSDS packet to %s\n", f.Type(), f.APID(), f.Dest(), n, addr)
	return nil
}
