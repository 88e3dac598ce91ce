"""Bad input to symlib.models: each case raises the right exception type, naming the argument."""

import pytest
import torch
from torch import nn

from conftest import assert_clear_error
from symlib import groups, layers, models

C5 = groups.cyclic(5)
MIXED = nn.Sequential(layers.PermEquivariantLinear(3, 4, ensemble_size=2), layers.PermInvariantLinear(4, 1))


def case(name, call, error, argument, received=None):
    return pytest.param(call, error, argument, received, id=name)


CASES = [
    # deepsets: d, width, reduction, init, probabilities, ensemble_size, set_size, device, dtype
    case("deepsets-d-zero", lambda: models.deepsets(0), ValueError, "d", r"got 0\b"),
    case("deepsets-d-float", lambda: models.deepsets(2.5), TypeError, "d", "2.5"),
    case("deepsets-d-bool", lambda: models.deepsets(True), TypeError, "d", "True"),
    case("deepsets-width-zero", lambda: models.deepsets(3, width=0), ValueError, "width", r"got 0\b"),
    case("deepsets-width-string", lambda: models.deepsets(3, width="10"), TypeError, "width", "'10'"),
    case("deepsets-reduction-unknown", lambda: models.deepsets(3, reduction="max"), ValueError, "reduction", "'max'"),
    case("deepsets-init-none", lambda: models.deepsets(3, init=None), TypeError, "init", "None"),
    case("deepsets-probabilities-string", lambda: models.deepsets(3, probabilities="yes"), TypeError, "probabilities",
         "'yes'"),
    case("deepsets-probabilities-int", lambda: models.deepsets(3, probabilities=1), TypeError, "probabilities",
         r"got 1\b"),
    case("deepsets-ensemble-zero", lambda: models.deepsets(3, ensemble_size=0), ValueError, "ensemble_size",
         r"got 0\b"),
    case("deepsets-set-size-negative", lambda: models.deepsets(3, set_size=-1), ValueError, "set_size", "-1"),
    case("deepsets-dtype-int", lambda: models.deepsets(3, dtype=torch.int32), TypeError, "dtype", r"torch\.int32"),
    case("deepsets-device-unknown", lambda: models.deepsets(3, device="gpu0"), ValueError, "device", "'gpu0'"),
    # dense: n, d, width, reduction, init, ensemble_size
    case("dense-n-zero", lambda: models.dense(0, 3), ValueError, "n", r"got 0\b"),
    case("dense-n-float", lambda: models.dense(2.5, 3), TypeError, "n", "2.5"),
    case("dense-n-bool", lambda: models.dense(True, 3), TypeError, "n", "True"),
    case("dense-d-none", lambda: models.dense(5, None), TypeError, "d", "None"),
    case("dense-width-negative", lambda: models.dense(5, 3, width=-1), ValueError, "width", "-1"),
    case("dense-reduction-int", lambda: models.dense(5, 3, reduction=3), TypeError, "reduction", r"got 3\b"),
    case("dense-init-unknown", lambda: models.dense(5, 3, init="he"), ValueError, "init", "'he'"),
    case("dense-ensemble-float", lambda: models.dense(5, 3, ensemble_size=1.0), TypeError, "ensemble_size", r"1\.0"),
    # orbit_net: group, d, width, init
    case("orbit-group-string", lambda: models.orbit_net("C_5", 3), TypeError, "group", "str"),
    case("orbit-group-none", lambda: models.orbit_net(None, 3), TypeError, "group", "NoneType"),
    case("orbit-d-zero", lambda: models.orbit_net(C5, 0), ValueError, "d", r"got 0\b"),
    case("orbit-width-bool", lambda: models.orbit_net(C5, 3, width=True), TypeError, "width", "True"),
    case("orbit-init-unknown", lambda: models.orbit_net(C5, 3, init="sum"), ValueError, "init", "'sum'"),
    case("orbit-ensemble-negative", lambda: models.orbit_net(C5, 3, ensemble_size=-1), ValueError, "ensemble_size",
         "-1"),
    # make_group: name, n
    case("make-group-unknown", lambda: models.make_group("klein", 4), ValueError, "name", "'klein'"),
    case("make-group-none", lambda: models.make_group(None, 4), TypeError, "name", "None"),
    case("make-group-case", lambda: models.make_group("Cyclic", 4), ValueError, "name", "'Cyclic'"),
    case("make-group-n-zero", lambda: models.make_group("cyclic", 0), ValueError, "n", r"got 0\b"),
    case("make-group-n-float", lambda: models.make_group("dihedral", 2.5), TypeError, "n", "2.5"),
    case("make-group-n-string", lambda: models.make_group("symmetric", "5"), TypeError, "n", "'5'"),
    # build: every argument
    case("build-approach-unknown", lambda: models.build("mlp", 5, 3), ValueError, "approach", "'mlp'"),
    case("build-approach-none", lambda: models.build(None, 5, 3), TypeError, "approach", "None"),
    case("build-n-zero-deepsets", lambda: models.build("deepsets", 0, 3), ValueError, "n", r"got 0\b"),
    case("build-n-zero-dense", lambda: models.build("dense", 0, 3), ValueError, "n", r"got 0\b"),
    case("build-n-negative-orbit", lambda: models.build("orbit", -1, 3), ValueError, "n", "-1"),
    case("build-n-float-canonical", lambda: models.build("canonical", 5.0, 3), TypeError, "n", r"5\.0"),
    case("build-d-zero-sampled", lambda: models.build("sampled", 5, 0), ValueError, "d", r"got 0\b"),
    case("build-d-string", lambda: models.build("sort_coords", 5, "3"), TypeError, "d", "'3'"),
    case("build-width-zero", lambda: models.build("augment", 5, 3, width=0), ValueError, "width", r"got 0\b"),
    case("build-group-unknown", lambda: models.build("sampled", 5, 3, group="klein"), ValueError, "group",
         "'klein'"),
    case("build-group-int", lambda: models.build("average", 5, 3, group=3), TypeError, "group", r"got 3\b"),
    case("build-group-unused", lambda: models.build("deepsets", 5, 3, group="cyclic"), ValueError, "group",
         "'cyclic'"),
    case("build-samples-zero", lambda: models.build("sampled", 5, 3, samples=0), ValueError, "samples", r"got 0\b"),
    case("build-samples-unused", lambda: models.build("dense", 5, 3, samples=2), ValueError, "samples", r"\b2\b"),
    case("build-samples-bool-unused", lambda: models.build("dense", 5, 3, samples=True), TypeError, "samples", "True"),
    case("build-samples-float", lambda: models.build("deepsets", 5, 3, samples=1.0), TypeError, "samples", r"1\.0"),
    case("build-eval-samples-zero", lambda: models.build("sampled", 5, 3, eval_samples=0), ValueError,
         "eval_samples", r"got 0\b"),
    case("build-eval-samples-unused", lambda: models.build("augment", 5, 3, eval_samples=4), ValueError,
         "eval_samples", r"\b4\b"),
    case("build-ensemble-zero", lambda: models.build("deepsets", 5, 3, ensemble_size=0), ValueError, "ensemble_size",
         r"got 0\b"),
    case("build-probabilities-string", lambda: models.build("dense", 5, 3, probabilities="no"), TypeError,
         "probabilities", "'no'"),
    case("build-reduction-orbit", lambda: models.build("orbit", 5, 3, group="cyclic", reduction="mean"), ValueError,
         "reduction", "'mean'"),
    case("build-reduction-none", lambda: models.build("deepsets", 5, 3, reduction=None), TypeError, "reduction",
         "None"),
    case("build-reduction-unknown", lambda: models.build("canonical", 5, 3, reduction="max"), ValueError,
         "reduction", "'max'"),
    case("build-init-unknown", lambda: models.build("orbit", 5, 3, init="he"), ValueError, "init", "'he'"),
    case("build-dtype-string", lambda: models.build("deepsets", 5, 3, dtype="float64"), TypeError, "dtype",
         "'float64'"),
    case("build-device-unknown", lambda: models.build("dense", 5, 3, device="nowhere"), ValueError, "device",
         "'nowhere'"),
    # parameter_count: model
    case("parameter-count-string", lambda: models.parameter_count("deepsets"), TypeError, "model", "str"),
    case("parameter-count-none", lambda: models.parameter_count(None), TypeError, "model", "NoneType"),
    case("parameter-count-mixed", lambda: models.parameter_count(MIXED), ValueError, "model", r"\[1, 2\]"),
]


@pytest.mark.parametrize("call,error,argument,received", CASES)
def test_bad_input_names_the_argument(call, error, argument, received):
    assert_clear_error(call, error, argument, received)


def test_a_bool_samples_is_no_longer_taken_for_one():
    # Was: True == 1, so build("dense", ..., samples=True) passed the "samples only for 'sampled'" check.
    with pytest.raises(TypeError, match=r"^samples must be a positive int, got True \(bool\)$"):
        models.build("dense", 5, 3, samples=True)


def test_sizes_are_named_as_the_caller_named_them():
    # Was: "in_channels must be a positive int, got 0" (the first layer's name for d).
    with pytest.raises(ValueError, match=r"^d must be a positive int, got 0$"):
        models.deepsets(0)
