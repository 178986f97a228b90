"""Losses and measures over Dask arrays: chunk by chunk, lazily.

A Dask array is a grid of NumPy chunks, so a loss over one is the NumPy loss of each
chunk of rows, combined:

* a reduced value is a tree of partial results: each chunk gives the mean's denominator
  :math:`d = \\sum_i w_i` (the count without weights; with ``class_weight``, what torch
  divides by) and its sum :math:`\\sum_i w_i \\ell_i`, or for a mean its own mean
  :math:`m` (its sum over :math:`d`, divided in float64; where the sum overflows, the
  chunk's mean as the NumPy path forms it); Dask combines them up a tree, sums by adding,
  means as
  :math:`m = \\sum_c m_c\\,(d_c / \\sum_{c'} d_{c'})`, each share at most 1, so a mean
  overflows only where its value does (as on one machine, :class:`~lossfns._core.Weighting`);
* a value per sample (``reduction="none"``, a measure) and every derivative are
  computed chunk by chunk into a Dask array of the same chunks; for a mean the
  derivatives of each chunk's sum are divided by the root's denominator.

Each chunk runs the NumPy code, with its data checks: a NaN in a chunk raises the same
``ValueError`` when the result is computed. The result is a Dask array (0-dimensional for
a reduced value): nothing runs until ``.compute()`` (or ``dask.compute``), on the
threads of this process or the workers of a ``dask.distributed`` cluster alike. Chunks
are taken along the first axis (rows); other axes are made one chunk (a row of logits
must be whole). To learn the shape of a per-sample result, the call computes the first
row of each argument at once; a reduced value needs nothing computed before
``.compute()``.
"""

from __future__ import annotations

import functools
import math
import string

import numpy as np

PARTS = {
    "value": ("value",),
    "grad": ("grad",),
    "hess": ("hess",),
    "value_and_grad": ("value", "grad"),
    "grad_hess": ("grad", "hess"),
}


def _is_dask(x) -> bool:
    return type(x).__module__.startswith("dask.")


def call(function, method, evaluate, bound):
    """``function``'s ``method`` (``"value"``, ``"grad"``, ...) of the bound arguments,
    some of them Dask arrays, as Dask arrays."""
    import dask.array as da

    bound.apply_defaults()
    # the arguments with one entry per sample: the positional ones and the weights
    per_sample = [name for name, parameter in bound.signature.parameters.items()
                  if parameter.kind is parameter.POSITIONAL_OR_KEYWORD] + ["sample_weight"]
    arguments = _lists_as_dask(dict(bound.arguments), per_sample)
    names = [name for name, value in arguments.items() if _is_dask(value)]
    is_loss = "reduction" in arguments
    reduction = arguments.get("reduction", "none")
    if is_loss and reduction not in ("mean", "sum", "none"):
        function._terms(**{**arguments, **{n: np.zeros(1) for n in names}})  # says why
    for name in names:
        if any(np.isnan(c) for chunks in arguments[name].chunks for c in chunks):
            raise ValueError(f"{name} has chunks of unknown size; call compute_chunk_sizes()")
    first = arguments[names[0]]
    whole_rows = (first.ndim == 0 or not is_loss and _measure_axis(arguments, first) == 0)
    rows = (first.shape[0],) if whole_rows else first.chunks[0]
    shapes = {name: tuple(arguments[name].shape) for name in names}
    if len({shape[:1] for shape in shapes.values()}) > 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(f"shapes differ: {listed} (every Dask argument needs one row per sample)")
    pairs, letters = [], iter(string.ascii_lowercase[:20])
    for name in names:
        x = arguments[name]
        if x.ndim:
            x = x.rechunk({0: rows, **{axis: -1 for axis in range(1, x.ndim)}})
        pairs += [x, "r" + "".join(next(letters) for _ in range(x.ndim - 1)) if x.ndim else ""]
    fixed = {name: value for name, value in arguments.items() if name not in names}
    parts = PARTS[method]
    dtype = _result_dtype(arguments)
    summed = is_loss and reduction in ("mean", "sum")
    chunk_reduction = "sum" if summed else reduction
    scaled = reduction == "mean" and "sample_weight" in names
    if scaled:
        # A mean does not change when every weight is divided by the largest, and then no
        # sum of weights overflows (as Weighting does on one machine): the largest weight
        # is one more reduction, a scalar that every chunk receives
        pairs += [arguments["sample_weight"].max(), ""]
    totals = None
    if summed:
        # (sum of w l or the chunk's mean, sum of w, class-weighted) per chunk, up a tree
        mean = reduction == "mean"
        partial = da.blockwise(
            _partial_sums, "rk", *pairs, new_axes={"k": 3}, adjust_chunks={"r": 1},
            dtype=np.float64, concatenate=True, meta=np.empty((0, 3)),
            function=function, names=names, fixed=fixed, scaled=scaled, mean=mean,
        )
        totals = da.reduction(
            partial, _keep, functools.partial(_combine, mean=mean, keepdims=False), axis=0,
            combine=functools.partial(_combine, mean=mean), concatenate=True,
            dtype=np.float64, meta=np.empty((0,)),
        )
    per_row = [p for p in parts if p != "value" or not summed]
    sample = _first_rows(function, arguments, names, per_row, chunk_reduction) if per_row else {}
    results = []
    for part in parts:
        if part == "value" and summed:
            results.append(da.map_blocks(
                _root, totals, mean=reduction == "mean", drop_axis=0, dtype=dtype,
                meta=np.empty((), dtype),
            ))
            continue
        pieces = []
        for index, example in enumerate(sample[part]):
            trailing = example.shape[1:]
            out = "r" + "".join("stuvwxyz"[i] for i in range(len(trailing)))
            piece = da.blockwise(
                _rows, out, *pairs, new_axes=dict(zip(out[1:], trailing)),
                dtype=example.dtype, concatenate=True, meta=np.empty((0,) * len(out), example.dtype),
                function=function, names=names, fixed=fixed, part=part, index=index,
                reduction=chunk_reduction, scaled=scaled,
            )
            if is_loss and reduction == "mean":
                piece = piece / da.map_blocks(_denominator, totals, drop_axis=0, dtype=np.float64)
                piece = piece.astype(example.dtype)
            pieces.append(piece)
        results.append(tuple(pieces) if len(pieces) > 1 else pieces[0])
    return tuple(results) if len(results) > 1 else results[0]


def _lists_as_dask(arguments, per_sample):
    """``arguments`` with the lists and tuples among ``per_sample`` (one entry per sample,
    beside Dask arrays) made one-chunk Dask arrays, to be cut in rows like the others (a
    list is converted into the inputs' library, as for torch); one that NumPy cannot read
    is left for the call to say what is wrong."""
    import dask.array as da

    for name in per_sample:
        if type(arguments.get(name)) in (list, tuple):
            try:
                value = np.asarray(arguments[name])
            except (TypeError, ValueError):
                continue
            if value.ndim and value.dtype.kind in "biuf":
                arguments[name] = da.from_array(value, chunks=-1)
    return arguments


def _measure_axis(arguments, first):
    axis = arguments.get("axis", -1)
    return axis % first.ndim if isinstance(axis, int) and first.ndim else 0


def _result_dtype(arguments) -> np.dtype:
    """float32 when every float argument is float32, float64 otherwise (as the NumPy path)."""
    kinds = []
    for value in arguments.values():
        if value is None or isinstance(value, (bool, int, float, str)):
            continue
        dtype = value.dtype if _is_dask(value) else np.asarray(value).dtype
        if dtype.kind == "f":
            kinds.append(dtype)
    return np.dtype(np.float32 if kinds and all(d == np.float32 for d in kinds) else np.float64)


def _terms(function, names, fixed, blocks, reduction=None, scaled=False):
    """The chunk's terms; with ``scaled``, the last block is the largest sample weight,
    by which the chunk's weights are divided (for a mean)."""
    arguments = dict(fixed)
    if scaled:
        *blocks, largest = blocks
    arguments.update(zip(names, blocks))
    if scaled and largest > 0:
        with np.errstate(under="ignore"):  # (a weight far below the largest counts 0)
            arguments["sample_weight"] = arguments["sample_weight"] / largest
    if reduction is not None:
        arguments["reduction"] = reduction
    return function._terms(**arguments)


def _partial_sums(*blocks, function, names, fixed, scaled, mean):
    """The chunk's sum of weighted terms (with ``mean``, its own weighted mean, 0 where
    its weights sum to 0), the mean's denominator, and 1 where the denominator weighs
    samples by their class (``class_weight``: its error differs)."""
    terms = _terms(function, names, fixed, blocks, "sum", scaled)
    value, denominator = terms.evaluate()[0], terms.weighting.denominator()
    class_weighted = terms.weighting._mean_weights is not None
    if mean:
        if not denominator:
            value = 0.0
        elif math.isfinite(value):  # the one division in float64
            value = np.float64(value) / np.float64(denominator)
        else:  # the sum overflowed: the chunk's mean, which overflows only where it is inf
            value = _terms(function, names, fixed, blocks, "mean", scaled).evaluate()[0]
    return np.array([[value, denominator, class_weighted]], dtype=np.float64)


def _keep(partial, axis, keepdims):
    return partial


def _combine(partial, axis=None, keepdims=True, *, mean):
    """Partial results ``(sum or mean, denominator, class-weighted)`` combined into one:
    sums added, means weighted by their shares of the denominator (each at most 1)."""
    value, denominator, class_weighted = partial[:, 0], partial[:, 1], partial[:, 2]
    total = denominator.sum()
    if mean:
        with np.errstate(under="ignore"):  # (a share far below the others counts 0)
            value = value * (denominator / total) if total > 0 else np.zeros(1)
    combined = np.array([value.sum(), total, class_weighted.max()])
    return combined[None] if keepdims else combined


def _rows(*blocks, function, names, fixed, part, index, reduction, scaled):
    terms = _terms(function, names, fixed, blocks, reduction if "reduction" in fixed else None,
                   scaled)
    value, grad, hess = terms.evaluate(
        value=part == "value", grad=part == "grad", hess=part == "hess"
    )
    result = {"value": value, "grad": grad, "hess": hess}[part]
    return result[index] if isinstance(result, tuple) else result


def _first_rows(function, arguments, names, parts, reduction):
    """Each part's results on the first row: what a per-sample result looks like."""
    import dask

    heads = dask.compute(*(arguments[name][:1] if arguments[name].ndim else arguments[name]
                           for name in names))
    fixed = {name: value for name, value in arguments.items() if name not in names}
    terms = _terms(function, names, fixed, heads, reduction if "reduction" in fixed else None)
    value, grad, hess = terms.evaluate(
        value="value" in parts, grad="grad" in parts, hess="hess" in parts
    )
    found = {"value": value, "grad": grad, "hess": hess}
    return {part: tuple(np.atleast_1d(r) for r in (found[part] if isinstance(found[part], tuple)
                                                     else (found[part],)))
            for part in parts}


def _denominator(totals):
    """The mean's denominator; where it is 0, the error the NumPy path gives (from
    :class:`~lossfns._core.Weighting` itself, on one sample of weight 0)."""
    if totals[1] == 0:
        from ._core import Weighting

        zero, class_weighted = np.zeros(1), totals[2] > 0
        Weighting(None if class_weighted else zero, "mean", (1,), zero.dtype,
                  zero if class_weighted else None)
    return totals[1]


def _root(totals, mean):
    if mean:
        _denominator(totals)  # (raises where it is 0)
    return totals[0]


def any_dask(*values) -> bool:
    """Whether any of ``values`` is a Dask array (without importing Dask)."""
    return any(_is_dask(v) for v in values)


def gathered(function, *args, **kwargs):
    """``function(*args, **kwargs)`` as a Dask ``Delayed`` that receives its Dask array
    arguments as whole NumPy arrays: for the metrics that rank every sample against every
    other (:func:`lossfns.normalized_gini`, :func:`lossfns.decile_table`), which need the
    columns in one place (16 bytes per sample for two float64 columns)."""
    import dask

    return dask.delayed(function)(*args, **kwargs)


def call_function(function, bound, plan):
    """A plain function (no derivatives; see :func:`lossfns._namespace.dispatched`) of
    bound arguments, some of them Dask arrays.

    ``plan`` is ``"gather"`` (the function needs every sample at once: a ``Delayed`` of
    the whole columns, :func:`gathered`) or the names of the arguments whose rows the
    function treats independently: those are evaluated chunk by chunk of rows (other
    axes made one chunk), the other Dask arguments each as one chunk, into a Dask array
    of the same row chunks. Each chunk runs the NumPy function, with its checks."""
    import dask.array as da

    arguments = dict(bound.arguments)
    if plan != "gather":
        arguments = _lists_as_dask(arguments, plan)
    names = [name for name, value in arguments.items() if _is_dask(value)]
    row_names = [] if plan == "gather" else [
        name for name in plan if name in names and arguments[name].ndim > 0]
    if not row_names:
        return gathered(function, **arguments)
    for name in names:
        if any(np.isnan(c) for chunks in arguments[name].chunks for c in chunks):
            raise ValueError(f"{name} has chunks of unknown size; call compute_chunk_sizes()")
    shapes = {name: tuple(arguments[name].shape) for name in row_names}
    if len({shape[:1] for shape in shapes.values()}) > 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(f"shapes differ: {listed} (every Dask argument needs one row per sample)")
    rows = arguments[row_names[0]].chunks[0]
    pairs, letters = [], iter(string.ascii_lowercase[:20])
    for name in names:
        x = arguments[name]
        if name in row_names:
            x = x.rechunk({0: rows, **{axis: -1 for axis in range(1, x.ndim)}})
            index = "r" + "".join(next(letters) for _ in range(x.ndim - 1))
        else:  # whole: indices of its own, which blockwise concatenates into one block
            x = x.rechunk(-1)
            index = "".join(next(letters) for _ in range(x.ndim))
        pairs += [x, index]
    fixed = {name: value for name, value in arguments.items() if name not in names}
    # what one row gives: the trailing shape and dtype of the result
    import dask

    heads = dask.compute(*(arguments[name][:1] if name in row_names else arguments[name]
                           for name in names))
    example = np.asarray(function(**fixed, **dict(zip(names, heads))))
    trailing = example.shape[1:]
    out = "r" + "".join("stuvwxyz"[i] for i in range(len(trailing)))
    return da.blockwise(
        _function_rows, out, *pairs, new_axes=dict(zip(out[1:], trailing)),
        dtype=example.dtype, concatenate=True,
        meta=np.empty((0,) * len(out), example.dtype),
        function=function, names=names, fixed=fixed,
    )


def _function_rows(*blocks, function, names, fixed):
    return function(**fixed, **dict(zip(names, blocks)))
