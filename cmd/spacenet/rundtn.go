package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/pflag"

	"spacenet/apid/apidswitch"
	"spacenet/apid/dtn"
	"spacenet/apid/policy"
)

// The DTN link of `spacenet run` (docs/dtn.md): frames for the policy's
// remotes go as bundles through a local dtnd.
var dtnFlags struct {
	agent, endpoint, ground string
}

func addDTNFlags(f *pflag.FlagSet) {
	f.StringVar(&dtnFlags.agent, "dtn-agent", "", "dtnd's web agent, HOST:PORT: frames for the policy's [[remote]] APIDs travel as bundles through it")
	f.StringVar(&dtnFlags.endpoint, "dtn-endpoint", "", "this switch's DTN endpoint ID (dtn://NODE/spacenet), registered with --dtn-agent")
	f.StringVar(&dtnFlags.ground, "dtn-ground", "", "a ground station's DTN endpoint ID: the ground link goes as bundles through --dtn-agent (instead of --downlink)")
}

// newDTNLink returns the link the flags ask for, nil without --dtn-agent.
func newDTNLink(pol *policy.Policy, log *slog.Logger) (*dtn.Link, error) {
	switch {
	case dtnFlags.agent == "" && dtnFlags.endpoint == "" && dtnFlags.ground != "":
		return nil, usageError("--dtn-ground needs --dtn-agent and --dtn-endpoint")
	case dtnFlags.agent == "" && dtnFlags.endpoint == "":
		if len(pol.Remotes) > 0 {
			log.Warn("the policy has remotes but no --dtn-agent: frames for them are refused (No_route)")
		}
		return nil, nil
	case dtnFlags.agent == "" || dtnFlags.endpoint == "":
		return nil, usageError("--dtn-agent and --dtn-endpoint go together")
	}
	if err := listenAddrUsage("dtn-agent", dtnFlags.agent); err != nil {
		return nil, err
	}
	if err := dtn.ValidEID(dtnFlags.endpoint); err != nil {
		return nil, usageError("--dtn-endpoint: %v", err)
	}
	if dtnFlags.ground != "" {
		if err := dtn.ValidEID(dtnFlags.ground); err != nil {
			return nil, usageError("--dtn-ground: %v", err)
		}
	}
	return dtn.NewLink(dtn.LinkConfig{Agent: dtnFlags.agent, Endpoint: dtnFlags.endpoint, Ground: dtnFlags.ground, Logger: log})
}

// startDTN runs link (if any) for sw until the returned stop is called or
// ctx ends; stop waits for it and logs its counters.
func startDTN(ctx context.Context, link *dtn.Link, sw dtn.Switch, log *slog.Logger) (stop func()) {
	if link == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	go link.Run(ctx, sw)
	log.Info("dtn link", "agent", dtnFlags.agent, "endpoint", dtnFlags.endpoint, "remotes", len(sw.Policy().Remotes))
	return func() {
		cancel()
		<-link.Done()
		st := link.Stats()
		log.Info("dtn link stopped", "bundles_sent", st.BundlesSent, "frames_sent", st.FramesSent, "copies", st.Copies,
			"frames_delivered", st.FramesDelivered, "frames_expired", st.FramesExpired, "refused", st.Refused,
			"frames_in", st.FramesIn, "duplicates", st.Duplicates, "gaps", st.Gaps, "malformed", st.Malformed, "in_flight", st.InFlight)
	}
}

// printDeliveredRemote prints, when any tenant sent to a remote, how many
// frames each handed to the DTN link (the table's DELIVERED, SYSTEM and
// GROUND columns do not count them).
func printDeliveredRemote(w io.Writer, all []apidswitch.Counters) {
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
