#!/usr/bin/env bash
# Runs every inetstack fuzz target for a bounded time (FUZZ_SECONDS each, default 10: ~1.5 min in all, plus
# the first build) from the checked-in seeds (crates/inetstack/fuzz/seeds/<target>) and the regression inputs
# (crates/inetstack/fuzz/regressions/<target>, every crash ever found, replayed first). Any crash fails the
# run and leaves its input in crates/inetstack/fuzz/artifacts/<target>/: add it to regressions/ with the fix.
# Stable toolchain, no sanitizer (inetstack has no unsafe code); installs cargo-fuzz if missing.
set -euo pipefail
cd "$(dirname "$0")/../crates/inetstack"
seconds="${FUZZ_SECONDS:-10}"

# libfuzzer-sys compiles libFuzzer (C++): a bare Debian machine may have gcc without g++.
if ! command -v c++ >/dev/null 2>&1; then
    echo "fuzz: installing g++ (libFuzzer is C++)"
    apt-get update -qq && apt-get install -y -qq --no-install-recommends g++
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

targets=$(cargo fuzz list)
for target in $targets; do
    seeds="fuzz/seeds/$target"
    regressions="fuzz/regressions/$target"
    mkdir -p "fuzz/artifacts/$target" "fuzz/corpus/$target"
    if [ -d "$regressions" ]; then
        echo "fuzz: $target: replaying $(ls "$regressions" | wc -l) regression input(s)"
        cargo fuzz run -s none "$target" "$regressions"/* -- -runs=1 >/dev/null
    fi
    echo "fuzz: $target for ${seconds}s"
    # A scratch corpus that starts from the seeds: what this run learns is not committed.
    log="fuzz/artifacts/$target/last-run.log"
    if ! cargo fuzz run -s none "$target" "fuzz/corpus/$target" "$seeds" -- -max_total_time="$seconds" >"$log" 2>&1; then
        tail -n 40 "$log"
        echo "fuzz: $target crashed; the input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    grep -E '^Done' "$log"
done
echo "fuzz: all targets ran ${seconds}s without a crash"
