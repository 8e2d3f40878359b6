#!/usr/bin/env bash
# DPDK tests: installs DPDK if missing, reserves hugepages if it can, then lints and tests crates/dpdk-sys, whose
# integration test initialises EAL with virtual devices (net_ring, net_null, net_tap) and runs mbufs through them,
# then catnip on DPDK (feature `dpdk`: TCP/UDP/ICMP against the Linux kernel over a veth pair made by
# ci/netns.sh, with net_af_packet) and the demikernel facade's `catnip` feature (catnip from a config, on net_tap).
# Needs root (apt-get, hugepages, EAL, net_tap, network namespaces). The root workspace's default build leaves
# dpdk-sys and these features out, so this script is the one place they are built and tested; the main CI script
# calls it.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n=== %s ===\n' "$*"; }

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

step "catnip on DPDK: tests (Linux interoperability over a veth pair; the test runs ci/netns.sh up/down itself)"
DPDK_SYS_REQUIRE_TESTS=1 cargo test -p catnip --features dpdk -- --nocapture

step "demikernel with catnip: tests"
DPDK_SYS_REQUIRE_TESTS=1 cargo test -p demikernel --features catnip -- --nocapture
