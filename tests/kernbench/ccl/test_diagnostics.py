"""CCL diagnostics (issue 13 point 7): the ``KERNBENCH_CCL_TRACE`` IPCQ trace and ``pointer_dump``.

Ported from the seeds' "Tests for CCL diagnostics: trace + pointer dump (ADR-0023 D14)" and "Tests for IPCQ
deadlock detection (ADR-0023 D14 F3)" in /work/shared/seeds/000_*.txt; the trace is the one ADR-0025 D5 keeps
``src_direction`` for, the dump carries its "direction <-> rx_base_pa" mapping.
"""

import json

import pytest

from kernbench.ccl import diagnostics, pointer_dump
from kernbench.engine import Engine, IpcqDeadlock, IpcqInitMsg
from kernbench.runtime import RuntimeContext
from tests.kernbench.ipcq.test_ipcq import ring_plan, run_ring
from tests.pdes.test_mpi_jobs import MPIRUN, run

from .bench_runner import run_bench, small_system


@pytest.fixture
def trace_env(monkeypatch):
    """Set KERNBENCH_CCL_TRACE for one test; the setting is read again before and after."""

    def set_to(value):
        if value is None:
            monkeypatch.delenv(diagnostics.TRACE_ENV, raising=False)
        else:
            monkeypatch.setenv(diagnostics.TRACE_ENV, value)
        diagnostics.reload_trace_setting()

    yield set_to
    monkeypatch.delenv(diagnostics.TRACE_ENV, raising=False)
    diagnostics.reload_trace_setting()


def test_trace_disabled_by_default(trace_env):
    """Seed: ``test_trace_disabled_by_default``."""
    trace_env(None)
    assert diagnostics.trace_enabled() is False
    trace_env("0")
    assert diagnostics.trace_enabled() is False


def test_trace_enabled_via_env(trace_env):
    """Seed: ``test_trace_enabled_via_env``."""
    trace_env("1")
    assert diagnostics.trace_enabled() is True


def exchange(tl):
    """sip0 sends one tile east; sip1 receives it from the west."""
    if tl.ctx.sip == 0:
        tl.send("E", tl.zeros((16,), "f32") + 1.0)
    else:
        tl.recv("W", (16,), "f32")


def test_trace_record_send_recv_and_credit(topo, trace_env, capsys):
    """Seeds: ``test_trace_record_send`` and ``test_trace_record_recv`` (a line with ``send`` / ``recv``, the PE
    and ``dir=``), here from a real run: one line per send, receive and credit with time, rank, direction,
    sequence number and slot address, in time order on one process."""
    trace_env("1")
    run_ring(topo, exchange)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("ccl-trace ")]
    assert [line.split()[5] for line in lines] == ["send", "recv", "credit"]
    send, recv, credit = lines
    assert send.startswith("ccl-trace t=")
    assert " rank=0 cube=0 pe=0 send dir=E seq=0 " in send
    assert "slot=sip1.cube0.pe0.tcm+" in send
    assert "bytes=64 peer=sip1.cube0.pe0" in send
    assert " rank=1 cube=0 pe=0 recv dir=W seq=0 slot=sip1.cube0.pe0.tcm+" in recv
    assert "peer=sip0.cube0.pe0" in recv
    assert " rank=1 cube=0 pe=0 credit dir=W seq=0 " in credit
    assert "bytes=16" in credit
    assert send.split()[8] == recv.split()[8] == credit.split()[8]  # the same slot, seen from both ends
    times = [diagnostics.trace_sort_key(line)[0] for line in lines]
    assert times == sorted(times)
    assert times[0] < times[1]


def test_trace_off_writes_nothing(topo, trace_env, capsys):
    trace_env(None)
    run_ring(topo, exchange)
    assert "ccl-trace" not in capsys.readouterr().err


def test_trace_to_a_file_sorts_and_merges(topo, trace_env, tmp_path, capsys):
    """``KERNBENCH_CCL_TRACE=PATH`` writes PATH (one process); `merge_trace` gives the canonical order, which is
    the same as sorting what stderr mode prints."""
    trace_env(str(tmp_path / "trace.log"))
    run_bench(small_system(topo, 2, "ring_1d"), "hierarchical_allreduce", n_elem=1024)
    diagnostics.reload_trace_setting()  # closes the file
    merged = diagnostics.merge_trace([tmp_path / "trace.log"])
    assert len(merged) > 100
    assert merged == diagnostics.sort_trace(merged)
    trace_env("1")
    capsys.readouterr()
    run_bench(small_system(topo, 2, "ring_1d"), "hierarchical_allreduce", n_elem=1024)
    assert diagnostics.sort_trace(capsys.readouterr().err.splitlines()) == merged
    events = {line.split()[5] for line in merged}
    assert events == {"send", "recv", "credit"}
    assert {line.split()[6] for line in merged} >= {"dir=E", "dir=W", "dir=N", "dir=S", "dir=parent"}


def test_pointer_dump_format(topo):
    """Seed: ``test_pointer_dump_format`` (after installing ring_allreduce_tcm: ``sip0.cube0.pe0``, ``E:``,
    ``W:``, ``my_head=``, ``peer_tail_cache=``), here after ``init_process_group``, from host code."""
    engine = Engine(topo)
    torch = RuntimeContext(engine)
    dumps = {}

    def host(sip):
        torch.distributed.init_process_group("ahbm")
        torch.distributed.barrier()
        dumps[sip] = pointer_dump(torch)

    for sip in range(topo.sip_count):
        engine.spawn(sip, host)
    engine.run()
    dump = pointer_dump(engine)
    assert dumps[0].splitlines()[0] == "sip0.cube0.pe0"
    assert "ring_W:" in dumps[1]  # on demand, from host code
    lines = dump.splitlines()
    assert lines[0] == "sip0.cube0.pe0"
    east = next(line for line in lines if line.startswith("  E:"))
    assert "my_head=" in east
    assert "peer_tail_cache=" in east
    assert "my_tail=" in east
    assert "peer_head_cache=" in east
    assert "send_to=sip1.cube0.pe0 peer_rx_base=sip1.cube0.pe0.tcm+" in east
    assert "recv_from=sip1.cube0.pe0 rx_base=sip0.cube0.pe0.tcm+" in east
    assert "ring=8x65536" in east
    assert any(line.startswith("  W:") for line in lines)
    assert any(line.startswith("  ring_E:") for line in lines)
    assert "sip1.cube0.pe0" in lines
    with pytest.raises(TypeError, match="pointer_dump: expected the torch object"):
        pointer_dump(object())


def test_pointer_dump_includes_blocked_state(topo):
    """Seed: ``test_pointer_dump_includes_blocked_state`` (a blocked receive shows ``my_tail=0`` and
    ``peer_head_cache=0``), and ``test_deadlock_detection_recv_without_send`` (``IpcqDeadlock``)."""
    engine = Engine(topo)
    torch = RuntimeContext(engine)

    def kernel(tl):
        tl.recv("W", (4,), "f32")  # nobody sends

    def host(sip):
        engine.wait(engine.submit(IpcqInitMsg(sip, 0, 0, ring_plan(topo, sip))))
        torch.launch("stuck", kernel, grid=[(0, 0)])

    for sip in range(topo.sip_count):
        engine.spawn(sip, host)
    with pytest.raises(IpcqDeadlock):
        engine.run()
    west = next(line for line in pointer_dump(engine).splitlines() if line.startswith("  W:"))
    assert "my_tail=0" in west
    assert "peer_head_cache=0" in west
    assert "rx_next=1" in west
    assert "waiting=[data #0 from sip1.cube0.pe0]" in west


@pytest.mark.skipif(MPIRUN is None, reason="mpirun not installed (pip install -e '.[dev]')")
@pytest.mark.parametrize("algorithm", ["hierarchical_allreduce", "intercube_allreduce"])
def test_trace_is_identical_single_process_and_under_mpirun(tmp_path, monkeypatch, algorithm):
    """``kernbench run --bench ccl_allreduce --algorithm A`` with ``KERNBENCH_CCL_TRACE=PATH``: one process writes
    PATH, ``mpirun -n 2`` writes PATH.rank0 and PATH.rank1 (each rank its own SIP); merged, the two traces are the
    same line for line, and the JSON lines are the same but for ranks and wall time."""
    args = [
        "-m",
        "kernbench.cli.main",
        "run",
        "--topology",
        "topology.yaml",
        "--json",
        "--bench",
        "ccl_allreduce",
        "--algorithm",
        algorithm,
    ]
    monkeypatch.setenv(diagnostics.TRACE_ENV, str(tmp_path / "one.log"))
    single, _ = run(args)
    monkeypatch.setenv(diagnostics.TRACE_ENV, str(tmp_path / "two.log"))
    split, _ = run(args, ranks=2)
    assert single.returncode == split.returncode == 0, (single.stderr, split.stderr)
    one = diagnostics.merge_trace([tmp_path / "one.log"])
    ranks = [tmp_path / "two.log.rank0", tmp_path / "two.log.rank1"]
    two = diagnostics.merge_trace(ranks)
    assert len(one) > 100
    assert one == two
    for rank, path in enumerate(ranks):  # each rank logged only its own SIP
        assert {line.split()[2] for line in path.read_text().splitlines()} == {f"rank={rank}"}
    a, b = json.loads(single.stdout), json.loads(split.stdout)
    assert a["status"] == b["status"] == "PASS"
    assert a["sim_latency_ns"] == b["sim_latency_ns"]
    assert (a["ranks"], b["ranks"]) == (1, 2)
