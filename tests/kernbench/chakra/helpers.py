"""What the Chakra tests share: ASTRA-sim's microbenchmarks (in ../shared, never copied here), and running
``kernbench run --chakra`` in this process for its exit code, JSON line and stderr."""

import json
from pathlib import Path

import pytest

from kernbench.cli.main import main
from tests.kernbench.helpers import DEFAULT_TOPOLOGY, REPO_ROOT

MICROBENCHMARKS = REPO_ROOT.parent / "shared" / "chakra" / "microbenchmarks"
needs_microbenchmarks = pytest.mark.skipif(
    not MICROBENCHMARKS.is_dir(),
    reason=f"ASTRA-sim's Chakra microbenchmarks are not at {MICROBENCHMARKS} (../shared/chakra of the repository)",
)


def microbenchmark(op: str, ranks: int) -> str:
    """The PREFIX of ASTRA-sim's ``op`` microbenchmark on ``ranks`` NPUs (1 MiB)."""
    return str(MICROBENCHMARKS / op / f"{ranks}npus_1MB" / op)


def chakra(capsys, prefix: str | Path, *args: str) -> tuple[int, dict | None, str]:
    """``kernbench run --chakra PREFIX ARGS --json``: exit code, the JSON line (None if none), stderr."""
    code = main(["run", "--topology", str(DEFAULT_TOPOLOGY), "--chakra", str(prefix), *args, "--json"])
    out, err = capsys.readouterr()
    lines = [line for line in out.splitlines() if line.startswith("{")]
    return code, json.loads(lines[-1]) if lines else None, err
