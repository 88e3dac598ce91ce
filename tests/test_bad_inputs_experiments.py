"""Bad input to symlib.experiments: each case raises the right exception type, naming the argument.

Every bad call must be refused before anything is trained or written, so the cases are quick.
"""

import os
import tempfile

import pandas as pd
import pytest

from conftest import assert_clear_error
from symlib import experiments as ex

NAN, INF = float("nan"), float("inf")
TINY = ex.Config(n=4, d=2, width=2, steps=2, batch_size=4, test_size=8)
FIXED = TINY.replace(train_size=20, val_fraction=0.25)
NEVER_WRITTEN = os.path.join(tempfile.gettempdir(), "symlib-bad-inputs-never-written")
UNDER_A_FILE = os.path.join(__file__, "cache")  # a folder that cannot exist
HISTORIES = pd.DataFrame({"lr": [1e-3, 1e-2], "weight_decay": [0.0, 0.0], "selected": [True, True],
                          "val_loss": [0.5, 0.4], "val_accuracy": [0.7, 0.8]})


def config(**fields):
    return ex.Config(**{"steps": 2, **fields})


def sweep(configs=(TINY,), **kwargs):
    return ex.sweep(list(configs) if isinstance(configs, tuple) else configs, kwargs.pop("cache_dir", NEVER_WRITTEN),
                    **kwargs)


def case(name, call, error, argument, received=None):
    return pytest.param(call, error, argument, received, id=name)


CASES = [
    # Config: every field
    case("config-approach-unknown", lambda: config(approach="mlp"), ValueError, "Config.approach", "'mlp'"),
    case("config-approach-none", lambda: config(approach=None), TypeError, "Config.approach", "None"),
    case("config-task-unknown", lambda: config(task="mnist"), ValueError, "Config.task", "'mnist'"),
    case("config-task-int", lambda: config(task=3), TypeError, "Config.task", r"got 3\b"),
    case("config-n-zero", lambda: config(n=0), ValueError, "Config.n", r"got 0\b"),
    case("config-n-bool", lambda: config(n=True), TypeError, "Config.n", "True"),
    case("config-n-float", lambda: config(n=2.5), TypeError, "Config.n", "2.5"),
    case("config-d-string", lambda: config(d="5"), TypeError, "Config.d", "'5'"),
    case("config-width-zero", lambda: config(width=0), ValueError, "Config.width", r"got 0\b"),
    case("config-var0-zero", lambda: config(var0=0), ValueError, "Config.var0", r"got 0\.0"),
    case("config-var0-nan", lambda: config(var0=NAN), ValueError, "Config.var0", "nan"),
    case("config-var1-string", lambda: config(var1="0.8"), TypeError, "Config.var1", "'0.8'"),
    case("config-rho-one", lambda: config(task="pair", rho=1.0), ValueError, "Config.rho", r"1\.0"),
    case("config-rho-ring-too-large", lambda: config(task="ring", rho=0.6), ValueError, "Config.rho", "0.6"),
    case("config-rho-nan", lambda: config(task="pair", rho=NAN), ValueError, "Config.rho", "nan"),
    case("config-rho-unused", lambda: config(rho=0.3), ValueError, "Config.rho", "0.3"),
    case("config-pool-unknown", lambda: config(pool="median"), ValueError, "Config.pool", "'median'"),
    case("config-pool-unused", lambda: config(approach="dense", pool="max"), ValueError, "Config.pool", "'max'"),
    case("config-n-min-missing", lambda: config(task="variable_variance", n=15), ValueError, "Config.n_min", "None"),
    case("config-n-min-above-n", lambda: config(task="variable_variance", n=15, n_min=16), ValueError,
         "Config.n_min", r"n=15.*got 16"),
    case("config-n-min-zero", lambda: config(task="variable_variance", n=15, n_min=0), ValueError, "Config.n_min",
         r"got 0\b"),
    case("config-n-min-unused", lambda: config(n_min=3), ValueError, "Config.n_min", r"n_min=3"),
    case("config-masks-unused", lambda: config(masks=False), ValueError, "masks", "masks=False"),
    case("config-masks-int", lambda: config(task="variable_variance", n=15, n_min=5, masks=1), TypeError,
         "Config.masks", r"got 1\b"),
    case("config-variable-dense", lambda: config(approach="dense", task="variable_variance", n=15, n_min=5),
         ValueError, "variable_variance", "'dense'"),
    case("config-variable-rho", lambda: config(task="variable_variance", n=15, n_min=5, rho=0.2), ValueError,
         "Config.rho", "0.2"),
    case("config-group-unknown", lambda: config(approach="sampled", group="klein"), ValueError, "Config.group",
         "'klein'"),
    case("config-group-none", lambda: config(approach="sampled", group=None), TypeError, "Config.group", "None"),
    case("config-group-unused", lambda: config(group="cyclic"), ValueError, "Config.group", "'cyclic'"),
    case("config-samples-zero", lambda: config(approach="sampled", samples=0), ValueError, "Config.samples",
         r"got 0\b"),
    case("config-samples-float", lambda: config(approach="sampled", samples=1.5), TypeError, "Config.samples", "1.5"),
    case("config-eval-samples-zero", lambda: config(approach="sampled", eval_samples=0), ValueError,
         "Config.eval_samples", r"got 0\b"),
    case("config-reduction-unknown", lambda: config(reduction="max"), ValueError, "Config.reduction", "'max'"),
    case("config-reduction-orbit", lambda: config(approach="orbit", reduction="mean"), ValueError,
         "Config.reduction", "'mean'"),
    case("config-init-unknown", lambda: config(init="he"), ValueError, "Config.init", "'he'"),
    case("config-loss-unknown", lambda: config(loss="mse"), ValueError, "Config.loss", "'mse'"),
    case("config-loss-none", lambda: config(loss=None), TypeError, "Config.loss", "None"),
    case("config-schedule-int", lambda: config(schedule=0), TypeError, "Config.schedule", r"got 0\b"),
    case("config-test-at-unknown", lambda: config(test_at="end"), ValueError, "Config.test_at", "'end'"),
    case("config-train-size-zero", lambda: config(train_size=0), ValueError, "Config.train_size", r"got 0\b"),
    case("config-train-size-bool", lambda: config(train_size=True), TypeError, "Config.train_size", "True"),
    case("config-val-fraction-one", lambda: config(train_size=10, val_fraction=1.0), ValueError,
         "Config.val_fraction", r"1\.0"),
    case("config-val-fraction-zero", lambda: config(train_size=10, val_fraction=0.0), ValueError,
         "Config.val_fraction", r"0\.0"),
    case("config-val-fraction-string", lambda: config(train_size=10, val_fraction="0.1"), TypeError,
         "Config.val_fraction", "'0.1'"),
    case("config-val-fraction-fresh", lambda: config(val_fraction=0.2), ValueError, "Config.val_fraction", "0.2"),
    case("config-val-fraction-empty-part", lambda: config(train_size=2, val_fraction=0.1), ValueError,
         "Config.val_fraction", r"2 training and 0 validation"),
    case("config-val-size-zero", lambda: config(val_size=0), ValueError, "Config.val_size", r"got 0\b"),
    case("config-val-size-fixed", lambda: config(train_size=10, val_size=5), ValueError, "Config.val_size", r"\b5\b"),
    case("config-steps-zero", lambda: config(steps=0), ValueError, "Config.steps", r"got 0\b"),
    case("config-steps-none", lambda: config(steps=None), TypeError, "Config.steps", "None"),
    case("config-steps-float", lambda: config(steps=10.0), TypeError, "Config.steps", r"10\.0"),
    case("config-epochs-zero", lambda: config(steps=None, train_size=10, epochs=0), ValueError, "Config.epochs",
         r"0\.0"),
    case("config-epochs-string", lambda: config(steps=None, train_size=10, epochs="1"), TypeError, "Config.epochs",
         "'1'"),
    case("config-epochs-nan", lambda: config(steps=None, train_size=10, epochs=NAN), ValueError, "Config.epochs",
         "nan"),
    case("config-epochs-and-steps", lambda: config(train_size=10, epochs=1), ValueError, "Config.steps",
         r"steps=2, epochs=1"),
    case("config-min-steps-zero", lambda: config(steps=None, train_size=10, epochs=1, min_steps=0), ValueError,
         "Config.min_steps", r"got 0\b"),
    case("config-min-steps-alone", lambda: config(min_steps=5), ValueError, "Config.min_steps", r"\b5\b"),
    case("config-batch-zero", lambda: config(batch_size=0), ValueError, "Config.batch_size", r"got 0\b"),
    case("config-lr-zero", lambda: config(lr=0), ValueError, "Config.lr", r"0\.0"),
    case("config-lr-inf", lambda: config(lr=INF), ValueError, "Config.lr", "inf"),
    case("config-lr-bool", lambda: config(lr=True), TypeError, "Config.lr", "True"),
    case("config-weight-decay-negative", lambda: config(weight_decay=-1), ValueError, "Config.weight_decay",
         r"-1\.0"),
    case("config-seed-negative", lambda: config(seed=-1), ValueError, "Config.seed", "-1"),
    case("config-seed-float", lambda: config(seed=1.5), TypeError, "Config.seed", "1.5"),
    case("config-test-size-negative", lambda: config(test_size=-1), ValueError, "Config.test_size", r"got -1\b"),
    case("config-eval-every-zero", lambda: config(eval_every=0), ValueError, "Config.eval_every", r"got 0\b"),
    case("config-replace-unknown-field", lambda: TINY.replace(learning_rate=1e-3), TypeError, "learning_rate"),
    case("config-replace-bad-value", lambda: TINY.replace(lr=-1.0), ValueError, "Config.lr", r"-1\.0"),
    # grid: config, axes
    case("grid-config-string", lambda: ex.grid("config", lr=[1e-3]), TypeError, "config", "str"),
    case("grid-config-none", lambda: ex.grid(None), TypeError, "config", "NoneType"),
    case("grid-axis-unknown", lambda: ex.grid(TINY, learning_rate=[1e-3]), ValueError, "learning_rate"),
    case("grid-axis-empty", lambda: ex.grid(TINY, lr=[]), ValueError, "lr", r"\[\]"),
    case("grid-axis-scalar", lambda: ex.grid(TINY, lr=1e-3), TypeError, "lr", "0.001"),
    case("grid-axis-string", lambda: ex.grid(TINY, approach="dense"), TypeError, "approach", "'dense'"),
    case("grid-axis-none", lambda: ex.grid(TINY, seed=None), TypeError, "seed", "None"),
    case("grid-axis-generator", lambda: ex.grid(TINY, seed=(s for s in range(3))), TypeError, "seed", "generator"),
    case("grid-axis-bad-value", lambda: ex.grid(TINY, lr=[1e-3, -1.0]), ValueError, "Config.lr", r"-1\.0"),
    # sweep: configs, cache_dir, n_jobs, scheduler, names, max_members, progress
    case("sweep-configs-one-config", lambda: sweep(TINY), TypeError, "configs", "Config"),
    case("sweep-configs-string", lambda: sweep("TINY"), TypeError, "configs", "str"),
    case("sweep-configs-non-config", lambda: sweep((TINY, "x")), TypeError, "configs[1]", "str"),
    case("sweep-configs-dict-non-config", lambda: sweep({"a": TINY, "b": 3}), TypeError, "configs['b']", "int"),
    case("sweep-configs-empty", lambda: sweep([]), ValueError, "configs", "none"),
    case("sweep-configs-empty-dict", lambda: sweep({}), ValueError, "configs", "none"),
    case("sweep-configs-mixed-keys", lambda: sweep({"a": TINY, ("b", 1): TINY}), ValueError, "configs"),
    case("sweep-n-jobs-zero", lambda: sweep(n_jobs=0), ValueError, "n_jobs", r"got 0\b"),
    case("sweep-n-jobs-below-minus-one", lambda: sweep(n_jobs=-2), ValueError, "n_jobs", "-2"),
    case("sweep-n-jobs-float", lambda: sweep(n_jobs=1.5), TypeError, "n_jobs", "1.5"),
    case("sweep-n-jobs-bool", lambda: sweep(n_jobs=True), TypeError, "n_jobs", "True"),
    case("sweep-max-members-zero", lambda: sweep(max_members=0), ValueError, "max_members", r"got 0\b"),
    case("sweep-max-members-string", lambda: sweep(max_members="8"), TypeError, "max_members", "'8'"),
    case("sweep-names-with-a-list", lambda: sweep(names=("model",)), ValueError, "names", r"\('model',\)"),
    case("sweep-names-missing", lambda: sweep({("a", 1): TINY}), ValueError, "names", "None"),
    case("sweep-names-string", lambda: sweep({"a": TINY}, names="model"), TypeError, "names", "'model'"),
    case("sweep-scheduler-int", lambda: sweep(scheduler=8786), TypeError, "scheduler", "8786"),
    case("sweep-progress-string", lambda: sweep(progress="no"), TypeError, "progress", "'no'"),
    case("sweep-keep-models-string", lambda: sweep(keep_models="yes"), TypeError, "keep_models", "'yes'"),
    case("sweep-cache-dir-none", lambda: sweep(cache_dir=None), TypeError, "cache_dir", "NoneType"),
    case("sweep-cache-dir-int", lambda: sweep(cache_dir=3), TypeError, "cache_dir", "int"),
    case("sweep-cache-dir-unwritable", lambda: sweep(cache_dir=UNDER_A_FILE), ValueError, "cache_dir", "cache'"),
    # select: histories, tuned, by
    case("select-histories-list", lambda: ex.select([]), TypeError, "histories", "list"),
    case("select-by-unknown", lambda: ex.select(HISTORIES, by="loss"), ValueError, "by", "'loss'"),
    case("select-by-int", lambda: ex.select(HISTORIES, by=3), TypeError, "by", r"got 3\b"),
    case("select-tuned-string", lambda: ex.select(HISTORIES, tuned="lr"), TypeError, "tuned", "'lr'"),
    case("select-tuned-none", lambda: ex.select(HISTORIES, tuned=None), TypeError, "tuned", "None"),
    case("select-tuned-unknown", lambda: ex.select(HISTORIES, tuned=["learning_rate"]), ValueError, "tuned",
         "'learning_rate'"),
    case("select-across-string", lambda: ex.select(HISTORIES, across="seed"), TypeError, "across", "'seed'"),
    case("select-across-unknown", lambda: ex.select(HISTORIES, across=["seed"]), ValueError, "across",
         r"\['seed'\]"),
    case("select-across-tuned", lambda: ex.select(HISTORIES, across=["lr"]), ValueError, "across", r"\['lr'\]"),
    case("select-histories-no-selected", lambda: ex.select(HISTORIES.drop(columns="selected")), ValueError,
         "histories", "selected"),
    case("select-histories-empty", lambda: ex.select(HISTORIES.iloc[:0]), ValueError, "histories", r"got 0 rows"),
    case("select-histories-no-validation", lambda: ex.select(HISTORIES.assign(val_loss=NAN)), ValueError,
         "histories", r"got 2\b"),
    # pack: configs, max_members, min_packs
    case("pack-configs-non-config", lambda: ex.pack([TINY, 1]), TypeError, "configs[1]", "int"),
    case("pack-configs-one-config", lambda: ex.pack(TINY), TypeError, "configs", "Config"),
    case("pack-configs-empty", lambda: ex.pack([]), ValueError, "configs", "none"),
    case("pack-max-members-zero", lambda: ex.pack([TINY], max_members=0), ValueError, "max_members", r"got 0\b"),
    case("pack-max-members-negative", lambda: ex.pack([TINY], max_members=-1), ValueError, "max_members", "-1"),
    case("pack-max-members-float", lambda: ex.pack([TINY], max_members=1.5), TypeError, "max_members", "1.5"),
    case("pack-min-packs-string", lambda: ex.pack([TINY], min_packs="2"), TypeError, "min_packs", "'2'"),
    case("pack-min-packs-negative", lambda: ex.pack([TINY], min_packs=-1), ValueError, "min_packs", "-1"),
    # run, run_pack, build_model, make_task, cache_key
    case("run-config-string", lambda: ex.run("config"), TypeError, "config", "str"),
    case("run-config-none", lambda: ex.run(None), TypeError, "config", "NoneType"),
    case("run-threads-zero", lambda: ex.run(TINY, num_threads=0), ValueError, "num_threads", r"got 0\b"),
    case("run-progress-string", lambda: ex.run(TINY, progress="yes"), TypeError, "progress", "'yes'"),
    case("run-pack-empty", lambda: ex.run_pack([]), ValueError, "configs", "none"),
    case("run-pack-one-config", lambda: ex.run_pack(TINY), TypeError, "configs", "Config"),
    case("run-pack-non-config", lambda: ex.run_pack([TINY, None]), TypeError, "configs[1]", "NoneType"),
    case("run-pack-architectures", lambda: ex.run_pack([TINY, TINY.replace(width=3)]), ValueError, "configs",
         r"got 2 architectures"),
    case("build-model-string", lambda: ex.build_model("deepsets"), TypeError, "configs", "str"),
    case("build-model-empty", lambda: ex.build_model([]), ValueError, "configs", "none"),
    case("make-task-dict", lambda: ex.make_task({"task": "ring"}), TypeError, "config", "dict"),
    case("cache-path-dir-none", lambda: ex.cache_path(TINY, None), TypeError, "cache_dir", "None"),
    case("load-model-config-string", lambda: ex.load_model("deepsets", NEVER_WRITTEN), TypeError, "configs", "str"),
    case("load-model-dir-none", lambda: ex.load_model(TINY, None), TypeError, "cache_dir", "None"),
    case("load-model-not-kept", lambda: ex.load_model(TINY, NEVER_WRITTEN), ValueError, "cache_dir",
         "never-written'"),
    case("cache-key-none", lambda: ex.cache_key(None), TypeError, "config", "NoneType"),
]


@pytest.mark.parametrize("call,error,argument,received", CASES)
def test_bad_input_names_the_argument(call, error, argument, received):
    assert_clear_error(call, error, argument, received)
    assert not os.path.exists(NEVER_WRITTEN), "a refused sweep touched its cache folder"


def test_select_with_a_string_of_tuned_settings_is_refused_not_split_into_letters():
    # Was: tuned="lr" became ["l", "r"] and the error complained about a field 'l'.
    with pytest.raises(TypeError, match=r"^tuned must be a sequence of Config field names, got 'lr' \(str\)$"):
        ex.select(HISTORIES, tuned="lr")


def test_sweep_names_given_as_a_string_are_refused_not_cut_to_a_letter():
    # Was: names="model" labelled the runs in a column named "m".
    with pytest.raises(TypeError, match=r"names must be a sequence of column names \(str\), got 'model'"):
        ex.sweep({"a": TINY}, NEVER_WRITTEN, names="model")


def test_pack_of_nothing_is_a_clear_error():
    # Was: IndexError (list index out of range).
    with pytest.raises(ValueError, match=r"^configs must hold at least one Config, got none$"):
        ex.pack([])
