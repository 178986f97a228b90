"""Information measures (Part I of the book): entropy, divergences, mutual information.

The measures return one value per distribution — per slice along ``axis``, or per joint
distribution over the last two axes — and take no ``sample_weight`` or ``reduction``.
Probability arrays are validated, never renormalised: entries must be non-negative and
each distribution must sum to 1 within 1e-6. Logarithms are natural (nats) unless
``base`` is given (``base=2`` gives bits). Zeros are exact: :math:`0 \\log 0 = 0`, and a
positive probability where the other distribution has none gives :math:`+\\infty`, the
true value.

A ``base`` must be greater than 1. Changing the base multiplies every measure by the
constant :math:`1/\\ln b` (Shannon's :math:`K`), which must be positive for the measures
to keep their meaning: with :math:`0 < b < 1` every entropy, divergence and mutual
information would come out negative (and :math:`b = 1` has :math:`\\ln b = 0`), so
those bases are refused rather than silently changing the sign.

Each function evaluates one short formula, named ``_<measure>_formula`` below and shown
on the book's pages; the declarations around them only validate.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._core import (
    Terms,
    check_distribution,
    check_scalar,
    finite,
    float_dtype,
    measure,
    paired_arrays,
    real_array,
    within,
)
from ._namespace import array_namespace, dispatched
from ._namespace import special as special_functions

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

_LOG2 = float(np.log(2.0))


def _log_base(base, dtype: np.dtype):
    """``ln(base)`` in ``dtype``, the divisor that turns nats into units of ``base``."""
    if base is None:
        return dtype.type(1)
    base = check_scalar(base, "base")
    if base <= 0:
        raise ValueError(f"base must be > 1, got {base}: a logarithm's base must be positive")
    if base == 1:
        raise ValueError("base must not be 1: ln 1 = 0, so there is no logarithm to base 1")
    if base < 1:
        raise ValueError(
            f"base must be > 1, got {base}: with a base below 1 every logarithm of a "
            f"probability changes sign, and entropies and divergences would be negative"
        )
    return dtype.type(np.log(base))


def _check_axis(axis, ndim: int) -> int:
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"axis must be an integer, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for an array of {ndim} dimension(s)")
    return int(axis) % ndim


def _distributions(p, axis, *, q=None):
    """``p`` (and ``q``, of the same shape) validated as distributions along ``axis``."""
    if q is None:
        dtype = float_dtype(p)
        arrays = {"p": real_array(p, "p", dtype, finite=False)}
    else:
        p, q, dtype = paired_arrays(p, q, ("p", "q"))
        arrays = {"p": p, "q": q}
    for name, a in arrays.items():
        finite(name)(a)
    first = arrays["p"]
    if first.ndim == 0:
        raise ValueError("p must have at least one dimension (a distribution)")
    axis = _check_axis(axis, first.ndim)
    for name, a in arrays.items():
        check_distribution(a, name, axis=axis)
    return (*arrays.values(), axis, dtype)


def _joint(joint):
    dtype = float_dtype(joint)
    a = real_array(joint, "joint", dtype)
    if a.ndim < 2:
        raise ValueError(
            f"joint must have at least two dimensions (joint[..., x, y]), got shape "
            f"{tuple(a.shape)}"
        )
    check_distribution(a, "joint", axis=(-2, -1))
    return a, dtype


def _without(shape: tuple[int, ...], axis: int) -> tuple[int, ...]:
    return shape[:axis] + shape[axis + 1 :]


def _evaluates(formula):
    """Record on a plain function (one without derivatives) the formula it evaluates,
    as :func:`~lossfns._core.measure` does, so that the book can show it."""

    def record(function):
        function.formulas = (formula,)
        return function

    return record


# ------------------------------------------------------------------ formulas


def _self_information_formula(p, *, log_base):
    # (self-information): I(p) = -log_b p = -ln p / ln b;  0 - ln 1 is +0.0, not -0.0
    xp = array_namespace(p)
    return (0 - xp.log(p)) / log_base


def _entropy_formula(p, *, axis, log_base):
    # (entropy): H(p) = -sum_i p_i log_b p_i, with 0 log 0 = 0 (entr(x) = -x ln x)
    xp = array_namespace(p)
    return xp.sum(special_functions(xp).entr(p), axis=axis, dtype=p.dtype) / log_base


def _cross_entropy_formula(p, q, *, axis, log_base, value, grad, hess):
    # (cross-entropy): H(p, q) = -sum_i p_i log_b q_i,   dH/dq_i = -p_i / (q_i ln b)
    # Terms with p_i = 0 are 0 whatever q_i (xlogy, and the mask); p_i > 0 = q_i gives
    # +inf and -inf, the true values. 0 - sum: a zero cross-entropy is +0.0.
    xp = array_namespace(q)
    sp = special_functions(xp)
    return (
        (0 - xp.sum(sp.xlogy(p, q), axis=axis, dtype=p.dtype)) / log_base if value else None,
        xp.where(p > 0, -p / q, 0) / log_base if grad else None,
        None,
    )


def _kl_formula(p, q, *, axis, log_base, value, grad, hess):
    # (kl): D(p || q) = sum_i p_i log_b(p_i / q_i),   dD/dq_i = -p_i / (q_i ln b)
    # rel_entr(p, q) = p ln(p/q): 0 where p = 0, +inf where p > 0 = q, and free of
    # overflow where p/q exceeds the float range (q subnormal)
    xp = array_namespace(q)
    sp = special_functions(xp)
    return (
        xp.sum(sp.rel_entr(p, q), axis=axis, dtype=p.dtype) / log_base if value else None,
        xp.where(p > 0, -p / q, 0) / log_base if grad else None,
        None,
    )


def _log_ratio(a, b):
    """ln(a / b) for a, b > 0, to an ulp or two also where a / b is subnormal (and so
    rounded to fewer digits): there |ln a - ln b| > 708 dwarfs the rounding of either log."""
    xp = array_namespace(a)
    ratio = a / b
    small = xp.finfo(ratio.dtype).smallest_normal
    return xp.where(ratio >= small, xp.log(ratio), xp.log(a) - xp.log(b))


def _js_formula(p, q, *, axis, log_base, value, grad, hess):
    # (js): JS = 1/2 sum_i [p_i log_b(p_i/m_i) + q_i log_b(q_i/m_i)],  m = (p + q)/2
    #   dJS/dq_i = log_b(q_i/m_i) / 2, which is log_b 2 / 2 where p_i = 0
    # With s = p + q = 2m: p ln(p/m) = rel_entr(2p, s) / 2 and q/m = 2q/s. m itself is never
    # formed, as halving a subnormal s can round it to 0 (p = 5e-324, q = 0) and give inf.
    xp = array_namespace(q)
    sp = special_functions(xp)
    s = p + q
    twice_terms = sp.rel_entr(2 * p, s) + sp.rel_entr(2 * q, s)
    log_q_over_m = xp.where(p > 0, _log_ratio(2 * q, s), _LOG2)
    return (
        xp.sum(twice_terms, axis=axis, dtype=p.dtype) / (4 * log_base) if value else None,
        log_q_over_m / (2 * log_base) if grad else None,
        None,
    )


def _conditional_entropy_formula(joint, *, log_base):
    # (conditional-entropy): H(Y|X) = -sum_{x,y} p(x,y) log_b(p(x,y) / p(x)),
    #   p(x) = sum_y p(x,y) >= p(x,y): no term is positive, and rows with p(x) = 0 give 0
    xp = array_namespace(joint)
    px = xp.sum(joint, axis=-1, keepdims=True, dtype=joint.dtype)
    terms = special_functions(xp).rel_entr(joint, px)
    return (0 - xp.sum(terms, axis=(-2, -1), dtype=joint.dtype)) / log_base


def _mutual_information_formula(joint, *, log_base):
    # (mutual-information): I(X;Y) = sum_x p(x) D(p(y|x) || p(y)),  p(y|x) = p(x,y) / p(x)
    # The product p(x) p(y) is never formed: it could underflow to 0 beside a positive
    # p(x,y) (and make the sum +inf). Rows with p(x) = 0 contribute 0.
    xp = array_namespace(joint)
    px = xp.sum(joint, axis=-1, keepdims=True, dtype=joint.dtype)
    py = xp.sum(joint, axis=-2, keepdims=True, dtype=joint.dtype)
    conditional = joint / xp.where(px > 0, px, 1)
    per_x = xp.sum(special_functions(xp).rel_entr(conditional, py), axis=-1, dtype=joint.dtype)
    return xp.sum(px[..., 0] * per_x, axis=-1, dtype=joint.dtype) / log_base


# ------------------------------------------------------------------ functions


@_evaluates(_self_information_formula)
@dispatched(dask=("p",))  # elementwise: chunk by chunk
def self_information(p, *, base=None):
    r"""Self-information (surprisal) of events of probability ``p``: :math:`I(p) = -\log p`.

    .. math::

        I(p) = -\log_b p = -\frac{\ln p}{\ln b}

    Parameters
    ----------
    p : array_like
        Probabilities in [0, 1], any shape; elementwise.
    base : float, optional
        Base :math:`b` of the logarithm, > 1. Default: natural log (nats); ``base=2``
        gives bits.

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
    a = real_array(p, "p", dtype, finite=False)
    within("p", 0, 1)(a)
    log_base = _log_base(base, dtype)
    with np.errstate(all="ignore"):  # -ln 0 = +inf is the true value, not an accident
        return _self_information_formula(a, log_base=log_base)


def _rows_unless_along_axis_0(arguments):
    """A measure's Dask plan: chunks of rows, unless the distributions lie along axis 0."""
    p, axis = arguments["p"], arguments["axis"]
    along_rows = isinstance(axis, int) and p.ndim > 0 and axis % p.ndim == 0
    return "gather" if along_rows else ("p",)


def _rows_of_joints(arguments):
    """Dask plan: separate joints (leading axes) chunk by chunk; one joint is whole."""
    return ("joint",) if arguments["joint"].ndim > 2 else "gather"


@_evaluates(_entropy_formula)
@dispatched(dask=_rows_unless_along_axis_0)
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
        Base of the logarithm (> 1); default natural (nats), 2 gives bits.

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
    p, axis, dtype = _distributions(p, axis)
    log_base = _log_base(base, dtype)
    with np.errstate(all="ignore"):
        return _entropy_formula(p, axis=axis, log_base=log_base)


def _measure_terms(formula, p, q, axis, base) -> Terms:
    """The :class:`Terms` of a measure between distributions ``p`` and ``q``."""
    p, q, axis, dtype = _distributions(p, axis, q=q)
    return Terms(
        formula,
        (p, q),
        sample_shape=_without(p.shape, axis),
        sample_weight=None,
        reduction="none",
        dtype=dtype,
        axis=axis,
        log_base=_log_base(base, dtype),
    )


@measure(_cross_entropy_formula)
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
        Base of the logarithm (> 1); default natural (nats), 2 gives bits.

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
    return _measure_terms(_cross_entropy_formula, p, q, axis, base)


@measure(_kl_formula)
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
        Base of the logarithm (> 1); default natural (nats), 2 gives bits.

    Returns
    -------
    numpy scalar or ndarray
        One divergence per distribution; 0 when ``p == q``, :math:`+\infty` where some
        :math:`p_i > 0 = q_i`. float32 when every float input is float32.

    Notes
    -----
    Derived in :ref:`info-kl`. Computed as a sum of ``scipy.special.rel_entr`` terms,
    so terms with :math:`p_i = 0` are exactly 0, and a :math:`q_i` so small that
    :math:`p_i/q_i` exceeds the float range still gives the finite term. Gibbs'
    inequality holds for the exact value; the computed sum is non-negative up to its
    rounding (a few ulps of the sum of the terms' magnitudes). ``kl_divergence.grad(p, q)``
    is :math:`\partial D / \partial q_i = -p_i / (q_i \ln b)` (the entries of ``q`` taken
    as independent), defined as 0 where :math:`p_i = 0` (also where :math:`q_i = 0`, the
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
    return _measure_terms(_kl_formula, p, q, axis, base)


@measure(_js_formula)
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
        Base of the logarithm (> 1); default natural (nats), 2 gives bits.

    Returns
    -------
    numpy scalar or ndarray
        One divergence per distribution. float32 when every float input is float32.

    Notes
    -----
    Derived in :ref:`info-js`. The ratios :math:`p_i/m_i` are computed as
    :math:`2p_i/(p_i + q_i)`, so :math:`m` is never rounded to 0 (it would be, for
    :math:`p_i + q_i` the smallest subnormal number). ``scipy.spatial.distance.jensenshannon``
    returns the *square root* of this value (the Jensen–Shannon distance).
    ``js_divergence.grad(p, q)`` is
    :math:`\partial\,\mathrm{JS} / \partial q_i = \log(q_i / m_i) / (2 \ln b)` (entries
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
    return _measure_terms(_js_formula, p, q, axis, base)


@_evaluates(_conditional_entropy_formula)
@dispatched(dask=_rows_of_joints)
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
        Base of the logarithm (> 1); default natural (nats), 2 gives bits.

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
    log_base = _log_base(base, dtype)
    with np.errstate(all="ignore"):
        return _conditional_entropy_formula(p, log_base=log_base)


@_evaluates(_mutual_information_formula)
@dispatched(dask=_rows_of_joints)
def mutual_information(joint, *, base=None):
    r"""Mutual information :math:`I(X; Y)` of a joint distribution ``joint[..., x, y]``.

    .. math::

        I(X; Y) = \sum_{x, y} p(x, y) \log \frac{p(x, y)}{p(x)\,p(y)}

        I(X; Y) = D_{\mathrm{KL}}\bigl(p(x, y) \,\|\, p(x)\,p(y)\bigr) = H(Y) - H(Y \mid X)

    Parameters
    ----------
    joint : array_like
        Joint distribution(s) :math:`p(x, y)` over the last two axes (rows :math:`x`,
        columns :math:`y`): non-negative, each joint summing to 1 within 1e-6. Leading
        axes, if any, index separate joints.
    base : float, optional
        Base of the logarithm (> 1); default natural (nats), 2 gives bits.

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
    log_base = _log_base(base, dtype)
    with np.errstate(all="ignore"):
        return _mutual_information_formula(p, log_base=log_base)
