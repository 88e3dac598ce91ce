"""With no mask, nothing changed: every layer, wrapper, model and fit history is bit-identical to the code
before masks were added.

The reference is the library at commit ``BASE`` (main just before the masks branch was merged), read from git and imported
as a separate package, ``symlib_base``, beside the current one; both are built from the same torch seed and
compared with ``torch.equal`` / exact frame equality, in float64 and float32. A few float64 values are also
pinned as literals (float.hex), so the check survives a checkout without git history.
"""

import importlib
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from conftest import rand64
from symlib import data, groups, layers, models, symmetrize, train

BASE = "2938d50433b1ee7cc25e35fae28f845b4f21fb38"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """The package as it was at BASE, importable as ``symlib_base``."""
    listing = subprocess.run(["git", "-C", str(ROOT), "ls-tree", "--name-only", BASE, "symlib/"],
                             capture_output=True, text=True)
    if listing.returncode:
        pytest.skip(f"commit {BASE[:10]} is not available here: {listing.stderr.strip()}")
    folder = tmp_path_factory.mktemp("base") / "symlib_base"
    folder.mkdir()
    for path in listing.stdout.split():
        if path.endswith(".py"):
            text = subprocess.run(["git", "-C", str(ROOT), "show", f"{BASE}:{path}"], capture_output=True, text=True,
                                  check=True).stdout
            (folder / Path(path).name).write_text(text)
    sys.path.insert(0, str(folder.parent))
    try:
        yield lambda name: importlib.import_module(f"symlib_base.{name}")
    finally:
        sys.path.remove(str(folder.parent))


def built(make, seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    return make().to(dtype)


def same_params(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def forward_backward(model, x):
    x = x.clone().requires_grad_()
    out = model(x)
    (out.pow(2).sum() + out.sum()).backward()
    grads = [p.grad.clone() for p in model.parameters()]
    return out.detach(), x.grad.clone(), grads


def assert_identical(a, b, x):
    same_params(a, b)
    (oa, ga, pa), (ob, gb, pb) = forward_backward(a, x), forward_backward(b, x)
    assert torch.equal(oa, ob)
    assert torch.equal(ga, gb)
    assert all(torch.equal(u, v) for u, v in zip(pa, pb))


LAYER_CASES = {
    "eq": lambda L, **kw: L.PermEquivariantLinear(3, 4, **kw),
    "eq-set-size": lambda L, **kw: L.PermEquivariantLinear(3, 4, set_size=7, **kw),
    "inv": lambda L, **kw: L.PermInvariantLinear(3, 2, **kw),
    "inv-set-size": lambda L, **kw: L.PermInvariantLinear(3, 2, set_size=7, **kw),
    "dense": lambda L, **kw: L.DenseSetLinear(3, 2, 7, 5, **kw),
}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("members", [1, 3])
@pytest.mark.parametrize("init", ["default", "original", "scaled_normal"])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("name", LAYER_CASES)
def test_layers_are_bit_identical(base, name, reduction, init, members, dtype):
    old, new = base("layers"), layers
    kw = dict(reduction=reduction, init=init, ensemble_size=members)
    a = built(lambda: LAYER_CASES[name](old, **kw), dtype=dtype)
    b = built(lambda: LAYER_CASES[name](new, **kw), dtype=dtype)
    assert repr(a) == repr(b)
    assert_identical(a, b, rand64(2 * members, 7, 3).to(dtype) * 3)


@pytest.mark.parametrize("orders", [(1, 1), (1, 0), (0, 1), (2, 1)])
def test_orbit_layers_are_bit_identical(base, orders):
    g_old, g_new = base("groups").dihedral(4), groups.dihedral(4)
    a = built(lambda: base("layers").GroupEquivariantLinear(g_old, 3, 2, *orders))
    b = built(lambda: layers.GroupEquivariantLinear(g_new, 3, 2, *orders))
    shape = (2, *(4,) * orders[0], 3)
    assert_identical(a, b, rand64(*shape))


@pytest.mark.parametrize("members", [1, 2])
@pytest.mark.parametrize("probabilities", [False, True])
@pytest.mark.parametrize("approach", ["deepsets", "dense", "canonical", "sort_coords", "sampled", "average", "augment",
                                      "orbit", "original_canonical"])
def test_every_approach_is_bit_identical(base, approach, probabilities, members):
    n = 4 if approach == "average" else 6
    kw = dict(width=5, ensemble_size=members, probabilities=probabilities)
    kw.update(samples=3, eval_samples=5) if approach == "sampled" else None
    kw.update(group="cyclic") if approach in ("orbit", "average") else None
    a = built(lambda: base("models").build(approach, n, 3, **kw))
    b = built(lambda: models.build(approach, n, 3, **kw))
    x = rand64(2 * members, n, 3, seed=1)
    for mode in (True, False, True):  # the random wrappers: two training draws around an evaluation draw
        a.train(mode), b.train(mode)
        assert_identical(a, b, x)
    assert torch.equal(a(x), b(x))
    same_params(a, b)  # the streams' buffers too


def test_catalogue_and_helpers_are_bit_identical(base):
    old, new = base("models").catalogue(3, width=4), models.catalogue(3, width=4)
    assert list(old) == list(new)
    x = rand64(3, 5, 3, seed=2)
    for label in old:
        a, b = built(lambda: old[label](5)), built(lambda: new[label](5))
        assert_identical(a, b, x)
    tied = x.clone()
    tied[:, 1] = tied[:, 0]
    assert torch.equal(base("symmetrize").canonical_order(tied), symmetrize.canonical_order(tied))
    assert torch.equal(base("symmetrize").seam_distance(x), symmetrize.seam_distance(x))


def test_data_is_bit_identical(base):
    for dtype in (torch.float32, torch.float64):
        old = base("data").GaussianVarianceTask(7, 3, dtype=dtype)
        new = data.GaussianVarianceTask(7, 3, dtype=dtype)
        (xa, ya), (xb, yb) = old.sample(50, seed=3), new.sample(50, seed=3)
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
        assert torch.equal(old.bayes_predict(xa), new.bayes_predict(xb))
        assert torch.equal(base("data").bayes_predict(xa, 1.3, 0.6), data.bayes_predict(xb, 1.3, 0.6))
        assert old.bayes_accuracy() == new.bayes_accuracy()


FIT = dict(steps=24, batch_size=8, eval_every=8, test_size=100)


@pytest.mark.parametrize("fresh", [True, False], ids=["fresh", "fixed"])
@pytest.mark.parametrize("approach,members", [("deepsets", 1), ("deepsets", 2), ("sampled", 2), ("augment", 1),
                                              ("canonical", 1)])
def test_fit_histories_are_bit_identical(base, approach, members, fresh):
    kw = dict(samples=2) if approach == "sampled" else {}
    val = dict(val_size=20) if fresh else dict(val_fraction=0.25, train_size=[40, 48][:members])
    seeds, lrs = [3, 5][:members], [3e-3, 1e-2][:members]
    histories, finals = [], []
    for pkg, task_mod in ((base("models"), base("data")), (models, data)):
        model = built(lambda: pkg.build(approach, 6, 3, width=5, ensemble_size=members, **kw))
        task = task_mod.GaussianVarianceTask(6, 3, dtype=torch.float64)
        fit = base("train").fit if pkg is not models else train.fit
        histories.append(fit(model, task, seeds=seeds, lr=lrs, **val, **FIT).drop(columns="seconds"))
        finals.append(model)
    pd.testing.assert_frame_equal(histories[0], histories[1], check_exact=True)
    same_params(*finals)
    x, y = data.GaussianVarianceTask(6, 3, dtype=torch.float64).sample(64, seed=9)
    pd.testing.assert_frame_equal(base("train").evaluate(finals[0], x, y, batch_size=16),
                                  train.evaluate(finals[1], x, y, batch_size=16), check_exact=True)


# Literal pins (float64, computed by the code at BASE): they hold without git.
def test_literal_pins():
    torch.manual_seed(0)
    model = models.deepsets(3, 5, set_size=6).double()
    assert [v.hex() for v in model(rand64(2, 6, 3, seed=4)).flatten().tolist()] == [
        "-0x1.f58b9913b6863p-2", "-0x1.bd21e285efc0ep-2"]
    torch.manual_seed(0)
    model = models.build("sampled", 6, 3, width=5, samples=3).double()
    assert [v.hex() for v in model(rand64(2, 6, 3, seed=4)).flatten().tolist()] == [
        "0x1.05a93608036edp-3", "0x1.252958849df61p-5"]
    torch.manual_seed(0)
    model = models.deepsets(3, 5, set_size=6).double()
    history = train.fit(model, data.GaussianVarianceTask(6, 3, dtype=torch.float64), steps=20, batch_size=8,
                        eval_every=10, test_size=100, seed=1, val_size=20)
    assert [v.hex() for v in history.val_loss.tolist()] == ["0x1.7382e62476d5cp-1", "0x1.7298534cac882p-1"]
    assert history.test_accuracy.iloc[-1] == 0.55


def test_the_reference_is_the_old_code(base):
    # Guards the fixture: the reference must be the copy read from git, not the package under test.
    assert "symlib_base" in base("layers").__file__ and base("layers").__file__ != layers.__file__
    assert not hasattr(base("layers"), "SetSequential")
