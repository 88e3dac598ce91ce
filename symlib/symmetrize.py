"""Wrappers that make any set model invariant (or equivariant) to a permutation group.

Each wrapper takes ``x: (batch, n, channels)`` and calls the wrapped model on inputs of the same
shape, so it works for any model, including symlib ensembles (members stacked on dim 0).

* ``Canonicalize``: sort the set into a canonical order (lexicographic in the channel vectors),
  then apply the model. Exactly invariant; discontinuous where two elements' sort keys tie.
* ``SortCoordinates``: sort each channel separately along the set axis. Invariant to permuting the
  set, and to any re-pairing of coordinates across elements: a larger group than S_n, which is a
  true symmetry of an isotropic task and destroys the signal of a task whose coordinates belong
  together.
* ``GroupAverage``: the exact average of the model over every element of G, in chunks.
* ``SampledGroupAverage``: the average over m random elements per sample (an unbiased estimate of
  the group average; its output is a random variable whose law is invariant, exact only as m grows).
* ``Augment``: one random element per sample in training, the identity in eval mode (the trained
  model is *not* invariant; it has only been trained on permuted copies).

Randomness. The random wrappers draw from a counter-based generator (``symlib.rng``): the words
for sample i of ensemble member e are ``hash(key_e, stream, position)``. So member e draws exactly
the permutations of a solo run with the same seed, all members draw in one vectorized call, the
state (keys and positions) is part of ``state_dict`` (a resumed run continues the same stream),
and compiled graphs see no ``torch.Generator``. ``reseed(model, seeds)`` gives member e the key of
``seeds[e]``; ``rewind(model, stream)`` restarts the evaluation stream, which ``symlib.train.fit``
does before each evaluation so that evaluations do not depend on how the data were chunked.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch
import torch.utils.checkpoint
from torch import nn

from . import rng
from .groups import DEFAULT_MAX_ELEMENTS, PermutationGroup, act
from .layers import ensemble_size

__all__ = [
    "Canonicalize",
    "SortCoordinates",
    "GroupAverage",
    "SampledGroupAverage",
    "Augment",
    "canonical_order",
    "seam_distance",
    "reseed",
    "rewind",
]

_TRAIN_STREAM = 0  # evaluation streams are >= 1 (see rewind)


def _check_set_input(x: torch.Tensor, n: int | None = None, members: int = 1, sorted_: bool = False) -> None:
    """Shape and dtype checks only (no look at the values): cheap, and they compile with fullgraph."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 3:
        raise ValueError(f"x must have shape (batch, n, channels), got {tuple(x.shape)}")
    if n is not None and x.shape[1] != n:
        raise ValueError(f"x has set size {x.shape[1]} (x.shape[1]) but the group acts on n={n} points: x must "
                         f"have shape (batch, {n}, channels), got {tuple(x.shape)}")
    if x.shape[0] % members:
        raise ValueError(f"x has batch {x.shape[0]}, which is not a multiple of ensemble_size={members}: its batch "
                         f"must stack the members' batches on dim 0, got shape {tuple(x.shape)}")
    if sorted_ and x.is_complex():
        raise TypeError(f"x must be a real tensor to be sorted, got dtype {x.dtype}")


def _check_stream(stream) -> int:
    if isinstance(stream, bool) or not isinstance(stream, int):
        raise TypeError(f"stream must be an int >= 1 (0 is the training stream), got {stream!r} "
                        f"({type(stream).__name__})")
    if not 1 <= stream < 2**63:
        raise ValueError(f"stream must be an int >= 1 (0 is the training stream) and < 2**63, got {stream!r}")
    return stream


def _check_seeds(seeds) -> list[int]:
    """One seed (an int) or a sequence of seeds, one per ensemble member, as a list of ints."""
    if isinstance(seeds, (bool, numbers.Integral)):
        return [rng.check_seed(seeds, "seeds")]
    if isinstance(seeds, (str, bytes)) or not (isinstance(seeds, Sequence) or getattr(seeds, "ndim", 0) == 1):
        raise TypeError(f"seeds must be an int or a sequence of ints (one per ensemble member), got {seeds!r} "
                        f"({type(seeds).__name__})")
    return [rng.check_seed(s, f"seeds[{e}]") for e, s in enumerate(seeds)]


def _check_module(model) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    ensemble_size(model)  # refuses a model that mixes ensemble sizes
    return model


def _check_group(group) -> PermutationGroup:
    if not isinstance(group, PermutationGroup):
        raise TypeError(f"group must be a symlib.groups.PermutationGroup, got {type(group).__name__}")
    return group


def _check_count(name: str, value, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a positive int, got {value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def canonical_order(x: torch.Tensor) -> torch.Tensor:
    """The permutation (batch, n) that sorts each set lexicographically by its channel vectors.

    Stable sorts from the last channel to the first give lexicographic order; equal elements keep
    their input order, and since they are equal the sorted set is the same whatever that order,
    so ``act(x, canonical_order(x))`` is exactly invariant, ties included.
    x: (batch, n, channels).
    """
    _check_set_input(x, sorted_=True)
    order = torch.arange(x.shape[1], device=x.device).expand(x.shape[0], -1)
    for c in reversed(range(x.shape[2])):
        key = torch.gather(x[:, :, c], 1, order)
        order = torch.gather(order, 1, torch.argsort(key, dim=1, stable=True))
    return order


def seam_distance(x: torch.Tensor) -> torch.Tensor:
    """How far each set is from a seam of the lexicographic canonicalization: the smallest gap
    between two of its elements' first coordinates (the sort key that decides the order unless it
    ties). At a seam two elements swap places in the sorted set, so a network behind
    ``Canonicalize`` sees its input jump. x: (batch, n, channels) -> (batch,); inf for n = 1.
    """
    _check_set_input(x)
    keys = torch.sort(x[:, :, 0], dim=1).values
    if x.shape[1] < 2:
        return torch.full((x.shape[0],), float("inf"), dtype=x.dtype, device=x.device)
    return (keys[:, 1:] - keys[:, :-1]).min(dim=1).values


class Canonicalize(nn.Module):
    """``model(sort(x))`` with the set sorted lexicographically by element (see ``canonical_order``).

    x: (batch, n, channels) -> model's output. A fixed (not learned) canonicalization.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = _check_module(model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(act(x, canonical_order(x), check=False))


class SortCoordinates(nn.Module):
    """``model(sort(x, dim=1))``: every channel sorted on its own along the set axis.

    x: (batch, n, channels) -> model's output.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = _check_module(model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_set_input(x, sorted_=True)
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

    x: (batch, n, channels) -> model's output. Elements are processed ``chunk_size`` at a time, so
    the peak memory of a forward pass is that of ``batch * chunk_size`` model inputs, whatever |G|.
    In training, autograd would still keep every chunk's activations for the backward pass;
    ``checkpoint=True`` recomputes each chunk in the backward pass instead (one more forward), so
    training memory is bounded by one chunk too. A group larger than ``max_elements`` is refused
    with a pointer to ``SampledGroupAverage``.
    """

    def __init__(self, model: nn.Module, group: PermutationGroup, chunk_size: int = 256,
                 max_elements: int = DEFAULT_MAX_ELEMENTS, checkpoint: bool = False) -> None:
        super().__init__()
        self.model = _check_module(model)
        self.group = _check_group(group)
        self._members = ensemble_size(model)
        self.chunk_size = _check_count("chunk_size", chunk_size)
        max_elements = _check_count("max_elements", max_elements)
        if not isinstance(checkpoint, bool):
            raise TypeError(f"checkpoint must be a bool, got {checkpoint!r}")
        self.checkpoint = checkpoint
        if group.order() > max_elements:
            raise ValueError(
                f"GroupAverage over {group.name} needs all {group.order()} elements: max_elements must be at least "
                f"the group's order, got max_elements={max_elements}; use SampledGroupAverage(model, group, samples=m) "
                "for a group this large")
        self.register_buffer("elements", group.elements(max_elements), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_set_input(x, self.group.n, self._members)
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

    def extra_repr(self) -> str:
        return f"group={self.group.name}, chunk_size={self.chunk_size}, checkpoint={self.checkpoint}"


class _RandomWrapper(nn.Module):
    """A wrapper that draws group elements from the counter-based stream of each ensemble member.

    Buffers (saved in ``state_dict``): ``keys`` (E, 2), one key per member; ``train_position``, the
    next position of the training stream; ``eval_stream`` and ``eval_position``, the evaluation
    stream and its next position. Positions count per member and sample, so the words a sample
    gets do not depend on how the member's data were split into batches.
    """

    def __init__(self, model: nn.Module, group: PermutationGroup, seed: int | Sequence[int] = 0) -> None:
        super().__init__()
        self.model = _check_module(model)
        self.group = _check_group(group)
        members = ensemble_size(model)
        if isinstance(seed, Sequence) and not isinstance(seed, str):
            seeds = list(seed)
            if len(seeds) != members:
                raise ValueError(f"seed must be an int or {members} ints (one per ensemble member), got {len(seeds)}")
            seeds = [rng.check_seed(s, f"seed[{e}]") for e, s in enumerate(seeds)]
        else:
            seeds = [rng.check_seed(seed) + e for e in range(members)]
        self.register_buffer("keys", rng.keys_from_seeds(seeds))
        self.register_buffer("train_position", torch.zeros((), dtype=torch.long))
        self.register_buffer("eval_stream", torch.ones((), dtype=torch.long))
        self.register_buffer("eval_position", torch.zeros((), dtype=torch.long))

    def reseed(self, seeds: Sequence[int], stream: int = 0) -> None:
        """Member e's key from ``seeds[e]`` (and ``stream``, to separate wrappers); positions restart."""
        seeds = _check_seeds(seeds)
        if len(seeds) != len(self.keys):
            raise ValueError(f"seeds must have one entry per ensemble member ({len(self.keys)}), got {len(seeds)}")
        self.keys.copy_(rng.keys_from_seeds(seeds, stream))
        self.train_position.zero_()
        self.rewind(1)

    def rewind(self, stream: int) -> None:
        """Restart evaluation draws on stream ``stream`` (>= 1) at position 0."""
        self.eval_stream.fill_(_check_stream(stream))
        self.eval_position.zero_()

    def _words(self, batch: int, per_sample: int) -> torch.Tensor:
        """Random words (batch, per_sample): row r belongs to member r // (batch / E)."""
        members = self.keys.shape[0]
        count = (batch // members) * per_sample
        if self.training:
            words = rng.random_words(self.keys, _TRAIN_STREAM, self.train_position, count, check=False)
            self.train_position.add_(count)
        else:
            words = rng.random_words(self.keys, self.eval_stream, self.eval_position, count, check=False)
            self.eval_position.add_(count)
        return words.reshape(batch, per_sample)

    def _sample(self, batch: int, m: int) -> torch.Tensor:
        """m uniform group elements per sample: (batch, m, n)."""
        words = self._words(batch, m * self.group.random_words)
        return self.group.sample_from_bits(words.reshape(batch, m, self.group.random_words), check=False)


class SampledGroupAverage(_RandomWrapper):
    """``mean_{k < m} model(act(x, g_k))`` with m uniform random elements drawn per sample.

    x: (batch, n, channels) -> model's output. ``samples`` (m) is used in training,
    ``eval_samples`` (default: m) in eval mode. The average is an unbiased estimate of
    ``GroupAverage``; its law is invariant, and it is exactly invariant only as m grows. It never
    enumerates G. ``seed``: an int (member e gets seed + e) or one seed per ensemble member.
    """

    def __init__(self, model: nn.Module, group: PermutationGroup, samples: int = 1,
                 eval_samples: int | None = None, seed: int | Sequence[int] = 0) -> None:
        super().__init__(model, group, seed)
        self.samples = _check_count("samples", samples)
        self.eval_samples = _check_count("eval_samples", eval_samples, allow_none=True) or self.samples

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_set_input(x, self.group.n, self.keys.shape[0])
        m = self.samples if self.training else self.eval_samples
        return _average_over(self.model, x, self._sample(x.shape[0], m))

    def extra_repr(self) -> str:
        return f"group={self.group.name}, samples={self.samples}, eval_samples={self.eval_samples}"


class Augment(_RandomWrapper):
    """Training-time augmentation: each sample is acted on by its own uniform random element.

    x: (batch, n, channels) -> model's output. In eval mode it is the identity: the model is
    evaluated as it is, not symmetrized, so it is invariant only as far as training made it.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_set_input(x, self.group.n, self.keys.shape[0])
        if not self.training:
            return self.model(x)
        return self.model(act(x, self._sample(x.shape[0], 1)[:, 0], check=False))

    def extra_repr(self) -> str:
        return f"group={self.group.name}"


def _random_wrappers(model: nn.Module) -> list[_RandomWrapper]:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return [m for m in model.modules() if isinstance(m, _RandomWrapper)]


def reseed(model: nn.Module, seeds: int | Sequence[int]) -> None:
    """Give ensemble member e of every random wrapper in ``model`` the key of ``seeds[e]``.

    Wrappers are told apart by their position in ``model.modules()`` (each gets its own stream),
    so member e of an ensemble draws exactly what a solo model reseeded with ``seeds[e]`` draws.
    An int is one seed for a solo model.
    """
    wrappers = _random_wrappers(model)
    seeds = _check_seeds(seeds)
    if len(seeds) != ensemble_size(model):
        raise ValueError(f"seeds must have one entry per ensemble member ({ensemble_size(model)}), got {len(seeds)}")
    for i, wrapper in enumerate(wrappers):
        wrapper.reseed(seeds, stream=i)


def rewind(model: nn.Module, stream: int) -> None:
    """Restart the evaluation draws of every random wrapper in ``model`` on stream ``stream`` (>= 1)."""
    _check_stream(stream)
    for wrapper in _random_wrappers(model):
        wrapper.rewind(stream)
