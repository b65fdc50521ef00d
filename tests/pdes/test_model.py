import pytest

from pdes import Model, ModelError, Partition, Simulation
from pdes.partition import PARTITIONS, register_partition


def noop(lp):
    lp.on_receive(lambda _m: None)


def two_lps():
    m = Model()
    m.add_lp("a", noop)
    m.add_lp("b", noop)
    return m


@pytest.mark.parametrize("latency", [0, 0.0, -1.0, float("inf"), float("nan"), "1"])
def test_link_latency_must_be_positive_and_finite(latency):
    m = two_lps()
    with pytest.raises(ModelError, match=r"link 'a' -> 'b' \(port 'b'\): latency must be"):
        m.add_link("a", "b", latency)


def test_unknown_lp_in_link_is_named():
    m = two_lps()
    with pytest.raises(ModelError, match="unknown destination LP 'c'"):
        m.add_link("a", "c", 1.0)
    with pytest.raises(ModelError, match="unknown source LP 'z'"):
        m.add_link("z", "a", 1.0)


def test_self_link_duplicate_lp_and_duplicate_port_are_refused():
    m = two_lps()
    with pytest.raises(ModelError, match="cannot link to itself"):
        m.add_link("a", "a", 1.0)
    with pytest.raises(ModelError, match="declared twice"):
        m.add_lp("a", noop)
    m.add_link("a", "b", 1.0, name="east")
    with pytest.raises(ModelError, match="already has a port named 'east'"):
        m.add_link("a", "b", 2.0, name="east")


def test_digest_depends_on_lps_links_and_seed():
    base = two_lps()
    base.add_link("a", "b", 1.0)
    other_latency = two_lps()
    other_latency.add_link("a", "b", 2.0)
    other_seed = two_lps()
    other_seed.seed = 1
    other_seed.add_link("a", "b", 1.0)
    same = two_lps()
    same.add_link("a", "b", 1.0)
    assert base.digest() == same.digest()
    assert len({base.digest(), other_latency.digest(), other_seed.digest()}) == 3


def test_partitions():
    assert Partition.blocks(5, 2).owner == [0, 0, 0, 1, 1]
    assert Partition.round_robin(5, 2).owner == [0, 1, 0, 1, 0]
    assert Partition.explicit(["a", "b"], {"a": 1, "b": 0}, 2).owner == [1, 0]
    more_ranks_than_lps = Partition.blocks(3, 4)
    assert [more_ranks_than_lps.local(r) for r in range(4)] == [[0], [1], [2], []]  # rank 3 idles
    with pytest.raises(ModelError, match="no rank for LP 'b'"):
        Partition.explicit(["a", "b"], {"a": 0}, 2)
    with pytest.raises(ModelError, match="unknown LP 'c'"):
        Partition.explicit(["a"], {"a": 0, "c": 0}, 1)
    with pytest.raises(ModelError, match="to rank 2, but there are 2 ranks"):
        Partition([0, 2], 2)


def test_tiles_cut_a_grid_into_squarest_rectangles():
    tiles = Partition.tiles(4, 4, 4)  # 2 x 2 tiles of 2 x 2
    assert tiles.owner == [0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3]
    wide = Partition.tiles(8, 2, 4)  # a wide grid gets tall tiles: 4 x 1 of 2 x 2
    assert wide.owner == [0, 0, 1, 1, 2, 2, 3, 3] * 2
    assert Partition.tiles(6, 1, 3).owner == Partition.blocks(6, 3).owner  # one row: blocks
    assert Partition.tiles(4, 4, 16).owner == list(range(16))  # one LP per rank
    big = Partition.tiles(32, 32, 64)  # 8 x 8 tiles of 4 x 4
    assert sorted(big.owner.count(r) for r in range(64)) == [16] * 64
    assert big.owner[0:5] == [0, 0, 0, 0, 1]
    assert big.owner[4 * 32] == 8


def test_partitions_by_name_and_a_declared_grid():
    m = Model()
    for i in range(16):
        m.add_lp(f"p{i}", lambda _lp: None)
    assert Simulation(m, ranks=4, partition="tiles").partition.owner == Partition.blocks(16, 4).owner  # no grid
    m.declare_grid(4, 4)
    assert Simulation(m, ranks=4, partition="tiles").partition.owner == Partition.tiles(4, 4, 4).owner
    with pytest.raises(ModelError, match="a 3 x 5 grid does not hold the model's 16 LPs"):
        m.declare_grid(3, 5)
    register_partition("evens_first", lambda model, size: Partition([i % 2 for i in range(len(model.lps))], size))
    try:
        assert Simulation(m, ranks=2, partition="evens_first").partition.owner == [0, 1] * 8
        with pytest.raises(ValueError, match="already registered"):
            register_partition("evens_first", lambda model, size: Partition.blocks(len(model.lps), size))
    finally:
        del PARTITIONS["evens_first"]
    with pytest.raises(ValueError, match=r"partition must be one of .*'tiles'"):
        Simulation(m, partition="metis")


def test_lp_with_inputs_but_no_handler_is_a_build_error():
    m = Model()
    m.add_lp("a", lambda _lp: None)
    m.add_lp("b", lambda _lp: None)
    m.add_link("a", "b", 1.0)
    with pytest.raises(ModelError, match="LP 'b' has input links but its builder set no handler"):
        Simulation(m)


def test_builder_exception_names_the_lp():
    def bad(_lp):
        raise KeyError("missing parameter")

    m = Model()
    m.add_lp("ok", noop)
    m.add_lp("broken", bad)
    with pytest.raises(KeyError) as info:
        Simulation(m, ranks=2)
    assert "LP 'broken' on rank 1 during building the model" in "".join(info.value.__notes__)


def test_send_on_unknown_port_names_lp_and_ports():
    m = two_lps()
    m.add_link("a", "b", 1.0)
    sim = Simulation(m)
    with pytest.raises(ModelError, match=r"LP 'a' has no output port 'c' \(ports: b\)"):
        sim.lp("a").send("c", 1)
    with pytest.raises(ValueError, match="delay must be >= 0"):
        sim.lp("a").send("b", 1, delay=-1)


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="sync must be one of"):
        Simulation(two_lps(), sync="optimistic")
    with pytest.raises(ValueError, match="ranks must be an integer >= 1"):
        Simulation(two_lps(), ranks=0)
    with pytest.raises(ValueError, match="transport must be"):
        Simulation(two_lps(), transport="tcp")
