"""``kernbench probe``: every case runs, the numbers obey the topology's limits, and the CLI prints what it says."""

import json
from itertools import pairwise
from pathlib import Path

import pytest

from kernbench.cli.main import main
from kernbench.cli.probe_cases import CASE_NAMES, SUMMARY_BYTES, SWEEP_BYTES, TRACE_BYTES, measure, plan
from kernbench.engine import Engine
from tests.kernbench.closed_forms import probe_case_parts

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = str(ROOT / "topology.yaml")


@pytest.fixture(scope="module")
def rows(topo):
    cases, notes = plan(topo)
    assert notes == []
    return measure(Engine(topo), cases)


def by_case(records):
    out = {}
    for r in records:
        out.setdefault(r["case"], []).append(r)
    return out


def summary(rows, case):
    (row,) = [r for r in rows["summary"] if r["case"] == case]
    return row


def test_every_case_runs_and_latency_grows_over_the_sweep(rows):
    assert [r["case"] for r in rows["summary"]] == list(CASE_NAMES)
    assert all(r["nbytes"] == SUMMARY_BYTES for r in rows["summary"])
    sweeps = by_case(rows["sweep"])
    assert list(sweeps) == list(CASE_NAMES)
    for case, sweep in sweeps.items():
        assert [r["nbytes"] for r in sweep] == list(SWEEP_BYTES)
        latencies = [r["latency_ns"] for r in sweep]
        assert all(a < b for a, b in pairwise(latencies)), (case, latencies)
        bandwidths = [r["bandwidth_gbs"] for r in sweep]
        assert all(a < b for a, b in pairwise(bandwidths)), (case, bandwidths)


def test_utilization_is_the_bottleneck_time_over_the_closed_form_latency(rows, topo):
    """n / bottleneck over the latency: the fixed costs (command, overheads, wires) shrink against the drain as n
    grows, so utilization rises towards, and never reaches, 1."""
    bottleneck = {r["case"]: r["bottleneck_gbs"] for r in rows["summary"]}
    for case, sweep in by_case(rows["sweep"]).items():
        for r in sweep:
            latency = sum(probe_case_parts(topo, r["nbytes"])[case])
            assert r["latency_ns"] == pytest.approx(latency, abs=1e-6), (case, r["nbytes"])
            assert r["utilization"] == pytest.approx(r["nbytes"] / bottleneck[case] / latency, rel=1e-12), case
        assert sweep[-1]["utilization"] < 1.0


def test_pe_local_hbm_saturates_one_hbm_channel(rows, topo):
    row = summary(rows, "pe-local-hbm")
    assert row["bottleneck"] == "HBM channel"
    assert row["bottleneck_gbs"] == topo.cube.hbm_ctrl.effective_bw_gbs == 204.8
    last = by_case(rows["sweep"])["pe-local-hbm"][-1]
    assert last["nbytes"] == 1 << 20
    assert 0.9 * 204.8 <= last["bandwidth_gbs"] <= 204.8


def test_bottlenecks_follow_the_topology(rows):
    expected = {
        "h2d-write": 64.0,
        "d2h-read": 64.0,
        "pe-remote-cube-hbm": 204.8,
        "pe-tcm": 256.0,
        "cross-sip-pe-dma": 100.0,
    }
    assert {case: summary(rows, case)["bottleneck_gbs"] for case in expected} == expected
    assert summary(rows, "cross-sip-pe-dma")["bottleneck"] == "inter-SIP link"


def test_each_part_of_the_breakdown_is_its_closed_form_and_nothing_queues(rows, topo):
    want = probe_case_parts(topo)
    assert sorted(want) == sorted(CASE_NAMES)
    for r in rows["summary"]:
        command, overhead, wire, drain = want[r["case"]]
        got = (r["command_ns"], r["overhead_ns"], r["wire_ns"], r["drain_ns"])
        assert got == pytest.approx((command, overhead, wire, drain), abs=1e-6), r["case"]
        assert r["queueing_ns"] == 0.0, r["case"]
        assert r["latency_ns"] == pytest.approx(command + overhead + wire + drain, abs=1e-6), r["case"]
    assert all(h["queued_ns"] == 0.0 for h in rows["hops"])


def test_cross_sip_costs_at_least_the_inter_sip_latency_more_than_local(rows, topo):
    cross, local = summary(rows, "cross-sip-pe-dma"), summary(rows, "pe-local-hbm")
    assert cross["latency_ns"] - local["latency_ns"] >= topo.system.inter_sip_link.latency_ns
    links = [h["link"] for h in rows["hops"] if h["case"] == "cross-sip-pe-dma"]
    assert "sip0->sip1" in links
    assert "sip1->sip0" in links  # the data goes, the acknowledgement returns


def test_route_traces_end_at_the_latency_of_the_traced_transfer(rows):
    latency = {r["case"]: r["latency_ns"] for r in rows["sweep"] if r["nbytes"] == TRACE_BYTES}
    traces = by_case(rows["hops"])
    assert list(traces) == list(CASE_NAMES)
    for case, hops in traces.items():
        assert [h["hop"] for h in hops] == list(range(1, len(hops) + 1))
        assert all(h["tail_out_ns"] >= h["head_in_ns"] for h in hops), case
        assert max(h["cumulative_ns"] for h in hops) == pytest.approx(latency[case]), case
    assert [h["link"] for h in traces["pe-tcm"]] == [
        "sip0.cube0.pe0.dma",
        "sip0.cube0.pe0->xbar",
        "sip0.cube0.xbar->pe1",
    ]


def test_two_virtual_ranks_give_the_same_rows(topo, rows):
    cases, _ = plan(topo)
    assert measure(Engine(topo, transport="local", ranks=2), cases) == rows


def test_json_lines_end_to_end(capsys):
    assert main(["probe", "--topology", TOPOLOGY, "--json"]) == 0
    out = capsys.readouterr().out
    records = [json.loads(line) for line in out.splitlines()]
    kinds = [r["type"] for r in records]
    assert kinds[0] == "probe"
    assert set(kinds) == {"probe", "summary", "sweep", "hop"}
    assert kinds.count("summary") == len(CASE_NAMES)
    assert kinds.count("sweep") == len(CASE_NAMES) * len(SWEEP_BYTES)
    first = next(r for r in records if r["type"] == "summary")
    assert {"case", "latency_ns", "overhead_ns", "wire_ns", "drain_ns", "bandwidth_gbs", "utilization"} <= set(first)
    assert not any("wall" in key for r in records for key in r)


def test_text_output_fits_100_columns(capsys):
    assert main(["probe", "--topology", TOPOLOGY]) == 0
    out = capsys.readouterr().out
    assert "64 KiB transfer" in out
    assert "Bandwidth sweep" in out
    assert "Route trace: cross-sip-pe-dma" in out
    assert max(len(line) for line in out.splitlines()) <= 100
    line = next(line for line in out.splitlines() if line.startswith("pe-local-hbm "))
    assert "383.05" in line  # 64 KiB: 10 setup + 53 overhead + 0.05 wire + 320 drain


def test_one_case(capsys):
    assert main(["probe", "--topology", TOPOLOGY, "--case", "pe-tcm", "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["case"] for r in records if "case" in r} == {"pe-tcm"}


def test_unknown_case_is_one_line_and_exit_2(capsys):
    assert main(["probe", "--topology", TOPOLOGY, "--case", "nope"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith("kernbench: unknown case 'nope'")
    assert all(name in line for name in CASE_NAMES)


def test_missing_topology_is_one_line_and_exit_2(capsys):
    assert main(["probe", "--topology", "/nonexistent/topology.yaml"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("kernbench: /nonexistent/topology.yaml: cannot read")


def test_one_sip_skips_cross_sip_with_a_note_or_refuses_it_by_name(tmp_path, capsys):
    one = tmp_path / "topology.yaml"
    one.write_text((ROOT / "topology.yaml").read_text().replace("sip_count: 2 ", "sip_count: 1 ", 1))
    assert main(["probe", "--topology", str(one), "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    notes = [r for r in records if r["type"] == "note"]
    assert [n["case"] for n in notes] == ["cross-sip-pe-dma"]
    assert "needs >= 2 SIPs" in notes[0]["message"]
    assert [r["case"] for r in records if r["type"] == "summary"] == [c for c in CASE_NAMES if c != "cross-sip-pe-dma"]
    assert main(["probe", "--topology", str(one), "--case", "cross-sip-pe-dma"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == f"kernbench: cross-sip-pe-dma needs >= 2 SIPs; {one} has 1"
