import json
from pathlib import Path

import pytest
import torch
from shared_data import shared_path

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    return torch.device(request.param)


@pytest.fixture(autouse=True)
def _seed_and_one_thread():
    """Seed torch, and run on one intra-op thread: as fast for the small tensors of the tests, and immune to
    the OpenMP stalls (100x slower passes) seen on two cores while another process holds one of them."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def official_dir() -> Path:
    """The authors' released models, demo images and reference outputs."""
    return shared_path("official-h3r")


@pytest.fixture(scope="session")
def official_reference(official_dir: Path) -> dict:
    return json.loads((official_dir / "reference" / "official_reference.json").read_text())
