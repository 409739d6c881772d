package main

import (
	"log/slog"

	"github.com/spf13/pflag"

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
