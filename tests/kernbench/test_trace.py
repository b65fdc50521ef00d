"""Timeline traces (``--trace``) of a 2-SIP ring all-reduce, parsed back: flows join every IPCQ send to its
receive, spans nest, kernel and phase spans match the reported latencies, the bytes do not depend on the ranks."""

import json
from collections import defaultdict
from pathlib import Path

import pytest

from kernbench.cli.main import main
from kernbench.engine import ipcq
from kernbench.engine.trace_file import _lanes
from tests.pdes.test_mpi_jobs import MPIRUN
from tests.pdes.test_mpi_jobs import run as run_job

from .conftest import DEFAULT_TOPOLOGY

pytestmark = pytest.mark.timeout(120)


def run_trace(tmp_path: Path, capsys, *extra: str, name: str = "t.json") -> tuple[dict, dict]:
    """``kernbench run --bench ccl_allreduce --json --trace PATH ...``: (the parsed trace, the report line)."""
    path = tmp_path / name
    code = main(
        ["run", "--topology", str(DEFAULT_TOPOLOGY), "--bench", "ccl_allreduce", "--json", "--trace", str(path), *extra]
    )
    line = json.loads(capsys.readouterr().out)
    assert code == 0
    assert line["status"] == "PASS"
    return json.loads(path.read_text()), line


def tracks(trace: dict) -> dict[tuple[int, int], str]:
    """(pid, tid) -> ``process/thread`` name."""
    procs = {e["pid"]: e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "process_name"}
    return {
        (e["pid"], e["tid"]): f"{procs[e['pid']]}/{e['args']['name']}"
        for e in trace["traceEvents"]
        if e["name"] == "thread_name"
    }


def spans(trace: dict) -> list[dict]:
    """Complete events with integer ns ``start`` and ``end`` (the file's microseconds have three decimals)."""
    out = []
    for e in trace["traceEvents"]:
        if e["ph"] == "X":
            start = round(e["ts"] * 1000)
            out.append({**e, "start": start, "end": start + round(e["dur"] * 1000)})
    return out


def test_every_ipcq_send_has_a_flow_to_its_receive(tmp_path, capsys, monkeypatch):
    """The flows' ends are the IPCQ trace's send and recv lines (KERNBENCH_CCL_TRACE, an independent record)."""
    log = tmp_path / "ccl.log"
    monkeypatch.setenv(ipcq.TRACE_ENV, str(log))
    ipcq.reload_trace_setting()
    try:
        trace, _ = run_trace(tmp_path, capsys)
    finally:
        monkeypatch.delenv(ipcq.TRACE_ENV)
        ipcq.reload_trace_setting()
    lines = log.read_text().splitlines()
    names = tracks(trace)
    starts = {e["id"]: e for e in trace["traceEvents"] if e["ph"] == "s"}
    ends = {e["id"]: e for e in trace["traceEvents"] if e["ph"] == "f"}
    assert set(starts) == set(ends) == set(range(1, len(starts) + 1))
    expected_sends, expected_recvs = [], []
    for line in lines:
        f = dict(part.split("=", 1) for part in line.split() if "=" in part)
        where = f"sip{f['rank']}/cube{f['cube']} pe{f['pe']}"
        if " send " in line:
            expected_sends.append((where, round(float(f["t"]))))
        elif " recv " in line:
            expected_recvs.append((where, round(float(f["t"]))))
    sends = sorted((names[(e["pid"], e["tid"])], round(e["ts"] * 1000)) for e in starts.values())
    recvs = sorted((names[(e["pid"], e["tid"])], round(e["ts"] * 1000)) for e in ends.values())
    assert len(sends) == 6  # 2 SIPs x (1 barrier + 2 ring steps)
    assert sends == sorted(expected_sends)
    assert recvs == sorted(expected_recvs)
    for flow_id, s in starts.items():
        f = ends[flow_id]
        assert f["ts"] >= s["ts"]
        assert f["bp"] == s["bp"] == "e"
        assert f["cat"] == s["cat"] == "ipcq"
        assert s["pid"] != f["pid"]  # every send of a 2-SIP ring all-reduce goes to the other SIP


def test_spans_nest_on_every_track_and_operations_lie_inside_kernels(tmp_path, capsys):
    trace, _ = run_trace(tmp_path, capsys)
    by_track = defaultdict(list)
    for s in spans(trace):
        by_track[(s["pid"], s["tid"])].append(s)
    for track in by_track.values():
        open_ends: list[int] = []
        for s in sorted(track, key=lambda s: (s["start"], -s["end"])):
            while open_ends and open_ends[-1] <= s["start"]:
                open_ends.pop()
            assert not open_ends or s["end"] <= open_ends[-1], s
            open_ends.append(s["end"])
    names = tracks(trace)
    kernels = [s for s in spans(trace) if s["cat"] == "kernel"]
    ops = [s for s in spans(trace) if s["cat"] == "op"]
    assert {s["name"] for s in ops} >= {"dma", "math", "mmu"}
    for op in ops:
        pe = names[(op["pid"], op["tid"])].split(" #")[0]
        assert any(
            names[(k["pid"], k["tid"])] == pe and k["start"] <= op["start"] and op["end"] <= k["end"] for k in kernels
        ), op
    for flow in (e for e in trace["traceEvents"] if e["ph"] in "sf"):  # each flow end binds to a kernel span
        t = round(flow["ts"] * 1000)
        assert any((k["pid"], k["tid"]) == (flow["pid"], flow["tid"]) and k["start"] <= t <= k["end"] for k in kernels)


def test_kernel_and_phase_spans_match_the_reported_latency(tmp_path, capsys):
    """The all-reduce's host request lasts what the bench reports (the slowest SIP's: the SPMD bench reports the
    maximum on every SIP); its kernel spans lie inside it and the last PE ends ``launch_exec_ns`` after the start."""
    trace, line = run_trace(tmp_path, capsys)
    names = tracks(trace)
    latencies = []
    for sip in (0, 1):
        [request] = [
            s
            for s in spans(trace)
            if names[(s["pid"], s["tid"])] == f"sip{sip}/host requests" and s["args"]["phase"] == "kernel:all_reduce"
        ]
        [phase] = [
            s
            for s in spans(trace)
            if names[(s["pid"], s["tid"])] == f"sip{sip}/host phases" and s["name"] == "kernel:all_reduce"
        ]
        assert (request["name"], request["start"], request["end"]) == ("KernelLaunchMsg", phase["start"], phase["end"])
        latencies.append(request["args"]["latency_ns"])
        launch = [
            s for s in spans(trace) if s["cat"] == "kernel" and s["pid"] == 2 * sip + 1 and s["name"] == "all_reduce"
        ]
        assert launch
        assert all(phase["start"] <= s["start"] and s["end"] <= phase["end"] for s in launch)
        exec_ns = launch[0]["args"]["launch_exec_ns"]
        assert 0 < exec_ns < request["args"]["latency_ns"]
        assert abs(max(s["end"] for s in launch) - launch[0]["start"] - exec_ns) <= 1  # ends rounded to the ns
    assert max(latencies) == pytest.approx(line["sim_latency_ns"], abs=1e-6)
    assert [r["sim_latency_ns"] for r in line["results"]] == [line["sim_latency_ns"]] * 2


def test_detail_levels_add_operations_then_links(tmp_path, capsys):
    kernels, _ = run_trace(tmp_path, capsys, "--trace-detail", "kernels", name="k.json")
    ops, _ = run_trace(tmp_path, capsys, name="o.json")  # the default detail
    links, _ = run_trace(tmp_path, capsys, "--trace-detail", "links", name="l.json")
    cats = [{e.get("cat") for e in t["traceEvents"]} - {None} for t in (kernels, ops, links)]
    assert cats == [
        {"host", "kernel", "ipcq"},
        {"host", "kernel", "ipcq", "op"},
        {"host", "kernel", "ipcq", "op", "link"},
    ]
    assert [t["otherData"]["detail"] for t in (kernels, ops, links)] == ["kernels", "ops", "links"]
    serdes = [
        e
        for e in links["traceEvents"]
        if e["ph"] == "X" and e["cat"] == "link" and tracks(links)[(e["pid"], e["tid"])] == "sip0 links/serdes.E"
    ]
    assert serdes
    assert all(e["args"]["bytes"] > 0 for e in serdes)


def test_trace_sips_keeps_those_sips_and_the_flows_between_them(tmp_path, capsys):
    trace, _ = run_trace(tmp_path, capsys, "--trace-sips", "1")
    assert {e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "process_name"} == {"sip1"}
    assert not [e for e in trace["traceEvents"] if e["ph"] in "sf"]  # every flow has an end on sip0
    assert trace["otherData"]["sips"] == [1]


def test_trace_bytes_are_the_same_on_two_virtual_ranks(tmp_path, capsys):
    run_trace(tmp_path, capsys, "--trace-detail", "links", name="one.json")
    run_trace(tmp_path, capsys, "--trace-detail", "links", "--ranks", "2", name="two.json")
    assert (tmp_path / "one.json").read_bytes() == (tmp_path / "two.json").read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trace-sips", "0"], "--trace-sips 0: needs --trace PATH"),
        (["--trace-detail", "ops"], "--trace-detail ops: needs --trace PATH"),
        (["--trace", "t.json", "--trace-sips", "0-2"], "--trace-sips 0-2: 0-2 is not within sip 0..1"),
        (["--trace", "t.json", "--trace-sips", "a"], "--trace-sips a: expected SIP numbers and ranges like 0-3,8"),
        (["--trace", "/no/such/dir/t.json"], "--trace /no/such/dir/t.json: cannot write: directory"),
    ],
)
def test_bad_trace_options_are_one_line_errors(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--topology", str(DEFAULT_TOPOLOGY), "--bench", "ccl_allreduce", *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert not (tmp_path / "t.json").exists()


def test_lanes_split_only_spans_that_would_overlap_without_nesting():
    spans = [(0, 10, "k", None), (2, 4, "a", None), (3, 6, "b", None), (5, 7, "c", None), (12, 13, "d", None)]
    assert [[s[2] for s in lane] for lane in _lanes(spans)] == [["k", "a", "c", "d"], ["b"]]


@pytest.mark.skipif(MPIRUN is None, reason="mpirun not installed (pip install -e '.[dev]')")
def test_cli_files_under_mpirun_are_the_single_process_bytes(tmp_path):
    """``kernbench run --trace --hw-stats`` as a whole job: rank 0 writes the same bytes one process writes."""
    files = {}
    for ranks in (None, 2):
        trace, stats = tmp_path / f"t{ranks}.json", tmp_path / f"s{ranks}.csv"
        proc, _ = run_job(
            [
                "-m",
                "kernbench.cli.main",
                "run",
                "--topology",
                "topology.yaml",
                "--sips",
                "4",
                "--bench",
                "ccl_allreduce",
                "--trace",
                str(trace),
                "--trace-detail",
                "links",
                "--hw-stats",
                str(stats),
            ],
            ranks=ranks,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.count("busiest links") == 1  # printed once per job
        files[ranks] = (trace.read_bytes(), stats.read_bytes())
    assert files[2] == files[None]


def test_the_default_trace_of_a_64_sip_all_reduce_stays_under_50_mb(tmp_path, capsys):
    trace, line = run_trace(tmp_path, capsys, "--sips", "64")
    size = (tmp_path / "t.json").stat().st_size
    assert line["sips"] == list(range(64))
    assert trace["otherData"]["detail"] == "ops"
    assert trace["otherData"]["sips"] == list(range(64))
    assert trace["otherData"]["flows"] > 64
    assert size < 50e6
