import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import rand64
from symlib import check_equivariance, groups, layers, original

REDUCTIONS = ["mean", "sum"]


def loop_equivariant(layer, x):
    """Plain-loop reference of PermEquivariantLinear (like the original's _forward_manual)."""
    b, n, cin = x.shape
    out = torch.zeros(b, n, layer.out_channels, dtype=x.dtype)
    for s in range(b):
        pooled = x[s].sum(0)
        for i in range(n):
            for o in range(layer.out_channels):
                for c in range(cin):
                    out[s, i, o] += x[s, i, c] * layer.alpha[c, o] + pooled[c] * layer.beta[c, o] + layer.b[c, o]
    return out / cin if layer.reduction == "mean" else out


def loop_invariant(layer, x):
    b, n, cin = x.shape
    out = torch.zeros(b, layer.out_channels, dtype=x.dtype)
    for s in range(b):
        pooled = x[s].sum(0)
        for o in range(layer.out_channels):
            for c in range(cin):
                out[s, o] += pooled[c] * layer.alpha[c, o] + layer.b[c, o]
    return out / cin if layer.reduction == "mean" else out


def loop_dense(layer, x):
    b, n, cin = x.shape
    out = torch.zeros(b, layer.out_features, layer.out_channels, dtype=x.dtype)
    for s in range(b):
        for f in range(layer.out_features):
            for o in range(layer.out_channels):
                acc = sum(layer.weights[c, o, f, j] * x[s, j, c] for j in range(n) for c in range(cin))
                out[s, f, o] = (acc / cin if layer.reduction == "mean" else acc) + layer.b[f, o]
    return out


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("n,cin,cout", [(1, 1, 1), (4, 3, 2), (7, 5, 6)])
def test_equivariant_layer_exact(reduction, n, cin, cout):
    layer = layers.PermEquivariantLinear(cin, cout, reduction=reduction).double()
    x = rand64(3, n, cin)
    for group in (groups.symmetric(n), groups.cyclic(n), groups.dihedral(n)):
        check_equivariance(layer, group, x, atol=1e-10)
    torch.testing.assert_close(layer(x), loop_equivariant(layer, x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("n,cin,cout", [(1, 1, 1), (4, 3, 2), (7, 5, 6)])
def test_invariant_layer_exact(reduction, n, cin, cout):
    layer = layers.PermInvariantLinear(cin, cout, reduction=reduction).double()
    x = rand64(3, n, cin)
    check_equivariance(layer, groups.symmetric(n), x, invariant=True, atol=1e-10)
    torch.testing.assert_close(layer(x), loop_invariant(layer, x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_dense_layer_matches_loop(reduction):
    layer = layers.DenseSetLinear(3, 2, 4, 5, reduction=reduction).double()
    x = rand64(2, 4, 3)
    torch.testing.assert_close(layer(x), loop_dense(layer, x), rtol=1e-12, atol=1e-12)


def test_dense_layer_is_not_invariant():
    # The baseline has no symmetry: a check that it fails guards the checker itself.
    layer = layers.DenseSetLinear(3, 1, 5, 1).double()
    with pytest.raises(AssertionError, match="not invariant"):
        check_equivariance(layer, groups.symmetric(5), rand64(4, 5, 3), invariant=True)


def test_match_original_layers():
    x = rand64(4, 6, 3)
    eq_orig = original.LinearEquivariant(3, 5).double()
    eq = layers.PermEquivariantLinear(3, 5, reduction="mean", init="original").double()
    eq.load_state_dict(eq_orig.state_dict())
    torch.testing.assert_close(eq(x), eq_orig(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(eq(x), eq_orig._forward_manual(x), rtol=1e-12, atol=1e-12)
    inv_orig = original.LinearInvariant(3, 2).double()
    inv = layers.PermInvariantLinear(3, 2, reduction="mean").double()
    inv.load_state_dict(inv_orig.state_dict())
    torch.testing.assert_close(inv(x), inv_orig(x).squeeze(1), rtol=1e-12, atol=1e-12)


def test_dense_matches_original_weights():
    # Same weights, the original's averaged-away bias replaced by its mean over in_features.
    x = rand64(4, 6, 3)
    orig = original.LinearMultiChannel(3, 2, 6, 4).double()
    dense = layers.DenseSetLinear(3, 2, 6, 4, reduction="mean").double()
    with torch.no_grad():
        dense.weights.copy_(orig.weights)
        dense.b.copy_(orig.b.mean(dim=(0, 3)).T)
    torch.testing.assert_close(dense(x), orig(x), rtol=1e-12, atol=1e-12)


def test_original_init_draws_the_originals_effective_bias():
    # The original dense layer averaged an N(0, 1) bias of the weights' shape over in_channels and
    # in_features; init="original" draws the effective bias from that same law, N(0, 1 / (c * f)).
    torch.manual_seed(0)
    dense = layers.DenseSetLinear(16, 40, 25, 50, init="original")
    effective = original.LinearMultiChannel(16, 40, 25, 50).b.mean(dim=(0, 3))
    assert dense.b.std().item() == pytest.approx(effective.std().item(), rel=0.1)
    assert dense.b.std().item() == pytest.approx(1 / (16 * 25) ** 0.5, rel=0.1)
    assert dense.weights.std().item() == pytest.approx(1.0, rel=0.05)


def test_original_init_is_standard_normal_and_default_is_scaled():
    big = layers.PermEquivariantLinear(64, 64, init="original")
    assert abs(big.alpha.std().item() - 1.0) < 0.05
    small = layers.PermEquivariantLinear(64, 64, reduction="sum")
    assert small.alpha.abs().max().item() <= 1 / 8
    # Under "mean" the weights are drawn in_channels times wider: same function at init.
    torch.manual_seed(1)
    mean = layers.PermEquivariantLinear(8, 4, reduction="mean").double()
    torch.manual_seed(1)
    total = layers.PermEquivariantLinear(8, 4, reduction="sum").double()
    x = rand64(2, 5, 8)
    torch.testing.assert_close(mean(x), total(x) * 1.0, rtol=1e-12, atol=1e-12)


def test_no_four_dimensional_intermediate(monkeypatch):
    # The layer must be computed by matmuls: no tensor of batch*n*in*out elements is ever made.
    layer = layers.PermEquivariantLinear(8, 9)
    x = torch.randn(16, 10, 8)
    limit = 16 * 10 * 8 * 9
    sizes = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: sizes.append(t.numel()) or t, lambda t: t):
        layer(x).sum().backward()
    assert max(sizes) < limit


@pytest.mark.parametrize("cls,args", [
    (layers.PermEquivariantLinear, (3, 2)),
    (layers.PermInvariantLinear, (3, 2)),
    (layers.DenseSetLinear, (3, 2, 4, 2)),
])
def test_gradcheck(cls, args):
    layer = cls(*args).double()
    x = rand64(2, 4, 3).requires_grad_()
    assert torch.autograd.gradcheck(layer, (x,))


@pytest.mark.parametrize("members", [1, 3])
def test_ensemble_members_are_independent_layers(members):
    # Member e of an ensemble computes exactly what a solo layer with member e's parameters does.
    ens = layers.PermEquivariantLinear(3, 4, ensemble_size=members).double()
    dense = layers.DenseSetLinear(3, 2, 5, 2, ensemble_size=members).double()
    x = rand64(members * 2, 5, 3)
    for layer, solo in ((ens, layers.PermEquivariantLinear(3, 4).double()), (dense, layers.DenseSetLinear(3, 2, 5, 2).double())):
        out = layer(x)
        for e in range(members):
            with torch.no_grad():
                for name, p in solo.named_parameters():
                    p.copy_(getattr(layer, name)[e] if members > 1 else getattr(layer, name))
            torch.testing.assert_close(out[2 * e: 2 * e + 2], solo(x[2 * e: 2 * e + 2]), rtol=1e-12, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 9), cin=st.integers(1, 6), cout=st.integers(1, 6), batch=st.integers(1, 4),
       reduction=st.sampled_from(REDUCTIONS), seed=st.integers(0, 2**16))
def test_equivariance_any_shape(n, cin, cout, batch, reduction, seed):
    eq = layers.PermEquivariantLinear(cin, cout, reduction=reduction).double()
    inv = layers.PermInvariantLinear(cin, cout, reduction=reduction).double()
    x = rand64(batch, n, cin, seed=seed) * 10
    check_equivariance(eq, groups.symmetric(n), x, atol=1e-10)
    check_equivariance(inv, groups.symmetric(n), x, invariant=True, atol=1e-10)


@pytest.mark.parametrize("make", [lambda: layers.PermEquivariantLinear(3, 2), lambda: layers.PermInvariantLinear(3, 2),
                                  lambda: layers.DenseSetLinear(3, 2, 4, 4)])
def test_bad_inputs(make):
    layer = make()
    with pytest.raises(ValueError, match=r"expects x of shape \(batch, n, 3\), got \(4, 3\)"):
        layer(torch.randn(4, 3))
    with pytest.raises(ValueError, match=r"expects 3 input channels .* got shape \(2, 4, 5\)"):
        layer(torch.randn(2, 4, 5))
    with pytest.raises(TypeError, match="torch.Tensor"):
        layer([[1.0, 2.0, 3.0]])


def test_bad_layer_arguments():
    with pytest.raises(ValueError, match=r"expects set size 4 \(x.shape\[1\]\), got shape \(2, 5, 3\)"):
        layers.DenseSetLinear(3, 2, 4, 4)(torch.randn(2, 5, 3))
    with pytest.raises(ValueError, match="reduction must be one of"):
        layers.PermEquivariantLinear(3, 2, reduction="max")
    with pytest.raises(ValueError, match="init must be one of"):
        layers.PermInvariantLinear(3, 2, init="xavier")
    with pytest.raises(ValueError, match="in_channels must be a positive int, got 0"):
        layers.PermEquivariantLinear(0, 2)
    with pytest.raises(ValueError, match="not a multiple of ensemble_size=3"):
        layers.PermEquivariantLinear(3, 2, ensemble_size=3)(torch.randn(4, 5, 3))
