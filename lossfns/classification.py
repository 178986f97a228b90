"""Classification losses (Part II of the book).

Each loss is a short formula in the variables of its equation, built on the stable parts
of :mod:`lossfns._stable`: :class:`~lossfns._stable.Logistic` (the sigmoid and softplus
pair of a logit) for the binary losses, :class:`~lossfns._stable.Softmax` (the softmax
of a row of logits and its logarithm) for the multi-class ones.
"""

from __future__ import annotations

import math

import numpy as np

from ._core import (
    Terms,
    _extremes,
    check_class_indices,
    check_distribution,
    check_margin,
    check_same_shape,
    check_scalar,
    elementwise_loss,
    finite,
    float_dtype,
    loss,
    nonnegative,
    one_of,
    reevaluate_rows,
    paired_arrays,
    real_array,
    within,
)
from ._namespace import array_namespace, copy, set_entries
from ._stable import Logistic, Softmax, row_sums

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "softmax_cross_entropy",
    "multi_positive_softmax_cross_entropy",
    "logistic_loss",
    "hinge",
    "squared_hinge",
    "multiclass_hinge",
    "focal_loss",
    "softmax_focal_loss",
]

_LABEL_LOGIT_CHECKS = ((0, within("y_true", 0, 1)), (1, finite("logits")))


# ---------------------------------------------------------------- binary, logits


def _bce_with_logits_formula(y, z, pos_weight=None, *, value, grad, hess):
    # (bce-logits): loss = w y softplus(-z) + (1 - y) softplus(z),
    #   grad = (1 - y) sigma(z) - w y sigma(-z),   hess = (1 - y + w y) sigma(z) sigma(-z),
    # with w = pos_weight; when None, w = 1 is not multiplied in: grad = sigma(z) - y,
    # hess = sigma(z) sigma(-z)
    s = Logistic(z)
    if pos_weight is None:
        return (
            y * s.softplus_neg + (1 - y) * s.softplus if value else None,
            s.sigmoid_minus(y) if grad else None,
            s.curvature if hess else None,
        )
    positive, negative = pos_weight * y, 1 - y
    outputs = (
        _weighted_term(pos_weight, s.softplus_neg, y) + negative * s.softplus if value else None,
        negative * s.sigmoid - positive * s.sigmoid_neg if grad else None,
        (negative + positive) * s.curvature if hess else None,
    )
    # beyond z = -log(smallest normal) (708.4 in float64) softplus(-z), sigma(-z) and the
    # curvature are subnormal, with few digits left, and a w y > 1 lifts them back into the
    # normal range: those rows again with a wider exponent (NumPy only)
    if array_namespace(z) is not np or not z.size:
        return outputs
    edge = -np.log(np.finfo(z.dtype).smallest_normal)
    if z.max() > edge:
        lifted = (z > edge) & (positive > 1)
        rows = lifted.reshape(len(z), -1).any(axis=1)
        if rows.any():
            arrays = (y, z) if pos_weight.ndim == 0 else (y, z, pos_weight)
            hyper = {"pos_weight": pos_weight} if pos_weight.ndim == 0 else {}
            outputs = reevaluate_rows(_bce_with_logits_formula, rows, arrays, outputs, **hyper)
    return outputs


def _weighted_term(w, softplus_neg, y):
    """The term ``w softplus(-z) y``, with ``w softplus(-z)`` first: ``w y``
    would underflow for a tiny ``w`` before meeting a softplus near 1e308. The product
    overflows only for ``w > 1``, and is then redone exactly (:func:`_product`)."""
    term = w * softplus_neg * y
    xp = array_namespace(term)
    if (w.ndim or w > 1) and not bool(xp.all(xp.isfinite(term))):
        term = _product(w, softplus_neg, y)
    return term


def _product(*factors):
    """The product of non-negative ``factors``, rounded as if at once: their mantissas
    (in [1/2, 1)) are multiplied and their exponents added (``frexp``, ``ldexp``), so no
    partial product under- or overflows where the whole does not. (A rare path: several
    times slower than plain products.)"""
    mantissa, exponent = 1, 0
    for factor in factors:  # (NumPy's frexp and ldexp: a rare path, in NumPy only)
        m, e = np.frexp(factor)
        mantissa, exponent = mantissa * m, exponent + e
    return np.ldexp(mantissa, exponent)


@elementwise_loss(_bce_with_logits_formula, footprint=13)
def binary_cross_entropy_with_logits(
    y_true, logits, *, pos_weight=None, sample_weight=None, reduction="mean"
):
    r"""Binary cross-entropy of targets and the sigmoid of logits, without forming the sigmoid.

    .. math::

        \ell(y, z) &= -\bigl[w\,y \log\sigma(z) + (1-y)\log(1-\sigma(z))\bigr] \\
                   &= w\,y\,\operatorname{softplus}(-z) + (1-y)\operatorname{softplus}(z),

    with :math:`\sigma(z) = 1/(1+e^{-z})`, :math:`\operatorname{softplus}(z) = \log(1+e^z)`
    and :math:`w` = ``pos_weight`` (1 by default, where :math:`\ell = \operatorname{softplus}(z) - yz`).

    Parameters
    ----------
    y_true : array_like
        Targets in [0, 1] (soft labels allowed), any shape.
    logits : array_like
        Raw scores :math:`z`, same shape as ``y_true``.
    pos_weight : float or array_like, optional
        Non-negative weight :math:`w` of the positive term: a scalar, or one weight per
        column (shape ``(logits.shape[-1],)``) for multi-label targets, as in PyTorch;
        for 1-D logits that is one weight per element.
    sample_weight : array_like, optional
        Non-negative weights, of the loss's shape or a leading part of it (one per row).
    reduction : {"mean", "sum", "none"}
        ``"mean"`` is the weighted mean :math:`\sum w_i\ell_i / \sum w_i`; ``"none"``
        returns the weighted terms, of the shape of ``logits``.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss, float32 when every float input is float32, else float64.

    Notes
    -----
    Derivatives (see :ref:`bce-with-logits`): ``grad`` is
    :math:`(1-y)\sigma(z) - w\,y\,(1-\sigma(z))`, which is :math:`\sigma(z) - y` for
    :math:`w = 1`; ``hess`` is :math:`(1 - y + w\,y)\,\sigma(z)(1-\sigma(z))`.
    The value is computed as softplus terms from one :math:`e^{-|z|}`, so it is exact
    (to rounding) for logits of any size — no clipping: ``binary_cross_entropy_with_logits(1, -1000)``
    is 1000, not :math:`-\log(10^{-7})`.

    References
    ----------
    - PyTorch, ``torch.nn.functional.binary_cross_entropy_with_logits``.
    - Goodfellow, Bengio, Courville, *Deep Learning*, MIT Press, 2016, section 6.2.2.2.

    Examples
    --------
    >>> import lossfns
    >>> float(lossfns.binary_cross_entropy_with_logits([1.0, 0.0], [2.0, -1.0]))
    0.22009485
    >>> lossfns.binary_cross_entropy_with_logits.grad([1.0, 0.0], [0.0, 0.0])
    array([-0.25,  0.25])
    >>> float(lossfns.binary_cross_entropy_with_logits(1.0, -1000.0))
    1000.0
    """
    y, z, dtype = paired_arrays(y_true, logits, ("y_true", "logits"), pos_weight, sample_weight)
    hyper, arrays = {}, (y, z)
    if pos_weight is not None:
        pos_weight = real_array(pos_weight, "pos_weight", dtype)
        if pos_weight.ndim > 1 or (pos_weight.ndim == 1 and pos_weight.shape != z.shape[-1:]):
            raise ValueError(
                f"pos_weight must be a scalar or have shape {z.shape[-1:]} (one per column), "
                f"got shape {pos_weight.shape}"
            )
        nonnegative("pos_weight")(pos_weight)
        # one weight is a scalar factor; weights per column take the data's shape (a
        # view), sliced with the blocks like the data
        if pos_weight.ndim == 0:
            hyper["pos_weight"] = pos_weight[()]
        else:
            arrays = (y, z, array_namespace(z).broadcast_to(pos_weight, z.shape))
    return Terms(
        _bce_with_logits_formula,
        arrays,
        sample_shape=z.shape,
        sample_weight=sample_weight,
        reduction=reduction,
        dtype=dtype,
        rowwise=True,
        checks=_LABEL_LOGIT_CHECKS,
        **hyper,
    )


# ------------------------------------------------------------- binary, probabilities


def _bce_formula(y, p, *, value, grad, hess):
    # (bce): loss = -[y log p + (1 - y) log(1 - p)],
    #   grad = (1 - y) / (1 - p) - y / p,   hess = (1 - y) / (1 - p)^2 + y / p^2;
    # log(1 - p) as log1p(-p), exact for p down to the smallest subnormal
    xp = array_namespace(p)
    # (_extremes calls NumPy's methods: np.min and np.max cost 7 us more a block, 1.5 % of
    # a call at 10^5 entries)
    smallest, largest = _extremes(p)
    if smallest == 0 or largest == 1:  # a term 0 log 0 = 0 needs the masked formula
        return _bce_at_the_ends(y, p, value=value, grad=grad, hess=hess)
    q, one_minus_p = 1 - y, 1 - p
    loss = -(y * xp.log(p) + q * xp.log1p(-p)) if value else None
    if not (grad or hess):
        return loss, None, None
    positive, negative = y / p, q / one_minus_p  # +inf for a subnormal p: the truth
    return (
        loss,
        negative - positive if grad else None,
        negative / one_minus_p + positive / p if hess else None,
    )


def _bce_at_the_ends(y, p, *, value, grad, hess):
    # (bce) where some p is 0 or 1: a term whose label weight is 0 is 0 (0 log 0 = 0), so
    # its p is taken as 1 (or 0) there, where its log or ratio would be infinite or 0 / 0
    xp = array_namespace(p)
    q = 1 - y
    p_pos, p_neg = xp.where(y > 0, p, 1), xp.where(q > 0, p, 0)
    positive, negative = y / p_pos, q / (1 - p_neg)  # +inf where p = 0 < y: the truth
    return (
        -(y * xp.log(p_pos) + q * xp.log1p(-p_neg)) if value else None,
        negative - positive if grad else None,
        negative / (1 - p_neg) + positive / p_pos if hess else None,
    )


@elementwise_loss((_bce_formula, _bce_at_the_ends), footprint=11)
def binary_cross_entropy(y_true, y_prob, *, sample_weight=None, reduction="mean"):
    r"""Binary cross-entropy of targets and predicted probabilities.

    .. math::

        \ell(y, p) = -\bigl[\,y \log p + (1-y)\log(1-p)\,\bigr], \qquad 0 \log 0 = 0 .

    Parameters
    ----------
    y_true : array_like
        Targets in [0, 1] (soft labels allowed), any shape.
    y_prob : array_like
        Predicted probabilities :math:`p` in [0, 1], same shape as ``y_true``.
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
    Computed as :math:`y \log p` and :math:`(1-y)\operatorname{log1p}(-p)`, with
    :math:`0 \log 0 = 0` where a probability is exactly 0 or 1: no clipping, so the value is
    exact for probabilities as small as 1e-300 (see :ref:`classification-stability`, where
    it is compared with the :math:`\epsilon`-clipped values other libraries return). A
    probability of exactly 0 (or 1) for a label that has weight on it is an infinite loss,
    and the library returns ``inf`` there, as the formula says.
    ``grad`` is :math:`\frac{p-y}{p(1-p)} = \frac{1-y}{1-p} - \frac{y}{p}` and ``hess`` is
    :math:`\frac{y}{p^2} + \frac{1-y}{(1-p)^2}` (the terms with a zero label weight are 0).
    The derivation from the Bernoulli likelihood is in :ref:`bce-with-logits`; with logits,
    prefer :func:`binary_cross_entropy_with_logits`.

    References
    ----------
    - C. M. Bishop, *Pattern Recognition and Machine Learning*, Springer, 2006, §4.3.2.

    Examples
    --------
    >>> import lossfns
    >>> lossfns.binary_cross_entropy([1.0, 0.0], [0.8, 0.3], reduction="none")
    array([0.22314355, 0.35667494])
    >>> float(lossfns.binary_cross_entropy(1.0, 1e-300))
    690.7755278982137
    >>> float(lossfns.binary_cross_entropy(1.0, 0.0))
    inf
    """
    y, p, dtype = paired_arrays(y_true, y_prob, ("y_true", "y_prob"), sample_weight)
    return Terms(
        _bce_formula,
        (y, p),
        sample_shape=p.shape,
        sample_weight=sample_weight,
        reduction=reduction,
        dtype=dtype,
        rowwise=True,
        checks=((0, within("y_true", 0, 1)), (1, within("y_prob", 0, 1))),
    )


# --------------------------------------------------------------- softmax, row-wise


def _softmax_ce_formula(u, z, *, value, grad, hess):
    # (softmax-ce): loss = sum_c u_c (-log p_c),  p = softmax(z),  U = sum_c u_c;
    #   grad = U p - u = (U - u) p - u (1 - p)  (no cancellation where p is near 1),
    #   hess = U p (1 - p)  (the diagonal)
    s = Softmax(z)
    total = row_sums(u)[:, None]
    return (
        s.cross_entropy(u) if value else None,
        (total - u) * s.p - u * s.one_minus_p if grad else None,
        total * s.p * s.one_minus_p if hess else None,
    )


def _softmax_ce_index_formula(y, z, *, value, grad, hess):
    # (softmax-ce) with one-hot targets, not formed: loss = -log p_y,
    #   grad = p - onehot(y), whose entry at y is -(1 - p_y),   hess = p (1 - p)
    s = Softmax(z)
    if grad:
        p_minus_onehot = set_entries(copy(s.p), (s.xp.arange(z.shape[0]), y), -s.one_minus_p_at(y))
    return (
        s.neg_log_p_at(y) if value else None,
        p_minus_onehot if grad else None,
        s.p * s.one_minus_p if hess else None,
    )


def _softmax_targets(y_true, z, dtype, *, dense=True):
    """Target rows (n, C) from class indices (n,) or probability rows (n, C), and the
    indices (``None`` for probability rows); with ``dense=False``, indices are not
    expanded into rows (the targets are ``None``). Indices of any integer dtype."""
    y = real_array(y_true, "y_true")
    n, n_classes = z.shape
    if y.ndim == 1:
        if y.shape[0] != n:
            raise ValueError(f"shapes differ: y_true {y.shape}, logits {z.shape}")
        index = check_class_indices(y, "y_true", n_classes)
        if not dense:
            return None, index
        xp = array_namespace(z)
        return xp.eye(n_classes, dtype=z.dtype)[index, :], index
    if y.ndim != 2:
        raise ValueError(
            f"y_true must be class indices of shape (n,) or rows of shape {z.shape}, "
            f"got shape {y.shape}"
        )
    check_same_shape(y_true=y, logits=z)
    y = real_array(y, "y_true", dtype)
    check_distribution(y, "y_true", axis=1)
    return y, None


def _logit_rows(logits, dtype, *, finite=True):
    z = real_array(logits, "logits", dtype, finite=finite)
    if z.ndim != 2:
        raise ValueError(f"logits must have shape (n_samples, n_classes), got shape {z.shape}")
    if z.shape[1] < 2:
        raise ValueError(f"logits must have at least 2 classes (columns), got {z.shape[1]}")
    return z


def _class_vector(values, name, n_classes, dtype, high=None):
    a = real_array(values, name, dtype)
    if a.shape != (n_classes,):
        raise ValueError(f"{name} must have shape ({n_classes},) (one per class), got {a.shape}")
    (nonnegative(name) if high is None else within(name, 0, high))(a)
    return a


def _largest_below_one(weights):
    """``weights`` times the power of two that brings the largest into [1/2, 1): exact
    (short of weights below the largest by more than the float range), and a mean that
    divides by summed weights does not change, but the sum no longer overflows (class
    weights of 1e308 made every mean 0: its denominator was inf)."""
    largest = float(array_namespace(weights).max(weights))
    if not 0 < largest < math.inf:
        return weights
    return weights * weights.dtype.type(2.0 ** -math.frexp(largest)[1])


_LOGIT_ROW_CHECKS = ((1, finite("logits")),)


@loss((_softmax_ce_formula, _softmax_ce_index_formula), hessian=True, footprint=9)
def softmax_cross_entropy(
    y_true, logits, *, label_smoothing=0.0, class_weight=None, sample_weight=None, reduction="mean"
):
    r"""Cross-entropy between target distributions and the softmax of logits.

    .. math::

        \ell(t, z) = \sum_c w_c\, t_c \bigl(\log\textstyle\sum_j e^{z_j} - z_c\bigr)
                   = -\sum_c w_c\, t_c \log\operatorname{softmax}(z)_c ,

    with targets :math:`t = (1-\varepsilon)\,y + \varepsilon / C` (:math:`y` one-hot or a
    probability row, :math:`\varepsilon` = ``label_smoothing``, :math:`C` classes) and
    class weights :math:`w` (all 1 by default). Without class weights this is
    :math:`\operatorname{logsumexp}(z) - t\cdot z`.

    Parameters
    ----------
    y_true : array_like
        Integer class indices in ``range(C)``, shape ``(n,)``, or probability rows, shape
        ``(n, C)``, non-negative and summing to 1 within 1e-6.
    logits : array_like
        Raw scores, shape ``(n, C)``.
    label_smoothing : float
        :math:`\varepsilon \in [0, 1]`: the targets become :math:`(1-\varepsilon)\,y +
        \varepsilon/C`.
    class_weight : array_like, optional
        Non-negative weight of each class, shape ``(C,)``, as ``weight`` in
        ``torch.nn.functional.cross_entropy``. With class indices, ``"mean"`` divides by
        the sum of :math:`w_{y_i}` (times the sample weights), as torch does; with
        probability rows it divides by the number (or summed weight) of samples.
    sample_weight : array_like, optional
        Non-negative weight of each sample, shape ``(n,)``.
    reduction : {"mean", "sum", "none"}
        ``"none"`` returns one (weighted) value per sample.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss, float32 when every float input is float32, else float64.

    Notes
    -----
    ``grad`` is :math:`\bigl(\sum_c w_c t_c\bigr)\operatorname{softmax}(z) - w\odot t`,
    which is :math:`\operatorname{softmax}(z) - t` without class weights; its shape is
    ``(n, C)``. ``hess`` is the diagonal of the Hessian with respect to each row's
    logits, :math:`\bigl(\sum_c w_c t_c\bigr)\,p_c(1 - p_c)` with :math:`p =
    \operatorname{softmax}(z)` (the off-diagonal entries :math:`-p_c p_j` are left out:
    this diagonal is what gradient boosting uses); ``grad_hess`` gives both from one pass.
    The derivation, the maximum-likelihood reading and the numerics are in
    :ref:`softmax-cross-entropy`. The log-sum-exp is taken as
    :math:`\log\sum_j e^{z_j} - z_c = (m - z_c) + \operatorname{log1p}\bigl(\sum_{j\ne k}
    e^{z_j - m}\bigr)` with :math:`m = z_k` the row's maximum: both terms are
    non-negative, so the value is accurate to a few ulp even when it is tiny, for logits
    of any size.

    References
    ----------
    - PyTorch, ``torch.nn.functional.cross_entropy``.
    - C. Szegedy, V. Vanhoucke, S. Ioffe, J. Shlens, Z. Wojna, "Rethinking the
      Inception architecture for computer vision", CVPR 2016 (label smoothing).

    Examples
    --------
    >>> import numpy as np, lossfns
    >>> logits = np.log([[0.1, 0.7, 0.2]])
    >>> float(lossfns.softmax_cross_entropy([1], logits))
    0.35667494
    >>> lossfns.softmax_cross_entropy.grad([1], logits)
    array([[ 0.1, -0.3,  0.2]])
    >>> float(lossfns.softmax_cross_entropy([0], [[1e4, -1e4]], reduction="sum"))
    0.0
    """
    dtype = float_dtype(y_true, logits, class_weight, sample_weight)
    epsilon = check_scalar(label_smoothing, "label_smoothing", low=0, high=1)
    plain = not epsilon and class_weight is None  # class indices need no target rows
    z = _logit_rows(logits, dtype, finite=False)
    target, index = _softmax_targets(y_true, z, dtype, dense=not plain)
    formula, u, mean_weights = _softmax_ce_formula, target, None
    if plain and index is not None:
        formula, u = _softmax_ce_index_formula, index
    if epsilon:
        u = (1 - epsilon) * u + dtype.type(epsilon / z.shape[1])
    if class_weight is not None:
        class_weight = _class_vector(class_weight, "class_weight", z.shape[1], dtype)
        if index is not None and reduction == "mean":
            class_weight = _largest_below_one(class_weight)
        u = u * class_weight
        if index is not None:
            # torch's mean with class indices divides by the summed weights of the
            # samples' classes (times their sample weights), not by the number of samples
            mean_weights = class_weight[index]
    return Terms(
        formula,
        (u, z),
        sample_shape=z.shape[:1],
        sample_weight=sample_weight,
        reduction=reduction,
        dtype=dtype,
        mean_weights=mean_weights,
        rowwise=True,
        checks=_LOGIT_ROW_CHECKS,
    )


@loss(_softmax_ce_formula, footprint=9)
def multi_positive_softmax_cross_entropy(y_true, logits, *, sample_weight=None, reduction="mean"):
    r"""Softmax cross-entropy with several positive classes per row, averaged over them.

    .. math::

        \ell(y, z) = -\frac{1}{m}\sum_{j:\,y_j = 1} \log\frac{e^{z_j}}{\sum_k e^{z_k}}
                   = \log\sum_k e^{z_k} - \frac{1}{m}\sum_{j:\,y_j=1} z_j,
        \qquad m = \sum_j y_j .

    Parameters
    ----------
    y_true : array_like
        Multi-hot rows, shape ``(n, C)``, values 0 and 1, at least one 1 per row.
    logits : array_like
        Raw scores, shape ``(n, C)``.
    sample_weight : array_like, optional
        Non-negative weight of each row, shape ``(n,)``. ``sample_weight=m`` with
        ``reduction="sum"`` gives the unnormalised variant
        :math:`-\sum_{j\in\text{pos}} \log\operatorname{softmax}(z)_j`.
    reduction : {"mean", "sum", "none"}
        ``"none"`` returns one (weighted) value per row.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss, float32 when every float input is float32, else float64.

    Notes
    -----
    This is :func:`softmax_cross_entropy` with the target row :math:`y/m`; ``grad`` is
    :math:`\operatorname{softmax}(z) - y/m`, shape ``(n, C)``. The denominator is
    :math:`\sum_k e^{z_k}`, not :math:`\sum_k z_k` as a widely copied version writes it;
    see :ref:`multi-positive-softmax`.

    References
    ----------
    - T. Mikolov, I. Sutskever, K. Chen, G. Corrado, J. Dean, "Distributed
      representations of words and phrases and their compositionality", NeurIPS 2013.

    Examples
    --------
    >>> import lossfns
    >>> float(lossfns.multi_positive_softmax_cross_entropy([[1, 1, 0, 0]], [[0.0, 0.0, 0.0, 0.0]]))
    1.38629436
    >>> lossfns.multi_positive_softmax_cross_entropy.grad([[1, 1, 0, 0]], [[0.0, 0.0, 0.0, 0.0]])
    array([[-0.25, -0.25,  0.25,  0.25]])
    """
    dtype = float_dtype(y_true, logits, sample_weight)
    z = _logit_rows(logits, dtype)
    y = real_array(y_true, "y_true", dtype)
    if y.ndim != 2:
        raise ValueError(f"y_true must be multi-hot rows of shape {z.shape}, got shape {y.shape}")
    check_same_shape(y_true=y, logits=z)
    one_of("y_true", (0, 1))(y)
    xp = array_namespace(y)
    positives = xp.sum(y, axis=1)
    if xp.min(positives) == 0:
        row = int(xp.argmin(positives))
        raise ValueError(f"y_true row {row} has no positive class; every row needs at least one")
    return Terms(
        _softmax_ce_formula,
        (y / positives[:, None], z),
        sample_shape=z.shape[:1],
        sample_weight=sample_weight,
        reduction=reduction,
        dtype=dtype,
        rowwise=True,
    )


# ----------------------------------------------------------------- margin losses


_SIGN_SCORE_CHECKS = ((0, one_of("y_true", (-1, 1))), (1, finite("scores")))


def _logistic_formula(y, f, *, value, grad, hess):
    # (logistic): loss = softplus(-m) = log(1 + e^{-m}) of the margin m = y f (exact for y = +-1),
    #   grad = -y sigma(-m) = y (sigma(m) - 1),   hess = sigma(m) sigma(-m)
    #   (sigma(m) - 1 formed as BCE's sigma(z) - y, so the two agree to the bit)
    s = Logistic(y * f)
    return (
        s.softplus_neg if value else None,
        y * s.sigmoid_minus(1) if grad else None,
        s.curvature if hess else None,
    )


@elementwise_loss(_logistic_formula, footprint=11)
def logistic_loss(y_true, scores, *, sample_weight=None, reduction="mean"):
    r"""Logistic loss of labels in {-1, +1} and raw scores.

    .. math::

        \ell(y, f) = \log\bigl(1 + e^{-y f}\bigr), \qquad y \in \{-1, +1\} .

    Parameters
    ----------
    y_true : array_like
        Labels, exactly -1 or +1, any shape.
    scores : array_like
        Raw scores :math:`f`, same shape as ``y_true``.
    sample_weight : array_like, optional
        Non-negative weights, of the loss's shape or a leading part of it.
    reduction : {"mean", "sum", "none"}
        ``"none"`` returns the weighted terms, of the shape of ``scores``.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss, float32 when every float input is float32, else float64.

    Notes
    -----
    It equals :func:`binary_cross_entropy_with_logits` at the label :math:`(y+1)/2`, term
    by term (proved in :ref:`logistic-loss`), and is computed from the same stable parts
    (softplus and sigmoid from one :math:`e^{-|y f|}`).
    ``grad`` is :math:`-y\,\sigma(-y f)`, ``hess`` is :math:`\sigma(f)\,\sigma(-f)`.
    Labels in {0, 1} are an error, not a silent conversion.

    References
    ----------
    - PyTorch, ``torch.nn.functional.soft_margin_loss``.

    Examples
    --------
    >>> import lossfns
    >>> lossfns.logistic_loss([1, -1], [2.0, 2.0], reduction="none")
    array([0.12692801, 2.12692801])
    >>> lossfns.logistic_loss.grad([1, -1], [0.0, 0.0], reduction="none")
    array([-0.5,  0.5])
    """
    y, f, dtype = paired_arrays(y_true, scores, ("y_true", "scores"), sample_weight)
    return Terms(
        _logistic_formula, (y, f), sample_shape=f.shape, sample_weight=sample_weight,
        reduction=reduction, dtype=dtype, rowwise=True, checks=_SIGN_SCORE_CHECKS,
    )


def _hinge_formula(y, f, *, margin, value, grad, hess):
    # (hinge): loss = max(0, m - y f),  grad = -y where y f < m (0 at the kink and beyond),
    #   hess = 0
    xp = array_namespace(f)
    slack = margin - y * f
    return (
        xp.maximum(slack, 0) if value else None,
        xp.where(slack > 0, -y, 0) if grad else None,
        xp.zeros_like(f) if hess else None,
    )


def _squared_hinge_formula(y, f, *, margin, value, grad, hess):
    # (squared-hinge): loss = max(0, m - y f)^2,  grad = -2 y max(0, m - y f),
    #   hess = 2 where y f < m (0 at the kink and beyond)
    xp = array_namespace(f)
    slack = margin - y * f
    active = xp.maximum(slack, 0)
    return (
        active * active if value else None,
        -2 * y * active if grad else None,
        xp.astype(xp.where(slack > 0, 2, 0), f.dtype) if hess else None,
    )


@elementwise_loss(_hinge_formula, footprint=5)
def hinge(y_true, scores, *, margin=1.0, sample_weight=None, reduction="mean"):
    r"""Hinge loss of labels in {-1, +1} and raw scores.

    .. math::

        \ell(y, f) = \max(0,\; m - y f), \qquad y \in \{-1, +1\},\ m = \text{margin} .

    Parameters
    ----------
    y_true : array_like
        Labels, exactly -1 or +1, any shape.
    scores : array_like
        Raw scores :math:`f`, same shape as ``y_true``.
    margin : float
        :math:`m \ge 0` (1 by default; 0 is the perceptron criterion).
    sample_weight : array_like, optional
        Non-negative weights, of the loss's shape or a leading part of it.
    reduction : {"mean", "sum", "none"}
        ``"none"`` returns the weighted terms, of the shape of ``scores``.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss, float32 when every float input is float32, else float64.

    Notes
    -----
    ``grad`` is the subgradient :math:`-y` where :math:`y f < m` and 0 where
    :math:`y f \ge m` — **0 at the kink** :math:`y f = m`; ``hess`` is 0 everywhere.
    Derived in :ref:`hinge-loss`.

    References
    ----------
    - C. Cortes, V. Vapnik, "Support-vector networks", Machine Learning 20, 1995.

    Examples
    --------
    >>> import lossfns
    >>> lossfns.hinge([1, -1], [0.8, 0.3], reduction="none")
    array([0.2, 1.3])
    >>> lossfns.hinge.grad([1, -1, 1], [0.5, 0.5, 1.0], reduction="none")
    array([-1.,  1.,  0.])
    """
    y, f, dtype = paired_arrays(y_true, scores, ("y_true", "scores"), sample_weight)
    return Terms(
        _hinge_formula, (y, f), sample_shape=f.shape, sample_weight=sample_weight,
        reduction=reduction, dtype=dtype, rowwise=True, checks=_SIGN_SCORE_CHECKS,
        margin=dtype.type(check_margin(margin)),
    )


@elementwise_loss(_squared_hinge_formula, footprint=7)
def squared_hinge(y_true, scores, *, margin=1.0, sample_weight=None, reduction="mean"):
    r"""Squared hinge loss of labels in {-1, +1} and raw scores.

    .. math::

        \ell(y, f) = \max(0,\; m - y f)^2, \qquad y \in \{-1, +1\},\ m = \text{margin} .

    Parameters
    ----------
    y_true : array_like
        Labels, exactly -1 or +1, any shape.
    scores : array_like
        Raw scores :math:`f`, same shape as ``y_true``.
    margin : float
        :math:`m \ge 0` (1 by default).
    sample_weight : array_like, optional
        Non-negative weights, of the loss's shape or a leading part of it.
    reduction : {"mean", "sum", "none"}
        ``"none"`` returns the weighted terms, of the shape of ``scores``.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss, float32 when every float input is float32, else float64.

    Notes
    -----
    ``grad`` is :math:`-2y\max(0, m - y f)` (continuous; 0 at the kink). ``hess`` is 2
    where :math:`y f < m` and 0 where :math:`y f \ge m`; the second derivative jumps at
    the kink, where the library takes **0**. Derived in :ref:`hinge-loss`.

    References
    ----------
    - C.-J. Lin, R. C. Weng, S. S. Keerthi, "Trust region Newton method for
      large-scale logistic regression", JMLR 9, 2008 (L2-loss SVM).

    Examples
    --------
    >>> import lossfns
    >>> lossfns.squared_hinge([1, -1], [0.8, 0.3], reduction="none")
    array([0.04, 1.69])
    >>> lossfns.squared_hinge.grad([1, -1], [0.5, 0.5], reduction="none")
    array([-1.,  3.])
    """
    y, f, dtype = paired_arrays(y_true, scores, ("y_true", "scores"), sample_weight)
    return Terms(
        _squared_hinge_formula, (y, f), sample_shape=f.shape, sample_weight=sample_weight,
        reduction=reduction, dtype=dtype, rowwise=True, checks=_SIGN_SCORE_CHECKS,
        margin=dtype.type(check_margin(margin)),
    )



# ------------------------------------------------------------------ multi-class hinge


def _weston_watkins_formula(y, f, *, margin, value, grad, hess):
    # (multiclass-hinge), Weston-Watkins: loss = sum_{j != y} max(0, m + f_j - f_y),
    #   grad_j = [m + f_j - f_y > 0] for j != y,  grad_y = -(number of such j); 0 at a kink
    xp = array_namespace(f)
    rows = xp.arange(f.shape[0])
    # the gap first: m + f_j overflows sooner; the true class is not its own rival
    slack = set_entries(margin + (f - f[rows, y][:, None]), (rows, y), 0)
    if grad:
        g = xp.astype(slack > 0, f.dtype)
        g = set_entries(g, (rows, y), -row_sums(g))
    return (
        row_sums(xp.maximum(slack, 0)) if value else None,
        g if grad else None,
        None,
    )


def _crammer_singer_formula(y, f, *, margin, value, grad, hess):
    # (multiclass-hinge), Crammer-Singer: loss = max(0, m + f_r - f_y), r the strongest rival
    #   argmax_{j != y} f_j;  grad = e_r - e_y where m + f_r - f_y > 0, else 0
    xp = array_namespace(f)
    rows = xp.arange(f.shape[0])
    rivals = set_entries(copy(f), (rows, y), -xp.inf)
    r = xp.argmax(rivals, axis=1)
    slack = margin + (f[rows, r] - f[rows, y])  # the gap first: m + f_r overflows sooner
    if grad:
        active = xp.astype(slack > 0, f.dtype)
        g = set_entries(xp.zeros_like(f), (rows, r), active)
        g = set_entries(g, (rows, y), -active)
    return (
        xp.maximum(slack, 0) if value else None,
        g if grad else None,
        None,
    )


_MULTICLASS_HINGE = {"crammer_singer": _crammer_singer_formula, "weston_watkins": _weston_watkins_formula}


@loss((_crammer_singer_formula, _weston_watkins_formula), footprint=4)
def multiclass_hinge(
    y_true, scores, *, margin=1.0, method="crammer_singer", sample_weight=None, reduction="mean"
):
    r"""Multi-class hinge loss of class indices and a row of scores per sample.

    .. math::

        \ell_{\mathrm{CS}}(y, f) = \max\bigl(0,\; m + \max_{j \ne y} f_j - f_y\bigr), \qquad
        \ell_{\mathrm{WW}}(y, f) = \sum_{j \ne y} \max(0,\; m + f_j - f_y) .

    Parameters
    ----------
    y_true : array_like
        Integer class indices in ``range(C)``, shape ``(n,)``.
    scores : array_like
        Raw scores, shape ``(n, C)``, ``C >= 2``.
    margin : float
        :math:`m \ge 0` (1 by default).
    method : str
        ``"crammer_singer"`` (the default) or ``"weston_watkins"``. Crammer–Singer
        charges the strongest rival class only (scikit-learn's multi-class ``hinge_loss``,
        ``LinearSVC(multi_class="crammer_singer")``); Weston–Watkins charges every class
        within the margin of the true one.
    sample_weight : array_like, optional
        Non-negative weight of each sample, shape ``(n,)``.
    reduction : {"mean", "sum", "none"}
        ``"none"`` returns one (weighted) value per sample.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss, float32 when every float input is float32, else float64.

    Notes
    -----
    ``grad`` (shape ``(n, C)``) is the subgradient: :math:`e_r - e_y` for Crammer–Singer
    (:math:`r` the strongest rival, the first in index order on a tie) and, for
    Weston–Watkins, 1 at every rival within the margin and minus their number at
    :math:`y`; **0 at a kink** (a slack exactly 0). With two classes both equal
    :func:`hinge` of :math:`f_1 - f_0`. Derived in :ref:`hinge-multiclass`.

    References
    ----------
    - J. Weston, C. Watkins, "Support vector machines for multi-class pattern recognition",
      ESANN 1999.
    - K. Crammer, Y. Singer, "On the algorithmic implementation of multiclass kernel-based
      vector machines", JMLR 2, 2001.

    Examples
    --------
    >>> import lossfns
    >>> scores = [[2.0, 1.5, 0.0], [0.0, 0.5, 1.0]]
    >>> lossfns.multiclass_hinge([0, 0], scores, reduction="none")
    array([0.5, 2. ])
    >>> lossfns.multiclass_hinge([0, 0], scores, method="weston_watkins", reduction="none")
    array([0.5, 3.5])
    >>> lossfns.multiclass_hinge.grad([0, 0], scores, reduction="none")
    array([[-1.,  1.,  0.],
           [-1.,  0.,  1.]])
    """
    if method not in _MULTICLASS_HINGE:
        raise ValueError(f"method must be one of {sorted(_MULTICLASS_HINGE)}, got {method!r}")
    dtype = float_dtype(y_true, scores, sample_weight)
    f = real_array(scores, "scores", dtype)
    if f.ndim != 2:
        raise ValueError(f"scores must have shape (n_samples, n_classes), got shape {f.shape}")
    if f.shape[1] < 2:
        raise ValueError(f"scores must have at least 2 classes (columns), got {f.shape[1]}")
    y = real_array(y_true, "y_true")
    if y.shape != f.shape[:1]:
        raise ValueError(f"shapes differ: y_true {y.shape}, scores {f.shape} (one index per row)")
    index = check_class_indices(y, "y_true", f.shape[1])
    return Terms(
        _MULTICLASS_HINGE[method], (index, f), sample_shape=f.shape[:1],
        sample_weight=sample_weight, reduction=reduction, dtype=dtype, rowwise=True,
        checks=((1, finite("scores")),), margin=dtype.type(check_margin(margin)),
    )


# --------------------------------------------------------------------- focal losses


def _focal_formula(y, z, *, gamma, alpha_1, alpha_0, value, grad, hess):
    # (focal): loss = a1 y q^g s + a0 (1 - y) p^g r,  with p = sigma(z), q = sigma(-z) = 1 - p,
    #   s = softplus(-z) = -log p, r = softplus(z) = -log q (no subtraction anywhere);
    #   grad = a0 (1 - y) p^g (p + g q r) - a1 y q^g (q + g p s),
    #   hess = a1 y q^g (p q (2g + 1) + g p s (g p - q))
    #          + a0 (1 - y) p^g (p q (2g + 1) + g q r (g q - p)),
    # with p s and q r (each at most 1/e) formed first: s or r may be near the float maximum
    t = Logistic(z)
    p, q, s, r = t.sigmoid, t.sigmoid_neg, t.softplus_neg, t.softplus
    # the weights of the two terms, a1 y q^g and a0 (1 - y) p^g, with the alphas last in
    # the loss: a1 y underflows for a tiny alpha before meeting an s near 1e308
    focus_pos, focus_neg = y * q**gamma, (1 - y) * p**gamma
    if grad or hess:
        ps, qr = p * s, q * r
        positive, negative = alpha_1 * focus_pos, alpha_0 * focus_neg
    return (
        alpha_1 * (focus_pos * s) + alpha_0 * (focus_neg * r) if value else None,
        negative * (p + gamma * qr) - positive * (q + gamma * ps) if grad else None,
        positive * (p * q * (2 * gamma + 1) + gamma * ps * (gamma * p - q))
        + negative * (p * q * (2 * gamma + 1) + gamma * qr * (gamma * q - p))
        if hess else None,
    )


@elementwise_loss(_focal_formula, footprint=22)
def focal_loss(y_true, logits, *, gamma=2.0, alpha=None, sample_weight=None, reduction="mean"):
    r"""Binary focal loss of targets and logits.

    .. math::

        \ell(y, z) = -\alpha_t\,(1 - p_t)^{\gamma}\log p_t, \qquad p = \sigma(z),

        p_t = \begin{cases} p & y = 1\\ 1-p & y = 0\end{cases},\qquad
        \alpha_t = \begin{cases} \alpha & y = 1\\ 1-\alpha & y = 0\end{cases}.

    For a soft label :math:`y \in [0, 1]` the loss is the expectation over a Bernoulli
    label, :math:`y\,\ell(1, z) + (1-y)\,\ell(0, z)`.

    Parameters
    ----------
    y_true : array_like
        Targets in [0, 1], any shape.
    logits : array_like
        Raw scores :math:`z`, same shape as ``y_true``.
    gamma : float
        Focusing parameter :math:`\gamma \ge 0`; :math:`\gamma = 0` is binary
        cross-entropy.
    alpha : float, optional
        Weight :math:`\alpha \in [0, 1]` of the positive class; ``None`` (the default)
        weighs both classes 1.
    sample_weight : array_like, optional
        Non-negative weights, of the loss's shape or a leading part of it.
    reduction : {"mean", "sum", "none"}
        ``"none"`` returns the weighted terms, of the shape of ``logits``.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss, float32 when every float input is float32, else float64.

    Notes
    -----
    Evaluated through :math:`1-p = \sigma(-z)` and :math:`-\log p =
    \operatorname{softplus}(-z)`, from one :math:`e^{-|z|}`: exact for logits of any
    size. ``grad`` (for :math:`y = 1`) is :math:`-\alpha(1-p)^{\gamma}\bigl(1 - p -
    \gamma\,p\log p\bigr)`, ``hess`` is its derivative; both are derived with SymPy in
    :ref:`focal-loss`. For soft labels, torchvision's ``sigmoid_focal_loss`` uses
    :math:`p_t = py + (1-p)(1-y)` instead; the two agree on hard labels.

    References
    ----------
    - T.-Y. Lin, P. Goyal, R. Girshick, K. He, P. Dollár, "Focal loss for dense
      object detection", ICCV 2017.

    Examples
    --------
    >>> import numpy as np, lossfns
    >>> z = np.log(0.9 / 0.1)  # p = 0.9
    >>> float(lossfns.focal_loss(1.0, z, gamma=2.0, alpha=0.25))
    0.00026340128
    >>> float(lossfns.focal_loss(1.0, z, gamma=0.0))  # -log 0.9
    0.10536052
    """
    y, z, dtype = paired_arrays(y_true, logits, ("y_true", "logits"), sample_weight)
    gamma = dtype.type(check_scalar(gamma, "gamma", low=0))
    # alpha weighs the positive term and 1 - alpha the negative one; None weighs both 1
    alpha = None if alpha is None else check_scalar(alpha, "alpha", low=0, high=1)
    alpha_1, alpha_0 = (1, 1) if alpha is None else (alpha, 1 - alpha)
    return Terms(
        _focal_formula, (y, z), sample_shape=z.shape, sample_weight=sample_weight,
        reduction=reduction, dtype=dtype, rowwise=True, checks=_LABEL_LOGIT_CHECKS,
        gamma=gamma, alpha_1=dtype.type(alpha_1), alpha_0=dtype.type(alpha_0),
    )


def _softmax_focal_formula(u, z, *, gamma, value, grad, hess):
    # (softmax-focal): loss = sum_c u_c (1 - p_c)^g (-log p_c),  p = softmax(z);
    #   with v_c = -u_c (1 - p_c)^g (1 + g p_c (-log p_c) / (1 - p_c)), p_c times the
    #   derivative of the loss in p_c, the softmax's Jacobian diag(p) - p p^T gives
    #   grad_j = v_j - p_j sum_c v_c = v_j (1 - p_j) - p_j sum_{c != j} v_c
    s = Softmax(z)
    w = s.one_minus_p
    focus = w**gamma
    if grad:
        # -p log p / (1 - p) -> 1 as p -> 1: the limit where 1 - p underflows to 0
        ratio = s.xp.where(w > 0, s.p_neg_log_p / w, 1)
        v = -u * focus * (1 + gamma * ratio)
        others = row_sums(v)[:, None] - v
    return (
        s.cross_entropy(u * focus) if value else None,
        v * w - s.p * others if grad else None,
        None,
    )


@loss(_softmax_focal_formula, footprint=15)
def softmax_focal_loss(
    y_true, logits, *, gamma=2.0, alpha=None, sample_weight=None, reduction="mean"
):
    r"""Multi-class focal loss of class targets and the softmax of logits.

    .. math::

        \ell(y, z) = -\alpha_y\,(1 - p_y)^{\gamma}\log p_y, \qquad
        p = \operatorname{softmax}(z);

    for a probability row :math:`t` it is :math:`-\sum_c t_c\,\alpha_c (1-p_c)^{\gamma}
    \log p_c`.

    Parameters
    ----------
    y_true : array_like
        Integer class indices in ``range(C)``, shape ``(n,)``, or probability rows, shape
        ``(n, C)``.
    logits : array_like
        Raw scores, shape ``(n, C)``.
    gamma : float
        Focusing parameter :math:`\gamma \ge 0`; :math:`\gamma = 0` is
        :func:`softmax_cross_entropy` (with ``class_weight=alpha``).
    alpha : array_like, optional
        Weight of each class, shape ``(C,)``, in [0, 1]; ``None`` weighs every class 1.
    sample_weight : array_like, optional
        Non-negative weight of each sample, shape ``(n,)``.
    reduction : {"mean", "sum", "none"}
        ``"mean"`` divides by the number (or summed weight) of samples.

    Returns
    -------
    numpy scalar or ndarray
        The reduced loss, float32 when every float input is float32, else float64.

    Notes
    -----
    ``grad`` (shape ``(n, C)``) follows from the softmax Jacobian; derived in
    :ref:`focal-multiclass`. With two classes and logits :math:`(0, z)` it equals
    :func:`focal_loss` with ``alpha`` = :math:`\alpha_1`, :math:`1-\alpha_1 = \alpha_0`.

    References
    ----------
    - T.-Y. Lin, P. Goyal, R. Girshick, K. He, P. Dollár, "Focal loss for dense
      object detection", ICCV 2017.

    Examples
    --------
    >>> import numpy as np, lossfns
    >>> logits = np.log([[0.1, 0.9]])
    >>> float(lossfns.softmax_focal_loss([1], logits, gamma=2.0, alpha=[0.75, 0.25]))
    0.00026340128
    """
    dtype = float_dtype(y_true, logits, alpha, sample_weight)
    z = _logit_rows(logits, dtype, finite=False)
    target, _ = _softmax_targets(y_true, z, dtype)
    gamma = dtype.type(check_scalar(gamma, "gamma", low=0))
    if alpha is not None:
        target = target * _class_vector(alpha, "alpha", z.shape[1], dtype, high=1)
    return Terms(
        _softmax_focal_formula, (target, z), sample_shape=z.shape[:1],
        sample_weight=sample_weight, reduction=reduction, dtype=dtype, rowwise=True,
        checks=_LOGIT_ROW_CHECKS, gamma=gamma,
    )
