"""The one exception type of the topology layer.

Every problem with a topology file surfaces as a `TopologyError`, so a CLI can catch a single type, print the
message and exit non-zero before anything is simulated.
"""

from __future__ import annotations


class TopologyError(ValueError):
    """A topology file or dict that cannot be used.

    The message starts with the source (the file name as given) and the place in it: a dotted YAML path such as
    ``sip.cube_mesh.w`` for schema problems, or ``line:column`` for YAML syntax problems.
    """

    def __init__(self, source: str, where: str, problem: str, *, sep: str = ": ") -> None:
        self.source = source
        self.where = where
        self.problem = problem
        super().__init__(f"{source}{sep}{where}: {problem}" if where else f"{source}: {problem}")
