package main

import (
	"bytes"
	"os"

	"github.com/spf13/cobra"

	"spacenet/topology"
)

var topologyFlags struct {
	config, format, output string
}

var topologyCmd = &cobra.Command{
	Use:   "topology",
	Short: "Draw the APID policy as a Graphviz graph (DOT, or SVG through Graphviz's dot)",
	Long: `topology draws the policy (--config, or the built-in v0 topology): a box per
tenant with the APID ranges it owns, the ground with its APIDs, and an arrow
for each "may send to": tenant to tenant (can_send_to; labelled with the
ranges when only part of the destination is reachable), tenant to ground
(uplink = true, dashed) and ground to tenant (the ground's can_send_to,
dashed). It draws what the policy permits; the switch counts per sender,
not per pair, so arrows carry no rates (spacenet status has the rates).

--format svg runs Graphviz's dot (Debian package graphviz). Exit status: 0
drawn; 1 the policy file was refused or dot failed; 2 usage error.`,
	Example: `  spacenet topology | dot -Tpng > policy.png
  spacenet topology --config policy/testdata/v0.toml --format svg -o policy.svg`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, _ []string) error {
		tf := topologyFlags
		if tf.format != "dot" && tf.format != "svg" {
			return usageError("--format %q: want dot or svg", tf.format)
		}
		pol, err := loadPolicy(tf.config)
		if err != nil {
			return err
		}
		var b bytes.Buffer
		topology.WriteDOT(&b, pol)
		out := b.Bytes()
		if tf.format == "svg" {
			if out, err = topology.SVG(out); err != nil {
				return err
			}
		}
		if tf.output == "" || tf.output == "-" {
			_, err = cmd.OutOrStdout().Write(out)
			return err
		}
		return os.WriteFile(tf.output, out, 0o644)
	},
}

func init() {
	f := topologyCmd.Flags()
	f.StringVar(&topologyFlags.config, "config", "", "policy file (TOML); default: the built-in v0 topology")
	f.StringVar(&topologyFlags.format, "format", "dot", "dot or svg")
	f.StringVarP(&topologyFlags.output, "output", "o", "", "write to this file instead of standard output")
	rootCmd.AddCommand(topologyCmd)
}
