"""Runs, caches and sweeps: what the chapters call.

* ``Config``: a frozen, hashable description of one run. Its ``seeds`` are trained together as
  one ensemble (``symlib.layers``), member e exactly as a solo run with seed ``seeds[e]``.
* ``run(config)``: train, return the tidy history (one row per evaluation and seed, with the
  config's fields as columns).
* ``run_cached(config, cache_dir)``: the same, stored under a key that hashes the config *and*
  symlib's source, so a change to the library retrains and nothing else does. Writes are atomic
  (temp file + rename); an unreadable entry is recomputed with a warning, never trusted.
* ``sweep(configs, cache_dir, n_jobs, client)``: the missing runs in parallel with joblib (one
  torch thread per worker), or on a Dask cluster when given a ``dask.distributed.Client``.
  Finished runs are cached one by one, so an interrupted sweep resumes where it stopped.
* ``Chapter``: the provenance record (parameters, seconds, versions, git commit) each chapter
  writes at its end, which the book's Reproducibility page collects.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from contextlib import nullcontext
from functools import cache
from pathlib import Path

import joblib
import pandas as pd
import torch
from tqdm import tqdm

from . import data, models, train
from .files import atomic_write
from .layers import ensemble_size

__all__ = ["Config", "build_model", "make_task", "run", "run_cached", "sweep", "cache_key", "cache_path", "atomic_write",
           "save_table", "Chapter", "versions", "TASKS", "require"]

PACKAGE_DIR = Path(__file__).resolve().parent


@dataclasses.dataclass(frozen=True)
class Config:
    """One training run (all its seeds). Every field is a plain value, so the config hashes stably."""

    approach: str = "deepsets"
    task: str = "gaussian_variance"
    n: int = 10
    d: int = 5
    var0: float = 1.0
    var1: float = 0.8
    rho: float = 0.0
    width: int = 10
    group: str = "symmetric"
    samples: int = 1
    eval_samples: int | None = None
    reduction: str = "mean"
    init: str = "default"
    loss: str = "logits"
    train_size: int | None = None
    steps: int = 1000
    batch_size: int = 32
    lr: float = 1e-3
    schedule: str = "constant"
    seeds: tuple[int, ...] = (0,)
    test_size: int = 20_000
    eval_every: int | None = None

    def __post_init__(self):
        if not isinstance(self.seeds, tuple) or not self.seeds or not all(isinstance(s, int) for s in self.seeds):
            raise ValueError(f"seeds must be a non-empty tuple of ints, got {self.seeds!r}")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {self.seeds!r}")
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {sorted(TASKS)}, got {self.task!r}")
        if self.approach not in models.APPROACHES:
            raise ValueError(f"approach must be one of {models.APPROACHES}, got {self.approach!r}")

    def replace(self, **changes) -> "Config":
        return dataclasses.replace(self, **changes)

    def fields(self) -> dict:
        """The config as a flat dict, seeds excluded (each history row has its own seed)."""
        out = dataclasses.asdict(self)
        out.pop("seeds")
        return out


TASKS = {"gaussian_variance": lambda c: data.GaussianVarianceTask(c.n, c.d, c.var0, c.var1),
         "ring": lambda c: data.ring_task(c.n, c.d, c.rho),
         "pair": lambda c: data.pair_task(c.n, c.d, c.rho)}


def make_task(config: Config):
    """The config's task, built once per set of task fields (a Monte Carlo optimum is computed once)."""
    return _task(config.task, config.n, config.d, config.var0, config.var1, config.rho)


@cache
def _task(name: str, n: int, d: int, var0: float, var1: float, rho: float):
    return TASKS[name](Config(task=name, n=n, d=d, var0=var0, var1=var1, rho=rho))


def build_model(config: Config) -> torch.nn.Module:
    """The ensemble of len(seeds) members; member e initialized exactly as a solo model with seed e."""
    kw = dict(width=config.width, group=config.group, samples=config.samples, eval_samples=config.eval_samples,
              reduction=config.reduction, init=config.init)
    if config.loss == "probabilities":
        kw["probabilities"] = True
    members = len(config.seeds)
    with torch.random.fork_rng(devices=[]):
        solos = []
        for seed in config.seeds:
            torch.manual_seed(seed)
            solos.append(models.build(config.approach, config.n, config.d, **kw))
        if members == 1:
            return solos[0]
        model = models.build(config.approach, config.n, config.d, ensemble_size=members, **kw)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.stack([solo.get_parameter(name) for solo in solos]))
    return model


def run(config: Config, num_threads: int | None = None, progress: bool | None = None) -> pd.DataFrame:
    """Train ``config`` and return its history with the config's fields as columns."""
    model = build_model(config)
    if ensemble_size(model) != len(config.seeds):
        raise ValueError(f"approach {config.approach!r} built an ensemble of {ensemble_size(model)}, "
                         f"expected {len(config.seeds)}")
    history = train.fit(model, make_task(config), steps=config.steps, batch_size=config.batch_size, lr=config.lr,
                        train_size=config.train_size, test_size=config.test_size, eval_every=config.eval_every,
                        seeds=config.seeds, loss=config.loss, schedule=config.schedule, num_threads=num_threads, progress=progress)
    history["bayes_accuracy"] = make_task(config).bayes_accuracy()
    fields = pd.DataFrame([config.fields()] * len(history))
    return pd.concat([fields, history], axis=1)


@cache
def symlib_source_hash() -> str:
    """Hash of every symlib source file: a library change invalidates every cached run."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_key(config: Config) -> str:
    payload = json.dumps(dataclasses.asdict(config), sort_keys=True) + symlib_source_hash()
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def save_table(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Save a results table as CSV (atomically), for readers who want to re-plot it."""
    atomic_write(path, lambda tmp: df.to_csv(tmp, index=False))
    return Path(path)


def _load(path: Path, config: Config) -> pd.DataFrame | None:
    if not path.exists():
        return None
    try:
        with open(path, "rb") as f:
            stored = pickle.load(f)
        if stored["config"] != config or not isinstance(stored["history"], pd.DataFrame):
            raise ValueError("entry does not match its config")
        return stored["history"]
    except Exception as exc:  # any unreadable entry: recompute, never trust it
        warnings.warn(f"cache entry {path.name} is unreadable ({type(exc).__name__}: {exc}); recomputing",
                      stacklevel=3)
        return None


def cache_path(config: Config, cache_dir: str | os.PathLike) -> Path:
    return Path(cache_dir) / f"{cache_key(config)}.pkl"


def run_cached(config: Config, cache_dir: str | os.PathLike, num_threads: int | None = None,
               path: Path | None = None) -> pd.DataFrame:
    """``run``, read from or written to the cache. ``path`` overrides the entry's location: a sweep
    passes the one its own process computed, so workers that import symlib later agree with it."""
    path = path or cache_path(config, cache_dir)
    history = _load(path, config)
    if history is None:
        history = run(config, num_threads=num_threads, progress=False)
        payload = pickle.dumps({"config": config, "history": history})
        atomic_write(path, lambda tmp: Path(tmp).write_bytes(payload))
    return history


def sweep(configs: list[Config] | dict[str, Config], cache_dir: str | os.PathLike, n_jobs: int = -1, client=None,
          progress: bool | None = None, scheduler: str | None = None) -> pd.DataFrame:
    """Run every config (cached ones are read, not retrained); return their histories concatenated.

    configs: a list, or a dict {label: config} whose labels become a "label" column.
    n_jobs: joblib workers on this machine (-1: one per core), each with one torch thread.
    client: a ``dask.distributed.Client``; the missing runs then go to its cluster instead.
    scheduler: the address of a running Dask scheduler (``tcp://host:8786``) to connect to, if no
      client is given; default: the environment variable ``SYMLIB_SCHEDULER`` (unset: run locally).
    """
    cache_dir = Path(cache_dir)
    labels = list(configs) if isinstance(configs, dict) else None
    configs = list(configs.values()) if isinstance(configs, dict) else list(configs)
    if not all(isinstance(c, Config) for c in configs):
        raise TypeError("configs must all be symlib.experiments.Config")
    # Each entry is read once: cached runs here, the missing ones come back from their workers.
    loaded = {c: _load(cache_path(c, cache_dir), c) for c in dict.fromkeys(configs)}
    missing = [c for c, history in loaded.items() if history is None]
    if missing:
        if progress is None:
            progress = sys.stderr.isatty()
        scheduler = scheduler or os.environ.get("SYMLIB_SCHEDULER") or None
        if client is None and scheduler:
            from distributed import Client

            client = Client(scheduler)
        backend = joblib.parallel_config(backend="dask") if client is not None else nullcontext()
        with backend, warnings.catch_warnings():
            # loky replaces workers that idle out or grow; their finished runs are already cached,
            # and the notice would otherwise land in every chapter's output.
            warnings.filterwarnings("ignore", message="A worker stopped while some jobs were given", category=UserWarning)
            jobs = joblib.Parallel(n_jobs=1 if len(missing) == 1 else n_jobs, return_as="generator")(
                joblib.delayed(run_cached)(c, cache_dir, 1, cache_path(c, cache_dir)) for c in missing)
            for config, history in zip(missing, tqdm(jobs, total=len(missing), disable=not progress, desc="sweep")):
                loaded[config] = history
    histories = [loaded[c] for c in configs]
    if labels is not None:
        histories = [h.assign(label=label) for h, label in zip(histories, labels)]
    return pd.concat(histories, ignore_index=True)


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=PACKAGE_DIR, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def versions() -> dict:
    """Python, library versions and the git commit (with a dirty flag for uncommitted changes)."""
    import matplotlib
    import numpy
    import scipy

    from . import __version__

    commit = _git("rev-parse", "HEAD")
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__,
            "scipy": scipy.__version__, "pandas": pd.__version__, "matplotlib": matplotlib.__version__,
            "symlib": __version__, "symlib_source": symlib_source_hash()[:12],
            "git_commit": commit or "unknown", "git_dirty": bool(dirty) if dirty is not None else None,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores"}


class Chapter:
    """Provenance of one chapter run: start it in the first cell, ``finish`` it in the last."""

    def __init__(self, name: str, params: dict) -> None:
        self.name, self.params, self.start = name, dict(params), time.perf_counter()

    def finish(self, results_dir: str | os.PathLike) -> dict:
        record = {"chapter": self.name, "seconds": round(time.perf_counter() - self.start, 2),
                  "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "parameters": self.params, **versions()}
        path = Path(results_dir) / "provenance" / f"{self.name}.json"
        atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(record, indent=2, default=str)))
        return record


def require(name: str, value, kind: type | tuple[type, ...], *, low=None, choices=None, each=None) -> None:
    """Validate one chapter parameter; raise ValueError naming it, what was expected and what came.

    kind: the expected type(s) (bool is never accepted as a number); low: inclusive minimum;
    choices: allowed values; each: for a list, the type every element must have (and ``low``
    then applies to the elements).
    """
    def bad(expected: str):
        raise ValueError(f"parameter {name!r} must be {expected}, got {value!r}")

    def is_kind(v, k) -> bool:
        return isinstance(v, k) and not (isinstance(v, bool) and bool not in (k if isinstance(k, tuple) else (k,)))

    if not is_kind(value, kind):
        bad(f"of type {kind}")
    items = value if each is not None else [value]
    if each is not None:
        if not value:
            bad("a non-empty list")
        if not all(is_kind(v, each) for v in value):
            bad(f"a list of {each}")
    if low is not None and any(v < low for v in items):
        bad(f">= {low}" + (" (each element)" if each is not None else ""))
    if choices is not None and any(v not in choices for v in items):
        bad(f"one of {choices}")
