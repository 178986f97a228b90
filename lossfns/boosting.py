"""Losses as gradient-boosting objectives (Part VI of the book).

A gradient-boosted tree library needs two numbers per row and round: the gradient
:math:`g_i` and the Hessian diagonal :math:`h_i` of the loss with respect to the raw score.
A tree's leaf then takes the Newton step :math:`-\\sum g_i / (\\sum h_i + \\lambda)`.
:func:`objective` turns a ``lossfns`` loss into the callable that XGBoost and LightGBM
accept as a custom objective, in their native and scikit-learn interfaces, with a
``hessian=`` policy for losses whose exact Hessian is zero, vanishing or negative;
:func:`init_score` gives the constant score that minimises the loss, the start the
built-in objectives use.

Neither XGBoost nor LightGBM is imported here: the objective only reads the labels and
weights of the dataset it is handed (``get_label()``, ``get_weight()``).

>>> import numpy as np, lossfns
>>> obj = lossfns.boosting.objective(lossfns.binary_cross_entropy_with_logits)
>>> g, h = obj(np.array([1.0, 0.0]), np.array([0.0, 0.0]))   # (y_true, raw score)
>>> g, h
(array([-0.5,  0.5]), array([0.25, 0.25]))
>>> float(lossfns.boosting.init_score(lossfns.mse, [1.0, 2.0, 6.0]))
3.0
"""

from __future__ import annotations

import numbers
from typing import Any, Callable

import numpy as np
from scipy import optimize

from . import classification, ltv, regression
from ._core import ElementwiseLoss, Loss, check_scalar, nonnegative, real_array

__all__ = [
    "objective",
    "init_score",
    "Objective",
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
    "fisher": "the expected Hessian under the model (ZILN: positive for every output)",
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

    >>> softmax_hessian_factor("lightgbm", 3)
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

    def __repr__(self) -> str:
        hyper = "".join(f", {k}={v!r}" for k, v in self.hyper.items())
        return f"<objective {self.loss.__name__}, hessian={self.hessian!r}{hyper}>"

    # -- the two call forms

    def __call__(self, preds, data, sample_weight=None):
        if hasattr(data, "get_label"):  # native interfaces: (raw scores, dataset)
            y, w, scores = data.get_label(), data.get_weight(), preds
            # flat multiclass scores: LightGBM lays classes out one after the other
            # ("F" order), XGBoost row by row ("C")
            order = "F" if type(data).__module__.startswith("lightgbm") else "C"
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
        y = real_array(y_true, "y_true", finite=False)
        if y.dtype.kind == "f" or self.loss is not classification.softmax_cross_entropy:
            y = y.astype(dtype, copy=False)
        if sample_weight is not None:
            sample_weight = real_array(sample_weight, "sample_weight", dtype)
        if self.loss is classification.softmax_cross_entropy:
            return self._softmax(y, scores, sample_weight, _flat_order)
        if self.loss is ltv.ziln_loss:
            return self._ziln(y, scores, sample_weight, _flat_order)
        return self._elementwise(y, scores, sample_weight)

    def _elementwise(self, y, p, w):
        policy = self.hessian
        if policy in ("exact", "floor"):
            g, h = _grad_hess(self.loss, y, p, w, self.hyper)
            if policy == "floor":
                h = np.maximum(h, self._weighted(self.floor, w, p))
            return g, h
        g = self.loss.grad(y, p, **self.hyper, sample_weight=w, reduction="sum")
        if policy == "majoriser":
            curvature = _POLICIES[self.loss][2]
            min_residual = self.min_residual
            if min_residual == "auto":
                min_residual = _auto_min_residual(y, p)
            h = np.asarray(curvature(y, p, self.hyper, min_residual), dtype=p.dtype)
            return g, (h if w is None else h * w)
        return g, self._weighted(policy, w, p)  # a constant

    @staticmethod
    def _weighted(value, w, like):
        if w is None:
            return np.full_like(like, value)
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
        g, h = ziln_grad_hess(y, logits, sample_weight=w, hessian=self.hessian)
        if self.hessian == "floor":
            h = np.maximum(h, self._weighted(self.floor, None if w is None else w[:, None], h))
        if flat:
            return g.ravel(order=order), h.ravel(order=order)
        return g, h

    # -- the start

    def init_score(self, y_true, sample_weight=None, **kwargs):
        """The constant raw score that minimises this objective's loss (see :func:`init_score`)."""
        return init_score(self.loss, y_true, sample_weight=sample_weight, **self.hyper, **kwargs)


def _grad_hess(loss, y, p, w, hyper):
    if hasattr(loss, "grad_hess"):
        return loss.grad_hess(y, p, **hyper, sample_weight=w, reduction="sum")
    return (
        loss.grad(y, p, **hyper, sample_weight=w, reduction="sum"),
        loss.hess(y, p, **hyper, sample_weight=w, reduction="sum"),
    )


def _auto_min_residual(y, p):
    """Residuals below this count as this in a kink majoriser: a third of the round's mean
    absolute residual (1 when every residual is 0). Measured against a tenth and a
    thirtieth in ``bench/boosting.py``: the smaller the floor, the more a leaf's step is
    held back by its rows that are nearly fitted."""
    scale = float(np.mean(np.abs(p - y), dtype=np.float64)) / 3
    return scale if scale > 0 else 1.0


def _class_labels(y, n_classes):
    """Class labels as integers: integer-valued floats (XGBoost and LightGBM hand labels
    over as float32) are accepted; probability rows pass through."""
    if y.ndim == 2:
        return y
    if y.dtype.kind == "f":
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
    model, :math:`2r^2` (``hessian="fisher"``, the Fisher information: positive). The
    gradient is ``ziln_loss.grad(..., reduction="sum")``. Derived in :ref:`boosting-ziln`.
    """
    dtype = logits.dtype
    g = ltv.ziln_loss.grad(y_true, logits, sample_weight=sample_weight, reduction="sum")
    y = np.asarray(y_true, dtype=np.float64)
    l0, mu, l2 = np.asarray(logits, dtype=np.float64).T
    buyer = y > 0
    e0 = np.exp(-np.abs(l0))
    p_q = e0 / (1 + e0) ** 2  # p(1 - p) from one exp(-|l0|)
    e2 = np.exp(-np.abs(l2))
    sigma = np.maximum(l2, 0) + np.log1p(e2)
    s = np.where(l2 >= 0, 1 / (1 + e2), e2 / (1 + e2))
    r = s / sigma
    h = np.empty((len(y), 3))
    h[:, 0] = p_q
    h[:, 1] = np.where(buyer, 1 / (sigma * sigma), 0.0)
    if hessian == "exact":
        log_y = np.log(np.where(buyer, y, 1.0))
        z = (log_y - mu) / sigma
        z2 = z * z
        curvature = 2 * z2 * r * r + (1 - z2) * (s * (1 - s) / sigma - r * r)
    else:
        curvature = 2 * r * r
    h[:, 2] = np.where(buyer, curvature, 0.0)
    if sample_weight is not None:
        h *= np.asarray(sample_weight, dtype=np.float64)[:, None]
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

    Examples
    --------
    >>> import numpy as np, lossfns
    >>> obj = objective(lossfns.huber, delta=1.0)
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
    if loss is classification.softmax_cross_entropy:
        loss([0], np.zeros((1, 2)), **hyper)
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
    logistic loss); the log of the weighted class frequencies, smoothed and class-weighted
    as the loss is (softmax, a vector of K); for ZILN the logit of the share of buyers, the
    mean and the scale logit :math:`\operatorname{softplus}^{-1}` of the standard deviation
    of :math:`\log y` over buyers (a vector of 3). Otherwise (Huber, log-cosh, SMAPE,
    focal, the hinges) a root of the summed gradient by Brent's method.

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
        buyer or one value of ``log y`` among buyers), with the argument named.

    Examples
    --------
    >>> import lossfns
    >>> float(init_score(lossfns.mae, [1.0, 2.0, 10.0, 11.0]))
    6.0
    >>> init_score(lossfns.softmax_cross_entropy, [0, 1, 1, 2])
    array([-1.38629436, -0.69314718, -1.38629436])
    """
    if loss is classification.softmax_cross_entropy:
        return _softmax_init(y_true, sample_weight, n_classes, **hyper)
    y = real_array(y_true, "y_true", np.dtype(np.float64))
    if y.ndim != 1:
        raise ValueError(f"y_true must be one-dimensional, got shape {y.shape}")
    w = None
    if sample_weight is not None:
        w = real_array(sample_weight, "sample_weight", np.dtype(np.float64))
        if w.shape != y.shape:
            raise ValueError(f"sample_weight has shape {w.shape}; it must be {y.shape}")
        nonnegative("sample_weight")(w)
        if not w.sum() > 0:
            raise ValueError("sample_weight sums to zero; no minimiser is defined")
    ones = np.ones_like(y) if w is None else w
    if loss is ltv.ziln_loss:
        loss(y, np.zeros((len(y), 3)), **hyper)  # validates y and hyper
        return _ziln_init(y, ones)
    if loss in _NOT_AN_OBJECTIVE:
        raise ValueError(f"loss {loss.__name__} {_NOT_AN_OBJECTIVE[loss]}")
    if loss not in _POLICIES:
        raise ValueError(f"loss {getattr(loss, '__name__', loss)} has no init_score")
    loss(y, np.zeros_like(y), **hyper, sample_weight=w)  # the loss validates y and hyper
    if loss is regression.mse:
        return np.float64(np.dot(ones, y) / ones.sum())
    if loss is regression.mae:
        return _weighted_quantile(y, ones, 0.5)
    if loss is regression.pinball:
        return _weighted_quantile(y, ones, hyper.get("quantile", 0.5))
    if loss is regression.mape:
        return _weighted_quantile(y, ones / np.abs(y), 0.5)
    if loss is classification.binary_cross_entropy_with_logits:
        pos_weight = hyper.get("pos_weight")
        return _log_odds(np.dot(ones, y), np.dot(ones, 1 - y), pos_weight)
    if loss is classification.logistic_loss:
        return _log_odds(np.dot(ones, y > 0), np.dot(ones, y < 0), None)
    return _root_of_gradient(loss, y, w, hyper)


def _weighted_quantile(y, w, q):
    """Minimiser of sum w rho_q(y - c): the smallest y with cumulative weight >= qW, or the
    midpoint of the interval of minimisers when the cumulative weight hits qW exactly."""
    order = np.argsort(y, kind="stable")
    ys, cw = y[order], np.cumsum(w[order])
    target = q * cw[-1]
    k = int(np.searchsorted(cw, target, side="left"))
    k = min(k, len(ys) - 1)
    if cw[k] == target and k + 1 < len(ys):
        nxt = k + 1 + int(np.searchsorted(cw[k + 1 :], cw[k], side="right"))  # skip zero weights
        return np.float64((ys[k] + ys[min(nxt, len(ys) - 1)]) / 2)
    return np.float64(ys[k])


def _log_odds(positive, negative, pos_weight):
    if pos_weight is not None:
        pos_weight = np.asarray(pos_weight, dtype=np.float64)
        if pos_weight.ndim:
            raise ValueError("pos_weight must be a scalar for init_score")
        positive = positive * pos_weight
    if not positive > 0:
        raise ValueError("y_true has no positive label: the minimising score is -inf")
    if not negative > 0:
        raise ValueError("y_true has no negative label: the minimising score is +inf")
    return np.float64(np.log(positive) - np.log(negative))


def _softmax_init(y_true, sample_weight, n_classes, label_smoothing=0.0, class_weight=None):
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
    return np.log(mean)


def _ziln_init(y, w):
    buyer = y > 0
    if not buyer.any():
        raise ValueError("y_true has no positive value: the ZILN purchase logit is -inf")
    if buyer.all():
        raise ValueError("y_true has no zero: the ZILN purchase logit is +inf")
    wb = w[buyer]
    if not wb.sum() > 0:
        raise ValueError("sample_weight is zero on every positive y_true")
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

    def slope(c):
        g = loss.grad(y, np.full_like(y, c), **hyper, sample_weight=w, reduction="sum")
        return float(np.sum(g))

    def total(c):
        return float(loss(y, np.full_like(y, c), **hyper, sample_weight=w, reduction="sum"))

    if loss in (regression.huber, regression.log_cosh, regression.smape):
        lo, hi = float(y.min()), float(y.max())
        if lo == hi:
            return np.float64(lo)
        if loss is regression.smape:  # not convex: start from the best data point
            candidates = np.unique(np.quantile(y, np.linspace(0, 1, 201)))
            values = [total(c) for c in candidates]
            k = int(np.argmin(values))
            lo, hi = candidates[max(k - 1, 0)], candidates[min(k + 1, len(candidates) - 1)]
            res = optimize.minimize_scalar(total, bounds=(lo, hi), method="bounded",
                                           options={"xatol": 1e-12 * max(1.0, abs(hi))})
            best = min((res.x, candidates[k]), key=total)
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
    return np.float64(optimize.brentq(slope, lo, hi, xtol=1e-14, rtol=4 * np.finfo(float).eps))
