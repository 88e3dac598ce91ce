import math

import pytest
import torch
from scipy import stats

from symlib import groups

ORDERS = [
    *[(groups.symmetric(n), math.factorial(n)) for n in range(1, 9)],
    *[(groups.alternating(n), max(1, math.factorial(n) // 2)) for n in range(3, 8)],
    *[(groups.cyclic(n), n) for n in range(1, 10)],
    *[(groups.dihedral(n), 2 * n) for n in range(3, 10)],
    (groups.trivial(5), 1),
    (groups.product(groups.cyclic(4), groups.symmetric(3)), 24),
    (groups.product(groups.dihedral(5), groups.alternating(4)), 120),
]


@pytest.mark.parametrize("group,order", ORDERS, ids=lambda v: getattr(v, "name", str(v)))
def test_order(group, order):
    assert group.order() == order


def _as_set(perms):
    return {tuple(p) for p in perms.tolist()}


@pytest.mark.parametrize("group", [g for g, order in ORDERS if order <= 5040], ids=lambda g: g.name)
def test_elements_distinct_closed_and_in_group(group):
    e = group.elements()
    assert e.shape == (group.order(), group.n)
    elements = _as_set(e)
    assert len(elements) == group.order()
    assert tuple(range(group.n)) in elements
    # Closed under composition with every generator (which, with finiteness, makes it a group).
    for g in group.generators:
        assert _as_set(groups.compose(e, g)) == elements
        assert _as_set(groups.compose(g.expand_as(e), e)) == elements


def test_action_convention_and_composition():
    x = torch.arange(5.0).view(1, 5, 1) * 10
    p = torch.tensor([2, 0, 1, 4, 3])
    q = torch.tensor([4, 3, 2, 1, 0])
    # out[:, i] = x[:, p[i]]
    assert groups.act(x, p).flatten().tolist() == [20, 0, 10, 40, 30]
    assert torch.equal(groups.act(groups.act(x, p), q), groups.act(x, groups.compose(p, q)))
    assert torch.equal(groups.act(groups.act(x, p), groups.inverse(p)), x)


def test_batched_action_matches_per_sample():
    x = torch.randn(6, 5, 3)
    perms = groups.symmetric(5).sample(6, generator=torch.Generator().manual_seed(1))
    expected = torch.stack([x[i, perms[i]] for i in range(6)])
    assert torch.equal(groups.act(x, perms), expected)


def test_contains():
    a4 = groups.alternating(4)
    assert a4.contains(torch.tensor([1, 2, 0, 3]))  # a 3-cycle is even
    assert not a4.contains(torch.tensor([1, 0, 2, 3]))  # a transposition is odd
    c5 = groups.cyclic(5)
    assert c5.contains([2, 3, 4, 0, 1])
    assert not c5.contains([1, 0, 2, 3, 4])


@pytest.mark.parametrize("group", [groups.symmetric(4), groups.PermutationGroup(groups.symmetric(4).generators)],
                         ids=["fast-path", "schreier-sims"])
def test_sample_is_uniform(group):
    # Chi-squared goodness of fit over all 24 elements of S_4, both sampling paths.
    samples = group.sample(48_000, generator=torch.Generator().manual_seed(0))
    index = {p: i for i, p in enumerate(sorted(_as_set(group.elements())))}
    counts = torch.bincount(torch.tensor([index[tuple(p)] for p in samples.tolist()]), minlength=24)
    assert len(counts) == 24
    assert stats.chisquare(counts.numpy()).pvalue > 1e-3


def test_sample_members_of_group():
    g = groups.dihedral(7)
    elements = _as_set(g.elements())
    assert _as_set(g.sample(500, generator=torch.Generator().manual_seed(0))) <= elements


def test_sample_never_enumerates_large_groups():
    for g in (groups.symmetric(20), groups.PermutationGroup(groups.symmetric(20).generators),
              groups.alternating(20)):
        s = g.sample(64, generator=torch.Generator().manual_seed(0))
        assert s.shape == (64, 20)
        assert torch.equal(s.sort(dim=1).values, torch.arange(20).expand(64, 20))
        with pytest.raises(ValueError, match="SampledGroupAverage|sample"):
            g.elements()


def test_sample_is_reproducible():
    g = groups.dihedral(9)
    a = g.sample(10, generator=torch.Generator().manual_seed(3))
    b = g.sample(10, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_product_blocks():
    g = groups.product(groups.cyclic(3), groups.cyclic(2))
    assert g.n == 5
    for p in g.elements():
        assert set(p[:3].tolist()) == {0, 1, 2} and set(p[3:].tolist()) == {3, 4}


@pytest.mark.parametrize("gens,match", [
    ([[0, 0, 1]], "not a permutation"),
    ([[0, 1, 3]], "not a permutation"),
    (torch.tensor([[0.0, 1.0, 2.0]]), "integers"),
    ([[0, 1, 2], [0, 1]], "mixed lengths"),
    ([[1, 0, 2, 3]], "length 4, expected n=3"),
    ([[[0, 1]]], "one-dimensional"),
])
def test_bad_generators(gens, match):
    with pytest.raises(ValueError, match=match):
        groups.from_generators(gens, n=3 if match.startswith("length") else None)


def test_bad_group_arguments():
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="n must be a positive int"):
            groups.symmetric(bad)
    with pytest.raises(ValueError, match="n is required"):
        groups.from_generators([])
    with pytest.raises(ValueError, match="k must be"):
        groups.cyclic(4).sample(-1)
    with pytest.raises(TypeError, match="PermutationGroup"):
        groups.product(groups.cyclic(3), "S_3")


def test_bad_action_arguments():
    x = torch.randn(2, 4, 3)
    with pytest.raises(ValueError, match="not a permutation"):
        groups.act(x, torch.tensor([0, 0, 1, 2]))
    with pytest.raises(ValueError, match=r"shape \(n,\) or \(batch, n\) with n=4"):
        groups.act(x, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="integers"):
        groups.act(x, torch.tensor([0.0, 1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="batch 3 but x has batch 2"):
        groups.act(x, torch.arange(4).expand(3, 4))
    with pytest.raises(TypeError, match="torch.Tensor"):
        groups.act(x, [0, 1, 2, 3])
