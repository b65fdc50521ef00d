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
# MPICH's yield settings (blocked ranks give up the core) are pdes's choice per job: on when a node's ranks
# outnumber its cores, as mpirun -n 4 on a 2-core machine (pdes/mpich_progress.py).
