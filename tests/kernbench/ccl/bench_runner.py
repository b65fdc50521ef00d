"""Run the ccl_allreduce bench in this process on a chosen topology and ccl.yaml algorithm."""

from dataclasses import replace

from kernbench.ccl import load_ccl_config
from kernbench.engine import Engine
from kernbench.runtime import RuntimeContext
from tests.kernbench.helpers import load_script, with_sips


def small_system(topo, sips: int, kind: str, cube_w: int = 2, cube_h: int = 2, pe_per_corner: int = 1):
    """``sips`` SIPs linked as ``kind``, each a ``cube_w x cube_h`` cube mesh of 4 corner PEs per cube by default."""
    mesh = replace(topo.sip.cube_mesh, w=cube_w, h=cube_h)
    layout = replace(topo.cube.pe_layout, pe_per_corner=pe_per_corner)
    return replace(with_sips(topo, sips, kind), sip=replace(topo.sip, cube_mesh=mesh),
                   cube=replace(topo.cube, pe_layout=layout))


def run_bench(topo, algorithm: str, n_elem: int | None = None, ccl=None, **engine_kwargs) -> dict:
    """The bench's result for ``algorithm`` of ``ccl`` (default: the shipped ccl.yaml)."""
    bench = load_script("benches/ccl_allreduce.py")
    ccl = (load_ccl_config() if ccl is None else ccl).with_algorithm(algorithm)
    if n_elem is not None:
        ccl.algorithms[algorithm] = replace(ccl.selected(), n_elem=n_elem)
    return bench.run(RuntimeContext(Engine(topo, **engine_kwargs), ccl))
