"""Classification losses (Part II of the book)."""

from __future__ import annotations

import numpy as np
from scipy import special

from ._core import (
    Terms,
    check_class_indices,
    check_distribution,
    check_interval,
    check_nonnegative,
    check_same_shape,
    check_scalar,
    check_values_in,
    elementwise_loss,
    finite,
    float_dtype,
    loss,
    one_of,
    real_array,
    within,
)
from .ranking import _pairwise_logistic_formula

_LABEL_LOGIT_CHECKS = ((0, within("y_true", 0, 1)), (1, finite("logits")))
_LOGIT_ROW_CHECKS = ((1, finite("logits")),)

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "softmax_cross_entropy",
    "multi_positive_softmax_cross_entropy",
    "logistic_loss",
    "hinge",
    "squared_hinge",
    "focal_loss",
    "softmax_focal_loss",
]


def _bce_with_logits_formula(y, z, *, pos_weight, value, grad, hess):
    # The loss is c1 softplus(-z) + c0 softplus(z) with c1 = w y and c0 = 1 - y. With
    # s = exp(min(z, 0)) and t = exp(-max(z, 0)) (one of them is 1) and e = s t =
    # exp(-|z|) <= 1:  softplus(z) = max(z, 0) + log1p(e),  softplus(-z) = -min(z, 0) +
    # log1p(e),  sigmoid(z) = s / (1 + e)  and  sigmoid(-z) = t / (1 + e). So
    #   loss = (c0 + c1) log1p(e) + c0 max(z, 0) - c1 min(z, 0),
    #   grad = (c0 s - c1 t) / (1 + e),    hess = (c0 + c1) e / (1 + e)^2:
    # the value is a sum of non-negative terms, and nothing overflows or cancels when a
    # label is 0 or 1. Two exponentials, no masks, and intermediates are reused in
    # place (out=), which needs arrays: a scalar is evaluated as a one-entry array.
    if np.ndim(z) == 0:
        parts = _bce_with_logits_formula(
            np.reshape(y, 1), np.reshape(z, 1), pos_weight=pos_weight,
            value=value, grad=grad, hess=hess,
        )
        return tuple(None if part is None else part[0] for part in parts)
    c0 = 1 - y
    c1 = y if pos_weight is None else pos_weight * y
    high = np.maximum(z, 0)
    low = np.subtract(z, high)  # min(z, 0), exactly
    s = np.exp(low)
    t = np.negative(high)
    np.exp(t, out=t)
    e = s * t
    out = [None, None, None]
    if value == "sum":  # of three sums of non-negative terms
        log1p_e = np.log1p(e)
        if pos_weight is None:  # c0 + c1 = 1
            both = np.add.reduce(log1p_e, axis=None)
        else:
            both = np.vdot(c0 + c1, log1p_e)
        out[0] = both + np.vdot(c0, high) - np.vdot(c1, low)
    elif value:
        loss = np.log1p(e)
        if pos_weight is not None:
            loss *= c0 + c1
        loss += np.multiply(c0, high, out=high)
        loss -= np.multiply(c1, low, out=low)
        out[0] = loss
    if grad or hess:
        one_plus_e = np.add(e, 1, out=None if hess else e)
        if grad:
            g = np.multiply(c0, s, out=s)
            g -= np.multiply(c1, t, out=t)
            out[1] = np.divide(g, one_plus_e, out=g)
        if hess:
            curvature = np.divide(e, one_plus_e, out=e)
            curvature /= one_plus_e
            if pos_weight is not None:
                curvature *= c0 + c1
            out[2] = curvature
    return tuple(out)


@elementwise_loss
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
        column (shape ``(logits.shape[-1],)``) for multi-label targets, as in PyTorch.
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
    dtype = float_dtype(y_true, logits, pos_weight, sample_weight)
    y = real_array(y_true, "y_true", dtype, finite=False)
    z = real_array(logits, "logits", dtype, finite=False)
    check_same_shape(y_true=y, logits=z)
    if pos_weight is not None:
        pos_weight = real_array(pos_weight, "pos_weight", dtype)
        if pos_weight.ndim > 1 or (pos_weight.ndim == 1 and pos_weight.shape != z.shape[-1:]):
            raise ValueError(
                f"pos_weight must be a scalar or have shape {z.shape[-1:]} (one per column), "
                f"got shape {pos_weight.shape}"
            )
        check_nonnegative(pos_weight, "pos_weight")
    return Terms(
        _bce_with_logits_formula,
        (y, z),
        sample_shape=z.shape,
        sample_weight=sample_weight,
        reduction=reduction,
        dtype=dtype,
        rowwise=True,
        checks=_LABEL_LOGIT_CHECKS,
        pos_weight=pos_weight,
    )


# ------------------------------------------------------------- binary, probabilities


def _bce_prob_formula(y, p, *, value, grad, hess):
    # y log p and (1 - y) log1p(-p) (log(1 - p) without forming 1 - p), so the value is
    # exact for p down to the smallest subnormal. Only p = 0 or p = 1 makes a term
    # 0 * log 0, which is 0: such arrays take the masked evaluation below; p = 0 with
    # y > 0 is +inf. Intermediates are reused in place (out=).
    if np.ndim(p) == 0 or p.min() == 0 or p.max() == 1:
        return _bce_prob_formula_at_the_ends(y, p, value=value, grad=grad, hess=hess)
    out = [None, None, None]
    q = 1 - y  # exact for y in [0, 1] when y >= 1/2; else the weight of log(1 - p)
    if value == "sum":  # of two sums of non-positive terms
        out[0] = -(np.vdot(y, np.log(p)) + np.vdot(q, np.log1p(np.negative(p))))
    elif value:
        loss = np.log(p)
        loss *= y
        log_q = np.log1p(np.negative(p))
        loss += np.multiply(log_q, q, out=log_q)
        out[0] = np.negative(loss, out=loss)
    if grad or hess:
        one_minus_p = 1 - p
        with np.errstate(over="ignore"):  # y / p is +inf for a subnormal p
            pos = np.divide(y, p)  # y / p
            neg = np.divide(q, one_minus_p)  # (1 - y) / (1 - p)
            if hess:
                h = np.divide(pos, p)
                h += np.divide(neg, one_minus_p, out=one_minus_p)
                out[2] = h
        if grad:
            out[1] = np.subtract(neg, pos, out=neg)
    return tuple(out)


def _bce_prob_formula_at_the_ends(y, p, *, value, grad, hess):
    # xlogy / xlog1py and masked divisions take 0 * log 0 = 0 and 0 / 0 = 0.
    out = [None, None, None]
    q = 1 - y
    with np.errstate(divide="ignore", over="ignore"):
        if value:
            out[0] = -special.xlogy(y, p) - special.xlog1py(q, -p)
        if grad or hess:
            # y / p and q / (1 - p), taken as 0 where the numerator is 0 (0 * log 0 = 0)
            pos = np.divide(y, p, out=np.zeros_like(p), where=y != 0)
            neg = np.divide(q, 1 - p, out=np.zeros_like(p), where=q != 0)
            if grad:
                out[1] = neg - pos
            if hess:
                out[2] = pos / np.where(y != 0, p, 1) + neg / np.where(q != 0, 1 - p, 1)
    return tuple(out)


@elementwise_loss
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
    Computed with ``scipy.special.xlogy`` and ``xlog1py``: no clipping, so the value is
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
    dtype = float_dtype(y_true, y_prob, sample_weight)
    y = real_array(y_true, "y_true", dtype, finite=False)
    p = real_array(y_prob, "y_prob", dtype, finite=False)
    check_same_shape(y_true=y, y_prob=p)
    return Terms(
        _bce_prob_formula,
        (y, p),
        sample_shape=p.shape,
        sample_weight=sample_weight,
        reduction=reduction,
        dtype=dtype,
        rowwise=True,
        checks=((0, within("y_true", 0, 1)), (1, within("y_prob", 0, 1))),
    )


# --------------------------------------------------------------- softmax, row-wise


def _softmax_parts(z, w_at=None):
    """Shared pieces of a stable softmax of the rows of ``z``.

    Returns ``(gap, rest, p, w)``: ``gap = max(z) - z`` (non-negative); with ``e =
    exp(-gap)``, which is 1 at the row's argmax ``k``, ``rest`` is the sum of ``e`` over
    the other entries, so that ``logsumexp(z) - z_c = gap_c + log1p(rest)`` is a sum of
    non-negative terms and small losses keep their relative accuracy; ``p`` is the
    softmax and ``w = 1 - p``, formed without cancellation: ``rest / (1 + rest)`` at the
    argmax (the only entry that can exceed 1/2), ``1 - p`` elsewhere. With ``w_at``,
    one class index per row, ``gap`` and ``w`` are those of these entries only.
    """
    # Entries are addressed by flat index (row start + column): NumPy gathers and
    # scatters along one axis several times faster than with a pair of index arrays.
    z = np.ascontiguousarray(z)
    starts = np.arange(0, z.size, z.shape[1])
    top = starts + np.argmax(z, axis=1)
    z_flat = z.reshape(-1)
    high = z_flat[top]
    e = np.subtract(z, high[:, None])  # -gap, exactly
    gap = np.negative(e) if w_at is None else high - z_flat[starts + w_at]
    with np.errstate(under="ignore"):
        np.exp(e, out=e)
    e_flat = e.reshape(-1)  # a view: e is C-contiguous as z is
    e_flat[top] = 0  # for the sum of the others; then back to exp(0) = 1
    rest = e @ np.ones(e.shape[1], e.dtype)  # row sums: BLAS beats sum(axis=1) on short rows
    e_flat[top] = 1
    # scaling rows by a reciprocal (within an ulp of dividing) runs faster in einsum
    p = np.einsum("ij,i->ij", e, 1 / (1 + rest))  # (out=e would be slower: it aliases)
    at_top = rest / (1 + rest)
    if w_at is None:
        w = np.subtract(1, p)
        w.reshape(-1)[top] = at_top
    else:
        at = starts + w_at
        w = np.subtract(1, p.reshape(-1)[at])
        np.copyto(w, at_top, where=at == top)
    return gap, rest, p, w


def _softmax_ce_formula(u, z, *, value, grad, hess):
    # u: effective target rows (class weight times smoothed target); the loss is
    # U logsumexp(z) - sum u z = sum_c u_c gap_c + U log1p(rest), U = sum_c u_c, and
    # its gradient U p - u = p (U - u) - u (1 - p): exact for a confident correct row.
    gap, rest, p, w = _softmax_parts(z)
    total = np.einsum("ij->i", u)
    out = [None, None, None]
    if value:
        out[0] = np.einsum("ij,ij->i", u, gap) + total * np.log1p(rest)
    if hess:  # d/dz_c (U p_c - u_c) = U p_c (1 - p_c)
        out[2] = total[:, None] * p * w
    if grad:
        g = np.subtract(total[:, None], u)
        g *= p
        g -= np.multiply(u, w, out=w)
        out[1] = g
    return tuple(out)


def _softmax_ce_index_formula(index, z, *, value, grad, hess):
    # The formula above with one-hot targets, without forming them: the loss is
    # gap_y + log1p(rest) and the gradient p - onehot(y), whose entry at y is -(1 - p_y).
    gap, rest, p, w = _softmax_parts(z, w_at=index)
    out = [None, None, None]
    if value:
        out[0] = gap + np.log1p(rest)
    if hess:  # p_c (1 - p_c), with 1 - p exact at the row's argmax
        one_minus_p = 1 - p
        top = np.argmax(z, axis=1)
        one_minus_p[np.arange(len(z)), top] = rest / (1 + rest)
        out[2] = p * one_minus_p
    if grad:
        p.reshape(-1)[np.arange(0, p.size, p.shape[1]) + index] = -w
        out[1] = p
    return tuple(out)


def _softmax_targets(y_true, z, dtype, *, allow_indices=True, dense=True):
    """Target rows (n, C) from class indices (n,) or probability rows (n, C), and the
    indices (``None`` for probability rows); with ``dense=False``, indices are not
    expanded into rows (the targets are ``None``)."""
    y = real_array(y_true, "y_true")
    n, n_classes = z.shape
    if y.ndim == 1 and allow_indices:
        if y.shape[0] != n:
            raise ValueError(f"shapes differ: y_true {y.shape}, logits {z.shape}")
        index = check_class_indices(y, "y_true", n_classes)
        if not dense:
            return None, index
        target = np.zeros(z.shape, dtype)
        target[np.arange(n), index] = 1
        return target, index
    if y.ndim != 2:
        expected = "class indices of shape (n,) or " if allow_indices else ""
        raise ValueError(f"y_true must be {expected}rows of shape {z.shape}, got shape {y.shape}")
    check_same_shape(y_true=y, logits=z)
    y = y.astype(dtype, copy=False)
    check_distribution(y, "y_true", axis=1)
    return y, None


def _logit_rows(logits, dtype, *, finite=True):
    z = real_array(logits, "logits", dtype, finite=finite)
    if z.ndim != 2:
        raise ValueError(f"logits must have shape (n_samples, n_classes), got shape {z.shape}")
    return z


def _class_vector(values, name, n_classes, dtype, high=None):
    a = real_array(values, name, dtype)
    if a.shape != (n_classes,):
        raise ValueError(f"{name} must have shape ({n_classes},) (one per class), got {a.shape}")
    if high is None:
        check_nonnegative(a, name)
    else:
        check_interval(a, name, 0, high)
    return a


def _class_weighted_terms(formula, u, z, index, class_weight, sample_weight, reduction, dtype, **hyper):
    # torch's cross_entropy with class indices: the mean divides by the summed weights of
    # the samples' classes (times their sample weights), not by the number of samples.
    return Terms(
        formula,
        (u, z),
        sample_shape=z.shape[:1],
        sample_weight=sample_weight,
        reduction=reduction,
        dtype=dtype,
        rowwise=True,
        mean_weights=None if class_weight is None or index is None else class_weight[index],
        **hyper,
    )


@loss((_softmax_ce_formula, _softmax_ce_index_formula), hessian=True)
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
    this diagonal is what gradient boosting uses); ``grad_hess`` gives both from one pass. The derivation, the maximum-likelihood reading and the numerics are in
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
    if plain and index is not None:
        return Terms(
            _softmax_ce_index_formula, (index, z), sample_shape=z.shape[:1],
            sample_weight=sample_weight, reduction=reduction, dtype=dtype,
            rowwise=True, checks=_LOGIT_ROW_CHECKS,
        )
    if epsilon:
        target = (1 - epsilon) * target + dtype.type(epsilon / z.shape[1])
    if class_weight is not None:
        class_weight = _class_vector(class_weight, "class_weight", z.shape[1], dtype)
        target = target * class_weight
    return _class_weighted_terms(
        _softmax_ce_formula, target, z, index, class_weight, sample_weight, reduction, dtype,
        checks=_LOGIT_ROW_CHECKS,
    )


@loss
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
    check_values_in(y, "y_true", (0, 1))
    positives = y.sum(axis=1)
    if positives.min() == 0:
        row = int(np.argmin(positives))
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


def _plus_minus_labels(y_true, scores, dtype):
    y = real_array(y_true, "y_true", dtype, finite=False)
    f = real_array(scores, "scores", dtype, finite=False)
    check_same_shape(y_true=y, scores=f)
    return y, f


_SIGN_SCORE_CHECKS = ((0, one_of("y_true", (-1, 1))), (1, finite("scores")))


def _logistic_formula(y, f, *, value, grad, hess):
    # log(1 + exp(-y f)) = softplus(-m) of the margin m = y f (exact for y = +-1): the
    # pairwise logistic loss of the gap m, computed by its stable formula; d/df = y d/dm
    # and d2/df2 = d2/dm2. (It is also binary cross-entropy with logits at the label
    # (y + 1) / 2, as the chapter proves.)
    v, g, h = _pairwise_logistic_formula(y * f, 0, value=value, grad=grad, hess=hess)
    if g is not None:
        g = np.multiply(g[0], y, out=g[0])
    return v, g, None if h is None else h[0]


@elementwise_loss
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
    by term (proved in :ref:`logistic-loss`), and is computed by the same stable formula.
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
    dtype = float_dtype(y_true, scores, sample_weight)
    y, f = _plus_minus_labels(y_true, scores, dtype)
    return Terms(
        _logistic_formula, (y, f), sample_shape=f.shape, sample_weight=sample_weight,
        reduction=reduction, dtype=dtype, rowwise=True, checks=_SIGN_SCORE_CHECKS,
    )


def _hinge_formula(y, f, *, margin, squared, value, grad, hess):
    slack = margin - y * f
    active = slack > 0  # at the kink (slack = 0) the derivative taken is 0
    out = [None, None, None]
    if value:
        hinge_value = np.maximum(slack, 0)
        out[0] = hinge_value * hinge_value if squared else hinge_value
    if grad:
        out[1] = np.where(active, -2 * y * slack if squared else -y, 0).astype(f.dtype)
    if hess:
        out[2] = np.where(active, 2, 0).astype(f.dtype) if squared else np.zeros_like(f)
    return tuple(out)


def _margin(margin):
    return check_scalar(margin, "margin", low=0)


@elementwise_loss
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
    dtype = float_dtype(y_true, scores, sample_weight)
    y, f = _plus_minus_labels(y_true, scores, dtype)
    return Terms(
        _hinge_formula, (y, f), sample_shape=f.shape, sample_weight=sample_weight,
        reduction=reduction, dtype=dtype, rowwise=True, margin=dtype.type(_margin(margin)),
        checks=_SIGN_SCORE_CHECKS,
        squared=False,
    )


@elementwise_loss
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
    dtype = float_dtype(y_true, scores, sample_weight)
    y, f = _plus_minus_labels(y_true, scores, dtype)
    return Terms(
        _hinge_formula, (y, f), sample_shape=f.shape, sample_weight=sample_weight,
        reduction=reduction, dtype=dtype, rowwise=True, margin=dtype.type(_margin(margin)),
        checks=_SIGN_SCORE_CHECKS,
        squared=True,
    )


# --------------------------------------------------------------------- focal losses


def _focal_formula(y, z, *, gamma, alpha, value, grad, hess):
    # With p = sigma(z), q = 1 - p = sigma(-z), s = softplus(-z) = -log p and
    # r = softplus(z) = -log q, all from one e = exp(-|z|) with no subtraction:
    #   positive part  f1 = q^g s,  f1' = -q^g (q + g p s),
    #                  f1'' = p q^g (q (2g + 1) + g s (g p - q)),
    #   negative part  f0 = f1 at -z (swap p <-> q, s <-> r), f0' = -f1'(-z), f0'' = f1''(-z);
    # the loss is  a1 y f1 + a0 (1 - y) f0  with a1 = alpha, a0 = 1 - alpha (1 if None).
    # As in binary cross-entropy, exp(min(z, 0)) and exp(-max(z, 0)) (one of them is 1,
    # their product is e) give p and q without masks. The row-wise evaluation hands
    # this formula blocks (never scalars), so buffers are reused in place (out=).
    high = np.maximum(z, 0)
    low = np.subtract(z, high)  # min(z, 0), exactly
    below = np.exp(low)
    above = np.negative(high)
    np.exp(above, out=above)
    e = below * above
    work = np.add(e, 1)
    np.reciprocal(work, out=work)  # 1 / (1 + e)
    p = np.multiply(below, work, out=below)
    q = np.multiply(above, work, out=above)
    log1p_e = np.log1p(e, out=e)
    s = np.subtract(log1p_e, low, out=low)  # -log p
    r = np.add(log1p_e, high, out=high)  # -log q
    scratch = log1p_e  # free from here on, as is work
    w1 = y if alpha is None else alpha * y
    w0 = (1 - y) if alpha is None else (1 - alpha) * (1 - y)
    qg, pg = q**gamma, p**gamma
    out = [None, None, None]
    if value == "sum":  # of two sums of non-negative terms
        out[0] = np.vdot(w1 * qg, s) + np.vdot(np.multiply(w0, pg, out=work), r)
    elif value:
        loss = w1 * qg
        loss *= s
        loss += np.multiply(np.multiply(w0, pg, out=work), r, out=work)
        out[0] = loss
    if grad:
        # w0 pg (p + g q r) - w1 qg (q + g p s)
        g = np.multiply(q, r, out=work)
        g *= gamma
        g += p
        g *= pg
        g *= w0
        part = np.multiply(p, s, out=scratch)
        part *= gamma
        part += q
        part *= qg
        part *= w1
        out[1] = np.subtract(g, part, out=g)
    if hess:
        h1 = p * qg * (q * (2 * gamma + 1) + gamma * s * (gamma * p - q))
        h0 = q * pg * (p * (2 * gamma + 1) + gamma * r * (gamma * q - p))
        out[2] = w1 * h1 + w0 * h0
    return tuple(out)


def _focal_hyper(gamma, alpha, dtype):
    gamma = dtype.type(check_scalar(gamma, "gamma", low=0))
    if alpha is not None:
        alpha = dtype.type(check_scalar(alpha, "alpha", low=0, high=1))
    return gamma, alpha


@elementwise_loss
def focal_loss(y_true, logits, *, gamma=2.0, alpha=None, sample_weight=None, reduction="mean"):
    r"""Binary focal loss of targets and logits.

    .. math::

        \ell(y, z) = -\alpha_t\,(1 - p_t)^{\gamma}\log p_t, \qquad p = \sigma(z),\quad
        p_t = \begin{cases} p & y = 1\\ 1-p & y = 0\end{cases},\quad
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
    dtype = float_dtype(y_true, logits, sample_weight)
    y = real_array(y_true, "y_true", dtype, finite=False)
    z = real_array(logits, "logits", dtype, finite=False)
    check_same_shape(y_true=y, logits=z)
    gamma, alpha = _focal_hyper(gamma, alpha, dtype)
    return Terms(
        _focal_formula, (y, z), sample_shape=z.shape, sample_weight=sample_weight,
        reduction=reduction, dtype=dtype, rowwise=True, gamma=gamma, alpha=alpha,
        checks=_LABEL_LOGIT_CHECKS,
    )


def _softmax_focal_formula(u, z, *, gamma, value, grad, hess):
    # g(p) = -(1 - p)^gamma log p per class, the loss is sum_c u_c g(p_c). With
    # L = -log p = gap + log1p(rest) and w = 1 - p (exact: rest / (1 + rest) at the
    # argmax, where p may be near 1; elsewhere p <= 1/2 and 1 - p is exact enough),
    #   p g'(p) = -w^gamma (1 + gamma p L / w)   and   dl/dz_j = v_j - p_j sum_c v_c,
    # with v_c = u_c p_c g'(p_c), from the softmax Jacobian diag(p) - p p^T.
    gap, rest, p, w = _softmax_parts(z)
    nll = gap + np.log1p(rest)[:, None]
    wg = w**gamma
    out = [None, None, None]
    if value:
        out[0] = (u * wg * nll).sum(axis=1)
    if grad:
        # L / w -> 1 as p -> 1; where w underflows to 0, so does L, and the limit is used
        ratio = np.divide(nll, w, out=np.ones_like(w), where=w != 0)
        v = -u * wg * (1 + gamma * p * ratio)
        # v_j - p_j sum_c v_c, written as v_j (1 - p_j) - p_j sum_{c != j} v_c
        out[1] = v * w - p * (v.sum(axis=1, keepdims=True) - v)
    return tuple(out)


@loss
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
    ``grad`` (shape ``(n, C)``) follows from the softmax Jacobian; see
    :ref:`focal-loss`. With two classes and logits :math:`(0, z)` it equals
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
    z = _logit_rows(logits, dtype)
    target, _ = _softmax_targets(y_true, z, dtype)
    gamma = dtype.type(check_scalar(gamma, "gamma", low=0))
    if alpha is not None:
        target = target * _class_vector(alpha, "alpha", z.shape[1], dtype, high=1)
    return Terms(
        _softmax_focal_formula, (target, z), sample_shape=z.shape[:1],
        sample_weight=sample_weight, reduction=reduction, dtype=dtype, rowwise=True, gamma=gamma,
    )
