"""symlib: learning with permutation symmetry.

Floors (each imports only from those below): groups -> bases, layers, symmetrize, data -> models,
train -> experiments, plots, profile, check -> sizes (runs scored at other set sizes), provenance
(book side). See README.md (Design).

Submodules are imported on first use, so ``import symlib.layers`` (or ``groups``, ``symmetrize``)
does not pull in pandas, matplotlib, joblib or tqdm, which only the training history, the sweeps
and the book need.
"""

from __future__ import annotations

import importlib

__version__ = "0.2.0"
_SUBMODULES = ("groups", "bases", "layers", "symmetrize", "data", "models", "train", "experiments", "plots",
               "profile", "check", "rng", "files", "provenance", "original", "sizes")
__all__ = [*_SUBMODULES, "check_equivariance", "equivariance_error", "__version__"]


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in ("check_equivariance", "equivariance_error"):
        return getattr(importlib.import_module(".check", __name__), name)
    raise AttributeError(f"module 'symlib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
