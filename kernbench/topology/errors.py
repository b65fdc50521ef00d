"""The one exception type of the topology layer.

Every problem with a topology file surfaces as a `TopologyError`, so a CLI can catch a single type, print the
message and exit non-zero before anything is simulated.
"""

from __future__ import annotations

from kernbench.yaml_input import InputFileError


class TopologyError(InputFileError):
    """A topology file or dict that cannot be used.

    The message starts with the source (the file name as given) and the place in it: a dotted YAML path such as
    ``sip.cube_mesh.w`` for schema problems, or ``line:column`` for YAML syntax problems.
    """
