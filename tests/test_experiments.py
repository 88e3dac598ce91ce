import os
import pickle
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from symlib import experiments as ex
from symlib import plots

TINY = ex.Config(steps=20, eval_every=10, test_size=200, batch_size=16, width=4, train_size=40, val_fraction=0.25)
ROOT = Path(__file__).resolve().parents[1]


def without_time(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=["seconds", "member"]).reset_index(drop=True)


def test_config_resolves_defaults_and_budgets():
    assert TINY.fields()["eval_every"] == 10
    implicit = ex.Config(steps=100)
    assert implicit.fields() == ex.Config(steps=100, eval_every=10).fields()
    assert ex.cache_key(implicit) == ex.cache_key(ex.Config(steps=100, eval_every=10))
    budget = ex.Config(train_size=1000, val_fraction=0.2, epochs=10, min_steps=50, batch_size=64)
    assert budget.steps == 125  # ceil(10 epochs * 800 training samples / 64)
    assert budget.replace(train_size=100).steps == 50  # the floor
    assert budget.replace(train_size=4000).steps == 500


@pytest.mark.parametrize("kwargs,match", [
    (dict(group="foo"), r"Config.group must be one of"),
    (dict(group="cyclic"), r"Config.group is used only by the approaches"),
    (dict(approach="orbit", group="cyclic", reduction="mean"), r"reduction must be 'sum' for approach 'orbit'"),
    (dict(approach="dense", samples=4), r"samples and eval_samples are used only by approach 'sampled'"),
    (dict(rho=0.3), r"rho is used only by the ring and pair tasks"),
    (dict(task="ring", var0=2.0), r"var0 and var1 are used only by task 'gaussian_variance'"),
    (dict(eval_every=0), r"Config.eval_every must be an int >= 1 or None, got 0"),
    (dict(n=0), r"Config.n must be an int >= 1, got 0"),
    (dict(width=0), r"Config.width must be an int >= 1, got 0"),
    (dict(seed=-1), r"Config.seed must be a non-negative int, got -1"),
    (dict(lr=float("nan")), r"Config.lr must be a finite number > 0"),
    (dict(weight_decay=-1.0), r"Config.weight_decay must be a finite number >= 0"),
    (dict(val_fraction=0.2), r"val_fraction splits a fixed training set"),
    (dict(train_size=10, val_fraction=1.0), r"Config.val_fraction must be a finite number > 0.0 and < 1.0"),
    (dict(train_size=2, val_fraction=0.1), r"leaves train_size=2 with 2 training and 0 validation"),
    (dict(epochs=5, steps=None), r"Config.epochs needs a fixed training set"),
    (dict(train_size=100, epochs=5, steps=10), r"give Config.steps or Config.epochs, not both"),
    (dict(min_steps=5), r"min_steps is a floor for an epochs budget"),
    (dict(approach="mlp"), r"Config.approach must be one of"),
    (dict(task="mnist"), r"Config.task must be one of"),
])
def test_config_refuses_bad_or_ignored_fields(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ex.Config(**{"steps": 10, **kwargs})


def test_config_type_errors_name_the_field():
    with pytest.raises(TypeError, match=r"Config.train_size must be an int"):
        ex.Config(steps=10, train_size=True)
    with pytest.raises(TypeError, match=r"Config.lr must be a number"):
        ex.Config(steps=10, lr="fast")


def test_grid_is_the_cartesian_product():
    configs = ex.grid(TINY, lr=[1e-3, 1e-2], seed=range(3))
    assert len(configs) == 6 and [c.lr for c in configs[:3]] == [1e-3] * 3 and [c.seed for c in configs[:3]] == [0, 1, 2]
    with pytest.raises(ValueError, match=r"grid axis 'learning_rate' is not a Config field"):
        ex.grid(TINY, learning_rate=[1e-3])
    with pytest.raises(ValueError, match=r"grid axis 'lr' must be a non-empty sequence"):
        ex.grid(TINY, lr=[])


def test_packing_groups_by_architecture_and_step_count():
    configs = ex.grid(TINY, approach=["deepsets", "dense"], train_size=[40, 80], lr=[1e-3, 1e-2], seed=range(3))
    packs = ex.pack(configs, max_members=5)
    assert sum(len(p) for p in packs) == len(configs) and max(len(p) for p in packs) <= 5
    for p in packs:
        assert len({ex.pack_key(c) for c in p}) == 1
    budget = ex.grid(TINY.replace(epochs=20, min_steps=20), train_size=[40, 400], seed=range(2))
    assert {c.steps for c in budget} == {38, 375} and len(ex.pack(budget)) == 2  # 20 epochs of 30 and 300 samples, batch 16
    assert len(ex.pack(ex.grid(TINY, seed=range(8)), min_packs=2)) == 2
    fresh = TINY.replace(train_size=None, val_fraction=None, val_size=20)
    assert len(ex.pack([fresh, TINY.replace(val_fraction=None), fresh.replace(seed=1)])) == 2  # never a mix


def test_packed_sweep_equals_runs_one_by_one(tmp_path):
    configs = ex.grid(TINY.replace(approach="sampled", samples=2), lr=[1e-3, 1e-2], train_size=[40, 60], seed=[3, 0])
    packed = ex.sweep(configs, tmp_path, n_jobs=1)
    assert packed.groupby(["lr", "train_size", "seed"]).member.nunique().max() == 1  # one member index per run
    for config in configs[::3]:
        alone = ex.run(config)
        mine = packed[(packed.lr == config.lr) & (packed.train_size == config.train_size) & (packed.seed == config.seed)]
        numeric = [c for c in alone.columns if alone[c].dtype.kind == "f" and c != "seconds"]
        np.testing.assert_allclose(mine[numeric].to_numpy(float), alone[numeric].to_numpy(float), rtol=1e-5, atol=1e-6)


def test_sweep_labels_from_tuple_keys(tmp_path):
    out = ex.sweep({("DeepSets", 40): TINY, ("dense", 40): TINY.replace(approach="dense")}, tmp_path, n_jobs=1,
                   names=("model", "size"))
    assert set(out.model) == {"DeepSets", "dense"} and set(out["size"]) == {40}
    with pytest.raises(ValueError, match=r"tuple keys need names"):
        ex.sweep({("a", 1): TINY}, tmp_path)


def test_select_picks_lowest_validation_loss(tmp_path):
    configs = ex.grid(TINY.replace(steps=60), lr=[1e-4, 3e-3, 3e-2], seed=[0, 1])
    histories = ex.sweep(configs, tmp_path, n_jobs=1)
    chosen = ex.select(histories)
    assert len(chosen) == 2 and (chosen.trials == 3).all()
    checkpoints = histories[histories.selected]
    for _, row in chosen.iterrows():
        mine = checkpoints[checkpoints.seed == row.seed]
        assert row.val_loss == mine.val_loss.min() and row.lr == mine.loc[mine.val_loss.idxmin(), "lr"]
    assert ex.select(histories, by="val_accuracy").val_accuracy.tolist() == \
        checkpoints.groupby("seed").val_accuracy.max().tolist()
    # One setting for all seeds, from the mean validation loss over seeds; every seed reported at it.
    pooled = ex.select(histories, across=("seed",))
    best_lr = checkpoints.groupby("lr").val_loss.mean().idxmin()
    assert sorted(pooled.seed) == [0, 1] and (pooled.lr == best_lr).all() and (pooled.trials == 3).all()
    # A setting that diverged for one seed is not eligible.
    broken = histories.copy()
    broken.loc[(broken.lr == best_lr) & (broken.seed == 1), "selected"] = False
    assert best_lr not in ex.select(broken, across=("seed",)).lr.tolist()


def test_cache_hit_does_not_retrain(tmp_path, monkeypatch):
    first = ex.sweep([TINY], tmp_path)
    monkeypatch.setattr(ex, "run_pack", lambda *a, **k: pytest.fail("a cached run was retrained"))
    pd.testing.assert_frame_equal(first, ex.sweep([TINY], tmp_path))


def test_cache_key_follows_the_numbers_not_the_plots(tmp_path):
    copy = tmp_path / "symlib"
    shutil.copytree(ROOT / "symlib", copy, ignore=shutil.ignore_patterns("__pycache__"))
    key = ex.numeric_source_hash(copy)
    assert key == ex.numeric_source_hash(ROOT / "symlib")
    for harmless in ("plots.py", "profile.py", "check.py", "provenance.py", "files.py"):
        if (copy / harmless).exists():
            (copy / harmless).write_text((copy / harmless).read_text() + "\n# an edit that changes no number\n")
    text = (copy / "experiments.py").read_text()
    (copy / "experiments.py").write_text(text.replace('"""Every run\'s history', '"""The history of every run'))
    assert ex.numeric_source_hash(copy) == key, "editing plots or sweep code must keep every cached run"
    # Comments, docstrings and layout of a numeric module change no number either.
    layers_text = (copy / "layers.py").read_text()
    assert '"""S_n-equivariant linear layer' in layers_text and "    def reset_parameters(self)" in layers_text
    (copy / "layers.py").write_text(
        layers_text.replace('"""S_n-equivariant linear layer', '"""The S_n-equivariant linear layer', 1)
        .replace("    def reset_parameters(self)", "    # a comment that changes no number\n\n    def reset_parameters(self)", 1))
    assert ex.numeric_source_hash(copy) == key, "a docstring or comment must keep every cached run"
    for numeric in ("layers.py", "train.py"):
        (copy / numeric).write_text((copy / numeric).read_text() + "\nX = 1\n")
        assert ex.numeric_source_hash(copy) != key, f"editing {numeric} must change the key"
        key = ex.numeric_source_hash(copy)
    run_pack = text.index("def run_pack(")
    (copy / "experiments.py").write_text(text[:run_pack] + text[run_pack:].replace("num_threads=num_threads", "num_threads=None", 1))
    assert ex.numeric_source_hash(copy) != key, "editing the run function must change the key"


@pytest.mark.parametrize("damage", [
    lambda p: p.write_bytes(p.read_bytes()[:50]),
    lambda p: p.write_bytes(b"junk"),
    lambda p: p.write_bytes(pickle.dumps({**pickle.loads(p.read_bytes()), "schema": 1})),
    lambda p: p.write_bytes(pickle.dumps({**(s := pickle.loads(p.read_bytes())),
                                          "history": s["history"].drop(columns=["val_loss"])})),
], ids=["truncated", "junk", "old-schema", "missing-column"])
def test_unusable_entry_is_recomputed_with_a_warning(tmp_path, damage):
    first = ex.sweep([TINY], tmp_path)
    (entry,) = tmp_path.glob("*.pkl")
    damage(entry)
    with pytest.warns(UserWarning, match="unusable.*recomputing"):
        again = ex.sweep([TINY], tmp_path)
    pd.testing.assert_frame_equal(without_time(first), without_time(again))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ex.sweep([TINY], tmp_path)  # repaired: read without complaint


def test_unwritable_cache_fails_before_training(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setattr(ex, "run_pack", lambda *a, **k: pytest.fail("trained although the result could not be kept"))
    with pytest.raises(ValueError, match=r"cache_dir must be a writable folder"):
        ex.sweep([TINY], blocker / "cache")


def test_files_respect_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        ex.sweep([TINY], tmp_path)
    finally:
        os.umask(old)
    (entry,) = tmp_path.glob("*.pkl")
    assert entry.stat().st_mode & 0o777 == 0o640


def test_interrupted_sweep_resumes(tmp_path, monkeypatch):
    configs = ex.grid(TINY, approach=["deepsets", "dense", "canonical"])
    real, calls = ex.run_pack, []

    def interrupted(pack, *args, **kwargs):
        if pack[0].approach == "canonical":
            raise KeyboardInterrupt
        calls.append(pack[0].approach)
        return real(pack, *args, **kwargs)

    monkeypatch.setattr(ex, "run_pack", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ex.sweep(configs, tmp_path, n_jobs=1)
    kept = len(list(tmp_path.glob("*.pkl")))
    assert kept == len(calls) >= 1  # every finished pack was kept

    def resumed(pack, *args, **kwargs):
        calls.append(pack[0].approach)
        return real(pack, *args, **kwargs)

    monkeypatch.setattr(ex, "run_pack", resumed)
    out = ex.sweep(configs, tmp_path, n_jobs=1)
    assert sorted(calls) == ["canonical", "deepsets", "dense"]  # only the missing run was trained on resume
    assert sorted(out.approach.unique()) == ["canonical", "deepsets", "dense"]


def test_parallel_sweep_equals_sequential(tmp_path):
    configs = {"a": TINY, "b": TINY.replace(approach="dense"), "c": TINY.replace(seed=1)}
    parallel = ex.sweep(configs, tmp_path / "p", n_jobs=2)
    sequential = ex.sweep(configs, tmp_path / "s", n_jobs=1)
    pd.testing.assert_frame_equal(without_time(parallel), without_time(sequential))
    assert list(parallel.label.unique()) == ["a", "b", "c"]


SWEEP = textwrap.dedent("""
    import sys
    from symlib import experiments as ex
    configs = ex.grid(ex.Config(steps=20000, test_size=100, train_size=64, val_fraction=0.25), seed=range(4))
    ex.sweep(configs, sys.argv[1], n_jobs=2)
""")


def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_killed_sweep_leaves_no_process(tmp_path, sig):
    parent = subprocess.Popen([sys.executable, "-c", SWEEP, str(tmp_path)], cwd=ROOT)
    workers, deadline = [], time.time() + 60
    while len(workers) < 2 and time.time() < deadline and parent.poll() is None:
        workers = [p for p in children(parent.pid) if "loky" in Path(f"/proc/{p}/cmdline").read_text()] \
            if Path(f"/proc/{parent.pid}").exists() else []
        time.sleep(0.2)
    assert len(workers) >= 2, "the sweep did not start its workers"
    time.sleep(1.0)  # workers busy training
    workers = children(parent.pid)  # every child: workers and loky's resource tracker
    parent.send_signal(sig)
    parent.wait(timeout=30)
    deadline = time.time() + 15
    while any(alive(w) for w in workers) and time.time() < deadline:
        time.sleep(0.2)
    assert not [w for w in workers if alive(w)], "child processes outlived the killed sweep"
    assert not list(tmp_path.glob("*.pkl")), "nothing half-done may be cached"
    assert not list(tmp_path.glob(".*.tmp*")), "no temporary file may be left behind"


def test_kept_models_are_the_selected_checkpoints(tmp_path):
    from symlib import train

    configs = ex.grid(TINY.replace(approach="sampled", samples=2, steps=40), seed=[0, 1])
    histories = ex.sweep(configs, tmp_path, keep_models=True)
    for config in configs:
        model = ex.load_model(config, tmp_path)
        x, y = ex.make_task(config).sample(config.test_size, generator=__import__("torch").Generator().manual_seed(
            train.TEST_SEED))
        from symlib import symmetrize
        symmetrize.rewind(model, 2)  # the test stream fit evaluates with
        scored = train.evaluate(model, x, y)
        row = histories[(histories.seed == config.seed) & histories.selected]
        assert scored.accuracy.item() == pytest.approx(row.test_accuracy.item(), abs=1e-9)
    with pytest.raises(ValueError, match="no checkpoint of this run"):
        ex.load_model(TINY.replace(seed=7), tmp_path)


def test_sweep_labels_lists_of_configs(tmp_path):
    out = ex.sweep({"DeepSets": ex.grid(TINY, seed=[0, 1]), "dense": [TINY.replace(approach="dense")]}, tmp_path,
                   n_jobs=1, names=("model",))
    assert out.groupby("model").seed.nunique().to_dict() == {"DeepSets": 2, "dense": 1}


def test_tune_tests_only_the_chosen_settings(tmp_path):
    grid = {"DeepSets": ex.grid(TINY.replace(steps=40), lr=[1e-4, 3e-3, 3e-2], seed=[0, 1])}
    trials, tested = ex.tune(grid, tmp_path, tuned=("lr",), test_size=300, names=("model",))
    chosen = plots.selected(tested)
    assert trials.test_accuracy.isna().all() and (trials.test_size == 0).all()  # tuning never saw a test set
    best_lr = plots.selected(trials).groupby("lr").val_loss.mean().idxmin()
    assert (chosen.lr == best_lr).all() and sorted(chosen.seed) == [0, 1] and chosen.test_accuracy.notna().all()
    assert (chosen.test_size == 300).all() and (chosen.trials == 3).all() and set(chosen.model) == {"DeepSets"}
    runs = len(list(tmp_path.glob("*.pkl")))
    assert runs == 6 + 2  # every trial, and the two chosen runs once more with the test set


def test_tune_keeps_only_the_chosen_runs_checkpoints(tmp_path):
    grid = {"DeepSets": ex.grid(TINY, lr=[1e-4, 3e-2], seed=[0, 1])}
    trials, tested = ex.tune(grid, tmp_path, tuned=("lr",), test_size=300, names=("model",), keep_models=True)
    chosen = plots.selected(tested)
    kept = sorted(p.name for p in tmp_path.glob("*.model.pt"))
    assert len(kept) == 2 and kept == sorted(ex.model_path(c, tmp_path).name for c in [
        TINY.replace(lr=lr, seed=seed, test_size=300) for lr, seed in zip(chosen.lr, chosen.seed)])


def test_load_model_stacks_runs_of_one_architecture(tmp_path):
    import torch

    configs = ex.grid(TINY.replace(approach="sampled", samples=2), seed=[0, 1, 2], lr=[1e-3, 1e-2])[:3]
    ex.sweep(configs, tmp_path, keep_models=True)
    ensemble = ex.load_model(configs, tmp_path)
    assert not ensemble.training
    x = torch.randn(7, TINY.n, TINY.d)
    with torch.no_grad():
        together = ensemble(x.repeat(3, 1, 1)).reshape(3, 7)  # member-major batches
        for e, config in enumerate(configs):
            torch.testing.assert_close(together[e], ex.load_model(config, tmp_path)(x).reshape(7))
    with pytest.raises(ValueError, match="share an architecture"):
        ex.load_model([configs[0], configs[0].replace(approach="dense", samples=1)], tmp_path)
    with pytest.raises(ValueError, match=r"no checkpoint of this run \(sampled, seed 9\)"):
        ex.load_model([configs[0], configs[0].replace(seed=9)], tmp_path)


def test_config_from_a_history_row_is_the_run(tmp_path):
    runs = [TINY.replace(lr=3e-3), TINY.replace(approach="deepsets", task="variable_variance", n=8, n_min=3, seed=2),
            ex.Config(train_size=80, val_fraction=0.25, epochs=3, min_steps=5, batch_size=16, test_size=50,
                      approach="sampled", samples=2, eval_samples=4)]
    histories = ex.sweep(runs, tmp_path, n_jobs=1)
    # What pandas may make of columns mixing None and ints (e.g. after a CSV round trip): NaN and floats.
    histories = histories.astype({"n_min": float, "eval_samples": float, "val_size": float})
    for config in runs:
        row = histories[(histories.approach == config.approach) & (histories.seed == config.seed)].iloc[-1]
        again = ex.Config.from_row(row)
        assert ex.cache_key(again) == ex.cache_key(config) and again.fields() == config.fields()
    with pytest.raises(ValueError, match=r"row must hold every Config field, missing \['seed'\]"):
        ex.Config.from_row({k: v for k, v in TINY.fields().items() if k != "seed"})
    with pytest.raises(TypeError, match="row must be a mapping"):
        ex.Config.from_row([1, 2])


def test_curve_grid_gives_each_size_its_seeds():
    runs = ex.curve_grid(TINY, [40, 80], {40: [0, 1, 2], 80: [0]}, lr=[1e-3, 1e-2])
    assert sorted((c.train_size, c.seed, c.lr) for c in runs) == sorted(
        [(40, s, lr) for s in (0, 1, 2) for lr in (1e-3, 1e-2)] + [(80, 0, lr) for lr in (1e-3, 1e-2)])
    with pytest.raises(ValueError, match="seeds must give the seeds of every size"):
        ex.curve_grid(TINY, [40, 80], {40: [0]})


def test_training_seconds_counts_each_runs_share(tmp_path):
    histories = ex.sweep(ex.grid(TINY, seed=[0, 1, 2]), tmp_path, n_jobs=1)
    pack_seconds = histories.seconds.max()
    assert ex.training_seconds(histories) == pytest.approx(pack_seconds)  # one pack of three: three thirds
    with pytest.raises(ValueError, match="missing"):
        ex.training_seconds(histories.drop(columns="members"))
