"""The link timing model: closed form on idle paths, FIFO serialization, head-of-line blocking, exact times."""

import random

import pytest
import simpy

from kernbench.components import Fanout, Link, transfer

from .conftest import run_all


def _solo(path, nbytes, env):
    proc = transfer(path, nbytes)
    env.run()
    return proc.value


def test_single_link_closed_form(env):
    link = Link(env, "l", bandwidth_gbs=100.0, overhead_ns=5.0, length_mm=10.0, ns_per_mm=0.01)
    t = _solo([link], 1000, env)
    assert t.start == 0.0
    assert t.end == pytest.approx(5.0 + 0.1 + 1000 / 100.0, abs=1e-9)
    assert (t.overhead_ns, t.wire_ns, t.queueing_ns) == (5.0, pytest.approx(0.1), 0.0)
    assert t.serialization_ns == pytest.approx(10.0, abs=1e-9)
    assert env.now == t.end  # the process woke at exactly the computed end
    assert t.hops == (("l", 0.0, t.end, 0.0),)
    assert link.bytes_carried == 1000
    assert link.transfers == 1
    assert link.busy_ns == 10.0


def test_random_idle_paths_match_closed_form():
    rng = random.Random(7)
    for _ in range(200):
        env = simpy.Environment(initial_time=rng.choice([0.0, 0.1, 123.456789]))
        path = [
            Link(env, f"l{i}", rng.uniform(1.0, 1000.0), rng.uniform(0.0, 30.0), rng.uniform(0.0, 20.0), 0.01)
            for i in range(rng.randint(1, 8))
        ]
        n = rng.choice([0, 1, 64, 4096, rng.randrange(1, 1 << 26)])
        start = env.now
        t = _solo(path, n, env)
        expected = sum(lk.overhead_ns for lk in path) + sum(lk.wire_ns for lk in path)
        expected += n / min(lk.bandwidth_gbs for lk in path)
        # 1e-9 ns, or a few ulps where the latency is so large (up to 6.7e7 ns here) that 1e-9 is below one ulp
        assert t.latency_ns == pytest.approx(expected, rel=4e-16 * len(path), abs=1e-9)
        assert t.start == start
        assert env.now == t.end
        assert t.queueing_ns == 0.0
        assert t.overhead_ns + t.wire_ns + t.queueing_ns + t.serialization_ns == pytest.approx(t.latency_ns, abs=1e-9)
        heads = [h.head_in for h in t.hops]
        assert heads == sorted(heads)
        assert all(h.tail_out <= t.end for h in t.hops)


def test_zero_bytes_pay_only_overhead_and_wire(env):
    path = [Link(env, "a", 10.0, 3.0, 100.0, 0.01), Link(env, "b", 1.0, 4.0)]
    t = _solo(path, 0, env)
    assert t.latency_ns == pytest.approx(3.0 + 1.0 + 4.0, abs=1e-12)
    assert t.serialization_ns == 0.0


def test_two_concurrent_transfers_on_one_link_take_twice_as_long(env):
    link = Link(env, "shared", 100.0, overhead_ns=10.0)
    n = 1 << 20
    first, second = run_all(env, [transfer([link], n), transfer([link], n)])
    one = 10.0 + n / 100.0
    assert first.end == pytest.approx(one, abs=1e-9)
    # back to back: the second streams once the first has left the link
    assert second.queueing_ns == pytest.approx(n / 100.0, abs=1e-9)
    assert second.end == pytest.approx(10.0 + 2 * n / 100.0, abs=1e-9)
    assert second.latency_ns / first.latency_ns == pytest.approx(2.0, rel=0.01)


def test_link_serves_in_arrival_order(env):
    link = Link(env, "fifo", 1.0)
    done = []

    def sender(delay, tag, n):
        yield env.timeout(delay)
        t = yield transfer([link], n)
        done.append((tag, t.end))

    env.process(sender(2.0, "late", 10))
    env.process(sender(0.0, "early", 100))
    env.process(sender(1.0, "middle", 10))
    env.run()
    assert [tag for tag, _ in sorted(done, key=lambda d: d[1])] == ["early", "middle", "late"]
    assert dict(done) == {"early": 100.0, "middle": 110.0, "late": 120.0}


def test_head_of_line_blocking_on_a_shared_first_hop(env):
    port = Link(env, "port", 10.0, 1.0)
    far_a, far_b = Link(env, "a", 10.0, 1.0), Link(env, "b", 10.0, 1.0)
    long_t, short_t = run_all(env, [transfer([port, far_a], 100_000), transfer([port, far_b], 100)])
    alone = 1.0 + 1.0 + 100 / 10.0
    assert short_t.queueing_ns == pytest.approx(100_000 / 10.0, abs=1e-9)  # waited for the long one's 10 us
    assert short_t.latency_ns == pytest.approx(alone + 10_000.0, abs=1e-9)
    assert short_t.hops[1].queued_ns == 0.0  # its own second hop was idle
    assert long_t.queueing_ns == 0.0


def test_disjoint_paths_do_not_interfere(env):
    a = [Link(env, "a1", 50.0, 2.0), Link(env, "a2", 25.0, 2.0)]
    b = [Link(env, "b1", 50.0, 2.0), Link(env, "b2", 25.0, 2.0)]
    ta, tb = run_all(env, [transfer(a, 5000), transfer(b, 5000)])
    assert ta.end == tb.end == pytest.approx(4.0 + 5000 / 25.0, abs=1e-9)


def test_link_never_exceeds_its_bandwidth(env):
    link = Link(env, "l", 64.0, 5.0)
    procs = [transfer([link], 4096) for _ in range(50)]
    timings = run_all(env, procs)
    span = max(t.end for t in timings) - 0.0
    assert 50 * 4096 / span <= 64.0
    assert 50 * 4096 / span == pytest.approx(64.0, rel=0.01)  # back-to-back: no bubbles between transfers


def test_slow_upstream_link_sets_the_pace_downstream(env):
    slow, fast = Link(env, "slow", 10.0, 1.0), Link(env, "fast", 1000.0, 1.0)
    t = _solo([slow, fast], 10_000, env)
    assert t.end == pytest.approx(2.0 + 1000.0, abs=1e-9)
    assert t.hops[1].tail_out == t.end
    assert t.hops[0].tail_out == pytest.approx(1001.0)


def test_latency_grows_with_size(env):
    path = [Link(env, "a", 32.0, 4.0, 3.0, 0.01), Link(env, "b", 16.0, 1.0)]
    latencies = []
    for n in [0, 1, 512, 4096, 1 << 16, 1 << 20]:
        latencies.append(_solo(path, n, env).latency_ns)
    assert latencies == sorted(latencies)
    assert len(set(latencies)) == len(latencies)


def test_fanout_branches_run_in_parallel(env):
    up = Link(env, "up", 100.0, 1.0)
    s0, s1 = Link(env, "s0", 10.0, 5.0), Link(env, "s1", 10.0, 5.0)
    t = _solo([up, Fanout("slices", ((s0, 3000), (s1, 1000)))], 4000, env)
    assert t.latency_ns == pytest.approx(1.0 + 5.0 + 3000 / 10.0, abs=1e-9)  # the busier branch decides
    assert [h.link for h in t.hops] == ["up", "s0", "s1"]
    assert s0.busy_ns == 300.0
    assert s1.busy_ns == 100.0


def test_fanout_is_limited_by_upstream_stream(env):
    up = Link(env, "up", 10.0)
    s0, s1 = Link(env, "s0", 100.0), Link(env, "s1", 100.0)
    t = _solo([up, Fanout("f", ((s0, 500), (s1, 500)))], 1000, env)
    assert t.latency_ns == pytest.approx(1000 / 10.0, abs=1e-9)


def test_times_are_exact_for_awkward_start_times():
    env = simpy.Environment(initial_time=0.1)
    path = [Link(env, "a", 3.0, 0.3, 7.0, 0.01), Link(env, "b", 7.0, 0.7)]
    t1 = _solo(path, 1001, env)
    t2 = _solo(path, 333, env)
    assert env.now == t2.end  # bit-identical, not approximately
    assert t2.start == t1.end


def test_invalid_arguments(env):
    link = Link(env, "l", 1.0)
    with pytest.raises(ValueError, match="empty"):
        transfer([], 1)
    with pytest.raises(ValueError, match="nbytes"):
        transfer([link], -1)
    with pytest.raises(ValueError, match="nbytes"):
        transfer([link], 1.5)
    with pytest.raises(ValueError, match="another environment"):
        transfer([link, Link(simpy.Environment(), "other", 1.0)], 1)
    with pytest.raises(ValueError, match="splits 10 bytes, the transfer has 11"):
        transfer([Fanout("f", ((link, 10),))], 11)
    with pytest.raises(TypeError, match="Link or Fanout"):
        transfer([link, "nope"], 1)
    with pytest.raises(ValueError, match="bandwidth_gbs must be > 0"):
        Link(env, "bad", 0.0)
    with pytest.raises(ValueError, match="overhead_ns must be >= 0"):
        Link(env, "bad", 1.0, overhead_ns=-1.0)
    with pytest.raises(ValueError, match="at least one branch"):
        Fanout("f", ())
