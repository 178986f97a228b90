"""The one shared mechanism of ``lossfns``: the loss wrapper, reductions, dtypes, validation.

A family module declares a loss in two parts:

* a *formula*, ``formula(*arrays, value, grad, hess, **hyper)``, that returns the
  per-sample values and, when asked, their derivatives with respect to the prediction
  argument(s) — computed in one pass so that value and gradient share their work;
* a public function carrying the signature and the docstring, whose body validates its
  arguments and returns :class:`Terms`; decorating it with :func:`loss` (or
  :func:`elementwise_loss`) turns it into a :class:`Loss` with ``grad``, ``hess`` and
  ``value_and_grad``. Checks of every entry of a large array (finiteness, label
  domains: :func:`finite`, :func:`within`, :func:`one_of`, :func:`nonnegative`) may be
  handed to :class:`Terms`, which runs them block by block while the data is in cache.

Everything else — weighting, the three reductions, scaling the derivatives to match
them — happens here, once. Information measures between distributions (which return one
value per distribution and are never reduced) are declared the same way with
:func:`measure`, which makes a :class:`Measure`.
"""

from __future__ import annotations

import functools
import math
import numbers
from typing import Any, Callable

import numpy as np

__all__ = [
    "REDUCTIONS",
    "BLOCK_SIZE",
    "Loss",
    "ElementwiseLoss",
    "Terms",
    "loss",
    "elementwise_loss",
    "Measure",
    "measure",
    "float_dtype",
    "real_array",
    "finite",
    "within",
    "one_of",
    "nonnegative",
    "check_interval",
    "check_values_in",
    "check_nonnegative",
    "check_distribution",
    "check_class_indices",
    "check_same_shape",
    "check_scalar",
]

REDUCTIONS = ("mean", "sum", "none")

BLOCK_SIZE = 9 << 10
"""Entries per array in one block of a row-wise evaluation (:class:`Terms`): 9216 float64
values, 72 KiB, so that a formula's dozen temporaries fit in a 2 MiB L2 cache, stay
below 128 KiB, from which the C allocator maps fresh pages for every array, and keep
each dot product (at most 10 000 entries) and matrix-vector product (fewer than 9216)
below the sizes from which OpenBLAS starts threads that cost more than the work.
Measured with ``bench/speed.py`` against 8192 and 12288, with one and two threads."""


Formula = Callable[..., tuple[Any, Any, Any]]


# --------------------------------------------------------------------------- dtypes


def float_dtype(*values: Any) -> np.dtype:
    """The dtype a computation on ``values`` runs in.

    float32 when every floating-point array among ``values`` is float32 (and there is at
    least one); float64 otherwise. Integer and bool arrays do not vote; Python scalars
    (hyper-parameters such as ``margin=1.0``) and ``None`` are ignored.

    >>> float_dtype(np.float32([0.5]), np.array([1, 0]))
    dtype('float32')
    >>> float_dtype(np.float32([0.5]), [1.0, 0.0])
    dtype('float64')
    """
    kinds = [
        np.asarray(v).dtype
        for v in values
        if v is not None and not isinstance(v, (bool, numbers.Number))
    ]
    floats = [d for d in kinds if d.kind == "f"]
    if floats and all(d == np.float32 for d in floats):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


# ----------------------------------------------------------------------- validation


def real_array(
    x: Any, name: str, dtype: np.dtype | None = None, *, finite: bool = True
) -> np.ndarray:
    """``x`` as a non-empty array of finite real numbers, cast to ``dtype`` if given.

    With ``finite=False`` the caller checks finiteness later, as one of the
    ``checks`` of :class:`Terms` (see :func:`finite`), which runs block by block while the
    data is in cache.

    Raises
    ------
    TypeError
        If ``x`` is not numeric (strings, objects, complex numbers).
    ValueError
        If ``x`` is empty or holds NaN or an infinity.

    >>> real_array([1, 2], "y_true", np.dtype(np.float64))
    array([1., 2.])
    >>> real_array([0.5, float("nan")], "logits")
    Traceback (most recent call last):
    ...
    ValueError: logits contains NaN or infinite values
    """
    try:
        a = np.asarray(x)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be an array of real numbers: {error}") from None
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
    if a.size == 0:
        raise ValueError(f"{name} is empty")
    if finite:
        with np.errstate(over="ignore", invalid="ignore"):
            _check_finite(a, name)
    if dtype is not None:
        a = a.astype(dtype, copy=False)
    return a


def _check_finite(a: np.ndarray, name: str) -> None:
    # The sum of squares is finite unless an entry is NaN or infinite, or it overflows
    # (entries beyond ~1e154), which the exact test then tells apart. One BLAS pass;
    # the caller silences the overflow and invalid-value warnings.
    if a.dtype.kind == "f":
        flat = a.ravel()
        if not math.isfinite(np.dot(flat, flat)) and not np.isfinite(a).all():
            raise ValueError(f"{name} contains NaN or infinite values")


Check = Callable[[np.ndarray], None]


def finite(name: str) -> Check:
    """A check (for ``Terms(checks=...)``) that every entry is finite."""
    return functools.partial(_check_finite, name=name)


def within(name: str, low: float, high: float) -> Check:
    """A check that every entry is finite and lies in ``[low, high]``."""
    return functools.partial(check_interval, name=name, low=low, high=high)


def one_of(name: str, allowed: tuple[float, ...]) -> Check:
    """A check that every entry is one of ``allowed`` (so finite)."""
    return functools.partial(check_values_in, name=name, allowed=allowed)


def nonnegative(name: str) -> Check:
    """A check that every entry is at least 0."""
    return functools.partial(check_nonnegative, name=name)


def check_interval(a: np.ndarray, name: str, low: float, high: float) -> None:
    """Raise ``ValueError`` unless every entry of ``a`` is finite and lies in ``[low, high]``.

    >>> check_interval(np.array([0.0, 1.5]), "y_true", 0, 1)
    Traceback (most recent call last):
    ...
    ValueError: y_true must lie in [0, 1]; found 1.5
    """
    smallest, largest = a.min(), a.max()  # NaN if any entry is NaN
    if not (math.isfinite(smallest) and math.isfinite(largest)):
        raise ValueError(f"{name} contains NaN or infinite values")
    if not smallest >= low:
        raise ValueError(f"{name} must lie in [{low}, {high}]; found {smallest}")
    if not largest <= high:
        raise ValueError(f"{name} must lie in [{low}, {high}]; found {largest}")


def check_values_in(a: np.ndarray, name: str, allowed: tuple[float, ...]) -> None:
    """Raise ``ValueError`` unless every entry of ``a`` is one of ``allowed``.

    >>> check_values_in(np.array([1, 0, -1]), "y_true", (-1, 1))
    Traceback (most recent call last):
    ...
    ValueError: y_true must hold only the values (-1, 1); found 0
    """
    bad = ~np.isin(a, allowed)
    if bad.any():
        if not np.isfinite(a[bad]).all():
            raise ValueError(f"{name} contains NaN or infinite values")
        raise ValueError(f"{name} must hold only the values {allowed}; found {a[bad].flat[0]}")


def check_nonnegative(a: np.ndarray, name: str) -> None:
    """Raise ``ValueError`` unless every entry of ``a`` is at least 0.

    >>> check_nonnegative(np.array([1.0, -0.5]), "distance")
    Traceback (most recent call last):
    ...
    ValueError: distance must be non-negative; found -0.5
    """
    smallest = a.min()
    if not smallest >= 0:  # NaN fails too
        raise ValueError(f"{name} must be non-negative; found {smallest}")


DISTRIBUTION_ATOL = 1e-6


def check_distribution(a: np.ndarray, name: str, axis: int = -1) -> None:
    """Raise ``ValueError`` unless ``a`` holds probability distributions along ``axis``.

    Entries must be non-negative and each slice along ``axis`` must sum to 1 within
    :data:`DISTRIBUTION_ATOL` (1e-6). Nothing is renormalised.

    >>> check_distribution(np.array([[0.5, 0.5], [0.7, 0.2]]), "y_true")
    Traceback (most recent call last):
    ...
    ValueError: y_true must sum to 1 along axis -1 (within 1e-06); a sum is 0.9
    """
    check_nonnegative(a, name)
    sums = a.sum(axis=axis, dtype=np.float64)
    worst = np.abs(sums - 1).argmax()
    if abs(sums.flat[worst] - 1) > DISTRIBUTION_ATOL:
        raise ValueError(
            f"{name} must sum to 1 along axis {axis} (within {DISTRIBUTION_ATOL:g}); "
            f"a sum is {sums.flat[worst]:.6g}"
        )


def check_class_indices(a: np.ndarray, name: str, n_classes: int) -> np.ndarray:
    """``a`` as an integer array of class indices in ``range(n_classes)``.

    Integer-valued floats are rejected too: a class index must be an integer dtype.

    >>> check_class_indices(np.array([0, 2, 3]), "y_true", 3)
    Traceback (most recent call last):
    ...
    ValueError: y_true must hold class indices in range(3); found 3
    """
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class indices, got dtype {a.dtype}")
    smallest, largest = a.min(), a.max()
    if smallest < 0 or largest >= n_classes:
        bad = smallest if smallest < 0 else largest
        raise ValueError(f"{name} must hold class indices in range({n_classes}); found {bad}")
    return a


def check_same_shape(**arrays: np.ndarray) -> None:
    """Raise ``ValueError`` unless all the named arrays have one shape (no broadcasting).

    >>> check_same_shape(y_true=np.zeros(3), logits=np.zeros((3, 1)))
    Traceback (most recent call last):
    ...
    ValueError: shapes differ: y_true (3,), logits (3, 1)
    """
    shapes = {name: np.shape(a) for name, a in arrays.items()}
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
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value < low or (value == low and not low_inclusive)):
        raise ValueError(f"{name} must be {'>=' if low_inclusive else '>'} {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def _check_reduction(reduction: Any) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def _check_sample_weight(
    sample_weight: Any, sample_shape: tuple[int, ...], dtype: np.dtype
) -> np.ndarray | None:
    """Weights of shape ``sample_shape`` or a leading part of it (one weight per row)."""
    if sample_weight is None:
        return None
    w = real_array(sample_weight, "sample_weight", dtype)
    if w.shape != sample_shape[: w.ndim]:
        raise ValueError(
            f"sample_weight has shape {w.shape}; it must be {sample_shape} "
            f"or a leading part of it"
        )
    check_nonnegative(w, "sample_weight")
    return w


# ---------------------------------------------------------------------- the wrapper


class Terms:
    """Validated inputs of one loss evaluation, ready for any of value, grad and hess.

    Parameters
    ----------
    formula : callable
        ``formula(*arrays, value, grad, hess, **hyper) -> (value, grad, hess)``, each
        ``None`` when not asked for. ``value`` has shape ``sample_shape``; ``grad`` and
        ``hess`` have the shape of the prediction (a tuple of arrays when the loss
        takes several predictions), whose leading axes are ``sample_shape`` (a measure,
        which neither weights nor reduces, may lay them out as it likes). They must be
        freshly allocated: they are scaled in place. A row-wise float64 formula may be
        asked for ``value="sum"`` when only the sum of its unweighted values is needed; it
        may then return that sum (adding up non-negative parts by dot products, say) or
        the values.
    arrays : tuple of ndarray
        Validated array arguments, in the order ``formula`` takes them.
    sample_shape : tuple of int
        Shape of the per-sample loss values.
    sample_weight, reduction
        As passed by the user; validated here.
    dtype : numpy dtype
        The computation's dtype (see :func:`float_dtype`).
    rowwise : bool
        Whether ``formula`` treats the rows of its arrays (their entries along axis 0)
        independently, with ``value``, ``grad`` and ``hess`` laid out by the same rows.
        Such a formula is evaluated on blocks of about :data:`BLOCK_SIZE` entries, so
        that its temporaries stay in the processor's cache and a reduced value never
        holds one value per sample in memory; the results equal those of one call up to
        the order of the summation.
    checks : sequence of (int, callable)
        Checks of the entries of ``arrays``: ``check(arrays[i])`` raises ``ValueError``
        on bad entries (:func:`finite`, :func:`within`, :func:`one_of`). For a row-wise
        formula they run block by block, just before the block is evaluated, while it is
        in cache; otherwise once, here.
    mean_weights : ndarray, optional
        Per-sample weights, of ``sample_shape``, with which the samples count in the
        denominator of ``"mean"`` besides ``sample_weight`` — for a formula that weights its
        own values, as torch's class-weighted cross-entropy divides by
        :math:`\\sum_i w_i\\,c_{y_i}`. Validated by the caller.
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
        self.checks = checks
        if not rowwise:
            _run_checks(checks, arrays)
        self.arrays = arrays
        self.hyper = hyper
        self.rowwise = rowwise
        self.reduction = _check_reduction(reduction)
        self.weight = _check_sample_weight(sample_weight, sample_shape, dtype)
        self.dtype = dtype
        n_samples = math.prod(sample_shape)
        if mean_weights is not None:
            w = self._weights_for(self.weight, mean_weights.ndim)
            weighted = mean_weights if w is None else mean_weights * w
            self.total_weight = np.sum(weighted, dtype=dtype)
            problem = "sample_weight times the loss's own per-sample weights sum to zero"
        elif self.weight is None:
            self.total_weight = dtype.type(n_samples)
        else:
            self.total_weight = np.sum(self.weight, dtype=dtype) * (n_samples // self.weight.size)
            problem = "sample_weight sums to zero"
        if self.reduction == "mean" and self.total_weight == 0:
            raise ValueError(f"{problem}; the weighted mean is undefined")
        # derivatives of the mean scale by one product (within an ulp of the division)
        self.inverse_total = 1 / self.total_weight if self.reduction == "mean" else None

    def evaluate(self, value: bool = True, grad: bool = False, hess: bool = False):
        """Reduced value, gradient and Hessian diagonal (``None`` where not asked)."""
        if self.rowwise:
            return self._evaluate_blocks(value, grad, hess)
        v, g, h = self.formula(*self.arrays, value=value, grad=grad, hess=hess, **self.hyper)
        return (
            None if v is None else self._finish(self._reduce(v, self.weight)),
            None if g is None else self._scale(g, self.weight),
            None if h is None else self._scale(h, self.weight),
        )

    def _evaluate_blocks(self, value: bool, grad: bool, hess: bool):
        # A row-wise formula sees blocks of rows (a scalar input is one row), so its
        # temporaries stay in cache and it may work in place with out= arguments; the
        # derivatives are weighted and scaled in cache and copied once into the result.
        arrays = [np.atleast_1d(a) for a in self.arrays]
        weight = self.weight
        n_rows = len(arrays[0])
        block = max(1, BLOCK_SIZE // max(a[:1].size for a in arrays))
        starts = range(0, n_rows, block)
        sums, results = [], [None, None, None]
        if value and weight is None and self.reduction != "none" and self.dtype == np.float64:
            value = "sum"  # (float32 keeps NumPy's pairwise sums: their error bound is smaller)
        for start in starts:
            rows = slice(start, start + block)
            w = weight if weight is None or weight.ndim == 0 else weight[rows]
            blocks = [a[rows] for a in arrays]
            _run_checks(self.checks, blocks)
            v, g, h = self.formula(
                *blocks, value=value, grad=grad, hess=hess, **self.hyper
            )
            if value == "sum" and np.ndim(v) == 0:  # the formula summed its values
                sums.append(v)
            elif v is not None:
                sums.append(self._reduce(v, w))
            for k, d in ((1, g), (2, h)):
                if d is None:
                    continue
                if len(starts) == 1:
                    results[k] = self._scale(d, w)
                    continue
                if results[k] is None:
                    results[k] = _empty_like_rows(d, n_rows)
                result = results[k]
                into = tuple(r[rows] for r in result) if isinstance(d, tuple) else result[rows]
                self._scale(d, w, into)
        if value:
            if self.reduction == "none":
                results[0] = sums[0] if len(sums) == 1 else np.concatenate(sums)
            else:
                total = sums[0] if len(sums) == 1 else np.sum(sums, dtype=self.dtype)
                results[0] = self._finish(total)
        if self.arrays[0].ndim == 0:  # back to scalars
            results = [_first(r) for r in results]
        return tuple(results)

    def _weights_for(self, weight: np.ndarray | None, ndim: int) -> np.ndarray | None:
        if weight is None:
            return None
        return weight.reshape(weight.shape + (1,) * (ndim - weight.ndim))

    def _reduce(self, values: np.ndarray, weight: np.ndarray | None):
        """Weighted values (``"none"``) or their sum (``"mean"`` and ``"sum"``)."""
        w = self._weights_for(weight, values.ndim)
        if w is not None:
            values = values * w
        if self.reduction == "none":
            return values
        return np.add.reduce(values, axis=None, dtype=self.dtype)

    def _finish(self, reduced):
        return reduced / self.total_weight if self.reduction == "mean" else reduced

    def _scale(self, derivative, weight: np.ndarray | None, out=None):
        """``derivative`` times the weights, over the total for a mean: in place, or
        written into ``out`` (a view of the result) in the same pass."""
        if isinstance(derivative, tuple):
            outs = (None,) * len(derivative) if out is None else out
            return tuple(self._scale(d, weight, o) for d, o in zip(derivative, outs))
        if out is None:
            out = derivative
        w = self._weights_for(weight, derivative.ndim)
        if w is not None:
            np.multiply(derivative, w, out=out)
            if self.reduction == "mean":
                out *= self.inverse_total
        elif self.reduction == "mean":
            np.multiply(derivative, self.inverse_total, out=out)
        elif out is not derivative:
            out[...] = derivative
        return out


def _run_checks(checks, arrays) -> None:
    with np.errstate(over="ignore", invalid="ignore"):  # for finite(): see _check_finite
        for index, check in checks:
            check(arrays[index])


def _empty_like_rows(d, n_rows: int):
    """Uninitialised arrays like the block result ``d`` (a tuple for several), ``n_rows`` long."""
    if isinstance(d, tuple):
        return tuple(_empty_like_rows(x, n_rows) for x in d)
    return np.empty((n_rows,) + d.shape[1:], d.dtype)


def _first(r):
    """The one entry of each (1,)-shaped result of a scalar evaluation, as a NumPy scalar."""
    if r is None or np.ndim(r) == 0:
        return r
    return tuple(_first(x) for x in r) if isinstance(r, tuple) else r[0]


class _Differentiable:
    """A declared function with derivatives: the part that losses and measures share."""

    kind = ""

    def __init__(self, declaration: Callable[..., Terms]) -> None:
        functools.update_wrapper(self, declaration)
        self._declaration = declaration

    def _terms(self, *args: Any, **kwargs: Any) -> Terms:
        return self._declaration(*args, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any):
        return self._terms(*args, **kwargs).evaluate()[0]

    def grad(self, *args: Any, **kwargs: Any):
        """Gradient with respect to the prediction argument(s); same arguments."""
        return self._terms(*args, **kwargs).evaluate(value=False, grad=True)[1]

    def value_and_grad(self, *args: Any, **kwargs: Any):
        """``(value, grad)`` from one pass."""
        return self._terms(*args, **kwargs).evaluate(value=True, grad=True)[:2]

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
    has ``hess(...)``, the diagonal of the Hessian, scaled like ``grad``. All take the
    same arguments as the loss itself.
    """

    kind = "loss"


class ElementwiseLoss(Loss):
    """A :class:`Loss` elementwise in a scalar prediction, so it also has ``hess``."""

    def hess(self, *args: Any, **kwargs: Any):
        """Diagonal of the Hessian of the reduced loss, per prediction argument."""
        return self._terms(*args, **kwargs).evaluate(value=False, hess=True)[2]

    def grad_hess(self, *args: Any, **kwargs: Any):
        """``(grad, hess)`` from one pass and one validation (what a boosting objective needs)."""
        return self._terms(*args, **kwargs).evaluate(value=False, grad=True, hess=True)[1:]


def loss(declaration: Callable[..., Terms]) -> Loss:
    """Make a :class:`Loss` from a function that validates its arguments into :class:`Terms`."""
    return Loss(declaration)


def elementwise_loss(declaration: Callable[..., Terms]) -> ElementwiseLoss:
    """Like :func:`loss`, for losses elementwise in a scalar prediction (adds ``hess``)."""
    return ElementwiseLoss(declaration)


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
        terms = self._declaration(*args, **kwargs)
        if terms.reduction != "none" or terms.weight is not None:
            raise TypeError(f"{self.__qualname__} must not reduce or weight its values")
        return terms


def measure(declaration: Callable[..., Terms]) -> Measure:
    """Make a :class:`Measure` from a function that validates its arguments into :class:`Terms`."""
    return Measure(declaration)
