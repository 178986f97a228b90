"""Losses and measures on the arrays people train with: torch tensors, Dask arrays (and
JAX, where installed), each computing in the namespace of its inputs.

The torch checks run every case of ``tests/test_shared.py`` (the registry every public
loss and measure is in) on float64 tensors and ask for the NumPy path's values and
derivatives to 1e-12, on the shared grid and on extreme inputs; autograd through the
value must give the analytic ``.grad``; float32 and bfloat16 keep their dtype; bad input
is the same error with the same message. The Dask checks evaluate chunk by chunk and
lazily, up to a loss over 10^9 generated entries in bounded memory.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

import numpy as np
import pytest

import lossfns
from test_shared import CASES

try:
    import torch
except ImportError:  # the torch tests are skipped; Dask's and JAX's run where installed
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

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


# ------------------------------------------------------------------------------- JAX
# Not installed by `make test` (measured: `pip install jax` adds ~22 s of CPU and ~400 MB
# to a fresh environment); these run wherever JAX is.


@pytest.mark.parametrize("name", list(CASES))
def test_jax_eager_equals_numpy(name):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    case = CASES[name]
    args = case.make(np.random.default_rng(10), 30)
    reduction = "mean" if isinstance(case.function, lossfns.Loss) else None
    for method in _methods(name):
        expected = _call(case, method, args, reduction)
        got = _call(case, method, tuple(jax.numpy.asarray(a) for a in args), reduction)
        for g, w in zip(_as_tuple(got), _as_tuple(expected), strict=True):
            assert isinstance(g, jax.Array)
            np.testing.assert_allclose(np.asarray(g), w, rtol=1e-12, atol=1e-15)


def test_jax_transformations_are_refused_with_a_clear_error():
    jax = pytest.importorskip("jax")
    with pytest.raises(TypeError, match=r"cannot be traced by JAX \(jax.jit"):
        jax.jit(lossfns.focal_loss)(jax.numpy.ones(3), jax.numpy.zeros(3))


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
