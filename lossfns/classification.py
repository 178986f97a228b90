"""Classification losses (Part II of the book)."""

from __future__ import annotations

import numpy as np

from ._core import (
    Terms,
    check_interval,
    check_same_shape,
    elementwise_loss,
    float_dtype,
    real_array,
)

__all__ = ["binary_cross_entropy_with_logits"]


def _bce_with_logits_formula(y, z, *, pos_weight, value, grad, hess):
    # With e = exp(-|z|): softplus(±z) = max(±z, 0) + log1p(e), sigmoid(±z) from e and
    # 1/(1+e) -- one exp serves value, gradient and Hessian. Each term is a sum of
    # non-negative parts, so no cancellation when y is 0 or 1.
    e = np.exp(-np.abs(z))
    positive = z >= 0
    wy = y if pos_weight is None else pos_weight * y
    out = [None, None, None]
    if value:
        log1p_e = np.log1p(e)
        softplus_pos = np.maximum(z, 0) + log1p_e  # -log(1 - sigmoid(z))
        softplus_neg = np.maximum(-z, 0) + log1p_e  # -log sigmoid(z)
        out[0] = wy * softplus_neg + (1 - y) * softplus_pos
    if grad or hess:
        inv = 1 / (1 + e)
        sigma = np.where(positive, inv, e * inv)  # sigmoid(z)
        sigma_neg = np.where(positive, e * inv, inv)  # sigmoid(-z) = 1 - sigmoid(z)
        if grad:
            out[1] = (1 - y) * sigma - wy * sigma_neg
        if hess:
            curvature = sigma * sigma_neg
            out[2] = curvature if pos_weight is None else (1 - y + pos_weight * y) * curvature
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
    .. [1] PyTorch, ``torch.nn.functional.binary_cross_entropy_with_logits``.

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
    y = real_array(y_true, "y_true", dtype)
    check_interval(y, "y_true", 0, 1)
    z = real_array(logits, "logits", dtype)
    check_same_shape(y_true=y, logits=z)
    if pos_weight is not None:
        pos_weight = real_array(pos_weight, "pos_weight", dtype)
        if pos_weight.ndim > 1 or (pos_weight.ndim == 1 and pos_weight.shape != z.shape[-1:]):
            raise ValueError(
                f"pos_weight must be a scalar or have shape {z.shape[-1:]} (one per column), "
                f"got shape {pos_weight.shape}"
            )
        if pos_weight.min() < 0:
            raise ValueError(f"pos_weight must be non-negative; found {pos_weight.min()}")
    return Terms(
        _bce_with_logits_formula,
        (y, z),
        sample_shape=z.shape,
        sample_weight=sample_weight,
        reduction=reduction,
        dtype=dtype,
        pos_weight=pos_weight,
    )
