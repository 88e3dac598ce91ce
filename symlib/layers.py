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
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["PermEquivariantLinear", "PermInvariantLinear", "DenseSetLinear", "GroupEquivariantLinear", "ensemble_size",
           "REDUCTIONS", "INITS"]

REDUCTIONS = ("sum", "mean")
INITS = ("default", "original", "scaled_normal")


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


def _pool_scale(set_size: int | None) -> int:
    """The pooled input is a sum of n elements; after a ReLU their mean is not zero, so the sum
    grows like n and its weights need an extra 1/n (the default init's only use of set_size)."""
    if set_size is None:
        return 1
    return _check_positive_int("set_size", set_size)


class _SetLayer(nn.Module):
    """Shared plumbing: parameter creation and initialization, input validation, the ensemble matmul."""

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

    def extra_repr(self) -> str:
        extra = f", ensemble_size={self.ensemble_size}" if self.ensemble_size > 1 else ""
        return f"{self.in_channels}, {self.out_channels}, reduction={self.reduction!r}, init={self.init!r}{extra}"


class PermEquivariantLinear(_SetLayer):
    """S_n-equivariant linear layer (DeepSets, Zaheer et al. 2017).

    ``y[:, i] = R(x[:, i] @ alpha + (sum_j x[:, j]) @ beta + sum_c b[c])``, where R is the identity
    for ``reduction="sum"`` and divides by in_channels for "mean" (the original's averaging). It
    equals the original ``LinearEquivariant`` for the same parameters, computed with two matmuls
    instead of a (batch, n, in, out) broadcast.

    x: (batch, n, in_channels) -> (batch, n, out_channels). Any n.

    Initialization: ``init="default"`` is fan-in scaled like nn.Linear (weights uniform in
    +-1/sqrt(in_channels), each bias row in +-1/in_channels so that their channel sum has
    nn.Linear's bias scale), drawn in_channels times wider under "mean" so that both reductions
    compute the same function at initialization. ``init="original"`` draws N(0, 1).
    ``init="scaled_normal"`` draws N(0, 1) / in_channels: with "sum", exactly the function an
    ``init="original"``, "mean" layer computes at initialization. ``set_size`` (optional, the
    typical n) shrinks the pooled weights ``beta`` by 1/n in the default init; the layer still
    accepts sets of any size.
    """

    def __init__(self, in_channels: int, out_channels: int, reduction: str = "sum", init: str = "default",
                 ensemble_size: int = 1, set_size: int | None = None, device=None, dtype=None) -> None:
        super().__init__(in_channels, out_channels, reduction, init, ensemble_size, device, dtype)
        self.set_size = set_size
        bound = 1 / math.sqrt(in_channels)
        self._param("alpha", in_channels, out_channels, bound=bound)
        self._param("beta", in_channels, out_channels, bound=bound / _pool_scale(set_size))
        self._param("b", in_channels, out_channels, bound=1 / in_channels)
        self.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        pooled = self._affine(x.sum(dim=1, keepdim=True), self.beta, self.b.sum(-2))  # (batch, 1, out)
        return self._affine(x, self.alpha) + pooled

    def extra_repr(self) -> str:
        return super().extra_repr() + (f", set_size={self.set_size}" if self.set_size is not None else "")


class PermInvariantLinear(_SetLayer):
    """S_n-invariant linear layer: ``y = R((sum_j x[:, j]) @ alpha + sum_c b[c])``.

    x: (batch, n, in_channels) -> (batch, out_channels). (The original ``LinearInvariant`` kept a
    singleton set axis, (batch, 1, out_channels); the values are the same.) ``reduction``, ``init``
    and ``set_size`` as in ``PermEquivariantLinear``.
    """

    def __init__(self, in_channels: int, out_channels: int, reduction: str = "sum", init: str = "default",
                 ensemble_size: int = 1, set_size: int | None = None, device=None, dtype=None) -> None:
        super().__init__(in_channels, out_channels, reduction, init, ensemble_size, device, dtype)
        self.set_size = set_size
        self._param("alpha", in_channels, out_channels, bound=1 / (math.sqrt(in_channels) * _pool_scale(set_size)))
        self._param("b", in_channels, out_channels, bound=1 / in_channels)
        self.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        return self._affine(x.sum(dim=1, keepdim=True), self.alpha, self.b.sum(-2)).squeeze(1)

    def extra_repr(self) -> str:
        return super().extra_repr() + (f", set_size={self.set_size}" if self.set_size is not None else "")


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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
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
