"""Customer lifetime value (Part V of the book): the zero-inflated lognormal loss and the
tools used to evaluate LTV predictions.

A ZILN model has a head of three outputs per customer, ``logits[:, 0]`` (the purchase
logit, :math:`p = \\sigma(l_0)`), ``logits[:, 1]`` (:math:`\\mu`, the location of the
log-value) and ``logits[:, 2]`` (:math:`\\sigma = \\operatorname{softplus}(l_2)`, its scale).
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

from ._core import (
    Terms, _extremes, check_same_shape, finite, float_dtype, loss, nonnegative, real_array,
)
from ._namespace import array_namespace, device, dispatched
from ._namespace import special as special_functions
from ._stable import Logistic

__all__ = [
    "ziln_loss",
    "ziln_predict",
    "ziln_quantile",
    "gain_curve",
    "normalized_gini",
    "decile_table",
    "DecileTable",
]

_HALF_LOG_2PI = 0.5 * np.log(2 * np.pi)

_TINY_SCALE_LOGIT = -700.0
"""Below this scale logit :math:`l_2`, :math:`\\sigma = \\operatorname{softplus}(l_2)` is
handled through :math:`l_2` itself (see :class:`_Scale`).

There :math:`\\operatorname{softplus}(l_2) = e^{l_2}(1 - e^{l_2}/2 + \\dots)` equals
:math:`e^{l_2}` to far below rounding, and is below :math:`e^{-700} \\approx 10^{-304}`:
near the smallest normal float64, subnormal (so short of digits) below :math:`l_2 = -708`
and 0 below :math:`-745`."""


# ---------------------------------------------------------------------- validation


def _logits(logits, dtype, *, check_finite=True):
    z = real_array(logits, "logits", dtype, finite=check_finite)
    if z.ndim != 2 or z.shape[1] != 3:
        raise ValueError(
            f"logits must have shape (n, 3) (purchase logit, mu, scale logit), got shape "
            f"{tuple(z.shape)}"
        )
    return z


def _values_and_scores(y_true, y_pred, *, shares):
    """``(y_true, y_pred)`` as float64 vectors of one length; with ``shares``, ``y_true``
    must also be non-negative and not all zero (its shares of the total are used)."""
    # float64 whatever the inputs: integer values beside a float32 prediction must not be
    # rounded to float32
    y = real_array(y_true, "y_true", finite=False)
    s = real_array(y_pred, "y_pred", finite=False)
    check_same_shape(y_true=y, y_pred=s)
    xp = array_namespace(y)
    y, s = xp.astype(y, xp.float64, copy=False), xp.astype(s, xp.float64, copy=False)
    if y.ndim != 1:
        raise ValueError(
            f"y_true must be one-dimensional, shape (n,), got shape {tuple(y.shape)}")
    finite("y_true")(y)
    finite("y_pred")(s)
    if shares:
        nonnegative("y_true")(y)
        if _extremes(y)[1] == 0:
            raise ValueError("y_true sums to zero; the share of total value is undefined")
    return y, s


# ----------------------------------------------------------------------- formula


class _Scale:
    r"""The lognormal scale :math:`\sigma = \operatorname{softplus}(l_2)` and the parts of
    it that the ZILN loss needs, exact for every :math:`l_2`.

    For :math:`l_2 \ge -700` these are the plain expressions. Below
    (:data:`_TINY_SCALE_LOGIT`) :math:`\sigma = e^{l_2}` to far below rounding, so
    :math:`\log\sigma = l_2` exactly, and dividing by :math:`\sigma` is multiplying by
    :math:`e^{-l_2} = a^2` with :math:`a = e^{-l_2/2}`: ``(x * a) * a``, each factor
    correctly rounded, overflows only when :math:`x / \sigma` does. (:math:`a` itself
    overflows below :math:`l_2 = -1419.6`, where any :math:`x \ne 0` gives an
    :math:`x/\sigma` beyond the float range, and :math:`0/\sigma` is taken as 0.)
    """

    def __init__(self, l2: np.ndarray) -> None:
        self.xp = xp = array_namespace(l2)
        self.tiny = l2 < _TINY_SCALE_LOGIT
        parts = Logistic(l2)
        self.sigma = parts.softplus
        self.log = xp.where(self.tiny, l2, xp.log(self.sigma))
        # r = (d sigma / d l2) / sigma = sigmoid(l2) / softplus(l2), which is 1 for tiny scales
        self.r = xp.where(self.tiny, 1, parts.sigmoid / self.sigma)
        self._a = xp.exp(xp.where(self.tiny, -l2 / 2, 0))

    def divide(self, x: np.ndarray) -> np.ndarray:
        """``x`` divided by the scale."""
        xp, a = self.xp, self._a
        return xp.where(self.tiny, xp.where(x == 0, 0, (x * a) * a), x / self.sigma)


def _ziln_formula(y, logits, *, value, grad, hess):
    # (ziln-loss): p = sigmoid(l0), sigma = softplus(l2), z = (log y - mu) / sigma;
    #   loss = softplus(l0)                                                  if y = 0,
    #          softplus(-l0) + log y + log sigma + log(2 pi)/2 + z^2/2        if y > 0;
    #   grad = (sigmoid(l0), 0, 0)                                          if y = 0,
    #          (-sigmoid(-l0), -z / sigma, (1 - z^2) r),  r = sigmoid(l2) / sigma,  if y > 0
    # (p and p - 1 as sigmoid(l0) and -sigmoid(-l0): no subtraction).
    # Computed in float64 (float32 results are rounded once, at the end), or in the wider
    # dtype of the core's re-evaluation of rows whose terms left the float range before
    # their weights (a weight of 1e308 on a non-buyer's softplus(-800) = 3.7e-348).
    xp = array_namespace(logits)
    work = xp.result_type(logits.dtype, xp.float64)
    y, logits64 = xp.astype(y, work), xp.astype(logits, work)
    l0, mu, l2 = logits64[:, 0], logits64[:, 1], logits64[:, 2]
    buyer = y > 0
    purchase, scale = Logistic(l0), _Scale(l2)
    log_y = xp.log(xp.where(buyer, y, 1))  # log 1 = 0 on the y = 0 rows, which do not use it
    z = scale.divide(log_y - mu)
    dtype = logits.dtype
    return (
        # z^2/2 as (z/2) z: finite up to |z| = 1.9e154, as the loss is
        xp.astype(xp.where(
            buyer, purchase.softplus_neg + log_y + scale.log + _HALF_LOG_2PI + (z / 2) * z,
            purchase.softplus,
        ), dtype) if value else None,
        # z^2 r as (z sqrt(r))^2: it overflows only when its value does
        xp.astype(xp.stack([
            xp.where(buyer, -purchase.sigmoid_neg, purchase.sigmoid),
            xp.where(buyer, -scale.divide(z), 0),
            xp.where(buyer, scale.r - (z * xp.sqrt(scale.r)) ** 2, 0),
        ], axis=1), dtype) if grad else None,
        None,
    )


# ----------------------------------------------------------------------------- loss


@loss(_ziln_formula, footprint=8)
def ziln_loss(y_true, logits, *, sample_weight=None, reduction="mean"):
    r"""Zero-inflated lognormal (ZILN) negative log-likelihood of customer values.

    With :math:`p = \sigma(l_0)`, :math:`\mu = l_1`,
    :math:`\sigma = \operatorname{softplus}(l_2)`, the loss of one customer is

    .. math::

        \ell(y; l) = {}& -\mathbf 1[y = 0]\log(1 - p) \\
            & - \mathbf 1[y > 0]\Bigl(\log p - \log\bigl(y\,\sigma\sqrt{2\pi}\bigr)
            - \frac{(\log y - \mu)^2}{2\sigma^2}\Bigr),

    the negative log of the density of a mixture that is 0 with probability
    :math:`1 - p` and lognormal :math:`\mathrm{LN}(\mu, \sigma^2)` with probability
    :math:`p`: a binary cross-entropy term for "buys again" plus, for buyers only,
    the lognormal negative log-likelihood.

    Parameters
    ----------
    y_true : array_like
        Non-negative customer values, shape ``(n,)``; 0 means no further purchase.
    logits : array_like
        Raw outputs of the model, shape ``(n, 3)``: purchase logit :math:`l_0`,
        location :math:`\mu = l_1`, scale logit :math:`l_2`.
    sample_weight : array_like, optional
        Non-negative weights, shape ``(n,)``.
    reduction : {"mean", "sum", "none"}
        ``"mean"`` is the weighted mean :math:`\sum w_i\ell_i / \sum w_i`; ``"none"``
        returns the ``n`` weighted terms.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss, float32 when every float input is float32, else float64.

    Notes
    -----
    Derived in :ref:`ziln-loss`. ``grad`` has shape ``(n, 3)``: with
    :math:`z = (\log y - \mu)/\sigma`, the derivatives with respect to
    :math:`(l_0, l_1, l_2)` are :math:`(p - 1,\ -z/\sigma,\ (1 - z^2)\,\sigma(l_2)/\sigma)`
    for a buyer and :math:`(p, 0, 0)` for :math:`y = 0` (see :ref:`ziln-gradient`).
    There is no ``hess``: the per-sample Hessian is a full 3×3 matrix.

    Nothing is clipped. :math:`\log p` and :math:`\log(1-p)` are softplus terms of one
    :math:`e^{-|l_0|}`, exact for any :math:`l_0`, so :math:`p \to 0` or 1 gives the
    exact, possibly large, loss. As :math:`\sigma \to 0` (:math:`l_2 \to -\infty`,
    where softplus underflows), :math:`\log\sigma = l_2` and :math:`1/\sigma = e^{-l_2}`
    is formed as a product of two factors :math:`e^{-l_2/2}`: the value and gradient stay
    exact, and are infinite only when the true value exceeds the float range (a buyer
    with :math:`\log y \ne \mu` and :math:`\sigma` below about
    :math:`|\log y - \mu|\cdot 10^{-154}`), never NaN.
    A buyer with :math:`\log y = \mu` exactly has a finite loss that tends to
    :math:`-\infty` as :math:`\sigma \to 0`: the likelihood is unbounded, as for any
    density with a free scale. The computation runs in float64; float32 inputs get
    float32 results.

    References
    ----------
    X. Wang, T. Liu, J. Miao, "A Deep Probabilistic Model for Customer Lifetime Value
    Prediction", arXiv:1912.07753, 2019 :cite:p:`wang2019deep`.

    Examples
    --------
    >>> import lossfns
    >>> y = [0.0, 2.0]
    >>> logits = [[0.0, 0.0, 0.0], [0.0, 0.5, 0.5413248546129181]]
    >>> lossfns.ziln_loss(y, logits, reduction="none")
    array([0.69314718, 2.32388581])
    >>> lossfns.ziln_loss.grad(y, logits, reduction="sum")
    array([[ 0.5       ,  0.        ,  0.        ],
           [-0.5       , -0.19314718,  0.60853877]])
    """
    dtype = float_dtype(y_true, logits, sample_weight)
    y = real_array(y_true, "y_true", dtype, finite=False)
    if y.ndim != 1:
        raise ValueError(
            f"y_true must be one-dimensional, shape (n,), got shape {tuple(y.shape)}")
    z = _logits(logits, dtype, check_finite=False)
    if z.shape[0] != y.shape[0]:
        raise ValueError(
            f"y_true has {y.shape[0]} samples but logits has {z.shape[0]} rows; "
            f"logits must have shape ({y.shape[0]}, 3)"
        )
    return Terms(
        _ziln_formula,
        (y, z),
        sample_shape=y.shape,
        sample_weight=sample_weight,
        reduction=reduction,
        dtype=dtype,
        rowwise=True,
        checks=((0, finite("y_true")), (0, nonnegative("y_true")), (1, finite("logits"))),
    )


# ---------------------------------------------------------------------- prediction


@dispatched(dask=("logits",))
def ziln_predict(logits):
    r"""Expected value of the ZILN predictive distribution, one per row of ``logits``.

    .. math::

        \mathbb E[Y] = p\,\exp\bigl(\mu + \sigma^2/2\bigr),
        \qquad p = \sigma(l_0),\ \mu = l_1,\ \sigma = \operatorname{softplus}(l_2).

    Parameters
    ----------
    logits : array_like
        Shape ``(n, 3)``, as for :func:`ziln_loss`.

    Returns
    -------
    ndarray
        Shape ``(n,)``, float32 when ``logits`` is float32, else float64.

    Notes
    -----
    Derived in :ref:`ziln-predict`. Evaluated as
    :math:`\exp(\log p + \mu + \sigma^2/2)` with :math:`\log p = -\operatorname{softplus}(-l_0)`,
    so a tiny :math:`p` times a huge lognormal mean is not :math:`0 \cdot \infty`; the
    exponent is summed at a quarter of its size, so that its terms (each possibly near
    the float maximum) overflow only where the exponent does, and the result is then the
    0 or :math:`+\infty` it truly is, never NaN. The median of the lognormal part is
    :math:`e^{\mu}`, below the mean by the factor :math:`e^{\sigma^2/2}`; predicting
    :math:`p\,e^{\mu}` underestimates the mean.

    References
    ----------
    X. Wang, T. Liu, J. Miao, "A Deep Probabilistic Model for Customer Lifetime Value
    Prediction", arXiv:1912.07753, 2019 :cite:p:`wang2019deep`.

    Examples
    --------
    >>> import lossfns
    >>> lossfns.ziln_predict([[0.0, 1.0, 0.5413248546129181], [1e3, 0.0, -1e3]])
    array([2.24084454, 1.        ])
    """
    z = _logits(logits, float_dtype(logits))
    xp = array_namespace(z)
    l0, mu, l2 = _columns(xp.astype(z, xp.float64))
    # (an overflow below gives the infinity that is the true value, and is not an alarm)
    with np.errstate(all="ignore"):
        sigma = Logistic(l2).softplus
        # log E[Y] = log p + mu + sigma^2/2 with log p = -softplus(-l0), summed at a quarter
        # of its size (exact scalings): no partial sum overflows unless the exponent itself
        # is beyond the float range, where exp gives the 0 or inf it should
        quarter = mu / 4 - Logistic(l0).softplus_neg / 4 + (sigma / 4) * (sigma / 2)
        return xp.astype(xp.exp(4 * quarter), z.dtype)


def _columns(z):
    """The three columns of ZILN logits: the purchase logit, mu and the scale logit."""
    return z[:, 0], z[:, 1], z[:, 2]


@dispatched(dask=("logits", "q"))
def ziln_quantile(logits, q):
    r"""Quantile ``q`` of the ZILN predictive distribution, one per row of ``logits``.

    The distribution function is :math:`F(y) = 1 - p + p\,\Phi\bigl((\log y - \mu)/\sigma\bigr)`
    for :math:`y \ge 0`, with a jump of :math:`1 - p` at 0. Its quantile
    :math:`\inf\{y : F(y) \ge q\}` is

    .. math::

        Q(q) = \begin{cases} 0, & q \le 1 - p, \\
               \exp\Bigl(\mu + \sigma\,\Phi^{-1}\bigl(\tfrac{q - (1 - p)}{p}\bigr)\Bigr),
               & q > 1 - p. \end{cases}

    Parameters
    ----------
    logits : array_like
        Shape ``(n, 3)``, as for :func:`ziln_loss`.
    q : float or array_like
        Probability level(s) in the open interval (0, 1): a scalar, or one per row
        (shape ``(n,)``).

    Returns
    -------
    ndarray
        Shape ``(n,)``, float32 when every float input is float32, else float64.

    Notes
    -----
    Derived in :ref:`ziln-quantile`. :math:`\Phi^{-1}` is ``scipy.special.ndtri``; above
    the median of the lognormal part it is evaluated as
    :math:`-\Phi^{-1}\bigl((1 - q)/p\bigr)`, which avoids forming :math:`1 - (\ldots)`
    near 1, so upper quantiles keep their digits.

    Examples
    --------
    >>> import lossfns
    >>> logits = [[0.0, 1.0, 0.5413248546129181], [2.0, 0.0, 0.5413248546129181]]
    >>> lossfns.ziln_quantile(logits, 0.5)
    array([0.        , 0.84329433])
    >>> lossfns.ziln_quantile(logits, 0.75)
    array([2.71828183, 1.77090346])
    """
    dtype = float_dtype(logits, q)
    logits = _logits(logits, dtype)
    xp = array_namespace(logits)
    z = xp.astype(logits, xp.float64)
    # q read in float64, not through float32: 1e-300 is in (0, 1)
    level = xp.astype(real_array(q, "q", np.dtype(np.float64)), xp.float64)
    rows = tuple(z.shape[:1])
    if level.ndim > 1 or (level.ndim == 1 and tuple(level.shape) != rows):
        raise ValueError(
            f"q must be a scalar or have shape {rows} (one per row), got shape "
            f"{tuple(level.shape)}"
        )
    smallest, largest = _extremes(level)
    if smallest <= 0 or largest >= 1:
        bad = smallest if smallest <= 0 else largest
        raise ValueError(f"q must lie in the open interval (0, 1); found {bad}")
    l0, mu, l2 = _columns(z)
    # (rows that do not buy are masked at the end; an overflow of exp is the true value)
    with np.errstate(all="ignore"):
        purchase, sigma = Logistic(l0), Logistic(l2).softplus
        p, one_minus_p = purchase.sigmoid, purchase.sigmoid_neg
        buys = level > one_minus_p
        # Q(q) = exp(mu + sigma Phi^-1(inner)), inner = (q - (1 - p)) / p, where q > 1 - p;
        # above the median Phi^-1(inner) = -Phi^-1(upper), upper = 1 - inner = (1 - q) / p,
        # which keeps the digits that forming 1 - inner near 1 would lose
        inner, upper = (level - one_minus_p) / p, (1 - level) / p
        ndtri = special_functions(xp).ndtri
        standard = xp.where(inner <= 0.5, ndtri(inner), -ndtri(upper))
        lognormal = xp.exp(mu + sigma * standard)
        # (in float32 a quantile beyond its range is inf, one below it 0 or subnormal)
        return xp.astype(xp.where(buys, lognormal, 0), logits.dtype)


# ----------------------------------------------------------------------- evaluation


@dispatched(dask="gather")  # a ranking needs every sample
def gain_curve(y_true, y_pred):
    r"""Cumulative gain (Lorenz) curve of values ranked by prediction.

    Customers are sorted by ``y_pred``, highest first; the curve gives, for the top
    fraction :math:`k/n` of customers, the share of the total true value they hold,
    :math:`G(k/n) = \sum_{i \le k} y_{(i)} / \sum_i y_i`.

    Parameters
    ----------
    y_true : array_like
        Non-negative true values, shape ``(n,)``, not all zero.
    y_pred : array_like
        Predictions (any real scores; only their order matters), shape ``(n,)``.

    Returns
    -------
    fraction, gain : tuple of ndarray
        Both of shape ``(n + 1,)``: :math:`k/n` for :math:`k = 0, \dots, n`, and
        :math:`G(k/n)`, from 0 to 1.

    Notes
    -----
    Defined in :ref:`ltv-evaluation`. Tied predictions carry no order, so within a run
    of ties the curve is the straight line between the run's ends — the average over
    every order of the tied customers. A constant prediction gives the diagonal.

    Examples
    --------
    >>> import lossfns
    >>> fraction, gain = lossfns.gain_curve([0.0, 3.0, 1.0], [0.1, 0.9, 0.5])
    >>> gain
    array([0.  , 0.75, 1.  , 1.  ])
    >>> lossfns.gain_curve([0.0, 3.0, 1.0], [1.0, 1.0, 1.0])[1]
    array([0.        , 0.33333333, 0.66666667, 1.        ])
    """
    y, s = _values_and_scores(y_true, y_pred, shares=True)
    return _gain_curve(y, s)


def _gain_curve(y, s):
    # G(k/n) = sum_{i <= k} y_(i) / sum_i y_i, y ranked by descending s
    xp = array_namespace(y)
    n = y.shape[0]
    order = xp.argsort(-s, stable=True)
    # (shares of subnormal size round: an underflow that is no error)
    with np.errstate(under="ignore"):
        # shares do not change when every y is scaled: y / 2^e below 1 (exact, but for
        # values under 2^-1074 of the largest, which vanish) keeps the running sums finite
        ranked, scores = _below_one(y)[order], s[order]
        cumulative = xp.cumulative_sum(ranked, include_initial=True)
        # ends of runs of tied scores; the curve is linear inside each run
        changes = xp.astype(xp.nonzero(scores[1:] != scores[:-1])[0] + 1, xp.float64)
        edge = xp.asarray([0.0, n], dtype=xp.float64, device=device())
        ends = xp.concat([edge[:1], changes, edge[1:]])
        k = xp.arange(n + 1, dtype=xp.float64, device=device())
        gain = _interpolate(k, ends, cumulative) / cumulative[-1]
    return k / n, gain


def _below_one(y):
    """``y / 2^e`` with ``2^e`` the power of two just above its largest entry: scalings by
    powers of two, exact but where a result is subnormal (and then correctly rounded, as
    ``np.ldexp``); in two steps where :math:`2^{-e}` is beyond the float range."""
    xp = array_namespace(y)
    exponent = math.frexp(float(xp.max(y)))[1]
    up = max(-exponent - 1023, 0)  # (the largest entry is subnormal: scaled up, exactly)
    scaled = y * 2.0 ** (-exponent - up)
    return scaled * 2.0**up if up else scaled


def _interpolate(k, ends, cumulative):
    """The cumulative gain at ``k`` on the straight lines between ``cumulative[ends]``:
    ``np.interp(k, ends, cumulative[ends])``, operation for operation (so the same
    numbers), in the namespace of the arrays."""
    xp = array_namespace(k)
    run = xp.clip(xp.searchsorted(ends, k, side="right") - 1, 0, ends.shape[0] - 2)
    low, high = ends[run], ends[run + 1]
    at_low = cumulative[xp.astype(low, xp.int64)]
    at_high = cumulative[xp.astype(high, xp.int64)]
    slope = (at_high - at_low) / (high - low)
    return xp.where(k == high, at_high, xp.where(k == low, at_low, slope * (k - low) + at_low))


def _gini(y, s):
    # 2 * (trapezoidal area under the gain curve) - 1, with steps of 1/n
    _, gain = _gain_curve(y, s)
    return 2 * (array_namespace(gain).sum(gain) - 0.5) / y.shape[0] - 1


@dispatched(dask="gather")  # a ranking needs every sample
def normalized_gini(y_true, y_pred):
    r"""Normalised Gini coefficient of a ranking of customers by predicted value.

    .. math::

        \mathrm{Gini}(s) = 2\int_0^1 G_s(u)\,du - 1, \qquad
        \text{normalised Gini} = \frac{\mathrm{Gini}(\hat y)}{\mathrm{Gini}(y)},

    where :math:`G_s` is the :func:`gain_curve` of the ranking by :math:`s` (integrated
    with the trapezoid rule over its :math:`n + 1` points) and :math:`\mathrm{Gini}(y)`
    is that of the perfect ranking, by the true values themselves.

    Parameters
    ----------
    y_true : array_like
        Non-negative true values, shape ``(n,)``, not all equal.
    y_pred : array_like
        Predictions, shape ``(n,)``; only their order matters.

    Returns
    -------
    numpy.float64
        1 for a ranking as good as the perfect one, 0 for a constant prediction (about 0
        for a random one), −1 for the reversed perfect ranking.

    Notes
    -----
    Defined in :ref:`ltv-evaluation`. Ties are averaged over (see :func:`gain_curve`).
    Over Dask arrays the result is a ``dask.delayed`` value that gathers the two columns
    when computed: a ranking compares every sample with every other.
    Equivalently :math:`\mathrm{Gini}(s) = \sum_i y_i (n + 1 - 2\bar r_i) / (n \sum_i y_i)`
    with :math:`\bar r_i` the average rank of customer :math:`i` by descending :math:`s`.
    The reference code of Wang et al. sums the gain curve as a right Riemann sum instead of
    the trapezoid; the two differ by :math:`1/n` before normalisation.

    References
    ----------
    X. Wang, T. Liu, J. Miao, "A Deep Probabilistic Model for Customer Lifetime Value
    Prediction", arXiv:1912.07753, 2019 :cite:p:`wang2019deep`.

    Examples
    --------
    >>> import lossfns
    >>> y = [0.0, 0.0, 1.0, 5.0, 2.0]
    >>> float(lossfns.normalized_gini(y, y))
    1.0
    >>> float(lossfns.normalized_gini(y, [0.1, 0.2, 0.3, 0.2, 0.4]))
    0.20833333333333331
    """
    y, s = _values_and_scores(y_true, y_pred, shares=True)
    best = _gini(y, y)
    if best == 0:
        raise ValueError("y_true holds a single value; the perfect ranking has Gini 0")
    return _gini(y, s) / best


class DecileTable(NamedTuple):
    """Per-bin means returned by :func:`decile_table`."""

    predicted: np.ndarray
    """Mean prediction in each bin, lowest predictions first."""
    actual: np.ndarray
    """Mean true value in each bin."""
    count: np.ndarray
    """Number of customers in each bin."""


@dispatched(dask="gather")  # bins by rank need every sample
def decile_table(y_true, y_pred, *, n_bins=10):
    r"""Mean prediction and mean true value per decile of prediction (a calibration table).

    Customers are sorted by ``y_pred`` (lowest first) and cut into ``n_bins`` groups of
    equal size (sizes differ by at most one); for each group the table gives
    :math:`\frac1{|B|}\sum_{i\in B}\hat y_i` and :math:`\frac1{|B|}\sum_{i\in B} y_i`.
    A calibrated model has the two equal in every bin.

    Parameters
    ----------
    y_true : array_like
        True values, shape ``(n,)``.
    y_pred : array_like
        Predictions, shape ``(n,)``.
    n_bins : int
        Number of groups, 1 to ``n``; 10 for deciles.

    Returns
    -------
    DecileTable
        A named tuple of three arrays of length ``n_bins``: ``predicted``, ``actual``
        and ``count``.

    Notes
    -----
    Defined in :ref:`ltv-evaluation`. The sort is stable, so tied predictions that
    straddle a cut are split by their position in the input. Over Dask arrays the result
    is a ``dask.delayed`` table that gathers the two columns when computed.

    Examples
    --------
    >>> import lossfns
    >>> table = lossfns.decile_table([0, 1, 0, 4, 2, 9], [0.2, 0.5, 0.1, 3.0, 2.0, 8.0], n_bins=3)
    >>> table.predicted, table.actual, table.count
    (array([0.15, 1.25, 5.5 ]), array([0. , 1.5, 6.5]), array([2, 2, 2]))
    """
    y, s = _values_and_scores(y_true, y_pred, shares=False)
    n = y.shape[0]
    if isinstance(n_bins, bool) or not isinstance(n_bins, numbers.Integral):
        raise TypeError(f"n_bins must be an integer, got {n_bins!r}")
    if not 1 <= n_bins <= n:
        raise ValueError(f"n_bins must lie in [1, {n}] (the number of samples), got {n_bins}")
    xp = array_namespace(y)
    order = xp.argsort(s, stable=True)
    ranked_s, ranked_y = s[order], y[order]
    # as np.array_split: the first n % n_bins bins hold one sample more
    size, extra = divmod(n, int(n_bins))
    counts = [size + 1] * extra + [size] * (int(n_bins) - extra)
    starts = np.cumsum([0, *counts])
    bins = [slice(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:])]
    return DecileTable(
        predicted=xp.stack([_mean(ranked_s[b]) for b in bins]),
        actual=xp.stack([_mean(ranked_y[b]) for b in bins]),
        count=xp.asarray(counts, dtype=xp.int64, device=device()),
    )


def _mean(x):
    """The mean of ``x``, also where the sum overflows (values near the float maximum):
    it is then the mean of ``x / 2^k`` times ``2^k``, ``2^k > len(x)``, exact scalings."""
    # (a mean of subnormal values rounds: an underflow that is no error)
    xp = array_namespace(x)
    with np.errstate(all="ignore"):
        mean = xp.mean(x)
        if not bool(xp.isfinite(mean)):  # the sum overflowed
            k = x.shape[0].bit_length()
            mean = xp.mean(x * 2.0**-k) * 2.0**k
    return mean
