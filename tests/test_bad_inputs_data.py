"""Bad input to symlib.data: each case raises the right exception type, naming the argument."""

import numpy as np
import pytest
import torch

from conftest import assert_clear_error
from symlib import data

NAN, INF = float("nan"), float("inf")
TASK = data.GaussianVarianceTask(4, 3)
COV_TASK = data.pair_task(2, 2, 0.3, bayes_samples=100)
EYE4 = torch.eye(4, dtype=torch.float64)


def covariance(cov, n=2, d=2, **kwargs):
    return data.GaussianCovarianceTask(cov, n, d, **kwargs)


def with_entry(value):
    cov = EYE4.clone()
    cov[0, 0] = value
    return cov


CASES = [
    # GaussianVarianceTask: n, d, var0, var1, dtype
    ("variance-n-zero", lambda: data.GaussianVarianceTask(n=0), ValueError, "n"),
    ("variance-n-float", lambda: data.GaussianVarianceTask(n=2.5), TypeError, "n"),
    ("variance-n-bool", lambda: data.GaussianVarianceTask(n=True), TypeError, "n"),
    ("variance-n-string", lambda: data.GaussianVarianceTask(n="10"), TypeError, "n"),
    ("variance-d-negative", lambda: data.GaussianVarianceTask(d=-1), ValueError, "d"),
    ("variance-d-none", lambda: data.GaussianVarianceTask(d=None), TypeError, "d"),
    ("variance-var0-zero", lambda: data.GaussianVarianceTask(var0=0.0), ValueError, "var0"),
    ("variance-var0-negative", lambda: data.GaussianVarianceTask(var0=-1), ValueError, "var0"),
    ("variance-var0-nan", lambda: data.GaussianVarianceTask(var0=NAN), ValueError, "var0"),
    ("variance-var0-inf", lambda: data.GaussianVarianceTask(var0=INF), ValueError, "var0"),
    ("variance-var0-string", lambda: data.GaussianVarianceTask(var0="1"), TypeError, "var0"),
    ("variance-var0-bool", lambda: data.GaussianVarianceTask(var0=True), TypeError, "var0"),
    ("variance-var1-nan", lambda: data.GaussianVarianceTask(var1=NAN), ValueError, "var1"),
    ("variance-var1-none", lambda: data.GaussianVarianceTask(var1=None), TypeError, "var1"),
    ("variance-var1-tensor", lambda: data.GaussianVarianceTask(var1=torch.tensor(0.8)), TypeError, "var1"),
    ("variance-var0-overflows-float32", lambda: data.GaussianVarianceTask(var0=1e300), ValueError, "var0"),
    ("variance-dtype-int", lambda: data.GaussianVarianceTask(dtype=torch.int64), ValueError, "dtype"),
    ("variance-dtype-string", lambda: data.GaussianVarianceTask(dtype="float32"), TypeError, "dtype"),
    ("variance-dtype-complex", lambda: data.GaussianVarianceTask(dtype=torch.complex64), ValueError, "dtype"),
    ("variance-dtype-bool", lambda: data.GaussianVarianceTask(dtype=torch.bool), ValueError, "dtype"),
    ("variance-dtype-numpy", lambda: data.GaussianVarianceTask(dtype=np.float32), TypeError, "dtype"),
    # sample: batch_size, generator, seed
    ("sample-negative", lambda: TASK.sample(-1), ValueError, "batch_size"),
    ("sample-float", lambda: TASK.sample(2.5), TypeError, "batch_size"),
    ("sample-bool", lambda: TASK.sample(True), TypeError, "batch_size"),
    ("sample-string", lambda: TASK.sample("4"), TypeError, "batch_size"),
    ("sample-generator-string", lambda: TASK.sample(4, generator="x"), TypeError, "generator"),
    ("sample-generator-int", lambda: COV_TASK.sample(4, generator=3), TypeError, "generator"),
    ("sample-seed-negative", lambda: TASK.sample(4, seed=-1), ValueError, "seed"),
    ("sample-seed-string", lambda: TASK.sample(4, seed="a"), TypeError, "seed"),
    ("sample-seed-float", lambda: COV_TASK.sample(4, seed=1.5), TypeError, "seed"),
    ("covariance-sample-negative", lambda: COV_TASK.sample(-2), ValueError, "batch_size"),
    # bayes_accuracy, bayes_threshold
    ("accuracy-n-zero", lambda: data.bayes_accuracy(0, 5), ValueError, "n"),
    ("accuracy-d-float", lambda: data.bayes_accuracy(10, 5.0), TypeError, "d"),
    ("accuracy-var0-nan", lambda: data.bayes_accuracy(10, 5, NAN, 1.0), ValueError, "var0"),
    ("accuracy-var1-string", lambda: data.bayes_accuracy(10, 5, 1.0, "0.8"), TypeError, "var1"),
    ("accuracy-var1-inf", lambda: data.bayes_accuracy(10, 5, 1.0, INF), ValueError, "var1"),
    ("threshold-equal", lambda: data.bayes_threshold(10, 5, 1.0, 1.0), ValueError, "var0"),
    ("threshold-n-bool", lambda: data.bayes_threshold(True, 5, 1.0, 0.8), TypeError, "n"),
    ("threshold-overflow", lambda: data.bayes_threshold(10, 5, 1.7e308, 1e308), ValueError, "var1"),
    # bayes_predict: x, var0, var1
    ("predict-list", lambda: data.bayes_predict([[[1.0]]]), TypeError, "x"),
    ("predict-two-dims", lambda: data.bayes_predict(torch.randn(3, 4)), ValueError, "x"),
    ("predict-int", lambda: data.bayes_predict(torch.ones(3, 4, 2, dtype=torch.long)), TypeError, "x"),
    ("predict-nan", lambda: data.bayes_predict(torch.full((3, 4, 2), NAN)), ValueError, "x"),
    ("predict-inf", lambda: data.bayes_predict(torch.full((1, 1, 1), INF)), ValueError, "x"),
    ("predict-var0-zero", lambda: data.bayes_predict(torch.randn(3, 4, 2), var0=0), ValueError, "var0"),
    ("task-predict-wrong-shape", lambda: TASK.bayes_predict(torch.randn(3, 5, 3)), ValueError, "x"),
    ("covariance-predict-wrong-shape", lambda: COV_TASK.bayes_predict(torch.randn(3, 2, 3)), ValueError, "x"),
    ("covariance-predict-int", lambda: COV_TASK.bayes_predict(torch.ones(3, 2, 2, dtype=torch.int32)), TypeError, "x"),
    # GaussianCovarianceTask: cov, n, d, name, bayes_samples, bayes_seed, dtype
    ("covariance-bayes-samples-zero", lambda: covariance(EYE4, bayes_samples=0), ValueError, "bayes_samples"),
    ("covariance-bayes-samples-float", lambda: covariance(EYE4, bayes_samples=1.5), TypeError, "bayes_samples"),
    ("covariance-bayes-samples-bool", lambda: covariance(EYE4, bayes_samples=True), TypeError, "bayes_samples"),
    ("covariance-name", lambda: covariance(EYE4, name=3), TypeError, "name"),
    ("covariance-string", lambda: covariance("abc"), TypeError, "cov"),
    ("covariance-none", lambda: covariance(None), TypeError, "cov"),
    ("covariance-string-entries", lambda: covariance([[1, "a"], ["a", 1]], 1, 2), TypeError, "cov"),
    ("covariance-complex", lambda: covariance(EYE4.to(torch.complex128)), TypeError, "cov"),
    ("covariance-nan", lambda: covariance(with_entry(NAN)), ValueError, "cov"),
    ("covariance-inf", lambda: covariance(with_entry(INF)), ValueError, "cov"),
    ("covariance-asymmetric", lambda: covariance(EYE4 + torch.triu(torch.ones(4, 4), 1)), ValueError, "cov"),
    ("covariance-not-positive-definite", lambda: covariance(-EYE4), ValueError, "cov"),
    ("covariance-wrong-shape", lambda: covariance(torch.eye(3)), ValueError, "cov"),
    ("covariance-n-zero", lambda: covariance(EYE4, 0, 2), ValueError, "n"),
    ("covariance-d-float", lambda: covariance(EYE4, 2, 2.0), TypeError, "d"),
    ("covariance-dtype-int", lambda: covariance(EYE4, dtype=torch.int32), ValueError, "dtype"),
    ("covariance-bayes-seed-negative", lambda: covariance(EYE4, bayes_seed=-1), ValueError, "bayes_seed"),
    ("covariance-bayes-seed-string", lambda: covariance(EYE4, bayes_seed="a"), TypeError, "bayes_seed"),
    # ring_task, pair_task: n, d, rho, dtype, bayes_samples
    ("ring-n-two", lambda: data.ring_task(2, 2, 0.1), ValueError, "n"),
    ("ring-n-float", lambda: data.ring_task(5.0, 2, 0.1), TypeError, "n"),
    ("ring-rho-half", lambda: data.ring_task(5, 2, 0.5), ValueError, "rho"),
    ("ring-rho-nan", lambda: data.ring_task(5, 2, NAN), ValueError, "rho"),
    ("ring-rho-string", lambda: data.ring_task(5, 2, "0.1"), TypeError, "rho"),
    ("ring-rho-bool", lambda: data.ring_task(5, 2, True), TypeError, "rho"),
    ("ring-dtype-string", lambda: data.ring_task(5, 2, 0.1, dtype="x"), TypeError, "dtype"),
    ("pair-d-one", lambda: data.pair_task(5, 1, 0.3), ValueError, "d"),
    ("pair-rho-one", lambda: data.pair_task(5, 2, 1.0), ValueError, "rho"),
    ("pair-rho-inf", lambda: data.pair_task(5, 2, INF), ValueError, "rho"),
    ("pair-rho-none", lambda: data.pair_task(5, 2, None), TypeError, "rho"),
    ("pair-n-zero", lambda: data.pair_task(0, 2, 0.3), ValueError, "n"),
    ("pair-bayes-samples-zero", lambda: data.pair_task(5, 2, 0.3, bayes_samples=0), ValueError, "bayes_samples"),
]


@pytest.mark.parametrize("call,error,argument", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_names_the_argument(call, error, argument):
    assert_clear_error(call, error, argument)


# -- the silent wrong answers and misnamed errors of the library issue -------------------------


def test_extreme_variances_no_longer_give_one_half():
    # Was: 0.5, from var0 / var1 overflowing to inf.
    assert data.bayes_accuracy(10, 5, 1e300, 1e-300) > 0.999999


def test_zero_bayes_samples_is_refused_at_construction_by_name():
    # Was: accepted, then bayes_accuracy() complained about "batch_size".
    with pytest.raises(ValueError, match=r"^bayes_samples must be an int >= 1, got 0$"):
        data.GaussianCovarianceTask(EYE4, 2, 2, bayes_samples=0)


def test_float64_is_kept_end_to_end():
    # Was: float32 whatever was asked.
    x, y = data.GaussianVarianceTask(3, 2, dtype=torch.float64).sample(4, seed=0)
    assert x.dtype == y.dtype == torch.float64
