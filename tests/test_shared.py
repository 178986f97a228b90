"""The checks every public loss and measure must pass, run over one registry of cases.

A loss that is public (in ``lossfns.__all__``) but has no entry in :data:`CASES` fails
``test_every_public_loss_has_a_case``: adding a loss means adding its case here, and with
it the block, derivative, ``grad_hess``, strict floating-point and dtype checks below.
Each case makes valid arguments of ``n`` samples; ``wrt`` names the positions of the
prediction arguments (those ``.grad`` differentiates), and ``smooth`` says where finite
differences may be taken (data generated away from kinks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

import lossfns
from lossfns import _core


@dataclass
class Case:
    function: Callable
    make: Callable[[np.random.Generator, int], tuple]
    wrt: tuple[int, ...] = (1,)
    hyper: dict = field(default_factory=dict)


def _soft_logits(rng, n):
    return rng.random(n), rng.normal(0, 3, n)


def _signs_scores(rng, n, margin=1.0):
    y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    # y f at least 0.05 away from the margin, where the hinge losses have their kink
    away = rng.uniform(0.05, 3, n) * np.where(rng.random(n) < 0.5, -1, 1)
    return y, y * (margin + away)


def _away_from_zero(rng, n, scale=3.0):
    return rng.uniform(0.05, scale, n) * np.where(rng.random(n) < 0.5, -1, 1)


def _regression(rng, n):
    y = rng.normal(0, 3, n)
    return y, y + _away_from_zero(rng, n)


def _positive_regression(rng, n):
    y = rng.uniform(0.5, 5, n) * np.where(rng.random(n) < 0.5, -1, 1)
    return y, y + _away_from_zero(rng, n, 0.4 * np.abs(y))


def _huber_data(rng, n):
    y = rng.normal(0, 3, n)
    r = rng.uniform(0.05, 4, n)
    r = np.where(np.abs(r - 1.5) < 0.05, r + 0.1, r)  # away from |r| = delta
    return y, y + r * np.where(rng.random(n) < 0.5, -1, 1)


def _class_indices(rng, n, classes=5):
    return rng.integers(0, classes, n), rng.normal(0, 3, (n, classes))


def _class_scores(rng, n, classes=4, margin=1.0):
    """Class indices and score rows whose slacks m + f_j - f_y sit 0.3 or more from 0 (the
    kinks) and whose rivals differ by 0.6 or more (a unique strongest rival)."""
    y = rng.integers(0, classes, n)
    # slacks ..., -0.5, 0.5, 1.5, ... in a random order per row, jittered by less than 0.2
    slacks = np.stack([rng.permutation(classes - 1) for _ in range(n)]) - (classes - 3) / 2
    slacks = slacks + rng.uniform(-0.2, 0.2, slacks.shape)
    f = np.zeros((n, classes))
    rival = np.ones((n, classes), bool)
    rival[np.arange(n), y] = False
    f[rival] = (slacks - margin).ravel()
    return y, f + rng.normal(0, 2, (n, 1))  # a shift per row changes no slack


def _probability_rows(rng, n, classes=5):
    t = rng.dirichlet(np.ones(classes), n)
    return t, rng.normal(0, 3, (n, classes))


def _multi_hot(rng, n, classes=5):
    y = (rng.random((n, classes)) < 0.4).astype(float)
    y[np.arange(n), rng.integers(0, classes, n)] = 1
    return y, rng.normal(0, 3, (n, classes))


def _pairs(rng, n):
    pos = rng.normal(0, 3, n)
    return pos, pos - 1 - _away_from_zero(rng, n)  # gap - margin away from 0


def _contrastive(rng, n):
    y = (rng.random(n) < 0.5).astype(float)
    d = rng.uniform(0, 2, n)
    return y, np.where(np.abs(d - 1) < 0.05, d + 0.1, d)


def _triplets(rng, n):
    a = rng.normal(0, 1, (n, 4))
    return a, a + rng.normal(0, 1, (n, 4)), a + rng.normal(0, 1.3, (n, 4))


def _ziln(rng, n):
    y = np.where(rng.random(n) < 0.4, 0.0, rng.lognormal(0, 1, n))
    return y, rng.normal(0, 1, (n, 3))


def _watch_time(rng, n):
    clicked = (rng.random(n) < 0.3).astype(float)
    return clicked, rng.exponential(3, n) * clicked, rng.normal(0, 2, n)


def _distributions(rng, n, classes=5):
    return rng.dirichlet(np.ones(classes), n), rng.dirichlet(np.ones(classes), n)


CASES: dict[str, Case] = {
    "binary_cross_entropy": Case(
        lossfns.binary_cross_entropy, lambda rng, n: (rng.random(n), rng.uniform(0.02, 0.98, n))
    ),
    "binary_cross_entropy_with_logits": Case(
        lossfns.binary_cross_entropy_with_logits, _soft_logits, hyper={"pos_weight": 2.5}
    ),
    "softmax_cross_entropy": Case(lossfns.softmax_cross_entropy, _class_indices),
    "multi_positive_softmax_cross_entropy": Case(
        lossfns.multi_positive_softmax_cross_entropy, _multi_hot
    ),
    "logistic_loss": Case(lossfns.logistic_loss, _signs_scores),
    "hinge": Case(lossfns.hinge, _signs_scores),
    "squared_hinge": Case(lossfns.squared_hinge, _signs_scores),
    "multiclass_hinge": Case(lossfns.multiclass_hinge, _class_scores),
    "focal_loss": Case(lossfns.focal_loss, _soft_logits, hyper={"gamma": 2.0, "alpha": 0.25}),
    "softmax_focal_loss": Case(lossfns.softmax_focal_loss, _probability_rows, hyper={"gamma": 1.5}),
    "mse": Case(lossfns.mse, _regression),
    "mae": Case(lossfns.mae, _regression),
    "huber": Case(lossfns.huber, _huber_data, hyper={"delta": 1.5}),
    "mape": Case(lossfns.mape, _positive_regression),
    "smape": Case(lossfns.smape, _positive_regression),
    "pinball": Case(lossfns.pinball, _regression, hyper={"quantile": 0.8}),
    "log_cosh": Case(lossfns.log_cosh, _regression),
    "watch_time_logistic": Case(lossfns.watch_time_logistic, _watch_time, wrt=(2,)),
    "pairwise_hinge": Case(lossfns.pairwise_hinge, _pairs, wrt=(0, 1)),
    "bpr": Case(lossfns.bpr, _pairs, wrt=(0, 1)),
    "pairwise_logistic": Case(lossfns.pairwise_logistic, _pairs, wrt=(0, 1)),
    "contrastive": Case(lossfns.contrastive, _contrastive),
    "triplet": Case(lossfns.triplet, _triplets, wrt=(0, 1, 2)),
    "ziln_loss": Case(lossfns.ziln_loss, _ziln),
    "cross_entropy": Case(lossfns.cross_entropy, _distributions),
    "kl_divergence": Case(lossfns.kl_divergence, _distributions),
    "js_divergence": Case(lossfns.js_divergence, _distributions),
}
LOSSES = [name for name, case in CASES.items() if isinstance(case.function, lossfns.Loss)]
WITH_HESS = [name for name in CASES if hasattr(CASES[name].function, "hess")]


def _public_differentiables():
    return {
        name
        for name in lossfns.__all__
        if isinstance(getattr(lossfns, name), (lossfns.Loss, lossfns.Measure))
    }


def test_every_public_loss_has_a_case():
    assert _public_differentiables() == set(CASES)


def test_every_loss_names_its_formulas():
    for name in CASES:
        formulas = CASES[name].function.formulas
        assert formulas and all(callable(f) for f in formulas), name


@pytest.mark.parametrize("name", list(CASES))
def test_the_named_formula_is_the_one_evaluated(name):
    case = CASES[name]
    terms = case.function._terms(*case.make(np.random.default_rng(0), 7), **case.hyper)
    assert terms.formula in case.function.formulas


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def _reduced(case):
    return {} if isinstance(case.function, lossfns.Measure) else {"reduction": "none"}


@pytest.mark.parametrize("name", list(CASES))
def test_gradient_matches_finite_differences(name):
    # Rows are independent, so perturbing one column of every row at once gives each
    # row's partial derivative. Central differences with step h err by about
    # h^2 |f'''| / 6 + eps |f| / h: below 1e-8 here for derivatives of order 1.
    case = CASES[name]
    args = list(case.make(np.random.default_rng(1), 40))
    kwargs = dict(case.hyper, **_reduced(case))
    grads = _as_tuple(case.function.grad(*args, **kwargs))
    for position, grad in zip(case.wrt, grads):
        x = np.asarray(args[position], float)
        columns = x.reshape(len(x), -1)
        numeric = np.empty_like(columns)
        for j in range(columns.shape[1]):
            # a measure's q must stay a distribution (sums within 1e-6): a smaller step
            step = 1e-8 if isinstance(case.function, lossfns.Measure) else 1e-6
            h = step * np.maximum(1, np.abs(columns[:, j]))
            values = []
            for sign in (1, -1):
                moved = columns.copy()
                moved[:, j] += sign * h
                trial = list(args)
                trial[position] = moved.reshape(x.shape)
                values.append(np.asarray(case.function(*trial, **kwargs)).reshape(len(x), -1))
            numeric[:, j] = (values[0] - values[1]).sum(axis=1) / (2 * h)
        np.testing.assert_allclose(grad.reshape(numeric.shape), numeric, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", WITH_HESS)
def test_hessian_diagonal_matches_finite_differences_of_the_gradient(name):
    case = CASES[name]
    args = list(case.make(np.random.default_rng(2), 40))
    kwargs = dict(case.hyper, reduction="none")
    position = case.wrt[0]
    x = np.asarray(args[position], float)
    columns = x.reshape(len(x), -1)
    numeric = np.empty_like(columns)
    for j in range(columns.shape[1]):
        h = 1e-6 * np.maximum(1, np.abs(columns[:, j]))
        grads = []
        for sign in (1, -1):
            moved = columns.copy()
            moved[:, j] += sign * h
            trial = list(args)
            trial[position] = moved.reshape(x.shape)
            g = _as_tuple(case.function.grad(*trial, **kwargs))[0]
            grads.append(g.reshape(len(x), -1)[:, j])
        numeric[:, j] = (grads[0] - grads[1]) / (2 * h)
    hess = _as_tuple(case.function.hess(*args, **kwargs))[0]
    np.testing.assert_allclose(hess.reshape(numeric.shape), numeric, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", LOSSES)
def test_one_pass_results_equal_the_separate_calls_bit_for_bit(name, reduction):
    case = CASES[name]
    args = case.make(np.random.default_rng(3), 50)
    kwargs = dict(case.hyper, reduction=reduction, sample_weight=np.linspace(0.5, 2, 50))
    f = case.function
    value, grad = f.value_and_grad(*args, **kwargs)
    np.testing.assert_array_equal(value, f(*args, **kwargs))
    for g, g_alone in zip(_as_tuple(grad), _as_tuple(f.grad(*args, **kwargs))):
        np.testing.assert_array_equal(g, g_alone)
    if hasattr(f, "hess"):
        grad_both, hess_both = f.grad_hess(*args, **kwargs)
        for g, g_alone in zip(_as_tuple(grad_both), _as_tuple(grad)):
            np.testing.assert_array_equal(g, g_alone)
        for h, h_alone in zip(_as_tuple(hess_both), _as_tuple(f.hess(*args, **kwargs))):
            np.testing.assert_array_equal(h, h_alone)


def _block_sizes(function, large=False):
    # around the loss's own block (its footprint may make it smaller than BLOCK_SIZE;
    # large: the blocks of grad_hess)
    size = _core.block_entries(function.footprint, 8, 0, large=large)
    return [size - 1, size, size + 1, 3 * size + 17]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", LOSSES)
def test_blockwise_evaluation_equals_one_call(name, reduction, monkeypatch):
    # per-sample values and derivatives are the same operations on the same numbers;
    # a reduced value differs by the order of summation: n eps relative at worst
    case = CASES[name]
    f = case.function
    for n_entries in _block_sizes(f):
        args = case.make(np.random.default_rng(n_entries), n_entries)
        n_rows = len(args[case.wrt[0]])
        weight = np.random.default_rng(5).uniform(0, 2, n_rows)
        kwargs = dict(case.hyper, reduction=reduction, sample_weight=weight)
        value, grad = f.value_and_grad(*args, **kwargs)
        hess = f.hess(*args, **kwargs) if hasattr(f, "hess") else None
        with monkeypatch.context() as patch:
            patch.setattr(_core, "BLOCK_SIZE", 10**9)  # one block: the plain evaluation
            patch.setattr(_core, "BLOCK_BUDGET", 10**12)
            value_1, grad_1 = f.value_and_grad(*args, **kwargs)
            hess_1 = f.hess(*args, **kwargs) if hess is not None else None
        if reduction == "none":
            np.testing.assert_array_equal(value, value_1)
        else:
            assert value == pytest.approx(value_1, rel=n_rows * 2.0**-53)
        for g, g_1 in zip(_as_tuple(grad), _as_tuple(grad_1)):
            np.testing.assert_array_equal(g, g_1)
        if hess is not None:
            for h, h_1 in zip(_as_tuple(hess), _as_tuple(hess_1)):
                np.testing.assert_array_equal(h, h_1)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", [name for name in LOSSES if hasattr(CASES[name].function, "grad_hess")])
def test_blockwise_grad_hess_equals_one_call(name, reduction, monkeypatch):
    # grad_hess evaluates in larger blocks (lossfns._core.LARGE_BLOCKS): the same
    # derivatives, bit for bit, as one call on the whole arrays
    case = CASES[name]
    f = case.function
    for n_entries in _block_sizes(f, large=True):
        args = case.make(np.random.default_rng(n_entries), n_entries)
        n_rows = len(args[case.wrt[0]])
        weight = np.random.default_rng(5).uniform(0, 2, n_rows)
        kwargs = dict(case.hyper, reduction=reduction, sample_weight=weight)
        grad, hess = f.grad_hess(*args, **kwargs)
        with monkeypatch.context() as patch:
            patch.setattr(_core, "BLOCK_SIZE", 10**9)  # one block: the plain evaluation
            patch.setattr(_core, "BLOCK_BUDGET", 10**12)
            grad_1, hess_1 = f.grad_hess(*args, **kwargs)
        for x, x_1 in zip(_as_tuple(grad) + _as_tuple(hess), _as_tuple(grad_1) + _as_tuple(hess_1)):
            np.testing.assert_array_equal(x, x_1)


@pytest.mark.parametrize("name", LOSSES)
def test_a_reduced_value_is_the_sum_of_the_values(name):
    case = CASES[name]
    n = 2 * _core.BLOCK_SIZE + 5
    args = case.make(np.random.default_rng(6), n)
    terms = case.function(*args, **case.hyper, reduction="none")
    exact = math.fsum(terms.ravel().tolist())
    n_terms = terms.size
    assert case.function(*args, **case.hyper, reduction="sum") == pytest.approx(
        exact, rel=n_terms * 2.0**-53
    )
    assert case.function(*args, **case.hyper) == pytest.approx(
        exact / len(terms), rel=n_terms * 2.0**-53
    )


@pytest.mark.parametrize("name", list(CASES))
def test_strict_floating_point_raises_nothing(name):
    case = CASES[name]
    args = case.make(np.random.default_rng(8), 30)
    f = case.function
    with np.errstate(all="raise"):
        f(*args, **case.hyper)
        f.value_and_grad(*args, **case.hyper)
        if hasattr(f, "hess"):
            f.grad_hess(*args, **case.hyper)


@pytest.mark.parametrize("name", list(CASES))
def test_float32_in_float32_out(name):
    case = CASES[name]
    args = [
        a.astype(np.float32) if np.asarray(a).dtype.kind == "f" else a
        for a in case.make(np.random.default_rng(9), 12)
    ]
    f = case.function
    value, grad = f.value_and_grad(*args, **case.hyper)
    assert np.asarray(value).dtype == np.float32
    for g in _as_tuple(grad):
        assert g.dtype == np.float32


@pytest.mark.parametrize("name", list(CASES))
def test_methods_carry_the_loss_signature(name):
    import inspect

    f = CASES[name].function
    expected = inspect.signature(f)
    for method in ("grad", "value_and_grad", "hess", "grad_hess"):
        if hasattr(f, method):
            assert inspect.signature(getattr(f, method)) == expected
    assert ":math:" not in f.__doc__ and ":ref:" not in f.__doc__  # help() shows plain text
    assert ":math:" in f.sphinx_doc or ":ref:" in f.sphinx_doc or "math::" in f.sphinx_doc


INTEGER_DTYPES = [np.int8, np.int32, np.int64, np.uint8, np.uint16, np.uint64]


def _integer_positions(args) -> list[int]:
    """Positions of the arguments that hold small integers (labels, class indices)."""
    return [
        i for i, a in enumerate(map(np.asarray, args))
        if a.dtype.kind in "iuf" and np.array_equal(a, np.round(a)) and np.abs(a).max() <= 100
    ]


WITH_INTEGERS = [
    name for name, case in CASES.items()
    if _integer_positions(case.make(np.random.default_rng(10), 20))
]


@pytest.mark.parametrize("dtype", INTEGER_DTYPES)
@pytest.mark.parametrize("name", WITH_INTEGERS)
def test_integer_arguments_behave_like_int64(name, dtype):
    # labels and class indices in any integer dtype (unsigned where they are
    # non-negative) give the results of the same values as int64 or float64
    case = CASES[name]
    args = list(case.make(np.random.default_rng(10), 20))
    converted = list(args)
    for i in _integer_positions(args):
        if np.dtype(dtype).kind == "i" or np.min(args[i]) >= 0:
            converted[i] = np.asarray(args[i]).astype(dtype)
    expected = case.function.value_and_grad(*args, **case.hyper)
    got = case.function.value_and_grad(*converted, **case.hyper)
    np.testing.assert_array_equal(got[0], expected[0])
    for g, g_expected in zip(_as_tuple(got[1]), _as_tuple(expected[1])):
        np.testing.assert_array_equal(g, g_expected)


ELEMENTWISE = [
    name for name in WITH_HESS
    if name not in ("softmax_cross_entropy",) and isinstance(CASES[name].function, lossfns.Loss)
]


@pytest.mark.parametrize("float_type", [np.float16, np.float32, np.float64, np.longdouble])
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_numpy_scalars_behave_like_one_entry_arrays(name, float_type):
    case = CASES[name]
    args = [np.asarray(a)[0] for a in case.make(np.random.default_rng(11), 1)]
    scalars = [float_type(a) if np.asarray(a).dtype.kind == "f" else a for a in args]
    arrays = [np.asarray([a]) for a in scalars]
    value = case.function(*scalars, **case.hyper, reduction="none")
    assert np.ndim(value) == 0
    np.testing.assert_array_equal(
        value, case.function(*arrays, **case.hyper, reduction="none")[0]
    )
    expected_dtype = np.float32 if float_type is np.float32 else np.float64
    assert np.asarray(value).dtype == expected_dtype


# Arguments that select a loss's other formula(s), for the footprint check below.
OTHER_FORMULAS: dict[str, list[tuple[Callable, dict]]] = {
    "binary_cross_entropy": [
        (lambda rng, n: (rng.random(n), np.where(rng.random(n) < 0.1, 0.0, rng.random(n))), {}),
    ],
    "binary_cross_entropy_with_logits": [(_soft_logits, {})],
    "softmax_cross_entropy": [(_probability_rows, {"label_smoothing": 0.1})],
    "multiclass_hinge": [(_class_scores, {"method": "weston_watkins"})],
    "triplet": [(_triplets, {"squared": True})],
}


def _measured_footprint(function, args, hyper):
    """The most memory one evaluation of the formula holds at once, its results included,
    over every combination of value, grad and hess it offers, in arrays of its input's
    size (rows times the widest row); ``tracemalloc`` sees NumPy's buffers. ``None`` for a
    formula that is not evaluated in blocks."""
    import functools
    import itertools
    import tracemalloc

    terms = function._terms(*args, **hyper)
    if not terms.rowwise:
        return terms, None
    formula = functools.partial(terms.formula, **terms.hyper)
    widest = max(math.prod(np.shape(a)[1:]) for a in terms.arrays)
    unit = len(terms.arrays[0]) * widest * terms.weighting.dtype.itemsize
    worst = 0.0
    for value, grad, hess in itertools.product((True, False), repeat=3):
        if not (value or grad or hess) or (hess and not hasattr(function, "hess")):
            continue
        with np.errstate(all="ignore"):
            formula(*terms.arrays, value=value, grad=grad, hess=hess)  # first-use caches
            tracemalloc.start()
            try:
                outputs = formula(*terms.arrays, value=value, grad=grad, hess=hess)
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
        del outputs
        worst = max(worst, peak / unit)
    return terms, worst


@pytest.mark.parametrize("name", LOSSES)
def test_the_declared_footprint_covers_the_measured_one(name):
    # The block size of a row-wise loss follows from its declared footprint (the arrays
    # of a block's size its formula keeps alive at once; lossfns._core.BLOCK_BUDGET): a
    # declaration below the truth would let a block's temporaries pass the budget.
    case = CASES[name]
    rows = 2000  # enough that Python objects and ufunc buffers weigh nothing beside the arrays
    variants = [(case.make, case.hyper)] + [
        (make, {**case.hyper, **hyper}) for make, hyper in OTHER_FORMULAS.get(name, [])
    ]
    for make, hyper in variants:
        terms, measured = _measured_footprint(
            case.function, make(np.random.default_rng(11), rows), hyper
        )
        if measured is None:
            assert case.function.footprint is None, name
            continue
        assert case.function.footprint is not None, f"{name} declares no footprint"
        assert measured <= case.function.footprint, (name, terms.formula.__name__, measured)
