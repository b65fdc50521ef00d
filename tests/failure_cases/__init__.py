"""Benches and scripts that fail on one MPI process only (the last one; in a single process, that one).

tests/test_failure_matrix.py runs each under ``mpirun -n 2`` and alone, and checks how the job ends.
"""
