"""The study's architectures, by name, each optionally an ensemble (see ``symlib.layers``).

``build(approach, n, d, ...)`` returns a model mapping x (batch, n, d) to one logit per sample
(or a probability, with ``probabilities=True``):

=============  ==============================================================================
approach       model
=============  ==============================================================================
deepsets       intrinsic: equivariant, ReLU, equivariant, ReLU, invariant (Zaheer et al.)
dense          baseline: dense layers on the whole set, no symmetry
canonical      Canonicalize(dense): lexicographic sort of the elements, then dense
sort_coords    SortCoordinates(dense): each coordinate sorted on its own (a larger group than S_n)
sampled        SampledGroupAverage(dense, G, samples, eval_samples)
average        GroupAverage(dense, G): exact, for groups small enough to enumerate
augment        Augment(dense, G): random group elements in training only
orbit          intrinsic for any G: GroupEquivariantLinear layers (orbit bases), invariant read-out
original_      the original notebook's CanonicalModel around dense: it sorts each element's own
canonical      coordinates (dim -1), not the set, so it is not invariant to permuting the set;
               kept to reproduce the original's second experiment as written
=============  ==============================================================================

``catalogue(d, width, ...)`` gives every approach as a function of the set size n, for measuring
costs as n grows.

Sets of any size. The networks are ``symlib.layers.SetSequential``s (an ``nn.Sequential`` whose
forward also takes ``mask=``), so ``model(x, mask=mask)`` with mask (batch, n) bool, True =
present, reaches every layer: ``deepsets`` (and the wrappers around it) handle padded batches of
sets of mixed sizes exactly; the dense and orbit networks have a fixed set size and refuse a
mask with a TypeError naming their first layer. Without a mask every model computes what it did
before masks existed.
"""

from __future__ import annotations

from torch import nn

from . import groups as groups_mod
from . import symmetrize
from .layers import (POOLS, REDUCTIONS, DenseSetLinear, GroupEquivariantLinear, PermEquivariantLinear, PermInvariantLinear,
                     SetSequential)
from .layers import _check_choice, _check_positive_int
from .layers import ensemble_size as _ensemble_size

__all__ = ["APPROACHES", "GROUP_APPROACHES", "GROUPS", "POOLS", "deepsets", "dense", "orbit_net", "build", "make_group",
           "catalogue",
           "parameter_count"]

APPROACHES = ("deepsets", "dense", "canonical", "sort_coords", "sampled", "average", "augment", "orbit",
              "original_canonical")
GROUP_APPROACHES = ("sampled", "average", "augment", "orbit")  # the approaches that take a group
GROUPS = ("symmetric", "alternating", "cyclic", "dihedral", "trivial")


def deepsets(d: int, width: int = 10, reduction: str = "sum", init: str = "default",
             probabilities: bool = False, ensemble_size: int = 1, set_size: int | None = None,
             device=None, dtype=None, pool: str = "sum") -> SetSequential:
    """The original's first experiment: two equivariant layers and an invariant read-out.

    x: (batch, n, d) -> (batch, 1) logits; ``model(x, mask=mask)`` with mask (batch, n) bool,
    True = present, for padded batches of sets of mixed sizes. ``probabilities=True`` appends the
    original's Sigmoid (for ``loss="probabilities"``). ``set_size`` is the default init's hint for
    the pooled weights (see ``PermEquivariantLinear``); the network accepts sets of any size.
    ``pool`` ("sum", "mean" or "max") is every layer's pooling over the set; ``reduction`` their
    averaging over input channels.
    """
    _check_positive_int("d", d)
    _check_positive_int("width", width)
    kw = dict(reduction=reduction, init=init, ensemble_size=ensemble_size, set_size=set_size, device=device,
              dtype=dtype, pool=pool)
    layers = [PermEquivariantLinear(d, width, **kw), nn.ReLU(), PermEquivariantLinear(width, width, **kw), nn.ReLU(),
              PermInvariantLinear(width, 1, **kw)]
    return SetSequential(*layers, *([nn.Sigmoid()] if _check_bool("probabilities", probabilities) else []))


def dense(n: int, d: int, width: int = 10, reduction: str = "sum", init: str = "default",
          ensemble_size: int = 1, device=None, dtype=None) -> SetSequential:
    """The original's unconstrained network: (n, d) -> (n, width) -> (n, width) -> one logit.

    x: (batch, n, d) -> (batch, 1, 1) logits; the set size must be n (a mask is a TypeError).
    """
    for name, value in (("n", n), ("d", d), ("width", width)):
        _check_positive_int(name, value)
    kw = dict(reduction=reduction, init=init, ensemble_size=ensemble_size, device=device, dtype=dtype)
    return SetSequential(DenseSetLinear(d, width, n, n, **kw), nn.ReLU(), DenseSetLinear(width, width, n, n, **kw),
                         nn.ReLU(), DenseSetLinear(width, 1, n, 1, **kw))


def orbit_net(group: groups_mod.PermutationGroup, d: int, width: int = 10, init: str = "default",
              ensemble_size: int = 1, device=None, dtype=None) -> SetSequential:
    """DeepSets' shape for any group: two G-equivariant orbit-basis layers and a G-invariant read-out.

    x: (batch, group.n, d) -> (batch, 1) logits; the set size is the group's n (a mask is a TypeError).
    """
    _check_positive_int("d", d)
    _check_positive_int("width", width)
    kw = dict(init=init, ensemble_size=ensemble_size, device=device, dtype=dtype)
    return SetSequential(GroupEquivariantLinear(group, d, width, **kw), nn.ReLU(),
                         GroupEquivariantLinear(group, width, width, **kw), nn.ReLU(),
                         GroupEquivariantLinear(group, width, 1, out_order=0, **kw))


def make_group(name: str, n: int) -> groups_mod.PermutationGroup:
    """A group by name: 'symmetric', 'alternating', 'cyclic', 'dihedral' or 'trivial'."""
    makers = {"symmetric": groups_mod.symmetric, "alternating": groups_mod.alternating,
              "cyclic": groups_mod.cyclic, "dihedral": groups_mod.dihedral, "trivial": groups_mod.trivial}
    return makers[_check_choice("name", name, GROUPS)](n)


def _check_bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return value


def build(approach: str, n: int, d: int, width: int = 10, group: str = "symmetric", samples: int = 1,
          eval_samples: int | None = None, ensemble_size: int = 1, probabilities: bool = False,
          reduction: str = "sum", init: str = "default", device=None, dtype=None, pool: str = "sum") -> nn.Module:
    """The model for ``approach`` (see the module table).

    x: (batch, n, d) -> one logit per sample (a probability with ``probabilities=True``, which
    appends a Sigmoid to any approach, the original's recipe). ``group`` is used only by the
    approaches in ``GROUP_APPROACHES``; any other value than the default elsewhere is an error,
    as are ``samples``/``eval_samples`` outside "sampled", ``reduction="mean"`` for "orbit"
    (its layers sum by construction) and a ``pool`` other than "sum" outside "deepsets" (the only
    approach that pools over a set of any size), so that no setting is silently ignored.
    """
    _check_choice("approach", approach, APPROACHES)
    for name, value in (("n", n), ("d", d), ("width", width), ("samples", samples)):
        _check_positive_int(name, value)
    if eval_samples is not None:
        _check_positive_int("eval_samples", eval_samples)
    if not isinstance(group, str):
        raise TypeError(f"group must be one of {GROUPS}, got {group!r} ({type(group).__name__})")
    if not isinstance(reduction, str):
        raise TypeError(f"reduction must be one of {REDUCTIONS}, got {reduction!r} ({type(reduction).__name__})")
    if approach in GROUP_APPROACHES:
        _check_choice("group", group, GROUPS)
    if approach not in GROUP_APPROACHES and group != "symmetric":
        raise ValueError(f"group is used only by the approaches {GROUP_APPROACHES}; approach {approach!r} "
                         f"takes none, got group={group!r}")
    if approach != "sampled" and (samples != 1 or eval_samples is not None):
        raise ValueError(f"samples and eval_samples are used only by approach 'sampled'; approach {approach!r} "
                         f"got samples={samples!r}, eval_samples={eval_samples!r}")
    if approach == "orbit" and reduction != "sum":
        raise ValueError(f"reduction must be 'sum' for approach 'orbit' (orbit layers sum), got {reduction!r}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    _check_bool("probabilities", probabilities)
    if approach != "deepsets" and pool != "sum":
        raise ValueError(f"pool is used only by approach 'deepsets'; approach {approach!r} got pool={pool!r}")
    factory = dict(init=init, ensemble_size=ensemble_size, device=device, dtype=dtype)
    if approach == "deepsets":
        model = deepsets(d, width, reduction=reduction, set_size=n, pool=pool, **factory)
    elif approach == "orbit":
        model = orbit_net(make_group(group, n), d, width, **factory)
    else:
        base = dense(n, d, width, reduction=reduction, **factory)
        if approach == "dense":
            model = base
        elif approach == "canonical":
            model = symmetrize.Canonicalize(base)
        elif approach == "sort_coords":
            model = symmetrize.SortCoordinates(base)
        elif approach == "original_canonical":
            from .original import CanonicalModel  # the defect, reproduced on purpose

            model = CanonicalModel(base)
        elif approach == "sampled":
            model = symmetrize.SampledGroupAverage(base, make_group(group, n), samples=samples,
                                                   eval_samples=eval_samples)
        elif approach == "average":
            model = symmetrize.GroupAverage(base, make_group(group, n))
        else:
            model = symmetrize.Augment(base, make_group(group, n))
    if not probabilities:
        return model
    # One flat Sequential where the model is one, so its layers stay direct children (activation_scales);
    # a SetSequential, so that a mask still reaches them.
    return SetSequential(*(model if isinstance(model, nn.Sequential) else [model]), nn.Sigmoid())


def catalogue(d: int, width: int = 16, sampled_m=(1, 4, 16, 64), average_max_n: int = 6) -> dict:
    """Every approach as a builder of its model for set size n: {label: n -> model or None}.

    The wrappers all wrap the same dense network (whose size grows with n); the full group average
    exists (with checkpointed chunks) only up to ``average_max_n``, its builder returns None beyond.
    Models are built lazily: the dense network alone is large at big n.
    """
    _check_positive_int("d", d)
    _check_positive_int("width", width)
    _check_positive_int("average_max_n", average_max_n)
    for m in sampled_m:
        _check_positive_int("sampled_m", m)
    out = {
        "DeepSets (S_n layers)": lambda n: deepsets(d, width, set_size=n),
        "orbit-basis layers (S_n)": lambda n: orbit_net(groups_mod.symmetric(n), d, width),
        "canonicalize + dense": lambda n: symmetrize.Canonicalize(dense(n, d, width)),
        **{f"sampled average m={m} + dense": (lambda n, m=m: symmetrize.SampledGroupAverage(
            dense(n, d, width), groups_mod.symmetric(n), samples=m)) for m in sampled_m},
        "augment + dense": lambda n: symmetrize.Augment(dense(n, d, width), groups_mod.symmetric(n)),
        "dense (no symmetry)": lambda n: dense(n, d, width),
        "full average + dense": lambda n: (symmetrize.GroupAverage(dense(n, d, width), groups_mod.symmetric(n),
                                                                   checkpoint=True) if n <= average_max_n else None),
    }
    return out


def parameter_count(model: nn.Module, effective: bool = True) -> int:
    """Trainable parameters of one member (for an ensemble of E, the total divided by E).

    effective: count each S_n layer's bias once per output channel. symlib keeps the original
    notebook's bias array of shape (in_channels, out_channels), of which only the sum over
    in_channels reaches the output, so (in_channels - 1) * out_channels of its entries are
    redundant; ``effective=False`` counts them too.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(effective, bool):
        raise TypeError(f"effective must be a bool, got {effective!r}")
    total = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if effective:
        total -= sum(m.b.numel() - m.b.sum(-2).numel() for m in model.modules()
                     if isinstance(m, (PermEquivariantLinear, PermInvariantLinear)) and m.b.requires_grad)
    return total // _ensemble_size(model)
