"""lossfns.ltv: the ZILN loss, its predictions, the LTV evaluation tools, and their errors."""

import itertools

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import special, stats

import lossfns

ziln = lossfns.ziln_loss
EPS = np.finfo(np.float64).eps
FLOAT_MAX = np.finfo(np.float64).max


# -------------------------------------------------------------- 60-digit references


def ziln_reference(y, l0, mu, l2):
    """Value, gradient and the absolute sizes of the value's terms, at 60 digits.

    The inputs are floats, so mpf(float(x)) is exact; softplus is log1p(exp(x)), which at
    60 digits does not cancel for any x of interest (and exp never overflows in mpmath).
    """
    with mpmath.workdps(60):
        y, l0, mu, l2 = (mpmath.mpf(float(v)) for v in (y, l0, mu, l2))
        p = 1 / (1 + mpmath.exp(-l0))
        one_minus_p = 1 / (1 + mpmath.exp(l0))
        if y == 0:
            return mpmath.log1p(mpmath.exp(l0)), (p, 0, 0), [mpmath.log1p(mpmath.exp(l0))]
        sigma = mpmath.log1p(mpmath.exp(l2))
        d = mpmath.log(y) - mu
        terms = [
            mpmath.log1p(mpmath.exp(-l0)),
            mpmath.log(y),
            mpmath.log(sigma),
            mpmath.log(2 * mpmath.pi) / 2,
            d**2 / (2 * sigma**2),
        ]
        sigmoid_l2 = 1 / (1 + mpmath.exp(-l2))
        grad = (-one_minus_p, -d / sigma**2, (1 / sigma - d**2 / sigma**3) * sigmoid_l2)
        return sum(terms), grad, terms


def as_float(x):
    """An mpf rounded to a float: values up to half an ulp beyond the largest float round
    to it, larger ones to +-inf, as IEEE rounding does."""
    if abs(x) < FLOAT_MAX + mpmath.mpf(2) ** 970:
        return float(min(max(x, -FLOAT_MAX), FLOAT_MAX))
    return float(mpmath.sign(x)) * np.inf


MAX = float(FLOAT_MAX)
# the ends of the float range (subnormal and near-maximal targets, logits near +-max)
# beside ordinary values
ys = [0.0, 5e-324, 1e-8, 0.5, 1.0, 3.7, 1e6, 1e308]
purchase_logits = [-MAX, -800.0, -40.0, -1.0, 0.0, 3.0, 40.0, 800.0, MAX]
locations = [-1e308, -3.0, 0.0, 1e-170, 1.3, 12.0, 1e308]  # 1e-170: a finite z at sigma = e^-720
scale_logits = [
    -MAX, -1e4, -1000.0, -750.0, -720.0, -710.0, -700.0, -699.9, -50.0, -1.0, 0.0, 2.0, 50.0, 1e5,
    MAX,
]
GRID = np.array(list(itertools.product(ys, purchase_logits, locations, scale_logits)))


def _within(value, exact, tolerance):
    if not np.isfinite(exact):
        return value == exact
    return np.isfinite(value) and abs(value - exact) <= tolerance


def check_row_against_reference(yi, l0, mu, l2, value, grad):
    """The value and gradient of one row against the 60-digit reference, within the
    rounding bound of the float64 formula."""
    exact, exact_grad, terms = ziln_reference(yi, l0, mu, l2)
    exact, exact_grad = as_float(exact), [as_float(g) for g in exact_grad]
    size = as_float(sum(abs(t) for t in terms))
    row = (yi, l0, mu, l2, value, exact)
    if yi == 0:
        # one softplus: exp and log1p within an ulp each, one more rounding for the sum
        assert _within(value, exact, 2 * EPS * size), row
        assert grad[0] == pytest.approx(exact_grad[0], rel=2 * EPS, abs=0), row
        assert grad[1] == grad[2] == 0
        return
    # log y - mu: log y is within an ulp and the subtraction rounds once, an absolute
    # error of eps (|log y| + |d|); it moves z by that over sigma, so z^2/2 by |z| times
    # it. Everything else is within an ulp or two (for sigma < 1e-304 too, where
    # 1/sigma is a product of two correctly rounded exponentials) and the sum rounds
    # once per term. Tolerances are formed in mpmath: they exceed the float range only
    # where the exact value does, and is then compared for equality.
    with mpmath.workdps(30):
        m = mpmath.mpf
        sigma = mpmath.log1p(mpmath.exp(m(l2)))
        d = mpmath.log(m(yi)) - m(mu)
        z = abs(d) / sigma
        r = mpmath.exp(m(l2)) / (1 + mpmath.exp(m(l2))) / sigma
        shift = EPS * (abs(mpmath.log(m(yi))) + abs(d))
        value_tol = 4 * EPS * m(size) + 2 * z * shift / sigma
        # -z/sigma: the shift over sigma^2, plus a few roundings
        grad_tol = 2 * shift / sigma**2 + 8 * EPS * z / sigma
        # (1 - z^2) r: the same shift of z, times 2 |z| r / sigma, plus roundings
        scale_tol = 2 * z * r * shift / sigma + 8 * EPS * r * (1 + z**2)
        value_tol, grad_tol, scale_tol = (as_float(t) for t in (value_tol, grad_tol, scale_tol))
    assert _within(value, exact, value_tol), (row, value_tol)
    assert grad[0] == pytest.approx(exact_grad[0], rel=2 * EPS, abs=0), row
    assert _within(grad[1], exact_grad[1], grad_tol), (row, grad[1], exact_grad[1])
    assert _within(grad[2], exact_grad[2], scale_tol), (row, grad[2], exact_grad[2])


def test_value_and_grad_match_60_digit_reference_on_a_grid_of_extremes():
    y, logits = GRID[:, 0], GRID[:, 1:]
    with np.errstate(all="raise"):  # strict floating point: nothing raises
        value, grad = ziln.value_and_grad(y, logits, reduction="none")
    assert np.isfinite(grad[:, 0]).all() and not np.isnan(value).any() and not np.isnan(grad).any()
    for i, (yi, l0, mu, l2) in enumerate(GRID):
        check_row_against_reference(yi, l0, mu, l2, value[i], grad[i])


@pytest.mark.parametrize(
    ("y", "logits", "expected"),
    [
        # p = 1/2, sigma = softplus(log(e - 1)) = 1, y = e^mu: log 2 + mu + log sqrt(2 pi)
        (np.e, [0.0, 1.0, np.log(np.e - 1)], np.log(2) + 1 + 0.5 * np.log(2 * np.pi)),
        (0.0, [0.0, 5.0, 3.0], np.log(2)),
        (0.0, [1000.0, 0.0, 0.0], 1000.0),  # p -> 1, y = 0: -log(1 - p) = 1000, no clipping
        (0.0, [-1000.0, 0.0, 0.0], 0.0),  # p -> 0, y = 0: log(1 + e^-1000) rounds to 0
    ],
)
def test_hand_derived_values(y, logits, expected):
    assert ziln([y], [logits]) == pytest.approx(expected, rel=2 * EPS, abs=0)


def test_buyer_at_tiny_scale_is_finite_at_the_mode_and_infinite_elsewhere():
    # sigma = softplus(-1e4) = e^-10000 underflows; log sigma = -1e4 exactly
    logits = [[0.0, 0.0, -1e4], [0.0, 0.0, -1e4], [0.0, 0.0, -1e308]]
    y = [1.0, 2.0, 1.0]  # log y = mu for the first and last
    value, grad = ziln.value_and_grad(y, logits, reduction="none")
    assert value[0] == pytest.approx(np.log(2) - 1e4 + 0.5 * np.log(2 * np.pi), rel=2 * EPS)
    assert value[2] == -1e308
    assert value[1] == np.inf
    np.testing.assert_array_equal(grad[:, 1], [0.0, -np.inf, 0.0])
    np.testing.assert_array_equal(grad[:, 2], [1.0, -np.inf, 1.0])


def wide(signed=True):
    """Floats from the whole range: ordinary, tiny, subnormal and near-maximal values, of
    either sign (or, ``signed=False``, non-negative). The sign is drawn, not filtered: a
    filter that rejected the negative half made 771 of the 971 draws of test_never_nan's
    arrays invalid, and 80 % of its time generation."""
    magnitudes = st.one_of(
        st.floats(0, 5e-300), st.floats(5e-300, 1e-3), st.floats(1e-3, 1e3),
        st.floats(1e3, 1e300), st.floats(1e300, MAX),
    )
    if not signed:
        return magnitudes

    def with_sign(magnitude_and_negative):
        magnitude, negative = magnitude_and_negative
        return -magnitude if negative else magnitude

    return st.tuples(magnitudes, st.booleans()).map(with_sign)


@settings(max_examples=200)
@given(
    hnp.arrays(np.float64, (20, 3), elements=wide()),
    hnp.arrays(np.float64, 20, elements=st.one_of(st.just(0.0), wide(signed=False))),
    st.floats(1e-300, 1 - 2**-53),
)
def test_never_nan(logits, y, q):
    with np.errstate(all="raise"):  # and strict floating point: nothing raises
        value, grad = ziln.value_and_grad(y, logits, reduction="none")
        mean = lossfns.ziln_predict(logits)
        quantile = lossfns.ziln_quantile(logits, q)
    assert not np.isnan(value).any() and not np.isnan(grad).any()
    assert not np.isnan(mean).any() and (mean >= 0).all()
    assert not np.isnan(quantile).any() and (quantile >= 0).all()


@settings(max_examples=300)
@given(y=st.one_of(st.just(0.0), wide(signed=False)), l0=wide(), mu=wide(), l2=wide())
def test_value_and_grad_match_60_digit_reference_across_the_whole_range(y, l0, mu, l2):
    value, grad = ziln.value_and_grad([y], [[l0, mu, l2]], reduction="none")
    check_row_against_reference(y, l0, mu, l2, value[0], grad[0])


def predict_reference(l0, mu, l2):
    """p exp(mu + sigma^2/2) at 60 digits, and the size of its exponent's terms."""
    with mpmath.workdps(60):
        l0, mu, l2 = (mpmath.mpf(float(v)) for v in (l0, mu, l2))
        log_p = -mpmath.log1p(mpmath.exp(-l0))
        sigma = mpmath.log1p(mpmath.exp(l2))
        exponent = log_p + mu + sigma**2 / 2
        return mpmath.exp(exponent), abs(log_p) + abs(mu) + sigma**2 / 2


@settings(max_examples=300)
@given(l0=wide(), mu=wide(), l2=wide())
def test_expected_value_matches_60_digit_reference_across_the_whole_range(l0, mu, l2):
    got = lossfns.ziln_predict([[l0, mu, l2]])[0]
    exact, size = predict_reference(l0, mu, l2)
    # exp turns the exponent's absolute rounding error (a few eps of the size of its
    # terms) into a relative error of the result
    with mpmath.workdps(30):
        rel = 8 * EPS * (size + 1)
        if got == np.inf:
            assert exact >= FLOAT_MAX * (1 - rel) or rel > 1, (l0, mu, l2, exact)
        elif rel < 1:
            unit = mpmath.mpf(5e-324)
            error = abs(mpmath.mpf(float(got)) - exact)
            assert error <= rel * exact + unit, (l0, mu, l2, got, exact)


@settings(max_examples=200)
@given(
    logits=hnp.arrays(np.float64, (5, 3), elements=wide()),
    levels=st.lists(st.floats(1e-300, 1 - 2**-53), min_size=2, max_size=2, unique=True),
)
def test_quantiles_across_the_whole_range_are_ordered_and_zero_in_the_atom(logits, levels):
    low, high = sorted(levels)
    q_low, q_high = lossfns.ziln_quantile(logits, low), lossfns.ziln_quantile(logits, high)
    assert (0 <= q_low).all() and (q_low <= q_high).all()  # Q is non-decreasing in q
    # the atom at 0 holds the levels up to 1 - p = sigma(-l0) (above it, a quantile can
    # still round to 0: e^-800)
    atom = low <= special.expit(-logits[:, 0])
    assert (q_low[atom] == 0).all()


def test_float32_quantiles_beyond_float32s_range_raise_nothing():
    # computed in float64, rounded to float32 once: e^100 is inf there, e^-100 subnormal
    logits = np.array([[10.0, 100.0, -5.0], [10.0, -100.0, -5.0]], np.float32)
    with np.errstate(all="raise"):
        q = lossfns.ziln_quantile(logits, np.float32(0.5))
    assert q.dtype == np.float32
    assert q[0] == np.inf
    assert q[1] == np.float32(lossfns.ziln_quantile(logits.astype(np.float64), 0.5)[1])


# ------------------------------------------------------------------- derivatives


def test_grad_matches_central_differences():
    rng = np.random.default_rng(0)
    n = 400
    logits = np.column_stack(
        [rng.normal(0, 3, n), rng.normal(1, 1, n), rng.uniform(-1, 2, n)]
    )
    y = np.where(rng.uniform(size=n) < 0.5, 0.0, rng.lognormal(1, 1, n))
    grad = ziln.grad(y, logits, reduction="none")
    h = 1e-6
    for j in range(3):
        step = np.zeros_like(logits)
        step[:, j] = h
        fd = (ziln(y, logits + step, reduction="none") - ziln(y, logits - step, reduction="none")) / (2 * h)
        value = np.abs(ziln(y, logits, reduction="none"))
        # sigma >= softplus(-1) = 0.31 and |z| <= 15 here: |f'''| <= 1e5, so the truncation
        # h^2/6 |f'''| <= 2e-8; the rounding is about 2 eps |f| / h = 4.4e-10 |f|
        np.testing.assert_array_less(np.abs(grad[:, j] - fd), 2e-8 + 1e-9 * (1 + value))


def test_reductions_and_weights_scale_value_and_grad():
    rng = np.random.default_rng(1)
    n = 50
    logits = rng.normal(size=(n, 3))
    y = np.where(rng.uniform(size=n) < 0.3, 0.0, rng.lognormal(size=n))
    w = rng.uniform(0, 2, n)
    terms = ziln(y, logits, reduction="none")
    grads = ziln.grad(y, logits, reduction="none")
    assert ziln(y, logits) == pytest.approx(terms.mean(), rel=1e-15)
    assert ziln(y, logits, reduction="sum") == pytest.approx(terms.sum(), rel=1e-15)
    assert ziln(y, logits, sample_weight=w) == pytest.approx((w * terms).sum() / w.sum(), rel=1e-14)
    np.testing.assert_allclose(
        ziln.grad(y, logits, sample_weight=w), w[:, None] * grads / w.sum(), rtol=1e-15
    )
    np.testing.assert_allclose(ziln.grad(y, logits, sample_weight=w, reduction="none"), w[:, None] * grads)
    value, grad = ziln.value_and_grad(y, logits, sample_weight=w, reduction="sum")
    assert value == ziln(y, logits, sample_weight=w, reduction="sum")
    np.testing.assert_array_equal(grad, ziln.grad(y, logits, sample_weight=w, reduction="sum"))
    assert grad.shape == (n, 3)


def test_the_y_zero_term_is_binary_cross_entropy_and_buyers_add_lognormal_nll():
    rng = np.random.default_rng(2)
    n = 200
    logits = rng.normal(0, 2, size=(n, 3))
    y = np.where(rng.uniform(size=n) < 0.4, 0.0, rng.lognormal(0.5, 1.5, n))
    sigma = np.log1p(np.exp(logits[:, 2]))
    lognormal_nll = -stats.lognorm.logpdf(np.where(y > 0, y, 1), s=sigma, scale=np.exp(logits[:, 1]))
    bce = lossfns.binary_cross_entropy_with_logits((y > 0).astype(float), logits[:, 0], reduction="none")
    expected = bce + np.where(y > 0, lognormal_nll, 0)
    # scipy's logpdf and the sum round independently: a few eps of the terms' size
    size = np.abs(bce) + np.abs(lognormal_nll) + np.abs(np.log(np.where(y > 0, y, 1))) + 1
    np.testing.assert_array_less(np.abs(ziln(y, logits, reduction="none") - expected), 8 * EPS * size)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_matches_torch_distributions_and_autograd(reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    n = 300
    logits = rng.normal(0, 2, size=(n, 3))
    y = np.where(rng.uniform(size=n) < 0.5, 0.0, rng.lognormal(1, 1, n))
    w = rng.uniform(0.5, 2, n)

    t = torch.tensor(logits, requires_grad=True)
    ty, tw = torch.tensor(y), torch.tensor(w)
    positive = ty > 0
    bce = torch.nn.functional.binary_cross_entropy_with_logits(t[:, 0], positive.double(), reduction="none")
    scale = torch.nn.functional.softplus(t[:, 2])
    lognormal = torch.distributions.LogNormal(t[:, 1], scale)
    log_prob = lognormal.log_prob(torch.where(positive, ty, torch.ones_like(ty)))
    terms = tw * (bce - torch.where(positive, log_prob, torch.zeros_like(log_prob)))
    expected = {"mean": terms.sum() / tw.sum(), "sum": terms.sum(), "none": terms}[reduction]
    expected.sum().backward()

    value, grad = ziln.value_and_grad(y, logits, sample_weight=w, reduction=reduction)
    # torch sums the same terms in another order (its softplus is thresholded at 20, exact
    # in float64 there): differences of a few eps of the terms' size, 2 at most here
    np.testing.assert_allclose(value, expected.detach().numpy(), rtol=32 * EPS, atol=32 * EPS)
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=64 * EPS, atol=64 * EPS)


# ------------------------------------------------------------ mean and quantiles


PREDICTIVE = [
    # (purchase logit, mu, scale logit)
    (0.0, 1.0, 0.0),
    (-2.0, 3.0, -1.0),
    (1.5, -0.5, 0.5),
    (3.0, 2.0, -2.0),
]


def sample_ziln(logits_row, n, rng):
    l0, mu, l2 = logits_row
    p, sigma = 1 / (1 + np.exp(-l0)), np.log1p(np.exp(l2))
    buys = rng.uniform(size=n) < p
    return np.where(buys, np.exp(mu + sigma * rng.standard_normal(n)), 0.0), p, sigma


@pytest.mark.parametrize("row", PREDICTIVE)
def test_expected_value_matches_monte_carlo_and_scipy(row):
    rng = np.random.default_rng(4)
    n = 400_000
    draws, p, sigma = sample_ziln(row, n, rng)
    predicted = lossfns.ziln_predict([row])[0]
    # exact variance: E[Y^2] = p exp(2 mu + 2 sigma^2); 5 standard errors
    second_moment = p * np.exp(2 * row[1] + 2 * sigma**2)
    standard_error = np.sqrt((second_moment - predicted**2) / n)
    assert abs(draws.mean() - predicted) < 5 * standard_error
    scipy_mean = p * stats.lognorm(s=sigma, scale=np.exp(row[1])).mean()
    assert predicted == pytest.approx(scipy_mean, rel=8 * EPS)


def test_expected_value_at_extremes():
    # p = 1 and sigma underflowing: the value is exp(mu); p = e^-800 with mu = 800 is
    # exp(0) = 1 (as a product p * exp(mu) this would be 0 * inf)
    got = lossfns.ziln_predict([[1e3, 2.0, -1e3], [-800.0, 800.0, -1e3], [0.0, 0.0, 40.0]])
    assert got[0] == pytest.approx(np.exp(2.0), rel=2 * EPS)
    assert got[1] == pytest.approx(1.0, rel=1e-13)  # exp of a sum of size 800: 800 eps
    assert got[2] == np.inf  # exp(800) / 2: beyond the float range


@pytest.mark.parametrize("row", PREDICTIVE)
@pytest.mark.parametrize("q", [0.05, 0.3, 0.5, 0.8, 0.95, 0.999])
def test_quantile_inverts_the_distribution_function(row, q):
    l0, mu, l2 = row
    p, sigma = 1 / (1 + np.exp(-l0)), np.log1p(np.exp(l2))
    value = lossfns.ziln_quantile([row], q)[0]
    if q <= 1 - p:
        assert value == 0
    else:
        cdf = 1 - p + p * stats.lognorm.cdf(value, s=sigma, scale=np.exp(mu))
        assert cdf == pytest.approx(q, rel=1e-13)
        assert value == pytest.approx(
            stats.lognorm.ppf((q - (1 - p)) / p, s=sigma, scale=np.exp(mu)), rel=1e-13
        )


@pytest.mark.parametrize("row", PREDICTIVE)
def test_quantiles_match_the_empirical_distribution(row):
    rng = np.random.default_rng(5)
    n = 200_000
    draws, _, _ = sample_ziln(row, n, rng)
    for q in (0.1, 0.5, 0.9, 0.99):
        value = lossfns.ziln_quantile([row], q)[0]
        below = np.mean(draws <= value)
        # the fraction at or below the true quantile is q (or more, at the atom at 0);
        # 5 binomial standard errors
        assert below >= q - 5 * np.sqrt(q * (1 - q) / n)
        if value > 0:
            assert below == pytest.approx(q, abs=5 * np.sqrt(q * (1 - q) / n))


@pytest.mark.parametrize("q", [1e-300, 0.3, 0.5, 0.7, 1 - 1e-9, 1 - 2**-52])
@pytest.mark.parametrize(
    "row",
    [
        (40.0, 1.0, 0.0),
        (2.0, -3.0, 1.0),
        (800.0, 0.5, 3.0),
        (800.0, 700.0, -800.0),  # sigma = e^-800: the quantile is e^mu, near the float maximum
        (1e308, -700.0, 3.0),  # a tiny quantile
        (30.0, 0.0, 1e308),  # sigma = 1e308: quantiles are 0 or infinite (e^(+-1e308 x))
    ],
)
def test_quantile_matches_60_digit_reference(row, q):
    l0, mu, l2 = row
    with mpmath.workdps(60):
        l0_, mu_, l2_, q_ = (mpmath.mpf(v) for v in (l0, mu, l2, q))
        p, one_minus_p = 1 / (1 + mpmath.exp(-l0_)), 1 / (1 + mpmath.exp(l0_))
        sigma = mpmath.log1p(mpmath.exp(l2_))
        inner, upper = (q_ - one_minus_p) / p, (1 - q_) / p
        exact = 0
        if inner > 0:
            # solve Phi(x) = target in log form by Newton from a float start, on the side
            # where target is small so that nothing cancels (mpmath.ncdf is erfc-based)
            target, side = (inner, 1) if inner <= 0.5 else (upper, -1)
            x = mpmath.findroot(
                lambda t: mpmath.log(mpmath.ncdf(t)) - mpmath.log(target), float(special.ndtri(float(target)))
            )
            exact = mpmath.exp(mu_ + sigma * side * x)
    value = lossfns.ziln_quantile([row], q)[0]
    if exact == 0:
        assert value == 0
    else:
        # ndtri is within a few ulp; exp then multiplies the error of its argument
        # (mu + sigma z, rounded) by |mu + sigma z|
        argument = abs(float(mpmath.log(exact)))
        assert value == pytest.approx(float(exact), rel=8 * EPS * (1 + argument))


def test_quantile_at_extreme_purchase_probabilities():
    # p = e^-800 underflows: every level below 1 is in the atom at 0
    assert lossfns.ziln_quantile([[-800.0, 5.0, 0.0]], 1 - 2**-53)[0] == 0
    # p = 1: the lognormal quantile, its median at q = 1/2
    assert lossfns.ziln_quantile([[800.0, 1.5, 0.0]], 0.5)[0] == pytest.approx(np.exp(1.5), rel=2 * EPS)
    # one level per row
    levels = lossfns.ziln_quantile([[0.0, 0.0, 0.0]] * 3, [0.2, 0.5, 0.75])
    assert levels[0] == levels[1] == 0 and levels[2] == pytest.approx(1.0, rel=2 * EPS)


# ----------------------------------------------------------- Gini and gain curve


def rank_formula_gini(y, s):
    """Gini from average ranks: sum_i y_i (n + 1 - 2 r_i) / (n sum y), r by descending s."""
    r = stats.rankdata(-np.asarray(s), method="average")
    n = len(y)
    return np.sum(y * (n + 1 - 2 * r)) / (n * np.sum(y))


def test_gini_matches_the_rank_formula_and_the_mean_absolute_difference():
    rng = np.random.default_rng(6)
    y = np.where(rng.uniform(size=500) < 0.6, 0.0, rng.lognormal(2, 1.5, 500))
    s = np.round(y * rng.lognormal(0, 1, 500), 1)  # a noisy prediction, with ties
    g = lossfns.normalized_gini(y, s)
    perfect = rank_formula_gini(y, y)
    assert g == pytest.approx(rank_formula_gini(y, s) / perfect, rel=1e-12)
    # the Gini of the perfect ranking is the Gini coefficient of y: sum |yi - yj| / (2 n sum y)
    mean_abs = np.abs(y[:, None] - y[None, :]).sum() / (2 * len(y) * y.sum())
    assert perfect == pytest.approx(mean_abs, rel=1e-12)


def test_gini_averages_over_the_orders_of_tied_predictions():
    y = np.array([0.0, 4.0, 1.0, 0.0, 2.0, 7.0])
    s = np.array([1.0, 2.0, 2.0, 0.0, 2.0, 3.0])
    tied = np.flatnonzero(s == 2.0)
    ginis = []
    for perm in itertools.permutations(tied):
        broken = s.copy()
        broken[list(perm)] = 2.0 + np.array([0.3, 0.2, 0.1])  # one order of the tie
        ginis.append(lossfns.normalized_gini(y, broken))
    assert lossfns.normalized_gini(y, s) == pytest.approx(np.mean(ginis), rel=1e-14)


def test_gini_is_one_for_perfect_minus_one_for_reversed_zero_for_constant():
    rng = np.random.default_rng(7)
    y = np.where(rng.uniform(size=1000) < 0.5, 0.0, rng.lognormal(size=1000))
    assert lossfns.normalized_gini(y, y) == pytest.approx(1.0, rel=1e-15)
    assert lossfns.normalized_gini(y, np.exp(3 * y) - 5) == pytest.approx(1.0, rel=1e-15)  # monotone
    assert lossfns.normalized_gini(y, -y) == pytest.approx(-1.0, rel=1e-13)
    assert abs(lossfns.normalized_gini(y, np.full_like(y, 3.0))) < 1e-14
    assert lossfns.normalized_gini(7 * y, y + 1) == pytest.approx(1.0, rel=1e-15)


def test_gini_of_random_rankings_is_about_zero():
    rng = np.random.default_rng(8)
    y = np.where(rng.uniform(size=2000) < 0.5, 0.0, rng.lognormal(size=2000))
    ginis = np.array([lossfns.normalized_gini(y, rng.permutation(2000)) for _ in range(200)])
    # an unbiased estimate of 0: the mean of 200 lies within 4 standard errors
    assert abs(ginis.mean()) < 4 * ginis.std(ddof=1) / np.sqrt(len(ginis))
    assert np.abs(ginis).max() < 0.15


def test_gain_curve_shape():
    rng = np.random.default_rng(9)
    y = np.where(rng.uniform(size=300) < 0.5, 0.0, rng.lognormal(size=300))
    s = y + rng.normal(0, 1, 300)
    fraction, gain = lossfns.gain_curve(y, s)
    assert fraction.shape == gain.shape == (301,)
    assert fraction[0] == gain[0] == 0 and fraction[-1] == 1 and gain[-1] == pytest.approx(1.0, rel=1e-15)
    assert np.all(np.diff(gain) >= 0)
    _, best = lossfns.gain_curve(y, y)
    assert np.all(best >= gain - 1e-15)  # no ranking beats the perfect one anywhere
    assert np.all(np.diff(best, 2) <= 1e-15)  # concave: the largest values come first
    _, flat = lossfns.gain_curve(y, np.zeros(300))
    np.testing.assert_allclose(flat, fraction, rtol=0, atol=1e-15)  # ties: the diagonal


# ---------------------------------------------------------------- decile table


def test_decile_table():
    rng = np.random.default_rng(10)
    n = 1000
    s = rng.permutation(n).astype(float)  # distinct predictions 0..999
    y = rng.uniform(size=n)
    table = lossfns.decile_table(y, s)
    by_prediction = y[np.argsort(s)].reshape(10, 100)
    np.testing.assert_allclose(table.actual, by_prediction.mean(axis=1), rtol=1e-14)
    np.testing.assert_allclose(table.predicted, np.arange(10) * 100 + 49.5, rtol=1e-15)
    np.testing.assert_array_equal(table.count, np.full(10, 100))

    uneven = lossfns.decile_table(y[:23], s[:23], n_bins=4)
    assert uneven.count.sum() == 23 and uneven.count.max() - uneven.count.min() <= 1
    assert np.all(np.diff(uneven.predicted) > 0)
    assert np.sum(uneven.actual * uneven.count) == pytest.approx(y[:23].sum(), rel=1e-14)


# ------------------------------------------------------------------------ dtypes


def test_float32_in_float32_out_and_agrees_with_float64():
    rng = np.random.default_rng(11)
    logits = rng.normal(size=(40, 3)).astype(np.float32)
    y = np.where(rng.uniform(size=40) < 0.5, 0, rng.lognormal(size=40)).astype(np.float32)
    value, grad = ziln.value_and_grad(y, logits, reduction="none")
    assert value.dtype == grad.dtype == np.float32
    assert ziln(y, logits).dtype == np.float32
    assert lossfns.ziln_predict(logits).dtype == np.float32
    assert lossfns.ziln_quantile(logits, np.float32(0.9)).dtype == np.float32
    assert lossfns.ziln_quantile(logits, 0.9).dtype == np.float32  # a Python float does not vote
    # computed in float64 and rounded once
    v64, g64 = ziln.value_and_grad(y.astype(float), logits.astype(float), reduction="none")
    np.testing.assert_array_equal(value, v64.astype(np.float32))
    np.testing.assert_array_equal(grad, g64.astype(np.float32))
    # integers do not vote; a float64 input makes the result float64
    assert ziln(np.zeros(40, dtype=int), logits).dtype == np.float32
    assert ziln(y.astype(float), logits).dtype == np.float64
    assert ziln(np.array([0, 3]), np.zeros((2, 3), dtype=int)).dtype == np.float64


# ------------------------------------------------------------ edges (issue 13)


def test_sample_weights_at_both_ends_of_the_float_range():
    rng = np.random.default_rng(12)
    n = 30
    logits = rng.normal(size=(n, 3))
    y = np.where(rng.uniform(size=n) < 0.4, 0.0, rng.lognormal(size=n))
    plain_value, plain_grad = ziln.value_and_grad(y, logits)
    # equal weights do not change a mean, however small or large they are
    for w in (5e-324, 1e-310, 1e308, FLOAT_MAX):
        value, grad = ziln.value_and_grad(y, logits, sample_weight=np.full(n, w))
        assert value == pytest.approx(plain_value, rel=4 * EPS)
        np.testing.assert_allclose(grad, plain_grad, rtol=4 * EPS)
    # a weight of 1e308 beside ones of 5e-324: the mean is the first term's, exactly
    weight = np.full(n, 5e-324)
    weight[0] = 1e308
    terms = ziln(y, logits, reduction="none")
    assert ziln(y, logits, sample_weight=weight) == pytest.approx(terms[0], rel=2 * EPS)
    # a sum of weights near the maximum overflows only where the true sum does
    assert np.isfinite(ziln(y[:1], logits[:1], sample_weight=[1e308], reduction="sum"))


def test_integer_and_unsigned_inputs_behave_like_float64():
    y = np.array([0, 3, 120, 1])
    logits = np.array([[1, -2, 0], [0, 1, 2], [-3, 5, 1], [2, 0, -1]])
    expected = ziln.value_and_grad(y.astype(float), logits.astype(float), reduction="none")
    for y_dtype, logits_dtype in ((np.uint8, np.int8), (np.uint64, np.int64), (np.int16, np.int32)):
        got = ziln.value_and_grad(y.astype(y_dtype), logits.astype(logits_dtype), reduction="none")
        assert got[0].dtype == got[1].dtype == np.float64
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])
        np.testing.assert_array_equal(
            lossfns.ziln_predict(logits.astype(logits_dtype)),
            lossfns.ziln_predict(logits.astype(float)),
        )


def test_bad_entries_are_found_in_every_block():
    # the entry checks run block by block: a bad entry in the last block is found too
    n = 3 * lossfns._core.BLOCK_SIZE
    y, logits = np.ones(n), np.zeros((n, 3))
    logits[-1, 2] = np.nan
    with pytest.raises(ValueError, match="logits contains NaN"):
        ziln(y, logits)
    y[-1] = -1.0
    with pytest.raises(ValueError, match="y_true must be non-negative; found -1.0"):
        ziln.grad(y, np.zeros((n, 3)))
    y[-1] = np.inf
    with pytest.raises(ValueError, match="y_true contains NaN or infinite"):
        ziln.value_and_grad(y, np.zeros((n, 3)))


def test_expected_value_where_the_exponent_would_be_inf_minus_inf():
    # log p = -1.8e308 and mu = -1e308 sum to beyond the float range, and sigma^2/2 is far
    # beyond it: as a plain sum, -inf + inf = nan. The exponent is +5e615: E[Y] = inf.
    assert lossfns.ziln_predict([[-MAX, -1e308, 1e308]])[0] == np.inf
    # three terms near the maximum that cancel: log p = -2^1020 (to 1e-300), mu = -2^1020
    # and sigma^2/2 = 2^1021 (sigma = softplus(2^511) = 2^511) sum to 0, so E[Y] = e^0 = 1
    assert lossfns.ziln_predict([[-(2.0**1020), -(2.0**1020), 2.0**511]])[0] == 1.0
    exact, _ = predict_reference(-(2.0**1020), -(2.0**1020), 2.0**511)
    assert abs(exact - 1) < 1e-300


def test_gain_curve_and_gini_of_values_near_the_float_maximum():
    # running sums of 1e308 overflow; shares of the total do not
    fraction, gain = lossfns.gain_curve([1e308, 1e308, 0.0], [3.0, 2.0, 1.0])
    np.testing.assert_array_equal(gain, [0.0, 0.5, 1.0, 1.0])
    np.testing.assert_array_equal(
        lossfns.gain_curve([FLOAT_MAX, 5e-324, 0.0], [3.0, 2.0, 1.0])[1], [0.0, 1.0, 1.0, 1.0]
    )
    rng = np.random.default_rng(13)
    y = np.where(rng.uniform(size=200) < 0.5, 0.0, rng.uniform(0.01, 100, 200))
    s = y + rng.normal(0, 10, 200)
    # a scale by a power of two changes nothing, bit for bit, near either end of the range
    for scale in (2.0**1000, 2.0**-1000):
        assert lossfns.normalized_gini(y * scale, s) == lossfns.normalized_gini(y, s)
        np.testing.assert_array_equal(
            lossfns.gain_curve(y * scale, s)[1], lossfns.gain_curve(y, s)[1]
        )
    # scores at the ends of the range only order the customers
    ranks = np.argsort(np.argsort(s))
    extreme_scores = np.where(ranks % 2 == 0, 1, -1) * np.logspace(-300, 300, 200)[ranks]
    order_preserving = np.sort(extreme_scores)[ranks]
    assert lossfns.normalized_gini(y, order_preserving) == lossfns.normalized_gini(y, s)


def test_decile_table_means_near_the_float_maximum():
    y = np.array([1.7e308, 1.7e308, 1.7e308, 1e308, 1e308, 1e308])
    s = np.array([FLOAT_MAX, -FLOAT_MAX, FLOAT_MAX, 1.0, 2.0, 3.0])
    table = lossfns.decile_table(y, s, n_bins=2)
    # bins by ascending s: {-max, 1, 2} and {3, max, max}
    np.testing.assert_array_equal(table.count, [3, 3])
    # (the sums, 3.7e308 and 4.4e308, overflow; the means do not)
    np.testing.assert_allclose(
        table.actual, [1.7e308 / 3 + 2 * (1e308 / 3), 1e308 / 3 + 2 * (1.7e308 / 3)], rtol=4 * EPS
    )
    assert table.predicted[0] == pytest.approx(-FLOAT_MAX / 3, rel=4 * EPS)
    assert table.predicted[1] == pytest.approx(FLOAT_MAX / 3 * 2, rel=4 * EPS)
    # and the ordinary path is untouched: the plain mean, bit for bit
    ordinary = lossfns.decile_table([1.0, 2, 3, 4], [4.0, 3, 2, 1], n_bins=2)
    np.testing.assert_array_equal(ordinary.actual, [3.5, 1.5])


def test_evaluation_tools_take_integers_unsigned_and_float32_like_float64():
    y, s = np.array([0, 5, 2, 9, 1], np.uint8), np.array([3, 1, 4, 1, 5], np.int64)
    for y_as, s_as in ((np.uint8, np.int64), (np.float32, np.float32), (np.int8, np.uint16)):
        assert lossfns.normalized_gini(y.astype(y_as), s.astype(s_as)) == lossfns.normalized_gini(
            y.astype(float), s.astype(float)
        )
        table = lossfns.decile_table(y.astype(y_as), s.astype(s_as), n_bins=2)
        assert table.actual.dtype == table.predicted.dtype == np.float64
    # integer values are not rounded to float32 beside a float32 prediction
    big = np.array([2**24 + 1, 0, 3])
    table = lossfns.decile_table(big, np.float32([3.0, 1.0, 2.0]), n_bins=1)
    assert table.actual[0] == (2**24 + 4) / 3


def test_evaluation_tools_under_strict_floating_point():
    with np.errstate(all="raise"):
        lossfns.gain_curve([1e308, 1e308, 5e-324], [MAX, -MAX, 5e-324])
        lossfns.normalized_gini([1e308, 0.0, 5e-324], [1.0, 2.0, 3.0])
        lossfns.decile_table([MAX, MAX, -MAX], [MAX, MAX, -MAX], n_bins=1)
        lossfns.decile_table([5e-324, 0.0, 1e-310], [5e-324, 1.0, 0.0], n_bins=1)
        lossfns.gain_curve([3e-324, 5e-324, 1e-323], [1.0, 2.0, 3.0])
        lossfns.normalized_gini([1e-320, 0.0, 3e-320, 1.0], [1.0, 2.0, 3.0, 4.0])


def test_ragged_input_names_the_argument():
    ragged = [[0.0, 1.0, 0.0], [1.0, 0.5]]
    with pytest.raises(TypeError, match="logits must be an array of real numbers"):
        ziln([0.0, 1.0], ragged)
    for f in (lossfns.ziln_predict, lambda z: lossfns.ziln_quantile(z, 0.5)):
        with pytest.raises(TypeError, match="logits must be an array of real numbers"):
            f(ragged)
    with pytest.raises(TypeError, match="q must be an array of real numbers"):
        lossfns.ziln_quantile(GOOD_LOGITS, [0.5, [0.5]])
    for f in (lossfns.gain_curve, lossfns.normalized_gini, lossfns.decile_table):
        with pytest.raises(TypeError, match="y_pred must be an array of real numbers"):
            f([1.0, 2.0], [1.0, [2.0]])


# ----------------------------------------------------------------------- bad input


GOOD_Y = [0.0, 2.0]
GOOD_LOGITS = [[0.0, 1.0, 0.0], [1.0, 0.5, -1.0]]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"y_true": [-1.0, 2.0]}, ValueError, "y_true must be non-negative"),
        ({"y_true": [np.nan, 2.0]}, ValueError, "y_true contains NaN"),
        ({"y_true": [np.inf, 2.0]}, ValueError, "y_true contains NaN or infinite"),
        ({"y_true": [[0.0, 2.0]]}, ValueError, "y_true must be one-dimensional"),
        ({"y_true": []}, ValueError, "y_true is empty"),
        ({"y_true": ["a", "b"]}, TypeError, "y_true must hold real numbers"),
        ({"y_true": [0.0, 1.0, 2.0]}, ValueError, r"logits must have shape \(3, 3\)"),
        ({"logits": [[0.0, 1.0], [1.0, 0.5]]}, ValueError, r"logits must have shape \(n, 3\)"),
        ({"logits": [0.0, 1.0, 0.0]}, ValueError, r"logits must have shape \(n, 3\)"),
        ({"logits": np.zeros((2, 3, 1))}, ValueError, r"logits must have shape \(n, 3\)"),
        ({"logits": [[0.0, np.nan, 0.0], [1.0, 0.5, -1.0]]}, ValueError, "logits contains NaN"),
        ({"logits": [[0.0, 1.0, -np.inf], [1.0, 0.5, -1.0]]}, ValueError, "logits contains NaN"),
        ({"sample_weight": [1.0, -1.0]}, ValueError, "sample_weight must be non-negative"),
        ({"sample_weight": [1.0, 1.0, 1.0]}, ValueError, "sample_weight has shape"),
        ({"sample_weight": [0.0, 0.0]}, ValueError, "sample_weight sums to zero"),
        ({"reduction": "max"}, ValueError, "reduction must be one of"),
    ],
)
def test_bad_loss_input(kwargs, error, message):
    arguments = {"y_true": GOOD_Y, "logits": GOOD_LOGITS, **kwargs}
    for method in (ziln, ziln.grad, ziln.value_and_grad):
        with pytest.raises(error, match=message):
            method(**arguments)


@pytest.mark.parametrize(
    ("logits", "message"),
    [
        ([[0.0, 1.0]], r"logits must have shape \(n, 3\)"),
        ([[0.0, np.nan, 1.0]], "logits contains NaN"),
        ([], "logits is empty"),
    ],
)
def test_bad_logits_for_predictions(logits, message):
    with pytest.raises(ValueError, match=message):
        lossfns.ziln_predict(logits)
    with pytest.raises(ValueError, match=message):
        lossfns.ziln_quantile(logits, 0.5)


@pytest.mark.parametrize(
    ("q", "error", "message"),
    [
        (0.0, ValueError, r"q must lie in the open interval \(0, 1\); found 0.0"),
        (1.0, ValueError, r"q must lie in the open interval \(0, 1\); found 1.0"),
        (-0.5, ValueError, "q must lie in the open interval"),
        (1.5, ValueError, "q must lie in the open interval"),
        ([0.5, 1.0], ValueError, "q must lie in the open interval"),
        (np.nan, ValueError, "q contains NaN"),
        ([0.5, 0.5, 0.5], ValueError, r"q must be a scalar or have shape \(2,\)"),
        ([[0.5, 0.5]], ValueError, r"q must be a scalar or have shape \(2,\)"),
        ("0.5", TypeError, "q must hold real numbers"),
    ],
)
def test_bad_quantile_level(q, error, message):
    with pytest.raises(error, match=message):
        lossfns.ziln_quantile(GOOD_LOGITS, q)


@pytest.mark.parametrize(
    ("y_true", "y_pred", "message"),
    [
        ([0.0, 1.0, -2.0], [1.0, 2.0, 3.0], "y_true must be non-negative"),
        ([0.0, 0.0, 0.0], [1.0, 2.0, 3.0], "y_true sums to zero"),
        ([0.0, 1.0, 2.0], [1.0, 2.0], "shapes differ"),
        ([[0.0, 1.0]], [[1.0, 2.0]], "y_true must be one-dimensional"),
        ([0.0, 1.0, 2.0], [1.0, np.nan, 3.0], "y_pred contains NaN"),
        ([0.0, np.inf, 2.0], [1.0, 2.0, 3.0], "y_true contains NaN"),
    ],
)
def test_bad_evaluation_input(y_true, y_pred, message):
    for function in (lossfns.gain_curve, lossfns.normalized_gini):
        with pytest.raises(ValueError, match=message):
            function(y_true, y_pred)


def test_gini_of_a_constant_target_is_an_error():
    with pytest.raises(ValueError, match="y_true holds a single value"):
        lossfns.normalized_gini([2.0, 2.0, 2.0], [1.0, 2.0, 3.0])


@pytest.mark.parametrize(
    ("n_bins", "error", "message"),
    [
        (0, ValueError, r"n_bins must lie in \[1, 5\]"),
        (6, ValueError, r"n_bins must lie in \[1, 5\]"),
        (2.0, TypeError, "n_bins must be an integer"),
        (True, TypeError, "n_bins must be an integer"),
    ],
)
def test_bad_decile_bins(n_bins, error, message):
    with pytest.raises(error, match=message):
        lossfns.decile_table([1.0, 2, 3, 4, 5], [1.0, 2, 3, 4, 5], n_bins=n_bins)
    with pytest.raises(ValueError, match="shapes differ"):
        lossfns.decile_table([1.0, 2, 3], [1.0, 2])


def test_ziln_quantile_of_a_level_below_the_float32_range():
    # q = 1e-300 is a valid level, though not a float32 number: it is read in float64 (the
    # computation's precision), not cast through float32 (which raised under strict
    # floating point); the quantile is 0 where q <= 1 - p, here for every row
    logits = np.float32([[0.0, 1.0, 0.5], [3.0, -2.0, 0.0]])
    with np.errstate(all="raise"):
        quantile = lossfns.ziln_quantile(logits, 1e-300)
    assert quantile.dtype == np.float32 and np.all(quantile == 0)


def test_ziln_terms_beyond_the_range_before_their_weight():
    """A term or derivative beyond the float range that its weight brings back is
    evaluated in the core's wider dtype, as for every loss: the formula computed in
    float64 whatever it was handed, which undid that (0 for 6.6e-40, inf for 3.7e278)."""
    with mpmath.workdps(50):
        big = np.finfo(np.float64).max
        # a non-buyer at l0 = -800: softplus(-800) = 3.7e-348 and sigmoid(-800), times 1.8e308
        value = lossfns.ziln_loss([0.0], [[-800.0, 0.0, 0.0]], sample_weight=[big], reduction="none")
        grad = lossfns.ziln_loss.grad([0.0], [[-800.0, 0.0, 0.0]], sample_weight=[big], reduction="none")
        truth_value = mpmath.log1p(mpmath.exp(-800)) * big
        truth_grad = big / (1 + mpmath.exp(800))
        assert abs(value[0] - truth_value) <= 4 * EPS * truth_value
        assert abs(grad[0, 0] - truth_grad) <= 4 * EPS * truth_grad
        # a buyer (y = 1) at mu = max, l2 = 0: d/dmu = -z / sigma = max / log(2)^2, times 1e-30
        grad = lossfns.ziln_loss.grad([1.0], [[0.0, big, 0.0]], sample_weight=[1e-30], reduction="none")
        truth_mu = mpmath.mpf(big) / mpmath.log(2) ** 2 * mpmath.mpf(1e-30)
        assert abs(grad[0, 1] - truth_mu) <= 8 * EPS * truth_mu
