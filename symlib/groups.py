"""Permutation groups on n points, as torch tensors.

Conventions (used everywhere in symlib):

* A permutation is a LongTensor ``p`` of shape ``(n,)`` holding a rearrangement of ``range(n)``.
* Acting on a batch of sets ``x: (batch, n, channels)`` gives ``act(x, p) = x[:, p]``:
  output element ``i`` takes input element ``p[i]``.
* ``compose(p, q) = p[q]``, chosen so that acting is a right action:
  ``act(act(x, p), q) == act(x, compose(p, q))``.

Two kinds of group:

* The groups symlib knows by name (``symmetric``, ``alternating``, ``cyclic``, ``dihedral``,
  ``trivial``, and ``product`` of any two) have their order, elements, membership and uniform
  sampling in closed form: nothing is searched, constructing S_1000 costs its two generators.
* A group given only by generators (``from_generators``, ``PermutationGroup``) gets its stabilizer
  chain from sympy's Schreier-Sims, computed on first need (order, elements, membership,
  sampling) and never at construction or in ``repr``. Every element factors *uniquely* as one
  coset representative per level of the chain, so ``elements()`` is a Cartesian product of the
  transversals (one gather per level, exactly ``|G|`` rows) and a uniform element is one uniform
  representative per level. The chain is stored as ``(level size, n)`` tensors, so its cost is
  ``n * sum(level sizes)`` integers; ``MAX_CHAIN_ENTRIES`` bounds it (see ``PermutationGroup``).

Random elements come from 32-bit random words (``sample_from_bits``), so a counter-based random
stream can drive them; ``sample`` draws the words from a ``torch.Generator`` and takes the same path.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from functools import cached_property

import numpy as np
import torch

__all__ = [
    "PermutationGroup",
    "SymmetricGroup",
    "AlternatingGroup",
    "CyclicGroup",
    "DihedralGroup",
    "ProductGroup",
    "act",
    "compose",
    "inverse",
    "check_perm",
    "check_generator",
    "check_mask",
    "check_seed",
    "symmetric",
    "alternating",
    "cyclic",
    "dihedral",
    "trivial",
    "from_generators",
    "product",
    "DEFAULT_MAX_ELEMENTS",
    "MAX_CHAIN_ENTRIES",
    "WORD_BITS",
]

DEFAULT_MAX_ELEMENTS = 2_000_000
# Integers held by a generic group's stabilizer chain (n per coset representative): 80 MB as int64.
# A 3000-cycle given by generators needs 9e6 and still passes; a 10**6-cycle would need 1e12.
MAX_CHAIN_ENTRIES = 10_000_000
WORD_BITS = 32
_WORD_RANGE = 1 << WORD_BITS


# ----------------------------------------------------------------------------------------------
# Argument checks shared by symlib's modules


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _check_int(name: str, value, minimum: int | None = None) -> int:
    """An int (numpy ints too, never a bool), at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        expected = "an int" if minimum is None else f"an int >= {minimum}"
        raise TypeError(f"{name} must be {expected}, got {_short(value)} ({type(value).__name__})")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value}")
    return value


def _check_bool(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {_short(value)} ({type(value).__name__})")
    return bool(value)


def check_seed(seed: int, name: str = "seed") -> int:
    """A seed for ``torch.Generator.manual_seed``: an int in [0, 2**64). Returns it as an int."""
    seed = _check_int(name, seed, minimum=0)
    if seed >= 1 << 64:
        raise ValueError(f"{name} must be an int in [0, 2**64), got {seed}")
    return seed


def check_generator(generator: torch.Generator | None, name: str = "generator") -> torch.Generator | None:
    """``generator`` must be a ``torch.Generator`` or None (the global generator)."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"{name} must be a torch.Generator or None, got {_short(generator)} "
                        f"({type(generator).__name__})")
    return generator


def _generator_from(generator, seed) -> torch.Generator | None:
    """The generator to draw from: ``generator``, or a fresh one seeded with ``seed`` (not both)."""
    check_generator(generator)
    if seed is None:
        return generator
    seed = check_seed(seed)
    if generator is not None:
        raise ValueError("pass either generator or seed, not both; got a generator and seed="
                         f"{seed}")
    return torch.Generator().manual_seed(seed)


def _check_integer_tensor(name: str, t) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"{name} must hold integers (dtype torch.long), got dtype {t.dtype}")
    return t


def check_mask(x: torch.Tensor, mask) -> torch.Tensor:
    """Check a mask against its batch (shapes, dtype and device only, no look at the values, so it
    compiles with fullgraph) and return it.

    x: (batch, n, ...); mask: (batch, n) bool, True = element present. A wrong shape, a batch that
    does not match x, a non-bool dtype or another device is a ValueError naming ``mask``, with the
    expected and the received shape; a mask that is not a tensor is a TypeError.
    """
    expected = tuple(x.shape[:2])
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a bool torch.Tensor of shape (batch, n) = {expected} (True = element "
                        f"present), got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise ValueError(f"mask must be a bool tensor of shape (batch, n) = {expected} (True = element present), "
                         f"got dtype {mask.dtype} (shape {tuple(mask.shape)}); compare a 0/1 tensor with 0 "
                         f"(mask != 0) to make one")
    if tuple(mask.shape) != expected:
        raise ValueError(f"mask must have shape (batch, n) = {expected} to match x of shape {tuple(x.shape)}, got "
                         f"shape {tuple(mask.shape)}")
    if mask.device != x.device:
        raise ValueError(f"mask must be on x's device {x.device}, got a mask on {mask.device}")
    return mask


def check_perm(perm: torch.Tensor, n: int | None = None, name: str = "perm") -> torch.Tensor:
    """Validate permutations of ``range(n)``: a LongTensor (..., n), one per row. Returns it as long.

    ``n=None`` takes n from the last dimension. Raises TypeError for a non-tensor or a
    non-integer dtype, ValueError for a wrong last dimension or a row that is not a permutation.
    The row check sorts (O(n log n) per row) and reads the result: it is data-dependent, so
    code that made its permutations itself skips it (``check=False`` on act/compose/inverse).
    """
    _check_integer_tensor(name, perm)
    if n is not None:
        n = _check_int("n", n, minimum=0)
    if perm.ndim < 1:
        raise ValueError(f"{name} must have shape (..., n), got a 0-dimensional tensor")
    if n is not None and perm.shape[-1] != n:
        raise ValueError(f"{name} must have shape (..., n) with n={n}, got {tuple(perm.shape)}")
    n = perm.shape[-1]
    perm = perm.long()
    if perm.numel():
        ok = (torch.sort(perm, dim=-1).values == torch.arange(n, device=perm.device)).all(dim=-1)
        if not bool(ok.all()):
            first = tuple(int(i) for i in (~ok).nonzero()[0]) if ok.ndim else ()
            row = perm[first] if first else perm
            raise ValueError(f"{name}{list(first) if first else ''} must be a permutation of range({n}), "
                             f"got {_short(row.tolist())}")
    return perm


def act(x: torch.Tensor, perm: torch.Tensor, order: int = 1, check: bool = True) -> torch.Tensor:
    """Permute the set axis: ``out[:, i] = x[:, perm[i]]``; a tensor shaped like x.

    x: (batch, n, *channels) for ``order=1``; (batch, n, n, *channels) for ``order=2``, and so on:
    dims 1..order are all permuted by the same perm. ``order=0`` returns x unchanged.
    perm: (n,) shared by the batch, or (batch, n), one per sample.
    ``check=False`` skips the data-dependent check that perm holds permutations (shapes and dtypes
    are still checked): for permutations symlib made itself, so that ``torch.compile(fullgraph=True)``
    sees no graph break. Leave it on for permutations from outside.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    order = _check_int("order", order, minimum=0)
    check = _check_bool("check", check)
    _check_integer_tensor("perm", perm)
    if perm.ndim not in (1, 2):
        raise ValueError(f"perm must have shape (n,) or (batch, n), got {tuple(perm.shape)}")
    if order == 0:
        if check:
            check_perm(perm)
        return x
    if x.ndim < 2:
        raise ValueError(f"x must have shape (batch, n, ...), got {tuple(x.shape)}")
    if x.ndim < order + 1:
        raise ValueError(f"order must be at most x.ndim - 1 = {x.ndim - 1} for x of shape {tuple(x.shape)}, "
                         f"got {order}")
    n = x.shape[1]
    if any(s != n for s in x.shape[1:order + 1]):
        raise ValueError(f"x must have {order} set axes of equal size after the batch for order={order}, "
                         f"got shape {tuple(x.shape)}")
    if perm.shape[-1] != n:
        raise ValueError(f"perm must have shape (n,) or (batch, n) with n={n} (x.shape[1]), got {tuple(perm.shape)}")
    if perm.ndim == 2 and perm.shape[0] != x.shape[0]:
        raise ValueError(f"perm must have batch {x.shape[0]} like x (or shape (n,)), got batch {perm.shape[0]}")
    perm = check_perm(perm, n) if check else perm.long()
    if perm.device != x.device:
        perm = perm.to(x.device)
    if perm.ndim == 1:
        for dim in range(1, order + 1):
            x = x.index_select(dim, perm)
        return x
    if order == 1:
        index = perm.view(*perm.shape, *([1] * (x.ndim - 2))).expand(x.shape)
        return torch.gather(x, 1, index)
    # One advanced index per permuted dim, broadcast against the batch index.
    batch = torch.arange(x.shape[0], device=x.device).view(-1, *([1] * order))
    index = [perm.view(perm.shape[0], *[n if d == k else 1 for d in range(order)]) for k in range(order)]
    return x[(batch, *index)]


def compose(p: torch.Tensor, q: torch.Tensor, check: bool = True) -> torch.Tensor:
    """``p[q]``, so that ``act(act(x, p), q) == act(x, compose(p, q))``.

    p: (..., n), q: (..., n); leading dims broadcast. Returns (broadcast leading dims, n).
    ``check=False`` skips the permutation check (see ``act``).
    """
    check = _check_bool("check", check)
    for name, t in (("p", p), ("q", q)):
        _check_integer_tensor(name, t)
        if t.ndim < 1:
            raise ValueError(f"{name} must have shape (..., n), got a 0-dimensional tensor")
    if p.shape[-1] != q.shape[-1]:
        raise ValueError(f"p and q must permute the same n points, got p of shape {tuple(p.shape)} "
                         f"and q of shape {tuple(q.shape)}")
    if check:
        p, q = check_perm(p, name="p"), check_perm(q, name="q")
    try:
        lead = torch.broadcast_shapes(p.shape[:-1], q.shape[:-1])
    except RuntimeError:
        raise ValueError(f"the leading dims of p {tuple(p.shape)} and q {tuple(q.shape)} must broadcast") from None
    n = p.shape[-1]
    q = q.to(p.device)
    return torch.gather(p.long().expand(*lead, n), -1, q.long().expand(*lead, n))


def inverse(p: torch.Tensor, check: bool = True) -> torch.Tensor:
    """The inverse permutation(s) of p (..., n): ``compose(p, inverse(p))`` is the identity."""
    check = _check_bool("check", check)
    p = check_perm(p, name="p") if check else _check_integer_tensor("p", p).long()
    if p.ndim < 1:
        raise ValueError("p must have shape (..., n), got a 0-dimensional tensor")
    identity = torch.arange(p.shape[-1], device=p.device).expand_as(p)
    return torch.empty_like(p).scatter_(-1, p, identity)


def _odd(p: torch.Tensor) -> torch.Tensor:
    """Parity of each permutation in p (K, n): True where odd. Vectorized, O(K n log n).

    parity = (n - number of cycles) mod 2. Each cycle is found by its smallest point, by pointer
    doubling: after r rounds ``low[i]`` is the minimum over i's next 2**r images.
    """
    n = p.shape[-1]
    points = torch.arange(n, device=p.device)
    low, step = points.expand_as(p), p
    for _ in range((n - 1).bit_length()):
        low = torch.minimum(low, low.gather(-1, step))
        step = step.gather(-1, step)
    cycles = (low == points).sum(dim=-1)
    return ((n - cycles) % 2).bool()


def _orbit_labels(images: torch.Tensor) -> torch.Tensor:
    """Orbits of the group generated by maps ``images`` (k, N) on range(N): the smallest point of
    each point's orbit, LongTensor (N,).

    Orbits are the connected components of the maps' graphs: each point takes the smallest label
    among its images and preimages, and labels jump along labels (pointer jumping), so a long
    cycle is resolved in O(log N) rounds rather than N.
    """
    label = torch.arange(images.shape[1])
    while True:
        new = label.clone()
        for image in images:
            new = torch.minimum(new, new.index_select(0, image))
            new = new.scatter_reduce(0, image, new.clone(), reduce="amin")
        while True:
            jumped = new.index_select(0, new)
            if torch.equal(jumped, new):
                break
            new = jumped
        if torch.equal(new, label):
            return label
        label = new


# ----------------------------------------------------------------------------------------------
# Groups


def _row_to_tensor(row, label: str) -> torch.Tensor:
    """One permutation given as a LongTensor, numpy array or sequence of ints -> LongTensor (n,) on CPU."""
    if isinstance(row, (str, bytes)):
        raise TypeError(f"{label} must be a sequence of ints, got the string {_short(row)}")
    if isinstance(row, np.ndarray):
        if not np.issubdtype(row.dtype, np.integer):
            raise TypeError(f"{label} must hold integers, got a numpy array of dtype {row.dtype}")
        row = torch.from_numpy(np.ascontiguousarray(row))
    if not isinstance(row, torch.Tensor):
        if not isinstance(row, (list, tuple, range)):
            raise TypeError(f"{label} must be a sequence of ints or a LongTensor, got {_short(row)} "
                            f"({type(row).__name__})")
        bad = [v for v in row if isinstance(v, bool) or not isinstance(v, numbers.Integral)]
        if bad:
            raise TypeError(f"{label} must hold ints, got {_short(bad[0])} ({type(bad[0]).__name__})")
        row = torch.tensor([int(v) for v in row], dtype=torch.long)
    _check_integer_tensor(label, row)
    if row.ndim != 1:
        raise ValueError(f"{label} must be one-dimensional, got shape {tuple(row.shape)}")
    return row.long().cpu()


def _as_perm_rows(generators, n) -> torch.Tensor:
    """Validate generators and return them as a LongTensor (num_generators, n), vectorized."""
    name = "generators"
    if n is not None:
        n = _check_int("n", n, minimum=1)
    if isinstance(generators, np.ndarray):
        if not np.issubdtype(generators.dtype, np.integer):
            raise TypeError(f"{name} must hold integers, got a numpy array of dtype {generators.dtype}")
        generators = torch.from_numpy(np.ascontiguousarray(generators))
    if isinstance(generators, torch.Tensor):
        _check_integer_tensor(name, generators)
        rows = generators.long()
        if rows.ndim == 1:
            rows = rows.unsqueeze(0)
        if rows.ndim != 2:
            raise ValueError(f"{name} must have shape (num_generators, n), got {tuple(generators.shape)}")
        rows = rows.cpu()
    elif isinstance(generators, (list, tuple)):
        converted = [_row_to_tensor(row, f"{name}[{i}]") for i, row in enumerate(generators)]
        lengths = sorted({len(t) for t in converted})
        if len(lengths) > 1:
            raise ValueError(f"{name} have mixed lengths {lengths}; all must have length n")
        if not converted:
            if n is None:
                raise ValueError(f"n is required when {name} is empty, got n=None")
            return torch.empty(0, n, dtype=torch.long)
        rows = torch.stack(converted)
    else:
        raise TypeError(f"{name} must be a LongTensor (num_generators, n) or a list of permutations, "
                        f"got {_short(generators)} ({type(generators).__name__})")
    if n is None:
        if rows.shape[0] == 0:
            raise ValueError(f"n is required when {name} is empty, got n=None")
        n = rows.shape[1]
        if n < 1:
            raise ValueError(f"{name} must permute n >= 1 points, got rows of length 0")
    if rows.shape[1] != n:
        raise ValueError(f"{name} have length {rows.shape[1]}, expected n={n}")
    if rows.shape[0]:
        ok = (torch.sort(rows, dim=1).values == torch.arange(n)).all(dim=1)
        if not bool(ok.all()):
            i = int((~ok).nonzero()[0])
            raise ValueError(f"{name}[{i}] must be a permutation of range({n}), got {_short(rows[i].tolist())}")
    return rows.contiguous()


def _check_name(name) -> str | None:
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a str or None, got {_short(name)} ({type(name).__name__})")
    return name


def _format_order(order: int) -> str:
    if order < 10 ** 15:
        return str(order)
    exponent = math.log10(order)  # exact enough for display, and works for ints of any size
    return f"~{10 ** (exponent % 1):.2f}e{int(exponent)}"


def _cycle(points, n: int) -> torch.Tensor:
    """The cycle points[0] -> points[1] -> ... -> points[0] on n points, LongTensor (n,)."""
    p = torch.arange(n)
    if isinstance(points, range):
        points = torch.arange(points.start, points.stop, points.step)
    points = torch.as_tensor(points, dtype=torch.long)
    p[points] = torch.roll(points, -1)
    return p


class PermutationGroup:
    """A permutation group on ``n`` points, given by generators.

    generators: LongTensor (num_generators, n), or a list of permutations; the group is their
    closure under composition, and an empty list (with ``n``) gives the trivial group.
    Construction only validates the generators (vectorized); the stabilizer chain (sympy's
    Schreier-Sims) is computed on the first call that needs it: ``order``, ``elements``,
    ``contains``, ``random_words``, ``sample``, ``sample_from_bits``, ``transversals``.

    Cost and limit: the chain is stored as ``n * sum(level sizes)`` integers. Before calling sympy
    the first level's size is computed exactly (it is the orbit of sympy's first base point, found
    by vectorized orbit search), and a group whose first level alone exceeds ``MAX_CHAIN_ENTRIES``
    raises ValueError. So a single 10**6-cycle given by generators constructs in a fraction of a
    second, and its order/elements/samples raise a clear error naming the limit at once (its chain
    would hold 10**12 integers); ``cyclic(10**6)`` is the closed form that works. Below the limit,
    sympy's time grows steeply with the chain length: S_30 from generators takes ~0.2 s, S_50 ~2 s,
    S_100 ~70 s; use the named groups when they fit.
    """

    def __init__(self, generators: torch.Tensor | Sequence[Sequence[int]], n: int | None = None,
                 name: str | None = None) -> None:
        self.generators = _as_perm_rows(generators, n)
        self.n = int(self.generators.shape[1])
        self.name = _check_name(name) or f"<{self.generators.shape[0]} generators on {self.n} points>"
        self._device_cache: dict = {}

    def _init_known(self, generators: list[torch.Tensor], n: int, name: str) -> None:
        """For the named groups: their generators are valid by construction, so skip the check."""
        self.n = n
        self.generators = torch.stack(generators) if generators else torch.empty(0, n, dtype=torch.long)
        self.name = name
        self._device_cache = {}

    def __repr__(self) -> str:
        return f"PermutationGroup({self.name}, n={self.n}, {len(self.generators)} generators)"

    # -- the stabilizer chain (generic groups) ---------------------------------------------

    @cached_property
    def _is_trivial(self) -> bool:
        return bool((self.generators == torch.arange(self.n)).all())

    @cached_property
    def _schreier_sims(self) -> tuple[list[int], list[dict]]:
        """(base points, transversals as sympy dicts point -> Permutation), after the cost check."""
        if self._is_trivial:
            return [], []
        moved = self.generators != torch.arange(self.n)
        # sympy's first base point: the first point moved by the first non-identity generator.
        first = int(moved.any(dim=1).nonzero()[0])
        b1 = int(moved[first].nonzero()[0])
        labels = _orbit_labels(self.generators)
        level_one = int((labels == labels[b1]).sum())
        if self.n * level_one > MAX_CHAIN_ENTRIES:
            raise ValueError(
                f"group {self.name} on n={self.n} points: the first level of its stabilizer chain alone has "
                f"{level_one} coset representatives of length {self.n} ({self.n * level_one:.3g} integers > "
                f"MAX_CHAIN_ENTRIES={MAX_CHAIN_ENTRIES:.3g}); its order, elements and samples are out of reach "
                "from generators: use cyclic/dihedral/symmetric/alternating/product for the named groups")
        from sympy.combinatorics import Permutation
        from sympy.combinatorics import PermutationGroup as SympyGroup

        group = SympyGroup([Permutation(g.tolist()) for g in self.generators])
        return list(group.base), group.basic_transversals

    @cached_property
    def transversals(self) -> list[torch.Tensor]:
        """Coset representatives per level of the stabilizer chain, each a LongTensor (size_i, n).

        Every element is, uniquely, ``compose(u_1, compose(u_2, ...))`` with ``u_i`` from level i,
        so the level sizes multiply to the group order. Row 0 of every level is the identity.
        """
        base, levels = self._schreier_sims
        _check_chain_size(self, self.n * sum(len(level) for level in levels))
        out = []
        for b, level in zip(base, levels):
            # The base point's own representative (the identity) first, so that elements() and
            # sample_from_bits' index 0 start with the identity.
            reps = [level[point].array_form for point in [b] + sorted(set(level) - {b})]
            reps = [r + list(range(len(r), self.n)) for r in reps]
            out.append(torch.tensor(reps, dtype=torch.long))
        return out

    @cached_property
    def _sift_tables(self) -> list[tuple[int, torch.Tensor, torch.Tensor]]:
        """Per level: (base point, row of each point's representative or -1, inverse representatives)."""
        base, _ = self._schreier_sims
        tables = []
        for b, level in zip(base, self.transversals):
            row = torch.full((self.n,), -1, dtype=torch.long)
            row[level[:, b]] = torch.arange(len(level))
            tables.append((b, row, inverse(level, check=False)))
        return tables

    def _levels_on(self, device: torch.device) -> list[torch.Tensor]:
        # A plain dict, not the cached_property: torch.compile cannot trace cached_property's lock
        # (Python 3.11), and the dict also keeps one copy of the chain per device.
        key = str(device)
        levels = self._device_cache.get(key)
        if levels is None:
            levels = self._device_cache[key] = [t.to(device) for t in self.transversals]
        return levels

    # -- the group's public interface ------------------------------------------------------

    def order(self) -> int:
        """|G|, exact (a Python int), from the stabilizer chain (no enumeration)."""
        return math.prod(len(level) for level in self._schreier_sims[1])

    def _member_mask(self, perms: torch.Tensor) -> torch.Tensor:
        """perms (K, n), valid permutations -> BoolTensor (K,): sift through the chain."""
        ok = torch.ones(len(perms), dtype=torch.bool)
        g = perms
        for b, row, inv in self._sift_tables:
            pick = row[g[:, b]]
            ok &= pick >= 0
            g = torch.gather(inv[pick.clamp(min=0)], 1, g)
        return ok & (g == torch.arange(self.n)).all(dim=1)

    def contains(self, perm: torch.Tensor | Sequence[int]) -> bool:
        """Whether ``perm`` (n,), a LongTensor or a sequence of ints, is an element of the group.

        Raises ValueError if perm is not a permutation of range(n) at all.
        """
        if not isinstance(perm, torch.Tensor):
            perm = _row_to_tensor(perm, "perm")
        perm = check_perm(perm, self.n)
        if perm.ndim != 1:
            raise ValueError(f"perm must have shape (n,) with n={self.n}, got {tuple(perm.shape)}; "
                             "use contains_batch for several")
        return bool(self.contains_batch(perm)[()])

    def contains_batch(self, perms: torch.Tensor) -> torch.Tensor:
        """Membership of each permutation in perms (..., n): BoolTensor (...), on perms' device."""
        perms = check_perm(perms, self.n, name="perms")
        flat = perms.reshape(-1, self.n).cpu()
        return self._member_mask(flat).reshape(perms.shape[:-1]).to(perms.device)

    def elements(self, max_elements: int = DEFAULT_MAX_ELEMENTS) -> torch.Tensor:
        """All elements, LongTensor (order, n), identity first, without duplicates.

        Raises ValueError when the order exceeds ``max_elements`` (an int >= 1): sample instead.
        """
        max_elements = _check_int("max_elements", max_elements, minimum=1)
        order = self.order()
        if order > max_elements:
            raise ValueError(
                f"the order of {self.name}, {_format_order(order)}, exceeds max_elements={max_elements}: "
                "enumerating it is infeasible; use sample() (or SampledGroupAverage)")
        return self._elements()

    def _elements(self) -> torch.Tensor:
        out = torch.arange(self.n).unsqueeze(0)
        # Innermost level first; each step prepends one factor: new[t, m] = u_t[out_m].
        for level in reversed(self.transversals):
            out = level[:, out].reshape(-1, self.n)
        return out

    @property
    def random_words(self) -> int:
        """How many 32-bit random words ``sample_from_bits`` takes per element (0 for a trivial group).

        For a generic group this computes the stabilizer chain (once).
        """
        return len(self._levels_on(torch.device("cpu")))

    def _check_bits(self, bits, check) -> torch.Tensor:
        check = _check_bool("check", check)
        _check_integer_tensor("bits", bits)
        words = self.random_words
        if bits.ndim < 1 or bits.shape[-1] != words:
            raise ValueError(f"bits must have shape (..., random_words) with random_words={words} for {self.name}, "
                             f"got {tuple(bits.shape)}")
        bits = bits.long()
        if check and bits.numel() and not bool(((bits >= 0) & (bits < _WORD_RANGE)).all()):
            raise ValueError(f"bits must hold 32-bit words in [0, 2**32), got values in "
                             f"[{int(bits.min())}, {int(bits.max())}]")
        return bits

    @staticmethod
    def _index(words: torch.Tensor, size: int) -> torch.Tensor:
        # floor(word * size / 2**32): each index gets floor or ceil of 2**32 / size words.
        return (words * size) >> WORD_BITS

    def sample_from_bits(self, bits: torch.Tensor, check: bool = True) -> torch.Tensor:
        """Group elements from random words: bits (..., random_words) -> LongTensor (..., n).

        bits holds 32-bit words as integers in [0, 2**32) (int64). If the words are independent and
        uniform, the elements are independent and uniform over G up to the 2**-32 granularity of
        the words: each level's index is ``floor(word * size / 2**32)``, which gives every index
        either floor or ceil of ``2**32 / size`` of the words (a relative bias below size / 2**32).
        Vectorized over all leading dims, on bits' device; no loop over samples.
        ``check=False`` skips the data-dependent range check on bits (shape and dtype are still
        checked), for words from symlib's own generator under ``torch.compile``.
        For a generic group the chain is computed, and copied to bits' device, on the first call:
        make one eager call on the target device before ``torch.compile`` traces this.
        """
        bits = self._check_bits(bits, check)
        return self._from_bits(bits)

    def _from_bits(self, bits: torch.Tensor) -> torch.Tensor:
        lead, device = bits.shape[:-1], bits.device
        flat = bits.reshape(math.prod(lead), bits.shape[-1])
        out = torch.arange(self.n, device=device).expand(flat.shape[0], self.n)
        levels = self._levels_on(device)
        for j in reversed(range(len(levels))):
            level = levels[j]
            out = torch.gather(level.index_select(0, self._index(flat[:, j], len(level))), 1, out)
        return out.reshape(*lead, self.n).contiguous()

    def sample(self, k: int, generator: torch.Generator | None = None, *, seed: int | None = None) -> torch.Tensor:
        """k independent uniform elements, LongTensor (k, n), without enumerating the group.

        Draws ``k * random_words`` words from ``generator`` (or from a new generator seeded with
        ``seed``; or from torch's global generator if neither is given) and maps them with
        ``sample_from_bits``. ``k=0`` gives a (0, n) tensor. The result is on the generator's device.
        """
        k = _check_int("k", k, minimum=0)
        generator = _generator_from(generator, seed)
        device = generator.device if generator is not None else torch.device("cpu")
        bits = torch.randint(0, _WORD_RANGE, (k, self.random_words), generator=generator, device=device)
        return self._from_bits(bits)


class SymmetricGroup(PermutationGroup):
    """S_n, all n! permutations, in closed form: uniform sampling is a stable argsort of n words."""

    def __init__(self, n: int) -> None:
        n = _check_int("n", n, minimum=1)
        gens = [_cycle([0, 1], n), _cycle(range(n), n)] if n > 2 else [_cycle([0, 1], n)] if n == 2 else []
        self._init_known(gens, n, f"S_{n}")

    def __repr__(self) -> str:
        return f"SymmetricGroup(n={self.n}, order={_format_order(self.order())})"

    def order(self) -> int:
        return math.factorial(self.n)

    @cached_property
    def transversals(self) -> list[torch.Tensor]:
        """Level i (i < n - 1) holds the transpositions (i j), j >= i (identity first)."""
        _check_chain_size(self, self.n * (self.n * (self.n + 1) // 2 - 1))
        levels = []
        for i in range(self.n - 1):
            rows = torch.arange(self.n).repeat(self.n - i, 1)
            j = torch.arange(i, self.n)
            rows[torch.arange(self.n - i), j] = i
            rows[:, i] = j
            levels.append(rows)
        return levels

    def _member_mask(self, perms: torch.Tensor) -> torch.Tensor:
        return torch.ones(perms.shape[0], dtype=torch.bool, device=perms.device)

    @property
    def random_words(self) -> int:
        return self.n if self.n > 1 else 0

    def _from_bits(self, bits: torch.Tensor) -> torch.Tensor:
        if self.n == 1:
            return torch.zeros(*bits.shape[:-1], 1, dtype=torch.long, device=bits.device)
        # The ranks of n i.i.d. uniform words are a uniform permutation; ties (probability below
        # n**2 / 2**33) are broken by position, hence "up to the words' granularity".
        return torch.argsort(bits, dim=-1, stable=True)


class AlternatingGroup(PermutationGroup):
    """A_n, the even permutations (n!/2 of them for n >= 2), in closed form.

    Sampling: a uniform permutation of S_n (argsort), made even by swapping its entries at
    positions 0 and 1 when it is odd. That swap is a bijection from the odd to the even
    permutations, so the result is uniform over A_n.
    """

    def __init__(self, n: int) -> None:
        n = _check_int("n", n, minimum=1)
        if n < 3:
            gens = []
        else:
            long_cycle = range(n) if n % 2 else range(1, n)
            gens = [_cycle([0, 1, 2], n)] + ([_cycle(long_cycle, n)] if n > 3 else [])
        self._init_known(gens, n, f"A_{n}")

    def __repr__(self) -> str:
        return f"AlternatingGroup(n={self.n}, order={_format_order(self.order())})"

    def order(self) -> int:
        return max(1, math.factorial(self.n) // 2)

    @cached_property
    def transversals(self) -> list[torch.Tensor]:
        """Level i (i < n - 2): identity, then for each j > i an even 3-cycle i -> j -> k -> i with k > i."""
        levels = []
        _check_chain_size(self, self.n * sum(self.n - i for i in range(self.n - 2)))
        for i in range(max(0, self.n - 2)):
            rows = [torch.arange(self.n)]
            for j in range(i + 1, self.n):
                k = self.n - 1 if j != self.n - 1 else self.n - 2
                rows.append(_cycle([i, j, k], self.n))
            levels.append(torch.stack(rows))
        return levels

    def _member_mask(self, perms: torch.Tensor) -> torch.Tensor:
        return ~_odd(perms)

    @property
    def random_words(self) -> int:
        return self.n if self.n > 2 else 0

    def _from_bits(self, bits: torch.Tensor) -> torch.Tensor:
        if self.n < 3:
            return torch.arange(self.n, device=bits.device).expand(*bits.shape[:-1], self.n).contiguous()
        p = torch.argsort(bits, dim=-1, stable=True)
        odd = _odd(p)
        first = torch.where(odd, p[..., 1], p[..., 0])
        second = torch.where(odd, p[..., 0], p[..., 1])
        return torch.cat([first.unsqueeze(-1), second.unsqueeze(-1), p[..., 2:]], dim=-1)


class CyclicGroup(PermutationGroup):
    """C_n, the rotations i -> i + r (mod n) of a ring, in closed form (one word per element)."""

    def __init__(self, n: int) -> None:
        n = _check_int("n", n, minimum=1)
        self._init_known([_cycle(range(n), n)] if n > 1 else [], n, f"C_{n}")

    def __repr__(self) -> str:
        return f"CyclicGroup(n={self.n}, order={self.order()})"

    def order(self) -> int:
        return self.n

    @cached_property
    def transversals(self) -> list[torch.Tensor]:
        """One level: the n rotations (base point 0)."""
        _check_chain_size(self, self.n * self.n)
        return [self._elements()] if self.n > 1 else []

    def _elements(self) -> torch.Tensor:
        return (torch.arange(self.n)[None, :] + torch.arange(self.n)[:, None]) % self.n

    def _member_mask(self, perms: torch.Tensor) -> torch.Tensor:
        points = torch.arange(self.n, device=perms.device)
        return (perms == (points + perms[:, :1]) % self.n).all(dim=1)

    @property
    def random_words(self) -> int:
        return 1 if self.n > 1 else 0

    def _from_bits(self, bits: torch.Tensor) -> torch.Tensor:
        points = torch.arange(self.n, device=bits.device)
        if self.n == 1:
            return points.expand(*bits.shape[:-1], 1).contiguous()
        shift = self._index(bits[..., 0], self.n)
        return (points + shift.unsqueeze(-1)) % self.n


class DihedralGroup(PermutationGroup):
    """D_n, the rotations i -> r + i and reflections i -> r - i (mod n) of a ring, in closed form.

    Order 2n for n >= 3; on n <= 2 points the reflections coincide with rotations (order n).
    Element index t < n is the rotation by t, index n + t the reflection i -> t - i; one word
    picks the index.
    """

    def __init__(self, n: int) -> None:
        n = _check_int("n", n, minimum=1)
        gens = [_cycle(range(n), n), (-torch.arange(n)) % n] if n > 2 else [_cycle([0, 1], n)] if n == 2 else []
        self._init_known(gens, n, f"D_{n}")

    def __repr__(self) -> str:
        return f"DihedralGroup(n={self.n}, order={self.order()})"

    def order(self) -> int:
        return 2 * self.n if self.n > 2 else self.n

    @cached_property
    def transversals(self) -> list[torch.Tensor]:
        """Rotations (base point 0), then {identity, reflection i -> -i} (base point 1)."""
        if self.n == 1:
            return []
        _check_chain_size(self, self.n * (self.n + 2))
        rotations = CyclicGroup(self.n)._elements()
        return [rotations] if self.n == 2 else [rotations, torch.stack([rotations[0], (-rotations[0]) % self.n])]

    def _elements(self) -> torch.Tensor:
        return self._index_to_perm(torch.arange(self.order()))

    def _index_to_perm(self, index: torch.Tensor) -> torch.Tensor:
        points = torch.arange(self.n, device=index.device)
        shift = (index % self.n).unsqueeze(-1)
        return torch.where((index >= self.n).unsqueeze(-1), (shift - points) % self.n, (shift + points) % self.n)

    def _member_mask(self, perms: torch.Tensor) -> torch.Tensor:
        points = torch.arange(self.n, device=perms.device)
        rotation = (perms == (points + perms[:, :1]) % self.n).all(dim=1)
        reflection = (perms == (perms[:, :1] - points) % self.n).all(dim=1)
        return rotation | reflection

    @property
    def random_words(self) -> int:
        return 1 if self.n > 1 else 0

    def _from_bits(self, bits: torch.Tensor) -> torch.Tensor:
        if self.n == 1:
            return torch.zeros(*bits.shape[:-1], 1, dtype=torch.long, device=bits.device)
        return self._index_to_perm(self._index(bits[..., 0], self.order()))


class ProductGroup(PermutationGroup):
    """G1 x G2 on n1 + n2 points, blocks side by side (G1 on the first n1), from its factors.

    Order, elements, membership and sampling come from the factors (closed form if theirs are):
    an element's words are G1's words followed by G2's.
    """

    def __init__(self, g1: PermutationGroup, g2: PermutationGroup) -> None:
        for name, g in (("g1", g1), ("g2", g2)):
            if not isinstance(g, PermutationGroup):
                raise TypeError(f"{name} must be a PermutationGroup, got {_short(g)} ({type(g).__name__})")
        self.g1, self.g2 = g1, g2
        n1, n2 = g1.n, g2.n
        left = torch.cat([g1.generators, torch.arange(n1, n1 + n2).expand(len(g1.generators), n2)], dim=1)
        right = torch.cat([torch.arange(n1).expand(len(g2.generators), n1), g2.generators + n1], dim=1)
        self.n = n1 + n2
        self.generators = torch.cat([left, right]).reshape(-1, self.n)
        self.name = f"{g1.name} x {g2.name}"
        self._device_cache = {}

    def __repr__(self) -> str:
        return f"ProductGroup({self.g1!r}, {self.g2!r})"

    def order(self) -> int:
        return self.g1.order() * self.g2.order()

    @cached_property
    def transversals(self) -> list[torch.Tensor]:
        n1, n2 = self.g1.n, self.g2.n
        _check_chain_size(self, self.n * sum(len(t) for t in self.g1.transversals + self.g2.transversals))
        first = [torch.cat([t, torch.arange(n1, n1 + n2).expand(len(t), n2)], dim=1) for t in self.g1.transversals]
        second = [torch.cat([torch.arange(n1).expand(len(t), n1), t + n1], dim=1) for t in self.g2.transversals]
        return first + second

    def _elements(self) -> torch.Tensor:
        e1, e2 = self.g1._elements(), self.g2._elements()
        return torch.cat([e1.repeat_interleave(len(e2), dim=0), e2.repeat(len(e1), 1) + self.g1.n], dim=1)

    def _member_mask(self, perms: torch.Tensor) -> torch.Tensor:
        n1 = self.g1.n
        left, right = perms[:, :n1], perms[:, n1:] - n1
        blocks = (left < n1).all(dim=1)
        # Rows that mix the blocks are not members; give the factors a valid stand-in for them.
        left = torch.where(blocks[:, None], left, torch.arange(n1))
        right = torch.where(blocks[:, None], right, torch.arange(self.g2.n))
        return blocks & self.g1._member_mask(left) & self.g2._member_mask(right)

    @property
    def random_words(self) -> int:
        return self.g1.random_words + self.g2.random_words

    def _from_bits(self, bits: torch.Tensor) -> torch.Tensor:
        w1 = self.g1.random_words
        return torch.cat([self.g1._from_bits(bits[..., :w1]), self.g2._from_bits(bits[..., w1:]) + self.g1.n], dim=-1)


def _check_chain_size(group: PermutationGroup, entries: int) -> None:
    if entries > MAX_CHAIN_ENTRIES:
        raise ValueError(f"the stabilizer chain of {group.name} holds {entries:.3g} integers > "
                         f"MAX_CHAIN_ENTRIES={MAX_CHAIN_ENTRIES:.3g}")


# ----------------------------------------------------------------------------------------------
# Constructors


def trivial(n: int) -> PermutationGroup:
    """The group containing only the identity on n points (n an int >= 1)."""
    n = _check_int("n", n, minimum=1)
    return PermutationGroup([], n=n, name=f"1_{n}")


def symmetric(n: int) -> SymmetricGroup:
    """S_n (n an int >= 1), generated by the transposition (0 1) and the n-cycle (0 1 ... n-1)."""
    return SymmetricGroup(n)


def alternating(n: int) -> AlternatingGroup:
    """A_n (even permutations; n an int >= 1), generated by (0 1 2) and an even (n or n-1)-cycle."""
    return AlternatingGroup(n)


def cyclic(n: int) -> CyclicGroup:
    """C_n (n an int >= 1): rotations of a ring, generated by i -> i+1 (mod n)."""
    return CyclicGroup(n)


def dihedral(n: int) -> DihedralGroup:
    """D_n (n an int >= 1): rotations and reflections of a ring (order 2n for n >= 3)."""
    return DihedralGroup(n)


def from_generators(generators: torch.Tensor | Sequence[Sequence[int]], n: int | None = None,
                    name: str | None = None) -> PermutationGroup:
    """The group generated by ``generators`` (LongTensor (k, n), or a list of permutations).

    Cheap whatever n: see ``PermutationGroup`` for when the chain is computed and its limit.
    """
    return PermutationGroup(generators, n=n, name=name)


def product(g1: PermutationGroup, g2: PermutationGroup) -> ProductGroup:
    """G1 x G2 acting on n1 + n2 points, blocks side by side (G1 on the first n1)."""
    return ProductGroup(g1, g2)
