"""The one error of a bad trace: a `ValueError` whose message names the file and, where there is one, the node."""

from __future__ import annotations


class ChakraError(ValueError):
    """``PATH: node ID: what is wrong`` (or ``PATH: what is wrong``): one line for the user, exit code 2."""

    def __init__(self, path: str, node: int | None, detail: str) -> None:
        self.path = path
        self.node = node
        self.detail = detail
        super().__init__(f"{path}: " + (f"node {node}: " if node is not None else "") + detail)
