import json
import warnings

import pandas as pd
import pytest
import torch

from symlib import experiments as ex
from symlib import plots

TINY = ex.Config(steps=20, eval_every=10, test_size=200, batch_size=16, width=4, seeds=(0, 1))


def test_ensemble_run_equals_solo_runs():
    both = ex.run(TINY)
    for seed in TINY.seeds:
        solo = ex.run(TINY.replace(seeds=(seed,)))
        member = both[both.seed == seed].reset_index(drop=True)
        for col in ("train_loss", "test_accuracy", "grad_norm"):
            torch.testing.assert_close(torch.tensor(member[col].values), torch.tensor(solo[col].values),
                                       rtol=1e-4, atol=1e-5)


def test_run_is_tidy_and_reproducible():
    a, b = ex.run(TINY), ex.run(TINY)
    assert a.drop(columns="seconds").equals(b.drop(columns="seconds"))
    assert {"approach", "train_size", "seed", "step", "test_accuracy", "bayes_accuracy"} <= set(a.columns)
    assert len(a) == 2 * 2  # 2 evaluations x 2 seeds


def test_cache_hit_does_not_retrain(tmp_path, monkeypatch):
    first = ex.run_cached(TINY, tmp_path)
    monkeypatch.setattr(ex, "run", lambda *a, **k: pytest.fail("a cached run was retrained"))
    again = ex.run_cached(TINY, tmp_path)
    pd.testing.assert_frame_equal(first, again)


def test_cache_key_depends_on_config_and_source(monkeypatch):
    key = ex.cache_key(TINY)
    assert ex.cache_key(TINY.replace(lr=2e-3)) != key
    monkeypatch.setattr(ex, "symlib_source_hash", lambda: "another library version")
    assert ex.cache_key(TINY) != key


@pytest.mark.parametrize("damage", [lambda p: p.write_bytes(p.read_bytes()[:50]), lambda p: p.write_bytes(b"junk")])
def test_corrupt_entry_is_recomputed_with_a_warning(tmp_path, damage):
    first = ex.run_cached(TINY, tmp_path)
    (entry,) = tmp_path.glob("*.pkl")
    damage(entry)
    with pytest.warns(UserWarning, match="unreadable.*recomputing"):
        again = ex.run_cached(TINY, tmp_path)
    pd.testing.assert_frame_equal(first.drop(columns="seconds"), again.drop(columns="seconds"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ex.run_cached(TINY, tmp_path)  # repaired: read without complaint


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("old")

    def fail(tmp):
        open(tmp, "w").write("half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        ex.atomic_write(path, fail)
    assert path.read_text() == "old"
    assert list(tmp_path.iterdir()) == [path]


def test_interrupted_sweep_resumes(tmp_path, monkeypatch):
    configs = [TINY.replace(lr=lr) for lr in (1e-3, 2e-3, 3e-3)]
    real_run, calls = ex.run, []

    def interrupted(config, *args, **kwargs):
        if config.lr == 3e-3:
            raise KeyboardInterrupt
        calls.append(config.lr)
        return real_run(config, *args, **kwargs)

    monkeypatch.setattr(ex, "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ex.sweep(configs, tmp_path, n_jobs=1)
    assert len(list(tmp_path.glob("*.pkl"))) == 2  # finished runs were kept

    def resumed(config, *args, **kwargs):
        calls.append(config.lr)
        return real_run(config, *args, **kwargs)

    monkeypatch.setattr(ex, "run", resumed)
    out = ex.sweep(configs, tmp_path, n_jobs=1)
    assert calls == [1e-3, 2e-3, 3e-3]  # only the missing run was trained on resume
    assert sorted(out.lr.unique()) == [1e-3, 2e-3, 3e-3]


def test_parallel_sweep_equals_sequential(tmp_path):
    configs = {"a": TINY, "b": TINY.replace(approach="dense")}
    parallel = ex.sweep(configs, tmp_path / "p", n_jobs=2)
    sequential = ex.sweep(configs, tmp_path / "s", n_jobs=1)
    pd.testing.assert_frame_equal(parallel.drop(columns="seconds"), sequential.drop(columns="seconds"))
    assert list(parallel.label.unique()) == ["a", "b"]


def test_dask_cluster_sweep_equals_local(tmp_path):
    distributed = pytest.importorskip("distributed")
    configs = [TINY, TINY.replace(approach="sampled", samples=2)]
    local = ex.sweep(configs, tmp_path / "local", n_jobs=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        remote = ex.sweep(configs, tmp_path / "dask", client=client)
    pd.testing.assert_frame_equal(local.drop(columns="seconds"), remote.drop(columns="seconds"))


def test_config_validation():
    with pytest.raises(ValueError, match="seeds must be a non-empty tuple of ints"):
        ex.Config(seeds=[0, 1])
    with pytest.raises(ValueError, match="seeds must be distinct"):
        ex.Config(seeds=(0, 0))
    with pytest.raises(ValueError, match="approach must be one of"):
        ex.Config(approach="mlp")
    with pytest.raises(ValueError, match="task must be one of"):
        ex.Config(task="mnist")
    with pytest.raises(TypeError, match="configs must all be"):
        ex.sweep([{"approach": "deepsets"}], "/tmp/unused")


def test_require_names_parameter_expected_and_received():
    ex.require("steps", 10, int, low=1)
    with pytest.raises(ValueError, match=r"parameter 'steps' must be >= 1, got 0"):
        ex.require("steps", 0, int, low=1)
    with pytest.raises(ValueError, match=r"parameter 'steps' must be of type <class 'int'>, got True"):
        ex.require("steps", True, int)
    with pytest.raises(ValueError, match=r"parameter 'sizes' must be a list of <class 'int'>, got \[1, 'a'\]"):
        ex.require("sizes", [1, "a"], list, each=int)
    with pytest.raises(ValueError, match=r"parameter 'mode' must be one of \('a', 'b'\), got 'c'"):
        ex.require("mode", "c", str, choices=("a", "b"))


def test_chapter_provenance(tmp_path):
    record = ex.Chapter("demo", {"steps": 3}).finish(tmp_path)
    stored = json.loads((tmp_path / "provenance" / "demo.json").read_text())
    assert stored == json.loads(json.dumps(record))
    assert stored["parameters"] == {"steps": 3} and stored["torch"] == torch.__version__
    assert len(stored["git_commit"]) in (7, 40) or stored["git_commit"] == "unknown"


def test_paired_verdicts():
    df = pd.DataFrame({"seed": [0, 1, 2] * 2, "m": ["a"] * 3 + ["b"] * 3, "v": [0.7, 0.71, 0.72, 0.6, 0.6, 0.61]})
    diff = plots.paired_difference(df, "m", "a", "b", value="v")
    assert diff["low"] > 0 and plots.verdict(diff, "a", "b").startswith("**a** beats **b**")
    assert plots.verdict(plots.paired_difference(df, "m", "b", "a", value="v"), "b", "a").startswith("**a** beats **b**")
    noisy = pd.DataFrame({"seed": [0, 1, 2] * 2, "m": ["a"] * 3 + ["b"] * 3, "v": [0.7, 0.6, 0.65, 0.6, 0.7, 0.65]})
    assert "cannot be told apart" in plots.verdict(plots.paired_difference(noisy, "m", "a", "b", value="v"), "a", "b")


def test_sweep_uses_the_parents_cache_keys(tmp_path, monkeypatch):
    # A worker that imported a different symlib source must still write where the parent will look.
    configs = [TINY, TINY.replace(lr=2e-3)]
    paths = {c: ex.cache_path(c, tmp_path) for c in configs}
    ex.sweep(configs, tmp_path, n_jobs=2)
    assert sorted(tmp_path.glob("*.pkl")) == sorted(paths.values())
    monkeypatch.setattr(ex, "run", lambda *a, **k: pytest.fail("the parent retrained a run its workers finished"))
    ex.sweep(configs, tmp_path, n_jobs=2)
