"""Ranking and metric-learning losses (Part IV of the book).

Pairwise losses compare the score of a preferred item with the score of a less preferred
one (:func:`pairwise_hinge`, :func:`bpr`, :func:`pairwise_logistic`); metric-learning
losses act on distances between embeddings (:func:`contrastive`, :func:`triplet`).
"""

from __future__ import annotations

import numpy as np

from ._core import (
    Terms,
    check_margin,
    check_same_shape,
    elementwise_loss,
    finite,
    float_dtype,
    loss,
    nonnegative,
    one_of,
    paired_arrays,
    real_array,
)
from ._namespace import array_namespace, copy
from ._stable import Logistic, row_norms, row_sums

__all__ = ["pairwise_hinge", "bpr", "pairwise_logistic", "contrastive", "triplet"]


def _pair_terms(formula, pos_scores, neg_scores, sample_weight, reduction, **hyper):
    """Terms of a pairwise loss of two finite scores of one shape, evaluated block by block."""
    pos, neg, dtype = paired_arrays(
        pos_scores, neg_scores, ("pos_scores", "neg_scores"), sample_weight
    )
    return Terms(
        formula,
        (pos, neg),
        sample_shape=pos.shape,
        sample_weight=sample_weight,
        reduction=reduction,
        dtype=dtype,
        rowwise=True,
        checks=((0, finite("pos_scores")), (1, finite("neg_scores"))),
        **{name: dtype.type(value) for name, value in hyper.items()},
    )


# ------------------------------------------------------------- pairwise hinge


def _pairwise_hinge_formula(pos, neg, *, margin, value, grad, hess):
    # (pairwise-hinge): loss = max(0, m - (s+ - s-)),
    #   grad = (-1, 1) where m - (s+ - s-) > 0, else (0, 0) (also at the kink);  hess = 0
    xp = array_namespace(neg)
    slack = margin - (pos - neg)
    active = xp.astype(slack > 0, pos.dtype)
    return (
        xp.maximum(slack, 0) if value else None,
        (0 - active, active) if grad else None,  # 0 - x: no negative zeros
        (xp.zeros_like(pos), xp.zeros_like(neg)) if hess else None,
    )


@elementwise_loss(_pairwise_hinge_formula, footprint=7)
def pairwise_hinge(pos_scores, neg_scores, *, margin=1.0, sample_weight=None, reduction="mean"):
    r"""Pairwise hinge (margin ranking) loss of a preferred and a less preferred score.

    .. math::

        \ell(s^+, s^-) = \max\bigl(0,\; m - (s^+ - s^-)\bigr),

    zero exactly when the preferred item wins by at least the margin :math:`m`.

    Parameters
    ----------
    pos_scores : array_like
        Scores :math:`s^+` of the preferred (positive) items, any shape.
    neg_scores : array_like
        Scores :math:`s^-` of the items they are preferred to, same shape.
    margin : float
        The margin :math:`m \ge 0`.
    sample_weight : array_like, optional
        Non-negative weights, of the scores' shape or a leading part of it.
    reduction : {"mean", "sum", "none"}
        As for every loss (see :ref:`ranking-pairwise-hinge`).

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss, float32 when every float input is float32, else float64.

    Notes
    -----
    Derived in :ref:`ranking-pairwise-hinge`. ``grad`` returns the pair
    :math:`(\partial\ell/\partial s^+, \partial\ell/\partial s^-) = (-1, 1)` where
    :math:`s^+ - s^- < m` and :math:`(0, 0)` elsewhere, **including the kink**
    :math:`s^+ - s^- = m`. ``hess`` returns the diagonal pair, identically zero. With
    ``pos_scores`` as ``input1``, ``neg_scores`` as ``input2`` and ``target = 1`` this is
    PyTorch's ``margin_ranking_loss`` (whose gradient at the kink is that of the active side).

    References
    ----------
    - Herbrich, Graepel, Obermayer, "Large margin rank boundaries for ordinal
      regression", 2000.

    Examples
    --------
    >>> import lossfns
    >>> lossfns.pairwise_hinge([2.0, 0.5, 0.0], [0.5, 0.0, 0.5], reduction="none")
    array([0. , 0.5, 1.5])
    >>> lossfns.pairwise_hinge.grad([2.0, 0.5], [0.5, 0.0], reduction="sum")
    (array([ 0., -1.]), array([0., 1.]))
    """
    margin = check_margin(margin)
    return _pair_terms(_pairwise_hinge_formula, pos_scores, neg_scores, sample_weight, reduction,
                       margin=margin)


# ------------------------------------------------------- BPR, pairwise logistic


def _pairwise_logistic_formula(pos, neg, *, value, grad, hess):
    # (bpr): loss = softplus(-g) = -log sigma(g) with the gap g = s+ - s-,
    #   grad = (-sigma(-g), sigma(-g)),   hess = (sigma(g) sigma(-g), sigma(g) sigma(-g))
    s = Logistic(pos - neg)
    return (
        s.softplus_neg if value else None,
        (-s.sigmoid_neg, s.sigmoid_neg) if grad else None,
        (s.curvature, copy(s.curvature)) if hess else None,  # two arrays, one per score
    )


@elementwise_loss(_pairwise_logistic_formula, footprint=13)
def bpr(pos_scores, neg_scores, *, sample_weight=None, reduction="mean"):
    r"""Bayesian personalised ranking loss: the negative log-likelihood of a preference.

    .. math::

        \ell(s^+, s^-) = -\log\sigma(s^+ - s^-)
                       = \operatorname{softplus}\bigl(-(s^+ - s^-)\bigr),

    with :math:`\sigma(g) = 1/(1+e^{-g})`: under the Bradley–Terry model the probability
    that the positive item is preferred is :math:`\sigma(s^+ - s^-)`.

    Parameters
    ----------
    pos_scores : array_like
        Scores :math:`s^+` of the preferred (positive) items, any shape.
    neg_scores : array_like
        Scores :math:`s^-` of the sampled negative items, same shape.
    sample_weight : array_like, optional
        Non-negative weights, of the scores' shape or a leading part of it.
    reduction : {"mean", "sum", "none"}
        As for every loss.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss, float32 when every float input is float32, else float64.

    Notes
    -----
    Derived in :ref:`ranking-bpr`. With the gap :math:`g = s^+ - s^-` and
    :math:`e = e^{-|g|}`, the value is :math:`\max(-g, 0) + \log(1 + e)`, exact for a gap
    of any size (no :math:`\epsilon` inside the logarithm, no clipping). ``grad`` returns
    :math:`(-\sigma(-g), \sigma(-g))`; ``hess`` returns the Hessian's diagonal
    :math:`(\sigma(g)\sigma(-g), \sigma(g)\sigma(-g))` — the mixed derivative
    :math:`\partial^2\ell/\partial s^+\partial s^-` is :math:`-\sigma(g)\sigma(-g)` and is
    not returned; the diagonal is what a gradient-boosting library asks of a pairwise
    objective. :func:`pairwise_logistic` is the same function under the name learning to
    rank uses for it.

    References
    ----------
    - Rendle, Freudenthaler, Gantner, Schmidt-Thieme, "BPR: Bayesian personalized
      ranking from implicit feedback", UAI 2009.
    - Bradley, Terry, "Rank analysis of incomplete block designs: I. The method of
      paired comparisons", Biometrika 39, 1952.

    Examples
    --------
    >>> import lossfns
    >>> lossfns.bpr([0.0, 3.0], [0.0, 1.0], reduction="none")
    array([0.69314718, 0.12692801])
    >>> float(lossfns.bpr(0.0, 1000.0))  # a gap of -1000: the loss is 1000, not 23
    1000.0
    >>> lossfns.bpr.grad([0.0], [0.0])
    (array([-0.5]), array([0.5]))
    """
    return _pair_terms(
        _pairwise_logistic_formula, pos_scores, neg_scores, sample_weight, reduction
    )


@elementwise_loss(_pairwise_logistic_formula, footprint=13)
def pairwise_logistic(pos_scores, neg_scores, *, sample_weight=None, reduction="mean"):
    r"""Pairwise logistic (RankNet) loss: the same function as :func:`bpr`.

    .. math::

        \ell(s^+, s^-) = \log\bigl(1 + e^{-(s^+ - s^-)}\bigr)
                       = \operatorname{softplus}\bigl(-(s^+ - s^-)\bigr).

    Learning to rank calls it the pairwise logistic loss (RankNet's cross-entropy with
    the hard target "the first item ranks higher"); recommender systems call it BPR. Both
    names evaluate one formula: values, gradients and Hessians are identical, bit for bit.

    Parameters
    ----------
    pos_scores : array_like
        Scores :math:`s^+` of the items that should rank higher, any shape.
    neg_scores : array_like
        Scores :math:`s^-` of the items they should outrank, same shape.
    sample_weight : array_like, optional
        Non-negative weights, of the scores' shape or a leading part of it.
    reduction : {"mean", "sum", "none"}
        As for every loss.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss, float32 when every float input is float32, else float64.

    Notes
    -----
    Derived in :ref:`ranking-bpr`, where the two names are shown to be one loss. ``grad``
    and ``hess`` are those of :func:`bpr`: :math:`(-\sigma(-g), \sigma(-g))` and the
    Hessian's diagonal :math:`(\sigma(g)\sigma(-g), \sigma(g)\sigma(-g))`, with
    :math:`g = s^+ - s^-`.

    References
    ----------
    - Burges, Shaked, Renshaw, Lazier, Deeds, Hamilton, Hullender, "Learning to rank
      using gradient descent", ICML 2005.

    Examples
    --------
    >>> import lossfns
    >>> lossfns.pairwise_logistic([0.0, 3.0], [0.0, 1.0], reduction="none")
    array([0.69314718, 0.12692801])
    """
    return _pair_terms(
        _pairwise_logistic_formula, pos_scores, neg_scores, sample_weight, reduction
    )


# ---------------------------------------------------------------- contrastive


def _contrastive_formula(y, d, *, margin, value, grad, hess):
    # (contrastive): loss = y d^2 + (1 - y) max(m - d, 0)^2  ((y d) d: 0 for y = 0 even
    #   where d^2 overflows),  grad = 2 y d - 2 (1 - y) max(m - d, 0),
    #   hess = 2 y + 2 (1 - y) [d < m]
    xp = array_namespace(d)
    short = xp.maximum(margin - d, 0)  # how far a dissimilar pair is inside the margin
    return (
        y * d * d + (1 - y) * short * short if value else None,
        2 * (y * d - (1 - y) * short) if grad else None,
        2 * (y + (1 - y) * (d < margin)) if hess else None,
    )


@elementwise_loss(_contrastive_formula, footprint=7)
def contrastive(y_similar, distance, *, margin=1.0, sample_weight=None, reduction="mean"):
    r"""Contrastive loss of a pair's label and the distance between its embeddings.

    .. math::

        \ell(y, d) = y\,d^2 + (1 - y)\max(m - d,\, 0)^2,

    which pulls similar pairs (:math:`y = 1`) together and pushes dissimilar pairs
    (:math:`y = 0`) apart until they are at least the margin :math:`m` apart.

    Parameters
    ----------
    y_similar : array_like
        1 for a similar pair, 0 for a dissimilar one (exactly these values), any shape.
    distance : array_like
        Distances :math:`d \ge 0` between the two embeddings of each pair, same shape.
    margin : float
        The margin :math:`m \ge 0`.
    sample_weight : array_like, optional
        Non-negative weights, of the distances' shape or a leading part of it.
    reduction : {"mean", "sum", "none"}
        As for every loss.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss, float32 when every float input is float32, else float64.

    Notes
    -----
    Derived in :ref:`ranking-contrastive`. ``grad`` (with respect to the distance) is
    :math:`2y\,d - 2(1-y)\max(m - d, 0)`, continuous at :math:`d = m`; ``hess`` is
    :math:`2y + 2(1-y)\,[d < m]`, taken as 0 for a dissimilar pair at the kink
    :math:`d = m`. The gradient with respect to the embeddings follows by the chain rule,
    :math:`\partial d/\partial x_1 = (x_1 - x_2)/d` (0 at :math:`d = 0`). Hadsell et al.
    write the loss with factors :math:`\tfrac12` and with label 0 for a *similar* pair;
    this function follows the convention of the book: no :math:`\tfrac12`, 1 = similar.

    References
    ----------
    - Hadsell, Chopra, LeCun, "Dimensionality reduction by learning an invariant
      mapping", CVPR 2006.

    Examples
    --------
    >>> import lossfns
    >>> lossfns.contrastive([1, 0, 0], [0.5, 0.25, 2.0], reduction="none")
    array([0.25  , 0.5625, 0.    ])
    >>> lossfns.contrastive.grad([1, 0], [0.5, 0.25], reduction="sum")
    array([ 1. , -1.5])
    """
    y, d, dtype = paired_arrays(y_similar, distance, ("y_similar", "distance"), sample_weight)
    return Terms(
        _contrastive_formula,
        (y, d),
        sample_shape=d.shape,
        sample_weight=sample_weight,
        reduction=reduction,
        dtype=dtype,
        rowwise=True,
        checks=(
            (0, one_of("y_similar", (0, 1))),
            (1, finite("distance")),
            (1, nonnegative("distance")),
        ),
        margin=dtype.type(check_margin(margin)),
    )


# -------------------------------------------------------------------- triplet


def _triplet_formula(a, p, n, *, margin, squared, value, grad, hess):
    # (triplet): loss = max(0, D(a, p) - D(a, n) + m), D(x, y) = |x - y| or |x - y|^2;
    #   grad = (u_p - u_n, -u_p, u_n) where the loss is positive, else 0 (also at the kink),
    #   with u = (a - x) / |a - x| (0 at a zero distance), or u = 2 (a - x) when squared
    xp = array_namespace(n)
    to_pos, to_neg = a - p, a - n
    if squared:
        # |a - p|^2 - |a - n|^2 as the sum of (n - p)(2a - p - n): no square of a large
        # distance is formed, and close distances do not cancel
        gap = n - p
        slack = row_sums(gap * (to_pos + to_neg)) + margin
    else:
        d_pos, d_neg = row_norms(to_pos), row_norms(to_neg)
        slack = d_pos - d_neg + margin
    far = ~xp.isfinite(slack)  # a difference or a distance beyond the float range
    if grad and not squared and min(xp.min(d_pos), xp.min(d_neg)) < xp.finfo(a.dtype).smallest_normal:
        far |= _subnormal(d_pos) | _subnormal(d_neg)  # (a unit vector needs more digits)
    if bool(xp.any(far)):
        return _triplet_beyond_range(a, p, n, far, margin=margin, squared=squared,
                                     value=value, grad=grad)
    if grad:
        active = slack > 0
        if squared:
            u_pos, u_neg = (xp.where(active[:, None], 2 * x, 0) for x in (to_pos, to_neg))
            # u_p - u_n, which is 2 (n - p): formed as such (no cancellation)
            u_diff = xp.where(active[:, None], 2 * gap, 0)
        else:
            # a row divided by an infinite distance is 0: where the loss is inactive, and
            # at a zero distance (one pass over the block; zeroing the inactive rows with
            # a where took a second: triplet's value and gradient at 10^5 entries took
            # 0.92x the tuned code's time, against 1.02x)
            u_pos = to_pos / xp.where(active & (d_pos > 0), d_pos, xp.inf)[:, None]
            u_neg = to_neg / xp.where(active & (d_neg > 0), d_neg, xp.inf)[:, None]
            u_diff = u_pos - u_neg
    return (
        xp.maximum(slack, 0) if value else None,
        (u_diff, -u_pos, u_neg) if grad else None,
        None,
    )


def _triplet_beyond_range(a, p, n, far, *, margin, squared, value, grad):
    # (triplet) on the rows marked far (the others as usual), where a difference of
    # embeddings, a distance or D(a, p) - D(a, n) overflows, or a distance is subnormal.
    # There every difference is carried as mantissas and exponents (frexp; a difference
    # beyond the float range as that of quarters, exponent + 2), and the sums of squares or
    # of products are taken relative to their row's largest term: nothing over- or
    # underflows that counts. The gradients 2 (a - x) need none of this: they overflow
    # where they truly do.
    loss, grads = np.empty(far.shape, a.dtype), tuple(np.empty_like(a) for _ in range(3))
    near = (0, (0, 0, 0))
    if not far.all():
        near = _triplet_formula(a[~far], p[~far], n[~far], margin=margin, squared=squared,
                                value=value, grad=grad, hess=False)
    a, p, n = a[far], p[far], n[far]
    if squared:
        gap = _split(n - p, n / 4 - p / 4)
        reach = _split((a - p) + (a - n), (a / 4 - p / 4) + (a / 4 - n / 4))
        difference = _sum_of_products(gap, reach)
        u_pos, u_neg, u_diff = 2 * (a - p), 2 * (a - n), 2 * (n - p)
    else:
        d_pos, u_pos = _norm_and_direction(_split(a - p, a / 4 - p / 4))
        d_neg, u_neg = _norm_and_direction(_split(a - n, a / 4 - n / 4))
        difference = _difference(d_pos, d_neg)
        u_diff = u_pos - u_neg
    slack = difference + margin
    if value:
        loss[~far], loss[far] = near[0], np.maximum(slack, 0)
    active = (slack > 0)[:, None]
    for whole, part, u in zip(grads, near[1], (u_diff, -u_pos, u_neg)) if grad else ():
        whole[~far], whole[far] = part, np.where(active, u, 0)
    return loss if value else None, grads if grad else None, None


_NO_EXPONENT = -(2**20)  # the exponent given to zeros: below every float's


def _split(x, quarter):
    """``x`` as mantissas and exponents (``frexp``), entry by entry; where ``x`` is beyond
    the float range, those of ``quarter`` (``x / 4`` formed from quarters), exponent + 2."""
    beyond = ~np.isfinite(x)
    mantissa, exponent = np.frexp(np.where(beyond, quarter, x))
    return mantissa, np.where(mantissa != 0, exponent + 2 * beyond, _NO_EXPONENT)


def _sum_of_products(u, v):
    """The sum of the products of two split rows, rounded once from the sum relative to the
    largest product (``ldexp``): it overflows only where its value does."""
    (mu, eu), (mv, ev) = u, v
    exponent = eu + ev
    top = exponent.max(axis=1)
    return np.ldexp(row_sums(np.ldexp(mu * mv, exponent - top[:, None])), top)


def _norm_and_direction(x):
    """The norm of each split row, as ``(size, exponent)``, and the unit vector along it
    (0 for a zero row), from the row scaled by the power of two of its largest entry."""
    mantissa, exponent = x
    top = exponent.max(axis=1)
    scaled = np.ldexp(mantissa, exponent - top[:, None])
    size = row_norms(scaled)
    return (size, top), scaled / np.where(size > 0, size, 1)[:, None]


def _difference(first, second):
    """The difference of two norms given as ``(size, exponent)``."""
    (s1, e1), (s2, e2) = first, second
    top = np.maximum(e1, e2)
    return np.ldexp(np.ldexp(s1, e1 - top) - np.ldexp(s2, e2 - top), top)


def _subnormal(d):
    """Where ``d`` is positive and below the normal range."""
    return (d > 0) & (d < array_namespace(d).finfo(d.dtype).smallest_normal)


@loss(_triplet_formula, footprint=8)
def triplet(
    anchor, positive, negative, *, margin=1.0, squared=False, sample_weight=None, reduction="mean"
):
    r"""Triplet loss: the anchor must be nearer its positive than its negative, by a margin.

    .. math::

        \ell(a, p, n) = \max\bigl(0,\; D(a, p) - D(a, n) + m\bigr),

    where :math:`D(x, y) = \lVert x - y\rVert_2`, or :math:`\lVert x - y\rVert_2^2` when
    ``squared=True``.

    Parameters
    ----------
    anchor, positive, negative : array_like
        Embeddings, one per row: three 2-D arrays of the same shape ``(n, d)``.
    margin : float
        The margin :math:`m \ge 0`.
    squared : bool
        Use squared Euclidean distances (as FaceNet does).
    sample_weight : array_like, optional
        Non-negative weights, one per triplet (shape ``(n,)``).
    reduction : {"mean", "sum", "none"}
        As for every loss; ``"none"`` returns one value per triplet, shape ``(n,)``.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss, float32 when every float input is float32, else float64.

    Notes
    -----
    Derived in :ref:`ranking-triplet`. ``grad`` returns three ``(n, d)`` arrays, the
    derivatives with respect to the anchor, the positive and the negative. Where the
    loss is positive they are :math:`u_p - u_n`, :math:`-u_p`, :math:`u_n` with the unit
    vectors :math:`u_p = (a - p)/\lVert a - p\rVert`, :math:`u_n = (a - n)/\lVert a - n\rVert`
    (:math:`2(a - p)` and :math:`2(a - n)` in place of the unit vectors when squared);
    elsewhere, and at the kink where the bracket is exactly 0, they are 0 (``-0.`` where
    the entry of :math:`a - p` or :math:`a - n` is negative: a zero with a sign). At a zero
    distance the unit vector is taken as 0 — a subgradient of the norm, never NaN. Norms
    are computed without overflow or underflow of the squares. There is no ``hess``: the
    loss is not elementwise. With ``squared=False`` this is PyTorch's
    ``triplet_margin_loss(anchor, positive, negative, margin=margin, eps=0)``.

    References
    ----------
    - Schroff, Kalenichenko, Philbin, "FaceNet: a unified embedding for face
      recognition and clustering", CVPR 2015.
    - Weinberger, Saul, "Distance metric learning for large margin nearest neighbor
      classification", JMLR 10, 2009.

    Examples
    --------
    >>> import lossfns
    >>> a, p, n = [[0.0, 0.0], [0.0, 0.0]], [[3.0, 4.0], [1.0, 0.0]], [[0.0, 5.5], [0.0, 4.0]]
    >>> lossfns.triplet(a, p, n, reduction="none")
    array([0.5, 0. ])
    >>> grad_a, grad_p, grad_n = lossfns.triplet.grad(a, p, n, reduction="sum")
    >>> grad_a
    array([[-0.6,  0.2],
           [-0. ,  0. ]])
    """
    dtype = float_dtype(anchor, positive, negative, sample_weight)
    a = real_array(anchor, "anchor", dtype, finite=False)
    p = real_array(positive, "positive", dtype, finite=False)
    n = real_array(negative, "negative", dtype, finite=False)
    if a.ndim != 2:
        raise ValueError(f"anchor must be 2-D (one embedding per row), got shape {a.shape}")
    check_same_shape(anchor=a, positive=p, negative=n)
    if not isinstance(squared, (bool, np.bool_)):
        raise TypeError(f"squared must be True or False, got {squared!r}")
    return Terms(
        _triplet_formula,
        (a, p, n),
        sample_shape=a.shape[:1],
        sample_weight=sample_weight,
        reduction=reduction,
        dtype=dtype,
        rowwise=True,
        checks=((0, finite("anchor")), (1, finite("positive")), (2, finite("negative"))),
        margin=dtype.type(check_margin(margin)),
        squared=bool(squared),
    )
