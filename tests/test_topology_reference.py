"""docs/reference/topology.md is what scripts/topology_reference.py writes now, and it names every key of the shipped
topology.yaml with that file's value and comment, so the reference cannot drift from the schema or the file."""

import sys
from collections.abc import Iterator
from dataclasses import field
from typing import Any

import pytest
import yaml

from kernbench.topology import DEFAULT_TOPOLOGY_PATH
from kernbench.topology.schema import bounded, section
from tests.kernbench.helpers import REPO_ROOT, load_script

PAGE = REPO_ROOT / "docs" / "reference" / "topology.md"


@pytest.fixture(scope="module")
def script():
    yield load_script("scripts/topology_reference.py", register=True)
    sys.modules.pop("topology_reference", None)


def paths(data: Any, prefix: str = "") -> Iterator[str]:
    """Every dotted key path of parsed YAML data, sections included."""
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else key
        yield path
        if isinstance(value, dict):
            yield from paths(value, path)


def test_the_page_is_what_the_script_writes_now(script):
    assert PAGE.read_text(encoding="utf-8") == script.render(), (
        "docs/reference/topology.md is stale: run python scripts/topology_reference.py --output "
        "docs/reference/topology.md"
    )


def test_every_key_of_the_shipped_file_is_on_the_page_with_its_comment(script):
    shipped = list(paths(yaml.safe_load(DEFAULT_TOPOLOGY_PATH.read_text())))
    keys = {key.path: key for key in script.schema_keys()}
    assert sorted(keys) == sorted(shipped)
    leaves = [key for key in keys.values() if not key.section]
    assert len(leaves) >= 60
    uncommented = [key.path for key in leaves if not key.comment]
    assert not uncommented, f"keys of topology.yaml without a comment: {uncommented}"
    page = script.render()
    for key in leaves:
        assert f"| `{key.path.rpartition('.')[2]}` | {key.type} |" in page, key.path


def test_a_key_carries_its_type_bounds_value_and_whole_comment(script):
    keys = {key.path: key for key in script.schema_keys()}
    latency = keys["system.inter_sip_link.latency_ns"]
    assert (latency.type, latency.default, latency.value) == ("float", "required", "500.0")
    assert latency.bounds.startswith(">= 0.001 (it is the parallel engine's lookahead")
    assert keys["cube.hbm_ctrl.efficiency"].bounds == "> 0 and <= 1"
    assert keys["pe.pe_mmu.page_bytes"].bounds.startswith(">= 4,096 and <= 1,073,741,824 (")
    assert keys["pe.pe_mmu.va_base"].value == "0x1_0000_0000"  # as written, not as YAML reads it
    assert keys["system.topology"].type == "one of `ring_1d`, `torus_2d`, `mesh_2d_no_wrap`"
    assert keys["cube.pe_layout.corners"].type == "non-empty list, each one of `NW`, `NE`, `SW`, `SE`"
    assert keys["sip.io_chiplet.noc.bandwidth_gbs"].comment.endswith("capped all of a SIP's links together to 128 GB/s")


def test_a_key_with_a_default_shows_it(script):
    @section
    class Part:
        rate_gbs: float = bounded(gt=0)
        lanes: int = field(default=4, metadata={"ge": 1})

    keys = script.schema_keys(Part, "part", {"part.rate_gbs": ("8.0", "GB/s per lane")})
    assert [(k.path, k.default, k.bounds, k.value, k.comment) for k in keys] == [
        ("part.rate_gbs", "required", "> 0", "8.0", "GB/s per lane"),
        ("part.lanes", "`4`", ">= 1", "", ""),
    ]


def test_comment_lines_go_with_the_key_above_and_nesting_follows_indentation(script):
    text = "a:          # section a\n  b: 1      # first\n            # and more\n  c:\n    d: x  # deep\ne: 2\n"
    assert script.yaml_lines(text) == {
        "a": ("", "section a"),
        "a.b": ("1", "first and more"),
        "a.c": ("", ""),
        "a.c.d": ("x", "deep"),
        "e": ("2", ""),
    }


def test_the_script_writes_the_page(script, tmp_path, capsys):
    out = tmp_path / "ref" / "topology.md"
    assert script.main(["--output", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == script.render()
    assert script.main([]) == 0
    assert capsys.readouterr().out == script.render()
