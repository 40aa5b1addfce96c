import json
from pathlib import Path

import pytest
import torch
from shared_data import shared_path

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    return torch.device(request.param)


@pytest.fixture(scope="session")
def official_dir() -> Path:
    """The authors' released models, demo images and reference outputs."""
    return shared_path("official-h3r")


@pytest.fixture(scope="session")
def official_reference(official_dir: Path) -> dict:
    return json.loads((official_dir / "reference" / "official_reference.json").read_text())
