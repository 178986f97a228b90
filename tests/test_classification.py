"""lossfns.classification: values, derivatives, extreme inputs and errors."""

import mpmath
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import special

import lossfns

bce = lossfns.binary_cross_entropy_with_logits
EPS = np.finfo(np.float64).eps

labels = st.floats(0, 1)
logits = st.floats(-50, 50)


def bce_reference(y, z, pos_weight=1):
    """w y softplus(-z) + (1 - y) softplus(z) at 60 digits, free of cancellation; inputs exact."""
    with mpmath.workdps(60):
        y, z, w = mpmath.mpf(float(y)), mpmath.mpf(float(z)), mpmath.mpf(float(pos_weight))
        return w * y * mpmath.log1p(mpmath.exp(-z)) + (1 - y) * mpmath.log1p(mpmath.exp(z))


def sigmoid_reference(z):
    """sigmoid(z) at 60 digits (use sigmoid_reference(-z) for 1 - sigmoid(z): no cancellation)."""
    with mpmath.workdps(60):
        return 1 / (1 + mpmath.exp(-mpmath.mpf(float(z))))


def scipy_form(y, z, pos_weight=1.0):
    return -(pos_weight * y * special.log_expit(z) + (1 - y) * special.log_expit(-z))


# ------------------------------------------------------------------ values


@pytest.mark.parametrize(
    ("y", "z", "expected"),
    [
        (1.0, 0.0, np.log(2)),
        (0.0, 0.0, np.log(2)),
        (0.5, 0.0, np.log(2)),
        (1.0, -1000.0, 1000.0),
        (0.0, 1000.0, 1000.0),
        (0.0, -1000.0, 0.0),  # e^-1000 underflows: the true value rounds to 0
        (1.0, np.log(4.0), np.log(1.25)),  # sigmoid = 0.8
        (0.0, np.log(3.0 / 7.0), np.log(1 / 0.7)),  # sigmoid = 0.3
    ],
)
def test_hand_derived_values(y, z, expected):
    assert bce(y, z) == pytest.approx(expected, rel=2 * EPS, abs=0)


@pytest.mark.parametrize("y", [0.0, 1.0, 0.3, 1e-9])
@pytest.mark.parametrize(
    "z", [-1e4, -745.0, -700.0, -40.0, -36.9, -1e-8, 0.0, 3e-300, 1.0, 20.0, 37.0, 710.0, 1e4]
)
def test_extreme_logits_match_60_digit_reference(y, z):
    exact = bce_reference(y, z)
    value = bce(y, z)
    if exact < np.finfo(np.float64).tiny:
        assert value == 0 or abs(value - float(exact)) <= 2 * np.finfo(np.float64).smallest_subnormal
    else:
        # exp and log1p are within an ulp each, and the sum rounds once more
        assert abs(value - exact) <= 2 * EPS * exact


@pytest.mark.parametrize("y", [0.0, 1.0])
@pytest.mark.parametrize("z", [-1e4, -745.0, -700.0, -40.0, -1.0, 0.0, 2.5, 40.0, 700.0, 1e4])
def test_extreme_logit_derivatives_match_reference(y, z):
    s, s_neg = sigmoid_reference(z), sigmoid_reference(-z)
    exact_grad, exact_hess = (1 - y) * s - y * s_neg, s * s_neg
    grad, hess = bce.grad(y, z), bce.hess(y, z)
    # hard labels: sigma(z) - y is sigma(z) or -sigma(-z), no cancellation
    assert abs(grad - exact_grad) <= 2 * EPS * abs(exact_grad) + np.finfo(np.float64).smallest_subnormal
    assert abs(hess - exact_hess) <= 4 * EPS * exact_hess + np.finfo(np.float64).smallest_subnormal


@given(hnp.arrays(np.float64, st.integers(1, 30), elements=labels), st.data())
def test_matches_scipy_log_expit(y, data):
    z = data.draw(hnp.arrays(np.float64, y.shape, elements=st.floats(-700, 700)))
    np.testing.assert_allclose(bce(y, z, reduction="none"), scipy_form(y, z), rtol=4 * EPS, atol=1e-300)


@given(labels, logits, st.floats(0, 10))
def test_pos_weight_matches_its_definition(y, z, w):
    assert bce(y, z, pos_weight=w) == pytest.approx(float(bce_reference(y, z, w)), rel=4 * EPS, abs=1e-300)


def test_pos_weight_one_is_the_plain_loss_and_columns_get_their_own_weight():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, size=(6, 3)).astype(float)
    z = rng.normal(size=(6, 3))
    np.testing.assert_allclose(bce(y, z, pos_weight=1.0), bce(y, z), rtol=1e-15)
    w = np.array([1.0, 2.0, 0.5])
    np.testing.assert_allclose(
        bce(y, z, pos_weight=w, reduction="none"), scipy_form(y, z, w[None, :]), rtol=4 * EPS
    )


# ----------------------------------------------------------------- derivatives


def central_difference(f, z, h):
    return (f(z + h) - f(z - h)) / (2 * h)


@given(labels, logits, st.one_of(st.none(), st.floats(0, 5)))
def test_grad_and_hess_match_finite_differences(y, z, w):
    h = 1e-5
    # truncation h^2/6 |f'''| <= 2e-11 * (1 + w); rounding eps |f| / h <= 2.2e-11 * (1 + w) * 51
    tolerance = 2e-9 * (1 + (w or 0))
    fd_grad = central_difference(lambda t: bce(y, t, pos_weight=w), z, h)
    fd_hess = central_difference(lambda t: bce.grad(y, t, pos_weight=w), z, h)
    assert abs(bce.grad(y, z, pos_weight=w) - fd_grad) <= tolerance
    assert abs(bce.hess(y, z, pos_weight=w) - fd_hess) <= tolerance


@given(labels, logits)
def test_grad_is_sigmoid_minus_label(y, z):
    assert bce.grad(y, z) == pytest.approx(special.expit(z) - y, rel=0, abs=2 * EPS)


@given(labels, logits, st.floats(0, 5))
def test_grad_with_pos_weight(y, z, w):
    s = special.expit(z)
    expected = (1 - y) * s - w * y * (1 - s)
    assert bce.grad(y, z, pos_weight=w) == pytest.approx(expected, rel=0, abs=8 * EPS * (1 + w))


# ------------------------------------------------------------------ properties


@given(hnp.arrays(np.float64, st.integers(1, 20), elements=labels), st.data())
def test_non_negative_and_convex(y, data):
    z = data.draw(hnp.arrays(np.float64, y.shape, elements=st.floats(-1e4, 1e4)))
    assert np.all(bce(y, z, reduction="none") >= 0)
    assert np.all(bce.hess(y, z, reduction="none") >= 0)


@given(labels, logits)
def test_minimised_at_the_logit_of_the_label(y, z):
    # The loss minus its minimum H(y) is KL((y, 1-y) || (p, 1-p)) >= 0, zero at p = y.
    entropy = -special.xlogy(y, y) - special.xlogy(1 - y, 1 - y)
    assert bce(y, z) >= entropy - 4 * EPS * max(1.0, entropy)
    if 0 < y < 1:
        assert bce(y, special.logit(y)) == pytest.approx(entropy, rel=1e-12)
        assert abs(bce.grad(y, special.logit(y))) <= 4 * EPS


@settings(max_examples=50)
@given(st.sampled_from([np.float32, np.float64]), st.integers(1, 40), st.data())
def test_float32_agrees_with_float64_to_float32_precision(dtype, n, data):
    y = data.draw(hnp.arrays(dtype, n, elements=st.floats(0, 1, width=32)))
    z = data.draw(hnp.arrays(dtype, n, elements=st.floats(-80, 80, width=32)))
    single, double = bce(y, z, reduction="none"), bce(y.astype(float), z.astype(float), reduction="none")
    assert single.dtype == dtype
    tolerance = 4 * np.finfo(dtype).eps
    np.testing.assert_allclose(single, double, rtol=tolerance, atol=np.finfo(dtype).tiny)


def test_multilabel_input_keeps_its_shape():
    y, z = np.eye(3), np.arange(9.0).reshape(3, 3) - 4
    assert bce(y, z, reduction="none").shape == (3, 3)
    assert bce.grad(y, z).shape == bce.hess(y, z).shape == (3, 3)


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"y_true": [1.5, 0.0]}, ValueError, r"y_true must lie in \[0, 1\]; found 1.5"),
        ({"y_true": [-1.0, 1.0]}, ValueError, "y_true must lie in"),
        ({"pos_weight": -1.0}, ValueError, "pos_weight must be non-negative"),
        ({"pos_weight": [1.0, 2.0, 3.0]}, ValueError, "pos_weight must be a scalar or have shape"),
        ({"pos_weight": [[1.0, 2.0]]}, ValueError, "pos_weight must be a scalar or have shape"),
        ({"pos_weight": np.nan}, ValueError, "pos_weight contains NaN"),
        ({"pos_weight": "2"}, TypeError, "pos_weight must hold real numbers"),
    ],
)
def test_bad_labels_and_pos_weight(kwargs, error, message):
    arguments = {"y_true": [1.0, 0.0], "logits": [0.5, -0.5], **kwargs}
    for method in (bce, bce.grad, bce.hess, bce.value_and_grad):
        with pytest.raises(error, match=message):
            method(**arguments)


# ------------------------------------------------------------ against PyTorch


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("with_pos_weight", [False, True])
def test_matches_torch_value_and_autograd(reduction, with_pos_weight):
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    rng = np.random.default_rng(4)
    y = rng.uniform(size=(50, 4))
    z = rng.normal(scale=8, size=(50, 4))
    pos_weight = rng.uniform(0, 3, size=4) if with_pos_weight else None

    z_torch = torch.tensor(z, requires_grad=True)
    expected = functional.binary_cross_entropy_with_logits(
        z_torch,
        torch.tensor(y),
        pos_weight=None if pos_weight is None else torch.tensor(pos_weight),
        reduction=reduction,
    )
    expected.sum().backward()
    value, grad = bce.value_and_grad(y, z, pos_weight=pos_weight, reduction=reduction)
    # torch evaluates (1 - y) z + softplus(-z), which cancels for soft labels: on this data it
    # is up to 11 ulp from a 60-digit reference where lossfns is within 1 ulp
    np.testing.assert_allclose(value, expected.detach().numpy(), rtol=16 * EPS)
    # (1 - y) sigma(z) - w y sigma(-z) cancels near its zero: an absolute error of a few eps
    # times (1 + w), divided by the number of terms under the mean
    scale = (1 + (0 if pos_weight is None else pos_weight.max())) / (z.size if reduction == "mean" else 1)
    np.testing.assert_allclose(grad, z_torch.grad.numpy(), rtol=8 * EPS, atol=4 * EPS * scale)


# =========================================================================================
# The rest of Part II: probabilities, softmax, margins, focal.
# =========================================================================================

bce_prob = lossfns.binary_cross_entropy
sce = lossfns.softmax_cross_entropy
mpce = lossfns.multi_positive_softmax_cross_entropy
logistic = lossfns.logistic_loss
hinge = lossfns.hinge
sq_hinge = lossfns.squared_hinge
focal = lossfns.focal_loss
sfocal = lossfns.softmax_focal_loss
TINY = np.finfo(np.float64).tiny


def mp(x):
    """A float as an mpmath number, exactly."""
    return mpmath.mpf(float(x))


def torch_or_skip():
    return pytest.importorskip("torch")


# ------------------------------------------------------------ binary_cross_entropy


@pytest.mark.parametrize(
    ("y", "p", "expected"),
    [
        (1.0, 0.8, -np.log(0.8)),  # the notes' worked examples: 0.223 and 0.357
        (0.0, 0.3, -np.log1p(-0.3)),
        (1.0, 1.0, 0.0),
        (0.0, 0.0, 0.0),
        (1.0, 0.0, np.inf),
        (0.0, 1.0, np.inf),
        (0.5, 0.0, np.inf),
        (1.0, 1e-300, 300 * np.log(10)),
        (1.0, 5e-324, 744.4400719213812),  # -log of the smallest subnormal, 2^-1074
    ],
)
def test_bce_prob_hand_values(y, p, expected):
    assert bce_prob(y, p) == pytest.approx(expected, rel=2 * EPS, abs=0)


def test_smallest_subnormal_reference_value():
    assert float(-mpmath.log(mp(5e-324))) == 744.4400719213812


@pytest.mark.parametrize("y", [0.0, 1.0, 0.3, 1e-9])
@pytest.mark.parametrize("p", [1e-300, 1e-100, 1e-20, 1e-8, 0.3, 0.5, 0.9, 1 - 1e-9, 1 - 2**-53])
def test_bce_prob_matches_60_digit_reference(y, p):
    with mpmath.workdps(60):
        exact = -(mp(y) * mpmath.log(mp(p)) + (1 - mp(y)) * mpmath.log1p(-mp(p)))
    # two non-negative terms, each within about an ulp (xlogy, xlog1py), one rounding for the sum
    assert abs(bce_prob(y, p) - exact) <= 4 * EPS * exact


def test_bce_prob_derivatives_at_the_ends_are_finite_where_the_truth_is():
    # y = 0 at p = 0: l = -log(1 - p), l' = 1/(1 - p) = 1, l'' = 1; symmetric at y = 1, p = 1
    assert bce_prob.grad(0.0, 0.0) == 1.0 and bce_prob.hess(0.0, 0.0) == 1.0
    assert bce_prob.grad(1.0, 1.0) == -1.0 and bce_prob.hess(1.0, 1.0) == 1.0
    assert bce_prob.grad(1.0, 0.0) == -np.inf
    assert bce_prob.grad(1.0, 1e-300) == -1 / 1e-300  # correctly rounded, no overflow


@given(st.floats(0, 1), st.floats(0.1, 0.9))
def test_bce_prob_grad_hess_match_finite_differences(y, p):
    h = 1e-6
    # grad: truncation h^2/6 |l'''| <= 1e-12/6 * 2/0.1^3 = 3.3e-10, rounding eps |l| / h <= 5e-10
    fd_grad = central_difference(lambda t: bce_prob(y, t), p, h)
    assert abs(bce_prob.grad(y, p) - fd_grad) <= 2e-9
    # hess: truncation 1e-12/6 * 6/0.1^4 = 1e-8, rounding eps |l'| / h <= 2.2e-9
    fd_hess = central_difference(lambda t: bce_prob.grad(y, t), p, h)
    assert abs(bce_prob.hess(y, p) - fd_hess) <= 2e-8


@given(st.floats(0, 1), st.floats(0.01, 0.99))
def test_bce_prob_grad_is_the_residual_over_the_variance(y, p):
    assert bce_prob.grad(y, p) == pytest.approx((p - y) / (p * (1 - p)), rel=8 * EPS, abs=8 * EPS / (p * (1 - p)))


@given(labels, st.floats(0, 1, exclude_min=True, exclude_max=True))
def test_bce_prob_matches_60_digit_reference_anywhere(y, p):
    with mpmath.workdps(60):
        exact = -(mp(y) * mpmath.log(mp(p)) + (1 - mp(y)) * mpmath.log1p(-mp(p)))
    assert abs(bce_prob(y, p) - exact) <= 4 * EPS * exact + 1e-300


@given(labels, st.floats(0, 1))
def test_bce_prob_is_minimised_at_the_label(y, p):
    entropy = -special.xlogy(y, y) - special.xlog1py(1 - y, -y)
    assert bce_prob(y, p) >= entropy - 4 * EPS * max(1.0, entropy)


def test_bce_prob_matches_scikit_learn_log_loss():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(10)
    y = rng.integers(0, 2, 200)
    p = rng.uniform(0.001, 0.999, 200)  # away from scikit-learn's clipping at eps
    w = rng.uniform(0, 2, 200)
    assert bce_prob(y, p) == pytest.approx(metrics.log_loss(y, p), rel=8 * EPS)
    assert bce_prob(y, p, sample_weight=w) == pytest.approx(metrics.log_loss(y, p, sample_weight=w), rel=8 * EPS)


def test_scikit_learn_log_loss_clips_where_the_library_is_exact():
    metrics = pytest.importorskip("sklearn.metrics")
    y, p = np.array([1, 0]), np.array([1e-300, 1e-300])
    exact = bce_prob(y, p)
    assert exact == pytest.approx((300 * np.log(10) + 1e-300) / 2, rel=2 * EPS)
    assert metrics.log_loss(y, p) < exact / 10  # clipped at machine epsilon: about 18, not 345


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_prob_matches_torch_value_and_autograd(reduction):
    torch = torch_or_skip()
    rng = np.random.default_rng(11)
    y = rng.uniform(size=(40, 3))
    p = rng.uniform(0.01, 0.99, size=(40, 3))  # torch clamps log at -100; stay far from that
    p_torch = torch.tensor(p, requires_grad=True)
    expected = torch.nn.functional.binary_cross_entropy(p_torch, torch.tensor(y), reduction=reduction)
    expected.sum().backward()
    value, grad = bce_prob.value_and_grad(y, p, reduction=reduction)
    # torch computes (1 - y) log(1 - p) with 1 - p rounded first: a few ulp of |l| <= 4.6
    np.testing.assert_allclose(value, expected.detach().numpy(), rtol=16 * EPS)
    # (1 - y)/(1 - p) - y/p cancels near p = y: the error is relative to the larger part
    scale = (y / p + (1 - y) / (1 - p)) / (y.size if reduction == "mean" else 1)
    assert np.all(np.abs(grad - p_torch.grad.numpy()) <= 8 * EPS * scale)


def test_torch_clamps_the_log_where_the_library_is_exact():
    torch = torch_or_skip()
    clamped = torch.nn.functional.binary_cross_entropy(torch.tensor([1e-300]), torch.tensor([1.0]))
    assert float(clamped) == 100.0  # log clamped at -100; the truth is 690.8
    assert bce_prob(1.0, 1e-300) == pytest.approx(690.7755278982137, rel=2 * EPS)


# ------------------------------------------------------------ softmax_cross_entropy


def softmax_ce_reference(target, row, weight=None):
    """sum_c w_c t_c (logsumexp(z) - z_c) at 60 digits (the subtraction is harmless there)."""
    with mpmath.workdps(60):
        zs = [mp(v) for v in row]
        lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in zs))
        ws = [1] * len(zs) if weight is None else [mp(v) for v in weight]
        value = mpmath.fsum(w * mp(t) * (lse - v) for w, t, v in zip(ws, target, zs))
        softmax = [mpmath.exp(v - lse) for v in zs]
        total = mpmath.fsum(w * mp(t) for w, t in zip(ws, target))
        grad = [total * s - w * mp(t) for s, w, t in zip(softmax, ws, target)]
        return value, grad


def test_softmax_ce_worked_example():
    logits = np.log([[0.1, 0.7, 0.2]])
    assert sce([1], logits) == pytest.approx(-np.log(0.7), rel=4 * EPS)
    np.testing.assert_allclose(sce.grad([1], logits), [[0.1, -0.3, 0.2]], rtol=0, atol=2 * EPS)
    assert sce([[0.0, 1.0, 0.0]], logits) == sce([1], logits)


EXTREME_ROWS = [
    [1e4, -1e4, 0.0],
    [-1e4, 1e4, 1e4],
    [40.0, 0.0, 0.0],
    [800.0, 0.0, -800.0],
    [-745.0, 0.0, 3.0],
    [1e-8, 0.0, -1e-8],
    [0.0, 0.0, 0.0],
    [36.9, -2.5, 37.0],
]


@pytest.mark.parametrize("row", EXTREME_ROWS)
@pytest.mark.parametrize("label", [0, 1, 2])
def test_softmax_ce_matches_60_digit_reference_at_extreme_logits(row, label):
    exact, exact_grad = softmax_ce_reference(np.eye(3)[label], row)
    value, grad = sce.value_and_grad([label], [row], reduction="sum")
    if exact < TINY:
        assert value == 0 or abs(value - float(exact)) <= 2 * np.finfo(np.float64).smallest_subnormal
    else:
        # a sum of two non-negative terms (gap + log1p(rest)), each within an ulp
        assert abs(value - exact) <= 4 * EPS * exact
    # softmax - onehot: exact entries to a few ulp (the true-class entry is -(1 - p_y));
    # 1e-55: the 60-digit reference's own rounding where its entries cancel
    for g, e in zip(grad[0], exact_grad):
        assert abs(g - e) <= 4 * EPS * abs(e) + 1e-55


def test_softmax_ce_keeps_the_relative_accuracy_of_a_tiny_loss():
    # logsumexp(z) - z_y cancels to 0 here; the library returns e^-40 to an ulp
    exact = float(mpmath.log1p(2 * mpmath.exp(-40)))
    assert sce([0], [[40.0, 0.0, 0.0]]) == pytest.approx(exact, rel=2 * EPS)
    assert special.logsumexp([40.0, 0.0, 0.0]) - 40.0 == 0.0


@given(st.integers(0, 1), st.floats(-700, 700))
def test_two_class_softmax_ce_is_bce_with_logits(label, z):
    # softmax over (0, z) has p_1 = sigma(z)
    value = sce([label], [[0.0, z]])
    assert value == pytest.approx(float(bce_reference(label, z)), rel=4 * EPS, abs=1e-300)
    assert value == pytest.approx(bce(float(label), z), rel=4 * EPS, abs=1e-300)
    grad = sce.grad([label], [[0.0, z]])[0]
    assert grad[1] == pytest.approx(bce.grad(float(label), z), rel=4 * EPS, abs=1e-300)
    assert grad[0] == pytest.approx(-grad[1], rel=2 * EPS)  # -(1 - p_1) and p_1, or p_0 and -(1 - p_0)


@given(hnp.arrays(np.float64, (5, 4), elements=st.floats(-30, 30)), st.floats(-100, 100))
def test_softmax_ce_is_shift_invariant_and_its_gradient_rows_sum_to_zero(z, shift):
    labels_ = np.array([0, 1, 2, 3, 1])
    value = sce(labels_, z, reduction="none")
    # shifting the row moves each logit by one rounding: eps (|z| + |shift|) in the loss
    np.testing.assert_allclose(sce(labels_, z + shift, reduction="none"), value, rtol=0, atol=8 * EPS * 130)
    grad = sce.grad(labels_, z, reduction="none")
    np.testing.assert_allclose(grad.sum(axis=1), 0, rtol=0, atol=4 * EPS)


@settings(max_examples=50)
@given(hnp.arrays(np.float64, (3, 4), elements=st.floats(0.01, 1)), hnp.arrays(np.float64, (3, 4), elements=st.floats(-10, 10)))
def test_softmax_ce_is_at_least_the_entropy_of_the_target(raw, z):
    t = raw / raw.sum(axis=1, keepdims=True)
    entropy = -(t * np.log(t)).sum(axis=1)
    assert np.all(sce(t, z, reduction="none") >= entropy - 1e-13)  # Gibbs' inequality
    at_target = sce(t, np.log(t), reduction="none")  # equality at softmax(z) = t
    np.testing.assert_allclose(at_target, entropy, rtol=1e-13)


def test_softmax_ce_grad_matches_finite_differences():
    rng = np.random.default_rng(12)
    z, t = rng.normal(scale=3, size=(6, 5)), rng.dirichlet(np.ones(5), size=6)
    cw = rng.uniform(0.2, 2, 5)
    h = 1e-6
    for kwargs in ({}, {"label_smoothing": 0.2}, {"class_weight": cw}, {"class_weight": cw, "label_smoothing": 0.1}):
        for target in (t, np.array([0, 4, 2, 2, 1, 3])):
            grad = sce.grad(target, z, reduction="sum", **kwargs)
            for i, j in [(0, 0), (1, 4), (3, 2), (5, 1)]:
                bump = np.zeros_like(z)
                bump[i, j] = h
                fd = (sce(target, z + bump, reduction="sum", **kwargs) - sce(target, z - bump, reduction="sum", **kwargs)) / (2 * h)
                # truncation h^2/6 |l'''| < 1e-12 * 2; rounding eps * sum|l| / h < 2.2e-16 * 60 / 1e-6
                assert abs(grad[i, j] - fd) <= 2e-8


SCE_OPTIONS = ({}, {"label_smoothing": 0.2}, {"class_weight": "cw"}, {"class_weight": "cw", "label_smoothing": 0.1})


@pytest.mark.parametrize("options", SCE_OPTIONS, ids=["plain", "smoothing", "class_weight", "both"])
@pytest.mark.parametrize("rows", [False, True], ids=["indices", "probability_rows"])
def test_softmax_ce_hess_is_the_diagonal_of_the_jacobian_of_grad(options, rows):
    # the diagonal of the Hessian of sum_c u_c (-log p_c) is U p_c (1 - p_c), U = sum_c u_c:
    # checked against central differences of .grad, entry by entry
    rng = np.random.default_rng(31)
    z = rng.normal(scale=3, size=(6, 5))
    target = rng.dirichlet(np.ones(5), size=6) if rows else np.array([0, 4, 2, 2, 1, 3])
    kwargs = {k: rng.uniform(0.2, 2, 5) if v == "cw" else v for k, v in options.items()}
    hess = sce.hess(target, z, reduction="sum", **kwargs)
    grad, hess_too = sce.grad_hess(target, z, reduction="sum", **kwargs)
    np.testing.assert_array_equal(grad, sce.grad(target, z, reduction="sum", **kwargs))
    np.testing.assert_array_equal(hess_too, hess)
    p = special.softmax(z, axis=1)
    u = target if rows else np.eye(5)[target]
    if "label_smoothing" in kwargs:
        u = (1 - kwargs["label_smoothing"]) * u + kwargs["label_smoothing"] / 5
    if "class_weight" in kwargs:
        u = u * kwargs["class_weight"]
    np.testing.assert_allclose(hess, u.sum(axis=1, keepdims=True) * p * (1 - p), rtol=16 * EPS)
    h = 1e-6
    for i in range(6):
        for j in range(5):
            bump = np.zeros_like(z)
            bump[i, j] = h
            up = sce.grad(target, z + bump, reduction="sum", **kwargs)[i, j]
            down = sce.grad(target, z - bump, reduction="sum", **kwargs)[i, j]
            # |grad| <= U < 2.2: rounding eps * 2.2 / h < 5e-10; truncation h^2/6 |g'''|,
            # with |g'''| <= U (third derivatives of the softmax are below 1), < 4e-13
            assert abs(hess[i, j] - (up - down) / (2 * h)) <= 1e-9


def test_softmax_ce_hess_keeps_its_relative_accuracy_at_extreme_logits():
    # at the argmax 1 - p = rho / (1 + rho), not 1 - p rounded: p (1 - p) ~ 8e-18 here
    with mpmath.workdps(60):
        small = mpmath.exp(-40)
        p_top = 1 / (1 + 2 * small)
        p_other = small * p_top
        exact = [p_top * (1 - p_top), p_other * (1 - p_other), p_other * (1 - p_other)]
    for target in ([0], [[1.0, 0.0, 0.0]], [[0.5, 0.25, 0.25]]):
        hess = sce.hess(target, [[40.0, 0.0, 0.0]], reduction="sum")[0]
        for h, e in zip(hess, exact):
            assert abs(h - e) <= 4 * EPS * e
    assert sce.hess([0], [[1e308, -1e308]], reduction="sum").tolist() == [[0.0, 0.0]]


def test_label_smoothing_is_the_smoothed_target():
    rng = np.random.default_rng(13)
    z, y = rng.normal(size=(8, 4)), rng.integers(0, 4, 8)
    t = 0.9 * np.eye(4)[y] + 0.1 / 4
    np.testing.assert_allclose(sce(y, z, label_smoothing=0.1, reduction="none"), sce(t, z, reduction="none"), rtol=4 * EPS)
    rows = rng.dirichlet(np.ones(4), size=8)
    np.testing.assert_allclose(
        sce(rows, z, label_smoothing=0.3, reduction="none"), sce(0.7 * rows + 0.3 / 4, z, reduction="none"), rtol=4 * EPS
    )
    assert sce(y, z, label_smoothing=1.0) == pytest.approx(sce(np.full((8, 4), 0.25), z), rel=4 * EPS)


def test_class_weight_mean_divides_by_the_weights_of_the_samples_classes():
    rng = np.random.default_rng(14)
    z, y = rng.normal(size=(10, 3)), rng.integers(0, 3, 10)
    cw, sw = np.array([0.2, 1.0, 3.0]), rng.uniform(0, 2, 10)
    plain = sce(y, z, reduction="none")
    np.testing.assert_allclose(sce(y, z, class_weight=cw, reduction="none"), cw[y] * plain, rtol=2 * EPS)
    assert sce(y, z, class_weight=cw) == pytest.approx((cw[y] * plain).sum() / cw[y].sum(), rel=4 * EPS)
    assert sce(y, z, class_weight=cw, sample_weight=sw) == pytest.approx(
        (sw * cw[y] * plain).sum() / (sw * cw[y]).sum(), rel=4 * EPS
    )
    np.testing.assert_allclose(
        sce.grad(y, z, class_weight=cw), cw[y][:, None] * sce.grad(y, z, reduction="none") / cw[y].sum(), rtol=4 * EPS, atol=1e-17
    )
    # probability rows: torch divides by the number of samples
    t = np.eye(3)[y]
    assert sce(t, z, class_weight=cw) == pytest.approx((cw[y] * plain).mean(), rel=4 * EPS)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.15])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("soft", [False, True])
def test_softmax_ce_matches_torch_cross_entropy(reduction, smoothing, weighted, soft):
    torch = torch_or_skip()
    rng = np.random.default_rng(15)
    z = rng.normal(scale=3, size=(30, 5))
    y = rng.dirichlet(np.ones(5), size=30) if soft else rng.integers(0, 5, 30)
    cw = rng.uniform(0.1, 3, 5) if weighted else None
    z_torch = torch.tensor(z, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(
        z_torch, torch.tensor(y), weight=None if cw is None else torch.tensor(cw),
        label_smoothing=smoothing, reduction=reduction,
    )
    expected.sum().backward()
    value, grad = sce.value_and_grad(y, z, label_smoothing=smoothing, class_weight=cw, reduction=reduction)
    # torch forms log_softmax = z - logsumexp(z), which cancels for the likely class: its
    # terms are off by a few eps * |logsumexp| (< 20 here), so compare at 64 eps
    np.testing.assert_allclose(value, expected.detach().numpy(), rtol=64 * EPS, atol=64 * EPS)
    np.testing.assert_allclose(grad, z_torch.grad.numpy(), rtol=64 * EPS, atol=8 * EPS)


# ------------------------------------------------ multi_positive_softmax_cross_entropy


def test_multi_positive_is_the_mean_negative_log_softmax_of_the_positives():
    rng = np.random.default_rng(16)
    z = rng.normal(scale=2, size=(20, 6))
    y = (rng.uniform(size=(20, 6)) < 0.4).astype(int)
    y[np.arange(20), rng.integers(0, 6, 20)] = 1
    m = y.sum(axis=1)
    expected = -(y * special.log_softmax(z, axis=1)).sum(axis=1) / m
    np.testing.assert_allclose(mpce(y, z, reduction="none"), expected, rtol=8 * EPS)
    np.testing.assert_allclose(mpce.grad(y, z, reduction="none"), special.softmax(z, axis=1) - y / m[:, None], rtol=8 * EPS, atol=2 * EPS)
    # unnormalised variant: weigh each row by its number of positives and sum
    unnormalised = -(y * special.log_softmax(z, axis=1)).sum()
    assert mpce(y, z, sample_weight=m, reduction="sum") == pytest.approx(unnormalised, rel=8 * EPS)


def test_multi_positive_with_one_positive_is_softmax_ce():
    rng = np.random.default_rng(17)
    z, labels_ = rng.normal(size=(7, 4)), rng.integers(0, 4, 7)
    np.testing.assert_array_equal(mpce(np.eye(4)[labels_], z, reduction="none"), sce(labels_, z, reduction="none"))
    bools = np.eye(4, dtype=bool)[labels_]
    np.testing.assert_array_equal(mpce.grad(bools, z), sce.grad(labels_, z))


@pytest.mark.parametrize("row", EXTREME_ROWS)
def test_multi_positive_matches_60_digit_reference(row):
    y = [1, 0, 1]
    exact, exact_grad = softmax_ce_reference([0.5, 0, 0.5], row)
    value, grad = mpce.value_and_grad([y], [row], reduction="sum")
    assert abs(value - exact) <= 4 * EPS * exact + TINY
    for g, e in zip(grad[0], exact_grad):
        assert abs(g - e) <= 4 * EPS * abs(e) + 1e-55  # as above


def test_multi_positive_matches_torch_autograd():
    torch = torch_or_skip()
    rng = np.random.default_rng(18)
    z = rng.normal(scale=3, size=(12, 5))
    y = np.zeros((12, 5))
    y[:, :2] = 1
    y[::3, 4] = 1
    z_torch = torch.tensor(z, requires_grad=True)
    y_torch = torch.tensor(y)
    per_row = -(y_torch * torch.log_softmax(z_torch, dim=1)).sum(dim=1) / y_torch.sum(dim=1)
    per_row.mean().backward()
    value, grad = mpce.value_and_grad(y, z)
    assert value == pytest.approx(float(per_row.mean().detach()), rel=64 * EPS)
    np.testing.assert_allclose(grad, z_torch.grad.numpy(), rtol=64 * EPS, atol=2 * EPS)


# ----------------------------------------------------------------------- margin losses


@given(hnp.arrays(np.float64, st.integers(1, 30), elements=st.sampled_from([-1.0, 1.0])), st.data())
def test_logistic_is_bce_with_logits_at_the_shifted_label(y, data):
    f = data.draw(hnp.arrays(np.float64, y.shape, elements=st.floats(-1e4, 1e4)))
    y01 = (y + 1) / 2
    np.testing.assert_array_equal(logistic(y, f, reduction="none"), bce(y01, f, reduction="none"))
    np.testing.assert_array_equal(logistic.grad(y, f, reduction="none"), bce.grad(y01, f, reduction="none"))
    np.testing.assert_array_equal(logistic.hess(y, f, reduction="none"), bce.hess(y01, f, reduction="none"))


@pytest.mark.parametrize("y", [-1.0, 1.0])
@pytest.mark.parametrize("f", [-1e4, -745.0, -40.0, -1.0, 0.0, 1e-8, 2.0, 37.0, 709.0, 1e4])
def test_logistic_matches_60_digit_reference(y, f):
    with mpmath.workdps(60):
        t = -mp(y) * mp(f)
        exact = mpmath.log1p(mpmath.exp(t))
        exact_grad = -mp(y) / (1 + mpmath.exp(-t))
    value, grad = logistic.value_and_grad(y, f)
    if exact < TINY:
        assert value == 0 or abs(value - float(exact)) <= 2 * np.finfo(np.float64).smallest_subnormal
    else:
        assert abs(value - exact) <= 2 * EPS * exact
    assert abs(grad - exact_grad) <= 2 * EPS * abs(exact_grad) + np.finfo(np.float64).smallest_subnormal


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_logistic_matches_torch_soft_margin_loss(reduction):
    torch = torch_or_skip()
    rng = np.random.default_rng(19)
    y = rng.choice([-1.0, 1.0], size=(25, 2))
    f = rng.normal(scale=5, size=(25, 2))
    f_torch = torch.tensor(f, requires_grad=True)
    expected = torch.nn.functional.soft_margin_loss(f_torch, torch.tensor(y), reduction=reduction)
    expected.sum().backward()
    value, grad = logistic.value_and_grad(y, f, reduction=reduction)
    # torch: log(1 + exp(-y f)) with log1p; loses relative accuracy only for exp overflow
    np.testing.assert_allclose(value, expected.detach().numpy(), rtol=8 * EPS)
    np.testing.assert_allclose(grad, f_torch.grad.numpy(), rtol=8 * EPS)


@given(st.sampled_from([-1.0, 1.0]), st.floats(-30, 30))
def test_logistic_hess_matches_finite_difference(y, f):
    h = 1e-5
    # as for BCE: truncation < 2e-11, rounding < 2.2e-11 * 31
    assert abs(logistic.hess(y, f) - central_difference(lambda t: logistic.grad(y, t), f, h)) <= 2e-9


def test_hinge_and_squared_hinge_worked_examples():
    y, f = np.array([1.0, -1.0]), np.array([0.8, 0.3])
    np.testing.assert_allclose(hinge(y, f, reduction="none"), [1 - 0.8, 1 + 0.3], rtol=0, atol=0)
    np.testing.assert_allclose(sq_hinge(y, f, reduction="none"), [(1 - 0.8) ** 2, (1 + 0.3) ** 2], rtol=0, atol=0)
    np.testing.assert_array_equal(hinge.grad(y, f, reduction="none"), [-1.0, 1.0])
    np.testing.assert_array_equal(hinge.grad(y, [0.5, 0.5], reduction="none"), [-1.0, 1.0])
    np.testing.assert_array_equal(sq_hinge.grad(y, [0.5, 0.5], reduction="none"), [-1.0, 3.0])
    np.testing.assert_array_equal(sq_hinge.hess(y, [0.5, 0.5], reduction="none"), [2.0, 2.0])
    np.testing.assert_array_equal(hinge.hess(y, [0.5, 0.5], reduction="none"), [0.0, 0.0])


def test_margin_losses_take_zero_derivatives_at_the_kink_and_beyond():
    y, f = np.array([1.0, -1.0, 1.0, -1.0]), np.array([1.0, -1.0, 3.0, -2.0])
    for loss_fn in (hinge, sq_hinge):
        assert np.all(loss_fn(y, f, reduction="none") == 0)
        assert np.all(loss_fn.grad(y, f, reduction="none") == 0)
        assert np.all(loss_fn.hess(y, f, reduction="none") == 0)
    assert hinge.grad(1.0, 2.0, margin=2.0) == 0
    assert hinge.grad(1.0, 2.0 - 1e-12, margin=2.0) == -1


@given(st.sampled_from([-1.0, 1.0]), st.floats(-10, 10), st.floats(0, 3))
def test_margin_losses_match_their_definition_and_finite_differences(y, f, margin):
    assert hinge(y, f, margin=margin) == max(0.0, margin - y * f)
    slack = max(0.0, margin - y * f)
    assert sq_hinge(y, f, margin=margin) == slack * slack  # one rounding, like the library
    h = 1e-6
    if abs(margin - y * f) > 2 * h:  # away from the kink both are smooth on the stencil
        # hinge is linear: only rounding, eps |l| / h < 2.2e-16 * 13 / 1e-6; squared: also exact
        # for quadratics up to rounding, eps * 169 / 1e-6
        assert abs(hinge.grad(y, f, margin=margin) - central_difference(lambda t: hinge(y, t, margin=margin), f, h)) <= 1e-8
        assert abs(sq_hinge.grad(y, f, margin=margin) - central_difference(lambda t: sq_hinge(y, t, margin=margin), f, h)) <= 1e-7


def test_hinge_matches_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(20)
    y, f, w = rng.choice([-1, 1], 100), rng.normal(scale=2, size=100), rng.uniform(0, 2, 100)
    assert hinge(y, f) == pytest.approx(metrics.hinge_loss(y, f), rel=4 * EPS)
    assert hinge(y, f, sample_weight=w) == pytest.approx(metrics.hinge_loss(y, f, sample_weight=w), rel=4 * EPS)


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("margin", [1.0, 0.5, 2.0])
def test_margin_losses_match_torch_multi_margin_loss(squared, margin):
    torch = torch_or_skip()
    rng = np.random.default_rng(21)
    y = rng.choice([-1.0, 1.0], 60)
    f = rng.normal(scale=2, size=60)
    f[:3] = margin * y[:3]  # on the kink: torch's subgradient there is 0 as well
    f_torch = torch.tensor(f, requires_grad=True)
    # two classes with scores (-f/2, f/2): the one margin term is max(0, margin - y f), over C = 2
    scores = torch.stack([-f_torch / 2, f_torch / 2], dim=1)
    target = torch.tensor(((y + 1) / 2).astype(np.int64))
    expected = 2 * torch.nn.functional.multi_margin_loss(scores, target, p=2 if squared else 1, margin=margin, reduction="sum")
    expected.backward()
    loss_fn = sq_hinge if squared else hinge
    value, grad = loss_fn.value_and_grad(y, f, margin=margin, reduction="sum")
    assert value == pytest.approx(float(expected.detach()), rel=8 * EPS)
    np.testing.assert_allclose(grad, f_torch.grad.numpy(), rtol=4 * EPS, atol=0)


def test_hinge_matches_a_torch_clamp_with_autograd():
    torch = torch_or_skip()
    rng = np.random.default_rng(22)
    y, f = rng.choice([-1.0, 1.0], (10, 3)), rng.normal(size=(10, 3))
    f_torch = torch.tensor(f, requires_grad=True)
    torch.clamp(1 - torch.tensor(y) * f_torch, min=0).mean().backward()
    np.testing.assert_allclose(hinge.grad(y, f), f_torch.grad.numpy(), rtol=0, atol=0)


# ------------------------------------------------------------------------ focal_loss


def focal_parts(p, q, s, r, y, gamma, a1, a0):
    """Value and derivatives of the focal loss in p = sigma(z), q = 1 - p, s = -log p, r = -log q.

    Each derivative is returned with its scale, the sum of the absolute values of its parts,
    which bounds its rounding error. test_focal_derivative_formulas_are_the_derivatives
    proves these closed forms with SymPy.
    """
    value = a1 * y * q**gamma * s + a0 * (1 - y) * p**gamma * r
    g1, g0 = -a1 * y * q**gamma * (q + gamma * p * s), a0 * (1 - y) * p**gamma * (p + gamma * q * r)
    h1 = a1 * y * p * q**gamma * (q * (2 * gamma + 1) + gamma * s * (gamma * p - q))
    h0 = a0 * (1 - y) * q * p**gamma * (p * (2 * gamma + 1) + gamma * r * (gamma * q - p))
    h1_scale = a1 * y * p * q**gamma * (q * (2 * gamma + 1) + gamma * s * (gamma * p + q))
    h0_scale = a0 * (1 - y) * q * p**gamma * (p * (2 * gamma + 1) + gamma * r * (gamma * q + p))
    return value, (g1 + g0, abs(g1) + abs(g0)), (h1 + h0, h1_scale + h0_scale)


def focal_reference(y, z, gamma, alpha=None):
    """focal_parts at 60 digits, from p, q, s, r formed without cancellation."""
    with mpmath.workdps(60):
        a1, a0 = (1, 1) if alpha is None else (mp(alpha), 1 - mp(alpha))
        t = mp(z)
        p, q = 1 / (1 + mpmath.exp(-t)), 1 / (1 + mpmath.exp(t))
        s, r = mpmath.log1p(mpmath.exp(-t)), mpmath.log1p(mpmath.exp(t))
        return focal_parts(p, q, s, r, mp(y), mp(gamma), a1, a0)


def test_focal_derivative_formulas_are_the_derivatives():
    import sympy as sp

    z, y, gamma, a1, a0 = sp.symbols("z y gamma a1 a0", real=True)
    p, q = 1 / (1 + sp.exp(-z)), 1 / (1 + sp.exp(z))
    s, r = sp.log(1 + sp.exp(-z)), sp.log(1 + sp.exp(z))
    value, (grad, _), (hess, _) = focal_parts(p, q, s, r, y, gamma, a1, a0)
    definition = -a1 * y * (1 - p) ** gamma * sp.log(p) - a0 * (1 - y) * p**gamma * sp.log(1 - p)
    for g in (0, sp.Rational(1, 2), 1, 2, 5):
        at = {gamma: g}
        checks = [
            (value - definition).subs(at),
            (sp.diff(definition, z) - grad).subs(at),
            (sp.diff(definition, z, 2) - hess).subs(at),
        ]
        for expression in checks:
            # exact zero: symbolic where simplify manages, else at 30-digit rational points
            for point in (sp.Rational(-7, 3), sp.Rational(1, 5), sp.Rational(11, 2)):
                numeric = expression.subs({z: point, y: sp.Rational(3, 10), a1: sp.Rational(1, 4), a0: sp.Rational(3, 4)})
                assert abs(sp.N(numeric, 30)) < sp.Float("1e-25")


def test_focal_worked_example():
    z = special.logit(0.9)
    with mpmath.workdps(40):
        p = 1 / (1 + mpmath.exp(-mp(z)))  # the float z's own probability, within an ulp of 0.9
        exact = -mpmath.mpf("0.25") * (1 - p) ** 2 * mpmath.log(p)
    assert focal(1.0, z, gamma=2.0, alpha=0.25) == pytest.approx(float(exact), rel=4 * EPS)
    assert float(exact) == pytest.approx(0.000263, abs=5e-7)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 5.0])
@pytest.mark.parametrize("alpha", [None, 0.25])
@pytest.mark.parametrize("y", [0.0, 1.0, 0.3])
@pytest.mark.parametrize("z", [-1e4, -700.0, -40.0, -3.0, -1e-6, 0.0, 0.7, 20.0, 300.0, 1e4])
def test_focal_matches_60_digit_reference(gamma, alpha, y, z):
    exact, (exact_grad, grad_scale), (exact_hess, hess_scale) = focal_reference(y, z, gamma, alpha)
    value, grad = focal.value_and_grad(y, z, gamma=gamma, alpha=alpha)
    hess = focal.hess(y, z, gamma=gamma, alpha=alpha)
    # Non-negative factors, each within an ulp or two, except q^gamma, within (gamma + 2) ulp:
    # the value to (2 gamma + 8) eps relative; the derivatives, whose parts have mixed signs
    # (two halves for a soft label, gamma p - q inside the Hessian), to that much of their
    # scale, the sum of their parts' sizes. TINY: results that underflow.
    tolerance = (2 * gamma + 8) * EPS
    assert abs(value - exact) <= tolerance * exact + TINY
    assert abs(grad - exact_grad) <= tolerance * grad_scale + TINY
    assert abs(hess - exact_hess) <= 2 * tolerance * hess_scale + TINY


@given(hnp.arrays(np.float64, st.integers(1, 20), elements=labels), st.data())
def test_focal_with_gamma_zero_is_bce(y, data):
    z = data.draw(hnp.arrays(np.float64, y.shape, elements=st.floats(-700, 700)))
    np.testing.assert_allclose(focal(y, z, gamma=0.0, reduction="none"), bce(y, z, reduction="none"), rtol=2 * EPS, atol=1e-300)
    np.testing.assert_allclose(focal.grad(y, z, gamma=0.0, reduction="none"), bce.grad(y, z, reduction="none"), rtol=2 * EPS, atol=2 * EPS)
    np.testing.assert_allclose(focal.hess(y, z, gamma=0.0, reduction="none"), bce.hess(y, z, reduction="none"), rtol=4 * EPS, atol=1e-300)


@given(labels, st.floats(-20, 20), st.floats(0, 5), st.one_of(st.none(), st.floats(0, 1)))
def test_focal_grad_and_hess_match_finite_differences(y, z, gamma, alpha):
    h = 1e-5
    # |l| <= 21, |l'''| and |l''''| stay below ~ (1 + gamma)^3 * 4 on this range:
    # truncation h^2/6 * 864 = 1.4e-8; rounding eps * 21 / h = 4.7e-10
    f = lambda t: focal(y, t, gamma=gamma, alpha=alpha)  # noqa: E731
    g = lambda t: focal.grad(y, t, gamma=gamma, alpha=alpha)  # noqa: E731
    assert abs(g(z) - central_difference(f, z, h)) <= 2e-8
    assert abs(focal.hess(y, z, gamma=gamma, alpha=alpha) - central_difference(g, z, h)) <= 2e-8


@pytest.mark.parametrize("gamma", [0.0, 1.0, 2.0, 3.5])
@pytest.mark.parametrize("alpha", [None, 0.25])
def test_focal_matches_torchvision_style_focal_loss_and_its_autograd(gamma, alpha):
    torch = torch_or_skip()
    rng = np.random.default_rng(23)
    y = rng.integers(0, 2, (40, 3)).astype(float)
    z = rng.uniform(-6, 6, size=(40, 3))
    z_torch = torch.tensor(z, requires_grad=True)
    targets = torch.tensor(y)
    # torchvision.ops.sigmoid_focal_loss, written with torch ops (no CPU torchvision wheel)
    p = torch.sigmoid(z_torch)
    ce = torch.nn.functional.binary_cross_entropy_with_logits(z_torch, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    terms = ce * (1 - p_t) ** gamma
    if alpha is not None:
        terms = (alpha * targets + (1 - alpha) * (1 - targets)) * terms
    (grad_torch,) = torch.autograd.grad(terms.sum(), z_torch, create_graph=True)
    (hess_torch,) = torch.autograd.grad(grad_torch.sum(), z_torch)
    value, grad = focal.value_and_grad(y, z, gamma=gamma, alpha=alpha, reduction="none")
    hess = focal.hess(y, z, gamma=gamma, alpha=alpha, reduction="none")
    # torch forms 1 - p_t by subtraction, a relative error of gamma eps / (1 - p_t) in
    # (1 - p_t)^gamma: at most 3.5 * 2.2e-16 * 404 = 3e-13 for |z| <= 6 (the library is
    # exact there: see the 60-digit test); the Hessian's parts cancel, so an absolute floor
    np.testing.assert_allclose(value, terms.detach().numpy(), rtol=1e-12, atol=0)
    np.testing.assert_allclose(grad, grad_torch.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(hess, hess_torch.numpy(), rtol=1e-12, atol=1e-14)


def test_focal_down_weights_easy_examples():
    z = np.array([0.0, 1.0, 2.0, 4.0, 8.0])  # increasingly confident, correct, y = 1
    ratio = focal(np.ones(5), z, gamma=2.0, reduction="none") / bce(np.ones(5), z, reduction="none")
    np.testing.assert_allclose(ratio, special.expit(-z) ** 2, rtol=8 * EPS)
    assert np.all(np.diff(ratio) < 0)


# ---------------------------------------------------------------- softmax_focal_loss


@given(st.integers(0, 1), st.floats(-700, 700), st.floats(0, 5), st.floats(0, 1))
def test_two_class_softmax_focal_is_the_binary_focal_loss(label, z, gamma, alpha):
    value = sfocal([label], [[0.0, z]], gamma=gamma, alpha=[1 - alpha, alpha])
    expected = focal(float(label), z, gamma=gamma, alpha=alpha)
    assert value == pytest.approx(expected, rel=(4 * gamma + 8) * EPS, abs=1e-300)
    grad = sfocal.grad([label], [[0.0, z]], gamma=gamma, alpha=[1 - alpha, alpha])[0]
    expected_grad = focal.grad(float(label), z, gamma=gamma, alpha=alpha)
    assert grad[1] == pytest.approx(expected_grad, rel=(8 * gamma + 16) * EPS, abs=1e-300)
    assert grad[0] == pytest.approx(-expected_grad, rel=(8 * gamma + 16) * EPS, abs=1e-300)


def test_softmax_focal_with_gamma_zero_is_class_weighted_softmax_ce():
    rng = np.random.default_rng(24)
    z, y, a = rng.normal(scale=3, size=(15, 4)), rng.integers(0, 4, 15), rng.uniform(0, 1, 4)
    np.testing.assert_allclose(sfocal(y, z, gamma=0.0, alpha=a, reduction="none"), sce(y, z, class_weight=a, reduction="none"), rtol=4 * EPS)
    np.testing.assert_allclose(sfocal.grad(y, z, gamma=0.0, alpha=a, reduction="sum"), sce.grad(y, z, class_weight=a, reduction="sum"), rtol=4 * EPS, atol=2 * EPS)


def test_softmax_focal_on_probability_rows_is_linear_in_the_target():
    rng = np.random.default_rng(25)
    z, t = rng.normal(size=(6, 3)), rng.dirichlet(np.ones(3), size=6)
    per_class = np.stack([sfocal(np.full(6, c), z, gamma=1.5, reduction="none") for c in range(3)], axis=1)
    np.testing.assert_allclose(sfocal(t, z, gamma=1.5, reduction="none"), (t * per_class).sum(axis=1), rtol=8 * EPS)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_softmax_focal_grad_matches_finite_differences_and_torch(gamma):
    torch = torch_or_skip()
    rng = np.random.default_rng(26)
    z, y, a = rng.normal(scale=2, size=(8, 4)), rng.integers(0, 4, 8), rng.uniform(0.1, 1, 4)
    z_torch = torch.tensor(z, requires_grad=True)
    log_p = torch.log_softmax(z_torch, dim=1)[torch.arange(8), torch.tensor(y)]
    terms = -torch.tensor(a[y]) * (1 - log_p.exp()) ** gamma * log_p
    terms.mean().backward()
    value, grad = sfocal.value_and_grad(y, z, gamma=gamma, alpha=a)
    assert value == pytest.approx(float(terms.mean().detach()), rel=64 * EPS)
    np.testing.assert_allclose(grad, z_torch.grad.numpy(), rtol=1e-13, atol=1e-16)
    h = 1e-6
    for i, j in [(0, 0), (3, 1), (7, 3)]:
        bump = np.zeros_like(z)
        bump[i, j] = h
        fd = (sfocal(y, z + bump, gamma=gamma, alpha=a) - sfocal(y, z - bump, gamma=gamma, alpha=a)) / (2 * h)
        # truncation h^2/6 |l'''| < 1e-12; rounding eps * |l| / h < 2.2e-16 * 5 / 1e-6
        assert abs(grad[i, j] - fd) <= 2e-9


@pytest.mark.parametrize("row", EXTREME_ROWS)
@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_softmax_focal_matches_60_digit_reference_at_extreme_logits(row, gamma):
    with mpmath.workdps(60):
        zs = [mp(v) for v in row]
        lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in zs))

        def loss_at(t, c=0):
            values = list(zs)
            values[c] = t
            lse_t = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in values))
            p0 = mpmath.exp(values[0] - lse_t)
            return -(1 - p0) ** gamma * (values[0] - lse_t)

        exact = loss_at(zs[0])
        exact_grad = mpmath.diff(lambda t: loss_at(t, 0), zs[0])
    del lse
    with np.errstate(divide="raise", invalid="raise", over="raise"):
        value, grad = sfocal.value_and_grad([0], [row], gamma=gamma, reduction="sum")
    assert abs(value - exact) <= 16 * EPS * exact + TINY
    assert abs(grad[0, 0] - exact_grad) <= 16 * EPS * abs(exact_grad) + TINY
    np.testing.assert_allclose(grad.sum(), 0, atol=8 * EPS * np.abs(grad).max())


# ----------------------------------------------------------- dtypes and reductions


ALL_LOSSES = [
    (bce_prob, lambda rng: (rng.integers(0, 2, 6), rng.uniform(0.05, 0.95, 6)), {}),
    (sce, lambda rng: (rng.integers(0, 3, 6), rng.normal(size=(6, 3))), {"label_smoothing": 0.1}),
    (mpce, lambda rng: (np.eye(3, dtype=int)[rng.integers(0, 3, 6)], rng.normal(size=(6, 3))), {}),
    (logistic, lambda rng: (rng.choice([-1, 1], 6), rng.normal(size=6)), {}),
    (hinge, lambda rng: (rng.choice([-1, 1], 6), rng.normal(size=6)), {"margin": 0.5}),
    (sq_hinge, lambda rng: (rng.choice([-1, 1], 6), rng.normal(size=6)), {}),
    (focal, lambda rng: (rng.integers(0, 2, 6), rng.normal(size=6)), {"gamma": 1.5, "alpha": 0.3}),
    (sfocal, lambda rng: (rng.integers(0, 3, 6), rng.normal(size=(6, 3))), {"gamma": 1.5}),
]
IDS = ["bce_prob", "sce", "mpce", "logistic", "hinge", "squared_hinge", "focal", "softmax_focal"]


@pytest.mark.parametrize(("loss_fn", "make", "kwargs"), ALL_LOSSES, ids=IDS)
def test_float32_in_float32_out_and_close_to_float64(loss_fn, make, kwargs):
    y, pred = make(np.random.default_rng(27))
    value32, grad32 = loss_fn.value_and_grad(y, pred.astype(np.float32), **kwargs)
    value64, grad64 = loss_fn.value_and_grad(y, pred, **kwargs)
    assert value32.dtype == grad32.dtype == np.float32 and value64.dtype == np.float64
    # the float32 input is the float64 one rounded: a relative change of 2^-24 per input,
    # amplified by at most the condition number (< 20 here)
    assert float(value32) == pytest.approx(float(value64), rel=40 * float(np.finfo(np.float32).eps))
    np.testing.assert_allclose(grad32, grad64, rtol=1e-5, atol=1e-6)
    if hasattr(loss_fn, "hess"):
        assert loss_fn.hess(y, pred.astype(np.float32), **kwargs).dtype == np.float32


@pytest.mark.parametrize(("loss_fn", "make", "kwargs"), ALL_LOSSES, ids=IDS)
def test_reductions_and_sample_weights(loss_fn, make, kwargs):
    rng = np.random.default_rng(28)
    y, pred = make(rng)
    w = rng.uniform(0, 2, 6)
    terms = loss_fn(y, pred, reduction="none", **kwargs)
    assert terms.shape == (6,)
    assert np.all(terms >= 0)
    assert loss_fn(y, pred, **kwargs) == pytest.approx(terms.mean(), rel=4 * EPS)
    assert loss_fn(y, pred, sample_weight=w, **kwargs) == pytest.approx((w * terms).sum() / w.sum(), rel=4 * EPS)
    grad_none = loss_fn.grad(y, pred, reduction="none", **kwargs)
    assert grad_none.shape == pred.shape
    np.testing.assert_allclose(loss_fn.grad(y, pred, reduction="sum", **kwargs), grad_none, rtol=0, atol=0)
    weights = w.reshape((6,) + (1,) * (pred.ndim - 1))
    np.testing.assert_allclose(loss_fn.grad(y, pred, sample_weight=w, **kwargs), weights * grad_none / w.sum(), rtol=4 * EPS)


# ----------------------------------------------------------------------- bad input


BAD_INPUTS = [
    (bce_prob, {"y_true": [1.0, 0.0], "y_prob": [1.2, 0.5]}, ValueError, r"y_prob must lie in \[0, 1\]; found 1.2"),
    (bce_prob, {"y_true": [1.0, 0.0], "y_prob": [-0.1, 0.5]}, ValueError, "y_prob must lie in"),
    (bce_prob, {"y_true": [2.0, 0.0], "y_prob": [0.5, 0.5]}, ValueError, "y_true must lie in"),
    (bce_prob, {"y_true": [1.0, 0.0], "y_prob": [0.5]}, ValueError, "shapes differ"),
    (bce_prob, {"y_true": [1.0, 0.0], "y_prob": [0.5, np.nan]}, ValueError, "y_prob contains NaN"),
    (sce, {"y_true": [0.0, 1.0], "logits": [[1.0, 2.0], [0.0, 0.0]]}, TypeError, "integer class indices"),
    (sce, {"y_true": [0, 2], "logits": [[1.0, 2.0], [0.0, 0.0]]}, ValueError, r"class indices in range\(2\); found 2"),
    (sce, {"y_true": [0, -1], "logits": [[1.0, 2.0], [0.0, 0.0]]}, ValueError, "found -1"),
    (sce, {"y_true": [0, 1, 1], "logits": [[1.0, 2.0], [0.0, 0.0]]}, ValueError, "shapes differ"),
    (sce, {"y_true": [[0.5, 0.6], [1.0, 0.0]], "logits": [[1.0, 2.0], [0.0, 0.0]]}, ValueError, "y_true must sum to 1"),
    (sce, {"y_true": [[1.5, -0.5], [1.0, 0.0]], "logits": [[1.0, 2.0], [0.0, 0.0]]}, ValueError, "y_true must be non-negative"),
    (sce, {"y_true": [[1.0, 0.0]], "logits": [[1.0, 2.0], [0.0, 0.0]]}, ValueError, "shapes differ"),
    (sce, {"y_true": [[[1.0, 0.0]]], "logits": [[1.0, 2.0]]}, ValueError, "y_true must be class indices"),
    (sce, {"y_true": [0], "logits": [1.0, 2.0]}, ValueError, r"logits must have shape \(n_samples, n_classes\)"),
    (sce, {"y_true": [0], "logits": [[1.0, np.inf]]}, ValueError, "logits contains NaN"),
    (sce, {"y_true": [0], "logits": [[1.0, 2.0]], "label_smoothing": 1.5}, ValueError, "label_smoothing must be <= 1"),
    (sce, {"y_true": [0], "logits": [[1.0, 2.0]], "label_smoothing": -0.1}, ValueError, "label_smoothing must be >= 0"),
    (sce, {"y_true": [0], "logits": [[1.0, 2.0]], "label_smoothing": "0.1"}, TypeError, "label_smoothing must be a real"),
    (sce, {"y_true": [0], "logits": [[1.0, 2.0]], "class_weight": [1.0]}, ValueError, r"class_weight must have shape \(2,\)"),
    (sce, {"y_true": [0], "logits": [[1.0, 2.0]], "class_weight": [1.0, -1.0]}, ValueError, "class_weight must be non-negative"),
    (sce, {"y_true": [0], "logits": [[1.0, 2.0]], "class_weight": [np.nan, 1.0]}, ValueError, "class_weight contains NaN"),
    (sce, {"y_true": [0], "logits": [[1.0, 2.0]], "class_weight": [0.0, 1.0]}, ValueError, "every sample has weight zero"),
    (sce, {"y_true": [0], "logits": [[1.0, 2.0]], "sample_weight": [1.0, 1.0]}, ValueError, "sample_weight has shape"),
    (mpce, {"y_true": [[1, 0], [0, 0]], "logits": [[1.0, 2.0], [0.0, 0.0]]}, ValueError, "y_true row 1 has no positive class"),
    (mpce, {"y_true": [[1, 2], [0, 1]], "logits": [[1.0, 2.0], [0.0, 0.0]]}, ValueError, r"y_true must hold only the values \(0, 1\); found 2"),
    (mpce, {"y_true": [[0.5, 0.5], [0, 1]], "logits": [[1.0, 2.0], [0.0, 0.0]]}, ValueError, "found 0.5"),
    (mpce, {"y_true": [1, 0], "logits": [[1.0, 2.0], [0.0, 0.0]]}, ValueError, "y_true must be multi-hot rows"),
    (mpce, {"y_true": [[1, 0, 1]], "logits": [[1.0, 2.0]]}, ValueError, "shapes differ"),
    (logistic, {"y_true": [1, 0], "scores": [0.5, 0.5]}, ValueError, r"y_true must hold only the values \(-1, 1\); found 0"),
    (logistic, {"y_true": [1.0, 0.5], "scores": [0.5, 0.5]}, ValueError, "found 0.5"),
    (logistic, {"y_true": [1, -1], "scores": [0.5]}, ValueError, "shapes differ"),
    (logistic, {"y_true": [1, -1], "scores": [0.5, np.nan]}, ValueError, "scores contains NaN"),
    (hinge, {"y_true": [1, 0], "scores": [0.5, 0.5]}, ValueError, "found 0"),
    (hinge, {"y_true": [1, -1], "scores": [0.5, 0.5], "margin": -1.0}, ValueError, "margin must be >= 0"),
    (hinge, {"y_true": [1, -1], "scores": [0.5, 0.5], "margin": np.inf}, ValueError, "margin must be finite"),
    (sq_hinge, {"y_true": [2, -1], "scores": [0.5, 0.5]}, ValueError, "found 2"),
    (sq_hinge, {"y_true": [1, -1], "scores": [0.5, 0.5], "margin": "1"}, TypeError, "margin must be a real"),
    (focal, {"y_true": [1.5, 0.0], "logits": [0.5, 0.5]}, ValueError, "y_true must lie in"),
    (focal, {"y_true": [1.0, 0.0], "logits": [0.5, 0.5], "gamma": -0.5}, ValueError, "gamma must be >= 0"),
    (focal, {"y_true": [1.0, 0.0], "logits": [0.5, 0.5], "alpha": 1.5}, ValueError, "alpha must be <= 1"),
    (focal, {"y_true": [1.0, 0.0], "logits": [0.5, 0.5], "alpha": -0.1}, ValueError, "alpha must be >= 0"),
    (focal, {"y_true": [1.0, 0.0], "logits": [0.5, 0.5], "alpha": [0.2, 0.3]}, TypeError, "alpha must be a real"),
    (focal, {"y_true": [1.0, 0.0], "logits": [0.5, 0.5], "gamma": np.nan}, ValueError, "gamma must be finite"),
    (focal, {"y_true": [1.0, 0.0], "logits": [[0.5, 0.5]]}, ValueError, "shapes differ"),
    (sfocal, {"y_true": [0], "logits": [[1.0, 2.0]], "alpha": [0.5, 1.5]}, ValueError, r"alpha must lie in \[0, 1\]"),
    (sfocal, {"y_true": [0], "logits": [[1.0, 2.0]], "alpha": [0.5]}, ValueError, r"alpha must have shape \(2,\)"),
    (sfocal, {"y_true": [0], "logits": [[1.0, 2.0]], "gamma": -1.0}, ValueError, "gamma must be >= 0"),
    (sfocal, {"y_true": [3], "logits": [[1.0, 2.0]]}, ValueError, "class indices"),
    (sfocal, {"y_true": [[0.2, 0.2]], "logits": [[1.0, 2.0]]}, ValueError, "y_true must sum to 1"),
]


@pytest.mark.parametrize(("loss_fn", "kwargs", "error", "message"), BAD_INPUTS)
def test_bad_input_is_an_error_naming_the_argument(loss_fn, kwargs, error, message):
    methods = [loss_fn, loss_fn.grad, loss_fn.value_and_grad] + ([loss_fn.hess] if hasattr(loss_fn, "hess") else [])
    for method in methods:
        with pytest.raises(error, match=message):
            method(**kwargs)


@pytest.mark.parametrize(("loss_fn", "make", "kwargs"), ALL_LOSSES, ids=IDS)
def test_common_bad_input(loss_fn, make, kwargs):
    y, pred = make(np.random.default_rng(29))
    with pytest.raises(ValueError, match="reduction must be one of"):
        loss_fn(y, pred, reduction="avg", **kwargs)
    with pytest.raises(ValueError, match="sample_weight must be non-negative"):
        loss_fn(y, pred, sample_weight=-np.ones(6), **kwargs)
    with pytest.raises(ValueError, match="is empty"):
        loss_fn(y[:0], pred[:0], **kwargs)
    with pytest.raises(TypeError, match="must hold real numbers"):
        loss_fn(y, pred.astype(str), **kwargs)


# ------------------------------------------------ edges of the valid domain (issue 13)


FLOAT64_MAX = np.finfo(np.float64).max
whole_range = st.floats(-FLOAT64_MAX, FLOAT64_MAX)


@pytest.mark.parametrize("loss_fn", [sce, mpce, sfocal], ids=["sce", "mpce", "softmax_focal"])
def test_softmax_losses_are_exact_where_the_gap_overflows(loss_fn):
    # z_0 - z_1 = 2e308 overflows; the target's 0 on class 1 must not meet it as 0 * inf
    row = [[1e308, -1e308]]
    target = [[1, 0]] if loss_fn is mpce else [[1.0, 0.0]]
    with np.errstate(all="raise"):
        value, grad = loss_fn.value_and_grad(target, row, reduction="sum")
    assert value == 0.0
    assert grad.tolist() == [[0.0, 0.0]]
    if loss_fn is sce:
        assert sce([0], row) == 0.0 and sce.grad([0], row).tolist() == [[0.0, 0.0]]
        assert sce.hess([[1.0, 0.0]], row, reduction="sum").tolist() == [[0.0, 0.0]]


@pytest.mark.parametrize("smoothing", [0.01, 0.5])
def test_softmax_ce_weighs_an_overflowing_gap_without_overflow(smoothing):
    # the smoothed target puts eps / 2 on class 1: that term is eps / 2 * 2e308, finite for
    # eps < 1.79 (computed as eps/2 * 1e308 + eps/2 * 1e308, two non-negative terms)
    value = sce([0], [[1e308, -1e308]], label_smoothing=smoothing, reduction="sum")
    with mpmath.workdps(60):
        exact = mp(smoothing) / 2 * (mp(1e308) - mp(-1e308))
    assert abs(value - exact) <= 4 * EPS * exact


@settings(max_examples=200)
@example(np.array([0.0, -142.0, -142.0]), 0, 0.0)  # the rest, 2 e^-142, is below 60 digits next to 1
@example(np.array([0.0, -109.0, -109.0]), 0, 0.0)
@given(hnp.arrays(np.float64, (3,), elements=whole_range), st.integers(0, 2), st.floats(0, 1))
def test_softmax_ce_over_the_whole_float_range(row, label, smoothing):
    # finite wherever the true value is, and within a few ulps of the 60-digit value
    target = (1 - smoothing) * np.eye(3)[label] + smoothing / 3
    with np.errstate(all="raise"):
        value = sce([label], [row], label_smoothing=smoothing, reduction="sum")
        grad, hess = sce.grad_hess([label], [row], label_smoothing=smoothing, reduction="sum")
    with mpmath.workdps(60):
        # -log p_c = (top - z_c) + log1p(sum of exp(z_j - top) over the other j): two
        # non-negative terms, so 60 digits suffice for logits of any size (log of the
        # whole sum would lose 1e-62 next to 1 at 60 digits)
        zs = [mp(v) for v in row]
        top = max(zs)
        others = list(zs)
        others.remove(top)
        log_rest = mpmath.log1p(mpmath.fsum(mpmath.exp(v - top) for v in others))
        exact = mpmath.fsum(mp(t) * ((top - v) + log_rest) for t, v in zip(target, zs))
    assert np.isfinite(grad).all() and np.isfinite(hess).all()
    if float(exact) == np.inf:  # beyond the float range once rounded
        assert value == np.inf
    elif exact < TINY:
        assert 0 <= value <= 2 * TINY
    else:
        # the target's own rounding (eps relative per entry) and the sum's: 16 eps
        assert abs(value - exact) <= 16 * EPS * exact


@settings(max_examples=200)
@example(0.25, -1e308, 5e-324)  # a subnormal weight: w y underflowed before meeting softplus
@example(0.0, -1e10, 1e300)  # w softplus(-z) overflows beside y = 0 (0 * inf was nan)
@given(st.sampled_from([0.0, 1.0, 0.25]), whole_range,
       st.one_of(st.none(), st.just(0.0), st.floats(0, 4), st.floats(0, FLOAT64_MAX)))
def test_bce_with_logits_over_the_whole_float_range(y, z, pos_weight):
    # pos_weight anywhere in [0, max], subnormal included
    with np.errstate(all="raise"):
        value = bce(y, z, pos_weight=pos_weight)
        grad, hess = bce.grad_hess(y, z, pos_weight=pos_weight)
    exact = bce_reference(y, z, 1 if pos_weight is None else pos_weight)
    assert np.isfinite(grad) and np.isfinite(hess)
    if exact > FLOAT64_MAX:
        assert value == np.inf
    else:
        assert abs(value - exact) <= 4 * EPS * exact + np.finfo(np.float64).smallest_subnormal


@settings(max_examples=200)
@example(0.3, -1e308, 2.0, 5e-324)  # a subnormal alpha: alpha y underflowed before s = 1e308
@given(
    st.sampled_from([0.0, 1.0, 0.3]), whole_range, st.sampled_from([0.0, 0.5, 2.0]),
    st.one_of(st.none(), st.just(0.0), st.floats(0, 1)),
)
def test_focal_over_the_whole_float_range(y, z, gamma, alpha):
    # value, gradient and Hessian finite for every finite logit (the Hessian forms p s and
    # q r first: s = -log p reaches 1e308 where p = 0) and equal to the 60-digit values,
    # for alpha anywhere in [0, 1], subnormal included (alpha multiplies last).
    with np.errstate(all="raise"):
        value, grad = focal.value_and_grad(y, z, gamma=gamma, alpha=alpha)
        hess = focal.hess(y, z, gamma=gamma, alpha=alpha)
    exact, (exact_grad, grad_scale), (exact_hess, hess_scale) = focal_reference(y, z, gamma, alpha)
    assert np.isfinite(value) and np.isfinite(grad) and np.isfinite(hess)
    tolerance = (2 * gamma + 8) * EPS
    assert abs(value - exact) <= tolerance * exact + TINY
    assert abs(grad - exact_grad) <= tolerance * grad_scale + TINY
    assert abs(hess - exact_hess) <= 2 * tolerance * hess_scale + TINY


@settings(max_examples=200)
@given(st.sampled_from([0.0, 1.0, 0.5]), st.floats(0, 1))
def test_bce_prob_over_the_whole_unit_interval(y, p):
    # subnormal probabilities and the ends included: inf exactly where the truth is
    with np.errstate(all="raise"):
        value, grad = bce_prob.value_and_grad(y, p)
        hess = bce_prob.hess(y, p)
    with mpmath.workdps(60):
        weights, logs = (mp(y), 1 - mp(y)), (mpmath.log(mp(p)), mpmath.log1p(-mp(p)))
        if any(weight > 0 and log == -mpmath.inf for weight, log in zip(weights, logs)):
            exact = mpmath.inf
        else:
            exact = -mpmath.fsum(weight * log for weight, log in zip(weights, logs) if weight > 0)
    if exact == mpmath.inf:
        assert value == np.inf
    else:
        assert abs(value - exact) <= 4 * EPS * exact + TINY
    assert not np.isnan(grad) and not np.isnan(hess)


@settings(max_examples=100)
@given(st.sampled_from([-1.0, 1.0]), whole_range, st.floats(0, 1e308))
def test_margin_losses_over_the_whole_float_range(y, f, margin):
    # the slack m - y f is exact or overflows only where the loss truly exceeds the range
    with mpmath.workdps(60):
        slack = max(mp(margin) - mp(y) * mp(f), 0)
    with np.errstate(all="raise"):
        value = hinge(y, f, margin=margin)
        squared = sq_hinge(y, f, margin=margin)
        logistic_value = logistic(y, f)
    assert value == (np.inf if slack > FLOAT64_MAX else float(slack)) or abs(value - slack) <= EPS * slack
    squared_exact = slack**2
    assert squared == np.inf if squared_exact > FLOAT64_MAX else abs(squared - squared_exact) <= 2 * EPS * squared_exact + TINY
    with mpmath.workdps(60):
        exact = mpmath.log1p(mpmath.exp(-mp(y) * mp(f)))
    assert abs(logistic_value - exact) <= 2 * EPS * exact + np.finfo(np.float64).smallest_subnormal


@pytest.mark.parametrize("dtype", [np.uint64, np.uint8, np.uint32, np.int8, np.int32])
def test_class_indices_of_every_integer_dtype_act_like_int64(dtype):
    rng = np.random.default_rng(40)
    z, y = rng.normal(size=(9, 4)), rng.integers(0, 4, 9)
    cw = rng.uniform(0.5, 2, 4)
    for loss_fn, options in [
        (sce, {}), (sce, {"label_smoothing": 0.1}), (sce, {"class_weight": cw}),
        (sfocal, {}), (sfocal, {"alpha": cw / 2}),
    ]:
        expected = loss_fn.value_and_grad(y, z, **options)
        got = loss_fn.value_and_grad(y.astype(dtype), z, **options)
        assert got[0] == expected[0]
        np.testing.assert_array_equal(got[1], expected[1])
    np.testing.assert_array_equal(sce.hess(y.astype(dtype), z), sce.hess(y, z))
    with pytest.raises(ValueError, match=r"class indices in range\(4\); found 18446744073709551615"):
        sce(np.array([0, 2**64 - 1], np.uint64), z[:2])


def test_unsigned_and_integer_labels_act_like_float64():
    rng = np.random.default_rng(41)
    y01, z = rng.integers(0, 2, 50), rng.normal(size=50)
    signs = np.where(y01 == 1, 1, -1)
    cases = [
        (bce, y01, z), (focal, y01, z), (bce_prob, y01, special.expit(z)),
        (logistic, signs, z), (hinge, signs, z), (sq_hinge, signs, z),
    ]
    for loss_fn, labels_, pred in cases:
        expected = loss_fn.value_and_grad(labels_.astype(float), pred)
        for dtype in (np.uint8, np.uint64, np.int8, np.int64) if labels_.min() >= 0 else (np.int8, np.int64):
            got = loss_fn.value_and_grad(labels_.astype(dtype), pred)
            assert got[0] == expected[0]
            np.testing.assert_array_equal(got[1], expected[1])


def test_float32_numpy_scalars_give_float32():
    for loss_fn, args in [
        (bce, (np.float32(1), np.float32(2))), (bce_prob, (np.float32(1), np.float32(0.5))),
        (focal, (np.float32(1), np.float32(2))), (logistic, (np.float32(1), np.float32(2))),
        (hinge, (np.float32(1), np.float32(0.5))), (sq_hinge, (np.float32(1), np.float32(0.5))),
    ]:
        assert loss_fn(*args).dtype == np.float32
        assert loss_fn.grad(*args).dtype == np.float32


def test_pos_weight_per_element_past_a_block():
    # a 1-D pos_weight is one weight per element: sliced with the data's blocks
    n = 3 * lossfns._core.BLOCK_SIZE + 17
    rng = np.random.default_rng(42)
    y, z, w = rng.random(n), rng.normal(0, 3, n), rng.uniform(0, 3, n)
    value, grad = bce.value_and_grad(y, z, pos_weight=w, reduction="none")
    s = special.expit(z)
    np.testing.assert_allclose(value, scipy_form(y, z, w), rtol=8 * EPS, atol=1e-300)
    # (1 - y) sigma(z) - w y sigma(-z) cancels near its zero: a few eps times (1 + w)
    assert np.all(np.abs(grad - ((1 - y) * s - w * y * (1 - s))) <= 8 * EPS * (1 + w))
    assert bce(y, z, pos_weight=w) == pytest.approx(value.mean(), rel=n * EPS)


def test_extreme_inputs_raise_no_floating_point_error():
    big, huge = 800.0, 1e308
    with np.errstate(all="raise"):
        for z in (-huge, -big, big, huge):
            for y in (0.0, 1.0, 0.5):
                bce.value_and_grad(y, z, pos_weight=2.0), bce.hess(y, z)
                focal.value_and_grad(y, z), focal.grad_hess(y, z)
            logistic.value_and_grad(1.0, z), logistic.grad_hess(-1.0, z)
            hinge.grad_hess(1.0, z), sq_hinge.value_and_grad(-1.0, z)
        for y, p in [(0.0, 0.0), (1.0, 1.0), (1.0, 5e-324), (0.5, 0.0), (0.0, 1 - 2**-53)]:
            bce_prob.value_and_grad(y, p), bce_prob.hess(y, p)
        for row in EXTREME_ROWS + [[huge, -huge, 0.0], [-huge, huge, huge]]:
            for label in range(3):
                sce.value_and_grad([label], [row]), sce.grad_hess([label], [row], label_smoothing=0.2)
                sfocal.value_and_grad([label], [row], gamma=0.5)
            mpce.value_and_grad([[1, 0, 1]], [row])


@pytest.mark.parametrize("loss_fn", [sce, sfocal, mpce], ids=["sce", "softmax_focal", "mpce"])
def test_one_class_is_refused(loss_fn):
    target = [[1]] if loss_fn is mpce else [0]
    with pytest.raises(ValueError, match="logits must have at least 2 classes"):
        loss_fn(target, [[0.5]])


@pytest.mark.parametrize("sample_weight", [None, [1e308, 1e308]])
def test_softmax_mean_with_class_weights_near_the_float_maximum(sample_weight):
    """torch's mean divides by the summed class weights of the samples; weights of 1e308
    made that sum inf and every mean 0. Scaling every class weight by one number does not
    change the mean, so the value and gradient equal the unweighted ones here (each
    sample's class weighs the same), to the rounding of a mean of two terms."""
    z = np.array([[1.0, 0.0, -1.0], [0.0, 2.0, 1.5]])
    labels, big = [0, 2], np.full(3, 1e308)
    value = lossfns.softmax_cross_entropy(labels, z, class_weight=big, sample_weight=sample_weight)
    grad = lossfns.softmax_cross_entropy.grad(labels, z, class_weight=big, sample_weight=sample_weight)
    assert abs(value - lossfns.softmax_cross_entropy(labels, z)) <= 2 * EPS * value
    np.testing.assert_allclose(grad, lossfns.softmax_cross_entropy.grad(labels, z), rtol=2 * EPS)
