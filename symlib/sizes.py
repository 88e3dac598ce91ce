"""Trained runs scored at set sizes they never saw: what the chapter on sets of any size calls.

* ``sets_at_size(config, n, count)``: ``count`` sets of exactly ``n`` points from a variance run's
  law (its d, var0 and var1), laid out as that run's model takes them: a run trained on padded
  sets of several sizes gets sets no larger than its padded length padded to it (with its mask,
  or, for a run trained without masks, with the zeros it was trained on or another ``fill``).
* ``score_at_sizes(configs, cache_dir, sizes)``: the kept checkpoints of those runs
  (``experiments.sweep(..., keep_models=True)``) scored at every size in ``sizes``, on the same
  sets for every run, so that differences between runs are paired, with the exact optimum at each
  size.

A DeepSets network takes a set of any size; an approach built on a dense network of one fixed n
takes only that n (asked for another, ``score_at_sizes`` raises rather than skipping it).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from scipy import stats

from . import data, train
from .groups import _check_int
from .experiments import Config, _check_configs, load_model, pack_key

__all__ = ["sets_at_size", "score_at_sizes", "logits_at_size", "logit_fit", "doubling", "threshold_accuracy", "FILLS",
           "SIZES_SEED"]

FILLS = ("normal",)  # besides any float: draws from the class-0 law, N(0, var0 I)
SIZES_SEED = train.TEST_SEED  # the sets of size n come from a generator keyed by (SIZES_SEED, n)


def _check_fill(fill) -> float | str:
    if isinstance(fill, str):
        if fill not in FILLS:
            raise ValueError(f"fill must be a float or one of {FILLS}, got {fill!r}")
        return fill
    if isinstance(fill, bool) or not isinstance(fill, (int, float)):
        raise TypeError(f"fill must be a float or one of {FILLS}, got {fill!r} ({type(fill).__name__})")
    return float(fill)


def _size_seed(seed: int, n: int) -> int:
    """A torch seed for the sets of size n: distinct (seed, n) pairs give unrelated streams
    (seed + n would give (s, n) and (s + 1, n - 1) the same one)."""
    return int(np.random.SeedSequence([seed, n]).generate_state(1, np.uint64)[0] >> np.uint64(1))


def threshold_accuracy(n: int, d: int, threshold: float, var0: float = 1.0, var1: float = 0.8) -> float:
    """Exact accuracy, on sets of n points, of the rule "class 1 when S < threshold" (S the sum of
    squared norms, var1 < var0), with equal priors: what a classifier that keeps one threshold on S
    at every size scores (the optimal rule at size m is ``data.bayes_threshold(m, d, var0, var1)``).
    """
    _check_int("n", n, minimum=1)
    _check_int("d", d, minimum=1)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise TypeError(f"threshold must be a finite float, got {threshold!r}")
    if not (isinstance(var0, (int, float)) and isinstance(var1, (int, float)) and 0 < var1 < var0):
        raise ValueError(f"var0 and var1 must be numbers with 0 < var1 < var0 (class 1 the smaller variance), got "
                         f"var0={var0!r}, var1={var1!r}")
    dof = n * d
    return float(0.5 * stats.chi2.cdf(threshold / var1, dof) + 0.5 * stats.chi2.sf(threshold / var0, dof))


def _variance_law(config: Config) -> None:
    if config.task not in ("gaussian_variance", "variable_variance"):
        raise ValueError(f"config.task must be 'gaussian_variance' or 'variable_variance' (a law defined at every "
                         f"set size), got {config.task!r}")


def _fixed_size(config: Config) -> bool:
    """Whether the run's model takes sets of its own n only (every approach but DeepSets)."""
    return config.approach != "deepsets"


def sets_at_size(config: Config, n: int, count: int, seed: int = SIZES_SEED, fill: float | str = 0.0,
                 length: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """``count`` sets of ``n`` points from the run's variance law, as its model takes them.

    Returns x: (count, max(n, length), d), mask: (max(n, length),) bool or None, y: (count,).
    For a run of task "variable_variance", sets are padded to ``length`` (default: the run's padded
    length ``config.n``) with ``fill`` (a float, or "normal": independent draws from the class-0
    law); with ``config.masks`` the mask marks the ``n`` present points (so the fill cannot
    matter), without it the padding is part of the input. Sets already that long, and the sets of
    any other run, are the ``n`` points as they are (mask None). The points and labels depend only
    on (n, count, seed, d, var0, var1): every run, fill and length sees the same sets, and each
    size its own draw.
    """
    if not isinstance(config, Config):
        raise TypeError(f"config must be a symlib.experiments.Config, got {type(config).__name__}")
    _variance_law(config)
    _check_int("n", n, minimum=1)
    _check_int("count", count, minimum=1)
    _check_int("seed", seed, minimum=0)
    fill = _check_fill(fill)
    if _fixed_size(config) and n != config.n:
        raise ValueError(f"n must be {config.n} for approach {config.approach!r} (a dense network of one set size "
                         f"takes no other), got {n}")
    generator = torch.Generator().manual_seed(_size_seed(seed, n))
    x, y = data.GaussianVarianceTask(n, config.d, config.var0, config.var1).sample(count, generator)
    if length is not None:
        _check_int("length", length, minimum=1)
        if config.task != "variable_variance":
            raise ValueError(f"length is used only by runs of task 'variable_variance' (padded sets); task "
                             f"{config.task!r} got length={length}")
    padded = (config.n if length is None else length) if config.task == "variable_variance" else n
    if padded <= n:
        return x, None, y
    if fill == "normal":
        pad = math.sqrt(config.var0) * torch.randn(count, padded - n, config.d, generator=generator)
    else:
        pad = torch.full((count, padded - n, config.d), fill)
    x = torch.cat([x, pad.to(x.dtype)], dim=1)
    if not config.masks:
        return x, None, y
    return x, torch.arange(padded) < n, y


def score_at_sizes(configs: Sequence[Config], cache_dir: str | os.PathLike, sizes: Sequence[int],
                   test_size: int = 20_000, seed: int = SIZES_SEED, fill: float | str = 0.0,
                   length: int | None = None, batch_size: int = 4096) -> pd.DataFrame:
    """Each run's kept checkpoint scored on ``test_size`` sets of every size in ``sizes``.

    configs: runs of the variance task (fixed or variable size) trained with ``keep_models=True``
    into ``cache_dir``; runs that share an architecture are scored as one ensemble. The sets at
    size n are ``sets_at_size(config, n, test_size, seed, fill, length)``, the same for every run. Returns
    one row per run and size: the run's fields (``n`` is its own, padded, length), ``size``,
    ``in_range`` (the size among those it was trained on), test_loss, test_accuracy,
    test_saturated (as in a history), ``bayes_accuracy`` (exact, at that size),
    ``optimal_accuracy`` (the optimal rule, ``data.bayes_predict``, scored on the same sets),
    ``regret`` (``optimal_accuracy - test_accuracy``: paired on the sets, so that their sampling
    noise, shared by every run, cancels) and ``edge`` (``(test_accuracy - 1/2) / (optimal_accuracy
    - 1/2)``: the share of the optimal rule's margin over chance, 0 at chance and 1 at the optimum
    at every size, where the regret of a chance-level classifier grows with the optimum).
    """
    configs = _check_configs(configs)
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence) or not len(sizes):
        raise TypeError(f"sizes must be a non-empty sequence of ints, got {sizes!r}")
    sizes = [_check_int(f"sizes[{i}]", n, minimum=1) for i, n in enumerate(sizes)]
    _check_int("test_size", test_size, minimum=1)
    for config in configs:
        _variance_law(config)
        if _fixed_size(config) and any(n != config.n for n in sizes):
            raise ValueError(f"sizes must be [{config.n}] for approach {config.approach!r} (a dense network of one set "
                             f"size takes no other), got {sizes}")
    packs: dict[tuple, list[int]] = {}
    for i, config in enumerate(configs):
        packs.setdefault(pack_key(config), []).append(i)
    rows = []
    for members in packs.values():
        runs = [configs[i] for i in members]
        model = load_model(runs, cache_dir)
        for n in sizes:
            x, mask, y = sets_at_size(runs[0], n, test_size, seed, fill, length)
            if mask is not None:
                mask = mask.expand(len(x), -1)
            scores = train.evaluate(model, x, y, loss=runs[0].loss, batch_size=batch_size, mask=mask)
            bayes = data.bayes_accuracy(n, runs[0].d, runs[0].var0, runs[0].var1)
            points = x[:, :n].double()  # the sets come first in their slots, padding after
            optimal = float(((data.bayes_predict(points, runs[0].var0, runs[0].var1) > 0).double()
                             == y.double()).double().mean())
            low = runs[0].n_min if runs[0].task == "variable_variance" else runs[0].n
            for member, config in enumerate(runs):
                score = scores.iloc[member]
                rows.append({**config.fields(), "size": n, "in_range": low <= n <= config.n,
                             "test_loss": score.loss, "test_accuracy": score.accuracy,
                             "test_saturated": score.saturated, "bayes_accuracy": bayes,
                             "optimal_accuracy": optimal, "regret": optimal - score.accuracy,
                             "edge": (score.accuracy - 0.5) / (optimal - 0.5)})
    return pd.DataFrame(rows)


def logits_at_size(configs: Sequence[Config], cache_dir: str | os.PathLike, n: int, count: int,
                   seed: int = SIZES_SEED, fill: float | str = 0.0,
                   length: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The kept checkpoints' logits on ``sets_at_size(configs[0], n, count, seed, fill, length)``.

    configs: runs of one architecture (``pack_key``), scored as one ensemble. Returns logits:
    (len(configs), count) (a run trained on probabilities gives their logit), llr: (count,) the
    exact log-likelihood ratio log p(x | y=1) - log p(x | y=0) of the n points, and y: (count,).
    """
    configs = _check_configs(configs)
    for config in configs:
        _variance_law(config)
    x, mask, y = sets_at_size(configs[0], n, count, seed, fill, length)
    model = load_model(configs, cache_dir)
    members = len(configs)
    with torch.no_grad():
        out = model(x.repeat(members, 1, 1), mask=None if mask is None else mask.expand(members * count, -1))
    out = out.reshape(members, count).double()
    if configs[0].loss == "probabilities":
        out = torch.logit(out)
    llr = data.bayes_predict(x[:, :n].double(), configs[0].var0, configs[0].var1)
    return out, llr, y


def _any_size(configs: list[Config]) -> None:
    for config in configs:
        _variance_law(config)
        if _fixed_size(config):
            raise ValueError(f"configs must be runs that take sets of any size (approach 'deepsets'), got approach "
                             f"{config.approach!r}")


def logit_fit(configs: Sequence[Config], cache_dir: str | os.PathLike, sizes: Sequence[int], count: int,
              seed: int = SIZES_SEED) -> pd.DataFrame:
    """How each run's logit follows the exact log-likelihood ratio at each size in ``sizes``.

    configs: runs of one architecture taking sets of any size. For each run and size, on
    ``count`` sets (``logits_at_size``): ``slope``, ``intercept`` and ``correlation`` of the least-
    squares line of the logit on the ratio, and ``sign_agreement``, the fraction of sets on which
    the run's decision (logit > 0) is the optimal rule's (ratio > 0). A logit proportional to the
    ratio has the same slope at every size; one that does not grow with n has a slope ~ 1/n.
    """
    configs = _check_configs(configs)
    _any_size(configs)
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence) or not len(sizes):
        raise TypeError(f"sizes must be a non-empty sequence of ints, got {sizes!r}")
    rows = []
    for i, n in enumerate(sizes):
        _check_int(f"sizes[{i}]", n, minimum=1)
        logits, llr, _ = logits_at_size(configs, cache_dir, n, count, seed)
        for member, config in enumerate(configs):
            line = stats.linregress(llr.numpy(), logits[member].numpy())
            rows.append({**config.fields(), "size": n, "slope": line.slope, "intercept": line.intercept,
                         "correlation": line.rvalue,
                         "sign_agreement": float(((logits[member] > 0) == (llr > 0)).double().mean())})
    return pd.DataFrame(rows)


def doubling(configs: Sequence[Config], cache_dir: str | os.PathLike, sizes: Sequence[int], count: int,
             seed: int = SIZES_SEED) -> pd.DataFrame:
    """Each run's logit on sets x and on x ∪ x, every point repeated (2n points).

    Repetition doubles the log-likelihood ratio and leaves S/n, hence the optimal decision,
    unchanged; a network that pools by mean or max cannot see it. configs: runs of one
    architecture taking sets of any size; x: ``count`` sets of each size in ``sizes``, unpadded.
    Returns one row per run: ``slope`` (least squares of the logit on x ∪ x against the logit on
    x, all sizes pooled: 2 for a logit proportional to the ratio, 1 for one blind to repetition),
    ``largest_change`` (max |logit(x ∪ x) - logit(x)|) and ``scale`` (max |logit(x)|).
    """
    configs = _check_configs(configs)
    _any_size(configs)
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence) or not len(sizes):
        raise TypeError(f"sizes must be a non-empty sequence of ints, got {sizes!r}")
    _check_int("count", count, minimum=1)
    model = load_model(configs, cache_dir)
    members = len(configs)
    once, twice = [], []
    for i, n in enumerate(sizes):
        _check_int(f"sizes[{i}]", n, minimum=1)
        length = n if configs[0].task == "variable_variance" else None
        x, _, _ = sets_at_size(configs[0], n, count, seed, length=length)
        with torch.no_grad():
            once.append(model(x.repeat(members, 1, 1)).reshape(members, count).double())
            twice.append(model(torch.cat([x, x], dim=1).repeat(members, 1, 1)).reshape(members, count).double())
    once, twice = torch.cat(once, 1), torch.cat(twice, 1)
    if configs[0].loss == "probabilities":
        once, twice = torch.logit(once), torch.logit(twice)
    rows = []
    for member, config in enumerate(configs):
        rows.append({**config.fields(), "slope": stats.linregress(once[member].numpy(), twice[member].numpy()).slope,
                     "largest_change": float((twice[member] - once[member]).abs().max()),
                     "scale": float(once[member].abs().max())})
    return pd.DataFrame(rows)
