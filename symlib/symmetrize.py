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

Masks (sets of any size; see ``symlib.layers``). Every wrapper takes ``forward(x, mask=None)``,
mask (batch, n) bool, True = present, and passes the mask on to the wrapped model, which must take
one (a model built with ``symlib.layers.SetSequential``, e.g. ``symlib.models.deepsets``); without a
mask nothing changes. ``Canonicalize`` and ``SortCoordinates`` sort present elements first, padding
last. The random wrappers permute each set's present elements among their own slots and leave
padded slots in place; ``GroupAverage`` averages over all of S_n acting on every slot, the mask
carried along. Both give each set a uniform permutation of its present elements (see
``_RandomWrapper``). Only the symmetric group has a meaning on a set whose size varies: a wrapper
over another group refuses a mask with a TypeError.

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
from .groups import DEFAULT_MAX_ELEMENTS, PermutationGroup, SymmetricGroup, act
from .layers import accepts_mask, check_mask, ensemble_size

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


def _check_masked(wrapper: nn.Module, x: torch.Tensor, mask, group: PermutationGroup | None = None) -> torch.Tensor:
    """A mask for ``wrapper``: checked against x, and only if the wrapped model takes one and the
    group (if any) is the symmetric group. Shapes and types only: it compiles with fullgraph."""
    name = type(wrapper).__name__
    if group is not None and not isinstance(group, SymmetricGroup):
        raise TypeError(f"{name} over {group.name} takes no mask: only the symmetric group acts on the present "
                        f"elements of a set whose size varies (a rotation of a padded ring is not a rotation of the "
                        f"set); got a mask with group={group.name}; use symlib.groups.symmetric({group.n})")
    if not accepts_mask(wrapper.model):
        got = f"a mask of shape {tuple(mask.shape)}" if isinstance(mask, torch.Tensor) else f"mask={mask!r:.40}"
        raise TypeError(f"{name} was given a mask, but its model ({type(wrapper.model).__name__}) takes none: got "
                        f"{got}; the model must take mask= (build it with symlib.layers.SetSequential, e.g. "
                        "symlib.models.deepsets, or give its class accepts_mask = True and a mask keyword)")
    return check_mask(x, mask)


def _gather_mask(mask: torch.Tensor, perms: torch.Tensor) -> torch.Tensor:
    """The mask carried along with its elements: mask (B, n), perms (m, n) or (B, m, n) -> (B, m, n)."""
    if perms.ndim == 2:
        return mask[:, perms]
    return torch.gather(mask.unsqueeze(1).expand(-1, perms.shape[1], -1), 2, perms)


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


def canonical_order(x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The permutation (batch, n) that sorts each set lexicographically by its channel vectors.

    Stable sorts from the last channel to the first give lexicographic order; equal elements keep
    their input order, and since they are equal the sorted set is the same whatever that order,
    so ``act(x, canonical_order(x))`` is exactly invariant, ties included.
    x: (batch, n, channels). mask: optional (batch, n) bool, True = present: present elements come
    first, in lexicographic order, then the padded slots in their input order. Padded slots are
    read as zeros (torch.where), so their content, NaN included, cannot move a present element.
    """
    _check_set_input(x, sorted_=True)
    if mask is not None:
        check_mask(x, mask)
        x = torch.where(mask.unsqueeze(-1), x, 0)
    order = torch.arange(x.shape[1], device=x.device).expand(x.shape[0], -1)
    for c in reversed(range(x.shape[2])):
        key = torch.gather(x[:, :, c], 1, order)
        order = torch.gather(order, 1, torch.argsort(key, dim=1, stable=True))
    if mask is not None:  # the most significant key, hence the last stable sort: present first
        padded = torch.gather(~mask, 1, order)
        order = torch.gather(order, 1, torch.argsort(padded.to(torch.uint8), dim=1, stable=True))
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
    mask: optional (batch, n) bool, True = present: the present elements are sorted and come first,
    the padding last (in its input order, which the model, given the sorted mask, ignores).
    """

    accepts_mask = True

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = _check_module(model)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (batch, n, channels), mask: None or (batch, n) bool -> the model's output. With a mask
        the model sees the present elements sorted, first, and the mask sorted with them."""
        if mask is None:
            return self.model(act(x, canonical_order(x), check=False))
        _check_set_input(x, sorted_=True)
        order = canonical_order(x, _check_masked(self, x, mask))
        return self.model(act(x, order, check=False), mask=torch.gather(mask, 1, order))


class SortCoordinates(nn.Module):
    """``model(sort(x, dim=1))``: every channel sorted on its own along the set axis.

    x: (batch, n, channels) -> model's output. mask: optional (batch, n) bool, True = present: in
    every channel the present values come first, sorted, and the padded slots last, as zeros; the
    model gets the mask of a set whose elements are its first ``count`` slots.
    """

    accepts_mask = True

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = _check_module(model)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (batch, n, channels), mask: None or (batch, n) bool -> the model's output."""
        _check_set_input(x, sorted_=True)
        if mask is None:
            return self.model(torch.sort(x, dim=1).values)
        keep = _check_masked(self, x, mask).unsqueeze(-1)
        # Padded slots sort last as +inf; a present +inf may tie with them, and is then equal anyway.
        values = torch.sort(torch.where(keep, x, float("inf")), dim=1).values
        first = torch.arange(x.shape[1], device=x.device) < mask.sum(dim=1, keepdim=True)  # (batch, n)
        return self.model(torch.where(first.unsqueeze(-1), values, 0), mask=first)


def _average_over(model: nn.Module, x: torch.Tensor, perms: torch.Tensor,
                  mask: torch.Tensor | None = None) -> torch.Tensor:
    """mean_k model(act(x, perms[:, k])) for x (B, n, c) and perms (B, m, n) or (m, n); a mask
    (B, n) is permuted with the elements and passed on."""
    b, n, c = x.shape
    if perms.ndim == 2:  # one shared set of elements: a plain index is cheapest
        xs = x[:, perms]  # (B, m, n, c)
    else:
        xs = torch.gather(x.unsqueeze(1).expand(b, perms.shape[1], n, c), 2,
                          perms.unsqueeze(-1).expand(-1, -1, -1, c))
    m = xs.shape[1]
    if mask is None:
        out = model(xs.reshape(b * m, n, c))
    else:
        out = model(xs.reshape(b * m, n, c), mask=_gather_mask(mask, perms).reshape(b * m, n))
    return out.reshape(b, m, *out.shape[1:]).mean(dim=1)


class GroupAverage(nn.Module):
    """The exact group average ``mean_{g in G} model(act(x, g))``: G-invariant for any model.

    x: (batch, n, channels) -> model's output. Elements are processed ``chunk_size`` at a time, so
    the peak memory of a forward pass is that of ``batch * chunk_size`` model inputs, whatever |G|.
    In training, autograd would still keep every chunk's activations for the backward pass;
    ``checkpoint=True`` recomputes each chunk in the backward pass instead (one more forward), so
    training memory is bounded by one chunk too. A group larger than ``max_elements`` is refused
    with a pointer to ``SampledGroupAverage``.

    mask: optional (batch, n) bool, True = present, for ``group = symmetric(n)`` only. Every element
    of S_n permutes all n slots and the mask goes along; for a model that depends only on the
    present elements (in their order), g induces on them a permutation of S_k (k present), and each
    of the k! is induced by exactly n!/k! elements, so the average is exactly S_k's average over
    the set alone.
    """

    accepts_mask = True

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

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (batch, n, channels), mask: None or (batch, n) bool -> the model's output."""
        _check_set_input(x, self.group.n, self._members)
        if mask is not None:
            _check_masked(self, x, mask, self.group)
        total = None
        recompute = self.checkpoint and torch.is_grad_enabled()
        for chunk in self.elements.split(self.chunk_size):
            if recompute:
                part = torch.utils.checkpoint.checkpoint(_average_over, self.model, x, chunk, mask, use_reentrant=False)
            else:
                part = _average_over(self.model, x, chunk, mask)
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

    Masks (``group = symmetric(n)`` only). A sample's k present elements are permuted among their
    own slots by a uniform permutation of S_k, and padded slots stay where they are (the mask is
    carried along, and is unchanged). The sample draws the same n words as without a mask, and
    word j goes to its j-th present element (by rank, not by slot), so the permutation of the
    present elements depends on the words and on k only: moving the padding, or changing its
    content, changes nothing, and an all-True mask draws exactly the unmasked permutations.
    The simpler rule, a uniform permutation of all n slots with the mask carried along (what
    ``GroupAverage`` does), is the same in law for a model that reads only the present elements:
    the order it induces on the k present elements is uniform on S_k. But it is not the same draw
    by draw, so the padding's position would change a sample's output whenever the model is not
    itself invariant; permuting present elements only keeps the wrappers exact under padding.
    """

    accepts_mask = True

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

    def _sample_present(self, mask: torch.Tensor, m: int) -> torch.Tensor:
        """m uniform permutations per sample of its present elements among their slots: (batch, m, n).

        mask (batch, n) bool. From S_n's words for the sample (the unmasked draw's): the ranks of
        the first k words (k present) order the present elements; ranks >= k keep their place.
        """
        batch, n = mask.shape
        words = self._words(batch, m * self.group.random_words)
        if n == 1:  # S_1 draws no words
            return torch.zeros(batch, m, 1, dtype=torch.long, device=mask.device)
        ranks = torch.arange(n, device=mask.device)
        count = mask.sum(dim=1).view(batch, 1, 1)
        keys = torch.where(ranks < count, words.reshape(batch, m, n), rng.WORD + ranks)
        sigma = torch.argsort(keys, dim=-1, stable=True)  # (batch, m, n): a permutation of ranks
        slots = torch.argsort((~mask).to(torch.uint8), dim=1, stable=True)  # present slots in order, then padded
        slots = slots.unsqueeze(1).expand(batch, m, n)
        # The element of rank sigma[j] moves to the slot of rank j; padded ranks map to themselves.
        return torch.zeros_like(slots).scatter(2, slots, torch.gather(slots, 2, sigma))


class SampledGroupAverage(_RandomWrapper):
    """``mean_{k < m} model(act(x, g_k))`` with m uniform random elements drawn per sample.

    x: (batch, n, channels) -> model's output. ``samples`` (m) is used in training,
    ``eval_samples`` (default: m) in eval mode. The average is an unbiased estimate of
    ``GroupAverage``; its law is invariant, and it is exactly invariant only as m grows. It never
    enumerates G. ``seed``: an int (member e gets seed + e) or one seed per ensemble member.
    mask: optional (batch, n) bool, True = present, for ``group = symmetric(n)`` only: each draw
    permutes a set's present elements among their own slots (see ``_RandomWrapper``).
    """

    def __init__(self, model: nn.Module, group: PermutationGroup, samples: int = 1,
                 eval_samples: int | None = None, seed: int | Sequence[int] = 0) -> None:
        super().__init__(model, group, seed)
        self.samples = _check_count("samples", samples)
        self.eval_samples = _check_count("eval_samples", eval_samples, allow_none=True) or self.samples

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (batch, n, channels), mask: None or (batch, n) bool -> the model's output."""
        _check_set_input(x, self.group.n, self.keys.shape[0])
        m = self.samples if self.training else self.eval_samples
        if mask is None:
            return _average_over(self.model, x, self._sample(x.shape[0], m))
        _check_masked(self, x, mask, self.group)
        return _average_over(self.model, x, self._sample_present(mask, m), mask)

    def extra_repr(self) -> str:
        return f"group={self.group.name}, samples={self.samples}, eval_samples={self.eval_samples}"


class Augment(_RandomWrapper):
    """Training-time augmentation: each sample is acted on by its own uniform random element.

    x: (batch, n, channels) -> model's output. In eval mode it is the identity: the model is
    evaluated as it is, not symmetrized, so it is invariant only as far as training made it.
    mask: optional (batch, n) bool, True = present, for ``group = symmetric(n)`` only: the draw
    permutes a set's present elements among their own slots (see ``_RandomWrapper``).
    """

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (batch, n, channels), mask: None or (batch, n) bool -> the model's output."""
        _check_set_input(x, self.group.n, self.keys.shape[0])
        if mask is None:
            if not self.training:
                return self.model(x)
            return self.model(act(x, self._sample(x.shape[0], 1)[:, 0], check=False))
        _check_masked(self, x, mask, self.group)
        if not self.training:
            return self.model(x, mask=mask)
        perm = self._sample_present(mask, 1)[:, 0]
        return self.model(act(x, perm, check=False), mask=torch.gather(mask, 1, perm))

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
