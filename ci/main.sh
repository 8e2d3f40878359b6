#!/usr/bin/env bash
# The main job: build demikernel and run the TCP echo example on the default libOS (catnap) over loopback,
# printing round-trip percentiles. Needs only a Rust toolchain (cargo) and a C compiler.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --example tcp_echo --example udp_echo
cargo run --release --example tcp_echo -- both 64 20000
cargo run --release --example tcp_echo -- both 4096 10000
cargo run --release --example udp_echo -- both 64 10000
