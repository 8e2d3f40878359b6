#!/usr/bin/env bash
# Issue 4's benchmark: the same Python streams echo server (`python -m demikernel echo-server`) on
# demikernel/catnip (a memif link to the client: no kernel on the path), on uvloop and on demikernel/catnap
# (kernel loopback), each loaded by the native closed-loop client `echo_load` (10 connections, 1 KiB, one
# request in flight per connection), servers taking turns round after round in one run. Server on CPU 0,
# client on CPU 1. Prints one line per server per round and, at the end, the medians and catnip/uvloop ratio.
#
# Needs root, DPDK and hugepages (ci/install-dpdk.sh, ci/hugepages.sh) and the venv of ci/python-tests.sh (with
# maturin and uvloop); it installs the catnip build of the package into that venv. Usage:
# ci/bench/python-streams-echo.sh [ROUNDS] [SECS]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-5}"
secs="${2:-5}"
venv="${DEMI_PY_VENV:-/tmp/demikernel-venv}"
python="$venv/bin/python"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p demikernel --features catnip --example echo_load
(. "$venv/bin/activate" && maturin develop --release --features catnip --quiet 2>&1 | tail -n 1)
load="$CARGO_TARGET_DIR/release/examples/echo_load"
results="$(mktemp)"
trap 'rm -f "$results" /tmp/demikernel-bench-memif.sock; kill $(jobs -p) 2>/dev/null || true' EXIT

# Starts a server (args after the name), waits for its "listening" line, runs the client, stops the server.
round() {
    local name="$1" addr="$2" client_libos="$3" client_config="$4"
    shift 4
    local log
    log="$(mktemp)"
    rm -f /tmp/demikernel-bench-memif.sock # a stale socket would look like a ready server
    env -u DEMI_CONFIG taskset -c 0 "$python" -m demikernel echo-server "$@" --addr "$addr" >"$log" 2>&1 &
    local server=$!
    if [ "$client_libos" = catnip ]; then
        # The memif server listens for its client before printing "listening": start the client once the
        # socket exists.
        for _ in $(seq 300); do [ -S /tmp/demikernel-bench-memif.sock ] && break; sleep 0.1; done
    else
        for _ in $(seq 300); do grep -q "listening" "$log" && break; sleep 0.1; done
    fi
    local line
    line=$(DEMI_LIBOS="$client_libos" DEMI_CONFIG="$client_config" taskset -c 1 "$load" "$addr" \
        --conns 10 --size 1024 --secs "$secs" --warmup 1 --json)
    kill -INT "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    rm -f "$log" /tmp/demikernel-bench-memif.sock
    echo "$name $line" | tee -a "$results"
}

for r in $(seq "$rounds"); do
    echo "round $r ($(cut -d' ' -f1-3 /proc/loadavg) load)"
    round catnip 10.203.0.1:9201 catnip ci/bench/catnip-memif-client.toml \
        --libos catnip --config ci/bench/catnip-memif-server.toml
    round uvloop 127.0.0.1:9301 catnap "" --loop uvloop
    round catnap 127.0.0.1:9302 catnap "" --libos catnap
done

"$python" - "$results" <<'EOF'
import json, statistics, sys
by = {}
for line in open(sys.argv[1]):
    name, payload = line.split(" ", 1)
    by.setdefault(name, []).append(json.loads(payload))
med = {n: statistics.median(r["rps"] for r in runs) for n, runs in by.items()}
p50 = {n: statistics.median(r["p50_us"] for r in runs) for n, runs in by.items()}
for n in by:
    print(f"{n:7} median {med[n]:>9.0f} req/s  p50 {p50[n]:6.1f} us  ({len(by[n])} rounds)")
print(f"catnip / uvloop (medians): {med['catnip'] / med['uvloop']:.2f}x requests/s; catnap / uvloop {med['catnap'] / med['uvloop']:.2f}x")
wins = sum(c["rps"] > u["rps"] * 1.5 for c, u in zip(by["catnip"], by["uvloop"]))
print(f"rounds where catnip >= 1.5x uvloop (same round): {wins} of {len(by['catnip'])}")
EOF
