"""PHOLD, the standard PDES benchmark, on pdes and on plain SimPy.

N LPs start with E events each. Handling an event draws, from the LP's own
generator, whether the next event goes to a uniformly random *other* LP
(probability ``remote``) or to itself, and its timestamp
``(now + lookahead) + Exp(mean)``. The digest hashes every LP's final state
(event count, last timestamp, a CRC of all its event times in order, RNG
draws), so any difference in ordering or rounding shows.
"""

from .model import PholdParams, build_model, digest, run_pdes, run_simpy

__all__ = ["PholdParams", "build_model", "digest", "run_pdes", "run_simpy"]
