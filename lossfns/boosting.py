"""Losses as gradient-boosting objectives (Part VI of the book).

A gradient-boosted tree library needs two numbers per row and round: the gradient
:math:`g_i` and the Hessian diagonal :math:`h_i` of the loss with respect to the raw score.
A tree's leaf then takes the Newton step :math:`-\\sum g_i / (\\sum h_i + \\lambda)`.
:func:`objective` turns a ``lossfns`` loss into the callable that XGBoost and LightGBM
accept as a custom objective, in their native and scikit-learn interfaces, with a
``hessian=`` policy for losses whose exact Hessian is zero, vanishing or negative;
:func:`init_score` gives the constant score that minimises the loss, the start the
built-in objectives use; :func:`refit_leaves` re-fits each new tree's leaves to the
quantile of its rows' residuals, as the built-in MAE and quantile objectives do.

Neither XGBoost nor LightGBM is imported here: the objective only reads the labels and
weights of the dataset it is handed (``get_label()``, ``get_weight()``). The one
exception is :func:`refit_leaves` handed an ``xgboost.DMatrix``, whose callback must
subclass XGBoost's ``TrainingCallback``.

This module computes in NumPy only, unlike the losses it wraps (which compute in the
namespace of their inputs: torch, Dask, ...): XGBoost and LightGBM hand an objective
NumPy arrays of scores, labels and weights and read NumPy arrays back, so there is
nothing for it to dispatch.

>>> import numpy as np, lossfns
>>> obj = lossfns.boosting.objective(lossfns.binary_cross_entropy_with_logits)
>>> g, h = obj(np.array([1.0, 0.0]), np.array([0.0, 0.0]))   # (y_true, raw score)
>>> g, h
(array([-0.5,  0.5]), array([0.25, 0.25]))
>>> float(lossfns.boosting.init_score(lossfns.mse, [1.0, 2.0, 6.0]))
3.0
"""

from __future__ import annotations

import ctypes
import functools
import json
import math
import numbers
import re
import sys
import weakref
from typing import Any, Callable

import numpy as np

from . import classification, ltv, regression
from ._core import (
    WIDER_DTYPE, ElementwiseLoss, Loss, RangeAlarm, check_scalar, finite, nonnegative,
    real_array,
)
from ._stable import log1p_minus_x_over_x

__all__ = [
    "objective",
    "init_score",
    "refit_leaves",
    "leaf_values",
    "Objective",
    "LeafRefit",
    "HESSIAN_POLICIES",
    "softmax_hessian_factor",
    "ziln_grad_hess",
]


# ------------------------------------------------------------------- the policies

HESSIAN_POLICIES = {
    "exact": "the loss's own Hessian diagonal",
    "majoriser": (
        "the curvature of the tightest quadratic upper bound of the loss that touches it at "
        "the current score (so a Newton step on it never increases that row's loss); "
        "residuals are floored at min_residual"
    ),
    "constant": "a constant curvature (1, or the number passed as hessian=), times the weight",
    "floor": "the exact Hessian, raised to at least `floor` (times the weight)",
    "fisher": (
        "ZILN: the Hessian with z^2 replaced by its expectation given a purchase, 1 (its mu "
        "and scale entries 1/sigma^2 and 2 r^2 for a buyer, positive; 0 for a non-buyer, "
        "as in the exact one)"
    ),
    "xgboost": "softmax: 2 p(1 - p), XGBoost's multi:softprob (an upper bound of the Hessian)",
    "lightgbm": "softmax: K/(K - 1) p(1 - p), LightGBM's multiclass (Friedman's factor)",
}
"""Every ``hessian=`` policy, with what it means. Each loss accepts some of them (the
table in :ref:`boosting-zero-hessians`); an unknown one is a ``ValueError`` listing them."""


def _abs_floored(r, min_residual):
    a = np.abs(r)
    return np.maximum(a, a.dtype.type(min_residual))


def _kink_majoriser(jump: Callable[[Any, dict], Any]):
    """Curvature J/(2|r|) of the tightest quadratic majoriser of a loss linear on both
    sides of a kink at r = 0 where its slope jumps by J (MAE: J = 2, pinball: 1)."""

    def curvature(y, p, hyper, min_residual):
        return jump(y, hyper) / (2 * _abs_floored(p - y, min_residual))

    return curvature


def _huber_majoriser(y, p, hyper, min_residual):
    # psi(r)/r = min(1, delta/|r|): 1 inside, delta/|r| on the linear parts
    delta = p.dtype.type(hyper.get("delta", 1.0))
    return np.minimum(1, delta / np.maximum(np.abs(p - y), delta))


def _log_cosh_majoriser(y, p, hyper, min_residual):
    # psi(r)/r = tanh(r)/r, which falls from 1 at r = 0 as 1/|r| in the tails
    r = p - y
    small = np.abs(r) < 1e-4
    safe = np.where(small, 1, r)
    return np.where(small, 1 - r * r / 3, np.tanh(safe) / safe).astype(p.dtype, copy=False)


def _hinge_majoriser(y, p, hyper, min_residual):
    margin = hyper.get("margin", 1.0)
    return 1 / (2 * _abs_floored(margin - y * p, min_residual))


def _constant_curvature(value):
    def curvature(y, p, hyper, min_residual):
        return np.full_like(p, value)

    return curvature


def _bce_majoriser(y, p, hyper, min_residual):
    # the logistic curvature p(1-p) is at most 1/4 (times pos_weight on positives)
    pos_weight = hyper.get("pos_weight")
    if pos_weight is None:
        return np.full_like(p, 0.25)
    return (0.25 * (1 + (np.asarray(pos_weight, p.dtype) - 1) * y)).astype(p.dtype)


# For each loss: (default policy, the policies it accepts, its majoriser curvature or None)
_POLICIES: dict[Loss, tuple[str, tuple[str, ...], Callable | None]] = {
    regression.mse: ("exact", ("exact", "majoriser", "constant"), _constant_curvature(2)),
    classification.binary_cross_entropy_with_logits: (
        "exact", ("exact", "majoriser", "constant", "floor"), _bce_majoriser,
    ),
    classification.logistic_loss: (
        "exact", ("exact", "majoriser", "constant", "floor"), _constant_curvature(0.25),
    ),
    regression.mae: (
        "majoriser", ("majoriser", "constant"), _kink_majoriser(lambda y, hy: 2),
    ),
    regression.pinball: (
        "majoriser", ("majoriser", "constant"), _kink_majoriser(lambda y, hy: 1),
    ),
    regression.mape: (
        "majoriser", ("majoriser", "constant"),
        _kink_majoriser(lambda y, hy: 200 / np.abs(y)),
    ),
    regression.huber: (
        "majoriser", ("majoriser", "exact", "constant", "floor"), _huber_majoriser,
    ),
    regression.log_cosh: (
        "majoriser", ("majoriser", "exact", "constant", "floor"), _log_cosh_majoriser,
    ),
    regression.smape: ("floor", ("floor", "constant", "exact"), None),
    classification.focal_loss: ("floor", ("floor", "constant", "exact"), None),
    classification.hinge: ("majoriser", ("majoriser", "constant"), _hinge_majoriser),
    classification.squared_hinge: (
        "majoriser", ("majoriser", "exact", "constant", "floor"), _constant_curvature(2),
    ),
    classification.softmax_cross_entropy: ("exact", ("exact", "xgboost", "lightgbm"), None),
    ltv.ziln_loss: ("fisher", ("fisher", "exact", "floor"), None),
}

_NOT_AN_OBJECTIVE = {
    classification.binary_cross_entropy: (
        "takes probabilities, not raw scores; use binary_cross_entropy_with_logits"
    ),
}


def softmax_hessian_factor(hessian: str, n_classes: int) -> float:
    """The factor c of the diagonal Hessian c·p(1 - p) of a softmax ``hessian=`` policy.

    ``"exact"``: 1 (the true diagonal); ``"xgboost"``: 2, the smallest c for which
    c·diag(p(1 - p)) bounds the full Hessian diag(p) - p pᵀ from above for every p;
    ``"lightgbm"``: K/(K - 1), the ratio of the full Hessian to its diagonal at uniform
    probabilities on the directions that change the softmax (Friedman's factor), not a
    bound for K > 2. Derived in :ref:`boosting-multiclass`.

    >>> import lossfns
    >>> lossfns.boosting.softmax_hessian_factor("lightgbm", 3)
    1.5
    """
    if hessian == "exact":
        return 1.0
    if hessian == "xgboost":
        return 2.0
    if hessian == "lightgbm":
        return n_classes / (n_classes - 1) if n_classes > 1 else 1.0
    raise ValueError(
        f"hessian must be one of ('exact', 'xgboost', 'lightgbm') for softmax_cross_entropy, "
        f"got {hessian!r}"
    )


# ------------------------------------------------------------------ the objective


class Objective:
    """A loss as a custom objective for XGBoost and LightGBM; made by :func:`objective`.

    Call it as the libraries do:

    * ``obj(preds, data)`` with ``data`` an ``xgboost.DMatrix`` or ``lightgbm.Dataset``
      (``xgboost.train(obj=...)``, ``lightgbm.train({"objective": obj})``): labels and
      weights are read from ``data``; an empty weight array means no weights;
    * ``obj(y_true, y_pred, sample_weight=None)``, the scikit-learn interfaces
      (``XGBRegressor(objective=obj)``, ``LGBMClassifier(objective=obj)``).

    ``lightgbm.cv`` and ``xgboost.cv`` hand it each fold's own dataset, and DART the
    scores after its drop: both train as with the built-in objectives (their built-in
    metrics do not evaluate as with them: see :func:`objective`'s Notes).

    It returns ``(grad, hess)`` of the summed, weighted loss with respect to the raw scores,
    in the dtype and layout of the scores (float32 for XGBoost; ``(n, K)`` for multiclass,
    or the flat layout when the scores come flat).
    """

    def __init__(self, loss: Loss, hessian: Any, floor: float, min_residual: Any, hyper: dict):
        self.loss = loss
        self.hessian = hessian
        self.floor = floor
        self.min_residual = min_residual
        self.hyper = hyper
        self._labels = _CheckedLabels()

    def __getstate__(self):  # a copy (LightGBM copies its params) starts with no labels
        return {k: v for k, v in self.__dict__.items() if k != "_labels"}

    def __setstate__(self, state):
        self.__dict__.update(state, _labels=_CheckedLabels())

    def __repr__(self) -> str:
        hyper = "".join(f", {k}={v!r}" for k, v in self.hyper.items())
        return f"<objective {self.loss.__name__}, hessian={self.hessian!r}{hyper}>"

    # -- the two call forms

    def __call__(self, preds, data, sample_weight=None):
        if hasattr(data, "get_label"):  # native interfaces: (raw scores, dataset)
            # flat multiclass scores: LightGBM lays classes out one after the other
            # ("F" order), XGBoost row by row ("C")
            if type(data).__module__.startswith("xgboost"):
                y, w, order = _xgboost_info(data, "label"), _xgboost_info(data, "weight"), "C"
            else:
                y, w, order = data.get_label(), data.get_weight(), "F"
            scores = preds
        else:  # scikit-learn interfaces: (y_true, raw scores, sample_weight)
            y, scores, w, order = preds, data, sample_weight, None
        if w is not None and np.size(w) == 0:
            w = None
        return self.grad_hess(y, scores, sample_weight=w, _flat_order=order)

    # -- the numbers

    def grad_hess(self, y_true, raw_score, sample_weight=None, *, _flat_order=None):
        """``(grad, hess)`` of the summed loss at ``raw_score``, after the Hessian policy."""
        scores = real_array(raw_score, "raw_score", finite=False)
        if scores.dtype.kind != "f":
            scores = scores.astype(np.float64)
        dtype = scores.dtype
        if sample_weight is not None:  # (checked by the loss, as every weight is)
            sample_weight = real_array(sample_weight, "sample_weight", dtype, finite=False)
        if self.loss is classification.softmax_cross_entropy:
            y = real_array(y_true, "y_true", finite=False)
            return self._softmax(y.astype(dtype, copy=False) if y.dtype.kind == "f" else y,
                                 scores, sample_weight, _flat_order)
        y, checked = self._labels.cast(y_true, dtype)
        if self.loss is ltv.ziln_loss:
            return self._ziln(y, scores, sample_weight, _flat_order)
        g, h = self._elementwise(y, scores, sample_weight, checked)
        self._labels.passed(y_true, y)
        return g, h

    def _derivatives(self, y, p, w, labels_checked, hess=True):
        """``(grad, hess)`` (or ``grad``) of the summed loss; the checks of ``y`` are
        skipped when they passed before (:class:`_CheckedLabels`)."""
        terms = self.loss._terms(y, p, **self.hyper, sample_weight=w, reduction="sum")
        if labels_checked:
            terms.checks = tuple(check for check in terms.checks if check[0] != 0)
        _, g, h = terms.evaluate(value=False, grad=True, hess=hess)
        return (g, h) if hess else g

    def _elementwise(self, y, p, w, labels_checked=False):
        policy = self.hessian
        if policy in ("exact", "floor"):
            g, h = self._derivatives(y, p, w, labels_checked)
            if policy == "floor":
                h = np.maximum(h, self._weighted(self.floor, w, p))
            return g, h
        g = self._derivatives(y, p, w, labels_checked, hess=False)
        if policy == "majoriser":
            return g, self._majoriser(y, p, w)
        return g, self._weighted(policy, w, p)  # a constant

    def _majoriser(self, y, p, w):
        """The majoriser's curvature times the weight. Every curvature is positive and
        finite, yet may leave the float range before its weight brings it back (J/(2|r|)
        of a residual beyond the range is 0, 200/|y| of a tiny MAPE target inf): rows
        where the curvature or its weighted value is not a normal number are evaluated
        again in :data:`WIDER_DTYPE` and rounded once, as a loss evaluation does. A
        :class:`~lossfns._core.RangeAlarm` hears whether anything over- or underflowed, so
        that the rows are looked for only then (measured: MAE's objective at 10^6 rows took
        1.13-1.29x as long when every call looked for them, and as long as before with the
        alarm)."""
        curvature = _POLICIES[self.loss][2]

        def weighted(y, p, w):
            min_residual = self.min_residual
            if min_residual == "auto":
                min_residual = _auto_min_residual(y, p)
            c = np.asarray(curvature(y, p, self.hyper, min_residual), dtype=p.dtype)
            return c, (c if w is None else np.where(w > 0, c, 0) * w)  # (w = 0: 0, not 0 inf)

        alarm = RangeAlarm()
        with alarm.listening():
            c, h = weighted(y, p, w)
            if not alarm.raised:
                return h
            tiny = np.finfo(p.dtype).smallest_normal
            lost = ~((c >= tiny) & (c < np.inf) & ((h >= tiny) & (h < np.inf) | (h == 0)))
            if w is not None:
                lost &= w > 0
            wide = WIDER_DTYPE.get(p.dtype)
            if wide is not None and lost.any():
                _, redone = weighted(*(a.astype(wide) for a in (y, p)),
                                     None if w is None else w.astype(wide))
                h = np.where(lost, redone.astype(p.dtype), h)
        return h

    @staticmethod
    def _weighted(value, w, like):
        if w is None:
            return np.full_like(like, value)
        # a weight times the constant beyond the range is inf, below it 0, silently
        with np.errstate(over="ignore", under="ignore"):
            return (w * like.dtype.type(value)).astype(like.dtype, copy=False)

    def _softmax(self, y, z, w, order):
        z2d = z
        if z.ndim == 1:
            if order is None:
                raise ValueError(
                    "y_pred must have shape (n, K) for a multiclass objective, got a flat array"
                )
            n_classes, rem = divmod(z.size, len(y))
            if rem or n_classes < 2:
                raise ValueError(
                    f"raw scores of size {z.size} are not K per label for {len(y)} labels"
                )
            z2d = z.reshape((len(y), n_classes), order=order)
        labels = _class_labels(y, z2d.shape[1])
        factor = softmax_hessian_factor(self.hessian, z2d.shape[1])
        loss = self.loss
        if hasattr(loss, "grad_hess"):
            g, h = loss.grad_hess(labels, z2d, **self.hyper, sample_weight=w, reduction="sum")
        elif hasattr(loss, "hess"):
            g = loss.grad(labels, z2d, **self.hyper, sample_weight=w, reduction="sum")
            h = loss.hess(labels, z2d, **self.hyper, sample_weight=w, reduction="sum")
        else:
            g, h = _softmax_grad_hess(labels, z2d, w, self.hyper)
        if factor != 1:
            h = h * z2d.dtype.type(factor)
        if z.ndim == 1:
            return g.ravel(order=order), h.ravel(order=order)
        return g, h

    def _ziln(self, y, logits, w, order):
        flat = logits.ndim == 1
        if flat:
            if order is None or logits.size != 3 * len(y):
                raise ValueError(
                    f"raw scores must have shape (n, 3) for ziln_loss, got {logits.shape}"
                )
            logits = logits.reshape((len(y), 3), order=order)
        exact_or_fisher = "exact" if self.hessian == "floor" else self.hessian
        g, h = ziln_grad_hess(y, logits, sample_weight=w, hessian=exact_or_fisher)
        if self.hessian == "floor":
            h = np.maximum(h, self._weighted(self.floor, None if w is None else w[:, None], h))
        if flat:
            return g.ravel(order=order), h.ravel(order=order)
        return g, h

    # -- the start

    def init_score(self, y_true, sample_weight=None, **kwargs):
        """The constant raw score that minimises this objective's loss (see :func:`init_score`)."""
        return init_score(self.loss, y_true, sample_weight=sample_weight, **self.hyper, **kwargs)


class _ArrayInterface:
    """What NumPy reads as an array through its ``__array_interface__`` (no copy)."""

    def __init__(self, interface: dict):
        self.__array_interface__ = interface


def _xgboost_info(data, field):
    """``data.get_label()`` / ``data.get_weight()`` of an ``xgboost.DMatrix``, as a read-only
    view of the DMatrix's own buffer, valid until the next XGBoost call.

    The public getters build a Python class and copy the buffer on every call: measured
    0.13 ms (labels) and 0.10 ms (an empty weight array) per round at 10^5 rows, 1.3 % of a
    round of ``bench/boosting.py``'s training, against 0.01 ms for both from
    ``XGDMatrixGetInfoRef`` (XGBoost >= 3.2), the C function they call first. Any failure
    (an older XGBoost) falls back to the getters.
    """
    try:
        ref = ctypes.c_char_p()
        lib = sys.modules[type(data).__module__]._LIB
        if lib.XGDMatrixGetInfoRef(data.handle, field.encode(), ctypes.byref(ref)) != 0:
            raise RuntimeError(field)
        interface = json.loads(ref.value)
        shape = tuple(interface["shape"])
        if 0 in shape:
            return np.empty(shape, np.dtype(interface["typestr"]))
        interface.update(shape=shape, data=tuple(interface["data"]))
        if interface.get("strides") is not None:
            interface["strides"] = tuple(interface["strides"])
        return np.asarray(_ArrayInterface(interface))
    except Exception:  # noqa: BLE001 - any surprise: the public getters
        return data.get_label() if field == "label" else data.get_weight()


class _CheckedLabels:
    """The labels of the dataset an objective was last called with, cast to the scores'
    dtype, once their checks have passed.

    A dataset's labels are read every round and never change, so their checks (``y_true``
    in [0, 1], finite, ...) need to run once, not every round: an objective handed the
    same label array again (LightGBM's ``get_label()`` returns one array object until
    ``set_label``) reuses the cast labels and skips their checks; any other array, such
    as another dataset's or a new ``set_label``, is cast and checked afresh. (An array
    changed in place is not checked again; XGBoost hands over a new view each round,
    checked each round.) Measured with ``bench/boosting.py``'s objective at 10^6 rows:
    the checks of labels in [0, 1] took 0.9 ms of the 14 ms of BCE with logits in
    float32, 1.7 of 26 ms in float64.
    """

    def __init__(self):
        self._read = None  # the array read from the dataset (held: its id stays its own)
        self._cast = None  # that array cast to the scores' dtype, its checks passed

    def cast(self, y_true, dtype):
        """``(labels as dtype, whether their checks passed before)``."""
        cast = self._cast
        if y_true is self._read and cast.dtype == dtype:
            return cast, True
        y = real_array(y_true, "y_true", finite=False)
        return y.astype(dtype, copy=False), False

    def passed(self, y_true, y):
        """Record that ``y`` (``y_true`` cast) passed its checks."""
        if isinstance(y_true, np.ndarray):
            self._read, self._cast = y_true, y


def _auto_min_residual(y, p):
    """Residuals below this count as this in a kink majoriser: a third of the round's mean
    absolute residual (1 when every residual is 0), in float64 or a wider dtype. Measured
    against a tenth and a thirtieth in ``bench/boosting.py``: the smaller the floor, the
    more a leaf's step is held back by its rows that are nearly fitted."""
    dtype = np.promote_types(p.dtype, np.float64)
    with np.errstate(over="ignore", under="ignore"):
        size, third = np.abs(p.astype(dtype) - y.astype(dtype)), 1 / 3
        largest = size.max()
        if largest == np.inf:  # a residual beyond the range: the halves (exact where normal)
            size, third = np.abs(p / 2 - y / 2).astype(dtype), 2 / 3
            largest = size.max()
        scale = largest * np.mean(size / largest) * dtype.type(third) if largest > 0 else 0
    if largest > 0 and not scale > 0:  # the floor is below the range: a wider exponent
        wide = WIDER_DTYPE.get(dtype)
        if wide is not None:
            return _auto_min_residual(y.astype(wide), p.astype(wide))
        return np.finfo(dtype).smallest_subnormal
    return scale if scale > 0 else dtype.type(1)


def _class_labels(y, n_classes):
    """Class labels as integers: integer-valued floats (XGBoost and LightGBM hand labels
    over as float32) are accepted; probability rows pass through."""
    if y.ndim == 2:
        return y
    if y.dtype.kind == "f":
        finite("y_true")(y)  # (NaN and infinities have no integer to be cast to)
        as_int = y.astype(np.int64)
        if not np.array_equal(as_int, y):
            bad = y[as_int != y][0]
            raise ValueError(f"y_true must hold integer class labels; found {bad}")
        y = as_int
    if y.min() < 0 or y.max() >= n_classes:
        bad = y.min() if y.min() < 0 else y.max()
        raise ValueError(f"y_true must hold class indices in range({n_classes}); found {bad}")
    return y


def _softmax_grad_hess(labels, z, w, hyper):
    """Softmax cross-entropy gradient p - t and exact Hessian diagonal p(1 - p), summed
    over samples (used until ``softmax_cross_entropy`` has its own ``hess``)."""
    g = classification.softmax_cross_entropy.grad(
        labels, z, **hyper, sample_weight=w, reduction="sum"
    )
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    h = p * (1 - p)
    scale = None
    if hyper.get("class_weight") is not None and labels.ndim == 1:
        scale = np.asarray(hyper["class_weight"], z.dtype)[labels]
    if w is not None:
        scale = w if scale is None else scale * w
    if scale is not None:
        h = h * scale[:, None]
    return g, h.astype(z.dtype, copy=False)


def ziln_grad_hess(y_true, logits, *, sample_weight=None, hessian="fisher"):
    r"""Gradient and Hessian diagonal of the summed ZILN loss, shape ``(n, 3)`` each.

    With :math:`p = \sigma(l_0)`, :math:`\sigma = \operatorname{softplus}(l_2)`,
    :math:`s = \sigma(l_2)` (so :math:`d\sigma/dl_2 = s`), :math:`r = s/\sigma` and
    :math:`z = (\log y - \mu)/\sigma`, the Hessian diagonal is :math:`p(1-p)` for
    :math:`l_0` and, for buyers only, :math:`1/\sigma^2` for :math:`\mu` and

    .. math::

        \frac{\partial^2 \ell}{\partial l_2^2}
        = 2z^2r^2 + (1 - z^2)\Bigl(\frac{s(1-s)}{\sigma} - r^2\Bigr)

    (``hessian="exact"``, negative near :math:`z = 0`), or its expectation under the
    model, :math:`2r^2` (``hessian="fisher"``, the Fisher information: positive); the
    objective's ``"floor"`` policy raises the exact one to its floor. The gradient is
    ``ziln_loss.grad(..., reduction="sum")``. Derived in :ref:`boosting-ziln`.
    """
    if hessian not in ("fisher", "exact"):
        raise ValueError(f"hessian must be one of ('fisher', 'exact'), got {hessian!r}")
    dtype = logits.dtype
    g = ltv.ziln_loss.grad(y_true, logits, sample_weight=sample_weight, reduction="sum")
    y = np.asarray(y_true, dtype=np.float64)
    l0, mu, l2 = np.asarray(logits, dtype=np.float64).T
    buyer = y > 0
    # entries beyond the float range are inf, below it 0, as their truth rounds (1/sigma^2
    # for a scale logit below -355, p(1 - p) for |l0| above 745), silently
    with np.errstate(divide="ignore", over="ignore", under="ignore"):
        e0 = np.exp(-np.abs(l0))
        p_q = e0 / (1 + e0) ** 2  # p(1 - p) from one exp(-|l0|)
        e2 = np.exp(-np.abs(l2))
        sigma = np.maximum(l2, 0) + np.log1p(e2)
        s = np.where(l2 >= 0, 1 / (1 + e2), e2 / (1 + e2))
        # r = s / sigma = 1 / ((1 + e2) sigma) for l2 >= 0; for l2 < 0 both s and sigma
        # vanish with e2 = exp(l2): r = 1 / ((1 + e2) q) with q = log1p(e2) / e2, which
        # tends to 1 (and is 1 where e2 underflows)
        q = np.where(e2 > 0, np.log1p(e2) / np.where(e2 > 0, e2, 1), 1.0)
        r = 1 / ((1 + e2) * np.where(l2 >= 0, sigma, q))
        h = np.empty((len(y), 3))
        h[:, 0] = p_q
        h[:, 1] = np.where(buyer, 1 / (sigma * sigma), 0.0)
        if hessian == "exact":
            log_y = np.log(np.where(buyer, y, 1.0))
            deviation = log_y - mu
            z = np.where(deviation == 0, 0.0, deviation / sigma)  # (0, not 0/0, at sigma = 0)
            z2 = z * z
            # s(1 - s)/sigma - r^2 = r((1 - s) - r), and 2 z^2 r^2 + (1 - z^2) b as
            # z^2 (2 r^2 - b) + b: defined where sigma underflows (r = 1, b = 0, z^2 = inf).
            # For l2 < 0, 1 - s and r both near 1 cancel: (1 - s) - r = m / ((1 + e2) q)
            # there, m = (log1p(e2) - e2) / e2 (at l2 = -30 the difference lost 0.6 %)
            gap = np.where(l2 >= 0, (1 - s) - r, log1p_minus_x_over_x(e2) / ((1 + e2) * q))
            b = r * gap
            curvature = z2 * (2 * r * r - b) + b
        else:
            curvature = 2 * r * r
        h[:, 2] = np.where(buyer, curvature, 0.0)
        if sample_weight is not None:  # a weight of 0 zeroes an infinite entry (not 0 inf)
            w = np.asarray(sample_weight, dtype=np.float64)[:, None]
            h = np.where(w > 0, h, 0.0) * w
        return g, h.astype(dtype)


def objective(
    loss: Loss,
    *,
    hessian: Any = None,
    floor: float = 1e-6,
    min_residual: Any = "auto",
    **hyper: Any,
) -> Objective:
    r"""A ``lossfns`` loss as a custom objective for XGBoost and LightGBM.

    Parameters
    ----------
    loss : Loss
        An elementwise loss of ``(y_true, raw score)`` (``mse``, ``mae``, ``huber``,
        ``pinball``, ``log_cosh``, ``mape``, ``smape``, the BCE with logits, ``logistic_loss``,
        ``focal_loss``, the hinge pair), ``softmax_cross_entropy`` (K scores per row) or
        ``ziln_loss`` (three scores per row).
    hessian : str or float, optional
        The Hessian policy (:data:`HESSIAN_POLICIES`); each loss has a default, chosen by
        measurement (:ref:`boosting-zero-hessians`): ``"exact"`` where the exact Hessian is
        positive, ``"majoriser"`` for MAE, pinball, MAPE, Huber, log-cosh and the hinges,
        ``"floor"`` for focal loss and SMAPE, ``"fisher"`` for ZILN and ``"exact"`` for
        softmax (or ``"xgboost"``, ``"lightgbm"``: the libraries' scalings). A number
        means a constant Hessian of that value.
    floor : float
        Lower bound of each row's Hessian (times its weight) for ``hessian="floor"``.
    min_residual : float or "auto"
        Kink majorisers (MAE, pinball, MAPE, hinge) have curvature proportional to
        :math:`1/|r|`; residuals smaller than this count as this. ``"auto"``: a third of
        the mean absolute residual of the round.
    **hyper
        The loss's hyper-parameters (``delta``, ``quantile``, ``gamma``, ``alpha``,
        ``pos_weight``, ``label_smoothing``, ``class_weight``, ``margin``).

    Returns
    -------
    Objective
        A callable ``obj(preds, data)`` / ``obj(y_true, y_pred, sample_weight=None)``
        returning ``(grad, hess)`` of the weighted sum of the loss. Its ``init_score``
        method gives the constant start that minimises the loss.

    Raises
    ------
    ValueError
        For a loss that is not elementwise in one raw score, has no Hessian, or an unknown
        ``hessian=`` policy; the loss's own errors for bad hyper-parameters.

    Notes
    -----
    Start the model from :func:`init_score` (XGBoost: ``base_score``; LightGBM:
    ``Dataset(init_score=...)``, added again to ``predict(raw_score=True)``): a custom
    objective otherwise starts from 0.5 (XGBoost) or 0 (LightGBM). Derived in
    :ref:`boosting-newton`.

    With a custom objective neither library knows the link from raw score to prediction:
    its built-in metrics read the raw scores as predictions (XGBoost's
    ``eval_metric="logloss"`` and LightGBM's ``metric="binary_logloss"`` as probabilities,
    measured 5.3 for a model of log loss 0.65), and so does early stopping on them;
    LightGBM's ``predict`` returns raw scores. Evaluate with a metric of the raw scores
    (``custom_metric=`` / ``feval=``, e.g. the loss itself), and give each LightGBM
    validation ``Dataset`` the training start as its ``init_score`` too.

    Examples
    --------
    >>> import numpy as np, lossfns
    >>> obj = lossfns.boosting.objective(lossfns.huber, delta=1.0)
    >>> obj(np.array([0.0, 0.0]), np.array([0.5, 4.0]))   # majoriser: min(1, delta/|r|)
    (array([0.5, 1. ]), array([1.  , 0.25]))
    """
    name = getattr(loss, "__name__", repr(loss))
    if not isinstance(loss, Loss):
        raise ValueError(f"loss must be a lossfns loss, got {loss!r}")
    if "reduction" in hyper or "sample_weight" in hyper:
        raise ValueError(
            "reduction and sample_weight are set by the objective (reduction='sum', "
            "weights from the dataset); do not pass them"
        )
    if loss in _NOT_AN_OBJECTIVE:
        raise ValueError(f"loss {name} {_NOT_AN_OBJECTIVE[loss]}")
    if loss not in _POLICIES:
        why = "has no Hessian" if not isinstance(loss, ElementwiseLoss) else (
            "does not take (y_true, raw score)"
        )
        raise ValueError(f"loss {name} {why}, so it cannot be a boosting objective")
    default, allowed, _ = _POLICIES[loss]
    if hessian is None:
        hessian = default
    if isinstance(hessian, numbers.Real) and not isinstance(hessian, bool):
        if "constant" not in allowed:
            raise ValueError(f"hessian must be one of {allowed} for {name}, got {hessian!r}")
        hessian = check_scalar(hessian, "hessian", low=0, low_inclusive=False)
    elif hessian == "constant" and "constant" in allowed:
        hessian = 1.0
    elif hessian not in allowed:
        raise ValueError(f"hessian must be one of {allowed} for {name}, got {hessian!r}")
    floor = check_scalar(floor, "floor", low=0)
    if min_residual != "auto":
        min_residual = check_scalar(min_residual, "min_residual", low=0, low_inclusive=False)
    _check_hyper(loss, hyper)
    return Objective(loss, hessian, floor, min_residual, hyper)


def _check_hyper(loss, hyper):
    """Let the loss itself reject unknown or out-of-range hyper-parameters, now."""
    if loss is classification.softmax_cross_entropy:  # as many classes as class weights
        class_weight = hyper.get("class_weight")
        n_classes = 2 if class_weight is None else max(2, np.size(class_weight))
        loss([0], np.zeros((1, n_classes)), **hyper)
    elif loss is ltv.ziln_loss:
        loss([1.0], np.zeros((1, 3)), **hyper)
    else:
        loss([1.0], [1.0], **hyper)


# ------------------------------------------------------------------ the start


def init_score(loss: Loss, y_true, *, sample_weight=None, n_classes=None, **hyper):
    r"""The constant raw score :math:`c` that minimises :math:`\sum_i w_i\,\ell(y_i, c)`.

    Closed forms: the weighted mean (MSE); the weighted median (MAE), quantile (pinball)
    and median with weights :math:`w/|y|` (MAPE); the log-odds
    :math:`\log(w_+ \sum w y / \sum w(1-y))` (BCE with logits, ``pos_weight`` :math:`w_+`;
    for the logistic loss's labels :math:`\pm 1`, :math:`\log(W_+/W_-)` of the weights of
    each label); the log of the weighted class frequencies, smoothed and class-weighted
    as the loss is (softmax, a vector of K); for ZILN the logit of the share of buyers, the
    mean and the scale logit :math:`\operatorname{softplus}^{-1}` of the standard deviation
    of :math:`\log y` over buyers (a vector of 3); :math:`\pm m` or 0 by which label
    weighs more (hinge, margin :math:`m`) and :math:`m (W_+ - W_-)/(W_+ + W_-)` (squared
    hinge). Otherwise (Huber, log-cosh, focal) a root of the summed gradient by Brent's
    method; for SMAPE, which is not convex, a bounded minimisation around the best of 201
    quantiles of ``y``.

    Parameters
    ----------
    loss : Loss
        As for :func:`objective`.
    y_true : array_like
        Targets, shape ``(n,)`` (class labels, integer-valued, for softmax).
    sample_weight : array_like, optional
        Non-negative weights, shape ``(n,)``.
    n_classes : int, optional
        Softmax only: the number of classes K (default: the largest label + 1).
    **hyper
        The loss's hyper-parameters.

    Returns
    -------
    numpy.float64, or ndarray of shape (K,) or (3,)
        Where a minimiser is an interval (the median of an even number of values), its
        midpoint.

    Raises
    ------
    ValueError
        When no finite minimiser exists (every label of one class, a class never seen, no
        buyer, no non-buyer or one value of ``log y`` among buyers), with the argument
        named; for ``n_classes`` that is not an integer >= 2, or given for another loss.

    Examples
    --------
    >>> import lossfns
    >>> float(lossfns.boosting.init_score(lossfns.mae, [1.0, 2.0, 10.0, 11.0]))
    6.0
    >>> lossfns.boosting.init_score(lossfns.softmax_cross_entropy, [0, 1, 1, 2])
    array([-1.38629436, -0.69314718, -1.38629436])
    """
    if loss is classification.softmax_cross_entropy:
        return _softmax_init(y_true, sample_weight, n_classes, **hyper)
    if n_classes is not None:
        raise ValueError(
            f"n_classes is for softmax_cross_entropy only; got n_classes={n_classes!r} for "
            f"{getattr(loss, '__name__', loss)}"
        )
    y = real_array(y_true, "y_true", np.dtype(np.float64))
    if y.ndim != 1:
        raise ValueError(f"y_true must be one-dimensional, got shape {y.shape}")
    w = None
    if sample_weight is not None:
        w = real_array(sample_weight, "sample_weight", np.dtype(np.float64))
        if w.shape != y.shape:
            raise ValueError(f"sample_weight has shape {w.shape}; it must be {y.shape}")
        nonnegative("sample_weight")(w)
        if not w.max() > 0:
            raise ValueError("sample_weight sums to zero; no minimiser is defined")
    ones = np.ones_like(y) if w is None else _scaled_weights(w)
    if loss is ltv.ziln_loss:
        loss(y, np.zeros((len(y), 3)), **hyper)  # validates y and hyper
        return _ziln_init(y, ones).astype(np.float64)
    if loss in _NOT_AN_OBJECTIVE:
        raise ValueError(f"loss {loss.__name__} {_NOT_AN_OBJECTIVE[loss]}")
    if loss not in _POLICIES:
        raise ValueError(f"loss {getattr(loss, '__name__', loss)} has no init_score")
    loss(y, np.zeros_like(y), **hyper, sample_weight=w)  # the loss validates y and hyper
    if loss is regression.mse:
        return _weighted_mean(y, ones)
    if loss is regression.mae:
        return _weighted_quantile(y, ones, 0.5)
    if loss is regression.pinball:
        return _weighted_quantile(y, ones, hyper.get("quantile", 0.5))
    if loss is regression.mape:  # weights w/|y|, times the smallest |y| (so none overflows)
        size = np.abs(y).astype(ones.dtype)
        with np.errstate(under="ignore"):
            return _weighted_quantile(y, ones * (size.min() / size), 0.5)
    if loss is classification.binary_cross_entropy_with_logits:
        pos_weight = hyper.get("pos_weight")
        with np.errstate(under="ignore"):  # (products below the range: their share is 0)
            return _log_odds(np.dot(ones, y), np.dot(ones, 1 - y), pos_weight)
    if loss is classification.logistic_loss:
        return _log_odds(np.dot(ones, y > 0), np.dot(ones, y < 0), None)
    if loss in (classification.hinge, classification.squared_hinge):
        margin = hyper.get("margin", 1.0)
        return _hinge_init(loss, np.dot(ones, y > 0), np.dot(ones, y < 0), margin)
    if loss is classification.focal_loss:
        # its two terms weigh alpha y and (1 - alpha)(1 - y): with one of them 0 the loss
        # falls without bound (its gradient underflows to 0 near |c| = 256, no minimiser);
        # row by row, since a sum of tiny weights can round to 0
        alpha = hyper.get("alpha")
        alpha_1, alpha_0 = (1, 1) if alpha is None else (alpha, 1 - alpha)
        weighed = ones > 0
        _check_both_labels(alpha_1 > 0 and np.any(weighed & (y > 0)),
                           alpha_0 > 0 and np.any(weighed & (y < 1)))
    return _root_of_gradient(loss, y, w, hyper)


SUMS_DTYPE = WIDER_DTYPE[np.dtype(np.float64)] or np.dtype(np.float64)
"""The dtype of the weighted sums of :func:`init_score`: ``np.longdouble`` where its
exponent is wider than float64's (x86-64 Linux), so that weights near both ends of the
float range (1e308 and 5e-324) neither overflow in their sum nor underflow in their
shares; elsewhere float64, where a weight below 2^-1074 times the largest counts 0."""


def _scaled_weights(w):
    """The weights in :data:`SUMS_DTYPE`, divided by the largest (no minimiser changes
    when every weight is scaled by one number): their sums are at most their count."""
    with np.errstate(under="ignore"):
        return w.astype(SUMS_DTYPE) / w.max()


def _weighted_quantile(y, w, q):
    """Minimiser of sum w rho_q(y - c): the smallest y with cumulative weight >= qW, or the
    midpoint of the interval of minimisers when the cumulative weight hits qW exactly.
    The weights are scaled to a largest of 1 first, so that their running sum (at most
    the number of weights) does not overflow."""
    order = np.argsort(y, kind="stable")
    with np.errstate(under="ignore"):  # a weight 2^-1074 times the largest counts 0
        ys, cw = y[order], np.cumsum(w[order] / w.max())
    target = q * cw[-1]
    k = int(np.searchsorted(cw, target, side="left"))
    k = min(k, len(ys) - 1)
    if cw[k] == target and k + 1 < len(ys):
        nxt = k + 1 + int(np.searchsorted(cw[k + 1 :], cw[k], side="right"))  # skip zero weights
        return _midpoint(ys[k], ys[min(nxt, len(ys) - 1)])
    return np.float64(ys[k])


def _midpoint(a, b):
    """(a + b) / 2 without overflow: a/2 + b/2 where the sum overflows (both halves are
    exact there, far from the subnormal range)."""
    a, b = float(a), float(b)  # Python floats: an overflowing sum is inf, not an error
    middle = (a + b) / 2
    return np.float64(middle if math.isfinite(middle) else a / 2 + b / 2)


def _weighted_mean(y, w):
    """sum w y / sum w for weights with a largest of 1 (their sum is at most n), as sum q y
    with the shares q = w / sum w: every product is at most its |y|, and so is every
    partial sum of the products, at most the largest |y|. Only the rounding of a mean
    within an ulp of the largest float can overflow; then the mean of y/2 is doubled."""
    with np.errstate(under="ignore", over="ignore"):
        share = w / w.sum()
        mean = np.dot(share, y).astype(np.float64)
        if not np.isfinite(mean):
            mean = 2 * np.dot(share, y / 2).astype(np.float64)
    return np.float64(mean)


def _log_odds(positive, negative, pos_weight):
    if pos_weight is not None:
        pos_weight = np.asarray(pos_weight, dtype=np.float64)
        if pos_weight.ndim:
            raise ValueError("pos_weight must be a scalar for init_score")
        positive = positive * pos_weight
    _check_both_labels(positive, negative)
    return np.float64((np.log(positive) - np.log(negative)).astype(np.float64))


def _hinge_init(loss, positive, negative, margin):
    """The hinge pair's minimising constant, from the weights of the +1 and -1 labels.
    Between -m and m the hinge's sum falls with slope ``negative - positive``: its
    minimiser is m where the positives weigh more, -m where the negatives do, and 0 (the
    midpoint of [-m, m]) where they weigh the same. The squared hinge's sum has its root
    at m (positive - negative) / (positive + negative), in [-m, m]."""
    if loss is classification.hinge:
        return np.float64(margin * np.sign(positive - negative))
    return np.float64(margin * ((positive - negative) / (positive + negative)))


def _check_both_labels(positive, negative):
    """A binary loss has a finite minimising constant only when both labels weigh > 0."""
    if not positive > 0:
        raise ValueError("y_true has no positive label: the minimising score is -inf")
    if not negative > 0:
        raise ValueError("y_true has no negative label: the minimising score is +inf")


def _softmax_init(y_true, sample_weight, n_classes, label_smoothing=0.0, class_weight=None):
    if n_classes is not None and (
        not isinstance(n_classes, numbers.Integral) or isinstance(n_classes, bool) or n_classes < 2
    ):
        raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
    y = real_array(y_true, "y_true")
    if y.ndim == 1:
        if n_classes is None:
            n_classes = int(y.max()) + 1
        labels = _class_labels(y, n_classes)
        targets = np.zeros((len(labels), n_classes))
        targets[np.arange(len(labels)), labels] = 1
    elif y.ndim == 2:
        targets = y.astype(np.float64)
        labels = None
    else:
        raise ValueError(f"y_true must have shape (n,) or (n, K), got {y.shape}")
    K = targets.shape[1]
    w = np.ones(len(targets))
    if sample_weight is not None:
        w = real_array(sample_weight, "sample_weight", np.dtype(np.float64))
        nonnegative("sample_weight")(w)
    classification.softmax_cross_entropy(
        y if y.ndim == 2 else labels, np.zeros((len(targets), K)),
        label_smoothing=label_smoothing, class_weight=class_weight, sample_weight=w,
    )  # validates everything
    w = _scaled_weights(w)  # (the loss checked that some weight is positive)
    eps = check_scalar(label_smoothing, "label_smoothing", low=0, high=1)
    t = (1 - eps) * targets + eps / K
    if class_weight is not None:
        cw = np.asarray(class_weight, dtype=np.float64)
        # the loss sum_c cw_c t_c (lse - z_c): its minimiser is softmax(z) ∝ sum_i w_i cw·t_i
        t = t * cw
        weight_rows = (t.sum(axis=1))
        mean = (w[:, None] * t).sum(axis=0) / np.dot(w, weight_rows)
    else:
        mean = (w[:, None] * t).sum(axis=0) / w.sum()
    if not (mean > 0).all():
        missing = int(np.flatnonzero(~(mean > 0))[0])
        raise ValueError(
            f"y_true has no (weighted) sample of class {missing}: its minimising score is -inf"
        )
    return np.log(mean).astype(np.float64)


def _ziln_init(y, w):
    buyer = y > 0
    if not buyer.any():
        raise ValueError("y_true has no positive value: the ZILN purchase logit is -inf")
    if buyer.all():
        raise ValueError("y_true has no zero: the ZILN purchase logit is +inf")
    wb = w[buyer]
    if not wb.sum() > 0:
        raise ValueError("sample_weight is zero on every positive y_true")
    if not w[~buyer].sum() > 0:
        raise ValueError(
            "sample_weight is zero on every zero y_true: the ZILN purchase logit is +inf"
        )
    log_y = np.log(y[buyer])
    mu = np.dot(wb, log_y) / wb.sum()
    sigma = np.sqrt(np.dot(wb, (log_y - mu) ** 2) / wb.sum())
    if not sigma > 0:
        raise ValueError("y_true has one positive value only: the ZILN scale is 0")
    logit_p = np.log(w[buyer].sum()) - np.log(w[~buyer].sum())
    # softplus^-1(sigma) = log(expm1(sigma)) = sigma + log(-expm1(-sigma))
    scale_logit = sigma + np.log(-np.expm1(-sigma))
    return np.array([logit_p, mu, scale_logit])


def _root_of_gradient(loss, y, w, hyper):
    """A minimiser of a 1-D sum of losses: a sign change of its summed gradient (Brent),
    on [min y, max y] for regression losses, else on a bracket grown from [-1, 1]."""
    # imported here: scipy.optimize took 1.2 s of the 2.5 s of `import lossfns` (-X importtime)
    from scipy import optimize

    # the mean's gradient and value: the sum's, divided by the summed weights, so they
    # neither overflow with weights near the largest float nor change the minimiser
    def slope(c):
        g = loss.grad(y, np.full_like(y, c), **hyper, sample_weight=w)
        with np.errstate(over="ignore"):
            return float(np.sum(g))

    def total(c):
        return float(loss(y, np.full_like(y, c), **hyper, sample_weight=w))

    if loss in (regression.huber, regression.log_cosh, regression.smape):
        lo, hi = float(y.min()), float(y.max())
        if lo == hi:
            return np.float64(lo)
        if loss is regression.smape:  # not convex: start from the best data point
            candidates = np.unique(np.quantile(y, np.linspace(0, 1, 201), method="inverted_cdf"))
            values = [total(c) for c in candidates]
            k = int(np.argmin(values))
            lo, hi = (float(candidates[i]) for i in (max(k - 1, 0), min(k + 1, len(candidates) - 1)))
            scale = _power_of_two_above(lo, hi)
            res = optimize.minimize_scalar(
                lambda t: total(scale * t), bounds=(lo / scale, hi / scale), method="bounded",
                options={"xatol": 1e-12 * max(1.0, abs(hi)) / scale},
            )
            best = min((scale * res.x, candidates[k]), key=total)
            return np.float64(best)
    else:
        lo, hi = -1.0, 1.0
        while slope(lo) > 0 and lo > -1e4:
            lo *= 2
        while slope(hi) < 0 and hi < 1e4:
            hi *= 2
        if slope(lo) > 0 or slope(hi) < 0:
            raise ValueError(f"{loss.__name__} decreases without bound on constant scores "
                             "for these y_true (every label of one class)")
    if slope(lo) >= 0:
        return np.float64(lo)
    if slope(hi) <= 0:
        return np.float64(hi)
    if lo < 0 < hi:  # a bracket of one sign: its width and midpoints never overflow
        at_zero = slope(0.0)
        if at_zero == 0:
            return np.float64(0.0)
        lo, hi = (lo, 0.0) if at_zero > 0 else (0.0, hi)
    # to 4 eps |c|, or the smallest normal float near 0 (not an absolute 1e-14, which would
    # swamp a minimiser of the size of 1e-16)
    xtol = float(np.finfo(float).smallest_normal)
    return np.float64(optimize.brentq(slope, lo, hi, xtol=xtol, rtol=4 * np.finfo(float).eps,
                                      maxiter=4000))


def _power_of_two_above(lo, hi):
    """A power of two s >= 1 with |lo|, |hi| < 2 s: a 1-D search on [lo/s, hi/s] instead of
    [lo, hi] takes differences and midpoints of its bracket that never overflow (at
    [-1e308, 1e308] they would), and the scaling is exact (unless lo/s or hi/s falls below
    the normal range)."""
    return 2.0 ** max(0, math.frexp(max(abs(lo), abs(hi)))[1] - 1)


# ------------------------------------------------------------------ the leaves

# Losses whose best constant on a leaf's rows is a weighted quantile of their residuals
# y - F: (quantile, extra weight per row) from the targets and hyper-parameters.
_LEAF_QUANTILES: dict[Loss, Callable[[np.ndarray, dict], tuple[float, Any]]] = {
    regression.mae: lambda y, hyper: (0.5, None),
    regression.pinball: lambda y, hyper: (hyper.get("quantile", 0.5), None),
    # (in SUMS_DTYPE: 1/|y| and w/|y| beyond the float64 range keep their ratios)
    regression.mape: lambda y, hyper: (0.5, 1 / np.abs(y).astype(SUMS_DTYPE)),
}


def leaf_values(loss: Loss, y_true, raw_score, leaves, *, sample_weight=None, **hyper):
    r"""The step :math:`v_k` of each leaf that minimises the loss of its rows.

    .. math::

        v_k = \operatorname*{arg\,min}_v \sum_{i \in k} w_i\,\ell(y_i, F_i + v),

    for MAE the weighted median of the residuals :math:`y_i - F_i` of leaf :math:`k`, for
    the pinball loss their weighted :math:`\tau`-quantile, for MAPE their median with
    weights :math:`w_i/|y_i|`; the midpoint where the minimisers form an interval (as
    :func:`init_score`), and 0 for a leaf whose rows all weigh 0.
    What :func:`refit_leaves` writes into each new tree, times the learning rate.

    Parameters
    ----------
    loss : Loss
        ``mae``, ``pinball`` or ``mape``.
    y_true : array_like
        Targets, shape ``(n,)``.
    raw_score : array_like
        The scores :math:`F` before the tree, shape ``(n,)``.
    leaves : array_like of int
        The leaf of each row, shape ``(n,)``.
    sample_weight : array_like, optional
        Non-negative weights, shape ``(n,)``.
    **hyper
        The loss's hyper-parameters (``quantile`` for ``pinball``).

    Returns
    -------
    ids : ndarray
        The leaves that hold a row (integers, ascending).
    values : ndarray
        Their steps :math:`v_k` (float64).

    Examples
    --------
    >>> import lossfns
    >>> lossfns.boosting.leaf_values(lossfns.mae, [1.0, 2.0, 9.0, 5.0], [0.0, 0.0, 0.0, 1.0],
    ...                              [3, 3, 3, 7])
    (array([3, 7]), array([2., 4.]))
    """
    name = getattr(loss, "__name__", repr(loss))
    if loss not in _LEAF_QUANTILES:
        raise ValueError(
            f"loss {name} has no quantile leaf value; leaves can be re-fitted for mae, "
            "pinball and mape"
        )
    y = real_array(y_true, "y_true", np.dtype(np.float64))
    score, leaf = _scores_and_leaves(y, raw_score, leaves)
    w = None
    if sample_weight is not None:
        w = real_array(sample_weight, "sample_weight", np.dtype(np.float64))
        if w.shape != y.shape:
            raise ValueError(f"sample_weight has shape {w.shape}; it must be {y.shape}")
    # the loss validates y, weights and hyper (a sum: rows may all weigh 0)
    loss(y, score, **hyper, sample_weight=w, reduction="sum")
    return _leaf_steps(loss, y, score, leaf, w, hyper)


def _scores_and_leaves(y, raw_score, leaves):
    """The scores (finite, float64) and leaf ids (integers) of :func:`leaf_values`, each of
    the shape ``(n,)`` of the labels ``y``."""
    score = real_array(raw_score, "raw_score", np.dtype(np.float64))
    leaf = np.asarray(leaves)
    if leaf.dtype.kind not in "iu":
        if leaf.dtype.kind != "f" or not np.array_equal(leaf, np.round(leaf)):
            raise ValueError("leaves must hold integer leaf ids")
        leaf = leaf.astype(np.int64)
    if not (y.ndim == 1 and score.shape == y.shape and leaf.shape == y.shape):
        raise ValueError(
            f"y_true, raw_score and leaves must have one shape (n,); got {y.shape}, "
            f"{score.shape} and {leaf.shape}"
        )
    return score, leaf


def _leaf_steps(loss, y, score, leaf, w, hyper):
    """:func:`leaf_values` of validated arguments (``w`` ``None`` or float64 weights)."""
    if leaf.min() < 0:
        raise ValueError(f"leaves must hold non-negative leaf ids; found {leaf.min()}")
    quantile, scale = _LEAF_QUANTILES[loss](y, hyper)
    weight = w if scale is None else (scale if w is None else w * scale)
    residual = y - score
    # the rows of each leaf, together: a stable sort of small integers is a radix sort, one
    # pass a byte (at 10^5 rows in 31 leaves: 1.5 ms as uint8, 2.8 as uint16, 5.4 as int64)
    names = None
    if leaf.max() > 2 * leaf.size:  # ids spread wide (counting them would take max id entries)
        names, leaf = np.unique(leaf, return_inverse=True)
    counts = np.bincount(leaf)
    order = np.argsort(leaf.astype(np.min_scalar_type(len(counts) - 1)), kind="stable")
    ids = np.flatnonzero(counts)
    bounds = np.cumsum(counts[ids])[:-1]
    residuals = np.split(residual[order], bounds)
    if names is not None:
        ids = names[ids]
    if weight is None:
        return ids, np.array([_quantile_of_unweighted(r, quantile) for r in residuals])
    weights = np.split(weight[order], bounds)
    return ids, np.array([
        _weighted_quantile(r, w_, quantile) if w_.sum() > 0 else 0.0
        for r, w_ in zip(residuals, weights)
    ])


def _quantile_of_unweighted(r, q):
    """``_weighted_quantile(r, ones, q)`` by selection instead of a sort (O(n)): the
    value of rank ``k = ceil(q m) - 1``, or the midpoint of ranks k and k + 1 when q m is
    the whole number k + 1. Measured at 10^5 rows in 31 leaves: 0.5 ms against 8 ms."""
    m = len(r)
    target = q * m
    k = min(max(int(np.ceil(target)) - 1, 0), m - 1)
    if k + 1 < m and k + 1 == target:
        part = np.partition(r, (k, k + 1))
        return np.float64((part[k] + part[k + 1]) / 2)
    return np.float64(np.partition(r, k)[k])


class LeafRefit:
    """Re-fits each new tree's leaves to a quantile of its rows' residuals; made by
    :func:`refit_leaves`.

    Two parts, both needed: :attr:`objective`, the objective to train with (the
    ``lossfns`` objective, evaluated at the scores of the re-fitted trees), and the
    object itself, the callback that re-fits each tree after it is grown (LightGBM:
    ``callbacks=[refit]``; XGBoost: ``callbacks=[refit]`` too, where it is a
    ``TrainingCallback``). One object serves one training run.
    """

    #: LightGBM runs its after-iteration callbacks in this order (evaluation logging is
    #: 10, early stopping 30): the trees are re-fitted before anything reads them.
    order = 5
    before_iteration = False

    def __init__(self, objective: Objective, data: Any):
        self.objective = _RefitObjective(self, objective)
        self._base = objective
        self._data = data
        self._model = None  # a weak reference to the booster being trained
        self._scores = None  # the scores the newest tree was grown from (float64)
        self._next = None  # the scores after the newest tree, its leaves re-fitted
        self._grown = None  # the library's scores before the newest tree (leaves as grown)
        self._dataset = None  # a weak reference to the training set of the run
        self._pending = False  # the objective ran; the callback has not yet
        self._trees = None  # LightGBM: the number of trees after the last round
        self._written = {}  # XGBoost: tree -> (leaf node ids, values), written at the end
        self._checked = None  # (labels, weights) as read, validated, and as float64

    def __repr__(self) -> str:
        return f"<refit_leaves of {self._base!r}>"

    def __deepcopy__(self, memo):  # LightGBM copies params, XGBoost's scikit-learn API
        return self  # callbacks: both halves must stay this one object

    # -- what the objective sees

    def _scores_for(self, preds):
        preds = np.asarray(preds)
        if self._pending:
            raise ValueError(
                "refit_leaves: the callback did not run after the last round; pass the "
                "LeafRefit in callbacks= as well as its .objective"
            )
        scores = preds.astype(np.float64) if self._next is None else self._next
        if scores.shape != preds.shape:
            raise ValueError(
                f"refit_leaves: scores of shape {preds.shape} after a round of {scores.shape}; "
                "one LeafRefit serves one training run"
            )
        self._scores, self._next, self._pending = scores, None, True
        self._grown = np.array(preds, dtype=np.float64)  # the library's own (its buffer is reused)
        return scores.astype(preds.dtype if preds.dtype.kind == "f" else np.float64, copy=False)

    def _one_dataset(self, data):
        """Refuse a second training set within one round: ``lightgbm.cv`` and ``xgboost.cv``
        train a model per fold, each on its own rows, and one LeafRefit follows one model."""
        known = None if self._dataset is None else self._dataset()
        if self._pending and known is not None and known is not data:
            raise ValueError(
                "refit_leaves follows one model on one training set, and its objective was "
                "handed another: lightgbm.cv and xgboost.cv train a model per fold; train each "
                "fold with lightgbm.train / xgboost.train and a refit_leaves of its own"
            )
        self._dataset = weakref.ref(data)

    # -- the re-fit, common to both libraries

    def _start(self, model):
        if self._model is None:
            self._model = weakref.ref(model)
        elif self._model() is not model:
            raise ValueError(
                "this LeafRefit has trained another model: make a new one with "
                "refit_leaves for each training run"
            )

    def _refit(self, leaves, y, w, learning_rate, dtype):
        """New leaf values ``learning_rate × v_k`` (:func:`leaf_values`), rounded to the
        library's leaf dtype; advances the scores by them in that dtype, as the library
        sums its trees (XGBoost: float32 scores plus float32 leaves, rounded each tree;
        a float64 sum parts from the model's margins by rounding, enough to flip the sign
        of the gradient of a row fitted to within it)."""
        if not self._pending:
            raise ValueError("refit_leaves: a round ended without the LeafRefit's objective")
        leaves = np.asarray(leaves).ravel().astype(np.int64)
        ids, steps = self._leaf_values(y, leaves, w)
        values = (learning_rate * steps).astype(dtype)
        step = np.zeros(int(ids.max()) + 1, dtype)
        step[ids] = values
        scores = self._scores.astype(dtype, copy=False) + step[leaves]
        self._next, self._pending = scores.astype(np.float64, copy=False), False
        return ids, values.astype(np.float64)

    def _leaf_values(self, y_true, leaves, w):
        """:func:`leaf_values` of the base loss at the scores the newest tree was grown
        from, with the labels and weights validated (by an evaluation of the loss) and cast
        to float64 once: a round handed the labels and weights of the round before (the
        same arrays, as LightGBM's ``get_label()`` gives them, or equal ones, as XGBoost's
        copies) reuses them. Measured at 10^5 rows in 31 leaves (MAE, float32 labels, one
        thread, medians of 31): 5.7 ms a round with the validation, 4.7 ms without."""
        base, checked = self._base, self._checked
        if checked is not None and _same_array(y_true, checked[0]) and _same_array(w, checked[1]):
            y, weight = checked[2], checked[3]
            score, leaf = _scores_and_leaves(y, self._scores, leaves)
            return _leaf_steps(base.loss, y, score, leaf, weight, base.hyper)
        y = real_array(y_true, "y_true", np.dtype(np.float64))
        weight = None if w is None else real_array(w, "sample_weight", np.dtype(np.float64))
        found = leaf_values(base.loss, y, self._scores, leaves, sample_weight=weight, **base.hyper)
        self._checked = (y_true, w, y, weight)
        return found

    def _no_tree(self):
        self._next, self._pending = self._scores, False

    # -- LightGBM: the callback

    def __call__(self, env):
        booster = env.model
        if not hasattr(booster, "set_leaf_output"):
            raise ValueError("refit_leaves re-fits the model of lightgbm.train (or of the "
                             "scikit-learn API); lightgbm.cv trains several at once")
        boosting_type = [env.params[k] for k in ("boosting", "boosting_type", "boost")
                         if k in env.params]
        if boosting_type and boosting_type[0] not in ("gbdt", "gbrt", "goss"):
            raise ValueError(
                f"refit_leaves needs LightGBM's gbdt boosting, not {boosting_type[0]!r}: dart "
                "re-scales earlier trees each round and rf averages them, so the scores the "
                "re-fitted leaves start from are not the trees' sum"
            )
        self._start(booster)
        trees = booster.num_trees()  # one a round: LightGBM drops a tree without a split
        if trees == (env.begin_iteration if self._trees is None else self._trees):
            self._no_tree()
        else:
            tree = trees - 1
            text = booster.model_to_string(start_iteration=tree, num_iteration=1)
            shrinkage = float(re.search(r"^shrinkage=(\S+)$", text, re.MULTILINE).group(1))
            grown = np.array(re.search(r"^leaf_value=(.*)$", text, re.MULTILINE).group(1).split(),
                             dtype=np.float64)
            # as many threads as training (LightGBM's predict would take them all)
            threads = [env.params[k] for k in _LIGHTGBM_THREADS if env.params.get(k) is not None]

            def predicted(rows):
                return booster.predict(
                    rows, pred_leaf=True, start_iteration=tree, num_iteration=1,
                    **({"num_threads": threads[0]} if threads else {}),
                ).ravel()

            leaves = _lightgbm_leaves_from_scores(booster, self._grown, grown)
            unknown = None if leaves is None else np.flatnonzero(leaves < 0)
            if leaves is None or (unknown.size and not isinstance(self._data, np.ndarray)):
                leaves = predicted(self._data)
            elif unknown.size:  # the rows of leaves of one value: predicted, only they
                leaves[unknown] = predicted(self._data[unknown])
            data = booster.train_set
            weight = data.get_weight()
            ids, values = self._refit(leaves, data.get_label(), weight, shrinkage, np.float64)
            for leaf, value in zip(ids.tolist(), values.tolist()):
                booster.set_leaf_output(tree, leaf, value)
        self._trees = trees
        if env.iteration == env.end_iteration - 1:  # the run is complete: ready for another
            self._model, self._next, self._trees, self._grown = None, None, None, None
            self._dataset, self._checked = None, None


def _lightgbm_leaves_from_scores(booster, before, leaf_values):
    """The leaf of each training row in the newest tree of a LightGBM ``booster``, read from
    its own training scores: each row's score moved from ``before`` by the value of its leaf
    (``leaf_values``, as grown), so the leaf is the one whose value, added to the row's
    score before, gives its score after, exactly. Rows whose value several leaves share
    get -1; ``None`` (predict every leaf instead) where the scores did not move so.

    ``Booster.predict(pred_leaf=True)`` over the training rows cost 15-24 ms a round at
    10^5 rows and 20 features (one thread; ``bench/boosting.py``'s training), about one
    round of the built-in ``l1`` objective; reading the scores (``LGBM_BoosterGetPredict``,
    the C function LightGBM's own training calls) and matching them, 2.4 ms.
    """
    try:
        lib = sys.modules[type(booster).__module__]._LIB
        after = np.empty_like(before)
        length = ctypes.c_int64(0)
        if lib.LGBM_BoosterGetPredict(
            booster._handle, ctypes.c_int(0), ctypes.byref(length),
            after.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        ) != 0 or length.value != after.size:
            return None
    except Exception:  # noqa: BLE001 - any surprise: predict the leaves
        return None
    values, first, shared = np.unique(leaf_values, return_index=True, return_counts=True)
    # |(after - before) - value| is at most 1.5 ulps of the largest score: within an
    # eighth of the gap between values when they lie 16 ulps apart
    largest = max(np.abs(after).max(), np.abs(before).max(), np.abs(values).max())
    gap = np.diff(values).min() if len(values) > 1 else 1.0
    if not np.isfinite(largest) or gap <= 16 * np.spacing(largest):
        return None
    nearest = _nearest_value(values, gap, after - before)
    if nearest is None or not np.array_equal(before + values[nearest], after):
        return None
    leaves = first[nearest]
    if shared.max() > 1:
        leaves[shared[nearest] > 1] = -1
    return leaves


def _same_array(a, b) -> bool:
    """Whether ``a`` is ``b`` or holds the same entries (``None`` only matches ``None``)."""
    if a is b:
        return True
    if a is None or b is None:
        return False
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


def _nearest_value(values, gap, x):
    """The index of the value of ``values`` (sorted, at least ``gap`` apart) nearest each
    ``x``, for ``x`` each within ``gap / 8`` of one of them: by buckets of width
    ``gap / 4``, each mapped to the value nearest its centre (a value's own bucket and its
    neighbours map to it). ``None`` when there would be more than 2^20 buckets.

    ``np.searchsorted`` of 10^5 unsorted numbers among 31 took 9.3 ms (a mispredicted
    branch a step of each binary search); the buckets, 0.5 ms."""
    if len(values) == 1:
        return np.zeros(len(x), dtype=np.intp)
    width = gap / 4
    origin = values[0] - 2 * width
    count = int((values[-1] - origin) / width) + 3
    if count > 2**20:
        return None
    centres = origin + (np.arange(count) + 0.5) * width
    above = np.clip(np.searchsorted(values, centres), 1, len(values) - 1)
    table = np.where(values[above] - centres < centres - values[above - 1], above, above - 1)
    buckets = ((x - origin) * (1 / width)).astype(np.intp)
    if buckets.min() < 0 or buckets.max() >= count:
        return None
    return table[buckets]


_LIGHTGBM_THREADS = ("num_threads", "num_thread", "nthread", "nthreads", "n_jobs")


class _RefitObjective:
    """The objective half of a :class:`LeafRefit`: the ``lossfns`` objective at the scores
    of the re-fitted trees (the libraries' own running scores keep the trees as grown)."""

    def __init__(self, refit: LeafRefit, base: Objective):
        self._refit, self.base = refit, base

    def __repr__(self) -> str:
        return f"<objective of {self._refit!r}>"

    def __deepcopy__(self, memo):
        return self

    def __call__(self, preds, data, sample_weight=None):
        if hasattr(data, "get_label"):  # native: (raw scores, dataset)
            self._refit._one_dataset(data)
            return self.base(self._refit._scores_for(preds), data)
        return self.base(preds, self._refit._scores_for(data), sample_weight)  # scikit-learn

    def init_score(self, y_true, sample_weight=None, **kwargs):
        """The constant start (:meth:`Objective.init_score`)."""
        return self.base.init_score(y_true, sample_weight=sample_weight, **kwargs)


@functools.cache
def _xgboost_leaf_refit():
    """:class:`LeafRefit` as an XGBoost ``TrainingCallback`` (made on first use, so that
    XGBoost is imported only by someone who trains with it)."""
    from xgboost.callback import TrainingCallback

    class XGBoostLeafRefit(LeafRefit, TrainingCallback):
        """XGBoost cannot set one leaf: the leaves are re-fitted in the running scores
        each round and written into the model's JSON once, when training ends."""

        def before_training(self, model):
            self._model, self._scores, self._next, self._pending = None, None, None, False
            self._written, self._dataset, self._checked = {}, None, None
            self._start(model)
            config = json.loads(model.save_config())["learner"]
            booster = config["gradient_booster"]
            if booster["name"] != "gbtree" or (
                booster["gbtree_model_param"]["num_parallel_tree"] != "1"
            ):
                raise ValueError("refit_leaves needs XGBoost's gbtree booster, one tree a round")
            return model

        def before_iteration(self, model, epoch, evals_log):  # (LightGBM's flag above)
            return False

        def after_iteration(self, model, epoch, evals_log):
            self._start(model)
            tree = model.num_boosted_rounds() - 1
            leaves = model[tree : tree + 1].predict(self._data, pred_leaf=True)
            config = json.loads(model.save_config())["learner"]["gradient_booster"]
            eta = float(config["tree_train_param"]["eta"])
            weight = self._data.get_weight()
            ids, values = self._refit(
                leaves, self._data.get_label(), weight if weight.size else None, eta, np.float32
            )
            self._written[tree] = (ids, values)
            return False

        def after_training(self, model):
            if self._written:
                raw = json.loads(model.save_raw("json"))
                trees = raw["learner"]["gradient_booster"]["model"]["trees"]
                for tree, (ids, values) in self._written.items():
                    for field in ("split_conditions", "base_weights"):
                        column = trees[tree][field]
                        for node, value in zip(ids.tolist(), values.tolist()):
                            column[node] = value
                model.load_model(bytearray(json.dumps(raw).encode()))
            self._model, self._next, self._pending, self._written = None, None, False, {}
            self._dataset, self._checked = None, None
            return model

    return XGBoostLeafRefit


def refit_leaves(objective: Objective, data: Any) -> LeafRefit:
    r"""Re-fit each new tree's leaves to the quantile of its rows' residuals.

    After a tree is grown, the value of each leaf :math:`k` becomes
    :math:`\eta\,v_k` (:func:`leaf_values`): the learning rate times the weighted
    quantile of the residuals :math:`y_i - F_i` of its rows, :math:`F` the scores before
    the tree — what LightGBM's ``l1`` and ``quantile`` objectives do after growing each
    tree, and XGBoost's ``reg:absoluteerror`` and ``reg:quantileerror``. A custom
    objective cannot do it inside either library; this callback does it after each round
    and keeps the scores the next round's gradients see consistent with the re-fitted trees.

    Parameters
    ----------
    objective : Objective
        An :func:`objective` of ``mae``, ``pinball`` or ``mape``. Its gradient and Hessian
        still choose each tree's splits: with ``hessian="constant"`` they are the splits
        of the built-in objectives (unit Hessians), and for MAE the model is theirs
        (measured in :ref:`boosting-refit`).
    data : array_like
        The training rows: for LightGBM their features, as ``Booster.predict`` takes
        them; for XGBoost the training ``xgboost.DMatrix`` itself.

    Returns
    -------
    LeafRefit
        Pass ``refit.objective`` as the objective and ``refit`` among the callbacks.

    Raises
    ------
    ValueError
        For an objective of another loss, one object used for a second model before its
        first run is complete, or training by ``lightgbm.cv`` / ``xgboost.cv`` or with
        DART.

    Notes
    -----
    Each round costs the leaf of every training row — read from LightGBM's own training
    scores (predicted only for rows of leaves that share a value); XGBoost: one
    prediction of the new tree over the training rows — and a selection of the quantile
    among the residuals of each leaf (measured in :ref:`boosting-refit`). One callback
    follows one model with one tree a round: ``lightgbm.cv`` and ``xgboost.cv`` (a model
    per fold) and DART (earlier trees re-scaled each round) are refused. The libraries' own
    evaluation during training (``valid_sets``, ``evals``, early stopping) still sees
    each tree's leaves as grown: LightGBM keeps its running scores of validation data,
    XGBoost receives the re-fitted leaves only when training ends. Evaluate the trained
    model instead. XGBoost: ``gbtree`` with one tree a round; a learning rate that
    changes during training is read as each round ends. With row subsampling (LightGBM's
    ``bagging_fraction``, XGBoost's ``subsample``) the built-in objectives re-fit each leaf
    to its rows in the round's sample only; the callback cannot see the sample and uses
    every training row of the leaf, so those models are not the built-ins'.

    Examples
    --------
    LightGBM::

        obj = lossfns.boosting.objective(lossfns.pinball, quantile=0.9, hessian="constant")
        refit = lossfns.boosting.refit_leaves(obj, X)
        start = obj.init_score(y)
        data = lightgbm.Dataset(X, y, init_score=np.full(len(y), start))
        model = lightgbm.train({"objective": refit.objective}, data, 100, callbacks=[refit])

    XGBoost::

        dtrain = xgboost.DMatrix(X, y)
        refit = lossfns.boosting.refit_leaves(obj, dtrain)
        model = xgboost.train({"base_score": start}, dtrain, 100,
                              obj=refit.objective, callbacks=[refit])
    """
    if not isinstance(objective, Objective):
        raise ValueError(
            f"objective must be made by lossfns.boosting.objective, got {objective!r}"
        )
    if objective.loss not in _LEAF_QUANTILES:
        raise ValueError(
            f"loss {objective.loss.__name__} has no quantile leaf value; leaves can be "
            "re-fitted for mae, pinball and mape"
        )
    if type(data).__module__.startswith("xgboost"):
        return _xgboost_leaf_refit()(objective, data)
    return LeafRefit(objective, data)
