"""What the kernbench tests share: the default topology's path, variants of it, scripts loaded by path, and the
tolerance an f16 result is held to."""

import importlib.util
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import numpy as np

from kernbench.topology import Topology

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TOPOLOGY = REPO_ROOT / "topology.yaml"


def with_sips(topo: Topology, count: int, topology: str = "ring_1d") -> Topology:
    """``topo`` with ``count`` SIPs linked as ``topology``."""
    return replace(topo, system=replace(topo.system, sip_count=count, topology=topology))


def load_script(relative: str, *, register: bool = False) -> ModuleType:
    """A bench or script of the repository (``kernbench/benches/dp_step.py``), loaded by path.

    Benches are files, not modules.
    ``register``: also as ``sys.modules[stem]`` while it runs and after (the caller removes it again)."""
    path = REPO_ROOT / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def assert_f16_close(got: np.ndarray, want: np.ndarray) -> None:
    """``got`` (f16 inputs, f32 accumulation) against ``want`` computed in f32: 2 % of the largest magnitude."""
    want = np.asarray(want, dtype=np.float32)
    np.testing.assert_allclose(got.astype(np.float32), want, rtol=2e-2, atol=2e-2 * float(np.abs(want).max()))


DP_STEP_SMALL = [f"--set={item}" for item in ("hidden=128", "batch=16", "cubes=1", "layers=3", "bucket_mib=0.03")]
"""dp_step sizes for tests: 32 KiB of f16 gradient per layer, one bucket per layer, a second or so on 4 SIPs."""
