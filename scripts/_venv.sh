# Sourced by scripts/demo and scripts/test: create .venv if missing and install the project.
# The install is redone only when pyproject.toml changed since the last one.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo ">> creating .venv with $("$PYTHON" --version)"
    "$PYTHON" -m venv .venv
fi
STAMP=.venv/.kernbench-installed
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
    echo ">> installing kernbench and its dev tools into .venv"
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[dev]"
    touch "$STAMP"
fi
export PATH="$ROOT/.venv/bin:$PATH"
# MPICH from pip busy-spins in blocking calls; these make blocked ranks yield the core.
export MPIR_CVAR_CH4_PROGRESS_THROTTLE="${MPIR_CVAR_CH4_PROGRESS_THROTTLE:-true}"
export MPIR_CVAR_ENABLE_HEAVY_YIELD="${MPIR_CVAR_ENABLE_HEAVY_YIELD:-1}"
