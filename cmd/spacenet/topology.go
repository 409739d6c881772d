package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"spacenet/apid/policy"
	"spacenet/apid/sockdir"
	"spacenet/ip/lan"
	"spacenet/ops/control"
	"spacenet/ops/topology"
)

// livePolicy reads the running switch's policy from its control socket at
// path and, from a second snapshot interval later, a note per node (frames
// per second in and out, and frames dropped so far) and per edge (frames
// per second on it).
func livePolicy(path string, interval time.Duration) (*policy.Policy, map[string]string, error) {
	if interval < 10*time.Millisecond {
		return nil, nil, usageError("--interval %s: at least 10ms", interval)
	}
	fetch := func() (*control.APID, error) {
		var s control.APID
		if _, err := fetchSnapshot(nil, path, "apid", "spacenet lan status", &s, asText); err != nil {
			if errors.Is(err, control.ErrNoServer) {
				return nil, &exitError{code: exitNoSwitch, err: err}
			}
			return nil, err
		}
		return &s, nil
	}
	a, err := fetch()
	if err != nil {
		return nil, nil, err
	}
	time.Sleep(interval) // the rates' interval, not a synchronisation
	b, err := fetch()
	if err != nil {
		return nil, nil, err
	}
	pol, err := b.PolicyInForce()
	if err != nil {
		return nil, nil, err
	}
	d := b.Since(a)
	notes := map[string]string{}
	for _, t := range append(b.Tenants, b.Ground) {
		in, out := d.TenantRates(&t)
		notes[t.Name] = fmt.Sprintf("in %s/s, out %s/s, dropped %d", in, out, t.DroppedTotal)
	}
	edgeNotes(notes, d)
	return pol, notes, nil
}

var topologyFlags struct {
	config, format, output string
	live                   bool
	socketDir              string
	interval               time.Duration
}

var topologyCmd = &cobra.Command{
	Use:   "topology",
	Short: "Draw the APID policy as a Graphviz graph (DOT, or SVG through Graphviz's dot)",
	Long: `topology draws the policy (--config, or the built-in v0 topology): a box per
tenant with the APID ranges it owns, the ground with its APIDs, and an arrow
for each "may send to": tenant to tenant (can_send_to; labelled with the
ranges when only part of the destination is reachable), tenant to ground
(downlink = true, dashed) and ground to tenant (the ground's can_send_to,
dashed). It draws what the policy permits. With --live it draws the policy
in force in the running switch (its control socket, SOCKET-DIR/.control) and
adds to each node its frames per second in and out and its frames dropped,
and to each arrow the frames per second on it (the switch counts per pair),
from two snapshots --interval apart.

--format svg runs Graphviz's dot (Debian package graphviz). Exit status: 0
drawn; 1 the policy file was refused or dot failed; 2 usage error; 3 --live
and no switch answers.`,
	Example: `  spacenet topology | dot -Tpng > policy.png
  spacenet topology --config apid/policy/testdata/v0.toml --format svg -o policy.svg
  spacenet topology --live --format svg -o now.svg`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, _ []string) error {
		tf := topologyFlags
		if tf.format != "dot" && tf.format != "svg" {
			return usageError("--format %q: want dot or svg", tf.format)
		}
		var pol *policy.Policy
		var notes map[string]string
		var err error
		if tf.live {
			if tf.config != "" {
				return usageError("--live draws the policy of the running switch: no --config")
			}
			pol, notes, err = livePolicy(control.Path(tf.socketDir), tf.interval)
		} else {
			pol, err = loadPolicy(tf.config)
		}
		if err != nil {
			return err
		}
		var b bytes.Buffer
		topology.WriteDOT(&b, pol, notes)
		return writeGraph(cmd, b.Bytes(), tf.format, tf.output)
	},
}

var lanTopologyFlags struct {
	config, socketDir, format, output string
}

var lanTopologyCmd = &cobra.Command{
	Use:   "topology",
	Short: "Draw the virtual LAN's configuration as a Graphviz graph (DOT, or SVG through dot)",
	Long: `topology draws the LAN configuration (--config, or the default one for
--socket-dir): an ellipse per tenant, a box per port (its kind, its socket or
interface, its locks: MAC, IPs, sticky) tied to its tenant, and an arrow for
each tenant that may send frames to another (the tenants table; without
one, every tenant reaches every other). --format and -o as for spacenet
topology.`,
	Example: `  spacenet lan topology --format svg -o lan.svg
  spacenet lan topology --config lan.toml | dot -Tpng > lan.png`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, _ []string) error {
		tf := lanTopologyFlags
		if tf.format != "dot" && tf.format != "svg" {
			return usageError("--format %q: want dot or svg", tf.format)
		}
		c := lan.DefaultConfig(tf.socketDir)
		if tf.config != "" {
			var err error
			if c, err = lan.LoadConfig(tf.config); err != nil {
				return err
			}
		}
		var b bytes.Buffer
		topology.WriteLANDOT(&b, c)
		return writeGraph(cmd, b.Bytes(), tf.format, tf.output)
	},
}

// writeGraph writes dot, or its SVG, to output (standard output if "" or
// "-").
func writeGraph(cmd *cobra.Command, dot []byte, format, output string) error {
	out := dot
	if format == "svg" {
		var err error
		if out, err = topology.SVG(dot); err != nil {
			return err
		}
	}
	if output == "" || output == "-" {
		_, err := cmd.OutOrStdout().Write(out)
		return err
	}
	return os.WriteFile(output, out, 0o644)
}

func init() {
	f := topologyCmd.Flags()
	f.StringVar(&topologyFlags.config, "config", "", "policy file (TOML); default: the built-in v0 topology")
	f.StringVar(&topologyFlags.format, "format", "dot", "dot or svg")
	f.StringVarP(&topologyFlags.output, "output", "o", "", "write to this file instead of standard output")
	f.BoolVar(&topologyFlags.live, "live", false, "draw the running switch's policy, each node with its frames/s in and out")
	f.StringVar(&topologyFlags.socketDir, "socket-dir", sockdir.Default(), "with --live: the switch's socket directory, as given to run")
	f.DurationVar(&topologyFlags.interval, "interval", time.Second, "with --live: time between the two snapshots the rates come from")
	rootCmd.AddCommand(topologyCmd)

	f = lanTopologyCmd.Flags()
	f.StringVar(&lanTopologyFlags.config, "config", "", "LAN configuration file (TOML); default: one qemu-stream port per v0 tenant")
	f.StringVar(&lanTopologyFlags.socketDir, "socket-dir", lan.DefaultDir, "socket directory of the default configuration")
	f.StringVar(&lanTopologyFlags.format, "format", "dot", "dot or svg")
	f.StringVarP(&lanTopologyFlags.output, "output", "o", "", "write to this file instead of standard output")
	lanCmd.AddCommand(lanTopologyCmd)
}
