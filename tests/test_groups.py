import itertools
import math
import time

import pytest
import torch
from scipy import stats
from sympy.combinatorics import Permutation
from sympy.combinatorics import PermutationGroup as SympyGroup

from symlib import groups


def generic(group):
    """The same group given only by its generators: the Schreier-Sims path."""
    return groups.PermutationGroup(group.generators, n=group.n, name=f"generic {group.name}")


ORDERS = [
    *[(groups.symmetric(n), math.factorial(n)) for n in range(1, 9)],
    *[(groups.alternating(n), max(1, math.factorial(n) // 2)) for n in range(1, 8)],
    *[(groups.cyclic(n), n) for n in range(1, 10)],
    *[(groups.dihedral(n), 2 * n if n > 2 else n) for n in range(1, 10)],
    (groups.trivial(5), 1),
    (groups.product(groups.cyclic(4), groups.symmetric(3)), 24),
    (groups.product(groups.dihedral(5), groups.alternating(4)), 120),
    (generic(groups.symmetric(5)), 120),
    (generic(groups.alternating(5)), 60),
    (generic(groups.dihedral(6)), 12),
    (generic(groups.product(groups.cyclic(3), groups.symmetric(3))), 18),
]
SMALL = [g for g, order in ORDERS if g.n <= 6]


def ids(value):
    return getattr(value, "name", str(value))


def sympy_group(group):
    gens = [Permutation(g.tolist()) for g in group.generators] or [Permutation(list(range(group.n)))]
    return SympyGroup(gens)


def _as_set(perms):
    return {tuple(p) for p in perms.tolist()}


def all_perms(n):
    return torch.tensor(list(itertools.permutations(range(n))), dtype=torch.long)


@pytest.mark.parametrize("group,order", ORDERS, ids=ids)
def test_order(group, order):
    assert group.order() == order
    # The named groups' closed forms agree with Schreier-Sims on the same generators.
    assert sympy_group(group).order() == order


@pytest.mark.parametrize("group", [g for g, order in ORDERS if order <= 5040], ids=ids)
def test_elements_distinct_closed_and_in_group(group):
    e = group.elements()
    assert e.shape == (group.order(), group.n)
    elements = _as_set(e)
    assert len(elements) == group.order()
    assert e[0].tolist() == list(range(group.n))  # identity first
    # Closed under composition with every generator (which, with finiteness, makes it a group).
    for g in group.generators:
        assert _as_set(groups.compose(e, g)) == elements
        assert _as_set(groups.compose(g, e)) == elements


@pytest.mark.parametrize("group", SMALL, ids=ids)
def test_membership_matches_sympy_on_every_permutation(group):
    perms = all_perms(group.n)
    expected = torch.tensor([sympy_group(group).contains(Permutation(p)) for p in perms.tolist()])
    assert torch.equal(group.contains_batch(perms), expected)
    assert int(expected.sum()) == group.order()
    assert group.contains(perms[int(expected.nonzero()[-1])]) is True
    if not expected.all():
        assert group.contains(perms[int((~expected).nonzero()[0])]) is False


@pytest.mark.parametrize("group", SMALL, ids=ids)
def test_transversals_factor_the_group(group):
    levels = group.transversals
    assert math.prod(len(level) for level in levels) == group.order()
    out = torch.arange(group.n).unsqueeze(0)
    for level in reversed(levels):
        assert level[0].tolist() == list(range(group.n))
        out = level[:, out].reshape(-1, group.n)
    assert _as_set(out) == _as_set(group.elements())


def test_contains_examples():
    a4 = groups.alternating(4)
    assert a4.contains(torch.tensor([1, 2, 0, 3]))  # a 3-cycle is even
    assert not a4.contains(torch.tensor([1, 0, 2, 3]))  # a transposition is odd
    c5 = groups.cyclic(5)
    assert c5.contains([2, 3, 4, 0, 1])
    assert not c5.contains([1, 0, 2, 3, 4])
    d5 = groups.dihedral(5)
    assert d5.contains([2, 1, 0, 4, 3]) and not d5.contains([0, 2, 1, 3, 4])
    p = groups.product(groups.cyclic(2), groups.cyclic(2))
    assert p.contains([1, 0, 3, 2]) and not p.contains([2, 3, 0, 1])  # no mixing of the blocks
    assert groups.symmetric(3).contains_batch(all_perms(3).view(2, 3, 3)).shape == (2, 3)


def test_parity_matches_sympy():
    perms = groups.symmetric(9).sample(300, seed=0)
    expected = torch.tensor([Permutation(p).is_odd for p in perms.tolist()])
    assert torch.equal(groups._odd(perms), expected)


# -- action, composition, inverse -----------------------------------------------------------


def test_action_convention_and_composition():
    x = torch.arange(5.0).view(1, 5, 1) * 10
    p = torch.tensor([2, 0, 1, 4, 3])
    q = torch.tensor([4, 3, 2, 1, 0])
    # out[:, i] = x[:, p[i]]
    assert groups.act(x, p).flatten().tolist() == [20, 0, 10, 40, 30]
    assert torch.equal(groups.act(groups.act(x, p), q), groups.act(x, groups.compose(p, q)))
    assert torch.equal(groups.act(groups.act(x, p), groups.inverse(p)), x)
    assert groups.compose(p, groups.inverse(p)).tolist() == list(range(5))
    assert groups.compose(groups.inverse(p), p).tolist() == list(range(5))


def test_compose_and_inverse_broadcast_over_leading_dims():
    s = groups.symmetric(6)
    p, q = s.sample(12, seed=0).view(3, 4, 6), s.sample(4, seed=1)
    out = groups.compose(p, q)
    assert out.shape == (3, 4, 6)
    for i, j in itertools.product(range(3), range(4)):
        assert torch.equal(out[i, j], p[i, j][q[j]])
    assert torch.equal(groups.compose(p[0, 0], q), torch.stack([p[0, 0][r] for r in q]))
    inv = groups.inverse(p)
    assert torch.equal(groups.compose(p, inv), torch.arange(6).expand(3, 4, 6))


def test_batched_action_matches_per_sample():
    x = torch.randn(6, 5, 3)
    perms = groups.symmetric(5).sample(6, generator=torch.Generator().manual_seed(1))
    expected = torch.stack([x[i, perms[i]] for i in range(6)])
    assert torch.equal(groups.act(x, perms), expected)


@pytest.mark.parametrize("order", [2, 3])
def test_higher_order_action_shared_and_batched(order):
    n = 4
    x = torch.randn(3, *(n,) * order, 2)
    perms = groups.symmetric(n).sample(3, seed=2)
    batched = groups.act(x, perms, order=order)
    for b in range(3):
        expected = x[b]
        for dim in range(order):
            expected = expected.index_select(dim, perms[b])
        assert torch.equal(batched[b], expected)
        assert torch.equal(groups.act(x, perms[b], order=order)[b], expected)
    # Right action on order-2 tensors too.
    p, q = perms[0], perms[1]
    assert torch.equal(groups.act(groups.act(x, p, order), q, order), groups.act(x, groups.compose(p, q), order))


def test_order_zero_returns_x_and_empty_batches_work():
    x = torch.randn(4, 3)
    assert groups.act(x, torch.tensor([1, 0, 2]), order=0) is x
    empty = torch.zeros(0, 5, 2)
    p = torch.tensor([1, 2, 3, 4, 0])
    assert groups.act(empty, p).shape == (0, 5, 2)
    assert groups.act(empty, torch.zeros(0, 5, dtype=torch.long)).shape == (0, 5, 2)
    assert groups.act(torch.zeros(0, 5, 5), torch.zeros(0, 5, dtype=torch.long), order=2).shape == (0, 5, 5)
    assert groups.compose(torch.zeros(0, 5, dtype=torch.long), p).shape == (0, 5)
    assert groups.inverse(torch.zeros(0, 5, dtype=torch.long)).shape == (0, 5)


def test_check_false_skips_only_the_value_check():
    x = torch.randn(2, 3, 1)
    # Shapes are still checked without the data-dependent check...
    with pytest.raises(ValueError, match="perm"):
        groups.act(x, torch.tensor([0, 1]), check=False)
    # ...and valid permutations act the same way.
    p = torch.tensor([2, 0, 1])
    assert torch.equal(groups.act(x, p, check=False), groups.act(x, p))


@pytest.mark.parametrize("group", [groups.symmetric(5), groups.alternating(5), groups.cyclic(5), groups.dihedral(5),
                                   groups.product(groups.cyclic(2), groups.symmetric(3)),
                                   generic(groups.dihedral(5)), groups.trivial(5)], ids=ids)
def test_compiles_without_graph_breaks(group):
    words = group.random_words  # a generic group computes its chain here, before tracing

    def f(bits, x):
        return groups.act(x, group.sample_from_bits(bits, check=False), check=False) * 2

    bits, x = torch.randint(0, 2 ** 32, (6, words)), torch.randn(6, 5, 3)
    compiled = torch.compile(f, fullgraph=True, backend="eager")
    assert torch.equal(compiled(bits, x), f(bits, x))


# -- sampling ------------------------------------------------------------------------------

UNIFORMITY = [groups.symmetric(4), groups.alternating(4), groups.cyclic(5), groups.dihedral(5),
              generic(groups.product(groups.cyclic(3), groups.symmetric(3))),
              groups.product(groups.cyclic(3), groups.alternating(4))]


def _chi2_pvalue(group, samples):
    index = {p: i for i, p in enumerate(sorted(_as_set(group.elements())))}
    counts = torch.bincount(torch.tensor([index[tuple(p)] for p in samples.tolist()]), minlength=len(index))
    assert len(counts) == group.order()
    return stats.chisquare(counts.numpy()).pvalue


@pytest.mark.parametrize("group", UNIFORMITY, ids=ids)
def test_sample_is_uniform(group):
    samples = group.sample(600 * group.order(), generator=torch.Generator().manual_seed(0))
    assert _chi2_pvalue(group, samples) > 1e-3


@pytest.mark.parametrize("group", UNIFORMITY, ids=ids)
def test_sample_from_bits_is_uniform_members_with_leading_dims(group):
    g = torch.Generator().manual_seed(1)
    bits = torch.randint(0, 2 ** 32, (20, 30 * group.order(), group.random_words), generator=g)
    samples = group.sample_from_bits(bits)
    assert samples.shape == (20, 30 * group.order(), group.n) and samples.dtype == torch.long
    assert group.contains_batch(samples).all()
    assert _chi2_pvalue(group, samples.reshape(-1, group.n)) > 1e-3
    one = group.sample_from_bits(bits[0, 0])
    assert one.shape == (group.n,) and torch.equal(one, samples[0, 0])


def test_sample_is_sample_from_bits_of_the_generators_words():
    for group in UNIFORMITY:
        a = group.sample(50, generator=torch.Generator().manual_seed(7))
        bits = torch.randint(0, 2 ** 32, (50, group.random_words), generator=torch.Generator().manual_seed(7))
        assert torch.equal(a, group.sample_from_bits(bits))
        assert torch.equal(a, group.sample(50, seed=7))


def test_word_to_index_map_covers_every_element_in_order():
    # For C_n and D_n the word picks elements()[floor(word * |G| / 2**32)]: check the interval ends.
    for group in (groups.cyclic(7), groups.dihedral(7)):
        order = group.order()
        starts = torch.tensor([-(-(i << 32) // order) for i in range(order)])  # smallest word for index i
        ends = torch.cat([starts[1:] - 1, torch.tensor([2 ** 32 - 1])])
        e = group.elements()
        assert torch.equal(group.sample_from_bits(starts[:, None]), e)
        assert torch.equal(group.sample_from_bits(ends[:, None]), e)


def test_alternating_sampling_is_a_bijection_from_ranks():
    # Every ordering of 4 distinct words gives an even permutation; all 12 appear twice each.
    words = all_perms(4)
    out = groups.alternating(4).sample_from_bits(words)
    assert groups.alternating(4).contains_batch(out).all()
    counts = torch.unique(out, dim=0, return_counts=True)[1]
    assert len(counts) == 12 and (counts == 2).all()


@pytest.mark.parametrize("group", [g for g, _ in ORDERS], ids=ids)
def test_empty_and_small_samples(group):
    assert group.sample(0).shape == (0, group.n)
    assert group.sample_from_bits(torch.zeros(0, 3, group.random_words, dtype=torch.long)).shape == (0, 3, group.n)
    s = group.sample(5, seed=0)
    assert s.shape == (5, group.n) and group.contains_batch(s).all()


def test_sample_members_of_group():
    g = groups.dihedral(7)
    elements = _as_set(g.elements())
    assert _as_set(g.sample(500, generator=torch.Generator().manual_seed(0))) <= elements


def test_sample_never_enumerates_large_groups():
    for g in (groups.symmetric(20), generic(groups.symmetric(20)), groups.alternating(20)):
        s = g.sample(64, generator=torch.Generator().manual_seed(0))
        assert s.shape == (64, 20)
        assert torch.equal(s.sort(dim=1).values, torch.arange(20).expand(64, 20))
        assert g.contains_batch(s).all()
        with pytest.raises(ValueError, match="SampledGroupAverage|sample"):
            g.elements()
    assert not groups.alternating(20).contains_batch(groups.symmetric(20).sample(2000, seed=0)).all()


def test_sample_is_reproducible():
    g = groups.dihedral(9)
    a = g.sample(10, generator=torch.Generator().manual_seed(3))
    b = g.sample(10, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert not torch.equal(g.sample(10, seed=3), g.sample(10, seed=4))


def test_product_blocks():
    g = groups.product(groups.cyclic(3), groups.cyclic(2))
    assert g.n == 5
    for p in g.elements():
        assert set(p[:3].tolist()) == {0, 1, 2} and set(p[3:].tolist()) == {3, 4}
    s = g.sample(100, seed=0)
    assert (s[:, :3] < 3).all() and (s[:, 3:] >= 3).all()


# -- cost ----------------------------------------------------------------------------------


def test_named_groups_are_cheap_whatever_n():
    start = time.perf_counter()
    assert groups.cyclic(3000).order() == 3000
    assert groups.symmetric(1000).order() == math.factorial(1000)
    assert "order=~4.02e2567" in repr(groups.symmetric(1000))
    assert groups.dihedral(3000).sample(10, seed=0).shape == (10, 3000)
    assert time.perf_counter() - start < 2


@pytest.mark.parametrize("group", [groups.symmetric(5), groups.alternating(5), groups.cyclic(5), groups.dihedral(5),
                                   groups.product(groups.cyclic(2), groups.symmetric(3))], ids=ids)
def test_named_groups_never_run_schreier_sims(group):
    group.order(), group.elements(), group.sample(3, seed=0), group.contains_batch(group.elements()), repr(group)
    group.sample_from_bits(torch.zeros(2, group.random_words, dtype=torch.long)), group.transversals
    assert "_schreier_sims" not in group.__dict__


def test_repr_never_computes_the_chain():
    g = generic(groups.symmetric(6))
    assert "6 points" in repr(g) or "n=6" in repr(g)
    assert "_schreier_sims" not in g.__dict__
    assert g.order() == 720 and "_schreier_sims" in g.__dict__


def test_huge_cycle_from_generators_constructs_fast_and_refuses_the_chain():
    n = 10 ** 6
    start = time.perf_counter()
    g = groups.from_generators(torch.roll(torch.arange(n), -1).unsqueeze(0))
    repr(g)
    assert time.perf_counter() - start < 5
    with pytest.raises(ValueError, match="MAX_CHAIN_ENTRIES"):
        g.order()
    with pytest.raises(ValueError, match="MAX_CHAIN_ENTRIES"):
        g.sample(1)
    assert groups.cyclic(n).sample(2, seed=0).shape == (2, n)


def test_chain_below_the_limit_still_works():
    g = groups.from_generators([[1, 2, 3, 4, 5, 6, 7, 8, 9, 0]])
    assert g.order() == 10 and g.random_words == 1


# -- arguments (more in test_bad_inputs_groups.py) ------------------------------------------


@pytest.mark.parametrize("gens,error,match", [
    ([[0, 0, 1]], ValueError, r"generators\[0\] must be a permutation of range\(3\), got \[0, 0, 1\]"),
    ([[0, 1, 3]], ValueError, "must be a permutation"),
    (torch.tensor([[0.0, 1.0, 2.0]]), TypeError, "integers"),
    ([[0, 1, 2], [0, 1]], ValueError, "mixed lengths"),
    ([[1, 0, 2, 3]], ValueError, "length 4, expected n=3"),
    ([[[0, 1]]], TypeError, "must hold ints"),
])
def test_bad_generators(gens, error, match):
    with pytest.raises(error, match=match):
        groups.from_generators(gens, n=3 if match.startswith("length") else None)


def test_bad_group_arguments():
    for bad, error in ((0, ValueError), (-1, ValueError), (2.5, TypeError), (True, TypeError)):
        with pytest.raises(error, match="n must be an int >= 1"):
            groups.symmetric(bad)
    with pytest.raises(ValueError, match="n is required"):
        groups.from_generators([])
    with pytest.raises(ValueError, match="k must be"):
        groups.cyclic(4).sample(-1)
    with pytest.raises(TypeError, match="PermutationGroup"):
        groups.product(groups.cyclic(3), "S_3")


def test_bad_action_arguments():
    x = torch.randn(2, 4, 3)
    with pytest.raises(ValueError, match="must be a permutation"):
        groups.act(x, torch.tensor([0, 0, 1, 2]))
    with pytest.raises(ValueError, match=r"shape \(n,\) or \(batch, n\) with n=4"):
        groups.act(x, torch.tensor([0, 1, 2]))
    with pytest.raises(TypeError, match="integers"):
        groups.act(x, torch.tensor([0.0, 1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="perm must have batch 2 like x .* got batch 3"):
        groups.act(x, torch.arange(4).expand(3, 4))
    with pytest.raises(TypeError, match="torch.Tensor"):
        groups.act(x, [0, 1, 2, 3])
