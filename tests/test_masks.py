"""Sets of any size: masks in the S_n layers, SetSequential, the wrappers, the variable-size task and fit.

Every masked layer and wrapper, in float64: outputs on present elements and pooled outputs do not
depend on the content of padded slots (zeros, random values, 1e30, NaN) nor on their position; a
padded batch gives each set what it gives alone; an empty set gives a defined output; gradients
never read padding; masks compile with fullgraph, with one compilation per bucket length.
"""

import copy
import itertools
import math

import pytest
import torch
from scipy import stats
from torch import nn

from conftest import rand64
from symlib import check_equivariance, data, experiments, groups, layers, models, symmetrize, train

N = 6  # padded length
SIZES = [6, 1, 3, 4, 2, 5]  # one set of each size, in a mixed order
C = 3
POOLS = ["sum", "mean", "max"]


class Positional(nn.Module):
    """A mask-aware model that is NOT permutation invariant: sum_k w[k] tanh(x_(k) . v) over the
    present elements x_(k) in their order (k = rank among present elements). It depends only on the
    present elements in order, so it is exact under padding, and it makes every wrapper's symmetry
    a real test (a wrapper that failed to symmetrize would show)."""

    accepts_mask = True

    def __init__(self, channels=C, n=N, seed=7):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(torch.randn(n, generator=g, dtype=torch.float64))
        self.v = nn.Parameter(torch.randn(channels, 1, generator=g, dtype=torch.float64))

    def forward(self, x, mask=None):
        if mask is None:
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        keep = mask.unsqueeze(-1)
        h = torch.tanh(torch.where(keep, x, 0) @ self.v)  # (B, n, 1)
        rank = (mask.long().cumsum(dim=1) - 1).clamp_min(0)
        return torch.where(keep, h * self.w[rank].unsqueeze(-1), 0).sum(dim=1)  # (B, 1)


def the_sets(sizes=SIZES, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(k, C, generator=g, dtype=torch.float64) * 2 for k in sizes]


FILLS = {
    "zeros": lambda shape, g: torch.zeros(shape, dtype=torch.float64),
    "random": lambda shape, g: torch.randn(shape, generator=g, dtype=torch.float64) * 5,
    "huge": lambda shape, g: torch.full(shape, 1e30, dtype=torch.float64),
    "nan": lambda shape, g: torch.full(shape, math.nan, dtype=torch.float64),
}


def pad(sets, n=N, fill="zeros", layout="front", seed=1):
    """Sets -> x (B, n, C), mask (B, n), slots (each set's slots, in the order of its elements).

    layout "front": present elements in the first slots; "scattered": at random slots, their order
    kept; "shuffled": at random slots, in a random order."""
    g = torch.Generator().manual_seed(seed)  # the layout's draws: the same whatever the fill
    x = FILLS[fill]((len(sets), n, C), torch.Generator().manual_seed(seed + 1000))
    mask = torch.zeros(len(sets), n, dtype=torch.bool)
    slots = []
    for b, s in enumerate(sets):
        if layout == "front":
            where = list(range(len(s)))
        else:
            where = sorted(torch.randperm(n, generator=g)[:len(s)].tolist())
            if layout == "shuffled":
                where = [where[i] for i in torch.randperm(len(s), generator=g).tolist()]
        x[b, where] = s
        mask[b, where] = True
        slots.append(where)
    return x, mask, slots


def fresh(model):
    """A copy with the same parameters and random-stream state: the same draws on every call."""
    return copy.deepcopy(model)


def run(model, x, mask=None):
    m = fresh(model)
    return m(x) if mask is None else m(x, mask=mask)


def built(make, seed=0):
    torch.manual_seed(seed)
    return make().double()


# -- the subjects -------------------------------------------------------------------------------
# name -> (factory, kind, how to compute a set alone, exact under reordering of present elements)
# kind: "equivariant" (B, n, out) or "invariant". alone(model, s) gives the set's reference output;
# for random wrappers around a non-invariant model there is none (their draws depend on the batch).


def eq(pool):
    return lambda: layers.PermEquivariantLinear(C, 4, pool=pool)


def inv(pool):
    return lambda: layers.PermInvariantLinear(C, 2, pool=pool)


def deepsets(pool="sum"):
    return lambda: models.deepsets(C, 5, pool=pool)


def alone_plain(model, s):
    return run(model, s[None])


def alone_average(model, s):
    return run(symmetrize.GroupAverage(model.model, groups.symmetric(len(s))), s[None])


def alone_inner(model, s):  # an invariant model inside a random wrapper: the draws do not matter
    return run(model.model, s[None])


SUBJECTS = {
    **{f"eq-{p}": (eq(p), "equivariant", alone_plain, True) for p in POOLS},
    **{f"inv-{p}": (inv(p), "invariant", alone_plain, True) for p in POOLS},
    **{f"deepsets-{p}": (deepsets(p), "invariant", alone_plain, True) for p in POOLS},
    "deepsets-mean-reduction": (lambda: models.deepsets(C, 5, reduction="mean", pool="max"), "invariant", alone_plain,
                                True),
    "setsequential-equivariant": (lambda: layers.SetSequential(layers.PermEquivariantLinear(C, 4), nn.ReLU(),
                                                               layers.PermEquivariantLinear(4, 2, pool="mean")),
                                  "equivariant", alone_plain, True),
    "canonicalize-positional": (lambda: symmetrize.Canonicalize(Positional()), "invariant", alone_plain, True),
    "canonicalize-deepsets": (lambda: symmetrize.Canonicalize(deepsets()()), "invariant", alone_plain, True),
    "sort-coordinates-positional": (lambda: symmetrize.SortCoordinates(Positional()), "invariant", alone_plain, True),
    "average-positional": (lambda: symmetrize.GroupAverage(Positional(), groups.symmetric(N), chunk_size=100),
                           "invariant", alone_average, True),
    "average-positional-checkpoint": (lambda: symmetrize.GroupAverage(Positional(), groups.symmetric(N),
                                                                      checkpoint=True), "invariant", alone_average,
                                      True),
    "sampled-deepsets": (lambda: symmetrize.SampledGroupAverage(deepsets()(), groups.symmetric(N), samples=3),
                         "invariant", alone_inner, True),
    "augment-deepsets": (lambda: symmetrize.Augment(deepsets()(), groups.symmetric(N)), "invariant", alone_inner,
                         True),
    "sampled-positional": (lambda: symmetrize.SampledGroupAverage(Positional(), groups.symmetric(N), samples=3),
                           "invariant", None, False),
    "augment-positional": (lambda: symmetrize.Augment(Positional(), groups.symmetric(N)), "invariant", None, False),
    "augment-positional-eval": (lambda: symmetrize.Augment(Positional(), groups.symmetric(N)).eval(), "invariant",
                                None, False),
}


def subject(name):
    make, kind, alone, reorder = SUBJECTS[name]
    model = built(make)
    if name.startswith(("sampled", "augment")) and not name.endswith("eval"):
        model.train()
    return model, kind, alone, reorder


# -- exact under padding -----------------------------------------------------------------------


@pytest.mark.parametrize("fill", ["random", "huge", "nan"])
@pytest.mark.parametrize("name", SUBJECTS)
def test_padding_content_changes_nothing(name, fill):
    model, kind, _, _ = subject(name)
    sets = the_sets()
    for layout in ("front", "scattered"):
        x0, mask, slots = pad(sets, fill="zeros", layout=layout)
        x1, _, _ = pad(sets, fill=fill, layout=layout)
        a, b = run(model, x0, mask), run(model, x1, mask)
        assert torch.isfinite(b).all()
        assert torch.equal(a, b), f"{layout}: padding content leaked into the output"
        if kind == "equivariant":
            assert (b[~mask] == 0).all(), "padded slots' outputs must be zero"


@pytest.mark.parametrize("name", SUBJECTS)
def test_padding_position_changes_nothing(name):
    model, kind, _, reorder = subject(name)
    sets = the_sets()
    x0, m0, s0 = pad(sets, fill="random", layout="front")
    # Padding anywhere, permuted together with the mask; elements reordered too where the model allows it.
    layouts = ("scattered", "shuffled") if reorder else ("scattered",)
    for layout in layouts:
        x1, m1, s1 = pad(sets, fill="nan", layout=layout, seed=5)
        a, b = run(model, x0, m0), run(model, x1, m1)
        if kind == "invariant":
            torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)
        else:
            for k in range(len(sets)):
                torch.testing.assert_close(b[k, s1[k]], a[k, s0[k]], rtol=1e-12, atol=1e-12)
            assert (b[~m1] == 0).all()


@pytest.mark.parametrize("name", [k for k, v in SUBJECTS.items() if v[2] is not None])
def test_padded_batch_equals_each_set_alone(name):
    model, kind, alone, _ = subject(name)
    sets = the_sets()
    x, mask, slots = pad(sets, fill="nan", layout="scattered")
    out = run(model, x, mask)
    for k, s in enumerate(sets):
        expected = alone(model, s)[0]
        got = out[k] if kind == "invariant" else out[k, slots[k]]
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10, msg=f"set {k} of size {len(s)}")


@pytest.mark.parametrize("name", ["sampled-positional", "augment-positional"])
def test_random_wrappers_give_a_sample_what_it_gets_alone_at_its_position(name):
    # The draws follow each sample's position in the member's stream, and depend on its present
    # elements only: set k alone, at its own stream position, gets exactly what it got in the batch.
    model, _, _, _ = subject(name)
    sets = the_sets()
    x, mask, slots = pad(sets, fill="nan", layout="scattered")
    out = run(model, x, mask)
    per_sample = model.group.random_words * (model.samples if hasattr(model, "samples") else 1)
    for k, s in enumerate(sets):
        xs, ms, _ = pad([s], fill="random", layout="front", seed=k)
        alone = fresh(model)
        alone.train_position.fill_(k * per_sample)
        torch.testing.assert_close(alone(xs, mask=ms)[0], out[k], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", SUBJECTS)
def test_empty_sets_are_defined(name):
    model, kind, _, _ = subject(name)
    sets = the_sets([3, 0, 0, 2])
    x, mask, _ = pad(sets, fill="nan", layout="scattered")
    out = run(model, x, mask)
    assert torch.isfinite(out).all()
    assert torch.equal(out[1], out[2]), "two empty sets give the same output"
    if kind == "equivariant":
        assert (out[1] == 0).all()


@pytest.mark.parametrize("pool", POOLS)
def test_empty_set_gives_the_biases(pool):
    x, mask, _ = pad(the_sets([0, 2]), fill="nan")
    inv_layer = built(inv(pool))
    torch.testing.assert_close(inv_layer(x, mask=mask)[0], inv_layer.b.sum(-2), rtol=0, atol=0)
    net = built(deepsets(pool))
    # Both equivariant layers give zeros on an empty set; the read-out then gives its bias.
    torch.testing.assert_close(net(x, mask=mask)[0], net[4].b.sum(-2), rtol=0, atol=0)
    # ... which is also what the network gives a set with no slots at all.
    torch.testing.assert_close(net(torch.zeros(1, 0, C, dtype=torch.float64))[0], net[4].b.sum(-2), rtol=0, atol=0)


@pytest.mark.parametrize("name", [k for k in SUBJECTS if not k.endswith("eval")])
def test_gradients_never_read_padding(name):
    # torch.where, never a product with the mask: NaN padding gives the zero-padding gradients exactly.
    model, _, _, _ = subject(name)
    sets = the_sets([3, 0, 5, 1])
    grads = []
    for fill in ("zeros", "nan"):
        m = fresh(model)
        x, mask, _ = pad(sets, fill=fill, layout="scattered")
        x.requires_grad_()
        m(x, mask=mask).pow(2).sum().backward()
        assert all(torch.isfinite(p.grad).all() for p in m.parameters())
        assert (x.grad[~mask] == 0).all()
        grads.append([x.grad[mask]] + [p.grad for p in m.parameters()])
    assert all(torch.equal(u, v) for u, v in zip(*grads))


# -- symmetry on present elements ----------------------------------------------------------------


def symmetric_on(slots, n=N):
    """S_k acting on the given slots only (the others fixed), as a group on n points."""
    swap, cycle = list(range(n)), list(range(n))
    swap[slots[0]], swap[slots[1]] = slots[1], slots[0]
    for i, j in zip(slots, slots[1:] + slots[:1]):
        cycle[i] = j
    return groups.from_generators([swap, cycle], n=n)


@pytest.mark.parametrize("name", [k for k, v in SUBJECTS.items() if v[3]])
def test_exact_symmetry_on_present_elements(name):
    # One mask shared by the batch; the permutations of its present slots fix it: check_equivariance.
    model, kind, _, _ = subject(name)
    slots = [0, 2, 3, 5]
    mask = torch.zeros(4, N, dtype=torch.bool)
    mask[:, slots] = True
    x = rand64(4, N, C, seed=3)
    x[~mask] = math.nan
    group = symmetric_on(slots)
    assert group.order() == 24
    check_equivariance(lambda t: run(model, t, mask), group, x, invariant=kind == "invariant", atol=1e-10)


@pytest.mark.parametrize("name", [k for k, v in SUBJECTS.items() if v[3]])
def test_any_permutation_of_all_slots_with_the_mask(name):
    model, kind, _, _ = subject(name)
    x, mask, _ = pad(the_sets(), fill="random", layout="scattered")
    out = run(model, x, mask)
    for g in groups.symmetric(N).sample(5, seed=4):
        moved = run(model, groups.act(x, g), groups.act(mask, g))
        expected = out if kind == "invariant" else groups.act(out, g)
        torch.testing.assert_close(moved, expected, rtol=1e-10, atol=1e-10)


# -- pooling -----------------------------------------------------------------------------------


def pooled_reference(x, mask, pool):
    rows = []
    for b in range(len(x)):
        present = x[b][mask[b]]
        if len(present) == 0:
            rows.append(torch.zeros(x.shape[2], dtype=x.dtype))
        else:
            rows.append({"sum": present.sum(0), "mean": present.mean(0), "max": present.max(0).values}[pool])
    return torch.stack(rows)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("pool", POOLS)
def test_pooling_matches_a_loop(pool, reduction):
    x, mask, _ = pad(the_sets([3, 0, 6, 1]), fill="nan", layout="scattered")
    scale = 1 / C if reduction == "mean" else 1.0
    inv_layer = built(lambda: layers.PermInvariantLinear(C, 2, pool=pool, reduction=reduction))
    p = pooled_reference(x, mask, pool)
    expected = (p @ inv_layer.alpha + inv_layer.b.sum(0)) * scale
    torch.testing.assert_close(inv_layer(x, mask=mask), expected, rtol=1e-12, atol=1e-12)
    eq_layer = built(lambda: layers.PermEquivariantLinear(C, 4, pool=pool, reduction=reduction))
    xz = torch.where(mask.unsqueeze(-1), x, 0)
    expected = (xz @ eq_layer.alpha + (p @ eq_layer.beta + eq_layer.b.sum(0)).unsqueeze(1)) * scale
    torch.testing.assert_close(eq_layer(x, mask=mask), torch.where(mask.unsqueeze(-1), expected, 0),
                               rtol=1e-12, atol=1e-12)
    # Unmasked, the same rules over the whole set; an all-True mask computes the same.
    full = rand64(3, 5, C)
    every = torch.ones(3, 5, dtype=torch.bool)
    torch.testing.assert_close(inv_layer(full), inv_layer(full, mask=every), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(inv_layer(full), (pooled_reference(full, every, pool) @ inv_layer.alpha
                                                 + inv_layer.b.sum(0)) * scale, rtol=1e-12, atol=1e-12)


def test_pool_and_reduction_are_separate():
    # reduction divides by in_channels; pool chooses the rule over the set: the two compose.
    x, mask, _ = pad(the_sets([4, 2]), fill="random")
    torch.manual_seed(0)
    summed = layers.PermInvariantLinear(C, 2, pool="mean", init="original").double()
    torch.manual_seed(0)
    averaged = layers.PermInvariantLinear(C, 2, pool="mean", init="original", reduction="mean").double()
    torch.testing.assert_close(averaged(x, mask=mask), summed(x, mask=mask) / C, rtol=1e-12, atol=1e-12)
    assert repr(averaged).endswith("reduction='mean', init='original', pool='mean')")
    assert "pool" not in repr(layers.PermInvariantLinear(C, 2))  # the default, unchanged repr


def test_set_size_shrinks_only_summed_pooling():
    torch.manual_seed(0)
    summed = layers.PermEquivariantLinear(8, 8, set_size=100)
    torch.manual_seed(0)
    mean = layers.PermEquivariantLinear(8, 8, set_size=100, pool="mean")
    # Same draws, the sum's beta is 100 times narrower: a mean does not grow with n.
    torch.testing.assert_close(summed.beta * 100, mean.beta)
    torch.testing.assert_close(summed.alpha, mean.alpha)


def test_max_pool_ignores_padding_even_below_zero():
    # A set of negative numbers has a negative max: padded zeros (or the -inf fill) must not show.
    layer = layers.PermInvariantLinear(1, 1, pool="max").double()
    with torch.no_grad():
        layer.alpha.fill_(1.0)
        layer.b.zero_()
    x = torch.tensor([-3.0, -1.0, 0.0, 7.0], dtype=torch.float64).view(1, 4, 1)
    assert layer(x, mask=torch.tensor([[True, True, False, False]])).item() == -1.0
    assert layer(x, mask=torch.tensor([[False, False, False, False]])).item() == 0.0  # empty: defined as 0


# -- ensembles ---------------------------------------------------------------------------------


def test_masked_ensemble_members_are_their_solo_layers():
    members = 3
    ens = built(lambda: models.deepsets(C, 4, ensemble_size=members, pool="mean"))
    solo = built(lambda: models.deepsets(C, 4, pool="mean"))
    x, mask, _ = pad(the_sets([4, 1, 6, 0, 2, 3]), fill="nan", layout="scattered")
    out = ens(x, mask=mask)
    for e in range(members):
        with torch.no_grad():
            for name, p in solo.named_parameters():
                p.copy_(ens.get_parameter(name)[e])
        rows = slice(2 * e, 2 * e + 2)
        torch.testing.assert_close(out[rows], solo(x[rows], mask=mask[rows]), rtol=1e-12, atol=1e-12)


# -- the random wrappers' draws -----------------------------------------------------------------


def test_draws_permute_present_elements_only_and_uniformly():
    wrapper = symmetrize.SampledGroupAverage(Positional(), groups.symmetric(N), seed=3)
    mask = torch.zeros(2000, N, dtype=torch.bool)
    mask[:, [1, 3, 4]] = True
    perms = wrapper._sample_present(mask, 4)  # (2000, 4, N)
    assert (perms[..., [0, 2, 5]] == torch.tensor([0, 2, 5])).all(), "padded slots stay in place"
    assert torch.equal(perms.sort(dim=-1).values, torch.arange(N).expand_as(perms))
    # The 3! orders of the present elements are equally likely (chi-squared, 8,000 draws).
    orders = perms[..., [1, 3, 4]].reshape(-1, 3)
    counts = torch.unique(orders, dim=0, return_counts=True)[1]
    assert len(counts) == 6 and stats.chisquare(counts.numpy()).pvalue > 1e-3


def test_an_all_true_mask_draws_the_unmasked_permutations():
    for cls in (symmetrize.SampledGroupAverage, symmetrize.Augment):
        model = built(lambda: cls(Positional(), groups.symmetric(N))).train()
        x = rand64(5, N, C)
        a = run(model, x)
        b = run(model, x, torch.ones(5, N, dtype=torch.bool))
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_sampled_average_has_the_set_alone_law():
    # Permuting present elements only, or all slots with the mask carried along (GroupAverage's rule),
    # gives each set a uniform order of its present elements: the sampled average estimates the exact
    # S_k average of the set alone, within Monte Carlo error.
    inner = Positional()
    s = the_sets([4], seed=9)[0]
    x, mask, _ = pad([s], fill="nan", layout="scattered")
    values = torch.stack([inner(s[list(p)][None])[0] for p in itertools.permutations(range(4))])
    exact = values.mean(0)
    m = 20_000
    sampled = symmetrize.SampledGroupAverage(inner, groups.symmetric(N), eval_samples=m, seed=1).eval()
    estimate = sampled(x, mask=mask)[0]
    assert ((estimate - exact).abs() <= 5 * values.std(0) / m ** 0.5).all()
    carried = symmetrize.GroupAverage(inner, groups.symmetric(N))(x, mask=mask)[0]
    torch.testing.assert_close(carried, exact, rtol=1e-12, atol=1e-12)


def test_canonicalize_puts_present_elements_first_deterministically():
    x, mask, _ = pad(the_sets([3, 5]), fill="nan", layout="scattered")
    order = symmetrize.canonical_order(x, mask)
    sorted_mask = torch.gather(mask, 1, order)
    assert torch.equal(sorted_mask, torch.arange(N) < mask.sum(1, keepdim=True))
    xs = groups.act(x, order)
    for b in range(2):
        present = xs[b, sorted_mask[b]]
        assert torch.equal(present, present[symmetrize.canonical_order(present[None])[0]])
    assert torch.equal(order, symmetrize.canonical_order(x, mask)), "deterministic"
    # Padding last, in its input order; its content (here NaN against random) plays no part.
    y = x.clone()
    y[~mask] = 1e30
    assert torch.equal(order, symmetrize.canonical_order(y, mask))


# -- torch.compile --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SUBJECTS)
def test_compiles_with_masks(name):
    torch._dynamo.reset()
    model, _, _, _ = subject(name)
    x, mask, _ = pad(the_sets(), fill="nan", layout="scattered")
    expected = run(model, x, mask)
    compiled = torch.compile(fresh(model), backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(compiled(x, mask=mask), expected, rtol=1e-12, atol=1e-12)
    compiled(x, mask=mask).sum().backward()


@pytest.mark.parametrize("dynamic", [False, None], ids=["static", "default"])
def test_one_compilation_per_bucket(dynamic):
    torch._dynamo.reset()
    compilations = []

    def counting(gm, example_inputs):
        compilations.append(tuple(t.shape for t in example_inputs if isinstance(t, torch.Tensor)))
        return gm.forward

    model = models.deepsets(5, 8, pool="mean")
    compiled = torch.compile(model, backend=counting, fullgraph=True, dynamic=dynamic)
    buckets = (6, 11, 16)
    g = torch.Generator().manual_seed(0)
    seen = set()
    for step in range(18):
        task = data.VariableSizeVarianceTask(1, int(torch.randint(2, 17, (1,), generator=g)), 5)
        x, mask, y = task.sample(16, g)
        x, mask = data.trim_padding(x, mask, buckets)
        seen.add(x.shape[1])
        out = compiled(x, mask=mask)
        torch.nn.functional.binary_cross_entropy_with_logits(out[:, 0], y).backward()
        torch.testing.assert_close(out, model(x, mask=mask))
    assert seen == set(buckets), "the loop must visit every bucket"
    assert 1 <= len(compilations) <= len(buckets)
    if dynamic is False:
        assert len(compilations) == len(buckets)


# -- the variable-size task ------------------------------------------------------------------------


def test_variable_size_task_samples():
    task = data.VariableSizeVarianceTask(3, 9, 2, dtype=torch.float64)
    x, mask, y = task.sample(40_000, seed=0)
    assert x.shape == (40_000, 9, 2) and mask.shape == (40_000, 9) and y.shape == (40_000,)
    assert mask.dtype == torch.bool and x.dtype == y.dtype == torch.float64
    sizes = mask.sum(1)
    assert torch.equal(mask, torch.arange(9) < sizes[:, None]), "each set fills its first slots"
    assert (x[~mask] == 0).all()
    counts = torch.bincount(sizes, minlength=10)[3:]
    assert (counts > 0).all() and stats.chisquare(counts.numpy()).pvalue > 1e-3  # n ~ U{3..9}
    assert torch.equal(torch.bincount(sizes)[:3], torch.zeros(3, dtype=torch.long))
    again = task.sample(40_000, seed=0)
    assert all(torch.equal(a, b) for a, b in zip((x, mask, y), again))
    empty = task.sample(0)
    assert empty[0].shape == (0, 9, 2) and empty[1].shape == (0, 9)
    assert task.n == 9 and list(task.sizes) == list(range(3, 10))
    assert repr(task) == "VariableSizeVarianceTask(n_min=3, n_max=9, d=2, var0=1.0, var1=0.8, dtype=torch.float64)"


def test_variable_size_task_without_masks_is_the_same_draw_zero_padded():
    masked = data.VariableSizeVarianceTask(3, 9, 2)
    naive = data.VariableSizeVarianceTask(3, 9, 2, masks=False)
    x, mask, y = masked.sample(500, seed=4)
    nx, ny = naive.sample(500, seed=4)
    assert torch.equal(x, nx) and torch.equal(y, ny) and (nx[~mask] == 0).all()
    assert repr(naive).endswith("masks=False)") and not naive.masked
    with pytest.raises(TypeError, match=r"masks must be a bool, got 1\b"):
        data.VariableSizeVarianceTask(3, 9, 2, masks=1)


def test_config_runs_the_variable_size_task_with_each_pool():
    base = dict(approach="deepsets", task="variable_variance", n=9, n_min=3, train_size=256, epochs=2, min_steps=4,
                test_size=200, val_fraction=0.25)
    for pool in POOLS:
        model = experiments.build_model(experiments.Config(pool=pool, **base))
        assert all(layer.pool == pool for layer in model if hasattr(layer, "pool"))
    task = experiments.make_task(experiments.Config(masks=False, **base))
    assert isinstance(task, data.VariableSizeVarianceTask) and not task.masked and task.n_min == 3
    history = experiments.run(experiments.Config(**base))
    assert history.test_accuracy.notna().any()


def test_variable_size_task_optimum_is_exact():
    task = data.VariableSizeVarianceTask(2, 30, 5)
    by_size = task.bayes_accuracy_by_size()
    assert list(by_size) == list(range(2, 31))
    assert all(a < b for a, b in zip(list(by_size.values()), list(by_size.values())[1:])), "rises with n"
    assert by_size[10] == data.bayes_accuracy(10, 5)
    assert task.bayes_accuracy() == pytest.approx(sum(by_size.values()) / 29, abs=1e-15)
    # The mask-aware optimal classifier attains it (Monte Carlo, 4 standard errors).
    x, mask, y = task.sample(200_000, seed=1)
    accuracy = ((task.bayes_predict(x, mask) > 0).float() == y).float().mean().item()
    assert abs(accuracy - task.bayes_accuracy()) < 4 * math.sqrt(0.25 / len(y))


def test_bayes_predict_with_a_mask_is_each_set_alone():
    sets = the_sets()
    x, mask, _ = pad(sets, fill="nan", layout="shuffled")
    logits = data.bayes_predict(x, 1.3, 0.6, mask=mask)
    for k, s in enumerate(sets):
        torch.testing.assert_close(logits[k], data.bayes_predict(s[None], 1.3, 0.6)[0], rtol=1e-12, atol=1e-12)
    empty = data.bayes_predict(torch.zeros(1, 3, 2), mask=torch.zeros(1, 3, dtype=torch.bool))
    assert empty.item() == 0.0  # no evidence: equal odds


def test_trim_padding():
    x, mask, slots = pad(the_sets([2, 4, 1]), fill="nan", layout="scattered")
    tx, tm = data.trim_padding(x, mask)
    assert tx.shape == (3, 4, C) and torch.equal(tm, torch.arange(4) < torch.tensor([[2], [4], [1]]))
    for b, where in enumerate(slots):  # present elements first, their relative order kept
        assert torch.equal(tx[b, :len(where)], x[b, sorted(where)])
    bx, bm = data.trim_padding(x, mask, lengths=[3, 5, 8])
    assert bx.shape == (3, 5, C) and bm[:, 4].sum() == 0
    wide, wide_mask = data.trim_padding(x, mask, lengths=[8])
    assert wide.shape == (3, 8, C) and wide_mask.sum() == mask.sum()
    net = built(deepsets())
    torch.testing.assert_close(net(bx, mask=bm), net(x, mask=mask), rtol=1e-12, atol=1e-12)


# -- training ---------------------------------------------------------------------------------------

def test_fit_on_mixed_sizes_learns_and_evaluate_takes_the_mask():
    task = data.VariableSizeVarianceTask(2, 12, 5)
    torch.manual_seed(0)
    model = models.deepsets(5, 16, pool="sum", set_size=7)
    h = train.fit(model, task, steps=600, batch_size=64, test_size=4000, val_size=500, eval_every=200)
    chosen = h[h.selected]
    assert len(chosen) == 1 and chosen.test_accuracy.item() > 0.6  # chance 0.5, Bayes 0.665
    assert chosen.test_accuracy.item() < task.bayes_accuracy() + 4 * math.sqrt(0.25 / 4000)
    x, mask, y = task.sample(4000, generator=torch.Generator().manual_seed(train.TEST_SEED))
    scored = train.evaluate(model, x, y, mask=mask, batch_size=512)
    assert scored.accuracy.item() == pytest.approx(chosen.test_accuracy.item(), abs=1e-12)
    # The padding's content does not matter to the scores either.
    x[~mask] = math.nan
    assert train.evaluate(model, x, y, mask=mask).accuracy.item() == scored.accuracy.item()


@pytest.mark.parametrize("pool", POOLS)
@pytest.mark.parametrize("activation", [nn.ReLU, nn.GELU, nn.Tanh, nn.Sigmoid, nn.Identity, nn.ReLU6, nn.Softplus])
def test_set_sequential_shortcuts_change_no_number(activation, pool):
    # SetSequential skips re-zeroing padded slots it knows are zeros (and masking a max after a ReLU);
    # the same layers called one by one, each zeroing its input with a where, give the same outputs to
    # the bit, and the same gradients (to the last ulp only: an upstream gradient that is a broadcast
    # in one path and a where's output in the other sends GELU's backward down another kernel loop).
    torch.manual_seed(0)
    net = layers.SetSequential(layers.PermEquivariantLinear(C, 4, pool=pool), activation(),
                               layers.PermEquivariantLinear(4, 4, pool=pool), activation(), nn.Dropout(0.0),
                               layers.PermInvariantLinear(4, 2, pool=pool)).double()
    x, mask, _ = pad(the_sets([3, 0, 6, 1]), fill="nan", layout="scattered")
    results = []
    for chained in (True, False):
        for p in net.parameters():
            p.grad = None
        h = x
        if chained:
            h = net(h, mask=mask)
        else:
            for module in net:
                h = module(h, mask=mask) if layers.accepts_mask(module) else module(h)
        h.pow(2).sum().backward()
        results.append([h.detach()] + [p.grad.clone() for p in net.parameters()])
    assert torch.equal(results[0][0], results[1][0])
    for a, b in zip(results[0][1:], results[1][1:]):
        torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-15)


def test_set_sequential_calls_every_child_through_its_hooks():
    # The masked path calls each child as a module (never a private method behind its back), so forward
    # hooks (activation_scales, profilers) see every layer, with or without a mask.
    net = built(deepsets("max"))
    seen = []
    for i, module in enumerate(net):
        module.register_forward_hook(lambda mod, inp, out, i=i: seen.append(i))
    x, mask, _ = pad(the_sets(), fill="nan")
    net(x, mask=mask)
    net(x)
    assert seen == list(range(len(net))) * 2
