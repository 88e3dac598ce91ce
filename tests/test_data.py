import math

import mpmath
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


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(n=0), ValueError, "n must be an int >= 1"), (dict(d=-1), ValueError, "d must be an int >= 1"),
    (dict(var0=0.0), ValueError, "var0 must be a positive finite"), (dict(var1=-1.0), ValueError, "var1 must be a positive finite"),
    (dict(var1=float("nan")), ValueError, "var1 must be a positive finite"), (dict(n=2.5), TypeError, "n must be an int >= 1"),
])
def test_bad_task_parameters(kwargs, error, match):
    with pytest.raises(error, match=match):
        data.GaussianVarianceTask(**kwargs)
    if "n" in kwargs or "d" in kwargs:
        args = {"n": 10, "d": 5, **kwargs}
        with pytest.raises(error, match=match):
            data.bayes_accuracy(args["n"], args["d"])


def test_bad_sample_and_predict_arguments():
    task = data.GaussianVarianceTask()
    with pytest.raises(ValueError, match="batch_size must be an int >= 0, got -1"):
        task.sample(-1)
    with pytest.raises(ValueError, match=r"shape \(batch, n, d\)"):
        data.bayes_predict(torch.randn(3, 4))


# -- extreme but valid variances, against a 50-digit reference ---------------------------------


def reference_accuracy(n, d, var0, var1):
    """The same optimum in mpmath, from the exact values of the float arguments."""
    mpmath.mp.dps = 50
    small, large = sorted((mpmath.mpf(var0), mpmath.mpf(var1)))
    dof = n * d
    threshold = dof * mpmath.log(large / small) / (1 / small - 1 / large)
    cdf = lambda x: mpmath.gammainc(mpmath.mpf(dof) / 2, 0, x / 2, regularized=True)
    return 0.5 * cdf(threshold / small) + 0.5 * (1 - cdf(threshold / large)), threshold


@pytest.mark.parametrize("n,d,var0,var1", [
    (10, 5, 1e300, 1e-300),  # the ratio overflows float64
    (10, 5, 1e-300, 1e300),
    (1, 1, 5e-324, 1.7e308),  # the extreme floats
    (10, 5, 1.0, 0.8),
    (10, 5, 1.0, 1.0 - 1e-9),  # nearly equal: accuracy just above 1/2
    (1, 1, 1.0, 1.0 + 1e-15),
    (200, 50, 1.0, 0.99),  # many degrees of freedom
    (3, 1, 1e-200, 2e-200),
    (2, 3, 1e200, 1e201),
])
def test_bayes_accuracy_matches_high_precision_reference(n, d, var0, var1):
    expected, threshold = reference_accuracy(n, d, var0, var1)
    got = data.bayes_accuracy(n, d, var0, var1)
    assert isinstance(got, float)
    assert abs(got - float(expected)) < 1e-12
    assert data.bayes_threshold(n, d, var0, var1) == pytest.approx(float(threshold), rel=1e-12)


def test_extreme_variances_are_perfectly_separable():
    assert data.bayes_accuracy(10, 5, 1e300, 1e-300) == pytest.approx(1.0, abs=1e-15)


def test_threshold_overflow_is_an_error_not_inf():
    with pytest.raises(ValueError, match="var0=1.7e.308, var1=1e.308.*float64 range"):
        data.bayes_threshold(10, 5, 1.7e308, 1e308)


# -- dtype, empty batches, seeds -------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16])
def test_variance_task_dtype_end_to_end(dtype):
    task = data.GaussianVarianceTask(6, 3, dtype=dtype)
    x, y = task.sample(64, seed=0)
    assert x.dtype == dtype and y.dtype == dtype and x.shape == (64, 6, 3) and y.shape == (64,)
    logit = task.bayes_predict(x)
    assert logit.dtype == dtype and logit.shape == (64,)
    reference = data.bayes_predict(x.double(), task.var0, task.var1)
    torch.testing.assert_close(logit.double(), reference, rtol=1e-2 if dtype.itemsize < 4 else 1e-6, atol=1e-2)


def test_float64_tasks_sample_and_predict_in_float64():
    task = data.GaussianVarianceTask(4, 2, 1.0, 0.5, dtype=torch.float64)
    x, y = task.sample(5000, seed=1)
    assert x.dtype == y.dtype == torch.float64
    assert set(y.unique().tolist()) <= {0.0, 1.0}
    # float64 samples are genuinely float64 (not widened float32): no float32 grid.
    assert not torch.equal(x, x.float().double())
    ring = data.ring_task(5, 2, 0.3, dtype=torch.float64, bayes_samples=1000)
    x, y = ring.sample(7, seed=0)
    assert x.dtype == y.dtype == torch.float64 and ring.bayes_predict(x).dtype == torch.float64


@pytest.mark.parametrize("task", [data.GaussianVarianceTask(4, 3), data.ring_task(4, 3, 0.2),
                                  data.pair_task(4, 3, 0.2, dtype=torch.float64)], ids=repr)
def test_empty_batches(task):
    x, y = task.sample(0, seed=0)
    assert x.shape == (0, 4, 3) and y.shape == (0,) and x.dtype == y.dtype == task.dtype
    assert task.bayes_predict(x).shape == (0,)


def test_seed_and_generator_give_the_same_stream():
    task = data.GaussianVarianceTask(4, 2)
    a = task.sample(8, generator=torch.Generator().manual_seed(5))
    b = task.sample(8, seed=5)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    with pytest.raises(ValueError, match="generator or seed"):
        task.sample(8, generator=torch.Generator(), seed=5)


def test_covariance_task_bayes_uses_its_own_seed_and_samples():
    a = data.ring_task(5, 1, 0.3, bayes_samples=20_000)
    b = data.GaussianCovarianceTask(a.cov, 5, 1, bayes_samples=20_000, bayes_seed=1)
    assert a.bayes_accuracy() != b.bayes_accuracy()
    assert abs(a.bayes_accuracy() - b.bayes_accuracy()) < 5 * (a.bayes_accuracy_se + b.bayes_accuracy_se)
