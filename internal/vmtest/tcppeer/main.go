// Command tcppeer is the guest kernel's side of the vmtest TCP tests
// (TestGuestKernelTCPNetem): package internal/tcppeer, whose comment
// says its arguments and what it prints, as a static program for the
// guest's image.
//
//	tcppeer [-deadline D] listen ADDR SIZE
//	tcppeer [-deadline D] dial ADDR SIZE
//	tcppeer [-deadline D] echo ADDR
package main

import (
	"os"

	"spacenet/internal/tcppeer"
)

func main() { os.Exit(tcppeer.Main(os.Args[1:])) }
