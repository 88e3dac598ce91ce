import math

import pytest
import torch
from scipy import stats

from symlib import data


def test_bayes_accuracy_study_value():
    assert round(data.bayes_accuracy(10, 5, 1.0, 0.8), 4) == 0.7108


def test_bayes_accuracy_is_symmetric_and_monotone():
    assert data.bayes_accuracy(10, 5, 0.8, 1.0) == pytest.approx(data.bayes_accuracy(10, 5, 1.0, 0.8))
    assert data.bayes_accuracy(3, 2, 1.0, 1.0) == 0.5
    accs = [data.bayes_accuracy(n, 5, 1.0, 0.8) for n in (1, 10, 100)]
    assert accs == sorted(accs) and accs[-1] > 0.95


def test_bayes_accuracy_matches_monte_carlo():
    task = data.GaussianVarianceTask(10, 5)
    x, y = task.sample(200_000, generator=torch.Generator().manual_seed(0))
    acc = ((task.bayes_predict(x) > 0).float() == y).float().mean().item()
    se = math.sqrt(0.71 * 0.29 / len(y))
    assert abs(acc - task.bayes_accuracy()) < 4 * se


def test_bayes_predict_is_log_likelihood_ratio():
    x = torch.randn(5, 4, 3, dtype=torch.float64)
    var0, var1 = 1.3, 0.6
    normal = lambda v: torch.distributions.Normal(torch.tensor(0.0, dtype=x.dtype), math.sqrt(v)).log_prob(x).sum(dim=(1, 2))
    torch.testing.assert_close(data.bayes_predict(x, var0, var1), normal(var1) - normal(var0))


def test_sample_shapes_dtypes_and_statistics():
    task = data.GaussianVarianceTask(10, 5, 1.0, 0.8)
    x, y = task.sample(100_000, generator=torch.Generator().manual_seed(0))
    assert x.shape == (100_000, 10, 5) and y.shape == (100_000,)
    assert x.dtype == torch.float32 and y.dtype == torch.float32
    assert set(y.unique().tolist()) == {0.0, 1.0}
    assert abs(y.mean().item() - 0.5) < 0.01
    for label, var in ((0, 1.0), (1, 0.8)):
        # Per-set sum of squares / var ~ chi2(50): Kolmogorov-Smirnov against that law.
        t = x[y == label].pow(2).sum(dim=(1, 2)) / var
        assert stats.kstest(t[:5000].numpy(), stats.chi2(50).cdf).pvalue > 1e-3


def test_sample_reproducible_and_vectorized():
    task = data.GaussianVarianceTask(4, 2)
    a = task.sample(8, generator=torch.Generator().manual_seed(1))
    b = task.sample(8, generator=torch.Generator().manual_seed(1))
    assert all(torch.equal(u, v) for u, v in zip(a, b))


@pytest.mark.parametrize("kwargs,match", [
    (dict(n=0), "n must be a positive int"), (dict(d=-1), "d must be a positive int"),
    (dict(var0=0.0), "var0 must be a positive finite"), (dict(var1=-1.0), "var1 must be a positive finite"),
    (dict(var1=float("nan")), "var1 must be a positive finite"), (dict(n=2.5), "n must be a positive int"),
])
def test_bad_task_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.GaussianVarianceTask(**kwargs)
    if "n" in kwargs or "d" in kwargs:
        args = {"n": 10, "d": 5, **kwargs}
        with pytest.raises(ValueError, match=match):
            data.bayes_accuracy(args["n"], args["d"])


def test_bad_sample_and_predict_arguments():
    task = data.GaussianVarianceTask()
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        task.sample(0)
    with pytest.raises(ValueError, match=r"shape \(batch, n, d\)"):
        data.bayes_predict(torch.randn(3, 4))
