"""The shared machinery of lossfns: reductions, weights, dtypes, validation, the Loss object.

Two toy losses declared here exercise the shapes the chapter losses do not yet cover: a
row-wise loss (one value per row of a 2-D prediction) and a loss of two predictions.
"""

import inspect
import math
import pickle
import subprocess
import sys

import numpy as np
import pytest

import lossfns
from lossfns import _core
from lossfns._core import Terms, float_dtype, loss, real_array


def _row_sum_of_squares(y, z, *, value, grad, hess):
    r = z - y
    return (
        (r * r).sum(axis=1) if value else None,
        2 * r if grad else None,
        None,
    )


@loss(_row_sum_of_squares)
def row_loss(y_true, y_pred, *, sample_weight=None, reduction="mean"):
    """Sum over each row of (y_pred - y_true)^2."""
    dtype = float_dtype(y_true, y_pred, sample_weight)
    y, z = real_array(y_true, "y_true", dtype), real_array(y_pred, "y_pred", dtype)
    _core.check_same_shape(y_true=y, y_pred=z)
    return Terms(
        _row_sum_of_squares,
        (y, z),
        sample_shape=z.shape[:1],
        sample_weight=sample_weight,
        reduction=reduction,
        dtype=dtype,
    )


def _gap(a, b, *, value, grad, hess):
    return (a - b if value else None, (np.ones_like(a), -np.ones_like(b)) if grad else None, None)


@loss(_gap)
def gap_loss(a, b, *, sample_weight=None, reduction="mean"):
    """a - b, a loss of two predictions."""
    dtype = float_dtype(a, b, sample_weight)
    a, b = real_array(a, "a", dtype), real_array(b, "b", dtype)
    return Terms(
        _gap, (a, b), sample_shape=a.shape, sample_weight=sample_weight, reduction=reduction, dtype=dtype
    )


bce = lossfns.binary_cross_entropy_with_logits


# ------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ((np.float32([1.0]), np.float32([0.5])), np.float32),
        ((np.float32([1.0]), np.array([1, 0])), np.float32),
        ((np.float32([1.0]), np.array([True])), np.float32),
        ((np.float32([1.0]), np.float64([0.5])), np.float64),
        ((np.float32([1.0]), [0.5]), np.float64),
        ((np.array([1, 0]), np.array([2, 3])), np.float64),
        ((np.float32([1.0]), None, 2.0), np.float32),
        ((np.float16([1.0]),), np.float64),
    ],
)
def test_float_dtype(values, expected):
    assert float_dtype(*values) == expected


@pytest.mark.parametrize(
    ("y", "z", "w", "expected"),
    [
        (np.float32([1, 0]), np.float32([0.5, -2]), None, np.float32),
        (np.array([1, 0]), np.float32([0.5, -2]), None, np.float32),
        (np.array([1, 0]), np.float32([0.5, -2]), np.float32([1, 2]), np.float32),
        (np.array([1, 0]), np.float32([0.5, -2]), np.float64([1, 2]), np.float64),
        (np.float64([1, 0]), np.float32([0.5, -2]), None, np.float64),
        (np.array([True, False]), np.array([1, -2]), None, np.float64),
    ],
)
def test_result_dtype_follows_inputs(y, z, w, expected):
    for reduction in ("mean", "sum"):
        value = bce(y, z, sample_weight=w, reduction=reduction)
        assert isinstance(value, np.generic) and value.dtype == expected
    value, grad = bce.value_and_grad(y, z, sample_weight=w, reduction="none")
    assert value.dtype == grad.dtype == bce.hess(y, z, sample_weight=w).dtype == expected


# ---------------------------------------------------------------- reductions


def test_reductions_and_weights_elementwise():
    y, z = np.array([1.0, 0.0, 1.0, 0.0]), np.array([0.3, -1.2, 2.0, 4.0])
    w = np.array([0.5, 2.0, 0.0, 1.5])
    terms = bce(y, z, reduction="none")
    assert terms.shape == z.shape
    assert bce(y, z) == pytest.approx(terms.mean(), rel=1e-15)
    assert bce(y, z, reduction="sum") == pytest.approx(terms.sum(), rel=1e-15)
    np.testing.assert_array_equal(bce(y, z, sample_weight=w, reduction="none"), w * terms)
    assert bce(y, z, sample_weight=w) == pytest.approx((w * terms).sum() / w.sum(), rel=1e-15)
    assert bce(y, z, sample_weight=w, reduction="sum") == pytest.approx((w * terms).sum(), rel=1e-15)


def test_derivatives_scale_like_the_value():
    y, z = np.array([1.0, 0.0, 0.25]), np.array([0.3, -1.2, 2.0])
    w = np.array([0.5, 2.0, 1.0])
    g, h = bce.grad(y, z, reduction="none"), bce.hess(y, z, reduction="none")
    np.testing.assert_allclose(bce.grad(y, z), g / 3, rtol=1e-15)
    np.testing.assert_allclose(bce.grad(y, z, reduction="sum"), g, rtol=1e-15)
    np.testing.assert_allclose(bce.grad(y, z, sample_weight=w), w * g / w.sum(), rtol=1e-15)
    np.testing.assert_allclose(bce.hess(y, z, sample_weight=w), w * h / w.sum(), rtol=1e-15)
    np.testing.assert_allclose(bce.hess(y, z, sample_weight=w, reduction="none"), w * h, rtol=1e-15)


def test_row_weights_broadcast_over_a_2d_elementwise_loss():
    y = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    z = np.array([[0.5, -1.0, 2.0], [1.0, -3.0, 0.0]])
    w = np.array([2.0, 0.5])
    terms = bce(y, z, reduction="none")
    expected = w[:, None] * terms
    np.testing.assert_array_equal(bce(y, z, sample_weight=w, reduction="none"), expected)
    # the weighted mean over elements: every element of a row carries the row's weight
    assert bce(y, z, sample_weight=w) == pytest.approx(expected.sum() / (3 * w.sum()), rel=1e-15)
    np.testing.assert_allclose(
        bce.grad(y, z, sample_weight=w), w[:, None] * bce.grad(y, z, reduction="none") / (3 * w.sum()), rtol=1e-15
    )
    full = np.broadcast_to(w[:, None], y.shape)
    assert bce(y, z, sample_weight=full) == pytest.approx(bce(y, z, sample_weight=w), rel=1e-15)


def test_row_loss_reduces_per_row_and_scales_its_gradient_rows():
    rng = np.random.default_rng(1)
    y, z, w = rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), np.array([1.0, 2.0, 0.0, 3.0])
    per_row = ((z - y) ** 2).sum(axis=1)
    np.testing.assert_allclose(row_loss(y, z, reduction="none"), per_row, rtol=1e-15)
    assert row_loss(y, z) == pytest.approx(per_row.mean(), rel=1e-15)
    assert row_loss(y, z, sample_weight=w) == pytest.approx((w * per_row).sum() / w.sum(), rel=1e-15)
    grad = row_loss.grad(y, z, sample_weight=w)
    assert grad.shape == z.shape
    np.testing.assert_allclose(grad, 2 * (z - y) * w[:, None] / w.sum(), rtol=1e-15)
    assert not hasattr(row_loss, "hess")


def test_several_predictions_give_a_tuple_of_gradients():
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.5, 0.5, 0.5, 0.5])
    value, (ga, gb) = gap_loss.value_and_grad(a, b, reduction="sum", sample_weight=[1, 2, 3, 4])
    assert value == pytest.approx((np.array([1, 2, 3, 4]) * (a - b)).sum())
    np.testing.assert_array_equal(ga, [1, 2, 3, 4])
    np.testing.assert_array_equal(gb, [-1, -2, -3, -4])
    ga, gb = gap_loss.grad(a, b)
    np.testing.assert_array_equal(ga, np.full(4, 0.25))
    np.testing.assert_array_equal(gb, np.full(4, -0.25))


def test_zero_weights_are_allowed_but_not_a_zero_total_for_the_mean():
    y, z = [1.0, 0.0], [0.5, 0.5]
    assert bce(y, z, sample_weight=[0.0, 0.0], reduction="sum") == 0
    with pytest.raises(ValueError, match="sample_weight sums to zero"):
        bce(y, z, sample_weight=[0.0, 0.0])
    with pytest.raises(ValueError, match="sample_weight sums to zero"):
        bce.grad(y, z, sample_weight=[0.0, 0.0])


# ----------------------------------------------------------------- validation


@pytest.mark.parametrize("bad", ["abc", ["a", "b"], [1 + 2j], [object()]])
def test_non_numeric_input_is_a_type_error(bad):
    with pytest.raises(TypeError, match="logits"):
        bce([1.0], bad)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"y_true": [], "logits": []}, "y_true is empty"),
        ({"y_true": [1.0, 0.0], "logits": [0.0, np.nan]}, "logits contains NaN or infinite values"),
        ({"y_true": [1.0, 0.0], "logits": [0.0, np.inf]}, "logits contains NaN or infinite values"),
        ({"y_true": [np.nan, 0.0], "logits": [0.0, 1.0]}, "y_true contains NaN"),
        ({"y_true": [1.0, 0.0], "logits": [0.0, 1.0, 2.0]}, r"shapes differ: y_true \(2,\), logits \(3,\)"),
        ({"y_true": [[1.0, 0.0]], "logits": [1.0, 0.0]}, "shapes differ"),
        ({"y_true": [1.0, 0.0], "logits": [0.0, 1.0], "reduction": "avg"}, "reduction must be one of"),
        ({"y_true": [1.0, 0.0], "logits": [0.0, 1.0], "reduction": None}, "reduction must be one of"),
        ({"y_true": [1.0, 0.0], "logits": [0.0, 1.0], "sample_weight": [1.0, -1.0]}, "sample_weight must be non-negative"),
        ({"y_true": [1.0, 0.0], "logits": [0.0, 1.0], "sample_weight": [1.0, np.nan]}, "sample_weight contains NaN"),
        ({"y_true": [1.0, 0.0], "logits": [0.0, 1.0], "sample_weight": [1.0, 1.0, 1.0]}, "sample_weight has shape"),
        ({"y_true": [1.0, 0.0], "logits": [0.0, 1.0], "sample_weight": []}, "sample_weight is empty"),
    ],
)
@pytest.mark.parametrize("method", ["__call__", "grad", "hess", "value_and_grad"])
def test_bad_input_is_a_value_error_naming_the_argument(kwargs, message, method):
    with pytest.raises(ValueError, match=message):
        getattr(bce, method)(**kwargs)


def test_weights_must_match_leading_axes_not_trailing_ones():
    y, z = np.zeros((2, 3)), np.zeros((2, 3))
    with pytest.raises(ValueError, match="sample_weight has shape"):
        bce(y, z, sample_weight=np.ones(3))  # would broadcast silently under NumPy's rules


def test_finite_values_whose_sum_overflows_are_accepted():
    z = np.array([1e308, 1e308, -1e308])
    with np.errstate(over="ignore"):
        assert np.isinf(np.add.reduce(z))
    np.testing.assert_array_equal(real_array(z, "z"), z)


def test_check_helpers():
    _core.within("y", 0, 1)(np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"y must lie in \[0, 1\]; found -0.5"):
        _core.within("y", 0, 1)(np.array([-0.5, 1.0]))
    for bad in (np.nan, np.inf, -np.inf):
        for check in (_core.within("y", 0, 1), _core.one_of("y", (-1, 1)), _core.finite("y")):
            with pytest.raises(ValueError, match="y contains NaN or infinite values"):
                check(np.array([0.5, bad]))
    with pytest.raises(ValueError, match="d contains NaN or infinite values"):
        _core.nonnegative("d")(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="d must be non-negative; found -inf"):
        _core.nonnegative("d")(np.array([1.0, -np.inf]))
    _core.one_of("y", (-1, 1))(np.array([-1, 1, 1]))
    with pytest.raises(ValueError, match="found 2"):
        _core.one_of("y", (-1, 1))(np.array([-1, 2]))
    with pytest.raises(ValueError, match="margin must be >= 0"):
        _core.check_margin(-0.5)
    assert _core.check_scalar(2, "delta", low=0, low_inclusive=False) == 2.0
    with pytest.raises(ValueError, match="gamma must be >= 0"):
        _core.check_scalar(-1.0, "gamma", low=0)
    with pytest.raises(ValueError, match="alpha must be <= 1"):
        _core.check_scalar(1.5, "alpha", low=0, high=1)
    with pytest.raises(ValueError, match="must be finite"):
        _core.check_scalar(float("nan"), "delta")
    with pytest.raises(TypeError, match="margin must be a real number"):
        _core.check_scalar("1", "margin")
    with pytest.raises(TypeError, match="margin must be a real number"):
        _core.check_scalar(True, "margin")


def test_distribution_and_class_index_checks():
    _core.check_distribution(np.array([[0.25, 0.75], [1.0, 0.0]]), "p")
    _core.check_distribution(np.array([[0.5, 1.0], [0.5, 0.0]]), "p", axis=0)
    _core.check_distribution(np.array([0.5, 0.5 + 0.9e-6]), "p")
    with pytest.raises(ValueError, match="p must sum to 1 along axis -1"):
        _core.check_distribution(np.array([0.5, 0.5 + 1.1e-6]), "p")
    with pytest.raises(ValueError, match="p must be non-negative; found -0.5"):
        _core.check_distribution(np.array([1.5, -0.5]), "p")
    np.testing.assert_array_equal(_core.check_class_indices(np.array([0, 2]), "y", 3), [0, 2])
    with pytest.raises(ValueError, match=r"y must hold class indices in range\(3\); found -1"):
        _core.check_class_indices(np.array([0, -1]), "y", 3)
    with pytest.raises(TypeError, match="integer class indices"):
        _core.check_class_indices(np.array([0.0, 1.0]), "y", 3)


# ------------------------------------------------------------ the Loss object


def test_loss_object_keeps_name_signature_doc_and_pickles():
    assert bce.__name__ == "binary_cross_entropy_with_logits"
    assert bce.__module__ == "lossfns.classification"
    assert "Examples" in bce.__doc__
    params = inspect.signature(bce).parameters
    assert list(params) == ["y_true", "logits", "pos_weight", "sample_weight", "reduction"]
    assert params["reduction"].default == "mean"
    assert pickle.loads(pickle.dumps(bce)) is bce
    assert repr(bce) == "<loss lossfns.classification.binary_cross_entropy_with_logits>"
    assert isinstance(bce, lossfns.ElementwiseLoss)


def test_value_and_grad_equals_separate_calls():
    rng = np.random.default_rng(2)
    y, z = rng.uniform(size=50), rng.normal(scale=5, size=50)
    value, grad = bce.value_and_grad(y, z, reduction="sum")
    assert value == bce(y, z, reduction="sum")
    np.testing.assert_array_equal(grad, bce.grad(y, z, reduction="sum"))


def test_inputs_are_not_modified():
    y, z, w = np.array([1.0, 0.0]), np.array([0.5, -0.5]), np.array([1.0, 3.0])
    copies = y.copy(), z.copy(), w.copy()
    for method in (bce, bce.grad, bce.hess, bce.value_and_grad):
        method(y, z, sample_weight=w)
    for original, copy in zip((y, z, w), copies):
        np.testing.assert_array_equal(original, copy)


def test_import_needs_only_numpy_and_scipy():
    code = (
        "import sys, lossfns; "
        "heavy = [m for m in ('matplotlib', 'ipywidgets', 'IPython', 'sympy', 'pandas') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# Every row-wise loss, with arguments of more rows than one block holds.
rng = np.random.default_rng(7)
N = 3 * _core.BLOCK_SIZE + 17
y01 = (rng.random(N) < 0.5).astype(float)
soft = rng.random(N)
signs = np.where(y01 > 0, 1.0, -1.0)
z = rng.normal(0, 4, N)
rows = max(3, N // 10)
labels = rng.integers(0, 10, rows)
logits = rng.normal(0, 4, (rows, 10))
emb = [rng.normal(0, 1, (N // 4, 4)) for _ in range(3)]
CASES = {
    "bce_with_logits": (lossfns.binary_cross_entropy_with_logits, (soft, z), {}),
    "bce_pos_weight": (
        lossfns.binary_cross_entropy_with_logits,
        (soft.reshape(-1, 1)[: N // 3 * 3].reshape(-1, 3), z[: N // 3 * 3].reshape(-1, 3)),
        {"pos_weight": np.array([0.5, 1.0, 3.0])},
    ),
    "bce": (lossfns.binary_cross_entropy, (y01, rng.uniform(0.001, 0.999, N)), {}),
    "softmax_ce": (lossfns.softmax_cross_entropy, (labels, logits), {"label_smoothing": 0.1}),
    "softmax_focal": (lossfns.softmax_focal_loss, (labels, logits), {}),
    "focal": (lossfns.focal_loss, (soft, z), {"alpha": 0.25}),
    "logistic": (lossfns.logistic_loss, (signs, z), {}),
    "hinge": (lossfns.hinge, (signs, z), {}),
    "squared_hinge": (lossfns.squared_hinge, (signs, z), {}),
    "pairwise_hinge": (lossfns.pairwise_hinge, (z, rng.normal(0, 4, N)), {}),
    "bpr": (lossfns.bpr, (z, rng.normal(0, 4, N)), {}),
    "contrastive": (lossfns.contrastive, (y01, np.abs(z)), {}),
    "triplet": (lossfns.triplet, tuple(emb), {}),
    "mse": (lossfns.mse, (z, rng.normal(0, 4, N)), {}),
    "mae": (lossfns.mae, (z, rng.normal(0, 4, N)), {}),
    "huber": (lossfns.huber, (z, rng.normal(0, 4, N)), {"delta": 2.0}),
}


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


@pytest.mark.parametrize("case", list(CASES))
def test_a_float32_sum_keeps_pairwise_accuracy(case):
    # float32 values are summed by NumPy's pairwise summation: for non-negative terms
    # the relative error is at most about eps log2(n); the bound allows twice that
    loss, args, hyper = CASES[case]
    args = tuple(a.astype(np.float32) if a.dtype == np.float64 else a for a in args)
    hyper = {k: np.float32(v) if isinstance(v, float) else v for k, v in hyper.items()}
    hyper = {k: v.astype(np.float32) if isinstance(v, np.ndarray) else v for k, v in hyper.items()}
    total = loss(*args, **hyper, reduction="sum")
    assert total.dtype == np.float32
    exact = math.fsum(loss(*args, **hyper, reduction="none").ravel().tolist())
    assert total == pytest.approx(exact, rel=2 * math.log2(N) * 2.0**-24)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_bad_entry_in_the_last_block_is_an_error(case, bad):
    # the finiteness and label checks of row-wise losses run block by block
    loss, args, hyper = CASES[case]
    prediction = args[-1].copy()
    prediction.flat[-1] = bad
    for method in ("__call__", "grad", "value_and_grad"):
        with pytest.raises(ValueError, match="contains NaN or infinite values"):
            getattr(loss, method)(*args[:-1], prediction, **hyper)


@pytest.mark.parametrize(
    ("case", "label", "message"),
    [
        ("bce_with_logits", 1.5, r"y_true must lie in \[0, 1\]; found 1.5"),
        ("bce", -0.5, r"y_true must lie in \[0, 1\]; found -0.5"),
        ("focal", np.nan, "y_true contains NaN or infinite values"),
        ("logistic", 0.0, r"y_true must hold only the values \(-1, 1\); found 0.0"),
        ("hinge", np.inf, "y_true contains NaN or infinite values"),
        ("contrastive", 0.5, r"y_similar must hold only the values \(0, 1\); found 0.5"),
    ],
)
def test_a_bad_label_in_the_last_block_is_an_error(case, label, message):
    loss, args, hyper = CASES[case]
    labels = args[0].copy()
    labels[-1] = label
    with pytest.raises(ValueError, match=message):
        loss.value_and_grad(labels, *args[1:], **hyper)


def test_a_negative_distance_in_the_last_block_is_an_error():
    y, distance = CASES["contrastive"][1]
    distance = distance.copy()
    distance[-1] = -1.0
    with pytest.raises(ValueError, match="distance must be non-negative; found -1.0"):
        lossfns.contrastive.value_and_grad(y, distance)


def test_scalar_arguments_give_scalar_results():
    value = lossfns.binary_cross_entropy_with_logits(1.0, -1000.0, reduction="none")
    grad = lossfns.binary_cross_entropy_with_logits.grad(1.0, 2.0)
    assert np.ndim(value) == 0 and np.ndim(grad) == 0
    assert float(value) == 1000.0


# ------------------------------------------------------------- edges of the valid domain


def test_numpy_float32_scalars_give_float32():
    assert lossfns.mse(np.float32(1), np.float32(2)).dtype == np.float32
    assert float_dtype(np.float32(1), 2.0) == np.float32  # a Python float does not vote


@pytest.mark.parametrize("scale", [5e-324, 1e-310, 1e300, np.finfo(float).max])
def test_a_weighted_mean_does_not_depend_on_the_scale_of_the_weights(scale):
    # mean of (1, 1, 1, 0) with equal weights is 3/4 exactly, at any scale of the weights:
    # 5e-324 * 1 underflows nowhere and 4 * max does not overflow
    value = lossfns.mse([0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0], sample_weight=np.full(4, scale))
    assert value == 0.75
    grad = lossfns.mse.grad([0.0, 0.0], [1.0, 0.0], sample_weight=np.full(2, scale))
    np.testing.assert_array_equal(grad, [1.0, 0.0])


def test_a_ragged_list_is_a_type_error_naming_the_argument():
    with pytest.raises(TypeError, match="y_true must be an array of real numbers"):
        lossfns.mse([[1.0, 2.0], [3.0]], [[1.0, 2.0], [3.0]])


def test_a_numpy_array_beside_a_tensor_is_a_type_error_naming_both():
    # (a loss computes in the namespace of its inputs: tests/test_array_api.py)
    torch = pytest.importorskip("torch")
    logits = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    with pytest.raises(TypeError, match=r"y_true is a numpy array, logits is a torch array"):
        lossfns.binary_cross_entropy_with_logits(np.zeros(3), logits)


def test_strict_floating_point_at_extreme_logits():
    with np.errstate(all="raise"):
        value = lossfns.binary_cross_entropy_with_logits(
            [1.0, 0.0, 1.0], [800.0, -800.0, -800.0], reduction="none"
        )
    np.testing.assert_array_equal(value, [0.0, 0.0, 800.0])


def test_a_hyper_parameter_beyond_the_float_range_is_a_value_error():
    with pytest.raises(ValueError, match="delta must be finite"):
        lossfns.huber([0.0], [1.0], delta=10**400)


def test_a_block_keeps_its_formulas_live_arrays_within_the_budget():
    # (lossfns._core.BLOCK_BUDGET says why: beyond it glibc trims its heap after every call)
    large = _core.LARGE_BLOCKS * _core.BLOCK_SIZE
    assert _core.block_entries(None, 8, 10**5) == _core.BLOCK_SIZE  # no footprint declared
    # a cheap formula: large blocks; one just above: full blocks
    assert _core.block_entries(_core.CHEAP_FOOTPRINT, 8, 10**6) == large
    assert _core.block_entries(_core.CHEAP_FOOTPRINT + 1, 8, 10**6) == _core.BLOCK_SIZE
    assert _core.block_entries(2, 8, 10**5) == large
    entries = _core.block_entries(20, 8, 10**5)
    assert entries < _core.BLOCK_SIZE
    assert 20 * entries * 8 <= _core.BLOCK_BUDGET < 20 * (entries + 1) * 8
    # where one input array takes more than the budget, it is the budget (glibc's
    # thresholds grow with the arrays freed)
    assert _core.block_entries(20, 8, 10**6) == _core.BLOCK_SIZE
    assert _core.block_entries(20, 4, 10**5) == 2 * entries  # float32: twice the entries
    # the cap is in bytes too: a float32 block holds twice BLOCK_SIZE entries
    assert _core.block_entries(None, 4, 10**6) == 2 * _core.BLOCK_SIZE
    assert _core.block_entries(2, 4, 10**6) == 2 * large
    assert _core.block_entries(10**9, 8, 10) == 1
    # grad_hess: large blocks for any formula, within the budget still
    assert _core.block_entries(20, 8, 10**6, large=True) == large
    assert _core.block_entries(10, 4, 10**6, large=True) == 2 * large
    assert _core.block_entries(20, 8, 10**5, large=True) == entries
    assert _core.block_entries(10**9, 8, 10, large=True) == 1


def test_the_executor_evaluates_blocks_of_the_declared_footprints_size(monkeypatch):
    sizes = []
    formula = lossfns.focal_loss.formulas[0]

    def counting(y, z, **kwargs):
        sizes.append(len(z))
        return formula(y, z, **kwargs)

    n = 10**5
    rng = np.random.default_rng(3)
    y, z = rng.random(n), rng.normal(0, 3, n)
    terms = lossfns.focal_loss._terms(y, z)
    terms.formula = counting
    terms.evaluate(value=True, grad=True)
    entries = _core.block_entries(lossfns.focal_loss.footprint, 8, n)
    assert sizes[:-1] == [entries] * (len(sizes) - 1) and sum(sizes) == n
