"""Measuring what symmetry costs: time of a training step, activation memory, growth exponents."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["step_seconds", "saved_activation_bytes", "growth_exponent"]


def _step(model: nn.Module, x: torch.Tensor) -> None:
    model.zero_grad(set_to_none=True)
    model(x).sum().backward()


def step_seconds(model: nn.Module, x: torch.Tensor, repeats: int = 5, budget: float = 2.0) -> float:
    """Median wall time of forward + backward on x (batch, n, c), after one warm-up.

    Stops repeating early once ``budget`` seconds are spent (the median of what ran is returned).
    """
    model.train()
    _step(model, x)
    times = []
    start_all = time.perf_counter()
    for _ in range(repeats):
        start = time.perf_counter()
        _step(model, x)
        times.append(time.perf_counter() - start)
        if time.perf_counter() - start_all > budget:
            break
    return float(np.median(times))


def saved_activation_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes that autograd keeps for the backward pass of model(x), each storage counted once.

    This is the part of training memory that grows with the batch and the set: parameters and the
    input itself are excluded.
    """
    exclude = {p.untyped_storage().data_ptr() for p in model.parameters()} | {x.untyped_storage().data_ptr()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in exclude:
            seen[ptr] = max(seen.get(ptr, 0), t.untyped_storage().nbytes())
        return t

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(x)
    del out
    return sum(seen.values())


def growth_exponent(sizes: Sequence[float], costs: Sequence[float]) -> float:
    """Least-squares slope of log(cost) against log(size): cost ~ size ** exponent."""
    sizes, costs = np.asarray(sizes, float), np.asarray(costs, float)
    if len(sizes) < 2 or (costs <= 0).any() or (sizes <= 0).any():
        raise ValueError(f"need at least two positive (size, cost) pairs, got {list(zip(sizes, costs))}")
    return float(np.polyfit(np.log(sizes), np.log(costs), 1)[0])
