"""symlib: learning with permutation symmetry.

Floors (each imports only from those below): groups -> layers, symmetrize, data -> models, train
-> experiments, plots, profile. See README.md (Design).
"""

from . import bases, data, experiments, groups, layers, models, plots, profile, symmetrize, train
from .check import check_equivariance, equivariance_error

__version__ = "0.1.0"
__all__ = ["groups", "bases", "layers", "symmetrize", "data", "models", "train", "experiments", "plots", "profile", "check_equivariance",
           "equivariance_error", "__version__"]
