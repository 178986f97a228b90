"""lossfns.boosting: losses as XGBoost / LightGBM objectives, and grad_hess of every loss.

The equality tests train the same model twice, with a built-in objective and with a
``lossfns`` objective from the same start score, and compare the raw scores: LightGBM to
1e-12 (its gradients are rounded to float32 the same way in both), XGBoost to 1e-5
(float32 margins: a few units in the last place of ~1). The quality tests check that the
default Hessian policies of MAE, pinball and Huber reach the built-ins' test error within 2 %.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import lossfns
from lossfns import boosting
from lossfns._core import ElementwiseLoss

xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")

RNG = np.random.default_rng(20261201)


# ------------------------------------------------- grad_hess of every elementwise loss


def _elementwise_cases():
    """(loss, positional arrays, hyper, index of the prediction argument): inputs away from
    every kink, so that finite differences apply."""
    n = 64
    z = RNG.normal(scale=2, size=n)
    y01 = RNG.integers(0, 2, n).astype(float)
    ypm = 2 * y01 - 1
    y = RNG.normal(size=n)
    # residuals at least 0.05 away from 0 and from +-delta (Huber) / the margin (hinges)
    shift = RNG.choice([-1, 1], n) * RNG.uniform(0.05, 0.45, n)
    p = y + shift
    far = y + RNG.choice([-1, 1], n) * RNG.uniform(1.1, 3, n)
    mixed = np.where(RNG.random(n) < 0.5, p, far)
    ypos = RNG.uniform(0.5, 3, n)
    margin_scores = ypm * (1 + RNG.choice([-1, 1], n) * RNG.uniform(0.05, 1.5, n))
    pos, neg = RNG.normal(size=n), RNG.normal(size=n)
    cases = [
        (lossfns.binary_cross_entropy_with_logits, (y01, z), {}, 1),
        (lossfns.binary_cross_entropy_with_logits, (RNG.random(n), z), {"pos_weight": 3.0}, 1),
        (lossfns.binary_cross_entropy, (y01, RNG.uniform(0.05, 0.95, n)), {}, 1),
        (lossfns.logistic_loss, (ypm, z), {}, 1),
        (lossfns.hinge, (ypm, margin_scores), {}, 1),
        (lossfns.squared_hinge, (ypm, margin_scores), {}, 1),
        (lossfns.focal_loss, (y01, z), {"gamma": 2.0, "alpha": 0.25}, 1),
        (lossfns.focal_loss, (y01, z), {"gamma": 0.5}, 1),
        (lossfns.mse, (y, mixed), {}, 1),
        (lossfns.mae, (y, mixed), {}, 1),
        (lossfns.huber, (y, mixed), {"delta": 1.0}, 1),
        (lossfns.mape, (ypos, ypos + shift), {}, 1),
        (lossfns.smape, (ypos, ypos + shift), {}, 1),
        (lossfns.pinball, (y, mixed), {"quantile": 0.8}, 1),
        (lossfns.log_cosh, (y, 3 * mixed), {}, 1),
        (lossfns.watch_time_logistic, (y01, ypos, z), {}, 2),
        (lossfns.pairwise_hinge, (pos, pos - 1 + shift), {}, 0),
        (lossfns.bpr, (pos, neg), {}, 0),
        (lossfns.pairwise_logistic, (pos, neg), {}, 0),
        (lossfns.contrastive, (y01, ypos + 0.1), {"margin": 2.0}, 1),
    ]
    if hasattr(lossfns.softmax_cross_entropy, "hess"):  # the Hessian diagonal p(1 - p)
        labels, logits = RNG.integers(0, 4, n), RNG.normal(scale=2, size=(n, 4))
        cases += [
            (lossfns.softmax_cross_entropy, (labels, logits), {}, 1),
            (lossfns.softmax_cross_entropy, (labels, logits),
             {"label_smoothing": 0.1, "class_weight": [1.0, 2.0, 0.5, 1.5]}, 1),
        ]
    return cases


CASES = _elementwise_cases()


def test_the_cases_cover_every_elementwise_loss():
    every = {getattr(lossfns, name) for name in lossfns.__all__}
    elementwise = {f for f in every if isinstance(f, ElementwiseLoss)}
    assert elementwise == {case[0] for case in CASES}


def _first(d, index):
    """The derivative with respect to the prediction argument ``index`` (losses of two
    prediction arguments return a tuple)."""
    return d[index] if isinstance(d, tuple) and index < len(d) else d


@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0].__name__)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", ["sum", "mean", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_grad_hess_is_grad_and_hess_bit_for_bit(case, dtype, reduction, weighted):
    loss, arrays, hyper, _ = case
    arrays = tuple(a if a.dtype.kind == "i" else a.astype(dtype) for a in map(np.asarray, arrays))
    w = RNG.uniform(0, 2, len(arrays[0])).astype(dtype) if weighted else None
    kw = dict(hyper, sample_weight=w, reduction=reduction)
    g, h = loss.grad_hess(*arrays, **kw)
    g_alone, h_alone = loss.grad(*arrays, **kw), loss.hess(*arrays, **kw)
    for a, b in zip(np.atleast_1d(g) if not isinstance(g, tuple) else g,
                    np.atleast_1d(g_alone) if not isinstance(g_alone, tuple) else g_alone):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(h if isinstance(h, tuple) else (h,), h_alone if isinstance(h_alone, tuple) else (h_alone,)):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0].__name__)
def test_grad_hess_match_finite_differences(case):
    """Central differences of the values (grad) and of the gradient (hess), float64,
    step 1e-6: truncation error ~1e-12 x third derivative, rounding ~1e-16/1e-6 = 1e-10."""
    loss, arrays, hyper, k = case
    step = 1e-6
    g, h = loss.grad_hess(*arrays, **hyper, reduction="none")
    g, h = _first(g, k), _first(h, k)
    # one column at a time for (n, K) scores: the Hessian's diagonal, entry by entry
    columns = [slice(None)] if np.ndim(arrays[k]) == 1 else range(np.shape(arrays[k])[1])
    for column in columns:
        e = np.zeros_like(arrays[k])
        e[..., column] = step

        def moved(sign):
            a = list(arrays)
            a[k] = a[k] + sign * e
            return a

        value = lambda s: loss(*moved(s), **hyper, reduction="none")  # noqa: E731
        grad = lambda s: _first(loss.grad(*moved(s), **hyper, reduction="none"), k)[..., column]  # noqa: E731
        np.testing.assert_allclose(
            g[..., column], (value(1) - value(-1)) / (2 * step), rtol=1e-6, atol=1e-7
        )
        np.testing.assert_allclose(
            h[..., column], (grad(1) - grad(-1)) / (2 * step), rtol=1e-6, atol=1e-6
        )


# ------------------------------------------------------------------ the objective


class FakeData:
    """What an objective reads of an xgboost.DMatrix / lightgbm.Dataset."""

    def __init__(self, label, weight):
        self.label, self.weight = label, weight

    def get_label(self):
        return self.label

    def get_weight(self):
        return self.weight


def test_objective_reads_labels_and_treats_an_empty_weight_array_as_none():
    y = np.float32([0, 1, 1, 0])
    z = np.float32([0.5, -1, 2, 0])
    obj = boosting.objective(lossfns.binary_cross_entropy_with_logits)
    g, h = obj(z, FakeData(y, np.empty(0, np.float32)))
    g_ref, h_ref = lossfns.binary_cross_entropy_with_logits.grad_hess(y, z, reduction="sum")
    np.testing.assert_array_equal(g, g_ref)
    np.testing.assert_array_equal(h, h_ref)
    assert g.dtype == h.dtype == np.float32  # the scores' dtype, no float64 copy
    w = np.float32([1, 2, 0, 1])
    g, h = obj(z, FakeData(y, w))
    np.testing.assert_array_equal(g, g_ref * w)
    np.testing.assert_array_equal(h, h_ref * w)
    # scikit-learn form: (y_true, y_pred[, sample_weight])
    g2, h2 = obj(y, z, sample_weight=w)
    np.testing.assert_array_equal(g2, g)
    np.testing.assert_array_equal(h2, h)


def test_objective_checks_a_label_array_once_and_a_new_one_again():
    """A dataset's labels are checked the first time the objective sees them; the next
    rounds reuse them (cast to the scores' dtype), and new labels are checked afresh."""
    obj = boosting.objective(lossfns.binary_cross_entropy_with_logits)
    data = lgb.Dataset(X[:100], Y_BINARY[:100]).construct()
    scores = np.zeros(100)
    first = obj(scores, data)
    labels = data.get_label()
    cast, checked = obj._labels.cast(labels, scores.dtype)
    assert checked and cast.dtype == np.float64
    np.testing.assert_array_equal(cast, labels)
    for a, b in zip(obj(scores, data), first):  # the same numbers from the reused labels
        np.testing.assert_array_equal(a, b)
    data.set_label(np.where(np.arange(100) == 7, 2.0, Y_BINARY[:100]))
    with pytest.raises(ValueError, match=r"y_true must lie in \[0, 1\]; found 2.0"):
        obj(scores, data)
    with pytest.raises(ValueError, match="y_true must lie"):  # another dataset
        obj(scores, lgb.Dataset(X[:100], np.full(100, -1.0)).construct())


def test_float64_scores_with_float32_labels_stay_float64():
    obj = boosting.objective(lossfns.mse)
    g, h = obj(np.array([0.1, 0.2]), FakeData(np.float32([0.3, 0.1]), None))
    assert g.dtype == h.dtype == np.float64
    np.testing.assert_array_equal(g, 2 * (np.array([0.1, 0.2]) - np.float32([0.3, 0.1])))


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("hessian,factor", [("exact", 1.0), ("xgboost", 2.0), ("lightgbm", 1.5)])
def test_softmax_objective_layouts_and_scalings(hessian, factor):
    n, K = 5, 3
    z = RNG.normal(size=(n, K))
    labels = np.float32([0, 2, 1, 1, 0])  # as the libraries hand them over
    w = np.float32([1, 0.5, 2, 1, 0])
    obj = boosting.objective(lossfns.softmax_cross_entropy, hessian=hessian)
    g, h = obj(z, FakeData(labels, w))
    p = _softmax(z)
    onehot = np.eye(K)[labels.astype(int)]
    np.testing.assert_allclose(g, (p - onehot) * w[:, None], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(h, factor * p * (1 - p) * w[:, None], rtol=1e-13, atol=1e-15)
    # flat layouts: class-major for LightGBM, row-major for XGBoost
    for order, module in (("F", "lightgbm.basic"), ("C", "xgboost.core")):
        Data = type("Data", (FakeData,), {"__module__": module})
        gf, hf = obj(z.ravel(order=order), Data(labels, w))
        np.testing.assert_array_equal(gf, g.ravel(order=order))
        np.testing.assert_array_equal(hf, h.ravel(order=order))
    g32, h32 = obj(z.astype(np.float32), FakeData(labels, None))
    assert g32.dtype == h32.dtype == np.float32


def test_softmax_objective_rejects_non_integer_labels():
    obj = boosting.objective(lossfns.softmax_cross_entropy)
    with pytest.raises(ValueError, match="y_true must hold integer class labels; found 0.5"):
        obj(np.zeros((2, 3)), FakeData(np.float32([0.5, 1]), None))
    with pytest.raises(ValueError, match=r"y_true must hold class indices in range\(3\); found 3"):
        obj(np.zeros((2, 3)), FakeData(np.float32([0, 3]), None))
    # NaN: the error of every loss, and no RuntimeWarning of a cast to integers first
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="y_true contains NaN or infinite values"):
            obj(np.zeros((2, 3)), FakeData(np.float32([0, np.nan]), None))


def test_ziln_hessian_matches_finite_differences_of_the_gradient():
    n = 40
    y = np.where(RNG.random(n) < 0.4, 0.0, RNG.lognormal(1, 0.8, n))
    logits = np.column_stack([RNG.normal(size=n), RNG.normal(1, 0.5, n), RNG.normal(size=n)])
    _, h = boosting.ziln_grad_hess(y, logits, hessian="exact")
    step = 1e-6
    for j in range(3):
        e = np.zeros(3)
        e[j] = step
        fd = (lossfns.ziln_loss.grad(y, logits + e, reduction="none")[:, j]
              - lossfns.ziln_loss.grad(y, logits - e, reduction="none")[:, j]) / (2 * step)
        np.testing.assert_allclose(h[:, j], fd, rtol=1e-6, atol=1e-7)
    # Fisher: the exact Hessian's expectation; positive for buyers
    _, hf = boosting.ziln_grad_hess(y, logits)
    np.testing.assert_array_equal(hf[:, :2], h[:, :2])
    assert (hf[y > 0, 2] > 0).all() and (h[y > 0, 2] < 0).any()


@pytest.mark.parametrize(
    "loss,hyper,expected",
    [
        (lossfns.mae, {}, lambda r, y: 1 / np.abs(r)),
        (lossfns.pinball, {"quantile": 0.3}, lambda r, y: 1 / (2 * np.abs(r))),
        (lossfns.mape, {}, lambda r, y: 100 / (np.abs(y) * np.abs(r))),
        (lossfns.huber, {"delta": 0.5}, lambda r, y: np.minimum(1, 0.5 / np.abs(r))),
        (lossfns.log_cosh, {}, lambda r, y: np.tanh(r) / r),
    ],
)
def test_majoriser_is_a_quadratic_upper_bound_that_touches(loss, hyper, expected):
    """q(t) = l(p) + g (t - p) + h/2 (t - p)^2 >= l(t) for all t, with equality at t = p,
    and h is the smallest curvature that does it (a smaller one fails somewhere)."""
    y = np.array([1.0, 2.0, -1.5, 3.0, 0.7])
    p = y + np.array([0.8, -0.3, 2.0, -4.0, 0.2])
    obj = boosting.objective(loss, hessian="majoriser", min_residual=1e-12, **hyper)
    g, h = obj(y, p)
    np.testing.assert_allclose(h, expected(p - y, y), rtol=1e-14)
    t = p[:, None] + np.linspace(-20, 20, 40001)[None, :]
    values = loss(np.repeat(y[:, None], t.shape[1], 1), t, **hyper, reduction="none")
    base = loss(y, p, **hyper, reduction="none")[:, None]
    q = base + g[:, None] * (t - p[:, None]) + h[:, None] / 2 * (t - p[:, None]) ** 2
    assert (q - values >= -1e-9 * np.maximum(1, np.abs(values))).all()
    q_smaller = base + g[:, None] * (t - p[:, None]) + 0.95 * h[:, None] / 2 * (t - p[:, None]) ** 2
    assert ((q_smaller - values) < -1e-9).any(axis=1).all()


def test_policies():
    y, p = np.array([0.0, 0.0]), np.array([0.5, 4.0])
    _, h = boosting.objective(lossfns.mae, hessian=0.5)(y, p)
    np.testing.assert_array_equal(h, [0.5, 0.5])
    _, h = boosting.objective(lossfns.mae, hessian="constant")(y, p, sample_weight=[2.0, 3.0])
    np.testing.assert_array_equal(h, [2.0, 3.0])
    _, h = boosting.objective(lossfns.huber, hessian="exact")(y, p)
    np.testing.assert_array_equal(h, [1.0, 0.0])
    _, h = boosting.objective(lossfns.huber, hessian="floor", floor=0.1)(y, p)
    np.testing.assert_array_equal(h, [1.0, 0.1])
    # focal: the exact Hessian is negative for a confident mistake; the default floors it
    yf, zf = np.array([1.0]), np.array([-6.0])
    _, h_exact = boosting.objective(lossfns.focal_loss, hessian="exact")(yf, zf)
    _, h_floor = boosting.objective(lossfns.focal_loss)(yf, zf)
    assert h_exact[0] < 0 and h_floor[0] == 1e-6


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: boosting.objective(lossfns.mae, hessian="exact"),
         r"hessian must be one of \('majoriser', 'constant'\) for mae, got 'exact'"),
        (lambda: boosting.objective(lossfns.mse, hessian="newton"),
         "hessian must be one of .* for mse, got 'newton'"),
        (lambda: boosting.objective(lossfns.softmax_cross_entropy, hessian=2.0),
         "hessian must be one of .* for softmax_cross_entropy, got 2.0"),
        (lambda: boosting.objective(lossfns.triplet),
         "loss triplet has no Hessian, so it cannot be a boosting objective"),
        (lambda: boosting.objective(lossfns.softmax_focal_loss),
         "loss softmax_focal_loss has no Hessian"),
        (lambda: boosting.objective(lossfns.bpr),
         r"loss bpr does not take \(y_true, raw score\)"),
        (lambda: boosting.objective(lossfns.binary_cross_entropy),
         "takes probabilities, not raw scores"),
        (lambda: boosting.objective(lossfns.mse, reduction="mean"), "reduction and sample_weight"),
        (lambda: boosting.objective(lossfns.huber, delta=-1.0), "delta"),
        (lambda: boosting.objective(lossfns.mae, hessian=-1.0), "hessian must be > 0"),
        (lambda: boosting.objective(lossfns.mae, min_residual=0.0), "min_residual must be > 0"),
        (lambda: boosting.objective(len), "loss must be a lossfns loss"),
    ],
)
def test_objective_errors_name_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ------------------------------------------------------------------ init_score


def _minimises(loss, y, c, w=None, **hyper):
    """No constant on a fine grid around c, nor c ± 1e-6, does better."""
    total = lambda s: float(loss(y, np.full_like(y, s), **hyper, sample_weight=w, reduction="sum"))  # noqa: E731
    best = total(c)
    spread = np.ptp(y) + 1
    for s in np.concatenate([c + np.linspace(-spread, spread, 2001), [c - 1e-6, c + 1e-6]]):
        assert total(s) >= best - 1e-9 * abs(best), (s, total(s), c, best)


@pytest.mark.parametrize(
    "loss,hyper,make_y",
    [
        (lossfns.mse, {}, lambda n: RNG.normal(size=n)),
        (lossfns.mae, {}, lambda n: RNG.standard_t(2, n)),
        (lossfns.pinball, {"quantile": 0.9}, lambda n: RNG.exponential(size=n)),
        (lossfns.mape, {}, lambda n: RNG.uniform(0.5, 5, n)),
        (lossfns.huber, {"delta": 0.7}, lambda n: RNG.standard_t(2, n)),
        (lossfns.log_cosh, {}, lambda n: RNG.standard_t(2, n)),
        (lossfns.smape, {}, lambda n: RNG.uniform(0.5, 5, n)),
        (lossfns.binary_cross_entropy_with_logits, {}, lambda n: RNG.random(n)),
        (lossfns.binary_cross_entropy_with_logits, {"pos_weight": 4.0},
         lambda n: RNG.integers(0, 2, n).astype(float)),
        (lossfns.logistic_loss, {}, lambda n: RNG.choice([-1.0, 1.0], n)),
        (lossfns.focal_loss, {"gamma": 2.0, "alpha": 0.25},
         lambda n: (RNG.random(n) < 0.2).astype(float)),
        (lossfns.hinge, {}, lambda n: RNG.choice([-1.0, 1.0], n, p=[0.7, 0.3])),
        (lossfns.squared_hinge, {}, lambda n: RNG.choice([-1.0, 1.0], n, p=[0.7, 0.3])),
    ],
    ids=lambda x: getattr(x, "__name__", ""),
)
@pytest.mark.parametrize("weighted", [False, True])
def test_init_score_is_the_minimiser(loss, hyper, make_y, weighted):
    y = make_y(101)
    w = RNG.uniform(0, 3, y.size) if weighted else None
    c = boosting.init_score(loss, y, sample_weight=w, **hyper)
    assert isinstance(c, np.float64)
    _minimises(loss, y, c, w, **hyper)


def test_init_score_closed_forms():
    assert boosting.init_score(lossfns.mae, [1.0, 2.0, 10.0, 11.0]) == 6.0
    assert boosting.init_score(lossfns.mae, [3.0, 1.0, 2.0]) == 2.0
    assert boosting.init_score(lossfns.pinball, np.arange(10.0), quantile=0.25) == 2.0
    y = np.array([0, 1, 1, 1.0])
    assert boosting.init_score(lossfns.binary_cross_entropy_with_logits, y) == np.log(3)
    np.testing.assert_allclose(
        boosting.init_score(lossfns.softmax_cross_entropy, np.float32([0, 1, 1, 2])),
        np.log([0.25, 0.5, 0.25]), rtol=1e-15)


@pytest.mark.parametrize("hyper", [{}, {"label_smoothing": 0.1}, {"class_weight": [1.0, 3.0, 0.5]}])
def test_softmax_init_score_minimises_the_mean_loss(hyper):
    from scipy import optimize

    y = RNG.integers(0, 3, 60)
    w = RNG.uniform(0.1, 2, 60)
    c = boosting.init_score(lossfns.softmax_cross_entropy, y, sample_weight=w, **hyper)
    f = lambda z: float(lossfns.softmax_cross_entropy(y, np.tile(z, (60, 1)), sample_weight=w, reduction="sum", **hyper))  # noqa: E731
    g = lambda z: lossfns.softmax_cross_entropy.grad(y, np.tile(z, (60, 1)), sample_weight=w, reduction="sum", **hyper).sum(axis=0)  # noqa: E731
    assert np.abs(g(c)).max() < 1e-12 * 60
    best = optimize.minimize(f, np.zeros(3), method="BFGS", options={"gtol": 1e-12})
    assert f(c) <= best.fun + 1e-12


def test_ziln_init_score_zeroes_the_gradient():
    y = np.where(RNG.random(200) < 0.6, 0.0, RNG.lognormal(2, 1.2, 200))
    w = RNG.uniform(0.5, 2, 200)
    c = boosting.init_score(lossfns.ziln_loss, y, sample_weight=w)
    g = lossfns.ziln_loss.grad(y, np.tile(c, (200, 1)), sample_weight=w, reduction="sum").sum(axis=0)
    assert np.abs(g).max() < 1e-10


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: boosting.init_score(lossfns.binary_cross_entropy_with_logits, [0.0, 0.0]),
         "y_true has no positive label"),
        (lambda: boosting.init_score(lossfns.softmax_cross_entropy, [0, 2], n_classes=3),
         "y_true has no .*sample of class 1"),
        (lambda: boosting.init_score(lossfns.ziln_loss, [0.0, 0.0]), "y_true has no positive value"),
        (lambda: boosting.init_score(lossfns.mse, [1.0, 2.0], sample_weight=[0.0, 0.0]),
         "sample_weight sums to zero"),
        (lambda: boosting.init_score(lossfns.mse, [1.0, np.nan]), "y_true contains NaN"),
        (lambda: boosting.init_score(lossfns.triplet, [1.0]), "triplet has no init_score"),
        # no finite minimiser: every weighted row a buyer, or the focal loss of one class
        # (its summed gradient underflows to 0 at |c| = 256: that is no minimiser either)
        (lambda: boosting.init_score(lossfns.ziln_loss, [0.0, 1.0, 2.0], sample_weight=[0, 1, 1]),
         "sample_weight is zero on every zero y_true"),
        (lambda: boosting.init_score(lossfns.focal_loss, [1.0, 1.0, 1.0]),
         "y_true has no negative label"),
        (lambda: boosting.init_score(lossfns.focal_loss, [0.0, 0.0], gamma=0.5),
         "y_true has no positive label"),
        (lambda: boosting.init_score(lossfns.focal_loss, [0.0, 1.0], sample_weight=[0, 1]),
         "y_true has no negative label"),
        (lambda: boosting.init_score(lossfns.focal_loss, [0.0, 1.0], alpha=1.0),
         "y_true has no negative label"),
        (lambda: boosting.init_score(lossfns.mse, [1.0, 2.0], n_classes=3),
         "n_classes is for softmax_cross_entropy only"),
        (lambda: boosting.init_score(lossfns.softmax_cross_entropy, [0, 1], n_classes=2.5),
         "n_classes must be an integer >= 2, got 2.5"),
    ],
)
def test_init_score_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---------------------------------------------------- equality with the built-ins

N, FEATURES, ROUNDS = 1500, 8, 20
X = RNG.normal(size=(N, FEATURES))
Y_BINARY = (X[:, 0] + 0.5 * X[:, 1] ** 2 + RNG.logistic(size=N) > 0.5).astype(float)
Y_REGRESSION = 2 * X[:, 0] + np.sin(3 * X[:, 1]) + RNG.normal(size=N)
Y_CLASSES = np.argmax(X[:, :3] + RNG.gumbel(size=(N, 3)), axis=1)


def _as_stored(y):
    """Labels as both libraries store them (float32): the start score is computed from them."""
    return np.float32(y).astype(np.float64)


LGB = dict(verbose=-1, num_threads=1, deterministic=True, force_row_wise=True, num_leaves=15)


@pytest.mark.parametrize(
    "builtin,loss,y,hessian,n_classes",
    [
        ("binary", lossfns.binary_cross_entropy_with_logits, Y_BINARY, None, None),
        ("l2", lossfns.mse, Y_REGRESSION, None, None),
        ("multiclass", lossfns.softmax_cross_entropy, Y_CLASSES, "lightgbm", 3),
    ],
)
def test_lightgbm_builtins_are_reproduced(builtin, loss, y, hessian, n_classes):
    params = dict(LGB, num_class=n_classes) if n_classes else LGB
    reference = lgb.train(dict(params, objective=builtin), lgb.Dataset(X, y), ROUNDS)
    obj = boosting.objective(loss, hessian=hessian)
    start = obj.init_score(_as_stored(y))
    init = np.tile(start, (N, 1)) if n_classes else np.full(N, start)
    model = lgb.train(dict(params, objective=obj), lgb.Dataset(X, y, init_score=init), ROUNDS)
    expected = reference.predict(X, raw_score=True)
    got = model.predict(X, raw_score=True) + init
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "builtin,loss,y,hessian,n_classes,extra",
    [
        ("binary:logistic", lossfns.binary_cross_entropy_with_logits, Y_BINARY, None, None, {}),
        # lossfns.mse is (y - f)^2, twice XGBoost's: twice lambda and min_child_weight
        ("reg:squarederror", lossfns.mse, Y_REGRESSION, None, None,
         {"reg_lambda": 2.0, "min_child_weight": 2.0}),
        ("multi:softprob", lossfns.softmax_cross_entropy, Y_CLASSES, "xgboost", 3, {}),
    ],
)
def test_xgboost_builtins_are_reproduced(builtin, loss, y, hessian, n_classes, extra):
    obj = boosting.objective(loss, hessian=hessian)
    start = obj.init_score(_as_stored(y))
    # the built-in binary:logistic takes its base_score as a probability
    builtin_base = float(_as_stored(y).mean()) if builtin == "binary:logistic" else start
    params = dict(nthread=1, eta=0.3, max_depth=4, tree_method="hist")
    if n_classes:
        params["num_class"] = n_classes
    as_param = lambda s: [float(v) for v in s] if np.ndim(s) else float(s)  # noqa: E731
    data = xgb.DMatrix(X, y)
    reference = xgb.train(dict(params, objective=builtin, base_score=as_param(builtin_base)),
                          data, ROUNDS)
    model = xgb.train(dict(params, **extra, base_score=as_param(start)), data, ROUNDS, obj=obj)
    expected = reference.predict(data, output_margin=True)
    got = model.predict(data, output_margin=True)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_lightgbm_cv_trains_each_fold_as_the_builtin_does():
    """lightgbm.cv hands the objective each fold's own dataset: every fold's model is the
    built-in objective's (from the same start score in the dataset, so the built-in does not
    boost from its own average)."""
    obj = boosting.objective(lossfns.binary_cross_entropy_with_logits)
    init = np.full(N, obj.init_score(_as_stored(Y_BINARY)))
    folds = dict(nfold=3, stratified=False, seed=1, return_cvbooster=True)
    reference = lgb.cv(dict(LGB, objective="binary", boost_from_average=False),
                       lgb.Dataset(X, Y_BINARY, init_score=init), ROUNDS, **folds)
    ours = lgb.cv(dict(LGB, objective=obj), lgb.Dataset(X, Y_BINARY, init_score=init), ROUNDS, **folds)
    for theirs, model in zip(reference["cvbooster"].boosters, ours["cvbooster"].boosters):
        np.testing.assert_allclose(model.predict(X, raw_score=True), theirs.predict(X, raw_score=True),
                                   rtol=0, atol=1e-12)


def test_xgboost_cv_and_dart_match_the_builtin():
    """xgboost.cv (a model per fold) and the dart booster (trees dropped at random, the same
    ones with one seed) with a lossfns objective: the built-in's evaluation and model, to
    float32 rounding of the margins."""
    obj = boosting.objective(lossfns.mse)
    start = float(obj.init_score(_as_stored(Y_REGRESSION)))
    data = xgb.DMatrix(X, Y_REGRESSION)
    params = dict(nthread=1, eta=0.3, max_depth=4, tree_method="hist", base_score=start,
                  eval_metric="rmse")
    same = {"reg_lambda": 2.0, "min_child_weight": 2.0}  # lossfns.mse is twice XGBoost's loss
    reference = xgb.cv(dict(params, objective="reg:squarederror"), data, ROUNDS, nfold=3, seed=1,
                       as_pandas=False)
    ours = xgb.cv(dict(params, **same), data, ROUNDS, nfold=3, seed=1, obj=obj, as_pandas=False)
    for key in ("train-rmse-mean", "test-rmse-mean"):
        np.testing.assert_allclose(ours[key], reference[key], rtol=1e-5)
    dart = dict(params, booster="dart", rate_drop=0.3, seed=5)
    reference = xgb.train(dict(dart, objective="reg:squarederror"), data, ROUNDS)
    model = xgb.train(dict(dart, **same), data, ROUNDS, obj=obj)
    np.testing.assert_allclose(model.predict(data, output_margin=True),
                               reference.predict(data, output_margin=True), rtol=0, atol=1e-5)


def test_lightgbm_dart_with_the_objective():
    """DART drops trees at random and re-scales them; the objective sees the scores after the
    drop. LightGBM's dart model with any callable objective (the two lines of NumPy a user
    writes too) comes out of the built-in's, or not, depending on what the process trained
    before (measured: the same run gave differences of 0 and 0.42 in the raw score), so the
    model is compared by its log loss: within 2 % of the built-in's."""
    obj = boosting.objective(lossfns.binary_cross_entropy_with_logits)
    init = np.full(N, obj.init_score(_as_stored(Y_BINARY)))
    params = dict(LGB, boosting="dart", seed=2)
    data = lambda: lgb.Dataset(X, Y_BINARY, init_score=init)  # noqa: E731
    reference = lgb.train(dict(params, objective="binary", boost_from_average=False), data(), ROUNDS)
    model = lgb.train(dict(params, objective=obj), data(), ROUNDS)
    loss = lambda m: float(lossfns.binary_cross_entropy_with_logits(  # noqa: E731
        Y_BINARY, m.predict(X, raw_score=True) + init))
    assert loss(model) <= 1.02 * loss(reference)


def test_scikit_learn_interfaces_accept_the_objective():
    obj = boosting.objective(lossfns.softmax_cross_entropy, hessian="lightgbm")
    w = RNG.uniform(0.5, 1.5, N)
    lgb.LGBMClassifier(objective=obj, n_estimators=3, verbose=-1).fit(X, Y_CLASSES, sample_weight=w)
    xgb.XGBClassifier(objective=obj, n_estimators=3, n_jobs=1).fit(X, Y_CLASSES, sample_weight=w)
    reg = boosting.objective(lossfns.huber)
    lgb.LGBMRegressor(objective=reg, n_estimators=3, verbose=-1).fit(X, Y_REGRESSION)
    xgb.XGBRegressor(objective=reg, n_estimators=3, n_jobs=1).fit(X, Y_REGRESSION, sample_weight=w)


def test_ziln_as_a_three_output_objective():
    y = np.where(X[:, 0] + RNG.normal(size=N) < 0, 0.0, np.exp(1 + X[:, 1] + 0.5 * RNG.normal(size=N)))
    obj = boosting.objective(lossfns.ziln_loss)
    start = obj.init_score(_as_stored(y))
    before = lossfns.ziln_loss(y, np.tile(start, (N, 1)))
    model = lgb.train(dict(LGB, objective=obj, num_class=3),
                      lgb.Dataset(X, y, init_score=np.tile(start, (N, 1))), 30)
    after_lgb = lossfns.ziln_loss(y, model.predict(X, raw_score=True) + start)
    booster = xgb.train(dict(nthread=1, num_class=3, base_score=[float(v) for v in start]),
                        xgb.DMatrix(X, y), 30, obj=obj)
    after_xgb = lossfns.ziln_loss(y, booster.predict(xgb.DMatrix(X), output_margin=True))
    assert after_lgb < 0.8 * before and after_xgb < 0.8 * before


# -------------------------------------------------------------------- quality


def _heavy_tailed(seed, n=2000):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(2 * n, 8))
    f = 3 * x[:, 0] + 2 * np.sin(3 * x[:, 1]) + 2 * x[:, 2] * x[:, 3]
    y = f + rng.standard_t(2, size=2 * n) * (0.5 + np.abs(x[:, 4]))
    return x[:n], y[:n], x[n:], y[n:]


@pytest.mark.parametrize(
    "loss,hyper,lgb_builtin,xgb_builtin",
    [
        (lossfns.mae, {}, {"objective": "l1"}, {"objective": "reg:absoluteerror"}),
        (lossfns.pinball, {"quantile": 0.9}, {"objective": "quantile", "alpha": 0.9},
         {"objective": "reg:quantileerror", "quantile_alpha": 0.9}),
        (lossfns.huber, {"delta": 1.0}, {"objective": "huber", "alpha": 1.0}, None),
    ],
    ids=["mae", "pinball", "huber"],
)
def test_default_policies_reach_the_builtin_test_error(loss, hyper, lgb_builtin, xgb_builtin):
    x, y, x_test, y_test = _heavy_tailed(0)
    rounds = 100
    obj = boosting.objective(loss, **hyper)
    start = obj.init_score(y)
    error = lambda pred: float(loss(y_test, pred, **hyper))  # noqa: E731
    params = dict(verbose=-1, num_threads=1, learning_rate=0.1)
    builtin = error(lgb.train(dict(params, **lgb_builtin), lgb.Dataset(x, y), rounds).predict(x_test))
    ours = lgb.train(dict(params, objective=obj), lgb.Dataset(x, y, init_score=np.full(len(y), start)), rounds)
    assert error(ours.predict(x_test, raw_score=True) + start) <= 1.02 * builtin
    if xgb_builtin is None:  # XGBoost has no Huber objective (only pseudo-Huber)
        return
    params = dict(nthread=1, eta=0.1, max_depth=6, tree_method="hist")
    builtin = error(
        xgb.train(dict(params, **xgb_builtin), xgb.DMatrix(x, y), rounds).predict(xgb.DMatrix(x_test))
    )
    ours = xgb.train(dict(params, base_score=float(start)), xgb.DMatrix(x, y), rounds, obj=obj)
    assert error(ours.predict(xgb.DMatrix(x_test))) <= 1.02 * builtin


# ---------------------------------------------------------------- leaf re-fitting


def _brute_force_leaf_value(loss, y, score, w, hyper):
    """The minimiser of sum w l(y, score + v) over v, by evaluating the (piecewise linear)
    sum at every residual: the midpoint of the set of minimising residuals."""
    candidates = np.unique(y - score)
    totals = np.array([float(np.dot(w, loss(y, score + c, **hyper, reduction="none"))) for c in candidates])
    best = candidates[totals <= totals.min() * (1 + 1e-12) + 1e-300]
    return (best.min() + best.max()) / 2  # a piecewise linear sum: its minimisers are an interval


@pytest.mark.parametrize(
    "loss,hyper",
    [(lossfns.mae, {}), (lossfns.pinball, {"quantile": 0.9}), (lossfns.pinball, {"quantile": 0.25}),
     (lossfns.mape, {})],
    ids=["mae", "pinball-0.9", "pinball-0.25", "mape"],
)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ties", [False, True])
def test_leaf_values_minimise_the_loss_of_each_leaf(loss, hyper, weighted, ties):
    n = 120
    y = RNG.uniform(0.5, 4, n) * RNG.choice([-1, 1], n)
    if ties:  # residuals with repeated values, and leaves of even size: minimisers are intervals
        y = np.round(y)
        y[y == 0] = 1
    score = np.zeros(n) if ties else RNG.normal(size=n)
    leaves = RNG.choice([0, 3, 4, 9], n)
    w = RNG.uniform(0.1, 2, n) if weighted else None
    ids, values = boosting.leaf_values(loss, y, score, leaves, sample_weight=w, **hyper)
    np.testing.assert_array_equal(ids, np.unique(leaves))
    for leaf, value in zip(ids, values):
        rows = leaves == leaf
        weight = np.ones(rows.sum()) if w is None else w[rows]
        expected = _brute_force_leaf_value(loss, y[rows], score[rows], weight, hyper)
        assert value == pytest.approx(expected, rel=1e-12, abs=1e-12), leaf
    if not weighted and loss is not lossfns.mape:  # NumPy's quantile agrees (no interpolation)
        q = hyper.get("quantile", 0.5)
        for leaf, value in zip(ids, values):
            r = (y - score)[leaves == leaf]
            assert value == np.quantile(r, q, method="averaged_inverted_cdf")


def test_leaf_values_errors():
    y, f = np.array([1.0, 2.0]), np.zeros(2)
    with pytest.raises(ValueError, match="loss mse has no quantile leaf value"):
        boosting.leaf_values(lossfns.mse, y, f, [0, 1])
    with pytest.raises(ValueError, match="leaves must hold integer leaf ids"):
        boosting.leaf_values(lossfns.mae, y, f, [0.5, 1])
    with pytest.raises(ValueError, match="leaves must hold non-negative leaf ids; found -1"):
        boosting.leaf_values(lossfns.mae, y, f, [-1, 1])
    with pytest.raises(ValueError, match=r"must have one shape \(n,\)"):
        boosting.leaf_values(lossfns.mae, y, f, [0, 1, 1])
    with pytest.raises(ValueError, match="quantile"):
        boosting.leaf_values(lossfns.pinball, y, f, [0, 1], quantile=1.5)
    # a leaf whose rows all weigh 0 takes no step
    _, values = boosting.leaf_values(lossfns.mae, y, f, [0, 1], sample_weight=[0.0, 1.0])
    np.testing.assert_array_equal(values, [0.0, 2.0])


def _train_refitted(library, loss, hyper, x, y, rounds, w=None, hessian=None, eta=0.1):
    """(model, start, refit) trained with refit_leaves."""
    obj = boosting.objective(loss, hessian=hessian, **hyper)
    start = float(obj.init_score(_as_stored(y), sample_weight=w))
    if library == "lightgbm":
        refit = boosting.refit_leaves(obj, x)
        data = lgb.Dataset(x, y, weight=w, init_score=np.full(len(y), start))
        params = dict(verbose=-1, num_threads=1, learning_rate=eta, objective=refit.objective)
        return lgb.train(params, data, rounds, callbacks=[refit]), start, refit
    data = xgb.DMatrix(x, y, weight=w)
    refit = boosting.refit_leaves(obj, data)
    params = dict(nthread=1, eta=eta, max_depth=4, tree_method="hist", base_score=start)
    return xgb.train(params, data, rounds, obj=refit.objective, callbacks=[refit]), start, refit


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
@pytest.mark.parametrize(
    "loss,hyper,weighted",
    [(lossfns.pinball, {"quantile": 0.9}, False), (lossfns.mae, {}, True), (lossfns.mape, {}, False)],
    ids=["pinball", "mae-weighted", "mape"],
)
def test_refit_leaves_sets_each_leaf_to_the_quantile_of_its_residuals(library, loss, hyper, weighted):
    """Each tree's leaf values equal the learning rate times the quantile of the residuals of
    the leaf's rows, computed directly from the trained model's own predictions before that tree."""
    x, y = X[:400], Y_REGRESSION[:400] + (4 if loss is lossfns.mape else 0)
    w = RNG.uniform(0.2, 2, len(y)) if weighted else None
    rounds, eta = 6, 0.3
    model, start, _ = _train_refitted(library, loss, hyper, x, y, rounds, w=w, eta=eta)
    stored = _as_stored(y)
    for tree in range(rounds):
        if library == "lightgbm":
            before = model.predict(x, raw_score=True, num_iteration=tree) + start if tree else np.full(len(y), start)
            leaves = model.predict(x, pred_leaf=True, start_iteration=tree, num_iteration=1).ravel()
            value_of = lambda leaf: model.get_leaf_output(tree, int(leaf))  # noqa: E731
            tolerance = 1e-12  # double scores and leaves; only the order of additions differs
        else:
            data = xgb.DMatrix(x)
            before = model.predict(data, output_margin=True, iteration_range=(0, tree)) if tree \
                else np.full(len(y), np.float32(start))
            leaves = model[tree : tree + 1].predict(data, pred_leaf=True).astype(int).ravel()
            one_tree = model[tree : tree + 1].predict(data, output_margin=True) - np.float32(start)
            value_of = lambda leaf: float(one_tree[leaves == leaf][0])  # noqa: E731
            # float32 leaves and margins: the residual is y - F to float32 rounding of F (~5)
            tolerance = 2e-6
        for leaf in np.unique(leaves):
            rows = leaves == leaf
            weight = np.ones(rows.sum()) if w is None else w[rows]
            direct = eta * _brute_force_leaf_value(loss, stored[rows], before[rows].astype(float),
                                                   weight, hyper)
            assert value_of(leaf) == pytest.approx(direct, rel=1e-6, abs=tolerance), (tree, leaf)


def test_refit_leaves_tracks_the_scores_of_the_refitted_model():
    for library in ("lightgbm", "xgboost"):
        model, start, refit = _train_refitted(library, lossfns.pinball, {"quantile": 0.8},
                                              X[:500], Y_REGRESSION[:500], 8)
        last = refit._scores  # the scores the last tree was grown from
        if library == "lightgbm":
            now = model.predict(X[:500], raw_score=True) + start
            before = model.predict(X[:500], raw_score=True, num_iteration=7) + start
            np.testing.assert_allclose(last, before, rtol=0, atol=1e-12)
        else:
            data = xgb.DMatrix(X[:500])
            now = model.predict(data, output_margin=True)
            np.testing.assert_allclose(last, model.predict(data, output_margin=True, iteration_range=(0, 7)),
                                       rtol=0, atol=1e-5)
        assert np.abs(now - last).max() > 0  # the last tree moved the scores


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
def test_refit_leaves_validates_the_labels_once_a_run(library, monkeypatch):
    """The labels and weights are validated (by an evaluation of the loss) in the first
    round; later rounds, handed the same labels (LightGBM: the same array; XGBoost: an
    equal copy), reuse them, and the trees are those of a validation every round."""
    calls = []
    validate = boosting.leaf_values

    def counting(*args, **kwargs):
        calls.append(1)
        return validate(*args, **kwargs)

    w = RNG.uniform(0.2, 2, 300)
    monkeypatch.setattr(boosting, "leaf_values", counting)
    model, _, refit = _train_refitted(library, lossfns.mae, {}, X[:300], Y_REGRESSION[:300], 5, w=w)
    assert len(calls) == 1 and refit._checked is None  # (forgotten when the run ends)
    # equal labels reuse the validation, with the same steps; new labels are validated
    labels = np.float32(Y_REGRESSION[:300])
    leaves = RNG.integers(0, 4, 300)
    first = refit._leaf_values(labels, leaves, w)
    again = refit._leaf_values(labels.copy(), leaves, w.copy())
    assert len(calls) == 2
    for a, b in zip(again, first):
        np.testing.assert_array_equal(a, b)
    bad = np.where(np.arange(300) == 3, np.nan, labels).astype(np.float32)
    with pytest.raises(ValueError, match="y_true contains NaN"):
        refit._leaf_values(bad, leaves, w)
    with pytest.raises(ValueError, match="sample_weight must be non-negative"):
        refit._leaf_values(labels, leaves, -w)


LGB_L1 = dict(verbose=-1, num_threads=1, learning_rate=0.1)


@pytest.mark.parametrize("weighted", [False, True])
def test_refit_with_a_constant_hessian_reproduces_the_builtin_mae(weighted):
    """Sign gradients, unit Hessians and leaves re-fitted to the median: the built-in ``l1`` /
    ``reg:absoluteerror``. LightGBM to 1e-10 (the order of double additions of ~60 trees;
    weighted, its interpolated weighted median is not the minimiser, so only unweighted);
    XGBoost to float32 rounding of margins of ~5."""
    x, y, x_test, _ = _heavy_tailed(1, n=1500)
    # Weights of their own seed, not the module's RNG, whose state depends on which tests ran
    # before. (One `make test` run saw the models part by 1.3 here; not reproduced since: the
    # module alone, the modules before it, and weights of seeds 0-79 all agree to 2.4e-6.)
    w = np.random.default_rng(3).uniform(0.2, 2, len(y)) if weighted else None
    rounds = 60
    if not weighted:
        reference = lgb.train(dict(LGB_L1, objective="l1"), lgb.Dataset(x, y), rounds)
        model, start, _ = _train_refitted("lightgbm", lossfns.mae, {}, x, y, rounds, hessian="constant")
        np.testing.assert_allclose(model.predict(x_test, raw_score=True) + start, reference.predict(x_test),
                                   rtol=0, atol=1e-10)
    params = dict(nthread=1, eta=0.1, max_depth=4, tree_method="hist")
    reference = xgb.train(dict(params, objective="reg:absoluteerror"), xgb.DMatrix(x, y, weight=w), rounds)
    model, _, _ = _train_refitted("xgboost", lossfns.mae, {}, x, y, rounds, w=w, hessian="constant")
    data = xgb.DMatrix(x_test)
    np.testing.assert_allclose(model.predict(data), reference.predict(data), rtol=0, atol=1e-5)


def test_xgboost_refit_sees_the_float32_margins_of_the_refitted_model():
    """XGBoost keeps its running scores as float32 sums of the trees, and predicts so: each
    round the objective of a refit_leaves run sees exactly the margins of the re-fitted model.
    (With float64 sums, a row fitted to rounding got the other sign of the MAE gradient: at
    eta = 0.3 the trees of the refit and of the built-in reg:absoluteerror parted at the 20th
    and their predictions by 7.9.)"""
    x, y, x_test, _ = _heavy_tailed(1, n=1500)
    rounds, params = 30, dict(nthread=1, eta=0.3, max_depth=4, tree_method="hist")
    obj = boosting.objective(lossfns.mae, hessian="constant")
    data = xgb.DMatrix(x, y)
    refit = boosting.refit_leaves(obj, data)
    seen = []

    def spy(scores, dataset):
        seen.append(np.array(scores))
        return obj(scores, dataset)

    refit.objective.base = spy
    start = float(obj.init_score(_as_stored(y)))
    model = xgb.train(dict(params, base_score=start), data, rounds, obj=refit.objective,
                      callbacks=[refit])
    for tree in range(1, rounds):
        np.testing.assert_array_equal(seen[tree], model[:tree].predict(data, output_margin=True))
    reference = xgb.train(dict(params, objective="reg:absoluteerror"), data, rounds)
    test = xgb.DMatrix(x_test)
    np.testing.assert_allclose(model.predict(test), reference.predict(test), rtol=0, atol=1e-5)


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
def test_refitted_pinball_reaches_the_builtin_test_error(library):
    x, y, x_test, y_test = _heavy_tailed(0)
    hyper, rounds = {"quantile": 0.9}, 100
    error = lambda pred: float(lossfns.pinball(y_test, pred, **hyper))  # noqa: E731
    model, start, _ = _train_refitted(library, lossfns.pinball, hyper, x, y, rounds, hessian="constant")
    if library == "lightgbm":
        builtin = lgb.train(dict(LGB_L1, objective="quantile", alpha=0.9), lgb.Dataset(x, y), rounds)
        ours, theirs = model.predict(x_test, raw_score=True) + start, builtin.predict(x_test)
    else:
        params = dict(nthread=1, eta=0.1, max_depth=4, tree_method="hist")
        builtin = xgb.train(dict(params, objective="reg:quantileerror", quantile_alpha=0.9),
                            xgb.DMatrix(x, y), rounds)
        ours, theirs = model.predict(xgb.DMatrix(x_test)), builtin.predict(xgb.DMatrix(x_test))
    assert error(ours) <= 1.02 * error(theirs)


def test_refit_leaves_in_the_scikit_learn_interfaces():
    x, y = X[:300], Y_REGRESSION[:300]
    refit = boosting.refit_leaves(boosting.objective(lossfns.mae, hessian="constant"), x)
    model = lgb.LGBMRegressor(objective=refit.objective, n_estimators=5, learning_rate=0.2, verbose=-1)
    model.fit(x, y, callbacks=[refit])  # the scikit-learn API deep-copies its parameters
    leaves = model.booster_.predict(x, pred_leaf=True)[:, -1]
    before = model.booster_.predict(x, raw_score=True, num_iteration=4)
    leaf = leaves[0]
    expected = 0.2 * np.quantile((_as_stored(y) - before)[leaves == leaf], 0.5, method="averaged_inverted_cdf")
    assert model.booster_.get_leaf_output(4, int(leaf)) == pytest.approx(expected, abs=1e-12)
    data = xgb.DMatrix(x, y)
    refit = boosting.refit_leaves(boosting.objective(lossfns.mae), data)
    assert isinstance(refit, xgb.callback.TrainingCallback)


def test_refit_leaves_errors():
    with pytest.raises(ValueError, match="objective must be made by lossfns.boosting.objective"):
        boosting.refit_leaves(lambda p, d: (p, p), X)
    with pytest.raises(ValueError, match="loss huber has no quantile leaf value"):
        boosting.refit_leaves(boosting.objective(lossfns.huber), X)
    x, y = X[:200], Y_REGRESSION[:200]
    # the objective without the callback
    refit = boosting.refit_leaves(boosting.objective(lossfns.mae), x)
    with pytest.raises(ValueError, match="the callback did not run after the last round"):
        lgb.train(dict(LGB_L1, objective=refit.objective), lgb.Dataset(x, y), 3)
    # one object, two models at once (an unfinished run, then another)
    refit = boosting.refit_leaves(boosting.objective(lossfns.mae), x)
    first = lgb.Booster(dict(LGB_L1, objective="none"), lgb.Dataset(x, y))
    env = lambda model, i: lgb.callback.CallbackEnv(model, {}, i, 0, 10, None)  # noqa: E731
    first.update(fobj=refit.objective)
    refit(env(first, 0))
    second = lgb.Booster(dict(LGB_L1, objective="none"), lgb.Dataset(x, y))
    second.update(fobj=refit.objective)
    with pytest.raises(ValueError, match="this LeafRefit has trained another model"):
        refit(env(second, 0))
    # after a complete run the object serves another
    refit = boosting.refit_leaves(boosting.objective(lossfns.mae), x)
    for _ in range(2):
        lgb.train(dict(LGB_L1, objective=refit.objective), lgb.Dataset(x, y), 3, callbacks=[refit])
    data = xgb.DMatrix(x, y)
    refit = boosting.refit_leaves(boosting.objective(lossfns.mae), data)
    for _ in range(2):
        xgb.train(dict(nthread=1), data, 3, obj=refit.objective, callbacks=[refit])


def test_refit_leaves_refuses_cv_and_dart():
    x, y = X[:300], Y_REGRESSION[:300]
    refit = boosting.refit_leaves(boosting.objective(lossfns.mae), x)
    with pytest.raises(ValueError, match="lightgbm.cv and xgboost.cv train a model per fold"):
        lgb.cv(dict(LGB_L1, objective=refit.objective), lgb.Dataset(x, y), 3, nfold=2,
               stratified=False, callbacks=[refit])
    refit = boosting.refit_leaves(boosting.objective(lossfns.mae), x)
    with pytest.raises(ValueError, match="refit_leaves needs LightGBM's gbdt boosting, not 'dart'"):
        lgb.train(dict(LGB_L1, objective=refit.objective, boosting="dart"), lgb.Dataset(x, y), 3,
                  callbacks=[refit])
    data = xgb.DMatrix(x, y)
    refit = boosting.refit_leaves(boosting.objective(lossfns.mae), data)
    with pytest.raises(ValueError, match="refit_leaves needs XGBoost's gbtree booster"):
        xgb.train(dict(nthread=1, booster="dart"), data, 3, obj=refit.objective, callbacks=[refit])


def test_refit_leaves_reads_the_leaves_from_lightgbm_scores():
    """The leaves of the training rows come from LightGBM's own scores; rows of leaves that
    share one value are predicted. Either way they are the leaves predict gives."""
    x, y = X[:600], Y_REGRESSION[:600]
    refit = boosting.refit_leaves(boosting.objective(lossfns.mae, hessian="constant"), x)
    seen = []

    def record(booster, before, values):
        leaves = read(booster, before, values)
        tree = booster.num_trees() - 1
        predicted = booster.predict(x, pred_leaf=True, start_iteration=tree, num_iteration=1).ravel()
        assert leaves is not None
        known = leaves >= 0
        np.testing.assert_array_equal(leaves[known], predicted[known])
        assert len(np.unique(values[predicted[~known]])) <= max(1, (~known).sum())
        seen.append((~known).sum())
        return leaves

    read = boosting._lightgbm_leaves_from_scores
    try:
        boosting._lightgbm_leaves_from_scores = record
        lgb.train(dict(LGB_L1, objective=refit.objective), lgb.Dataset(x, y), 30, callbacks=[refit])
    finally:
        boosting._lightgbm_leaves_from_scores = read
    assert len(seen) == 30


def test_xgboost_labels_and_weights_are_read_without_a_copy():
    y, w = np.float32(Y_REGRESSION[:50]), RNG.uniform(0.5, 2, 50).astype(np.float32)
    for data, weight in ((xgb.DMatrix(X[:50], y), np.empty(0, np.float32)),
                         (xgb.DMatrix(X[:50], y, weight=w), w)):
        label = boosting._xgboost_info(data, "label")
        np.testing.assert_array_equal(label, data.get_label())
        np.testing.assert_array_equal(boosting._xgboost_info(data, "weight"), weight)
        assert not label.flags.writeable  # a view of XGBoost's own buffer
    # anything else with get_label/get_weight (an older XGBoost) takes the public getters
    Data = type("Data", (FakeData,), {"__module__": "xgboost.core"})
    assert boosting._xgboost_info(Data(y, None), "label") is y


# ------------------------------------------------------------------ the benchmark


def test_bench_script_runs_at_a_small_size():
    """A smoke run of bench/boosting.py (the timing itself is not a test)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "boosting.py"
    spec = importlib.util.spec_from_file_location("bench_boosting", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.speed(rows=1000, repeats=1)
    for dtype in ("float32", "float64"):
        assert result["ms"][dtype]["bce grad_hess / numpy"] > 0
    x, y, x_test, y_test = module.heavy_tailed(0, n=50)
    assert x.shape == (50, 8) and y_test.shape == (50,)


# --------------------------------------------------------- edge cases of the objectives


def test_softmax_objective_takes_one_class_weight_per_class():
    # three classes and three class weights (the hyper-parameters were once checked against
    # two classes, which refused every class_weight but one of length 2)
    cw = np.array([1.0, 2.0, 0.5])
    obj = boosting.objective(lossfns.softmax_cross_entropy, class_weight=cw)
    y, z = np.array([0, 1, 2]), np.array([[0.0, 1.0, -1.0], [2.0, 0.0, 0.5], [0.0, 0.0, 0.0]])
    g, h = obj(y, z)
    np.testing.assert_array_equal(g, lossfns.softmax_cross_entropy.grad(
        y, z, class_weight=cw, reduction="sum"))
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    # each row's p(1 - p) times its class's weight: a few roundings of p
    np.testing.assert_allclose(h, cw[y][:, None] * p * (1 - p), rtol=8 * np.finfo(float).eps)


def test_ziln_floor_policy_floors_the_exact_hessian():
    # HESSIAN_POLICIES: "floor" is the exact Hessian raised to at least floor (times the
    # weight); a buyer predicted exactly (z = 0) has a negative exact scale curvature, which
    # the floor lifts to floor * w; the Fisher curvature 2 r^2 would be about 1
    y = np.array([np.e, 0.0, 5.0])
    logits = np.array([[0.3, 1.0, 0.0], [-1.0, 0.2, 0.4], [2.0, 0.5, -0.7]])
    w = np.array([2.0, 1.0, 3.0])
    _, exact = boosting.ziln_grad_hess(y, logits, sample_weight=w, hessian="exact")
    _, floored = boosting.objective(lossfns.ziln_loss, hessian="floor", floor=1e-3)(y, logits, w)
    assert exact[0, 2] < 0
    np.testing.assert_array_equal(floored, np.maximum(exact, 1e-3 * w[:, None]))
    with pytest.raises(ValueError, match="hessian must be one of"):
        boosting.ziln_grad_hess(y, logits, hessian="floor")


@pytest.mark.parametrize(
    "loss, y, weight, margin, expected",
    [
        # the hinge's sum has slope (weight of -1 labels) - (weight of +1 labels) on [-m, m]
        (lossfns.hinge, [1.0, -1.0, -1.0], None, 1.0, -1.0),
        (lossfns.hinge, [1.0, 1.0, -1.0], None, 2.0, 2.0),
        (lossfns.hinge, [1.0, -1.0], [2.5, 2.5], 1.0, 0.0),  # a tie: the midpoint of [-m, m]
        (lossfns.hinge, [1.0, 1.0], None, 1.0, 1.0),  # [m, inf): its end
        # the squared hinge's root m (W+ - W-) / (W+ + W-)
        (lossfns.squared_hinge, [1.0, -1.0, -1.0], None, 2.0, -2 / 3),
        (lossfns.squared_hinge, [1.0, -1.0], [3.0, 1.0], 1.0, 0.5),
    ],
)
def test_hinge_init_score_is_exact(loss, y, weight, margin, expected):
    # Brent's method stopped 2 ulps from -1 (-0.9999999999999996) for the first case
    assert boosting.init_score(loss, y, sample_weight=weight, margin=margin) == expected


def test_leaf_values_of_rows_that_all_weigh_zero_are_zero():
    # every leaf whose rows all weigh 0 takes no step (the docstring), even when all do
    _, values = boosting.leaf_values(lossfns.mae, [1.0, 2.0], [0.0, 0.0], [0, 1],
                                     sample_weight=[0.0, 0.0])
    np.testing.assert_array_equal(values, [0.0, 0.0])


@pytest.mark.parametrize("l2", [-1.0, -10.0, -30.0, -100.0, -300.0, 0.5, 2.0, 40.0])
@pytest.mark.parametrize("y", [1.0, np.e])
def test_ziln_exact_scale_hessian_against_mpmath(l2, y):
    """The exact Hessian of the scale logit, to a few ulps at any l2: for l2 < 0 the
    difference (1 - s) - r of two numbers near 1 is formed without cancellation (at
    l2 = -30 it was 0.6 % off, at -100 it was 0 for a truth of -1.9e-44)."""
    import mpmath

    with mpmath.workdps(400):  # log1p(e^l2) - e^l2 at l2 = -300 needs ~260 digits
        sigma = mpmath.log1p(mpmath.exp(l2))
        s = 1 / (1 + mpmath.exp(-l2))
        r, z = s / sigma, mpmath.log(y) / sigma
        truth = 2 * z**2 * r**2 + (1 - z**2) * (s * (1 - s) / sigma - r**2)
    _, h = boosting.ziln_grad_hess(np.array([y]), np.array([[0.0, 0.0, l2]]), hessian="exact")
    # a dozen roundings, none amplified: 16 ulps
    assert abs(h[0, 2] - truth) <= 16 * np.finfo(float).eps * abs(truth)


def test_leaf_values_of_ids_spread_wide():
    # leaf ids need not be small: counting rows per id took max id entries (a MemoryError
    # at 10^12); each leaf's step is its rows' median residual, whatever its id
    ids, values = boosting.leaf_values(lossfns.mae, [1.0, 3.0, 10.0, 7.0], [0.0, 0.0, 0.0, 0.0],
                                       [10**12, 10**12, 5, 10**12])
    np.testing.assert_array_equal(ids, [5, 10**12])
    np.testing.assert_array_equal(values, [10.0, 3.0])
