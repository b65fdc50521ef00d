"""Hardware statistics (``--hw-stats``): link bytes against the ring all-reduce's closed form, peak queues and
waits of a FIFO link, HBM bytes per slice, PE busy time, the files and the text report."""

import csv
import io
import json
import math

import numpy as np
import pytest
import simpy

from kernbench.ccl import load_ccl_config
from kernbench.cli.main import main
from kernbench.cli.run_report import hw_lines
from kernbench.components import Link, transfer
from kernbench.components.stats import LinkProbe, attach
from kernbench.engine import Engine, MemoryWriteMsg
from kernbench.engine.hw_stats import CSV_COLUMNS, hw_stats
from kernbench.engine.pe import UNITS
from kernbench.engine.recorder import Recording
from kernbench.runtime import RuntimeContext
from kernbench.topology import PhysAddr, load_topology

from .conftest import DEFAULT_TOPOLOGY

pytestmark = pytest.mark.timeout(120)


def ring_allreduce(sips: int, n: int) -> tuple[dict, list[dict]]:
    """Only an all-reduce of ``n`` f32 on each SIP's leader (no barrier): (hw stats, each SIP's kernel phases)."""
    topo = load_topology(DEFAULT_TOPOLOGY, sips=sips)
    eng = Engine(topo, report_requests=False, recording=Recording(stats=True))
    ccl = load_ccl_config()

    def worker(sip: int, torch: RuntimeContext) -> list:
        torch.distributed.init_process_group("ahbm")
        with torch:
            t = torch.zeros((n,), "f32")
            t.copy_(np.full(n, sip + 1, dtype=np.float32))
            torch.distributed.all_reduce(t)
            assert np.all(t.numpy() == sips * (sips + 1) / 2)
        return torch.traces[sip].totals()

    for sip in range(sips):
        eng.spawn(sip, worker, RuntimeContext(eng, ccl), name=f"w{sip}")
    phases = eng.run().workers
    return hw_stats(eng.gather_records()), [phases[f"w{s}"] for s in range(sips)]


def test_inter_sip_link_bytes_are_the_ring_all_reduce_closed_form_plus_credits():
    """Each SIP sends 2(p-1) chunks of n/p values east, in slot-size pieces; every piece read frees a slot and
    sends one credit west. Nothing else crosses SIPs (posted writes: no acknowledgements, no headers)."""
    p, n = 4, 4 * 20_000
    algo = load_ccl_config().selected()
    chunk = n // p * 4
    pieces = 2 * (p - 1) * math.ceil(chunk / algo.slot_size)
    stats, _ = ring_allreduce(p, n)
    serdes = {link["link"]: link for link in stats["links"] if link["link"].split(".")[1] == "serdes"}
    assert sorted(serdes) == [f"sip{s}.serdes.{d}" for s in range(p) for d in "EW"]
    for s in range(p):
        east, west = serdes[f"sip{s}.serdes.E"], serdes[f"sip{s}.serdes.W"]
        assert east["bytes"] == 2 * (p - 1) * n * 4 // p == 2 * (p - 1) * chunk
        assert east["transfers"] == pieces
        assert west["bytes"] == pieces * algo.ipcq_credit_size_bytes
        assert west["transfers"] == pieces
        bw = load_topology(DEFAULT_TOPOLOGY).system.inter_sip_link.bandwidth_gbs
        assert east["busy_ns"] == pytest.approx(east["bytes"] / bw, rel=1e-12)
        assert east["utilisation"] == pytest.approx(east["busy_ns"] / stats["span_ns"], rel=1e-12)


def test_pe_busy_time_is_what_the_kernel_phases_report():
    stats, phases = ring_allreduce(2, 2 * 1024)
    [leader] = [pe for pe in stats["pes"] if pe["sip"] == 0]
    assert (leader["cube"], leader["pe"], leader["kernels"]) == (0, 0, 1)
    [kernel] = [ph["kernel"] for ph in phases[0] if "kernel" in ph]
    assert leader["busy_ns"] == kernel["busy_ns"]
    assert set(leader["busy_ns"]) == set(UNITS)
    assert leader["busy_ns"]["dma"] > 0
    assert leader["busy_ns"]["math"] > 0


def test_a_fifo_link_reports_peak_queue_and_waiting_time():
    """Three 1000-byte transfers reach a 10 GB/s link at once: two wait (peak queue 2), 100 + 200 ns in all; a
    fourth that arrives after the link has drained waits for nothing."""
    env = simpy.Environment()
    probe = LinkProbe(intervals=True)
    attach(env, probe)
    link = Link(env, "l", 10.0)
    for _ in range(3):
        transfer([link], 1000)

    def late():
        yield env.timeout(1000)
        yield transfer([link], 1000)

    env.process(late())
    env.run()
    [row] = probe.links()
    assert row == {"link": "l", "bytes": 4000, "transfers": 4, "busy_ns": 400.0, "wait_ns": 300.0, "peak_queue": 2}
    assert probe.intervals() == {
        "l": [(0.0, 100.0, 1000), (100.0, 200.0, 1000), (200.0, 300.0, 1000), (1000.0, 1100.0, 1000)]
    }


def test_a_link_without_a_probe_records_nothing():
    env = simpy.Environment()
    link = Link(env, "plain", 10.0)
    transfer([link], 1000)
    env.run()
    assert link.probe is None
    assert link.bytes_carried == 1000


def test_hbm_bytes_written_per_slice_follow_the_interleave(topo):
    """A host write of 10,000 bytes at HBM offset 3,000: each slice is written exactly its share of the blocks."""
    eng = Engine(topo, recording=Recording(stats=True))
    addr = PhysAddr.hbm(0, 2, 3000)

    def host(_sip):
        eng.wait(eng.submit(MemoryWriteMsg(addr, data=np.arange(10_000, dtype=np.uint8))))

    eng.spawn(0, host)
    eng.run()
    stats = hw_stats(eng.gather_records())
    shares = eng.sip(0).fabric.cubes[2].hbm.slice_bytes(3000, 10_000)
    written = {s["slice"]: s["written_bytes"] for s in stats["hbm"] if s["sip"] == 0}
    assert written == {f"sip0.cube2.hbm.slice{i}": b for i, b in enumerate(shares) if b}
    assert sum(written.values()) == 10_000
    assert all(s["read_bytes"] == 0 for s in stats["hbm"])


def test_cli_writes_json_and_csv_and_the_report_names_the_busiest_links(tmp_path, capsys):
    as_json, as_csv = tmp_path / "hw.json", tmp_path / "hw.csv"
    run = ["run", "--topology", str(DEFAULT_TOPOLOGY), "--bench", "ccl_allreduce", "--hw-stats"]
    assert main([*run, str(as_json)]) == 0
    text = capsys.readouterr().out
    assert main([*run, str(as_csv)]) == 0
    capsys.readouterr()
    stats = json.loads(as_json.read_text())
    assert set(stats) == {"span_ns", "links", "hbm", "pes"}
    busiest = sorted(stats["links"], key=lambda link: (-link["busy_ns"], link["link"]))[:5]
    assert "\n".join("  " + line for line in hw_lines(stats)) in text
    assert all(f"  {link['link']} " in text for link in busiest)
    assert "HBM slices:" in text
    assert "PEs: 2 PEs ran kernels" in text
    rows = list(csv.DictReader(io.StringIO(as_csv.read_text())))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r["name"] for r in rows if r["kind"] == "link"] == [link["link"] for link in stats["links"]]
    assert {r["kind"] for r in rows} == {"link", "hbm_slice", "pe"}
    assert not list(tmp_path.glob(".*tmp"))  # written through a temporary file, renamed


def test_a_window_counts_only_the_collective(tmp_path, capsys):
    """--hw-stats-window kernel:all_reduce: the host's set-up copies (the busiest links of the whole run) are left
    out, its links carry only the launch's headers; the SerDes carry the all-reduce's bytes (all but the barrier's
    before it), and every share is of each SIP's own span of the phase."""
    whole, cut = tmp_path / "whole.json", tmp_path / "cut.json"
    run = ["run", "--topology", str(DEFAULT_TOPOLOGY), "--bench", "ccl_allreduce", "--sips", "4", "--hw-stats"]
    assert main([*run, str(whole)]) == 0
    capsys.readouterr()
    assert main([*run, str(cut), "--hw-stats-window", "kernel:all_reduce"]) == 0
    text = capsys.readouterr().out
    all_of, window = (json.loads(p.read_text()) for p in (whole, cut))
    assert window["window"] == {"phase": "kernel:all_reduce", "sips": [0, 1, 2, 3]}
    assert 0 < window["span_ns"] < all_of["span_ns"]
    busiest = max(all_of["links"], key=lambda link: link["busy_ns"])["link"]
    assert busiest.startswith("host.")  # without a window: the set-up copies
    host = [link["bytes"] for link in window["links"] if link["link"].startswith("host.")]
    assert 0 < max(host) <= 128  # the launch's command and completion headers only, no data
    serdes = {link["link"]: link["bytes"] for link in window["links"] if ".serdes." in link["link"] and link["bytes"]}
    whole_serdes = {link["link"]: link["bytes"] for link in all_of["links"] if link["link"] in serdes}
    assert all(serdes[name] <= whole_serdes[name] for name in serdes)
    assert sum(serdes.values()) > 0.99 * sum(whole_serdes.values())  # the all-reduce's data, not the barrier's tokens
    assert all(0 <= link["utilisation"] <= 1 for link in window["links"])
    assert "hw stats: phase kernel:all_reduce on 4 SIPs" in text
    assert main([*run, str(cut), "--hw-stats-window", "nope"]) == 0
    assert "hw stats: phase nope: no SIP ran it" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hw-stats", "stats.txt"], "--hw-stats stats.txt: expected a .json or .csv file name"),
        (["--hw-stats", "/no/such/dir/s.json"], "--hw-stats /no/such/dir/s.json: cannot write: directory"),
        (["--hw-stats-window", "kernel:all_reduce"], "--hw-stats-window kernel:all_reduce: needs --hw-stats PATH"),
    ],
)
def test_bad_hw_stats_options_are_one_line_errors(capsys, args, message):
    assert main(["run", "--topology", str(DEFAULT_TOPOLOGY), "--bench", "ccl_allreduce", *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
