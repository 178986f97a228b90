"""lossfns: machine-learning loss functions in NumPy, exact and stable.

Every loss takes ``(y_true, prediction, *, <hyper-parameters>, sample_weight=None,
reduction="mean")`` and has ``.grad``, ``.value_and_grad`` and, where the loss is
elementwise in a scalar prediction, ``.hess``. Importing ``lossfns`` imports NumPy and
SciPy only; the plotting helpers in :mod:`lossfns.plot` import matplotlib when called.
"""

from ._core import ElementwiseLoss, Loss, Measure
from .classification import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    focal_loss,
    hinge,
    logistic_loss,
    multi_positive_softmax_cross_entropy,
    softmax_cross_entropy,
    softmax_focal_loss,
    squared_hinge,
)
from .information import (
    conditional_entropy,
    cross_entropy,
    entropy,
    js_divergence,
    kl_divergence,
    mutual_information,
    self_information,
)
from .regression import (
    bucket_centers,
    bucket_expectation,
    bucketize,
    equal_frequency_edges,
    gaussian_soft_labels,
    huber,
    log_cosh,
    mae,
    mape,
    mse,
    pinball,
    smape,
    watch_time_logistic,
    watch_time_predict,
)
from .ranking import bpr, contrastive, pairwise_hinge, pairwise_logistic, triplet
from .ltv import (
    DecileTable,
    decile_table,
    gain_curve,
    normalized_gini,
    ziln_loss,
    ziln_predict,
    ziln_quantile,
)

__all__ = [
    "Loss",
    "ElementwiseLoss",
    # classification
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "softmax_cross_entropy",
    "multi_positive_softmax_cross_entropy",
    "logistic_loss",
    "hinge",
    "squared_hinge",
    "focal_loss",
    "softmax_focal_loss",
    # information theory
    "Measure",
    "self_information",
    "entropy",
    "cross_entropy",
    "kl_divergence",
    "js_divergence",
    "conditional_entropy",
    "mutual_information",
    # regression
    "mse",
    "mae",
    "huber",
    "mape",
    "smape",
    "pinball",
    "log_cosh",
    "equal_frequency_edges",
    "bucketize",
    "bucket_centers",
    "gaussian_soft_labels",
    "bucket_expectation",
    "watch_time_logistic",
    "watch_time_predict",
    # ranking and metric learning
    "pairwise_hinge",
    "bpr",
    "pairwise_logistic",
    "contrastive",
    "triplet",
    # lifetime value
    "ziln_loss",
    "ziln_predict",
    "ziln_quantile",
    "gain_curve",
    "normalized_gini",
    "decile_table",
    "DecileTable",
]
__version__ = "0.1.0"
