"""One equivariance checker for tests and chapters (like e3nn's ``assert_equivariant``).

Checking every generator suffices: if f(g x) = g f(x) for each generator g, it holds for every
product of generators, i.e. for the whole group.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .groups import PermutationGroup, act

__all__ = ["equivariance_error", "check_equivariance"]


def equivariance_error(f: Callable[[torch.Tensor], torch.Tensor], group: PermutationGroup, x: torch.Tensor,
                       invariant: bool = False) -> torch.Tensor:
    """Largest |f(act(x, g)) - act(f(x), g)| per generator g (or |f(act(x, g)) - f(x)| if invariant).

    x: (batch, n, channels), permuted along dim 1. Returns a float tensor (num_generators,).
    """
    if not isinstance(group, PermutationGroup):
        raise TypeError(f"group must be a PermutationGroup, got {type(group).__name__}")
    if x.ndim < 2 or x.shape[1] != group.n:
        raise ValueError(f"x must have shape (batch, {group.n}, ...) for this group, got {tuple(x.shape)}")
    with torch.no_grad():
        fx = f(x)
        errors = []
        for g in group.generators:
            expected = fx if invariant else act(fx, g)
            errors.append((f(act(x, g)) - expected).abs().max())
    return torch.stack(errors) if errors else torch.zeros(0, dtype=x.dtype)


def check_equivariance(f: Callable[[torch.Tensor], torch.Tensor], group: PermutationGroup, x: torch.Tensor,
                       invariant: bool = False, atol: float = 1e-10) -> float:
    """Raise AssertionError unless f is equivariant (invariant) under every generator; return the max error."""
    errors = equivariance_error(f, group, x, invariant)
    worst = float(errors.max()) if len(errors) else 0.0
    if worst > atol:
        kind = "invariant" if invariant else "equivariant"
        raise AssertionError(f"not {kind} under {group.name}: error {worst:.3e} > atol={atol:.1e} "
                             f"(per generator: {[f'{e:.1e}' for e in errors.tolist()]})")
    return worst
