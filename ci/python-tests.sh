#!/usr/bin/env bash
# Python face of demikernel: build the wheel's module, lint, type-check and test it.
#
# Needs Rust (cargo) and CPython >= 3.11 (python3). Creates a venv (default /tmp/demikernel-venv, override
# with DEMI_PY_VENV), installs maturin, pytest, mypy, ruff and uvloop from PyPI (only when missing), builds
# and installs the package with `maturin develop --release`, then runs ruff, mypy --strict and pytest.
# Idempotent; re-runs skip the installs and rebuild only what changed (cargo's target dir: CARGO_TARGET_DIR,
# default target/). Extra arguments go to pytest.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="${DEMI_PY_VENV:-/tmp/demikernel-venv}"
python="${PYTHON:-python3}"

"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "demikernel needs Python >= 3.11")'

if [ ! -x "$venv/bin/python" ]; then
    echo "== creating venv $venv"
    "$python" -m venv "$venv"
fi
# shellcheck disable=SC1091
source "$venv/bin/activate"

tools=(maturin pytest mypy ruff uvloop matplotlib)
missing=()
for tool in "${tools[@]}"; do
    python -c "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('$tool') else 1)" \
        || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "== installing ${missing[*]}"
    python -m pip install --quiet --disable-pip-version-check "${missing[@]}"
fi

echo "== building and installing demikernel (maturin develop --release)"
maturin develop --release --quiet 2>&1 | grep -v "^$" | tail -n 3

echo "== ruff"
ruff check python tests/python

echo "== mypy --strict"
mypy --strict --no-incremental python/demikernel tests/python/typing/example.py

echo "== pytest"
python -m pytest tests/python -q "$@"
