"""``mpirun -n 2 python -m pdes.calibrate``: measure the constants of `pdes.projection` on this machine.

Prints one JSON line (rank 0): ``round_cost_waiting_s`` (what `pdes.projection.ROUND_COST_S` holds: a round's
synchronization when one rank waits for the other), ``round_cost_s`` / ``round_cost_min_s`` (the same when
neither works: sensitive to the machine's load), ``reduce_step_s`` (a blocking 2-rank reduction) and
``mpi_start_s`` (`pdes.projection.MPI_START_S`). See docs/adr/0014-projection.md.
"""

from __future__ import annotations

import argparse
import json
import sys

from .projection import calibrate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pdes.calibrate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=2000, help="rounds to time (default 2000)")
    args = ap.parse_args(argv)
    result = calibrate(args.rounds)
    from .mpi import MPI

    if MPI.COMM_WORLD.Get_rank() == 0:
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
