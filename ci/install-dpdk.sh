#!/usr/bin/env bash
# Installs Debian's DPDK (22.11 on bookworm) and what `crates/dpdk-sys` needs to build against it: the headers and
# pkg-config file (libdpdk-dev), pkg-config, and libclang for bindgen. The PMD drivers (net_ring, net_null, net_tap,
# net_memif, net_af_packet, ...) come with the `dpdk` package and EAL loads them from Debian's plugin directory.
#
# Idempotent: does nothing when `pkg-config --exists libdpdk` already succeeds and libclang and a C compiler are
# there. Must run as root (or under sudo) on a fresh Debian bookworm machine; needs only Debian's package mirror.
set -euo pipefail

have_everything() {
    command -v pkg-config >/dev/null 2>&1 &&
        pkg-config --exists libdpdk &&
        command -v clang >/dev/null 2>&1 &&
        # bindgen loads libclang.so at build time (libclang-dev provides the unversioned symlink).
        compgen -G '/usr/lib/llvm-*/lib/libclang.so' >/dev/null
}

if have_everything; then
    echo "install-dpdk: DPDK $(pkg-config --modversion libdpdk) already installed"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=sudo
    else
        echo "install-dpdk: must run as root (apt-get install)" >&2
        exit 1
    fi
else
    SUDO=
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y dpdk dpdk-dev libdpdk-dev pkg-config libclang-dev clang

if ! pkg-config --exists libdpdk; then
    echo "install-dpdk: installed the packages but \`pkg-config --exists libdpdk\` still fails" >&2
    exit 1
fi
echo "install-dpdk: DPDK $(pkg-config --modversion libdpdk) installed"
