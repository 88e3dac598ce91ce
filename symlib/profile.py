"""Measuring what symmetry costs: time of a training step, activation memory, growth laws.

Timings use ``torch.utils.benchmark.Timer``, which synchronizes accelerators and reports the
median of timed blocks, so the same code measures CPU and GPU steps honestly.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.utils.benchmark as benchmark
from torch import nn

__all__ = ["step_seconds", "call_seconds", "saved_activation_bytes", "growth_exponent", "affine_fit", "cost_table"]


def _check_positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a positive finite number, got {value!r} ({type(value).__name__})")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _step(model: nn.Module, x: torch.Tensor) -> None:
    for p in model.parameters():
        p.grad = None
    model(x).sum().backward()


def call_seconds(fn: Callable[[], object], min_run_time: float = 0.2) -> float:
    """Median seconds per call of ``fn()`` (after a warm-up call), timed in blocks for at least
    ``min_run_time`` seconds by ``torch.utils.benchmark.Timer``."""
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    min_run_time = _check_positive("min_run_time", min_run_time)
    fn()
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    return float(timer.blocked_autorange(min_run_time=min_run_time).median)


def step_seconds(model: nn.Module, x: torch.Tensor, min_run_time: float = 0.2) -> float:
    """Median wall time of one training step's forward and backward pass on x (batch, n, c)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    model.train()
    return call_seconds(lambda: _step(model, x), min_run_time)


def saved_activation_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes that autograd keeps for the backward pass of model(x), each storage counted once.

    This is the part of training memory that grows with the batch and the set: parameters and the
    input itself are excluded.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
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


def _numbers(name: str, values) -> np.ndarray:
    """A one-dimensional float array of ``values`` (a list, array or Series of numbers)."""
    try:
        array = np.asarray(values, float)
    except (TypeError, ValueError):
        array = None
    if array is None or array.ndim == 0 or isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a sequence of numbers, got {values!r} ({type(values).__name__})")
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array


def _pairs(sizes: Sequence[float], costs: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    sizes, costs = _numbers("sizes", sizes), _numbers("costs", costs)
    if sizes.shape != costs.shape:
        raise ValueError(f"sizes and costs must be two sequences of equal length, got {sizes.shape} and {costs.shape}")
    for name, values in (("sizes", sizes), ("costs", costs)):
        if not (np.isfinite(values).all() and (values > 0).all()):
            raise ValueError(f"{name} must be positive finite numbers, got {values.tolist()}")
    if len(sizes) < 2 or len(set(sizes)) < 2:
        raise ValueError(f"sizes and costs must hold at least two positive (size, cost) pairs with distinct sizes, "
                         f"got {list(zip(sizes.tolist(), costs.tolist()))}")
    return sizes, costs


def growth_exponent(sizes: Sequence[float], costs: Sequence[float]) -> float:
    """Least-squares slope of log(cost) against log(size): cost ~ size ** exponent."""
    sizes, costs = _pairs(sizes, costs)
    return float(np.polyfit(np.log(sizes), np.log(costs), 1)[0])


def affine_fit(sizes: Sequence[float], costs: Sequence[float]) -> tuple[float, float]:
    """Least-squares ``cost = fixed + per_unit * size``; returns (fixed, per_unit).

    For a cost with a large fixed part (framework overhead, shared work), the affine law describes
    the data where a power law's exponent would blend the two parts into one misleading number.
    """
    sizes, costs = _pairs(sizes, costs)
    per_unit, fixed = np.polyfit(sizes, costs, 1)
    return float(fixed), float(per_unit)


def cost_table(builders: Mapping[str, Callable[[int], nn.Module | None]], sizes: Sequence[int],
               make_input: Callable[[int], torch.Tensor], give_up_after: float = 1.0,
               min_run_time: float = 0.2) -> "pandas.DataFrame":  # noqa: F821
    """Training-step time and activation memory of every model at every size.

    builders: {label: size -> model} (a builder may return None where the model does not exist,
      e.g. a full group average beyond the sizes it can enumerate); make_input: size -> x.
    An approach whose step takes more than ``give_up_after`` seconds is not measured at larger
    sizes (its cost only grows). Returns a DataFrame with approach, n, seconds, memory_mb.
    """
    import pandas as pd

    if not isinstance(builders, Mapping):
        raise TypeError(f"builders must be a mapping {{label: size -> model}}, got {type(builders).__name__}")
    for label, build in builders.items():
        if not callable(build):
            raise TypeError(f"builders[{label!r}] must be callable (size -> model or None), got {type(build).__name__}")
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Iterable):
        raise TypeError(f"sizes must be a sequence of positive ints, got {sizes!r} ({type(sizes).__name__})")
    sizes = list(sizes)
    for i, n in enumerate(sizes):
        if isinstance(n, bool) or not isinstance(n, numbers.Integral):
            raise TypeError(f"sizes[{i}] must be a positive int, got {n!r} ({type(n).__name__})")
        if n < 1:
            raise ValueError(f"sizes[{i}] must be a positive int, got {n!r}")
    if not callable(make_input):
        raise TypeError(f"make_input must be callable (size -> x), got {type(make_input).__name__}")
    give_up_after = _check_positive("give_up_after", give_up_after)
    _check_positive("min_run_time", min_run_time)
    rows, too_slow = [], set()
    for n in sorted(sizes):
        x = make_input(n)
        for label, build in builders.items():
            if label in too_slow:
                continue
            model = build(n)
            if model is None:
                continue
            seconds = step_seconds(model, x, min_run_time)
            rows.append({"approach": label, "n": n, "seconds": seconds,
                         "memory_mb": saved_activation_bytes(model, x) / 1e6})
            if seconds > give_up_after:
                too_slow.add(label)
    return pd.DataFrame(rows)
