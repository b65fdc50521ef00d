"""Small models shared by the single-process and the MPI tests."""

from __future__ import annotations

import simpy

from pdes import Model, Simulation

LAT_AB = 0.3
LAT_BA = 0.7


def fan_in_model(n_sources: int = 4) -> Model:
    """Sources send bursts that all land on the sink at the same instants.

    The sink also has local events at those instants; it logs everything in
    the order it sees it.
    """
    m = Model(seed=3)

    def source(k):
        def build(lp):
            def burst(_event):
                for i in range(3):  # same timestamp, several per source
                    lp.send("sink", [k, i], delay=5.0 - (k + 1) * 0.5)

            lp.env.call_at(0.0, burst)
            lp.env.call_at(10.0 - (k + 1) * 0.5, burst)

        return build

    def sink(lp):
        log = []
        lp.on_receive(lambda m: log.append(["msg", lp.now, m.src, m.payload]))
        for t in (5.0, 15.0):
            lp.env.call_at(t, lambda _ev: log.append(["local", lp.now]))
        return log

    for k in range(n_sources):
        m.add_lp(f"src{k}", source(k))
    m.add_lp("sink", sink, report=lambda log: log)
    for k in range(n_sources):
        m.add_link(f"src{k}", "sink", (k + 1) * 0.5)
    return m


def chatter_model(n: int = 6, seed: int = 11) -> Model:
    """LPs in a ring exchange numpy payloads at awkward float times, with RNG draws and processes."""
    m = Model(seed=seed)
    names = [f"n{i}" for i in range(n)]

    def build(lp):
        state = {"log": [], "draws": [float(lp.rng.random())]}
        store = simpy.Store(lp.env)
        right = names[(names.index(lp.name) + 1) % n]

        def handler(message):
            store.put(message)

        def worker_proc():
            hops = 0
            while hops < 40:
                message = yield store.get()
                hops += 1
                state["log"].append([lp.now, message.timestamp, message.src, float(message.payload.sum())])
                yield lp.env.timeout(float(lp.rng.exponential(0.1)))
                lp.send(right, message.payload * 1.5 + hops, delay=float(lp.rng.random()) * 0.01)

        lp.on_receive(handler)
        lp.env.process(worker_proc())
        if lp.name == "n0":
            import numpy as np

            lp.send(right, np.arange(4, dtype=np.float64) / 3.0, delay=0.1)
        return state

    for name in names:
        m.add_lp(name, build, report=lambda s: s)
    for i, name in enumerate(names):
        m.add_link(name, names[(i + 1) % n], 0.1 + 0.01 * i)
    return m


def inbox(lp):
    """Builder: queue every incoming message in a Store, the LP's state."""
    store = simpy.Store(lp.env)
    lp.on_receive(store.put)
    return store


def ping_pong_model() -> Model:
    """LP a (with a host worker) and LP b, which echoes after a fixed delay."""
    m = Model()

    def build_b(lp):
        lp.on_receive(lambda message: lp.send("a", message.payload + 1, delay=0.25))

    m.add_lp("a", inbox)
    m.add_lp("b", build_b)
    m.add_link("a", "b", LAT_AB)
    m.add_link("b", "a", LAT_BA)
    return m


def ping_pong_worker(sim: Simulation, rounds: int = 4):
    """Host code on LP a: send, wait for the echo, record the times."""

    def worker(lp):
        seen = []
        for i in range(rounds):
            lp.send("b", i * 10)
            reply = sim.wait(lp.state.get())
            seen.append([lp.now, reply.payload])
            sim.wait(lp.env.timeout(1.0))
        return seen

    return worker


def deadlock_model() -> Model:
    """Two LPs whose workers each wait for a message the other never sends."""
    m = Model()
    m.add_lp("left", inbox)
    m.add_lp("right", inbox)
    m.add_link("left", "right", 1.0)
    m.add_link("right", "left", 1.0)
    return m


def failing_model(fail_lp: str = "b", at: float = 3.0) -> Model:
    """A chain of LPs passing a token; ``fail_lp`` divides by zero at time ``at``."""
    m = Model()
    names = ["a", "b", "c", "d"]

    def build(lp):
        def on_token(message):
            if lp.name == fail_lp and lp.now >= at:
                return 1 / 0
            lp.send(names[(names.index(lp.name) + 1) % len(names)], message.payload + 1)

        lp.on_receive(on_token)
        if lp.name == "a":
            lp.send("b", 0)

    for name in names:
        m.add_lp(name, build)
    for i, name in enumerate(names):
        m.add_link(name, names[(i + 1) % len(names)], 1.0)
    return m


def gossip_model(grouped: bool, n: int = 5, prefix: str = "") -> Model:
    """Every LP forwards each message to a drawn other LP; LP 0 also has an explicit link to LP 1."""
    m = Model(seed=2)
    names = [f"g{i}" for i in range(n)]

    def build(lp):
        log = []

        def handler(message):
            log.append([lp.now, message.src, message.link, message.payload])
            if message.link != "side" and message.payload < 30:
                dst = names[int(lp.rng.integers(n - 1))]
                dst = names[-1] if dst == lp.name else dst
                lp.send(prefix + dst, message.payload + 1, delay=float(lp.rng.random()) * 0.3)
            if lp.name == "g0" and message.payload % 4 == 0:
                lp.send("side", -1.0)

        lp.on_receive(handler)
        first = prefix + names[(names.index(lp.name) + 2) % n]
        lp.env.call_at(0.1 * names.index(lp.name), lambda _e: lp.send(first, 0))
        return log

    for name in names:
        m.add_lp(name, build, report=list)
    if grouped:
        m.add_link_group(names, 0.25, prefix=prefix)
    else:
        for a in names:
            for b in names:
                if a != b:
                    m.add_link(a, b, 0.25, name=prefix + b)
    m.add_link("g0", "g1", 0.125, name="side")
    return m


def endless_ping_pong(latency: float, delay: float = 0.0) -> Model:
    """Two LPs bouncing one message forever over links of ``latency``, ``delay`` added per hop."""
    m = Model()

    def build(lp):
        lp.on_receive(lambda message: lp.send("b" if lp.name == "a" else "a", message.payload + 1, delay=delay))
        if lp.name == "a":
            lp.env.call_at(0.0, lambda _e: lp.send("b", 0))

    m.add_lp("a", build)
    m.add_lp("b", build)
    m.add_link("a", "b", latency, name="b")
    m.add_link("b", "a", latency * 4, name="a")
    return m


def ring_model(n: int, times: list[float]) -> Model:
    """``n`` LPs in a ring (links both ways, latency 1), each sending to its east neighbour at ``times``; each
    reports what it received, as (time, sender)."""
    m = Model()

    def build(lp):
        got = []
        lp.on_receive(lambda msg: got.append((lp.now, msg.src)))
        for t in times:
            lp.env.call_at(t, lambda _e: lp.send("east", None))
        return got

    for i in range(n):
        m.add_lp(f"p{i}", build, report=list)
    for i in range(n):
        m.add_link(f"p{i}", f"p{(i + 1) % n}", 1.0, name="east")
        m.add_link(f"p{(i + 1) % n}", f"p{i}", 1.0, name="west")
    return m
