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
# shellcheck source=ci/python-venv.sh
source ci/python-venv.sh

echo "== building and installing demikernel (maturin develop --release)"
maturin develop --release --quiet 2>&1 | grep -v "^$" | tail -n 3

echo "== ruff"
ruff check python tests/python

echo "== mypy --strict"
mypy --strict --no-incremental python/demikernel tests/python/typing/example.py

echo "== pytest"
python -m pytest tests/python -q "$@"
