"""Bad masks, and masks given where they cannot be used: each case raises the right exception type,
naming the argument (``mask``, ``pool``, ...) or the layer that cannot take a mask, and what it received."""

import numpy as np
import pytest
import torch
from torch import nn

from conftest import assert_clear_error
from symlib import data, groups, layers, models, symmetrize, train

S5, C5 = groups.symmetric(5), groups.cyclic(5)
EQ, INV = layers.PermEquivariantLinear(3, 2), layers.PermInvariantLinear(3, 2, pool="max")
EQ3 = layers.PermEquivariantLinear(3, 2, ensemble_size=3)
NET = models.deepsets(3, 4)
X = torch.zeros(2, 5, 3)
OK = torch.ones(2, 5, dtype=torch.bool)
VTASK = data.VariableSizeVarianceTask(2, 5, 3)


def case(name, call, error, argument, received=None):
    return pytest.param(call, error, argument, received, id=name)


def ones(*shape, dtype=torch.bool, **kw):
    return torch.ones(*shape, dtype=dtype, **kw)


MODULES = {
    "eq": EQ,
    "inv": INV,
    "deepsets": NET,
    "canonicalize": symmetrize.Canonicalize(NET),
    "sort-coordinates": symmetrize.SortCoordinates(NET),
    "average": symmetrize.GroupAverage(NET, S5),
    "sampled": symmetrize.SampledGroupAverage(NET, S5),
    "augment": symmetrize.Augment(NET, S5).train(),
}

# Every masked module refuses the same bad masks, with the expected and the received shape.
BAD_MASKS = [
    ("extra-slot", lambda: ones(2, 6), ValueError, r"\(2, 5\).*\(2, 6\)"),
    ("missing-slot", lambda: ones(2, 4), ValueError, r"\(2, 5\).*\(2, 4\)"),
    ("one-dim", lambda: ones(2), ValueError, r"\(2, 5\).*\(2,\)"),
    ("three-dims", lambda: ones(2, 5, 1), ValueError, r"\(2, 5\).*\(2, 5, 1\)"),
    ("batch-larger", lambda: ones(3, 5), ValueError, r"\(2, 5\).*\(3, 5\)"),
    ("batch-smaller", lambda: ones(1, 5), ValueError, r"\(2, 5\).*\(1, 5\)"),
    ("transposed", lambda: ones(5, 2), ValueError, r"\(2, 5\).*\(5, 2\)"),
    ("float", lambda: ones(2, 5, dtype=torch.float32), ValueError, r"torch\.float32.*\(2, 5\)"),
    ("long", lambda: ones(2, 5, dtype=torch.long), ValueError, r"torch\.int64"),
    ("uint8", lambda: ones(2, 5, dtype=torch.uint8), ValueError, r"torch\.uint8"),
    ("float-wrong-shape", lambda: ones(3, 5, dtype=torch.float64), ValueError, r"torch\.float64"),
    ("meta-device", lambda: ones(2, 5, device="meta"), ValueError, "meta"),
    ("list", lambda: [[True] * 5] * 2, TypeError, "list"),
    ("numpy", lambda: np.ones((2, 5), dtype=bool), TypeError, "ndarray"),
    ("int", lambda: 1, TypeError, "int"),
]

CASES = [
    case(f"{module}-mask-{bad}", (lambda m=MODULES[module], make=make: m(X, mask=make())), error, "mask", received)
    for module in MODULES for bad, make, error, received in BAD_MASKS
] + [
    # a mask batch that splits ensemble members
    case("eq-ensemble-mask-batch", lambda: EQ3(torch.zeros(6, 5, 3), mask=ones(3, 5)), ValueError, "mask",
         r"\(6, 5\).*\(3, 5\)"),
    case("canonical-order-mask-float", lambda: symmetrize.canonical_order(X, ones(2, 5, dtype=torch.float32)),
         ValueError, "mask", r"torch\.float32"),
    case("canonical-order-mask-shape", lambda: symmetrize.canonical_order(X, ones(2, 4)), ValueError, "mask",
         r"\(2, 4\)"),
    case("check-mask-shape", lambda: layers.check_mask(X, ones(4, 5)), ValueError, "mask", r"\(2, 5\).*\(4, 5\)"),
    # a mask given to a layer or model that cannot use one: TypeError naming it
    case("dense-layer", lambda: layers.DenseSetLinear(3, 2, 5, 5)(X, mask=OK), TypeError, "DenseSetLinear",
         r"\(2, 5\)"),
    case("dense-layer-bad-mask-too", lambda: layers.DenseSetLinear(3, 2, 5, 5)(X, mask="all"), TypeError,
         "DenseSetLinear", "'all'"),
    case("orbit-layer", lambda: layers.GroupEquivariantLinear(C5, 3, 2)(X, mask=OK), TypeError,
         "GroupEquivariantLinear", r"\(2, 5\)"),
    case("orbit-layer-symmetric", lambda: layers.GroupEquivariantLinear(S5, 3, 2)(X, mask=OK), TypeError,
         "GroupEquivariantLinear", r"\(2, 5\)"),
    case("dense-network", lambda: models.dense(5, 3)(X, mask=OK), TypeError, "DenseSetLinear"),
    case("orbit-network", lambda: models.orbit_net(C5, 3)(X, mask=OK), TypeError, "GroupEquivariantLinear"),
    case("build-canonical", lambda: models.build("canonical", 5, 3)(X, mask=OK), TypeError, "DenseSetLinear"),
    case("build-sampled", lambda: models.build("sampled", 5, 3)(X, mask=OK), TypeError, "DenseSetLinear"),
    case("build-augment", lambda: models.build("augment", 5, 3).train()(X, mask=OK), TypeError, "DenseSetLinear"),
    case("build-average", lambda: models.build("average", 5, 3, group="cyclic")(X, mask=OK), TypeError,
         "GroupAverage", "C_5"),
    case("build-orbit", lambda: models.build("orbit", 5, 3, probabilities=True)(X, mask=OK), TypeError,
         "GroupEquivariantLinear"),
    case("build-original-canonical", lambda: models.build("original_canonical", 5, 3, probabilities=True)(X, mask=OK),
         TypeError, "CanonicalModel", r"\(2, 5\)"),
    case("average-cyclic", lambda: symmetrize.GroupAverage(NET, C5)(X, mask=OK), TypeError, "GroupAverage", "C_5"),
    case("sampled-cyclic", lambda: symmetrize.SampledGroupAverage(NET, C5)(X, mask=OK), TypeError,
         "SampledGroupAverage", "C_5"),
    case("augment-dihedral", lambda: symmetrize.Augment(NET, groups.dihedral(5))(X, mask=OK), TypeError, "Augment",
         "D_5"),
    case("canonicalize-plain-sequential",
         lambda: symmetrize.Canonicalize(nn.Sequential(EQ, nn.ReLU(), INV))(X, mask=OK), TypeError, "Canonicalize",
         "Sequential"),
    case("augment-identity", lambda: symmetrize.Augment(nn.Identity(), S5)(X, mask=OK), TypeError, "Augment",
         "Identity"),
    case("set-sequential-hiding-layers", lambda: layers.SetSequential(nn.Sequential(EQ, nn.ReLU()), INV)(X, mask=OK),
         TypeError, "Sequential", r"\(2, 5\)"),
    # pool
    case("eq-pool-unknown", lambda: layers.PermEquivariantLinear(3, 2, pool="median"), ValueError, "pool", "'median'"),
    case("eq-pool-case", lambda: layers.PermEquivariantLinear(3, 2, pool="Max"), ValueError, "pool", "'Max'"),
    case("inv-pool-none", lambda: layers.PermInvariantLinear(3, 2, pool=None), TypeError, "pool", "None"),
    case("inv-pool-int", lambda: layers.PermInvariantLinear(3, 2, pool=1), TypeError, "pool", r"\b1\b"),
    case("inv-pool-reduction-name", lambda: layers.PermInvariantLinear(3, 2, pool="avg"), ValueError, "pool",
         "'avg'"),
    case("deepsets-pool", lambda: models.deepsets(3, 4, pool="mean_max"), ValueError, "pool", "'mean_max'"),
    # the variable-size task
    case("task-n-min-zero", lambda: data.VariableSizeVarianceTask(0, 5), ValueError, "n_min", r"\b0\b"),
    case("task-n-max-below-n-min", lambda: data.VariableSizeVarianceTask(6, 5), ValueError, "n_max", r"\b5\b"),
    case("task-n-max-float", lambda: data.VariableSizeVarianceTask(2, 5.0), TypeError, "n_max", r"5\.0"),
    case("task-n-min-bool", lambda: data.VariableSizeVarianceTask(True, 5), TypeError, "n_min", "True"),
    case("task-d-zero", lambda: data.VariableSizeVarianceTask(2, 5, 0), ValueError, "d", r"\b0\b"),
    case("task-var1-negative", lambda: data.VariableSizeVarianceTask(2, 5, var1=-1.0), ValueError, "var1", "-1"),
    case("task-dtype-int", lambda: data.VariableSizeVarianceTask(2, 5, dtype=torch.int64), ValueError, "dtype",
         "int64"),
    case("task-batch-negative", lambda: VTASK.sample(-1), ValueError, "batch_size", "-1"),
    case("task-predict-mask-shape", lambda: VTASK.bayes_predict(torch.zeros(2, 5, 3), ones(2, 4)), ValueError, "mask",
         r"\(2, 5\).*\(2, 4\)"),
    case("task-predict-mask-float", lambda: VTASK.bayes_predict(torch.zeros(2, 5, 3), ones(2, 5, dtype=torch.float32)),
         ValueError, "mask", r"torch\.float32"),
    case("task-predict-x-shape", lambda: VTASK.bayes_predict(torch.zeros(2, 6, 3), ones(2, 6)), ValueError, "x",
         r"\(2, 6, 3\)"),
    case("predict-mask-batch", lambda: data.bayes_predict(X, mask=ones(3, 5)), ValueError, "mask", r"\(3, 5\)"),
    case("predict-present-nan", lambda: data.bayes_predict(torch.full((2, 5, 3), float("nan")), mask=OK), ValueError,
         "x", "NaN"),
    case("trim-lengths-too-short", lambda: data.trim_padding(X, OK, lengths=[2, 3]), ValueError, "lengths",
         r"\[2, 3\]"),
    case("trim-lengths-string", lambda: data.trim_padding(X, OK, lengths="8"), TypeError, "lengths", "'8'"),
    case("trim-lengths-empty", lambda: data.trim_padding(X, OK, lengths=[]), TypeError, "lengths", r"\[\]"),
    case("trim-lengths-negative", lambda: data.trim_padding(X, OK, lengths=[8, -1]), ValueError, "lengths[1]", "-1"),
    case("trim-lengths-float", lambda: data.trim_padding(X, OK, lengths=[8.0]), TypeError, "lengths[0]", r"8\.0"),
    case("trim-x-list", lambda: data.trim_padding([[0.0]], OK), TypeError, "x", "list"),
    case("trim-mask-float", lambda: data.trim_padding(X, ones(2, 5, dtype=torch.float32)), ValueError, "mask",
         r"torch\.float32"),
    case("trim-x-two-dims", lambda: data.trim_padding(torch.zeros(2, 5), OK), ValueError, "x", r"\(2, 5\)"),
    # training
    case("evaluate-mask-shape", lambda: train.evaluate(NET, X, torch.zeros(2), mask=ones(2, 4)), ValueError, "mask",
         r"\(2, 5\).*\(2, 4\)"),
    case("evaluate-mask-float", lambda: train.evaluate(NET, X, torch.zeros(2), mask=ones(2, 5, dtype=torch.float32)),
         ValueError, "mask", r"torch\.float32"),
    case("evaluate-dense-with-mask", lambda: train.evaluate(models.dense(5, 3), X, torch.zeros(2), mask=OK), TypeError,
         "DenseSetLinear"),
    case("fit-dense-on-masked-task", lambda: train.fit(models.dense(5, 3), VTASK, steps=2, test_size=0), TypeError,
         "DenseSetLinear"),
]


@pytest.mark.parametrize("call,error,argument,received", CASES)
def test_bad_input_names_the_argument(call, error, argument, received):
    assert_clear_error(call, error, argument, received)


def test_refusals_point_to_the_layers_that_take_masks():
    for layer in (layers.DenseSetLinear(3, 2, 5, 5), layers.GroupEquivariantLinear(C5, 3, 2)):
        with pytest.raises(TypeError, match=r"PermEquivariantLinear and PermInvariantLinear.*take mask="):
            layer(X, mask=OK)
    with pytest.raises(TypeError, match=r"symlib\.groups\.symmetric\(5\)"):
        symmetrize.SampledGroupAverage(NET, C5)(X, mask=OK)


def test_a_bad_mask_does_not_advance_the_random_stream():
    # The mask is checked before any word is drawn: a refused call leaves the stream where it was.
    wrapper = symmetrize.SampledGroupAverage(NET, S5).train()
    with pytest.raises(ValueError, match="mask"):
        wrapper(X, mask=ones(2, 4))
    assert wrapper.train_position.item() == 0
