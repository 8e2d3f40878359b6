#!/usr/bin/env bash
# Reserves N 2 MiB hugepages (default 512, i.e. 1 GiB) and mounts hugetlbfs at /dev/hugepages for DPDK's EAL.
#
# Usage: ci/hugepages.sh [N]
#
# Idempotent: never lowers a larger reservation and does not mount twice. Needs root. Exits non-zero when the
# kernel cannot give the pages (memory fragmented or too small), so a caller can fall back: EAL also runs without
# hugepages with `--no-huge -m 1024` (plain anonymous memory, about 40% slower on net_null here; `--no-huge` alone
# gives EAL only 64 MiB, too little for a mempool). See docs/catnip.md.
#
# Processes using these pages should pass `--in-memory` (or `--huge-unlink`) so no page files are left behind in
# /dev/hugepages, and each needs its own `--file-prefix`.
set -euo pipefail

want="${1:-512}"
nr=/proc/sys/vm/nr_hugepages
mnt=/dev/hugepages

if [ "$(id -u)" -ne 0 ]; then
    echo "hugepages: must run as root" >&2
    exit 1
fi
if [ ! -w "$nr" ]; then
    echo "hugepages: $nr is not writable (no hugetlb support in this kernel?)" >&2
    exit 1
fi

have="$(cat "$nr")"
if [ "$have" -lt "$want" ]; then
    echo "$want" >"$nr"
    have="$(cat "$nr")"
fi
if [ "$have" -lt "$want" ]; then
    echo "hugepages: asked for $want 2 MiB pages, the kernel gave $have (use EAL's --no-huge -m 1024 instead)" >&2
    exit 1
fi

if ! grep -qs " $mnt hugetlbfs " /proc/mounts; then
    mkdir -p "$mnt"
    mount -t hugetlbfs -o pagesize=2M nodev "$mnt"
fi
echo "hugepages: $have x 2 MiB pages reserved, hugetlbfs mounted at $mnt ($(grep HugePages_Free /proc/meminfo))"
