"""The seeds' ccl.yaml files load and run here (issue 13 point 3).

Seed texts are in /work/shared/seeds/000_*.txt (the interleaved diff): the shipped ccl.yaml of the intercube commit
(``defaults.algorithm: intercube_allreduce``, ``vc_chunk_size: 256``, ``root_cube: 15``), the CCL_YAML_TEMPLATE of
``tests/test_ccl_allreduce_matrix.py``, the ``_run_8rank`` body of the CCL performance validation tests (ADR-0023
D13 T5) and the ``_write_ccl_yaml`` of the end-to-end distributed intercube test.

Deliberate differences (docs/adr/0013-seed-ccl-files-wiring-and-trace.md): the seeds counted ``world_size`` in PEs (the
old rank = PE model); here rank = SIP, so an entry with ``world_size: 8`` runs on a topology with 8 SIPs. And a
tensor spread over several cubes needs shards of whole 4 KiB pages here (each cube's MMU maps pages), so the
algorithms with one shard per cube or PE run the seeds' files with ``n_elem`` 1024 f32 (``kernbench run --set
n_elem=1024``) instead of their 8 or 16.
"""

import textwrap
from dataclasses import replace

import pytest

from kernbench.ccl import build_install_plans, load_ccl_config, parse_ccl_config

from .bench_runner import run_bench, small_system

SEED_SHIPPED_CCL_YAML = textwrap.dedent("""\
    defaults:
      algorithm: intercube_allreduce
      buffer_kind: tcm
      backpressure: sleep
      n_slots: 4
      slot_size: 4096
      vc_chunk_size: 256
      ipcq_credit_size_bytes: 16
    algorithms:
      intercube_allreduce:
        module: kernbench.ccl.algorithms.intercube_allreduce
        topology: none
        buffer_kind: tcm
        n_elem: 8
        root_cube: 15
    """)

SEED_MATRIX_TEMPLATE = textwrap.dedent("""\
    defaults:
      algorithm: {algorithm}
      buffer_kind: {buffer_kind}
      backpressure: sleep
      n_slots: 4
      slot_size: 4096
      vc_chunk_size: 256
      ipcq_credit_size_bytes: 16
    algorithms:
      {algorithm}:
        module: {module}
        topology: {topology}
        buffer_kind: {buffer_kind}
    {world_size_line}{n_elem_line}
    """)

# The seeds' old shipped entries (before the intercube commit): world sizes in the old rank = PE sense, and a
# hierarchical entry with ``topology: none`` whose module wires itself.
SEED_OLD_CCL_YAML = textwrap.dedent("""\
    defaults:
      algorithm: ring_allreduce_tcm
      buffer_kind: tcm
      backpressure: sleep
      n_slots: 4
      slot_size: 4096
      vc_chunk_size: 256
      ipcq_credit_size_bytes: 16
    algorithms:
      ring_allreduce_tcm:
        module: kernbench.ccl.algorithms.ring_allreduce
        topology: ring_1d
        buffer_kind: tcm
        n_elem: 8
      mesh_allreduce_4:
        module: kernbench.ccl.algorithms.mesh_allreduce
        topology: mesh_2d
        buffer_kind: tcm
        world_size: 4
        n_elem: 16
      tree_allreduce_7:
        module: kernbench.ccl.algorithms.tree_allreduce
        topology: tree_binary
        buffer_kind: tcm
        world_size: 7
        n_elem: 16
      hierarchical_allreduce:
        module: kernbench.ccl.algorithms.hierarchical_allreduce
        topology: none
        buffer_kind: tcm
        n_elem: 16
    """)


def write(tmp_path, text):
    path = tmp_path / "ccl.yaml"
    path.write_text(text)
    return path


PAGE_ELEMS = 1024
"""f32 elements of one 4 KiB page: the smallest shard of a tensor spread over cubes."""


def bench(topo, ccl, algorithm=None):
    """The ccl_allreduce bench with ``ccl``; page-sized shards for algorithms with a shard per cube or PE."""
    algo = ccl.selected(algorithm)
    n_elem = PAGE_ELEMS if algo.mapper != "leader_only" else None
    return run_bench(topo, algo.name, n_elem=n_elem, ccl=ccl)


def test_seed_shipped_ccl_yaml_loads_with_the_seeds_meaning(tmp_path):
    """Seed: the shipped ccl.yaml of the intercube commit and ``_write_ccl_yaml`` of
    ``test_distributed_intercube_allreduce`` (backpressure: sleep, vc_chunk_size: 256, root_cube: 15)."""
    cfg = load_ccl_config(write(tmp_path, SEED_SHIPPED_CCL_YAML))
    a = cfg.selected()
    assert (a.name, a.backpressure, a.vc_chunk_size, a.n_slots, a.slot_size, a.ipcq_credit_size_bytes) == (
        "intercube_allreduce",
        True,
        256,
        4,
        4096,
        16,
    )
    assert a.kernel_config == {"root_cube": 15}
    assert (a.mapper, a.validator) == ("cube_leaders", "multi_pe_sip_local")  # the module's MAPPER / VALIDATOR


def test_seed_distributed_intercube_allreduce_runs(tmp_path, topo):
    """Seed: ``test_distributed_intercube_allreduce`` (init_process_group -> spawn -> all_reduce, every cube of
    every SIP holds N_CUBES * sum(1..n_sips)): here the ccl_allreduce bench with the seeds' file, on the default
    2-SIP 4x4-cube system; 16 cube shards per SIP."""
    cfg = load_ccl_config(write(tmp_path, SEED_SHIPPED_CCL_YAML))
    out = bench(topo, cfg)
    assert out["result"] == "intercube_allreduce (ws=2): 32 OK", out
    assert out["checks"] == {"exact_sum_on_every_shard": True, "same_bits_on_every_rank": True}


@pytest.mark.parametrize(
    ("kind", "sips", "root"), [("ring_1d", 2, 0), ("torus_2d", 4, 1), ("mesh_2d_no_wrap", 4, 2), ("torus_2d", 4, 3)]
)
def test_seed_allreduce_app_configs_with_any_root_cube(tmp_path, topo, kind, sips, root):
    """Seed: ``CONFIGS`` of the seeds' allreduce_app test (ring_2sip, torus_4sip, mesh_4sip) with ``root_cube``
    moved off the seeds' SE corner: every cube is wired to the other SIPs, so any root gives the exact sum."""
    cfg = load_ccl_config(write(tmp_path, SEED_SHIPPED_CCL_YAML.replace("root_cube: 15", f"root_cube: {root}")))
    out = bench(small_system(topo, sips, kind), cfg)
    assert out["result"] == f"intercube_allreduce (ws={sips}): {sips * 4} OK", out


def test_a_root_cube_outside_the_sip_is_refused(tmp_path, topo):
    cfg = load_ccl_config(write(tmp_path, SEED_SHIPPED_CCL_YAML))  # root_cube 15, but 2x2 cubes
    with pytest.raises(Exception, match=r"root_cube must be a cube of the SIP, 0\.\.3, got 15"):
        bench(small_system(topo, 2, "ring_1d"), cfg)


MATRIX = [
    # algorithm, module, topology, buffer_kind, world_size, n_elem, expected_ws (the seeds' CASES)
    ("ring_allreduce_tcm", "kernbench.ccl.algorithms.ring_allreduce", "ring_1d", "tcm", None, 8, 2),
    ("ring_allreduce_tcm", "kernbench.ccl.algorithms.ring_allreduce", "ring_1d", "tcm", 8, 32, 8),
    ("ring_allreduce_hbm", "kernbench.ccl.algorithms.ring_allreduce", "ring_1d", "hbm", 8, 32, 8),
    ("ring_allreduce_sram", "kernbench.ccl.algorithms.ring_allreduce", "ring_1d", "sram", 8, 32, 8),
    ("ring_allreduce_16", "kernbench.ccl.algorithms.ring_allreduce", "ring_1d", "tcm", 16, 16, 16),
    ("mesh_allreduce_4", "kernbench.ccl.algorithms.mesh_allreduce", "mesh_2d", "tcm", 4, 16, 4),
    ("tree_allreduce_7", "kernbench.ccl.algorithms.tree_allreduce", "tree_binary", "tcm", 7, 16, 7),
]
IDS = ["ring_full_system", "ring_tcm_8", "ring_hbm_8", "ring_sram_8", "ring_multi_cube", "mesh_2x2", "tree_binary_7"]


@pytest.mark.parametrize(
    ("algorithm", "module", "topology", "buffer_kind", "world_size", "n_elem", "expected_ws"), MATRIX, ids=IDS
)
def test_seed_ccl_allreduce_matrix(
    tmp_path, topo, algorithm, module, topology, buffer_kind, world_size, n_elem, expected_ws
):
    """Seed: ``tests/test_ccl_allreduce_matrix.py::test_ccl_allreduce_matrix`` (its CCL_YAML_TEMPLATE and CASES;
    the line ``{algorithm} (ws={expected_ws}): {expected_ws} OK``). World sizes count SIPs here: each case runs on
    a system of ``world_size`` SIPs (2x2 cubes); ``ring_full_system`` (no world_size) takes every SIP of the
    default 2-SIP topology instead of the seeds' 256 PEs."""
    text = SEED_MATRIX_TEMPLATE.format(
        algorithm=algorithm,
        module=module,
        topology=topology,
        buffer_kind=buffer_kind,
        world_size_line=f"    world_size: {world_size}\n" if world_size is not None else "",
        n_elem_line=f"    n_elem: {n_elem}\n",
    )
    cfg = load_ccl_config(write(tmp_path, text))
    system = topo if world_size is None else small_system(topo, world_size, "ring_1d")
    out = bench(system, cfg)
    assert out["result"] == f"{algorithm} (ws={expected_ws}): {expected_ws} OK", out


@pytest.mark.parametrize("buffer_kind", ["tcm", "hbm", "sram"])
def test_seed_ccl_latency_positive_and_under_a_millisecond(tmp_path, topo, buffer_kind):
    """Seed: ``test_ccl_latency_positive`` and ``test_ccl_latency_under_reasonable_bound`` of the CCL performance
    validation tests (``_run_8rank``: ring world_size 8, n_elem 32, backpressure: sleep): on 8 SIPs here."""
    text = SEED_MATRIX_TEMPLATE.format(
        algorithm=f"ring_allreduce_{buffer_kind}",
        module="kernbench.ccl.algorithms.ring_allreduce",
        topology="ring_1d",
        buffer_kind=buffer_kind,
        world_size_line="    world_size: 8\n",
        n_elem_line="    n_elem: 32\n",
    )
    out = bench(small_system(topo, 8, "ring_1d"), load_ccl_config(write(tmp_path, text)))
    assert 0 < out["sim_latency_ns"] < 1_000_000


@pytest.mark.parametrize(
    ("algorithm", "sips", "expected"),
    [
        ("ring_allreduce_tcm", 2, "ring_allreduce_tcm (ws=2): 2 OK"),
        ("mesh_allreduce_4", 4, "mesh_allreduce_4 (ws=4): 4 OK"),
        ("tree_allreduce_7", 7, "tree_allreduce_7 (ws=7): 7 OK"),
        ("hierarchical_allreduce", 2, "hierarchical_allreduce (ws=2): 32 OK"),
    ],
)
def test_seed_old_shipped_entries_run(tmp_path, topo, algorithm, sips, expected):
    """Seed: the shipped ccl.yaml before the intercube commit (mesh_allreduce_4, tree_allreduce_7 and a
    hierarchical entry with ``topology: none``, no mapper, no validator): the hierarchical module's ``neighbors``,
    ``MAPPER`` and ``VALIDATOR`` make that entry the same as the shipped hierarchical one."""
    cfg = load_ccl_config(write(tmp_path, SEED_OLD_CCL_YAML)).with_algorithm(algorithm)
    out = bench(small_system(topo, sips, "ring_1d"), cfg)
    assert out["result"] == expected, out


def test_defaults_world_size_applies_to_entries_without_their_own(tmp_path, topo):
    """Seed: ADR-0024 D1 ``_resolve_world_size`` (the entry's world_size, then ``defaults.world_size``, then the
    SIP count) and ``test_resolve_algorithm_config_default`` (``world_size`` absent or >= 1)."""
    credit = "  ipcq_credit_size_bytes: 16\n"
    text = SEED_OLD_CCL_YAML.replace(credit, credit + "  world_size: 3\n")
    cfg = load_ccl_config(write(tmp_path, text))
    assert cfg.selected("ring_allreduce_tcm").world_size == 3
    assert cfg.selected("tree_allreduce_7").world_size == 7  # the entry's own wins
    assert load_ccl_config(write(tmp_path, SEED_OLD_CCL_YAML)).selected().world_size is None  # then the SIP count
    out = bench(small_system(topo, 4, "ring_1d"), cfg)
    assert out["result"] == "ring_allreduce_tcm (ws=3): 3 OK", out


def test_backpressure_sleep_is_true_and_vc_chunk_size_changes_nothing(topo):
    """Seed: the shipped ccl.yaml's ``vc_chunk_size`` ("PE_DMA virtual channel chunk size (D8) ... reserved for
    future precision") and the templates' ``backpressure: sleep``: here the same queues and the same simulated time
    as ``backpressure: true`` without vc_chunk_size."""
    entry = {
        "module": "kernbench.ccl.algorithms.ring_allreduce",
        "topology": "ring_1d",
        "n_elem": 2048,
        "n_slots": 2,
        "slot_size": 1024,
    }
    plain = parse_ccl_config({"defaults": {"backpressure": True}, "algorithms": {"r": entry}})
    seeds = parse_ccl_config({"defaults": {"backpressure": "sleep", "vc_chunk_size": 64}, "algorithms": {"r": entry}})
    assert replace(seeds.selected(), vc_chunk_size=None) == plain.selected()
    system = small_system(topo, 2, "ring_1d")
    assert list(build_install_plans(seeds.selected(), system)) == list(build_install_plans(plain.selected(), system))
    assert bench(system, seeds)["sim_latency_ns"] == bench(system, plain)["sim_latency_ns"]
