"""Bad input to symlib.symmetrize: each case raises the right exception type, naming the argument."""

import pytest
import torch
from torch import nn

from conftest import assert_clear_error
from symlib import groups, layers, models, symmetrize

S4, C5, D5 = groups.symmetric(4), groups.cyclic(5), groups.dihedral(5)
BASE = models.dense(5, 3, width=4)
PAIR = models.dense(5, 3, width=4, ensemble_size=2)  # an ensemble of 2
PLAIN = models.deepsets(3, width=4)  # no random wrapper inside
MIXED = nn.Sequential(layers.PermEquivariantLinear(3, 4, ensemble_size=2), layers.PermInvariantLinear(4, 1))
SAMPLED = symmetrize.SampledGroupAverage(BASE, C5)
X = torch.zeros(2, 5, 3)


def case(name, call, error, argument, received=None):
    return pytest.param(call, error, argument, received, id=name)


def training(module):
    return module.train()


CASES = [
    # Canonicalize, SortCoordinates: model, x
    case("canonicalize-model-string", lambda: symmetrize.Canonicalize("dense"), TypeError, "model", "str"),
    case("canonicalize-model-none", lambda: symmetrize.Canonicalize(None), TypeError, "model", "NoneType"),
    case("canonicalize-model-mixed", lambda: symmetrize.Canonicalize(MIXED), ValueError, "model", r"\[1, 2\]"),
    case("canonicalize-x-list", lambda: symmetrize.Canonicalize(BASE)([[0.0] * 3] * 5), TypeError, "x", "list"),
    case("canonicalize-x-two-dims", lambda: symmetrize.Canonicalize(BASE)(torch.zeros(5, 3)), ValueError, "x",
         r"\(5, 3\)"),
    case("sort-model-function", lambda: symmetrize.SortCoordinates(lambda t: t), TypeError, "model", "function"),
    case("sort-x-none", lambda: symmetrize.SortCoordinates(BASE)(None), TypeError, "x", "NoneType"),
    case("sort-x-four-dims", lambda: symmetrize.SortCoordinates(BASE)(torch.zeros(2, 5, 5, 3)), ValueError, "x",
         r"\(2, 5, 5, 3\)"),
    # canonical_order: x
    case("canonical-order-list", lambda: symmetrize.canonical_order([[1.0, 2.0]]), TypeError, "x", "list"),
    case("canonical-order-two-dims", lambda: symmetrize.canonical_order(torch.zeros(4, 3)), ValueError, "x",
         r"\(4, 3\)"),
    case("canonical-order-complex", lambda: symmetrize.canonical_order(torch.zeros(2, 4, 3, dtype=torch.complex64)),
         TypeError, "x", r"torch\.complex64"),
    # GroupAverage: model, group, chunk_size, max_elements, checkpoint, x
    case("average-model-string", lambda: symmetrize.GroupAverage("dense", C5), TypeError, "model", "str"),
    case("average-group-string", lambda: symmetrize.GroupAverage(BASE, "C_5"), TypeError, "group", "str"),
    case("average-group-none", lambda: symmetrize.GroupAverage(BASE, None), TypeError, "group", "NoneType"),
    case("average-group-elements", lambda: symmetrize.GroupAverage(BASE, C5.elements()), TypeError, "group",
         "Tensor"),
    case("average-chunk-zero", lambda: symmetrize.GroupAverage(BASE, C5, chunk_size=0), ValueError, "chunk_size",
         r"got 0\b"),
    case("average-chunk-negative", lambda: symmetrize.GroupAverage(BASE, C5, chunk_size=-4), ValueError,
         "chunk_size", "-4"),
    case("average-chunk-float", lambda: symmetrize.GroupAverage(BASE, C5, chunk_size=2.5), TypeError, "chunk_size",
         "2.5"),
    case("average-chunk-bool", lambda: symmetrize.GroupAverage(BASE, C5, chunk_size=True), TypeError, "chunk_size",
         "True"),
    case("average-chunk-none", lambda: symmetrize.GroupAverage(BASE, C5, chunk_size=None), TypeError, "chunk_size",
         "None"),
    case("average-max-elements-zero", lambda: symmetrize.GroupAverage(BASE, C5, max_elements=0), ValueError,
         "max_elements", r"got 0\b"),
    case("average-max-elements-string", lambda: symmetrize.GroupAverage(BASE, C5, max_elements="10"), TypeError,
         "max_elements", "'10'"),
    case("average-max-elements-float", lambda: symmetrize.GroupAverage(BASE, C5, max_elements=1e6), TypeError,
         "max_elements", r"1000000\.0"),
    case("average-group-too-large", lambda: symmetrize.GroupAverage(BASE, D5, max_elements=9), ValueError,
         "max_elements", r"\b10\b.*max_elements=9"),
    case("average-checkpoint-int", lambda: symmetrize.GroupAverage(BASE, C5, checkpoint=1), TypeError, "checkpoint",
         r"got 1\b"),
    case("average-checkpoint-string", lambda: symmetrize.GroupAverage(BASE, C5, checkpoint="yes"), TypeError,
         "checkpoint", "'yes'"),
    case("average-checkpoint-none", lambda: symmetrize.GroupAverage(BASE, C5, checkpoint=None), TypeError,
         "checkpoint", "None"),
    case("average-x-set-size", lambda: symmetrize.GroupAverage(BASE, C5)(torch.zeros(2, 4, 3)), ValueError, "x",
         r"\b4\b.*n=5"),
    case("average-x-tuple", lambda: symmetrize.GroupAverage(BASE, C5)((1.0,)), TypeError, "x", "tuple"),
    case("average-x-batch-not-multiple", lambda: symmetrize.GroupAverage(PAIR, D5)(torch.zeros(3, 5, 3)),
         ValueError, "x", r"\b3\b.*ensemble_size=2"),
    case("average-x-batch-not-multiple-chunked",
         lambda: symmetrize.GroupAverage(PAIR, C5, chunk_size=2)(torch.zeros(5, 5, 3)), ValueError, "x",
         r"\b5\b.*ensemble_size=2"),
    # SampledGroupAverage: samples, eval_samples, seed (int or one per member), x
    case("sampled-samples-zero", lambda: symmetrize.SampledGroupAverage(BASE, C5, samples=0), ValueError, "samples",
         r"got 0\b"),
    case("sampled-samples-float", lambda: symmetrize.SampledGroupAverage(BASE, C5, samples=1.5), TypeError,
         "samples", "1.5"),
    case("sampled-samples-bool", lambda: symmetrize.SampledGroupAverage(BASE, C5, samples=True), TypeError,
         "samples", "True"),
    case("sampled-samples-string", lambda: symmetrize.SampledGroupAverage(BASE, C5, samples="8"), TypeError,
         "samples", "'8'"),
    case("sampled-eval-samples-zero", lambda: symmetrize.SampledGroupAverage(BASE, C5, eval_samples=0), ValueError,
         "eval_samples", r"got 0\b"),
    case("sampled-eval-samples-negative", lambda: symmetrize.SampledGroupAverage(BASE, C5, eval_samples=-3),
         ValueError, "eval_samples", "-3"),
    case("sampled-eval-samples-string", lambda: symmetrize.SampledGroupAverage(BASE, C5, eval_samples="3"),
         TypeError, "eval_samples", "'3'"),
    case("sampled-seed-negative", lambda: symmetrize.SampledGroupAverage(BASE, C5, seed=-1), ValueError, "seed",
         "-1"),
    case("sampled-seed-string", lambda: symmetrize.SampledGroupAverage(BASE, C5, seed="a"), TypeError, "seed",
         "'a'"),
    case("sampled-seed-float", lambda: symmetrize.SampledGroupAverage(BASE, C5, seed=1.5), TypeError, "seed", "1.5"),
    case("sampled-seed-none", lambda: symmetrize.SampledGroupAverage(BASE, C5, seed=None), TypeError, "seed",
         "None"),
    case("sampled-seed-bool", lambda: symmetrize.SampledGroupAverage(BASE, C5, seed=False), TypeError, "seed",
         "False"),
    case("sampled-seed-generator", lambda: symmetrize.SampledGroupAverage(BASE, C5, seed=torch.Generator()),
         TypeError, "seed", "Generator"),
    case("sampled-seeds-too-many", lambda: symmetrize.SampledGroupAverage(BASE, C5, seed=[0, 1]), ValueError, "seed",
         r"got 2\b"),
    case("sampled-seeds-too-few", lambda: symmetrize.SampledGroupAverage(PAIR, C5, seed=[0]), ValueError, "seed",
         r"got 1\b"),
    case("sampled-seeds-negative-entry", lambda: symmetrize.SampledGroupAverage(PAIR, C5, seed=[0, -1]), ValueError,
         r"seed[1]", "-1"),
    case("sampled-seeds-float-entry", lambda: symmetrize.SampledGroupAverage(BASE, C5, seed=[1.5]), TypeError,
         r"seed[0]", "1.5"),
    case("sampled-group-string", lambda: symmetrize.SampledGroupAverage(BASE, "S_5"), TypeError, "group", "str"),
    case("sampled-model-none", lambda: symmetrize.SampledGroupAverage(None, C5), TypeError, "model", "NoneType"),
    case("sampled-x-set-size", lambda: SAMPLED(torch.zeros(2, 6, 3)), ValueError, "x", r"\b6\b.*n=5"),
    case("sampled-x-two-dims", lambda: SAMPLED(torch.zeros(5, 3)), ValueError, "x", r"\(5, 3\)"),
    case("sampled-x-batch-not-multiple",
         lambda: training(symmetrize.SampledGroupAverage(PAIR, C5, samples=2))(torch.zeros(3, 5, 3)), ValueError, "x",
         r"\b3\b.*ensemble_size=2"),
    case("sampled-x-batch-not-multiple-eval",
         lambda: symmetrize.SampledGroupAverage(PAIR, C5, eval_samples=4).eval()(torch.zeros(5, 5, 3)), ValueError,
         "x", r"\b5\b.*ensemble_size=2"),
    # Augment: model, group, seed, x
    case("augment-model-module-class", lambda: symmetrize.Augment(nn.ReLU, C5), TypeError, "model", "type"),
    case("augment-group-int", lambda: symmetrize.Augment(BASE, 5), TypeError, "group", "int"),
    case("augment-seed-negative", lambda: symmetrize.Augment(BASE, C5, seed=-3), ValueError, "seed", "-3"),
    case("augment-seeds-wrong-length", lambda: symmetrize.Augment(PAIR, C5, seed=(0, 1, 2)), ValueError, "seed",
         r"got 3\b"),
    case("augment-x-set-size", lambda: training(symmetrize.Augment(BASE, C5))(torch.zeros(2, 3, 3)), ValueError, "x",
         r"\b3\b.*n=5"),
    case("augment-x-set-size-eval", lambda: symmetrize.Augment(BASE, C5).eval()(torch.zeros(2, 3, 3)), ValueError,
         "x", r"\b3\b.*n=5"),
    case("augment-x-batch-not-multiple", lambda: training(symmetrize.Augment(PAIR, C5))(torch.zeros(3, 5, 3)),
         ValueError, "x", r"\b3\b.*ensemble_size=2"),
    # reseed: model, seeds
    case("reseed-model-string", lambda: symmetrize.reseed("model", 0), TypeError, "model", "str"),
    case("reseed-negative", lambda: symmetrize.reseed(SAMPLED, -1), ValueError, "seeds", "-1"),
    case("reseed-float", lambda: symmetrize.reseed(SAMPLED, 1.5), TypeError, "seeds", "1.5"),
    case("reseed-none", lambda: symmetrize.reseed(SAMPLED, None), TypeError, "seeds", "None"),
    case("reseed-bool", lambda: symmetrize.reseed(SAMPLED, True), TypeError, "seeds", "True"),
    case("reseed-string", lambda: symmetrize.reseed(SAMPLED, "01"), TypeError, "seeds", "'01'"),
    case("reseed-too-many", lambda: symmetrize.reseed(SAMPLED, [0, 1]), ValueError, "seeds", r"got 2\b"),
    case("reseed-float-entry", lambda: symmetrize.reseed(SAMPLED, [0.5]), TypeError, "seeds[0]", "0.5"),
    case("reseed-no-wrapper-negative", lambda: symmetrize.reseed(PLAIN, -1), ValueError, "seeds", "-1"),
    case("reseed-no-wrapper-too-many", lambda: symmetrize.reseed(PLAIN, [0, 1, 2]), ValueError, "seeds", r"got 3\b"),
    case("reseed-wrapper-method-too-many", lambda: SAMPLED.reseed([0, 1]), ValueError, "seeds", r"got 2\b"),
    case("reseed-wrapper-method-stream", lambda: SAMPLED.reseed([0], stream=-1), ValueError, "stream", "-1"),
    # rewind: model, stream
    case("rewind-zero", lambda: symmetrize.rewind(SAMPLED, 0), ValueError, "stream", r"got 0\b"),
    case("rewind-negative", lambda: symmetrize.rewind(SAMPLED, -2), ValueError, "stream", "-2"),
    case("rewind-string", lambda: symmetrize.rewind(SAMPLED, "1"), TypeError, "stream", "'1'"),
    case("rewind-float", lambda: symmetrize.rewind(SAMPLED, 1.0), TypeError, "stream", r"1\.0"),
    case("rewind-bool", lambda: symmetrize.rewind(SAMPLED, True), TypeError, "stream", "True"),
    case("rewind-too-large", lambda: symmetrize.rewind(SAMPLED, 2 ** 64), ValueError, "stream",
         "18446744073709551616"),
    case("rewind-model-none", lambda: symmetrize.rewind(None, 1), TypeError, "model", "NoneType"),
    case("rewind-no-wrapper-zero", lambda: symmetrize.rewind(PLAIN, 0), ValueError, "stream", r"got 0\b"),
    case("rewind-wrapper-method-zero", lambda: SAMPLED.rewind(0), ValueError, "stream", r"got 0\b"),
]


@pytest.mark.parametrize("call,error,argument,received", CASES)
def test_bad_input_names_the_argument(call, error, argument, received):
    assert_clear_error(call, error, argument, received)


def test_group_average_of_an_ensemble_refuses_a_batch_that_splits_a_member():
    # Was: with |D_5| = 10 elements per sample, a batch of 3 became 30 rows, a multiple of 2, and the
    # two members silently averaged each other's samples.
    with pytest.raises(ValueError, match=r"x has batch 3, which is not a multiple of ensemble_size=2"):
        symmetrize.GroupAverage(PAIR, D5)(torch.zeros(3, 5, 3))


def test_reseed_of_a_model_without_random_wrappers_still_checks_the_seeds():
    # Was: accepted silently (there was nothing to reseed), so a bad seed went unnoticed.
    with pytest.raises(ValueError, match=r"seeds must be a non-negative int, got -1"):
        symmetrize.reseed(PLAIN, -1)
