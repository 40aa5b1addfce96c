"""Settings for every test and doctest (tests/ and the doctests in src/)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_and_one_thread():
    """Seed torch, and run on one intra-op thread: as fast for the small tensors of the tests, and immune to
    the OpenMP stalls (100x slower passes) seen on two cores while another process holds one of them."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
