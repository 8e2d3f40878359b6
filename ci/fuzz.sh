#!/usr/bin/env bash
# Runs every target of every fuzz crate (crates/<crate>/fuzz: inetstack's wire parsers and host, demikernel's
# config file, the packetdrill flags) for a bounded time (FUZZ_SECONDS each, default 10: ~2 min in all, plus
# the first builds) from the checked-in seeds (<crate>/fuzz/seeds/<target>) and the regression inputs
# (<crate>/fuzz/regressions/<target>, every crash ever found, replayed first). Any crash fails the run and
# leaves its input in <crate>/fuzz/artifacts/<target>/: add it to regressions/ with the fix.
# Arguments, if any, name the crates to fuzz (e.g. `bash ci/fuzz.sh crates/demikernel`); none means all.
# Stable toolchain, no sanitizer (the fuzzed code is safe Rust); installs cargo-fuzz if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
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

if [ $# -gt 0 ]; then
    crates=("$@")
else
    crates=(crates/*/fuzz)
    crates=("${crates[@]%/fuzz}")
fi

for crate in "${crates[@]}"; do
    cd "$root/$crate"
    for target in $(cargo fuzz list); do
        seeds="fuzz/seeds/$target"
        regressions="fuzz/regressions/$target"
        mkdir -p "fuzz/artifacts/$target" "fuzz/corpus/$target"
        if [ -d "$regressions" ]; then
            echo "fuzz: $crate $target: replaying $(ls "$regressions" | wc -l) regression input(s)"
            cargo fuzz run -s none "$target" "$regressions"/* -- -runs=1 >/dev/null
        fi
        echo "fuzz: $crate $target for ${seconds}s"
        # A scratch corpus that starts from the seeds: what this run learns is not committed.
        log="fuzz/artifacts/$target/last-run.log"
        if ! cargo fuzz run -s none "$target" "fuzz/corpus/$target" "$seeds" -- -max_total_time="$seconds" >"$log" 2>&1; then
            tail -n 40 "$log"
            echo "fuzz: $crate $target crashed; the input is in $crate/fuzz/artifacts/$target/" >&2
            exit 1
        fi
        grep -E '^Done' "$log"
    done
done
echo "fuzz: every target of ${crates[*]} ran ${seconds}s without a crash"
