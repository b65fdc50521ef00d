"""Chakra execution traces (mlcommons/chakra, ASTRA-sim's input) on the simulated system.

A reader and a writer of the format (`read_messages`, `TraceWriter`), the checks a trace set passes before it runs
(`load_workload`), and the feeder that runs a rank's trace on its SIP with ``torch.distributed`` (`Feeder`).
``kernbench run --chakra PREFIX`` drives them (`kernbench.cli.chakra_cmd`); docs/adr/0022-chakra-traces.md
says why they work as they do.
"""

from kernbench.chakra.errors import ChakraError
from kernbench.chakra.feeder import Feeder
from kernbench.chakra.nodes import TraceNode, decode
from kernbench.chakra.stream import read_messages, write_messages
from kernbench.chakra.workload import Workload, load_workload
from kernbench.chakra.writer import TraceWriter, write_ranks

__all__ = [
    "ChakraError",
    "Feeder",
    "TraceNode",
    "TraceWriter",
    "Workload",
    "decode",
    "load_workload",
    "read_messages",
    "write_messages",
    "write_ranks",
]
