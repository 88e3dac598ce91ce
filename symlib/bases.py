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

from .groups import PermutationGroup

__all__ = ["tuple_orbits", "equivariant_basis_size", "MAX_TUPLES"]

MAX_TUPLES = 50_000_000


def _tuple_images(generators: torch.Tensor, n: int, order: int) -> torch.Tensor:
    """For each generator g, the index of g(t) for every tuple t of [n]^order: (num_generators, n**order)."""
    digits = torch.cartesian_prod(*[torch.arange(n)] * order).reshape(-1, order) if order > 1 else \
        torch.arange(n).reshape(-1, 1)
    weights = n ** torch.arange(order - 1, -1, -1)
    return torch.stack([(g[digits] * weights).sum(dim=1) for g in generators]) if len(generators) else \
        torch.empty(0, n ** order, dtype=torch.long)


def tuple_orbits(group: PermutationGroup, order: int) -> tuple[torch.Tensor, int]:
    """Orbit id of every index tuple, as a LongTensor of shape (n,) * order, and the number of orbits.

    Ids run from 0 in order of each orbit's first tuple (row-major). ``order=0`` has one orbit.
    """
    if not isinstance(group, PermutationGroup):
        raise TypeError(f"group must be a PermutationGroup, got {type(group).__name__}")
    if not isinstance(order, int) or isinstance(order, bool) or order < 0:
        raise ValueError(f"order must be a non-negative int, got {order!r}")
    n = group.n
    if order == 0:
        return torch.zeros((), dtype=torch.long), 1
    if n ** order > MAX_TUPLES:
        raise ValueError(f"{n}**{order} = {n ** order} index tuples exceed MAX_TUPLES={MAX_TUPLES}")
    images = _tuple_images(group.generators, n, order)
    label = torch.arange(n ** order)
    while True:
        new = label.clone()
        for image in images:
            # Each tuple and its image end up with the smaller of their labels...
            new = torch.minimum(new, new[image])
            new = new.scatter_reduce(0, image, new.clone(), reduce="amin")
        while True:  # ...and labels point to labels until they reach a root (pointer jumping).
            jumped = new[new]
            if torch.equal(jumped, new):
                break
            new = jumped
        if torch.equal(new, label):
            break
        label = new
    ids, inverse = torch.unique(label, return_inverse=True)
    return inverse.reshape((n,) * order), len(ids)


def equivariant_basis_size(group: PermutationGroup, in_order: int, out_order: int) -> int:
    """The dimension of the space of G-equivariant linear maps of these tensor orders."""
    return tuple_orbits(group, in_order + out_order)[1]
