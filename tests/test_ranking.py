"""lossfns.ranking: values, derivatives, extreme inputs and errors of the pairwise and metric losses."""

import mpmath
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import special

import lossfns

pairwise_hinge, bpr, pairwise_logistic = lossfns.pairwise_hinge, lossfns.bpr, lossfns.pairwise_logistic
contrastive, triplet = lossfns.contrastive, lossfns.triplet
EPS = np.finfo(np.float64).eps
TINY = np.finfo(np.float64).smallest_subnormal

scores = st.floats(-50, 50)
margins = st.floats(0, 5)
REDUCTIONS = ["mean", "sum", "none"]


def softplus_reference(x):
    """log(1 + e^x) at 60 digits, x exact (no cancellation for either sign)."""
    with mpmath.workdps(60):
        return mpmath.log1p(mpmath.exp(mpmath.mpf(float(x))))


def sigmoid_reference(x):
    with mpmath.workdps(60):
        return 1 / (1 + mpmath.exp(-mpmath.mpf(float(x))))


def norm_reference(row):
    with mpmath.workdps(60):
        return mpmath.sqrt(mpmath.fsum(mpmath.mpf(float(v)) ** 2 for v in row))


def central_difference(f, x, h):
    """Central differences of the scalar f with respect to every entry of the array x."""
    out = np.empty_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = h
        out[index] = (f(x + step) - f(x - step)) / (2 * h)
    return out


# -------------------------------------------------------------- pairwise hinge


@pytest.mark.parametrize(
    ("pos", "neg", "margin", "expected"),
    [
        (2.0, 0.5, 1.0, 0.0),  # wins by 1.5 > margin
        (1.5, 0.5, 1.0, 0.0),  # wins by exactly the margin
        (0.5, 0.0, 1.0, 0.5),
        (0.0, 0.5, 1.0, 1.5),
        (0.0, 0.0, 0.0, 0.0),
        (-3.0, 4.0, 2.0, 9.0),
    ],
)
def test_pairwise_hinge_hand_values(pos, neg, margin, expected):
    assert pairwise_hinge(pos, neg, margin=margin) == expected


def test_pairwise_hinge_gradient_is_zero_at_the_kink_and_beyond():
    pos, neg = np.array([1.0, 2.0, 0.5, -1.0]), np.zeros(4)  # kink, met, inside, outside
    g_pos, g_neg = pairwise_hinge.grad(pos, neg, reduction="none")
    np.testing.assert_array_equal(g_pos, [0.0, 0.0, -1.0, -1.0])
    np.testing.assert_array_equal(g_neg, [0.0, 0.0, 1.0, 1.0])
    assert not np.signbit(g_pos[g_pos == 0]).any()  # no negative zeros
    h_pos, h_neg = pairwise_hinge.hess(pos, neg)
    np.testing.assert_array_equal(h_pos, np.zeros(4))
    np.testing.assert_array_equal(h_neg, np.zeros(4))


@given(scores, scores, margins)
def test_pairwise_hinge_is_zero_exactly_when_the_margin_is_met(pos, neg, margin):
    value = pairwise_hinge(pos, neg, margin=margin)
    assert value >= 0
    # the loss is computed as max(0, m - (pos - neg)): zero iff the rounded slack is <= 0
    assert (value == 0) == (margin - (pos - neg) <= 0)
    if value == 0:
        g_pos, g_neg = pairwise_hinge.grad(pos, neg, margin=margin)
        assert g_pos == 0 and g_neg == 0


@given(hnp.arrays(np.float64, st.integers(1, 20), elements=scores), st.data(), margins)
def test_pairwise_hinge_gradient_matches_finite_differences(pos, data, margin):
    neg = data.draw(hnp.arrays(np.float64, pos.shape, elements=scores))
    h = 1e-6
    # away from the kink the loss is linear: central differences are exact up to rounding,
    # eps * |f| / h with |f| <= 105 (the mean of terms <= 105)
    assume(np.all(np.abs(margin - (pos - neg)) > 4 * h))
    g_pos, g_neg = pairwise_hinge.grad(pos, neg, margin=margin)
    fd_pos = central_difference(lambda s: pairwise_hinge(s, neg, margin=margin), pos, h)
    fd_neg = central_difference(lambda s: pairwise_hinge(pos, s, margin=margin), neg, h)
    np.testing.assert_allclose(g_pos, fd_pos, rtol=0, atol=1e-7)
    np.testing.assert_allclose(g_neg, fd_neg, rtol=0, atol=1e-7)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0.0, 0.5, 1.0, 3.0])
def test_pairwise_hinge_matches_torch_margin_ranking_loss(reduction, margin):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    pos, neg = rng.normal(scale=2, size=200), rng.normal(scale=2, size=200)
    pos_t, neg_t = torch.tensor(pos, requires_grad=True), torch.tensor(neg, requires_grad=True)
    expected = torch.nn.functional.margin_ranking_loss(
        pos_t, neg_t, torch.ones(200, dtype=torch.float64), margin=margin, reduction=reduction
    )
    expected.sum().backward()
    value, (g_pos, g_neg) = pairwise_hinge.value_and_grad(pos, neg, margin=margin, reduction=reduction)
    # torch computes max(0, -(pos - neg) + margin): one rounding apart from ours, and the
    # mean sums in a different order (a few eps relative)
    np.testing.assert_allclose(value, expected.detach().numpy(), rtol=4 * EPS, atol=4 * EPS)
    # no pair of random normals sits on the kink, where torch takes the active side
    assert np.all(np.abs(margin - (pos - neg)) > 1e-9)
    np.testing.assert_array_equal(g_pos, pos_t.grad.numpy())
    np.testing.assert_array_equal(g_neg, neg_t.grad.numpy())


# ----------------------------------------------------------- BPR and logistic


@pytest.mark.parametrize(
    "gap",
    [-1e4, -1e3, -745.0, -700.0, -37.0, -23.0, -1.0, -1e-8, 0.0, 3e-300, 1e-8, 1.0, 23.0, 37.0, 700.0,
     745.0, 1e3, 1e4],
)
def test_bpr_matches_60_digit_reference_at_any_gap(gap):
    exact = softplus_reference(-gap)  # -log sigma(g) = softplus(-g)
    value = bpr(gap, 0.0)
    if exact < np.finfo(np.float64).tiny:
        # e^-g underflows: the float nearest the true value is 0 or a subnormal
        assert abs(value - float(exact)) <= 2 * TINY
    else:
        # exp and log1p within one ulp each, and the sum adds one rounding
        assert abs(value - exact) <= 2 * EPS * exact
    # the gradient -sigma(-g) and the curvature sigma(g) sigma(-g), each without cancellation
    g_pos, g_neg = bpr.grad(gap, 0.0)
    exact_grad = sigmoid_reference(-gap)
    assert abs(-g_pos - exact_grad) <= 2 * EPS * exact_grad + TINY
    assert g_neg == -g_pos
    h_pos, h_neg = bpr.hess(gap, 0.0)
    exact_hess = sigmoid_reference(gap) * sigmoid_reference(-gap)
    assert abs(h_pos - exact_hess) <= 4 * EPS * exact_hess + TINY
    assert h_neg == h_pos


@pytest.mark.parametrize(("pos", "neg"), [(0.0, 1e4), (1e4, 0.0), (-5e3, 5e3), (1e300, -1e300)])
def test_bpr_extreme_scores_are_finite_and_exact(pos, neg):
    gap = pos - neg
    value = bpr(pos, neg)
    assert np.isfinite(value) or gap < -1.7e308
    if np.isfinite(gap):
        expected = float(softplus_reference(-gap))
        assert value == pytest.approx(expected, rel=2 * EPS, abs=2 * TINY)
    g_pos, g_neg = bpr.grad(pos, neg)
    assert np.isfinite(g_pos) and np.isfinite(g_neg)


def test_bpr_hand_values():
    assert bpr(0.0, 0.0) == pytest.approx(np.log(2), rel=EPS)
    assert bpr(np.log(3), 0.0) == pytest.approx(np.log(4 / 3), rel=2 * EPS)  # sigma = 3/4
    assert bpr(0.0, np.log(3)) == pytest.approx(np.log(4), rel=2 * EPS)  # sigma = 1/4
    g_pos, g_neg = bpr.grad([np.log(3)], [0.0])
    np.testing.assert_allclose(g_pos, [-0.25], rtol=2 * EPS)
    np.testing.assert_allclose(g_neg, [0.25], rtol=2 * EPS)
    np.testing.assert_allclose(bpr.hess([np.log(3)], [0.0])[0], [3 / 16], rtol=4 * EPS)


@given(hnp.arrays(np.float64, st.integers(1, 30), elements=st.floats(-700, 700)), st.data())
def test_bpr_matches_scipy_log_expit(pos, data):
    neg = data.draw(hnp.arrays(np.float64, pos.shape, elements=st.floats(-700, 700)))
    expected = -special.log_expit(pos - neg)
    np.testing.assert_allclose(bpr(pos, neg, reduction="none"), expected, rtol=4 * EPS, atol=1e-300)
    g_pos, g_neg = bpr.grad(pos, neg, reduction="none")
    np.testing.assert_allclose(-g_pos, special.expit(neg - pos), rtol=4 * EPS, atol=1e-300)


@given(scores, scores)
def test_bpr_derivatives_match_finite_differences(pos, neg):
    h = 1e-5
    # truncation h^2/6 |f'''| <= 2e-12; rounding eps |f| / h <= 2.2e-16 * 101 / 1e-5 = 2.3e-9
    tolerance = 3e-9
    g_pos, g_neg = bpr.grad(pos, neg)
    h_pos, h_neg = bpr.hess(pos, neg)
    assert abs(g_pos - (bpr(pos + h, neg) - bpr(pos - h, neg)) / (2 * h)) <= tolerance
    assert abs(g_neg - (bpr(pos, neg + h) - bpr(pos, neg - h)) / (2 * h)) <= tolerance
    assert abs(h_pos - (bpr.grad(pos + h, neg)[0] - bpr.grad(pos - h, neg)[0]) / (2 * h)) <= tolerance
    assert abs(h_neg - (bpr.grad(pos, neg + h)[1] - bpr.grad(pos, neg - h)[1]) / (2 * h)) <= tolerance


@given(hnp.arrays(np.float64, st.integers(1, 20), elements=scores), st.data())
def test_bpr_is_positive_and_bounds_the_pairwise_zero_one_loss(pos, data):
    neg = data.draw(hnp.arrays(np.float64, pos.shape, elements=scores))
    values = bpr(pos, neg, reduction="none")
    assert np.all(values >= 0)
    # softplus(-g) / log 2 >= 1[g <= 0]: -log2 sigma(g) >= 1 exactly when sigma(g) <= 1/2
    misordered = pos - neg <= 0
    assert np.all(values[misordered] / np.log(2) >= 1 - 2 * EPS)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bpr_matches_torch_logsigmoid_and_autograd(reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    pos, neg = rng.normal(scale=10, size=300), rng.normal(scale=10, size=300)
    pos_t, neg_t = torch.tensor(pos, requires_grad=True), torch.tensor(neg, requires_grad=True)
    terms = -torch.nn.functional.logsigmoid(pos_t - neg_t)
    expected = {"mean": terms.mean(), "sum": terms.sum(), "none": terms}[reduction]
    expected.sum().backward()
    value, (g_pos, g_neg) = bpr.value_and_grad(pos, neg, reduction=reduction)
    # both evaluate softplus(-g) stably: a few ulps apart, and the mean sums in another order
    np.testing.assert_allclose(value, expected.detach().numpy(), rtol=8 * EPS)
    np.testing.assert_allclose(g_pos, pos_t.grad.numpy(), rtol=8 * EPS, atol=1e-300)
    np.testing.assert_allclose(g_neg, neg_t.grad.numpy(), rtol=8 * EPS, atol=1e-300)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_pairwise_logistic_is_bpr_bit_for_bit(reduction):
    rng = np.random.default_rng(12)
    pos, neg = rng.normal(scale=30, size=(40, 3)), rng.normal(scale=30, size=(40, 3))
    weights = rng.uniform(0, 2, size=40)
    for w in (None, weights):
        kwargs = {"sample_weight": w, "reduction": reduction}
        np.testing.assert_array_equal(pairwise_logistic(pos, neg, **kwargs), bpr(pos, neg, **kwargs))
        for method in ("grad", "hess"):
            ours = getattr(pairwise_logistic, method)(pos, neg, **kwargs)
            theirs = getattr(bpr, method)(pos, neg, **kwargs)
            for a, b in zip(ours, theirs, strict=True):
                np.testing.assert_array_equal(a, b)
    assert pairwise_logistic.__name__ == "pairwise_logistic" and pairwise_logistic is not bpr


def test_bpr_weighted_reductions_scale_both_gradients():
    pos, neg = np.array([0.5, -1.0, 2.0]), np.array([0.0, 0.0, 1.0])
    w = np.array([1.0, 3.0, 0.0])
    terms = bpr(pos, neg, reduction="none")
    g_pos, g_neg = bpr.grad(pos, neg, reduction="none")
    assert bpr(pos, neg, sample_weight=w) == pytest.approx((w * terms).sum() / w.sum(), rel=1e-15)
    m_pos, m_neg = bpr.grad(pos, neg, sample_weight=w)
    np.testing.assert_allclose(m_pos, w * g_pos / w.sum(), rtol=1e-15)
    np.testing.assert_allclose(m_neg, w * g_neg / w.sum(), rtol=1e-15)
    s_pos, s_neg = bpr.hess(pos, neg, sample_weight=w, reduction="sum")
    h_pos, _ = bpr.hess(pos, neg, reduction="none")
    np.testing.assert_array_equal(s_pos, w * h_pos)
    np.testing.assert_array_equal(s_neg, w * h_pos)  # scaled once each, not twice


# ------------------------------------------------------------------ contrastive


@pytest.mark.parametrize(
    ("y", "d", "margin", "expected", "grad", "hess"),
    [
        (1, 0.0, 1.0, 0.0, 0.0, 2.0),
        (1, 1.5, 1.0, 2.25, 3.0, 2.0),
        (0, 0.25, 1.0, 0.5625, -1.5, 2.0),
        (0, 1.0, 1.0, 0.0, 0.0, 0.0),  # the kink: the margin is met exactly
        (0, 3.0, 1.0, 0.0, 0.0, 0.0),
        (0, 0.0, 2.0, 4.0, -4.0, 2.0),
        (0, 0.0, 0.0, 0.0, 0.0, 0.0),
    ],
)
def test_contrastive_hand_values(y, d, margin, expected, grad, hess):
    assert contrastive(y, d, margin=margin) == expected
    assert contrastive.grad(y, d, margin=margin) == grad
    assert contrastive.hess(y, d, margin=margin) == hess


@given(
    hnp.arrays(np.int64, st.integers(1, 20), elements=st.integers(0, 1)),
    st.data(),
    margins,
)
def test_contrastive_non_negative_and_zero_for_far_dissimilar_pairs(y, data, margin):
    d = data.draw(hnp.arrays(np.float64, y.shape, elements=st.floats(0, 10)))
    values = contrastive(y, d, margin=margin, reduction="none")
    assert np.all(values >= 0)
    far = (y == 0) & (d >= margin)
    np.testing.assert_array_equal(values[far], 0)
    np.testing.assert_array_equal(contrastive.grad(y, d, margin=margin, reduction="none")[far], 0)
    # similar pairs cost d^2 whatever the margin
    np.testing.assert_array_equal(values[y == 1], d[y == 1] ** 2)


@given(st.integers(0, 1), st.floats(0, 10), margins)
def test_contrastive_derivatives_match_finite_differences(y, d, margin):
    h = 1e-6
    # piecewise quadratic: exact central differences away from the kink d = m and from d = 0;
    # rounding eps |f| / h <= 2.2e-16 * 100 / 1e-6 = 2.2e-8
    assume(abs(d - margin) > 2 * h and d > 2 * h)
    fd_grad = (contrastive(y, d + h, margin=margin) - contrastive(y, d - h, margin=margin)) / (2 * h)
    fd_hess = (contrastive.grad(y, d + h, margin=margin) - contrastive.grad(y, d - h, margin=margin)) / (2 * h)
    assert abs(contrastive.grad(y, d, margin=margin) - fd_grad) <= 3e-8
    assert abs(contrastive.hess(y, d, margin=margin) - fd_hess) <= 3e-8


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_contrastive_matches_torch_autograd(reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(13)
    y = rng.integers(0, 2, size=200)
    d = rng.uniform(0, 3, size=200)
    w = rng.uniform(0, 2, size=200)
    d_t, y_t, w_t = torch.tensor(d, requires_grad=True), torch.tensor(y.astype(float)), torch.tensor(w)
    terms = w_t * (y_t * d_t**2 + (1 - y_t) * torch.clamp(1.5 - d_t, min=0) ** 2)
    expected = {"mean": terms.sum() / w_t.sum(), "sum": terms.sum(), "none": terms}[reduction]
    expected.sum().backward()
    value, grad = contrastive.value_and_grad(y, d, margin=1.5, sample_weight=w, reduction=reduction)
    np.testing.assert_allclose(value, expected.detach().numpy(), rtol=8 * EPS)
    # 2 y d - 2 (1 - y) max(m - d, 0) against torch's chain rule: a few roundings apart
    np.testing.assert_allclose(grad, d_t.grad.numpy(), rtol=8 * EPS, atol=1e-300)


def test_contrastive_embedding_gradient_by_the_chain_rule_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(14)
    x1, x2 = rng.normal(size=(30, 4)), rng.normal(size=(30, 4))
    x2[0] = x1[0]  # a zero distance: the chain rule's (x1 - x2) / d is taken as 0
    y = rng.integers(0, 2, size=30)
    d = np.linalg.norm(x1 - x2, axis=1)
    g = contrastive.grad(y, d, reduction="sum")
    unit = np.divide(x1 - x2, d[:, None], out=np.zeros_like(x1), where=d[:, None] > 0)
    x1_t = torch.tensor(x1, requires_grad=True)
    d_t = torch.linalg.vector_norm(x1_t - torch.tensor(x2), dim=1)
    y_t = torch.tensor(y.astype(float))
    (y_t * d_t**2 + (1 - y_t) * torch.clamp(1.0 - d_t, min=0) ** 2).sum().backward()
    np.testing.assert_allclose(g[:, None] * unit, x1_t.grad.numpy(), rtol=1e-13, atol=1e-15)


# --------------------------------------------------------------------- triplet


def test_triplet_hand_values_and_gradients():
    a = np.zeros((3, 2))
    p = np.array([[3.0, 4.0], [1.0, 0.0], [0.0, 0.0]])
    n = np.array([[0.0, 5.5], [0.0, 4.0], [0.0, 0.5]])
    np.testing.assert_array_equal(triplet(a, p, n, reduction="none"), [0.5, 0.0, 0.5])
    np.testing.assert_array_equal(triplet(a, p, n, squared=True, reduction="none"), [0.0, 0.0, 0.75])
    g_a, g_p, g_n = triplet.grad(a, p, n, reduction="none")
    # row 0: u_p = (a - p)/5 = (-0.6, -0.8), u_n = (a - n)/5.5 = (0, -1)
    np.testing.assert_allclose(g_a[0], [-0.6, 0.2], rtol=2 * EPS)
    np.testing.assert_allclose(g_p[0], [0.6, 0.8], rtol=2 * EPS)
    np.testing.assert_allclose(g_n[0], [0.0, -1.0], rtol=2 * EPS)
    np.testing.assert_array_equal(g_a[1], [0.0, 0.0])  # margin met: no gradient
    # row 2: a = p, a zero distance: its unit vector is 0, never NaN
    np.testing.assert_array_equal(g_p[2], [0.0, 0.0])
    np.testing.assert_array_equal(g_n[2], [0.0, -1.0])
    s_a, s_p, s_n = triplet.grad(a, p, n, squared=True, reduction="none")
    np.testing.assert_array_equal(s_a[2], 2 * (n[2] - p[2]))
    np.testing.assert_array_equal(s_p[2], -2 * (a[2] - p[2]))
    np.testing.assert_array_equal(s_n[2], 2 * (a[2] - n[2]))


def test_triplet_gradient_at_zero_distances_is_zero_not_nan():
    a = np.ones((2, 3))
    grads = triplet.grad(a, a.copy(), a.copy(), margin=1.0)  # all three points coincide
    for g in grads:
        np.testing.assert_array_equal(g, np.zeros((2, 3)))
    assert triplet(a, a, a) == 1.0  # the collapse costs the margin


def test_triplet_kink_has_zero_gradient():
    a, p, n = np.zeros((1, 2)), np.array([[1.0, 0.0]]), np.array([[0.0, 2.0]])
    assert triplet(a, p, n, margin=1.0) == 0
    for g in triplet.grad(a, p, n, margin=1.0):
        np.testing.assert_array_equal(g, 0)


@pytest.mark.parametrize("scale", [1e-200, 1e-160, 1e-10, 1.0, 1e10, 1e160, 1e200])
def test_triplet_norms_neither_overflow_nor_underflow(scale):
    rng = np.random.default_rng(15)
    a, p, n = (scale * rng.normal(size=(5, 4)) for _ in range(3))
    margin = 0.0
    values = triplet(a, p, n, margin=margin, reduction="none")
    exact = [max(norm_reference(x - y) - norm_reference(x - z), 0) for x, y, z in zip(a, p, n)]
    # each norm within 2 ulps; their difference may cancel, so the bound is on the norms
    bound = [4 * EPS * (norm_reference(x - y) + norm_reference(x - z)) for x, y, z in zip(a, p, n)]
    for value, e, b in zip(values, exact, bound):
        assert abs(value - e) <= b
    for g in triplet.grad(a, p, n, margin=margin):
        assert np.all(np.isfinite(g)) and np.abs(g).max() <= 2 + 1e-12  # unit vectors


@pytest.mark.parametrize("scale", [1.0, 1e100, 1e160, 1e200])
def test_squared_triplet_does_not_square_large_distances(scale):
    # |a - p|^2 and |a - n|^2 overflow at this scale, their difference does not: it is
    # formed as a sum of (n - p)(2a - p - n). The inputs are powers of two times small
    # integers, so every difference and product below is exact.
    big, small = 2.0 ** round(np.log2(scale)), 2.0 ** round(np.log2(scale) - 200)
    a = np.array([[big, 0.0], [0.0, big]])
    p = np.array([[0.0, 3 * small], [5 * small, 0.0]])
    n = np.zeros((2, 2))
    values = triplet(a, p, n, margin=0.0, squared=True, reduction="none")
    np.testing.assert_array_equal(values, [9 * small**2, 25 * small**2])
    grad_a, grad_p, grad_n = triplet.grad(a, p, n, margin=0.0, squared=True, reduction="none")
    np.testing.assert_array_equal(grad_a, 2 * (n - p))
    np.testing.assert_array_equal(grad_p, -2 * (a - p))
    np.testing.assert_array_equal(grad_n, 2 * (a - n))


def test_squared_triplet_of_close_distances_far_from_the_anchor_does_not_cancel():
    # |a - p|^2 - |a - n|^2 = (n - p)(2a - p - n) with n - p formed from the inputs: taken
    # as ((a - p) - (a - n))(...), the two rounded differences cancelled (38148, not 20001)
    a, p, n = np.array([[1e10]]), np.array([[1.0]]), np.array([[1.000001]])
    with mpmath.workdps(60):
        exact = (mpmath.mpf(1e10) - 1) ** 2 - (mpmath.mpf(1e10) - mpmath.mpf(1.000001)) ** 2 + 1
    assert triplet(a, p, n, squared=True) == pytest.approx(float(exact), rel=4 * EPS)
    grad_a, _, _ = triplet.grad(a, p, n, squared=True)
    assert grad_a[0, 0] == 2 * (1.000001 - 1.0)  # 2 (n - p), exact


@pytest.mark.parametrize(
    ("a", "p", "n", "squared", "expected"),
    [
        # products of 1e200 overflow with opposite signs: D = 1e400 - 1e400 = 0, loss = m
        ([[0.0, 0.0]], [[-1e200, 0.0]], [[0.0, 1e200]], True, 1.0),
        # embeddings near 1e155: the products 4e310 and -4e310 overflow (was nan)
        ([[1e155, 0.0]], [[-1e155, 0.0]], [[1e155, 2e155]], True, 1.0),
        # a - p and a - n beyond the range, distances equal: loss = m
        ([[1e308]], [[-1e308]], [[-1e308]], True, 1.0),
        ([[1e308]], [[-1e308]], [[-1e308]], False, 1.0),
        # a distance beyond the range beside a finite one: |a - p| - |a - n| + 1 = 1e308 + 1
        ([[1e308, 0.0]], [[-1e308, 0.0]], [[0.0, 0.0]], False, 1e308),
    ],
)
def test_triplet_where_differences_or_distances_overflow(a, p, n, squared, expected):
    with np.errstate(all="raise"):
        value, grads = triplet.value_and_grad(a, p, n, squared=squared, reduction="none")
    assert value.tolist() == [expected]
    assert not any(np.isnan(g).any() for g in grads)


def test_triplet_distances_beyond_the_range_whose_difference_is_finite():
    # |a - p| = 2.3e308 and |a - n| = 2.1e308 overflow, their difference does not (was nan)
    a = np.array([[1.7976931348623157e308, -0.04, 1e308, -1.5]])
    p = np.array([[1e-5, -1e200, 0.66, -1e308]])
    n = np.array([[3.0, 700.0, 1e-160, 5e-324]])
    exact = norm_reference(a[0] - p[0]) - norm_reference(a[0] - n[0]) + 1
    with np.errstate(all="raise"):
        value, grads = triplet.value_and_grad(a, p, n, reduction="none")
    assert value[0] == pytest.approx(float(exact), rel=8 * EPS)
    # unit vectors: |u_p| = |u_n| = 1
    assert np.linalg.norm(grads[1][0]) == pytest.approx(1, rel=4 * EPS)
    assert np.linalg.norm(grads[2][0]) == pytest.approx(1, rel=4 * EPS)


def test_triplet_unit_vector_of_a_subnormal_distance_keeps_its_direction():
    # |a - p| = 1.1e-323 rounds to 1e-323 (two units); dividing a - p by it gave (0.5, 1)
    a, p, n = np.array([[5e-324, 1e-323]]), np.zeros((1, 2)), np.ones((1, 2))
    _, grad_p, _ = triplet.grad(a, p, n, margin=2.0, reduction="none")
    np.testing.assert_allclose(-grad_p[0], [1 / np.sqrt(5), 2 / np.sqrt(5)], rtol=4 * EPS)


triplet_rows = st.integers(1, 4).flatmap(
    lambda dim: st.tuples(*[hnp.arrays(np.float64, (1, dim), elements=st.floats(-3, 3)) for _ in range(3)])
)


@given(triplet_rows, st.floats(0, 3), st.booleans())
def test_triplet_non_negative_and_zero_when_the_margin_is_met(points, margin, squared):
    a, p, n = points
    value = triplet(a, p, n, margin=margin, squared=squared)
    assert value >= 0
    d_pos, d_neg = np.linalg.norm(a - p), np.linalg.norm(a - n)
    if squared:
        d_pos, d_neg = d_pos**2, d_neg**2
    met = d_neg - d_pos - margin
    if met > 1e-9 * (1 + d_neg):  # clear of the rounding of the two distances
        assert value == 0
        for g in triplet.grad(a, p, n, margin=margin, squared=squared):
            np.testing.assert_array_equal(g, 0)


@settings(max_examples=200)
@given(triplet_rows, st.floats(0, 3), st.booleans())
def test_triplet_gradients_match_finite_differences(points, margin, squared):
    a, p, n = points
    h = 1e-5
    d_pos, d_neg = np.linalg.norm(a - p), np.linalg.norm(a - n)
    slack = (d_pos**2 - d_neg**2 if squared else d_pos - d_neg) + margin
    # steps must not cross the kink (a step of h moves the slack by at most 2h * 12 when
    # squared, 2h otherwise) nor reach a zero distance, where the norm is not differentiable
    assume(abs(slack) > 30 * h and min(d_pos, d_neg) > 0.1)
    # plain: truncation h^2/6 |f'''| with |f'''| <= 3/d^2 = 300 gives 5e-9; squared: f is
    # quadratic, no truncation. Rounding eps |f| / h <= 2.2e-16 * 80 / 1e-5 = 1.8e-9
    tolerance = 1e-8
    grads = triplet.grad(a, p, n, margin=margin, squared=squared)
    points = [a, p, n]
    for k, g in enumerate(grads):
        def f(x, k=k):
            args = points[:k] + [x] + points[k + 1 :]
            return triplet(*args, margin=margin, squared=squared)

        np.testing.assert_allclose(g, central_difference(f, points[k], h), rtol=0, atol=tolerance)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0.25, 1.0, 2.5])  # torch requires margin > 0
def test_triplet_matches_torch_triplet_margin_loss(reduction, margin):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(16)
    a, p, n = (rng.normal(size=(100, 5)) for _ in range(3))
    p[0] = a[0]  # a zero distance, where torch's norm has gradient 0 as well
    tensors = [torch.tensor(x, requires_grad=True) for x in (a, p, n)]
    expected = torch.nn.functional.triplet_margin_loss(*tensors, margin=margin, eps=0, reduction=reduction)
    expected.sum().backward()
    value, grads = triplet.value_and_grad(a, p, n, margin=margin, reduction=reduction)
    # both compute sqrt(sum of squares) and one subtraction: a few ulps of the distances
    np.testing.assert_allclose(value, expected.detach().numpy(), rtol=16 * EPS, atol=16 * EPS)
    for g, t in zip(grads, tensors, strict=True):
        assert g.shape == (100, 5)
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_squared_triplet_matches_torch_autograd(reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(17)
    a, p, n = (rng.normal(size=(80, 3)) for _ in range(3))
    w = rng.uniform(0, 2, size=80)
    tensors = [torch.tensor(x, requires_grad=True) for x in (a, p, n)]
    ta, tp, tn = tensors
    slack = ((ta - tp) ** 2).sum(1) - ((ta - tn) ** 2).sum(1) + 0.7
    terms = torch.tensor(w) * torch.clamp(slack, min=0)
    expected = {"mean": terms.sum() / w.sum(), "sum": terms.sum(), "none": terms}[reduction]
    expected.sum().backward()
    value, grads = triplet.value_and_grad(a, p, n, margin=0.7, squared=True, sample_weight=w, reduction=reduction)
    np.testing.assert_allclose(value, expected.detach().numpy(), rtol=16 * EPS, atol=16 * EPS)
    for g, t in zip(grads, tensors, strict=True):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-14, atol=1e-15)


def test_triplet_has_no_hess_and_returns_three_gradients():
    assert not hasattr(triplet, "hess")
    assert isinstance(triplet, lossfns.Loss) and not isinstance(triplet, lossfns.ElementwiseLoss)
    for f in (pairwise_hinge, bpr, pairwise_logistic, contrastive):
        assert isinstance(f, lossfns.ElementwiseLoss)
    grads = triplet.grad(np.zeros((2, 3)), np.ones((2, 3)), np.ones((2, 3)))
    assert isinstance(grads, tuple) and len(grads) == 3


# ------------------------------------------------------------------ dtypes


TWO_SCORE_LOSSES = [pairwise_hinge, bpr, pairwise_logistic]


@pytest.mark.parametrize("f", TWO_SCORE_LOSSES)
@pytest.mark.parametrize(
    ("pos", "neg", "expected"),
    [
        (np.float32([0.5, -1.0]), np.float32([0.0, 2.0]), np.float32),
        (np.float32([0.5, -1.0]), np.array([0, 2]), np.float32),
        (np.float32([0.5, -1.0]), np.float64([0.0, 2.0]), np.float64),
        (np.array([1, -1]), np.array([0, 2]), np.float64),
        (np.array([True, False]), np.array([False, True]), np.float64),
    ],
)
def test_score_losses_follow_the_dtype_rules(f, pos, neg, expected):
    for reduction in ("mean", "sum"):
        value = f(pos, neg, reduction=reduction)
        assert isinstance(value, np.generic) and value.dtype == expected
    value, grads = f.value_and_grad(pos, neg, reduction="none")
    assert value.dtype == expected
    assert all(g.dtype == expected for g in grads + f.hess(pos, neg))


@pytest.mark.parametrize(
    ("y", "d", "expected"),
    [
        (np.array([1, 0]), np.float32([0.5, 0.2]), np.float32),
        (np.array([True, False]), np.float32([0.5, 0.2]), np.float32),
        (np.float64([1, 0]), np.float32([0.5, 0.2]), np.float64),
        (np.array([1, 0]), np.array([1, 2]), np.float64),
    ],
)
def test_contrastive_follows_the_dtype_rules(y, d, expected):
    value, grad = contrastive.value_and_grad(y, d)
    assert isinstance(value, np.generic) and value.dtype == grad.dtype == expected
    assert contrastive.hess(y, d).dtype == expected


@pytest.mark.parametrize("squared", [False, True])
def test_triplet_follows_the_dtype_rules(squared):
    a32, p32, n32 = np.float32([[0, 0]]), np.float32([[1, 0]]), np.float32([[0, 1.5]])
    value, grads = triplet.value_and_grad(a32, p32, n32, squared=squared)
    assert value.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    value, grads = triplet.value_and_grad(a32, p32, n32.astype(float), squared=squared)
    assert value.dtype == np.float64 and all(g.dtype == np.float64 for g in grads)
    value = triplet(np.array([[0, 0]]), np.array([[1, 0]]), np.array([[0, 1]]), squared=squared)
    assert value.dtype == np.float64


@settings(max_examples=50)
@given(st.integers(1, 30), st.data())
def test_float32_agrees_with_float64_to_float32_precision(n, data):
    floats = st.floats(-20, 20, width=32)
    pos = data.draw(hnp.arrays(np.float32, n, elements=floats))
    neg = data.draw(hnp.arrays(np.float32, n, elements=floats))
    single, double = bpr(pos, neg, reduction="none"), bpr(pos.astype(float), neg.astype(float), reduction="none")
    assert single.dtype == np.float32
    # the gap rounds once in float32 (eps32 |g| absolute, |d softplus/dg| <= 1) and the
    # softplus adds a few eps32 relative
    np.testing.assert_allclose(
        single, double, rtol=4 * np.finfo(np.float32).eps, atol=np.finfo(np.float32).eps * 40
    )


# ----------------------------------------------------------------- bad input


def _all_methods(f):
    return [f, f.grad, f.value_and_grad] + ([f.hess] if hasattr(f, "hess") else [])


@pytest.mark.parametrize("f", TWO_SCORE_LOSSES)
@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"neg_scores": [0.0, 1.0, 2.0]}, ValueError, r"shapes differ: pos_scores \(2,\), neg_scores \(3,\)"),
        ({"neg_scores": [[0.0, 1.0]]}, ValueError, "shapes differ"),
        ({"pos_scores": [np.nan, 1.0]}, ValueError, "pos_scores contains NaN or infinite values"),
        ({"neg_scores": [np.inf, 1.0]}, ValueError, "neg_scores contains NaN or infinite values"),
        ({"pos_scores": [], "neg_scores": []}, ValueError, "pos_scores is empty"),
        ({"pos_scores": ["a", "b"]}, TypeError, "pos_scores must hold real numbers"),
        ({"neg_scores": [1j, 0]}, TypeError, "neg_scores must hold real numbers"),
        ({"reduction": "avg"}, ValueError, "reduction must be one of"),
        ({"sample_weight": [1.0, -1.0]}, ValueError, "sample_weight must be non-negative"),
        ({"sample_weight": [1.0, 1.0, 1.0]}, ValueError, "sample_weight has shape"),
        ({"sample_weight": [0.0, 0.0]}, ValueError, "sample_weight sums to zero"),
    ],
)
def test_bad_scores(f, kwargs, error, message):
    arguments = {"pos_scores": [0.5, 1.0], "neg_scores": [0.0, 2.0], **kwargs}
    for method in _all_methods(f):
        with pytest.raises(error, match=message):
            method(**arguments)


@pytest.mark.parametrize(
    ("margin", "error", "message"),
    [
        (-0.5, ValueError, "margin must be >= 0, got -0.5"),
        (np.nan, ValueError, "margin must be finite"),
        (np.inf, ValueError, "margin must be finite"),
        ("1", TypeError, "margin must be a real number"),
        (None, TypeError, "margin must be a real number"),
        ([1.0], TypeError, "margin must be a real number"),
    ],
)
def test_bad_margin(margin, error, message):
    calls = [
        (pairwise_hinge, ([0.5], [0.0])),
        (contrastive, ([1], [0.5])),
        (triplet, ([[0.0]], [[1.0]], [[2.0]])),
    ]
    for f, args in calls:
        for method in _all_methods(f):
            with pytest.raises(error, match=message):
                method(*args, margin=margin)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"y_similar": [0.5, 1.0]}, ValueError, r"y_similar must hold only the values \(0, 1\); found 0.5"),
        ({"y_similar": [-1, 1]}, ValueError, "y_similar must hold only the values"),
        ({"y_similar": [2, 0]}, ValueError, "y_similar must hold only the values"),
        ({"y_similar": [np.nan, 0]}, ValueError, "y_similar contains NaN"),
        ({"distance": [-1e-300, 1.0]}, ValueError, "distance must be non-negative; found -1e-300"),
        ({"distance": [0.5, np.inf]}, ValueError, "distance contains NaN or infinite values"),
        ({"distance": [0.5, 1.0, 2.0]}, ValueError, r"shapes differ: y_similar \(2,\), distance \(3,\)"),
        ({"distance": ["a", "b"]}, TypeError, "distance must hold real numbers"),
        ({"y_similar": [], "distance": []}, ValueError, "y_similar is empty"),
        ({"reduction": "max"}, ValueError, "reduction must be one of"),
        ({"sample_weight": [1.0, np.nan]}, ValueError, "sample_weight contains NaN"),
    ],
)
def test_bad_contrastive_input(kwargs, error, message):
    arguments = {"y_similar": [1, 0], "distance": [0.5, 0.25], **kwargs}
    for method in _all_methods(contrastive):
        with pytest.raises(error, match=message):
            method(**arguments)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"anchor": [0.0, 0.0]}, ValueError, r"anchor must be 2-D \(one embedding per row\), got shape \(2,\)"),
        ({"anchor": np.zeros((1, 1, 2))}, ValueError, "anchor must be 2-D"),
        ({"positive": [[0.0, 0.0, 0.0]]}, ValueError, r"shapes differ: anchor \(1, 2\), positive \(1, 3\), negative \(1, 2\)"),
        ({"negative": [[0.0, 0.0], [1.0, 1.0]]}, ValueError, "shapes differ"),
        ({"positive": [0.0, 0.0]}, ValueError, "shapes differ"),
        ({"negative": [[np.nan, 0.0]]}, ValueError, "negative contains NaN or infinite values"),
        ({"anchor": [[]]}, ValueError, "anchor is empty"),
        ({"positive": [["a", "b"]]}, TypeError, "positive must hold real numbers"),
        ({"squared": "yes"}, TypeError, "squared must be True or False"),
        ({"squared": 1}, TypeError, "squared must be True or False"),
        ({"sample_weight": [[1.0, 1.0]]}, ValueError, "sample_weight has shape"),
        ({"sample_weight": [-1.0]}, ValueError, "sample_weight must be non-negative"),
        ({"reduction": "mean "}, ValueError, "reduction must be one of"),
    ],
)
def test_bad_triplet_input(kwargs, error, message):
    arguments = {"anchor": [[0.0, 0.0]], "positive": [[1.0, 0.0]], "negative": [[0.0, 3.0]], **kwargs}
    for method in _all_methods(triplet):
        with pytest.raises(error, match=message):
            method(**arguments)


def test_inputs_are_not_modified():
    rng = np.random.default_rng(18)
    a, p, n, w = rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), rng.uniform(size=4)
    copies = [x.copy() for x in (a, p, n, w)]
    triplet.value_and_grad(a, p, n, sample_weight=w)
    bpr.value_and_grad(a, p, sample_weight=w)
    bpr.hess(a, p, sample_weight=w)
    pairwise_hinge.value_and_grad(a, p, sample_weight=w)
    for original, copy in zip((a, p, n, w), copies):
        np.testing.assert_array_equal(original, copy)


def test_loss_objects_keep_names_signatures_and_pickle():
    import inspect
    import pickle

    for f, params in [
        (pairwise_hinge, ["pos_scores", "neg_scores", "margin", "sample_weight", "reduction"]),
        (bpr, ["pos_scores", "neg_scores", "sample_weight", "reduction"]),
        (pairwise_logistic, ["pos_scores", "neg_scores", "sample_weight", "reduction"]),
        (contrastive, ["y_similar", "distance", "margin", "sample_weight", "reduction"]),
        (triplet, ["anchor", "positive", "negative", "margin", "squared", "sample_weight", "reduction"]),
    ]:
        assert list(inspect.signature(f).parameters) == params
        assert f.__module__ == "lossfns.ranking"
        assert pickle.loads(pickle.dumps(f)) is f


# ------------------------------------------------ edges of the float range (issue 13)

MAX = np.finfo(np.float64).max


@pytest.mark.parametrize("f", [bpr, pairwise_logistic])
def test_pairwise_logistic_where_the_gap_overflows_in_favour(f):
    # s+ - s- = 2e308 overflows; the loss softplus(-g) is 0 and its gradient (0, 0)
    value, (g_pos, g_neg) = f.value_and_grad([1e308], [-1e308], reduction="none")
    assert value[0] == 0 and g_pos[0] == 0 and g_neg[0] == 0


@pytest.mark.parametrize("f", [bpr, pairwise_logistic])
def test_pairwise_logistic_where_the_gap_overflows_against(f):
    # s+ - s- = -2e308: the loss (2e308) is beyond the range, the gradient is (-1, 1)
    value, (g_pos, g_neg) = f.value_and_grad([-1e308], [1e308], reduction="none")
    assert value[0] == np.inf and g_pos[0] == -1 and g_neg[0] == 1
    h_pos, h_neg = f.hess([-1e308], [1e308])
    assert h_pos[0] == 0 and h_neg[0] == 0


def test_bpr_hessian_pair_is_two_arrays():
    h_pos, h_neg = bpr.hess([0.0, 1.0], [0.5, 0.0], reduction="sum")
    np.testing.assert_array_equal(h_pos, h_neg)
    assert not np.shares_memory(h_pos, h_neg)  # changing one leaves the other alone


def test_pairwise_hinge_where_the_gap_overflows():
    value, (g_pos, g_neg) = pairwise_hinge.value_and_grad(
        [1e308, -1e308], [-1e308, 1e308], reduction="none"
    )
    np.testing.assert_array_equal(value, [0, np.inf])  # m + 2e308 is beyond the range
    np.testing.assert_array_equal(g_pos, [0, -1])
    np.testing.assert_array_equal(g_neg, [0, 1])


def test_contrastive_dissimilar_pair_far_beyond_the_margin_is_zero():
    # y d^2 with y = 0 where d^2 overflows must be 0, not 0 * inf: max(m - d, 0)^2 = 0
    value, grad = contrastive.value_and_grad([0, 0, 1], [1e200, MAX, 1e100], reduction="none")
    np.testing.assert_array_equal(value, [0, 0, 1e200])
    np.testing.assert_array_equal(grad, [0, 0, 2e100])
    hess = contrastive.hess([0, 1], [1e200, 1e200], reduction="none")
    np.testing.assert_array_equal(hess, [0, 2])


@pytest.mark.parametrize(
    "call",
    [
        lambda: pairwise_hinge.value_and_grad([MAX, -MAX, 0.0], [-MAX, MAX, 1e-320]),
        lambda: bpr.grad_hess([-MAX, 800.0, 1e-320, -800.0], [MAX, -800.0, 0.0, 800.0]),
        lambda: pairwise_logistic.value_and_grad([-MAX, 1e-320], [MAX, 0.0]),
        lambda: contrastive.grad_hess([0, 1, 1, 0], [MAX, 1e200, 1e-320, 0.5]),
        lambda: contrastive.value_and_grad([0, 1, 1, 0], [MAX, 1e200, 1e-320, 0.5]),
        lambda: triplet.value_and_grad([[1e300, 0.0], [1e-320, 0.0]], [[-1e300, 0.0], [0.0, 0.0]],
                                       [[0.0, 1e300], [0.0, 1e-320]]),
        lambda: triplet.value_and_grad([[1e200, 0.0]], [[0.0, 0.0]], [[0.0, 1e-200]],
                                       squared=True),
    ],
)
def test_extreme_valid_inputs_raise_no_floating_point_error(call):
    with np.errstate(all="raise"):
        call()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint64, np.int16, bool])
def test_integer_and_unsigned_scores_behave_like_float64(dtype):
    pos, neg = np.array([3, 0, 1, 2], dtype), np.array([1, 2, 1, 0], dtype)
    for f in TWO_SCORE_LOSSES:
        got = f.value_and_grad(pos, neg, reduction="none")
        want = f.value_and_grad(pos.astype(float), neg.astype(float), reduction="none")
        np.testing.assert_array_equal(got[0], want[0])
        for g, w in zip(got[1], want[1]):
            np.testing.assert_array_equal(g, w)
    y, d = np.array([1, 0, 0], dtype), np.array([2, 0, 1], dtype)
    np.testing.assert_array_equal(contrastive(y, d, reduction="none"),
                                  contrastive(y.astype(float), d.astype(float), reduction="none"))


@pytest.mark.parametrize("squared", [False, True])
def test_triplet_where_a_difference_overflows(squared):
    # a - p = 2e308 is beyond the float range; the loss compares two such distances,
    # which may differ by a finite amount: computed on quarters, no nan
    big = 1e308
    with np.errstate(all="raise"):
        value = triplet([[big, 0.0]], [[-big, 0.0]], [[-big, 0.0]], margin=2.0,
                        squared=squared, reduction="none")
        beyond = triplet([[big, 0.0]], [[-big, 0.0]], [[big, 0.0]], squared=squared,
                         reduction="none")
        grads = triplet.grad([[big, 0.0]], [[-big, 0.0]], [[-big, 1.0]], margin=2.0,
                             squared=squared, reduction="none")
    assert value[0] == 2.0  # equal distances: the margin
    assert beyond[0] == np.inf  # 2e308 - 0 + 1 is beyond the range
    assert all(np.isfinite(g).all() for g in grads) or squared
