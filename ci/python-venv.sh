# Sourced by the Python CI scripts: creates (if missing) and activates the venv the Python tests use
# (DEMI_PY_VENV, default /tmp/demikernel-venv; interpreter PYTHON, default python3, >= 3.11) and installs the
# tools they need from PyPI when missing: maturin, pytest, mypy, ruff, uvloop (the comparison), matplotlib
# (the CLI's --plot).
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
