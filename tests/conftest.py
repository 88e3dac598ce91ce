import re

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


def assert_clear_error(call, error, argument, received=None):
    """The standard every bad-input case meets: ``call()`` raises ``error`` with a message that names
    ``argument`` (as a whole word), says what it got or expected, and, if ``received`` (a regex) is
    given, shows the value it received."""
    with pytest.raises(error, match=rf"(?<![\w.]){re.escape(argument)}(?!\w)") as info:
        call()
    message = str(info.value)
    assert re.search(r"got|expected|must|exceed", message), message
    if received is not None:
        assert re.search(received, message), message
