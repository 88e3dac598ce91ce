"""Tasks with a known optimum.

``GaussianVarianceTask``: a set of n points in R^d, i.i.d. N(0, var_y I), with the label y in {0, 1}
equally likely (var0 = 1.0 and var1 = 0.8 in the study). The sum of squares T = ||x||^2 is a
sufficient statistic and T / var_y ~ chi^2(n d), so the Bayes-optimal classifier is a threshold
on T and its accuracy is exact (``bayes_accuracy``). Batches are drawn whole, in one call.
"""

from __future__ import annotations

import math

import torch
from scipy import stats

__all__ = ["GaussianVarianceTask", "GaussianCovarianceTask", "ring_task", "pair_task", "bayes_accuracy", "bayes_predict",
           "bayes_threshold"]


def _check_dims(n, d) -> None:
    for name, value in (("n", n), ("d", d)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


def _check_variances(var0, var1) -> None:
    for name, value in (("var0", var0), ("var1", var1)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def bayes_threshold(n: int, d: int, var0: float, var1: float) -> float:
    """The sum of squares at which the two classes are equally likely (var0 != var1)."""
    _check_dims(n, d)
    _check_variances(var0, var1)
    if var0 == var1:
        raise ValueError(f"var0 and var1 must differ for a threshold to exist, got {var0} twice")
    return n * d * math.log(var0 / var1) / (1 / var1 - 1 / var0)


def bayes_accuracy(n: int, d: int, var0: float = 1.0, var1: float = 0.8) -> float:
    """Exact accuracy of the likelihood-ratio test with equal priors (chi-squared tails).

    For n=10, d=5, var0=1.0, var1=0.8 this is 0.7108.
    """
    _check_dims(n, d)
    _check_variances(var0, var1)
    if var0 == var1:
        return 0.5
    t = bayes_threshold(n, d, var0, var1)
    dof = n * d
    small, large = sorted((var0, var1))
    # Predict the smaller variance below the threshold, the larger one above it.
    return 0.5 * stats.chi2.cdf(t / small, dof) + 0.5 * stats.chi2.sf(t / large, dof)


def bayes_predict(x: torch.Tensor, var0: float = 1.0, var1: float = 0.8) -> torch.Tensor:
    """The optimal classifier's logit, log p(x | y=1) - log p(x | y=0).

    x: (batch, n, d) -> (batch,). Positive means class 1 is more likely.
    """
    _check_variances(var0, var1)
    if not isinstance(x, torch.Tensor) or x.ndim != 3:
        raise ValueError(f"x must be a tensor of shape (batch, n, d), got {getattr(x, 'shape', type(x))}")
    dof = x.shape[1] * x.shape[2]
    t = x.pow(2).sum(dim=(1, 2))
    return 0.5 * dof * math.log(var0 / var1) + 0.5 * t * (1 / var0 - 1 / var1)


class _BinarySetTask:
    """Shared by the tasks: n points in R^d per set, a label y ~ Bernoulli(1/2) per set."""

    n: int
    d: int

    def _labels(self, batch_size: int, generator: torch.Generator | None) -> torch.Tensor:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        return torch.randint(0, 2, (batch_size,), generator=generator).float()


class GaussianVarianceTask(_BinarySetTask):
    """Sets of n points in R^d from N(0, var_y I); label y ~ Bernoulli(1/2).

    ``sample(batch)`` returns ``x: (batch, n, d)`` float32 and ``y: (batch,)`` float32 in {0, 1}.
    """

    def __init__(self, n: int = 10, d: int = 5, var0: float = 1.0, var1: float = 0.8) -> None:
        _check_dims(n, d)
        _check_variances(var0, var1)
        self.n, self.d, self.var0, self.var1 = n, d, float(var0), float(var1)

    def __repr__(self) -> str:
        return f"GaussianVarianceTask(n={self.n}, d={self.d}, var0={self.var0}, var1={self.var1})"

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        y = self._labels(batch_size, generator)
        std = torch.where(y.bool(), math.sqrt(self.var1), math.sqrt(self.var0))
        x = torch.randn(batch_size, self.n, self.d, generator=generator) * std[:, None, None]
        return x, y

    def bayes_accuracy(self) -> float:
        return bayes_accuracy(self.n, self.d, self.var0, self.var1)

    def bayes_predict(self, x: torch.Tensor) -> torch.Tensor:
        return bayes_predict(x, self.var0, self.var1)


class GaussianCovarianceTask(_BinarySetTask):
    """Zero-mean Gaussian sets: class 0 ~ N(0, I), class 1 ~ N(0, cov) on the flattened (n, d) set.

    The optimal classifier is the quadratic discriminant
    ``log p1(x) - log p0(x) = -x^T (cov^-1 - I) x / 2 - log det(cov) / 2``; its accuracy has no closed
    form here, so ``bayes_accuracy()`` is a Monte Carlo estimate (fixed seed, ``bayes_samples``
    draws) and ``bayes_accuracy_se`` its standard error.

    cov: (n*d, n*d), symmetric positive definite, indexed by ``i * d + c`` (element i, coordinate c).
    """

    def __init__(self, cov: torch.Tensor, n: int, d: int, name: str = "gaussian covariance",
                 bayes_samples: int = 400_000) -> None:
        _check_dims(n, d)
        cov = torch.as_tensor(cov, dtype=torch.float64)
        if cov.shape != (n * d, n * d):
            raise ValueError(f"cov must have shape ({n * d}, {n * d}) for n={n}, d={d}, got {tuple(cov.shape)}")
        if not torch.allclose(cov, cov.T):
            raise ValueError("cov must be symmetric")
        chol, info = torch.linalg.cholesky_ex(cov)
        if info != 0:
            raise ValueError("cov must be positive definite (Cholesky failed)")
        self.n, self.d, self.name = n, d, name
        self.cov, self.chol = cov, chol
        self.precision_minus_identity = torch.cholesky_inverse(chol) - torch.eye(n * d, dtype=torch.float64)
        self.log_det = 2 * torch.log(torch.diagonal(chol)).sum().item()
        self.bayes_samples = bayes_samples
        self._bayes = None

    def __repr__(self) -> str:
        return f"GaussianCovarianceTask({self.name}, n={self.n}, d={self.d})"

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (batch, n, d) float32, y: (batch,) float32."""
        y = self._labels(batch_size, generator)
        z = torch.randn(batch_size, self.n * self.d, generator=generator, dtype=torch.float64)
        correlated = z @ self.chol.T
        x = torch.where(y.bool()[:, None], correlated, z)
        return x.reshape(batch_size, self.n, self.d).float(), y

    def bayes_predict(self, x: torch.Tensor) -> torch.Tensor:
        """The optimal logit, log p(x | y=1) - log p(x | y=0). x: (batch, n, d) -> (batch,)."""
        if not isinstance(x, torch.Tensor) or x.ndim != 3 or tuple(x.shape[1:]) != (self.n, self.d):
            raise ValueError(f"x must have shape (batch, {self.n}, {self.d}), got {tuple(getattr(x, 'shape', ()))}")
        flat = x.reshape(len(x), -1).double()
        quad = ((flat @ self.precision_minus_identity) * flat).sum(dim=1)
        return (-0.5 * quad - 0.5 * self.log_det).to(x.dtype)

    def bayes_accuracy(self) -> float:
        if self._bayes is None:
            x, y = self.sample(self.bayes_samples, generator=torch.Generator().manual_seed(12345))
            acc = ((self.bayes_predict(x) > 0).float() == y).double().mean().item()
            self._bayes = (acc, math.sqrt(acc * (1 - acc) / self.bayes_samples))
        return self._bayes[0]

    @property
    def bayes_accuracy_se(self) -> float:
        self.bayes_accuracy()
        return self._bayes[1]


def _check_rho(rho, bound: float) -> float:
    if not isinstance(rho, (int, float)) or isinstance(rho, bool) or not abs(rho) < bound:
        raise ValueError(f"rho must be a number with |rho| < {bound}, got {rho!r}")
    return float(rho)


def ring_task(n: int, d: int, rho: float) -> GaussianCovarianceTask:
    """Class 1: each element correlates (rho) with its two neighbours around a ring, coordinate by coordinate.

    Its symmetries are the dihedral group D_n (rotations and reflections of the ring), not S_n.
    """
    _check_dims(n, d)
    if n < 3:
        raise ValueError(f"a ring needs n >= 3 elements, got {n}")
    rho = _check_rho(rho, 0.5)  # |rho| < 1/2 keeps I + rho (P + P^T) positive definite
    shift = torch.roll(torch.eye(n, dtype=torch.float64), 1, dims=1)
    ring = torch.eye(n, dtype=torch.float64) + rho * (shift + shift.T)
    return GaussianCovarianceTask(torch.kron(ring, torch.eye(d, dtype=torch.float64)), n, d, name=f"ring rho={rho}")


def pair_task(n: int, d: int, rho: float) -> GaussianCovarianceTask:
    """Class 1: within every element, coordinates 0 and 1 correlate (rho); elements are independent.

    Its symmetries include all of S_n (elements are exchangeable), but an element's coordinates
    must be read together: sorting each coordinate separately destroys the signal.
    """
    _check_dims(n, d)
    if d < 2:
        raise ValueError(f"pair_task needs d >= 2 coordinates, got {d}")
    rho = _check_rho(rho, 1.0)
    block = torch.eye(d, dtype=torch.float64)
    block[0, 1] = block[1, 0] = rho
    return GaussianCovarianceTask(torch.kron(torch.eye(n, dtype=torch.float64), block), n, d, name=f"pair rho={rho}")
