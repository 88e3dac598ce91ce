import itertools

import pytest
import torch
from sympy.functions.combinatorial.numbers import bell, stirling

from conftest import rand64
from symlib import bases, check_equivariance, groups, layers

GROUPS = [groups.symmetric(4), groups.alternating(4), groups.cyclic(5), groups.dihedral(5), groups.trivial(3),
          groups.product(groups.cyclic(3), groups.symmetric(2))]
ORDERS = [(1, 1), (1, 0), (0, 1), (2, 1), (1, 2), (2, 2), (2, 0), (0, 0)]


@pytest.mark.parametrize("k_plus_l", [2, 3, 4])
def test_symmetric_group_counts_are_bell_numbers(k_plus_l):
    for n in range(k_plus_l, k_plus_l + 3):
        assert bases.tuple_orbits(groups.symmetric(n), k_plus_l)[1] == bell(k_plus_l)


@pytest.mark.parametrize("n,k_plus_l", [(1, 2), (1, 4), (2, 3), (2, 4), (3, 4)])
def test_fewer_points_than_indices(n, k_plus_l):
    # With n < k + l an index partition can have at most n blocks: sum of Stirling numbers S(k+l, j), j <= n.
    expected = sum(stirling(k_plus_l, j) for j in range(1, n + 1))
    got = bases.tuple_orbits(groups.symmetric(n), k_plus_l)[1]
    assert got == expected < bell(k_plus_l)


def nullspace_dimension(group, order):
    """dim of {W : P_g W = W for every generator}, by SVD of the stacked constraints (independent check)."""
    n = group.n
    tuples = list(itertools.product(range(n), repeat=order))
    index = {t: i for i, t in enumerate(tuples)}
    rows = []
    for g in group.generators.tolist():
        p = torch.zeros(len(tuples), len(tuples), dtype=torch.float64)
        for t in tuples:
            p[index[tuple(g[i] for i in t)], index[t]] = 1
        rows.append(p - torch.eye(len(tuples), dtype=torch.float64))
    if not rows:
        return len(tuples)
    s = torch.linalg.svdvals(torch.cat(rows))
    return len(tuples) - int((s > 1e-9).sum())


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g.name)
@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_orbit_count_equals_svd_nullspace(group, order):
    if group.n ** order > 700:
        pytest.skip("SVD cross-check kept small")
    assert bases.tuple_orbits(group, order)[1] == nullspace_dimension(group, order)


def test_orbits_are_invariant_and_ordered():
    ids, count = bases.tuple_orbits(groups.dihedral(6), 2)
    for g in groups.dihedral(6).elements():
        assert torch.equal(ids[g][:, g], ids)  # constant on orbits
    assert ids.flatten().unique(sorted=False).tolist()[:1] == [0] and ids.max() == count - 1
    # C_n on pairs: one orbit per offset j - i (mod n).
    ids, count = bases.tuple_orbits(groups.cyclic(7), 2)
    offsets = (torch.arange(7)[None, :] - torch.arange(7)[:, None]) % 7
    assert count == 7 and all(len(ids[offsets == o].unique()) == 1 for o in range(7))


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g.name)
@pytest.mark.parametrize("k,l", ORDERS)
def test_layer_exactly_equivariant(group, k, l):
    layer = layers.GroupEquivariantLinear(group, 3, 2, in_order=k, out_order=l).double()
    x = rand64(4, *(group.n,) * k, 3)
    with torch.no_grad():
        layer.weight.normal_()
        layer.bias.normal_()
    check_equivariance(layer, group, x, in_order=k, out_order=l, atol=1e-10)
    assert layer(x).shape == (4, *(group.n,) * l, 2)


def test_layer_for_symmetric_group_spans_deepsets_layer():
    n, cin, cout = 5, 3, 4
    deepsets = layers.PermEquivariantLinear(cin, cout, reduction="sum").double()
    orbit = layers.GroupEquivariantLinear(groups.symmetric(n), cin, cout).double()
    assert orbit.num_orbits == 2
    diagonal, off = orbit.orbit_ids.view(n, n)[0, 0].item(), orbit.orbit_ids.view(n, n)[0, 1].item()
    with torch.no_grad():
        # y_i = alpha x_i + beta sum_j x_j + sum_c b_c  =  (alpha + beta) x_i + beta sum_{j != i} x_j + bias
        orbit.weight[diagonal] = deepsets.alpha + deepsets.beta
        orbit.weight[off] = deepsets.beta
        orbit.bias[0] = deepsets.b.sum(0)
    x = rand64(3, n, cin)
    torch.testing.assert_close(orbit(x), deepsets(x), rtol=1e-12, atol=1e-12)


def test_smaller_group_layer_is_not_symmetric_group_equivariant():
    layer = layers.GroupEquivariantLinear(groups.cyclic(6), 2, 2).double()
    with torch.no_grad():
        layer.weight.normal_()
    with pytest.raises(AssertionError, match="not equivariant under S_6"):
        check_equivariance(layer, groups.symmetric(6), rand64(3, 6, 2))


def test_ensemble_members_match_solo_layers():
    ens = layers.GroupEquivariantLinear(groups.dihedral(4), 2, 3, ensemble_size=2).double()
    x = rand64(6, 4, 2)
    out = ens(x)
    for e in range(2):
        solo = layers.GroupEquivariantLinear(groups.dihedral(4), 2, 3).double()
        with torch.no_grad():
            solo.weight.copy_(ens.weight[e])
            solo.bias.copy_(ens.bias[e])
        torch.testing.assert_close(out[3 * e:3 * e + 3], solo(x[3 * e:3 * e + 3]), rtol=1e-12, atol=1e-12)


def test_gradcheck():
    layer = layers.GroupEquivariantLinear(groups.cyclic(3), 2, 2, in_order=2, out_order=1).double()
    assert torch.autograd.gradcheck(layer, (rand64(2, 3, 3, 2).requires_grad_(),))


def test_bad_arguments():
    with pytest.raises(ValueError, match="in_order must be 0, 1 or 2, got 3"):
        layers.GroupEquivariantLinear(groups.cyclic(3), 2, 2, in_order=3)
    layer = layers.GroupEquivariantLinear(groups.cyclic(4), 2, 3, in_order=2)
    with pytest.raises(ValueError, match=r"expects x of shape \(batch, 4, 4, 2\), got \(5, 4, 2\)"):
        layer(torch.randn(5, 4, 2))
    with pytest.raises(ValueError, match="order must be an int >= 0, got -1"):
        bases.tuple_orbits(groups.cyclic(3), -1)
    with pytest.raises(TypeError, match="PermutationGroup"):
        bases.tuple_orbits("C_3", 2)
    with pytest.raises(ValueError, match="exceed MAX_TUPLES"):
        bases.tuple_orbits(groups.cyclic(100), 4)


def test_basis_size_names_the_orders_and_agrees_with_orbits():
    g = groups.dihedral(5)
    assert bases.equivariant_basis_size(g, 1, 1) == bases.tuple_orbits(g, 2)[1]
    assert bases.equivariant_basis_size(g, 0, 0) == 1
    with pytest.raises(ValueError, match=r"out_order must be an int >= 0, got -1"):
        bases.equivariant_basis_size(g, 3, -1)  # the sum is valid; the argument is not
    with pytest.raises(ValueError, match=r"in_order \+ out_order = 4 .* MAX_TUPLES"):
        bases.equivariant_basis_size(groups.cyclic(100), 2, 2)


def test_order_zero_and_one_point():
    ids, count = bases.tuple_orbits(groups.cyclic(4), 0)
    assert ids.shape == () and count == 1
    ids, count = bases.tuple_orbits(groups.trivial(1), 6)
    assert ids.shape == (1,) * 6 and count == 1


def test_long_cycles_converge_quickly():
    # Label propagation with pointer jumping: a 20000-cycle is one orbit after O(log n) rounds.
    ids, count = bases.tuple_orbits(groups.cyclic(20_000), 1)
    assert count == 1 and ids.shape == (20_000,)
    ids, count = bases.tuple_orbits(groups.product(groups.cyclic(300), groups.trivial(2)), 2)
    # Pairs within the ring: one orbit per offset (300); (ring point, fixed point) and (fixed, ring): one
    # orbit per fixed point each (2 + 2); pairs of fixed points: 4 singletons.
    assert count == 300 + 4 + 4
