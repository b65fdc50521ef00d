import copy
from pathlib import Path

import pytest
import yaml

from tests.kernbench.helpers import DEFAULT_TOPOLOGY


@pytest.fixture(scope="session")
def default_raw() -> dict:
    """The default topology.yaml as plain data (tests mutate deep copies of it)."""
    return yaml.safe_load(DEFAULT_TOPOLOGY.read_text())


@pytest.fixture
def raw(default_raw) -> dict:
    return copy.deepcopy(default_raw)


@pytest.fixture
def write_yaml(tmp_path):
    """Write data (a dict, dumped as YAML, or raw text) to tmp_path/topology.yaml and return the path."""

    def write(content, name: str = "topology.yaml") -> Path:
        path = tmp_path / name
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))
        return path

    return write
