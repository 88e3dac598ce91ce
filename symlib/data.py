"""Tasks with a known optimum.

``GaussianVarianceTask``: a set of n points in R^d, i.i.d. N(0, var_y I), with the label y in {0, 1}
equally likely (var0 = 1.0 and var1 = 0.8 in the study). The sum of squares T = ||x||^2 is a
sufficient statistic and T / var_y ~ chi^2(n d), so the Bayes-optimal classifier is a threshold
on T and its accuracy is exact (``bayes_accuracy``). Batches are drawn whole, in one call.

``VariableSizeVarianceTask``: the same task with the set size drawn per sample, n ~ U{n_min..n_max}.
Its batches are padded to n_max and come with a mask, ``sample -> (x, mask, y)``; given n the
optimum is the fixed-size one, so its accuracy is exact too: the average over n of
``bayes_accuracy(n, d)`` (``bayes_accuracy_by_size`` gives each term; it rises with n).

``GaussianCovarianceTask`` (and ``ring_task``, ``pair_task``): class 1 has a structured covariance;
the optimum is a quadratic discriminant whose accuracy is estimated by Monte Carlo.

Every fixed-size task samples ``x: (batch, n, d)`` and ``y: (batch,)`` in its ``dtype`` (float32 by
default; any real floating dtype), and ``sample(0)`` gives empty tensors of those shapes. A masked
task (``masked = True``) samples ``(x, mask, y)``, mask (batch, n) bool, True = element present.
``trim_padding`` cuts a padded batch down to its longest set, or to one of a few bucket lengths.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch
from scipy import stats

from .groups import _check_int, _generator_from, _short, check_mask, check_seed

__all__ = ["GaussianVarianceTask", "VariableSizeVarianceTask", "GaussianCovarianceTask", "ring_task", "pair_task",
           "bayes_accuracy", "bayes_predict", "bayes_threshold", "trim_padding"]

# randn's draws stay below this many standard deviations (float32 Box-Muller peaks near 5.7), so a
# std whose multiple by it is finite in the task's dtype cannot overflow it.
_MAX_DRAW = 16.0


def _check_dims(n, d) -> tuple[int, int]:
    return _check_int("n", n, minimum=1), _check_int("d", d, minimum=1)


def _check_real(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_short(value)} ({type(value).__name__})")
    return float(value)


def _check_variances(var0, var1) -> tuple[float, float]:
    out = []
    for name, value in (("var0", var0), ("var1", var1)):
        value = _check_real(name, value)
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        out.append(value)
    return out[0], out[1]


def _check_dtype(dtype) -> torch.dtype:
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype must be a torch.dtype such as torch.float32, got {_short(dtype)} ({type(dtype).__name__})")
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a real floating dtype (torch.float16, bfloat16, float32 or float64), got {dtype}")
    return dtype


def _check_std_fits(std: float, dtype: torch.dtype, what: str) -> None:
    """Samples with this standard deviation must neither overflow nor vanish in dtype."""
    info = torch.finfo(dtype)
    if not (info.tiny <= std and std * _MAX_DRAW <= info.max):
        raise ValueError(f"{what} must give samples that fit dtype={dtype}, got a standard deviation of {std:.3g} "
                         f"(samples would overflow or vanish); use dtype=torch.float64 or a variance nearer 1")


def _check_batch_size(batch_size) -> int:
    return _check_int("batch_size", batch_size, minimum=0)


def _check_x(x, n: int | None = None, d: int | None = None, mask=None) -> torch.Tensor:
    """x (batch, n, d), real floating, finite; with a mask, finite where present (padding is ignored)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor of shape (batch, n, d), got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x must have a real floating dtype, got dtype {x.dtype}")
    if x.ndim != 3:
        raise ValueError(f"x must be a tensor of shape (batch, n, d), got shape {tuple(x.shape)}")
    if n is not None and tuple(x.shape[1:]) != (n, d):
        raise ValueError(f"x must have shape (batch, {n}, {d}), got {tuple(x.shape)}")
    present = x if mask is None else torch.where(check_mask(x, mask).unsqueeze(-1), x, 0)
    if x.numel() and not bool(torch.isfinite(present).all()):
        raise ValueError(f"x must be finite{' where mask is True' if mask is not None else ''}, got NaN or "
                         "infinite entries")
    return x


def _log_ratio(var0: float, var1: float) -> tuple[float, float]:
    """(smaller variance, log(larger / smaller)), without forming the ratio (it can overflow)."""
    small = min(var0, var1)
    return small, abs(math.log(var0) - math.log(var1))


def bayes_threshold(n: int, d: int, var0: float, var1: float) -> float:
    """The sum of squares at which the two classes are equally likely (var0 != var1).

    n, d: ints >= 1; var0, var1: positive finite, different. With s the smaller variance and
    r = larger / smaller, it is ``n d s log(r) / (1 - 1/r)``, computed from log(r) so that no
    intermediate overflows. Raises ValueError if the threshold itself exceeds float64's range.
    """
    n, d = _check_dims(n, d)
    var0, var1 = _check_variances(var0, var1)
    if var0 == var1:
        raise ValueError(f"var0 and var1 must differ for a threshold to exist, got {var0} twice")
    small, log_r = _log_ratio(var0, var1)
    t = n * d * small * (log_r / -math.expm1(-log_r))
    if not math.isfinite(t):
        raise ValueError(f"the threshold for var0={var0}, var1={var1} exceeds the float64 range")
    return t


def bayes_accuracy(n: int, d: int, var0: float = 1.0, var1: float = 0.8) -> float:
    """Exact accuracy of the likelihood-ratio test with equal priors (chi-squared tails).

    n, d: ints >= 1; var0, var1: positive finite. For n=10, d=5, var0=1.0, var1=0.8 this is 0.7108.
    Computed from log(larger / smaller variance), so extreme but valid variances (1e300 against
    1e-300) give the right answer (there, 1.0) rather than overflowing.
    """
    n, d = _check_dims(n, d)
    var0, var1 = _check_variances(var0, var1)
    if var0 == var1:
        return 0.5
    dof = n * d
    _, log_r = _log_ratio(var0, var1)
    scale = log_r / -math.expm1(-log_r)  # log(r) / (1 - 1/r)
    at_small = dof * scale  # the threshold in units of the smaller variance
    at_large = dof * scale * math.exp(-log_r)  # ... and of the larger one
    # Predict the smaller variance below the threshold, the larger one above it; summing the two
    # error tails keeps full relative precision when the accuracy is close to 1.
    error = 0.5 * (stats.chi2.sf(at_small, dof) + stats.chi2.cdf(at_large, dof))
    return float(1.0 - error)


def bayes_predict(x: torch.Tensor, var0: float = 1.0, var1: float = 0.8,
                  mask: torch.Tensor | None = None) -> torch.Tensor:
    """The optimal classifier's logit, log p(x | y=1) - log p(x | y=0).

    x: (batch, n, d), real floating, finite -> (batch,) in x's dtype, computed in float64.
    Positive means class 1 is more likely. mask: optional (batch, n) bool, True = present: each
    set is its present elements (k of them, k d degrees of freedom); padded slots are not read.
    """
    var0, var1 = _check_variances(var0, var1)
    x = _check_x(x, mask=mask)
    if mask is None:
        dof = x.shape[1] * x.shape[2]
        t = x.double().pow(2).sum(dim=(1, 2))
    else:
        dof = mask.sum(dim=1).double() * x.shape[2]
        t = torch.where(mask.unsqueeze(-1), x.double(), 0).pow(2).sum(dim=(1, 2))
    # (1/var0 - 1/var1), arranged so that tiny variances do not give inf - inf.
    slope = ((var1 - var0) / var0) / var1
    return (0.5 * dof * (math.log(var0) - math.log(var1)) + 0.5 * t * slope).to(x.dtype)


class _BinarySetTask:
    """Shared by the tasks: n points in R^d per set, a label y ~ Bernoulli(1/2) per set."""

    n: int
    d: int
    dtype: torch.dtype

    def _labels(self, batch_size: int, generator: torch.Generator | None) -> torch.Tensor:
        return torch.randint(0, 2, (batch_size,), generator=generator).to(self.dtype)

    def _draw(self, batch_size: int, generator: torch.Generator | None, dtype: torch.dtype):
        raise NotImplementedError

    def sample(self, batch_size: int, generator: torch.Generator | None = None, *,
               seed: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch: x (batch_size, n, d) and y (batch_size,) in {0, 1}, both in the task's dtype.

        batch_size: an int >= 0 (0 gives empty tensors). Draws from ``generator``, or from a new
        generator seeded with ``seed``, or from torch's global generator if neither is given.
        """
        batch_size = _check_batch_size(batch_size)
        generator = _generator_from(generator, seed)
        return self._draw(batch_size, generator, self.dtype)


class GaussianVarianceTask(_BinarySetTask):
    """Sets of n points in R^d from N(0, var_y I); label y ~ Bernoulli(1/2).

    n, d: ints >= 1; var0, var1: positive finite; dtype: a real floating dtype (default float32).
    ``sample(batch)`` returns ``x: (batch, n, d)`` and ``y: (batch,)`` in {0, 1}, both in dtype.
    """

    def __init__(self, n: int = 10, d: int = 5, var0: float = 1.0, var1: float = 0.8,
                 dtype: torch.dtype = torch.float32) -> None:
        self.n, self.d = _check_dims(n, d)
        self.var0, self.var1 = _check_variances(var0, var1)
        self.dtype = _check_dtype(dtype)
        for name, var in (("var0", self.var0), ("var1", self.var1)):
            _check_std_fits(math.sqrt(var), self.dtype, name)

    def __repr__(self) -> str:
        extra = "" if self.dtype == torch.float32 else f", dtype={self.dtype}"
        return f"GaussianVarianceTask(n={self.n}, d={self.d}, var0={self.var0}, var1={self.var1}{extra})"

    def _draw(self, batch_size, generator, dtype):
        y = self._labels(batch_size, generator).to(dtype)
        std = torch.where(y.bool(), torch.tensor(math.sqrt(self.var1), dtype=dtype),
                          torch.tensor(math.sqrt(self.var0), dtype=dtype))
        draw_dtype = dtype if dtype in (torch.float32, torch.float64) else torch.float32
        x = torch.randn(batch_size, self.n, self.d, generator=generator, dtype=draw_dtype).to(dtype)
        return x * std[:, None, None], y

    def bayes_accuracy(self) -> float:
        """The exact optimum (see ``bayes_accuracy``)."""
        return bayes_accuracy(self.n, self.d, self.var0, self.var1)

    def bayes_predict(self, x: torch.Tensor) -> torch.Tensor:
        """The optimal logit. x: (batch, n, d) with this task's n and d -> (batch,) in x's dtype."""
        return bayes_predict(_check_x(x, self.n, self.d), self.var0, self.var1)


class VariableSizeVarianceTask(_BinarySetTask):
    """The variance task with a set size drawn per sample: n ~ U{n_min, ..., n_max}, then n points
    in R^d from N(0, var_y I), label y ~ Bernoulli(1/2).

    n_min, n_max: ints with 1 <= n_min <= n_max; d: an int >= 1; var0, var1: positive finite;
    dtype: a real floating dtype (default float32). ``sample(batch)`` returns ``(x, mask, y)``:
    x (batch, n_max, d) with each set in its first n slots and zeros after, mask (batch, n_max)
    bool, True = present, and y (batch,) in {0, 1} in dtype. Given n the sufficient statistic and
    the optimum are the fixed-size task's, so ``bayes_accuracy()`` is exact: the mean over the
    n_max - n_min + 1 equally likely sizes of ``bayes_accuracy(n, d)``.
    """

    masked = True

    def __init__(self, n_min: int = 5, n_max: int = 20, d: int = 5, var0: float = 1.0, var1: float = 0.8,
                 dtype: torch.dtype = torch.float32, masks: bool = True) -> None:
        if not isinstance(masks, bool):
            raise TypeError(f"masks must be a bool, got {masks!r}")
        # masks=False: the naive way, zero-padded sets and no mask (sample gives (x, y)), kept to measure it.
        self.masked = masks
        self.n_min = _check_int("n_min", n_min, minimum=1)
        self.n_max = _check_int("n_max", n_max, minimum=1)
        if self.n_max < self.n_min:
            raise ValueError(f"n_max must be at least n_min={self.n_min}, got n_max={self.n_max}")
        self.d = _check_int("d", d, minimum=1)
        self.n = self.n_max  # the padded length, what a model sees
        self.var0, self.var1 = _check_variances(var0, var1)
        self.dtype = _check_dtype(dtype)
        for name, var in (("var0", self.var0), ("var1", self.var1)):
            _check_std_fits(math.sqrt(var), self.dtype, name)

    def __repr__(self) -> str:
        extra = ("" if self.dtype == torch.float32 else f", dtype={self.dtype}") + ("" if self.masked else ", masks=False")
        return (f"VariableSizeVarianceTask(n_min={self.n_min}, n_max={self.n_max}, d={self.d}, var0={self.var0}, "
                f"var1={self.var1}{extra})")

    @property
    def sizes(self) -> range:
        """The set sizes, each drawn with probability 1 / len(sizes)."""
        return range(self.n_min, self.n_max + 1)

    def sample(self, batch_size: int, generator: torch.Generator | None = None, *,
               seed: int | None = None) -> tuple[torch.Tensor, ...]:
        """A padded batch: x (batch_size, n_max, d), mask (batch_size, n_max) bool, y (batch_size,);
        with ``masks=False``, (x, y) only (the padding, zeros, is then part of the input).

        batch_size: an int >= 0. Draws (labels, then sizes, then points, each in one call) from
        ``generator``, or from a new generator seeded with ``seed``, or from torch's global one.
        """
        x, mask, y = super().sample(batch_size, generator, seed=seed)
        return (x, mask, y) if self.masked else (x, y)

    def _draw(self, batch_size, generator, dtype):
        y = self._labels(batch_size, generator).to(dtype)
        sizes = torch.randint(self.n_min, self.n_max + 1, (batch_size,), generator=generator)
        std = torch.where(y.bool(), torch.tensor(math.sqrt(self.var1), dtype=dtype),
                          torch.tensor(math.sqrt(self.var0), dtype=dtype))
        draw_dtype = dtype if dtype in (torch.float32, torch.float64) else torch.float32
        x = torch.randn(batch_size, self.n_max, self.d, generator=generator, dtype=draw_dtype).to(dtype)
        mask = torch.arange(self.n_max) < sizes[:, None]
        return torch.where(mask.unsqueeze(-1), x * std[:, None, None], 0), mask, y

    def bayes_accuracy_by_size(self) -> dict[int, float]:
        """The exact optimum at each set size n (``bayes_accuracy(n, d, var0, var1)``): {n: accuracy}."""
        return {n: bayes_accuracy(n, self.d, self.var0, self.var1) for n in self.sizes}

    def bayes_accuracy(self) -> float:
        """The exact optimum over the mixture of sizes: the mean of ``bayes_accuracy_by_size``."""
        by_size = self.bayes_accuracy_by_size()
        return math.fsum(by_size.values()) / len(by_size)

    def bayes_predict(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The optimal logit. x: (batch, n_max, d), mask: (batch, n_max) bool -> (batch,) in x's dtype."""
        return bayes_predict(_check_x(x, self.n_max, self.d, mask), self.var0, self.var1, mask=mask)


def trim_padding(x: torch.Tensor, mask: torch.Tensor,
                 lengths: Sequence[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut a padded batch down: present elements first, then as few padded slots as the longest
    set needs, or as the smallest of ``lengths`` (buckets) that holds it.

    x: (batch, n, c), mask: (batch, n) bool, True = present -> (x', mask') of shapes (batch, L, c)
    and (batch, L). Sets whose present elements are not already their first slots are reordered
    (stably: present elements keep their relative order). This reads the mask's values, once per
    batch: call it on the data side, outside a compiled model, which then sees only a few shapes
    (one compilation per bucket length). The results are contiguous.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor of shape (batch, n, c), got {type(x).__name__}")
    if x.ndim != 3:
        raise ValueError(f"x must be a tensor of shape (batch, n, c), got shape {tuple(x.shape)}")
    check_mask(x, mask)
    n = x.shape[1]
    if lengths is not None:
        if isinstance(lengths, (str, bytes)) or not isinstance(lengths, Sequence) or not lengths:
            raise TypeError(f"lengths must be a non-empty sequence of ints (bucket lengths), got {_short(lengths)}")
        lengths = sorted(_check_int(f"lengths[{i}]", v, minimum=0) for i, v in enumerate(lengths))
    counts = mask.sum(dim=1)
    longest = int(counts.max()) if len(counts) else 0
    if lengths is None:
        length = longest
    else:
        fits = [v for v in lengths if v >= longest]
        if not fits:
            raise ValueError(f"lengths must include a bucket of at least the longest set ({longest} elements), got "
                             f"{lengths}")
        length = fits[0]
    if not bool((mask[:, :length].sum(dim=1) == counts).all()):  # some present element lies beyond the cut
        order = torch.argsort((~mask).to(torch.uint8), dim=1, stable=True)
        x = torch.gather(x, 1, order.unsqueeze(-1).expand_as(x))
        mask = torch.gather(mask, 1, order)
    if length > n:  # a bucket longer than the batch: pad with absent slots
        x = torch.cat([x, x.new_zeros(x.shape[0], length - n, x.shape[2])], dim=1)
        mask = torch.cat([mask, mask.new_zeros(mask.shape[0], length - n)], dim=1)
    # Contiguous: a slice keeps the strides of the batch it came from, and a compiled model guards on
    # strides, so a bucket would be compiled again for every padded length it was cut from.
    return x[:, :length].contiguous(), mask[:, :length].contiguous()


def _as_covariance(cov, size: int) -> torch.Tensor:
    if isinstance(cov, np.ndarray):
        if not (np.issubdtype(cov.dtype, np.floating) or np.issubdtype(cov.dtype, np.integer)):
            raise TypeError(f"cov must hold real numbers, got a numpy array of dtype {cov.dtype}")
        cov = torch.from_numpy(np.ascontiguousarray(cov))
    if not isinstance(cov, torch.Tensor):
        if not isinstance(cov, (list, tuple)):
            raise TypeError(f"cov must be a tensor (n*d, n*d), got {_short(cov)} ({type(cov).__name__})")
        try:
            cov = torch.tensor(cov, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(f"cov must be a (n*d, n*d) array of real numbers, got {_short(cov)} ({exc})") from None
    if cov.is_complex() or cov.dtype == torch.bool:
        raise TypeError(f"cov must hold real numbers, got dtype {cov.dtype}")
    cov = cov.detach().to(device="cpu", dtype=torch.float64)
    if tuple(cov.shape) != (size, size):
        raise ValueError(f"cov must have shape ({size}, {size}), got {tuple(cov.shape)}")
    if not bool(torch.isfinite(cov).all()):
        raise ValueError("cov must be finite, got NaN or infinite entries")
    if not torch.allclose(cov, cov.T):
        raise ValueError(f"cov must be symmetric, got max |cov - cov.T| = {float((cov - cov.T).abs().max()):.3g}")
    return cov


class GaussianCovarianceTask(_BinarySetTask):
    """Zero-mean Gaussian sets: class 0 ~ N(0, I), class 1 ~ N(0, cov) on the flattened (n, d) set.

    The optimal classifier is the quadratic discriminant
    ``log p1(x) - log p0(x) = -x^T (cov^-1 - I) x / 2 - log det(cov) / 2``; its accuracy has no closed
    form here, so ``bayes_accuracy()`` is a Monte Carlo estimate (``bayes_samples`` draws, in
    float64, from seed ``bayes_seed``) and ``bayes_accuracy_se`` its standard error.

    cov: (n*d, n*d), symmetric positive definite, finite, indexed by ``i * d + c`` (element i,
    coordinate c). n, d: ints >= 1; name: a str; bayes_samples: an int >= 1; dtype: a real
    floating dtype for the samples (default float32).
    """

    def __init__(self, cov: torch.Tensor, n: int, d: int, name: str = "gaussian covariance",
                 bayes_samples: int = 400_000, *, dtype: torch.dtype = torch.float32,
                 bayes_seed: int = 12345) -> None:
        n, d = _check_dims(n, d)
        cov = _as_covariance(cov, n * d)
        chol, info = torch.linalg.cholesky_ex(cov)
        if info != 0:
            raise ValueError("cov must be positive definite (its Cholesky factorization failed)")
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, got {_short(name)} ({type(name).__name__})")
        self.bayes_samples = _check_int("bayes_samples", bayes_samples, minimum=1)
        self.bayes_seed = check_seed(bayes_seed, "bayes_seed")
        self.dtype = _check_dtype(dtype)
        _check_std_fits(math.sqrt(float(cov.diagonal().max())), self.dtype, "cov")
        self.n, self.d, self.name = n, d, name
        self.cov, self.chol = cov, chol
        self.precision_minus_identity = torch.cholesky_inverse(chol) - torch.eye(n * d, dtype=torch.float64)
        self.log_det = 2 * torch.log(torch.diagonal(chol)).sum().item()
        self._bayes = None

    def __repr__(self) -> str:
        extra = "" if self.dtype == torch.float32 else f", dtype={self.dtype}"
        return f"GaussianCovarianceTask({self.name}, n={self.n}, d={self.d}{extra})"

    def _draw(self, batch_size, generator, dtype):
        y = self._labels(batch_size, generator).to(dtype)
        z = torch.randn(batch_size, self.n * self.d, generator=generator, dtype=torch.float64)
        x = torch.where(y.bool()[:, None], z @ self.chol.T, z)
        return x.reshape(batch_size, self.n, self.d).to(dtype), y

    def bayes_predict(self, x: torch.Tensor) -> torch.Tensor:
        """The optimal logit, log p(x | y=1) - log p(x | y=0). x: (batch, n, d) -> (batch,) in x's dtype."""
        x = _check_x(x, self.n, self.d)
        flat = x.reshape(len(x), self.n * self.d).double()
        quad = ((flat @ self.precision_minus_identity) * flat).sum(dim=1)
        return (-0.5 * quad - 0.5 * self.log_det).to(x.dtype)

    def bayes_accuracy(self) -> float:
        """Monte Carlo estimate of the optimum's accuracy (cached; see ``bayes_accuracy_se``)."""
        if self._bayes is None:
            x, y = self._draw(self.bayes_samples, torch.Generator().manual_seed(self.bayes_seed), torch.float64)
            acc = ((self.bayes_predict(x) > 0).double() == y).double().mean().item()
            self._bayes = (acc, math.sqrt(acc * (1 - acc) / self.bayes_samples))
        return self._bayes[0]

    @property
    def bayes_accuracy_se(self) -> float:
        """The standard error of ``bayes_accuracy()``."""
        self.bayes_accuracy()
        return self._bayes[1]


def _check_rho(rho, bound: float) -> float:
    rho = _check_real("rho", rho)
    if not abs(rho) < bound:  # also refuses NaN
        raise ValueError(f"rho must be a number with |rho| < {bound}, got {rho!r}")
    return rho


def ring_task(n: int, d: int, rho: float, *, dtype: torch.dtype = torch.float32,
              bayes_samples: int = 400_000) -> GaussianCovarianceTask:
    """Class 1: each element correlates (rho) with its two neighbours around a ring, coordinate by coordinate.

    n: an int >= 3; d: an int >= 1; rho: a real number with |rho| < 1/2. Its symmetries are the
    dihedral group D_n (rotations and reflections of the ring), not S_n.
    """
    n, d = _check_dims(n, d)
    if n < 3:
        raise ValueError(f"a ring needs n >= 3 elements, got n={n}")
    rho = _check_rho(rho, 0.5)  # |rho| < 1/2 keeps I + rho (P + P^T) positive definite
    shift = torch.roll(torch.eye(n, dtype=torch.float64), 1, dims=1)
    ring = torch.eye(n, dtype=torch.float64) + rho * (shift + shift.T)
    return GaussianCovarianceTask(torch.kron(ring, torch.eye(d, dtype=torch.float64)), n, d, name=f"ring rho={rho}",
                                  bayes_samples=bayes_samples, dtype=dtype)


def pair_task(n: int, d: int, rho: float, *, dtype: torch.dtype = torch.float32,
              bayes_samples: int = 400_000) -> GaussianCovarianceTask:
    """Class 1: within every element, coordinates 0 and 1 correlate (rho); elements are independent.

    n: an int >= 1; d: an int >= 2; rho: a real number with |rho| < 1. Its symmetries include all
    of S_n (elements are exchangeable), but an element's coordinates must be read together:
    sorting each coordinate separately destroys the signal.
    """
    n, d = _check_dims(n, d)
    if d < 2:
        raise ValueError(f"pair_task needs d >= 2 coordinates, got d={d}")
    rho = _check_rho(rho, 1.0)
    block = torch.eye(d, dtype=torch.float64)
    block[0, 1] = block[1, 0] = rho
    return GaussianCovarianceTask(torch.kron(torch.eye(n, dtype=torch.float64), block), n, d, name=f"pair rho={rho}",
                                  bayes_samples=bayes_samples, dtype=dtype)
