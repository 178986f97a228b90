"""Losses and measures on the arrays people train with: torch tensors, Dask arrays (and
JAX, where installed), each computing in the namespace of its inputs.

The torch checks run every case of ``tests/test_shared.py`` (the registry every public
loss and measure is in) on float64 tensors and ask for the NumPy path's values and
derivatives to 1e-12, on the shared grid and on extreme inputs; autograd through the
value must give the analytic ``.grad``; float32 and bfloat16 keep their dtype; bad input
is the same error with the same message. The Dask checks evaluate chunk by chunk and
lazily, up to a loss over 10^9 generated entries in bounded memory.

The public functions without derivatives (entropy, the ZILN predictions, the bucket
helpers, the LTV metrics, ...) are registered in :data:`FUNCTIONS` and pass the same
checks: torch equal to NumPy to 1e-12 on a grid and at extremes, autograd against the
analytic derivative where one is written below, narrow dtypes as NumPy's, Dask chunk by
chunk (or gathered, for the rankings and sorts), the same errors. Every public function
is in one registry or the other.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import types
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

import lossfns
from test_shared import CASES

try:
    import torch
except ImportError:  # the torch tests are skipped; Dask's and JAX's run where installed
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


def _installed(module):
    try:
        __import__(module)
    except ImportError:
        return False
    return True


# JAX and CuPy are not dependencies (JAX: ~400 MB, not pinned; CuPy needs a CUDA GPU):
# their tests run wherever they are installed, and say so when they are skipped
needs_jax = pytest.mark.skipif(
    not _installed("jax"), reason="JAX is not installed (not a dependency: pip install jax)")
needs_cupy = pytest.mark.skipif(
    not _installed("cupy"), reason="CuPy is not installed (it needs a CUDA GPU)")
needs_cuda = pytest.mark.skipif(
    torch is None or not torch.cuda.is_available(), reason="no CUDA device for torch")

LOSSES = [name for name, case in CASES.items() if isinstance(case.function, lossfns.Loss)]
WITH_HESS = [name for name in CASES if hasattr(CASES[name].function, "hess")]


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def _tensors(arrays):
    return tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in arrays)


def _reductions(case):
    return ["mean", "sum", "none"] if isinstance(case.function, lossfns.Loss) else [None]


def _methods(name):
    return ["value", "grad"] + (["hess"] if name in WITH_HESS else [])


def _call(case, method, args, reduction, **extra):
    kwargs = dict(case.hyper, **extra)
    if reduction is not None:
        kwargs["reduction"] = reduction
    function = case.function if method == "value" else getattr(case.function, method)
    return function(*args, **kwargs)


def _assert_same(torch_result, numpy_result, rtol=1e-12):
    for t, a in zip(_as_tuple(torch_result), _as_tuple(numpy_result), strict=True):
        assert isinstance(t, torch.Tensor), type(t)
        assert t.dtype == torch.float64
        # (infinities must match exactly; NaN appears nowhere)
        np.testing.assert_allclose(t.numpy(), a, rtol=rtol, atol=0)


# ------------------------------------------------------------------------ the import


def test_import_lossfns_imports_no_array_library_but_numpy():
    code = (
        "import sys, lossfns; "
        "print(sorted(m for m in ('torch', 'jax', 'dask', 'cupy', 'array_api_compat') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(os.path.dirname(lossfns.__file__)))
    assert out.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- torch


@needs_torch
@pytest.mark.parametrize("name", list(CASES))
def test_torch_equals_numpy_on_the_shared_grid(name):
    case = CASES[name]
    args = case.make(np.random.default_rng(3), 40)
    for method in _methods(name):
        for reduction in _reductions(case):
            expected = _call(case, method, args, reduction)
            _assert_same(_call(case, method, _tensors(args), reduction), expected)


def _extreme_args(name, rng):
    """The case's arguments with extreme entries in its prediction arguments."""
    case = CASES[name]
    args = [np.array(a, dtype=float) if np.asarray(a).dtype.kind == "f" else np.array(a)
            for a in case.make(rng, 12)]
    big = [1e300, -1e300, 800.0, -800.0, 1e-300, -5e-324, 40.0, -40.0, 1e15, -1e15, 0.0, 3.0]
    if name == "binary_cross_entropy":
        args[1] = np.array([0.0, 1.0, 1e-300, 1 - 1e-16, 5e-324, 0.5] * 2)
        args[0] = np.where(args[1] == 0, 0.0, np.where(args[1] == 1, 1.0, args[0]))
    elif name == "contrastive":
        args[1] = np.abs(np.array(big))
    elif name in ("cross_entropy", "kl_divergence", "js_divergence"):
        q = np.full((12, 5), 1e-300)
        q[:, 0] = 1 - 4e-300
        args[1] = q
        args[0][0] = [1.0, 0.0, 0.0, 0.0, 0.0]
    elif name == "ziln_loss":
        args[1][:, 0] = big
        args[1][:, 2] = [-800.0, 700.0, -40.0, 40.0, 0.0, 1.0] * 2
    elif name in ("softmax_cross_entropy", "softmax_focal_loss", "multiclass_hinge",
                  "multi_positive_softmax_cross_entropy"):
        args[1][:, 0] = big
    elif name in ("hinge", "squared_hinge", "logistic_loss"):
        args[1] = np.array(big)
    elif name in ("mape", "smape"):
        args[1] = np.array(big)
    elif name == "triplet":
        args[2][:, 0] = big
    else:
        for i in case.wrt:
            args[i] = np.array(big) if args[i].ndim == 1 else args[i]
    return tuple(args)


@needs_torch
@pytest.mark.parametrize("name", list(CASES))
def test_torch_equals_numpy_at_extremes(name):
    case = CASES[name]
    args = _extreme_args(name, np.random.default_rng(4))
    for method in _methods(name):
        reduction = "none" if isinstance(case.function, lossfns.Loss) else None
        with np.errstate(all="ignore"):
            expected = _call(case, method, args, reduction)
        _assert_same(_call(case, method, _tensors(args), reduction), expected)


@needs_torch
@pytest.mark.parametrize("name", list(CASES))
def test_autograd_through_the_value_is_the_analytic_gradient(name):
    case = CASES[name]
    args = list(_tensors(case.make(np.random.default_rng(5), 30)))
    for i in case.wrt:
        args[i] = args[i].clone().requires_grad_(True)
    reduction = "mean" if isinstance(case.function, lossfns.Loss) else None
    value = _call(case, "value", args, reduction)
    assert value.requires_grad
    value.sum().backward()
    analytic = _as_tuple(_call(case, "grad", [a.detach() for a in args], reduction))
    for i, expected in zip(case.wrt, analytic, strict=True):
        # one chain of a few roundings against another: far below the analytic size
        np.testing.assert_allclose(args[i].grad.numpy(), expected.numpy(), rtol=1e-10,
                                   atol=1e-13)


_PROBABILITY_ROWS = {"softmax_focal_loss", "cross_entropy", "kl_divergence", "js_divergence"}


@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("name", list(CASES))
def test_narrow_float_tensors_keep_their_dtype(name, dtype):
    case = CASES[name]
    if dtype == "bfloat16" and name in _PROBABILITY_ROWS:
        # rows rounded to 8 bits sum to 1 within 2^-9 only, not the library's 1e-6: they
        # are refused as distributions, rightly (the check runs on the bfloat16 values)
        pytest.skip("probability rows cannot be bfloat16")
    kind = getattr(torch, dtype)
    args = tuple(a.to(kind) if a.is_floating_point() else a
                 for a in _tensors(case.make(np.random.default_rng(6), 20)))
    reference = _call(case, "value", _tensors(case.make(np.random.default_rng(6), 20)), None
                      if not isinstance(case.function, lossfns.Loss) else "mean")
    for method in _methods(name):
        reduction = "mean" if isinstance(case.function, lossfns.Loss) else None
        for result in _as_tuple(_call(case, method, args, reduction)):
            assert result.dtype == kind, (method, result.dtype)
            assert torch.isfinite(result).all()
    value = _call(case, "value", args, "mean" if isinstance(case.function, lossfns.Loss)
                  else None)
    # bfloat16 keeps 8 bits: the value within a few of its units of the float64 one
    rtol = {"float32": 1e-5, "bfloat16": 0.05}[dtype]
    np.testing.assert_allclose(value.double().numpy(), reference.numpy(), rtol=rtol,
                               atol=rtol)


@needs_torch
def test_torch_results_stay_on_the_inputs_device_and_grad_flags():
    y, z = torch.tensor([1.0, 0.0], dtype=torch.float64), torch.tensor([2.0, -1.0],
                                                                         dtype=torch.float64)
    value, grad = lossfns.focal_loss.value_and_grad(y, z)
    assert value.device == z.device and grad.device == z.device
    assert value.shape == () and grad.shape == (2,)


@needs_torch
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda t: lossfns.binary_cross_entropy_with_logits(t([1.0, 0.0]), t([0.5, np.nan])),
         "logits contains NaN or infinite values"),
        (lambda t: lossfns.focal_loss(t([1.5, 0.0]), t([0.5, 0.1])),
         r"y_true must lie in \[0, 1\]; found 1.5"),
        (lambda t: lossfns.hinge(t([1.0, 0.0]), t([0.5, 0.1])),
         r"y_true must hold only the values \(-1, 1\); found 0"),
        (lambda t: lossfns.mse(t([1.0, 0.0]), t([0.5, 0.1]), sample_weight=t([1.0, -2.0])),
         "sample_weight must be non-negative; found -2"),
        (lambda t: lossfns.mse(t([1.0, 0.0]), t([[0.5], [0.1]])),
         r"shapes differ: y_true \(2,\), y_pred \(2, 1\)"),
        (lambda t: lossfns.softmax_cross_entropy(t([0, 3]), t([[0.5, 0.1], [0.0, 1.0]])),
         r"y_true must hold class indices in range\(2\); found 3"),
        (lambda t: lossfns.kl_divergence(t([[0.5, 0.4]]), t([[0.5, 0.5]])),
         "p must sum to 1 along axis"),
        (lambda t: lossfns.mape(t([0.0, 1.0]), t([0.5, 0.1])),
         "y_true contains a zero target"),
        (lambda t: lossfns.mse(t([1.0]), t([0.5]), reduction="avg"),
         "reduction must be one of"),
    ],
)
def test_bad_tensors_are_the_same_error_as_bad_arrays(call, message):
    def numpy_array(values):
        return np.asarray(values)

    def tensor(values):
        return torch.as_tensor(np.asarray(values))

    for make in (numpy_array, tensor):
        with pytest.raises(ValueError, match=message):
            call(make)


@needs_torch
def test_mixed_libraries_are_a_type_error_naming_the_arguments():
    with pytest.raises(TypeError, match="y_true is a numpy array, logits is a torch array"):
        lossfns.focal_loss(np.ones(2), torch.zeros(2))
    with pytest.raises(TypeError, match="sample_weight is a numpy array"):
        lossfns.mse(torch.ones(2), torch.zeros(2), sample_weight=np.ones(2))
    # lists and scalars are converted into the inputs' library
    value = lossfns.mse([1.0, 2.0], torch.zeros(2, dtype=torch.float64), sample_weight=[1, 3])
    assert isinstance(value, torch.Tensor) and float(value) == pytest.approx(13 / 4)


# ------------------------------------------------------------------------------ Dask


def _dask_arrays(arrays, rows_per_chunk=13):
    da = pytest.importorskip("dask.array")
    return tuple(da.from_array(np.asarray(a), chunks=(rows_per_chunk,) + np.shape(a)[1:])
                 for a in arrays)


@pytest.mark.parametrize("name", list(CASES))
def test_dask_equals_numpy_chunk_by_chunk(name):
    import dask

    case = CASES[name]
    args = case.make(np.random.default_rng(7), 50)  # four chunks of 13 rows (the last 11)
    weights = {"sample_weight": np.random.default_rng(8).uniform(0, 2, 50)}
    is_loss = isinstance(case.function, lossfns.Loss)
    # the value reduced (a tree of partial sums) and not, the derivatives of a weighted
    # mean (divided by the root's sum of weights) and of a sum
    plan = [("value", "mean"), ("value", "none"), ("value_and_grad", "mean")] if is_loss else [
        ("value_and_grad", None)]
    plan += [("hess", "sum")] if name in WITH_HESS else []
    for method, reduction in plan:
        extra = weights if reduction == "mean" else {}
        expected = _call(case, method, args, reduction, **extra)
        with dask.config.set(scheduler="synchronous"):
            lazy = _call(case, method, _dask_arrays(args), reduction,
                         **{k: _dask_arrays([v])[0] for k, v in extra.items()})
            computed = dask.compute(lazy)[0]
        for got, want in zip(_as_tuple(computed), _as_tuple(expected), strict=True):
            for g, w in zip(_as_tuple(got), _as_tuple(want), strict=True):
                assert np.asarray(g).dtype == np.asarray(w).dtype
                # partial sums in another order than the blocks': a few ulps
                np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("weight", [np.finfo(float).max, 5e-324, "both"])
@pytest.mark.parametrize("name", LOSSES)
def test_dask_means_divide_the_weights_by_the_largest_as_numpy_does(name, weight):
    # Weights at the ends of the float range (the largest float, 1.8e308 rounded down, and
    # the smallest subnormal): their sums overflow or lose every digit unless the weights
    # are first divided by the largest, which leaves a mean unchanged. Before: NaN.
    import dask

    case = CASES[name]
    args = case.make(np.random.default_rng(18), 50)
    if weight == "both":  # the small ones count 0 beside the largest, in both paths
        weights = np.where(np.arange(50) % 3 == 0, np.finfo(float).max, 5e-324)
    else:
        weights = np.full(50, weight)
    expected = _call(case, "value_and_grad", args, "mean", sample_weight=weights)
    lazy = _call(case, "value_and_grad", _dask_arrays(args), "mean",
                 sample_weight=_dask_arrays([weights])[0])
    with dask.config.set(scheduler="synchronous"):
        (computed,) = dask.compute(lazy)
    for got, want in zip(computed, expected, strict=True):
        for g, w in zip(_as_tuple(got), _as_tuple(want), strict=True):
            # the chunks' partial sums in another order than the blocks': a few ulps
            np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("name", LOSSES)
def test_dask_means_at_extremes_equal_numpy(name):
    # The chunks' means combined by their shares of the denominator, so that a mean
    # overflows only where its value does (before: an MSE of residuals 1e154, 1e308 in
    # NumPy, was inf, as the chunks' sums overflowed)
    import dask

    case = CASES[name]
    args = _extreme_args(name, np.random.default_rng(19))
    if name == "mse":
        args = (np.zeros(12), np.full(12, 1e154))
    with np.errstate(all="ignore"):
        expected = _call(case, "value_and_grad", args, "mean")
    lazy = _call(case, "value_and_grad", _dask_arrays(args, rows_per_chunk=5), "mean")
    with dask.config.set(scheduler="synchronous"), np.errstate(all="ignore"):
        (computed,) = dask.compute(lazy)
    for got, want in zip(computed, expected, strict=True):
        for g, w in zip(_as_tuple(got), _as_tuple(want), strict=True):
            # (infinities must match exactly) a sum in another order: a few ulps
            np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("method", ["value", "grad"])
@pytest.mark.parametrize(
    ("weights", "message"),
    [({"sample_weight": np.zeros(4)}, "sample_weight sums to zero; the weighted mean is "
                                      "undefined"),
     ({"class_weight": [0.0, 0.0]}, r"every sample has weight zero \(sample_weight times "
                                    r"the class_weight of its class\)")],
)
def test_dask_weights_summing_to_zero_are_the_numpy_error(weights, message, method):
    y, z = np.array([0, 1, 0, 1]), np.zeros((4, 2))
    function = lossfns.softmax_cross_entropy
    function = function if method == "value" else function.grad
    for arrays in ((y, z), _dask_arrays((y, z), rows_per_chunk=2)):
        extra = {k: _dask_arrays([v], 2)[0] if k == "sample_weight" and arrays[0] is not y
                 else v for k, v in weights.items()}
        with pytest.raises(ValueError, match=message):
            result = function(*arrays, **extra)
            if arrays[0] is not y:
                result.compute(scheduler="synchronous")


def test_lists_beside_dask_arrays_are_cut_in_rows_like_them():
    # one entry per sample (a positional argument, the weights): as torch converts a list
    # into tensors, Dask takes it as a Dask array of the same row chunks; class_weight, one
    # entry per class, stays whole
    rng = np.random.default_rng(20)
    y, p, w = rng.normal(0, 1, 50), rng.normal(0, 1, 50), rng.uniform(0, 2, 50)
    (lazy_p,) = _dask_arrays([p])
    got = lossfns.mse(list(y), lazy_p, sample_weight=list(w)).compute(scheduler="synchronous")
    np.testing.assert_allclose(got, lossfns.mse(y, p, sample_weight=w), rtol=1e-13)
    labels, logits = rng.integers(0, 3, 50), rng.normal(0, 1, (50, 3))
    got = lossfns.softmax_cross_entropy(list(labels), *_dask_arrays([logits]),
                                        class_weight=[1.0, 2.0, 3.0])
    want = lossfns.softmax_cross_entropy(labels, logits, class_weight=[1.0, 2.0, 3.0])
    np.testing.assert_allclose(got.compute(scheduler="synchronous"), want, rtol=1e-13)
    z, q = rng.normal(0, 1, (50, 3)), rng.uniform(0.1, 0.9, 50)
    got = lossfns.ziln_quantile(*_dask_arrays([z]), list(q)).compute(scheduler="synchronous")
    np.testing.assert_array_equal(got, lossfns.ziln_quantile(z, q))


def test_dask_builds_a_tree_of_partial_sums_and_computes_nothing_until_asked():
    da = pytest.importorskip("dask.array")
    calls = []

    def generate(block, block_info=None):
        calls.append(block_info[None]["chunk-location"])
        return np.full(block.shape, 0.5)

    p = da.zeros(1000, chunks=100).map_blocks(generate, dtype=float)
    y = da.zeros(1000, chunks=100)
    value = lossfns.mse(y, p)
    assert calls == [] and value.shape == ()
    # ten chunks, each a partial sum, added up a tree to one (sum, count) pair
    assert value.npartitions == 1 and len(value.dask) > 10
    assert float(value.compute(scheduler="synchronous")) == 0.25
    assert len(calls) == 10


def test_a_nan_in_one_chunk_is_the_numpy_error_when_computed():
    da = pytest.importorskip("dask.array")
    p = np.full(100, 0.5)
    p[77] = np.nan
    value = lossfns.focal_loss(da.zeros(100, chunks=10), da.from_array(p, chunks=10))
    with pytest.raises(ValueError, match="logits contains NaN or infinite values"):
        value.compute(scheduler="synchronous")
    with pytest.raises(TypeError, match="y_true is a numpy array, logits is a dask array"):
        lossfns.focal_loss(np.zeros(100), da.from_array(p, chunks=10))


BILLION = """
import resource, sys, time
import dask.array as da, numpy as np, lossfns
n = 10**9
start = time.process_time()
# generated chunk by chunk as broadcast views (no memory), 40 chunks of 2.5e7
y = da.zeros(n, chunks=25_000_000, dtype=np.float32)
p = da.full(n, 0.5, chunks=25_000_000, dtype=np.float32)
value = lossfns.mse(y, p).compute(scheduler="threads", num_workers=2)
print(float(value), time.process_time() - start,
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def test_a_loss_over_a_billion_lazily_generated_entries_in_bounded_memory():
    # About 4 s of CPU (4 ns per entry: two finiteness checks, the residual, its square
    # and the partial sums, block by block in each chunk); the peak resident memory of
    # the whole process stays near that of importing NumPy and Dask (~90 MB measured).
    pytest.importorskip("dask.array")
    out = subprocess.run([sys.executable, "-c", BILLION], capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(os.path.dirname(lossfns.__file__)))
    value, cpu, peak = (float(x) for x in out.stdout.split())
    assert value == 0.25
    assert peak < 1e9, f"peak resident memory {peak / 1e6:.0f} MB"


def test_normalized_gini_and_decile_table_over_dask_arrays():
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(9)
    y = np.where(rng.random(1000) < 0.6, 0.0, rng.lognormal(0, 1, 1000))
    s = y + rng.normal(0, 1, 1000)
    lazy_y, lazy_s = da.from_array(y, chunks=100), da.from_array(s, chunks=100)
    gini = lossfns.normalized_gini(lazy_y, lazy_s)
    table = lossfns.decile_table(lazy_y, lazy_s, n_bins=10)
    assert hasattr(gini, "compute") and hasattr(table, "compute")  # lazy
    assert gini.compute() == lossfns.normalized_gini(y, s)
    for got, want in zip(table.compute(), lossfns.decile_table(y, s, n_bins=10), strict=True):
        np.testing.assert_array_equal(got, want)


# ------------------------------------------------------- functions without derivatives


@dataclass
class Function:
    """A public function without derivatives, as the array-API checks call it.

    ``make(rng, n)`` gives its array arguments on a grid of ``n`` samples and ``extreme()``
    at the ends of the float range; ``gradient(*args)`` is the analytic derivative of the
    sum of its values with respect to argument ``wrt`` (for autograd to match), where it
    has one; ``dask`` is ``"rows"`` when it runs chunk by chunk of rows, ``"gather"``
    when it needs every sample at once (a ranking, a sort)."""

    function: Callable
    make: Callable[[np.random.Generator, int], tuple]
    extreme: Callable[[], tuple]
    keywords: dict = field(default_factory=dict)
    gradient: Callable | None = None
    wrt: int = 0
    dask: str = "rows"
    distributions: bool = False  # arguments that must sum to 1 (not in bfloat16)


def _joints(rng, n):
    return (rng.dirichlet(np.ones(12), n).reshape(n, 3, 4),)


def _extreme_joints():
    joint = np.zeros((4, 3, 4))
    joint[0, 0, 0] = 1.0  # one sure outcome
    joint[1, 0, 0], joint[1, 1, 1], joint[1, 2, 3] = 1 - 2e-300, 1e-300, 1e-300
    joint[2] = 1 / 12  # independent, uniform
    joint[3, 0, :], joint[3, 1, 0] = (1 - 5e-324) / 4, 5e-324  # a subnormal row
    return (joint,)


def _extreme_rows():
    p = np.zeros((4, 5))
    p[0, 0] = 1.0
    p[1] = [1 - 4e-300, 1e-300, 1e-300, 1e-300, 1e-300]
    p[2, :2] = 0.5
    p[3] = [0.25, 0.25, 0.25, 0.25 - 5e-324, 5e-324]
    return (p,)


_HUGE = np.finfo(float).max


def _ziln_extreme_logits():
    l0 = [1e300, -1e300, 800.0, -800.0, 40.0, 0.0]
    mu = [0.0, 1.0, -700.0, 700.0, 3.0, -3.0]
    l2 = [-800.0, 700.0, -40.0, 40.0, 0.0, 1.0]
    return np.array([l0, mu, l2]).T


def _ziln_expectation_gradient(logits):
    # E = sigma(l0) exp(mu + s^2/2), s = softplus(l2):
    #   dE/dl0 = E sigma(-l0),  dE/dmu = E,  dE/dl2 = E s sigma(l2)
    l0, mu, l2 = logits.T
    s = np.logaddexp(0, l2)
    e = lossfns.ziln_predict(logits)
    return np.stack([e / (1 + np.exp(l0)), e, e * s / (1 + np.exp(-l2))], axis=1)


def _bucket_expectation_gradient(logits, centers):
    # y = sum_k p_k c_k, p = softmax(z): dy/dz_k = p_k (c_k - y)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return p * (centers - (p @ centers)[:, None])


def _conditional_entropy_gradient(joint):
    # H(Y|X) = -sum p log(p / p(x)): dH/dp(x,y) = -log(p(x,y) / p(x))
    return -np.log(joint / joint.sum(axis=-1, keepdims=True))


def _mutual_information_gradient(joint):
    # I = sum p log p - sum p(x) log p(x) - sum p(y) log p(y): dI/dp = log(p / (p(x) p(y))) - 1
    px, py = joint.sum(axis=-1, keepdims=True), joint.sum(axis=-2, keepdims=True)
    return np.log(joint / (px * py)) - 1


def _values_scores(rng, n):
    y = np.where(rng.random(n) < 0.4, 0.0, rng.lognormal(0, 1, n))
    s = np.round(y + rng.normal(0, 1, n), 1)  # ties, which the curves average over
    return y, s


def _extreme_values_scores():
    return (np.array([_HUGE, 1e308, 5e-324, 0.0, 3.0, _HUGE / 3]),
            np.array([_HUGE, -_HUGE, 5e-324, 5e-324, 0.0, 1.0]))


def _centers(rng):
    return np.sort(rng.normal(0, 3, 5))


FUNCTIONS: dict[str, Function] = {
    "self_information": Function(
        lossfns.self_information, lambda rng, n: (rng.uniform(0.01, 1, n),),
        lambda: (np.array([0.0, 1.0, 5e-324, 1e-300, 1 - 1e-16, 0.5]),),
        keywords={"base": 2.0}, gradient=lambda p: -1 / (p * np.log(2.0)),
    ),
    "entropy": Function(
        lossfns.entropy, lambda rng, n: (rng.dirichlet(np.ones(5), n),), _extreme_rows,
        gradient=lambda p: -(np.log(p) + 1), distributions=True,
    ),
    "conditional_entropy": Function(
        lossfns.conditional_entropy, _joints, _extreme_joints,
        gradient=_conditional_entropy_gradient, distributions=True,
    ),
    "mutual_information": Function(
        lossfns.mutual_information, _joints, _extreme_joints,
        gradient=_mutual_information_gradient, distributions=True,
    ),
    "ziln_predict": Function(
        lossfns.ziln_predict, lambda rng, n: (rng.normal(0, 1, (n, 3)),),
        lambda: (_ziln_extreme_logits(),), gradient=_ziln_expectation_gradient,
    ),
    "ziln_quantile": Function(
        lossfns.ziln_quantile,
        lambda rng, n: (rng.normal(0, 1, (n, 3)), rng.uniform(0.05, 0.95, n)),
        lambda: (_ziln_extreme_logits(), np.array([1e-300, 0.5, 0.99, 1 - 1e-16, 0.3, 0.9])),
    ),
    "watch_time_predict": Function(
        lossfns.watch_time_predict, lambda rng, n: (rng.normal(0, 3, n),),
        lambda: (np.array([800.0, -800.0, 709.0, -745.0, 0.0, 1e300]),), gradient=np.exp,
    ),
    "bucket_expectation": Function(
        lossfns.bucket_expectation,
        lambda rng, n: (rng.normal(0, 3, (n, 5)), _centers(rng)),
        lambda: (np.array([[1e300, 0.0, -1e300], [-1e308, 1e308, 0.0], [800.0, -800.0, 0.0]]),
                 np.array([-_HUGE, 0.0, _HUGE])),
        gradient=_bucket_expectation_gradient,
    ),
    "gaussian_soft_labels": Function(
        lossfns.gaussian_soft_labels, lambda rng, n: (rng.normal(0, 3, n), _centers(rng)),
        lambda: (np.array([1e300, -1e300, 0.0, 5e-324, _HUGE]),
                 np.array([-_HUGE, 0.0, 1.0, _HUGE])),
        keywords={"sigma": 1.5},
    ),
    "bucketize": Function(
        lossfns.bucketize, lambda rng, n: (rng.normal(0, 3, n), _centers(rng)),
        lambda: (np.array([-_HUGE, _HUGE, 0.0, 5e-324, -5e-324]), np.array([-1e308, 0.0, 1e308])),
    ),
    "bucket_centers": Function(
        lossfns.bucket_centers,
        lambda rng, n: (np.array([-9.0, -1.0, 0.5, 9.0]), rng.uniform(-9, 9, n)),
        # sums beyond the float range (the scaled path) and subnormal means
        lambda: (np.array([-_HUGE, 0.0, 1e-300, _HUGE]),
                 np.array([-_HUGE, -_HUGE, 5e-324, 1e-300, _HUGE, _HUGE])),
        dask="gather",
    ),
    "equal_frequency_edges": Function(
        lossfns.equal_frequency_edges, lambda rng, n: (rng.lognormal(0, 1, n),),
        lambda: (np.array([-_HUGE, _HUGE, 0.0, 5e-324, 1e308, -1e308, 0.0]),),
        keywords={"n_buckets": 3}, dask="gather",
    ),
    "gain_curve": Function(lossfns.gain_curve, _values_scores, _extreme_values_scores,
                           dask="gather"),
    "normalized_gini": Function(lossfns.normalized_gini, _values_scores,
                                _extreme_values_scores, dask="gather"),
    "decile_table": Function(lossfns.decile_table, _values_scores, _extreme_values_scores,
                             keywords={"n_bins": 3}, dask="gather"),
}


def test_every_public_function_dispatches_and_has_a_case():
    # every public function computes in its inputs' namespace: a loss or measure (in
    # test_shared's CASES) through the core, every other through _namespace.dispatched
    public = {name for name in lossfns.__all__ if not isinstance(getattr(lossfns, name), type)}
    assert public == set(CASES) | set(FUNCTIONS)
    for name in FUNCTIONS:
        assert hasattr(getattr(lossfns, name), "__wrapped__"), name


def _flat(result):
    """The arrays of a result: one, or each of a tuple (a DecileTable, a gain curve)."""
    return list(result) if isinstance(result, tuple) else [result]


def _assert_same_results(got, expected, rtol=1e-12):
    for g, w in zip(_flat(got), _flat(expected), strict=True):
        assert isinstance(g, torch.Tensor), type(g)
        w = np.asarray(w)
        assert g.dtype == getattr(torch, w.dtype.name), (g.dtype, w.dtype)
        assert tuple(g.shape) == w.shape
        # (infinities must match exactly; NaN appears nowhere)
        np.testing.assert_allclose(g.numpy(), w, rtol=rtol, atol=0)


@needs_torch
@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_functions_on_torch_equal_numpy_on_a_grid_and_at_extremes(name):
    case = FUNCTIONS[name]
    for args in (case.make(np.random.default_rng(11), 40), case.extreme()):
        with np.errstate(all="ignore"):
            expected = case.function(*args, **case.keywords)
        _assert_same_results(case.function(*_tensors(args), **case.keywords), expected)


@needs_torch
@pytest.mark.parametrize("name", [name for name, case in FUNCTIONS.items() if case.gradient])
def test_functions_autograd_is_the_analytic_derivative(name):
    case = FUNCTIONS[name]
    args = case.make(np.random.default_rng(12), 30)
    tensors = list(_tensors(args))
    tensors[case.wrt] = tensors[case.wrt].clone().requires_grad_(True)
    case.function(*tensors, **case.keywords).sum().backward()
    # one chain of a few roundings against another: far below the derivative's size
    np.testing.assert_allclose(tensors[case.wrt].grad.numpy(), case.gradient(*args),
                               rtol=1e-10, atol=1e-13)


@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_functions_on_narrow_floats_return_the_dtypes_numpy_returns(name, dtype):
    # float32 in, float32 out (bfloat16 stands in for it: NumPy has none); the LTV
    # metrics compute in float64 whatever their inputs, bucket indices are integers
    case = FUNCTIONS[name]
    if dtype == "bfloat16" and case.distributions:
        pytest.skip("distributions rounded to 8 bits do not sum to 1 within 1e-6")
    args = case.make(np.random.default_rng(13), 20)
    narrow = tuple(a.astype(np.float32) if a.dtype.kind == "f" else a for a in args)
    expected = case.function(*narrow, **case.keywords)
    kind = getattr(torch, dtype)
    tensors = tuple(t.to(kind) if t.is_floating_point() else t for t in _tensors(narrow))
    for got, want in zip(_flat(case.function(*tensors, **case.keywords)), _flat(expected),
                         strict=True):
        want = np.asarray(want)
        assert got.dtype == (kind if want.dtype == np.float32 else getattr(torch, want.dtype.name))
        if dtype == "float32":  # the same float32 arithmetic, in another order
            np.testing.assert_allclose(got.double().numpy(), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_functions_on_dask_equal_numpy_chunk_by_chunk_or_gathered(name):
    import dask
    from dask.delayed import Delayed

    case = FUNCTIONS[name]
    args = case.make(np.random.default_rng(14), 50)
    # the arguments of a sample chunked in rows of 13; the others (centres, edges) as they
    # come, in Dask too (one library per call)
    lazy = case.function(*_dask_arrays(args), **case.keywords)
    if case.dask == "rows":
        assert lazy.npartitions > 1  # not gathered
    else:
        assert isinstance(lazy, Delayed)
    with dask.config.set(scheduler="synchronous"):
        (computed,) = dask.compute(lazy)
    for got, want in zip(_flat(computed), _flat(case.function(*args, **case.keywords)),
                         strict=True):
        assert np.asarray(got).dtype == np.asarray(want).dtype
        np.testing.assert_array_equal(got, want)  # the same NumPy code on the same rows


@needs_torch
@pytest.mark.parametrize("name", [name for name, case in FUNCTIONS.items()
                                  if len(case.make(np.random.default_rng(0), 3)) > 1])
def test_functions_on_mixed_libraries_are_a_type_error(name):
    case = FUNCTIONS[name]
    first, *others = case.make(np.random.default_rng(15), 10)
    with pytest.raises(TypeError, match="must come from one array library; .* is a numpy array"):
        case.function(first, *_tensors(others), **case.keywords)


@needs_torch
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda t: lossfns.entropy(t([[0.5, np.nan]])), "p contains NaN or infinite values"),
        (lambda t: lossfns.self_information(t([0.5, 1.5])), r"p must lie in \[0, 1\]; found 1.5"),
        (lambda t: lossfns.mutual_information(t([0.5, 0.5])),
         r"joint must have at least two dimensions \(joint\[..., x, y\]\), got shape \(2,\)"),
        (lambda t: lossfns.conditional_entropy(t([[0.5, 0.1]])), "joint must sum to 1"),
        (lambda t: lossfns.ziln_predict(t([[0.5, 0.1]])),
         r"logits must have shape \(n, 3\) .*, got shape \(1, 2\)"),
        (lambda t: lossfns.ziln_quantile(t([[0.5, 0.1, 0.0]]), t([1.0])),
         r"q must lie in the open interval \(0, 1\); found 1.0"),
        (lambda t: lossfns.ziln_quantile(t([[0.5, 0.1, 0.0]]), t([0.5, 0.5])),
         r"q must be a scalar or have shape \(1,\) \(one per row\), got shape \(2,\)"),
        (lambda t: lossfns.bucket_expectation(t([[0.5, 0.1]]), t([0.0, 1.0, 2.0])),
         r"logits must have shape \(n, 3\) \(one column per centre\), got shape \(1, 2\)"),
        (lambda t: lossfns.bucketize(t([0.5]), t([0.0, 2.0, 1.0])),
         "edges must be strictly increasing"),
        (lambda t: lossfns.bucket_centers(t([0.0, 1.0, 2.0]), t([0.5, 0.7])),
         "bucket 1 holds no value of y; its mean is undefined"),
        (lambda t: lossfns.equal_frequency_edges(t([1.0, 1.0]), 2),
         "y must hold at least 2 distinct values"),
        (lambda t: lossfns.gaussian_soft_labels(t([[1.0]]), t([0.0]), 1.0),
         r"y must be one-dimensional, got shape \(1, 1\)"),
        (lambda t: lossfns.gain_curve(t([0.0, 0.0]), t([0.5, 0.1])), "y_true sums to zero"),
        (lambda t: lossfns.normalized_gini(t([1.0, -1.0]), t([0.5, 0.1])),
         "y_true must be non-negative; found -1"),
        (lambda t: lossfns.decile_table(t([1.0, 2.0]), t([0.5, 0.1]), n_bins=3),
         r"n_bins must lie in \[1, 2\]"),
    ],
)
def test_functions_on_bad_tensors_raise_the_numpy_error(call, message):
    for make in (np.asarray, lambda values: torch.as_tensor(np.asarray(values))):
        with pytest.raises(ValueError, match=message):
            call(make)


# ------------------------------------------------------------------------------- JAX
# Not installed by `make test` (measured: `pip install jax` adds ~22 s of CPU and ~400 MB
# to a fresh environment); these run wherever JAX is.


@needs_jax
@pytest.mark.parametrize("name", list(CASES) + list(FUNCTIONS))
def test_jax_eager_equals_numpy(name):
    import jax

    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(10)
    if name in FUNCTIONS:
        case = FUNCTIONS[name]
        args = case.make(rng, 30)
        calls = [(lambda *a: case.function(*a, **case.keywords))]
    else:
        case = CASES[name]
        args = case.make(rng, 30)
        reduction = "mean" if isinstance(case.function, lossfns.Loss) else None
        calls = [functools.partial(_call, case, method, reduction=reduction)
                 for method in _methods(name)]
    for call in calls:
        expected = call(*args) if name in FUNCTIONS else call(args)
        jax_args = tuple(jax.numpy.asarray(a) for a in args)
        got = call(*jax_args) if name in FUNCTIONS else call(jax_args)
        for g, w in zip(_flat(got), _flat(expected), strict=True):
            assert isinstance(g, jax.Array)
            np.testing.assert_allclose(np.asarray(g), w, rtol=1e-12, atol=1e-15)


@needs_jax
def test_jax_transformations_are_refused_with_a_clear_error():
    import jax

    with pytest.raises(TypeError, match=r"cannot be traced by JAX \(jax.jit"):
        jax.jit(lossfns.focal_loss)(jax.numpy.ones(3), jax.numpy.zeros(3))
    with pytest.raises(TypeError, match=r"cannot be traced by JAX \(jax.jit"):
        jax.jit(lossfns.entropy)(jax.numpy.full((2, 2), 0.5))


@pytest.mark.parametrize(
    "call", [lambda a: lossfns.focal_loss(a, a), lambda a: lossfns.entropy(a)],
    ids=["loss", "function"],
)
def test_jax_tracers_are_refused_without_jax_installed(call, monkeypatch):
    # The refusal path with a stand-in for JAX: a module `jax` whose `core.Tracer` is the
    # type of the arguments, which the dispatch takes for JAX arrays.
    import array_api_compat

    class Tracer:
        pass

    monkeypatch.setitem(sys.modules, "jax", types.SimpleNamespace(
        core=types.SimpleNamespace(Tracer=Tracer)))
    monkeypatch.setattr(lossfns._namespace, "library_of",
                        lambda x: "jax" if isinstance(x, Tracer) else None)
    monkeypatch.setattr(array_api_compat, "array_namespace", lambda *arrays: np)
    with pytest.raises(TypeError, match=r"cannot be traced by JAX \(jax.jit, jax.grad, "
                                        r"jax.vmap\): lossfns checks the values"):
        call(Tracer())


# ----------------------------------------------------------------- CuPy, torch on CUDA


def _assert_equals_numpy_on_device(name, to_device, to_numpy, seed):
    """Every method of the case ``name`` on arrays moved by ``to_device`` equals NumPy's;
    ``to_numpy`` checks where a result is and brings it back."""
    case = CASES[name]
    args = case.make(np.random.default_rng(seed), 30)
    reduction = "mean" if isinstance(case.function, lossfns.Loss) else None
    for method in _methods(name):
        expected = _call(case, method, args, reduction)
        got = _call(case, method, tuple(to_device(a) for a in args), reduction)
        for g, w in zip(_as_tuple(got), _as_tuple(expected), strict=True):
            np.testing.assert_allclose(to_numpy(g), w, rtol=1e-12, atol=1e-15)


@needs_cupy
@pytest.mark.parametrize("name", list(CASES))
def test_cupy_equals_numpy(name):
    import cupy

    def to_numpy(result):
        assert isinstance(result, cupy.ndarray)
        return cupy.asnumpy(result)

    _assert_equals_numpy_on_device(name, cupy.asarray, to_numpy, seed=16)


@needs_cuda
@pytest.mark.parametrize("name", list(CASES))
def test_torch_on_cuda_stays_on_the_device_and_equals_numpy(name):
    def to_numpy(result):
        assert result.is_cuda
        return result.cpu().numpy()

    _assert_equals_numpy_on_device(name, lambda a: torch.from_numpy(np.asarray(a)).cuda(),
                                   to_numpy, seed=17)


@needs_torch
def test_the_tensor_benchmark_runs_and_writes_what_the_benchmarks_page_reads():
    import importlib.util
    from pathlib import Path

    path = Path(lossfns.__file__).resolve().parents[1] / "bench" / "tensors.py"
    spec = importlib.util.spec_from_file_location("bench_tensors", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = module.run(sizes=(1000,), repeats=1, budget=0.0005, only=["mse", "focal_loss"],
                         log=lambda *args: None)
    for loss in results["losses"].values():
        (row,) = loss["sizes"]
        assert {"analytic_ratio", "autograd_ratio", "torch"} <= set(row)
