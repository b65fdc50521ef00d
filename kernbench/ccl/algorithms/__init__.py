"""IPCQ all-reduce algorithms as kernels, one module each (the ADR-0024 ABI of the seeds).

A module offers ``kernel(t_ptr, *args, tl)``, which all-reduces this PE's ``n_elem`` elements at ``t_ptr`` in place,
and ``kernel_args(*, n_elem, world_size, dtype, op, slot_elems, n_slots, geometry, topology) -> args``, called on
the host with keywords only, plus the entry's ``kernel_*`` keys of ccl.yaml: it declares those it takes (ccl.yaml
refuses any other, so a misspelt key is an error, not a silent default; ``**config`` takes them all).
Optional: ``neighbors(rank, geometry, pes)`` adds PE-level edges to the ccl.yaml topology,
``REDUCES_ACROSS_PES = True`` says every participating PE contributes (otherwise each PE lane reduces with the
same lane of the other ranks), ``MAPPER`` / ``VALIDATOR`` name the mapper and validator of an entry that names
none, and a ``root_cube`` keyword of ``kernel_args`` takes ccl.yaml's ``root_cube``. `common` holds the pieces they
share; `kernbench.ccl.testing` runs them without the engine.
"""
