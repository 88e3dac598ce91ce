"""Bad input to symlib.layers: each case raises the right exception type, naming the argument."""

import numpy as np
import pytest
import torch
from torch import nn

from conftest import assert_clear_error
from symlib import groups, layers

C5 = groups.cyclic(5)
EQ, INV = layers.PermEquivariantLinear(3, 2), layers.PermInvariantLinear(3, 2)
DENSE = layers.DenseSetLinear(3, 2, 4, 4)
ORBIT, ORBIT_VEC = layers.GroupEquivariantLinear(C5, 3, 2), layers.GroupEquivariantLinear(C5, 3, 2, in_order=0)
EQ3 = layers.PermEquivariantLinear(3, 2, ensemble_size=3)
ORBIT2 = layers.GroupEquivariantLinear(C5, 3, 2, ensemble_size=2)
MIXED = nn.Sequential(layers.PermEquivariantLinear(3, 4, ensemble_size=2), layers.PermInvariantLinear(4, 1))


def x(*shape, **kwargs):
    return torch.zeros(*shape, **kwargs)


def case(name, call, error, argument, received=None):
    return pytest.param(call, error, argument, received, id=name)


CASES = [
    # the shared constructor arguments: in_channels, out_channels, reduction, init, ensemble_size
    case("eq-in-channels-zero", lambda: layers.PermEquivariantLinear(0, 2), ValueError, "in_channels", r"got 0\b"),
    case("eq-in-channels-float", lambda: layers.PermEquivariantLinear(2.5, 2), TypeError, "in_channels", "2.5"),
    case("eq-in-channels-integral-float", lambda: layers.PermEquivariantLinear(3.0, 2), TypeError, "in_channels",
         r"3\.0"),
    case("eq-in-channels-bool", lambda: layers.PermEquivariantLinear(True, 2), TypeError, "in_channels", "True"),
    case("eq-in-channels-string", lambda: layers.PermEquivariantLinear("3", 2), TypeError, "in_channels", "'3'"),
    case("eq-out-channels-negative", lambda: layers.PermEquivariantLinear(3, -1), ValueError, "out_channels", "-1"),
    case("eq-out-channels-none", lambda: layers.PermEquivariantLinear(3, None), TypeError, "out_channels", "None"),
    case("inv-out-channels-tensor", lambda: layers.PermInvariantLinear(3, torch.tensor(2)), TypeError,
         "out_channels"),
    case("eq-reduction-unknown", lambda: layers.PermEquivariantLinear(3, 2, reduction="max"), ValueError, "reduction",
         "'max'"),
    case("eq-reduction-none", lambda: layers.PermEquivariantLinear(3, 2, reduction=None), TypeError, "reduction",
         "None"),
    case("inv-reduction-case", lambda: layers.PermInvariantLinear(3, 2, reduction="Sum"), ValueError, "reduction",
         "'Sum'"),
    case("inv-init-unknown", lambda: layers.PermInvariantLinear(3, 2, init="xavier"), ValueError, "init", "'xavier'"),
    case("eq-init-int", lambda: layers.PermEquivariantLinear(3, 2, init=1), TypeError, "init", r"got 1\b"),
    case("eq-ensemble-zero", lambda: layers.PermEquivariantLinear(3, 2, ensemble_size=0), ValueError, "ensemble_size",
         r"got 0\b"),
    case("eq-ensemble-float", lambda: layers.PermEquivariantLinear(3, 2, ensemble_size=2.0), TypeError,
         "ensemble_size", r"2\.0"),
    case("inv-ensemble-bool", lambda: layers.PermInvariantLinear(3, 2, ensemble_size=True), TypeError,
         "ensemble_size", "True"),
    case("eq-ensemble-numpy-array", lambda: layers.PermEquivariantLinear(3, 2, ensemble_size=np.array([2])),
         TypeError, "ensemble_size"),
    # set_size (the default init's hint)
    case("eq-set-size-zero", lambda: layers.PermEquivariantLinear(3, 2, set_size=0), ValueError, "set_size",
         r"got 0\b"),
    case("eq-set-size-float", lambda: layers.PermEquivariantLinear(3, 2, set_size=1.5), TypeError, "set_size", "1.5"),
    case("inv-set-size-bool", lambda: layers.PermInvariantLinear(3, 2, set_size=True), TypeError, "set_size", "True"),
    case("inv-set-size-string", lambda: layers.PermInvariantLinear(3, 2, set_size="10"), TypeError, "set_size",
         "'10'"),
    # factory kwargs: dtype, device
    case("eq-dtype-int", lambda: layers.PermEquivariantLinear(3, 2, dtype=torch.int64), TypeError, "dtype",
         r"torch\.int64"),
    case("eq-dtype-string", lambda: layers.PermEquivariantLinear(3, 2, dtype="float32"), TypeError, "dtype",
         "'float32'"),
    case("dense-dtype-numpy", lambda: layers.DenseSetLinear(3, 2, 4, 4, dtype=np.float32), TypeError, "dtype"),
    case("orbit-dtype-bool", lambda: layers.GroupEquivariantLinear(C5, 3, 2, dtype=torch.bool), TypeError, "dtype",
         r"torch\.bool"),
    case("eq-device-unknown", lambda: layers.PermEquivariantLinear(3, 2, device="nowhere"), ValueError, "device",
         "'nowhere'"),
    case("inv-device-unavailable", lambda: layers.PermInvariantLinear(3, 2, device="cuda:99"), ValueError, "device",
         "cuda:99"),
    case("dense-device-float", lambda: layers.DenseSetLinear(3, 2, 4, 4, device=1.5), TypeError, "device", "1.5"),
    case("orbit-device-list", lambda: layers.GroupEquivariantLinear(C5, 3, 2, device=["cpu"]), TypeError, "device"),
    # DenseSetLinear: in_features, out_features
    case("dense-in-features-zero", lambda: layers.DenseSetLinear(3, 2, 0, 4), ValueError, "in_features", r"got 0\b"),
    case("dense-out-features-float", lambda: layers.DenseSetLinear(3, 2, 4, 2.0), TypeError, "out_features", r"2\.0"),
    case("dense-in-features-string", lambda: layers.DenseSetLinear(3, 2, "4", 4), TypeError, "in_features", "'4'"),
    case("dense-reduction-unknown", lambda: layers.DenseSetLinear(3, 2, 4, 4, reduction="avg"), ValueError,
         "reduction", "'avg'"),
    # GroupEquivariantLinear: group, in_order, out_order
    case("orbit-group-string", lambda: layers.GroupEquivariantLinear("C_5", 3, 2), TypeError, "group", "str"),
    case("orbit-group-none", lambda: layers.GroupEquivariantLinear(None, 3, 2), TypeError, "group", "NoneType"),
    case("orbit-in-order-three", lambda: layers.GroupEquivariantLinear(C5, 3, 2, in_order=3), ValueError, "in_order",
         r"got 3\b"),
    case("orbit-in-order-float", lambda: layers.GroupEquivariantLinear(C5, 3, 2, in_order=1.0), TypeError, "in_order",
         r"1\.0"),
    case("orbit-out-order-bool", lambda: layers.GroupEquivariantLinear(C5, 3, 2, out_order=True), TypeError,
         "out_order", "True"),
    case("orbit-out-order-negative", lambda: layers.GroupEquivariantLinear(C5, 3, 2, out_order=-1), ValueError,
         "out_order", "-1"),
    case("orbit-out-order-string", lambda: layers.GroupEquivariantLinear(C5, 3, 2, out_order="0"), TypeError,
         "out_order", "'0'"),
    case("orbit-orders-too-large", lambda: layers.GroupEquivariantLinear(groups.cyclic(100), 1, 1, in_order=2,
                                                                          out_order=2), ValueError, "in_order",
         r"in_order=2, out_order=2"),
    case("orbit-init-unknown", lambda: layers.GroupEquivariantLinear(C5, 3, 2, init="mean"), ValueError, "init",
         "'mean'"),
    case("orbit-in-channels-zero", lambda: layers.GroupEquivariantLinear(C5, 0, 2), ValueError, "in_channels",
         r"got 0\b"),
    case("orbit-ensemble-negative", lambda: layers.GroupEquivariantLinear(C5, 3, 2, ensemble_size=-2), ValueError,
         "ensemble_size", "-2"),
    # forward: x
    case("eq-x-list", lambda: EQ([[[1.0, 2.0, 3.0]]]), TypeError, "x", "list"),
    case("eq-x-numpy", lambda: EQ(np.zeros((2, 4, 3), dtype=np.float32)), TypeError, "x", "ndarray"),
    case("inv-x-none", lambda: INV(None), TypeError, "x", "NoneType"),
    case("eq-x-two-dims", lambda: EQ(x(4, 3)), ValueError, "x", r"\(4, 3\)"),
    case("eq-x-four-dims", lambda: EQ(x(2, 4, 4, 3)), ValueError, "x", r"\(2, 4, 4, 3\)"),
    case("eq-x-scalar", lambda: EQ(torch.tensor(1.0)), ValueError, "x", r"\(\)"),
    case("eq-x-channels", lambda: EQ(x(2, 4, 5)), ValueError, "x", r"\(2, 4, 5\)"),
    case("inv-x-channels", lambda: INV(x(2, 4, 1)), ValueError, "x", r"\(2, 4, 1\)"),
    case("eq-x-float64", lambda: EQ(x(2, 4, 3, dtype=torch.float64)), TypeError, "x", r"torch\.float64"),
    case("inv-x-long", lambda: INV(x(2, 4, 3, dtype=torch.long)), TypeError, "x", r"torch\.int64"),
    case("eq-x-complex", lambda: EQ(x(2, 4, 3, dtype=torch.complex64)), TypeError, "x", r"torch\.complex64"),
    case("eq-x-meta-device", lambda: EQ(x(2, 4, 3, device="meta")), ValueError, "x", "meta"),
    case("eq-x-batch-not-multiple", lambda: EQ3(x(4, 5, 3)), ValueError, "x", r"\b4\b.*ensemble_size=3"),
    case("dense-x-set-size", lambda: DENSE(x(2, 5, 3)), ValueError, "x", r"\(2, 5, 3\)"),
    case("dense-x-channels", lambda: DENSE(x(2, 4, 2)), ValueError, "x", r"\(2, 4, 2\)"),
    case("dense-x-tuple", lambda: DENSE((1.0, 2.0)), TypeError, "x", "tuple"),
    case("dense-x-float16", lambda: DENSE(x(2, 4, 3, dtype=torch.float16)), TypeError, "x", r"torch\.float16"),
    case("orbit-x-set-size", lambda: ORBIT(x(2, 4, 3)), ValueError, "x", r"\(2, 4, 3\)"),
    case("orbit-x-channels", lambda: ORBIT(x(2, 5, 2)), ValueError, "x", r"\(2, 5, 2\)"),
    case("orbit-x-order-zero-given-a-set", lambda: ORBIT_VEC(x(2, 5, 3)), ValueError, "x", r"\(2, 5, 3\)"),
    case("orbit-x-float64", lambda: ORBIT(x(2, 5, 3, dtype=torch.float64)), TypeError, "x", r"torch\.float64"),
    case("orbit-x-batch-not-multiple", lambda: ORBIT2(x(3, 5, 3)), ValueError, "x", r"\b3\b.*ensemble_size=2"),
    case("orbit-x-meta-device", lambda: ORBIT(x(2, 5, 3, device="meta")), ValueError, "x", "meta"),
    case("orbit-x-list", lambda: ORBIT([0.0] * 15), TypeError, "x", "list"),
    # ensemble_size(model)
    case("ensemble-size-string", lambda: layers.ensemble_size("model"), TypeError, "model", "str"),
    case("ensemble-size-none", lambda: layers.ensemble_size(None), TypeError, "model", "NoneType"),
    case("ensemble-size-function", lambda: layers.ensemble_size(lambda t: t), TypeError, "model", "function"),
    case("ensemble-size-mixed", lambda: layers.ensemble_size(MIXED), ValueError, "model", r"\[1, 2\]"),
]


@pytest.mark.parametrize("call,error,argument,received", CASES)
def test_bad_input_names_the_argument(call, error, argument, received):
    assert_clear_error(call, error, argument, received)
