"""``scripts/scale_bench.py`` on tiny systems: one JSON line per size with sane figures, and a sweep that goes
on past a size that fails or runs out of time. The module is a script, not a package module: loaded by path."""

import json
import sys

import pytest

from tests.kernbench.helpers import load_script
from tests.pdes.test_mpi_jobs import MPIRUN

TINY = ["--sizes", "4", "--sip-topology", "ring_1d", "--algorithm", "ring_allreduce_tcm", "--timeout", "60"]


@pytest.fixture(scope="module")
def scale():
    yield load_script("scripts/scale_bench.py", register=True)
    sys.modules.pop("scale_bench", None)


def sweep(scale, capsys, *argv):
    """Run ``main`` and return its exit code, its JSON lines and the table lines after them."""
    rc = scale.main(list(argv))
    out = capsys.readouterr().out.splitlines()
    lines = [json.loads(line) for line in out if line.startswith("{")]
    return rc, lines, out[len(lines) :]


def check_sane(r, sips, ranks):
    assert (r["sips"], r["ranks"], r["status"], r["error"]) == (sips, ranks, "PASS", None)
    assert r["sips_per_rank"] == sips // ranks
    assert r["setup_s"] > 0
    assert r["run_s"] > 0
    assert r["wall_s"] >= r["run_s"]
    assert r["events"] > 0
    assert r["events_per_s"] > 0
    assert 0 < r["base_rss_mb"] <= r["rss_mb"] < 4096
    assert r["rss_mb_per_sip"] == pytest.approx(r["rss_mb"] / r["sips_per_rank"], rel=1e-4)
    assert r["setup_s_per_sip"] == pytest.approx(r["setup_s"] / sips, rel=1e-4)
    assert 0 < r["sim_latency_ns"] < r["sim_end_ns"]
    assert r["run_s_per_sim_us"] > 0


def test_tiny_ring_gives_one_json_line_with_sane_figures_then_a_table(scale, capsys):
    rc, lines, table = sweep(scale, capsys, *TINY)
    assert rc == 0
    (r,) = lines
    assert list(r) == scale.FIELDS
    assert (r["sip_topology"], r["algorithm"]) == ("ring_1d", "ring_allreduce_tcm")
    check_sane(r, sips=4, ranks=1)
    rows = [line for line in table if line.strip()]
    assert rows[0].split()[:3] == ["SIPs", "topology", "algorithm"]
    assert rows[2].split()[:5] == ["4", "ring_1d", "ring_allreduce_tcm", "1", "PASS"]


@pytest.mark.skipif(MPIRUN is None, reason="mpirun not installed (pip install -e '.[dev]')")
def test_under_mpirun_the_ranks_figures_combine_into_one_line_with_the_same_events(scale, capsys):
    _, (one,), _ = sweep(scale, capsys, *TINY)
    rc, (two,), _ = sweep(scale, capsys, *TINY, "--ranks", "2")
    assert rc == 0
    check_sane(two, sips=4, ranks=2)
    assert (two["events"], two["sim_latency_ns"], two["sim_end_ns"]) == (
        one["events"],
        one["sim_latency_ns"],
        one["sim_end_ns"],
    )


def test_a_failing_size_is_reported_and_the_sweep_goes_on(scale, capsys):
    rc, (bad, good), _ = sweep(scale, capsys, "--sizes", "5", "4", "--sip-topology", "torus_2d", "--timeout", "60")
    assert rc == 1
    assert bad["status"] == "ERROR"
    assert "needs a square SIP count" in bad["error"]
    assert bad["events"] is None
    check_sane(good, sips=4, ranks=1)


def test_a_size_past_the_timeout_is_killed_and_reported(scale, capsys):
    rc, (slow,), table = sweep(scale, capsys, *TINY, "--timeout", "0.2", "--markdown")
    assert rc == 1
    assert (slow["status"], slow["error"]) == ("TIMEOUT", "no result within --timeout 0.2 s")
    assert table[1].startswith("| SIPs | topology |")
    assert table[3].startswith("| 4 | ring_1d |")


def test_table_and_derived_figures_leave_missing_values_empty(scale):
    r = scale.finish(
        {
            "sips": 64,
            "sip_topology": "torus_2d",
            "algorithm": "mesh_allreduce",
            "ranks": 1,
            "status": "TIMEOUT",
            "error": "no result",
        }
    )
    assert r["setup_s_per_sip"] is None
    assert r["events_per_s"] is None
    assert r["added_mb_per_sip"] is None
    lines = scale.table([r])
    assert lines[2].split()[:5] == ["64", "torus_2d", "mesh_allreduce", "1", "TIMEOUT"]
    assert lines[-1] == "64 SIPs: TIMEOUT: no result"


def test_plot_writes_a_png_of_the_measured_sizes(scale, capsys, tmp_path):
    png = tmp_path / "scale.png"
    rc, _, _ = sweep(scale, capsys, *TINY, "--plot", str(png))
    assert rc == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 10_000
