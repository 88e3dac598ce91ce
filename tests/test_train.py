import pytest
import torch

from symlib import data, layers, models, original, train

TASK = data.GaussianVarianceTask(10, 5)
QUICK = dict(steps=40, batch_size=16, test_size=500, eval_every=20)


def build(approach="deepsets", seed=0, members=1, **kw):
    torch.manual_seed(seed)
    return models.build(approach, 10, 5, width=6, ensemble_size=members, **kw)


def test_history_columns_and_rows():
    h = train.fit(build(), TASK, **QUICK)
    assert list(h.columns) == ["seed", "member", "step", "samples_seen", "train_loss", "train_accuracy", "grad_norm",
                               "test_loss", "test_accuracy", "test_saturated", "seconds"]
    assert h.step.tolist() == [20, 40] and h.samples_seen.tolist() == [320, 640]
    assert h.test_accuracy.between(0, 1).all() and (h.grad_norm > 0).all()
    assert h.seconds.is_monotonic_increasing


@pytest.mark.parametrize("approach", ["deepsets", "sampled", "augment", "canonical"])
@pytest.mark.parametrize("train_size", [None, 50])
def test_same_seed_same_history(approach, train_size):
    runs = [train.fit(build(approach), TASK, seed=3, train_size=train_size, **QUICK).drop(columns="seconds")
            for _ in range(2)]
    assert runs[0].equals(runs[1])
    other = train.fit(build(approach), TASK, seed=4, train_size=train_size, **QUICK).drop(columns="seconds")
    assert not other.equals(runs[0])


def test_training_learns_the_task():
    h = train.fit(models.build("deepsets", 10, 5), TASK, steps=1500, batch_size=64,
                  lr=3e-3, test_size=4000, eval_every=1500)
    # Chance is 0.5, Bayes 0.7108; 4000 test samples have a standard error of 0.7 points.
    assert h.test_accuracy.iloc[-1] > 0.64


def test_fixed_training_set_overfits_fresh_data_does_not():
    kw = dict(steps=1500, batch_size=32, lr=1e-2, test_size=2000, eval_every=1500)
    small = train.fit(build("dense"), TASK, train_size=64, **kw)
    fresh = train.fit(build("dense"), TASK, train_size=None, **kw)
    gap_small = small.train_accuracy.iloc[-1] - small.test_accuracy.iloc[-1]
    gap_fresh = fresh.train_accuracy.iloc[-1] - fresh.test_accuracy.iloc[-1]
    assert gap_small > 0.25 and abs(gap_fresh) < 0.1


def test_fixed_training_set_is_visited_in_epochs():
    stream = train._TrainStream(TASK, [0, 1], batch_size=4, train_size=8)
    seen = [stream.next() for _ in range(2)]
    x = torch.cat([s[0].view(2, 4, 10, 5) for s in seen], dim=1)  # (members, 8, n, d)
    for e in range(2):
        # One epoch covers each training sample exactly once.
        got = sorted(map(tuple, x[e].flatten(1).tolist()))
        assert got == sorted(map(tuple, stream.x[e].flatten(1).tolist()))
    assert not torch.equal(stream.x[0], stream.x[1])


def test_ensemble_members_match_solo_runs():
    seeds = [0, 1, 2]
    ens = build(members=3)
    solos = []
    for e, s in enumerate(seeds):
        solo = build()
        with torch.no_grad():
            for name, p in solo.named_parameters():
                p.copy_(ens.get_parameter(name)[e])
        solos.append(train.fit(solo, TASK, seed=s, **QUICK))
    h = train.fit(ens, TASK, seeds=seeds, **QUICK)
    for e, solo in enumerate(solos):
        member = h[h.member == e].reset_index(drop=True)
        assert member.seed.eq(seeds[e]).all()
        for col in ("train_loss", "test_loss", "test_accuracy", "grad_norm"):
            torch.testing.assert_close(torch.tensor(member[col].values), torch.tensor(solo[col].values),
                                       rtol=1e-4, atol=1e-5)


def test_probabilities_loss_and_saturation():
    # The original recipe: N(0,1) init, sums, Sigmoid + BCELoss. Its outputs saturate at once.
    model = models.deepsets(5, 10, reduction="sum", init="original", probabilities=True)
    h = train.fit(model, TASK, loss="probabilities", **QUICK)
    assert h.test_saturated.iloc[0] > 0.5
    fixed = train.fit(build(), TASK, **QUICK)
    assert fixed.test_saturated.iloc[-1] < 0.05


def test_original_model_runs_through_fit():
    model = original.first_experiment_model(5)
    h = train.fit(model, TASK, loss="probabilities", **QUICK)
    assert len(h) == 2


def test_num_threads_is_restored():
    before = torch.get_num_threads()
    train.fit(build(), TASK, num_threads=1, **QUICK)
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(steps=0), ValueError, "steps must be a positive int, got 0"),
    (dict(batch_size=-2), ValueError, "batch_size must be a positive int"),
    (dict(lr=0), ValueError, "lr must be a positive number"),
    (dict(train_size=0), ValueError, "train_size must be a positive int or None"),
    (dict(loss="mse"), ValueError, "loss must be one of"),
    (dict(seeds=[1, 2]), ValueError, "ensemble of 1; seeds must have 1 entries, got 2"),
])
def test_bad_fit_arguments(kwargs, error, match):
    args = dict(QUICK, **kwargs)
    with pytest.raises(error, match=match):
        train.fit(build(), TASK, **args)


def test_bad_model_or_task():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        train.fit(lambda x: x, TASK, **QUICK)
    with pytest.raises(TypeError, match="task must have a sample"):
        train.fit(build(), object(), **QUICK)
    with pytest.raises(ValueError, match=r"one value per sample, shape \(16,\) or \(16, 1\), got \(16, 10, 6\)"):
        train.fit(layers.PermEquivariantLinear(5, 6), TASK, **QUICK)
