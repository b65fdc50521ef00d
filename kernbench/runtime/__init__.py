"""The runtime API (the ``torch`` object benches and kernels see): dtypes, tensor placement and memory allocators.

The pieces here are pure logic: they decide *where* a tensor's bytes live (placement, allocators) and *what*
those bytes are (dtypes); the simulation engine moves and computes them.
"""
