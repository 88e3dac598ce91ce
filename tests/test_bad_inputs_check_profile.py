"""Bad input to symlib.check and symlib.profile: each case raises the right exception type, naming the argument.

The profile cases are refused before anything is timed, so they are quick.
"""

import numpy as np
import pytest
import torch

from conftest import assert_clear_error
from symlib import check, groups, layers, models, profile

NAN, INF = float("nan"), float("inf")
S4 = groups.symmetric(4)
EQ = layers.PermEquivariantLinear(3, 2)
X = torch.randn(2, 4, 3)
NET = models.deepsets(3, width=2)
BUILDERS = {"deepsets": lambda n: models.deepsets(3, width=2)}
MAKE = lambda n: torch.randn(2, n, 3)  # noqa: E731


def table(builders=BUILDERS, sizes=(4,), make_input=MAKE, **kwargs):
    return profile.cost_table(builders, sizes, make_input, **kwargs)


def case(name, call, error, argument, received=None):
    return pytest.param(call, error, argument, received, id=name)


CASES = [
    # equivariance_error: f, group, x, invariant, in_order, out_order
    case("error-f-none", lambda: check.equivariance_error(None, S4, X), TypeError, "f", "NoneType"),
    case("error-f-string", lambda: check.equivariance_error("EQ", S4, X), TypeError, "f", "str"),
    case("error-group-string", lambda: check.equivariance_error(EQ, "S_4", X), TypeError, "group", "str"),
    case("error-group-none", lambda: check.equivariance_error(EQ, None, X), TypeError, "group", "NoneType"),
    case("error-x-list", lambda: check.equivariance_error(EQ, S4, X.tolist()), TypeError, "x", "list"),
    case("error-x-none", lambda: check.equivariance_error(EQ, S4, None), TypeError, "x", "NoneType"),
    case("error-x-set-size", lambda: check.equivariance_error(EQ, S4, torch.randn(2, 5, 3)), ValueError, "x",
         r"\(2, 5, 3\)"),
    case("error-x-one-dim", lambda: check.equivariance_error(EQ, S4, torch.randn(4)), ValueError, "x", r"\(4,\)"),
    case("error-x-order-two-not-square", lambda: check.equivariance_error(lambda t: t, S4, X, in_order=2,
                                                                          out_order=2), ValueError, "x",
         r"\(2, 4, 3\)"),
    case("error-invariant-string", lambda: check.equivariance_error(EQ, S4, X, invariant="yes"), TypeError,
         "invariant", "'yes'"),
    case("error-invariant-int", lambda: check.equivariance_error(EQ, S4, X, invariant=1), TypeError, "invariant",
         r"got 1\b"),
    case("error-in-order-three", lambda: check.equivariance_error(EQ, S4, X, in_order=3), ValueError, "in_order",
         r"got 3\b"),
    case("error-in-order-float", lambda: check.equivariance_error(EQ, S4, X, in_order=1.0), TypeError, "in_order",
         r"1\.0"),
    case("error-out-order-bool", lambda: check.equivariance_error(EQ, S4, X, out_order=True), TypeError, "out_order",
         "True"),
    case("error-out-order-negative", lambda: check.equivariance_error(EQ, S4, X, out_order=-1), ValueError,
         "out_order", "-1"),
    case("error-out-order-string", lambda: check.equivariance_error(EQ, S4, X, out_order="0"), TypeError,
         "out_order", "'0'"),
    # check_equivariance: the same, and atol
    case("check-atol-negative", lambda: check.check_equivariance(EQ, S4, X, atol=-1.0), ValueError, "atol", r"-1\.0"),
    case("check-atol-nan", lambda: check.check_equivariance(EQ, S4, X, atol=NAN), ValueError, "atol", "nan"),
    case("check-atol-inf", lambda: check.check_equivariance(EQ, S4, X, atol=INF), ValueError, "atol", "inf"),
    case("check-atol-string", lambda: check.check_equivariance(EQ, S4, X, atol="1e-6"), TypeError, "atol", "'1e-6'"),
    case("check-atol-none", lambda: check.check_equivariance(EQ, S4, X, atol=None), TypeError, "atol", "None"),
    case("check-atol-bool", lambda: check.check_equivariance(EQ, S4, X, atol=True), TypeError, "atol", "True"),
    case("check-f-int", lambda: check.check_equivariance(3, S4, X), TypeError, "f", "int"),
    case("check-group-tensor", lambda: check.check_equivariance(EQ, S4.generators, X), TypeError, "group", "Tensor"),
    case("check-x-set-size", lambda: check.check_equivariance(EQ, S4, torch.randn(2, 3, 3)), ValueError, "x",
         r"\(2, 3, 3\)"),
    case("check-in-order-string", lambda: check.check_equivariance(EQ, S4, X, in_order="1"), TypeError, "in_order",
         "'1'"),
    # step_seconds, call_seconds, saved_activation_bytes
    case("step-model-string", lambda: profile.step_seconds("deepsets", X), TypeError, "model", "str"),
    case("step-x-list", lambda: profile.step_seconds(NET, X.tolist()), TypeError, "x", "list"),
    case("step-x-two-dims", lambda: profile.step_seconds(NET, torch.randn(4, 3)), ValueError, "x", r"\(4, 3\)"),
    case("step-min-run-time-zero", lambda: profile.step_seconds(NET, X, min_run_time=0), ValueError, "min_run_time",
         r"got 0\b"),
    case("step-min-run-time-negative", lambda: profile.step_seconds(NET, X, min_run_time=-1.0), ValueError,
         "min_run_time", r"-1\.0"),
    case("step-min-run-time-nan", lambda: profile.step_seconds(NET, X, min_run_time=NAN), ValueError,
         "min_run_time", "nan"),
    case("step-min-run-time-inf", lambda: profile.step_seconds(NET, X, min_run_time=INF), ValueError,
         "min_run_time", "inf"),
    case("step-min-run-time-string", lambda: profile.step_seconds(NET, X, min_run_time="0.1"), TypeError,
         "min_run_time", "'0.1'"),
    case("step-min-run-time-bool", lambda: profile.step_seconds(NET, X, min_run_time=True), TypeError,
         "min_run_time", "True"),
    case("call-fn-none", lambda: profile.call_seconds(None), TypeError, "fn", "NoneType"),
    case("call-fn-int", lambda: profile.call_seconds(3), TypeError, "fn", "int"),
    case("call-min-run-time-none", lambda: profile.call_seconds(lambda: None, min_run_time=None), TypeError,
         "min_run_time", "None"),
    case("memory-model-none", lambda: profile.saved_activation_bytes(None, X), TypeError, "model", "NoneType"),
    case("memory-x-array", lambda: profile.saved_activation_bytes(NET, X.numpy()), TypeError, "x", "ndarray"),
    # growth_exponent, affine_fit: sizes, costs
    case("growth-one-pair", lambda: profile.growth_exponent([1], [1.0]), ValueError, "sizes", r"\(1\.0, 1\.0\)"),
    case("growth-mismatched", lambda: profile.growth_exponent([1, 2], [1.0]), ValueError, "costs", r"\(1,\)"),
    case("growth-cost-nan", lambda: profile.growth_exponent([1, 2], [1.0, NAN]), ValueError, "costs", "nan"),
    case("growth-cost-zero", lambda: profile.growth_exponent([1, 2], [1.0, 0.0]), ValueError, "costs", r"0\.0"),
    case("growth-cost-negative", lambda: profile.growth_exponent([1, 2], [1.0, -2.0]), ValueError, "costs",
         r"-2\.0"),
    case("growth-size-inf", lambda: profile.growth_exponent([1, INF], [1.0, 2.0]), ValueError, "sizes", "inf"),
    case("growth-size-zero", lambda: profile.growth_exponent([0, 2], [1.0, 2.0]), ValueError, "sizes", r"0\.0"),
    case("growth-sizes-equal", lambda: profile.growth_exponent([2, 2], [1.0, 2.0]), ValueError, "sizes",
         r"distinct"),
    case("growth-sizes-string", lambda: profile.growth_exponent("abc", [1.0, 2.0, 3.0]), TypeError, "sizes",
         "'abc'"),
    case("growth-sizes-none", lambda: profile.growth_exponent(None, [1.0, 2.0]), TypeError, "sizes", "None"),
    case("growth-costs-none", lambda: profile.growth_exponent([1, 2], None), TypeError, "costs", "None"),
    case("growth-costs-strings", lambda: profile.growth_exponent([1, 2], ["a", "b"]), TypeError, "costs", "'a'"),
    case("growth-sizes-two-dims", lambda: profile.growth_exponent(np.ones((2, 2)), np.ones((2, 2))), ValueError,
         "sizes", r"\(2, 2\)"),
    case("affine-sizes-equal", lambda: profile.affine_fit([2, 2], [1.0, 2.0]), ValueError, "sizes", "distinct"),
    case("affine-cost-nan", lambda: profile.affine_fit([1, 2], [1.0, NAN]), ValueError, "costs", "nan"),
    case("affine-sizes-dict", lambda: profile.affine_fit({1: 2.0, 2: 3.0}, [1.0, 2.0]), TypeError, "sizes", "dict"),
    case("affine-costs-scalar", lambda: profile.affine_fit([1, 2], 3.0), TypeError, "costs", r"3\.0"),
    # cost_table: builders, sizes, make_input, give_up_after, min_run_time
    case("table-builders-list", lambda: table(builders=[BUILDERS["deepsets"]]), TypeError, "builders", "list"),
    case("table-builder-not-callable", lambda: table(builders={"deepsets": "models.deepsets"}), TypeError,
         "builders['deepsets']", "str"),
    case("table-sizes-int", lambda: table(sizes=5), TypeError, "sizes", r"got 5\b"),
    case("table-sizes-string", lambda: table(sizes="345"), TypeError, "sizes", "'345'"),
    case("table-sizes-zero", lambda: table(sizes=[4, 0]), ValueError, "sizes[1]", r"got 0\b"),
    case("table-sizes-float", lambda: table(sizes=[2.5]), TypeError, "sizes[0]", "2.5"),
    case("table-make-input-none", lambda: table(make_input=None), TypeError, "make_input", "NoneType"),
    case("table-make-input-tensor", lambda: table(make_input=X), TypeError, "make_input", "Tensor"),
    case("table-give-up-zero", lambda: table(give_up_after=0), ValueError, "give_up_after", r"got 0\b"),
    case("table-give-up-string", lambda: table(give_up_after="1"), TypeError, "give_up_after", "'1'"),
    case("table-min-run-time-zero", lambda: table(min_run_time=0), ValueError, "min_run_time", r"got 0\b"),
    case("table-min-run-time-nan", lambda: table(min_run_time=NAN), ValueError, "min_run_time", "nan"),
]


@pytest.mark.parametrize("call,error,argument,received", CASES)
def test_bad_input_names_the_argument(call, error, argument, received):
    assert_clear_error(call, error, argument, received)


def test_a_nan_tolerance_is_refused_not_passed():
    # Was: error > nan is False, so any function "passed" the check.
    with pytest.raises(ValueError, match=r"^atol must be a finite number >= 0, got nan$"):
        check.check_equivariance(lambda t: t.flip(1), S4, X, invariant=True, atol=NAN)


def test_a_bad_min_run_time_is_refused_before_any_model_is_built_or_timed():
    built = []
    with pytest.raises(ValueError, match=r"min_run_time must be a positive finite number, got 0"):
        profile.cost_table({"x": lambda n: built.append(n)}, [4], MAKE, min_run_time=0)
    assert built == []
