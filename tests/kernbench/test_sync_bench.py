"""``scripts/sync_bench.py`` on a tiny system: one process, mpirun -n 2, projected 2 and 4 ranks; one JSON line
per run with the same events everywhere, the projection error against the measured 2-rank run, and a table."""

import json
import sys

import pytest

from tests.kernbench.helpers import load_script
from tests.pdes.test_mpi_jobs import MPIRUN

pytestmark = pytest.mark.skipif(MPIRUN is None, reason="mpirun not installed (pip install -e '.[dev]')")


@pytest.fixture(scope="module")
def bench():
    yield load_script("scripts/sync_bench.py", register=True)
    sys.modules.pop("sync_bench", None)


def test_tiny_sweep_gives_every_run_and_the_projection_error(bench, capsys):
    rc = bench.main(
        ["--workloads", "mesh", "--sizes", "4", "--project-ranks", "4", "16", "--timeout", "120", "--markdown"]
    )
    out = capsys.readouterr().out.splitlines()
    rows = [json.loads(line) for line in out if line.startswith("{")]
    assert rc == 0, rows
    assert [(r["mode"], r["ranks"]) for r in rows] == [("single", 1), ("mpirun", 2), ("proj", 2), ("proj", 4)]
    assert {r["status"] for r in rows} == {"PASS"}
    assert len({r["events"] for r in rows}) == 1
    assert rows[0]["speedup"] == 1.0
    assert rows[0]["null_msgs"] == 0 < rows[1]["null_msgs"]
    # Null messages follow the rounds, and a round ends early after pdes.sync.ROUND_BUDGET_S of wall time: on a
    # loaded machine the two 2-rank runs may cut their rounds differently. Same rounds, same promises; and either
    # way a rank tells its neighbour each of its LPs' promise at most once a round (4 SIPs: 4 LPs).
    if rows[1]["rounds"] == rows[2]["rounds"]:
        assert rows[1]["null_msgs"] == rows[2]["null_msgs"]
    assert all(0 < r["null_msgs"] <= 4 * r["rounds"] for r in rows[1:3])
    assert rows[1]["real_msgs"] == rows[2]["real_msgs"]
    # The lines carry 4 significant digits: walls of ~0.3 s are off by up to 5e-5 s each, so the percentage
    # recomputed from them by up to ~0.04 points (whatever its size), besides 1 % of itself.
    assert rows[2]["error_pct"] == pytest.approx(
        100 * (rows[2]["wall_s"] - rows[1]["wall_s"]) / rows[1]["wall_s"], rel=0.01, abs=0.05
    )
    assert all(r["wall_s"] > 0 and r["lambda"] > 0 for r in rows)
    assert rows[3]["efficiency"] == pytest.approx(rows[3]["speedup"] / 4, rel=0.01)  # speedup over ranks
    assert rows[0]["cpu_s"] > 0  # the one process's CPU time, and each projection's from CPU time
    assert rows[3]["speedup_cpu"] == pytest.approx(rows[0]["cpu_s"] / rows[3]["cpu_s"], rel=0.01)
    assert rows[1]["speedup_cpu"] is None  # not for measured mpirun runs (their waits spin)
    table = [line for line in out if line.startswith("|")]
    assert table[0].startswith("| workload | SIPs | run |")
    assert len(table) == 2 + len(rows)
    assert "| mesh | 4 | projected 4 | PASS |" in table[-1]
