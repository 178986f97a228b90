"""Information measures (Part I of the book): entropy, divergences, mutual information.

The measures return one value per distribution — per slice along ``axis``, or per joint
distribution over the last two axes — and take no ``sample_weight`` or ``reduction``.
Probability arrays are validated, never renormalised: entries must be non-negative and
each distribution must sum to 1 within 1e-6. Logarithms are natural (nats) unless
``base`` is given (``base=2`` gives bits). Zeros are exact: :math:`0 \\log 0 = 0`, and a
positive probability where the other distribution has none gives :math:`+\\infty`, the
true value.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy import special

from ._core import (
    Terms,
    check_distribution,
    check_interval,
    check_same_shape,
    check_scalar,
    float_dtype,
    measure,
    real_array,
)

__all__ = [
    "self_information",
    "entropy",
    "cross_entropy",
    "kl_divergence",
    "js_divergence",
    "conditional_entropy",
    "mutual_information",
]


# ------------------------------------------------------------------ validation


def _log_base(base, dtype: np.dtype):
    """``log(base)`` in ``dtype``, the divisor that turns nats into units of ``base``."""
    if base is None:
        return dtype.type(1)
    base = check_scalar(base, "base", low=0, low_inclusive=False)
    if base == 1:
        raise ValueError("base must not be 1 (log 1 = 0)")
    return dtype.type(np.log(base))


def _check_axis(axis, ndim: int) -> int:
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"axis must be an integer, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for an array of {ndim} dimension(s)")
    return int(axis) % ndim


def _pair(p, q, axis):
    dtype = float_dtype(p, q)
    p_arr = real_array(p, "p", dtype)
    q_arr = real_array(q, "q", dtype)
    check_same_shape(p=p_arr, q=q_arr)
    if p_arr.ndim == 0:
        raise ValueError("p must have at least one dimension (a distribution)")
    axis = _check_axis(axis, p_arr.ndim)
    check_distribution(p_arr, "p", axis=axis)
    check_distribution(q_arr, "q", axis=axis)
    return p_arr, q_arr, axis, dtype


def _joint(joint):
    dtype = float_dtype(joint)
    a = real_array(joint, "joint", dtype)
    if a.ndim < 2:
        raise ValueError(
            f"joint must have at least two dimensions (joint[..., x, y]), got shape {a.shape}"
        )
    check_distribution(a, "joint", axis=(-2, -1))
    return a, dtype


def _neg_ratio(p, q):
    """-p/q, exactly 0 where p = 0 (even where q = 0), -inf where p > 0 = q."""
    out = np.zeros_like(q)
    with np.errstate(divide="ignore"):
        np.divide(-p, q, out=out, where=p != 0)
    return out


# ------------------------------------------------------------------ functions


def self_information(p, *, base=None):
    r"""Self-information (surprisal) of events of probability ``p``: :math:`I(p) = -\log p`.

    .. math::

        I(p) = -\log_b p = -\frac{\ln p}{\ln b}

    Parameters
    ----------
    p : array_like
        Probabilities in [0, 1], any shape; elementwise.
    base : float, optional
        Base :math:`b` of the logarithm, > 0 and not 1. Default: natural log (nats);
        ``base=2`` gives bits.

    Returns
    -------
    numpy scalar or ndarray
        :math:`I(p)`, of the shape of ``p``: 0 for a sure event, :math:`+\infty` for
        ``p = 0``. float32 when ``p`` is float32, else float64.

    Notes
    -----
    Derived in :ref:`info-self-information`.

    References
    ----------
    - C. E. Shannon, "A mathematical theory of communication", 1948.

    Examples
    --------
    >>> import lossfns
    >>> lossfns.self_information([1.0, 0.5, 0.25], base=2)
    array([0., 1., 2.])
    >>> float(lossfns.self_information(0.0))
    inf
    """
    dtype = float_dtype(p)
    a = real_array(p, "p", dtype)
    check_interval(a, "p", 0, 1)
    scale = _log_base(base, dtype)
    with np.errstate(divide="ignore"):
        return np.abs(np.log(a)) / scale  # log p <= 0: |log p| is -log p, never -0.0


def entropy(p, *, axis=-1, base=None):
    r"""Shannon entropy of each distribution along ``axis``.

    .. math::

        H(p) = -\sum_i p_i \log p_i, \qquad 0 \log 0 = 0

    Parameters
    ----------
    p : array_like
        Probability distributions along ``axis``: non-negative, each summing to 1 within
        1e-6 (not renormalised).
    axis : int
        The axis holding the outcomes.
    base : float, optional
        Base of the logarithm (> 0, not 1); default natural (nats), 2 gives bits.

    Returns
    -------
    numpy scalar or ndarray
        One entropy per distribution (``p``'s shape without ``axis``), in
        :math:`[0, \log n]` for :math:`n` outcomes. float32 when ``p`` is float32.

    Notes
    -----
    Derived in :ref:`info-entropy`. Computed with ``scipy.special.entr``, so
    :math:`0 \log 0 = 0` exactly.

    References
    ----------
    - T. M. Cover and J. A. Thomas, *Elements of Information Theory*, 2nd ed., 2006,
      section 2.1.

    Examples
    --------
    >>> import lossfns
    >>> float(lossfns.entropy([0.5, 0.5], base=2))
    1.0
    >>> lossfns.entropy([[1.0, 0.0], [0.25, 0.75]])
    array([0.        , 0.56233514])
    """
    dtype = float_dtype(p)
    a = real_array(p, "p", dtype)
    if a.ndim == 0:
        raise ValueError("p must have at least one dimension (a distribution)")
    axis = _check_axis(axis, a.ndim)
    check_distribution(a, "p", axis=axis)
    scale = _log_base(base, dtype)
    return np.sum(special.entr(a), axis=axis, dtype=dtype) / scale


def _cross_entropy_formula(p, q, *, axis, scale, value, grad, hess):
    out = [None, None, None]
    if value:
        # 0 - sum: a zero cross-entropy is +0.0, not -0.0
        out[0] = (0 - np.sum(special.xlogy(p, q), axis=axis, dtype=p.dtype)) / scale
    if grad:
        out[1] = _neg_ratio(p, q) / scale
    return tuple(out)


@measure
def cross_entropy(p, q, *, axis=-1, base=None):
    r"""Cross-entropy of ``q`` relative to ``p``, one value per distribution along ``axis``.

    .. math::

        H(p, q) = -\sum_i p_i \log q_i = H(p) + D_{\mathrm{KL}}(p \,\|\, q)

    Parameters
    ----------
    p : array_like
        Reference ("true") distributions along ``axis``: non-negative, each summing to 1
        within 1e-6.
    q : array_like
        Model distributions, same shape and conditions as ``p``.
    axis : int
        The axis holding the outcomes.
    base : float, optional
        Base of the logarithm (> 0, not 1); default natural (nats), 2 gives bits.

    Returns
    -------
    numpy scalar or ndarray
        One value per distribution; :math:`+\infty` where some :math:`p_i > 0 = q_i`.
        float32 when every float input is float32.

    Notes
    -----
    Derived in :ref:`info-cross-entropy`. Terms with :math:`p_i = 0` are 0 (``xlogy``),
    whatever :math:`q_i`. ``cross_entropy.grad(p, q)`` is
    :math:`\partial H / \partial q_i = -p_i / (q_i \ln b)` (the entries of ``q`` taken as
    independent), defined as 0 where :math:`p_i = 0` and :math:`-\infty` where
    :math:`p_i > 0 = q_i`.

    References
    ----------
    - T. M. Cover and J. A. Thomas, *Elements of Information Theory*, 2nd ed., 2006.

    Examples
    --------
    >>> import lossfns
    >>> float(lossfns.cross_entropy([1.0, 0.0], [0.5, 0.5], base=2))
    1.0
    >>> lossfns.cross_entropy.grad([0.7, 0.2, 0.1], [0.6, 0.3, 0.1])
    array([-1.16666667, -0.66666667, -1.        ])
    """
    p, q, axis, dtype = _pair(p, q, axis)
    return Terms(
        _cross_entropy_formula,
        (p, q),
        sample_shape=p.shape[:axis] + p.shape[axis + 1 :],
        sample_weight=None,
        reduction="none",
        dtype=dtype,
        axis=axis,
        scale=_log_base(base, dtype),
    )


def _kl_formula(p, q, *, axis, scale, value, grad, hess):
    out = [None, None, None]
    if value:
        out[0] = np.sum(special.rel_entr(p, q), axis=axis, dtype=p.dtype) / scale
    if grad:
        out[1] = _neg_ratio(p, q) / scale
    return tuple(out)


@measure
def kl_divergence(p, q, *, axis=-1, base=None):
    r"""Kullback–Leibler divergence :math:`D_{\mathrm{KL}}(p \,\|\, q)` along ``axis``.

    .. math::

        D_{\mathrm{KL}}(p \,\|\, q) = \sum_i p_i \log \frac{p_i}{q_i} \;\ge\; 0

    Parameters
    ----------
    p : array_like
        Distributions along ``axis``: non-negative, each summing to 1 within 1e-6.
    q : array_like
        Distributions of the same shape and conditions; the order is the mathematical
        one: ``kl_divergence(p, q)`` is KL(p‖q).
    axis : int
        The axis holding the outcomes.
    base : float, optional
        Base of the logarithm (> 0, not 1); default natural (nats), 2 gives bits.

    Returns
    -------
    numpy scalar or ndarray
        One divergence per distribution; 0 when ``p == q``, :math:`+\infty` where some
        :math:`p_i > 0 = q_i`. float32 when every float input is float32.

    Notes
    -----
    Derived in :ref:`info-kl`. Computed as a sum of ``scipy.special.rel_entr`` terms,
    so terms with :math:`p_i = 0` are exactly 0. Gibbs' inequality holds for the exact
    value; the computed sum is non-negative up to its rounding (a few ulps of the sum of
    the terms' magnitudes). ``kl_divergence.grad(p, q)`` is
    :math:`\partial D / \partial q_i = -p_i / (q_i \ln b)` (the entries of ``q`` taken as
    independent), defined as 0 where :math:`p_i = 0` (also where :math:`q_i = 0`, the
    one-sided derivative) and :math:`-\infty` where :math:`p_i > 0 = q_i`.

    References
    ----------
    - S. Kullback and R. A. Leibler, "On information and sufficiency", 1951.
    - T. M. Cover and J. A. Thomas, *Elements of Information Theory*, 2nd ed., 2006,
      section 2.3.

    Examples
    --------
    >>> import lossfns
    >>> p, q = [0.7, 0.2, 0.1], [0.6, 0.3, 0.1]
    >>> float(lossfns.kl_divergence(p, q))
    0.026812454
    >>> float(lossfns.kl_divergence(p, q, base=2))
    0.038682195
    >>> float(lossfns.kl_divergence([0.5, 0.5], [1.0, 0.0]))
    inf
    """
    p, q, axis, dtype = _pair(p, q, axis)
    return Terms(
        _kl_formula,
        (p, q),
        sample_shape=p.shape[:axis] + p.shape[axis + 1 :],
        sample_weight=None,
        reduction="none",
        dtype=dtype,
        axis=axis,
        scale=_log_base(base, dtype),
    )


def _js_formula(p, q, *, axis, scale, value, grad, hess):
    m = (p + q) / 2
    out = [None, None, None]
    if value:
        terms = special.rel_entr(p, m) + special.rel_entr(q, m)
        out[0] = np.sum(terms, axis=axis, dtype=p.dtype) / (2 * scale)
    if grad:
        # d/dq_i = log(q_i / m_i) / 2; where p_i = 0 the ratio is 2 (also the one-sided
        # derivative at q_i = 0), where q_i = 0 < p_i it is 0 and the log is -inf.
        ratio = np.where(p == 0, p.dtype.type(2), q / np.where(m == 0, 1, m))
        with np.errstate(divide="ignore"):
            out[1] = np.log(ratio) / (2 * scale)
    return tuple(out)


@measure
def js_divergence(p, q, *, axis=-1, base=None):
    r"""Jensen–Shannon divergence of ``p`` and ``q`` along ``axis``.

    .. math::

        \mathrm{JS}(p, q) = \tfrac12 D_{\mathrm{KL}}(p \,\|\, m)
                          + \tfrac12 D_{\mathrm{KL}}(q \,\|\, m), \qquad m = \tfrac12 (p + q)

    Symmetric, finite, and in :math:`[0, \log_b 2]`: in [0, 1] only in bits.

    Parameters
    ----------
    p, q : array_like
        Distributions along ``axis``, same shape: non-negative, each summing to 1 within
        1e-6.
    axis : int
        The axis holding the outcomes.
    base : float, optional
        Base of the logarithm (> 0, not 1); default natural (nats), 2 gives bits.

    Returns
    -------
    numpy scalar or ndarray
        One divergence per distribution. float32 when every float input is float32.

    Notes
    -----
    Derived in :ref:`info-js`. ``scipy.spatial.distance.jensenshannon`` returns the
    *square root* of this value (the Jensen–Shannon distance). ``js_divergence.grad(p, q)``
    is :math:`\partial\,\mathrm{JS} / \partial q_i = \log(q_i / m_i) / (2 \ln b)` (entries
    of ``q`` taken as independent): :math:`\log 2 / (2 \ln b)` where :math:`p_i = 0`
    (including the one-sided derivative at :math:`q_i = 0`), :math:`-\infty` where
    :math:`p_i > 0 = q_i`.

    References
    ----------
    - J. Lin, "Divergence measures based on the Shannon entropy", IEEE Transactions
      on Information Theory 37(1), 1991.

    Examples
    --------
    >>> import lossfns
    >>> float(lossfns.js_divergence([1.0, 0.0], [0.0, 1.0], base=2))
    1.0
    >>> float(lossfns.js_divergence([1.0, 0.0], [0.0, 1.0]))  # log 2 in nats
    0.69314718
    """
    p, q, axis, dtype = _pair(p, q, axis)
    return Terms(
        _js_formula,
        (p, q),
        sample_shape=p.shape[:axis] + p.shape[axis + 1 :],
        sample_weight=None,
        reduction="none",
        dtype=dtype,
        axis=axis,
        scale=_log_base(base, dtype),
    )


def conditional_entropy(joint, *, base=None):
    r"""Conditional entropy :math:`H(Y \mid X)` of a joint distribution ``joint[..., x, y]``.

    .. math::

        H(Y \mid X) = -\sum_{x, y} p(x, y) \log \frac{p(x, y)}{p(x)}
                    = H(X, Y) - H(X)

    Parameters
    ----------
    joint : array_like
        Joint distribution(s) :math:`p(x, y)` over the last two axes (rows :math:`x`,
        columns :math:`y`): non-negative, each joint summing to 1 within 1e-6. Leading
        axes, if any, index separate joints.
    base : float, optional
        Base of the logarithm (> 0, not 1); default natural (nats), 2 gives bits.

    Returns
    -------
    numpy scalar or ndarray
        One value per joint, in :math:`[0, H(Y)]`. float32 when ``joint`` is float32.

    Notes
    -----
    Derived in :ref:`info-conditional-entropy`. Each term
    :math:`p(x,y)\log(p(x,y)/p(x))` is computed with ``scipy.special.rel_entr``; since
    :math:`p(x) \ge p(x, y)`, no term is positive and the result is never negative.
    Rows with :math:`p(x) = 0` contribute 0. For :math:`H(X \mid Y)`, pass the transpose
    (``np.swapaxes(joint, -1, -2)``).

    References
    ----------
    - T. M. Cover and J. A. Thomas, *Elements of Information Theory*, 2nd ed., 2006,
      section 2.2.

    Examples
    --------
    >>> import lossfns
    >>> float(lossfns.conditional_entropy([[0.5, 0.0], [0.0, 0.5]]))  # Y = X
    0.0
    >>> float(lossfns.conditional_entropy([[0.25, 0.25], [0.25, 0.25]], base=2))
    1.0
    """
    p, dtype = _joint(joint)
    scale = _log_base(base, dtype)
    px = np.sum(p, axis=-1, keepdims=True, dtype=dtype)
    return (0 - np.sum(special.rel_entr(p, px), axis=(-2, -1), dtype=dtype)) / scale


def mutual_information(joint, *, base=None):
    r"""Mutual information :math:`I(X; Y)` of a joint distribution ``joint[..., x, y]``.

    .. math::

        I(X; Y) = \sum_{x, y} p(x, y) \log \frac{p(x, y)}{p(x)\,p(y)}
                = D_{\mathrm{KL}}\bigl(p(x, y) \,\|\, p(x)\,p(y)\bigr)
                = H(Y) - H(Y \mid X)

    Parameters
    ----------
    joint : array_like
        Joint distribution(s) :math:`p(x, y)` over the last two axes (rows :math:`x`,
        columns :math:`y`): non-negative, each joint summing to 1 within 1e-6. Leading
        axes, if any, index separate joints.
    base : float, optional
        Base of the logarithm (> 0, not 1); default natural (nats), 2 gives bits.

    Returns
    -------
    numpy scalar or ndarray
        One value per joint, :math:`\ge 0` (up to rounding), 0 exactly for independent
        variables. float32 when ``joint`` is float32.

    Notes
    -----
    Derived in :ref:`info-mutual-information`. Symmetric in :math:`X` and :math:`Y`.
    Computed as :math:`\sum_x p(x)\,D_{\mathrm{KL}}(p(y \mid x) \,\|\, p(y))` with
    ``scipy.special.rel_entr``, so terms with :math:`p(x, y) = 0` are 0 and the product
    :math:`p(x)p(y)` is never formed (it could underflow for tiny probabilities).

    References
    ----------
    - T. M. Cover and J. A. Thomas, *Elements of Information Theory*, 2nd ed., 2006,
      section 2.4.

    Examples
    --------
    >>> import lossfns
    >>> float(lossfns.mutual_information([[0.5, 0.0], [0.0, 0.5]], base=2))  # Y = X
    1.0
    >>> float(lossfns.mutual_information([[0.1, 0.3], [0.15, 0.45]]))  # independent
    0.0
    """
    p, dtype = _joint(joint)
    scale = _log_base(base, dtype)
    px = np.sum(p, axis=-1, keepdims=True, dtype=dtype)
    py = np.sum(p, axis=-2, keepdims=True, dtype=dtype)
    # sum_x p(x) KL(p(y|x) || p(y)): the product p(x) p(y) is never formed, so it cannot
    # underflow to 0 beside a positive p(x, y) (which would make the sum +inf)
    conditional = np.divide(p, px, out=np.zeros_like(p), where=px > 0)
    per_x = np.sum(special.rel_entr(conditional, py), axis=-1, dtype=dtype)
    return np.sum(px[..., 0] * per_x, axis=-1, dtype=dtype) / scale
