from pathlib import Path

import pytest
from tiny_faces import tiny_config, write_tiny_300w

from h3r.engine.config import validate_config


@pytest.fixture(scope="session")
def tiny_300w(tmp_path_factory) -> Path:
    """12 faces: 9 train, 3 validation with ``every_4th``."""
    return write_tiny_300w(tmp_path_factory.mktemp("tiny300w"))


@pytest.fixture(scope="session")
def configure(tiny_300w):
    """Build a validated tiny config writing into ``run_dir``; keyword sections update it."""
    return lambda run_dir, **sections: validate_config(tiny_config(tiny_300w, run_dir, **sections))


@pytest.fixture
def tiny(configure, tmp_path):
    """``configure`` writing into ``tmp_path/run``."""
    return lambda **sections: configure(tmp_path / "run", **sections)
