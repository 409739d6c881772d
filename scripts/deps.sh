#!/usr/bin/env bash
# Installs the Debian tools the tests use when they are missing: tshark
# (reads our pcaps), iproute2 (namespaces, veth, bridges), iputils-ping,
# iperf3, socat, prometheus (with promtool), graphviz, chromium (headless, for
# the status page's test) and QEMU with its network-boot firmware (real
# peers), and what guest VMs boot from (internal/vmtest,
# scripts/guest-image.sh): a Debian kernel (linux-image-amd64) and a static
# busybox (busybox-static). Needs root; without root it says what is missing
# and the tests that need those tools skip with a message. It also builds
# dtn7-go's dtnd (scripts/dtnd.sh, cached in ~/.cache/spacenet-dtnd) for the
# DTN tests, as any user.
set -euo pipefail
"$(dirname "$0")/dtnd.sh" || echo "deps: could not build dtnd; the DTN tests will skip" >&2
need=()
command -v tshark >/dev/null || need+=(tshark)
command -v ip >/dev/null || need+=(iproute2)
command -v ping >/dev/null || need+=(iputils-ping)
command -v iperf3 >/dev/null || need+=(iperf3)
command -v socat >/dev/null || need+=(socat)
command -v prometheus >/dev/null || need+=(prometheus) # and promtool: spacenet run --metrics-listen tests
command -v dot >/dev/null || need+=(graphviz)          # spacenet topology --svg tests
command -v chromium >/dev/null || need+=(chromium)     # the status page in a headless browser
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86 ipxe-qemu seabios)
[ -e /usr/share/qemu/qboot.rom ] || need+=(qemu-system-data)
compgen -G '/boot/vmlinuz-*' >/dev/null || need+=(linux-image-amd64)
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || need+=(busybox-static)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "deps: not root, cannot install: ${need[*]}" >&2
  exit 0
fi
echo "deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer for it.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
