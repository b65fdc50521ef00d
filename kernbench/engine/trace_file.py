"""The timeline trace of a run as Chrome trace-event JSON (opened by ui.perfetto.dev and chrome://tracing).

Layout (docs/adr/0015-timeline-traces.md): SIP ``s`` is process ``2s + 1`` (``sipS``) with a track for host
phases, one for host requests and one per PE (``cube C pe P``, in cube then PE order) holding the PE's kernel
spans and, at detail ``ops``, its DMA / GEMM / MATH / MMU operations inside them; at detail ``links`` process
``2s + 2`` (``sipS links``) has one track per link used, with its busy intervals and their bytes. IPCQ sends are
joined to their receives by flow arrows (``s`` on the sender's PE track, ``f`` on the receiver's), across SIPs too.
Spans that would overlap on a track without nesting (concurrent host requests, background DMA) go to extra tracks
of the same name with ``#2``, ``#3``.

``ts`` and ``dur`` are microseconds (the format's unit) of simulated time, each boundary rounded to the nanosecond
once, so spans that nest in the model nest in the file and in Perfetto (which stores integer ns).

The file depends only on what the SIPs recorded, never on the rank that simulated them: SIPs in order, track ids
from the sorted track keys, events sorted by (track, time), flow ids numbered in the order of the sends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

Event = tuple[tuple, str]
"""(sort key, the event's JSON text)."""


def trace_json(records: list[dict[str, Any]], detail: str) -> str:
    """The trace file's text from the gathered records of every SIP (`Engine.gather_records`)."""
    traced = sorted((r for r in records if r["traced"]), key=lambda r: r["sip"])
    receives = {(slot, seq): (r["sip"], cube, pe, t) for r in traced for slot, seq, cube, pe, t in r["recvs"]}
    flows: dict[int, list[tuple[int, int, float, int, str]]] = {}  # sip -> (cube, pe, t, id, phase)
    next_id = 1
    for r in traced:
        for slot, seq, cube, pe, t in r["sends"]:
            to = receives.get((slot, seq))
            if to is None:
                continue  # the receiver is not traced (--trace-sips)
            flows.setdefault(r["sip"], []).append((cube, pe, t, next_id, "s"))
            flows.setdefault(to[0], []).append((to[1], to[2], to[3], next_id, "f"))
            next_id += 1
    events = [text for r in traced for text in _sip_events(r, flows.get(r["sip"], []))]
    other = {
        "generator": "kernbench run --trace",
        "detail": detail,
        "sips": [r["sip"] for r in traced],
        "flows": next_id - 1,
        "time": "ts and dur in microseconds of simulated time, each boundary rounded to the nanosecond",
    }
    return '{"traceEvents":[\n' + ",\n".join(events) + '\n],\n"otherData":' + json.dumps(other) + "}\n"


def _sip_events(r: dict[str, Any], flows: list[tuple[int, int, float, int, str]]) -> Iterator[str]:
    sip = r["sip"]
    pid = 2 * sip + 1
    tracks: dict[tuple, list[tuple[int, int, str, dict | None]]] = {}
    for track, name, start, end, args in r["spans"]:
        tracks.setdefault(_track_key(track), []).append((_ns(start), _ns(end), name, args))
    for cube, pe, *_ in flows:
        tracks.setdefault((2, cube, pe), [])
    yield from _process(pid, f"sip{sip}")
    tids: dict[tuple, int] = {}
    body: list[Event] = []
    for key in sorted(tracks):
        for lane, spans in enumerate(_lanes(tracks[key])):
            tid = len(tids) + 1
            tids[(key, lane)] = tid
            yield from _thread(pid, tid, _track_name(key) + (f" #{lane + 1}" if lane else ""))
            for start, end, name, args in spans:
                cat = "host" if key[0] < 2 else "kernel" if args is not None and "kernel" in args else "op"
                body.append(((tid, start, start - end, name), _span(pid, tid, start, end, name, cat, args)))
    for cube, pe, t, flow_id, phase in flows:
        tid = tids[((2, cube, pe), 0)]
        body.append(((tid, _ns(t), 1, phase), _flow(pid, tid, _ns(t), flow_id, phase)))
    yield from (text for _, text in sorted(body))
    links = r["link_intervals"]
    if links:
        yield from _process(pid + 1, f"sip{sip} links")
        prefix = f"sip{sip}."
        for tid, name in enumerate(sorted(links), 1):
            yield from _thread(pid + 1, tid, name.removeprefix(prefix))
            for start, end, nbytes in links[name]:
                yield _span(pid + 1, tid, _ns(start), _ns(end), "busy", "link", {"bytes": nbytes})


def _track_key(track: list) -> tuple:
    """Sort key of a track: host phases, host requests, then PEs by (cube, pe)."""
    if track[0] == "host":
        return (0 if track[1] == "phases" else 1, 0, 0)
    return (2, track[1], track[2])


def _track_name(key: tuple) -> str:
    return ("host phases", "host requests")[key[0]] if key[0] < 2 else f"cube{key[1]} pe{key[2]}"


def _lanes(spans: list[tuple[int, int, str, dict | None]]) -> list[list[tuple[int, int, str, dict | None]]]:
    """Spans split into as few tracks as a greedy pass needs for every track to nest: a span goes to the first
    track where it starts after the open spans end or lies inside the innermost one (outer spans first)."""
    lanes: list[list[tuple[int, int, str, dict | None]]] = []
    stacks: list[list[int]] = []  # per lane: ends of the spans open at the current start
    for span in sorted(spans, key=lambda s: (s[0], -s[1])):
        start, end = span[0], span[1]
        lane = 0
        while lane < len(stacks):
            stack = stacks[lane]
            while stack and stack[-1] <= start:
                stack.pop()
            if not stack or end <= stack[-1]:
                break
            lane += 1
        if lane == len(stacks):
            lanes.append([])
            stacks.append([])
        lanes[lane].append(span)
        stacks[lane].append(end)
    return lanes


def _ns(t: float) -> int:
    return round(t)


def _us(ns: int) -> str:
    """Integer ns as a decimal number of microseconds, exactly (``1234`` -> ``1.234``)."""
    return f"{ns // 1000}.{ns % 1000:03d}"


def _process(pid: int, name: str) -> Iterator[str]:
    yield f'{{"ph":"M","pid":{pid},"name":"process_name","args":{{"name":{json.dumps(name)}}}}}'
    yield f'{{"ph":"M","pid":{pid},"name":"process_sort_index","args":{{"sort_index":{pid}}}}}'


def _thread(pid: int, tid: int, name: str) -> Iterator[str]:
    yield f'{{"ph":"M","pid":{pid},"tid":{tid},"name":"thread_name","args":{{"name":{json.dumps(name)}}}}}'
    yield f'{{"ph":"M","pid":{pid},"tid":{tid},"name":"thread_sort_index","args":{{"sort_index":{tid}}}}}'


def _span(pid: int, tid: int, start: int, end: int, name: str, cat: str, args: dict | None) -> str:
    extra = "" if args is None else ',"args":' + json.dumps(_clean(args), separators=(",", ":"))
    return (
        f'{{"ph":"X","pid":{pid},"tid":{tid},"ts":{_us(start)},"dur":{_us(end - start)},'
        f'"name":{json.dumps(name)},"cat":"{cat}"{extra}}}'
    )


def _flow(pid: int, tid: int, t: int, flow_id: int, phase: str) -> str:
    return (
        f'{{"ph":"{phase}","pid":{pid},"tid":{tid},"ts":{_us(t)},"name":"ipcq","cat":"ipcq","id":{flow_id},"bp":"e"}}'
    )


def _clean(args: dict[str, Any]) -> dict[str, Any]:
    """Floats rounded to 1e-6 ns, as the run report rounds them."""
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in args.items()}
