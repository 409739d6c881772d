// Package plane runs the APID plane of one computer as one thing: the APID
// switch (package apidswitch), its ground links (package uplink: the
// downlink that takes ground-bound frames, the listener that injects the
// ground's commands) and its DTN link to remote switches (package dtn),
// opened together, run under one Run(ctx) and counted in one report. It is
// what `spacenet run` runs.
//
// It is not the switch (routing, policy and tenants' sockets are
// apidswitch's), it reads no files and catches no signals: reloading a
// policy file and stopping on a signal are the caller's.
package plane

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"spacenet/apid/apidswitch"
	"spacenet/apid/dtn"
	"spacenet/apid/frame"
	"spacenet/apid/uplink"
)

// Config is the switch's configuration and the addresses of its ground
// links.
type Config struct {
	// Switch configures the switch. Its Downlink is set by Open when
	// Downlink is given; its Layout and Logger serve the ground links too.
	Switch apidswitch.Config
	// Downlink, if not empty, is where ground-bound frames go:
	// udp://HOST:PORT, tcp://HOST:PORT or tcp-listen://HOST:PORT
	// (uplink.OpenDownlink). Without it such frames are refused (No_route).
	Downlink string
	// UplinkListen, if not empty, is where the ground's commands arrive:
	// udp://HOST:PORT or tcp://HOST:PORT (uplink.Listen).
	UplinkListen string
	// DTN, if not nil, carries frames for the policy's remotes as bundles
	// (and, with DTNGround, the ground's frames too, instead of Downlink).
	DTN       *dtn.Link
	DTNGround bool
}

// Plane is a switch with its ground links open.
type Plane struct {
	Switch   *apidswitch.Switch
	Downlink uplink.GroundDownlink // nil without Config.Downlink
	Uplink   *uplink.Listener      // nil without Config.UplinkListen
	DTN      *dtn.Link             // nil without Config.DTN

	log *slog.Logger
	ran bool // Run was called: it closed the uplink's socket
}

// Open opens the downlink, builds the switch and binds the uplink's
// socket; the switch listens on its tenants' sockets once Run runs. On
// error nothing stays open.
func Open(cfg Config) (*Plane, error) {
	log := cfg.Switch.Logger
	if log == nil {
		log = slog.Default()
	}
	p := &Plane{log: log, DTN: cfg.DTN}
	layout := cfg.Switch.Layout.String()
	if cfg.DTNGround && (cfg.DTN == nil || cfg.Downlink != "") {
		return nil, fmt.Errorf("plane: the ground over DTN needs a DTN link and no Downlink")
	}
	if cfg.DTN != nil {
		cfg.Switch.Remote = cfg.DTN
		if cfg.DTNGround {
			cfg.Switch.DownlinkFrames = cfg.DTN
		}
	}
	if cfg.Downlink != "" {
		d, err := uplink.OpenDownlink(cfg.Downlink)
		if err != nil {
			return nil, err
		}
		cfg.Switch.Downlink, p.Downlink = d, d
		log.Info("ground downlink", "to", cfg.Downlink, "layout", layout)
	}
	sw, err := apidswitch.New(cfg.Switch)
	if err != nil {
		p.Close()
		return nil, err
	}
	p.Switch = sw
	if p.Downlink != nil {
		p.Downlink.SetRefused(sw.DownlinkRefused) // the ground refused a packet: answer its sender
	}
	if cfg.UplinkListen != "" {
		l, err := uplink.Listen(cfg.UplinkListen, uplink.ListenConfig{Layout: cfg.Switch.Layout, Ground: sw.GroundAPID, Inject: sw.Inject, Logger: log})
		if err != nil {
			p.Close()
			return nil, err
		}
		p.Uplink = l
		log.Info("ground uplink listening", "addr", l.Addr().String(), "layout", layout)
	}
	return p, nil
}

// Ready is closed once the switch listens on every tenant's socket.
func (p *Plane) Ready() <-chan struct{} { return p.Switch.Ready() }

// Run runs the switch and serves the uplink until ctx is done or either
// fails, then stops both and returns the first failure (nil if ctx ended
// it). The uplink failing stops the switch rather than run it half
// connected. Call it once; the counters stay readable after it returns.
func (p *Plane) Run(ctx context.Context) error {
	p.ran = true
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	swDone := make(chan error, 1)
	go func() { swDone <- p.Switch.Run(ctx) }()
	if p.DTN != nil {
		dtnDone := make(chan struct{})
		defer p.stopDTN(cancel, dtnDone)
		go func() {
			defer close(dtnDone)
			select {
			case <-p.Switch.Ready():
				p.DTN.Run(ctx, p.Switch)
			case <-ctx.Done(): // the switch failed before it was ready
			}
		}()
	}
	if p.Uplink == nil {
		return <-swDone
	}
	upDone := make(chan error, 1)
	go func() { upDone <- p.Uplink.Serve(ctx) }()
	select {
	case err := <-swDone:
		cancel()
		if e := <-upDone; e != nil {
			p.log.Error("ground uplink", "err", e)
		}
		return err
	case err := <-upDone:
		cancel()
		swErr := <-swDone
		if err != nil {
			return err
		}
		return swErr
	}
}

// stopDTN ends the DTN link with Run, waits for it (done) and logs its
// counters.
func (p *Plane) stopDTN(cancel context.CancelFunc, done <-chan struct{}) {
	cancel()
	<-done
	st := p.DTN.Stats()
	p.log.Info("dtn link stopped", "bundles_sent", st.BundlesSent, "frames_sent", st.FramesSent, "copies", st.Copies,
		"frames_delivered", st.FramesDelivered, "frames_expired", st.FramesExpired, "refused", st.Refused,
		"frames_in", st.FramesIn, "duplicates", st.Duplicates, "gaps", st.Gaps, "malformed", st.Malformed, "in_flight", st.InFlight)
}

// Close closes the downlink, and the uplink's socket if Run never ran.
func (p *Plane) Close() error {
	if p.Uplink != nil && !p.ran {
		done, cancel := context.WithCancel(context.Background())
		cancel()
		p.Uplink.Serve(done) // returns at once, closing the socket
	}
	if p.Downlink != nil {
		return p.Downlink.Close()
	}
	return nil
}

// Report writes one line per tenant, then the ground's, then the ground
// links' counters if there are any.
func (p *Plane) Report(w io.Writer) {
	sw := p.Switch
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
	deliveredRemote(w, all)
	if p.Downlink != nil {
		fmt.Fprintf(w, "downlink: %s send_failures=%d unattributed=%d\n",
			p.Downlink.Summary(), sw.DownlinkFailures(), sw.DownlinkRefusedUnknown())
	}
	if p.Uplink != nil {
		s := p.Uplink.Stats()
		fmt.Fprintf(w, "uplink: received=%d injected=%d idle=%d refused=%d bad_checksum=%d undeliverable=%d conns_refused=%d\n",
			s.Received, s.Injected, s.Idle, s.Refused, s.Checksum, s.Undeliverable, s.ConnsRefused)
	}
}

// reasons is a tenant's drops as "REASON=N,...", "-" when none.
func reasons(c *apidswitch.Counters) string {
	var parts []string
	for code, n := range c.Dropped {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", frame.ErrorCode(code).String(), n))
		}
	}
	if c.SkippedBytes > 0 { // resync: bytes, not frames
		parts = append(parts, fmt.Sprintf("skipped_bytes=%d", c.SkippedBytes))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

// deliveredRemote prints, when any tenant sent to a remote, how many
// frames each handed to the DTN link (the table's DELIVERED, SYSTEM and
// GROUND columns do not count them).
func deliveredRemote(w io.Writer, all []apidswitch.Counters) {
	var parts []string
	for _, c := range all {
		if c.DeliveredRemote > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", c.Tenant, c.DeliveredRemote))
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "delivered_remote: %s\n", strings.Join(parts, " "))
	}
}
