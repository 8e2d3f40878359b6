#!/bin/bash
# Profiles each catnip process of the memif test separately: runs the test binary (release, built beforehand with
# `cargo test --release -p catnip --features dpdk --test memif --no-run`) with a large bulk transfer, finds each
# catnip child by its CATNIP_MEMIF_ROLE environment as it starts, and attaches `perf record -g -p <pid>` to it.
# Output in OUTDIR (default /tmp/catnip-memif-profile): <role>-<copy|zc>.data per catnip child, and test.log.
# Restrict a report to the bulk transfer with `perf report -i <file> --time <start>,<end>` (see docs/benchmarks.md).
# Needs root and perf; take /tmp/demikernel-dpdk.lock around it when other DPDK jobs may run.
set -euo pipefail
OUTDIR=${1:-/tmp/catnip-memif-profile}
TARGET=${CARGO_TARGET_DIR:-$(dirname "$0")/../target}
BIN=$(ls -t "$TARGET"/release/deps/memif-* 2>/dev/null | grep -v '\.d$' | head -1)
[ -n "$BIN" ] || { echo "no memif test binary under $TARGET/release/deps: build it first" >&2; exit 1; }
mkdir -p "$OUTDIR"
CATNIP_MEMIF_BULK_MIB=${CATNIP_MEMIF_BULK_MIB:-512} "$BIN" --nocapture > "$OUTDIR/test.log" 2>&1 &
TEST=$!
declare -A seen
while kill -0 "$TEST" 2>/dev/null; do
  for pid in $(pgrep -f "memif-.*role --exact" || true); do
    [ -n "${seen[$pid]:-}" ] && continue
    env=$(tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null || true)
    role=$(sed -n 's/^CATNIP_MEMIF_ROLE=//p' <<< "$env")
    [ -n "$role" ] || continue
    seen[$pid]=1
    case $role in catnip-*) ;; *) continue ;; esac
    mode=zc
    grep -q '^CATNIP_MEMIF_TX_COPY=' <<< "$env" && mode=copy
    perf record -F "${FREQ:-1000}" -g -p "$pid" -o "$OUTDIR/$role-$mode.data" > "$OUTDIR/$role-$mode.perf.log" 2>&1 &
  done
  sleep 0.05
done
wait "$TEST" && status=0 || status=$?
wait
grep -E "MB/s|MEASURED" "$OUTDIR/test.log" || true
exit "$status"
