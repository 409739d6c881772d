package vmtest

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
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
type Port struct {
	Name, Socket string
}

// NIC is a guest NIC on a LAN stream socket.
type NIC struct {
	Socket string
	MAC    string // e.g. 52:54:00:00:00:01; every QEMU NIC defaults to the same one
}

// QEMU is the emulator's name.
const QEMU = "qemu-system-x86_64"

// Args returns QEMU's arguments for cfg.
func (cfg *VMConfig) Args() []string {
	mem := cfg.Memory
	if mem == 0 {
		mem = 256
	}
	app := "console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off"
	if len(cfg.Ports) > 0 {
		app += " spacenet.port=" + cfg.Ports[0].Name
	}
	if cfg.Append != "" {
		app += " " + cfg.Append
	}
	if cfg.Run != "" {
		app += " spacenet.run=" + base64.StdEncoding.EncodeToString([]byte(cfg.Run))
	}
	args := []string{
		"-nodefaults", "-no-user-config", "-no-reboot", "-nographic",
		"-machine", "q35,accel=tcg", "-bios", "qboot.rom",
		"-cpu", "max", "-smp", "1", "-m", fmt.Sprint(mem),
		"-kernel", cfg.Image.Kernel, "-initrd", cfg.Image.Initrd, "-append", app,
		"-serial", "stdio", "-monitor", "none",
	}
	if len(cfg.Ports) > 0 {
		args = append(args, "-device", "virtio-serial-pci,id=vser0")
		for i, p := range cfg.Ports {
			// reconnect=1: QEMU waits for a switch not yet listening
			// instead of exiting.
			args = append(args,
				"-chardev", fmt.Sprintf("socket,id=c%d,path=%s,reconnect=1", i, p.Socket),
				"-device", fmt.Sprintf("virtserialport,bus=vser0.0,chardev=c%d,name=%s", i, p.Name))
		}
	}
	if cfg.NIC != nil {
		args = append(args,
			"-netdev", "stream,id=n0,server=off,addr.type=unix,addr.path="+cfg.NIC.Socket,
			"-device", "virtio-net-pci,netdev=n0,mac="+cfg.NIC.MAC)
	}
	return append(args, cfg.Extra...)
}

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
