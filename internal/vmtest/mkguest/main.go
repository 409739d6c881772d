// Command mkguest builds the guest image of package vmtest (a Debian kernel
// and a busybox initramfs with the static spacenet programs), cached, and
// prints its kernel and initramfs paths as shell variables. With --socket
// it prints the QEMU command that boots it as a tenant of a running switch
// instead. Run through scripts/guest-image.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"spacenet/internal/vmtest"
)

func main() {
	socket := flag.String("socket", "", "print the QEMU command for a guest whose virtio-serial port \"spacenet\" is carried to this tenant socket")
	run := flag.String("run", "", "with --socket: the shell command the guest runs after boot")
	flag.Parse()
	img, err := vmtest.Build(context.Background(), vmtest.Spec{Programs: map[string]string{
		"spacenet":      "spacenet/cmd/spacenet",
		"camera-server": "spacenet/examples/camera-server",
		"processor":     "spacenet/examples/processor",
	}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkguest:", err)
		os.Exit(1)
	}
	if *socket == "" {
		fmt.Printf("KERNEL=%s\nINITRD=%s\n", img.Kernel, img.Initrd)
		return
	}
	cfg := vmtest.VMConfig{Image: img, Run: *run, Ports: []vmtest.Port{{Name: "spacenet", Socket: *socket}}}
	args := cfg.Args()
	for i, a := range args {
		if strings.ContainsAny(a, " ,=") && i > 0 && args[i-1] == "-append" {
			args[i] = "'" + a + "'"
		}
	}
	fmt.Println(vmtest.QEMU + " " + strings.Join(args, " "))
}
