#!/usr/bin/env bash
# Instructions (and simulated L1 instruction-cache misses) per request-response on one connection, per request
# of the request/response over 64 connections (`rr_many`: one run is 64 requests, one on each connection) and per
# MiB of bulk transfer, for inetstack (full and without SACK/timestamps) and smoltcp, counted by callgrind: unlike
# time, the counts do not move with the load of a shared machine, so they show a change to the hot path on any
# machine. Time is still the judge: confirm with `INETSTACK_RATIO` (docs/benchmarks.md).
#
# Usage: ci/bench/inetstack-instructions.sh [RR_COUNT] [BULK_COUNT] [RR_MANY_COUNT]
set -euo pipefail
cd "$(dirname "$0")/../.."
rr=${1:-20000}
bulk=${2:-20}
rr_many=${3:-300}
many=64 # connections of rr_many (MANY in benches/benches/inetstack/main.rs)
command -v valgrind >/dev/null || { apt-get install -y -q valgrind >/dev/null; }
exe=$(cargo bench -p demikernel-benches --bench inetstack --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m.get("executable") and m["target"]["name"]=="inetstack": print(m["executable"])')
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count() { # workload stack runs -> "instructions I1-misses" for the whole process
    INETSTACK_LOOP="$1:$2:$3" valgrind --tool=callgrind --cache-sim=yes --callgrind-out-file="$out/cg" \
        "$exe" 2>&1 >/dev/null |
        awk '/I +refs:/ {gsub(",", "", $4); ir=$4} /I1 +misses:/ {gsub(",", "", $4); m=$4} END {print ir, m}'
}
printf '%-10s %-10s %14s %14s  %s\n' workload stack instructions I1-misses per
for workload in rr rr_many bulk; do
    case $workload in
    rr) runs=$rr units=1 per=exchange ;;
    rr_many) runs=$rr_many units=$many per="request ($many per run)" ;;
    bulk) runs=$bulk units=1 per=MiB ;;
    esac
    for stack in inetstack plain smoltcp; do
        read -r ir0 m0 < <(count "$workload" "$stack" 0)
        read -r ir m < <(count "$workload" "$stack" "$runs")
        printf '%-10s %-10s %14d %14d  %s\n' "$workload" "$stack" $(((ir - ir0) / runs / units)) \
            $(((m - m0) / runs / units)) "$per"
    done
done
