"""Exact bases of G-equivariant linear maps, from the orbits of G on index tuples.

A linear map W from (R^n)^{⊗k} to (R^n)^{⊗l} commutes with every g in G (acting on all indices at
once) exactly when W is constant on each orbit of G on the index tuples [n]^{l+k}. So the indicator
tensors of those orbits are a basis, and their number is the dimension of the space (Maron et al.
2019 for S_n, where it is a Bell number; here for any permutation group).

The orbits are computed from the generators alone: each generator permutes the n^{l+k} tuples, and
the orbits are the connected components of those permutations, found by vectorized label
propagation (each tuple takes the smallest label among its images and preimages, with pointer
jumping) over integer-encoded tuples. No numerical nullspace, no tolerance.
"""

from __future__ import annotations

import torch

from .groups import PermutationGroup, _check_int, _orbit_labels, _short

__all__ = ["tuple_orbits", "equivariant_basis_size", "MAX_TUPLES", "MAX_ORDER"]

MAX_TUPLES = 50_000_000
# n**order tuples bound the work for n >= 2; for n = 1 there is one tuple whatever the order, but
# the result still has `order` dims, so the order itself is bounded too.
MAX_ORDER = 64


def _check_group(group) -> PermutationGroup:
    if not isinstance(group, PermutationGroup):
        raise TypeError(f"group must be a symlib.groups.PermutationGroup, got {_short(group)} ({type(group).__name__})")
    return group


def _check_order(name: str, order) -> int:
    order = _check_int(name, order, minimum=0)
    if order > MAX_ORDER:
        raise ValueError(f"{name} must be at most MAX_ORDER={MAX_ORDER}, got {order}")
    return order


def _tuple_images(generators: torch.Tensor, n: int, order: int) -> torch.Tensor:
    """For each generator g, the index of g(t) for every tuple t of [n]^order: (num_generators, n**order).

    Tuples are encoded row-major (t_0 most significant). Digits are recomputed from the index per
    position rather than stored, so memory stays O(n**order) per generator.
    """
    index = torch.arange(n ** order)
    images = torch.zeros(len(generators), n ** order, dtype=torch.long)
    for k in range(order):
        weight = n ** (order - 1 - k)
        digit = torch.div(index, weight, rounding_mode="floor") % n
        images += generators.index_select(1, digit) * weight
    return images


def _orbits(group: PermutationGroup, order: int, label: str) -> tuple[torch.Tensor, int]:
    n = group.n
    if order == 0:
        return torch.zeros((), dtype=torch.long), 1
    tuples = n ** order
    if tuples > MAX_TUPLES:
        raise ValueError(f"{label} = {order} gives {n}**{order} = {tuples} index tuples for n={n}, which exceed "
                         f"MAX_TUPLES={MAX_TUPLES}")
    labels = _orbit_labels(_tuple_images(group.generators, n, order))
    ids, inverse = torch.unique(labels, return_inverse=True)
    return inverse.reshape((n,) * order), len(ids)


def tuple_orbits(group: PermutationGroup, order: int) -> tuple[torch.Tensor, int]:
    """Orbit id of every index tuple, as a LongTensor of shape (n,) * order, and the number of orbits.

    group: a PermutationGroup on n points; order: an int in [0, MAX_ORDER] with n**order at most
    MAX_TUPLES. Ids run from 0 in order of each orbit's first tuple (row-major). ``order=0`` has
    one orbit (a 0-dim tensor holding 0).
    """
    _check_group(group)
    order = _check_order("order", order)
    return _orbits(group, order, "order")


def equivariant_basis_size(group: PermutationGroup, in_order: int, out_order: int) -> int:
    """The dimension of the space of G-equivariant linear maps from tensors of order ``in_order``
    (shape (n,) * in_order) to tensors of order ``out_order``: the number of orbits on
    [n]^(in_order + out_order). Both orders are ints >= 0 with n**(in_order + out_order) <= MAX_TUPLES.
    """
    _check_group(group)
    in_order = _check_order("in_order", in_order)
    out_order = _check_order("out_order", out_order)
    return _orbits(group, _check_order("in_order + out_order", in_order + out_order), "in_order + out_order")[1]
