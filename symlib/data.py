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

__all__ = ["GaussianVarianceTask", "bayes_accuracy", "bayes_predict", "bayes_threshold"]


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


class GaussianVarianceTask:
    """Sets of n points in R^d from N(0, var_y I); label y ~ Bernoulli(1/2).

    ``sample(batch)`` returns ``x: (batch, n, d)`` float32 and ``y: (batch,)`` float32 in {0, 1}.
    """

    def __init__(self, n: int = 10, d: int = 5, var0: float = 1.0, var1: float = 0.8) -> None:
        _check_dims(n, d)
        _check_variances(var0, var1)
        self.n, self.d, self.var0, self.var1 = n, d, float(var0), float(var1)

    def __repr__(self) -> str:
        return f"GaussianVarianceTask(n={self.n}, d={self.d}, var0={self.var0}, var1={self.var1})"

    @property
    def channels(self) -> int:
        return self.d

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        y = torch.randint(0, 2, (batch_size,), generator=generator).float()
        std = torch.where(y.bool(), math.sqrt(self.var1), math.sqrt(self.var0))
        x = torch.randn(batch_size, self.n, self.d, generator=generator) * std[:, None, None]
        return x, y

    def bayes_accuracy(self) -> float:
        return bayes_accuracy(self.n, self.d, self.var0, self.var1)

    def bayes_predict(self, x: torch.Tensor) -> torch.Tensor:
        return bayes_predict(x, self.var0, self.var1)
