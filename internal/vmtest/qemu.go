package vmtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"spacenet/ops/system"
)

// VMConfig is one guest.
type VMConfig struct {
	Image  *Image
	Run    string // shell script the guest runs as root after boot (busybox sh)
	Memory int    // MiB; 0 means 256
	// Ports are virtio-serial ports: name in the guest
	// (/dev/virtio-ports/NAME) -> the Unix socket QEMU connects to (a
	// tenant's socket of the APID switch). The first one is waited for
	// at boot.
	Ports []Port
	// Serial, if set, is the Unix socket the guest's second 16550 serial
	// port (/dev/ttyS1) is carried to.
	Serial string
	// NIC, if set, is a virtio NIC on a `spacenet lan run` socket
	// (-netdev stream); MAC is its address.
	NIC *NIC
	// Console receives the guest's serial console (kernel and /init
	// messages, the run script's output); nil discards it.
	Console io.Writer
	// Append is more kernel command line, e.g. "ipv6.disable=1".
	Append string
	// Extra are more QEMU arguments.
	Extra []string
}

// Port is a virtio-serial port carried to a Unix socket.
type Port = system.Port

// NIC is a guest NIC on a LAN stream socket.
type NIC = system.NIC

// QEMU is the emulator's name.
const QEMU = system.QEMU

// Machine is cfg's QEMU guest.
func (cfg *VMConfig) Machine() *system.Machine {
	return &system.Machine{Kernel: cfg.Image.Kernel, Initrd: cfg.Image.Initrd, Memory: cfg.Memory, Append: cfg.Append,
		Run: cfg.Run, Ports: cfg.Ports, Serial: cfg.Serial, NIC: cfg.NIC, Extra: cfg.Extra}
}

// Args returns QEMU's arguments for cfg.
func (cfg *VMConfig) Args() []string { return cfg.Machine().Args() }

// VM is a running guest.
type VM struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start starts QEMU for cfg. The VM ends when its run script returns, when
// ctx is done (it is killed) or by Kill.
func Start(ctx context.Context, cfg VMConfig) (*VM, error) {
	cmd := exec.CommandContext(ctx, QEMU, cfg.Args()...)
	cmd.Stdin = nil
	// QEMU dies with us: a test binary killed by its timeout leaves no
	// guest running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if cfg.Console != nil {
		cmd.Stdout, cmd.Stderr = cfg.Console, cfg.Console
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("vmtest: %w", err)
	}
	v := &VM{cmd: cmd, done: make(chan struct{})}
	go func() {
		v.err = cmd.Wait()
		close(v.done)
	}()
	return v, nil
}

// Done is closed when QEMU has exited.
func (v *VM) Done() <-chan struct{} { return v.done }

// Wait waits for QEMU to exit and returns how.
func (v *VM) Wait() error {
	<-v.done
	return v.err
}

// Kill kills QEMU at once (a crashed host process: the guest's sockets
// close) and waits for it.
func (v *VM) Kill() {
	v.cmd.Process.Kill()
	<-v.done
}

// Freeze stops QEMU (SIGSTOP): the guest runs no more and QEMU reads
// nothing from its sockets, until Thaw.
func (v *VM) Freeze() error { return v.cmd.Process.Signal(syscall.SIGSTOP) }

// Thaw resumes a frozen QEMU.
func (v *VM) Thaw() error { return v.cmd.Process.Signal(syscall.SIGCONT) }

// Available says why QEMU cannot run guests here, or nil: the emulator,
// its qboot firmware, a kernel in /boot and busybox must be installed
// (scripts/deps.sh installs them).
func Available() error {
	var missing []string
	if _, err := exec.LookPath(QEMU); err != nil {
		missing = append(missing, QEMU+" (qemu-system-x86)")
	}
	if _, err := os.Stat("/usr/share/qemu/qboot.rom"); err != nil {
		missing = append(missing, "/usr/share/qemu/qboot.rom (qemu-system-data)")
	}
	if _, _, err := FindKernel(); err != nil {
		missing = append(missing, "/boot/vmlinuz-* (linux-image-amd64)")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		missing = append(missing, "/bin/busybox (busybox-static)")
	}
	if len(missing) > 0 {
		return errors.New("cannot run guest VMs: missing " + strings.Join(missing, ", ") + "; run scripts/deps.sh as root")
	}
	return nil
}
