"""lossfns.multiclass_hinge: Crammer-Singer against scikit-learn, Weston-Watkins against its
definition, both against the binary hinge at two classes, derivatives, extremes, bad input.

(test_shared.py runs the block, derivative and dtype checks every loss must pass on the
default, Crammer-Singer; the Weston-Watkins derivatives are checked here.)
"""

import numpy as np
import pytest
from sklearn.metrics import hinge_loss
from sklearn.svm import LinearSVC

import lossfns
from test_shared import _class_scores

EPS = np.finfo(np.float64).eps
mch = lossfns.multiclass_hinge


def rows(n=400, classes=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, classes, n), rng.normal(0, 2, (n, classes))


def weston_watkins_reference(y, f, margin=1.0):
    return np.array([sum(max(0.0, margin + f[i, j] - f[i, y[i]]) for j in range(f.shape[1]) if j != y[i])
                     for i in range(len(y))])


def test_crammer_singer_is_scikit_learns_multiclass_hinge_loss():
    y, f = rows()
    # the same 400 terms, summed in another order: a few ulps of the mean
    assert abs(mch(y, f) - hinge_loss(y, f, labels=range(5))) <= 16 * EPS * mch(y, f)
    weights = np.random.default_rng(1).uniform(0, 2, 400)
    assert abs(mch(y, f, sample_weight=weights)
               - hinge_loss(y, f, labels=range(5), sample_weight=weights)) <= 16 * EPS * mch(y, f)


def test_weston_watkins_against_its_definition_and_above_crammer_singer():
    y, f = rows()
    for margin in (0.0, 1.0, 2.5):
        ww = mch(y, f, margin=margin, method="weston_watkins", reduction="none")
        np.testing.assert_allclose(ww, weston_watkins_reference(y, f, margin), rtol=4 * EPS, atol=4 * EPS)
        assert np.all(ww >= mch(y, f, margin=margin, reduction="none"))


@pytest.mark.parametrize("method", ["crammer_singer", "weston_watkins"])
def test_two_classes_are_the_binary_hinge(method):
    y, f = rows(classes=2)
    binary = lossfns.hinge(2.0 * y - 1, f[:, 1] - f[:, 0], reduction="none")
    np.testing.assert_allclose(mch(y, f, method=method, reduction="none"), binary, rtol=0, atol=8 * EPS * 4)


@pytest.mark.parametrize("method", ["crammer_singer", "weston_watkins"])
def test_gradient_against_central_differences_away_from_the_kinks(method):
    y, f = _class_scores(np.random.default_rng(2), 300, classes=5)
    grad = mch.grad(y, f, method=method, reduction="sum")
    step = 1e-6
    for j in range(5):
        up, down = f.copy(), f.copy()
        up[:, j] += step
        down[:, j] -= step
        fd = (mch(y, up, method=method, reduction="none") - mch(y, down, method=method, reduction="none")) / (2 * step)
        # piecewise linear, no kink within 0.3: rounding only, eps |l| / step < 1e-8
        assert np.max(np.abs(fd - grad[:, j])) < 1e-8
    value, grad_mean = mch.value_and_grad(y, f, method=method)
    assert value == mch(y, f, method=method)
    np.testing.assert_array_equal(grad_mean, grad / len(y))


def test_gradient_at_a_kink_is_zero_and_rows_sum_to_zero():
    f = np.array([[1.0, 0.0, -3.0]])  # slack of class 1 exactly 0
    for method in ("crammer_singer", "weston_watkins"):
        assert mch(np.array([0]), f, method=method) == 0
        np.testing.assert_array_equal(mch.grad(np.array([0]), f, method=method), np.zeros((1, 3)))
    y, f = rows()
    for method in ("crammer_singer", "weston_watkins"):
        assert np.all(mch.grad(y, f, method=method, reduction="none").sum(axis=1) == 0)


def test_linear_svc_crammer_singer_minimises_it():
    rng = np.random.default_rng(3)
    X = rng.normal(0, 1, (240, 3)) + np.repeat(np.eye(3) * 2.5, 80, axis=0)
    y = np.repeat(np.arange(3), 80)
    svc = LinearSVC(multi_class="crammer_singer", C=0.5, fit_intercept=False, tol=1e-12, max_iter=10**6).fit(X, y)

    def objective(W):
        return 0.5 * np.sum(W * W) + 0.5 * mch(y, X @ W.T, reduction="sum")

    best = objective(svc.coef_)
    assert all(objective(svc.coef_ + 1e-3 * rng.normal(size=svc.coef_.shape)) > best for _ in range(100))


def test_extremes_and_dtypes():
    huge = np.array([[1e308, -1e308, 0.0]])
    assert mch(np.array([0]), huge) == 0
    assert np.isinf(mch(np.array([1]), huge))  # m + f_0 - f_1 = 2e308: the true value overflows
    y, f = rows(n=10)
    assert mch(y.astype(np.uint8), f.astype(np.float32)).dtype == np.float32
    assert mch(y, f).dtype == np.float64


@pytest.mark.parametrize("method", ["crammer_singer", "weston_watkins"])
def test_a_large_margin_meets_the_gap_not_the_score(method):
    # m + (f_j - f_y): (m + f_j) - f_y overflowed to inf for m = f_j = f_y = 1e308
    value = mch(np.array([0]), np.array([[1e308, 1e308]]), margin=1e308, method=method)
    assert value == 1e308
    assert mch(np.array([0]), np.array([[1e308, 1e308]]), margin=1e308, method=method,
               reduction="none").tolist() == [1e308]


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        ((np.array([0, 1]), np.zeros((2, 3))), {"method": "ovr"}, ValueError, "method"),
        ((np.array([0, 3]), np.zeros((2, 3))), {}, ValueError, "y_true"),
        ((np.array([0.0, 1.0]), np.zeros((2, 3))), {}, TypeError, "y_true"),
        ((np.array([0, 1]), np.zeros(2)), {}, ValueError, "scores"),
        ((np.array([0, 0]), np.zeros((2, 1))), {}, ValueError, "scores"),
        ((np.array([0, 1, 1]), np.zeros((2, 3))), {}, ValueError, "shapes differ"),
        ((np.array([0, 1]), np.array([[0.0, np.nan, 1.0], [0, 0, 0]])), {}, ValueError, "scores"),
        ((np.array([0, 1]), np.zeros((2, 3))), {"margin": -1.0}, ValueError, "margin"),
        ((np.array([0, 1]), np.zeros((2, 3))), {"sample_weight": [1.0, -1.0]}, ValueError, "sample_weight"),
        ((np.array([0, 1]), np.zeros((2, 3))), {"reduction": "max"}, ValueError, "reduction"),
    ],
)
def test_bad_input_names_the_argument(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        mch(*args, **kwargs)
