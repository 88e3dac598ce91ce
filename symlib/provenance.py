"""Book-side helpers for the chapters: validated parameters, saved tables, glued values, provenance.

Nothing in symlib's training code imports this module; the chapters and ``book/execute.py`` do.

* ``require(name, value, kind, ...)``: validate one chapter parameter (first cell of a chapter).
* ``save_table(df, path)``: write a results table as CSV, atomically. When the environment names a
  manifest file (``SYMLIB_TABLES_MANIFEST``, set by ``book/execute.py``), the path is appended to
  it, so the runner can link every table a chapter wrote without the chapter listing them.
* ``glue(name, value)``: myst-nb ``glue`` with plain Python numbers (a numpy scalar would be
  rendered as ``np.float64(0.71)``) and never displayed where it is computed.
* ``versions()``: what a run ran with (Python, libraries, symlib, git commit, machine).
* ``load_records(folder, chapters)``: the provenance records ``book/execute.py`` stores in the
  metadata of each executed chapter (``nb.metadata["symlib"]``).
"""

from __future__ import annotations

import json
import math
import numbers
import os
import platform
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .files import _check_path, atomic_write

__all__ = ["require", "save_table", "glue", "listing", "save_checklist", "load_checklists", "versions",
           "load_records", "MANIFEST_ENV", "RECORD_KEY"]

MANIFEST_ENV = "SYMLIB_TABLES_MANIFEST"
RECORD_KEY = "symlib"  # nb.metadata[RECORD_KEY] holds a chapter's provenance record
PACKAGE_DIR = Path(__file__).resolve().parent


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _check_kind(name: str, kind) -> None:
    kinds = _kinds(kind)
    if not kinds or not all(isinstance(k, type) for k in kinds):
        raise TypeError(f"{name} must be a type or a tuple of types, got {kind!r}")


def _is_kind(value: Any, kind: type | tuple[type, ...]) -> bool:
    kinds = _kinds(kind)
    if isinstance(value, bool):  # bool is an int to Python, never a number to a chapter
        return bool in kinds
    if float in kinds and isinstance(value, int):  # 3 where 3.0 is expected (YAML writes 3 for 3.0)
        return True
    return isinstance(value, kinds)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in _kinds(kind))


def require(name: str, value: Any, kind: type | tuple[type, ...], *, low: float | None = None,
            choices: Iterable | None = None, each: type | tuple[type, ...] | None = None) -> None:
    """Validate one chapter parameter; raise ValueError naming it, what was expected and what came.

    kind: the expected type(s). An int is accepted where a float is expected; a bool is accepted
      only where bool itself is expected.
    low: inclusive minimum (of the value, or of each element when ``each`` is given).
    choices: the allowed values (of the value, or of each element).
    each: for a list, the type every element must have; the list must not be empty.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str, got {name!r}")
    _check_kind("kind", kind)
    if each is not None:
        _check_kind("each", each)
    if low is not None and (isinstance(low, bool) or not isinstance(low, numbers.Real)):
        raise TypeError(f"low must be a number or None, got {low!r} ({type(low).__name__})")
    if low is not None and math.isnan(low):
        raise ValueError(f"low must be a number or None, got {low!r}")
    if choices is not None and (isinstance(choices, (str, bytes)) or not isinstance(choices, Iterable)):
        raise TypeError(f"choices must be a collection of allowed values or None, got {choices!r}")

    def bad(expected: str) -> None:
        raise ValueError(f"parameter {name!r} must be {expected}, got {value!r}")

    if not _is_kind(value, kind):
        bad(f"of type {_kind_name(kind)}")
    items = [value]
    if each is not None:
        if not isinstance(value, (list, tuple)):
            bad(f"a list of {_kind_name(each)}")
        items = list(value)
        if not items:
            bad("a non-empty list")
        if not all(_is_kind(v, each) for v in items):
            bad(f"a list of {_kind_name(each)}")
    if low is not None:
        if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in items):
            bad(f"a number >= {low}" + (" (each element)" if each is not None else ""))
        if any(not v >= low for v in items):  # NaN is not >= low either
            bad(f">= {low}" + (" (each element)" if each is not None else ""))
    if choices is not None:
        choices = tuple(choices)
        if any(v not in choices for v in items):
            bad(f"one of {choices}")


def save_table(df, path: str | os.PathLike) -> Path:
    """Save a results table (a pandas DataFrame) as CSV without its index, atomically; return the path.

    The path is also appended to the manifest named by ``SYMLIB_TABLES_MANIFEST`` when that is set,
    which is how ``book/execute.py`` learns which tables a chapter wrote.
    """
    if not hasattr(df, "to_csv"):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    path = _check_path("path", path)
    if path.suffix != ".csv":
        raise ValueError(f"path must end in .csv, got {str(path)!r}")
    atomic_write(path, lambda tmp: df.to_csv(tmp, index=False))
    manifest = os.environ.get(MANIFEST_ENV)
    if manifest:
        with open(manifest, "a", encoding="utf-8") as f:  # one short line per table: appends do not interleave
            f.write(str(path.resolve()) + "\n")
    return path


def _plain(value: Any) -> Any:
    """A number as the Python int/float/bool it stands for; anything else unchanged."""
    import numpy as np

    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return _plain(value.item())
    return value


def glue(name: str, value: Any) -> None:
    """Glue ``value`` under ``name`` for the chapter's text, without displaying it here.

    Numbers (Python or numpy, 0-d arrays included) are glued as plain Python ints/floats, so a
    ``{glue:text}`\\`name:.2%\\``` reference formats them and the page never shows ``np.float64(...)``.
    Strings and IPython display objects (``Markdown``) are glued as they are. A matplotlib figure
    is glued (for a numbered ``{glue:figure}`` with a caption) and closed, so it is drawn once,
    where the text places it.
    """
    from IPython.display import DisplayObject
    from myst_nb import glue as myst_glue

    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str, got {name!r}")
    if type(value).__name__ == "Figure" and hasattr(value, "savefig"):
        import matplotlib.pyplot as plt

        myst_glue(name, value, display=False)
        plt.close(value)
        return
    plain = _plain(value)
    if not isinstance(plain, (bool, int, float, str, DisplayObject)):
        raise TypeError(f"value of glue {name!r} must be a number, a str, a matplotlib figure or an IPython "
                        f"display object (e.g. Markdown), got {type(value).__name__}")
    myst_glue(name, plain, display=False)


def listing(items: Iterable[str], empty: str = "none") -> str:
    """Items as an English list for glued prose: "a", "a and b", "a, b and c"; ``empty`` if none.

    Items are written as they are (each must be a str); a glued list then reads as a sentence
    whatever the data make it hold.
    """
    items = list(items)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"items must be strings, got {item!r} ({type(item).__name__})")
    if not isinstance(empty, str):
        raise TypeError(f"empty must be a str, got {empty!r} ({type(empty).__name__})")
    if not items:
        return empty
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def save_checklist(checklist: dict, path: str | os.PathLike) -> Path:
    """Save a chapter's reproducibility checklist (a JSON-serializable dict) atomically; return the path.

    The Reproducibility page collects them (``load_checklists``): runs, grid and budget, selection
    method, selected settings with their validation and test scores, parameter counts, seeds.
    """
    if not isinstance(checklist, dict):
        raise TypeError(f"checklist must be a dict, got {type(checklist).__name__}")
    path = _check_path("path", path)
    if path.suffix != ".json":
        raise ValueError(f"path must end in .json, got {str(path)!r}")
    text = json.dumps(checklist, indent=2, default=_plain_json)
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def _plain_json(value: Any) -> Any:
    plain = _plain(value)
    if plain is not value:
        return plain
    if hasattr(value, "to_dict"):  # a DataFrame: its rows
        return value.to_dict(orient="records")
    return str(value)


def load_checklists(folder: str | os.PathLike, chapters: Iterable[str]) -> dict[str, dict]:
    """The checklists ``save_checklist`` wrote as ``folder/CHAPTER_checklist.json``, by chapter."""
    folder = _check_path("folder", folder)
    out = {}
    for name in chapters:
        path = folder / f"{name}_checklist.json"
        if path.exists():
            out[name] = json.loads(path.read_text(encoding="utf-8"))
    return out


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=PACKAGE_DIR, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def versions() -> dict[str, Any]:
    """What a run ran with: Python and library versions, symlib's version and source hash, the git
    commit with a dirty flag (uncommitted changes to tracked files; None outside a checkout) and
    the machine."""
    import matplotlib
    import numpy
    import pandas
    import scipy
    import torch

    from . import __version__
    from .experiments import symlib_source_hash

    commit = _git("rev-parse", "HEAD")
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__,
            "scipy": scipy.__version__, "pandas": pandas.__version__, "matplotlib": matplotlib.__version__,
            "symlib": __version__, "symlib_source": symlib_source_hash()[:12],
            "git_commit": commit or "unknown", "git_dirty": bool(dirty) if dirty is not None else None,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores"}


def load_records(folder: str | os.PathLike, chapters: Iterable[str]) -> dict[str, dict]:
    """The provenance record of each chapter executed into ``folder`` (``folder/CHAPTER.ipynb``).

    Returns {chapter: record} in the order of ``chapters``, leaving out chapters that have no
    executed copy or no record (the caller decides whether that is an error).
    """
    folder = _check_path("folder", folder)
    if isinstance(chapters, (str, bytes)) or not isinstance(chapters, Iterable):
        raise TypeError(f"chapters must be a list of chapter names, got {chapters!r} ({type(chapters).__name__})")
    if not folder.is_dir():
        raise ValueError(f"folder must be an existing folder of executed chapters, got {str(folder)!r}")
    records = {}
    for name in chapters:
        path = folder / f"{name}.ipynb"
        if path.exists():
            record = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get(RECORD_KEY)
            if record and "seconds" in record:
                records[name] = record
    return records
