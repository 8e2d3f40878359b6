#!/usr/bin/env bash
# The Python package on catnip (DPDK): the whole Python test suite with catnip in the `libos` fixture.
#
# Installs DPDK if missing (ci/install-dpdk.sh), reserves hugepages (ci/hugepages.sh; without them the run
# uses EAL's --no-huge -m 1024), builds the extension with the `catnip` cargo feature into the venv of
# ci/python-tests.sh (DEMI_PY_VENV, default /tmp/demikernel-venv; run that script first, or this one creates
# the venv with the same tools), lints the Rust with the feature, then runs pytest with DEMI_CONFIG naming
# ci/python-catnip.toml: a net_null port (no peer, nothing outside the process), client and server of each test
# in one LibOS over 127.0.0.1 (catnip's internal loopback). Every catnip test must run: a catnip skip fails.
# Needs root (EAL). Leaves the venv with the catnip build installed; ci/python-tests.sh rebuilds the default.
# Extra arguments go to pytest.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
ci/install-dpdk.sh
config="$root/ci/python-catnip.toml"
if ! ci/hugepages.sh 512; then
    echo "python-catnip-tests: no hugepages; running EAL with --no-huge -m 1024"
    config="$(mktemp --suffix=.toml)"
    trap 'rm -f "$config"' EXIT
    sed 's/"--in-memory"/"--no-huge", "-m", "1024", "--no-shconf"/' "$root/ci/python-catnip.toml" >"$config"
fi

# shellcheck source=ci/python-venv.sh
source ci/python-venv.sh

echo "== clippy (demikernel-py with catnip)"
cargo clippy -p demikernel-py --features catnip --all-targets -- -D warnings

echo "== building and installing demikernel with catnip (maturin develop --release --features catnip)"
maturin develop --release --features catnip --quiet 2>&1 | grep -v "^$" | tail -n 3

echo "== catnip usable here?"
DEMI_CONFIG="$config" python -m demikernel info
DEMI_CONFIG="$config" python - <<'PY'
import sys
import demikernel
info = next(i for i in demikernel.liboses() if i.name == "catnip")
sys.exit(0 if info.usable else f"catnip is not usable: {info.reason}")
PY

echo "== pytest (catnap and catnip)"
report="$(mktemp)"
DEMI_CONFIG="$config" python -m pytest tests/python -q -rs "$@" | tee "$report"
if grep -E '^SKIPPED .*catnip' "$report" | grep -v 'not in DEMI_TEST_LIBOSES'; then
    rm -f "$report"
    echo "python-catnip-tests: catnip tests were skipped (above); they must run here" >&2
    exit 1
fi
rm -f "$report"
