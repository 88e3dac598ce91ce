import pytest
import torch

# The models here are small: one thread is faster than two, and two threads on a busy two-core
# machine (pytest beside a notebook kernel or a sweep's workers) are many times slower.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _deterministic():
    # Tests draw from explicit generators; this only pins parameter initialization.
    torch.manual_seed(0)
    yield


def rand64(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
