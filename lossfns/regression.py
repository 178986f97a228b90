"""Regression losses (Part III of the book): squared, absolute, Huber, percentage, quantile
and log-cosh errors; regression as classification over buckets; and the weighted logistic
regression that predicts expected watch time.

Every pointwise loss here takes ``(y_true, y_pred)`` and is elementwise, so it has
``.grad`` and ``.hess`` with respect to ``y_pred``. Where a loss has a kink (MAE and the
pinball loss at a zero residual, SMAPE at a zero residual or a zero prediction), the
derivative taken there is 0.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._core import (
    Terms,
    check_same_shape,
    check_scalar,
    elementwise_loss,
    finite,
    float_dtype,
    nonnegative,
    one_of,
    overflowed,
    paired_arrays,
    real_array,
)
from ._namespace import array_namespace, bincount, device, dispatched, set_entries
from ._stable import Logistic, Softmax

__all__ = [
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
]

_LOG2 = float(np.log(2.0))

_PAIR_CHECKS = ((0, finite("y_true")), (1, finite("y_pred")))


def _terms(formula, y_true, y_pred, sample_weight, reduction, checks=(), **hyper):
    """Terms of a pointwise loss of ``(y_true, y_pred)``: both finite (and ``checks``),
    evaluated block by block; ``hyper`` are cast to the computation's dtype."""
    y, p, dtype = paired_arrays(y_true, y_pred, ("y_true", "y_pred"), sample_weight)
    return Terms(
        formula,
        (y, p),
        sample_shape=p.shape,
        sample_weight=sample_weight,
        reduction=reduction,
        dtype=dtype,
        rowwise=True,
        checks=_PAIR_CHECKS + checks,
        **{name: dtype.type(value) for name, value in hyper.items()},
    )


def _half_residual(y, p):
    """``(p - y) / 2`` where ``p - y`` is beyond the float range (so ``y`` and ``p`` have
    opposite signs): ``p/2 - y/2``, the halves exact, rounded once to nearest with a tie
    rounded **toward zero** (not to even). At the tie ``|p - y| = max + ulp/2``, which
    rounds to infinity, twice the half is then ``max``: a loss ``|r| - k`` with ``k > 0``
    below an ulp (Huber with delta = 1, log-cosh) is finite there and rounds to ``max``."""
    xp = array_namespace(p)
    big = xp.maximum(xp.abs(p / 2), xp.abs(y / 2))
    small = xp.minimum(xp.abs(p / 2), xp.abs(y / 2))
    size = big + small
    below = xp.nextafter(size, xp.zeros_like(size))
    # big + small - size exactly (size - big is exact): -(size - below) / 2 at a tie rounded up
    error = small - (size - big)
    tie = error == (below - size) / 2
    return xp.copysign(xp.where(tie, below, size), p - y)


# ------------------------------------------------------------------ squared, absolute


def _mse_formula(y, p, *, value, grad, hess):
    # (mse): loss = r^2,  grad = 2 r,  hess = 2,  with r = p - y
    xp = array_namespace(p)
    r = p - y
    return (
        r * r if value else None,
        2 * r if grad else None,
        xp.full_like(p, 2) if hess else None,
    )


@elementwise_loss(_mse_formula, footprint=5)
def mse(y_true, y_pred, *, sample_weight=None, reduction="mean"):
    r"""Squared error of predictions.

    .. math::

        \ell(y, \hat y) = (y - \hat y)^2 .

    Parameters
    ----------
    y_true : array_like
        Targets, any shape.
    y_pred : array_like
        Predictions :math:`\hat y`, same shape as ``y_true``.
    sample_weight : array_like, optional
        Non-negative weights, of the loss's shape or a leading part of it (one per row).
    reduction : {"mean", "sum", "none"}
        ``"mean"`` is the weighted mean :math:`\sum w_i\ell_i / \sum w_i`; ``"none"``
        returns the weighted terms, of the shape of ``y_pred``.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss, float32 when every float input is float32, else float64.

    Notes
    -----
    The negative log-likelihood of Gaussian noise, up to scale and a constant; its best
    constant prediction is the mean (see :ref:`regression-mle`). ``grad`` is
    :math:`2(\hat y - y)`, ``hess`` is 2.

    References
    ----------
    - PyTorch, ``torch.nn.functional.mse_loss``; scikit-learn,
      ``sklearn.metrics.mean_squared_error``.

    Examples
    --------
    >>> import lossfns
    >>> float(lossfns.mse([1.0, 2.0, 3.0, 4.0], [1.5, 2.0, 1.0, 4.0]))
    1.0625
    >>> lossfns.mse.grad([1.0, 2.0], [1.5, 2.0], reduction="sum")
    array([1., 0.])
    """
    return _terms(_mse_formula, y_true, y_pred, sample_weight, reduction)


def _mae_formula(y, p, *, value, grad, hess):
    # (mae): loss = |r|,  grad = sign(r) (0 at the kink r = 0),  hess = 0,  with r = p - y
    xp = array_namespace(p)
    r = p - y
    return (
        xp.abs(r) if value else None,
        xp.sign(r) if grad else None,
        xp.zeros_like(p) if hess else None,
    )


@elementwise_loss(_mae_formula, footprint=5)
def mae(y_true, y_pred, *, sample_weight=None, reduction="mean"):
    r"""Absolute error of predictions.

    .. math::

        \ell(y, \hat y) = |y - \hat y| .

    Parameters
    ----------
    y_true : array_like
        Targets, any shape.
    y_pred : array_like
        Predictions :math:`\hat y`, same shape as ``y_true``.
    sample_weight : array_like, optional
        Non-negative weights, of the loss's shape or a leading part of it (one per row).
    reduction : {"mean", "sum", "none"}
        ``"mean"`` is the weighted mean; ``"none"`` returns the weighted terms.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss, float32 when every float input is float32, else float64.

    Notes
    -----
    The negative log-likelihood of Laplace noise, up to scale and a constant; its best
    constant prediction is a median (see :ref:`regression-mle` and
    :ref:`regression-mean-median`). ``grad`` is :math:`\operatorname{sign}(\hat y - y)`,
    **0 at the kink** :math:`\hat y = y`; ``hess`` is 0.

    References
    ----------
    - PyTorch, ``torch.nn.functional.l1_loss``; scikit-learn,
      ``sklearn.metrics.mean_absolute_error``.

    Examples
    --------
    >>> import lossfns
    >>> float(lossfns.mae([1.0, 2.0, 3.0, 4.0], [1.5, 2.0, 1.0, 4.0]))
    0.625
    >>> lossfns.mae.grad([1.0, 2.0, 3.0], [1.5, 2.0, 1.0], reduction="sum")
    array([ 1.,  0., -1.])
    """
    return _terms(_mae_formula, y_true, y_pred, sample_weight, reduction)


def _huber_formula(y, p, *, delta, value, grad, hess):
    # (huber): with r = p - y and the gradient c = clip(r, -delta, delta),
    #   loss = c (r - c/2)  (r^2/2 where |r| <= delta, delta (|r| - delta/2) beyond),
    #   grad = c,  hess = 1 where |r| < delta, else 0 (0 at the jump |r| = delta)
    xp = array_namespace(p)
    r = p - y
    # (the method: np.clip's argument handling costs 7 us a block, 5 % of a call at 10^5)
    c = r.clip(-delta, delta)
    if value:
        loss = c * (r - 0.5 * c)
        if overflowed(loss):  # |r| beyond the float range, delta (|r| - delta/2) maybe not
            beyond = xp.isinf(r)
            loss = set_entries(loss, beyond, _huber_beyond_range(y[beyond], p[beyond], delta))
    return (
        loss if value else None,
        c if grad else None,
        xp.astype(xp.abs(r) < delta, p.dtype) if hess else None,
    )


def _huber_beyond_range(y, p, delta):
    # (huber) where r = p - y overflows, so |r| > delta: from the half residual h = r / 2,
    #   loss = delta (|r| - delta/2) = 2 delta (|h| - delta/4)
    return 2 * delta * (array_namespace(p).abs(_half_residual(y, p)) - delta / 4)


@elementwise_loss(_huber_formula, footprint=5)
def huber(y_true, y_pred, *, delta=1.0, sample_weight=None, reduction="mean"):
    r"""Huber loss: quadratic for small residuals, linear for large ones.

    .. math::

        \ell(y, \hat y) = \begin{cases}
            \tfrac12 r^2, & |r| \le \delta, \\
            \delta\,\bigl(|r| - \tfrac12\delta\bigr), & |r| > \delta,
        \end{cases} \qquad r = \hat y - y .

    Parameters
    ----------
    y_true : array_like
        Targets, any shape.
    y_pred : array_like
        Predictions :math:`\hat y`, same shape as ``y_true``.
    delta : float
        :math:`\delta > 0`, where the quadratic part meets the linear part.
    sample_weight : array_like, optional
        Non-negative weights, of the loss's shape or a leading part of it (one per row).
    reduction : {"mean", "sum", "none"}
        ``"mean"`` is the weighted mean; ``"none"`` returns the weighted terms.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss, float32 when every float input is float32, else float64.

    Notes
    -----
    Value and gradient are continuous at :math:`|r| = \delta` (see
    :ref:`huber-loss`). ``grad`` is :math:`\operatorname{clip}(r, -\delta, \delta)`:
    its size never exceeds :math:`\delta`, which bounds the influence of one outlier.
    ``hess`` is 1 for :math:`|r| < \delta` and 0 for :math:`|r| \ge \delta` (the second
    derivative jumps at :math:`\pm\delta`, where the library takes **0**). PyTorch's
    ``smooth_l1_loss`` with ``beta`` is this loss with :math:`\delta = \beta`, divided by
    :math:`\beta`.

    References
    ----------
    - P. J. Huber, "Robust estimation of a location parameter", 1964
      :cite:p:`huber1964robust`.
    - PyTorch, ``torch.nn.functional.huber_loss``.

    Examples
    --------
    >>> import lossfns
    >>> lossfns.huber([0.0, 0.0], [0.5, 3.0], delta=1.0, reduction="none")
    array([0.125, 2.5  ])
    >>> lossfns.huber.grad([0.0, 0.0], [0.5, 3.0], delta=1.0, reduction="none")
    array([0.5, 1. ])
    """
    delta = check_scalar(delta, "delta", low=0, low_inclusive=False)
    return _terms(_huber_formula, y_true, y_pred, sample_weight, reduction, delta=delta)


# -------------------------------------------------------------------- percentage errors


def _mape_formula(y, p, *, value, grad, hess):
    # (mape): loss = 100 |r| / |y|,  grad = 100 sign(r) / |y| (0 at the kink r = 0),
    #   hess = 0,  with r = p - y; |r| / |y| is formed first (100 / |y| overflows for tiny y)
    xp = array_namespace(p)
    r = p - y
    size = xp.abs(y)
    if value:
        loss = 100 * (xp.abs(r) / size)
        if overflowed(r):  # |r| beyond the float range, |r| / |y| maybe not: from r / 2
            beyond = xp.isinf(r)
            half = _half_residual(y[beyond], p[beyond])
            loss = set_entries(loss, beyond, 200 * (xp.abs(half) / size[beyond]))
    return (
        loss if value else None,
        100 * (xp.sign(r) / size) if grad else None,
        xp.zeros_like(p) if hess else None,
    )


def _nonzero_targets(y):
    xp = array_namespace(y)
    if not bool(xp.all(y != 0)):
        raise ValueError("y_true contains a zero target; the percentage error is undefined there")


@elementwise_loss(_mape_formula, footprint=6)
def mape(y_true, y_pred, *, sample_weight=None, reduction="mean"):
    r"""Absolute percentage error, in percent.

    .. math::

        \ell(y, \hat y) = 100\,\frac{|y - \hat y|}{|y|}, \qquad y \ne 0 .

    Parameters
    ----------
    y_true : array_like
        Targets, any shape, none of them 0.
    y_pred : array_like
        Predictions :math:`\hat y`, same shape as ``y_true``.
    sample_weight : array_like, optional
        Non-negative weights, of the loss's shape or a leading part of it (one per row).
    reduction : {"mean", "sum", "none"}
        ``"mean"`` is the weighted mean; ``"none"`` returns the weighted terms.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss in percent, float32 when every float input is float32, else
        float64.

    Raises
    ------
    ValueError
        If a target is 0: the percentage error is undefined there. (scikit-learn's
        ``mean_absolute_percentage_error`` divides by ``max(|y|, eps)`` instead and
        returns a huge finite number; it also returns a fraction, not percent.)

    Notes
    -----
    Unbounded above; it is the absolute error weighted by :math:`100/|y|`, so its best
    constant prediction is a weighted median that lies below the median — MAPE is biased
    low (see :ref:`mape-smape`). ``grad`` is :math:`100\operatorname{sign}(\hat y -
    y)/|y|`, **0 at the kink** :math:`\hat y = y`; ``hess`` is 0.

    References
    ----------
    - R. J. Hyndman, A. B. Koehler, "Another look at measures of forecast accuracy",
      2006 :cite:p:`hyndman2006another`.

    Examples
    --------
    >>> import lossfns
    >>> lossfns.mape([100.0, 200.0], [110.0, 150.0], reduction="none")
    array([10., 25.])
    """
    return _terms(_mape_formula, y_true, y_pred, sample_weight, reduction,
                  checks=((0, _nonzero_targets),))


def _smape_formula(y, p, *, value, grad, hess):
    # (smape): loss = 200 |p - y| / D with D = |y| + |p| (0/0 = 0). Where y and p differ in
    # sign, or one is 0, |p - y| = D: the loss is flat at 200 (0 at y = p = 0). Where they
    # share a sign, with b = max(|y|, |p|) and D = b (1 + q), q = min(|y|, |p|) / b (so
    # that nothing overflows: D itself can),
    #   loss = 200 |p - y| / b / (1 + q),   grad = 400 sign(p - y) |y| / D^2,
    #   hess = -2 sign(p) grad / D          (0 at the kinks p = y and p = 0)
    xp = array_namespace(p)
    ay, ap = xp.abs(y), xp.abs(p)
    b = xp.maximum(ay, ap)
    one_plus_q = 1 + xp.minimum(ay, ap) / b
    same = xp.sign(y) * xp.sign(p) > 0
    if grad or hess:  # sign(p - y) first: 0 at the kink p = y, where |y| / D^2 can overflow
        slope = xp.where(same, xp.sign(p - y) * ay / b / one_plus_q / b / one_plus_q, 0)
    return (
        200 * xp.where(same, xp.abs(p - y) / b / one_plus_q, xp.sign(b)) if value else None,
        400 * slope if grad else None,
        xp.where(same, -800 * xp.sign(p) * (slope / b / one_plus_q), 0) if hess else None,
    )


@elementwise_loss(_smape_formula, footprint=11)
def smape(y_true, y_pred, *, sample_weight=None, reduction="mean"):
    r"""Symmetric absolute percentage error, in percent, in [0, 200].

    .. math::

        \ell(y, \hat y) = 100\,\frac{2\,|y - \hat y|}{|y| + |\hat y|},
        \qquad \tfrac00 = 0 .

    Parameters
    ----------
    y_true : array_like
        Targets, any shape.
    y_pred : array_like
        Predictions :math:`\hat y`, same shape as ``y_true``.
    sample_weight : array_like, optional
        Non-negative weights, of the loss's shape or a leading part of it (one per row).
    reduction : {"mean", "sum", "none"}
        ``"mean"`` is the weighted mean; ``"none"`` returns the weighted terms.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss in percent, float32 when every float input is float32, else
        float64.

    Notes
    -----
    Bounded: :math:`0 \le \ell \le 200`, with 200 exactly when :math:`y` and
    :math:`\hat y` have opposite signs or one of them is 0 (and the other is not); yet
    not symmetric between over- and under-prediction: for :math:`y > 0` an
    under-prediction by :math:`d` costs :math:`200d/(2y - d)`, an over-prediction
    :math:`200d/(2y + d)` (see :ref:`mape-smape`). ``grad`` is
    :math:`400\operatorname{sign}(\hat y - y)\,|y|/(|y| + |\hat y|)^2` where :math:`y`
    and :math:`\hat y` have the same sign, and 0 elsewhere — **0 at the kinks**
    :math:`\hat y = y` and :math:`\hat y = 0`, and on the flat part where the signs
    differ; ``hess`` is :math:`-2\operatorname{sign}(\hat y)\,\mathrm{grad}/(|y| +
    |\hat y|)`.

    References
    ----------
    - R. J. Hyndman, A. B. Koehler, "Another look at measures of forecast accuracy",
      2006 :cite:p:`hyndman2006another`.

    Examples
    --------
    >>> import lossfns
    >>> lossfns.smape([100.0, 100.0, 0.0, 1.0], [50.0, 150.0, 0.0, -1.0], reduction="none")
    array([ 66.66666667,  40.        ,   0.        , 200.        ])
    """
    return _terms(_smape_formula, y_true, y_pred, sample_weight, reduction)


# ----------------------------------------------------------------- quantile, log-cosh


def _pinball_formula(y, p, *, quantile, value, grad, hess):
    # (pinball): loss = max(tau u, (tau - 1) u) with u = y - p (> 0 when p is too low),
    #   grad = [u < 0] - tau [u != 0]: -tau where u > 0, 1 - tau where u < 0, 0 at the kink;
    #   hess = 0
    xp = array_namespace(p)
    u = y - p
    if value:
        loss = xp.maximum(quantile * u, (quantile - 1) * u)
        if overflowed(u):  # |u| beyond the float range, tau |u| maybe not: from u / 2
            beyond = xp.isinf(u)
            half = _half_residual(p[beyond], y[beyond])
            loss = set_entries(loss, beyond, 2 * xp.maximum(quantile * half, (quantile - 1) * half))
    if grad:
        below, off_kink = xp.astype(u < 0, p.dtype), xp.astype(u != 0, p.dtype)
    return (
        loss if value else None,
        below - quantile * off_kink if grad else None,
        xp.zeros_like(p) if hess else None,
    )


@elementwise_loss(_pinball_formula, footprint=7)
def pinball(y_true, y_pred, *, quantile=0.5, sample_weight=None, reduction="mean"):
    r"""Pinball (quantile) loss.

    .. math::

        \ell_\tau(y, \hat y) = \max\bigl(\tau\,(y - \hat y),\; (\tau - 1)(y - \hat y)\bigr),
        \qquad \tau = \text{quantile} \in (0, 1) .

    Parameters
    ----------
    y_true : array_like
        Targets, any shape.
    y_pred : array_like
        Predictions :math:`\hat y`, same shape as ``y_true``.
    quantile : float
        :math:`\tau`, strictly between 0 and 1; 0.5 gives half the absolute error.
    sample_weight : array_like, optional
        Non-negative weights, of the loss's shape or a leading part of it (one per row).
    reduction : {"mean", "sum", "none"}
        ``"mean"`` is the weighted mean; ``"none"`` returns the weighted terms.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss, float32 when every float input is float32, else float64.

    Notes
    -----
    Its best constant prediction is the :math:`\tau`-quantile of the targets (see
    :ref:`pinball-loss`). ``grad`` is :math:`-\tau` where :math:`\hat y < y` and
    :math:`1 - \tau` where :math:`\hat y > y`, **0 at the kink**; ``hess`` is 0.

    References
    ----------
    - R. Koenker, G. Bassett, "Regression quantiles", Econometrica 46, 1978
      :cite:p:`koenker1978regression`.
    - scikit-learn, ``sklearn.metrics.mean_pinball_loss``.

    Examples
    --------
    >>> import lossfns
    >>> lossfns.pinball([10.0, 10.0], [8.0, 12.0], quantile=0.9, reduction="none")
    array([1.8, 0.2])
    """
    tau = check_scalar(quantile, "quantile", low=0, low_inclusive=False, high=1)
    if tau == 1:
        raise ValueError(f"quantile must be < 1, got {tau}")
    return _terms(_pinball_formula, y_true, y_pred, sample_weight, reduction, quantile=tau)


def _log_cosh_formula(y, p, *, value, grad, hess):
    # (log-cosh): with r = p - y, a = |r| and e = exp(-2a) <= 1,
    #   loss = log cosh r = a + log1p(e) - log 2  (never overflows), taken for a <= 1 as
    #          log1p(2 sinh(a/2)^2)  (no cancellation as r -> 0),
    #   grad = tanh r,  hess = 1 - tanh^2 r = 4 e / (1 + e)^2
    xp = array_namespace(p)
    r = p - y
    a = xp.abs(r)
    e = xp.exp(-2 * a)
    if value:
        half_sinh = xp.sinh(xp.minimum(a, 1) / 2)
        small = xp.log1p(2 * half_sinh * half_sinh)
        loss = xp.where(a <= 1, small, a + xp.log1p(e) - _LOG2)
        if overflowed(r):  # |r| beyond the float range: |r| - log 2 is finite at one tie
            beyond = xp.isinf(a)
            half = _half_residual(y[beyond], p[beyond])
            loss = set_entries(loss, beyond, 2 * (xp.abs(half) - _LOG2 / 2))
    return (
        loss if value else None,
        xp.tanh(r) if grad else None,
        4 * e / ((1 + e) * (1 + e)) if hess else None,
    )


@elementwise_loss(_log_cosh_formula, footprint=12)
def log_cosh(y_true, y_pred, *, sample_weight=None, reduction="mean"):
    r"""Log-cosh loss: about :math:`r^2/2` for small residuals, :math:`|r| - \log 2` for large.

    .. math::

        \ell(y, \hat y) = \log\cosh(\hat y - y)
        = |r| + \log\bigl(1 + e^{-2|r|}\bigr) - \log 2, \qquad r = \hat y - y .

    Parameters
    ----------
    y_true : array_like
        Targets, any shape.
    y_pred : array_like
        Predictions :math:`\hat y`, same shape as ``y_true``.
    sample_weight : array_like, optional
        Non-negative weights, of the loss's shape or a leading part of it (one per row).
    reduction : {"mean", "sum", "none"}
        ``"mean"`` is the weighted mean; ``"none"`` returns the weighted terms.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss, float32 when every float input is float32, else float64.

    Notes
    -----
    A smooth relative of the Huber loss (see :ref:`log-cosh-loss`). ``grad`` is
    :math:`\tanh r`, bounded by 1; ``hess`` is :math:`1 - \tanh^2 r =
    4e^{-2|r|}/(1 + e^{-2|r|})^2 > 0`. Computing :math:`\cosh r` overflows for
    :math:`|r| > 710`; the form above does not, and for :math:`|r| \le 1` the value is
    taken as :math:`\operatorname{log1p}(2\sinh^2(r/2))`, which keeps its relative
    accuracy as :math:`r \to 0`.

    References
    ----------
    - TensorFlow, ``tf.keras.losses.LogCosh``.

    Examples
    --------
    >>> import lossfns
    >>> lossfns.log_cosh([0.0, 0.0, 0.0], [1e-5, 1.0, 1000.0], reduction="none")
    array([5.00000000e-11, 4.33780830e-01, 9.99306853e+02])
    """
    return _terms(_log_cosh_formula, y_true, y_pred, sample_weight, reduction)


# ------------------------------------------------------- regression as classification


def _vector(x, name, dtype=None):
    a = real_array(x, name, dtype)
    if a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {tuple(a.shape)}")
    return a


def _check_edges(edges):
    e = _vector(edges, "edges")
    if e.shape[0] < 2:
        raise ValueError(f"edges must hold at least 2 values (one bucket), got {e.shape[0]}")
    # compared, not subtracted: unsigned differences wrap around
    if bool(array_namespace(e).any(e[1:] <= e[:-1])):
        raise ValueError("edges must be strictly increasing")
    return e


def _midpoints(low, high):
    """``(low + high) / 2`` within ``[low, high]``, also where ``high - low`` overflows: the
    halves are exact for normal numbers, so this rounds as ``low + (high - low) / 2``."""
    with np.errstate(under="ignore"):  # a subnormal half rounds; the result stays in range
        return low + (high / 2 - low / 2)


def _check_n_buckets(n_buckets):
    if isinstance(n_buckets, (bool, np.bool_)) or not isinstance(n_buckets, numbers.Integral):
        raise TypeError(f"n_buckets must be an integer, got {n_buckets!r}")
    if n_buckets < 2:
        raise ValueError(f"n_buckets must be >= 2, got {n_buckets}")
    return int(n_buckets)


@dispatched(dask="gather")  # a sort needs every target
def equal_frequency_edges(y, n_buckets):
    r"""Bucket edges that put about the same number of targets in each bucket.

    With the targets sorted, :math:`y_{(0)} \le \dots \le y_{(N-1)}`, and
    :math:`j_k = \lfloor kN/B\rfloor` for :math:`B` = ``n_buckets``, the edges are
    :math:`e_0 = y_{(0)}`, the midpoints
    :math:`e_k = \tfrac12\bigl(y_{(j_k - 1)} + y_{(j_k)}\bigr)` for :math:`0 < k < B`,
    and :math:`e_B = y_{(N-1)}`. Bucket :math:`k` is :math:`[e_k, e_{k+1})`, the last
    one closed (see :func:`bucketize`). Without ties, bucket :math:`k` holds exactly the
    targets of sorted positions :math:`j_k` to :math:`j_{k+1} - 1`, so the counts differ
    by at most one.

    Parameters
    ----------
    y : array_like
        Training targets, shape ``(N,)``, with at least 2 distinct values.
    n_buckets : int
        :math:`B \ge 2`, the number of buckets wanted; at most :math:`N` come back.

    Returns
    -------
    ndarray
        Strictly increasing edges, shape ``(m + 1,)`` with :math:`1 \le m \le B`
        buckets, float32 when ``y`` is float32, else float64.

    Notes
    -----
    **Ties.** Equal targets always share a bucket: where a run of equal values straddles
    a split, the midpoint is that value and the whole run goes to the upper bucket. Edges
    that coincide are merged, and an edge whose bucket would be empty is dropped, so with
    heavy ties (or :math:`B > N`) **fewer than** :math:`B` buckets come back
    (``len(edges) - 1`` of them) and none is empty. Used in :ref:`regression-buckets`.

    Examples
    --------
    >>> import lossfns
    >>> lossfns.equal_frequency_edges([5.0, 1.0, 2.0, 8.0, 3.0, 4.0], 3)
    array([1. , 2.5, 4.5, 8. ])
    >>> lossfns.equal_frequency_edges([0.0, 0.0, 0.0, 0.0, 1.0, 2.0], 3)  # ties
    array([0. , 0.5, 2. ])
    """
    n_buckets = _check_n_buckets(n_buckets)
    values = _vector(y, "y", float_dtype(y))
    xp = array_namespace(values)
    values = xp.sort(values)
    n = values.shape[0]
    # More buckets than targets split between every two sorted targets, as N buckets do:
    # nothing is allocated per bucket beyond N (an absurd n_buckets costs nothing).
    n_buckets = min(n_buckets, n)
    split = np.unique(np.arange(1, n_buckets) * n // n_buckets)
    split = xp.asarray(split[split >= 1], device=device())
    below, above = values[split - 1], values[split]
    inner = _midpoints(below, above)
    edges = xp.sort(xp.unique_values(xp.concat([values[:1], inner, values[-1:]])))
    if edges.shape[0] < 2:
        raise ValueError("y must hold at least 2 distinct values to be split into buckets")
    # a midpoint that rounded onto a data value can leave a bucket empty: merge it down
    counts = bincount(bucketize(values, edges), minlength=edges.shape[0] - 1)
    first_and_last = xp.ones(1, dtype=xp.bool, device=device())
    return edges[xp.concat([first_and_last, counts[1:] > 0, first_and_last])]


@dispatched(dask=("y",))  # elementwise in y: chunk by chunk
def bucketize(y, edges):
    r"""The bucket index of each target: :math:`k` with :math:`e_k \le y < e_{k+1}`.

    Parameters
    ----------
    y : array_like
        Targets, any shape.
    edges : array_like
        Strictly increasing bucket edges, shape ``(m + 1,)``, :math:`m \ge 1` buckets.

    Returns
    -------
    ndarray of int
        Indices in ``range(m)``, of the shape of ``y``. The last bucket is closed,
        :math:`[e_{m-1}, e_m]`; targets below :math:`e_0` go to bucket 0 and targets
        above :math:`e_m` to bucket :math:`m - 1` (new data may fall outside the
        training range).

    Notes
    -----
    See :ref:`regression-buckets`.

    Examples
    --------
    >>> import lossfns
    >>> lossfns.bucketize([0.0, 1.0, 2.9, 3.0, 8.0, 9.0], [1.0, 3.0, 5.0, 8.0])
    array([0, 0, 0, 1, 2, 2])
    """
    e = _check_edges(edges)
    values = real_array(y, "y")
    xp = array_namespace(e)
    if xp is not np:  # (searchsorted of the standard: both arrays of one dtype)
        values = xp.astype(values, xp.result_type(values.dtype, e.dtype))
        e = xp.astype(e, values.dtype)
    index = xp.searchsorted(e, values, side="right") - 1
    return xp.clip(index, 0, e.shape[0] - 2)


@dispatched(dask="gather")  # with y, a mean per bucket over every target
def bucket_centers(edges, y=None):
    r"""One representative value per bucket, used to decode a bucket distribution.

    Without ``y``, the midpoints :math:`(e_k + e_{k+1})/2`; with the training targets
    ``y``, the mean of the targets in each bucket (which, for heavy-tailed targets, is
    far better than the midpoint of the wide last bucket).

    Parameters
    ----------
    edges : array_like
        Strictly increasing bucket edges, shape ``(m + 1,)``.
    y : array_like, optional
        Training targets, shape ``(N,)``, bucketed with :func:`bucketize`.

    Returns
    -------
    ndarray
        Shape ``(m,)``, float32 when every float input is float32, else float64.

    Raises
    ------
    ValueError
        If ``y`` is given and a bucket holds none of its values (its mean is undefined).

    Notes
    -----
    See :ref:`regression-buckets`.

    Examples
    --------
    >>> import lossfns
    >>> lossfns.bucket_centers([0.0, 2.0, 10.0])
    array([1., 6.])
    >>> lossfns.bucket_centers([0.0, 2.0, 10.0], y=[0.0, 1.0, 2.0, 3.0, 10.0])
    array([0.5, 5. ])
    """
    dtype = float_dtype(edges, y)
    e = real_array(_check_edges(edges), "edges", dtype)  # (cast to the computation's dtype)
    if y is None:
        return _midpoints(e[:-1], e[1:])
    values = _vector(y, "y", dtype)
    xp = array_namespace(values)
    index = bucketize(values, e)
    n_buckets = e.shape[0] - 1
    counts = bincount(index, minlength=n_buckets)
    if int(xp.min(counts)) == 0:
        raise ValueError(
            f"bucket {int(xp.argmin(counts))} holds no value of y; its mean is undefined"
        )
    values = xp.astype(values, xp.float64)
    sums = bincount(index, weights=values, minlength=n_buckets)
    with np.errstate(under="ignore"):  # a subnormal mean (or sum) rounds: meant
        means = sums / counts
        finite_sums = xp.isfinite(sums)
        if not bool(xp.all(finite_sums)):  # a sum beyond the float range: scale by 2^-64 (exact)
            scaled = bincount(index, weights=values * 2.0**-64, minlength=n_buckets)
            means = xp.where(finite_sums, means, scaled / counts * 2.0**64)
        return xp.astype(means, e.dtype)


@dispatched(dask=("y",))  # a row per target: chunk by chunk
def gaussian_soft_labels(y, centers, sigma):
    r"""Soft bucket labels: a Gaussian around each target, normalised over the buckets.

    .. math::

        t_{ik} = \frac{\exp\bigl(-(y_i - c_k)^2 / (2\sigma^2)\bigr)}
                      {\sum_j \exp\bigl(-(y_i - c_j)^2 / (2\sigma^2)\bigr)} .

    Parameters
    ----------
    y : array_like
        Targets, shape ``(n,)``.
    centers : array_like
        Bucket centres :math:`c`, shape ``(m,)``.
    sigma : float
        Width :math:`\sigma > 0`, in the units of ``y``.

    Returns
    -------
    ndarray
        Shape ``(n, m)``; every row is non-negative and sums to 1 (to rounding), ready
        for :func:`softmax_cross_entropy`. float32 when every float input is float32.

    Notes
    -----
    Computed as a softmax of :math:`-(y_i - c_k)^2/(2\sigma^2)` shifted by the row's
    largest term (the nearest centre's, which becomes :math:`e^0 = 1`), so a target far
    from every centre gets the nearest centres' share, never :math:`0/0`. The shift is
    taken as a product, :math:`(h_k - h)(h_k + h)` of the half distances
    :math:`h_k = |y_i/2 - c_k/2|` and their minimum :math:`h`, so that neither a distance
    nor its square overflows for inputs anywhere in the float range. As
    :math:`\sigma \to 0` the rows tend to one-hot labels of the nearest centre. See
    :ref:`regression-soft-labels`.

    Examples
    --------
    >>> import lossfns
    >>> lossfns.gaussian_soft_labels([1.0, 1e6], [0.0, 1.0, 2.0], sigma=1.0)
    array([[0.27406862, 0.45186276, 0.27406862],
           [0.        , 0.        , 1.        ]])
    """
    dtype = float_dtype(y, centers)
    values = _vector(y, "y", dtype)
    c = _vector(centers, "centers", dtype)
    s = dtype.type(check_scalar(sigma, "sigma", low=0, low_inclusive=False))
    xp = array_namespace(values)
    with np.errstate(all="ignore"):  # exponents of -inf, products that underflow: meant
        # -((y - c_k)^2 - (y - c_nearest)^2) / (2 sigma^2) = -2 (h_k - h)(h_k + h) / sigma^2
        half = xp.abs(values[:, None] / 2 - c[None, :] / 2)
        nearest = xp.min(half, axis=1, keepdims=True)
        shift = 2 * ((half - nearest) / s) * ((half + nearest) / s)
        w = xp.exp(-xp.where(half > nearest, shift, 0))  # 1 at the nearest (no 0 * inf)
        return w / xp.sum(w, axis=1, keepdims=True)


@dispatched(dask=("logits",))  # a row per sample: chunk by chunk
def bucket_expectation(logits, centers):
    r"""Expected value decoded from bucket logits: :math:`\hat y = \sum_k p_k c_k`.

    Parameters
    ----------
    logits : array_like
        Raw scores, shape ``(n, m)``, one per bucket; :math:`p = \operatorname{softmax}`.
    centers : array_like
        Bucket centres :math:`c`, shape ``(m,)``.

    Returns
    -------
    ndarray
        Shape ``(n,)``, float32 when every float input is float32, else float64.

    Notes
    -----
    The result is a convex combination of the centres, so it lies in
    :math:`[\min c, \max c]`; a value that rounding pushed past that range (by an ulp or
    two) is put back on its end. See :ref:`regression-buckets`.

    Examples
    --------
    >>> import numpy as np, lossfns
    >>> logits = np.log([[0.5, 0.25, 0.25], [0.1, 0.2, 0.7]])
    >>> lossfns.bucket_expectation(logits, [1.0, 2.0, 10.0])
    array([3.5, 7.5])
    """
    dtype = float_dtype(logits, centers)
    z = real_array(logits, "logits", dtype)
    c = _vector(centers, "centers", dtype)
    if z.ndim != 2 or z.shape[1] != c.shape[0]:
        raise ValueError(
            f"logits must have shape (n, {c.shape[0]}) (one column per centre), got shape "
            f"{tuple(z.shape)}"
        )
    xp = array_namespace(z)
    # probabilities that underflow to 0 are meant, and so are gaps to the row's largest
    # logit beyond the float range (their exponentials are 0)
    with np.errstate(under="ignore", over="ignore"):
        p = Softmax(z).p
        return xp.clip(p @ c, xp.min(c), xp.max(c))


# ---------------------------------------------------------------------- watch time


def _watch_time_formula(c, t, z, *, value, grad, hess):
    # (watch-time): loss = c T softplus(-z) + (1 - c) softplus(z),
    #   grad = (1 - c) sigma(z) - c T sigma(-z),   hess = (1 - c + c T) sigma(z) sigma(-z)
    s = Logistic(z)
    clicked, unclicked = c * t, 1 - c
    return (
        clicked * s.softplus_neg + unclicked * s.softplus if value else None,
        unclicked * s.sigmoid - clicked * s.sigmoid_neg if grad else None,
        (unclicked + clicked) * s.curvature if hess else None,
    )


@elementwise_loss(_watch_time_formula, footprint=13)
def watch_time_logistic(clicked, watch_time, logits, *, sample_weight=None, reduction="mean"):
    r"""Weighted logistic regression whose odds predict the expected watch time.

    Binary cross-entropy of the click label with the positive term weighted by the
    watch time :math:`T`:

    .. math::

        \ell(c, T, z) = -\bigl[c\,T\log\sigma(z) + (1 - c)\log(1 - \sigma(z))\bigr]

        \ell(c, T, z) = c\,T\operatorname{softplus}(-z) + (1 - c)\operatorname{softplus}(z).

    Parameters
    ----------
    clicked : array_like
        1 for an impression that was clicked, 0 otherwise; any shape.
    watch_time : array_like
        Non-negative watch time :math:`T` of each impression, same shape; it is the weight
        of a clicked impression and is ignored for an unclicked one (weight 1).
    logits : array_like
        Raw scores :math:`z`, same shape.
    sample_weight : array_like, optional
        Non-negative weights, of the loss's shape or a leading part of it (one per row).
    reduction : {"mean", "sum", "none"}
        ``"mean"`` divides the (weighted) sum by the number of impressions, or by the
        sum of ``sample_weight``; ``"none"`` returns the terms.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss, float32 when every float input is float32, else float64.

    Notes
    -----
    This is :func:`binary_cross_entropy_with_logits` with ``pos_weight`` :math:`= T`, and
    is computed from the same stable logistic parts. At its optimum a constant logit has odds
    :math:`e^{z} = \sum T / (N - k)` over :math:`N` impressions of which :math:`k` were
    clicked: about :math:`\mathbb E[T]` when the click rate is small (see
    :ref:`watch-time`); predict with :func:`watch_time_predict`. ``grad`` is
    :math:`(1-c)\,\sigma(z) - c\,T\,\sigma(-z)`, ``hess`` is
    :math:`(1 - c + c\,T)\,\sigma(z)\,\sigma(-z)`.

    References
    ----------
    - P. Covington, J. Adams, E. Sargin, "Deep Neural Networks for YouTube
      Recommendations", RecSys 2016 :cite:p:`covington2016deep`.

    Examples
    --------
    >>> import lossfns
    >>> lossfns.watch_time_logistic([1, 0], [3.0, 0.0], [0.0, 0.0], reduction="none")
    array([2.07944154, 0.69314718])
    """
    dtype = float_dtype(clicked, watch_time, logits, sample_weight)
    c = real_array(clicked, "clicked", dtype, finite=False)
    t = real_array(watch_time, "watch_time", dtype, finite=False)
    z = real_array(logits, "logits", dtype, finite=False)
    check_same_shape(clicked=c, watch_time=t, logits=z)
    return Terms(
        _watch_time_formula,
        (c, t, z),
        sample_shape=z.shape,
        sample_weight=sample_weight,
        reduction=reduction,
        dtype=dtype,
        rowwise=True,
        checks=(
            (0, one_of("clicked", (0, 1))),
            (1, finite("watch_time")),
            (1, nonnegative("watch_time")),
            (2, finite("logits")),
        ),
    )


@dispatched(dask=("logits",))  # elementwise: chunk by chunk
def watch_time_predict(logits):
    r"""Expected watch time from the logit of :func:`watch_time_logistic`: :math:`e^{z}`.

    Parameters
    ----------
    logits : array_like
        Raw scores :math:`z`, any shape.

    Returns
    -------
    ndarray
        :math:`e^{z}`, the odds :math:`\sigma(z)/(1 - \sigma(z))`, of the shape of
        ``logits``; float32 when ``logits`` is float32, else float64. It is ``inf`` only
        where :math:`e^z` exceeds the float range.

    Notes
    -----
    The odds of the weighted model estimate :math:`\sum T/(N - k) = \mathbb
    E[T]/(1 - \text{click rate})`; see :ref:`watch-time`.

    References
    ----------
    - P. Covington, J. Adams, E. Sargin, "Deep Neural Networks for YouTube
      Recommendations", RecSys 2016 :cite:p:`covington2016deep`.

    Examples
    --------
    >>> import lossfns
    >>> lossfns.watch_time_predict([0.0, 1.0])
    array([1.        , 2.71828183])
    """
    dtype = float_dtype(logits)
    z = real_array(logits, "logits", dtype)
    with np.errstate(over="ignore", under="ignore"):
        return array_namespace(z).exp(z)
