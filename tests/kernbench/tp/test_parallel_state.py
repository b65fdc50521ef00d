"""Megatron's rank layout (`kernbench.tp.parallel_state`) and its get_* functions on every rank."""

import pytest

from kernbench.engine import Engine
from kernbench.runtime import RuntimeContext
from kernbench.topology import load_topology
from kernbench.tp import parallel_state as ps
from tests.kernbench.helpers import DEFAULT_TOPOLOGY, with_sips


def test_megatrons_own_example():
    """Megatron's initialize_model_parallel docstring: 16 GPUs, tensor 2, pipeline 4."""
    layout = ps.Layout(16, 2, 4)
    assert layout.dp == 2
    assert layout.tensor_groups() == [[2 * i, 2 * i + 1] for i in range(8)]
    assert layout.pipeline_groups() == [[0, 4, 8, 12], [1, 5, 9, 13], [2, 6, 10, 14], [3, 7, 11, 15]]
    assert layout.data_groups() == [[0, 2], [1, 3], [4, 6], [5, 7], [8, 10], [9, 11], [12, 14], [13, 15]]


@pytest.mark.parametrize(
    ("tp", "pp", "tensor", "pipeline", "data"),
    [
        (2, 2, [0, 1], [0, 8], [0, 2, 4, 6]),
        (4, 1, [0, 1, 2, 3], [0], [0, 4, 8, 12]),
        (1, 4, [0], [0, 4, 8, 12], [0, 1, 2, 3]),
    ],
)
def test_the_layouts_of_sixteen_ranks(tp, pp, tensor, pipeline, data):
    layout = ps.Layout(16, tp, pp)
    assert layout.dp == 4
    assert (layout.tensor_groups()[0], layout.pipeline_groups()[0], layout.data_groups()[0]) == (
        tensor,
        pipeline,
        data,
    )
    for groups in (layout.tensor_groups(), layout.pipeline_groups(), layout.data_groups(), layout.model_groups()):
        assert sorted(r for g in groups for r in g) == list(range(16))  # each a partition of the ranks
    assert all(len(g) == tp * pp for g in layout.model_groups())


def test_every_rank_finds_its_groups_and_neighbours():
    topo = with_sips(load_topology(DEFAULT_TOPOLOGY), 16, "torus_2d")
    torch = RuntimeContext(Engine(topo))

    def worker(_rank, torch):
        torch.distributed.init_process_group()
        ps.initialize_model_parallel(2, 2, torch=torch)
        return {
            "tp": [ps.get_tensor_model_parallel_rank(torch), ps.get_tensor_model_parallel_world_size(torch)],
            "pp": [ps.get_pipeline_model_parallel_rank(torch), ps.get_pipeline_model_parallel_world_size(torch)],
            "dp": [ps.get_data_parallel_rank(torch), ps.get_data_parallel_world_size(torch)],
            "tp_ranks": list(ps.get_tensor_model_parallel_group(torch).ranks),
            "next": ps.get_pipeline_model_parallel_next_rank(torch),
            "prev": ps.get_pipeline_model_parallel_prev_rank(torch),
            "first": ps.is_pipeline_first_stage(torch),
            "last": ps.is_pipeline_last_stage(torch),
        }

    torch.multiprocessing.spawn(worker, args=(torch,))
    got = torch.multiprocessing.results
    for rank, me in got.items():
        stage = rank // 8
        assert me["tp"] == [rank % 2, 2]
        assert me["pp"] == [stage, 2]
        assert me["dp"] == [rank % 8 // 2, 4]
        assert me["tp_ranks"] == [rank - rank % 2, rank - rank % 2 + 1]
        assert me["next"] == me["prev"] == (rank + 8) % 16
        assert (me["first"], me["last"]) == (stage == 0, stage == 1)


def test_sizes_that_do_not_divide_the_world_are_refused():
    with pytest.raises(ValueError, match=r"tensor \(3\) x pipeline \(2\) parallel size must divide the world size 16"):
        ps.Layout(16, 3, 2)
