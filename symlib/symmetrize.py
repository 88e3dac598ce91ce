"""Wrappers that make any set model invariant (or equivariant) to a permutation group.

Each wrapper takes ``x: (batch, n, channels)`` and calls the wrapped model on inputs of the same
shape, so it works for any model, including symlib ensembles (members stacked on dim 0).

* ``Canonicalize``: sort the set into a canonical order (lexicographic in the channel vectors),
  then apply the model. Exactly invariant, but the sort is discontinuous where elements tie.
* ``SortCoordinates``: sort each channel separately along the set axis. Invariant, but *not* a
  canonicalization: it breaks elements apart (kept to show what a wrong invariance can hide).
* ``GroupAverage``: the exact average of the model over every element of G, in chunks.
* ``SampledGroupAverage``: the average over m random elements per sample (unbiased, invariant in
  distribution; exact only as m grows).
* ``Augment``: one random element per sample in training, the identity in eval mode.

Random wrappers own a ``torch.Generator``; ``reseed(model, seed)`` resets every one in a model,
which is how ``symlib.train.fit`` makes a run reproducible from its seed.
"""

from __future__ import annotations

import torch
import torch.utils.checkpoint
from torch import nn

from .groups import PermutationGroup, act, DEFAULT_MAX_ELEMENTS

__all__ = [
    "Canonicalize",
    "SortCoordinates",
    "GroupAverage",
    "SampledGroupAverage",
    "Augment",
    "canonical_order",
    "reseed",
]


def _check_set_input(x: torch.Tensor, n: int | None = None) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 3:
        raise ValueError(f"x must have shape (batch, n, channels), got {tuple(x.shape)}")
    if n is not None and x.shape[1] != n:
        raise ValueError(f"x has set size {x.shape[1]} (x.shape[1]) but the group acts on n={n} points")


def _check_module(model) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return model


def _check_group(group) -> PermutationGroup:
    if not isinstance(group, PermutationGroup):
        raise TypeError(f"group must be a symlib.groups.PermutationGroup, got {type(group).__name__}")
    return group


def canonical_order(x: torch.Tensor) -> torch.Tensor:
    """The permutation (batch, n) that sorts each set lexicographically by its channel vectors.

    Stable sorts from the last channel to the first give lexicographic order; equal elements keep
    their input order, and since they are equal the sorted set is the same whatever that order,
    so ``act(x, canonical_order(x))`` is exactly invariant, ties included.
    x: (batch, n, channels).
    """
    _check_set_input(x)
    order = torch.arange(x.shape[1], device=x.device).expand(x.shape[0], -1)
    for c in reversed(range(x.shape[2])):
        key = torch.gather(x[:, :, c], 1, order)
        order = torch.gather(order, 1, torch.argsort(key, dim=1, stable=True))
    return order


class Canonicalize(nn.Module):
    """``model(sort(x))`` with the set sorted lexicographically by element (see ``canonical_order``)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = _check_module(model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(act(x, canonical_order(x)))


class SortCoordinates(nn.Module):
    """``model(sort(x, dim=1))``: every channel sorted on its own along the set axis."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = _check_module(model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_set_input(x)
        return self.model(torch.sort(x, dim=1).values)


def _average_over(model: nn.Module, x: torch.Tensor, perms: torch.Tensor) -> torch.Tensor:
    """mean_k model(act(x, perms[:, k])) for x (B, n, c) and perms (B, m, n) or (m, n)."""
    b, n, c = x.shape
    if perms.ndim == 2:  # one shared set of elements: a plain index is cheapest
        xs = x[:, perms]  # (B, m, n, c)
    else:
        xs = torch.gather(x.unsqueeze(1).expand(b, perms.shape[1], n, c), 2,
                          perms.unsqueeze(-1).expand(-1, -1, -1, c))
    m = xs.shape[1]
    out = model(xs.reshape(b * m, n, c))
    return out.reshape(b, m, *out.shape[1:]).mean(dim=1)


class GroupAverage(nn.Module):
    """The exact group average ``mean_{g in G} model(act(x, g))``: G-invariant for any model.

    Elements are processed ``chunk_size`` at a time, so the peak memory of a forward pass is that of
    ``batch * chunk_size`` model inputs, whatever |G|. In training, autograd would still keep every
    chunk's activations for the backward pass; ``checkpoint=True`` recomputes each chunk in the
    backward pass instead (one more forward), so training memory is bounded by one chunk too.
    A group larger than ``max_elements`` is refused with a pointer to ``SampledGroupAverage``.
    """

    def __init__(self, model: nn.Module, group: PermutationGroup, chunk_size: int = 256,
                 max_elements: int = DEFAULT_MAX_ELEMENTS, checkpoint: bool = False) -> None:
        super().__init__()
        self.model = _check_module(model)
        self.group = _check_group(group)
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
        self.chunk_size = chunk_size
        self.checkpoint = checkpoint
        if group.order() > max_elements:
            raise ValueError(
                f"GroupAverage over {group.name} needs all {group.order()} elements (> max_elements={max_elements}); "
                "use SampledGroupAverage(model, group, samples=m) for a group this large"
            )
        self.register_buffer("elements", group.elements(max_elements), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_set_input(x, self.group.n)
        total = None
        recompute = self.checkpoint and torch.is_grad_enabled()
        for chunk in self.elements.split(self.chunk_size):
            if recompute:
                part = torch.utils.checkpoint.checkpoint(_average_over, self.model, x, chunk, use_reentrant=False)
            else:
                part = _average_over(self.model, x, chunk)
            part = part * (len(chunk) / len(self.elements))
            total = part if total is None else total + part
        return total


class _RandomWrapper(nn.Module):
    def __init__(self, model: nn.Module, group: PermutationGroup, seed: int = 0) -> None:
        super().__init__()
        self.model = _check_module(model)
        self.group = _check_group(group)
        self.generator = torch.Generator().manual_seed(seed)

    def reseed(self, seed: int) -> None:
        self.generator.manual_seed(seed)


class SampledGroupAverage(_RandomWrapper):
    """``mean_{k < m} model(act(x, g_k))`` with m uniform random elements drawn per sample.

    ``samples`` (m) is used in training, ``eval_samples`` (default: m) in eval mode. The average is
    an unbiased estimate of ``GroupAverage``, invariant in distribution, and never enumerates G.
    """

    def __init__(self, model: nn.Module, group: PermutationGroup, samples: int = 1,
                 eval_samples: int | None = None, seed: int = 0) -> None:
        super().__init__(model, group, seed)
        for name, value in (("samples", samples), ("eval_samples", eval_samples)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.samples = samples
        self.eval_samples = eval_samples or samples

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_set_input(x, self.group.n)
        m = self.samples if self.training else self.eval_samples
        perms = self.group.sample(x.shape[0] * m, generator=self.generator).to(x.device)
        return _average_over(self.model, x, perms.view(x.shape[0], m, -1))


class Augment(_RandomWrapper):
    """Training-time augmentation: each sample is acted on by its own uniform random element.

    In eval mode it is the identity: the model is evaluated as it is, not symmetrized.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_set_input(x, self.group.n)
        if not self.training:
            return self.model(x)
        perms = self.group.sample(x.shape[0], generator=self.generator).to(x.device)
        return self.model(act(x, perms))


def reseed(model: nn.Module, seed: int) -> None:
    """Reset the generator of every random wrapper in ``model`` (each from its own derived seed)."""
    for i, module in enumerate(m for m in model.modules() if isinstance(m, _RandomWrapper)):
        module.reseed(seed * 1_000_003 + i)
