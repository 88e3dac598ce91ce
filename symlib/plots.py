"""Summaries and figures for the chapters: intervals over seeds, paired differences with Holm's
correction, bootstrap intervals for derived numbers, expected maximum validation curves, and curves
against the Bayes limit.

Statistics come from scipy.stats: Student-t intervals over seeds (each seed is one independent
run), paired t-tests (two approaches sharing a seed share its training data and test set),
``scipy.stats.bootstrap`` for numbers derived from whole curves. Numbers are returned as plain
Python floats in pandas frames, ready to glue.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["selected", "interval", "summarize", "paired", "compare", "holm", "verdict", "direction", "bootstrap_interval",
           "size_to_reach", "ranks", "size_text", "expected_max", "expected_best", "curves", "differences", "ordered"]


def selected(history: pd.DataFrame) -> pd.DataFrame:
    """The kept checkpoint of every run (the row ``fit`` marked ``selected``); diverged runs have none."""
    if "selected" not in history.columns:
        raise ValueError("history must have a 'selected' column (symlib.train.fit output)")
    return history[history["selected"]]


def interval(values, level: float = 0.95) -> pd.Series:
    """Mean and Student-t confidence interval of independent values (e.g. one per seed)."""
    x = pd.Series(values, dtype=float).dropna()
    n, mean = len(x), float(x.mean()) if len(x) else np.nan
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan
    return pd.Series({"mean": mean, "low": mean - half, "high": mean + half, "n": n})


def summarize(df: pd.DataFrame, by: Sequence[str] | str, value: str = "test_accuracy",
              level: float = 0.95) -> pd.DataFrame:
    """Mean, Student-t interval and count of ``value`` for each group of ``by``, indexed by ``by``
    (groups keep their order of first appearance)."""
    by = [by] if isinstance(by, str) else list(by)
    out = df.groupby(by, sort=False, dropna=False)[value].apply(interval, level=level).unstack()
    return out.astype({"n": int})


def paired(df: pd.DataFrame, column: str, a, b, value: str = "test_accuracy", pair: str = "seed") -> pd.Series:
    """value(a) - value(b) per ``pair`` (same seed: same data and test set), for seeds that have both."""
    table = df.pivot_table(index=pair, columns=column, values=value)
    for name in (a, b):
        if name not in table:
            raise ValueError(f"{column}={name!r} is not in the results; have {list(table.columns)}")
    return (table[a] - table[b]).dropna()


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (controls the family-wise error rate)."""
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p)
    m = len(p)
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def compare(df: pd.DataFrame, column: str, pairs: Sequence[tuple], value: str = "test_accuracy",
            pair: str = "seed", alpha: float = 0.05) -> pd.DataFrame:
    """Paired comparisons of a family, corrected for multiple comparisons by Holm's method.

    pairs: (a, b) or (a, b, filter) tuples; ``filter`` is a dict {column: value} selecting the rows
    of that comparison (e.g. {"train_size": 64}). For each: the mean paired difference a - b, the
    raw paired t-test p-value, Holm's adjusted p-value, and an interval consistent with it: the
    t-interval at level 1 - alpha * p / p_holm, which excludes zero exactly when Holm rejects at
    ``alpha``. ``significant`` is that decision.
    """
    rows = []
    for spec in pairs:
        a, b, where = (*spec, {})[:3]
        part = df
        for key, val in where.items():
            part = part[part[key] == val]
        diff = paired(part, column, a, b, value, pair)
        n = len(diff)
        if n < 2:
            raise ValueError(f"comparison {a!r} - {b!r} at {where} needs at least two paired seeds, got {n}")
        mean, se = float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(n))
        p = float(stats.ttest_1samp(diff, 0.0).pvalue) if se > 0 else (0.0 if mean != 0 else 1.0)
        rows.append({"a": a, "b": b, **where, "mean": mean, "se": se, "n": n, "p": p})
    out = pd.DataFrame(rows)
    out["p_holm"] = holm(out["p"])
    gamma = np.where(out["p_holm"] > 0, alpha * out["p"] / out["p_holm"].where(out["p_holm"] > 0, 1), alpha)
    half = stats.t.ppf(1 - gamma / 2, out["n"] - 1) * out["se"]
    out["low"], out["high"] = out["mean"] - half, out["mean"] + half
    out["significant"] = out["p_holm"] < alpha
    return out


def verdict(row: pd.Series, unit: str = "points") -> str:
    """A sentence for one comparison row of ``compare``: a direction only where Holm rejects.

    unit "points": differences of accuracies, in percentage points; anything else: plain numbers.
    The interval is ``compare``'s Holm-adjusted one (it excludes zero exactly when Holm rejects).
    """
    a, b = row["a"], row["b"]
    points = unit == "points"

    def fmt(v: float, sign: bool = False) -> str:
        text = f"{100 * v:{'+' if sign else ''}.1f}" if points else f"{v:{'+' if sign else ''}.3g}"
        return text

    tail = " points" if points else ""
    seeds = f", {int(row['n'])} paired seeds" if "n" in row else ""
    if row["significant"] and row["mean"] > 0:
        return (f"**{a}** beats **{b}** by {fmt(row['mean'])}{tail} (Holm-adjusted interval {fmt(row['low'])} to "
                f"{fmt(row['high'])}{seeds})")
    if row["significant"]:
        return (f"**{b}** beats **{a}** by {fmt(-row['mean'])}{tail} (Holm-adjusted interval {fmt(-row['high'])} to "
                f"{fmt(-row['low'])}{seeds})")
    return (f"**{a}** and **{b}** cannot be told apart: {fmt(row['mean'], sign=True)}{tail} (Holm-adjusted interval "
            f"{fmt(row['low'], sign=True)} to {fmt(row['high'], sign=True)}{seeds})")


def direction(row: pd.Series) -> str:
    """How a stands to b in a ``compare`` row: "ahead of" or "behind" where Holm rejects, else
    "not separated from" (read "a is ... b"; not separated is not shown equal)."""
    if not row["significant"]:
        return "not separated from"
    return "ahead of" if row["mean"] > 0 else "behind"


def bootstrap_interval(samples: np.ndarray, statistic: Callable[[np.ndarray], float], level: float = 0.95,
                       resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """The statistic of ``samples`` (rows = independent seeds) and its percentile bootstrap interval,
    resampling rows with ``scipy.stats.bootstrap``. Returns (estimate, low, high)."""
    samples = np.asarray(samples, dtype=float)
    if samples.ndim != 2 or len(samples) < 2:
        raise ValueError(f"samples must be a 2-D array with one row per seed (>= 2 rows), got shape {samples.shape}")
    rows = np.arange(len(samples))
    # A statistic may be infinite on some resamples (a curve that never reaches its target there):
    # the percentile interval then has an infinite end, which is the right answer, not a warning.
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        result = stats.bootstrap((rows,), lambda idx: statistic(samples[idx.astype(int)]), vectorized=False,
                                 n_resamples=resamples, confidence_level=level, method="percentile",
                                 random_state=np.random.default_rng(seed))
    return float(statistic(samples)), float(result.confidence_interval.low), float(result.confidence_interval.high)


def size_to_reach(sizes: Sequence[float], accuracy: Sequence[float], target: float) -> float:
    """The smallest size at which the curve reaches ``target``, interpolated linearly in log(size);
    inf if it never does within the sizes measured."""
    sizes = np.asarray(sizes, dtype=float)
    x, y = np.log(sizes), np.asarray(accuracy, dtype=float)
    above = np.flatnonzero(y >= target)
    if not len(above):
        return float("inf")
    i = above[0]
    if i == 0:
        return float(sizes[0])
    return float(np.exp(x[i - 1] + (target - y[i - 1]) * (x[i] - x[i - 1]) / (y[i] - y[i - 1])))


def ranks(values) -> np.ndarray:
    """Rank of each value, 1 for the largest (ties share the mean rank)."""
    return stats.rankdata(-np.asarray(values, dtype=float))


def size_text(size: float, largest: float) -> str:
    """A size for a table: "1,024", or "> 4,096" when a curve never got there within the sizes measured."""
    return f"> {largest:,.0f}" if np.isinf(size) else f"{size:,.0f}"


def expected_max(scores: Sequence[float], trials: int | None = None) -> np.ndarray:
    """Expected best validation score after n = 1..N random hyperparameter trials (Dodge et al. 2019).

    scores: the validation score of each of the N settings of a grid. A budget of n trials draws n
    settings uniformly with replacement, so with sorted scores v_(1) <= ... <= v_(N),
    E[max_n] = sum_i v_(i) ((i / N)^n - ((i - 1) / N)^n). Returns E[max_n] for n = 1..trials (default N).
    """
    v = np.sort(np.asarray(scores, dtype=float))
    big_n = len(v)
    if not big_n or np.isnan(v).any():
        raise ValueError(f"scores must be a non-empty sequence of numbers, got {scores!r}")
    i = np.arange(1, big_n + 1)
    n = np.arange(1, (trials or big_n) + 1)[:, None]
    weights = (i / big_n) ** n - ((i - 1) / big_n) ** n
    return weights @ v


def expected_best(scores: Sequence[float], trials: int | None = None, lower_is_better: bool = True) -> np.ndarray:
    """``expected_max`` for a score to minimize (a validation loss) when ``lower_is_better``:
    the expected lowest score after n = 1..trials random draws from the grid."""
    scores = np.asarray(scores, dtype=float)
    return -expected_max(-scores, trials) if lower_is_better else expected_max(scores, trials)


def ordered(labels: Sequence, order: Sequence) -> list:
    """``labels`` in the order of ``order`` (the order the data were defined in), others after."""
    known = [o for o in order if o in set(labels)]
    return known + [label for label in labels if label not in set(known)]


def curves(summary: pd.DataFrame, x: str, hue: str, ax=None, bayes: float | None = None, logx: bool = False,
           xlabel: str | None = None, ylabel: str = "test accuracy", order: Sequence | None = None,
           bayes_label: str = "Bayes optimum", percent: bool = True, legend_outside: bool = False):
    """One line per ``hue`` with its interval band (Student-t over seeds); a dashed line at the
    Bayes-optimal accuracy. ``summary``: ``summarize`` output indexed by (hue, x). Legend entries
    follow ``order`` (default: the order of the data); ``percent`` labels the y axis in percent;
    ``legend_outside`` puts the legend to the right of the axes, clear of the bands."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    ax = ax or plt.subplots(figsize=(7, 4.2))[1]
    data = summary.reset_index()
    keys = ordered(list(dict.fromkeys(data[hue])), order or [])
    for key in keys:
        part = data[data[hue] == key].sort_values(x)
        line, = ax.plot(part[x], part["mean"], marker="o", ms=3, label=str(key))
        ax.fill_between(part[x], part["low"], part["high"], color=line.get_color(), alpha=0.2, lw=0)
    if bayes is not None:
        ax.axhline(bayes, color="k", ls="--", lw=1, label=f"{bayes_label} ({bayes:.2%})")
    if logx:
        ax.set_xscale("log")
        values = sorted(data[x].unique())
        if len(values) <= 6:  # few sizes: label each one, plainly
            ax.set_xticks(values, [f"{v:,.0f}" for v in values])
            ax.minorticks_off()
    ax.set_xlabel(xlabel or x.replace("_", " "))
    ax.set_ylabel(ylabel)  # the tick labels carry the % sign
    if percent:
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
    ax.grid(alpha=0.3)
    if legend_outside:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    else:
        ax.legend(fontsize=8)
    return ax


def differences(table: pd.DataFrame, ax=None, xlabel: str = "paired difference in test accuracy",
                percent: bool = True):
    """Paired differences with their Holm-corrected intervals, one row per comparison.

    table: ``compare`` output with a ``label`` column naming each comparison. Filled markers are
    significant after correction; the line at zero is no difference.
    """
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(7, 0.45 * len(table) + 1.2))[1]
    scale = 100 if percent else 1
    y = np.arange(len(table))[::-1]
    for yi, (_, row) in zip(y, table.iterrows()):
        color = "C0" if row["significant"] else "0.5"
        ax.errorbar(row["mean"] * scale, yi, xerr=[[(row["mean"] - row["low"]) * scale], [(row["high"] - row["mean"]) * scale]],
                    fmt="o" if row["significant"] else "o", mfc=color if row["significant"] else "white",
                    color=color, capsize=3)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(y, table["label"], fontsize=8)
    ax.set_xlabel(xlabel + (" (percentage points)" if percent else ""))
    ax.grid(alpha=0.3, axis="x")
    return ax
