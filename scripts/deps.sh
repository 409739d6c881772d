#!/usr/bin/env bash
# Installs the Debian tools the tests use when they are missing: tshark
# (reads our pcaps), iproute2 (namespaces, veth, bridges), iputils-ping,
# iperf3, socat, prometheus (with promtool), graphviz and QEMU with its network-boot firmware (real peers). Needs root; without root it says what is
# missing and the tests that need those tools skip with a message.
set -euo pipefail
need=()
command -v tshark >/dev/null || need+=(tshark)
command -v ip >/dev/null || need+=(iproute2)
command -v ping >/dev/null || need+=(iputils-ping)
command -v iperf3 >/dev/null || need+=(iperf3)
command -v socat >/dev/null || need+=(socat)
command -v prometheus >/dev/null || need+=(prometheus) # and promtool: spacenet run --metrics-listen tests
command -v dot >/dev/null || need+=(graphviz)          # spacenet topology --svg tests
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86 ipxe-qemu seabios)
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
