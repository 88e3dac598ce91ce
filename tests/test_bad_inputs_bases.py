"""Bad input to symlib.bases: each case raises the right exception type, naming the argument."""

import pytest

from conftest import assert_clear_error
from symlib import bases, groups

C3 = groups.cyclic(3)

CASES = [
    ("orbits-group-string", lambda: bases.tuple_orbits("C_3", 2), TypeError, "group"),
    ("orbits-group-none", lambda: bases.tuple_orbits(None, 2), TypeError, "group"),
    ("orbits-group-tensor", lambda: bases.tuple_orbits(C3.generators, 2), TypeError, "group"),
    ("orbits-order-negative", lambda: bases.tuple_orbits(C3, -1), ValueError, "order"),
    ("orbits-order-float", lambda: bases.tuple_orbits(C3, 1.0), TypeError, "order"),
    ("orbits-order-bool", lambda: bases.tuple_orbits(C3, True), TypeError, "order"),
    ("orbits-order-string", lambda: bases.tuple_orbits(C3, "2"), TypeError, "order"),
    ("orbits-order-none", lambda: bases.tuple_orbits(C3, None), TypeError, "order"),
    ("orbits-too-many-tuples", lambda: bases.tuple_orbits(groups.cyclic(100), 4), ValueError, "order"),
    ("orbits-order-above-max", lambda: bases.tuple_orbits(groups.trivial(1), 65), ValueError, "order"),
    ("orbits-huge-order", lambda: bases.tuple_orbits(C3, 10 ** 9), ValueError, "order"),
    ("basis-group-string", lambda: bases.equivariant_basis_size("x", 1, 1), TypeError, "group"),
    ("basis-in-negative", lambda: bases.equivariant_basis_size(C3, -1, 1), ValueError, "in_order"),
    ("basis-out-negative", lambda: bases.equivariant_basis_size(C3, 3, -1), ValueError, "out_order"),
    ("basis-in-float", lambda: bases.equivariant_basis_size(C3, 1.5, 1), TypeError, "in_order"),
    ("basis-out-bool", lambda: bases.equivariant_basis_size(C3, 1, True), TypeError, "out_order"),
    ("basis-out-string", lambda: bases.equivariant_basis_size(C3, 1, "1"), TypeError, "out_order"),
    ("basis-in-none", lambda: bases.equivariant_basis_size(C3, None, 1), TypeError, "in_order"),
    ("basis-too-many-tuples", lambda: bases.equivariant_basis_size(groups.cyclic(100), 2, 2), ValueError,
     "in_order + out_order"),
    ("basis-sum-above-max", lambda: bases.equivariant_basis_size(groups.trivial(1), 40, 40), ValueError,
     "in_order + out_order"),
]


@pytest.mark.parametrize("call,error,argument", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_names_the_argument(call, error, argument):
    assert_clear_error(call, error, argument)


def test_sum_of_orders_is_not_blamed_on_order():
    # Was: "order must be a non-negative int, got 2" for in_order=3, out_order=-1: a name the caller never used.
    with pytest.raises(ValueError) as info:
        bases.equivariant_basis_size(C3, 3, -1)
    assert str(info.value).startswith("out_order")
