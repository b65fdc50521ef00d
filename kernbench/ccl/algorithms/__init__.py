"""IPCQ all-reduce algorithms as kernels, one module each (the seeds' kernel + kernel_args ABI).

A module offers ``kernel(t_ptr, *args, tl)``, which all-reduces this PE's ``n_elem`` elements at ``t_ptr`` in place,
and ``kernel_args(request, **keys) -> args``, called on the host with the call's `kernbench.ccl.AllReduceRequest`
(elements, world size, dtype, op, slot and window, geometry, topology) and the entry's ``kernel_*`` keys of
ccl.yaml as keywords: it declares those it takes (ccl.yaml refuses any other, so a misspelt key is an error, not a
silent default; ``**config`` takes them all).
Optional: ``neighbors(rank, geometry, pes)`` adds PE-level edges to the ccl.yaml topology,
``REDUCES_ACROSS_PES = True`` says every participating PE contributes (otherwise each PE lane reduces with the
same lane of the other ranks), ``MAPPER`` / ``VALIDATOR`` name the mapper and validator of an entry that names
none, and a ``root_cube`` keyword of ``kernel_args`` takes ccl.yaml's ``root_cube``. `common` holds the pieces they
share; `kernbench.ccl.testing` runs them without the engine.
"""
