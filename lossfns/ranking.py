"""Ranking and metric-learning losses (Part IV of the book).

Pairwise losses compare the score of a preferred item with the score of a less preferred
one (:func:`pairwise_hinge`, :func:`bpr`, :func:`pairwise_logistic`); metric-learning
losses act on distances between embeddings (:func:`contrastive`, :func:`triplet`).
"""

from __future__ import annotations

import numpy as np

from ._core import (
    Terms,
    check_same_shape,
    check_scalar,
    elementwise_loss,
    finite,
    float_dtype,
    loss,
    nonnegative,
    one_of,
    real_array,
)

__all__ = ["pairwise_hinge", "bpr", "pairwise_logistic", "contrastive", "triplet"]


# ------------------------------------------------------------------- helpers


def _scores(pos_scores, neg_scores, sample_weight):
    dtype = float_dtype(pos_scores, neg_scores, sample_weight)
    pos = real_array(pos_scores, "pos_scores", dtype, finite=False)
    neg = real_array(neg_scores, "neg_scores", dtype, finite=False)
    check_same_shape(pos_scores=pos, neg_scores=neg)
    return pos, neg, dtype


_SCORE_CHECKS = ((0, finite("pos_scores")), (1, finite("neg_scores")))


def _margin(margin):
    return check_scalar(margin, "margin", low=0)


def _row_norms(r):
    """Euclidean norm of each row of ``r``, free of overflow and underflow.

    ``sqrt(sum(r**2))`` is exact to a few ulps unless the sum of squares overflows or
    falls into the subnormal range; those rows are recomputed as
    ``s * sqrt(sum((r / s)**2))`` with ``s = max |r|`` (0 for a zero row).
    """
    squares = np.einsum("ij,ij->i", r, r)
    info = np.finfo(r.dtype)
    bad = ~(squares >= info.tiny / info.eps) | np.isinf(squares)
    with np.errstate(over="ignore"):
        norms = np.sqrt(squares)
    if bad.any():
        rows = r[bad]
        scale = np.abs(rows).max(axis=1)
        safe = np.where(scale > 0, scale, 1)
        unit = rows / safe[:, None]
        norms[bad] = scale * np.sqrt(np.einsum("ij,ij->i", unit, unit))
    return norms


# ------------------------------------------------------------- pairwise hinge


def _pairwise_hinge_formula(pos, neg, *, margin, value, grad, hess):
    # The row-wise evaluation hands this formula blocks (never scalars): buffers are
    # reused in place (out=).
    slack = np.subtract(neg, pos)
    slack += margin  # margin - (pos - neg)
    out = [None, None, None]
    if value:
        out[0] = np.maximum(slack, 0)
    if grad:
        d_neg = np.greater(slack, 0).astype(pos.dtype)  # 1, or 0 at and past the kink
        out[1] = (np.subtract(0, d_neg, out=slack), d_neg)
    if hess:
        out[2] = (np.zeros_like(pos), np.zeros_like(neg))
    return tuple(out)


@elementwise_loss
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
    pos, neg, dtype = _scores(pos_scores, neg_scores, sample_weight)
    return Terms(
        _pairwise_hinge_formula,
        (pos, neg),
        sample_shape=pos.shape,
        sample_weight=sample_weight,
        reduction=reduction,
        dtype=dtype,
        rowwise=True,
        checks=_SCORE_CHECKS,
        margin=dtype.type(_margin(margin)),
    )


# ------------------------------------------------------- BPR, pairwise logistic


def _pairwise_logistic_formula(pos, neg, *, value, grad, hess):
    # softplus(-g) = -min(g, 0) + log1p(e) with e = exp(-|g|) <= 1, formed without masks
    # as exp(min(g, 0)) exp(-max(g, 0)) (one factor is 1), and sigma(-g) = exp(-max(g,
    # 0)) / (1 + e): nothing overflows and nothing cancels. The row-wise evaluation
    # hands this formula blocks (never scalars), so buffers are reused in place (out=).
    gap = np.subtract(pos, neg)
    above = np.maximum(gap, 0)
    low = np.subtract(gap, above, out=gap)  # min(g, 0), exactly
    e = np.exp(low)
    np.negative(above, out=above)
    np.exp(above, out=above)  # exp(-max(g, 0))
    e *= above
    out = [None, None, None]
    if value == "sum":  # of two sums of non-negative terms
        out[0] = np.add.reduce(np.log1p(e), axis=None) - np.add.reduce(low, axis=None)
    elif value:
        loss = np.log1p(e)
        out[0] = np.subtract(loss, low, out=loss)
    if grad or hess:
        one_plus_e = np.add(e, 1, out=low)
        if grad:
            sigma_neg = np.divide(above, one_plus_e)  # sigma(-g)
            out[1] = (np.negative(sigma_neg), sigma_neg)
        if hess:
            curvature = np.divide(e, one_plus_e, out=e)
            curvature /= one_plus_e  # sigma(g) sigma(-g) = e / (1 + e)^2
            out[2] = (curvature, curvature.copy())
    return tuple(out)


@elementwise_loss
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
    pos, neg, dtype = _scores(pos_scores, neg_scores, sample_weight)
    return Terms(
        _pairwise_logistic_formula,
        (pos, neg),
        sample_shape=pos.shape,
        sample_weight=sample_weight,
        reduction=reduction,
        dtype=dtype,
        rowwise=True,
        checks=_SCORE_CHECKS,
    )


@elementwise_loss
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
    pos, neg, dtype = _scores(pos_scores, neg_scores, sample_weight)
    return Terms(
        _pairwise_logistic_formula,
        (pos, neg),
        sample_shape=pos.shape,
        sample_weight=sample_weight,
        reduction=reduction,
        dtype=dtype,
        rowwise=True,
        checks=_SCORE_CHECKS,
    )


# ---------------------------------------------------------------- contrastive


def _contrastive_formula(y, d, *, margin, value, grad, hess):
    short = np.maximum(margin - d, 0)  # how far a dissimilar pair is inside the margin
    out = [None, None, None]
    if value:
        out[0] = y * d * d + (1 - y) * short * short
    if grad:
        out[1] = 2 * (y * d - (1 - y) * short)
    if hess:
        out[2] = 2 * (y + (1 - y) * (d < margin))
    return tuple(out)


@elementwise_loss
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
    dtype = float_dtype(y_similar, distance, sample_weight)
    y = real_array(y_similar, "y_similar", dtype, finite=False)
    d = real_array(distance, "distance", dtype, finite=False)
    check_same_shape(y_similar=y, distance=d)
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
        margin=dtype.type(_margin(margin)),
    )


# -------------------------------------------------------------------- triplet


def _triplet_formula(a, p, n, *, margin, squared, value, grad, hess):
    to_pos, to_neg = a - p, a - n
    if squared:
        # |a - p|^2 - |a - n|^2 as the sum of (n - p)(2a - p - n): no square of a
        # large distance overflows, and close distances do not cancel
        slack = np.einsum("ij,ij->i", to_pos - to_neg, to_pos + to_neg)
        slack += margin
        d_pos = d_neg = None  # the gradient of squared distances needs no norms
    else:
        d_pos, d_neg = _row_norms(to_pos), _row_norms(to_neg)
        slack = d_pos - d_neg + margin
    out = [None, None, None]
    if value:
        out[0] = np.maximum(slack, 0)
    if grad:
        # The unit vectors (a - p) / |a - p| and (a - n) / |a - n| (0 for a zero
        # distance, where the difference is 0), or 2 (a - p) and 2 (a - n) when squared,
        # formed in place; rows where the loss is not active (and at the kink slack = 0)
        # get 0.
        inactive = ~(slack > 0)
        for difference, distance in ((to_pos, d_pos), (to_neg, d_neg)):
            if squared:
                difference *= 2
            else:
                difference /= np.where(distance > 0, distance, 1)[:, None]
            difference[inactive] = 0
        toward_pos, toward_neg = to_pos, to_neg
        out[1] = (toward_pos - toward_neg, np.negative(toward_pos), toward_neg)
    return tuple(out)


@loss
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
    elsewhere, and at the kink where the bracket is exactly 0, they are 0. At a zero
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
           [ 0. ,  0. ]])
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
        margin=dtype.type(_margin(margin)),
        squared=bool(squared),
    )
