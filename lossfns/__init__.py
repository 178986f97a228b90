"""lossfns: machine-learning loss functions in NumPy, exact and stable.

Every loss takes ``(y_true, prediction, *, <hyper-parameters>, sample_weight=None,
reduction="mean")`` and has ``.grad``, ``.value_and_grad`` and, where the loss is
elementwise in a scalar prediction, ``.hess``. Importing ``lossfns`` imports NumPy and
SciPy only; the plotting helpers in :mod:`lossfns.plot` import matplotlib when called.
"""

from ._core import ElementwiseLoss, Loss
from .classification import binary_cross_entropy_with_logits

__all__ = ["Loss", "ElementwiseLoss", "binary_cross_entropy_with_logits"]
__version__ = "0.1.0"
