"""Invalid topology files fail with the file name and the dotted YAML path of the problem."""

import pytest

from kernbench.topology import TopologyError, load_topology, parse_topology
from kernbench.topology.schema import LOOKAHEAD_HORIZON_NS, MIN_LOOKAHEAD_NS


def _fails(write_yaml, data) -> str:
    path = write_yaml(data)
    with pytest.raises(TopologyError) as info:
        load_topology(path)
    message = str(info.value)
    assert message.startswith(f"{path}:"), message
    return message[len(str(path)) :]


def test_valid_file_written_back_loads(write_yaml, raw):
    topo = load_topology(write_yaml(raw))
    assert topo.sip.cube_mesh.w == 4


def test_bad_value(write_yaml, raw):
    raw["sip"]["cube_mesh"]["w"] = 0
    assert _fails(write_yaml, raw) == ": sip.cube_mesh.w: expected int >= 1, got 0"


def test_bad_value_in_parse_topology_uses_source():
    with pytest.raises(TopologyError) as info:
        parse_topology({"system": 1}, source="mine.yaml")
    assert str(info.value) == "mine.yaml: system: expected a mapping, got 1"


def test_unknown_key(write_yaml, raw):
    raw["sip"]["cube_mesh"]["depth"] = 2
    assert _fails(write_yaml, raw) == (
        ": sip.cube_mesh.depth: unknown key; allowed keys in sip.cube_mesh: w, h, pitch_mm"
    )


def test_unknown_top_level_key(write_yaml, raw):
    raw["extras"] = {}
    assert _fails(write_yaml, raw).startswith(": extras: unknown key; allowed keys in the top level: system, sip")


def test_missing_key(write_yaml, raw):
    del raw["cube"]["hbm_ctrl"]["slices"]
    assert _fails(write_yaml, raw) == ": cube.hbm_ctrl.slices: missing required key (int >= 1)"


def test_missing_section(write_yaml, raw):
    del raw["pe"]
    assert _fails(write_yaml, raw) == ": pe: missing required key (a mapping)"


@pytest.mark.parametrize(
    ("value", "got"),
    [("four", "'four' (str)"), (4.0, "4.0 (float)"), (True, "True (bool)"), (None, "nothing (empty value)")],
)
def test_wrong_type_int(write_yaml, raw, value, got):
    raw["sip"]["cube_mesh"]["h"] = value
    assert _fails(write_yaml, raw) == f": sip.cube_mesh.h: expected int >= 1, got {got}"


def test_wrong_type_float_string_gets_a_hint(write_yaml, raw):
    raw["sip"]["ucie"]["bandwidth_gbs"] = "1e3"
    message = _fails(write_yaml, raw)
    assert message.startswith(": sip.ucie.bandwidth_gbs: expected float > 0, got '1e3' (str)")
    assert "1000.0" in message


def test_wrong_type_section(write_yaml, raw):
    raw["cube"]["xbar"] = [1, 2]
    assert _fails(write_yaml, raw) == ": cube.xbar: expected a mapping, got a list"


def test_bad_choice(write_yaml, raw):
    raw["system"]["topology"] = "ring"
    assert _fails(write_yaml, raw) == (
        ": system.topology: expected one of ring_1d, torus_2d, mesh_2d_no_wrap, got 'ring' (str)"
    )


def test_bad_list_item(write_yaml, raw):
    raw["cube"]["pe_layout"]["corners"] = ["NW", "middle"]
    assert _fails(write_yaml, raw) == ": cube.pe_layout.corners[1]: expected one of NW, NE, SW, SE, got 'middle' (str)"


def test_duplicate_corner(write_yaml, raw):
    raw["cube"]["pe_layout"]["corners"] = ["NW", "SE", "NW"]
    assert _fails(write_yaml, raw) == ": cube.pe_layout.corners[2]: duplicate corner NW"


def test_efficiency_upper_bound(write_yaml, raw):
    raw["cube"]["hbm_ctrl"]["efficiency"] = 1.2
    assert _fails(write_yaml, raw) == ": cube.hbm_ctrl.efficiency: expected float > 0 and <= 1, got 1.2"


@pytest.mark.parametrize("topology", ["torus_2d", "mesh_2d_no_wrap"])
@pytest.mark.parametrize("count", [2, 3, 8])
def test_non_square_2d_sip_count(write_yaml, raw, topology, count):
    raw["system"].update(sip_count=count, topology=topology)
    message = _fails(write_yaml, raw)
    assert message.startswith(": system.sip_count: system.topology ")
    assert f"{topology} needs a square SIP count" in message
    assert message.endswith(f"got {count}")


@pytest.mark.parametrize("latency", [0, 0.0, -1.0, 1.0e-12])
def test_zero_negative_or_tiny_link_latency(write_yaml, raw, latency):
    raw["system"]["inter_sip_link"]["latency_ns"] = latency
    assert _fails(write_yaml, raw) == (
        f": system.inter_sip_link.latency_ns: expected float >= 0.001, got {latency!r} "
        "(it is the parallel engine's lookahead: time + lookahead must exceed time up to 1000 s simulated)"
    )


def test_the_smallest_lookahead_still_advances_time_at_the_horizon():
    assert LOOKAHEAD_HORIZON_NS + MIN_LOOKAHEAD_NS > LOOKAHEAD_HORIZON_NS


def test_nan_is_not_a_number(write_yaml, raw):
    raw["system"]["host"]["pcie"]["latency_ns"] = float("nan")
    assert _fails(write_yaml, raw) == ": system.host.pcie.latency_ns: expected float >= 0, got nan (float)"


def test_scheduler_reservation_must_fit_tcm(write_yaml, raw):
    raw["pe"]["scheduler"]["tcm_reserved_mib"] = 16
    assert _fails(write_yaml, raw) == ": pe.scheduler.tcm_reserved_mib: expected < pe.pe_tcm.size_mib (16), got 16"


def test_sizes_must_fit_physaddr(write_yaml, raw):
    raw["system"]["sip_count"] = 16385
    assert _fails(write_yaml, raw).startswith(": system.sip_count: expected <= 16384")
    raw["system"]["sip_count"] = 2
    raw["sip"]["cube_mesh"].update(w=5, h=7)
    assert _fails(write_yaml, raw).startswith(": sip.cube_mesh: w x h = 5 x 7 = 35 cubes, expected <= 32")
    raw["sip"]["cube_mesh"].update(w=4, h=4)
    raw["cube"]["pe_layout"]["pe_per_corner"] = 5
    assert _fails(write_yaml, raw).startswith(": cube.pe_layout.pe_per_corner: 4 corners x 5 = 20 PEs per cube")
    raw["cube"]["pe_layout"]["pe_per_corner"] = 2
    raw["cube"]["hbm_ctrl"]["capacity_gib"] = 128
    assert _fails(write_yaml, raw).startswith(": cube.hbm_ctrl.capacity_gib: ")


def test_interleave_must_divide_capacity(write_yaml, raw):
    raw["cube"]["hbm_ctrl"]["interleave_bytes"] = 3000
    assert _fails(write_yaml, raw).startswith(": cube.hbm_ctrl.interleave_bytes: capacity (48 GiB) must be a multiple")


def test_page_size_power_of_two_and_va_base_aligned(write_yaml, raw):
    raw["pe"]["pe_mmu"]["page_bytes"] = 5000
    assert _fails(write_yaml, raw) == ": pe.pe_mmu.page_bytes: expected a power of two, got 5000"
    raw["pe"]["pe_mmu"].update(page_bytes=4096, va_base=0x1_0000_0100)
    assert _fails(write_yaml, raw) == ": pe.pe_mmu.va_base: expected a multiple of page_bytes (4096), got 0x100000100"


def test_yaml_syntax_error_reports_line_and_column(write_yaml):
    text = "system:\n  sip_count: 2\n  topology: [ring_1d\nsip: {}\n"
    message = _fails(write_yaml, text)
    assert message.startswith(":4:4: YAML syntax error: "), message


def test_yaml_indentation_error_reports_line(write_yaml):
    message = _fails(write_yaml, "system:\n  sip_count: 2\n bad: 1\n")
    assert message.startswith(":3:"), message
    assert "YAML syntax error" in message


def test_duplicate_key_reports_line(write_yaml):
    assert _fails(write_yaml, "system:\n  sip_count: 2\n  sip_count: 3\n") == ":3:3: duplicate key 'sip_count'"


def test_empty_file(write_yaml):
    assert _fails(write_yaml, "") == ": (top level): expected a mapping, got nothing (empty value)"


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(TopologyError, match=r"nope\.yaml: cannot read: No such file"):
        load_topology(path)
