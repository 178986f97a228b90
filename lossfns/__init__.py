"""lossfns: machine-learning loss functions in NumPy, exact and stable.

Every loss takes ``(y_true, prediction, *, <hyper-parameters>, sample_weight=None,
reduction="mean")`` and has ``.grad``, ``.value_and_grad`` and, where the loss is
elementwise in a scalar prediction, ``.hess``. Each computes in the namespace of its
inputs: NumPy by default, torch tensors in torch (differentiable by autograd), Dask arrays
chunk by chunk and lazily, JAX and CuPy arrays in theirs.
Importing ``lossfns`` imports NumPy and SciPy only (torch, JAX, Dask and
``array_api_compat`` when their arrays arrive); the plotting helpers in :mod:`lossfns.plot`
import matplotlib when called.
"""

from . import classification, information, ltv, ranking, regression
from . import boosting  # Part VI: losses as XGBoost / LightGBM objectives (lossfns.boosting.*)
from ._core import ElementwiseLoss, Loss, Measure
from .classification import *  # noqa: F403 (each family module lists its names in __all__)
from .information import *  # noqa: F403
from .ltv import *  # noqa: F403
from .ranking import *  # noqa: F403
from .regression import *  # noqa: F403

__all__ = [
    "Loss",
    "ElementwiseLoss",
    "Measure",
    *classification.__all__,
    *information.__all__,
    *regression.__all__,
    *ranking.__all__,
    *ltv.__all__,
]
__version__ = "0.1.0"
