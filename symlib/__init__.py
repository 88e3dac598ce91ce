"""symlib: learning with permutation symmetry.

Floors (each imports only from those below): groups -> layers, symmetrize, data -> models, train
-> experiments, plots. See DESIGN.md.
"""

from . import data, experiments, groups, layers, models, plots, symmetrize, train
from .check import check_equivariance, equivariance_error

__version__ = "0.1.0"
__all__ = ["groups", "layers", "symmetrize", "data", "models", "train", "experiments", "plots", "check_equivariance",
           "equivariance_error", "__version__"]
