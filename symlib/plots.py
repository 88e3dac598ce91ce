"""Figures and summaries for the chapters: means with 95% intervals over seeds, the Bayes ceiling."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["summarize", "interval", "paired_difference", "verdict", "curves", "final"]


def final(history: pd.DataFrame) -> pd.DataFrame:
    """The last evaluation of every run (``fit`` always evaluates its last step)."""
    return history[history["step"] == history["steps"]]


def interval(values: pd.Series, level: float = 0.95) -> pd.Series:
    """Mean and Student-t confidence interval of independent values (e.g. one per seed)."""
    x = pd.Series(values).dropna()
    n, mean = len(x), x.mean()
    half = stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
    return pd.Series({"mean": mean, "low": mean - half, "high": mean + half, "seeds": n})


def summarize(df: pd.DataFrame, by: Sequence[str], value: str = "test_accuracy", level: float = 0.95) -> pd.DataFrame:
    """Mean, Student-t interval (over seeds) and count of ``value`` for each group of ``by``."""
    return df.groupby(list(by), dropna=False)[value].apply(interval, level=level).unstack().reset_index()


def paired_difference(df: pd.DataFrame, column: str, a, b, value: str = "test_accuracy",
                      pair: str = "seed") -> pd.Series:
    """value(a) - value(b), paired by ``pair`` (same seed: same data stream and initial draw), with its interval."""
    table = df.pivot_table(index=pair, columns=column, values=value)
    for name in (a, b):
        if name not in table:
            raise ValueError(f"{column}={name!r} is not in the results; have {list(table.columns)}")
    return interval(table[a] - table[b])


def verdict(diff: pd.Series, a: str, b: str) -> str:
    """A sentence that states a direction only where the interval of ``a - b`` excludes zero."""
    if diff["low"] > 0:
        return f"**{a}** beats **{b}** by {diff['mean']:.1%} (95% interval {diff['low']:.1%} to {diff['high']:.1%})"
    if diff["high"] < 0:
        return f"**{b}** beats **{a}** by {-diff['mean']:.1%} (95% interval {-diff['high']:.1%} to {-diff['low']:.1%})"
    return (f"**{a}** and **{b}** cannot be told apart: {diff['mean']:+.1%} "
            f"(95% interval {diff['low']:+.1%} to {diff['high']:+.1%})")


def curves(summary: pd.DataFrame, x: str, hue: str, ax: plt.Axes | None = None, bayes: float | None = None,
           logx: bool = False, ylabel: str = "test accuracy", labels: dict | None = None) -> plt.Axes:
    """One line per ``hue`` with its interval band; a dashed line at the Bayes-optimal accuracy."""
    ax = ax or plt.subplots(figsize=(7, 4.2))[1]
    for key, part in summary.groupby(hue, sort=False):
        part = part.sort_values(x)
        line, = ax.plot(part[x], part["mean"], marker="o", ms=3, label=(labels or {}).get(key, key))
        ax.fill_between(part[x], part["low"], part["high"], color=line.get_color(), alpha=0.2, lw=0)
    if bayes is not None:
        ax.axhline(bayes, color="k", ls="--", lw=1, label=f"Bayes optimum ({bayes:.2%})")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(x.replace("_", " "))
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax
