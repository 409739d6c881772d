// Command mkguest builds the guest image of package vmtest (a Debian kernel
// and a busybox initramfs with static spacenet, camera-server and
// processor), cached, and prints its kernel and initramfs paths as shell
// variables; with --print it prints the QEMU command of a guest instead,
// with --boot it runs it (the guest's console on this terminal; it ends
// when its --run command does). Run through scripts/guest-image.sh:
//
//	scripts/guest-image.sh --boot --tenant camera --run 'camera-server --device /dev/virtio-ports/spacenet'
//	scripts/guest-image.sh --boot --lan /tmp/space-lan/camera.sock --ip 10.0.0.1 --mac 52:54:00:00:00:01 --run sh
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"spacenet/apid/sockdir"
	"spacenet/internal/vmtest"
)

func main() {
	boot := flag.Bool("boot", false, "boot the guest (QEMU replaces this program)")
	printCmd := flag.Bool("print", false, "print the guest's QEMU command")
	tenant := flag.String("tenant", "", "the guest's virtio-serial port \"spacenet\" is carried to <socket-dir>/<tenant>.sock")
	socketDir := flag.String("socket-dir", sockdir.Default(), "with --tenant: the APID switch's socket directory (spacenet run's default)")
	lanSock := flag.String("lan", "", "a virtio NIC on this `spacenet lan run` socket, e.g. /tmp/space-lan/camera.sock")
	mac := flag.String("mac", "52:54:00:00:00:01", "with --lan: the NIC's MAC (give each guest its own)")
	ip := flag.String("ip", "", "with --lan: the guest's IPv4 address on eth0, a /24")
	run := flag.String("run", "", "the shell command the guest runs after boot (then it powers off); \"sh\" for a shell")
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
	if !*boot && !*printCmd {
		fmt.Printf("KERNEL=%s\nINITRD=%s\n", img.Kernel, img.Initrd)
		return
	}
	cfg := vmtest.VMConfig{Image: img, Run: *run}
	if *tenant != "" {
		cfg.Ports = []vmtest.Port{{Name: "spacenet", Socket: filepath.Join(*socketDir, *tenant+".sock")}}
	}
	if *lanSock != "" {
		cfg.NIC = &vmtest.NIC{Socket: *lanSock, MAC: *mac}
		cfg.Append = "ipv6.disable=1"
		if *ip != "" {
			cfg.Run = fmt.Sprintf("ip addr add %s/24 dev eth0 && ip link set eth0 up\n%s", *ip, cfg.Run)
		}
	}
	if *printCmd {
		fmt.Println(cfg.Machine().Command())
		return
	}
	args := cfg.Args()
	path, err := exec.LookPath(vmtest.QEMU)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkguest:", err)
		os.Exit(1)
	}
	err = syscall.Exec(path, append([]string{vmtest.QEMU}, args...), os.Environ())
	fmt.Fprintln(os.Stderr, "mkguest:", err)
	os.Exit(1)
}
