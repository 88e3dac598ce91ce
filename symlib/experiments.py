"""Runs, grids, packed sweeps, selection and the run cache: what the chapters call to train.

* ``Config``: a frozen, hashable description of ONE run (one seed, one setting). Every field is
  validated at construction, defaults are resolved (so two spellings of one run share a key), and
  no field is accepted where it would be ignored.
* ``grid(config, lr=[...], weight_decay=[...], seed=[...], ...)``: the Cartesian product of
  settings, as a list of Configs.
* ``sweep(configs, cache_dir)``: every run's history. Cached runs are read; the missing ones are
  *packed*: runs that share an architecture and a step count (everything but seed, lr,
  weight_decay and train_size) train together as one ensemble (``symlib.layers``), member e
  exactly as its solo run. Packs go to joblib workers (one torch thread each), or to a Dask
  cluster (a ``client``, a ``scheduler`` address, or the ``SYMLIB_SCHEDULER`` variable).
* ``select(histories, tuned=("lr", "weight_decay"), by="val_loss")``: for every run group that
  differs only in the tuned settings (e.g. each approach, training-set size and seed), the setting
  with the best validation score, with its validation score and test result. The test set
  chooses nothing.
* The cache: one entry per run, keyed by the config and the source of the code that can change its
  numbers (``NUMERIC_MODULES`` and this module's run functions), stored with a schema version.
  Writes are atomic; an unreadable, foreign or outdated entry is recomputed with a warning.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import itertools
import json
import math
import os
import pickle
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from contextlib import nullcontext
from copy import deepcopy
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import data, models, train
from .files import _check_path, atomic_write, require_writable
from .layers import INITS, REDUCTIONS, ensemble_size
from .rng import check_seed

__all__ = ["Config", "pack_key", "grid", "curve_grid", "tune", "training_seconds", "build_model", "make_task", "run", "run_pack", "sweep", "select", "pack",
           "pack_capacity", "cache_key", "cache_path", "model_path", "load_model", "numeric_source_hash", "symlib_source_hash", "TASKS", "SCHEMA",
           "HISTORY_COLUMNS", "NUMERIC_MODULES", "PER_MEMBER_FIELDS"]

PACKAGE_DIR = Path(__file__).resolve().parent
SCHEMA = 2  # bump when a history's columns or meaning change: older entries are then recomputed
NUMERIC_MODULES = ("groups", "bases", "layers", "symmetrize", "data", "models", "train", "rng", "original")
# The definitions of this module that a run's numbers depend on (hashed with NUMERIC_MODULES).
RUN_DEFINITIONS = ("Config", "TASKS", "make_task", "_task", "build_model", "run_pack")
PER_MEMBER_FIELDS = ("seed", "lr", "weight_decay", "train_size")  # may differ within one ensemble
HISTORY_COLUMNS = ("seed", "member", "step", "samples_seen", "train_loss", "train_accuracy", "grad_norm", "val_loss",
                   "val_accuracy", "test_loss", "test_accuracy", "test_saturated", "selected", "diverged", "seconds",
                   "parameters", "bayes_accuracy")
TASKS = {"gaussian_variance": lambda c: data.GaussianVarianceTask(c.n, c.d, c.var0, c.var1),
         "variable_variance": lambda c: data.VariableSizeVarianceTask(c.n_min, c.n, c.d, c.var0, c.var1, masks=c.masks),
         "ring": lambda c: data.ring_task(c.n, c.d, c.rho),
         "pair": lambda c: data.pair_task(c.n, c.d, c.rho)}


def _bad(name: str, expected: str, value) -> ValueError:
    return ValueError(f"Config.{name} must be {expected}, got {value!r}")


def _int_field(name: str, value, low: int, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"Config.{name} must be an int >= {low}{' or None' if allow_none else ''}, got {value!r}")
    if value < low:
        raise _bad(name, f"an int >= {low}{' or None' if allow_none else ''}", value)


def _float_field(name: str, value, low: float, strict: bool, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"Config.{name} must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not math.isfinite(value) or (value <= low if strict else value < low) or (high is not None and value >= high):
        bounds = f"{'>' if strict else '>='} {low}" + (f" and < {high}" if high is not None else "")
        raise _bad(name, f"a finite number {bounds}", value)
    return value


def _choice_field(name: str, value, choices) -> None:
    if not isinstance(value, str):
        raise TypeError(f"Config.{name} must be one of {tuple(choices)}, got {value!r} ({type(value).__name__})")
    if value not in choices:
        raise _bad(name, f"one of {tuple(choices)}", value)


@dataclasses.dataclass(frozen=True)
class Config:
    """One training run. See ``symlib.train.fit`` for the meaning of the training fields.

    Budget: give ``steps``, or ``epochs`` with ``min_steps`` (then ``steps = max(min_steps,
    ceil(epochs * training samples / batch_size))``, so that a large training set is not cut short
    and a small one still gets ``min_steps`` updates). ``val_fraction`` holds out part of a fixed
    training set for validation and checkpoint selection; ``val_size`` draws a validation set with
    fresh data. ``rho`` is the ring/pair tasks' correlation, ``var0``/``var1`` the variance tasks'.
    Task "variable_variance" draws each set's size from ``n_min..n`` and pads to ``n``, with masks
    (or, ``masks=False``, zero padding and no mask: the naive way, kept to measure it); only
    DeepSets takes sets of varying size. ``pool`` is DeepSets' pooling over the set.
    """

    approach: str = "deepsets"
    task: str = "gaussian_variance"
    n: int = 10
    n_min: int | None = None
    masks: bool = True
    d: int = 5
    var0: float = 1.0
    var1: float = 0.8
    rho: float = 0.0
    width: int = 10
    group: str = "symmetric"
    samples: int = 1
    eval_samples: int | None = None
    reduction: str = "sum"
    pool: str = "sum"
    init: str = "default"
    loss: str = "logits"
    train_size: int | None = None
    val_fraction: float | None = None
    val_size: int | None = None
    steps: int | None = None
    epochs: float | None = None
    min_steps: int | None = None
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.0
    schedule: str = "cosine"
    seed: int = 0
    test_size: int = 20_000
    eval_every: int | None = None
    test_at: str = "selected"

    def __post_init__(self) -> None:
        _choice_field("approach", self.approach, models.APPROACHES)
        _choice_field("task", self.task, TASKS)
        _int_field("n", self.n, 1)
        _int_field("d", self.d, 1)
        _int_field("width", self.width, 1)
        _choice_field("group", self.group, models.GROUPS)
        _int_field("samples", self.samples, 1)
        _int_field("eval_samples", self.eval_samples, 1, allow_none=True)
        _choice_field("reduction", self.reduction, REDUCTIONS)
        _choice_field("pool", self.pool, models.POOLS)
        _int_field("n_min", self.n_min, 1, allow_none=True)
        if not isinstance(self.masks, bool):
            raise TypeError(f"Config.masks must be a bool, got {self.masks!r}")
        _choice_field("init", self.init, INITS)
        _choice_field("loss", self.loss, train.LOSSES)
        _choice_field("schedule", self.schedule, train.SCHEDULES)
        _choice_field("test_at", self.test_at, train.TEST_AT)
        _int_field("train_size", self.train_size, 1, allow_none=True)
        _int_field("val_size", self.val_size, 1, allow_none=True)
        _int_field("batch_size", self.batch_size, 1)
        _int_field("test_size", self.test_size, 0)
        _int_field("eval_every", self.eval_every, 1, allow_none=True)
        check_seed(self.seed, "Config.seed")
        for name in ("var0", "var1"):
            _float_field(name, getattr(self, name), 0.0, strict=True)
        _float_field("lr", self.lr, 0.0, strict=True)
        _float_field("weight_decay", self.weight_decay, 0.0, strict=False)
        _float_field("rho", self.rho, -1.0, strict=True, high=1.0)
        if self.val_fraction is not None:
            _float_field("val_fraction", self.val_fraction, 0.0, strict=True, high=1.0)
        self._check_unused()
        self._resolve_budget()

    def _check_unused(self) -> None:
        """Refuse settings that the run would silently ignore."""
        default = Config.__dataclass_fields__
        if self.approach not in models.GROUP_APPROACHES and self.group != default["group"].default:
            raise ValueError(f"Config.group is used only by the approaches {models.GROUP_APPROACHES}; "
                             f"approach {self.approach!r} got group={self.group!r}")
        if self.approach != "sampled" and (self.samples != 1 or self.eval_samples is not None):
            raise ValueError(f"Config.samples and eval_samples are used only by approach 'sampled'; approach "
                             f"{self.approach!r} got samples={self.samples!r}, eval_samples={self.eval_samples!r}")
        if self.approach == "orbit" and self.reduction != "sum":
            raise ValueError(f"Config.reduction must be 'sum' for approach 'orbit' (its layers sum), got {self.reduction!r}")
        if self.approach != "deepsets" and self.pool != "sum":
            raise ValueError(f"Config.pool is used only by approach 'deepsets'; approach {self.approach!r} got "
                             f"pool={self.pool!r}")
        if self.task == "variable_variance":
            if self.n_min is None or self.n_min > self.n:
                raise ValueError(f"Config.n_min must be an int in [1, n={self.n}] for task 'variable_variance' (sizes "
                                 f"n_min..n), got {self.n_min!r}")
            if self.approach != "deepsets":
                raise ValueError(f"task 'variable_variance' has sets of several sizes, which only approach 'deepsets' "
                                 f"takes; got approach={self.approach!r}")
        elif self.n_min is not None or not self.masks:
            raise ValueError(f"Config.n_min and masks are used only by task 'variable_variance'; task {self.task!r} "
                             f"got n_min={self.n_min!r}, masks={self.masks!r}")
        if self.task in ("gaussian_variance", "variable_variance") and self.rho != 0.0:
            raise ValueError(f"Config.rho is used only by the ring and pair tasks; task {self.task!r} got rho={self.rho!r}")
        if self.task in ("ring", "pair") and (self.var0, self.var1) != (1.0, 0.8):
            raise ValueError(f"Config.var0 and var1 are used only by task 'gaussian_variance'; task {self.task!r} "
                             f"got var0={self.var0!r}, var1={self.var1!r}")
        if self.task == "ring" and not abs(self.rho) < 0.5:
            raise _bad("rho", "a number with |rho| < 0.5 for the ring task", self.rho)
        if self.train_size is None and self.val_fraction is not None:
            raise ValueError(f"Config.val_fraction splits a fixed training set; with fresh data (train_size=None) "
                             f"use val_size, got val_fraction={self.val_fraction!r}")
        if self.train_size is not None and self.val_size is not None:
            raise ValueError(f"Config.val_size is for fresh data; with train_size={self.train_size} use "
                             f"val_fraction, got val_size={self.val_size!r}")
        if self.train_size is not None and self.val_fraction is not None:
            held_out = round(self.val_fraction * self.train_size)
            if held_out < 1 or held_out >= self.train_size:
                raise ValueError(f"Config.val_fraction={self.val_fraction} leaves train_size={self.train_size} with "
                                 f"{self.train_size - held_out} training and {held_out} validation samples; each "
                                 "part must hold at least 1")

    def _resolve_budget(self) -> None:
        if self.epochs is None:
            if self.min_steps is not None:
                raise ValueError(f"Config.min_steps is a floor for an epochs budget; got min_steps="
                                 f"{self.min_steps!r} without epochs")
            _int_field("steps", self.steps, 1)
        else:
            if self.steps is not None:
                raise ValueError(f"give Config.steps or Config.epochs, not both (got steps={self.steps!r}, "
                                 f"epochs={self.epochs!r})")
            if self.train_size is None:
                raise ValueError(f"Config.epochs needs a fixed training set; got epochs={self.epochs!r} with "
                                 "train_size=None (fresh data: give steps)")
            epochs = _float_field("epochs", self.epochs, 0.0, strict=True)
            _int_field("min_steps", self.min_steps, 1, allow_none=True)
            steps = max(self.min_steps or 1, math.ceil(epochs * self.training_samples / self.batch_size))
            object.__setattr__(self, "steps", steps)

    @property
    def training_samples(self) -> int | None:
        """Samples a run trains on: the fixed set minus its validation part (None for fresh data)."""
        if self.train_size is None:
            return None
        return self.train_size - (round(self.val_fraction * self.train_size) if self.val_fraction else 0)

    def replace(self, **changes) -> "Config":
        """A copy with ``changes``; a derived budget is re-derived (``steps`` is recomputed from epochs)."""
        epochs = changes.get("epochs", self.epochs)
        if epochs is not None and "steps" not in changes:  # an epochs budget derives its steps afresh
            changes["steps"] = None
        return dataclasses.replace(self, **changes)

    @property
    def evaluation_interval(self) -> int:
        """Steps between evaluations: ``eval_every``, or by default a tenth of the run."""
        return self.eval_every or max(1, self.steps // 10)

    @classmethod
    def from_row(cls, row: Mapping) -> "Config":
        """The run of one history row (or any mapping holding every field; other keys are ignored):
        the inverse of ``fields``, so ``Config.from_row(c.fields()) == c`` up to the resolved
        defaults. Undoes what a DataFrame does to values (NumPy scalars, NaN for None, integers
        stored as floats in a column that also holds None)."""
        if not isinstance(row, Mapping) and not hasattr(row, "to_dict"):
            raise TypeError(f"row must be a mapping of Config fields (e.g. a history row), got {type(row).__name__}")
        row = row.to_dict() if hasattr(row, "to_dict") else dict(row)
        names = [f.name for f in dataclasses.fields(cls)]
        missing = [name for name in names if name not in row]
        if missing:
            raise ValueError(f"row must hold every Config field, missing {missing}")
        values = {}
        for field in dataclasses.fields(cls):
            value = row[field.name]
            value = value.item() if isinstance(value, np.generic) else value
            if isinstance(value, float) and math.isnan(value):
                value = None
            elif isinstance(value, float) and value.is_integer() and "int" in field.type and "float" not in field.type:
                value = int(value)
            values[field.name] = value
        if values["epochs"] is not None:
            values["steps"] = None  # derived from the epochs budget
        return cls(**values)

    def fields(self) -> dict:
        """The config as a flat dict (the columns every history row carries), with ``eval_every``
        resolved, so that a run given the default explicitly is the same run (and cache entry)."""
        return {**dataclasses.asdict(self), "eval_every": self.evaluation_interval}



def pack_key(config: Config) -> tuple:
    """What must be equal for runs to train as one ensemble: all but the per-member settings (and
    whether the data are fresh or fixed: fit draws either for all members, never a mix). Not a
    method of Config, so that packing, which never changes a run's numbers, is not in the cache key."""
    return tuple((k, v) for k, v in config.fields().items()
                 if k not in PER_MEMBER_FIELDS and k not in ("epochs", "min_steps")) + (("fresh", config.train_size is None),)


def grid(config: Config, **axes: Sequence) -> list[Config]:
    """Every combination of the values in ``axes`` applied to ``config``, in row-major order.

    ``grid(base, lr=[1e-3, 3e-3], seed=range(5))`` -> 10 Configs. Each axis must name a Config field
    and hold a non-empty sequence of values.
    """
    _check_config(config)
    names = [f.name for f in dataclasses.fields(Config)]
    for name, values in axes.items():
        if name not in names:
            raise ValueError(f"grid axis {name!r} is not a Config field; expected one of {names}")
        if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, range)):
            raise TypeError(f"grid axis {name!r} must be a non-empty sequence of values, got {values!r} "
                            f"({type(values).__name__})")
        if not len(values):
            raise ValueError(f"grid axis {name!r} must be a non-empty sequence of values, got {values!r}")
    return [config.replace(**dict(zip(axes, combo))) for combo in itertools.product(*axes.values())]


def _check_config(config, name: str = "config") -> Config:
    if not isinstance(config, Config):
        raise TypeError(f"{name} must be a symlib.experiments.Config, got {type(config).__name__}")
    return config


def _check_configs(configs, name: str = "configs") -> list[Config]:
    """A non-empty list of Configs from any iterable of them (not a lone Config, a str or a dict)."""
    if isinstance(configs, (Config, str, bytes, Mapping)) or not isinstance(configs, Iterable):
        raise TypeError(f"{name} must be a list of symlib.experiments.Config, got {type(configs).__name__}")
    configs = list(configs)
    if not configs:
        raise ValueError(f"{name} must hold at least one Config, got none")
    for i, config in enumerate(configs):
        _check_config(config, f"{name}[{i}]")
    return configs


def _check_count(name: str, value, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int >= {low}, got {value!r} ({type(value).__name__})")
    if value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return value


def curve_grid(config: Config, sizes: Sequence[int], seeds: Sequence[int] | Mapping[int, Sequence[int]],
               **axes: Sequence) -> list[Config]:
    """The runs of one model's learning curve: at every training-set size, every combination of
    ``axes`` (e.g. lr, weight_decay) for each of that size's seeds.

    seeds: one list for every size, or {size: seeds} (e.g. more seeds where intervals are widest).
    """
    if isinstance(seeds, Mapping):
        missing = [s for s in sizes if s not in seeds]
        if missing:
            raise ValueError(f"seeds must give the seeds of every size, got none for {missing}")
        per_size = {s: list(seeds[s]) for s in sizes}
    else:
        per_size = {s: list(seeds) for s in sizes}
    return [c for size in sizes for c in grid(config, train_size=[size], seed=per_size[size], **axes)]


def make_task(config: Config):
    """The config's task, built once per set of task fields (a Monte Carlo optimum is computed once)."""
    _check_config(config)
    return _task(config.task, config.n, config.d, config.var0, config.var1, config.rho, config.n_min, config.masks)


@cache
def _task(name: str, n: int, d: int, var0: float, var1: float, rho: float, n_min: int | None = None,
          masks: bool = True):
    return TASKS[name](Config(task=name, n=n, d=d, var0=var0, var1=var1, rho=rho, n_min=n_min, masks=masks, steps=1))


def _build(config: Config, ensemble: int) -> torch.nn.Module:
    return models.build(config.approach, config.n, config.d, width=config.width, group=config.group,
                        samples=config.samples, eval_samples=config.eval_samples, ensemble_size=ensemble,
                        probabilities=config.loss == "probabilities", reduction=config.reduction, init=config.init,
                        pool=config.pool)


def build_model(configs: Config | Sequence[Config]) -> torch.nn.Module:
    """The model of one run, or the ensemble of a pack whose member e is initialized exactly as the
    solo model of ``configs[e]`` (torch's RNG seeded with its seed, as a solo run would be)."""
    configs = [configs] if isinstance(configs, Config) else _check_configs(configs)
    if len({pack_key(c) for c in configs}) != 1:
        raise ValueError(f"configs must share an architecture (pack_key) to be built as one ensemble, got "
                         f"{len({pack_key(c) for c in configs})} architectures")
    with torch.random.fork_rng(devices=[]):
        solos = []
        for config in configs:
            torch.manual_seed(config.seed)
            solos.append(_build(config, 1))
        if len(configs) == 1:
            return solos[0]
        model = _build(configs[0], len(configs))
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.stack([solo.get_parameter(name) for solo in solos]))
    return model


def _member_state(ensemble: torch.nn.Module, solo: torch.nn.Module, e: int) -> dict:
    """Member e's part of an ensemble's state_dict, shaped like ``solo``'s (parameters (E, ...) -> (...),
    a random wrapper's keys (E, 2) -> (1, 2), shared scalars as they are)."""
    mine = {}
    for name, value in ensemble.state_dict().items():
        shape = solo.state_dict()[name].shape
        if value.ndim and shape == value.shape[1:]:
            mine[name] = value[e].clone()
        elif shape[:1] == (1,) and shape[1:] == value.shape[1:]:
            mine[name] = value[e:e + 1].clone()
        else:
            mine[name] = value.clone()
    return mine


def run_pack(configs: Sequence[Config], num_threads: int | None = None, progress: bool | None = None,
             states: bool = False) -> list[pd.DataFrame] | tuple[list[pd.DataFrame], list[dict]]:
    """Train runs that share ``pack_key`` as one ensemble; return one history per run, in order.

    Each history carries the run's config fields as columns, its parameter count (per member) and
    the task's Bayes accuracy. With ``states=True`` also return each run's checkpoint as the
    state_dict of its solo model (``build_model(config)``).
    """
    configs = _check_configs(configs)
    first = configs[0]
    model = build_model(configs)
    if ensemble_size(model) != len(configs):
        raise ValueError(f"approach {first.approach!r} built an ensemble of {ensemble_size(model)}, "
                         f"expected {len(configs)}")
    task = make_task(first)
    history = train.fit(
        model, task, steps=first.steps, batch_size=first.batch_size, lr=[c.lr for c in configs],
        weight_decay=[c.weight_decay for c in configs], train_size=[c.train_size for c in configs],
        val_fraction=first.val_fraction, val_size=first.val_size, test_size=first.test_size,
        eval_every=first.evaluation_interval, seeds=[c.seed for c in configs], loss=first.loss, schedule=first.schedule,
        test_at=first.test_at, num_threads=num_threads, progress=progress)
    parameters, bayes = models.parameter_count(model), task.bayes_accuracy()
    out = []
    for e, config in enumerate(configs):
        part = history[history.member == e].drop(columns=["lr", "weight_decay", "train_size", "seed"])
        fields = pd.DataFrame([config.fields()] * len(part), index=part.index)
        out.append(pd.concat([fields, part.assign(member=e, parameters=parameters, bayes_accuracy=bayes)], axis=1)
                   .reset_index(drop=True))
    if not states:
        return out
    if len(configs) == 1:
        return out, [{k: v.clone() for k, v in model.state_dict().items()}]
    return out, [_member_state(model, build_model(c), e) for e, c in enumerate(configs)]


def run(config: Config, num_threads: int | None = None, progress: bool | None = None) -> pd.DataFrame:
    """Train one run and return its history (config fields as columns)."""
    _check_config(config)
    return run_pack([config], num_threads=num_threads, progress=progress)[0]


def _hash_files(paths: Sequence[Path], root: Path) -> hashlib._Hash:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest


def _code_only(node: ast.AST) -> str:
    """The code of a module or definition without its comments, docstrings or layout (``ast.unparse``
    of the tree with every docstring removed): what can change what the code computes."""
    node = deepcopy(node)
    for part in ast.walk(node):
        body = getattr(part, "body", None)
        if (isinstance(part, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            part.body = body[1:] or [ast.Pass()]
    return ast.unparse(node)


def numeric_source_hash(package_dir: str | os.PathLike = PACKAGE_DIR) -> str:
    """Hash of the code that can change a run's numbers: ``NUMERIC_MODULES`` and this module's run
    definitions (``RUN_DEFINITIONS``; ``original`` is in because one approach reproduces its code).
    Plots, profiling, checks, files and the book helpers are left out, and so are comments,
    docstrings and layout, so editing them keeps every cached run."""
    root = Path(package_dir)
    digest = hashlib.sha256()
    for name in NUMERIC_MODULES:
        digest.update(f"{name}.py".encode())
        digest.update(_code_only(ast.parse((root / f"{name}.py").read_text())).encode())
    for node in ast.parse((root / "experiments.py").read_text()).body:
        names = ([node.name] if isinstance(node, (ast.FunctionDef, ast.ClassDef))
                 else [t.id for t in getattr(node, "targets", []) if isinstance(t, ast.Name)])
        if set(names) & set(RUN_DEFINITIONS):
            digest.update(_code_only(node).encode())
    return digest.hexdigest()


@cache
def _numeric_source_hash() -> str:
    return numeric_source_hash()


@cache
def symlib_source_hash() -> str:
    """Hash of every symlib source file (a chapter that imports any of them re-executes on a change)."""
    return _hash_files(sorted(PACKAGE_DIR.rglob("*.py")), PACKAGE_DIR).hexdigest()


def cache_key(config: Config) -> str:
    _check_config(config)
    payload = json.dumps(config.fields(), sort_keys=True) + f"|schema {SCHEMA}|" + _numeric_source_hash()
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def cache_path(config: Config, cache_dir: str | os.PathLike) -> Path:
    return _check_path("cache_dir", cache_dir) / f"{cache_key(config)}.pkl"


def model_path(config: Config, cache_dir: str | os.PathLike) -> Path:
    """Where ``sweep(..., keep_models=True)`` keeps the run's checkpoint (a solo state_dict)."""
    return cache_path(config, cache_dir).with_suffix(".model.pt")


def load_model(configs: Config | Sequence[Config], cache_dir: str | os.PathLike) -> torch.nn.Module:
    """The run's model at its kept checkpoint, in eval mode (``sweep(..., keep_models=True)`` first);
    for a sequence of runs that share ``pack_key``, one ensemble whose member e is run e's checkpoint
    (so that scoring them all is one batched forward pass)."""
    configs = [configs] if isinstance(configs, Config) else _check_configs(configs)
    if len({pack_key(c) for c in configs}) != 1:
        raise ValueError(f"configs must share an architecture (pack_key) to be loaded as one ensemble, got "
                         f"{len({pack_key(c) for c in configs})} architectures")
    paths = [model_path(c, cache_dir) for c in configs]
    for config, path in zip(configs, paths):
        if not path.exists():
            raise ValueError(f"no checkpoint of this run ({config.approach}, seed {config.seed}) in cache_dir={str(cache_dir)!r}: cache_dir must hold "
                             "one, got none; run sweep([config], cache_dir, keep_models=True) first")
    states = [torch.load(path, weights_only=True) for path in paths]
    if len(configs) == 1:
        model = build_model(configs[0])
        model.load_state_dict(states[0])
        return model.eval()
    model = build_model(configs)  # checks that the runs share an architecture
    with torch.no_grad():
        for name, value in model.state_dict().items():
            solo = [state[name] for state in states]
            if value.ndim and solo[0].shape == value.shape[1:]:
                value.copy_(torch.stack(solo))
            elif solo[0].shape[:1] == (1,) and solo[0].shape[1:] == value.shape[1:]:
                value.copy_(torch.cat(solo))
            elif all(torch.equal(s, solo[0]) for s in solo):
                value.copy_(solo[0])
            else:
                raise ValueError(f"the runs' checkpoints differ in the shared entry {name!r}; they cannot be one ensemble")
    return model.eval()


def _load(path: Path, config: Config) -> pd.DataFrame | None:
    """The cached history of ``config``, or None (with a warning if an entry was there but unusable)."""
    if not path.exists():
        return None
    try:
        with open(path, "rb") as f:
            stored = pickle.load(f)
        if not isinstance(stored, dict) or stored.get("schema") != SCHEMA:
            raise ValueError(f"schema {stored.get('schema') if isinstance(stored, dict) else None}, expected {SCHEMA}")
        if not isinstance(stored.get("config"), Config) or stored["config"].fields() != config.fields():
            raise ValueError("entry does not match its config")
        history = stored.get("history")
        if not isinstance(history, pd.DataFrame):
            raise ValueError("history is not a DataFrame")
        missing = [c for c in (*HISTORY_COLUMNS, *config.fields()) if c not in history.columns]
        if missing or history.empty:
            raise ValueError(f"history lacks columns {missing}" if missing else "history is empty")
        return history
    except Exception as exc:  # any unusable entry: recompute, never trust it
        warnings.warn(f"cache entry {path.name} is unusable ({type(exc).__name__}: {exc}); recomputing", stacklevel=3)
        return None


def _store(path: Path, config: Config, history: pd.DataFrame) -> None:
    payload = pickle.dumps({"schema": SCHEMA, "config": config, "history": history})
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(payload))


MAX_PACK_ACTIVATIONS = 16_000_000  # floats per layer activation of a whole pack (64 MB in float32)


def pack_capacity(config: Config) -> int:
    """How many runs like ``config`` one ensemble may hold before one layer's activations for the
    whole pack (members x batch x set x width x samples) pass ``MAX_PACK_ACTIVATIONS``. Larger packs
    share the per-step overhead better (benchmarks/bench_ensemble.py), so the cap is about memory."""
    per_member = config.batch_size * config.n * config.width * max(config.samples, config.eval_samples or 1)
    return max(1, MAX_PACK_ACTIVATIONS // per_member)


def pack(configs: Sequence[Config], max_members: int = 128, min_packs: int = 1) -> list[list[Config]]:
    """Group runs into ensembles: equal ``pack_key`` (architecture, step count, ...), at most
    ``min(max_members, pack_capacity)`` members each, split into packs of balanced sizes, largest
    work first. Packs are split further (in halves) until there are at least ``min_packs`` of
    them, so that every worker has one, as long as halves keep >= 2 members."""
    configs = _check_configs(configs)
    max_members = _check_count("max_members", max_members)
    min_packs = _check_count("min_packs", min_packs, low=0)
    groups: dict[tuple, list[Config]] = {}
    for config in configs:
        groups.setdefault(pack_key(config), []).append(config)
    packs = []
    for members in groups.values():
        count = -(-len(members) // min(max_members, pack_capacity(members[0])))
        size = -(-len(members) // count)
        packs += [members[i:i + size] for i in range(0, len(members), size)]
    cost = lambda p: len(p) * p[0].steps * p[0].samples  # noqa: E731
    packs.sort(key=cost, reverse=True)
    while len(packs) < min_packs and len(packs[0]) >= 4:
        largest = packs.pop(0)
        half = len(largest) // 2
        packs += [largest[:half], largest[half:]]
        packs.sort(key=cost, reverse=True)
    return packs


_WATCHDOG = threading.Event()


def _exit_with_parent(parent: int) -> None:
    """In a local worker process: exit as soon as the sweeping process is gone (killed, even by
    SIGKILL, which leaves it no chance to stop its workers), instead of finishing queued runs."""
    if _WATCHDOG.is_set() or parent == os.getpid():
        return
    _WATCHDOG.set()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True, name="symlib-parent-watchdog").start()


def _run_pack_job(configs: list[Config], parent: int | None, states: bool = False):
    if parent is not None:
        _exit_with_parent(parent)
    return run_pack(configs, num_threads=1, progress=False, states=states)


def _labels(configs) -> tuple[list[Config], list | None]:
    """Flatten ``configs`` to a list, with the key of each Config (a dict value may be a list of them)."""
    if isinstance(configs, Mapping):
        flat, keys = [], []
        for key, value in configs.items():
            group = list(value) if isinstance(value, (list, tuple)) else [value]
            flat += group
            keys += [key] * len(group)
        return flat, keys
    if isinstance(configs, (str, bytes)) or not isinstance(configs, Sequence):
        raise TypeError(f"configs must be a list of Config or a dict {{key: Config}}, got {type(configs).__name__}")
    return list(configs), None


def sweep(configs: Sequence[Config] | Mapping, cache_dir: str | os.PathLike, n_jobs: int = -1, client=None,
          scheduler: str | None = None, names: Sequence[str] | None = None, max_members: int = 128,
          progress: bool | None = None, keep_models: bool = False) -> pd.DataFrame:
    """Every run's history, concatenated (cached runs are read, the missing ones trained in packs).

    configs: a list of Configs, or a dict {key: Config or list of Configs}. String keys become a
      "label" column (or ``names[0]``); tuple keys become one column each, named by ``names``
      (e.g. ``names=("model", "size")``).
    n_jobs: local joblib workers (-1: one per core), each with one torch thread.
    client / scheduler: a ``dask.distributed.Client``, or the address of a running scheduler
      (default: the ``SYMLIB_SCHEDULER`` environment variable); the packs then run on that cluster
      and come back to this process, which writes the cache (the workers need no access to it).
    max_members: the largest ensemble a pack may form.
    keep_models: also keep each run's checkpoint (``model_path``), for ``load_model``; a run whose
      history is cached but whose checkpoint is not is trained again (identically: runs are
      deterministic).

    Each finished pack is cached at once, so an interrupted sweep resumes with the missing runs
    only. Killed or interrupted, a local sweep leaves no worker process behind.
    """
    configs, keys = _labels(configs)
    if not configs:
        raise ValueError("configs must hold at least one Config, got none")
    for i, config in enumerate(configs):
        _check_config(config, f"configs[{keys[i]!r}]" if keys is not None else f"configs[{i}]")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int):
        raise TypeError(f"n_jobs must be -1 (one per core) or a positive int, got {n_jobs!r} ({type(n_jobs).__name__})")
    if n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs must be -1 (one per core) or a positive int, got {n_jobs!r}")
    _check_count("max_members", max_members)
    if scheduler is not None and not isinstance(scheduler, str):
        raise TypeError(f"scheduler must be a scheduler address (str) or None, got {scheduler!r} "
                        f"({type(scheduler).__name__})")
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress must be a bool or None, got {progress!r}")
    if names is not None and (isinstance(names, (str, bytes)) or not isinstance(names, Sequence)
                              or not all(isinstance(name, str) for name in names)):
        raise TypeError(f"names must be a sequence of column names (str), got {names!r}")
    if not isinstance(keep_models, bool):
        raise TypeError(f"keep_models must be a bool, got {keep_models!r}")
    columns = _key_columns(keys, names)
    cache_dir = require_writable(cache_dir, "cache_dir")
    paths = {c: cache_path(c, cache_dir) for c in dict.fromkeys(configs)}
    loaded = {c: _load(path, c) for c, path in paths.items()}
    missing = [c for c, history in loaded.items() if history is None or (keep_models and not model_path(c, cache_dir).exists())]
    if missing:
        _train_missing(missing, paths, loaded, n_jobs, client, scheduler, max_members, progress, keep_models)
    histories = [loaded[c].assign(run=paths[c].stem) for c in configs]
    if columns is not None:
        histories = [h.assign(**dict(zip(columns, key if isinstance(key, tuple) else (key,))))
                     for h, key in zip(histories, keys)]
    return pd.concat(histories, ignore_index=True)


def _key_columns(keys: list | None, names: Sequence[str] | None) -> list[str] | None:
    if keys is None:
        if names is not None:
            raise ValueError(f"names label the keys of a dict of configs; got names={names!r} with a list")
        return None
    if all(isinstance(k, tuple) for k in keys):
        widths = {len(k) for k in keys}
        if names is None or len(widths) != 1 or len(names) != widths.pop():
            raise ValueError(f"tuple keys need names with one column name per key entry, got names={names!r}")
        return list(names)
    if any(isinstance(k, tuple) for k in keys):
        raise ValueError("configs keys must be all strings or all tuples")
    return [names[0] if names else "label"]


def _train_missing(missing, paths, loaded, n_jobs, client, scheduler, max_members, progress, keep_models) -> None:
    import joblib  # book-side dependencies: imported only when something must be trained

    workers = (os.cpu_count() or 1) if n_jobs == -1 else n_jobs
    packs = pack(missing, max_members=max_members, min_packs=workers)
    scheduler = scheduler or os.environ.get("SYMLIB_SCHEDULER") or None
    own_client = None
    if client is None and scheduler:
        from distributed import Client

        client = own_client = Client(scheduler)
    if progress is None:
        progress = sys.stderr.isatty()
    parent = None if client is not None else os.getpid()
    backend = joblib.parallel_config(backend="dask") if client is not None else nullcontext()
    try:
        with backend, warnings.catch_warnings():
            # loky replaces workers that idle out or grow; their finished packs are already cached,
            # and the notice would otherwise land in every chapter's output.
            warnings.filterwarnings("ignore", message="A worker stopped while some jobs were given", category=UserWarning)
            jobs = joblib.Parallel(n_jobs=1 if len(packs) == 1 and client is None else n_jobs,
                                   return_as="generator")(joblib.delayed(_run_pack_job)(p, parent, keep_models)
                                                          for p in packs)
            if progress:
                from tqdm.auto import tqdm

                jobs = tqdm(jobs, total=len(packs), desc=f"sweep ({len(missing)} runs in {len(packs)} packs)")
            for configs, result in zip(packs, jobs):
                histories, states = result if keep_models else (result, [None] * len(configs))
                for config, history, state in zip(configs, histories, states):
                    if state is not None:  # the checkpoint first: a history without it is retrained
                        path = paths[config].with_suffix(".model.pt")
                        atomic_write(path, lambda tmp, state=state: torch.save(state, tmp))
                    _store(paths[config], config, history)
                    loaded[config] = history
    finally:
        if own_client is not None:
            own_client.close()


def select(histories: pd.DataFrame, tuned: Sequence[str] = ("lr", "weight_decay"), by: str = "val_loss",
           across: Sequence[str] = ()) -> pd.DataFrame:
    """The best tuned setting of every run group, chosen on validation data only.

    histories: sweep output. Each run contributes its checkpoint row (``selected``); diverged runs
    have none and are never chosen. Runs are grouped by every config column except ``tuned`` and
    ``across``; within a group, the setting with the lowest ``val_loss`` (or highest
    ``val_accuracy``) wins, its score averaged over ``across`` (e.g. ``across=("seed",)`` picks
    one setting per approach and size from the mean validation score of its seeds, then reports
    every seed at it); ties go to the first in grid order. A setting that diverged for some seed
    of ``across`` is not eligible. Returns one row per group and value of ``across``: the group's
    columns, the chosen values of ``tuned``, the validation score, the test metrics, and
    ``trials`` (how many settings were compared).
    """
    if not isinstance(histories, pd.DataFrame):
        raise TypeError(f"histories must be a DataFrame (sweep output), got {type(histories).__name__}")
    if not isinstance(by, str):
        raise TypeError(f"by must be 'val_loss' or 'val_accuracy', got {by!r} ({type(by).__name__})")
    if by not in ("val_loss", "val_accuracy"):
        raise ValueError(f"by must be 'val_loss' or 'val_accuracy', got {by!r}")
    if isinstance(tuned, (str, bytes)) or not isinstance(tuned, Sequence):
        raise TypeError(f"tuned must be a sequence of Config field names, got {tuned!r} ({type(tuned).__name__})")
    missing = [c for c in ("selected", by) if c not in histories.columns]
    if missing or histories.empty:
        raise ValueError(f"histories must be sweep output, with rows and the columns 'selected' and {by!r}; got "
                         f"{len(histories)} rows" + (f" without the columns {missing}" if missing else ""))
    fields = [f.name for f in dataclasses.fields(Config)]
    tuned = list(tuned)
    for name in tuned:
        if name not in fields or name not in histories.columns:
            raise ValueError(f"tuned must name Config fields present in histories, got {name!r}")
    chosen = histories[histories["selected"]]
    if chosen[by].isna().any():
        raise ValueError(f"select by {by!r} needs validation data: histories must have a {by} for every selected "
                         f"run, got {int(chosen[by].isna().sum())} without (give val_fraction or val_size)")
    labels = [c for c in histories.columns if c not in fields and c not in HISTORY_COLUMNS
              and c not in ("member", "epoch", "lr", "weight_decay", "train_size", "run")]
    if isinstance(across, (str, bytes)) or not isinstance(across, Sequence):
        raise TypeError(f"across must be a sequence of history columns not in tuned, got {across!r} "
                        f"({type(across).__name__})")
    if any(a not in histories.columns or a in tuned for a in across):
        raise ValueError(f"across must be a sequence of history columns not in tuned, got {across!r}")
    across = list(across)
    group = [c for c in fields + labels if c in chosen.columns and c not in tuned and c not in across
             and c not in ("steps", "eval_every")]
    order = chosen.reset_index(drop=True)
    # String keys: groupby and isin on None/NaN-valued config columns stay exact.
    order["_group"] = order[group].astype(str).agg("|".join, axis=1)
    order["_setting"] = order["_group"] + "||" + order[tuned].astype(str).agg("|".join, axis=1)
    order["_score"] = order[by] if by == "val_loss" else -order[by]
    runs_per_setting = order.groupby("_setting", sort=False).size()
    complete = runs_per_setting[runs_per_setting == runs_per_setting.groupby(
        runs_per_setting.index.str.split("||", regex=False).str[0]).transform("max")].index
    settings = order[order["_setting"].isin(complete)].groupby("_setting", sort=False).agg(
        score=("_score", "mean"), group=("_group", "first"))
    best = settings.groupby("group", sort=False)["score"].idxmin()
    trials = settings.groupby("group", sort=False).size()
    out = order[order["_setting"].isin(best.to_numpy())].copy()
    out["trials"] = out["_group"].map(trials)
    out = out.drop(columns=["_group", "_setting"])
    return out.drop(columns="_score").reset_index(drop=True)


def tune(configs: Mapping, cache_dir: str | os.PathLike, tuned: Sequence[str] = ("lr", "weight_decay"),
         across: Sequence[str] = ("seed",), by: str = "val_loss", test_size: int = 20_000,
         names: Sequence[str] | None = None, keep_models: bool = False,
         **sweep_kw) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tune on validation data, then score only the chosen settings on the test set.

    configs: {key: list of Configs} as for ``sweep`` (each key, e.g. an approach, with its grid,
      sizes and seeds). Phase 1 trains every run *without* a test set (``test_size=0``) and
      ``select``s, per group, the setting with the best validation score averaged over ``across``.
      Phase 2 runs the chosen settings again with the test set: runs are deterministic, so the
      training, the validation scores and the kept checkpoint are the same as in phase 1 (checked),
      and the test set is evaluated once, for the chosen settings only.

    ``keep_models=True`` keeps the checkpoints of the chosen runs (phase 2) for ``load_model``; the
    tuning runs keep none.

    Returns (trials, tested): every phase-1 run's history (for expected-maximum curves; no test
    metrics), and the whole histories of the chosen runs with their test metrics (their
    ``selected`` rows are the reported results), each with ``trials``, the settings compared.
    """
    if isinstance(test_size, bool) or not isinstance(test_size, int) or test_size < 1:
        raise ValueError(f"test_size must be a positive int (the chosen settings are tested), got {test_size!r}")
    flat, keys = _labels(configs)
    if keys is None:
        raise TypeError("configs must be a dict {key: Config or list of Configs} (the keys label the runs)")
    blind = {}
    for key, config in zip(keys, flat):
        blind.setdefault(key, []).append(config.replace(test_size=0))
    trials = sweep(blind, cache_dir, names=names, **sweep_kw)
    picked = select(trials, tuned=tuned, by=by, across=across)
    by_run = {cache_path(c, cache_dir).stem: (key, c) for key, group in blind.items() for c in group}
    scored, compared, tuning_run = {}, {}, {}
    for run, count in zip(picked["run"], picked["trials"]):
        key, config = by_run[run]
        tested_config = config.replace(test_size=test_size)
        scored.setdefault(key, []).append(tested_config)
        compared[cache_path(tested_config, cache_dir).stem] = count
        tuning_run[cache_path(tested_config, cache_dir).stem] = run
    tested = sweep(scored, cache_dir, names=names, keep_models=keep_models, **sweep_kw)
    # The rerun trains in other packs, so it matches its tuning run up to float rounding, not bit for
    # bit; where two evaluations' validation losses tie to within rounding, it may keep the other one.
    again = tested[tested["selected"]].set_index("run")
    before = picked.set_index("run").loc[[tuning_run[r] for r in again.index]]
    if not np.allclose(before["val_loss"].to_numpy(), again["val_loss"].to_numpy(), rtol=1e-3):
        raise RuntimeError("the tested runs did not reproduce their tuning runs (their best validation losses differ "
                           "beyond float rounding)")
    return trials, tested.assign(trials=tested["run"].map(compared))


def training_seconds(*histories: pd.DataFrame) -> float:
    """Training time of the runs in ``histories`` (sweep outputs): each run's share of its pack's
    training time (seconds at its last evaluation divided by the pack's members), summed over the
    distinct runs. The same whether the runs were trained now or read from the cache."""
    columns = ["run", "seconds", "members"]
    for h in histories:
        if not isinstance(h, pd.DataFrame):
            raise TypeError(f"histories must be DataFrames (sweep output), got {type(h).__name__}")
        missing = [c for c in columns if c not in h.columns]
        if missing:
            raise ValueError(f"histories must have the columns run, seconds and members (sweep output), missing {missing}")
    if not histories:
        raise ValueError("histories must hold at least one DataFrame, got none")
    runs = pd.concat([h[columns] for h in histories])
    per_run = runs.groupby("run").agg(seconds=("seconds", "max"), members=("members", "first"))
    return float((per_run.seconds / per_run.members).sum())
