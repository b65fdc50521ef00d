"""Every examples/*.py runs as a new user runs it (``python examples/NAME.py`` from the repository root) and prints
what it promises: a PASS line and numbers in the range the model gives. examples/README.md lists each one."""

import re
import subprocess
import sys
from collections.abc import Callable

import pytest

from tests.kernbench.helpers import REPO_ROOT

EXAMPLES = sorted((REPO_ROOT / "examples").glob("*.py"))


def numbers(pattern: str, out: str) -> list[float]:
    """The floats of every match of ``pattern`` (one group) in ``out``."""
    return [float(x) for x in re.findall(pattern, out)]


def all_reduce(out: str) -> None:
    [us] = numbers(r"all_reduce of 262144 bytes on 2 SIPs: ([\d.]+) us simulated", out)
    assert 2.62 < us < 20  # above the bytes' time on one 100 GB/s link; a few steps of latency at most


def custom_topology(out: str) -> None:
    slow, fast = numbers(r"ns links: 4 SIPs, all_reduce of 4096 bytes: ([\d.]+) us", out)
    assert slow - fast == pytest.approx(0.8, abs=0.01)  # two steps (a row, a column), each one link: 2 x 400 ns


def gemm_kernel(out: str) -> None:
    [ns] = numbers(r"64x512 @ 512x128 on 1 PE: ([\d.]+) ns", out)
    [gemm] = numbers(r"'gemm': ([\d.]+)", out)
    assert gemm == pytest.approx(4 * (2 + 20) + 2 * 64 * 512 * 128 / 16384, abs=1)  # 4 dots: dispatch, fill, flops
    assert gemm < ns < 50_000


def groups_p2p(out: str) -> None:
    assert "{0: True, 1: True, 2: True, 3: True}" in out


def reference_vs_sim(out: str) -> None:
    rows = re.findall(r"^ +(\d+) +([\d.]+) +([\d.]+) +([\d.]+) +([\d.]+) +(\d+)$", out, re.MULTILINE)
    assert [int(r[0]) for r in rows] == [1024, 65536, 4194304]
    assert all(int(r[5]) == 0 for r in rows)
    assert 60 < float(rows[-1][4]) < 100  # busbw at 4 MiB: most of a 100 GB/s link


CHECKS: dict[str, Callable[[str], None]] = {
    "all_reduce": all_reduce,
    "custom_topology": custom_topology,
    "gemm_kernel": gemm_kernel,
    "groups_p2p": groups_p2p,
    "reference_vs_sim": reference_vs_sim,
}


def test_every_example_has_checks_and_a_line_in_the_readme():
    assert sorted(CHECKS) == [path.stem for path in EXAMPLES]
    readme = (REPO_ROOT / "examples" / "README.md").read_text(encoding="utf-8")
    for path in EXAMPLES:
        assert f"`{path.name}`" in readme, f"examples/README.md does not list {path.name}"
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 60, f"{path.name}: keep an example short"


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_example_runs_and_prints_what_it_promises(path):
    proc = subprocess.run(
        [sys.executable, f"examples/{path.name}"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1].startswith("PASS"), proc.stdout
    CHECKS[path.stem](proc.stdout)
