"""MPICH's yield settings are applied only to jobs whose ranks outnumber the node's cores."""

import os

import pytest

from pdes.mpich_progress import YIELD_SETTINGS, configure, local_ranks, oversubscribed


@pytest.mark.parametrize(
    ("environ", "ranks"),
    [
        ({"MPI_LOCALNRANKS": "4"}, 4),  # MPICH's Hydra
        ({"OMPI_COMM_WORLD_LOCAL_SIZE": "3"}, 3),  # Open MPI
        ({"SLURM_NTASKS_PER_NODE": "8"}, 8),
        ({"MPI_LOCALNRANKS": "2", "SLURM_NTASKS_PER_NODE": "8"}, 2),  # the MPI launcher's own count wins
        ({"SLURM_NTASKS_PER_NODE": "2(x3)"}, None),  # not a plain count: unknown
        ({}, None),
    ],
)
def test_local_ranks_come_from_the_launcher(environ, ranks):
    assert local_ranks(environ) == ranks


def test_a_core_per_rank_sets_nothing():
    environ = {"MPI_LOCALNRANKS": "2"}
    assert not oversubscribed(environ, cores=2)
    assert configure(environ, cores=2) == {}
    assert environ == {"MPI_LOCALNRANKS": "2"}


def test_more_ranks_than_cores_yield():
    environ = {"MPI_LOCALNRANKS": "4"}
    assert configure(environ, cores=2) == YIELD_SETTINGS
    assert environ == {"MPI_LOCALNRANKS": "4", **YIELD_SETTINGS}


def test_an_unknown_rank_count_yields_and_the_users_choice_stays():
    environ = {"MPIR_CVAR_ENABLE_HEAVY_YIELD": "0"}
    assert configure(environ, cores=64) == {"MPIR_CVAR_CH4_PROGRESS_THROTTLE": "true"}
    assert environ["MPIR_CVAR_ENABLE_HEAVY_YIELD"] == "0"


@pytest.mark.mpi(min_size=2)
def test_the_launched_job_was_configured_by_its_real_rank_count():
    """Under mpirun: the launcher's count is the job's size, and the settings follow it: all present when the
    ranks outnumber the cores (set by pdes at import, or by the user), none set by pdes otherwise."""
    from mpi4py import MPI

    import pdes.mpi  # noqa: F401 (configures MPICH on import)
    from pdes import mpich_progress

    assert local_ranks() == MPI.COMM_WORLD.Get_size()
    if oversubscribed():
        assert all(name in os.environ for name in YIELD_SETTINGS)
    else:
        assert mpich_progress.applied == {}
