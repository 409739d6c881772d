package nic

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// ifIoctl runs one SIOC*IF* ioctl on the interface name through a
// throwaway AF_INET socket and returns the request, filled in.
func ifIoctl(name string, req uint, set func(*unix.Ifreq)) (*unix.Ifreq, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return nil, fmt.Errorf("interface name %q: %w", name, err)
	}
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket for ioctl: %w", err)
	}
	defer unix.Close(s)
	if set != nil {
		set(ifr)
	}
	if err := unix.IoctlIfreq(s, req, ifr); err != nil {
		return nil, err
	}
	return ifr, nil
}

// ifMTU returns the MTU of the interface name.
func ifMTU(name string) (int, error) {
	ifr, err := ifIoctl(name, unix.SIOCGIFMTU, nil)
	if err != nil {
		return 0, fmt.Errorf("get MTU: %w", err)
	}
	return int(ifr.Uint32()), nil
}

// setIfMTU sets the MTU of the interface name.
func setIfMTU(name string, mtu int) error {
	if _, err := ifIoctl(name, unix.SIOCSIFMTU, func(r *unix.Ifreq) { r.SetUint32(uint32(mtu)) }); err != nil {
		return fmt.Errorf("set MTU %d: %w", mtu, err)
	}
	return nil
}

// setIfUp sets IFF_UP on the interface name.
func setIfUp(name string) error {
	ifr, err := ifIoctl(name, unix.SIOCGIFFLAGS, nil)
	if err != nil {
		return fmt.Errorf("get flags: %w", err)
	}
	flags := ifr.Uint16() | unix.IFF_UP
	if _, err := ifIoctl(name, unix.SIOCSIFFLAGS, func(r *unix.Ifreq) { r.SetUint16(flags) }); err != nil {
		return fmt.Errorf("set up: %w", err)
	}
	return nil
}
