package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"spacenet/apid/dtn/dtnbench"
	"spacenet/internal/dtntest"
)

func init() {
	var (
		c    dtnbench.Config
		dtnd string
	)
	cmd := &cobra.Command{
		Use:   "dtn",
		Short: "Frames/s and round trip across two switches joined by two dtnds, vs the switch alone and dtnd alone",
		Long: `Starts two dtnds (dtn7-go v0.9.1, built by scripts/dtnd.sh; TCPCLv4 between
them on loopback) and, per round, two APID switches whose DTN links dial them:
camera on A sends --frames frames flat out to processor on B at each --batch
(the link's most frames per bundle), each frame checked in order at B and
counted on both switches; then --pings round trips of one frame A->B->A.
In the same run it measures the same frames through one switch alone, and
dtnd alone: a one-frame bundle A->B->A through the two dtnds' web agents with
no switch. Prints the median of --runs rounds.`,
		Example: `  spacenet bench dtn
  spacenet bench dtn --frames 3000 --batch 1,16,64,256 --pings 300 --runs 3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c.Dtnd, c.Out = dtnd, cmd.OutOrStdout()
			_, err := dtnbench.Run(c)
			switch {
			case errors.Is(err, dtntest.ErrNotBuilt):
				return &exitError{code: exitFailure, err: fmt.Errorf("bench dtn: %w (it builds ~/.cache/spacenet-dtnd/dtnd; or give --dtnd PATH or $SPACENET_DTND)", err)}
			case err != nil:
				return &exitError{code: exitFailure, err: fmt.Errorf("bench dtn: %w", err)}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&c.Frames, "frames", 2000, "frames camera@A -> processor@B per round and batch size")
	cmd.Flags().IntVar(&c.LocalFrames, "local-frames", 200000, "frames per round through the switch alone")
	cmd.Flags().IntSliceVar(&c.Batches, "batch", []int{1, 16, 64, 256}, "the links' most frames per bundle, each measured")
	cmd.Flags().IntVar(&c.Pings, "pings", 300, "round trips per round and path")
	cmd.Flags().IntVar(&c.Runs, "runs", 3, "rounds (the median is printed)")
	cmd.Flags().StringVar(&dtnd, "dtnd", "", "dtnd binary (default: $SPACENET_DTND, ~/.cache/spacenet-dtnd/dtnd, or dtnd on $PATH)")
	benchCmd.AddCommand(cmd)
}
