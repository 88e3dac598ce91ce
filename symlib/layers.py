"""Linear layers on sets: S_n-equivariant, S_n-invariant, and dense (no symmetry).

Shapes: input ``x: (batch, n, in_channels)``; the set axis is dim 1.

Ensembles. Every layer takes ``ensemble_size=E`` (default 1). With E > 1 each parameter gets a
leading dimension E, and the batch axis holds the E members' batches one after the other
(member-major: rows ``[e * B, (e + 1) * B)`` belong to member e). Keeping the set axis at dim 1
means every wrapper in ``symlib.symmetrize`` works on ensembles unchanged, and E small networks
train as one batched matmul instead of E framework-bound steps.

The parameterization and names follow the original notebook (``alpha``, ``beta``, ``b``);
``reduction="mean"`` is its "averaging fix" (divide by in_channels), ``"sum"`` the version before.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["PermEquivariantLinear", "PermInvariantLinear", "DenseSetLinear", "GroupEquivariantLinear", "ensemble_size"]

_REDUCTIONS = ("mean", "sum")
_INITS = ("default", "original", "scaled_normal")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def _check_positive_int(name: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def ensemble_size(model: nn.Module) -> int:
    """The ensemble size E of a model built from symlib layers (1 for a plain model)."""
    sizes = {m.ensemble_size for m in model.modules() if isinstance(m, _SetLayer)}
    if len(sizes) > 1:
        raise ValueError(f"model mixes layers of ensemble sizes {sorted(sizes)}")
    return sizes.pop() if sizes else 1


def _pool_scale(set_size: int | None) -> int:
    """The pooled input is a sum of n elements; after a ReLU their mean is not zero, so the sum
    grows like n and its weights need an extra 1/n (the default init's only use of set_size)."""
    if set_size is None:
        return 1
    return _check_positive_int("set_size", set_size)


class _SetLayer(nn.Module):
    """Shared plumbing: parameter creation, input validation, the ensemble-batched matmul."""

    def __init__(self, in_channels: int, out_channels: int, reduction: str, init: str, ensemble_size: int):
        super().__init__()
        self.in_channels = _check_positive_int("in_channels", in_channels)
        self.out_channels = _check_positive_int("out_channels", out_channels)
        self.reduction = _check_choice("reduction", reduction, _REDUCTIONS)
        self.init = _check_choice("init", init, _INITS)
        self.ensemble_size = _check_positive_int("ensemble_size", ensemble_size)

    def _param(self, *shape: int, bound: float, reduced: bool = True) -> nn.Parameter:
        """A parameter (E, *shape) or (*shape,). ``bound`` is the fan-in scale of the *output*;
        a parameter whose contribution is divided by in_channels (``reduced``, with "mean") is
        drawn in_channels times wider, so the default init does not depend on the reduction."""
        if self.ensemble_size > 1:
            shape = (self.ensemble_size, *shape)
        if self.init == "original":
            return nn.Parameter(torch.randn(shape))
        if self.init == "scaled_normal":  # with "sum": the original mean layer's function at init
            return nn.Parameter(torch.randn(shape) / (self.in_channels if reduced else 1))
        if reduced and self.reduction == "mean":
            bound *= self.in_channels
        return nn.Parameter(torch.empty(shape).uniform_(-bound, bound))

    def _check_input(self, x: torch.Tensor, n: int | None = None) -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim != 3:
            raise ValueError(
                f"{type(self).__name__} expects x of shape (batch, n, {self.in_channels}), got {tuple(x.shape)}"
            )
        if x.shape[2] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} expects {self.in_channels} input channels (x.shape[2]), got shape {tuple(x.shape)}"
            )
        if n is not None and x.shape[1] != n:
            raise ValueError(f"{type(self).__name__} expects set size {n} (x.shape[1]), got shape {tuple(x.shape)}")
        if x.shape[0] % self.ensemble_size:
            raise ValueError(
                f"batch {x.shape[0]} is not a multiple of ensemble_size={self.ensemble_size} (members are stacked on dim 0)"
            )

    def _matmul(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """x (E*B, m, k) @ w (k, j) or (E, k, j), member by member -> (E*B, m, j)."""
        if w.ndim == 2:
            return x @ w
        e, (eb, m, k) = w.shape[0], x.shape
        return torch.bmm(x.reshape(e, (eb // e) * m, k), w).reshape(eb, m, -1)

    def _per_sample(self, t: torch.Tensor, batch: int) -> torch.Tensor:
        """A per-member tensor (E, ...) repeated for each of the member's samples: (E*B, ...).
        Without an ensemble the tensor is returned as it is (it broadcasts)."""
        return t if self.ensemble_size == 1 else t.repeat_interleave(batch // self.ensemble_size, dim=0)

    def _reduce(self, y: torch.Tensor) -> torch.Tensor:
        return y / self.in_channels if self.reduction == "mean" else y

    def extra_repr(self) -> str:
        extra = f", ensemble_size={self.ensemble_size}" if self.ensemble_size > 1 else ""
        return f"{self.in_channels}, {self.out_channels}, reduction={self.reduction!r}, init={self.init!r}{extra}"


class PermEquivariantLinear(_SetLayer):
    """S_n-equivariant linear layer (DeepSets / Zaheer et al. 2017).

    ``y[:, i] = R(x[:, i] @ alpha + (sum_j x[:, j]) @ beta + sum_c b[c])`` where R divides by
    in_channels for ``reduction="mean"`` (the original's averaging) and is the identity for "sum".
    This equals the original ``LinearEquivariant`` for the same parameter values, computed with
    two matmuls instead of a (batch, n, in, out) broadcast.

    x: (batch, n, in_channels) -> (batch, n, out_channels). Any n.
    ``init="original"`` draws every parameter from N(0, 1) as the notebook did. The default is
    fan-in scaled like nn.Linear (weights uniform in +-1/sqrt(in_channels), each bias row in
    +-1/in_channels so their channel sum has nn.Linear's bias scale), widened by in_channels
    under ``reduction="mean"``: at initialization "mean" and "sum" compute the same function,
    which is why the original's averaging fix is really a change of initialization scale.
    ``init="scaled_normal"`` draws N(0, 1) / in_channels: with ``reduction="sum"`` that is exactly
    the function an ``init="original"``, ``reduction="mean"`` layer computes at initialization.
    ``set_size`` (optional, the typical n) shrinks the pooled weights ``beta`` by 1/n in the default
    init; the layer still accepts sets of any size.
    """

    def __init__(self, in_channels: int, out_channels: int, reduction: str = "mean", init: str = "default",
                 ensemble_size: int = 1, set_size: int | None = None) -> None:
        super().__init__(in_channels, out_channels, reduction, init, ensemble_size)
        bound = 1 / math.sqrt(in_channels)
        self.alpha = self._param(in_channels, out_channels, bound=bound)
        self.beta = self._param(in_channels, out_channels, bound=bound / _pool_scale(set_size))
        self.b = self._param(in_channels, out_channels, bound=1 / in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        pooled = x.sum(dim=1, keepdim=True)
        bias = self._per_sample(self.b.sum(-2), x.shape[0]).unsqueeze(-2)
        y = self._matmul(x, self.alpha) + self._matmul(pooled, self.beta) + bias
        return self._reduce(y)


class PermInvariantLinear(_SetLayer):
    """S_n-invariant linear layer: ``y = R((sum_j x[:, j]) @ alpha + sum_c b[c])``.

    x: (batch, n, in_channels) -> (batch, out_channels). (The original ``LinearInvariant`` kept a
    singleton set axis, (batch, 1, out_channels); the values are the same.) ``set_size`` as in
    ``PermEquivariantLinear``.
    """

    def __init__(self, in_channels: int, out_channels: int, reduction: str = "mean", init: str = "default",
                 ensemble_size: int = 1, set_size: int | None = None) -> None:
        super().__init__(in_channels, out_channels, reduction, init, ensemble_size)
        self.alpha = self._param(in_channels, out_channels, bound=1 / (math.sqrt(in_channels) * _pool_scale(set_size)))
        self.b = self._param(in_channels, out_channels, bound=1 / in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        pooled = x.sum(dim=1, keepdim=True)
        y = self._matmul(pooled, self.alpha) + self._per_sample(self.b.sum(-2), x.shape[0]).unsqueeze(-2)
        return self._reduce(y).squeeze(1)


class DenseSetLinear(_SetLayer):
    """A dense linear map on the whole set, with no symmetry (the original ``LinearMultiChannel``).

    ``y[:, f, o] = R(sum_{j, c} weights[c, o, f, j] x[:, j, c]) + b[f, o]``. The original's bias had
    the weights' shape and was averaged away; here it is one bias per output entry.

    x: (batch, in_features, in_channels) -> (batch, out_features, out_channels); the set size must
    be in_features.
    """

    def __init__(self, in_channels: int, out_channels: int, in_features: int, out_features: int,
                 reduction: str = "mean", init: str = "default", ensemble_size: int = 1) -> None:
        super().__init__(in_channels, out_channels, reduction, init, ensemble_size)
        self.in_features = _check_positive_int("in_features", in_features)
        self.out_features = _check_positive_int("out_features", out_features)
        bound = 1 / math.sqrt(in_channels * in_features)
        self.weights = self._param(in_channels, out_channels, out_features, in_features, bound=bound)
        self.b = self._param(out_features, out_channels, bound=bound, reduced=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x, n=self.in_features)
        batch = x.shape[0]
        flat = x.reshape(batch, 1, self.in_features * self.in_channels)
        y = self._reduce(self._matmul(flat, self._flat_weights())).reshape(batch, self.out_features, self.out_channels)
        return y + self._per_sample(self.b, batch)

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

    The dense kernel is assembled from the orbit weights by one gather, then applied as one matmul.
    """

    def __init__(self, group, in_channels: int, out_channels: int, in_order: int = 1, out_order: int = 1,
                 init: str = "default", ensemble_size: int = 1) -> None:
        from .bases import tuple_orbits  # layers depend on bases only here

        super().__init__(in_channels, out_channels, "sum", init, ensemble_size)
        for name, value in (("in_order", in_order), ("out_order", out_order)):
            if value not in (0, 1, 2):
                raise ValueError(f"{name} must be 0, 1 or 2, got {value!r}")
        self.group, self.in_order, self.out_order = group, in_order, out_order
        self.n = group.n
        ids, self.num_orbits = tuple_orbits(group, out_order + in_order)
        bias_ids, self.num_bias_orbits = tuple_orbits(group, out_order)
        self.register_buffer("orbit_ids", ids.reshape(self.n ** out_order, self.n ** in_order), persistent=False)
        self.register_buffer("bias_ids", bias_ids.reshape(-1), persistent=False)
        bound = 1 / (in_channels * self.n ** in_order) ** 0.5
        self.weight = self._param(self.num_orbits, in_channels, out_channels, bound=bound)
        self.bias = self._param(self.num_bias_orbits, out_channels, bound=bound)

    def kernel(self) -> torch.Tensor:
        """The dense matrix (..., n^k * in, n^l * out) that the orbit weights define."""
        w = self.weight[..., self.orbit_ids, :, :]  # (..., n^l, n^k, in, out)
        w = w.movedim(-4, -2)  # (..., n^k, in, n^l, out)
        return w.flatten(-4, -3).flatten(-2, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        expected = (self.n,) * self.in_order + (self.in_channels,)
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim != 1 + len(expected) or tuple(x.shape[1:]) != expected:
            raise ValueError(f"GroupEquivariantLinear expects x of shape (batch, {', '.join(map(str, expected))}), "
                             f"got {tuple(x.shape)}")
        if x.shape[0] % self.ensemble_size:
            raise ValueError(f"batch {x.shape[0]} is not a multiple of ensemble_size={self.ensemble_size}")
        batch = x.shape[0]
        y = self._matmul(x.reshape(batch, 1, -1), self.kernel()).reshape(batch, -1, self.out_channels)
        bias = self._per_sample(self.bias[..., self.bias_ids, :], batch)  # (n^l, out) or (E*B, n^l, out)
        return (y + bias).reshape(batch, *(self.n,) * self.out_order, self.out_channels)

    def extra_repr(self) -> str:
        return (f"{self.group.name}, orders {self.in_order}->{self.out_order}, {self.num_orbits} orbit weights per "
                f"channel pair, " + super().extra_repr())
