"""One equivariance checker for tests and chapters (like e3nn's ``assert_equivariant``).

Checking every generator suffices: if f(g x) = g f(x) for each generator g, it holds for every
product of generators, i.e. for the whole group.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .groups import PermutationGroup, act

__all__ = ["equivariance_error", "check_equivariance", "sampled_invariance", "path_jumps"]


def _check_order(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be 0, 1 or 2, got {value!r} ({type(value).__name__})")
    if value not in (0, 1, 2):
        raise ValueError(f"{name} must be 0, 1 or 2, got {value!r}")
    return value


def equivariance_error(f: Callable[[torch.Tensor], torch.Tensor], group: PermutationGroup, x: torch.Tensor,
                       invariant: bool = False, in_order: int = 1, out_order: int = 1) -> torch.Tensor:
    """Largest |f(g x) - g f(x)| per generator g (or |f(g x) - f(x)| if invariant, i.e. out_order 0).

    x: (batch, n, channels), permuted along dim 1; or of tensor order ``in_order`` (batch, n, n, c)
    for 2, (batch, c) for 0. The output is acted on as a tensor of order ``out_order``.
    Returns a float tensor (num_generators,).
    """
    if not callable(f):
        raise TypeError(f"f must be callable (a model or a function of x), got {type(f).__name__}")
    if not isinstance(group, PermutationGroup):
        raise TypeError(f"group must be a PermutationGroup, got {type(group).__name__}")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not isinstance(invariant, bool):
        raise TypeError(f"invariant must be a bool, got {invariant!r}")
    _check_order("in_order", in_order)
    _check_order("out_order", out_order)
    if in_order and (x.ndim < in_order + 1 or any(s != group.n for s in x.shape[1:in_order + 1])):
        raise ValueError(f"x must have {in_order} axes of size {group.n} after the batch, got {tuple(x.shape)}")
    out_order = 0 if invariant else out_order
    with torch.no_grad():
        fx = f(x)
        errors = []
        for g in group.generators:
            errors.append((f(act(x, g, in_order)) - act(fx, g, out_order)).abs().max())
    return torch.stack(errors) if errors else torch.zeros(0, dtype=x.dtype)


def check_equivariance(f: Callable[[torch.Tensor], torch.Tensor], group: PermutationGroup, x: torch.Tensor,
                       invariant: bool = False, atol: float = 1e-10, in_order: int = 1, out_order: int = 1) -> float:
    """Raise AssertionError unless f is equivariant (invariant) under every generator; return the max error."""
    if isinstance(atol, bool) or not isinstance(atol, (int, float)):
        raise TypeError(f"atol must be a finite number >= 0, got {atol!r} ({type(atol).__name__})")
    if not math.isfinite(atol) or atol < 0:
        raise ValueError(f"atol must be a finite number >= 0, got {atol!r}")
    errors = equivariance_error(f, group, x, invariant, in_order, out_order)
    worst = float(errors.max()) if len(errors) else 0.0
    if worst > atol:
        kind = "invariant" if invariant else "equivariant"
        raise AssertionError(f"not {kind} under {group.name}: error {worst:.3e} > atol={atol:.1e} "
                             f"(per generator: {[f'{e:.1e}' for e in errors.tolist()]})")
    return worst


@torch.no_grad()
def sampled_invariance(f: Callable[[torch.Tensor], torch.Tensor], group: PermutationGroup, x: torch.Tensor,
                       samples: int = 16, generator: torch.Generator | None = None) -> dict:
    """How far a model that is not invariant by construction (e.g. trained with augmentation) is
    from invariant, over random group elements.

    x: (batch, n, channels); f maps it to one logit per set. For each set, ``samples`` uniform
    elements g: the output changes |f(gx) - f(x)|, relative to the spread (standard deviation) of
    f(x) over the batch, and how often the predicted class (logit > 0) flips. Returns a dict with
    ``relative_change`` (mean), ``relative_change_max``, ``flip_rate`` and ``output_std``.
    """
    if not isinstance(group, PermutationGroup):
        raise TypeError(f"group must be a PermutationGroup, got {type(group).__name__}")
    if not isinstance(x, torch.Tensor) or x.ndim != 3 or x.shape[1] != group.n:
        raise ValueError(f"x must be a tensor of shape (batch, {group.n}, channels), got {getattr(x, 'shape', x)}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be a positive int, got {samples!r}")
    base = f(x).reshape(len(x))
    perms = group.sample(len(x) * samples, generator=generator).view(len(x), samples, group.n)
    moved = torch.stack([f(act(x, perms[:, k])).reshape(len(x)) for k in range(samples)], dim=1)
    spread = base.std().clamp_min(torch.finfo(base.dtype).tiny)
    change = (moved - base[:, None]).abs() / spread
    flips = ((moved > 0) != (base[:, None] > 0)).float()
    return {"relative_change": change.mean().item(), "relative_change_max": change.max().item(),
            "flip_rate": flips.mean().item(), "output_std": spread.item()}


@torch.no_grad()
def path_jumps(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, element: int, partner: int,
               ts: torch.Tensor) -> torch.Tensor:
    """Largest change of f between neighbouring points of a path on which two elements' first
    coordinates cross: element ``element``'s first coordinate is set to partner's plus t, t in ``ts``.

    x: (sets, n, channels) -> (sets,): for each set, max_k |f(x_{t_{k+1}}) - f(x_{t_k})|. For a
    continuous f this shrinks with the step of ``ts``; a canonicalization that reorders the two
    elements at t = 0 shows a jump of the size of the network's response to the reordering.
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 3:
        raise ValueError(f"x must be a tensor of shape (sets, n, channels), got {getattr(x, 'shape', x)}")
    if not isinstance(ts, torch.Tensor) or ts.ndim != 1 or len(ts) < 2:
        raise ValueError(f"ts must be a 1-D tensor of at least two path points, got {getattr(ts, 'shape', ts)}")
    for name, value in (("element", element), ("partner", partner)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < x.shape[1]:
            raise ValueError(f"{name} must be an element index in [0, {x.shape[1]}), got {value!r}")
    if element == partner:
        raise ValueError(f"element and partner must differ, got {element} twice")
    sets, points = len(x), len(ts)
    path = x.unsqueeze(1).repeat(1, points, 1, 1)  # (sets, points, n, c)
    path[:, :, element, 0] = x[:, partner, 0, None] + ts.to(x)
    out = f(path.reshape(sets * points, *x.shape[1:])).reshape(sets, points)
    return (out[:, 1:] - out[:, :-1]).abs().max(dim=1).values
