#!/usr/bin/env bash
# Builds the guest image (internal/vmtest): the host's Debian kernel and a
# busybox initramfs with static spacenet, camera-server and processor,
# cached under $SPACENET_VM_CACHE (default ~/.cache/spacenet-vm) keyed by
# the sha256 of every input. Prints KERNEL=... and INITRD=...; with
# --boot (or --print) it boots (prints the QEMU command of) a guest; see
# internal/vmtest/mkguest for its flags (--tenant, --lan, --ip, --run).
# Needs linux-image-amd64, busybox-static and qemu-system-x86
# (scripts/deps.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./internal/vmtest/mkguest "$@"
