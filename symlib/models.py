"""The study's architectures, by name, each optionally an ensemble (see ``symlib.layers``).

``build(approach, n, d, ...)`` returns a model mapping x (batch, n, d) to one logit per sample:

=============  ==============================================================================
approach       model
=============  ==============================================================================
deepsets       intrinsic: equivariant, ReLU, equivariant, ReLU, invariant (Zaheer et al.)
dense          baseline: dense layers on the whole set, no symmetry
canonical      Canonicalize(dense): lexicographic sort of the elements, then dense
sort_coords    SortCoordinates(dense): each coordinate sorted on its own (not a canonical form)
sampled        SampledGroupAverage(dense, G, samples, eval_samples)
average        GroupAverage(dense, G): exact, for groups small enough to enumerate
augment        Augment(dense, G): random group elements in training only
orbit          intrinsic for any G: GroupEquivariantLinear layers (orbit bases), invariant read-out
=============  ==============================================================================
"""

from __future__ import annotations

from torch import nn

from . import groups as groups_mod
from . import symmetrize
from .layers import DenseSetLinear, GroupEquivariantLinear, PermEquivariantLinear, PermInvariantLinear

__all__ = ["APPROACHES", "deepsets", "dense", "build", "make_group"]

APPROACHES = ("deepsets", "dense", "canonical", "sort_coords", "sampled", "average", "augment", "orbit")


def deepsets(d: int, width: int = 10, reduction: str = "mean", init: str = "default",
             probabilities: bool = False, ensemble_size: int = 1, set_size: int | None = None) -> nn.Sequential:
    """The original's first experiment: two equivariant layers and an invariant read-out.

    ``probabilities=True`` appends the original's Sigmoid (for ``loss="probabilities"``).
    ``set_size`` is the default init's hint for the pooled weights (see ``PermEquivariantLinear``).
    """
    kw = dict(reduction=reduction, init=init, ensemble_size=ensemble_size, set_size=set_size)
    layers = [PermEquivariantLinear(d, width, **kw), nn.ReLU(), PermEquivariantLinear(width, width, **kw), nn.ReLU(),
              PermInvariantLinear(width, 1, **kw)]
    return nn.Sequential(*layers, *([nn.Sigmoid()] if probabilities else []))


def dense(n: int, d: int, width: int = 10, reduction: str = "mean", init: str = "default",
          ensemble_size: int = 1) -> nn.Sequential:
    """The original's unconstrained network: (n, d) -> (n, width) -> (n, width) -> one logit."""
    kw = dict(reduction=reduction, init=init, ensemble_size=ensemble_size)
    return nn.Sequential(DenseSetLinear(d, width, n, n, **kw), nn.ReLU(), DenseSetLinear(width, width, n, n, **kw),
                         nn.ReLU(), DenseSetLinear(width, 1, n, 1, **kw))


def orbit_net(group: groups_mod.PermutationGroup, d: int, width: int = 10, init: str = "default",
              ensemble_size: int = 1) -> nn.Sequential:
    """DeepSets' shape for any group: two G-equivariant orbit-basis layers and a G-invariant read-out."""
    kw = dict(init=init, ensemble_size=ensemble_size)
    return nn.Sequential(GroupEquivariantLinear(group, d, width, **kw), nn.ReLU(),
                         GroupEquivariantLinear(group, width, width, **kw), nn.ReLU(),
                         GroupEquivariantLinear(group, width, 1, out_order=0, **kw))


def make_group(name: str, n: int) -> groups_mod.PermutationGroup:
    """A group by name: 'symmetric', 'alternating', 'cyclic', 'dihedral' or 'trivial'."""
    makers = {"symmetric": groups_mod.symmetric, "alternating": groups_mod.alternating,
              "cyclic": groups_mod.cyclic, "dihedral": groups_mod.dihedral, "trivial": groups_mod.trivial}
    if name not in makers:
        raise ValueError(f"group must be one of {sorted(makers)}, got {name!r}")
    return makers[name](n)


def build(approach: str, n: int, d: int, width: int = 10, group: str = "symmetric", samples: int = 1,
          eval_samples: int | None = None, ensemble_size: int = 1, **layer_kw) -> nn.Module:
    """The model for ``approach`` (see the module table); ``layer_kw`` go to the layers."""
    if approach not in APPROACHES:
        raise ValueError(f"approach must be one of {APPROACHES}, got {approach!r}")
    if approach == "deepsets":
        return deepsets(d, width, ensemble_size=ensemble_size, set_size=n, **layer_kw)
    if approach == "orbit":
        layer_kw.pop("reduction", None)  # orbit layers sum; their init is fan-in scaled by construction
        return orbit_net(make_group(group, n), d, width, ensemble_size=ensemble_size, **layer_kw)
    base = dense(n, d, width, ensemble_size=ensemble_size, **layer_kw)
    if approach == "dense":
        return base
    if approach == "canonical":
        return symmetrize.Canonicalize(base)
    if approach == "sort_coords":
        return symmetrize.SortCoordinates(base)
    g = make_group(group, n)
    if approach == "sampled":
        return symmetrize.SampledGroupAverage(base, g, samples=samples, eval_samples=eval_samples)
    if approach == "average":
        return symmetrize.GroupAverage(base, g)
    return symmetrize.Augment(base, g)
