"""Extreme inputs: finite wherever the true value is finite, and equal to it.

Hypothesis draws arguments across the whole float64 range — ±max, values whose squares or
differences overflow, subnormals — and each loss is compared, term by term, with a
700-digit ``mpmath`` evaluation of its definition, rounded once to float64. Where the
rounded truth is finite the library must return a finite value within a few ulps of it
(or, for a result in the subnormal range, within a few units of the smallest normal
number, where relative accuracy ends); where the truth exceeds the float range, ``inf``.
The same holds in float32 for float32 inputs. Every evaluation runs under
``np.errstate(all="raise")``: no floating-point warning may escape on valid input.

Each gap these tests found is pinned by an ``@example``, so a regression fails on every
run, not only when hypothesis happens to draw it again.
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

import lossfns
from test_classification import focal_parts

# Enough digits that no reference cancels: log(cosh r) = r^2/2 + ... at r = 1e-308 needs
# about 620 digits to see the r^2 term next to 1
mp.mp.dps = 700
TINY = np.finfo(np.float64).tiny
EPS = np.finfo(np.float64).eps
MAX = float(np.finfo(np.float64).max)
MAX32 = float(np.finfo(np.float32).max)
# a few roundings per term, and the 1 - p or log1p steps that lose at most a unit each
RTOL = 16 * EPS
# |p - y| = max + ulp(max)/2 = 2^1024 - 2^970, the rounding tie: p - y rounds to inf, yet
# |r| - k for 0 < k < 2^969 (Huber with delta = 1, log-cosh) rounds to max
TIE = (-(2.0**970), MAX)
TIE32 = (-(2.0**103), MAX32)

anything = st.floats(allow_nan=False, allow_infinity=False, width=64)
anything32 = st.floats(allow_nan=False, allow_infinity=False, width=32)
moderate = st.floats(-50, 50)
unit = st.floats(0, 1)
unit32 = st.floats(0, 1, width=32)
sign = st.sampled_from([-1.0, 1.0])
bit = st.sampled_from([0.0, 1.0])
positive = st.floats(min_value=0, allow_infinity=False, allow_nan=False)
positive32 = st.floats(min_value=0, allow_infinity=False, allow_nan=False, width=32)
# a weight or scale anywhere in (0, max]: subnormal, tiny, huge
weight = st.floats(min_value=0, max_value=MAX, exclude_min=True)
nonzero = anything.filter(lambda x: x != 0)
nonzero32 = anything32.filter(lambda x: x != 0)
open_unit = st.floats(0, 1, exclude_min=True, exclude_max=True)


def softplus(x):
    return mp.log1p(mp.exp(mp.mpf(x)))


def sigmoid(x):
    return 1 / (1 + mp.exp(-mp.mpf(x)))


def rounded(truth, dtype=np.float64) -> float:
    """The mpmath ``truth`` rounded to ``dtype`` (returned as a Python float): values up to
    max + half an ulp of max round to max, the tie and beyond to infinity."""
    info = np.finfo(dtype)
    largest = mp.mpf(float(info.max))
    if abs(truth) >= largest + mp.mpf(2) ** (info.maxexp - info.nmant - 2):
        return math.copysign(math.inf, float(mp.sign(truth)))
    if abs(truth) >= largest:
        return math.copysign(float(largest), float(mp.sign(truth)))
    return float(np.float32(float(truth))) if dtype == np.float32 else float(truth)


def close(result, truth, dtype=np.float64, scale=None, strict=False) -> bool:
    """``result`` agrees with the mpmath ``truth`` rounded to ``dtype``: within 16 ulps, or
    4 units of the smallest normal number for a result in the subnormal range; ``scale``
    (the sum of the sizes of the terms the result is a difference of) makes the error
    relative to the terms. ``strict``: finite wherever the rounded truth is, even within
    the tolerance of the overflow threshold."""
    info = np.finfo(dtype)
    expected, result = rounded(truth, dtype), float(result)
    if math.isinf(expected):
        if result == expected:
            return True
        if scale is not None and math.isfinite(result):
            # a difference of terms whose truth lies just past the range is as exact as
            # every such difference: to the tolerance of its terms' size (squared triplet
            # distances of 5.9e324 differing by 2^1024, the truth, may give 0)
            tolerance = 16 * float(info.eps) * mp.mpf(scale) + 4 * float(info.tiny)
            return abs(mp.mpf(result) - mp.mpf(truth)) <= tolerance
        # the mirror case: a truth just past the largest float, which a sum of several
        # rounded terms may leave at the largest float (softmax cross-entropy of a soft
        # target against a logit of 1.8e308: the truth 1.000000000000000001 max)
        return not strict and math.copysign(float(info.max), expected) == result and (
            abs(truth) <= float(info.max) * (1 + 16 * float(info.eps)))
    size = abs(expected) if scale is None else max(abs(expected), float(scale))
    tolerance = 16 * float(info.eps) * size + 4 * float(info.tiny)
    if math.isinf(result) and not strict:
        # a truth within the tolerance of the largest float may round either way, as a sum
        # of several rounded terms near the overflow threshold does (exact cases, such as
        # the rounding tie of a residual, are tested exactly)
        return result == math.copysign(math.inf, expected) and (
            abs(expected) + tolerance >= float(info.max))
    return abs(result - expected) <= tolerance


def check(loss, truth_of, *args, dtype=np.float64, atol=0.0, strict=False, **hyper):
    """Compare one-term evaluations of ``loss`` (value) with ``truth_of(*args)``; ``atol``
    for a formula whose inputs enter through a sum of several terms, which is exact only
    up to the rounding of its largest term; ``strict`` as for :func:`close`."""
    arrays = [np.array([a], dtype=dtype) if isinstance(a, float) else a for a in args]
    with np.errstate(all="raise"):
        value = loss(*arrays, **hyper, reduction="none")
    assert value.dtype == dtype
    truth = truth_of(*args)
    result = float(value.ravel()[0])
    if atol and math.isfinite(result) and abs(result - float(truth)) <= atol:
        return
    assert close(result, truth, dtype, strict=strict), (args, hyper, result, truth)


def check_derivatives(loss, y, p, grad, hess, dtype=np.float64, grad_scale=None, **hyper):
    """``loss.grad_hess`` at one term against the mpmath ``grad`` and ``hess`` (``None``: not
    compared)."""
    with np.errstate(all="raise"):
        g, h = loss.grad_hess(np.array([y], dtype), np.array([p], dtype), **hyper,
                              reduction="none")
    assert g.dtype == h.dtype == dtype
    assert close(g[0], grad, dtype, grad_scale), (y, p, hyper, "grad", g[0], grad)
    if hess is not None:
        assert close(h[0], hess, dtype), (y, p, hyper, "hess", h[0], hess)


# ------------------------------------------------------------------ classification


@example(0.5, -1e308, 5e-324)  # a subnormal weight: w y underflowed before meeting 1e308
@example(0.0, -1e10, 1e300)  # w softplus(-z) overflows beside y = 0: was 0 * inf = nan
@example(5e-324, -1e300, 1.5)  # a subnormal label: w y rounds before meeting softplus
@example(1.0, 712.0, 7.513657298221868e17)  # w lifts a subnormal softplus(-z): its digits
@example(0.5, 712.0, 1.2953914323256266e18)  # (and sigma(-z)'s) were lost before
@given(unit, anything, weight)
def test_bce_with_logits(y, z, w):
    def truth(y, z):
        return mp.mpf(w) * y * softplus(-z) + (1 - mp.mpf(y)) * softplus(z)

    check(lossfns.binary_cross_entropy_with_logits, truth, y, z, pos_weight=w)
    # (1 - y) sigma(z) - w y sigma(-z): a difference, exact relative to its terms
    negative, positive = (1 - mp.mpf(y)) * sigmoid(z), w * mp.mpf(y) * sigmoid(-z)
    curvature = (1 - mp.mpf(y) + w * mp.mpf(y)) * sigmoid(z) * sigmoid(-z)
    check_derivatives(lossfns.binary_cross_entropy_with_logits, y, z, negative - positive,
                      curvature, grad_scale=abs(negative) + abs(positive), pos_weight=w)


@given(unit, unit)
def test_bce_with_probabilities(y, p):
    def truth(y, p):
        y, p = mp.mpf(y), mp.mpf(p)
        pos = 0 if y == 0 else (mp.inf if p == 0 else -y * mp.log(p))
        neg = 0 if y == 1 else (mp.inf if p == 1 else -(1 - y) * mp.log1p(-p))
        return pos + neg

    check(lossfns.binary_cross_entropy, truth, y, p)


@given(sign, anything)
def test_logistic_loss(y, f):
    check(lossfns.logistic_loss, lambda y, f: softplus(-mp.mpf(y) * f), y, f)


@given(sign, anything, st.floats(0, MAX))
def test_hinge_pair(y, f, margin):
    def truth(y, f):
        return max(mp.mpf(0), margin - mp.mpf(y) * f)

    check(lossfns.hinge, truth, y, f, margin=margin)
    check(lossfns.squared_hinge, lambda y, f: truth(y, f) ** 2, y, f, margin=margin)


def focal_truth(y, z, gamma, alpha):
    """Value, gradient (with the sum of its two terms' sizes) and Hessian of the focal
    loss at 700 digits, from p, q, s = -log p, r = -log q formed without cancellation
    (test_classification's closed forms, proven there with SymPy)."""
    p, q, s, r = sigmoid(z), sigmoid(-z), softplus(-z), softplus(z)
    return focal_parts(p, q, s, r, mp.mpf(y), mp.mpf(gamma), mp.mpf(alpha), 1 - mp.mpf(alpha))


@example(0.5, -1e308, 2.0, 5e-324)  # a subnormal alpha: alpha y underflowed before s = 1e308
@example(1.0, -1e300, 0.0, 1e-310)
@given(unit, anything, st.floats(0, 5), unit)
def test_focal_loss(y, z, gamma, alpha):
    value, (grad, grad_size), (hess, hess_size) = focal_truth(y, z, gamma, alpha)
    check(lossfns.focal_loss, lambda y, z: value, y, z, gamma=gamma, alpha=alpha)
    with np.errstate(all="raise"):
        g, h = lossfns.focal_loss.grad_hess([y], [z], gamma=gamma, alpha=alpha, reduction="none")
    assert close(g[0], grad, scale=grad_size), (y, z, gamma, alpha, g[0], grad)
    # (2 gamma + 1) and gamma^2 multiply the roundings of the Hessian's parts
    assert abs(h[0] - float(hess)) <= (2 * gamma + 1) ** 2 * RTOL * float(hess_size) + 4 * TINY


@given(st.lists(anything, min_size=2, max_size=5), st.data())
def test_softmax_cross_entropy(logits, data):
    classes = len(logits)
    label = data.draw(st.integers(0, classes - 1))
    target = np.array(data.draw(st.lists(unit, min_size=classes, max_size=classes)))
    if target.sum() == 0:
        target[label] = 1.0
    target = target / target.sum()
    if abs(target.sum() - 1) > 1e-9:
        return
    z = np.array([logits])

    def truth(t):
        # logsumexp(z) - z_c as (max - z_c) + log(sum exp(z - max)): no digits lost to
        # the size of the logits
        top = max(mp.mpf(v) for v in logits)
        log_sum = mp.log(mp.fsum(mp.exp(mp.mpf(v) - top) for v in logits))
        return mp.fsum(mp.mpf(tc) * ((top - mp.mpf(v)) + log_sum) for tc, v in zip(t, logits))

    one_hot = [1.0 if c == label else 0.0 for c in range(classes)]
    with np.errstate(all="raise"):
        by_index = lossfns.softmax_cross_entropy(np.array([label]), z, reduction="none")[0]
        by_row = lossfns.softmax_cross_entropy(np.array([one_hot]), z, reduction="none")[0]
        soft = lossfns.softmax_cross_entropy(target[None, :], z, reduction="none")[0]
    assert close(by_index, truth(one_hot)), (logits, label, by_index)
    assert close(by_row, truth(one_hot)), (logits, label, by_row)
    assert close(soft, truth(target.tolist())), (logits, target, soft)


@example([0.0, MAX], 0, 1e308)  # m + f_j overflowed before - f_y brought it back
@example([MAX, MAX], 0, 1e308)
@given(st.lists(anything, min_size=2, max_size=4), st.integers(0, 3), st.floats(0, MAX))
def test_multiclass_hinge(scores, label, margin):
    label = label % len(scores)
    f = [mp.mpf(v) for v in scores]
    slacks = [margin + f[j] - f[label] for j in range(len(f)) if j != label]
    truths = {"crammer_singer": max(0, max(slacks)),
              "weston_watkins": mp.fsum(max(0, s) for s in slacks)}
    # m + f_j - f_y takes two roundings: exact to an ulp of its largest term
    atol = 2 * EPS * (margin + 2 * max(abs(v) for v in scores)) * len(scores)
    for method, truth in truths.items():
        with np.errstate(all="raise"):
            value = lossfns.multiclass_hinge([label], [scores], margin=margin, method=method,
                                             reduction="none")[0]
            grad = lossfns.multiclass_hinge.grad([label], [scores], margin=margin,
                                                 method=method, reduction="none")
        assert np.isfinite(grad).all()
        ok = math.isfinite(value) and abs(value - float(truth)) <= atol
        assert ok or close(value, truth), (scores, label, margin, method, value, truth)


# ----------------------------------------------------------------------- regression


def log_cosh(r):
    r = abs(r)
    # log cosh r = |r| + log1p(exp(-2|r|)) - log 2, which needs no cosh of a huge r
    return mp.log(mp.cosh(r)) if r < 1 else r + mp.log1p(mp.exp(-2 * r)) - mp.log(2)


def sech_squared(r):
    e = mp.exp(-2 * abs(r))
    return 4 * e / (1 + e) ** 2


@example(*TIE)
@example(-1e308, 1e308)
@given(anything, anything)
def test_squared_and_absolute_errors(y, p):
    r = mp.mpf(p) - mp.mpf(y)
    check(lossfns.mse, lambda y, p: r**2, y, p)
    check(lossfns.mae, lambda y, p: abs(r), y, p)
    check(lossfns.log_cosh, lambda y, p: log_cosh(r), y, p)
    check_derivatives(lossfns.mse, y, p, 2 * r, 2)
    check_derivatives(lossfns.mae, y, p, mp.sign(r), 0)
    check_derivatives(lossfns.log_cosh, y, p, mp.tanh(r), sech_squared(r))


def huber_truth(y, p, delta):
    r = mp.mpf(p) - mp.mpf(y)
    if abs(r) <= delta:
        return r**2 / 2, r, 1 if abs(r) < delta else 0
    return delta * (abs(r) - mp.mpf(delta) / 2), mp.sign(r) * delta, 0


@example(-1e308, 1e308, 0.5)  # |r| = 2e308 overflows, delta (|r| - delta/2) = 1e308 does not
@example(*TIE, 1.0)  # the tie: |r| - 1/2 rounds to max, the half residual to nearest does not
@example(-(2.0**970) - 2.0**918, MAX, 1.0)  # just past the tie: inf
@example(-1e308, 1e308, 5e-324)
@given(anything, anything, weight)
def test_huber(y, p, delta):
    value, grad, hess = huber_truth(y, p, delta)
    check(lossfns.huber, lambda y, p: value, y, p, delta=delta)
    # the Hessian's jump at |r| = delta follows the rounded residual
    rounded_r = abs(p - y)  # (Python floats: inf where it overflows, without a warning)
    if rounded_r == delta or (abs(mp.mpf(p) - mp.mpf(y)) < delta) != (rounded_r < delta):
        hess = None
    check_derivatives(lossfns.huber, y, p, grad, hess, delta=delta)


@example(1e308, -1e308, 0.1)  # |u| = 2e308 overflows, tau |u| does not
@example(MAX, -(2.0**970), float(1 - 2.0**-53))  # u is the tie; tau u rounds to max
@given(anything, anything, open_unit)
def test_pinball(y, p, quantile):
    u = mp.mpf(y) - mp.mpf(p)
    value = max(quantile * u, (mp.mpf(quantile) - 1) * u)
    grad = -mp.mpf(quantile) if u > 0 else (1 - mp.mpf(quantile) if u < 0 else 0)
    check(lossfns.pinball, lambda y, p: value, y, p, quantile=quantile)
    check_derivatives(lossfns.pinball, y, p, grad, 0, quantile=quantile)


@example(1e308, -1e308)  # |r| = 2e308 overflows, 100 |r| / |y| = 200 does not
@example(1e-307, 0.0)  # 100 / |y| overflows, 100 |r| / |y| = 100 does not
@given(nonzero, anything)
def test_mape(y, p):
    r = mp.mpf(p) - mp.mpf(y)
    check(lossfns.mape, lambda y, p: 100 * abs(r) / abs(mp.mpf(y)), y, p)
    check_derivatives(lossfns.mape, y, p, 100 * mp.sign(r) / abs(mp.mpf(y)), 0)


def smape_truth(y, p):
    y, p = mp.mpf(y), mp.mpf(p)
    if y == p == 0:
        return 0, 0, 0
    size = abs(y) + abs(p)
    value = 200 * abs(p - y) / size
    if mp.sign(y) * mp.sign(p) <= 0:  # opposite signs, or one of them 0: flat at 200
        return value, 0, 0
    grad = 400 * mp.sign(p - y) * abs(y) / size**2
    return value, grad, -2 * mp.sign(p) * grad / size


@example(1e308, 1.7e308)  # |y| + |p| overflows
@example(5e-324, 1e-323)
@given(anything, anything)
def test_smape(y, p):
    value, grad, hess = smape_truth(y, p)
    check(lossfns.smape, lambda y, p: value, y, p)
    check_derivatives(lossfns.smape, y, p, grad, hess)


@pytest.mark.parametrize(("dtype", "tie"), [(np.float64, TIE), (np.float32, TIE32)])
@pytest.mark.parametrize(
    ("loss", "hyper", "truth"),
    [
        (lossfns.huber, {"delta": 1.0}, lambda r: r - mp.mpf(1) / 2),
        (lossfns.huber, {"delta": 0.75}, lambda r: mp.mpf(0.75) * (r - mp.mpf(0.375))),
        (lossfns.log_cosh, {}, log_cosh),
        (lossfns.mae, {}, abs),
        (lossfns.pinball, {"quantile": 0.999}, lambda r: mp.mpf(0.999) * r),
        (lossfns.pinball, {"quantile": float(1 - 2.0**-24)}, lambda r: mp.mpf(1 - 2.0**-24) * r),
    ],
    ids=["huber-1", "huber-0.75", "log-cosh", "mae", "pinball-0.999", "pinball-1-2^-24"],
)
@pytest.mark.parametrize("side", [1, -1])
def test_the_rounding_tie_of_the_residual(loss, hyper, truth, dtype, tie, side):
    # |p - y| = max + ulp/2 rounds to inf (ties to even); |r| - k and c |r| for c < 1 are
    # below the tie and round to max or less, |r| itself is the tie and rounds to inf
    y, p = tie[0] * side, tie[1] * side
    if loss is lossfns.pinball and side == 1:  # u = y - p < 0: (1 - tau) |u|, far below
        y, p = p, y
    exact = truth(abs(mp.mpf(p) - mp.mpf(y)))
    check(loss, lambda y, p: exact, y, p, dtype=dtype, strict=True, **hyper)


# ----------------------------------------------------------- float32 across its range


@example(*TIE32, 1.0, 0.5)
@example(-1e38, 1e38, 0.5, 0.1)
@example(3e38, -3e38, 0.25, 0.9)
@given(anything32, anything32, positive32.filter(lambda d: d > 0), st.floats(0, 1, width=32,
       exclude_min=True, exclude_max=True))
def test_regression_in_float32(y, p, delta, quantile):
    # float32 inputs give float32 results, exact to float32's ulps, across float32's range
    y, p, delta, quantile = (float(np.float32(v)) for v in (y, p, delta, quantile))
    r = mp.mpf(p) - mp.mpf(y)
    f32 = {"dtype": np.float32}
    check(lossfns.mse, lambda y, p: r**2, y, p, **f32)
    check(lossfns.mae, lambda y, p: abs(r), y, p, **f32)
    check(lossfns.log_cosh, lambda y, p: log_cosh(r), y, p, **f32)
    check(lossfns.huber, lambda y, p: huber_truth(y, p, delta)[0], y, p, delta=delta, **f32)
    u = -r
    check(lossfns.pinball, lambda y, p: max(quantile * u, (mp.mpf(quantile) - 1) * u), y, p,
          quantile=quantile, **f32)
    check(lossfns.smape, lambda y, p: smape_truth(y, p)[0], y, p, **f32)
    check_derivatives(lossfns.log_cosh, y, p, mp.tanh(r), sech_squared(r), np.float32)
    check_derivatives(lossfns.smape, y, p, *smape_truth(y, p)[1:], np.float32)
    if y != 0:
        check(lossfns.mape, lambda y, p: 100 * abs(r) / abs(mp.mpf(y)), y, p, **f32)
        check_derivatives(lossfns.mape, y, p, 100 * mp.sign(r) / abs(mp.mpf(y)), 0, np.float32)


@example(0.5, -3e38, 1e-45, 0.5)  # subnormal float32 weights
@given(unit32, anything32, positive32, unit32)
def test_classification_in_float32(y, z, w, alpha):
    y, z, w, alpha = (float(np.float32(v)) for v in (y, z, w, alpha))
    f32 = {"dtype": np.float32}
    check(lossfns.binary_cross_entropy_with_logits,
          lambda y, z: mp.mpf(w) * y * softplus(-z) + (1 - mp.mpf(y)) * softplus(z), y, z,
          pos_weight=np.float32(w), **f32)
    check(lossfns.focal_loss, lambda y, z: focal_truth(y, z, 2.0, alpha)[0], y, z,
          gamma=2.0, alpha=alpha, **f32)
    label = 1.0 if y >= 0.5 else -1.0
    check(lossfns.logistic_loss, lambda y, f: softplus(-label * mp.mpf(f)), label, z, **f32)
    check(lossfns.hinge, lambda y, f: max(mp.mpf(0), 1 - label * mp.mpf(f)), label, z, **f32)


# -------------------------------------------------------------------------- ranking


@given(anything, anything)
def test_pairwise_logistic_and_bpr(pos, neg):
    def truth(pos, neg):
        return softplus(mp.mpf(neg) - mp.mpf(pos))

    check(lossfns.bpr, truth, pos, neg)
    check(lossfns.pairwise_logistic, truth, pos, neg)


@given(anything, anything, st.floats(0, 10))
def test_pairwise_hinge(pos, neg, margin):
    # m - s+ + s- takes two roundings: exact to an ulp of its largest term
    check(lossfns.pairwise_hinge,
          lambda pos, neg: max(mp.mpf(0), margin - mp.mpf(pos) + mp.mpf(neg)),
          pos, neg, margin=margin, atol=2 * EPS * (margin + abs(pos) + abs(neg)))


@given(bit, positive, st.floats(0, 1e300))
def test_contrastive(y, d, margin):
    def truth(y, d):
        return y * mp.mpf(d) ** 2 + (1 - y) * max(mp.mpf(0), margin - mp.mpf(d)) ** 2

    check(lossfns.contrastive, truth, y, d, margin=margin)


def triplet_truth(a, p, n, margin, squared):
    """Value, the size of its terms (which bounds its rounding error) and the gradients of
    the triplet loss at 700 digits."""
    a, p, n = ([mp.mpf(v) for v in x] for x in (a, p, n))
    to_pos = [ai - pi for ai, pi in zip(a, p)]
    to_neg = [ai - ni for ai, ni in zip(a, n)]
    if squared:
        d_pos, d_neg = mp.fsum(v**2 for v in to_pos), mp.fsum(v**2 for v in to_neg)
        # |a - p|^2 - |a - n|^2 = sum (n - p)(2a - p - n): the error of each factor counts
        size = mp.fsum(abs(ni - pi) * (abs(u) + abs(v))
                       for ni, pi, u, v in zip(n, p, to_pos, to_neg)) + margin
        u_pos, u_neg = [2 * v for v in to_pos], [2 * v for v in to_neg]
        # the slack from that sum too: d_pos - d_neg cancels by the ratio of the squares to
        # their difference, which can pass the 700 digits (7e218^2 against 2e-125^2: 687
        # digits, and a case that drew them was off in its 15th digit)
        slack = mp.fsum((ni - pi) * (u + v) for ni, pi, u, v in zip(n, p, to_pos, to_neg)) + margin
    else:
        d_pos = mp.sqrt(mp.fsum(v**2 for v in to_pos))
        d_neg = mp.sqrt(mp.fsum(v**2 for v in to_neg))
        size = d_pos + d_neg + margin
        u_pos = [v / d_pos if d_pos else 0 for v in to_pos]
        u_neg = [v / d_neg if d_neg else 0 for v in to_neg]
        slack = d_pos - d_neg + margin
    grads = ([up - un for up, un in zip(u_pos, u_neg)], [-v for v in u_pos], u_neg)
    return max(slack, 0), slack, size, grads


# the rows of the issue's notes: a - p beyond the range; squared distances near 1e155 whose
# products overflow while their difference does not; distances beyond the range whose
# difference is finite; close distances far from the anchor (cancelled before)
TRIPLET_EXAMPLES = [
    ([1e308, 0.0], [-1e308, 0.0], [0.0, 0.0]),
    ([0.0, 0.0], [-1e200, 0.0], [0.0, 1e200]),
    ([1e155] * 3, [-1e155] * 3, [0.0] * 3),
    ([1e155, 0.0], [-1e155, 0.0], [1e155, 2e155]),
    ([MAX, -0.04, 1e308, -1.5], [1e-5, -1e200, 0.66, -1e308], [3.0, 700.0, 1e-160, 5e-324]),
    ([1e10], [1.0], [1.000001]),
    ([1e308], [-1e308], [-1e308]),
    ([0.0, 0.0], [2.4215594023627927e162, 2.0**512], [0.0, 2.4215594023627927e162]),
]


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("rows", TRIPLET_EXAMPLES)
def test_triplet_examples(rows, squared):
    check_triplet(*rows, 1.0, squared)


@settings(max_examples=150)
@example([[0.0, 0.0, 0.0], [0.0, 2.1376801146998814e-125, 7.060034896770544e+218],
          [0.0, 0.0, 7.060034896770544e+218]], 0.0, True)
@given(st.integers(1, 3).flatmap(lambda d: st.lists(
    st.lists(anything, min_size=d, max_size=d), min_size=3, max_size=3)),
    st.floats(0, MAX), st.booleans())
def test_triplet(points, margin, squared):
    check_triplet(*points, margin, squared)


@pytest.mark.parametrize("squared", [False, True])
def test_triplet_value_alone_on_rows_near_and_far(squared):
    # the value without the gradient, on rows of which some need the far path (a distance
    # beyond the range) and some not: it raised TypeError (found by the sweep of issue 13)
    rows = [TRIPLET_EXAMPLES[0], ([0.0, 0.0], [1.0, 0.0], [0.0, 0.5])]
    a, p, n = (np.array([row[k] for row in rows]) for k in range(3))
    with np.errstate(all="raise"):
        values = lossfns.triplet(a, p, n, squared=squared, reduction="none")
    for got, row in zip(values, rows):
        value, _, size, _ = triplet_truth(*row, 1.0, squared)
        assert close(got, value, scale=size), (row, got, value)


def check_triplet(a, p, n, margin, squared):
    value, slack, size, grads = triplet_truth(a, p, n, margin, squared)
    with np.errstate(all="raise"):
        result, got = lossfns.triplet.value_and_grad([a], [p], [n], margin=margin,
                                                    squared=squared, reduction="none")
    assert close(result[0], value, scale=size), (a, p, n, margin, squared, result[0], value)
    if abs(slack) <= 2 * RTOL * size + 4 * TINY:  # at the kink within rounding (or below
        return  # the normal range, where the slack's sign is lost): either side will do
    for g, truth in zip(got, grads):
        for entry, exact in zip(g[0], truth):
            exact = exact if slack > 0 else 0
            # u_p - u_n: a difference, exact relative to the unit vectors' entries
            assert close(entry, exact, scale=2 if not squared else None), (
                a, p, n, margin, squared, g, grads)


# ------------------------------------------------- gradients of the logistic pair


@given(unit, anything)
def test_bce_with_logits_gradient(y, z):
    with np.errstate(all="raise"):
        grad, hess = lossfns.binary_cross_entropy_with_logits.grad_hess([y], [z], reduction="sum")
    # (1 - y) sigma(z) - y sigma(-z) is a difference of two terms, each exact to a few
    # ulps: where they nearly cancel (a soft label near sigma(z)) the error is relative
    # to the terms, not to their difference
    negative, positive = (1 - mp.mpf(y)) * sigmoid(z), y * sigmoid(-z)
    assert close(grad[0], negative - positive, scale=abs(negative) + abs(positive))
    assert close(hess[0], sigmoid(z) * sigmoid(-z))


@example(65.0, 0.9)  # the gap 64.1 rounds by 7e-15: sigma(-g) is then off by 26 ulps
@example(0.9, 65.0)
@given(anything, anything)
def test_bpr_gradient(pos, neg):
    with np.errstate(all="raise"):
        (d_pos, d_neg), (h_pos, h_neg) = lossfns.bpr.grad_hess([pos], [neg], reduction="sum")
    gap = mp.mpf(pos) - mp.mpf(neg)
    up, down = sigmoid(gap), sigmoid(-gap)
    truth, curvature = down, up * down
    # the gap is rounded once, by up to half an ulp, |g| eps / 2; that moves log sigma(-g) by
    # up to sigma(g) times as much and log(sigma(g) sigma(-g)) by |sigma(-g) - sigma(g)| times
    # as much: relative errors beyond the 16 ulps (16 eps) of each evaluation itself
    grad_scale = truth * (1 + abs(gap) * up / 32)
    hess_scale = curvature * (1 + abs(gap) * abs(down - up) / 32)
    assert close(-d_pos[0], truth, scale=grad_scale) and close(d_neg[0], truth, scale=grad_scale)
    assert close(h_pos[0], curvature, scale=hess_scale)
    assert close(h_neg[0], curvature, scale=hess_scale)


# ------------------------------------------------------------ weights and reductions


ELEMENTWISE = {
    "mse": (lossfns.mse, {}, lambda y, p: (p - y) ** 2),
    "mae": (lossfns.mae, {}, lambda y, p: abs(p - y)),
    "huber": (lossfns.huber, {"delta": 0.5}, lambda y, p: huber_truth(y, p, 0.5)[0]),
    "pinball": (lossfns.pinball, {"quantile": 0.3},
                lambda y, p: max(mp.mpf(0.3) * (y - p), (mp.mpf(0.3) - 1) * (y - p))),
    "log_cosh": (lossfns.log_cosh, {}, lambda y, p: log_cosh(p - y)),
    "bpr": (lossfns.bpr, {}, lambda s, t: softplus(t - s)),
    "smape": (lossfns.smape, {},
              lambda y, p: 200 * abs(p - y) / (abs(y) + abs(p)) if y or p else mp.mpf(0)),
    "logistic": (lossfns.binary_cross_entropy_with_logits, {},
                 lambda y, z: softplus(z) - y * z if abs(z) < 1e300 else
                 y * softplus(-z) + (1 - y) * softplus(z)),
}


# residuals anywhere: ±max, squares and differences beyond the range, squares below it
coordinate = st.one_of(anything, st.floats(-1e-150, 1e-150), st.floats(-1e160, 1e160))


@settings(max_examples=150)
@example("mse", [(0.0, 1.5e154, 0.0), (0.0, 0.0, 1.0)])  # mean of an overflowing square
@example("mae", [(-1e308, 1e308, 0.25)])  # |r| = 2e308 before its weight
@example("mse", [(0.0, 4.987243202620996e-171, 3.5783542164224135e33)])  # r^2 underflows
# a mean's share of a weight below the normal range: 1e-330 times a term of 1e308
@example("mae", [(0.0, 0.0, 1e10), (0.0, 1e308, 1e-320)])
@example("log_cosh", [(0.0, 0.0, 0.0), (0.0, 0.0, 2.1115972291301728e+303),  # share 4.7e-310
                      (0.0, 1.411015114393029e+19, 1e-06)])
@given(st.sampled_from(sorted(ELEMENTWISE)), st.lists(
    st.tuples(coordinate, coordinate, st.one_of(st.floats(0, MAX), weight)),
    min_size=1, max_size=4))
def test_weighted_sums_and_means(name, samples):
    # sum(w l) and sum(w l) / sum(w) for weights anywhere in [0, max], under strict floating
    # point, for terms anywhere: beyond the float range or below it before their weight
    # brings them back (lossfns._core.reevaluate_out_of_range)
    loss, hyper, term = ELEMENTWISE[name]
    targets, predictions, weights = (list(column) for column in zip(*samples))
    if name == "logistic":
        targets = [min(abs(t), 1.0) for t in targets]
    if max(weights) == 0:
        weights[0] = 1.0
    terms = [term(mp.mpf(y), mp.mpf(p)) for y, p in zip(targets, predictions)]
    weighted = [mp.mpf(w) * t for w, t in zip(weights, terms)]
    total = mp.fsum(weighted)
    size = mp.fsum(abs(v) for v in weighted)
    with np.errstate(all="raise"):
        args = (np.array(targets), np.array(predictions))
        none = loss(*args, **hyper, sample_weight=weights, reduction="none")
        summed = loss(*args, **hyper, sample_weight=weights, reduction="sum")
        mean = loss(*args, **hyper, sample_weight=weights)
    for got, exact in zip(none, weighted):
        assert close(got, exact), (name, targets, predictions, weights, got, exact)
    assert close(summed, total, scale=size), (name, summed, total)
    assert close(mean, total / mp.fsum(weights), scale=size / mp.fsum(weights)), (name, mean)


BEYOND_THE_RANGE = [
    # (2e308 + 0) / 2
    (lambda: lossfns.mae([-1e308, 0.0], [1e308, 0.0]), mp.mpf(1e308)),
    (lambda: lossfns.mae([-1e308], [1e308], sample_weight=[0.25], reduction="none")[0],
     mp.mpf(5e307)),
    # (2.25e308 + 0) / 2
    (lambda: lossfns.mse([0.0, 0.0], [1.5e154, 0.0]), mp.mpf(1.5e154) ** 2 / 2),
    # r^2 = 2.5e-341 underflows before its weight 3.6e33 meets it (found by hypothesis)
    (lambda: lossfns.mse([0.0], [4.987243202620996e-171], sample_weight=[3.5783542164224135e33],
                         reduction="none")[0],
     mp.mpf(3.5783542164224135e33) * mp.mpf(4.987243202620996e-171) ** 2),
    # 2 r / 4 = 4e308 / 4 for the first of four samples of the mean
    (lambda: lossfns.mse.grad([-1e308, 0.0, 0.0, 0.0], [1e308, 0.0, 0.0, 0.0])[0],
     mp.mpf(1e308)),
    # a mean's share of a weight below the range: 1e-320 / 1e10 (0 in float64) times 1e308
    (lambda: lossfns.mae([0.0, 0.0], [0.0, 1e308], sample_weight=[1e10, 1e-320]),
     mp.mpf(1e-320) * mp.mpf(1e308) / (mp.mpf(1e10) + mp.mpf(1e-320))),
]


@pytest.mark.parametrize(("call", "truth"), BEYOND_THE_RANGE)
def test_terms_beyond_the_range_before_their_weights(call, truth):
    with np.errstate(all="raise"):
        assert close(call(), truth)


@pytest.mark.parametrize(("call", "truth"), BEYOND_THE_RANGE)
def test_without_a_wider_dtype_the_float64_answer_stays(call, truth, monkeypatch):
    # where np.longdouble is float64 (Windows, macOS on ARM) nothing is re-evaluated: the
    # term beyond the range stays inf (below it, 0), as the float64 evaluation gives it
    monkeypatch.setitem(lossfns._core.WIDER_DTYPE, np.dtype(np.float64), None)
    with np.errstate(all="raise"):
        result = float(call())
    assert result == (math.inf if truth > 1 else 0.0)


# the blocks of MAE and MSE (both cheap formulas, of one footprint) at these sizes
assert lossfns.mae.footprint == lossfns.mse.footprint
BLOCK = lossfns._core.block_entries(lossfns.mae.footprint, 8, 0)


@pytest.mark.parametrize("n", [1, 2, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK + 5])
@pytest.mark.parametrize("where", [0, -1])
def test_a_term_beyond_the_range_in_any_block(n, where):
    # one residual of 2e308 among zeros, first or last, in one block or in several: the
    # mean is 2e308 / n, the gradient of its term 4e308 / n (both in range for n > 3)
    y, p = np.zeros(n), np.zeros(n)
    y[where], p[where] = -1e308, 1e308
    with np.errstate(all="raise"):
        mean, grad = lossfns.mae.value_and_grad(y, p)
        none = lossfns.mse(y, p, sample_weight=np.full(n, 1e-300), reduction="none")
        mse_grad = lossfns.mse.grad(y, p)
    assert close(mean, 2 * mp.mpf(1e308) / n) and close(grad[where], mp.mpf(1) / n)
    assert close(none[where], mp.mpf(2e308) ** 2 * mp.mpf(1e-300))
    assert close(mse_grad[where], 4 * mp.mpf(1e308) / n, strict=True) or n < 4
    assert np.all(np.delete(none, where) == 0) and np.all(np.delete(mse_grad, where) == 0)


@pytest.mark.parametrize("n", [2, BLOCK + 1, 2 * BLOCK + 5])
def test_a_share_below_the_range_in_any_block(n):
    # the last weight's share of the mean, 1e-320 / (1e10 (n - 1)), is 0 in float64; its
    # term of 1e308 makes it count
    y, p, w = np.zeros(n), np.zeros(n), np.full(n, 1e10)
    p[-1], w[-1] = 1e308, 1e-320
    with np.errstate(all="raise"):
        mean = lossfns.mae(y, p, sample_weight=w)
    assert close(mean, mp.mpf(1e-320) * mp.mpf(1e308) / (mp.mpf(1e10) * (n - 1) + mp.mpf(1e-320)))


def test_terms_beyond_the_range_in_float32():
    # float32 re-evaluates in float64: |r| = 6e38 before a weight of 1/4
    y, p = np.float32([-3e38, 0]), np.float32([3e38, 0])
    with np.errstate(all="raise"):
        none = lossfns.mae(y, p, sample_weight=np.float32([0.25, 1]), reduction="none")
        grad = lossfns.mse.grad(np.float32([-3e38, 0, 0, 0]), np.float32([3e38, 0, 0, 0]))
    assert none.dtype == grad.dtype == np.float32
    assert none[0] == np.float32(1.5e38) and grad[0] == np.float32(3e38)


@pytest.mark.parametrize(
    ("call", "truth"),
    [
        # a weight of 0 on a term beyond the range: the term counts 0, not nan
        (lambda: lossfns.mse([0.0, 0.0], [1e300, 1.0], sample_weight=[0.0, 1.0]), mp.mpf(1)),
        (lambda: lossfns.mse([0.0, 0.0], [1e300, 1.0], sample_weight=[0.0, 1.0],
                             reduction="none")[0], mp.mpf(0)),
        (lambda: lossfns.mse([0.0, 0.0], [1e300, 1.0], sample_weight=[0.0, 1.0],
                             reduction="sum"), mp.mpf(1)),
        # weights at both ends: 5e-324 / 1e308 underflows (the mean is 0.25)
        (lambda: lossfns.mae([0.0, 0.0], [0.0, 0.25], sample_weight=[5e-324, 1e308]),
         mp.mpf(0.25) * 1e308 / (mp.mpf(1e308) + mp.mpf(5e-324))),
    ],
)
def test_zero_and_extreme_weights(call, truth):
    with np.errstate(all="raise"):
        assert close(call(), truth)


def test_zero_weight_zeroes_an_infinite_derivative():
    # the Hessian of MAPE at a subnormal target is infinite; a weight of 0 makes it 0,
    # in one block and across blocks
    for n in (2, 40_000):
        y, p = np.full(n, 5e-324), np.ones(n)
        weight = np.zeros(n)
        weight[-1] = 1.0
        with np.errstate(all="raise"):
            grad = lossfns.mape.grad(y, p, sample_weight=weight, reduction="sum")
        assert np.all(grad[:-1] == 0) and np.isinf(grad[-1])


# ----------------------------------------------------------------- the issue's cases


@pytest.mark.parametrize(
    ("call", "truth"),
    [
        (lambda: lossfns.softmax_cross_entropy([[1.0, 0.0]], [[1e308, -1e308]]), mp.mpf(0)),
        (lambda: lossfns.bpr([1e308], [-1e308]), softplus(-mp.mpf(1e308) * 2)),
        (lambda: lossfns.huber([0.0], [1.5e154], delta=1e155), mp.mpf(1.5e154) ** 2 / 2),
        (lambda: lossfns.mape([1e-307], [0.0]), mp.mpf(100)),
        (lambda: lossfns.mape([1e308], [-1e308]), mp.mpf(200)),
        (lambda: lossfns.huber([-1e308], [1e308], delta=0.5), mp.mpf(0.5) * (2 * mp.mpf(1e308) - 0.25)),
        (lambda: lossfns.binary_cross_entropy_with_logits([0.5], [-1e308], pos_weight=5e-324),
         mp.mpf(5e-324) / 2 * mp.mpf(1e308)),
        (lambda: lossfns.focal_loss([0.5], [-1e308], alpha=5e-324),
         mp.mpf(5e-324) / 2 * mp.mpf(1e308)),
    ],
)
def test_the_examples_of_the_issue(call, truth):
    with np.errstate(all="raise"):
        assert close(call(), truth)


@settings(max_examples=50)
@given(st.integers(1, 3 * 2**15 + 7))
def test_pos_weight_per_element_in_many_blocks(n):
    rng = np.random.default_rng(n)
    y, z, w = rng.random(n), rng.normal(0, 3, n), rng.uniform(0, 4, n)
    value = lossfns.binary_cross_entropy_with_logits(y, z, pos_weight=w, reduction="none")
    expected = w * y * np.logaddexp(0, -z) + (1 - y) * np.logaddexp(0, z)
    np.testing.assert_allclose(value, expected, rtol=8 * EPS)
    clicked = (y > 0.5).astype(float)
    watch = lossfns.watch_time_logistic(clicked, w, z, reduction="none")
    assert watch.shape == (n,) and np.isfinite(watch).all()


def test_a_soft_target_just_past_the_largest_float():
    # found by hypothesis: the truth is 1.000000000000000001 times the largest float (it
    # rounds to inf), the sum of the three rounded terms is the largest float: both are right
    logits = [0.0, 0.0, 0.0, MAX, 0.0]
    target = [0.0, 0.37670469387013744, 0.024931812245194505, 0.0, 0.5983634938846681]
    with np.errstate(all="raise"):
        soft = lossfns.softmax_cross_entropy([target], [logits], reduction="none")[0]
    truth = mp.fsum(mp.mpf(t) * (mp.mpf(MAX) - mp.mpf(v)) for t, v in zip(target, logits))
    assert soft == MAX and close(soft, truth) and not close(soft, truth, strict=True)


# -------------------------------------------------------------------------- boosting


def _weighted_loss_sum(term, y, w, c):
    return mp.fsum(mp.mpf(wi) * term(mp.mpf(yi), mp.mpf(c)) for yi, wi in zip(y, w))


INIT_TERMS = {
    "mae": (lossfns.mae, {}, lambda y, c: abs(c - y)),
    "pinball": (lossfns.pinball, {"quantile": 0.3},
                lambda y, c: max(mp.mpf(0.3) * (y - c), (mp.mpf(0.3) - 1) * (y - c))),
    "mape": (lossfns.mape, {}, lambda y, c: abs(c - y) / abs(y)),
}
# the summed gradient of the convex losses without a closed-form minimiser
INIT_SLOPES = {
    "huber": (lossfns.huber, {"delta": 1.0}, lambda r: max(-1, min(1, r))),
    "log_cosh": (lossfns.log_cosh, {}, lambda r: mp.tanh(r)),
}
targets = st.lists(st.tuples(anything, st.one_of(st.just(1.0), weight)), min_size=1, max_size=5)


@settings(max_examples=60)
@example("mse", [(1e308, 1.0), (1e308, 1.0), (1.0, 1.0)])  # sum of y beyond the range
@example("mae", [(1e308, 1.0), (1e308, 1.0)])  # (y1 + y2) / 2 beyond the range
@example("mape", [(5e-324, 1.0), (1.0, 1.0)])  # 1 / |y| beyond the range
@example("huber", [(1e308, 1.0), (-1e308, 1.0), (1.0, 1.0)])  # the bracket's width
@example("mae", [(1.0, 1e308), (2.0, 1e308), (3.0, 1e308)])  # summed weights
@example("log_cosh", [(3.6694497957356955e-158, 6.401394298828908e+306),  # Brent did not
                      (4.180299349660873e+16, 1.0), (1.4098646257003028e+235, 1.0)])  # converge
@example("log_cosh", [(3.6694497957356955e-158, 6.401394298828908e+306),  # its bracket,
                      (-1.4098646271808994e+235, 1.0)])  # scaled by 2^-780, lost its sign
@given(st.sampled_from(["mse", "mae", "pinball", "mape", "huber", "log_cosh", "bce", "smape"]),
       targets)
def test_init_score_over_the_whole_range(name, samples):
    # the minimiser of sum w l(y, c), finite for finite data, under strict floating point,
    # against an independent criterion: the weighted mean and log-odds in mpmath; for the
    # piecewise-linear losses no data point does better (their minimum is at one); for the
    # convex ones the mpmath slope changes sign within a few ulps of c
    from lossfns import boosting

    y, w = (list(column) for column in zip(*samples))
    if name == "bce":
        y = [min(abs(v), 1.0) for v in y]
    if name == "mape":
        y = [v if v != 0 else 1.0 for v in y]
    loss = {"mse": lossfns.mse, "bce": lossfns.binary_cross_entropy_with_logits,
            "smape": lossfns.smape, **{k: v[0] for k, v in {**INIT_TERMS, **INIT_SLOPES}.items()}}[name]
    hyper = {**INIT_TERMS, **INIT_SLOPES}.get(name, (None, {}))[1]
    if name == "bce":
        positive = mp.fsum(mp.mpf(a) * b for a, b in zip(w, y))
        negative = mp.fsum(mp.mpf(a) * (1 - mp.mpf(b)) for a, b in zip(w, y))
        assume(positive > 0 and negative > 0)
    with np.errstate(all="raise"):
        c = boosting.init_score(loss, y, sample_weight=w, **hyper)
    assert np.isfinite(c), (name, y, w, c)
    if name == "mse":
        truth = mp.fsum(mp.mpf(a) * b for a, b in zip(w, y)) / mp.fsum(w)
        assert close(c, truth, scale=mp.fsum(mp.mpf(a) * abs(b) for a, b in zip(w, y)) / mp.fsum(w))
    elif name == "bce":
        # each sum carries a relative rounding, which its logarithm turns into an absolute
        # one (of 1 - y = 1 at y = 3e-181, say): the error is relative to |log| + 1 each
        scale = abs(mp.log(positive)) + abs(mp.log(negative)) + 2
        assert close(c, mp.log(positive / negative), scale=scale), (y, w, c)
    elif name in INIT_TERMS:
        term = INIT_TERMS[name][2]
        best = min(_weighted_loss_sum(term, y, w, v) for v in y)
        assert _weighted_loss_sum(term, y, w, c) <= best * (1 + 64 * EPS), (name, y, w, c)
    elif name in INIT_SLOPES:
        slope = INIT_SLOPES[name][2]

        def total_slope(v):
            return mp.fsum(mp.mpf(b) * slope(v - mp.mpf(a)) for a, b in zip(y, w))

        # Brent's tolerance: 4 eps |c| (or the smallest normal number), then rounding; and
        # the float sum of the slopes, whose sign is known only to its rounding (at
        # y = [4e16, 0, -1e235], -1 + tanh(c) + 1 is 0 for every |c| < 1e-16)
        step = 8 * max(abs(mp.mpf(c)) * EPS, TINY)
        rounding = 8 * EPS * mp.fsum(abs(mp.mpf(b) * slope(mp.mpf(c) - mp.mpf(a)))
                                     for a, b in zip(y, w))
        assert total_slope(c - step) <= rounding and total_slope(c + step) >= -rounding, (
            name, y, w, c)


HESSIAN_POLICIES = ("exact", "majoriser", "constant", "floor")
# Each loss's gradient, and the size of the terms it is a difference of (None: one rounding
# of the inputs' difference, exact to an ulp of the result). BCE's (1 - y) sigma(z) - y sigma(-z)
# for a soft label near sigma(z) is exact only to the size of its terms, as in
# test_bce_with_logits_gradient.
OBJECTIVE_GRADIENTS = {
    "mse": (lossfns.mse, {}, lambda y, p: 2 * (p - y), None),
    "mae": (lossfns.mae, {}, lambda y, p: mp.sign(p - y), None),
    "huber": (lossfns.huber, {"delta": 1.0}, lambda y, p: max(-1, min(1, p - y)), None),
    "bce": (lossfns.binary_cross_entropy_with_logits, {}, lambda y, z: sigmoid(z) - y,
            lambda y, z: abs((1 - y) * sigmoid(z)) + abs(y * sigmoid(-z))),
}


@settings(max_examples=60)
@example("mse", "majoriser", [(1e308, -1e308, 1.0), (0.0, 0.0, 1.0)])  # |r| = 2e308
@example("mae", "majoriser", [(1e308, -1e308, 1e308), (0.0, 0.0, 1.0)])
@example("bce", "floor", [(0.0, 0.0, 2.2250738585072014e-308)])  # w floor underflows
@example("bce", "constant", [(0.5, 0.0625, 1.0)])  # sigma(z) - y: 0.5156 - 0.5
@given(st.sampled_from(sorted(OBJECTIVE_GRADIENTS)), st.sampled_from(sorted(HESSIAN_POLICIES)),
       st.lists(st.tuples(anything, anything, st.one_of(st.just(1.0), st.floats(0, MAX))),
                min_size=1, max_size=4))
def test_objective_over_the_whole_range(name, policy, rows):
    # grad and hess of an objective under strict floating point for data anywhere: the
    # gradient as its mpmath truth (inf where that is beyond the range), the Hessian
    # non-negative and finite wherever the weight times its curvature is
    from lossfns import boosting

    loss, hyper, gradient, terms = OBJECTIVE_GRADIENTS[name]
    assume(policy in boosting._POLICIES[loss][1])
    y, p, w = (np.array(column) for column in zip(*rows))
    if name == "bce":
        y = np.minimum(np.abs(y), 1.0)
    objective = boosting.objective(loss, hessian=policy, **hyper)
    with np.errstate(all="raise"):
        g, h = objective(y, p, w)
    for yi, pi, wi, gi, hi in zip(y, p, w, g, h):
        truth = mp.mpf(wi) * gradient(mp.mpf(yi), mp.mpf(pi))
        scale = None if terms is None else mp.mpf(wi) * terms(mp.mpf(yi), mp.mpf(pi))
        assert close(gi, truth, scale=scale), (name, policy, rows, g)
        assert hi >= 0 and (np.isfinite(hi) or wi > 1), (name, policy, rows, h)


def test_init_score_sums_without_a_wider_dtype(monkeypatch):
    # where np.longdouble is float64 the sums of init_score run in float64 on weights scaled
    # to a largest of 1: weights near the largest float still do not overflow
    from lossfns import boosting

    monkeypatch.setattr(boosting, "SUMS_DTYPE", np.dtype(np.float64))
    with np.errstate(all="raise"):
        mean = boosting.init_score(lossfns.mse, [1e308, 1e308, 1.0], sample_weight=[MAX] * 3)
        odds = boosting.init_score(lossfns.binary_cross_entropy_with_logits, [1.0, 0.0, 0.0],
                                   sample_weight=[MAX] * 3)
    assert close(mean, (2 * mp.mpf(1e308) + 1) / 3) and close(odds, -mp.log(2))


def test_ziln_hessian_at_a_scale_below_the_range():
    # l2 = -800: sigma = softplus(l2) = e^-800 and s = sigmoid(l2) both underflow, yet
    # r = s / sigma = 1 - e^-800 / 2 rounds to 1: the Fisher scale curvature 2 r^2 is 2
    # (was 0/0 = nan); 1/sigma^2 = e^1600 is beyond the range (inf), and a weight of 0
    # zeroes it (was 0 inf = nan)
    from lossfns import boosting

    y = np.array([1.0, 1.0, 0.0])
    logits = np.array([[0.0, 0.0, -800.0], [0.0, 0.0, -800.0], [0.0, 0.0, -800.0]])
    with np.errstate(all="raise"):
        _, h = boosting.ziln_grad_hess(y, logits, sample_weight=np.array([1.0, 0.0, 1.0]))
    np.testing.assert_array_equal(h, [[0.25, np.inf, 2.0], [0.0, 0.0, 0.0], [0.25, 0.0, 0.0]])


# the weighted curvature of each majoriser, w J / (2 max(|r|, floor)), at residuals, targets
# and weights where the curvature alone, or its weight alone, leaves the float range (the
# automatic floor is a third of the mean |r|: |r| / 3 for one row, 1 for r = 0)
MAJORISER_EDGES = [
    (lossfns.mae, {}, 0.0, MAX, MAX, lambda y, p, w: w / abs(p - y)),
    (lossfns.mae, {}, MAX, -MAX, MAX, lambda y, p, w: w / abs(p - y)),
    (lossfns.mae, {}, 0.0, 5e-324, 1e-300, lambda y, p, w: w / abs(p - y)),  # floor 5e-324 / 3
    (lossfns.pinball, {"quantile": 0.3}, 0.0, 5e-324, 5e-324, lambda y, p, w: w / (2 * abs(p - y))),
    (lossfns.huber, {"delta": 1.0}, MAX, -MAX, MAX, lambda y, p, w: w / abs(p - y)),
    (lossfns.log_cosh, {}, MAX, -MAX, MAX, lambda y, p, w: w * mp.tanh(p - y) / (p - y)),
    (lossfns.hinge, {}, 1.0, -MAX, MAX, lambda y, p, w: w / (2 * abs(1 - y * p))),
    (lossfns.mape, {}, 1e-307, 1e10, 1.0, lambda y, p, w: w * 100 / (abs(y) * abs(p - y))),
    (lossfns.mape, {}, 5e-324, 0.0, 0.0, lambda y, p, w: mp.mpf(0)),
    (lossfns.mape, {}, 5e-324, 5e-324, 5e-324, lambda y, p, w: w * 100 / abs(y)),  # r = 0: floor 1
]


@pytest.mark.parametrize("loss,hyper,y,p,w,truth", MAJORISER_EDGES)
def test_majoriser_curvature_beyond_the_range_before_its_weight(loss, hyper, y, p, w, truth):
    from lossfns import boosting

    objective = boosting.objective(loss, hessian="majoriser", **hyper)
    with np.errstate(all="raise"):
        _, h = objective(np.array([y]), np.array([p]), np.array([w]))
    assert close(h[0], truth(mp.mpf(y), mp.mpf(p), mp.mpf(w)), strict=True), (loss, h)


def test_majoriser_curvature_beyond_the_range_in_float32():
    from lossfns import boosting

    with np.errstate(all="raise"):
        _, h = boosting.objective(lossfns.mae)(np.float32([0.0]), np.float32([MAX32]),
                                               np.float32([MAX32]))
    assert h.dtype == np.float32 and h[0] == 1


def test_mape_leaf_weights_beyond_the_range():
    # weights w / |y| of 1e608, 1e308 and 1e300: the weighted median of the residuals is
    # the residual of the first row, 1e-300
    from lossfns import boosting

    with np.errstate(all="raise"):
        _, values = boosting.leaf_values(lossfns.mape, [1e-300, 1.0, 1e-300], [0.0, 0.0, 1.0],
                                         [0, 0, 0], sample_weight=[1e308, 1e308, 1.0])
        _, unweighted = boosting.leaf_values(lossfns.mape, [5e-324, 1.0, 2.0], [1.0, 0.0, 0.0],
                                             [0, 0, 0])
    np.testing.assert_array_equal(values, [1e-300])
    np.testing.assert_array_equal(unweighted, [5e-324 - 1.0])
