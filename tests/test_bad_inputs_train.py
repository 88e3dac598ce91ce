"""Bad input to symlib.train: each case raises the right exception type, naming the argument.

Every bad fit() call must be refused before any training starts, so the cases are quick.
"""

import numpy as np
import pytest
import torch

from conftest import assert_clear_error
from symlib import data, models, train

NAN, INF = float("nan"), float("inf")
TASK = data.GaussianVarianceTask(4, 3)
SOLO = models.deepsets(3, width=2)
PAIR = models.deepsets(3, width=2, ensemble_size=2)
DENSE = models.dense(4, 3, width=2)
QUICK = dict(steps=2, batch_size=4, test_size=8)
X, Y = torch.zeros(6, 4, 3), torch.tensor([0.0, 1.0, 0.0, 1.0, 1.0, 0.0])


def fit(model=SOLO, task=TASK, **kwargs):
    return train.fit(model, task, **{**QUICK, **kwargs})


def case(name, call, error, argument, received=None):
    return pytest.param(call, error, argument, received, id=name)


CASES = [
    # fit: model, task
    case("fit-model-function", lambda: fit(model=lambda x: x), TypeError, "model", "function"),
    case("fit-model-none", lambda: fit(model=None), TypeError, "model", "NoneType"),
    case("fit-model-frozen", lambda: fit(model=models.deepsets(3, width=2).requires_grad_(False)), ValueError,
         "model", "none"),
    case("fit-task-object", lambda: fit(task=object()), TypeError, "task", "object"),
    case("fit-task-string", lambda: fit(task="gaussian_variance"), TypeError, "task", "str"),
    # steps, batch_size, test_size, eval_batch_size, eval_every, num_threads
    case("fit-steps-zero", lambda: fit(steps=0), ValueError, "steps", r"got 0\b"),
    case("fit-steps-negative", lambda: fit(steps=-5), ValueError, "steps", "-5"),
    case("fit-steps-bool", lambda: fit(steps=True), TypeError, "steps", "True"),
    case("fit-steps-float", lambda: fit(steps=2.0), TypeError, "steps", r"2\.0"),
    case("fit-steps-none", lambda: fit(steps=None), TypeError, "steps", "None"),
    case("fit-steps-string", lambda: fit(steps="10"), TypeError, "steps", "'10'"),
    case("fit-batch-zero", lambda: fit(batch_size=0), ValueError, "batch_size", r"got 0\b"),
    case("fit-batch-bool", lambda: fit(batch_size=True), TypeError, "batch_size", "True"),
    case("fit-batch-float", lambda: fit(batch_size=8.0), TypeError, "batch_size", r"8\.0"),
    case("fit-batch-negative", lambda: fit(batch_size=-4), ValueError, "batch_size", "-4"),
    case("fit-test-size-negative", lambda: fit(test_size=-1), ValueError, "test_size", r"got -1\b"),
    case("fit-test-size-float", lambda: fit(test_size=1e4), TypeError, "test_size", r"10000\.0"),
    case("fit-eval-batch-zero", lambda: fit(eval_batch_size=0), ValueError, "eval_batch_size", r"got 0\b"),
    case("fit-eval-batch-float", lambda: fit(eval_batch_size=1.5), TypeError, "eval_batch_size", "1.5"),
    case("fit-eval-every-zero", lambda: fit(eval_every=0), ValueError, "eval_every", r"got 0\b"),
    case("fit-eval-every-bool", lambda: fit(eval_every=True), TypeError, "eval_every", "True"),
    case("fit-threads-zero", lambda: fit(num_threads=0), ValueError, "num_threads", r"got 0\b"),
    case("fit-threads-float", lambda: fit(num_threads=1.0), TypeError, "num_threads", r"1\.0"),
    case("fit-threads-string", lambda: fit(num_threads="2"), TypeError, "num_threads", "'2'"),
    # lr, weight_decay: a scalar or one per member
    case("fit-lr-zero", lambda: fit(lr=0), ValueError, "lr", r"got 0\.0"),
    case("fit-lr-negative", lambda: fit(lr=-1e-3), ValueError, "lr", "-0.001"),
    case("fit-lr-nan", lambda: fit(lr=NAN), ValueError, "lr", "nan"),
    case("fit-lr-inf", lambda: fit(lr=INF), ValueError, "lr", "inf"),
    case("fit-lr-string", lambda: fit(lr="1e-3"), TypeError, "lr", "'1e-3'"),
    case("fit-lr-none", lambda: fit(lr=None), TypeError, "lr", "None"),
    case("fit-lr-bool", lambda: fit(lr=True), TypeError, "lr", "True"),
    case("fit-lr-numpy-nan", lambda: fit(lr=np.float64("nan")), ValueError, "lr", "nan"),
    case("fit-lr-zero-dim-tensor", lambda: fit(lr=torch.tensor(1e-3)), TypeError, "lr", "Tensor"),
    case("fit-lr-zero-dim-array", lambda: fit(lr=np.array(1e-3)), TypeError, "lr", "ndarray"),
    case("fit-lr-too-many", lambda: fit(lr=[1e-3, 1e-3]), ValueError, "lr", r"got 2 values"),
    case("fit-lr-too-few", lambda: fit(PAIR, seeds=[0, 1], lr=[1e-3]), ValueError, "lr", r"got 1 values"),
    case("fit-lr-member-negative", lambda: fit(PAIR, seeds=[0, 1], lr=[1e-3, -1.0]), ValueError, "lr[1]", "-1.0"),
    case("fit-lr-member-string", lambda: fit(PAIR, seeds=[0, 1], lr=("1e-3", 1e-3)), TypeError, "lr[0]", "'1e-3'"),
    case("fit-lr-generator", lambda: fit(lr=(v for v in [1e-3])), TypeError, "lr", "generator"),
    case("fit-decay-negative", lambda: fit(weight_decay=-0.1), ValueError, "weight_decay", "-0.1"),
    case("fit-decay-nan", lambda: fit(weight_decay=NAN), ValueError, "weight_decay", "nan"),
    case("fit-decay-string", lambda: fit(weight_decay="0"), TypeError, "weight_decay", "'0'"),
    case("fit-decay-too-few", lambda: fit(PAIR, seeds=[0, 1], weight_decay=[0.0]), ValueError, "weight_decay",
         r"got 1 values"),
    case("fit-decay-member-inf", lambda: fit(PAIR, seeds=[0, 1], weight_decay=[0.0, INF]), ValueError,
         "weight_decay[1]", "inf"),
    # train_size, val_fraction, val_size
    case("fit-train-size-zero", lambda: fit(train_size=0), ValueError, "train_size", r"got 0\b"),
    case("fit-train-size-float", lambda: fit(train_size=2.5), TypeError, "train_size", "2.5"),
    case("fit-train-size-bool", lambda: fit(train_size=True), TypeError, "train_size", "True"),
    case("fit-train-size-mixed", lambda: fit(PAIR, seeds=[0, 1], train_size=[64, None]), ValueError, "train_size",
         r"\[64, None\]"),
    case("fit-train-size-too-few", lambda: fit(PAIR, seeds=[0, 1], train_size=[64]), ValueError, "train_size",
         r"got 1 values"),
    case("fit-train-size-member-zero", lambda: fit(PAIR, seeds=[0, 1], train_size=[64, 0]), ValueError,
         "train_size[1]", r"got 0\b"),
    case("fit-train-size-iterator", lambda: fit(train_size=iter([64])), TypeError, "train_size", "iterator"),
    case("fit-val-fraction-zero", lambda: fit(train_size=64, val_fraction=0.0), ValueError, "val_fraction",
         r"got 0\.0"),
    case("fit-val-fraction-one", lambda: fit(train_size=64, val_fraction=1.0), ValueError, "val_fraction",
         r"got 1\.0"),
    case("fit-val-fraction-above-one", lambda: fit(train_size=64, val_fraction=1.5), ValueError, "val_fraction",
         "1.5"),
    case("fit-val-fraction-negative", lambda: fit(train_size=64, val_fraction=-0.2), ValueError, "val_fraction",
         "-0.2"),
    case("fit-val-fraction-nan", lambda: fit(train_size=64, val_fraction=NAN), ValueError, "val_fraction", "nan"),
    case("fit-val-fraction-string", lambda: fit(train_size=64, val_fraction="0.1"), TypeError, "val_fraction",
         "'0.1'"),
    case("fit-val-fraction-bool", lambda: fit(train_size=64, val_fraction=True), TypeError, "val_fraction", "True"),
    case("fit-val-fraction-fresh-data", lambda: fit(val_fraction=0.2), ValueError, "val_fraction", "0.2"),
    case("fit-split-no-validation", lambda: fit(train_size=2, val_fraction=0.1), ValueError, "val_fraction",
         r"2 training and 0 validation"),
    case("fit-split-no-training", lambda: fit(train_size=4, val_fraction=0.9), ValueError, "val_fraction",
         r"0 training and 4 validation"),
    case("fit-split-member-no-validation",
         lambda: fit(PAIR, seeds=[0, 1], train_size=[64, 2], val_fraction=0.1), ValueError, r"train_size[1]",
         r"train_size\[1\]=2"),
    case("fit-val-size-zero", lambda: fit(val_size=0), ValueError, "val_size", r"got 0\b"),
    case("fit-val-size-float", lambda: fit(val_size=2.5), TypeError, "val_size", "2.5"),
    case("fit-val-size-fixed-data", lambda: fit(train_size=64, val_size=10), ValueError, "val_size", r"\b10\b"),
    # seeds (the seed argument is checked as seeds[0]), test_seed
    case("fit-seeds-negative", lambda: fit(seeds=[-1]), ValueError, "seeds[0]", "-1"),
    case("fit-seeds-string-entry", lambda: fit(seeds=["a"]), TypeError, "seeds[0]", "'a'"),
    case("fit-seeds-float-entry", lambda: fit(seeds=[1.5]), TypeError, "seeds[0]", "1.5"),
    case("fit-seeds-bool-entry", lambda: fit(seeds=[True]), TypeError, "seeds[0]", "True"),
    case("fit-seeds-int", lambda: fit(seeds=5), TypeError, "seeds", "int"),
    case("fit-seeds-string", lambda: fit(seeds="01"), TypeError, "seeds", "str"),
    case("fit-seeds-python-generator", lambda: fit(seeds=(s for s in [0])), TypeError, "seeds", "generator"),
    case("fit-seeds-torch-generator", lambda: fit(seeds=[torch.Generator()]), TypeError, "seeds[0]", "Generator"),
    case("fit-seeds-too-many", lambda: fit(seeds=[0, 1]), ValueError, "seeds", r"got 2\b"),
    case("fit-seeds-too-few", lambda: fit(PAIR, seeds=[0]), ValueError, "seeds", r"got 1\b"),
    case("fit-ensemble-without-seeds", lambda: fit(PAIR), ValueError, "seeds", r"got 1\b"),
    case("fit-seed-and-seeds", lambda: fit(seed=1, seeds=[1]), ValueError, "seed", r"seed=1, seeds=\[1\]"),
    case("fit-test-seed-negative", lambda: fit(test_seed=-1), ValueError, "test_seed", "-1"),
    case("fit-test-seed-generator", lambda: fit(test_seed=torch.Generator()), TypeError, "test_seed", "Generator"),
    case("fit-generator-keyword", lambda: fit(generator=torch.Generator()), TypeError, "generator"),
    # loss, schedule, test_at, progress
    case("fit-loss-unknown", lambda: fit(loss="mse"), ValueError, "loss", "'mse'"),
    case("fit-loss-none", lambda: fit(loss=None), TypeError, "loss", "None"),
    case("fit-schedule-unknown", lambda: fit(schedule="step"), ValueError, "schedule", "'step'"),
    case("fit-schedule-int", lambda: fit(schedule=0), TypeError, "schedule", r"got 0\b"),
    case("fit-test-at-unknown", lambda: fit(test_at="end"), ValueError, "test_at", "'end'"),
    case("fit-progress-string", lambda: fit(progress="yes"), TypeError, "progress", "'yes'"),
    case("fit-progress-int", lambda: fit(progress=1), TypeError, "progress", r"got 1\b"),
    # evaluate: model, x, y, loss, batch_size
    case("evaluate-model-string", lambda: train.evaluate("model", X, Y), TypeError, "model", "str"),
    case("evaluate-x-list", lambda: train.evaluate(SOLO, X.tolist(), Y), TypeError, "x", "list"),
    case("evaluate-x-one-dim", lambda: train.evaluate(SOLO, torch.zeros(6), Y), ValueError, "x", r"\(6,\)"),
    case("evaluate-y-list", lambda: train.evaluate(SOLO, X, Y.tolist()), TypeError, "y", "list"),
    case("evaluate-y-mismatched", lambda: train.evaluate(SOLO, X, Y[:5]), ValueError, "y", r"\(5,\)"),
    case("evaluate-y-two-dims", lambda: train.evaluate(SOLO, X, Y[:, None]), ValueError, "y", r"\(6, 1\)"),
    case("evaluate-y-label-two", lambda: train.evaluate(SOLO, X, Y * 2), ValueError, "y", r"\[2\.0\]"),
    case("evaluate-y-label-half", lambda: train.evaluate(SOLO, X, Y * 0.5), ValueError, "y", r"\[0\.5\]"),
    case("evaluate-y-label-nan", lambda: train.evaluate(SOLO, X, torch.full((6,), NAN)), ValueError, "y", "nan"),
    case("evaluate-x-empty", lambda: train.evaluate(SOLO, X[:0], Y[:0]), ValueError, "x", r"got 0\b"),
    case("evaluate-x-set-size", lambda: train.evaluate(DENSE, torch.zeros(6, 5, 3), Y), ValueError, "x",
         r"\(\d+, 5, 3\)"),
    case("evaluate-batch-zero", lambda: train.evaluate(SOLO, X, Y, batch_size=0), ValueError, "batch_size",
         r"got 0\b"),
    case("evaluate-batch-float", lambda: train.evaluate(SOLO, X, Y, batch_size=2.5), TypeError, "batch_size",
         "2.5"),
    case("evaluate-batch-bool", lambda: train.evaluate(SOLO, X, Y, batch_size=True), TypeError, "batch_size",
         "True"),
    case("evaluate-loss-unknown", lambda: train.evaluate(SOLO, X, Y, loss="mse"), ValueError, "loss", "'mse'"),
    case("evaluate-loss-none", lambda: train.evaluate(SOLO, X, Y, loss=None), TypeError, "loss", "None"),
    # activation_scales: model, x
    case("scales-model-string", lambda: train.activation_scales("model", X), TypeError, "model", "str"),
    case("scales-x-list", lambda: train.activation_scales(SOLO, X.tolist()), TypeError, "x", "list"),
    case("scales-model-without-submodules", lambda: train.activation_scales(SOLO[0], X), ValueError, "model",
         "PermEquivariantLinear"),
    case("scales-x-two-dims", lambda: train.activation_scales(SOLO, torch.zeros(4, 3)), ValueError, "x",
         r"\(4, 3\)"),
    case("scales-x-float64", lambda: train.activation_scales(SOLO, X.double()), TypeError, "x", r"torch\.float64"),
]


@pytest.mark.parametrize("call,error,argument,received", CASES)
def test_bad_input_names_the_argument(call, error, argument, received):
    assert_clear_error(call, error, argument, received)


def test_a_zero_dim_learning_rate_is_one_value_not_an_obscure_iteration_error():
    # Was: TypeError("iteration over a 0-d tensor"), from treating it as a per-member sequence.
    with pytest.raises(TypeError, match=r"^lr must be a finite number, got tensor\(0\.0010\) \(Tensor\)$"):
        fit(lr=torch.tensor(1e-3))


def test_evaluate_shows_the_labels_it_refuses():
    with pytest.raises(ValueError, match=r"^y must hold labels in \{0, 1\}, got \[2\.0\] \(3 of 6 values\)$"):
        train.evaluate(SOLO, X, Y * 2)
