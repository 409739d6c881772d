package system

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// QEMU is the emulator every guest runs in.
const QEMU = "qemu-system-x86_64"

// Machine is one QEMU guest as its command line says it: a kernel and
// initramfs booted directly (TCG, qboot), or a disk image booted by the
// firmware (SeaBIOS), the console on QEMU's standard output, its APID port
// (virtio-serial ports, or a 16550 on ttyS1) on the switch's tenant
// sockets, and a virtio NIC on a LAN socket.
type Machine struct {
	Kernel, Initrd string
	Disk           string // a virtio disk image (raw; qcow2 if named *.qcow2)
	Memory         int    // MiB; 0 means 256
	Append         string // more kernel command line
	// Run is a shell script the guest image's /init runs after boot
	// (spacenet.run=, base64: images made by scripts/guest-image.sh).
	Run string
	// Ports are virtio-serial ports: name in the guest
	// (/dev/virtio-ports/NAME) and the Unix socket QEMU connects to. The
	// first one is named to /init (spacenet.port=), which waits for it.
	Ports []Port
	// Serial, if set, is the Unix socket a 16550 serial port (the
	// guest's ttyS1; ttyS0 is the console) is carried to.
	Serial string
	NIC    *NIC // a virtio NIC on a LAN qemu-stream socket
	Extra  []string
}

// Port is a virtio-serial port carried to a Unix socket.
type Port struct {
	Name, Socket string
}

// NIC is a guest NIC on a LAN stream socket (-netdev stream, the LAN
// listening).
type NIC struct {
	Socket string
	MAC    string // every QEMU NIC defaults to 52:54:00:12:34:56: give each guest its own
}

// Args returns QEMU's arguments for m. Character devices connect with
// reconnect=1: QEMU waits for a switch not yet (or no longer) listening
// instead of exiting.
func (m *Machine) Args() []string {
	mem := m.Memory
	if mem == 0 {
		mem = 256
	}
	app := "console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off"
	if len(m.Ports) > 0 {
		app += " spacenet.port=" + m.Ports[0].Name
	}
	if m.Append != "" {
		app += " " + m.Append
	}
	if m.Run != "" {
		app += " spacenet.run=" + base64.StdEncoding.EncodeToString([]byte(m.Run))
	}
	args := []string{"-nodefaults", "-no-user-config", "-no-reboot", "-nographic", "-machine", "q35,accel=tcg"}
	if m.Kernel != "" {
		args = append(args, "-bios", "qboot.rom") // a direct kernel boot; else SeaBIOS boots the disk
	}
	args = append(args, "-cpu", "max", "-smp", "1", "-m", fmt.Sprint(mem))
	if m.Kernel != "" {
		args = append(args, "-kernel", m.Kernel)
		if m.Initrd != "" {
			args = append(args, "-initrd", m.Initrd)
		}
		args = append(args, "-append", app)
	}
	if m.Disk != "" {
		format := "raw"
		if strings.HasSuffix(m.Disk, ".qcow2") {
			format = "qcow2"
		}
		args = append(args, "-drive", "file="+m.Disk+",if=virtio,format="+format)
	}
	args = append(args, "-serial", "stdio", "-monitor", "none")
	if len(m.Ports) > 0 {
		args = append(args, "-device", "virtio-serial-pci,id=vser0")
		for i, p := range m.Ports {
			args = append(args,
				"-chardev", fmt.Sprintf("socket,id=c%d,path=%s,reconnect=1", i, p.Socket),
				"-device", fmt.Sprintf("virtserialport,bus=vser0.0,chardev=c%d,name=%s", i, p.Name))
		}
	}
	if m.Serial != "" {
		// The second -serial: ttyS1 (-nodefaults: no other serial port).
		args = append(args,
			"-chardev", fmt.Sprintf("socket,id=s1,path=%s,reconnect=1", m.Serial),
			"-serial", "chardev:s1")
	}
	if m.NIC != nil {
		args = append(args,
			"-netdev", "stream,id=n0,server=off,addr.type=unix,addr.path="+m.NIC.Socket,
			"-device", "virtio-net-pci,netdev=n0,mac="+m.NIC.MAC)
	}
	return append(args, m.Extra...)
}

// Command is m's command line for a POSIX shell.
func (m *Machine) Command() string {
	args := m.Args()
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return QEMU + " " + strings.Join(q, " ")
}

func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"$;&|<>()*?[]#~`\\!{}") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
