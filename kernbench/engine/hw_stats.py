"""Hardware statistics of a run (``--hw-stats``): links, HBM slices and PE units, from every SIP's records.

Per link: bytes, transfers, busy time (transferring), waiting time of the transfers it queued, utilisation (busy
over the run's simulated span: the latest SIP clock) and peak queue (the most transfers waiting for it at once).
The inter-SIP links are the SerDes ports, ``sipS.serdes.DIR``: every byte a SIP sends towards DIR is serialised
there. Per HBM slice: bytes read and written, busy time and utilisation. Per PE that ran a kernel: launches and
busy time per unit (``cpu`` command decodes, ``dma``, ``gemm``, ``math``, ``mmu``). Everything is ordered by SIP
and name, so the result does not depend on the partition. ``--hw-stats-window PHASE`` cuts each SIP's figures to
its span of one host phase (the collective's ``kernel:all_reduce``, say), leaving out the set-up copies around it.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from kernbench.engine.pe import UNITS

CSV_COLUMNS = (
    "kind",
    "name",
    "sip",
    "bytes",
    "transfers",
    "busy_ns",
    "wait_ns",
    "utilisation",
    "peak_queue",
    "read_bytes",
    "written_bytes",
    "kernels",
    *(f"{unit}_ns" for unit in UNITS),
)


def hw_stats(records: list[dict[str, Any]], window: str | None = None) -> dict[str, Any]:
    """The statistics of every SIP that recorded them (`Engine.gather_records` with ``Recording(stats=True)``).

    With ``window`` (``Recording.window``, a host phase) each SIP's records are cut to its own span of that phase and
    utilisations are shares of it; ``window`` adds the phase, the SIPs that ran it and the longest span."""
    records = sorted(records, key=lambda r: r["sip"])
    spans = {r["sip"]: r["window"][1] - r["window"][0] if r.get("window") else 0.0 for r in records}
    span = max(spans.values(), default=0.0) if window is not None else max((r["now"] for r in records), default=0.0)

    links, hbm, pes = [], [], []
    for r in records:
        sip = r["sip"]
        own = spans[sip] if window is not None else span

        def share(ns: float, own: float = own) -> float:
            return ns / own if own > 0 else 0.0

        busy = {}
        for link in r["links"]:
            links.append({"sip": sip, **link, "utilisation": share(link["busy_ns"])})
            busy[link["link"]] = link["busy_ns"]
        for s in r["hbm"]:
            ns = busy.get(s["slice"], 0.0)
            hbm.append({"sip": sip, **s, "busy_ns": ns, "utilisation": share(ns)})
        for cube, pe, kernels, *unit_ns in r["pes"]:
            by_unit = dict(zip(UNITS, unit_ns, strict=True))
            pes.append(
                {
                    "sip": sip,
                    "cube": cube,
                    "pe": pe,
                    "kernels": int(kernels),
                    "busy_ns": by_unit,
                    "utilisation": {unit: share(ns) for unit, ns in by_unit.items()},
                }
            )
    out = {"span_ns": span, "links": links, "hbm": hbm, "pes": pes}
    if window is not None:
        out["window"] = {"phase": window, "sips": [r["sip"] for r in records if r.get("window")]}
    return out


def stats_csv(stats: dict[str, Any]) -> str:
    """One row per link, HBM slice and PE (``kind`` says which), columns `CSV_COLUMNS` (blank where not defined)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for link in stats["links"]:
        writer.writerow({"kind": "link", "name": link["link"], **_pick(link, CSV_COLUMNS[2:9])})
    for s in stats["hbm"]:
        writer.writerow({"kind": "hbm_slice", "name": s["slice"], **_pick(s, CSV_COLUMNS[2:])})
    for pe in stats["pes"]:
        writer.writerow(
            {
                "kind": "pe",
                "name": f"sip{pe['sip']}.cube{pe['cube']}.pe{pe['pe']}",
                "sip": pe["sip"],
                "kernels": pe["kernels"],
                **{f"{u}_ns": _num(ns) for u, ns in pe["busy_ns"].items()},
            }
        )
    return out.getvalue()


def _pick(row: dict[str, Any], columns: tuple[str, ...]) -> dict[str, Any]:
    return {c: _num(row[c]) for c in columns if c in row}


def _num(value: Any) -> Any:
    return round(value, 6) if isinstance(value, float) else value
