"""Bad input to symlib.groups: each case raises the right exception type, naming the argument."""

import numpy as np
import pytest
import torch

from conftest import assert_clear_error
from symlib import groups

S4, C5, D5, A4 = groups.symmetric(4), groups.cyclic(5), groups.dihedral(5), groups.alternating(4)
GENERIC = groups.from_generators([[1, 0, 2, 3], [1, 2, 3, 0]])
X = torch.randn(2, 4, 3)
P = torch.tensor([1, 2, 3, 0])


def bits(group, *shape):
    return torch.zeros(*shape, group.random_words, dtype=torch.long)


# (id, call, exception type, argument named in the message)
CASES = [
    # named-group constructors: n
    ("symmetric-zero", lambda: groups.symmetric(0), ValueError, "n"),
    ("symmetric-negative", lambda: groups.symmetric(-1), ValueError, "n"),
    ("symmetric-float", lambda: groups.symmetric(2.5), TypeError, "n"),
    ("symmetric-integral-float", lambda: groups.symmetric(3.0), TypeError, "n"),
    ("symmetric-bool", lambda: groups.symmetric(True), TypeError, "n"),
    ("symmetric-string", lambda: groups.symmetric("3"), TypeError, "n"),
    ("alternating-zero", lambda: groups.alternating(0), ValueError, "n"),
    ("alternating-none", lambda: groups.alternating(None), TypeError, "n"),
    ("cyclic-float", lambda: groups.cyclic(1.0), TypeError, "n"),
    ("cyclic-tensor", lambda: groups.cyclic(torch.tensor(3)), TypeError, "n"),
    ("dihedral-negative", lambda: groups.dihedral(-2), ValueError, "n"),
    ("dihedral-bool", lambda: groups.dihedral(False), TypeError, "n"),
    ("trivial-bool", lambda: groups.trivial(False), TypeError, "n"),
    ("trivial-zero", lambda: groups.trivial(0), ValueError, "n"),
    # from_generators / PermutationGroup: n, generators, name
    ("from-generators-n-float", lambda: groups.from_generators([[0, 1, 2]], n=2.5), TypeError, "n"),
    ("from-generators-n-string", lambda: groups.from_generators([[0, 1, 2]], n="3"), TypeError, "n"),
    ("from-generators-n-bool", lambda: groups.from_generators([[0, 1, 2]], n=True), TypeError, "n"),
    ("from-generators-n-zero", lambda: groups.from_generators([], n=0), ValueError, "n"),
    ("from-generators-empty-without-n", lambda: groups.from_generators([]), ValueError, "n"),
    ("from-generators-string", lambda: groups.from_generators("012"), TypeError, "generators"),
    ("from-generators-string-rows", lambda: groups.from_generators(["012", "120"]), TypeError, "generators"),
    ("from-generators-int", lambda: groups.from_generators(5), TypeError, "generators"),
    ("from-generators-dict", lambda: groups.from_generators({0: [1, 0]}), TypeError, "generators"),
    ("from-generators-float-entries", lambda: groups.from_generators([[0, 1.0, 2]]), TypeError, "generators"),
    ("from-generators-bool-entries", lambda: groups.from_generators([[True, False]]), TypeError, "generators"),
    ("from-generators-float-tensor", lambda: groups.from_generators(torch.tensor([[0.0, 1.0]])), TypeError,
     "generators"),
    ("from-generators-float-array", lambda: groups.from_generators(np.array([[0.0, 1.0]])), TypeError, "generators"),
    ("from-generators-3d-tensor", lambda: groups.from_generators(torch.zeros(2, 2, 2, dtype=torch.long)), ValueError,
     "generators"),
    ("from-generators-repeated-point", lambda: groups.from_generators([[0, 0, 1]]), ValueError, "generators"),
    ("from-generators-out-of-range", lambda: groups.from_generators([[0, 1, 3]]), ValueError, "generators"),
    ("from-generators-negative", lambda: groups.PermutationGroup([[-1, 0]]), ValueError, "generators"),
    ("from-generators-mixed-lengths", lambda: groups.from_generators([[0, 1, 2], [0, 1]]), ValueError, "generators"),
    ("from-generators-wrong-length", lambda: groups.from_generators([[1, 0, 2, 3]], n=3), ValueError, "generators"),
    ("from-generators-name", lambda: groups.from_generators([[1, 0]], name=3), TypeError, "name"),
    # product
    ("product-second-string", lambda: groups.product(C5, "S_3"), TypeError, "g2"),
    ("product-first-none", lambda: groups.product(None, C5), TypeError, "g1"),
    # elements
    ("elements-none", lambda: S4.elements(max_elements=None), TypeError, "max_elements"),
    ("elements-zero", lambda: S4.elements(max_elements=0), ValueError, "max_elements"),
    ("elements-float", lambda: C5.elements(max_elements=1.5), TypeError, "max_elements"),
    ("elements-bool", lambda: GENERIC.elements(True), TypeError, "max_elements"),
    ("elements-too-many", lambda: groups.symmetric(20).elements(), ValueError, "max_elements"),
    ("elements-too-many-generic", lambda: GENERIC.elements(max_elements=5), ValueError, "max_elements"),
    # sample: k, generator, seed
    ("sample-bool", lambda: S4.sample(True), TypeError, "k"),
    ("sample-negative", lambda: C5.sample(-1), ValueError, "k"),
    ("sample-float", lambda: D5.sample(2.0), TypeError, "k"),
    ("sample-string", lambda: GENERIC.sample("3"), TypeError, "k"),
    ("sample-none", lambda: A4.sample(None), TypeError, "k"),
    ("sample-generator-string", lambda: S4.sample(3, generator="x"), TypeError, "generator"),
    ("sample-generator-int", lambda: C5.sample(3, generator=0), TypeError, "generator"),
    ("sample-generator-generic", lambda: GENERIC.sample(3, generator="x"), TypeError, "generator"),
    ("sample-seed-negative", lambda: S4.sample(3, seed=-1), ValueError, "seed"),
    ("sample-seed-string", lambda: S4.sample(3, seed="a"), TypeError, "seed"),
    ("sample-seed-float", lambda: D5.sample(3, seed=1.5), TypeError, "seed"),
    ("sample-seed-too-large", lambda: C5.sample(3, seed=2 ** 64), ValueError, "seed"),
    ("sample-seed-and-generator", lambda: C5.sample(3, generator=torch.Generator(), seed=1), ValueError, "seed"),
    # sample_from_bits: bits, check
    ("bits-list", lambda: S4.sample_from_bits([1, 2, 3, 4]), TypeError, "bits"),
    ("bits-float", lambda: C5.sample_from_bits(torch.zeros(3, 1)), TypeError, "bits"),
    ("bits-bool", lambda: D5.sample_from_bits(torch.zeros(3, 1, dtype=torch.bool)), TypeError, "bits"),
    ("bits-wrong-width", lambda: S4.sample_from_bits(torch.zeros(3, 3, dtype=torch.long)), ValueError, "bits"),
    ("bits-wrong-width-generic", lambda: GENERIC.sample_from_bits(torch.zeros(3, 9, dtype=torch.long)), ValueError,
     "bits"),
    ("bits-scalar", lambda: C5.sample_from_bits(torch.tensor(3)), ValueError, "bits"),
    ("bits-negative", lambda: A4.sample_from_bits(bits(A4, 2) - 1), ValueError, "bits"),
    ("bits-too-large", lambda: C5.sample_from_bits(bits(C5, 2) + 2 ** 32), ValueError, "bits"),
    ("bits-check-string", lambda: C5.sample_from_bits(bits(C5, 2), check="yes"), TypeError, "check"),
    # contains / contains_batch
    ("contains-repeated-point", lambda: C5.contains([0, 0, 1, 2, 3]), ValueError, "perm"),
    ("contains-string", lambda: S4.contains("0123"), TypeError, "perm"),
    ("contains-float-tensor", lambda: A4.contains(torch.tensor([0.0, 1.0, 2.0, 3.0])), TypeError, "perm"),
    ("contains-wrong-length", lambda: GENERIC.contains([0, 1]), ValueError, "perm"),
    ("contains-batch-given", lambda: D5.contains(torch.arange(5).expand(2, 5)), ValueError, "perm"),
    ("contains-batch-list", lambda: S4.contains_batch([[0, 1, 2, 3]]), TypeError, "perms"),
    ("contains-batch-non-perm", lambda: C5.contains_batch(torch.zeros(2, 5, dtype=torch.long)), ValueError, "perms"),
    # act: x, perm, order, check
    ("act-x-none", lambda: groups.act(None, P), TypeError, "x"),
    ("act-x-none-order-zero", lambda: groups.act(None, P, order=0), TypeError, "x"),
    ("act-x-list", lambda: groups.act([[1.0, 2.0]], torch.tensor([1, 0])), TypeError, "x"),
    ("act-x-one-dim", lambda: groups.act(torch.randn(4), P), ValueError, "x"),
    ("act-perm-list", lambda: groups.act(X, [0, 1, 2, 3]), TypeError, "perm"),
    ("act-perm-float", lambda: groups.act(X, P.float()), TypeError, "perm"),
    ("act-perm-bool", lambda: groups.act(X, P.bool()), TypeError, "perm"),
    ("act-perm-repeated", lambda: groups.act(X, torch.tensor([0, 0, 1, 2])), ValueError, "perm"),
    ("act-perm-out-of-range", lambda: groups.act(X, torch.tensor([0, 1, 2, 4])), ValueError, "perm"),
    ("act-perm-wrong-length", lambda: groups.act(X, torch.tensor([0, 1, 2])), ValueError, "perm"),
    ("act-perm-wrong-batch", lambda: groups.act(X, P.expand(3, 4)), ValueError, "perm"),
    ("act-perm-3d", lambda: groups.act(X, P.expand(2, 2, 4)), ValueError, "perm"),
    ("act-perm-order-zero-not-perm", lambda: groups.act(X, torch.tensor([0, 0]), order=0), ValueError, "perm"),
    ("act-order-two-non-square", lambda: groups.act(torch.randn(2, 4, 3, 1), P, order=2), ValueError, "order"),
    ("act-order-float", lambda: groups.act(X, P, order=1.0), TypeError, "order"),
    ("act-order-bool", lambda: groups.act(X, P, order=True), TypeError, "order"),
    ("act-order-string", lambda: groups.act(X, P, order="1"), TypeError, "order"),
    ("act-order-negative", lambda: groups.act(X, P, order=-1), ValueError, "order"),
    ("act-order-too-large", lambda: groups.act(X, P, order=3), ValueError, "order"),
    ("act-check-string", lambda: groups.act(X, P, check="no"), TypeError, "check"),
    # compose: p, q
    ("compose-mismatched-n", lambda: groups.compose(torch.tensor([1, 0, 2]), torch.tensor([1, 0])), ValueError, "q"),
    ("compose-p-list", lambda: groups.compose([1, 0], torch.tensor([1, 0])), TypeError, "p"),
    ("compose-q-float", lambda: groups.compose(torch.tensor([1, 0]), torch.tensor([1.0, 0.0])), TypeError, "q"),
    ("compose-q-not-perm", lambda: groups.compose(torch.tensor([1, 0, 2]), torch.tensor([0, 0, 1])), ValueError, "q"),
    ("compose-p-not-perm", lambda: groups.compose(torch.tensor([2, 2, 2]), torch.tensor([0, 2, 1])), ValueError, "p"),
    ("compose-no-broadcast", lambda: groups.compose(S4.sample(2, seed=0), S4.sample(3, seed=0)), ValueError, "q"),
    ("compose-scalar", lambda: groups.compose(torch.tensor(0), torch.tensor(0)), ValueError, "p"),
    # inverse: p
    ("inverse-not-perm", lambda: groups.inverse(torch.tensor([0, 0, 1])), ValueError, "p"),
    ("inverse-list", lambda: groups.inverse([1, 0]), TypeError, "p"),
    ("inverse-float", lambda: groups.inverse(torch.tensor([1.0, 0.0])), TypeError, "p"),
    ("inverse-scalar", lambda: groups.inverse(torch.tensor(0)), ValueError, "p"),
    ("inverse-check-int", lambda: groups.inverse(P, check=1), TypeError, "check"),
    # check_perm, check_generator, check_seed
    ("check-perm-n-float", lambda: groups.check_perm(P, n=2.5), TypeError, "n"),
    ("check-perm-n-negative", lambda: groups.check_perm(P, n=-1), ValueError, "n"),
    ("check-perm-string", lambda: groups.check_perm("0123", n=4), TypeError, "perm"),
    ("check-generator-string", lambda: groups.check_generator("x"), TypeError, "generator"),
    ("check-seed-negative", lambda: groups.check_seed(-1), ValueError, "seed"),
    ("check-seed-string", lambda: groups.check_seed("a"), TypeError, "seed"),
]


@pytest.mark.parametrize("call,error,argument", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_names_the_argument(call, error, argument):
    assert_clear_error(call, error, argument)


# -- the silent wrong answers of the library issue, now errors ---------------------------------


def test_compose_of_different_lengths_is_an_error_not_a_truncation():
    # Was: [0, 1], a permutation of 2 points made from one of 3.
    with pytest.raises(ValueError, match=r"p and q must permute the same n points"):
        groups.compose(torch.tensor([1, 0, 2]), torch.tensor([1, 0]))


def test_inverse_of_a_non_permutation_is_an_error():
    # Was: [0, 1, 2], an "inverse" of a map that has none.
    with pytest.raises(ValueError, match=r"p must be a permutation of range\(3\), got \[0, 0, 1\]"):
        groups.inverse(torch.tensor([0, 0, 1]))


def test_act_on_none_is_an_error_even_for_order_zero():
    # Was: None, passed through.
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got NoneType"):
        groups.act(None, P, order=0)


def test_order_two_action_on_a_non_square_tensor_is_an_error():
    # Was: dims 1 and 2 both indexed with the same perm; with 5 columns it silently dropped one.
    with pytest.raises(ValueError, match=r"2 set axes of equal size .* got shape \(2, 4, 5, 1\)"):
        groups.act(torch.randn(2, 4, 5, 1), P, order=2)


def test_huge_generic_group_names_the_limit():
    n = 10 ** 6
    g = groups.from_generators(torch.roll(torch.arange(n), -1).unsqueeze(0))
    with pytest.raises(ValueError, match=r"MAX_CHAIN_ENTRIES=1e\+07"):
        g.order()
