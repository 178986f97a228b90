"""lossfns.regression: values, derivatives, properties, bucketing, watch time, and errors."""

import mpmath
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import special

import lossfns

EPS = np.finfo(np.float64).eps
POINTWISE = [lossfns.mse, lossfns.mae, lossfns.huber, lossfns.mape, lossfns.smape,
             lossfns.pinball, lossfns.log_cosh]

reals = st.floats(-1e3, 1e3)
nonzero = st.one_of(st.floats(1e-3, 1e3), st.floats(-1e3, -1e-3))


def pairs(elements=reals, targets=None):
    """(y_true, y_pred) arrays of one shape."""
    return st.integers(1, 20).flatmap(
        lambda n: st.tuples(
            hnp.arrays(np.float64, n, elements=elements if targets is None else targets),
            hnp.arrays(np.float64, n, elements=elements),
        )
    )


def torch_or_skip():
    return pytest.importorskip("torch")


def sklearn_metrics():
    return pytest.importorskip("sklearn.metrics")


# ------------------------------------------------------------- hand-derived values


@pytest.mark.parametrize(
    ("f", "kwargs", "y", "p", "expected"),
    [
        (lossfns.mse, {}, 1.0, 4.0, 9.0),
        (lossfns.mae, {}, 1.0, -2.5, 3.5),
        (lossfns.huber, {"delta": 1.0}, 0.0, 0.5, 0.125),
        (lossfns.huber, {"delta": 1.0}, 0.0, -3.0, 2.5),  # 1 * (3 - 0.5)
        (lossfns.huber, {"delta": 2.0}, 1.0, 3.0, 2.0),  # at the splice: 4/2 = 2 (2 - 1)
        (lossfns.mape, {}, -4.0, -5.0, 25.0),
        (lossfns.mape, {}, 100.0, 0.0, 100.0),
        (lossfns.smape, {}, 100.0, 50.0, 200 * 50 / 150),
        (lossfns.smape, {}, 100.0, 150.0, 40.0),
        (lossfns.smape, {}, 0.0, 0.0, 0.0),  # 0/0 = 0
        (lossfns.smape, {}, 0.0, 3.0, 200.0),
        (lossfns.smape, {}, 2.0, -1e-300, 200.0),
        (lossfns.pinball, {"quantile": 0.9}, 10.0, 8.0, 1.8),
        (lossfns.pinball, {"quantile": 0.9}, 10.0, 12.0, 0.2),
        (lossfns.pinball, {"quantile": 0.25}, 3.0, 3.0, 0.0),
        (lossfns.log_cosh, {}, 0.0, 0.0, 0.0),
        (lossfns.log_cosh, {}, 5.0, 1e4 + 5.0, 1e4 - np.log(2)),
    ],
)
def test_hand_derived_values(f, kwargs, y, p, expected):
    assert f(y, p, **kwargs) == pytest.approx(expected, rel=4 * EPS, abs=0)


@pytest.mark.parametrize("r", [1e-300, 1e-160, 1e-8, 1e-3, 0.3, 0.99, 1.0, 1.01, 2.0, 20.0,
                               40.0, 700.0, 711.0, 1e5, 1e300])
def test_log_cosh_matches_60_digit_reference(r):
    with mpmath.workdps(60):
        # log cosh r = log1p(2 sinh(r/2)^2): no cancellation for tiny r
        exact = mpmath.log1p(2 * mpmath.sinh(mpmath.mpf(r) / 2) ** 2)
    for sign in (1, -1):
        value = lossfns.log_cosh(0.0, sign * r)
        if exact < np.finfo(np.float64).tiny:  # r^2 / 2 underflows
            assert value == 0 or value == float(exact)
        else:
            # sinh, log1p (or exp, log1p) each within an ulp, a few roundings in between
            assert abs(value - exact) <= 4 * EPS * exact


def test_log_cosh_derivatives_at_huge_residuals_are_finite():
    assert lossfns.log_cosh.grad(0.0, 1e6) == 1.0
    assert lossfns.log_cosh.hess(0.0, 1e6) == 0.0
    assert lossfns.log_cosh.hess(0.0, 0.0) == 1.0


# ---------------------------------------------------------------- against torch


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    ("ours", "theirs", "kwargs"),
    [
        ("mse", "mse_loss", {}),
        ("mae", "l1_loss", {}),
        ("huber", "huber_loss", {"delta": 1.0}),
        ("huber", "huber_loss", {"delta": 0.3}),
        ("huber", "huber_loss", {"delta": 7.5}),
    ],
)
def test_matches_torch_value_and_autograd(reduction, ours, theirs, kwargs):
    torch = torch_or_skip()
    rng = np.random.default_rng(5)
    y = rng.normal(scale=4, size=(40, 3))
    p = rng.normal(scale=4, size=(40, 3))
    p_torch = torch.tensor(p, requires_grad=True)
    expected = getattr(torch.nn.functional, theirs)(p_torch, torch.tensor(y), reduction=reduction, **kwargs)
    expected.sum().backward()
    f = getattr(lossfns, ours)
    value, grad = f.value_and_grad(y, p, reduction=reduction, **kwargs)
    # the same few roundings per term in a different order; sums of positive terms
    np.testing.assert_allclose(value, expected.detach().numpy(), rtol=8 * EPS)
    # torch's mse gradient is 2 (p - y) / n: identical roundings up to the order of * and /
    np.testing.assert_allclose(grad, p_torch.grad.numpy(), rtol=4 * EPS, atol=0)


@pytest.mark.parametrize("beta", [0.1, 1.0, 3.0])
def test_smooth_l1_is_huber_over_delta(beta):
    torch = torch_or_skip()
    rng = np.random.default_rng(6)
    y, p = rng.normal(scale=3, size=100), rng.normal(scale=3, size=100)
    smooth = torch.nn.functional.smooth_l1_loss(torch.tensor(p), torch.tensor(y), beta=beta, reduction="none")
    ours = lossfns.huber(y, p, delta=beta, reduction="none") / beta
    np.testing.assert_allclose(ours, smooth.numpy(), rtol=8 * EPS, atol=0)


# ------------------------------------------------------------ against scikit-learn


def test_matches_sklearn_mean_squared_error_with_weights():
    metrics = sklearn_metrics()
    rng = np.random.default_rng(7)
    y, p, w = rng.normal(size=200), rng.normal(size=200), rng.uniform(0, 3, 200)
    assert lossfns.mse(y, p) == pytest.approx(metrics.mean_squared_error(y, p), rel=8 * EPS)
    assert lossfns.mse(y, p, sample_weight=w) == pytest.approx(
        metrics.mean_squared_error(y, p, sample_weight=w), rel=8 * EPS)
    assert lossfns.mae(y, p, sample_weight=w) == pytest.approx(
        metrics.mean_absolute_error(y, p, sample_weight=w), rel=8 * EPS)


def test_matches_sklearn_mape_in_percent():
    metrics = sklearn_metrics()
    rng = np.random.default_rng(8)
    y = rng.lognormal(size=300) * rng.choice([-1, 1], 300)
    p = y + rng.normal(size=300)
    w = rng.uniform(0, 2, 300)
    # scikit-learn returns a fraction; it divides by max(|y|, eps), equal to |y| here
    assert lossfns.mape(y, p) == pytest.approx(100 * metrics.mean_absolute_percentage_error(y, p), rel=16 * EPS)
    assert lossfns.mape(y, p, sample_weight=w) == pytest.approx(
        100 * metrics.mean_absolute_percentage_error(y, p, sample_weight=w), rel=16 * EPS)


@pytest.mark.parametrize("quantile", [0.05, 0.25, 0.5, 0.9, 0.999])
def test_matches_sklearn_mean_pinball_loss(quantile):
    metrics = sklearn_metrics()
    rng = np.random.default_rng(9)
    y, p, w = rng.normal(size=300), rng.normal(size=300), rng.uniform(0, 2, 300)
    expected = metrics.mean_pinball_loss(y, p, alpha=quantile, sample_weight=w)
    assert lossfns.pinball(y, p, quantile=quantile, sample_weight=w) == pytest.approx(expected, rel=16 * EPS)


@given(pairs())
def test_pinball_at_one_half_is_half_the_absolute_error(yp):
    y, p = yp
    np.testing.assert_array_equal(lossfns.pinball(y, p, reduction="none"),
                                  0.5 * lossfns.mae(y, p, reduction="none"))


# ----------------------------------------------------------------- derivatives


def central_difference(f, y, p, h, **kwargs):
    return (f(y, p + h, reduction="none", **kwargs) - f(y, p - h, reduction="none", **kwargs)) / (2 * h)


SMOOTH_CASES = [
    # (loss, kwargs, targets, predictions, step h)
    (lossfns.mse, {}, reals, reals, 1e-4),
    (lossfns.huber, {"delta": 1.5}, reals, reals, 1e-4),
    (lossfns.mae, {}, reals, reals, 1e-4),
    (lossfns.pinball, {"quantile": 0.3}, reals, reals, 1e-4),
    (lossfns.mape, {}, nonzero, reals, 1e-4),
    (lossfns.log_cosh, {}, reals, reals, 1e-5),
    (lossfns.smape, {}, nonzero, nonzero, 1e-6),
]


def derivative_bounds(f, y, p):
    """Bounds on |f'''| and |f''''| over the stencil [p - h, p + h] (h << 1e-3)."""
    if f is lossfns.log_cosh:
        # f''' = -2 sech^2 tanh, f'''' = 4 sech^2 tanh^2 - 2 sech^4
        return 1.0, 2.0
    if f is lossfns.smape:
        # 2400 |y| / D^4 and 9600 |y| / D^5 with D = |y| + |p| >= 2e-3; D moves by h
        d = np.abs(y) + np.abs(p) - 1e-5
        return 2400 * np.abs(y) / d**4, 9600 * np.abs(y) / d**5
    # piecewise polynomials of degree <= 2; the stencil crosses no kink
    return 0.0, 0.0


@pytest.mark.parametrize(("f", "kwargs", "targets", "predictions", "h"), SMOOTH_CASES,
                         ids=lambda c: getattr(c, "__name__", None))
@settings(max_examples=60)
@given(data=st.data())
def test_grad_and_hess_match_finite_differences(f, kwargs, targets, predictions, h, data):
    y = data.draw(hnp.arrays(np.float64, 8, elements=targets))
    p = data.draw(hnp.arrays(np.float64, 8, elements=predictions))
    # keep the stencil 1e-3 away from the kinks: r = 0, |r| = delta, p = 0 (SMAPE)
    kinks = [np.abs(p - y)]
    if f is lossfns.huber:
        kinks.append(np.abs(np.abs(p - y) - kwargs["delta"]))
    if f is lossfns.smape:
        kinks.append(np.abs(p))
    ok = np.min(kinks, axis=0) > 1e-3
    y, p = y[ok], p[ok]
    if y.size == 0:
        return
    value = f(y, p, reduction="none", **kwargs)
    grad = f.grad(y, p, reduction="none", **kwargs)
    hess = f.hess(y, p, reduction="none", **kwargs)
    m3, m4 = derivative_bounds(f, y, p)
    # central differences: truncation h^2/6 |f'''|; rounding of the two values
    # 4 eps |f| / h; rounding p +- h changes the step by up to 2 eps |p| (relative
    # 2 eps |p| / h of the derivative)
    step = 2 * EPS * (np.abs(p) + h) / h
    tol_grad = (h**2 / 6 * m3 + 4 * EPS * (np.abs(value) + np.abs(grad) * h) / h
                + step * np.abs(grad))
    tol_hess = (h**2 / 6 * m4 + 4 * EPS * (np.abs(grad) + np.abs(hess) * h) / h
                + step * np.abs(hess))
    fd_grad = central_difference(f, y, p, h, **kwargs)
    fd_hess = central_difference(f.grad, y, p, h, **kwargs)
    assert np.all(np.abs(grad - fd_grad) <= tol_grad)
    assert np.all(np.abs(hess - fd_hess) <= tol_hess)


@pytest.mark.parametrize(
    ("f", "kwargs", "y", "p"),
    [
        (lossfns.mae, {}, 2.0, 2.0),
        (lossfns.pinball, {"quantile": 0.1}, 2.0, 2.0),
        (lossfns.mape, {}, 2.0, 2.0),
        (lossfns.smape, {}, 2.0, 2.0),
        (lossfns.smape, {}, 2.0, 0.0),
        (lossfns.smape, {}, 0.0, 0.0),
        (lossfns.smape, {}, 0.0, 5.0),
        (lossfns.smape, {}, 2.0, -5.0),
    ],
)
def test_derivative_is_zero_at_kinks_and_flats(f, kwargs, y, p):
    assert f.grad(y, p, **kwargs) == 0
    assert f.hess(y, p, **kwargs) == 0


def test_huber_curvature_is_one_inside_and_zero_from_delta_on():
    r = np.array([-3.0, -2.0, -1.999, 0.0, 1.999, 2.0, 3.0])
    np.testing.assert_array_equal(lossfns.huber.hess(0 * r, r, delta=2.0, reduction="none"),
                                  [0, 0, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(lossfns.huber.grad(0 * r, r, delta=2.0, reduction="none"),
                                  np.clip(r, -2, 2))


@given(st.floats(0.01, 100), st.floats(-100, 100))
def test_huber_is_continuous_with_its_gradient_at_the_splice(delta, y):
    # value and slope from both sides of r = delta agree to rounding
    for side in (1, -1):
        at = y + side * delta
        inside = y + side * delta * (1 - 1e-12)
        assert lossfns.huber(y, at, delta=delta) == pytest.approx(delta**2 / 2, rel=1e-9)
        assert lossfns.huber(y, inside, delta=delta) == pytest.approx(delta**2 / 2, rel=1e-9)
        assert lossfns.huber.grad(y, at, delta=delta) == pytest.approx(side * delta, rel=1e-9)


@pytest.mark.parametrize("f", POINTWISE, ids=lambda f: f.__name__)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_reductions_and_weights_scale_the_derivatives(f, reduction):
    rng = np.random.default_rng(10)
    y, p, w = rng.uniform(1, 3, (6, 2)), rng.uniform(-3, 3, (6, 2)), rng.uniform(0, 2, 6)
    terms = f(y, p, sample_weight=w, reduction="none")
    np.testing.assert_allclose(terms, w[:, None] * f(y, p, reduction="none"), rtol=2 * EPS)
    total = terms.sum() / (1 if reduction == "sum" else 2 * w.sum())
    assert f(y, p, sample_weight=w, reduction=reduction) == pytest.approx(total, rel=8 * EPS)
    scale = w[:, None] / (1 if reduction == "sum" else 2 * w.sum())
    for d in (f.grad, f.hess):
        np.testing.assert_allclose(d(y, p, sample_weight=w, reduction=reduction),
                                   scale * d(y, p, reduction="none"), rtol=4 * EPS, atol=0)
    value, grad = f.value_and_grad(y, p, sample_weight=w, reduction=reduction)
    assert value == f(y, p, sample_weight=w, reduction=reduction)
    np.testing.assert_array_equal(grad, f.grad(y, p, sample_weight=w, reduction=reduction))


# ------------------------------------------------------------------ properties


@pytest.mark.parametrize("f", [lossfns.mse, lossfns.mae, lossfns.huber, lossfns.smape,
                               lossfns.pinball, lossfns.log_cosh], ids=lambda f: f.__name__)
@given(yp=pairs())
def test_non_negative_and_zero_at_a_perfect_prediction(f, yp):
    y, p = yp
    assert np.all(f(y, p, reduction="none") >= 0)
    assert np.all(f(y, y, reduction="none") == 0)
    assert np.all(f.grad(y, y, reduction="none") == 0)


@given(pairs(targets=nonzero))
def test_mape_non_negative_and_zero_at_a_perfect_prediction(yp):
    y, p = yp
    assert np.all(lossfns.mape(y, p, reduction="none") >= 0)
    assert np.all(lossfns.mape(y, y, reduction="none") == 0)


@given(pairs(elements=st.floats(-1e300, 1e300)))
def test_smape_lies_in_0_200(yp):
    y, p = yp
    values = lossfns.smape(y, p, reduction="none")
    assert np.all((values >= 0) & (values <= 200))
    opposite = np.sign(y) * np.sign(p) < 0
    assert np.all(values[opposite] == 200)


@given(st.floats(0.01, 1e3), st.floats(0.001, 0.999))
def test_smape_penalises_under_prediction_more(y, fraction):
    d = fraction * y
    under, over = lossfns.smape(y, y - d), lossfns.smape(y, y + d)
    assert under == pytest.approx(200 * d / (2 * y - d), rel=8 * EPS)
    assert over == pytest.approx(200 * d / (2 * y + d), rel=8 * EPS)
    assert under > over


@given(pairs(elements=st.floats(-1e150, 1e150)))
def test_huber_lies_between_zero_and_mae_times_delta(yp):
    y, p = yp
    for delta in (0.5, 2.0):
        values = lossfns.huber(y, p, delta=delta, reduction="none")
        # relative rounding, and absolute rounding where r^2 / 2 is subnormal
        slack = 2 * np.finfo(np.float64).smallest_subnormal
        assert np.all(values <= delta * np.abs(p - y) * (1 + 4 * EPS) + slack)
        assert np.all(values <= 0.5 * (p - y) ** 2 * (1 + 4 * EPS) + slack)


@given(pairs())
def test_log_cosh_between_abs_minus_log2_and_half_square(yp):
    y, p = yp
    r = np.abs(p - y)
    values = lossfns.log_cosh(y, p, reduction="none")
    assert np.all(values >= r - np.log(2) - 4 * EPS * r)
    assert np.all(values <= 0.5 * r * r * (1 + 4 * EPS))


# ---------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("f", POINTWISE, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    ("y", "p", "expected"),
    [
        (np.float32([1, 2]), np.float32([1.5, -1]), np.float32),
        ([1.0, 2.0], np.float32([1.5, -1]), np.float64),  # a list of floats is float64
        (np.array([1, 2]), np.float32([1.5, -1]), np.float32),  # integers do not vote
        (np.array([1, 2]), np.array([3, -1]), np.float64),
        (np.float32([1, 2]), np.float64([1.5, -1]), np.float64),
    ],
)
def test_follow_the_dtype_rules(f, y, p, expected):
    value, grad = f.value_and_grad(y, p)
    assert isinstance(value, np.generic) and value.dtype == expected
    assert grad.dtype == expected and f.hess(y, p).dtype == expected
    assert f(y, p, reduction="none").dtype == expected


@pytest.mark.parametrize("f", POINTWISE, ids=lambda f: f.__name__)
def test_float32_agrees_with_float64(f):
    rng = np.random.default_rng(11)
    y = rng.uniform(0.5, 5, 100).astype(np.float32)
    p = rng.uniform(-5, 5, 100).astype(np.float32)
    single = f(y, p, reduction="none")
    double = f(y.astype(float), p.astype(float), reduction="none")
    np.testing.assert_allclose(single, double, rtol=8 * np.finfo(np.float32).eps, atol=1e-6)


def test_helpers_follow_the_dtype_rules():
    y32 = np.float32([0.5, 1.0, 2.0, 4.0, 8.0, 9.0])
    edges = lossfns.equal_frequency_edges(y32, 3)
    assert edges.dtype == np.float32
    assert lossfns.bucket_centers(edges).dtype == np.float32
    assert lossfns.bucket_centers(edges, y32).dtype == np.float32
    assert lossfns.bucket_centers(edges.astype(float), y32).dtype == np.float64
    centers = lossfns.bucket_centers(edges, y32)
    assert lossfns.gaussian_soft_labels(y32, centers, 1.0).dtype == np.float32
    assert lossfns.bucket_expectation(np.zeros((2, 3), np.float32), centers).dtype == np.float32
    assert lossfns.bucket_expectation(np.zeros((2, 3)), centers).dtype == np.float64
    assert lossfns.bucketize(y32, edges).dtype.kind == "i"
    assert lossfns.watch_time_predict(np.float32([1.0])).dtype == np.float32
    assert lossfns.watch_time_predict([1]).dtype == np.float64
    wt = lossfns.watch_time_logistic
    assert wt([1, 0], np.float32([2, 0]), np.float32([0, 1])).dtype == np.float32
    assert wt([1, 0], [2.0, 0.0], np.float32([0, 1])).dtype == np.float64


# ----------------------------------------------------------------- bucketing


@example(np.array([5e-324, 0.0]), 2)  # adjacent floats: no midpoint between them
@given(hnp.arrays(np.float64, st.integers(2, 300), elements=st.floats(-1e6, 1e6)),
       st.integers(2, 40))
def test_equal_frequency_edges_balance_the_buckets(y, n_buckets):
    if np.unique(y).size < 2:
        with pytest.raises(ValueError, match="at least 2 distinct values"):
            lossfns.equal_frequency_edges(y, n_buckets)
        return
    edges = lossfns.equal_frequency_edges(y, n_buckets)
    assert edges[0] == y.min() and edges[-1] == y.max()
    assert np.all(np.diff(edges) > 0) and 2 <= edges.size <= n_buckets + 1
    counts = np.bincount(lossfns.bucketize(y, edges), minlength=edges.size - 1)
    assert counts.min() > 0  # never an empty bucket
    # no ties and a float between every two targets (else a midpoint rounds onto one of
    # them and its bucket merges down): sizes within one
    values = np.sort(y)
    apart = bool(np.all(np.nextafter(values[:-1], np.inf) < values[1:]))
    if apart and n_buckets <= y.size:
        assert edges.size == n_buckets + 1
        assert counts.max() - counts.min() <= 1


def test_equal_frequency_edges_with_ties_keep_equal_values_together():
    y = np.array([1.0] * 6 + [2.0, 3.0, 4.0, 5.0])
    edges = lossfns.equal_frequency_edges(y, 5)
    index = lossfns.bucketize(y, edges)
    assert np.unique(index[:6]).size == 1
    np.testing.assert_array_equal(edges, [1.0, 1.5, 3.5, 5.0])
    np.testing.assert_array_equal(np.bincount(index), [6, 2, 2])


def test_bucketize_boundaries_and_outside_values():
    edges = [0.0, 1.0, 2.0, 3.0]
    y = np.array([[-5.0, 0.0, 0.999], [1.0, 3.0, 7.0]])
    np.testing.assert_array_equal(lossfns.bucketize(y, edges), [[0, 0, 0], [1, 2, 2]])


def test_bucket_centers_are_means_or_midpoints():
    rng = np.random.default_rng(12)
    y = rng.lognormal(size=1000)
    edges = lossfns.equal_frequency_edges(y, 8)
    index = lossfns.bucketize(y, edges)
    expected = [y[index == k].mean() for k in range(8)]
    np.testing.assert_allclose(lossfns.bucket_centers(edges, y), expected, rtol=4 * EPS * 200)
    # e_k + (e_{k+1}/2 - e_k/2) (which cannot overflow) and (e_k + e_{k+1}) / 2 round apart
    np.testing.assert_allclose(lossfns.bucket_centers(edges), (edges[:-1] + edges[1:]) / 2,
                               rtol=2 * EPS)


@given(hnp.arrays(np.float64, st.integers(1, 20), elements=st.floats(-1e6, 1e6)),
       hnp.arrays(np.float64, st.integers(1, 12), elements=st.floats(-1e3, 1e3)),
       st.floats(1e-3, 1e3))
def test_soft_labels_are_distributions(y, centers, sigma):
    t = lossfns.gaussian_soft_labels(y, centers, sigma)
    assert t.shape == (y.size, centers.size)
    assert np.all(t >= 0) and np.all(np.isfinite(t))
    np.testing.assert_allclose(t.sum(axis=1), 1, rtol=0, atol=centers.size * 2 * EPS)
    # the nearest centre carries the most mass
    nearest = np.argmin(np.abs(y[:, None] - centers[None, :]), axis=1)
    assert np.all(t[np.arange(y.size), nearest] == t.max(axis=1))


def test_soft_labels_match_a_direct_gaussian_and_tend_to_one_hot():
    y, c = np.array([0.3, 2.2]), np.array([0.0, 1.0, 2.0, 3.0])
    g = np.exp(-((y[:, None] - c) ** 2) / (2 * 0.7**2))
    np.testing.assert_allclose(lossfns.gaussian_soft_labels(y, c, 0.7), g / g.sum(axis=1, keepdims=True), rtol=8 * EPS)
    np.testing.assert_array_equal(lossfns.gaussian_soft_labels(y, c, 1e-3), [[1, 0, 0, 0], [0, 0, 1, 0]])


@given(hnp.arrays(np.float64, (5, 6), elements=st.floats(-700, 700)),
       hnp.arrays(np.float64, 6, elements=st.floats(-1e6, 1e6)))
def test_expectation_lies_within_the_bucket_range(logits, centers):
    e = lossfns.bucket_expectation(logits, centers)
    assert e.shape == (5,)
    assert np.all(e >= centers.min()) and np.all(e <= centers.max())
    expected = special.softmax(logits, axis=1) @ centers
    # six products and sums, each within eps of the span; products can underflow
    span = np.abs(centers).max()
    tiny = np.finfo(np.float64).tiny
    np.testing.assert_allclose(e, expected, rtol=0, atol=16 * EPS * span + tiny)


@settings(max_examples=100)
@given(hnp.arrays(np.float64, (3, 4), elements=st.floats(allow_nan=False, allow_infinity=False)),
       hnp.arrays(np.float64, 4, elements=st.floats(allow_nan=False, allow_infinity=False)))
def test_expectation_over_the_whole_float_range_raises_nothing(logits, centers):
    # gaps to a row's largest logit beyond the float range (their probabilities are 0) used
    # to raise FloatingPointError under strict floating point
    with np.errstate(all="raise"):
        e = lossfns.bucket_expectation(logits, centers)
    assert np.all(e >= centers.min()) and np.all(e <= centers.max())


def test_expectation_where_a_gap_overflows_and_means_in_the_subnormal_range():
    with np.errstate(all="raise"):
        assert lossfns.bucket_expectation([[1e308, -1e308]], [1.0, 2.0]).tolist() == [1.0]
        means = lossfns.bucket_centers([0.0, 1e-300, 1.0], y=[5e-324, 1e-323, 0.5])
    assert means.tolist() == [(5e-324 + 1e-323) / 2, 0.5]


# -------------------------------------------------------------------- watch time


def test_watch_time_logistic_is_bce_with_pos_weight_watch_time():
    rng = np.random.default_rng(13)
    c = rng.integers(0, 2, 200)
    t = np.where(c == 1, rng.exponential(5, 200), 0.0)
    z = rng.normal(scale=3, size=200)
    wt = lossfns.watch_time_logistic
    bce = lossfns.binary_cross_entropy_with_logits
    for method in ("__call__", "grad", "hess"):
        ours = getattr(wt, method)(c, t, z, reduction="none")
        theirs = getattr(bce, method)(c.astype(float), z, pos_weight=None, reduction="none")
        weight = np.where(c == 1, t, 1.0)
        # a weighted BCE: clicked terms times T, unclicked times 1
        np.testing.assert_allclose(ours, weight * theirs, rtol=4 * EPS, atol=1e-300)
    # an unclicked impression's watch time is ignored
    assert wt([0], [9.0], [0.4]) == wt([0], [0.0], [0.4])


def test_watch_time_constant_fit_has_the_derived_odds():
    rng = np.random.default_rng(14)
    n = 5000
    c = (rng.uniform(size=n) < 0.1).astype(int)
    t = np.where(c == 1, rng.exponential(30, n), 0.0)
    k, total = c.sum(), t.sum()
    # the derived optimum: sigma(z) = total / (total + n - k), odds = total / (n - k)
    z_star = np.log(total / (n - k))
    assert abs(lossfns.watch_time_logistic.grad(c, t, np.full(n, z_star), reduction="sum").sum()) < 1e-9 * total
    assert lossfns.watch_time_predict(z_star) == pytest.approx(total / (n - k), rel=4 * EPS)


def test_watch_time_predict_overflows_only_where_the_truth_does():
    np.testing.assert_array_equal(lossfns.watch_time_predict([-1000.0, 0.0, 1000.0]), [0.0, 1.0, np.inf])


# ----------------------------------------------------------------- bad input

PAIR = {"y_true": [1.0, 2.0], "y_pred": [1.5, 0.5]}


@pytest.mark.parametrize("f", POINTWISE, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"y_true": [1.0, 2.0, 3.0]}, ValueError, r"shapes differ: y_true \(3,\), y_pred \(2,\)"),
        ({"y_pred": [[1.0, 2.0]]}, ValueError, "shapes differ"),
        ({"y_true": [1.0, np.nan]}, ValueError, "y_true contains NaN"),
        ({"y_pred": [1.0, np.inf]}, ValueError, "y_pred contains NaN or infinite"),
        ({"y_pred": []}, ValueError, "y_pred is empty"),
        ({"y_true": ["a", "b"]}, TypeError, "y_true must hold real numbers"),
        ({"y_pred": [1 + 1j, 2]}, TypeError, "y_pred must hold real numbers"),
        ({"reduction": "avg"}, ValueError, "reduction must be one of"),
        ({"sample_weight": [1.0, -1.0]}, ValueError, "sample_weight must be non-negative"),
        ({"sample_weight": [1.0, 2.0, 3.0]}, ValueError, "sample_weight has shape"),
        ({"sample_weight": [0.0, 0.0]}, ValueError, "sample_weight sums to zero"),
    ],
)
def test_bad_pairs(f, kwargs, error, message):
    arguments = {**PAIR, **kwargs}
    for method in (f, f.grad, f.hess, f.value_and_grad):
        with pytest.raises(error, match=message):
            method(**arguments)


@pytest.mark.parametrize(
    ("f", "kwargs", "error", "message"),
    [
        (lossfns.mape, {"y_true": [1.0, 0.0]}, ValueError, "y_true contains a zero target"),
        (lossfns.mape, {"y_true": [-0.0, 1.0]}, ValueError, "zero target"),
        (lossfns.huber, {"delta": 0.0}, ValueError, "delta must be > 0"),
        (lossfns.huber, {"delta": -1.0}, ValueError, "delta must be > 0"),
        (lossfns.huber, {"delta": np.inf}, ValueError, "delta must be finite"),
        (lossfns.huber, {"delta": "1"}, TypeError, "delta must be a real number"),
        (lossfns.pinball, {"quantile": 0.0}, ValueError, "quantile must be > 0"),
        (lossfns.pinball, {"quantile": 1.0}, ValueError, "quantile must be < 1"),
        (lossfns.pinball, {"quantile": 1.5}, ValueError, "quantile must be <= 1"),
        (lossfns.pinball, {"quantile": None}, TypeError, "quantile must be a real number"),
    ],
)
def test_bad_hyper_parameters_and_zero_targets(f, kwargs, error, message):
    for method in (f, f.grad, f.hess):
        with pytest.raises(error, match=message):
            method(**{**PAIR, **kwargs})


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: lossfns.equal_frequency_edges([1.0, 2.0, 3.0], 1), ValueError, "n_buckets must be >= 2"),
        (lambda: lossfns.equal_frequency_edges([1.0, 2.0, 3.0], 2.0), TypeError, "n_buckets must be an integer"),
        (lambda: lossfns.equal_frequency_edges([1.0, 2.0, 3.0], True), TypeError, "n_buckets must be an integer"),
        (lambda: lossfns.equal_frequency_edges([2.0, 2.0], 2), ValueError, "at least 2 distinct values"),
        (lambda: lossfns.equal_frequency_edges([[1.0, 2.0]], 2), ValueError, "y must be one-dimensional"),
        (lambda: lossfns.equal_frequency_edges([1.0, np.nan], 2), ValueError, "y contains NaN"),
        (lambda: lossfns.equal_frequency_edges([], 2), ValueError, "y is empty"),
        (lambda: lossfns.bucketize([1.0], [0.0, 2.0, 1.0]), ValueError, "edges must be strictly increasing"),
        (lambda: lossfns.bucketize([1.0], [0.0, 1.0, 1.0]), ValueError, "edges must be strictly increasing"),
        (lambda: lossfns.bucketize([1.0], [0.0]), ValueError, "edges must hold at least 2"),
        (lambda: lossfns.bucketize([np.inf], [0.0, 1.0]), ValueError, "y contains NaN"),
        (lambda: lossfns.bucketize([1.0], [[0.0, 1.0]]), ValueError, "edges must be one-dimensional"),
        (lambda: lossfns.bucket_centers([1.0, 0.0]), ValueError, "edges must be strictly increasing"),
        (lambda: lossfns.bucket_centers([0.0, 1.0, 2.0], y=[0.5]), ValueError, "bucket 1 holds no value"),
        (lambda: lossfns.gaussian_soft_labels([1.0], [0.0, 1.0], 0.0), ValueError, "sigma must be > 0"),
        (lambda: lossfns.gaussian_soft_labels([1.0], [[0.0, 1.0]], 1.0), ValueError, "centers must be one-dimensional"),
        (lambda: lossfns.gaussian_soft_labels([[1.0]], [0.0, 1.0], 1.0), ValueError, "y must be one-dimensional"),
        (lambda: lossfns.gaussian_soft_labels([np.nan], [0.0, 1.0], 1.0), ValueError, "y contains NaN"),
        (lambda: lossfns.bucket_expectation([[0.0, 1.0]], [0.0, 1.0, 2.0]), ValueError, r"logits must have shape \(n, 3\)"),
        (lambda: lossfns.bucket_expectation([0.0, 1.0], [0.0, 1.0]), ValueError, "logits must have shape"),
        (lambda: lossfns.bucket_expectation([[0.0, np.nan]], [0.0, 1.0]), ValueError, "logits contains NaN"),
        (lambda: lossfns.watch_time_predict([np.nan]), ValueError, "logits contains NaN"),
        (lambda: lossfns.watch_time_predict("1"), TypeError, "logits must hold real numbers"),
    ],
)
def test_bad_bucketing_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"clicked": [1, 2]}, ValueError, r"clicked must hold only the values \(0, 1\); found 2"),
        ({"clicked": [0.5, 1.0]}, ValueError, "clicked must hold only the values"),
        ({"watch_time": [-1.0, 0.0]}, ValueError, "watch_time must be non-negative"),
        ({"watch_time": [1.0, np.nan]}, ValueError, "watch_time contains NaN"),
        ({"logits": [0.0, 1.0, 2.0]}, ValueError, "shapes differ: clicked"),
        ({"watch_time": [1.0]}, ValueError, "shapes differ"),
        ({"logits": [np.inf, 1.0]}, ValueError, "logits contains NaN"),
        ({"reduction": "max"}, ValueError, "reduction must be one of"),
    ],
)
def test_bad_watch_time_input(kwargs, error, message):
    f = lossfns.watch_time_logistic
    arguments = {"clicked": [1, 0], "watch_time": [3.0, 0.0], "logits": [0.2, -0.1], **kwargs}
    for method in (f, f.grad, f.hess):
        with pytest.raises(error, match=message):
            method(**arguments)


# ------------------------------------------------ edges of the float range (issue 13)

MAX = np.finfo(np.float64).max


def test_huber_mean_is_finite_where_the_summed_square_would_overflow():
    # r^2 / 2 = 1.125e308 fits; the old summed form sum(c r) - sum(c^2)/2 was inf - inf
    with mpmath.workdps(50):
        exact = float(mpmath.mpf(1.5e154) ** 2 / 2)
    for reduction in ("mean", "sum"):
        value = lossfns.huber([0.0], [1.5e154], delta=1e155, reduction=reduction)
        assert value == pytest.approx(exact, rel=2 * EPS)
    np.testing.assert_array_equal(lossfns.huber([0.0], [1.5e154], delta=1e155, reduction="none"),
                                  lossfns.huber([0.0], [1.5e154], delta=1e155, reduction="sum"))


def test_mape_of_a_tiny_target_divides_the_residual_first():
    # 100 / |y| overflows for y = 1e-307; |r| / |y| = 1 exactly
    assert lossfns.mape([1e-307], [0.0]) == 100.0
    assert lossfns.mape([5e-324], [1e-323]) == 100.0  # subnormal target and residual
    assert lossfns.mape.grad([1e-300], [2e-300], reduction="none")[0] == 100 / 1e-300


@pytest.mark.parametrize(
    ("y", "p"),
    [
        (1e308, -1e308),  # opposite signs, |p - y| and |y| + |p| overflow: flat at 200
        (1e308, 1.7e308),  # same sign, |y| + |p| overflows
        (1.7e308, 1e308),
        (MAX, MAX / 3),
        (5e-324, 1e-323),  # subnormal
        (-1e-310, -3e-310),
        (2.0, 3.0),
    ],
)
def test_smape_is_exact_where_the_denominator_overflows_or_is_subnormal(y, p):
    with mpmath.workdps(50):
        Y, P = mpmath.mpf(y), mpmath.mpf(p)
        exact = 200 * abs(P - Y) / (abs(Y) + abs(P))
        slope = 400 * mpmath.sign(P - Y) * abs(Y) / (abs(Y) + abs(P)) ** 2
    assert lossfns.smape(y, p) == pytest.approx(float(exact), rel=6 * EPS)
    grad = lossfns.smape.grad(y, p)
    if np.sign(y) != np.sign(p):
        assert grad == 0  # the flat part
    elif abs(slope) < MAX:
        # |y| / b / (1 + q) / b / (1 + q): five roundings; below the normal range, the
        # absolute error of a subnormal result
        assert grad == pytest.approx(float(slope), rel=8 * EPS, abs=4 * TINY_SUB)
    else:
        assert np.isinf(grad)


TINY_SUB = np.finfo(np.float64).smallest_subnormal
# |p - y| = max + ulp/2 = 2^1024 - 2^970: p - y rounds to inf (a tie, to even)
TIE = (-(2.0**970), MAX)


@pytest.mark.parametrize(
    ("f", "kwargs", "y", "p", "exact"),
    [
        # delta (|r| - delta/2) of |r| = 2e308
        (lossfns.huber, {"delta": 0.5}, -1e308, 1e308, lambda r: 0.5 * (r - 0.25)),
        (lossfns.huber, {"delta": 5e-324}, 1e308, -1e308, lambda r: mpmath.mpf(5e-324) * r),
        # |r| - 1/2 at the tie: below it, so max
        (lossfns.huber, {"delta": 1.0}, *TIE, lambda r: r - 0.5),
        (lossfns.mape, {}, 1e308, -1e308, lambda r: 100 * r / 1e308),
        (lossfns.mape, {}, -1e307, MAX, lambda r: 100 * r / 1e307),
        (lossfns.pinball, {"quantile": 0.1}, 1e308, -1e308, lambda r: 0.1 * r),
        (lossfns.pinball, {"quantile": 0.1}, -1e308, 1e308, lambda r: 0.9 * r),
        # |r| - log 2 at the tie: max
        (lossfns.log_cosh, {}, *TIE, lambda r: r - mpmath.log(2)),
    ],
)
def test_losses_of_residuals_beyond_the_range(f, kwargs, y, p, exact):
    # p - y overflows; the loss does not: it is formed from half the residual, p/2 - y/2
    # (400 digits: the tie minus 1/2 needs 309)
    with mpmath.workdps(400):
        truth = exact(abs(mpmath.mpf(p) - mpmath.mpf(y)))
        largest = mpmath.mpf(float(MAX))
        expected = float(MAX) if largest <= truth < largest + mpmath.mpf(2) ** 970 else float(truth)
    with np.errstate(all="raise"):
        value = f([y], [p], **kwargs, reduction="none")[0]
    assert value == pytest.approx(expected, rel=4 * EPS)


@pytest.mark.parametrize("f", [lossfns.mae, lossfns.mse, lossfns.log_cosh, lossfns.huber])
def test_past_the_tie_the_loss_is_beyond_the_range(f):
    # the next representable residual above the tie: |r| - k > max + ulp/2, inf
    y, p = -(2.0**970) - 2.0**918, MAX
    assert f([y], [p], reduction="none")[0] == np.inf
    assert f([*TIE[:1]], [TIE[1]], reduction="none")[0] == (np.inf if f in (lossfns.mae, lossfns.mse) else MAX)


@pytest.mark.parametrize("f", POINTWISE, ids=lambda f: f.__name__)
def test_residuals_that_overflow_give_no_nan(f):
    # p - y = +-2e308 overflows for finite inputs; the value is exact (from half the
    # residual where it is finite) and so are the derivatives
    y, p = np.array([-1e308, 1e308, 0.0]), np.array([1e308, -1e308, 0.0])
    if f is lossfns.mape:
        y[2] = 1.0
    values = f(y, p, reduction="none")
    # SMAPE of opposite signs is 200 (bounded), so is MAPE here (|r| = 2|y|), and the
    # pinball loss at tau = 1/2 is |r| / 2 = 1e308; the rest are beyond the range
    assert not np.isnan(values).any()
    expected = {lossfns.smape: 200, lossfns.mape: 200, lossfns.pinball: 1e308}.get(f, np.inf)
    np.testing.assert_array_equal(values[:2], expected)
    grad, hess = f.grad_hess(y, p, reduction="none")
    assert not np.isnan(grad).any() and not np.isnan(hess).any()
    if f in (lossfns.mae, lossfns.log_cosh):
        np.testing.assert_array_equal(grad[:2], [1.0, -1.0])
    if f is lossfns.huber:
        np.testing.assert_array_equal(grad[:2], [1.0, -1.0])
        np.testing.assert_array_equal(hess[:2], [0.0, 0.0])
    if f is lossfns.pinball:
        np.testing.assert_array_equal(grad[:2], [0.5, -0.5])


@pytest.mark.parametrize("f", POINTWISE, ids=lambda f: f.__name__)
def test_extreme_valid_inputs_raise_no_floating_point_error(f):
    # every intermediate that under- or overflows is meant to; none escapes to the caller
    y = np.array([1.0, 1e-310, -MAX, MAX, 3.0, 5e-324])
    p = np.array([1e-300, 2e-310, MAX, -MAX, 3.0, 1e308])
    with np.errstate(all="raise"):
        for method in (f, f.grad, f.hess, f.value_and_grad, f.grad_hess):
            method(y, p, reduction="none")
            method(y, p, reduction="mean")


@pytest.mark.parametrize("f", POINTWISE, ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint64, np.int8, np.int64, bool])
def test_integer_and_unsigned_inputs_behave_like_float64(f, dtype):
    y = np.array([1, 2, 3, 1], dtype)
    p = np.array([0, 3, 3, 1], dtype)
    expected = f.grad_hess(y.astype(np.float64), p.astype(np.float64), reduction="none")
    for got, want in zip(f.grad_hess(y, p, reduction="none"), expected):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(f(y, p, reduction="none"),
                                  f(y.astype(np.float64), p.astype(np.float64), reduction="none"))


@pytest.mark.parametrize("f", POINTWISE, ids=lambda f: f.__name__)
def test_float32_scalars_give_float32(f):
    assert f(np.float32(1.5), np.float32(2.0)).dtype == np.float32


def test_unsigned_edges_in_decreasing_order_are_refused():
    # today's difference of unsigned edges wrapped around (3 - 5 = 254) and passed
    decreasing = [np.array([5, 3], np.uint8), np.array([0, 9, 2], np.uint64),
                  np.array([1, 1], np.uint16)]
    for edges in decreasing:
        with pytest.raises(ValueError, match="edges must be strictly increasing"):
            lossfns.bucketize([1.0], edges)
        with pytest.raises(ValueError, match="edges must be strictly increasing"):
            lossfns.bucket_centers(edges)
    np.testing.assert_array_equal(lossfns.bucketize([4.0], np.array([3, 5], np.uint8)), [0])


def test_more_buckets_than_targets_allocate_nothing_per_bucket():
    y = np.array([4.0, 1.0, 3.0, 2.0, 2.5])
    expected = lossfns.equal_frequency_edges(y, y.size)
    # more buckets than targets split between every two sorted targets, as N buckets do;
    # 10^30 buckets would need 8e30 bytes if one index were made per bucket
    for n_buckets in (y.size + 1, 10**6, 10**30, np.int64(2**62)):
        np.testing.assert_array_equal(lossfns.equal_frequency_edges(y, n_buckets), expected)
    np.testing.assert_array_equal(lossfns.equal_frequency_edges(y, np.uint8(2)),
                                  lossfns.equal_frequency_edges(y, 2))
    with pytest.raises(TypeError, match="n_buckets must be an integer"):
        lossfns.equal_frequency_edges(y, np.bool_(True))


def test_soft_labels_at_distances_whose_squares_or_differences_overflow():
    # y - c overflows (1e308 - -1e308) and (y - c)^2 / (2 sigma^2) overflows for every
    # centre: the nearest centre still gets the mass, with no nan and no error escaping
    with np.errstate(all="raise"):
        far = lossfns.gaussian_soft_labels([1e308], [-1e308, -0.9e308], 1e-3)
        t = lossfns.gaussian_soft_labels([1e200, 0.5], [0.0, 1.0, 1.5e200], 1e-3)
    np.testing.assert_array_equal(far, [[0, 1]])
    np.testing.assert_array_equal(t, [[0, 0, 1], [0.5, 0.5, 0]])  # equidistant: shared exactly
    # two centres 1e300 apart around a target 1e300 away, sigma 1e300: (a Gaussian of
    # distances 1 and 2 in units of sigma) exp(-1/2) : exp(-2)
    t = lossfns.gaussian_soft_labels([0.0], [1e300, -2e300], 1e300)
    expected = np.array([1.0, np.exp(-1.5)]) / (1 + np.exp(-1.5))
    np.testing.assert_allclose(t[0], expected, rtol=8 * EPS)


@pytest.mark.parametrize("n", [lossfns._core.BLOCK_SIZE - 1, lossfns._core.BLOCK_SIZE,
                               3 * lossfns._core.BLOCK_SIZE + 5])
def test_watch_time_is_sliced_with_the_blocks(n):
    # the watch time is a per-element array: it must follow every block (issue 13: a
    # per-element weight that was not sliced crashed past one block)
    rng = np.random.default_rng(15)
    c = (rng.uniform(size=n) < 0.3).astype(float)
    t = rng.exponential(5, n)
    z = rng.normal(scale=3, size=n)
    wt = lossfns.watch_time_logistic
    # softplus(+-z) = log(1 + e^(+-z)) and sigma(+-z), each within an ulp or two
    expected = c * t * np.logaddexp(0, -z) + (1 - c) * np.logaddexp(0, z)
    np.testing.assert_allclose(wt(c, t, z, reduction="none"), expected, rtol=8 * EPS)
    value, grad = wt.value_and_grad(c, t, z, reduction="sum")
    assert value == pytest.approx(expected.sum(), rel=1e-12)  # summed in another order
    expected_grad = (1 - c) * special.expit(z) - c * t * special.expit(-z)
    np.testing.assert_allclose(grad, expected_grad, rtol=16 * EPS, atol=0)


def test_bucket_helpers_across_the_whole_float_range():
    from fractions import Fraction

    with np.errstate(all="raise"):  # no warning escapes, nothing overflows on the way
        # midpoints whose difference e_{k+1} - e_k overflows
        np.testing.assert_array_equal(lossfns.equal_frequency_edges([1e308, -1e308], 2),
                                      [-1e308, 0, 1e308])
        np.testing.assert_array_equal(lossfns.bucket_centers([-MAX, MAX]), [0])
        # a bucket whose sum overflows still has its mean
        y = [1e308, 1.5e308, 1.6e308, 0.0, 0.5]
        centers = lossfns.bucket_centers([-1.0, 1.0, MAX], y)
        # subnormal targets: edges stay strictly increasing, inside the data
        edges = lossfns.equal_frequency_edges([5e-324, 1e-323, 1.5e-323, 2e-323], 2)
        # probabilities that underflow, odds that overflow
        expected_value = lossfns.bucket_expectation([[0.0, -1000.0], [-1000.0, 0.0]], [0.0, 1.0])
        odds = lossfns.watch_time_predict([-1000.0, 1000.0])
    exact = Fraction(1e308) / 3 + Fraction(1.5e308) / 3 + Fraction(1.6e308) / 3
    assert centers[0] == 0.25
    assert centers[1] == pytest.approx(float(exact), rel=4 * EPS)
    np.testing.assert_array_equal(edges, [5e-324, 1.5e-323, 2e-323])
    np.testing.assert_array_equal(expected_value, [0, 1])
    np.testing.assert_array_equal(odds, [0, np.inf])
