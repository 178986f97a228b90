"""lossfns.classification: values, derivatives, extreme inputs and errors."""

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
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
