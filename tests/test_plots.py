import numpy as np
import pandas as pd
import pytest
from scipy import stats

from symlib import plots


def runs(values: dict, column="m") -> pd.DataFrame:
    return pd.DataFrame([{"seed": s, column: k, "v": v} for k, vs in values.items() for s, v in enumerate(vs)])


def test_holm_matches_the_step_down_definition():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> running max 0.02, 0.03, 0.06, 0.06
    np.testing.assert_allclose(plots.holm(p), [0.03, 0.06, 0.06, 0.02])
    assert plots.holm([0.9, 0.8])[0] == 1.0


def test_compare_intervals_agree_with_holm_decisions():
    rng = np.random.default_rng(0)
    base = np.round(rng.normal(0.7, 0.01, 12), 4)
    a = base + 0.02 + rng.normal(0, 0.002, 12)
    df = runs({"a": a, "b": base, "c": base + rng.normal(0, 0.01, 12), "d": base + 0.004 + rng.normal(0, 0.01, 12)})
    table = plots.compare(df, "m", [("a", "b"), ("c", "b"), ("d", "b")], value="v")
    assert table.loc[0, "significant"] and not table.loc[1, "significant"]
    for _, row in table.iterrows():
        assert row["significant"] == (row["low"] > 0 or row["high"] < 0)
        assert row["p_holm"] >= row["p"]
    # The raw p-value is the paired t-test's.
    assert table.loc[0, "p"] == pytest.approx(stats.ttest_rel(a, base).pvalue)
    assert plots.verdict(table.loc[0]).startswith(f"**a** beats **b** by {100 * np.mean(a - base):.1f} points")
    assert "cannot be told apart" in plots.verdict(table.loc[1])


def test_compare_filters_each_comparison():
    df = pd.concat([runs({"a": [1, 2, 3], "b": [0, 1, 2]}).assign(size=64),
                    runs({"a": [1, 2, 3], "b": [1.1, 2.1, 3.05]}).assign(size=128)])
    table = plots.compare(df, "m", [("a", "b", {"size": 64}), ("a", "b", {"size": 128})], value="v")
    assert table["size"].tolist() == [64, 128] and table["mean"].tolist()[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="needs at least two paired seeds"):
        plots.compare(df[df.seed == 0], "m", [("a", "b")], value="v")


def test_summarize_is_indexed_by_its_keys():
    df = runs({"b": [0.1, 0.2, 0.3], "a": [0.5, 0.5, 0.5]})
    s = plots.summarize(df, "m", "v")
    assert list(s.index) == ["b", "a"] and s.loc["b", "mean"] == pytest.approx(0.2) and s.loc["a", "n"] == 3
    assert s.loc["b", "low"] < 0.2 < s.loc["b", "high"]


def test_expected_max_runs_from_the_mean_to_the_best():
    scores = [0.6, 0.65, 0.7]
    curve = plots.expected_max(scores, trials=50)
    assert curve[0] == pytest.approx(np.mean(scores))
    assert np.all(np.diff(curve) >= 0) and curve[-1] == pytest.approx(0.7, abs=1e-6)
    # n = 2 by enumeration of the 9 ordered pairs.
    assert curve[1] == pytest.approx(np.mean([max(a, b) for a in scores for b in scores]))


def test_size_to_reach_interpolates_in_log_size():
    assert plots.size_to_reach([64, 256], [0.6, 0.7], 0.65) == pytest.approx(128)
    assert plots.size_to_reach([64, 256], [0.6, 0.7], 0.75) == float("inf")
    assert plots.size_to_reach([64, 256], [0.8, 0.9], 0.75) == 64


def test_bootstrap_interval_covers_the_estimate():
    rng = np.random.default_rng(1)
    samples = rng.normal(0.7, 0.02, size=(10, 3))
    est, low, high = plots.bootstrap_interval(samples, lambda s: s.mean(), resamples=500)
    assert low < est < high and est == pytest.approx(samples.mean())
    with pytest.raises(ValueError, match="one row per seed"):
        plots.bootstrap_interval(samples[0], lambda s: s.mean())


def test_ranks_and_size_text():
    assert plots.ranks([0.6, 0.7, 0.65]).tolist() == [3.0, 1.0, 2.0]
    assert plots.size_text(float("inf"), 4096) == "> 4,096" and plots.size_text(1234.4, 4096) == "1,234"


def test_direction_words():
    assert plots.direction(pd.Series({"significant": True, "mean": 0.1})) == "ahead of"
    assert plots.direction(pd.Series({"significant": True, "mean": -0.1})) == "behind"
    assert plots.direction(pd.Series({"significant": False, "mean": 0.1})) == "not separated from"


def test_expected_best_minimizes():
    losses = [0.7, 0.6, 0.65]
    curve = plots.expected_best(losses, trials=30)
    assert curve[0] == pytest.approx(np.mean(losses)) and curve[-1] == pytest.approx(0.6, abs=1e-4)
    assert np.all(np.diff(curve) <= 0)
