"""``load_topology(path, sips=, sip_topology=)``: the --sips / --sip-topology values go through every check of the
file, and the message says they came from the flags."""

import dataclasses

import pytest

from kernbench.topology import TopologyError, load_topology


def test_overrides_give_the_topology_of_the_edited_file(write_yaml, raw):
    flagged = load_topology(write_yaml(raw), sips=16, sip_topology="torus_2d")
    raw["system"]["sip_count"], raw["system"]["topology"] = 16, "torus_2d"
    edited = load_topology(write_yaml(raw, "edited.yaml"))
    assert (flagged.sip_count, flagged.system.topology) == (16, "torus_2d")
    assert dataclasses.replace(flagged, source="x") == dataclasses.replace(edited, source="x")
    assert flagged.source.endswith("topology.yaml (with --sips 16 --sip-topology torus_2d)")


@pytest.mark.parametrize(
    ("overrides", "edits", "problem"),
    [
        (
            dict(sips=6, sip_topology="torus_2d"),
            dict(sip_count=6, topology="torus_2d"),
            "system.sip_count: system.topology torus_2d needs a square SIP count (1, 4, 9, 16, ...), got 6",
        ),
        (dict(sips=0), dict(sip_count=0), "system.sip_count: expected int >= 1, got 0"),
        (
            dict(sips=16385),
            dict(sip_count=16385),
            "system.sip_count: expected <= 16384 (PhysAddr has 14 sip bits), got 16385",
        ),
        (
            dict(sip_topology="ring"),
            dict(topology="ring"),
            "system.topology: expected one of ring_1d, torus_2d, mesh_2d_no_wrap, got 'ring' (str)",
        ),
    ],
)
def test_a_bad_override_fails_as_the_edited_file_does_and_names_the_flag(write_yaml, raw, overrides, edits, problem):
    path = write_yaml(raw)
    with pytest.raises(TopologyError) as flagged:
        load_topology(path, **overrides)
    raw["system"].update(edits)
    with pytest.raises(TopologyError) as edited:
        load_topology(write_yaml(raw))
    flags = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in overrides.items())
    assert str(flagged.value) == f"{path} (with {flags}): {problem}"
    assert str(edited.value) == f"{path}: {problem}"


def test_the_files_own_error_still_comes_first(write_yaml, raw):
    """An override cannot hide a problem of the file, and cannot be applied to a system section that is broken."""
    raw["system"] = 3
    path = write_yaml(raw)
    with pytest.raises(TopologyError) as info:
        load_topology(path, sips=4)
    assert str(info.value) == f"{path} (with --sips 4): system: expected a mapping, got 3"
