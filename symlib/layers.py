"""Linear layers on sets: S_n-equivariant, S_n-invariant, dense (no symmetry), and G-equivariant.

Shapes: input ``x: (batch, n, in_channels)``; the set axis is dim 1.

Modules follow ``torch.nn.Linear``: factory kwargs ``device``/``dtype``, ``reset_parameters()``
built on ``torch.nn.init``, an ``extra_repr`` of the constructor arguments, and they compile with
``torch.compile(fullgraph=True)``.

Ensembles. Every layer takes ``ensemble_size=E`` (default 1). With E > 1 each parameter gets a
leading dimension E, and the batch axis holds the E members' batches one after the other
(member-major: rows ``[e * B, (e + 1) * B)`` belong to member e). Keeping the set axis at dim 1
means every wrapper in ``symlib.symmetrize`` works on ensembles unchanged, and E small networks
train as one batched matmul instead of E framework-bound steps.

Reduction and initialization. The parameterization and names follow the original notebook
(``alpha``, ``beta``, ``b``). ``reduction="sum"`` (the default) is a plain linear map;
``reduction="mean"`` divides it by in_channels, the original's "averaging fix", kept to reproduce
it. The book shows that the fix was really a change of initialization scale, and that under Adam
the mean also divides each layer's effective learning rate by in_channels; hence the defaults:
sums with a fan-in scaled initialization (``init="default"``). ``init="original"`` draws N(0, 1)
as the notebook did.

Pooling. ``pool="sum"`` (the default), ``"mean"`` or ``"max"`` is how the S_n layers pool over the
*set* (the invariant read-out, and the pooled term of the equivariant layer). It is separate from
``reduction``, which averages over the *input channels* (the original's fix): a layer may sum over
channels and take the mean over elements, or any other pair.

Masks (sets of any size). A batch of sets of different sizes is padded to a common length n and
comes with ``mask: (batch, n)`` bool, True where an element is present. The S_n layers and
``SetSequential``, and the wrappers of ``symlib.symmetrize``, take it as a keyword:
``layer(x, mask=mask)``; without it (``mask=None``, the default) they compute exactly what they
computed before masks existed. A keyword, rather than a carrier object or a tensor subclass, keeps
every forward a plain function of tensors (``torch.compile(fullgraph=True)`` traces it) and keeps
``nn.Sequential`` usable: ``SetSequential`` is an ``nn.Sequential`` whose ``forward(x, mask=None)``
passes ``mask=`` on to the children that declare ``accepts_mask = True`` and calls the others
(activations, which act entry by entry) on x alone. Under a mask:

* the content of padded slots is read once, by a ``torch.where`` that replaces it with zeros
  (never multiplied by the mask: ``0 * NaN`` is NaN), so outputs on present elements and pooled
  outputs do not depend on it (zeros, 1e30, NaN alike) nor on the slots' position, in the forward
  and the backward pass; later products with the mask (the pooled term sent to present rows only)
  touch numbers computed from present elements alone;
* padded slots' outputs are zero (so an activation with f(0) = 0, like ReLU, keeps them zero, and
  ``SetSequential`` then spares the next layer its where: see its docstring for the cost);
* pooling runs over present elements only: the mean divides by their count, the max ignores
  padding, and an empty set (all padding) pools to zero, so a layer on it gives its bias, never NaN;
* a padded batch gives each set exactly what that set gives alone, unpadded (up to the order of
  floating-point sums).

``DenseSetLinear`` and ``GroupEquivariantLinear`` have one weight per position (or per orbit of a
group on a fixed n): their set size is fixed, and a mask is a TypeError naming the layer.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .groups import check_mask  # shared with symmetrize and data

__all__ = ["PermEquivariantLinear", "PermInvariantLinear", "DenseSetLinear", "GroupEquivariantLinear", "SetSequential",
           "ensemble_size", "check_mask", "accepts_mask", "REDUCTIONS", "INITS", "POOLS"]

REDUCTIONS = ("sum", "mean")
INITS = ("default", "original", "scaled_normal")
POOLS = ("sum", "mean", "max")


def _check_choice(name: str, value, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {choices}, got {value!r} ({type(value).__name__})")
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a positive int, got {value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _check_device(device):
    """None, or a device that torch accepts and this machine has (checked once, at construction)."""
    if device is None:
        return None
    if isinstance(device, bool) or not isinstance(device, (str, int, torch.device)):
        raise TypeError(f"device must be a torch.device, a str, an int or None, got {device!r} "
                        f"({type(device).__name__})")
    try:
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError, ValueError) as exc:  # unknown names; "cuda" in a CPU-only torch
        raise ValueError(f"device must be a device available here, got {device!r} ({exc})") from None
    return device


def ensemble_size(model: nn.Module) -> int:
    """The ensemble size E of a model built from symlib layers (1 for a plain model).

    Raises ValueError if the model mixes layers of different ensemble sizes: their member-major
    batches would be split differently, and the result would be silently wrong.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    sizes = {m.ensemble_size for m in model.modules() if isinstance(m, _SetLayer)}
    if len(sizes) > 1:
        raise ValueError(f"model mixes layers of ensemble sizes {sorted(sizes)}; every layer of an ensemble "
                         "must have the same ensemble_size")
    return sizes.pop() if sizes else 1


def _pool_scale(set_size: int | None, pool: str = "sum") -> int:
    """The pooled input is a sum of n elements; after a ReLU their mean is not zero, so the sum
    grows like n and its weights need an extra 1/n (the default init's only use of set_size).
    A mean or a max over the set does not grow with n: no extra factor."""
    if set_size is None:
        return 1
    set_size = _check_positive_int("set_size", set_size)
    return set_size if pool == "sum" else 1


def accepts_mask(module: nn.Module) -> bool:
    """Whether ``module``'s forward takes ``mask=`` (its class sets ``accepts_mask = True``): the
    S_n layers, ``SetSequential`` and the wrappers of ``symlib.symmetrize``. The fixed-size layers
    also take the keyword, only to refuse a mask with a TypeError that names them."""
    return bool(getattr(module, "accepts_mask", False))


def _pool_set(x: torch.Tensor, pool: str) -> torch.Tensor:
    """Pool x (batch, n, c) over the set axis -> (batch, 1, c), unmasked. ("sum" is the original
    x.sum(dim=1), unchanged.) An empty set (n = 0) pools to zero under every rule."""
    if pool == "sum":
        return x.sum(dim=1, keepdim=True)
    if x.shape[1] == 0:  # a static shape: no data-dependent branching
        return x.new_zeros(x.shape[0], 1, x.shape[2])
    if pool == "mean":
        return x.mean(dim=1, keepdim=True)
    return x.amax(dim=1, keepdim=True)


class _Padding:
    """What the S_n layers derive from one mask, made once per forward and shared by the layers of a
    ``SetSequential`` (each small: (batch, n, 1) or (batch, 1, 1); on CPU the fixed cost of an op
    is most of its price at these sizes).

    keep: the mask as (batch, n, 1) bool; ``weights(dtype)``: the same as 0/1 numbers;
    ``counts(dtype)``: present elements per set, at least 1 (an empty set's mean is 0, not 0/0);
    ``hide(dtype)``: 0 where present, -inf where padded (the log of the 0/1 weights: one op);
    ``nonempty``: (batch, 1, 1) bool, whether a set has a present element.
    """

    def __init__(self, mask: torch.Tensor, known: str = "raw", made: dict | None = None) -> None:
        self.mask = mask
        self.keep = mask.unsqueeze(-1)
        self.known = known  # what the padded slots of the x it goes with hold (see _PoolingLayer)
        self._made: dict = {} if made is None else made

    def seen_as(self, known: str) -> "_Padding":
        """The same mask (and the tensors made from it) for an x whose padded slots hold ``known``."""
        return _Padding(self.mask, known, self._made)

    def _get(self, name: str, dtype: torch.dtype, make):
        key = (name, dtype)
        if key not in self._made:
            self._made[key] = make()
        return self._made[key]

    def weights(self, dtype: torch.dtype) -> torch.Tensor:
        return self._get("weights", dtype, lambda: self.keep.to(dtype))

    def counts(self, dtype: torch.dtype) -> torch.Tensor:
        return self._get("counts", dtype, lambda: self.keep.sum(dim=1, keepdim=True).clamp_min(1).to(dtype))

    def hide(self, dtype: torch.dtype) -> torch.Tensor:
        return self._get("hide", dtype, lambda: self.weights(dtype).log())

    @property
    def nonempty(self) -> torch.Tensor:
        return self._get("nonempty", torch.bool, lambda: self.keep.any(dim=1, keepdim=True))


def _pool_masked(x: torch.Tensor, padding: _Padding, pool: str, nonnegative: bool = False) -> torch.Tensor:
    """Pool x (batch, n, c) over its present elements -> (batch, 1, c).

    x must hold exact zeros in its padded slots (``torch.where(keep, x, 0)`` of the raw input, or
    the output of a masked equivariant layer). The sum is then the plain sum; the mean divides it
    by the number of present elements (at least 1, so an empty set gives 0, not 0/0); the max adds
    -inf to padded slots (0 + -inf: no padded content is read, so no inf - inf or NaN can arise),
    and an empty set's max (-inf) becomes 0. ``nonnegative``: x >= 0 (a ReLU's output); then the
    padded zeros cannot exceed the max of a non-empty set, and are an empty set's max: the plain
    max is exact (a present element tied with them at 0 is a ReLU's zero, whose gradient the ReLU
    stops anyway).
    """
    if x.shape[1] == 0:  # no slots at all (a static shape): every rule gives 0
        return x.new_zeros(x.shape[0], 1, x.shape[2])
    if pool == "max":
        if nonnegative:
            return x.amax(dim=1, keepdim=True)
        return torch.where(padding.nonempty, (x + padding.hide(x.dtype)).amax(dim=1, keepdim=True), 0)
    total = x.sum(dim=1, keepdim=True)
    if pool == "sum":
        return total
    return total / padding.counts(x.dtype)


class _SetLayer(nn.Module):
    """Shared plumbing: parameter creation and initialization, input validation, the ensemble matmul."""

    accepts_mask = True  # the S_n layers use a mask; the fixed-size layers take the keyword to refuse it

    def __init__(self, in_channels: int, out_channels: int, reduction: str, init: str, ensemble_size: int,
                 device=None, dtype=None) -> None:
        super().__init__()
        self.in_channels = _check_positive_int("in_channels", in_channels)
        self.out_channels = _check_positive_int("out_channels", out_channels)
        self.reduction = _check_choice("reduction", reduction, REDUCTIONS)
        self.init = _check_choice("init", init, INITS)
        self.ensemble_size = _check_positive_int("ensemble_size", ensemble_size)
        if dtype is not None and (not isinstance(dtype, torch.dtype) or not dtype.is_floating_point):
            raise TypeError(f"dtype must be a floating torch.dtype or None, got {dtype!r}")
        self._factory = {"device": _check_device(device), "dtype": dtype}
        self._bounds: dict[str, tuple[float, bool, float]] = {}

    def _param(self, name: str, *shape: int, bound: float, reduced: bool = True, original_std: float = 1.0) -> None:
        """Register an uninitialized parameter (E, *shape) or (*shape,) and how to draw it.

        ``bound`` is the fan-in scale of the layer's *output*. A parameter whose contribution is
        divided by in_channels (``reduced``, under "mean") is drawn in_channels times wider, so the
        default init computes the same function under either reduction. ``original_std`` is its
        standard deviation under ``init="original"`` (1: the notebook's N(0, 1)).
        """
        if self.ensemble_size > 1:
            shape = (self.ensemble_size, *shape)
        self.register_parameter(name, nn.Parameter(torch.empty(shape, **self._factory)))
        self._bounds[name] = (bound, reduced, original_std)

    def reset_parameters(self) -> None:
        """Draw every parameter afresh from the layer's ``init`` (in creation order, from torch's RNG)."""
        for name, (bound, reduced, original_std) in self._bounds.items():
            p = getattr(self, name)
            if self.init == "original":
                nn.init.normal_(p, std=original_std)
            elif self.init == "scaled_normal":  # with "sum": the original mean layer's function at init
                nn.init.normal_(p, std=1 / self.in_channels if reduced else 1.0)
            else:
                scale = self.in_channels if reduced and self.reduction == "mean" else 1
                nn.init.uniform_(p, -bound * scale, bound * scale)

    def _check_input(self, x: torch.Tensor, n: int | None = None) -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim != 3:
            raise ValueError(
                f"{type(self).__name__} expects x of shape (batch, n, {self.in_channels}), got {tuple(x.shape)}")
        if x.shape[2] != self.in_channels:
            raise ValueError(f"{type(self).__name__} expects {self.in_channels} input channels (x.shape[2]), "
                             f"got shape {tuple(x.shape)}")
        if n is not None and x.shape[1] != n:
            raise ValueError(f"{type(self).__name__} expects set size {n} (x.shape[1]), got shape {tuple(x.shape)}")
        self._check_batch(x)

    def _check_batch(self, x: torch.Tensor) -> None:
        if x.shape[0] % self.ensemble_size:
            raise ValueError(f"x has batch {x.shape[0]}, which is not a multiple of ensemble_size="
                             f"{self.ensemble_size}: its batch must stack the members' batches on dim 0, got "
                             f"shape {tuple(x.shape)}")
        weight = next(iter(self.parameters()))
        if x.dtype != weight.dtype:
            raise TypeError(f"x has dtype {x.dtype} but {type(self).__name__}'s parameters are {weight.dtype}; "
                            f"x must have the parameters' dtype: convert one of them (x.to({weight.dtype}) or "
                            f"layer.to({x.dtype}))")
        if x.device != weight.device:
            raise ValueError(f"x is on {x.device} but {type(self).__name__}'s parameters are on {weight.device}; "
                             f"x must be on the parameters' device")

    def _affine(self, x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None = None,
                reduced_bias: bool = True) -> torch.Tensor:
        """R(x @ w) + bias, member by member: x (E*B, m, k), w (k, j) or (E, k, j), bias (j,) or (E, j)
        -> (E*B, m, j). R divides by in_channels under "mean" (the bias too if ``reduced_bias``).

        One (batched) gemm with the bias fused in (addmm / baddbmm): the bias is never repeated per
        sample, which for many small members costs as much as the product itself.
        """
        scale = 1 / self.in_channels if self.reduction == "mean" else 1.0
        bias_scale = scale if reduced_bias else 1.0
        eb, m, k = x.shape
        if w.ndim == 2:
            flat = x.reshape(eb * m, k)
            if bias is None:
                out = flat @ w if scale == 1.0 else torch.mm(flat, w) * scale
            else:
                out = torch.addmm(bias, flat, w, beta=bias_scale, alpha=scale)
            return out.reshape(eb, m, w.shape[-1])
        e = w.shape[0]
        x3 = x.reshape(e, (eb // e) * m, k)
        if bias is None:
            out = torch.bmm(x3, w) if scale == 1.0 else torch.bmm(x3, w) * scale
        else:
            out = torch.baddbmm(bias.unsqueeze(1), x3, w, beta=bias_scale, alpha=scale)
        return out.reshape(eb, m, w.shape[-1])

    def _refuse_mask(self, mask, why: str) -> None:
        if mask is not None:
            raise TypeError(f"{type(self).__name__} takes no mask ({why}), got mask={_describe(mask)}; for sets of "
                            "varying size use the S_n layers PermEquivariantLinear and PermInvariantLinear (e.g. "
                            "symlib.models.deepsets), which take mask=")

    def extra_repr(self) -> str:
        extra = f", ensemble_size={self.ensemble_size}" if self.ensemble_size > 1 else ""
        return f"{self.in_channels}, {self.out_channels}, reduction={self.reduction!r}, init={self.init!r}{extra}"


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return f"{value!r}"[:60]


class _PoolingLayer(_SetLayer):
    """The S_n layers: a set pooling rule, and masks.

    Their forward takes as ``mask`` a bool tensor or, from ``SetSequential``, a ``_Padding``: the
    mask already checked, the tensors made from it, and what x's padded slots are known to hold
    (``known``): "raw" (anything: they are zeroed with a where first), "zeroed" (exact zeros: the
    output of an S_n equivariant layer, through activations with f(0) = 0) or "nonnegative" (exact
    zeros, and x >= 0: through a ReLU). ``SetSequential`` tracks it, which saves re-zeroing every
    hidden activation, and hiding the padding from a max after a ReLU. (Through the module's call,
    so hooks see every layer.)
    """

    zeroes_padding = False  # whether the masked output has exact zeros in padded slots (a set output)

    def __init__(self, in_channels: int, out_channels: int, reduction: str, init: str, ensemble_size: int,
                 set_size: int | None, pool: str, device=None, dtype=None) -> None:
        super().__init__(in_channels, out_channels, reduction, init, ensemble_size, device, dtype)
        self.pool = _check_choice("pool", pool, POOLS)
        self.set_size = set_size
        self._set_scale = _pool_scale(set_size, pool)

    def extra_repr(self) -> str:
        return (super().extra_repr() + (f", set_size={self.set_size}" if self.set_size is not None else "")
                + (f", pool={self.pool!r}" if self.pool != "sum" else ""))


class PermEquivariantLinear(_PoolingLayer):
    """S_n-equivariant linear layer (DeepSets, Zaheer et al. 2017).

    ``y[:, i] = R(x[:, i] @ alpha + P_j(x[:, j]) @ beta + sum_c b[c])``, where P is the pooling over
    the set (``pool``: "sum", the default, "mean" or "max"), and R is the identity for
    ``reduction="sum"`` and divides by in_channels for "mean" (the original's averaging over
    channels, separate from the pooling over elements). With the defaults it equals the original
    ``LinearEquivariant`` for the same parameters, computed with two matmuls instead of a
    (batch, n, in, out) broadcast.

    x: (batch, n, in_channels) -> (batch, n, out_channels). Any n.
    mask: optional (batch, n) bool, True = element present (see the module docstring): padded
    slots are ignored, pooling runs over present elements, and padded outputs are zero.

    Initialization: ``init="default"`` is fan-in scaled like nn.Linear (weights uniform in
    +-1/sqrt(in_channels), each bias row in +-1/in_channels so that their channel sum has
    nn.Linear's bias scale), drawn in_channels times wider under "mean" so that both reductions
    compute the same function at initialization. ``init="original"`` draws N(0, 1).
    ``init="scaled_normal"`` draws N(0, 1) / in_channels: with "sum", exactly the function an
    ``init="original"``, "mean" layer computes at initialization. ``set_size`` (optional, the
    typical n) shrinks the pooled weights ``beta`` by 1/n in the default init when ``pool="sum"``
    (a mean or a max does not grow with n); the layer still accepts sets of any size.
    """

    zeroes_padding = True

    def __init__(self, in_channels: int, out_channels: int, reduction: str = "sum", init: str = "default",
                 ensemble_size: int = 1, set_size: int | None = None, device=None, dtype=None,
                 pool: str = "sum") -> None:
        super().__init__(in_channels, out_channels, reduction, init, ensemble_size, set_size, pool, device, dtype)
        bound = 1 / math.sqrt(in_channels)
        self._param("alpha", in_channels, out_channels, bound=bound)
        self._param("beta", in_channels, out_channels, bound=bound / self._set_scale)
        self._param("b", in_channels, out_channels, bound=1 / in_channels)
        self.reset_parameters()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (batch, n, in_channels), mask: None or (batch, n) bool -> (batch, n, out_channels)."""
        self._check_input(x)
        if mask is None:
            pooled = self._affine(_pool_set(x, self.pool), self.beta, self.b.sum(-2))  # (batch, 1, out)
            return self._affine(x, self.alpha) + pooled
        padding = mask if isinstance(mask, _Padding) else _Padding(check_mask(x, mask))
        if padding.known == "raw":
            # Padded slots become zeros before anything reads them (torch.where: their content, NaN
            # included, then reaches neither the output nor, through the backward, any gradient).
            x = torch.where(padding.keep, x, 0)
        pooled = self._affine(_pool_masked(x, padding, self.pool, padding.known == "nonnegative"), self.beta,
                              self.b.sum(-2))  # (batch, 1, out)
        # Padded rows of x @ alpha are exact zeros, and the pooled term goes to present rows only:
        # padded outputs are exact zeros. The mask multiplies the pooled term, which is computed
        # from zeroed slots and never reads padded content, so this product cannot meet a NaN of the
        # padding; it replaces the unmasked path's add (a where costs ~7 adds on CPU).
        return torch.addcmul(self._affine(x, self.alpha), padding.weights(x.dtype), pooled)


class PermInvariantLinear(_PoolingLayer):
    """S_n-invariant linear layer: ``y = R(P_j(x[:, j]) @ alpha + sum_c b[c])``.

    P is the pooling over the set (``pool``: "sum", the default, "mean" or "max"); R the channel
    ``reduction``, as in ``PermEquivariantLinear``. x: (batch, n, in_channels) -> (batch,
    out_channels). (The original ``LinearInvariant`` kept a singleton set axis, (batch, 1,
    out_channels); the values are the same.) mask: optional (batch, n) bool, True = present: the
    pooling runs over present elements only, and an empty set gives the bias. ``reduction``,
    ``init``, ``set_size`` and ``pool`` as in ``PermEquivariantLinear``.
    """

    def __init__(self, in_channels: int, out_channels: int, reduction: str = "sum", init: str = "default",
                 ensemble_size: int = 1, set_size: int | None = None, device=None, dtype=None,
                 pool: str = "sum") -> None:
        super().__init__(in_channels, out_channels, reduction, init, ensemble_size, set_size, pool, device, dtype)
        self._param("alpha", in_channels, out_channels, bound=1 / (math.sqrt(in_channels) * self._set_scale))
        self._param("b", in_channels, out_channels, bound=1 / in_channels)
        self.reset_parameters()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (batch, n, in_channels), mask: None or (batch, n) bool -> (batch, out_channels)."""
        self._check_input(x)
        if mask is None:
            return self._affine(_pool_set(x, self.pool), self.alpha, self.b.sum(-2)).squeeze(1)
        padding = mask if isinstance(mask, _Padding) else _Padding(check_mask(x, mask))
        if padding.known == "raw":
            x = torch.where(padding.keep, x, 0)  # the only read of padded content: a where, NaN-safe
        pooled = _pool_masked(x, padding, self.pool, padding.known == "nonnegative")
        return self._affine(pooled, self.alpha, self.b.sum(-2)).squeeze(1)


class DenseSetLinear(_SetLayer):
    """A dense linear map on the whole set, with no symmetry (the original ``LinearMultiChannel``).

    ``y[:, f, o] = R(sum_{j, c} weights[c, o, f, j] x[:, j, c]) + b[f, o]``. The original's bias had
    the weights' shape and was averaged away; here it is one bias per output entry.

    x: (batch, in_features, in_channels) -> (batch, out_features, out_channels); the set size must
    be in_features.
    """

    def __init__(self, in_channels: int, out_channels: int, in_features: int, out_features: int,
                 reduction: str = "sum", init: str = "default", ensemble_size: int = 1, device=None,
                 dtype=None) -> None:
        super().__init__(in_channels, out_channels, reduction, init, ensemble_size, device, dtype)
        self.in_features = _check_positive_int("in_features", in_features)
        self.out_features = _check_positive_int("out_features", out_features)
        bound = 1 / math.sqrt(in_channels * in_features)
        self._param("weights", in_channels, out_channels, out_features, in_features, bound=bound)
        # The original's bias had the weights' shape, N(0, 1) entries, and was averaged over in_channels
        # and in_features: an effective bias per output of standard deviation 1/sqrt(in_channels * in_features).
        self._param("b", out_features, out_channels, bound=bound, reduced=False,
                    original_std=1 / math.sqrt(in_channels * in_features))
        self.reset_parameters()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (batch, in_features, in_channels) -> (batch, out_features, out_channels). No mask."""
        self._refuse_mask(mask, f"it has weights for each of its in_features={self.in_features} positions, so the "
                                "set size is fixed")
        self._check_input(x, n=self.in_features)
        batch = x.shape[0]
        flat = x.reshape(batch, 1, self.in_features * self.in_channels)
        y = self._affine(flat, self._flat_weights(), self.b.flatten(-2), reduced_bias=False)
        return y.reshape(batch, self.out_features, self.out_channels)

    def _flat_weights(self) -> torch.Tensor:
        """weights (..., c, o, f, j) as a matrix (..., j*c, f*o) matching x.reshape(batch, n*c)."""
        w = self.weights.movedim(-1, -4)  # (..., j, c, o, f)
        w = w.movedim(-1, -2)  # (..., j, c, f, o)
        return w.flatten(-4, -3).flatten(-2, -1)

    def extra_repr(self) -> str:
        return f"features {self.in_features}->{self.out_features}, " + super().extra_repr()


class GroupEquivariantLinear(_SetLayer):
    """The most general G-equivariant linear layer between tensors of orders k and l, for any group G.

    One weight per (orbit of G on [n]^{l+k}, in channel, out channel) and one bias per (orbit of G
    on [n]^l, out channel); see ``symlib.bases``. Orders: 0 is a vector (batch, c), 1 a set
    (batch, n, c), 2 a matrix such as a graph (batch, n, n, c). For ``symmetric(n)`` with orders
    1 -> 1 it spans the same functions as ``PermEquivariantLinear`` (two weights per channel pair);
    for a smaller group it has more (C_n: one weight per offset around the ring).

    x: (batch, *(n,) * in_order, in_channels) -> (batch, *(n,) * out_order, out_channels).
    The dense kernel is assembled from the orbit weights by one gather, then applied as one matmul
    (quadratic in n for orders 1 -> 1). The set size is fixed to the group's n.
    """

    def __init__(self, group, in_channels: int, out_channels: int, in_order: int = 1, out_order: int = 1,
                 init: str = "default", ensemble_size: int = 1, device=None, dtype=None) -> None:
        from .bases import tuple_orbits  # layers depend on bases only here
        from .groups import PermutationGroup

        if not isinstance(group, PermutationGroup):
            raise TypeError(f"group must be a symlib.groups.PermutationGroup, got {type(group).__name__}")
        super().__init__(in_channels, out_channels, "sum", init, ensemble_size, device, dtype)
        for name, value in (("in_order", in_order), ("out_order", out_order)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be 0, 1 or 2, got {value!r} ({type(value).__name__})")
            if value not in (0, 1, 2):
                raise ValueError(f"{name} must be 0, 1 or 2, got {value!r}")
        self.group, self.in_order, self.out_order = group, in_order, out_order
        self.n = group.n
        try:
            ids, self.num_orbits = tuple_orbits(group, out_order + in_order)
            bias_ids, self.num_bias_orbits = tuple_orbits(group, out_order)
        except ValueError as exc:  # too many index tuples: name the layer's own arguments
            raise ValueError(f"in_order + out_order must be small enough to enumerate the index tuples of "
                             f"{group.name}, got in_order={in_order}, out_order={out_order} ({exc})") from None
        device = self._factory["device"]
        self.register_buffer("orbit_ids", ids.reshape(self.n ** out_order, self.n ** in_order).to(device),
                             persistent=False)
        self.register_buffer("bias_ids", bias_ids.reshape(-1).to(device), persistent=False)
        bound = 1 / (in_channels * self.n ** in_order) ** 0.5
        self._param("weight", self.num_orbits, in_channels, out_channels, bound=bound)
        self._param("bias", self.num_bias_orbits, out_channels, bound=bound)
        self.reset_parameters()

    def kernel(self) -> torch.Tensor:
        """The dense matrix (..., n^k * in, n^l * out) that the orbit weights define."""
        w = self.weight[..., self.orbit_ids, :, :]  # (..., n^l, n^k, in, out)
        w = w.movedim(-4, -2)  # (..., n^k, in, n^l, out)
        return w.flatten(-4, -3).flatten(-2, -1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (batch, *(n,) * in_order, in_channels) -> (batch, *(n,) * out_order, out_channels). No mask."""
        self._refuse_mask(mask, f"its orbit bases fix the set size to the group's n={self.n}: a group other than "
                                "S_n has no meaning on a set whose size varies")
        expected = (self.n,) * self.in_order + (self.in_channels,)
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim != 1 + len(expected) or tuple(x.shape[1:]) != expected:
            raise ValueError(f"GroupEquivariantLinear over {self.group.name} expects x of shape "
                             f"(batch, {', '.join(map(str, expected))}), got {tuple(x.shape)}; its set size is "
                             f"fixed to the group's n={self.n}")
        self._check_batch(x)
        batch = x.shape[0]
        size_in, size_out = self.n ** self.in_order * self.in_channels, self.n ** self.out_order
        bias = self.bias[..., self.bias_ids, :].flatten(-2)  # (n^l * out,) or (E, n^l * out)
        y = self._affine(x.reshape(batch, 1, size_in), self.kernel(), bias)
        return y.reshape(batch, *(self.n,) * self.out_order, self.out_channels)

    def extra_repr(self) -> str:
        extra = f", ensemble_size={self.ensemble_size}" if self.ensemble_size > 1 else ""
        return (f"{self.group.name}, {self.in_channels}, {self.out_channels}, in_order={self.in_order}, "
                f"out_order={self.out_order}, init={self.init!r}{extra}")


# Activations with f(0) = 0 exactly: they keep the exact zeros that an equivariant layer puts in
# padded slots, so the next S_n layer need not zero them again (see SetSequential).
_ZERO_PRESERVING = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.CELU, nn.SELU, nn.GELU, nn.SiLU, nn.Mish,
                    nn.Hardtanh, nn.Hardswish, nn.Tanh, nn.Softsign, nn.Tanhshrink, nn.Identity, nn.Dropout)


class SetSequential(nn.Sequential):
    """An ``nn.Sequential`` that passes ``mask=`` on to the children that take one.

    ``forward(x, mask=None)``: without a mask it is ``nn.Sequential.forward`` (same numbers). With
    a mask (batch, n) bool, True = present, each child that declares ``accepts_mask = True`` (the
    S_n layers, nested ``SetSequential``s, the wrappers of ``symlib.symmetrize``) is called with
    the mask and every other child as ``child(x)``: right for activations and any module that acts
    on each element (or entry) on its own, since the next masked layer ignores what they make of
    padded slots. A child that mixes elements must take the mask itself: one that does not, but
    holds mask-taking layers inside (a plain ``nn.Sequential`` of S_n layers, say), is a TypeError
    naming it rather than a silently unmasked sub-network. The fixed-size layers
    (``DenseSetLinear``, ``GroupEquivariantLinear``) receive the mask and refuse it with a TypeError
    that names them.

    Cost: an S_n layer given a mask zeroes its input's padded slots (their content may be
    anything) with a where, which on CPU costs several times an add. Here the output of an
    equivariant layer, passed through activations with f(0) = 0 (ReLU, GELU, Tanh, ...), reaches
    the next S_n layer with exact zeros in its padded slots already, and that layer skips the
    zeroing; after a ReLU it is also non-negative, and a max pooling needs no masking at all. The
    same numbers, two to three fewer full-size passes (forward and backward) per hidden layer.
    """

    accepts_mask = True

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (batch, n, channels), mask: None or (batch, n) bool -> the last child's output."""
        if mask is None:
            return super().forward(x)
        padding, known = None, "raw"  # what x's padded slots hold (see _PoolingLayer)
        for module in self:
            if isinstance(module, _PoolingLayer):
                if padding is None:
                    padding = _Padding(check_mask(x, mask)) if isinstance(x, torch.Tensor) and x.ndim > 1 else mask
                elif tuple(x.shape[:2]) != tuple(mask.shape):  # a child between changed the batch or the set
                    check_mask(x, mask)
                x = module(x, mask=padding.seen_as(known) if isinstance(padding, _Padding) else padding)
                known = "zeroed" if module.zeroes_padding else "raw"
            elif accepts_mask(module):
                x = module(x, mask=mask)
                known = "raw"
            else:
                if not isinstance(module, _ZERO_PRESERVING) and any(accepts_mask(m) for m in module.modules()):
                    raise TypeError(f"SetSequential cannot pass mask= to {type(module).__name__}, which takes no "
                                    f"mask but holds layers that do: got a mask of shape {tuple(mask.shape)}; build "
                                    "it as a SetSequential (or give it accepts_mask and a mask keyword)")
                x = module(x)
                if known == "raw" or not isinstance(module, _ZERO_PRESERVING):
                    known = "raw"
                elif isinstance(module, (nn.ReLU, nn.ReLU6)):
                    known = "nonnegative"
                elif not isinstance(module, (nn.Identity, nn.Dropout)):  # these keep the sign
                    known = "zeroed"
        return x
