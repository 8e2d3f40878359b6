#!/usr/bin/env bash
# DPDK tests: installs DPDK if missing, reserves hugepages if it can, then lints and tests crates/dpdk-sys, whose
# integration test initialises EAL with virtual devices (net_ring, net_null, net_tap) and runs mbufs through them,
# then catnip on DPDK (feature `dpdk`: TCP/UDP/ICMP against the Linux kernel over a veth pair made by
# ci/netns.sh, with net_af_packet, also under injected faults, at 100 connections and 256 MiB each way; two
# catnip processes over net_memif, and two over vhost-user (net_vhost <-> virtio_user) at MTU 1500 and 9000, each
# compared with Linux loopback in the same run) and the demikernel facade's
# `catnip` feature (catnip from a config, on net_tap).
# Needs root (apt-get, hugepages, EAL, net_tap, network namespaces). The root workspace's default build leaves
# dpdk-sys and these features out, so this script is the one place they are built and tested; the main CI script
# calls it.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n=== %s ===\n' "$*"; }

# What catnip's DPDK tests leave behind if they are killed (their own guards clean up on success and on a panic):
# the veth pair and namespace, memif and vhost-user sockets, EAL runtime directories, and child processes of the
# test binaries (the memif, vhost and linux_stress tests re-execute themselves; their children run with
# CATNIP_*_ROLE set).
cleanup_catnip() {
    local pid
    for pid in $(pgrep -f -- 'role --exact --nocapture' 2>/dev/null || true); do
        if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -q '^CATNIP_\(MEMIF\|STRESS\|VHOST\)_ROLE='; then
            kill "$pid" 2>/dev/null || true
        fi
    done
    ci/netns.sh down >/dev/null 2>&1 || true
    rm -f /tmp/catnip-memif-*.sock /tmp/catnip-vhost-*.sock
    rm -rf /var/run/dpdk/catnip-* 2>/dev/null || true
}
trap cleanup_catnip EXIT

step "install DPDK"
ci/install-dpdk.sh

step "hugepages (optional: without them the test uses EAL's --no-huge -m 512)"
ci/hugepages.sh 512 || echo "dpdk-tests: no hugepages; the test falls back to --no-huge"

step "dpdk-sys: rustfmt"
cargo fmt -p dpdk-sys --check

step "dpdk-sys: clippy"
cargo clippy -p dpdk-sys --all-targets -- -D warnings

step "dpdk-sys: tests"
# A skipped EAL test (not root) is a failure here: CI has root and must really run it.
DPDK_SYS_REQUIRE_TESTS=1 cargo test -p dpdk-sys -- --nocapture

step "catnip on DPDK: clippy (feature dpdk) and demikernel (feature catnip)"
cargo fmt -p catnip -p demikernel --check
cargo clippy -p catnip --features dpdk --all-targets -- -D warnings
cargo clippy -p demikernel --features catnip --all-targets -- -D warnings

step "catnip on DPDK: tests, release build (each test runs ci/netns.sh up/down itself)"
# Release: the tests print same-run figures (memif vs Linux loopback, catnip vs Linux on the veth) and move
# 256 MiB each way through catnip. Test binaries, in order: linux_interop (ping, TCP/UDP both ways, 16 MiB),
# linux_stress (faults, 100 connections each way, 256 MiB each way, close paths, RST), memif (two catnip
# processes over net_memif, and Linux loopback in the same run), memory_link, tap_offload, vhost (two catnip
# processes over vhost-user at MTU 1500 and 9000, and Linux loopback; ~10 s). About 2 min to build, 50 s to run.
cleanup_catnip
DPDK_SYS_REQUIRE_TESTS=1 timeout 600 cargo test --release -p catnip --features dpdk -- --nocapture

step "demikernel with catnip: tests"
DPDK_SYS_REQUIRE_TESTS=1 cargo test -p demikernel --features catnip -- --nocapture

step "drawn PDPIX call sequences on catnip (tests/tests/drawn_calls.rs; loopback inside the stack, net_null port)"
catnip_config="$PWD/ci/python-catnip.toml"
if [ "$(cat /proc/sys/vm/nr_hugepages)" -eq 0 ]; then
    catnip_config="$(mktemp --suffix=.toml)"
    sed 's/"--in-memory"/"--no-huge", "-m", "1024", "--no-shconf"/' ci/python-catnip.toml >"$catnip_config"
fi
DEMI_TEST_LIBOS=catnip DEMI_CONFIG="$catnip_config" DEMI_DRAWN_CALLS=100 \
    cargo test -p demikernel-tests --features demikernel/catnip --test drawn_calls
