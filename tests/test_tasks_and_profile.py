import math

import pytest
import torch

from symlib import data, groups, models, profile, symmetrize
from symlib.experiments import Config, build_model, make_task


def mvn_llr(task, x):
    flat = x.reshape(len(x), -1).double()
    p1 = torch.distributions.MultivariateNormal(torch.zeros(task.n * task.d, dtype=torch.float64), task.cov)
    p0 = torch.distributions.MultivariateNormal(torch.zeros(task.n * task.d, dtype=torch.float64),
                                                torch.eye(task.n * task.d, dtype=torch.float64))
    return p1.log_prob(flat) - p0.log_prob(flat)


@pytest.mark.parametrize("task", [data.ring_task(6, 2, 0.3), data.pair_task(4, 3, -0.5)], ids=["ring", "pair"])
def test_bayes_predict_is_log_likelihood_ratio(task):
    x, _ = task.sample(50, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(task.bayes_predict(x.double()), mvn_llr(task, x), rtol=1e-9, atol=1e-9)


def test_class_one_has_the_stated_covariance():
    task = data.ring_task(5, 1, 0.3)
    x, y = task.sample(100_000, generator=torch.Generator().manual_seed(1))
    emp = torch.cov(x[y == 1].reshape(-1, 5).double().T)
    assert (emp - task.cov).abs().max() < 0.03
    assert (torch.cov(x[y == 0].reshape(-1, 5).double().T) - torch.eye(5)).abs().max() < 0.03


def test_task_symmetries_are_the_stated_groups():
    # The law of class 1 is invariant exactly under the groups the chapter builds in.
    def invariant(task, group):
        n, d = task.n, task.d
        for g in group.generators:
            index = (g[:, None] * d + torch.arange(d)).reshape(-1)  # permute elements, keep coordinates
            if not torch.equal(task.cov[index][:, index], task.cov):
                return False
        return True

    ring = data.ring_task(7, 2, 0.2)
    assert invariant(ring, groups.dihedral(7)) and invariant(ring, groups.cyclic(7))
    assert not invariant(ring, groups.symmetric(7))
    assert invariant(data.pair_task(5, 2, 0.4), groups.symmetric(5))


def test_monte_carlo_optimum_is_reproducible_with_error():
    a, b = data.ring_task(6, 2, 0.3), data.ring_task(6, 2, 0.3)
    assert a.bayes_accuracy() == b.bayes_accuracy()
    assert 0 < a.bayes_accuracy_se < 0.002
    assert data.ring_task(6, 2, 0.45).bayes_accuracy() > a.bayes_accuracy() > 0.5


def test_make_task_is_shared_across_runs():
    c = Config(task="ring", n=6, d=2, rho=0.3, steps=10)
    assert make_task(c) is make_task(c.replace(lr=0.5, approach="dense", seed=3))


def test_orbit_model_for_each_group():
    for group in ("cyclic", "dihedral", "symmetric"):
        base = Config(approach="orbit", group=group, n=6, d=2, width=4, steps=10)
        model = build_model([base, base.replace(seed=1)])
        out = model(torch.randn(2 * 3, 6, 2))
        assert out.shape == (6, 1)


@pytest.mark.parametrize("kwargs,match", [
    (dict(n=2, d=2, rho=0.1), "ring needs n >= 3"), (dict(n=5, d=2, rho=0.5), r"\|rho\| < 0.5"),
])
def test_bad_ring_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.ring_task(**kwargs)


def test_bad_covariance_and_pair_parameters():
    with pytest.raises(ValueError, match="pair_task needs d >= 2"):
        data.pair_task(5, 1, 0.3)
    with pytest.raises(ValueError, match=r"cov must have shape \(4, 4\)"):
        data.GaussianCovarianceTask(torch.eye(3), 2, 2)
    with pytest.raises(ValueError, match="positive definite"):
        data.GaussianCovarianceTask(-torch.eye(4), 2, 2)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 4, 2\)"):
        data.pair_task(4, 2, 0.3).bayes_predict(torch.randn(3, 5, 2))


def test_growth_exponent_recovers_power_laws():
    sizes = [2, 4, 8, 16]
    assert profile.growth_exponent(sizes, [s ** 2 * 3 for s in sizes]) == pytest.approx(2.0)
    assert 1.1 < profile.growth_exponent(sizes, [s * math.log(s) for s in sizes]) < 2.0
    with pytest.raises(ValueError, match="at least two positive"):
        profile.growth_exponent([1], [1.0])


def test_checkpointing_bounds_group_average_memory():
    x = torch.randn(8, 5, 2)
    base = models.dense(5, 2, 8)
    plain = profile.saved_activation_bytes(symmetrize.GroupAverage(base, groups.symmetric(5), chunk_size=20), x)
    ckpt = symmetrize.GroupAverage(base, groups.symmetric(5), chunk_size=20, checkpoint=True)
    assert profile.saved_activation_bytes(ckpt, x) < plain / 20
    # Same values and gradients with and without checkpointing.
    ref = symmetrize.GroupAverage(base, groups.symmetric(5), chunk_size=20)
    g1 = torch.autograd.grad(ref(x).sum(), list(base.parameters()))
    g2 = torch.autograd.grad(ckpt(x).sum(), list(base.parameters()))
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b)


def test_step_seconds_is_positive_and_finite():
    assert 0 < profile.step_seconds(models.deepsets(2, 4), torch.randn(4, 5, 2), min_run_time=0.05) < 5


def test_affine_fit_separates_fixed_and_per_unit_cost():
    fixed, per_unit = profile.affine_fit([1, 4, 16, 64], [2.0 + 0.5 * m for m in (1, 4, 16, 64)])
    assert fixed == pytest.approx(2.0) and per_unit == pytest.approx(0.5)
    with pytest.raises(ValueError, match="distinct sizes"):
        profile.affine_fit([2, 2], [1.0, 2.0])


def test_cost_table_gives_up_on_slow_approaches():
    builders = {"fast": lambda n: models.deepsets(2, 4), "absent": lambda n: None,
                "slow": lambda n: models.dense(n, 2, 64)}
    table = profile.cost_table(builders, [3, 4, 5], lambda n: torch.randn(8, n, 2), give_up_after=1e-9,
                               min_run_time=0.01)
    assert set(table.approach) == {"fast", "slow"}
    assert (table.groupby("approach").n.max() == 3).all()  # both exceed 1 ns, so each is measured once
    assert (table.memory_mb > 0).all()


def test_parameter_count_counts_each_bias_once():
    # deepsets(5, 10): alpha, beta (5x10, 10x10 twice each), read-out alpha (10x1), and one bias per
    # output channel (10 + 10 + 1): the (in, out) bias arrays only matter through their column sums.
    model = models.deepsets(5, 10)
    weights = 2 * 5 * 10 + 2 * 10 * 10 + 10 * 1
    assert models.parameter_count(model) == weights + 10 + 10 + 1
    assert models.parameter_count(model, effective=False) == weights + 5 * 10 + 10 * 10 + 10 * 1
    assert models.parameter_count(models.deepsets(5, 10, ensemble_size=3)) == models.parameter_count(model)
