"""Permutation groups on n points, as torch tensors.

Conventions (used everywhere in symlib):

* A permutation is a LongTensor ``p`` of shape ``(n,)`` holding a rearrangement of ``range(n)``.
* Acting on a batch of sets ``x: (batch, n, channels)`` gives ``act(x, p) = x[:, p]``:
  output element ``i`` takes input element ``p[i]``.
* ``compose(p, q) = p[q]``, chosen so that acting is a right action:
  ``act(act(x, p), q) == act(x, compose(p, q))``.

Group algorithms (Schreier-Sims: base, strong generators, transversals, order, membership) come
from ``sympy.combinatorics``. symlib adds the vectorized parts: every element of G factors
*uniquely* as a product of one coset representative per level of the stabilizer chain, so

* ``elements()`` is a Cartesian product of the transversals, computed level by level with one
  gather each: exactly ``|G|`` rows, no deduplication, no search;
* ``sample(k)`` draws one uniform representative per level and composes them: uniform over G,
  without enumerating it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cached_property

import torch
from sympy.combinatorics import Permutation
from sympy.combinatorics import PermutationGroup as SympyGroup

__all__ = [
    "PermutationGroup",
    "act",
    "compose",
    "inverse",
    "symmetric",
    "alternating",
    "cyclic",
    "dihedral",
    "trivial",
    "from_generators",
    "product",
]

DEFAULT_MAX_ELEMENTS = 2_000_000


def _as_perm_rows(generators, n: int | None, name: str = "generators") -> torch.Tensor:
    """Validate generators and return them as a LongTensor (num_generators, n)."""
    if isinstance(generators, torch.Tensor):
        if generators.is_floating_point() or generators.is_complex() or generators.dtype == torch.bool:
            raise ValueError(f"{name} must hold integers, got dtype {generators.dtype}")
        rows = generators.long()
        if rows.ndim == 1:
            rows = rows.unsqueeze(0)
        if rows.ndim != 2:
            raise ValueError(f"{name} must have shape (num_generators, n), got {tuple(generators.shape)}")
        rows = list(rows)
    else:
        rows = list(generators)
    checked = []
    for i, row in enumerate(rows):
        t = row if isinstance(row, torch.Tensor) else torch.as_tensor(row)
        if t.is_floating_point() or t.dtype == torch.bool:
            raise ValueError(f"{name}[{i}] must hold integers, got dtype {t.dtype}")
        if t.ndim != 1:
            raise ValueError(f"{name}[{i}] must be one-dimensional, got shape {tuple(t.shape)}")
        checked.append(t.long())
    lengths = sorted({len(t) for t in checked})
    if len(lengths) > 1:
        raise ValueError(f"{name} have mixed lengths {lengths}; all must have length n")
    if n is None:
        if not checked:
            raise ValueError(f"n is required when {name} is empty")
        n = lengths[0]
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    for i, t in enumerate(checked):
        if len(t) != n:
            raise ValueError(f"{name}[{i}] has length {len(t)}, expected n={n}")
        if not torch.equal(torch.sort(t).values, torch.arange(n)):
            raise ValueError(f"{name}[{i}] = {t.tolist()} is not a permutation of range({n})")
    if not checked:
        return torch.empty(0, n, dtype=torch.long)
    return torch.stack(checked)


def check_perm(perm: torch.Tensor, n: int, name: str = "perm") -> torch.Tensor:
    """Validate a permutation (n,) or a batch of them (batch, n); return it as long."""
    if not isinstance(perm, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(perm).__name__}")
    if perm.is_floating_point() or perm.dtype == torch.bool:
        raise ValueError(f"{name} must hold integers, got dtype {perm.dtype}")
    if perm.ndim not in (1, 2) or perm.shape[-1] != n:
        raise ValueError(f"{name} must have shape (n,) or (batch, n) with n={n}, got {tuple(perm.shape)}")
    perm = perm.long()
    sorted_rows = torch.sort(perm, dim=-1).values
    if not torch.equal(sorted_rows, torch.arange(n, device=perm.device).expand_as(perm)):
        raise ValueError(f"{name} is not a permutation of range({n}) (row-wise)")
    return perm


def act(x: torch.Tensor, perm: torch.Tensor, order: int = 1, check: bool = True) -> torch.Tensor:
    """Permute the set axis: ``out[:, i] = x[:, perm[i]]``.

    x: (batch, n, *channels); perm: (n,) shared by the batch, or (batch, n) one per sample.
    ``order`` > 1 permutes dims 1..order together, for tensors such as (batch, n, n, c) (order 2,
    shared perm only); ``order=0`` leaves x unchanged. Returns a tensor shaped like x.
    """
    if order == 0:
        return x
    if not isinstance(order, int) or order < 0 or x.ndim < order + 1:
        raise ValueError(f"order must be an int in [0, x.ndim - 1], got {order!r} for x of shape {tuple(x.shape)}")
    if x.ndim < 2:
        raise ValueError(f"x must have shape (batch, n, ...), got {tuple(x.shape)}")
    perm = check_perm(perm, x.shape[1]) if check else perm
    if order > 1:
        if perm.ndim != 1:
            raise ValueError(f"order {order} takes one shared perm of shape (n,), got {tuple(perm.shape)}")
        for dim in range(1, order + 1):
            x = x.index_select(dim, perm)
        return x
    if perm.ndim == 1:
        return x[:, perm]
    if perm.shape[0] != x.shape[0]:
        raise ValueError(f"perm has batch {perm.shape[0]} but x has batch {x.shape[0]}")
    index = perm.view(*perm.shape, *([1] * (x.ndim - 2))).expand(x.shape)
    return torch.gather(x, 1, index)


def compose(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``p[q]`` (batched over leading dims), so that ``act(act(x, p), q) == act(x, compose(p, q))``."""
    return torch.gather(p, -1, q.expand(*p.shape[:-1], q.shape[-1]) if q.ndim < p.ndim else q)


def inverse(p: torch.Tensor) -> torch.Tensor:
    """The inverse permutation(s) of p (n,) or (batch, n)."""
    return torch.argsort(p, dim=-1)


class PermutationGroup:
    """A permutation group on ``n`` points, given by generators.

    generators: LongTensor (num_generators, n). The group is the closure under composition;
    an empty generator list gives the trivial group.
    """

    def __init__(self, generators, n: int | None = None, name: str | None = None) -> None:
        self.generators = _as_perm_rows(generators, n)
        self.n = int(self.generators.shape[1])
        self.name = name or f"<{self.generators.shape[0]} generators on {self.n} points>"

    def __repr__(self) -> str:
        return f"PermutationGroup({self.name}, n={self.n}, order={self.order()})"

    @cached_property
    def _sympy(self) -> SympyGroup:
        gens = [Permutation(g.tolist()) for g in self.generators] or [Permutation(list(range(self.n)))]
        return SympyGroup(gens)

    @cached_property
    def transversals(self) -> list[torch.Tensor]:
        """Coset representatives per level of the stabilizer chain, each a LongTensor (size_i, n).

        Every element is, uniquely, ``compose(u_1, compose(u_2, ...))`` with ``u_i`` from level i
        (sympy's array-form product ``a[b]``), so the level sizes multiply to the group order.
        """
        levels = []
        for level in self._sympy.basic_transversals:
            reps = [level[point].array_form for point in sorted(level)]
            reps = [r + list(range(len(r), self.n)) for r in reps]
            levels.append(torch.tensor(reps, dtype=torch.long))
        return levels

    def order(self) -> int:
        """|G|, exact, from the stabilizer chain (no enumeration)."""
        return math.prod(len(t) for t in self.transversals)

    def contains(self, perm) -> bool:
        """Whether ``perm`` (n,) is an element of this group (sympy's sifting)."""
        p = _as_perm_rows([perm], self.n, name="perm")[0]
        return bool(self._sympy.contains(Permutation(p.tolist())))

    def elements(self, max_elements: int = DEFAULT_MAX_ELEMENTS) -> torch.Tensor:
        """All elements, LongTensor (order, n), identity first, without duplicates.

        Raises ValueError when the order exceeds ``max_elements``: sample instead.
        """
        order = self.order()
        if order > max_elements:
            raise ValueError(
                f"group {self.name} has order {order} > max_elements={max_elements}; "
                "enumerating it is infeasible: use sample() (or SampledGroupAverage)"
            )
        out = torch.arange(self.n).unsqueeze(0)
        # Innermost level first; each step prepends one factor: new[t, m] = u_t[out_m].
        for level in reversed(self.transversals):
            out = level[:, out].reshape(-1, self.n)
        return out

    def sample(self, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """k independent uniform elements, LongTensor (k, n), without enumerating the group."""
        if not isinstance(k, int) or k < 0:
            raise ValueError(f"k must be a non-negative int, got {k!r}")
        out = torch.arange(self.n).expand(k, self.n)
        for level in reversed(self.transversals):
            pick = torch.randint(len(level), (k,), generator=generator)
            out = torch.gather(level[pick], 1, out)
        return out.contiguous()


class SymmetricGroup(PermutationGroup):
    """S_n, with closed-form order and an argsort fast path for sampling."""

    def order(self) -> int:
        return math.factorial(self.n)

    def contains(self, perm) -> bool:
        _as_perm_rows([perm], self.n, name="perm")
        return True

    def sample(self, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
        if not isinstance(k, int) or k < 0:
            raise ValueError(f"k must be a non-negative int, got {k!r}")
        # argsort of i.i.d. uniforms is a uniform permutation (ties have probability 0).
        return torch.argsort(torch.rand(k, self.n, generator=generator), dim=1)


def _cycle(points: Sequence[int], n: int) -> list[int]:
    p = list(range(n))
    for a, b in zip(points, list(points[1:]) + [points[0]]):
        p[a] = b
    return p


def _check_n(n) -> int:
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    return n


def trivial(n: int) -> PermutationGroup:
    """The group containing only the identity on n points."""
    return PermutationGroup([], n=_check_n(n), name=f"1_{n}")


def symmetric(n: int) -> PermutationGroup:
    """S_n, generated by the transposition (0 1) and the n-cycle (0 1 ... n-1)."""
    n = _check_n(n)
    gens = [] if n == 1 else [_cycle([0, 1], n), _cycle(list(range(n)), n)]
    return SymmetricGroup(gens, n=n, name=f"S_{n}")


def alternating(n: int) -> PermutationGroup:
    """A_n (even permutations), generated by (0 1 2) and an (n or n-1)-cycle of even parity."""
    n = _check_n(n)
    if n < 3:
        return PermutationGroup([], n=n, name=f"A_{n}")
    long_cycle = list(range(n)) if n % 2 else list(range(1, n))
    return PermutationGroup([_cycle([0, 1, 2], n), _cycle(long_cycle, n)], n=n, name=f"A_{n}")


def cyclic(n: int) -> PermutationGroup:
    """C_n: rotations of a ring, generated by i -> i+1 (mod n)."""
    n = _check_n(n)
    gens = [] if n == 1 else [_cycle(list(range(n)), n)]
    return PermutationGroup(gens, n=n, name=f"C_{n}")


def dihedral(n: int) -> PermutationGroup:
    """D_n: rotations and reflections of a ring (order 2n for n >= 3)."""
    n = _check_n(n)
    if n == 1:
        return trivial(1)
    reflection = [(-i) % n for i in range(n)]
    return PermutationGroup([_cycle(list(range(n)), n), reflection], n=n, name=f"D_{n}")


def from_generators(generators, n: int | None = None) -> PermutationGroup:
    """The group generated by ``generators`` (LongTensor (k, n), or a list of permutations)."""
    return PermutationGroup(generators, n=n)


def product(g1: PermutationGroup, g2: PermutationGroup) -> PermutationGroup:
    """G1 x G2 acting on n1 + n2 points, blocks side by side (G1 on the first n1)."""
    for name, g in (("g1", g1), ("g2", g2)):
        if not isinstance(g, PermutationGroup):
            raise TypeError(f"{name} must be a PermutationGroup, got {type(g).__name__}")
    n1, n2 = g1.n, g2.n
    left = torch.cat([g1.generators, torch.arange(n1, n1 + n2).expand(len(g1.generators), n2)], dim=1)
    right = torch.cat([torch.arange(n1).expand(len(g2.generators), n1), g2.generators + n1], dim=1)
    return PermutationGroup(torch.cat([left, right]), n=n1 + n2, name=f"{g1.name} x {g2.name}")
