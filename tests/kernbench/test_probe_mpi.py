"""``kernbench probe`` under ``mpirun -n 2`` prints exactly what a single process prints (rank 0 only)."""

import pytest

from tests.pdes.test_mpi_jobs import MPIRUN, run

pytestmark = pytest.mark.skipif(MPIRUN is None, reason="mpirun not installed (pip install -e '.[dev]')")

PROBE = ["-m", "kernbench.cli.main", "probe", "--topology", "topology.yaml"]


@pytest.mark.parametrize("fmt", [["--json"], []], ids=["json", "text"])
def test_two_ranks_print_the_same_as_one_process(fmt):
    single, _ = run([*PROBE, *fmt])
    assert single.returncode == 0, single.stderr
    assert single.stdout.count('"type": "summary"' if fmt else "Route trace:") == 6
    double, _ = run([*PROBE, *fmt], ranks=2)
    assert double.returncode == 0, double.stderr
    assert double.stdout == single.stdout
