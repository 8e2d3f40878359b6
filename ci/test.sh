#!/usr/bin/env bash
# Every test: formatting, lints, Rust unit and integration tests, the Python package's tests, the DPDK
# tests, and the benchmarks in quick mode. Runs on a fresh Debian machine with Rust, Python 3.11 and a C
# compiler, as root (DPDK needs root and Debian's packages, which ci/install-dpdk.sh installs).
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n=== %s ===\n' "$*"; }

step "rustfmt"
cargo fmt --all --check

# The default members are every crate that needs nothing beyond libc (dpdk-sys is tested below).
step "clippy"
cargo clippy --all-targets -- -D warnings

step "pcap readers (installs tcpdump and tshark: the pcap tests have them read a capture, and fail without them)"
bash ci/pcap-readers.sh
export INETSTACK_PCAP_READERS=required

step "cargo test"
cargo test

step "fuzz (every target of every fuzz crate for a bounded time; installs cargo-fuzz if missing)"
bash ci/fuzz.sh

step "python"
bash ci/python-tests.sh

step "python on catnip (installs DPDK, reserves hugepages, the whole suite with catnip in the libos fixture)"
bash ci/python-catnip-tests.sh

step "dpdk (installs DPDK, reserves hugepages, runs the EAL/port tests)"
bash ci/dpdk-tests.sh

step "benchmarks (quick mode: they must run; figures are not checked)"
cargo bench -p demikernel-benches -- --warm-up-time 0.1 --measurement-time 0.2 --noplot

echo
echo "all tests passed"
