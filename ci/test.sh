#!/usr/bin/env bash
# Every test: formatting, lints, Rust unit and integration tests, benchmarks in quick mode, and the Python
# package's tests (built from source into a private virtualenv). Runs on a fresh Debian machine with Rust,
# Python 3.11 and a C compiler; everything else it installs itself.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n=== %s ===\n' "$*"; }

step "rustfmt"
cargo fmt --all --check

step "clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test"
cargo test --workspace

step "benchmarks (quick mode: they must run, figures are not checked)"
cargo bench -p demikernel-benches -- --warm-up-time 0.1 --measurement-time 0.2 --noplot

if [ -x ci/python-tests.sh ]; then
    step "python"
    ci/python-tests.sh
fi
echo
echo "all tests passed"
