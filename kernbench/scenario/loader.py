"""Read and check a scenario file (``kernbench run --scenario FILE``) against the system it will change.

As with ``topology.yaml``, nothing runs from a bad file: the first problem is a `ScenarioError` whose message starts
with the file and the YAML path (``scenario.yaml: links[1].between: sip5 and sip7 are not linked in ring_1d``), and
the CLI prints it in one line with exit code 2. Keys are strict, units are in their names::

    compute:                  # per-SIP compute speed
      - sips: [3]
        slowdown: 2.0         # every compute op and DMA issue of SIP 3's PEs takes 2x as long
    links:                    # inter-SIP links, both directions
      - between: [5, 6]
        bandwidth_gbs: 25.0   # degraded
      - between: [1, 2]
        down: true
        from_us: 20.0         # fails at 20 us of simulated time (default 0: from the start)
    jitter:
      compute: 0.05           # relative standard deviation of each compute op's time
      seed: 1
    jobs:                     # benches on disjoint SIPs, at once on one fabric
      - bench: ccl_allreduce
        sips: [0, 2, 4, 6]
        params: {n_elem: 65536}
        algorithm: ring_allreduce_tcm

Links that are down must leave every SIP able to reach every other (a system split in two is refused here, before
the run), and a link is named once.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

from kernbench.scenario.model import Job, LinkChange, Scenario
from kernbench.topology import Topology, link_key, sip_neighbors, unreachable
from kernbench.yaml_input import InputFileError, read_yaml_file, short_repr

SEED_RANGE = (0, 2**64 - 1)


class ScenarioError(InputFileError):
    """A scenario file that cannot be used: ``source: yaml.path: problem``."""


class _Reader:
    """Checks plain YAML data piece by piece, failing on the first problem with its path."""

    def __init__(self, source: str, topo: Topology) -> None:
        self.source, self.topo = source, topo

    def fail(self, path: str, problem: str) -> ScenarioError:
        return ScenarioError(self.source, path or "(top level)", problem)

    def mapping(self, value: Any, path: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> Mapping:
        if not isinstance(value, Mapping):
            raise self.fail(path, f"expected a mapping, got {_got(value)}")
        for key in value:
            if key not in allowed:
                where = path or "the top level"
                raise self.fail(_join(path, key), f"unknown key; allowed keys in {where}: {', '.join(allowed)}")
        for key in required:
            if key not in value:
                raise self.fail(_join(path, key), "missing required key")
        return value

    def entries(self, value: Any, path: str) -> list:
        if not isinstance(value, list) or not value:
            raise self.fail(path, f"expected a non-empty list, got {_got(value)}")
        return value

    def number(self, value: Any, path: str, *, gt: float | None = None, ge: float | None = None) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(path, f"expected a finite number, got {_got(value)}")
        if (gt is not None and not value > gt) or (ge is not None and not value >= ge):
            bound = f"> {gt:g}" if gt is not None else f">= {ge:g}"
            raise self.fail(path, f"expected a number {bound}, got {short_repr(value)}")
        return float(value)

    def integer(self, value: Any, path: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(path, f"expected an integer {low}..{high}, got {_got(value)}")
        return value

    def sips(self, value: Any, path: str) -> tuple[int, ...]:
        last = self.topo.sip_count - 1
        sips = tuple(self.integer(v, f"{path}[{i}]", 0, last) for i, v in enumerate(self.entries(value, path)))
        for i, sip in enumerate(sips):
            if sip in sips[:i]:
                raise self.fail(f"{path}[{i}]", f"sip{sip} is listed twice")
        return sips

    def text(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(path, f"expected a non-empty string, got {_got(value)}")
        return value


def parse_scenario(data: Any, topo: Topology, source: str = "<dict>") -> Scenario:
    """Check already-parsed YAML data against ``topo``; ``source`` starts every error message."""
    r = _Reader(source, topo)
    if data is None:
        return Scenario(source)
    top = r.mapping(data, "", ("compute", "links", "jitter", "jobs"))
    jitter, seed = _jitter(r, top["jitter"]) if "jitter" in top else (0.0, 0)
    return Scenario(
        source,
        slowdowns=_compute(r, top["compute"]) if "compute" in top else (),
        links=_links(r, top["links"]) if "links" in top else (),
        jitter=jitter,
        jitter_seed=seed,
        jobs=_jobs(r, top["jobs"]) if "jobs" in top else (),
    )


def load_scenario(path: str | os.PathLike[str], topo: Topology) -> Scenario:
    """Read, parse and check the scenario file ``path`` for the system ``topo``."""
    source = os.fspath(path)
    return parse_scenario(read_yaml_file(path, source, ScenarioError), topo, source)


def _compute(r: _Reader, value: Any) -> tuple[tuple[int, float], ...]:
    out: dict[int, float] = {}
    for i, entry in enumerate(r.entries(value, "compute")):
        path = f"compute[{i}]"
        item = r.mapping(entry, path, ("sips", "slowdown"), ("sips", "slowdown"))
        factor = r.number(item["slowdown"], f"{path}.slowdown", gt=0)
        for k, sip in enumerate(r.sips(item["sips"], f"{path}.sips")):
            if sip in out:
                raise r.fail(f"{path}.sips[{k}]", f"sip{sip} already has a slowdown (an earlier compute entry)")
            out[sip] = factor
    return tuple(out.items())


def _links(r: _Reader, value: Any) -> tuple[LinkChange, ...]:
    system = r.topo.system
    changes: list[LinkChange] = []
    for i, entry in enumerate(r.entries(value, "links")):
        path = f"links[{i}]"
        item = r.mapping(entry, path, ("between", "bandwidth_gbs", "down", "from_us"), ("between",))
        ends = r.sips(item["between"], f"{path}.between")
        if len(ends) != 2:
            raise r.fail(f"{path}.between", f"expected two SIPs, got {len(ends)}")
        a, b = link_key(*ends)
        if b not in sip_neighbors(system, a).values():
            raise r.fail(f"{path}.between", f"sip{a} and sip{b} are not linked in {system.topology}")
        if any((c.a, c.b) == (a, b) for c in changes):
            raise r.fail(f"{path}.between", f"link {a}-{b} is already changed by an earlier entry")
        down = item.get("down", False)
        if not isinstance(down, bool):
            raise r.fail(f"{path}.down", f"expected true or false, got {_got(down)}")
        if "from_us" in item and not down:
            raise r.fail(f"{path}.from_us", "only a link that goes down (down: true) has a from_us")
        rate = r.number(item["bandwidth_gbs"], f"{path}.bandwidth_gbs", gt=0) if "bandwidth_gbs" in item else None
        if rate is None and not down:
            raise r.fail(path, "expected bandwidth_gbs (a degraded link) or down: true (a failed one)")
        start = r.number(item.get("from_us", 0.0), f"{path}.from_us", ge=0) * 1e3 if down else None
        changes.append(LinkChange(a, b, rate, start))
    down_links = frozenset((c.a, c.b) for c in changes if c.down_from_ns is not None)
    cut = unreachable(system, down_links)
    if cut is not None:
        names = ", ".join(f"{a}-{b}" for a, b in sorted(down_links))
        raise r.fail("links", f"with links {names} down the system is split in two: sip{cut} cannot reach sip0")
    return tuple(changes)


def _jitter(r: _Reader, value: Any) -> tuple[float, int]:
    item = r.mapping(value, "jitter", ("compute", "seed"), ("compute",))
    spread = r.number(item["compute"], "jitter.compute", ge=0)
    return spread, r.integer(item.get("seed", 0), "jitter.seed", *SEED_RANGE)


def _jobs(r: _Reader, value: Any) -> tuple[Job, ...]:
    jobs: list[Job] = []
    taken: dict[int, int] = {}
    for i, entry in enumerate(r.entries(value, "jobs")):
        path = f"jobs[{i}]"
        item = r.mapping(entry, path, ("bench", "sips", "params", "algorithm"), ("bench", "sips"))
        sips = r.sips(item["sips"], f"{path}.sips")
        for k, sip in enumerate(sips):
            if sip in taken:
                raise r.fail(f"{path}.sips[{k}]", f"sip{sip} already runs jobs[{taken[sip]}]: jobs take disjoint SIPs")
            taken[sip] = i
        params = item.get("params", {})
        if not isinstance(params, Mapping) or not all(_plain(v) for v in params.values()):
            raise r.fail(f"{path}.params", "expected a mapping of parameter name -> number, string or true/false")
        algorithm = r.text(item["algorithm"], f"{path}.algorithm") if "algorithm" in item else None
        jobs.append(Job(r.text(item["bench"], f"{path}.bench"), sips, tuple(params.items()), algorithm))
    return tuple(jobs)


def _plain(value: Any) -> bool:
    return isinstance(value, (bool, int, str)) or (isinstance(value, float) and math.isfinite(value))


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _got(value: object) -> str:
    if value is None:
        return "nothing (empty value)"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    return f"{short_repr(value)} ({type(value).__name__})"


__all__ = ["ScenarioError", "load_scenario", "parse_scenario"]
