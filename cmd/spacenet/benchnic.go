package main

import (
	"github.com/spf13/cobra"

	"spacenet/ip/nic/nicbench"
)

var benchNICFlags struct {
	frames int
	size   int
	batch  int
	veth   bool
}

var benchNICCmd = &cobra.Command{
	Use:   "nic",
	Short: "NIC adapters' frames/s against a baseline without package nic",
	Long: `nic moves --frames Ethernet frames of --size bytes, --batch per Send and
Recv call, through three adapters of package nic, each next to a baseline
measured in the same run:

  pipe         nic.NewPipe (copy in, copy out, bounded ring)
               baseline: a buffered Go channel handing over the frames'
               slices (no copy at all)
  qemu-stream  nic.DialQEMUStream -> nic.ListenQEMUStream over a unix socket
               baseline: the same length-prefixed bytes written and read
               on a plain unix socket pair, same batching, no parsing
  packet       (--veth, root) AF_PACKET on both ends of a new veth pair,
               recvmmsg/sendmmsg with --batch frames per call
               baseline: the same with 1 frame per call

At most 512 frames are in flight, so that no kernel buffer overflows.`,
	Example: `  spacenet bench nic
  spacenet bench nic --size 64 --batch 1
  sudo spacenet bench nic --veth`,
	Args: cobra.NoArgs,
	RunE: runBenchNIC,
}

func init() {
	f := benchNICCmd.Flags()
	f.IntVar(&benchNICFlags.frames, "frames", 500_000, "frames per measurement")
	f.IntVar(&benchNICFlags.size, "size", 1500, "frame size in bytes (14..1514)")
	f.IntVar(&benchNICFlags.batch, "batch", 64, "frames per Send/Recv call")
	f.BoolVar(&benchNICFlags.veth, "veth", false, "also measure AF_PACKET over a veth pair (needs root)")
	benchCmd.AddCommand(benchNICCmd)
}

func runBenchNIC(cmd *cobra.Command, _ []string) error {
	fl := benchNICFlags
	o := nicbench.Options{Frames: fl.frames, Size: fl.size, Batch: fl.batch, Veth: fl.veth, Out: cmd.OutOrStdout()}
	if err := o.Check(); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	return nicbench.Run(o)
}
