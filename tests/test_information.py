"""lossfns.information: values against SciPy and exact references, identities, gradients, errors."""

import pickle

import mpmath
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import special, stats
from scipy.spatial.distance import jensenshannon

import lossfns
from lossfns._core import Measure, Terms, measure

EPS = np.finfo(np.float64).eps
LOG2 = np.log(2)

MEASURES = [lossfns.cross_entropy, lossfns.kl_divergence, lossfns.js_divergence]


# ------------------------------------------------------------------ strategies


def normalised(weights, axis=-1):
    return weights / weights.sum(axis=axis, keepdims=True)


weights = st.floats(0, 1, allow_subnormal=False)
positive_weights = st.floats(0.05, 1)


@st.composite
def distributions(draw, shape=None, elements=weights):
    """Rows along the last axis summing to 1 (within a few ulps); zeros allowed."""
    if shape is None:
        shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=6))
    w = draw(hnp.arrays(np.float64, shape, elements=elements))
    assume(np.all(w.sum(axis=-1) > 0.1))
    return normalised(w)


@st.composite
def pairs(draw, q_elements=weights):
    p = draw(distributions())
    q = draw(distributions(shape=p.shape, elements=q_elements))
    return p, q


@st.composite
def joints(draw):
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6))
    w = draw(hnp.arrays(np.float64, shape, elements=weights))
    assume(w.sum() > 0.1)
    return w / w.sum()


def kl_reference(p, q):
    """sum p log(p/q) at 50 digits, of the float inputs exactly."""
    with mpmath.workdps(50):
        total = mpmath.mpf(0)
        for a, b in zip(map(mpmath.mpf, map(float, p)), map(mpmath.mpf, map(float, q))):
            if a > 0:
                total += a * mpmath.log(a / b)
        return total


# ------------------------------------------------------------------ hand-derived values


def test_self_information_hand_values():
    np.testing.assert_array_equal(
        lossfns.self_information([1.0, 0.5, 0.25, 0.125], base=2), [0.0, 1.0, 2.0, 3.0]
    )
    assert lossfns.self_information(np.e**-3) == pytest.approx(3.0, rel=2 * EPS)
    assert lossfns.self_information(0.0) == np.inf
    assert np.signbit(lossfns.self_information(1.0)) == False  # noqa: E712  (+0.0, not -0.0)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64])
def test_uniform_entropy_is_log_n(n):
    assert lossfns.entropy(np.full(n, 1.0 / n)) == pytest.approx(np.log(n), rel=4 * EPS, abs=0)
    assert lossfns.entropy(np.full(n, 1.0 / n), base=n if n > 1 else 2) == pytest.approx(
        1.0 if n > 1 else 0.0, rel=4 * EPS, abs=0
    )


def test_zeros_are_exact():
    assert lossfns.entropy([1.0, 0.0, 0.0]) == 0.0
    assert lossfns.entropy([0.5, 0.0, 0.5], base=2) == 1.0
    assert lossfns.kl_divergence([0.5, 0.5, 0.0], [0.25, 0.25, 0.5]) == pytest.approx(
        np.log(2), rel=2 * EPS
    )
    assert lossfns.cross_entropy([1.0, 0.0], [1.0, 0.0]) == 0.0
    assert not np.signbit(lossfns.cross_entropy([1.0, 0.0], [1.0, 0.0]))


def test_positive_p_where_q_is_zero_gives_inf_not_nan():
    p, q = [0.5, 0.5], [1.0, 0.0]
    assert lossfns.kl_divergence(p, q) == np.inf
    assert lossfns.cross_entropy(p, q) == np.inf
    assert lossfns.js_divergence(p, q) == pytest.approx(
        0.5 * (0.5 * np.log(0.5 / 0.75) + 0.5 * np.log(0.5 / 0.25))
        + 0.5 * (1.0 * np.log(1.0 / 0.75)),
        rel=4 * EPS,
    )
    # reversed, the zero is in p: finite
    assert lossfns.kl_divergence(q, p) == pytest.approx(np.log(2), rel=2 * EPS)


def test_kl_worked_example_matches_50_digit_reference():
    p, q = [0.7, 0.2, 0.1], [0.6, 0.3, 0.1]
    exact = kl_reference(p, q)
    assert lossfns.kl_divergence(p, q) == pytest.approx(float(exact), rel=8 * EPS)
    assert lossfns.kl_divergence(p, q, base=2) == pytest.approx(
        float(exact / mpmath.log(2)), rel=8 * EPS
    )
    # the value is not the widely copied 0.064, in any of the usual bases
    for base in (None, 2, 10):
        assert abs(lossfns.kl_divergence(p, q, base=base) - 0.064) > 0.02
    # the gradient quoted with it, -p/q, is right
    np.testing.assert_allclose(
        lossfns.kl_divergence.grad(p, q), [-7 / 6, -2 / 3, -1.0], rtol=2 * EPS
    )


def test_js_of_disjoint_supports_is_log_2():
    assert lossfns.js_divergence([1.0, 0.0], [0.0, 1.0]) == pytest.approx(LOG2, rel=2 * EPS)
    assert lossfns.js_divergence([0.5, 0.5, 0.0], [0.0, 0.0, 1.0], base=2) == pytest.approx(
        1.0, rel=2 * EPS
    )


def test_conditional_entropy_and_mutual_information_hand_values():
    copy = np.array([[0.5, 0.0], [0.0, 0.5]])  # Y = X, a fair bit
    independent = np.outer([0.25, 0.75], [0.5, 0.5])
    assert lossfns.conditional_entropy(copy) == 0.0
    assert lossfns.mutual_information(copy, base=2) == pytest.approx(1.0, rel=2 * EPS)
    assert lossfns.conditional_entropy(independent, base=2) == pytest.approx(1.0, rel=2 * EPS)
    assert lossfns.mutual_information(independent) == 0.0
    # a row with p(x) = 0 contributes nothing
    with_empty_row = np.array([[0.0, 0.0], [0.5, 0.5]])
    assert lossfns.conditional_entropy(with_empty_row) == pytest.approx(LOG2, rel=2 * EPS)
    assert lossfns.mutual_information(with_empty_row) == 0.0


def test_cross_entropy_with_a_one_hot_target_is_the_negative_log_likelihood():
    q = np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]])
    labels = np.array([1, 2])
    one_hot = np.eye(3)[labels]
    np.testing.assert_array_equal(
        lossfns.cross_entropy(one_hot, q), -np.log(q[[0, 1], labels])
    )


# ------------------------------------------------------------------ against SciPy


@given(distributions())
def test_entropy_matches_scipy(p):
    for base in (None, 2, 10):
        expected = stats.entropy(p, base=base, axis=-1)
        # SciPy renormalises p first: a change of an ulp in p_i moves -p_i log p_i by
        # about |log p_i + 1| ulps, so the two agree to a few ulps, relative or absolute
        np.testing.assert_allclose(
            lossfns.entropy(p, base=base), expected, rtol=8 * EPS, atol=8 * EPS
        )


@given(pairs())
def test_kl_matches_scipy_rel_entr_and_stats_entropy(pq):
    p, q = pq
    with np.errstate(divide="ignore"):
        expected = special.rel_entr(p, q).sum(axis=-1)
    np.testing.assert_allclose(lossfns.kl_divergence(p, q), expected, rtol=8 * EPS, atol=8 * EPS)
    np.testing.assert_allclose(
        lossfns.kl_divergence(p, q, base=2),
        stats.entropy(p, q, base=2, axis=-1),
        rtol=8 * EPS,
        atol=8 * EPS,
    )


@given(pairs())
def test_js_is_the_square_of_scipy_jensenshannon(pq):
    p, q = pq
    for base in (None, 2):
        with np.errstate(invalid="ignore"):
            distance = jensenshannon(p, q, base=base, axis=-1)
        # SciPy takes the square root of its sum, which can round below 0 when p ~ q
        # (a NaN distance); the true value there is 0 to rounding
        distance = np.nan_to_num(distance, nan=0.0)
        # the square root loses relative accuracy near 0: compare squares with an
        # absolute tolerance of a few ulps of log 2
        np.testing.assert_allclose(
            lossfns.js_divergence(p, q, base=base), distance**2, rtol=16 * EPS, atol=16 * EPS
        )


# ------------------------------------------------------------------ identities (hypothesis)


@given(pairs())
def test_gibbs_inequality(pq):
    p, q = pq
    kl = lossfns.kl_divergence(p, q)
    n = p.shape[-1]
    # exact value >= 0; the computed sum of n terms of size <= ~1 rounds by <= n ulps each
    assert np.all(kl >= -4 * n * EPS)
    assert np.all(lossfns.kl_divergence(p, p) == 0)  # every term is p log 1 = 0 exactly


@given(pairs())
def test_js_symmetric_and_bounded_by_log_2(pq):
    p, q = pq
    js = lossfns.js_divergence(p, q)
    assert np.array_equal(js, lossfns.js_divergence(q, p))  # the same terms, swapped
    n = p.shape[-1]
    assert np.all(js >= -4 * n * EPS)
    assert np.all(js <= LOG2 * (1 + 4 * n * EPS))
    assert np.all(lossfns.js_divergence(p, q, base=2) <= 1 + 4 * n * EPS)


@given(pairs())
def test_cross_entropy_is_entropy_plus_kl(pq):
    p, q = pq
    ce = lossfns.cross_entropy(p, q)
    total = lossfns.entropy(p) + lossfns.kl_divergence(p, q)
    ce, total = np.atleast_1d(ce), np.atleast_1d(total)
    finite = np.isfinite(total)
    assert np.array_equal(np.isfinite(ce), finite)
    assert np.all(ce[~finite] == np.inf) and np.all(total[~finite] == np.inf)
    # the n terms -p_i log q_i are all >= 0, so their sum bounds the size of every term
    # on either side; each is rounded to a few ulps
    gap = np.abs(ce[finite] - total[finite])
    assert np.all(gap <= 8 * p.shape[-1] * EPS * (ce[finite] + 1))


@given(joints())
def test_chain_rule(joint):
    h_joint = lossfns.entropy(joint.ravel())
    h_x = lossfns.entropy(joint.sum(axis=1))
    h_y_given_x = lossfns.conditional_entropy(joint)
    # sums of at most 36 terms, each below 1 in size: 64 ulps of log(36) is generous
    assert h_joint == pytest.approx(h_x + h_y_given_x, rel=0, abs=64 * EPS * np.log(36))
    assert 0 <= h_y_given_x <= lossfns.entropy(joint.sum(axis=0)) + 64 * EPS


@given(joints())
def test_mutual_information_three_forms_symmetry_and_sign(joint):
    mi = lossfns.mutual_information(joint)
    h_x, h_y = lossfns.entropy(joint.sum(axis=1)), lossfns.entropy(joint.sum(axis=0))
    atol = 64 * EPS * np.log(36)
    assert mi >= -atol
    assert mi == pytest.approx(h_y - lossfns.conditional_entropy(joint), abs=atol)
    assert mi == pytest.approx(h_x - lossfns.conditional_entropy(joint.T), abs=atol)
    assert mi == pytest.approx(lossfns.mutual_information(joint.T), abs=atol)
    product = np.outer(joint.sum(axis=1), joint.sum(axis=0))
    if np.all(product[joint > 0] > 0):  # else p(x) p(y) underflowed: KL is +inf in floats
        kl = lossfns.kl_divergence(joint.ravel(), product.ravel())
        assert mi == pytest.approx(kl, abs=atol)


@given(distributions(shape=st.integers(1, 6)), distributions(shape=st.integers(1, 6)))
def test_mutual_information_of_independent_variables_is_zero(px, py):
    joint = np.outer(px, py)
    assume(abs(joint.sum() - 1) <= 1e-12)
    # p(x,y) / (p(x) p(y)) is 1 up to a few roundings, so each log is a few ulps
    assert abs(lossfns.mutual_information(joint)) <= 8 * EPS


def test_mutual_information_does_not_underflow():
    # p(x) p(y) ~ 2e-400 underflows to 0 beside p(x, y) = 1e-200 > 0, but the true value
    # is finite (about 4.6e-198): compare with a 50-digit evaluation of the float inputs
    tiny = 1e-200
    joint = np.array([[1 - 3 * tiny, tiny], [tiny, tiny]])
    with mpmath.workdps(50):
        j = [[mpmath.mpf(float(v)) for v in row] for row in joint]
        px = [sum(row) for row in j]
        py = [j[0][k] + j[1][k] for k in range(2)]
        exact = sum(
            j[a][b] * mpmath.log(j[a][b] / (px[a] * py[b])) for a in range(2) for b in range(2)
        )
    # conditional probabilities and the ratios each round once: a few ulps per term
    assert lossfns.mutual_information(joint) == pytest.approx(float(exact), rel=64 * EPS)


def test_mutual_information_equals_scikit_learn_on_labels():
    from sklearn.metrics import mutual_info_score

    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, 500)
    y = (x + rng.integers(0, 3, 500)) % 5
    joint = np.zeros((4, 5))
    np.add.at(joint, (x, y), 1)
    joint /= joint.sum()
    assert lossfns.mutual_information(joint) == pytest.approx(
        mutual_info_score(x, y), rel=1e-13
    )


# ------------------------------------------------------------------ batches and axes


def test_axis_and_batches():
    rng = np.random.default_rng(1)
    p = normalised(rng.uniform(size=(4, 3, 5)), axis=1)
    q = normalised(rng.uniform(size=(4, 3, 5)), axis=1)
    moved_p, moved_q = np.moveaxis(p, 1, -1), np.moveaxis(q, 1, -1)
    for f in MEASURES:
        np.testing.assert_array_equal(f(p, q, axis=1), f(moved_p, moved_q))
        np.testing.assert_array_equal(
            f.grad(p, q, axis=1), np.moveaxis(f.grad(moved_p, moved_q), -1, 1)
        )
        assert f(p, q, axis=1).shape == (4, 5)
    np.testing.assert_array_equal(lossfns.entropy(p, axis=-2), lossfns.entropy(moved_p))
    joints_ = normalised(rng.uniform(size=(3, 2, 4)).reshape(3, 8)).reshape(3, 2, 4)
    batch = lossfns.mutual_information(joints_)
    assert batch.shape == (3,)
    for k in range(3):
        assert batch[k] == lossfns.mutual_information(joints_[k])
        assert lossfns.conditional_entropy(joints_)[k] == lossfns.conditional_entropy(joints_[k])


@pytest.mark.parametrize("f", MEASURES)
def test_base_divides_by_log_base(f):
    p, q = [0.7, 0.2, 0.1], [0.6, 0.3, 0.1]
    for base in (2, 10, 1.5, 3.7, 1 + 2.0**-40, 1e300):
        assert f(p, q, base=base) == pytest.approx(f(p, q) / np.log(base), rel=2 * EPS)
        np.testing.assert_allclose(f.grad(p, q, base=base), f.grad(p, q) / np.log(base), rtol=2 * EPS)


# ------------------------------------------------------------------ gradients


def central_differences(f, p, q, h):
    """d f(p, q) / d q_i for each entry of a 1-D q, with the steps actually taken."""
    grad = np.empty_like(q)
    for i in range(q.size):
        up, down = q.copy(), q.copy()
        up[i] += h
        down[i] -= h
        grad[i] = (f(p, up) - f(p, down)) / (up[i] - down[i])
    return grad


@pytest.mark.parametrize("f", MEASURES)
@given(pq=pairs(q_elements=positive_weights))
def test_grad_matches_finite_differences(f, pq):
    p, q = pq[0].reshape(-1)[:6], pq[1].reshape(-1)[:6]
    p, q = normalised(p), normalised(q)
    # Each q_i >= 0.05 / 6 after normalising. The step keeps q within the validator's
    # tolerance (1e-6). Truncation h^2/6 |f'''| <= 1e-14/6 * 2/q_min^3 ~ 6e-9; rounding
    # eps |f| / h <= 2.2e-16 * log(1/q_min) / 1e-7 ~ 1e-8.
    h = 1e-7
    fd = central_differences(f, p, q, h)
    np.testing.assert_allclose(f.grad(p, q), fd, rtol=0, atol=3e-8)


def test_grad_values_at_zeros():
    p = np.array([0.5, 0.5, 0.0, 0.0])
    q = np.array([0.5, 0.0, 0.5, 0.0])
    for f in (lossfns.kl_divergence, lossfns.cross_entropy):
        np.testing.assert_array_equal(f.grad(p, q), [-1.0, -np.inf, 0.0, 0.0])
        assert not np.signbit(f.grad(p, q)[2:]).any()
    np.testing.assert_array_equal(
        lossfns.js_divergence.grad(p, q), [0.0, -np.inf, LOG2 / 2, LOG2 / 2]
    )
    np.testing.assert_array_equal(
        lossfns.js_divergence.grad(p, q, base=2), [0.0, -np.inf, 0.5, 0.5]
    )


def test_js_grad_at_p_zero_is_the_one_sided_derivative():
    # with p_i = 0 the term is q_i log 2 / 2: its right derivative at q_i = 0 is log 2 / 2
    p = np.array([1.0, 0.0])
    h = 1e-8
    value = lambda t: lossfns.js_divergence(p, np.array([1.0 - t, t]))  # noqa: E731
    # moving mass from q_0 to q_1: d/dt = grad_1 - grad_0; grad_0 = log(2/2)/2 = 0 at t = 0
    slope = (value(h) - value(0.0)) / h
    assert slope == pytest.approx(lossfns.js_divergence.grad(p, np.array([1.0, 0.0]))[1], abs=1e-6)


@pytest.mark.parametrize("f", MEASURES)
def test_value_and_grad_is_value_and_grad(f):
    rng = np.random.default_rng(2)
    p, q = normalised(rng.uniform(size=(5, 4))), normalised(rng.uniform(size=(5, 4)))
    value, grad = f.value_and_grad(p, q)
    np.testing.assert_array_equal(value, f(p, q))
    np.testing.assert_array_equal(grad, f.grad(p, q))
    assert grad.shape == q.shape and value.shape == (5,)


def test_grad_through_softmax_is_q_minus_p():
    # q = softmax(z): d KL / dz_j = sum_i (-p_i / q_i) q_i (delta_ij - q_j) = q_j - p_j
    rng = np.random.default_rng(3)
    p = normalised(rng.uniform(size=6))
    z = rng.normal(size=6)
    q = special.softmax(z)
    g = lossfns.kl_divergence.grad(p, q)
    jacobian = np.diag(q) - np.outer(q, q)
    np.testing.assert_allclose(jacobian @ g, q - p, rtol=0, atol=16 * EPS)


# ------------------------------------------------------------------ dtypes


@pytest.mark.parametrize("f", MEASURES)
def test_float32_in_float32_out(f):
    p32 = np.float32([[0.7, 0.2, 0.1], [0.25, 0.25, 0.5]])
    q32 = np.float32([[0.6, 0.3, 0.1], [0.5, 0.25, 0.25]])
    value, grad = f.value_and_grad(p32, q32)
    assert value.dtype == np.float32 and grad.dtype == np.float32
    assert f(p32[0], q32[0], base=2).dtype == np.float32
    assert f(p32, q32.astype(np.float64)).dtype == np.float64
    # Against the float64 computation on the same (float32) inputs: each log ratio
    # carries an absolute error of a few float32 ulps (eps32 = 1.2e-7), and the terms
    # of KL and JS partly cancel, so the error is absolute, not relative
    exact = f(p32.astype(np.float64), q32.astype(np.float64))
    eps32 = float(np.finfo(np.float32).eps)
    np.testing.assert_allclose(value, exact, rtol=4 * eps32, atol=8 * eps32)


def test_float32_and_integer_inputs_of_the_single_argument_functions():
    p32 = np.float32([0.5, 0.25, 0.25])
    assert lossfns.entropy(p32).dtype == np.float32
    assert lossfns.self_information(p32).dtype == np.float32
    joint32 = np.float32([[0.25, 0.25], [0.5, 0.0]])
    assert lossfns.conditional_entropy(joint32).dtype == np.float32
    assert lossfns.mutual_information(joint32, base=2).dtype == np.float32
    # integers and bools become float64
    assert lossfns.entropy([1, 0]).dtype == np.float64
    assert lossfns.self_information(np.array([True])).dtype == np.float64
    assert lossfns.kl_divergence([0, 1], [0, 1]).dtype == np.float64
    assert lossfns.mutual_information([[1, 0], [0, 0]]).dtype == np.float64


# ------------------------------------------------------------------ bad input

GOOD = [0.5, 0.5]
BAD_DISTRIBUTIONS = [
    ([0.5, float("nan")], ValueError, "contains NaN or infinite"),
    ([0.5, float("inf")], ValueError, "contains NaN or infinite"),
    ([1.5, -0.5], ValueError, "must be non-negative"),
    ([0.5, 0.4], ValueError, "must sum to 1"),
    ([0.5, 0.5 + 2e-6], ValueError, "must sum to 1"),
    ([], ValueError, "is empty"),
    (["a", "b"], TypeError, "must hold real numbers"),
    ([0.5 + 0j, 0.5], TypeError, "must hold real numbers"),
    (0.5, ValueError, "at least one dimension"),
]


@pytest.mark.parametrize(("bad", "error", "message"), BAD_DISTRIBUTIONS)
@pytest.mark.parametrize("f", MEASURES)
def test_bad_p_and_q(f, bad, error, message):
    other = GOOD if np.ndim(bad) == 1 and np.size(bad) == 2 else bad
    for call in (f, f.grad, f.value_and_grad):
        with pytest.raises(error, match=f"p {message}" if message[0] != "a" else message):
            call(bad, other)
        if np.ndim(bad) == 1 and np.size(bad) == 2:
            with pytest.raises(error, match=f"q {message}"):
                call(GOOD, bad)


def test_rows_within_tolerance_are_accepted():
    p = [0.5, 0.5 + 9e-7]  # within the documented 1e-6
    assert np.isfinite(lossfns.kl_divergence(p, p))
    assert np.isfinite(lossfns.entropy(p))


@pytest.mark.parametrize(("bad", "error", "message"), BAD_DISTRIBUTIONS)
def test_bad_entropy_input(bad, error, message):
    with pytest.raises(error, match=message):
        lossfns.entropy(bad)


@pytest.mark.parametrize("f", MEASURES)
def test_mismatched_shapes_are_an_error_not_a_broadcast(f):
    with pytest.raises(ValueError, match=r"shapes differ: p \(2,\), q \(1, 2\)"):
        f(GOOD, [GOOD])
    with pytest.raises(ValueError, match="shapes differ"):
        f([0.5, 0.5], [0.2, 0.3, 0.5])


@pytest.mark.parametrize(
    ("base", "error", "message"),
    [
        (1, ValueError, "base must not be 1: ln 1 = 0"),
        (1.0, ValueError, "base must not be 1: ln 1 = 0"),
        (0, ValueError, "base must be > 1, got 0.0: a logarithm's base must be positive"),
        (-2, ValueError, "base must be > 1, got -2.0: a logarithm's base must be positive"),
        # 1/ln b < 0 would turn every measure negative: refused, for every measure alike
        (0.5, ValueError, r"base must be > 1, got 0.5: with a base below 1 .* negative"),
        (1 - 2.0**-53, ValueError, "base must be > 1, got 0.9999999999999999: with a base"),
        (5e-324, ValueError, "base must be > 1, got 5e-324: with a base below 1"),
        (float("nan"), ValueError, "base must be finite"),
        (float("inf"), ValueError, "base must be finite"),
        ("2", TypeError, "base must be a real number"),
        (True, TypeError, "base must be a real number"),
        (np.array([2.0]), TypeError, "base must be a real number"),
    ],
)
def test_bad_base(base, error, message):
    calls = [
        lambda: lossfns.self_information(GOOD, base=base),
        lambda: lossfns.entropy(GOOD, base=base),
        lambda: lossfns.conditional_entropy([[0.25, 0.25], [0.25, 0.25]], base=base),
        lambda: lossfns.mutual_information([[0.25, 0.25], [0.25, 0.25]], base=base),
    ] + [lambda f=f: f(GOOD, GOOD, base=base) for f in MEASURES] + [
        lambda f=f: f.grad(GOOD, GOOD, base=base) for f in MEASURES
    ]
    for call in calls:
        with pytest.raises(error, match=message):
            call()


@pytest.mark.parametrize(
    ("axis", "error", "message"),
    [
        (2, ValueError, "axis 2 is out of range"),
        (-3, ValueError, "axis -3 is out of range"),
        (0.0, TypeError, "axis must be an integer"),
        (None, TypeError, "axis must be an integer"),
        (True, TypeError, "axis must be an integer"),
    ],
)
def test_bad_axis(axis, error, message):
    p = [GOOD, GOOD]
    with pytest.raises(error, match=message):
        lossfns.entropy(p, axis=axis)
    for f in MEASURES:
        with pytest.raises(error, match=message):
            f(p, p, axis=axis)


def test_axis_selects_the_rows_that_must_sum_to_1():
    p = [[0.5, 0.5], [0.25, 0.75]]
    assert lossfns.entropy(p).shape == (2,)
    with pytest.raises(ValueError, match="p must sum to 1 along axis 0"):
        lossfns.entropy(p, axis=0)


@pytest.mark.parametrize("bad", [[-0.1, 0.5], [0.5, 1.0 + 1e-12], [float("nan")], [], ["x"]])
def test_bad_self_information_input(bad):
    error = TypeError if bad == ["x"] else ValueError
    with pytest.raises(error, match="p "):
        lossfns.self_information(bad)


@pytest.mark.parametrize("f", [lossfns.conditional_entropy, lossfns.mutual_information])
@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        ([0.5, 0.5], ValueError, "joint must have at least two dimensions"),
        ([[0.5, 0.5], [0.5, 0.5]], ValueError, r"joint must sum to 1 along axis \(-2, -1\)"),
        ([[1.5, 0.0], [0.0, -0.5]], ValueError, "joint must be non-negative"),
        ([[0.5, float("nan")]], ValueError, "joint contains NaN"),
        ([[]], ValueError, "joint is empty"),
        ([["a"]], TypeError, "joint must hold real numbers"),
    ],
)
def test_bad_joint(f, bad, error, message):
    with pytest.raises(error, match=message):
        f(bad)


def test_no_reduction_or_sample_weight_arguments():
    for f in MEASURES:
        with pytest.raises(TypeError):
            f(GOOD, GOOD, reduction="sum")
        with pytest.raises(TypeError):
            f(GOOD, GOOD, sample_weight=[1.0])


# ------------------------------------------------------------------ edges (issue 13)
#
# Probabilities from 1 down to the smallest subnormal number, zeros in p, in q and in both,
# float32 and float64: every result is compared with a 50-digit evaluation of the float
# inputs, and is finite wherever that is (or is the infinity it is).


def _mp(x):
    return mpmath.mpf(float(x))  # the float exactly


def as_float(x, dtype=np.float64):
    """An mpf as a float; beyond the range of ``dtype`` it becomes +-inf, as it should."""
    return float(x) if abs(x) <= np.finfo(dtype).max else float(mpmath.sign(x)) * np.inf


def measure_reference(name, p, q):
    """The value of a measure and its gradient for 1-D p and q at 50 digits, and the sum
    of the magnitudes of its terms, the size that a rounding error is relative to."""
    with mpmath.workdps(50):
        terms, grad = [], []
        for a, b in zip(map(_mp, p), map(_mp, q)):
            if name == "js_divergence":
                m = (a + b) / 2
                term = sum(x * mpmath.log(x / m) for x in (a, b) if x > 0) / 2
                slope = (
                    mpmath.log(2) / 2 if a == 0 else mpmath.log(b / m) / 2 if b > 0 else -mpmath.inf
                )
            else:
                slope = 0 if a == 0 else (-a / b if b > 0 else -mpmath.inf)
                if a == 0:
                    term = mpmath.mpf(0)
                elif b == 0:
                    term = mpmath.inf
                else:
                    term = a * mpmath.log(a / b) if name == "kl_divergence" else -a * mpmath.log(b)
            terms.append(term)
            grad.append(slope)
        return sum(terms), grad, sum(abs(t) for t in terms)


def assert_matches(value, exact, tolerance, *context):
    exact_float = as_float(exact, np.asarray(value).dtype)
    if not np.isfinite(exact_float):
        assert value == exact_float, (value, exact, *context)
    else:
        assert np.isfinite(value) and abs(_mp(value) - exact) <= tolerance, (value, exact, *context)


# zeros, subnormals, tiny, small and ordinary probabilities; one entry carries the mass
probabilities = st.one_of(
    st.just(0.0),
    st.floats(5e-324, 1e-300),
    st.floats(1e-300, 1e-8),
    st.floats(1e-8, 1.0),
)


@st.composite
def wide_distribution(draw, n):
    w = np.array(draw(st.lists(probabilities, min_size=n, max_size=n)))
    w[draw(st.integers(0, n - 1))] = draw(st.floats(0.05, 1.0))
    return w / w.sum()


@st.composite
def wide_pairs(draw):
    n = draw(st.integers(1, 6))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    return draw(wide_distribution(n)).astype(dtype), draw(wide_distribution(n)).astype(dtype)


def _eps_and_unit(dtype):
    info = np.finfo(dtype)
    return float(info.eps), float(info.smallest_subnormal)


@pytest.mark.parametrize("f", MEASURES)
@given(pq=wide_pairs(), base=st.sampled_from([None, 2.0]))
def test_measures_match_50_digit_references_across_the_whole_range(f, pq, base):
    p, q = pq
    eps, unit = _eps_and_unit(p.dtype)
    n = p.size
    value, grad = f.value_and_grad(p, q, base=base)
    exact, exact_grad, size = measure_reference(f.__name__, p, q)
    log_base = 1 if base is None else mpmath.log(base)
    # Each term rounds its ratio, log and product (an error of eps/2 of p_i from the
    # ratio, where the log is near 0, and a few eps of the term); the sum adds n eps of
    # the terms' size; the division by ln b one more. A subnormal intermediate adds at
    # most a few units of the last place of the subnormal range per term.
    tolerance = (n + 4) * eps * (size + 1) / abs(log_base) + 8 * n * unit
    assert_matches(value, exact / log_base, tolerance, p, q)
    for i in range(n):
        g = exact_grad[i] / log_base
        # one division (cross-entropy, KL) or a log of a ratio (JS: an absolute eps from
        # rounding the ratio), then the division by ln b
        assert_matches(grad[i], g, 4 * eps * (abs(g) + 1) + 2 * unit, i, p, q)


@given(
    p=st.lists(probabilities, min_size=1, max_size=8),
    dtype=st.sampled_from([np.float64, np.float32]),
)
def test_entropy_and_self_information_across_the_whole_range(p, dtype):
    p = np.array(p)
    assume(p.sum() > 0)
    p = (p / p.sum()).astype(dtype)
    eps, unit = _eps_and_unit(dtype)
    with mpmath.workdps(50):
        terms = [-_mp(a) * mpmath.log(_mp(a)) for a in p if a > 0]
        surprisal = [-mpmath.log(_mp(a)) if a > 0 else mpmath.inf for a in p]
    for base in (None, 2.0):
        log_base = 1 if base is None else mpmath.log(base)
        tolerance = (p.size + 4) * eps * sum(abs(t) for t in terms) + 8 * p.size * unit
        assert_matches(lossfns.entropy(p, base=base), sum(terms) / log_base, tolerance, p)
        information = lossfns.self_information(p, base=base)
        assert information.dtype == dtype
        for got, exact in zip(information, surprisal):
            assert_matches(got, exact / log_base, 2 * eps * abs(exact / log_base), p)


def joint_reference(joint):
    """H(Y|X), I(X;Y) and the size of their terms, at 50 digits, of the float joint."""
    with mpmath.workdps(50):
        j = [[_mp(v) for v in row] for row in joint]
        px = [sum(row) for row in j]
        py = [sum(row[k] for row in j) for k in range(len(j[0]))]
        cond = [-v * mpmath.log(v / px[a]) for a, row in enumerate(j) for v in row if v > 0]
        mutual = [
            v * mpmath.log(v / (px[a] * py[b]))
            for a, row in enumerate(j) for b, v in enumerate(row) if v > 0
        ]
        return sum(cond), sum(abs(t) for t in cond), sum(mutual), sum(abs(t) for t in mutual)


@given(
    rows=st.integers(1, 4),
    columns=st.integers(1, 4),
    data=st.data(),
    dtype=st.sampled_from([np.float64, np.float32]),
)
def test_conditional_entropy_and_mutual_information_across_the_whole_range(
    rows, columns, data, dtype
):
    joint = data.draw(wide_distribution(rows * columns)).reshape(rows, columns).astype(dtype)
    eps, unit = _eps_and_unit(dtype)
    h, h_size, mi, mi_size = joint_reference(joint)
    cells = joint.size
    # the marginals are rounded sums (cells eps); a subnormal conditional probability
    # p(x,y)/p(x) is off by up to half a unit of the subnormal range, which its log ratio
    # (at most ~750 in size) multiplies
    for got, exact, size in (
        (lossfns.conditional_entropy(joint), h, h_size),
        (lossfns.mutual_information(joint), mi, mi_size),
    ):
        assert got.dtype == dtype
        assert_matches(got, exact, 4 * (cells + 4) * eps * (size + 1) + 1024 * cells * unit, joint)


def test_js_of_a_subnormal_midpoint_is_finite():
    # m = (5e-324 + 0) / 2 rounds to 0: formed as a midpoint, the term 5e-324 ln(p/m) is +inf
    p, q = np.array([1.0, 5e-324]), np.array([1.0, 0.0])
    exact, exact_grad, _ = measure_reference("js_divergence", p, q)
    value, grad = lossfns.js_divergence.value_and_grad(p, q)
    assert np.isfinite(value) and abs(_mp(value) - exact) <= 5e-324
    assert grad[0] == 0 and grad[1] == -np.inf  # q_1 = 0 < p_1: the true slope is -inf
    swapped = lossfns.js_divergence.value_and_grad(q, p)
    assert swapped[0] == value  # symmetric
    swapped_exact = as_float(measure_reference("js_divergence", q, p)[1][1])
    assert swapped[1][1] == pytest.approx(swapped_exact, rel=2 * EPS)


def test_js_grad_at_a_subnormal_q_keeps_its_digits():
    # 2q/m is subnormal, so rounded to 2 digits; its log is taken as ln 2q - ln s instead
    p, q = np.array([0.3, 0.7]), np.array([1.0, 1.5e-323])
    _, exact_grad, _ = measure_reference("js_divergence", p, q)
    grad = lossfns.js_divergence.grad(p, q)
    assert grad[1] == pytest.approx(as_float(exact_grad[1]), rel=4 * EPS)


def test_kl_and_cross_entropy_where_p_over_q_overflows():
    # p/q = 5e319 exceeds the float range, but p log(p/q) = 368.07 does not
    p, q = np.array([0.5, 0.5]), np.array([1.0, 1e-320])
    for f in (lossfns.kl_divergence, lossfns.cross_entropy):
        exact, exact_grad, _ = measure_reference(f.__name__, p, q)
        value, grad = f.value_and_grad(p, q)
        assert value == pytest.approx(as_float(exact), rel=4 * EPS)
        assert grad[0] == -0.5 and grad[1] == -np.inf == as_float(exact_grad[1])  # -5e319


def test_float32_subnormal_q():
    p, q = np.float32([0.5, 0.5]), np.float32([1.0, 1e-45])  # 1e-45: a float32 subnormal
    eps32 = float(np.finfo(np.float32).eps)
    for f in MEASURES:
        exact, _, _ = measure_reference(f.__name__, p, q)
        value = f(p, q)
        assert value.dtype == np.float32
        assert value == pytest.approx(as_float(exact), rel=4 * eps32)


def test_scalars_of_every_float_dtype_and_integer_inputs():
    assert lossfns.self_information(np.float32(0.25)) == np.float32(np.log(np.float32(4)))
    assert lossfns.self_information(np.float32(0.25)).dtype == np.float32
    assert lossfns.self_information(np.float64(0.25)).dtype == np.float64
    assert lossfns.self_information(np.float16(0.25)) == np.log(4.0)  # float16 computes in float64
    assert lossfns.self_information(np.float32(0.0)) == np.inf
    # integer, unsigned and bool inputs behave like their float64 values
    for dtype in (np.uint8, np.uint64, np.int8, np.int64, bool):
        one_hot = np.array([1, 0], dtype)
        assert lossfns.entropy(one_hot) == 0.0 and lossfns.entropy(one_hot).dtype == np.float64
        assert lossfns.kl_divergence(one_hot, one_hot) == 0.0
        assert lossfns.js_divergence(one_hot, one_hot[::-1]) == pytest.approx(LOG2, rel=2 * EPS)
        np.testing.assert_array_equal(lossfns.self_information(one_hot), [0.0, np.inf])
        joint = np.array([[1, 0], [0, 0]], dtype)
        assert lossfns.mutual_information(joint) == 0.0 == lossfns.conditional_entropy(joint)


EDGE_INPUTS = [
    (np.array([1.0, 0.0, 0.0]), np.array([0.5, 0.5, 0.0])),  # zeros in p, in q, in both
    (np.array([0.5, 0.5, 0.0]), np.array([1.0, 0.0, 0.0])),  # q = 0 < p: infinities
    (np.array([1.0, 5e-324, 0.0]), np.array([1.0, 0.0, 5e-324])),  # subnormals
    (np.array([0.5, 0.5, 0.0]), np.array([1.0, 1e-320, 0.0])),  # p/q overflows
    (np.float32([0.5, 0.5, 0.0]), np.float32([1.0, 1e-45, 0.0])),
]


@pytest.mark.parametrize(("p", "q"), EDGE_INPUTS)
def test_strict_floating_point_on_edge_inputs(p, q):
    # no FloatingPointError under errstate(all="raise"), and (the suite turns warnings
    # into errors) no RuntimeWarning
    joint = np.outer(p, q)  # (its product underflows: outside the errstate)
    joint = joint / joint.sum()
    with np.errstate(all="raise"):
        for f in MEASURES:
            f.value_and_grad(p, q)
            f.value_and_grad(q, p, base=2)
        lossfns.entropy(p)
        lossfns.self_information(q, base=10)
        lossfns.conditional_entropy(joint)
        lossfns.mutual_information(joint.T, base=2)
        lossfns.mutual_information(np.diag(p))


def test_a_distribution_sum_error_shows_the_offence():
    # 1 + 2e-6 is outside the tolerance of 1e-6: the message shows enough digits to see it
    for f in (lossfns.entropy, lambda p: lossfns.kl_divergence(p, p)):
        message = r"p must sum to 1 along axis 0 \(within 1e-06\); a sum is 1\.000002$"
        with pytest.raises(ValueError, match=message):
            f([0.5, 0.5 + 2e-6])
    with pytest.raises(ValueError, match=r"a sum is 0\.9999985$"):
        lossfns.entropy([[0.5, 0.5], [0.5, 0.4999985]])
    with pytest.raises(ValueError, match=r"joint must sum to 1 .* a sum is 1\.0000015$"):
        lossfns.mutual_information([[0.5, 0.0], [0.0, 0.5000015]])


def test_ragged_input_names_the_argument():
    ragged = [[0.5, 0.5], [1.0]]
    with pytest.raises(TypeError, match="p must be an array of real numbers"):
        lossfns.entropy(ragged)
    for f in MEASURES:
        with pytest.raises(TypeError, match="q must be an array of real numbers"):
            f([[0.5, 0.5], [1.0, 0.0]], ragged)
    for f in (lossfns.conditional_entropy, lossfns.mutual_information):
        with pytest.raises(TypeError, match="joint must be an array of real numbers"):
            f(ragged)


# ------------------------------------------------------------------ the Measure mechanism


def test_measures_are_measures_not_losses():
    for f in MEASURES:
        assert isinstance(f, Measure) and not isinstance(f, lossfns.Loss)
        assert repr(f) == f"<measure lossfns.information.{f.__name__}>"
        assert pickle.loads(pickle.dumps(f)) is f
        assert f.__doc__ and "Examples" in f.__doc__


def _square_formula(a, *, value, grad, hess):
    return (a**2 if value else None, 2 * a if grad else None, None)


def test_measure_decorator_on_a_toy_declaration():
    @measure(_square_formula)
    def square(a):
        """Squares."""
        a = np.asarray(a, dtype=float)
        return Terms(
            _square_formula, (a,), sample_shape=a.shape, sample_weight=None,
            reduction="none", dtype=a.dtype,
        )

    np.testing.assert_array_equal(square([1.0, 3.0]), [1.0, 9.0])
    np.testing.assert_array_equal(square.grad([1.0, 3.0]), [2.0, 6.0])
    value, grad = square.value_and_grad([2.0])
    assert value[0] == 4.0 and grad[0] == 4.0
    assert square.__doc__ == "Squares."


@pytest.mark.parametrize(("sample_weight", "reduction"), [(None, "mean"), ([1.0, 2.0], "none")])
def test_measure_refuses_a_declaration_that_reduces_or_weights(sample_weight, reduction):
    @measure(_square_formula)
    def reducing(a):
        a = np.asarray(a, dtype=float)
        return Terms(
            _square_formula, (a,), sample_shape=a.shape, sample_weight=sample_weight,
            reduction=reduction, dtype=a.dtype,
        )

    with pytest.raises(TypeError, match="must not reduce or weight"):
        reducing([1.0, 2.0])
