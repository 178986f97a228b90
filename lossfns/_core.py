"""The one shared mechanism of ``lossfns``: declaring a loss, weighting and reducing it,
evaluating it block by block, and validating its inputs.

How a loss is made, in five steps (``regression.huber`` is a short complete example):

1. **The formula** — a function ``formula(*arrays, value, grad, hess, **hyper)`` that
   returns ``(value, grad, hess)``: the per-sample loss values and their derivatives with
   respect to the prediction argument(s), each ``None`` when not asked for. It is written
   for a reader: plain NumPy expressions in the variables of the book's equation, shared
   intermediates computed once, stable building blocks taken from :mod:`lossfns._stable`.
   A *row-wise* formula treats the rows of its arrays (entries along axis 0)
   independently; most are elementwise, which is row-wise too.
2. **The declaration** — the public function, with the loss's signature and its numpydoc
   docstring. Its body validates the arguments (:func:`paired_arrays`, :func:`real_array`,
   :func:`check_scalar`, ...) and returns :class:`Terms`: the validated arrays, the formula,
   the hyper-parameters, and the checks of every entry (:func:`finite`, :func:`within`,
   :func:`one_of`, :func:`nonnegative`) that the evaluation runs block by block while each
   block is in cache.
3. **The decorator** — :func:`loss`, or :func:`elementwise_loss` for a loss elementwise in a
   scalar prediction (which then also has ``hess`` and ``grad_hess``), naming the
   formula(s) the declaration uses so that the book can show them, and, for a row-wise
   loss, their ``footprint``: the most arrays of a block's size they keep alive at once
   (``tests/test_shared.py`` measures it and fails while a declaration is below the
   measurement; the block size follows from it, see :data:`BLOCK_BUDGET`). The result is a
   :class:`Loss` with ``grad``, ``value_and_grad`` (and ``hess``, ``grad_hess``), each with
   the declaration's own signature.
4. **The API** — the name in the family module's ``__all__`` (and so in ``lossfns``), an
   ``autofunction`` entry on the API page (``appendix/api.md``).
5. **Tests and the book** — an entry in ``tests/test_shared.py``'s ``CASES`` (a test fails
   while a public loss has none: it runs the block, derivative and ``grad_hess`` checks
   every loss must pass), tests of the loss's own values against an independent reference,
   its extremes and its bad input; and the section that derives it, which shows the
   formula with :func:`lossfns.book.show_formula` (a test checks that the page its
   docstring links to shows it).

Everything else — sample weights, the three reductions, scaling the derivatives to match
them, evaluating in blocks — happens here, in :class:`Weighting` (the policy) and
:func:`evaluate_in_blocks` (the executor). Information measures between distributions,
which return one value per distribution and are never reduced, are declared the same way
with :func:`measure`.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import math
import numbers
import re
from typing import Any, Callable

import numpy as np

from . import _namespace
from ._namespace import array_namespace

__all__ = [
    "REDUCTIONS",
    "BLOCK_SIZE",
    "BLOCK_BUDGET",
    "LARGE_BLOCKS",
    "CHEAP_FOOTPRINT",
    "block_entries",
    "Loss",
    "ElementwiseLoss",
    "Measure",
    "Terms",
    "Weighting",
    "evaluate_in_blocks",
    "RangeAlarm",
    "overflowed",
    "reevaluate_out_of_range",
    "reevaluate_rows",
    "loss",
    "elementwise_loss",
    "measure",
    "float_dtype",
    "real_array",
    "paired_arrays",
    "finite",
    "within",
    "one_of",
    "nonnegative",
    "check_distribution",
    "check_class_indices",
    "check_same_shape",
    "check_scalar",
    "check_margin",
]

REDUCTIONS = ("mean", "sum", "none")

BLOCK_SIZE = 16_000
"""Float64 entries per array in one block of a row-wise evaluation
(:func:`evaluate_in_blocks`), at most: the cap is in bytes, so a float32 block holds
twice the entries; a formula with many temporaries gets smaller blocks
(:data:`BLOCK_BUDGET`), ``grad_hess`` and a cheap formula larger ones
(:data:`LARGE_BLOCKS`).

At 16 000 float64 entries (125 KiB) each temporary stays below glibc's 128 KiB threshold
for serving an allocation with ``mmap``; so do 32 000 float32 entries.

Measured with ``bench/boosting.py --only speed`` (10^6 entries, ``grad_hess`` against the
two lines of NumPy, one process, interleaved, medians of 21): float32 blocks of 16 000
entries took 1.69x (BCE with logits) and 2.88x (MSE), of 32 000 entries 1.42x and 2.21x:
each block pays its formula's Python and ufunc overhead (about 30 us for BCE with logits'
fourteen operations, whatever the block's size), its checks and the copy into the
result. (A cap of 256 KiB per array at 10^6 entries was faster still in float32 but not
in float64, where it made ``grad_hess`` of MSE 1.2x slower and tripled its page faults.)

Measured with ``bench/compare.py --clock process --block-size`` (value and gradient
against the tuned code of commit 5321800, one thread; page faults per call from
``getrusage``): at 10^5 entries, blocks of 32 768 took 4.6x the tuned code's time for
BCE with logits with 1 181 faults per call and 6.6x for MSE, blocks of 16 000 3.0x and
1.23x, blocks of 8 192 1.7x and 1.65x with no faults; at 10^6 entries 32 768 was best
(1.07-1.28x), 16 000 within 0.1 of it. (The faults are the heap trimming that
:data:`BLOCK_BUDGET` now prevents for formulas of many temporaries; the cheap ones keep
large blocks, whose per-block overhead, about 40 us, is what made MSE slower in smaller
ones.)"""

BLOCK_BUDGET = 1_000_000
"""Bytes that the arrays a formula keeps alive over one block may take together, or the
bytes of one of its whole input arrays where those are more (:func:`block_entries`).

A block holds at most ``budget / (footprint * itemsize)`` entries per array (and at most
:data:`BLOCK_SIZE`), where ``footprint`` is the formula's declared count of block-sized
arrays alive at once (:func:`loss`). Why: once a process has freed an array of ``m``
bytes that glibc served with ``mmap`` (the gradient of the previous call, say), glibc
serves allocations below ``m`` from its heap and gives the heap's top back to the system
whenever more than ``2 m`` of it is free (its dynamic ``mmap`` and trim thresholds). A
call returns a gradient of the size of its input, so its heap holds that gradient plus
one block's temporaries; when these take more than about one more gradient, every call
ends by trimming the heap and the next faults it back in, page by page, and at 10^5
float64 entries (a gradient of 800 kB) blocks of 16 000 entries do that for every
formula of footprint above about 8. Smaller blocks cost per-block overhead instead (at
10^6 entries, where the thresholds have risen to megabytes, focal took 1.23x the tuned
code's time in blocks of 6 250, 1.15x in blocks of 16 000); hence the larger of the
budget and one input array.

Measured at 10^5 entries (value and gradient against the tuned code of commit 5321800,
one thread, process CPU time, interleaved; the machine shared, load average 5-10):
page faults per call from ``getrusage`` in a process working at that size, without
the budget / with it: BCE with logits 507 / 0, focal 523 / 0, Huber 0 / 0, BPR 702 /
542 (the tuned code's 484: BPR's two gradients alone pass glibc's threshold). Budgets
alternated in one process (0.8 / 1.0 / 1.2 MB / none): BCE with logits 1.22 / 1.16 /
1.15 / 1.26x the tuned code's time, focal (before it named s and r) 1.31 / 1.23 / 1.20
/ 1.30x, logistic 1.02 / 1.00 / 1.12 / 1.16x. ``bench/compare.py --clock process``
(every loss at 10^5 first):
BCE with logits 1.14x with the budget (``bench/results.json``), 1.21x without
(``--block-budget 1000000000000``). Below about 10^5 entries a formula of large
footprint may still be trimmed."""


LARGE_BLOCKS = 2
"""How many times the bytes of :data:`BLOCK_SIZE` a block may hold per array (within
:data:`BLOCK_BUDGET` still) where blocks of :data:`BLOCK_SIZE` spend too much on each
block's overhead (its checks, the formula's calls, the copies into the results: about
10 us for MSE, 25 us for BCE with logits): in ``grad_hess`` (both derivatives, no value:
what a boosting objective asks for) of every formula, and in every evaluation of a
*cheap* formula, one of footprint at most :data:`CHEAP_FOOTPRINT`. Their temporaries of
up to 250 KiB pass glibc's initial 128 KiB ``mmap`` threshold only until the process
frees a larger array (the first call's result, for one), which raises the threshold
above them.

Measured against blocks of :data:`BLOCK_SIZE` (one thread, process CPU time,
interleaved, medians and interquartile ranges of the per-repeat ratios):

- ``grad_hess``, float32 / float64, at 10^6 entries: BCE with logits 0.945 / 0.954,
  logistic 0.90 / 0.93, MSE 0.88 / 0.89, Huber 0.89 / 0.90, hinge 0.90 / 0.85, pinball
  0.86 / 0.86, focal (footprint 22) 0.98 / 1.00, log-cosh (12) 0.99 / 0.97; at 10^7
  BCE 0.93 / 0.91, MSE 0.97 / 0.95, focal 1.03 / 1.01, log-cosh 0.98 / 1.05 [1.00, 1.08];
  at 10^5 (where the budget keeps most formulas' blocks smaller) MSE 0.79 / 0.85, BCE
  1.00 / 0.94;
- value and gradient (``bench/compare.py --clock process``, float64), every formula in
  blocks of 32 000 entries: MSE 0.85 [0.82, 0.87] at 10^5 entries, 0.84 at 10^6, 0.87
  at 10^7, MAE and Huber 0.80-0.89, but the pairwise hinge (footprint 7) 1.21 [1.20,
  1.22] and focal loss 1.07 at 10^6 and BCE with logits 1.01-1.02: hence the value paths
  of the cheap formulas only (with this rule: MSE 0.83 / 0.86 / 0.88, MAE 0.87 / 0.88 /
  0.92, Huber 0.83 / 0.85 / 0.88 at 10^5 / 10^6 / 10^7; BCE with logits, unchanged,
  1.00 / 1.02 / 0.96)."""

CHEAP_FOOTPRINT = 5
"""The largest ``footprint`` of a *cheap* formula: its inputs, one intermediate and its
results (MSE, MAE, Huber, the hinge), a few operations per entry; its blocks are
:data:`LARGE_BLOCKS` times larger."""


def block_entries(
    footprint: int | None, itemsize: int, whole: int, *, large: bool = False
) -> int:
    """Entries per array in one block of a formula that keeps ``footprint`` block-sized
    arrays of ``itemsize`` bytes alive at once, evaluated on arrays of ``whole`` entries
    (``footprint=None``, not declared: the full block, the bytes of :data:`BLOCK_SIZE`
    float64 entries). ``large``: an evaluation of ``grad_hess``, whose blocks, like a
    cheap formula's, may hold :data:`LARGE_BLOCKS` times those bytes."""
    large = large or (footprint is not None and footprint <= CHEAP_FOOTPRINT)
    most = max(1, BLOCK_SIZE * (LARGE_BLOCKS if large else 1) * 8 // itemsize)
    if footprint is None:
        return most
    budget = max(BLOCK_BUDGET, whole * itemsize)
    return max(1, min(most, budget // (footprint * itemsize)))


Formula = Callable[..., tuple[Any, Any, Any]]
Check = Callable[[np.ndarray], None]


# --------------------------------------------------------------------------- dtypes


_FLOAT32, _FLOAT64 = np.dtype(np.float32), np.dtype(np.float64)


def float_dtype(*values: Any) -> np.dtype:
    """The dtype a computation on ``values`` runs in.

    float32 when every floating-point value among ``values`` is float32 (and there is at
    least one); float64 otherwise. Integer and bool arrays do not vote; Python numbers
    (hyper-parameters such as ``margin=1.0``) and ``None`` are ignored, NumPy scalars vote
    like arrays.

    >>> float_dtype(np.float32([0.5]), np.array([1, 0]))
    dtype('float32')
    >>> float_dtype(np.float32(0.5), np.float32(1.0))
    dtype('float32')
    >>> float_dtype(np.float32([0.5]), [1.0, 0.0])
    dtype('float64')

    Outside NumPy the evaluation's namespace decided the dtype when the call began (see
    :class:`lossfns._namespace.Compute`); this returns the NumPy dtype that stands for it.
    """
    compute = _namespace.current()
    if compute is not None:
        return compute.nominal
    floats = [
        dtype
        for dtype in map(_dtype_of, values)
        if dtype is not None and dtype.kind == "f"
    ]
    if floats and all(dtype == np.float32 for dtype in floats):
        return _FLOAT32
    return _FLOAT64


def _dtype_of(value: Any) -> np.dtype | None:
    """The dtype of an array or NumPy scalar; ``None`` for Python numbers and ``None``."""
    if value is None or isinstance(value, (bool, int, float, complex)):
        return None
    dtype = getattr(value, "dtype", None)
    if isinstance(dtype, np.dtype):
        return dtype
    try:  # lists, and arrays of other libraries
        return np.asarray(value).dtype
    except Exception:  # noqa: BLE001 (real_array then says what is wrong with it)
        return None


# ----------------------------------------------------------------------- validation


def real_array(
    x: Any, name: str, dtype: np.dtype | None = None, *, finite: bool = True
) -> np.ndarray:
    """``x`` as a non-empty array of finite real numbers, cast to ``dtype`` if given.

    With ``finite=False`` the finiteness check is left to the caller, usually as one of
    the ``checks`` of :class:`Terms` (see :func:`finite`), which runs block by block.

    Raises
    ------
    TypeError
        If ``x`` is not numeric (strings, objects, complex numbers) or is ragged.
    ValueError
        If ``x`` is empty or holds NaN or an infinity.

    >>> real_array([1, 2], "y_true", np.dtype(np.float64))
    array([1., 2.])
    >>> real_array([0.5, float("nan")], "logits")
    Traceback (most recent call last):
    ...
    ValueError: logits contains NaN or infinite values
    """
    compute = _namespace.current()
    if compute is not None:
        return _foreign_array(x, name, dtype, finite, compute)
    try:
        a = np.asarray(x)
    except (TypeError, ValueError) as error:  # ragged nested lists, unconvertible objects
        raise TypeError(f"{name} must be an array of real numbers: {error}") from None
    except RuntimeError as error:  # a torch tensor that requires grad, among others
        raise TypeError(
            f"{name} cannot be read as a NumPy array ({error}); this function computes in "
            f"NumPy only: pass a plain array (for a torch tensor, tensor.detach().cpu().numpy())"
        ) from None
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
    if a.size == 0:
        raise ValueError(f"{name} is empty")
    if finite:
        _check_finite(a, name)
    if dtype is not None:
        a = a.astype(dtype, copy=False)
    return a


def _foreign_array(x, name, dtype, finite, compute):
    """:func:`real_array` in the namespace of a foreign evaluation: lists and scalars are
    converted into it (on the inputs' device), arrays of it are checked as they are, and
    a float array is cast to the computation's dtype."""
    xp = compute.xp
    if _namespace.library_of(x) in (None, "numpy"):
        try:
            a = np.asarray(x)
        except (TypeError, ValueError) as error:
            raise TypeError(f"{name} must be an array of real numbers: {error}") from None
        if a.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
        a = xp.asarray(a, device=compute.device)
    else:
        a = x
    if not xp.isdtype(a.dtype, ("bool", "integral", "real floating")):
        raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
    if math.prod(a.shape) == 0:
        raise ValueError(f"{name} is empty")
    if finite:
        _check_finite(a, name)
    if dtype is not None and a.dtype != compute.dtype:
        a = xp.astype(a, compute.dtype)
    return a


def paired_arrays(
    first: Any, second: Any, names: tuple[str, str], *others: Any
) -> tuple[np.ndarray, np.ndarray, np.dtype]:
    """Two arguments of one shape (targets and predictions, two scores, ...) as arrays.

    Both are cast to the computation's dtype, decided by them and ``others`` (the
    remaining float arguments, such as ``sample_weight``; see :func:`float_dtype`). Their
    finiteness is left to the ``checks`` of :class:`Terms`.

    >>> y, p, dtype = paired_arrays([1, 0], [0.5, 0.25], ("y_true", "y_pred"))
    >>> p, dtype
    (array([0.5 , 0.25]), dtype('float64'))
    >>> paired_arrays([1, 0], [[0.5], [0.25]], ("y_true", "y_pred"))
    Traceback (most recent call last):
    ...
    ValueError: shapes differ: y_true (2,), y_pred (2, 1)
    """
    dtype = float_dtype(first, second, *others)
    a = real_array(first, names[0], dtype, finite=False)
    b = real_array(second, names[1], dtype, finite=False)
    check_same_shape(**{names[0]: a, names[1]: b})
    return a, b, dtype


def _check_finite(a: np.ndarray, name: str) -> None:
    if type(a) is not np.ndarray:
        xp = array_namespace(a)
        if xp.isdtype(a.dtype, "real floating") and not bool(xp.all(xp.isfinite(a))):
            raise ValueError(f"{name} contains NaN or infinite values")
        return
    if a.dtype.kind == "f" and not _all_finite(a):
        raise ValueError(f"{name} contains NaN or infinite values")


def _all_finite(a: np.ndarray) -> bool:
    """Whether every entry of the float array ``a`` is finite, in one read of ``a``.

    The sum of the entries (:func:`_sum`) is NaN or infinite where an entry is, and
    finite otherwise unless it overflows (entries near the end of the float range),
    which the exact test then tells apart; ``isfinite(a).all()`` alone writes a mask and
    reads it again. Inside an evaluation the overflow rings its :class:`RangeAlarm`
    before the block's formula runs (the executor resets it), outside one it is silenced
    here. Measured (Huber's value and gradient at 10^5 entries against the tuned code of
    commit 5321800, which checked with a dot product; process CPU time, interleaved): the
    mask 0.95x, the dot product 0.90x.

    Not a BLAS dot product (``np.vdot(a, a)``, which this was): OpenBLAS spreads a
    float64 dot product of more than about 10^4 entries over its threads, and between
    the blocks of an evaluation those threads sleep or spin; measured at 10^6 entries,
    float64, in a process left at OpenBLAS's default threads on the 2-core machine
    (process CPU time, interleaved, medians of 5): MSE's ``grad_hess`` 317 ms with the
    dot product against 11.6 ms with the sum, BCE with logits' 201 against 27.5 ms,
    Huber's value and gradient 274 against 7.6 ms (float32 was not affected). With one
    thread (``OPENBLAS_NUM_THREADS=1``) the sum costs about what the dot product did:
    sum / dot product 1.02 (MSE ``grad_hess``), 1.00 (BCE with logits), 0.97 (Huber's
    value and gradient) in float64 at 10^6 entries, 1.03, 1.00, 0.99 in float32, and
    1.05, 1.02, 0.97 (float64), 1.03, 0.99, 1.00 (float32) at 10^5."""
    if _LISTENING.get() is None:
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            total = _sum(a, a.dtype)
    else:
        total = _sum(a, a.dtype)
    return math.isfinite(total) or bool(np.isfinite(a).all())


def _extremes(a):
    """``(min, max)`` of ``a``: NumPy scalars, or Python numbers outside NumPy."""
    if type(a) is np.ndarray:
        return a.min(), a.max()
    xp = array_namespace(a)
    return xp.min(a).item(), xp.max(a).item()


def _check_within(a: np.ndarray, name: str, low: float, high: float) -> None:
    smallest, largest = _extremes(a)  # NaN if any entry is NaN
    if not (math.isfinite(smallest) and math.isfinite(largest)):
        raise ValueError(f"{name} contains NaN or infinite values")
    for bad, ok in ((smallest, smallest >= low), (largest, largest <= high)):
        if not ok:
            raise ValueError(f"{name} must lie in [{low}, {high}]; found {bad}")


def _check_one_of(a: np.ndarray, name: str, allowed: tuple[float, ...]) -> None:
    if type(a) is not np.ndarray:
        xp = array_namespace(a)
        ok = a == allowed[0]
        for value in allowed[1:]:
            ok = ok | (a == value)
        if not bool(xp.all(ok)):
            bad = a[~ok]
            if not bool(xp.all(xp.isfinite(bad))):
                raise ValueError(f"{name} contains NaN or infinite values")
            raise ValueError(f"{name} must hold only the values {allowed}; found {bad[0].item()}")
        return
    bad = ~np.isin(a, allowed)
    if bad.any():
        if not np.isfinite(a[bad]).all():
            raise ValueError(f"{name} contains NaN or infinite values")
        raise ValueError(f"{name} must hold only the values {allowed}; found {a[bad].flat[0]}")


def _check_nonnegative(a: np.ndarray, name: str) -> None:
    smallest = _extremes(a)[0] if type(a) is not np.ndarray else a.min()
    if not smallest >= 0:  # NaN fails too
        if math.isnan(smallest):
            raise ValueError(f"{name} contains NaN or infinite values")
        raise ValueError(f"{name} must be non-negative; found {smallest}")


def finite(name: str) -> Check:
    """The check that every entry of the array named ``name`` is finite.

    >>> finite("logits")(np.array([0.5, np.inf]))
    Traceback (most recent call last):
    ...
    ValueError: logits contains NaN or infinite values
    """
    return functools.partial(_check_finite, name=name)


def within(name: str, low: float, high: float) -> Check:
    """The check that every entry is finite and lies in ``[low, high]``.

    >>> within("y_true", 0, 1)(np.array([0.0, 1.5]))
    Traceback (most recent call last):
    ...
    ValueError: y_true must lie in [0, 1]; found 1.5
    """
    return functools.partial(_check_within, name=name, low=low, high=high)


def one_of(name: str, allowed: tuple[float, ...]) -> Check:
    """The check that every entry is one of ``allowed`` (so finite).

    >>> one_of("y_true", (-1, 1))(np.array([1, 0, -1]))
    Traceback (most recent call last):
    ...
    ValueError: y_true must hold only the values (-1, 1); found 0
    """
    return functools.partial(_check_one_of, name=name, allowed=allowed)


def nonnegative(name: str) -> Check:
    """The check that every entry is at least 0 (and not NaN).

    >>> nonnegative("distance")(np.array([1.0, -0.5]))
    Traceback (most recent call last):
    ...
    ValueError: distance must be non-negative; found -0.5
    """
    return functools.partial(_check_nonnegative, name=name)


DISTRIBUTION_ATOL = 1e-6


def check_distribution(a: np.ndarray, name: str, axis: int | tuple[int, ...] = -1) -> None:
    """Raise ``ValueError`` unless ``a`` holds probability distributions along ``axis``.

    Entries must be non-negative and each slice along ``axis`` must sum to 1 within
    :data:`DISTRIBUTION_ATOL` (1e-6). Nothing is renormalised.

    >>> check_distribution(np.array([[0.5, 0.5], [0.7, 0.2]]), "y_true")
    Traceback (most recent call last):
    ...
    ValueError: y_true must sum to 1 along axis -1 (within 1e-06); a sum is 0.9
    """
    nonnegative(name)(a)
    if type(a) is np.ndarray:
        sums = a.sum(axis=axis, dtype=np.float64)
        worst = sums.flat[np.abs(sums - 1).argmax()]
    else:
        xp = array_namespace(a)
        sums = xp.reshape(xp.sum(a, axis=axis, dtype=xp.float64), (-1,))
        worst = sums[xp.argmax(xp.abs(sums - 1))].item()
    if abs(worst - 1) > DISTRIBUTION_ATOL:
        raise ValueError(
            f"{name} must sum to 1 along axis {axis} (within {DISTRIBUTION_ATOL:g}); "
            f"a sum is {worst:.10g}"
        )


def check_class_indices(a: np.ndarray, name: str, n_classes: int) -> np.ndarray:
    """``a`` as an int64 array of class indices in ``range(n_classes)``.

    Integer-valued floats are rejected: a class index must have an integer dtype.

    >>> check_class_indices(np.array([0, 2, 3]), "y_true", 3)
    Traceback (most recent call last):
    ...
    ValueError: y_true must hold class indices in range(3); found 3
    """
    xp = array_namespace(a)
    if not (a.dtype.kind in "iu" if xp is np else xp.isdtype(a.dtype, "integral")):
        raise TypeError(f"{name} must hold integer class indices, got dtype {a.dtype}")
    smallest, largest = (int(e) for e in _extremes(a))  # exact for every integer dtype
    if smallest < 0 or largest >= n_classes:
        bad = smallest if smallest < 0 else largest
        raise ValueError(f"{name} must hold class indices in range({n_classes}); found {bad}")
    return a.astype(np.int64, copy=False) if xp is np else xp.astype(a, xp.int64, copy=False)


def check_same_shape(**arrays: np.ndarray) -> None:
    """Raise ``ValueError`` unless all the named arrays have one shape (no broadcasting).

    >>> check_same_shape(y_true=np.zeros(3), logits=np.zeros((3, 1)))
    Traceback (most recent call last):
    ...
    ValueError: shapes differ: y_true (3,), logits (3, 1)
    """
    shapes = {name: tuple(np.shape(a)) for name, a in arrays.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(f"shapes differ: {listed}")


def check_scalar(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
) -> float:
    """A hyper-parameter as a finite float in the stated range.

    >>> check_scalar(0.0, "delta", low=0, low_inclusive=False)
    Traceback (most recent call last):
    ...
    ValueError: delta must be > 0, got 0.0
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    try:
        value = float(value)
    except OverflowError:  # a Python integer beyond the float range
        raise ValueError(f"{name} must be finite, got {value}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value < low or (value == low and not low_inclusive)):
        raise ValueError(f"{name} must be {'>=' if low_inclusive else '>'} {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def check_margin(margin: Any) -> float:
    """The ``margin`` of a margin loss (hinge, pairwise hinge, contrastive, triplet): ≥ 0.

    >>> check_margin(-1)
    Traceback (most recent call last):
    ...
    ValueError: margin must be >= 0, got -1.0
    """
    return check_scalar(margin, "margin", low=0)


def _run_checks(checks: tuple[tuple[int, Check], ...], arrays) -> None:
    for index, check in checks:
        check(arrays[index])


# ------------------------------------------------------- weighting and reduction


def _sum(a: np.ndarray, dtype: np.dtype):
    """The sum of every entry of ``a`` in ``dtype`` (NumPy's pairwise sum, without the
    argument handling of ``np.sum``, which costs more than summing a small block)."""
    return np.add.reduce(a, axis=None, dtype=dtype)


class Weighting:
    """The reduction policy of one evaluation: sample weights, ``reduction`` and the total.

    ``"mean"`` is :math:`\\sum_i w_i \\ell_i / \\sum_i w_i` (with no weights, the plain
    mean); ``"sum"`` is :math:`\\sum_i w_i \\ell_i`; ``"none"`` keeps the weighted terms
    :math:`w_i \\ell_i`. So every term and its derivatives are multiplied by one *factor*
    per sample: :math:`w_i`, or :math:`w_i / \\sum_j w_j` for a mean, which is then a sum of
    scaled terms — it overflows only where the mean itself does. A mean does not change
    when every weight is scaled by one number, so its weights are divided by the largest
    first: weights near the ends of the float range (5e-324, 1e308) neither underflow nor
    overflow.

    Parameters
    ----------
    sample_weight : array_like or None
        Non-negative weights of ``sample_shape`` or a leading part of it (one per row).
    reduction : {"mean", "sum", "none"}
    sample_shape : tuple of int
        Shape of the per-sample values.
    dtype : numpy dtype
        The computation's dtype.
    mean_weights : ndarray, optional
        Per-sample weights with which samples count in the denominator of a mean besides
        ``sample_weight``: for a formula that weights its own terms, as torch's
        class-weighted cross-entropy divides by :math:`\\sum_i w_i c_{y_i}`.
    """

    def __init__(
        self,
        sample_weight: Any,
        reduction: Any,
        sample_shape: tuple[int, ...],
        dtype: np.dtype,
        mean_weights: np.ndarray | None = None,
    ) -> None:
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction
        self.dtype = dtype
        compute = _namespace.current()
        # the namespace and dtype of the sums: NumPy's, or those of a foreign evaluation
        self.xp, self.sum_dtype = (np, dtype) if compute is None else (compute.xp, compute.dtype)
        sample_shape = tuple(sample_shape)
        weight = None
        if sample_weight is not None:
            weight = real_array(sample_weight, "sample_weight", dtype)
            if tuple(weight.shape) != sample_shape[: weight.ndim]:
                raise ValueError(
                    f"sample_weight has shape {tuple(weight.shape)}; it must be {sample_shape} "
                    f"or a leading part of it"
                )
            nonnegative("sample_weight")(weight)
        self.weighted = weight is not None
        # what a chunked evaluation (lossfns._dask) needs to form the mean's denominator
        self.sample_shape, self._weight, self._mean_weights = sample_shape, weight, mean_weights
        # (a weight far below the largest may underflow to 0 here: its share of the mean)
        with np.errstate(under="ignore"):
            if reduction == "mean":
                if weight is not None and weight.max() > 0:
                    weight = weight / weight.max()
                total = self._total(weight, sample_shape, mean_weights)
                self.factor = dtype.type(1) / total if weight is None else weight / total
            else:
                self.factor = weight
        self.per_sample = self.factor is not None and self.factor.ndim > 0
        # a sample of weight 0 counts 0, even where its term is infinite (0 inf is nan)
        if self.per_sample and self.xp is np:
            smallest = self.factor.min()  # (one pass: for some_zero and wide_factor)
            self.some_zero = not smallest > 0
        else:
            self.some_zero = self.per_sample and not bool(self.xp.all(self.factor > 0))
        # the factors in a wider dtype where a mean's share of a positive weight is below
        # the normal range (subnormal or 0): 1e-320 next to 1e10 has a share of 1e-330,
        # which times a term of 1e308 is 1e-22 (see reevaluate_out_of_range)
        self.wide_factor = None
        wide = WIDER_DTYPE.get(dtype)
        if (reduction == "mean" and self.per_sample and self.xp is np and wide is not None
                and smallest < np.finfo(dtype).smallest_normal):
            lost = (self.factor < np.finfo(dtype).smallest_normal) & (self._weight > 0)
            if lost.any():
                original = self._weight.astype(wide)
                self.wide_factor = original / original.max() / total

    def _total(self, weight, sample_shape, mean_weights):
        """The mean's denominator."""
        if mean_weights is not None:
            counts = mean_weights
            if weight is not None:
                counts = counts * self.expand(weight, mean_weights.ndim)
            total = self._sum(counts)
            problem = (
                "every sample has weight zero (sample_weight times the class_weight of "
                "its class)"
            )
        elif weight is not None:
            total = self._sum(weight) * (
                math.prod(sample_shape) // math.prod(weight.shape)
            )
            problem = "sample_weight sums to zero"
        else:
            return self.dtype.type(math.prod(sample_shape))
        if total == 0:
            raise ValueError(f"{problem}; the weighted mean is undefined")
        return total

    def denominator(self):
        """The mean's denominator for these samples, whatever the reduction, 0 allowed:
        the count of samples, or the sum of their weights (times ``mean_weights``). A
        chunked evaluation adds these up over its chunks (:mod:`lossfns._dask`)."""
        weight, mean_weights = self._weight, self._mean_weights
        if mean_weights is not None:
            counts = mean_weights
            if weight is not None:
                counts = counts * self.expand(weight, mean_weights.ndim)
            return self._sum(counts)
        if weight is not None:
            size = math.prod(weight.shape)
            return self._sum(weight) * (math.prod(self.sample_shape) // size)
        return self.dtype.type(math.prod(self.sample_shape))

    def _sum(self, a):
        """The sum of every entry of ``a`` in the computation's dtype."""
        if self.xp is np:
            return _sum(a, self.dtype)
        return self.xp.sum(a, dtype=self.sum_dtype)

    def rows(self, rows: slice):
        """The factors of a block of rows (``None`` when every factor is 1)."""
        return self.factor[rows] if self.per_sample else self.factor

    @staticmethod
    def expand(factor, ndim: int):
        """``factor`` with trailing axes added to broadcast against ``ndim``-D terms."""
        if factor.ndim in (0, ndim):
            return factor
        return factor.reshape(factor.shape + (1,) * (ndim - factor.ndim))

    def weigh(self, terms: np.ndarray, factor) -> np.ndarray:
        """The terms times their factors: :math:`w_i \\ell_i`, over the total for a mean."""
        if factor is None:
            return terms
        factor = self.expand(factor, terms.ndim)
        weighted = terms * factor
        return self.xp.where(factor == 0, 0, weighted) if self.some_zero else weighted

    def total(self, terms: np.ndarray, factor):
        """The sum of the terms times their factors.

        One factor for all (an unweighted mean's 1/n) multiplies the sum, which saves a
        pass over the terms; only where that sum overflows are the terms scaled first,
        so that a mean overflows only where its value does."""
        # (a factor other than self.factor is one per row: after a wide re-evaluation)
        if factor is None or self.per_sample or factor is not self.factor:
            return self._sum(self.weigh(terms, factor))
        total = self._sum(terms)
        if math.isinf(total) if self.xp is np else bool(self.xp.isinf(total)):
            return self._sum(terms * factor)
        return total * factor

    def scale(self, derivative, factor, out=None):
        """``derivative`` times the factors (a tuple for several predictions); written
        into ``out`` (a view of the result) when given."""
        if isinstance(derivative, tuple):
            outs = (None,) * len(derivative) if out is None else out
            return tuple(self.scale(d, factor, o) for d, o in zip(derivative, outs))
        if factor is None:
            if out is None:
                return derivative
            out[...] = derivative
            return out
        if out is None:
            return self.weigh(derivative, factor)
        factor = self.expand(factor, derivative.ndim)
        np.multiply(derivative, factor, out=out)
        if self.some_zero:
            np.copyto(out, 0, where=factor == 0)
        return out


# --------------------------------------------- terms beyond the range of their dtype


WIDER_DTYPE: dict[np.dtype, np.dtype | None] = {
    _FLOAT32: _FLOAT64,
    _FLOAT64: (
        np.dtype(np.longdouble) if np.finfo(np.longdouble).maxexp > np.finfo(np.float64).maxexp
        else None
    ),
}
"""The dtype in which :func:`reevaluate_out_of_range` recomputes rows: float64 for
float32, and for float64 ``np.longdouble`` where its exponent is wider (the 80-bit
extended type of x86-64 Linux: a 15-bit exponent, to 1.2e4932). Where ``longdouble`` is
float64 (Windows, macOS on ARM) there is none, and float64 results stay as the float64
evaluation gave them (a weighted term beyond the range is then ``inf``, one below it 0)."""


class RangeAlarm:
    """Hears whether an over- or underflow happens in NumPy's arithmetic.

    ``with alarm.listening(): ...`` runs with every floating-point warning silenced
    except that an over- or underflow sets ``alarm.raised`` (reset it to ``False`` to
    listen afresh). NumPy reads the processor's floating-point flags after every ufunc
    anyway; with ``np.errstate(over="call", under="call")`` it calls the alarm when one is
    set. So the common path, where nothing leaves the float range, pays nothing for the
    watch (measured: a 16 000-entry block of BCE-with-logits arithmetic took 452 us
    without it, 449 us with it). Not heard: flags set inside ``scipy.special``
    functions, which handle their own errors, in BLAS worker threads, and inside a
    nested ``np.errstate(over="ignore")`` (a formula that says so handles those itself).
    """

    def __init__(self) -> None:
        self.raised = False

    def _hear(self, kind: str, flag: int) -> None:
        self.raised = True

    def listening(self) -> _Listening:
        return _Listening(self)


class _Listening:
    """The context of :meth:`RangeAlarm.listening`: NumPy's error state that calls the
    alarm, and the alarm as the one listening (:func:`overflowed` asks it)."""

    def __init__(self, alarm: RangeAlarm) -> None:
        self.alarm = alarm
        self.state = np.errstate(all="ignore", over="call", under="call", call=alarm._hear)

    def __enter__(self) -> RangeAlarm:
        self.token = _LISTENING.set(self.alarm)
        self.state.__enter__()
        return self.alarm

    def __exit__(self, *exc) -> None:
        self.state.__exit__(*exc)
        _LISTENING.reset(self.token)


_LISTENING: contextvars.ContextVar[RangeAlarm | None] = contextvars.ContextVar(
    "lossfns_range_alarm", default=None
)


def overflowed(x) -> bool:
    """Whether an entry of ``x``, a formula's own result from finite inputs, may have left
    the float range: ``False`` means that no entry of ``x`` is infinite (or NaN).

    A formula asks before it repairs the terms whose intermediate overflowed (Huber's
    residual beyond the float range, where its value may lie within it). IEEE arithmetic
    makes an infinity from finite numbers only by overflowing, which sets the processor's
    overflow flag; so while a :class:`RangeAlarm` listens (every NumPy evaluation of a
    loss, block by block) and has heard nothing since the block began, the answer is
    ``False`` without reading ``x``. Otherwise (the alarm went off, or none listens: a
    foreign namespace, a formula called directly) one read of ``x``: its sum is infinite
    or NaN where an entry is (and, a false alarm, where only the sum overflows). The
    formula must not silence overflows itself between making ``x`` and asking.

    Measured (Huber's value and gradient at 10^5 entries against the tuned code of
    commit 5321800, process CPU time, interleaved): with a read of every block,
    ``isinf(sum(loss))``, 1.18x [IQR 1.16, 1.21]; asking the alarm, 1.03x [0.99, 1.09]
    (``bench/compare.py``: 1.01x; 1.24x before)."""
    alarm = _LISTENING.get()
    if alarm is not None and not alarm.raised and type(x) is np.ndarray:
        return False
    xp = array_namespace(x)
    return not bool(xp.isfinite(xp.sum(x)))


def _out_of_range_rows(x: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """The rows of ``x`` (values or derivatives of a block) whose product with ``factor``
    a wider exponent may change: NaN, an infinity that a factor below 1 may bring back
    into range, or a result below the normal range (0 included: it may have underflowed)
    that a factor above 1 may lift into it. A factor of 0 zeroes the entry anyway."""
    tiny = np.finfo(x.dtype).smallest_normal
    bad = (np.isnan(x) | (np.isinf(x) & (factor < 1)) | ((abs(x) < tiny) & (factor > 1)))
    bad &= factor > 0
    return bad.reshape(len(x), -1).any(axis=1)


def reevaluate_out_of_range(formula: Formula, block, outputs, factor, dtype: np.dtype,
                            wide_factor=None):
    """Rows of a block whose weighted terms or derivatives left the float range only
    before they were weighted, recomputed in :data:`WIDER_DTYPE` and weighted there.

    A term can lie beyond the float range (:math:`|y - \\hat y| = 2 \\cdot 10^{308}`) or
    below it (:math:`r^2 = 2.5 \\cdot 10^{-341}`) while its factor (a weight, or
    :math:`1/n` for a mean) brings the weighted term back into it. Such rows are evaluated
    again in a dtype with a wider exponent, multiplied by their factors there and only
    then rounded back to ``dtype``; their factor becomes 1. :func:`evaluate_in_blocks`
    calls this only for a block in which a :class:`RangeAlarm` went off, or for a mean
    whose share of a positive weight fell below the normal range: ``wide_factor``, the
    block's factors in the wider dtype (``Weighting.wide_factor``), marks those rows too.

    Returns ``(outputs, factor)``: ``outputs`` is ``(value, grad, hess)`` of the block as
    the formula returned them (a derivative may be a tuple of arrays), ``factor`` the
    block's factors (``None``: all 1; a scalar: one for all), both with those rows
    replaced. Where there is no wider dtype, they come back unchanged.
    """
    wide = WIDER_DTYPE.get(dtype)
    if wide is None:
        return outputs, factor
    n = len(block[0])
    if factor is None or np.ndim(factor) == 0:  # one factor for all (None: 1)
        per_row = np.full(n, 1 if factor is None else factor, dtype)
    else:
        per_row = factor
    flat = [x for out in outputs for x in (out if isinstance(out, tuple) else (out,))
            if x is not None]
    if wide_factor is None:
        bad = np.zeros(n, bool)
    else:  # a share that the float range lost
        lost = (wide_factor > 0) & (per_row < np.finfo(dtype).smallest_normal)
        bad = lost.reshape(n, -1).any(axis=1)
    for x in flat:
        bad |= _out_of_range_rows(x, Weighting.expand(per_row, x.ndim))
    if not bad.any():
        return outputs, factor
    wide_block = [a[bad].astype(wide) if a.dtype.kind == "f" else a[bad] for a in block]
    value, grad, hess = (out is not None for out in outputs)
    redone = formula(*wide_block, value=value, grad=grad, hess=hess)
    wide_factor = (per_row if wide_factor is None else wide_factor)[bad].astype(wide)

    def patch(x, x_wide):
        if isinstance(x, tuple):
            return tuple(map(patch, x, x_wide))
        x = x.copy()
        x[bad] = (x_wide * Weighting.expand(wide_factor, x_wide.ndim)).astype(dtype)
        return x

    outputs = tuple(None if x is None else patch(x, x_wide) for x, x_wide in zip(outputs, redone))
    per_row = per_row.copy()
    per_row[bad] = 1
    return outputs, per_row


def reevaluate_rows(formula: Formula, rows: np.ndarray, arrays, outputs, **hyper):
    """``outputs`` (``(value, grad, hess)`` of ``formula`` on ``arrays``, NumPy) with the
    entries of ``rows`` (a boolean mask over the first axis) recomputed in
    :data:`WIDER_DTYPE` and rounded back: for a formula that knows where a factor of its
    own (not a weight) lifts a part that fell below the normal range, whose subnormal kept
    only a few digits. Unchanged where there is no wider dtype."""
    dtype = outputs[0].dtype if outputs[0] is not None else next(
        x for x in outputs if x is not None).dtype
    wide = WIDER_DTYPE.get(dtype)
    if wide is None:
        return outputs
    n = len(rows)
    wide_arrays = [a[rows].astype(wide) if a.ndim and len(a) == n else a.astype(wide)
                   for a in arrays]
    wide_hyper = {k: v.astype(wide) if isinstance(v, (np.ndarray, np.floating)) else v
                  for k, v in hyper.items()}
    value, grad, hess = (x is not None for x in outputs)
    redone = formula(*wide_arrays, **wide_hyper, value=value, grad=grad, hess=hess)
    patched = []
    for x, x_wide in zip(outputs, redone):
        if x is not None:
            x = x.copy()
            x[rows] = x_wide.astype(dtype)
        patched.append(x)
    return tuple(patched)


# ----------------------------------------------------------------------- evaluation


def evaluate_in_blocks(
    formula: Formula,
    arrays: tuple[np.ndarray, ...],
    checks: tuple[tuple[int, Check], ...],
    weighting: Weighting,
    *,
    value: bool,
    grad: bool,
    hess: bool,
    footprint: int | None = None,
    alarm: RangeAlarm | None = None,
):
    """Evaluate a row-wise ``formula`` on blocks of rows and reduce as ``weighting`` says.

    Each block holds up to the bytes of :data:`BLOCK_SIZE` float64 entries per array
    (:data:`LARGE_BLOCKS` times those for ``grad_hess`` and for a cheap formula),
    fewer for a formula whose ``footprint`` (block-sized arrays alive at once) would pass
    its budget (:data:`BLOCK_BUDGET`, :func:`block_entries`), so the formula's temporaries stay in
    the processor's cache, the allocator keeps its heap from call to call, and a reduced
    value never holds one value per sample in memory. The entry checks run on each block
    just before it is evaluated. The scaled derivatives are written straight into the
    result arrays (``out=``): this is the one place of the library that writes into a
    buffer, and it saves a copy of every derivative. Results equal those of one call on the whole arrays, up to the order of
    the summation of the value.

    Given a listening ``alarm`` (:class:`RangeAlarm`), in a block where an over- or
    underflow happened the rows whose terms left the float range before their weights
    could bring them back are evaluated again in a wider dtype
    (:func:`reevaluate_out_of_range`).
    """
    whole = [a.reshape(1) if a.ndim == 0 else a for a in arrays]
    n_rows = len(whole[0])
    widest = max(math.prod(a.shape[1:]) for a in whole)  # entries in a row
    entries = block_entries(footprint, weighting.dtype.itemsize, n_rows * widest,
                            large=grad and hess and not value)
    rows_per_block = max(1, entries // widest)
    value_sum, pieces, results = [], [], [None, None]
    for start in range(0, n_rows, rows_per_block):
        rows = slice(start, start + rows_per_block)
        block = [a[rows] for a in whole]
        _run_checks(checks, block)
        if alarm is not None:
            alarm.raised = False
        v, g, h = formula(*block, value=value, grad=grad, hess=hess)
        factor = weighting.rows(rows)
        wide_factor = weighting.wide_factor
        if alarm is not None and (alarm.raised or wide_factor is not None):  # rare
            (v, g, h), factor = reevaluate_out_of_range(
                formula, block, (v, g, h), factor, weighting.dtype,
                None if wide_factor is None else wide_factor[rows],
            )
        if v is not None:
            if weighting.reduction == "none":
                pieces.append(weighting.weigh(v, factor))
            else:
                value_sum.append(weighting.total(v, factor))
        for k, derivative in enumerate((g, h)):
            if derivative is None:
                continue
            if n_rows <= rows_per_block:
                results[k] = weighting.scale(derivative, factor)
                continue
            if results[k] is None:
                results[k] = _empty_rows_like(derivative, n_rows)
            weighting.scale(derivative, factor, out=_rows_of(results[k], rows))
    reduced = None
    if value:
        if weighting.reduction == "none":
            reduced = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
        else:
            reduced = value_sum[0] if len(value_sum) == 1 else _sum(value_sum, weighting.dtype)
    out = (reduced, *results)
    if arrays[0].ndim == 0:  # a scalar evaluation: back to NumPy scalars
        out = tuple(_first(r) for r in out)
    return out


def _empty_rows_like(d, n_rows: int):
    """Uninitialised arrays like the block result ``d`` (a tuple for several), ``n_rows`` long."""
    if isinstance(d, tuple):
        return tuple(_empty_rows_like(x, n_rows) for x in d)
    return np.empty((n_rows,) + d.shape[1:], d.dtype)


def _rows_of(result, rows: slice):
    return tuple(r[rows] for r in result) if isinstance(result, tuple) else result[rows]


def _first(r):
    """The one entry of each (1,)-shaped result of a scalar evaluation, as a NumPy scalar."""
    if r is None or np.ndim(r) == 0:
        return r
    return tuple(_first(x) for x in r) if isinstance(r, tuple) else r[0]


class Terms:
    """Validated inputs of one loss evaluation, ready for any of value, grad and hess.

    Parameters
    ----------
    formula : callable
        ``formula(*arrays, value, grad, hess, **hyper) -> (value, grad, hess)``, each
        ``None`` when not asked for. ``value`` has shape ``sample_shape``; ``grad`` and
        ``hess`` have the shape of the prediction (a tuple of arrays when the loss takes
        several predictions), whose leading axes are ``sample_shape``.
    arrays : tuple of ndarray
        Validated array arguments, in the order ``formula`` takes them.
    sample_shape : tuple of int
        Shape of the per-sample loss values.
    sample_weight, reduction
        As passed by the user; validated by :class:`Weighting`.
    dtype : numpy dtype
        The computation's dtype (see :func:`float_dtype`).
    rowwise : bool
        Whether ``formula`` treats the rows of its arrays independently, with ``value``,
        ``grad`` and ``hess`` laid out by the same rows; it is then evaluated block by
        block (:func:`evaluate_in_blocks`).
    checks : sequence of (int, callable)
        Checks of the entries of ``arrays`` (``check(arrays[i])`` raises ``ValueError``:
        :func:`finite`, :func:`within`, :func:`one_of`, :func:`nonnegative`). A row-wise
        evaluation runs them block by block; otherwise they run once, here.
    mean_weights : ndarray, optional
        See :class:`Weighting`.
    **hyper
        Hyper-parameters passed on to ``formula``.
    """

    def __init__(
        self,
        formula: Formula,
        arrays: tuple[np.ndarray, ...],
        *,
        sample_shape: tuple[int, ...],
        sample_weight: Any,
        reduction: Any,
        dtype: np.dtype,
        mean_weights: np.ndarray | None = None,
        rowwise: bool = False,
        checks: tuple[tuple[int, Check], ...] = (),
        **hyper: Any,
    ) -> None:
        self.formula = formula
        self.arrays = arrays
        self.hyper = hyper
        self.rowwise = rowwise
        self.checks = checks
        self.weighting = Weighting(sample_weight, reduction, sample_shape, dtype, mean_weights)
        # outside NumPy a formula runs in one piece (see lossfns._namespace), checks first
        self.blocks = rowwise and self.weighting.xp is np
        self.footprint = None  # block-sized arrays the formula keeps alive: set by its Loss
        if not self.blocks:
            _run_checks(checks, arrays)

    def evaluate(self, value: bool = True, grad: bool = False, hess: bool = False):
        """``(value, grad, hess)``, reduced and scaled; ``None`` where not asked for."""
        formula = functools.partial(self.formula, **self.hyper)
        # The formulas are written so that an intermediate that under- or overflows does
        # not change the result; their floating-point warnings would only alarm the caller
        # (the alarm hears over- and underflows: see evaluate_in_blocks).
        alarm = RangeAlarm()
        with alarm.listening():
            if self.blocks:
                return evaluate_in_blocks(
                    formula, self.arrays, self.checks, self.weighting,
                    value=value, grad=grad, hess=hess, footprint=self.footprint, alarm=alarm,
                )
            v, g, h = formula(*self.arrays, value=value, grad=grad, hess=hess)
            w, factor = self.weighting, self.weighting.factor
            if v is not None:
                v = w.weigh(v, factor) if w.reduction == "none" else w.total(v, factor)
            return (
                v,
                None if g is None else w.scale(g, factor),
                None if h is None else w.scale(h, factor),
            )


# ---------------------------------------------------------------------- the wrapper


def _value(terms: Terms):
    return terms.evaluate()[0]


class _Differentiable:
    """A declared function with derivatives: the part that losses and measures share.

    Its methods (``grad``, ``value_and_grad``, ...) are made per object so that each
    carries the declaration's own signature: ``help(lossfns.huber.grad)`` shows
    ``(y_true, y_pred, *, delta=1.0, sample_weight=None, reduction='mean')``.
    """

    kind = ""
    methods: dict[str, tuple[str, Callable[[Terms], Any]]] = {
        "grad": (
            "Gradient of the reduced value with respect to the prediction argument(s), "
            "of their shape; same arguments as the {kind}.",
            lambda terms: terms.evaluate(value=False, grad=True)[1],
        ),
        "value_and_grad": (
            "``(value, grad)`` from one pass that shares its work; same arguments as the {kind}.",
            lambda terms: terms.evaluate(value=True, grad=True)[:2],
        ),
    }

    def __init__(
        self,
        declaration: Callable[..., Terms],
        formulas: tuple[Formula, ...],
        footprint: int | None = None,
    ) -> None:
        functools.update_wrapper(self, declaration)
        self.footprint = footprint
        self.__doc__ = terminal_docstring(declaration.__doc__)
        self.sphinx_doc = declaration.__doc__
        self.formulas = formulas
        self._declaration = declaration
        for name, (doc, evaluate) in type(self).methods.items():
            setattr(self, name, self._method(name, doc.format(kind=self.kind), evaluate))

    def _method(self, name: str, doc: str, evaluate: Callable[[Terms], Any]):
        declaration = self._declaration

        def method(*args: Any, **kwargs: Any):
            if _namespace.is_plain(args, kwargs):  # NumPy: no dispatch
                return evaluate(self._terms(*args, **kwargs))
            return _namespace.call(self, name, evaluate, args, kwargs)

        method.__name__ = name
        method.__qualname__ = f"{declaration.__qualname__}.{name}"
        method.__module__ = declaration.__module__
        method.__doc__ = doc
        method.__signature__ = inspect.signature(declaration)
        return method

    def _terms(self, *args: Any, **kwargs: Any) -> Terms:
        terms = self._declaration(*args, **kwargs)
        terms.footprint = self.footprint
        return terms

    def __call__(self, *args: Any, **kwargs: Any):
        if _namespace.is_plain(args, kwargs):  # NumPy: no dispatch
            return self._terms(*args, **kwargs).evaluate()[0]
        return _namespace.call(self, "value", _value, args, kwargs)

    def __get__(self, instance, owner=None):
        # a function-like descriptor (so that help() and pydoc document it as a routine,
        # with its signature); it never binds
        return self

    def __repr__(self) -> str:
        return f"<{self.kind} {self.__module__}.{self.__qualname__}>"

    def __reduce__(self) -> str:
        return self.__qualname__


class Loss(_Differentiable):
    """A loss function with its derivatives.

    Calling it returns the reduced loss. Every loss also has

    ``grad(...)``
        the gradient of the reduced value with respect to the prediction argument(s),
        of the same shape (a tuple of arrays when the loss compares several predictions);
        with ``reduction="none"``, the derivative of each (weighted) term;
    ``value_and_grad(...)``
        both, from one pass that shares its work;

    and a loss that is elementwise in a scalar prediction (an :class:`ElementwiseLoss`)
    has ``hess(...)``, the diagonal of the Hessian, scaled like ``grad``, and
    ``grad_hess(...)``, both from one pass. All take the same arguments as the loss.
    """

    kind = "loss"


class ElementwiseLoss(Loss):
    """A :class:`Loss` with the diagonal of its Hessian: ``hess`` and ``grad_hess``.

    Every loss elementwise in a scalar prediction is one (its Hessian is diagonal), and so
    is softmax cross-entropy, whose diagonal is what gradient boosting uses."""

    methods = {
        **Loss.methods,
        "hess": (
            "Diagonal of the Hessian of the reduced value, per prediction argument; same "
            "arguments as the loss. At a kink the library takes 0.",
            lambda terms: terms.evaluate(value=False, hess=True)[2],
        ),
        "grad_hess": (
            "``(grad, hess)`` from one pass and one validation (what a gradient-boosting "
            "objective needs); same arguments as the loss.",
            lambda terms: terms.evaluate(value=False, grad=True, hess=True)[1:],
        ),
    }


def _decorator(kind: type, formula, footprint: int | None = None):
    formulas = formula if isinstance(formula, tuple) else (formula,)

    def decorate(declaration: Callable[..., Terms]):
        return kind(declaration, formulas, footprint)

    return decorate


def loss(
    formula: Formula | tuple[Formula, ...], *, hessian: bool = False, footprint: int | None = None
):
    """Decorate a declaration that validates its arguments into :class:`Terms` of
    ``formula`` (or one of a tuple of formulas) to make a :class:`Loss`; with
    ``hessian=True`` the formula also gives the Hessian's diagonal (softmax
    cross-entropy: :math:`p_c(1 - p_c)` per class), and the loss has ``hess`` and
    ``grad_hess`` like an :class:`ElementwiseLoss`.

    ``footprint``, for a row-wise loss, is the most arrays of a block's size (the block's
    rows times the widest row) that its formulas keep alive at once, their results
    included, whatever they are asked for; the block size follows from it
    (:data:`BLOCK_BUDGET`), and ``tests/test_shared.py`` measures it."""
    return _decorator(ElementwiseLoss if hessian else Loss, formula, footprint)


def elementwise_loss(formula: Formula | tuple[Formula, ...], *, footprint: int | None = None):
    """Like :func:`loss`, for a loss elementwise in a scalar prediction (adds ``hess``
    and ``grad_hess``)."""
    return _decorator(ElementwiseLoss, formula, footprint)


# ------------------------------------------------------------- information measures


class Measure(_Differentiable):
    """An information measure with its gradient: one value per distribution, no reduction.

    Measures between distributions (cross-entropy, the KL and JS divergences) are not
    losses over samples: they return one value per distribution (per row along ``axis``)
    and take neither ``sample_weight`` nor ``reduction``. Calling a measure returns those
    values; it also has

    ``grad(...)``
        the partial derivatives of each row's value with respect to the second
        distribution argument ``q``, entry by entry, of the shape of ``q``;
    ``value_and_grad(...)``
        both, from one pass.

    All take the same arguments as the measure. The declaration, decorated with
    ``measure``, validates its arguments and returns :class:`Terms` built with
    ``sample_weight=None`` and ``reduction="none"``, so nothing is reduced or scaled.
    """

    kind = "measure"

    def _terms(self, *args: Any, **kwargs: Any) -> Terms:
        terms = super()._terms(*args, **kwargs)
        if terms.weighting.reduction != "none" or terms.weighting.weighted:
            raise TypeError(f"{self.__qualname__} must not reduce or weight its values")
        return terms


def measure(formula: Formula | tuple[Formula, ...]):
    """Decorate a declaration into a :class:`Measure` of ``formula``."""
    return _decorator(Measure, formula)


# ------------------------------------------------------------ docstrings, for people


_LATEX_WORDS = {
    r"\hat y": "ŷ", r"\hat{y}": "ŷ", r"\sigma": "σ", r"\delta": "δ", r"\gamma": "γ",
    r"\alpha": "α", r"\varepsilon": "ε", r"\epsilon": "ε", r"\mu": "μ", r"\tau": "τ",
    r"\rho": "ρ", r"\ell": "ℓ", r"\lambda": "λ", r"\pi": "π", r"\infty": "∞",
    r"\sum": "Σ", r"\prod": "Π", r"\le": "≤", r"\leq": "≤", r"\ge": "≥", r"\geq": "≥",
    r"\ne": "≠", r"\neq": "≠", r"\in": "∈", r"\cdot": "·", r"\odot": "⊙", r"\times": "×",
    r"\approx": "≈", r"\to": "→", r"\mid": "|", r"\|": "‖", r"\tfrac12": "½",
    r"\frac12": "½", r"\sqrt": "√", r"\log": "log", r"\exp": "exp", r"\max": "max",
    r"\min": "min", r"\quad": "  ", r"\qquad": "    ", r"\,": " ", r"\;": " ", r"\!": "",
    r"\mathbb E": "E", r"\mathbb{E}": "E", r"\partial": "∂", r"\nabla": "∇",
    r"\textstyle": "", r"\displaystyle": "", r"\bigl": "", r"\bigr": "", r"\Bigl": "",
    r"\Bigr": "", r"\left": "", r"\right": "", r"\lvert": "|", r"\rvert": "|",
    r"\pm": "±", r"\beta": "β", r"\theta": "θ", r"\eta": "η", r"\kappa": "κ",
    r"\phi": "φ", r"\psi": "ψ", r"\omega": "ω", r"\Delta": "Δ", r"\rho": "ρ",
    r"\mathbf": "", r"\mathrm": "", r"\propto": "∝", r"\sim": "~", r"\ldots": "…", r"\dots": "…", r"\cdots": "⋯",
}
_LATEX_WORD = re.compile(
    "|".join(re.escape(word) + (r"(?![A-Za-z])" if word[-1].isalpha() else "")
             for word in sorted(_LATEX_WORDS, key=len, reverse=True))
)
_ROLE = re.compile(r":(?P<role>[a-z:]+):`(?P<text>[^`]*)`")
_CITATION = re.compile(r"\s*:cite:[a-z]*:`[^`]*`")


def _plain_math(tex: str) -> str:
    """LaTeX as a terminal can show it: Greek letters and operators as Unicode."""
    text = re.sub(  # one-line cases: {a if x; b if y}
        r"\\begin\{cases\}(.*?)\\end\{cases\}",
        lambda m: "{" + m.group(1).replace("\\\\", ";").replace("&", "if") + "}",
        tex,
    )
    text = re.sub(r"\\(?:begin|end)\{[a-z*]+\}|&|\\\\\s*$", "", text)

    def word(match: re.Match) -> str:
        plain = _LATEX_WORDS[match.group(0)]
        before = match.string[match.start() - 1] if match.start() else " "
        return " " + plain if len(plain) > 1 and plain.isalpha() and before not in " ({[" else plain

    text = _LATEX_WORD.sub(word, text)
    text = re.sub(r"\\(?:operatorname|mathrm|text|mathbf|mathit)\{([^{}]*)\}", r"\1", text)
    text = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"(\1)/(\2)", text)
    text = re.sub(r"\{([^{}]*)\}", r"\1", text)
    return text.replace("\\", "")


def _plain_role(match: re.Match) -> str:
    role, text = match.group("role"), match.group("text")
    if role == "math":
        return _plain_math(text)
    if role in ("cite:p", "cite:t", "cite"):
        return ""
    if role == "ref":
        return f'the book\'s section "{text}"'
    return text.lstrip("~").split(".")[-1] + ("()" if role == "func" else "")


def terminal_docstring(doc: str | None) -> str | None:
    """A numpydoc docstring as a terminal shows it (``help()``): Sphinx roles rendered as
    plain text and Unicode, ``.. math::`` blocks as indented formulas. The Sphinx form
    stays available to the API page (``sphinx_doc``; see ``_ext/page_fixes.py``).

    >>> print(terminal_docstring("Loss :math:`\\\\sigma(z) \\\\le 1`, see :ref:`bce`."))
    Loss σ(z) ≤ 1, see the book's section "bce".
    """
    if doc is None:
        return None
    out, prose, math_indent = [], [], None

    def flush_prose():
        text = _CITATION.sub("", "\n".join(prose))
        text = _ROLE.sub(_plain_role, text).replace("``", "`")
        out.extend(text.split("\n") if prose else [])
        prose.clear()

    for line in doc.split("\n"):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if stripped == ".. math::":
            flush_prose()
            math_indent = indent
            continue
        if math_indent is not None and stripped and indent <= math_indent:
            math_indent = None
        if math_indent is not None:
            out.append(_plain_math(line) if stripped else line)
        elif stripped.startswith(">>>") or stripped.startswith("..."):
            flush_prose()
            out.append(line)
        else:
            prose.append(line)
    flush_prose()
    return "\n".join(out)

