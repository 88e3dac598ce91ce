"""symlib.sizes: trained runs scored at set sizes they never saw, on paired sets."""

import math

import pytest
import torch
from scipy import stats

from symlib import data, experiments as ex, sizes, train

VARIABLE = ex.Config(approach="deepsets", task="variable_variance", n=9, n_min=4, width=8, train_size=256,
                     val_fraction=0.25, epochs=4, min_steps=40, test_size=300)
FIXED = ex.Config(approach="dense", n=6, width=4, train_size=128, val_fraction=0.25, epochs=2, min_steps=20,
                  test_size=300)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("sizes")
    runs = ([VARIABLE.replace(seed=s) for s in (0, 1)] + [VARIABLE.replace(masks=False, seed=s) for s in (0, 1)]
            + [VARIABLE.replace(pool="mean", seed=0), VARIABLE.replace(pool="max", seed=0), FIXED, FIXED.replace(seed=1),
               ex.Config(approach="deepsets", n=6, width=8, train_size=128, val_fraction=0.25, epochs=2, min_steps=20,
                         test_size=300)])
    ex.sweep(runs, path, keep_models=True, n_jobs=1)
    return path


def test_sets_are_the_same_points_for_every_run_and_fill():
    x, mask, y = sizes.sets_at_size(VARIABLE, 5, 50, fill=math.nan)
    assert x.shape == (50, 9, 5) and mask.shape == (9,) and mask.sum() == 5 and mask[:5].all()
    assert torch.isnan(x[:, 5:]).all()
    naive, none, y2 = sizes.sets_at_size(VARIABLE.replace(masks=False), 5, 50)
    assert none is None and torch.equal(naive[:, :5], x[:, :5]) and (naive[:, 5:] == 0).all() and torch.equal(y, y2)
    noisy, _, _ = sizes.sets_at_size(VARIABLE.replace(masks=False), 5, 50, fill="normal")
    assert torch.equal(noisy[:, :5], x[:, :5]) and (noisy[:, 5:] != 0).all()
    alone, no_mask, y3 = sizes.sets_at_size(FIXED.replace(n=5), 5, 50)
    assert no_mask is None and torch.equal(alone, x[:, :5]) and torch.equal(y, y3)
    large, large_mask, _ = sizes.sets_at_size(VARIABLE, 20, 50)  # above the padded length: as they are
    assert large.shape == (50, 20, 5) and large_mask is None
    alone_too, none_too, _ = sizes.sets_at_size(VARIABLE, 5, 50, length=5)
    assert none_too is None and torch.equal(alone_too, alone)
    longer, longer_mask, _ = sizes.sets_at_size(VARIABLE.replace(masks=False), 5, 50, length=12)
    assert longer.shape == (50, 12, 5) and longer_mask is None and (longer[:, 5:] == 0).all()
    other, _, _ = sizes.sets_at_size(VARIABLE, 5, 50, seed=sizes.SIZES_SEED + 1)
    assert not torch.equal(other[:, :5], x[:, :5])
    # Each (seed, size) its own draw: not the size below's draw with the next seed, nor a prefix of it.
    below, _, _ = sizes.sets_at_size(VARIABLE, 4, 50, seed=sizes.SIZES_SEED + 1)
    assert not torch.equal(below[:, :4], x[:, :4])
    assert not torch.equal(sizes.sets_at_size(VARIABLE, 6, 50)[0][:, :5], x[:, :5])


def test_sets_follow_the_variance_law():
    x, _, y = sizes.sets_at_size(FIXED.replace(n=3), 3, 40_000)
    for label, var in ((0, 1.0), (1, 0.8)):
        points = x[y == label]
        assert abs(points.var().item() - var) < 0.02
    assert abs(y.mean().item() - 0.5) < 0.02


def test_scores_are_paired_exact_optimum_and_ensemble_equals_solo(cache):
    runs = [VARIABLE.replace(seed=0), VARIABLE.replace(seed=1)]
    table = sizes.score_at_sizes(runs, cache, [2, 4, 9, 15], test_size=500)
    assert len(table) == 8 and list(table.columns[-9:]) == ["size", "in_range", "test_loss", "test_accuracy",
                                                            "test_saturated", "bayes_accuracy", "optimal_accuracy",
                                                            "regret", "edge"]
    assert table.set_index("size").in_range.groupby("size").first().to_dict() == {2: False, 4: True, 9: True,
                                                                                     15: False}
    for n, rows in table.groupby("size"):
        assert (rows.bayes_accuracy == data.bayes_accuracy(n, 5)).all()
        assert ((rows.optimal_accuracy - rows.test_accuracy - rows.regret).abs() < 1e-12).all()
        assert rows.optimal_accuracy.nunique() == 1  # one optimal rule, one set of test sets per size
        optimal = rows.optimal_accuracy.iloc[0]
        assert abs(optimal - data.bayes_accuracy(n, 5)) < 4 * math.sqrt(0.25 / 500)
        x, _, y = sizes.sets_at_size(FIXED.replace(n=n), n, 500)
        assert optimal == ((data.bayes_predict(x.double()) > 0).double() == y).double().mean().item()
        assert ((rows.edge - (rows.test_accuracy - 0.5) / (optimal - 0.5)).abs() < 1e-12).all()
    # Members in the other order: the same rows, reordered.
    reversed_table = sizes.score_at_sizes(runs[::-1], cache, [2, 4, 9, 15], test_size=500)
    key = ["seed", "size"]
    assert reversed_table.sort_values(key).test_loss.tolist() == table.sort_values(key).test_loss.tolist()
    # Run by run, on the same sets, as a solo model: the same scores as the ensemble.
    for run in runs:
        model = ex.load_model(run, cache)
        x, mask, y = sizes.sets_at_size(run, 4, 500)
        solo = train.evaluate(model, x, y, mask=mask.expand(500, -1)).accuracy.item()
        assert solo == pytest.approx(table[(table.seed == run.seed) & (table["size"] == 4)].test_accuracy.item(), abs=1e-12)


def test_masked_runs_ignore_the_fill_and_naive_runs_do_not(cache):
    masked = [VARIABLE.replace(seed=0)]
    naive = [VARIABLE.replace(masks=False, seed=0)]
    zeros = sizes.score_at_sizes(masked + naive, cache, [5, 7], test_size=400)
    for fill in (1.0, "normal", 1e30):
        other = sizes.score_at_sizes(masked, cache, [5, 7], test_size=400, fill=fill)
        assert other.test_loss.tolist() == zeros[zeros.masks].test_loss.tolist()
    moved = sizes.score_at_sizes(naive, cache, [5, 7], test_size=400, fill=1.0)
    assert (moved.test_loss.to_numpy() != zeros[~zeros.masks].test_loss.to_numpy()).all()
    # Unpadded, a masked run scores as padded; a naive one does not.
    alone = sizes.score_at_sizes(masked + naive, cache, [5, 7], test_size=400, length=5)
    for masks in (True, False):
        close = abs(alone[alone.masks == masks].test_loss.to_numpy() - zeros[zeros.masks == masks].test_loss.to_numpy())
        assert (close < 1e-6).all() if masks else (close > 1e-6).all()


def test_logits_against_the_exact_log_likelihood_ratio(cache):
    runs = [VARIABLE.replace(seed=0), VARIABLE.replace(seed=1)]
    logits, llr, y = sizes.logits_at_size(runs, cache, 6, 300)
    assert logits.shape == (2, 300) and llr.shape == (300,) and y.shape == (300,)
    x, mask, _ = sizes.sets_at_size(runs[0], 6, 300, fill=math.nan)
    torch.testing.assert_close(llr, data.bayes_predict(x[:, :6].double()))
    with torch.no_grad():
        solo = ex.load_model(runs[1], cache)(x, mask=mask.expand(300, -1)).reshape(-1).double()
    torch.testing.assert_close(logits[1], solo, rtol=1e-5, atol=1e-5)
    accuracy = ((logits > 0).double() == y).double().mean(1)
    scores = sizes.score_at_sizes(runs, cache, [6], test_size=300)
    torch.testing.assert_close(accuracy, torch.tensor(scores.test_accuracy.to_numpy()), rtol=0, atol=1e-12)


def test_naive_runs_take_larger_sets_as_they_are(cache):
    naive = [VARIABLE.replace(masks=False, seed=0)]
    table = sizes.score_at_sizes(naive, cache, [12], test_size=300)
    model = ex.load_model(naive[0], cache)
    x, mask, y = sizes.sets_at_size(naive[0], 12, 300)
    assert mask is None and x.shape[1] == 12
    assert table.test_accuracy.item() == train.evaluate(model, x, y).accuracy.item()


def test_threshold_accuracy_is_exact():
    for n in (2, 10, 40):
        best = data.bayes_threshold(n, 5, 1.0, 0.8)
        assert sizes.threshold_accuracy(n, 5, best) == pytest.approx(data.bayes_accuracy(n, 5), abs=1e-12)
        assert sizes.threshold_accuracy(n, 5, 0.9 * best) < data.bayes_accuracy(n, 5)
    # One threshold at every size: right at its own size, near chance far from it.
    kept = data.bayes_threshold(10, 5, 1.0, 0.8)
    assert sizes.threshold_accuracy(40, 5, kept) < 0.51 and sizes.threshold_accuracy(2, 5, kept) < 0.51
    # Monte Carlo agrees.
    x, _, y = sizes.sets_at_size(FIXED.replace(n=7), 7, 100_000)
    rule = (x.double().pow(2).sum((1, 2)) < 30.0).double()
    assert abs((rule == y).double().mean().item() - sizes.threshold_accuracy(7, 5, 30.0)) < 4 * math.sqrt(0.25 / 1e5)


def test_logit_fit_summarizes_the_logits(cache):
    runs = [VARIABLE.replace(seed=0), VARIABLE.replace(seed=1)]
    fit = sizes.logit_fit(runs, cache, [3, 12], 400)
    assert len(fit) == 4 and set(fit["size"]) == {3, 12}
    logits, llr, _ = sizes.logits_at_size(runs, cache, 12, 400)
    row = fit[(fit.seed == 1) & (fit["size"] == 12)].iloc[0]
    line = stats.linregress(llr.numpy(), logits[1].numpy())
    assert row.slope == pytest.approx(line.slope, rel=1e-12) and row.correlation == pytest.approx(line.rvalue, rel=1e-12)
    assert row.sign_agreement == ((logits[1] > 0) == (llr > 0)).double().mean().item()


def test_doubling_is_invisible_to_mean_and_max_pooling(cache):
    for pool in ("mean", "max"):
        table = sizes.doubling([VARIABLE.replace(pool=pool, seed=0)], cache, [3, 4], 300)
        assert table.largest_change.item() <= 1e-5 * (1 + table.scale.item())
        assert table.slope.item() == pytest.approx(1.0, abs=1e-4)
    summed = sizes.doubling([VARIABLE.replace(seed=0), VARIABLE.replace(seed=1)], cache, [3, 4], 300)
    assert (summed.largest_change > 1e-3).all()
    # A run of the fixed-size task that takes any size (DeepSets at n=6) is doubled the same way.
    fixed_task = sizes.doubling([ex.Config(approach="deepsets", n=6, width=8, train_size=128, val_fraction=0.25,
                                           epochs=2, min_steps=20, test_size=300)], cache, [3], 100)
    assert fixed_task.largest_change.item() > 1e-4
    with pytest.raises(ValueError, match=r"configs must be runs that take sets of any size.*got approach 'dense'"):
        sizes.doubling([FIXED], cache, [6], 10)
    with pytest.raises(ValueError, match=r"configs must be runs that take sets of any size.*got approach 'dense'"):
        sizes.logit_fit([FIXED], cache, [6], 10)
    with pytest.raises(TypeError, match="sizes must be a non-empty sequence"):
        sizes.logit_fit([VARIABLE], cache, 5, 10)


def test_fixed_size_runs_only_at_their_own_size(cache):
    table = sizes.score_at_sizes([FIXED, FIXED.replace(seed=1)], cache, [6], test_size=300)
    assert len(table) == 2 and table.in_range.all()
    with pytest.raises(ValueError, match=r"sizes must be \[6\] for approach 'dense'.*got \[6, 7\]"):
        sizes.score_at_sizes([FIXED], cache, [6, 7])
    with pytest.raises(ValueError, match=r"n must be 6 for approach 'dense'.*got 5"):
        sizes.sets_at_size(FIXED, 5, 10)


BAD = [
    (lambda: sizes.sets_at_size("config", 5, 10), TypeError, r"config must be a symlib.experiments.Config, got str"),
    (lambda: sizes.sets_at_size(ex.Config(task="ring", rho=0.2, d=2, steps=10), 5, 10), ValueError,
     r"config.task must be 'gaussian_variance' or 'variable_variance'.*got 'ring'"),
    (lambda: sizes.sets_at_size(VARIABLE, 0, 10), ValueError, r"n must be an int >= 1, got 0"),
    (lambda: sizes.sets_at_size(VARIABLE, 5.0, 10), TypeError, r"n must be an int >= 1, got 5.0"),
    (lambda: sizes.sets_at_size(VARIABLE, 5, True), TypeError, r"count must be an int >= 1, got True"),
    (lambda: sizes.sets_at_size(VARIABLE, 5, 10, seed=-1), ValueError, r"seed must be an int >= 0, got -1"),
    (lambda: sizes.sets_at_size(VARIABLE, 5, 10, fill="zeros"), ValueError,
     r"fill must be a float or one of \('normal',\), got 'zeros'"),
    (lambda: sizes.sets_at_size(VARIABLE, 5, 10, fill=None), TypeError, r"fill must be a float.*got None"),
    (lambda: sizes.sets_at_size(VARIABLE, 5, 10, length=0), ValueError, r"length must be an int >= 1, got 0"),
    (lambda: sizes.sets_at_size(FIXED, 6, 10, length=8), ValueError, r"length is used only by runs of task "
     r"'variable_variance'.*got length=8"),
    (lambda: sizes.threshold_accuracy(5, 5, "1"), TypeError, r"threshold must be a finite float, got '1'"),
    (lambda: sizes.threshold_accuracy(5, 5, math.inf), TypeError, r"threshold must be a finite float, got inf"),
    (lambda: sizes.threshold_accuracy(0, 5, 1.0), ValueError, r"n must be an int >= 1, got 0"),
    (lambda: sizes.threshold_accuracy(5, 5, 1.0, 0.8, 1.0), ValueError, r"0 < var1 < var0.*var0=0.8, var1=1.0"),
    (lambda: sizes.score_at_sizes([VARIABLE], ".", []), TypeError, r"sizes must be a non-empty sequence"),
    (lambda: sizes.score_at_sizes([VARIABLE], ".", [3, 0]), ValueError, r"sizes\[1\] must be an int >= 1, got 0"),
    (lambda: sizes.score_at_sizes([VARIABLE], ".", [3], test_size=0), ValueError,
     r"test_size must be an int >= 1, got 0"),
    (lambda: sizes.score_at_sizes(VARIABLE, ".", [3]), TypeError, r"configs must be a list"),
]


@pytest.mark.parametrize("call,error,match", BAD)
def test_bad_inputs(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"no checkpoint of this run \(deepsets, seed 0\)"):
        sizes.score_at_sizes([VARIABLE], tmp_path, [5], test_size=10)
