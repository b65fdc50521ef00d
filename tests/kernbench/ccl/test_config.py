"""ccl.yaml: the shipped file, defaults, registries (key or import path) and errors that name file and field."""

import pytest

from kernbench.ccl import CclConfigError, load_ccl_config, parse_ccl_config, resolve_mapper, resolve_validator
from kernbench.ccl.mappers import all_pes


def entry(**fields):
    return {
        "defaults": {"algorithm": "a"},
        "algorithms": {"a": {"module": "kernbench.ccl.algorithms.ring_allreduce", "topology": "ring_1d", **fields}},
    }


def test_the_shipped_file_loads_with_every_algorithm():
    cfg = load_ccl_config()
    assert cfg.algorithm == "ring_allreduce_tcm"
    names = set(cfg.algorithms)
    assert {
        "ring_allreduce_tcm",
        "ring_allreduce_hbm",
        "ring_allreduce_sram",
        "mesh_allreduce",
        "tree_allreduce",
        "hierarchical_allreduce",
        "intercube_allreduce",
    } <= names
    for name in names:
        module = cfg.selected(name).load_module()
        assert callable(module.kernel)
        assert callable(module.kernel_args)
    ring = cfg.selected()
    assert (ring.buffer_kind, ring.n_slots, ring.slot_size, ring.ipcq_credit_size_bytes, ring.backpressure) == (
        "tcm",
        8,
        65536,
        16,
        True,
    )
    assert cfg.selected("ring_allreduce_hbm").buffer_kind == "hbm"


KERNEL_WITH_A_KEY = """
def kernel(ptr, n_elem, tl):
    pass


def kernel_args(request, *, kernel_chunk=1):
    return (request.n_elem,)
"""


def test_defaults_fill_entries_and_kernel_keys_pass_through(tmp_path, monkeypatch):
    (tmp_path / "chunked_algorithm.py").write_text(KERNEL_WITH_A_KEY)
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = parse_ccl_config(
        {
            "defaults": {"algorithm": "a", "n_slots": 3},
            "algorithms": {
                "a": {**entry()["algorithms"]["a"], "module": "chunked_algorithm", "slot_size": 128, "kernel_chunk": 5}
            },
        }
    )
    a = cfg.selected()
    assert (a.n_slots, a.slot_size, a.kernel_config, a.mapper, a.validator) == (
        3,
        128,
        {"kernel_chunk": 5},
        "leader_only",
        "single_shard_per_rank",
    )
    with pytest.raises(
        CclConfigError,
        match=r"^x\.yaml: algorithms\.a\.kernel_chnuk: unknown key for "
        r"chunked_algorithm\.kernel_args; it takes kernel_chunk$",
    ):
        parse_ccl_config(
            {"algorithms": {"a": {**entry()["algorithms"]["a"], "module": "chunked_algorithm", "kernel_chnuk": 5}}},
            "x.yaml",
        )


def test_a_kernel_args_with_the_old_keyword_signature_is_refused_with_the_new_one(tmp_path, monkeypatch):
    (tmp_path / "old_algorithm.py").write_text(
        "def kernel(ptr, n_elem, tl):\n    pass\n\n\n"
        "def kernel_args(n_elem, world_size, dtype, op, slot_elems, n_slots, geometry, topology):\n"
        "    return (n_elem,)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(
        CclConfigError,
        match=r"^x\.yaml: algorithms\.a\.module: old_algorithm\.kernel_args must take one positional argument, "
        r"the request \(kernbench\.ccl\.AllReduceRequest\)",
    ):
        parse_ccl_config({"algorithms": {"a": {**entry()["algorithms"]["a"], "module": "old_algorithm"}}}, "x.yaml")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"buffer_kind": "dram"}, "algorithms.a.buffer_kind: expected one of tcm, hbm, sram, got 'dram'"),
        ({"n_slots": 0}, "algorithms.a.n_slots: expected int >= 1, got 0"),
        ({"slot_size": 100}, "algorithms.a.slot_size: expected a multiple of 64 bytes, got 100"),
        ({"ipcq_credit_size_bytes": 128}, "algorithms.a.ipcq_credit_size_bytes: expected at most 64 bytes"),
        ({"topology": "ring_9d"}, "algorithms.a.topology: unknown topology 'ring_9d'"),
        ({"mapper": "nope"}, "algorithms.a.mapper: unknown mapper 'nope'"),
        ({"validator": "no.such.module.fn"}, "algorithms.a.validator: validator 'no.such.module.fn': cannot import"),
        (
            {"module": "kernbench.ccl.mappers"},
            "algorithms.a.module: kernbench.ccl.mappers has no kernel or kernel_args",
        ),
        ({"colour": "red"}, "algorithms.a.colour: unknown key"),
        ({"backpressure": "yes"}, "algorithms.a.backpressure: expected true, false or sleep, got 'yes'"),
        ({"vc_chunk_size": 0}, "algorithms.a.vc_chunk_size: expected int >= 1, got 0"),
        ({"root_cube": -1}, "algorithms.a.root_cube: expected int >= 0, got -1"),
        (
            {"root_cube": 3},
            "algorithms.a.root_cube: unknown key for kernbench.ccl.algorithms.ring_allreduce.kernel_args; "
            "it takes no root_cube",
        ),
    ],
)
def test_bad_fields_are_named(fields, message):
    with pytest.raises(CclConfigError, match="^my.yaml: " + message.replace("(", r"\(").replace(")", r"\)")):
        parse_ccl_config(entry(**fields), "my.yaml")


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(CclConfigError, match=r"missing\.yaml: cannot read: No such file"):
        load_ccl_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("defaults: [\n")
    with pytest.raises(CclConfigError, match=r"bad\.yaml:2:1: YAML syntax error: "):
        load_ccl_config(bad)
    with pytest.raises(CclConfigError, match=r"defaults\.algorithm: no algorithm 'b'"):
        parse_ccl_config({"defaults": {"algorithm": "b"}, "algorithms": entry()["algorithms"]}, "x.yaml")
    with pytest.raises(CclConfigError, match="no algorithm 'zzz'"):
        load_ccl_config().selected("zzz")


def test_registries_take_keys_or_import_paths():
    assert resolve_mapper("all_pes") is all_pes
    assert resolve_mapper("kernbench.ccl.mappers.all_pes") is all_pes
    assert resolve_validator("multi_pe_sip_local").__name__ == "multi_pe_sip_local"
    with pytest.raises(ValueError, match="unknown mapper 'x'"):
        resolve_mapper("x")
