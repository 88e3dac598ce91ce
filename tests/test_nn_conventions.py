"""torch.nn conventions: factory kwargs, reset_parameters, extra_repr, state_dict, torch.compile, devices."""

import subprocess
import sys

import pytest
import torch
from torch import nn

from conftest import rand64
from symlib import groups, layers, models, symmetrize

LAYERS = {
    "PermEquivariantLinear": lambda **kw: layers.PermEquivariantLinear(3, 4, **kw),
    "PermInvariantLinear": lambda **kw: layers.PermInvariantLinear(3, 4, **kw),
    "DenseSetLinear": lambda **kw: layers.DenseSetLinear(3, 4, 5, 2, **kw),
    "GroupEquivariantLinear": lambda **kw: layers.GroupEquivariantLinear(groups.cyclic(5), 3, 4, **kw),
}


def dense(**kw):
    return models.dense(5, 3, width=4, **kw)


WRAPPERS = {
    "Canonicalize": lambda e=1: symmetrize.Canonicalize(dense(ensemble_size=e)),
    "SortCoordinates": lambda e=1: symmetrize.SortCoordinates(dense(ensemble_size=e)),
    "GroupAverage": lambda e=1: symmetrize.GroupAverage(dense(ensemble_size=e), groups.dihedral(5), chunk_size=4),
    "GroupAverage(checkpoint)": lambda e=1: symmetrize.GroupAverage(dense(ensemble_size=e), groups.cyclic(5),
                                                                    checkpoint=True),
    "SampledGroupAverage": lambda e=1: symmetrize.SampledGroupAverage(dense(ensemble_size=e), groups.symmetric(5),
                                                                      samples=3),
    "Augment": lambda e=1: symmetrize.Augment(dense(ensemble_size=e), groups.symmetric(5)),
}


@pytest.mark.parametrize("name", LAYERS)
def test_factory_kwargs(name):
    layer = LAYERS[name](device="meta", dtype=torch.float64)
    assert all(p.device.type == "meta" and p.dtype == torch.float64 for p in layer.parameters())
    assert all(b.device.type == "meta" for b in layer.buffers())
    with pytest.raises(TypeError, match=r"dtype must be a floating torch.dtype"):
        LAYERS[name](dtype=torch.int64)


@pytest.mark.parametrize("name", LAYERS)
def test_reset_parameters_redraws_from_the_init(name):
    torch.manual_seed(0)
    layer = LAYERS[name]()
    before = [p.detach().clone() for p in layer.parameters()]
    layer.reset_parameters()
    after = list(layer.parameters())
    assert all(not torch.equal(a, b) for a, b in zip(before, after))
    torch.manual_seed(0)
    again = LAYERS[name]()
    assert all(torch.equal(a, b) for a, b in zip(before, again.parameters())), "same seed, same draw"
    original = LAYERS[name](init="original")
    big = torch.cat([p.detach().flatten() for p in original.parameters()])
    assert 0.6 < big.std().item() < 1.4  # N(0, 1), as the original notebook drew


def test_defaults_sum_with_fan_in_init():
    layer = layers.PermEquivariantLinear(64, 64)
    assert layer.reduction == "sum" and layer.init == "default"
    assert layer.alpha.abs().max().item() <= 1 / 8  # uniform in +-1/sqrt(64)


@pytest.mark.parametrize("name", LAYERS)
def test_wrong_dtype_is_a_clear_error(name):
    layer = LAYERS[name]()
    x = rand64(2, 5, 3)
    with pytest.raises(TypeError, match=r"x has dtype torch.float64 but .*parameters are torch.float32"):
        layer(x)


def test_reprs_show_constructor_arguments():
    assert repr(layers.PermEquivariantLinear(3, 4, set_size=10)).startswith(
        "PermEquivariantLinear(3, 4, reduction='sum', init='default', set_size=10)")
    orbit = repr(layers.GroupEquivariantLinear(groups.cyclic(5), 3, 4, out_order=0))
    assert orbit == "GroupEquivariantLinear(C_5, 3, 4, in_order=1, out_order=0, init='default')"
    assert "reduction" not in orbit
    assert "group=D_5, chunk_size=4, checkpoint=False" in repr(WRAPPERS["GroupAverage"]())
    assert "group=S_5, samples=3, eval_samples=3" in repr(WRAPPERS["SampledGroupAverage"]())
    assert "group=S_5" in repr(WRAPPERS["Augment"]())


@pytest.mark.parametrize("name", ["SampledGroupAverage", "Augment"])
def test_state_dict_carries_the_random_stream(name):
    model = WRAPPERS[name]().train()
    x = rand64(4, 5, 3).float()
    model(x)  # advance the stream
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    expected = model(x)
    resumed = WRAPPERS[name]().train()
    resumed.load_state_dict(saved)
    torch.testing.assert_close(resumed(x), expected, rtol=0, atol=0)
    assert {"keys", "train_position", "eval_stream", "eval_position"} <= set(saved)


def test_mixed_ensemble_sizes_are_refused():
    mixed = nn.Sequential(layers.PermEquivariantLinear(3, 4, ensemble_size=2), layers.PermInvariantLinear(4, 1, ensemble_size=3))
    with pytest.raises(ValueError, match=r"mixes layers of ensemble sizes \[2, 3\]"):
        layers.ensemble_size(mixed)
    with pytest.raises(ValueError, match=r"mixes layers of ensemble sizes"):
        symmetrize.Canonicalize(mixed)


@pytest.mark.parametrize("name", [*LAYERS, *WRAPPERS])
def test_empty_batch(name):
    model = LAYERS[name]() if name in LAYERS else WRAPPERS[name]()
    out = model(torch.zeros(0, 5, 3))
    assert out.shape[0] == 0


@pytest.mark.parametrize("members", [1, 3])
@pytest.mark.parametrize("name", [*LAYERS, *WRAPPERS])
def test_compiles_with_fullgraph(name, members):
    # In the style of e3nn's assert_torch_compile: no graph break, same numbers as eager.
    torch._dynamo.reset()
    model = LAYERS[name](ensemble_size=members) if name in LAYERS else WRAPPERS[name](members)
    x = torch.randn(2 * members, 5, 3)
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    expected = model(x)
    model.load_state_dict(state)  # the random wrappers: replay the same draws
    torch.testing.assert_close(compiled(x), expected)
    compiled(x).sum().backward()


def test_light_imports():
    # The layers, groups and wrappers must not pull in the book-side stack. (torch itself imports
    # tqdm, so what counts is what symlib adds to a bare `import torch`.)
    code = ("import sys, torch; before = set(sys.modules); import symlib.layers, symlib.groups, symlib.symmetrize; "
            "print(sorted(m for m in ('matplotlib', 'pandas', 'joblib', 'tqdm', 'scipy') "
            "if m in sys.modules and m not in before))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_fit_runs_on_cuda():
    from symlib import data, train

    model = models.build("sampled", 10, 5, width=4, device="cuda")
    h = train.fit(model, data.GaussianVarianceTask(10, 5), steps=20, batch_size=16, test_size=100)
    assert h.test_accuracy.notna().any() and next(model.parameters()).device.type == "cuda"
