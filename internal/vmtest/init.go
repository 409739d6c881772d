package vmtest

// initScript is the guest's /init (busybox sh): mounts, modules, the
// /dev/virtio-ports/NAME links udev would make, lo up, eth0's address if
// spacenet.ip= gives one (ops/system does for a guest with ip), then the script
// given base64-encoded as spacenet.run= on the kernel command line, then
// reboot (QEMU runs with -no-reboot: the guest's end is QEMU's). Its
// messages start "spacenet-init:" on the console.
const initScript = `#!/bin/busybox sh
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /etc/modules); do
	insmod /lib/modules/$m || echo "spacenet-init: insmod $m failed"
done
ip link set lo up
port=""
run=""
addr=""
for w in $(cat /proc/cmdline); do
	case "$w" in
	spacenet.port=*) port="${w#spacenet.port=}" ;;
	spacenet.run=*) run="${w#spacenet.run=}" ;;
	spacenet.ip=*) addr="${w#spacenet.ip=}" ;;
	esac
done
# Ports are announced by the host after the driver is up: wait for the one
# the run script needs (at most 10 s), linking every port by name.
mkdir -p /dev/virtio-ports
i=0
while :; do
	for p in /sys/class/virtio-ports/vport*; do
		[ -r "$p/name" ] || continue
		n=$(cat "$p/name")
		[ -n "$n" ] && [ ! -e "/dev/virtio-ports/$n" ] && ln -s "../${p##*/}" "/dev/virtio-ports/$n"
	done
	[ -z "$port" ] || [ -e "/dev/virtio-ports/$port" ] && break
	i=$((i+1))
	[ $i -ge 100 ] && { echo "spacenet-init: no virtio-serial port $port"; break; }
	sleep 0.1
done
if [ -n "$addr" ]; then
	ip addr add "$addr" dev eth0 && ip link set eth0 up || echo "spacenet-init: eth0 $addr failed"
fi
echo "spacenet-init: up $(cut -d' ' -f1 /proc/uptime)"
if [ -n "$run" ]; then
	echo "$run" | base64 -d > /run.sh
	sh /run.sh
	echo "spacenet-init: exit $?"
fi
reboot -f
`
