"""Which array library computes: NumPy, the default, or the library of the inputs.

Every public function — each loss and measure through :func:`call`, each function
without derivatives through :func:`dispatched` — computes in the *namespace* of its array
arguments, in the sense of the array API standard (https://data-apis.org/array-api/):
NumPy arrays (and lists, tuples, Python and NumPy scalars) compute in NumPy exactly as
before; torch tensors in torch, on their device and in their dtype, so that autograd can
run through the value; CuPy and JAX arrays in theirs, through ``array_api_compat``; Dask
arrays chunk by chunk, lazily (:mod:`lossfns._dask`). (:mod:`lossfns.boosting` computes
in NumPy only: the boosting libraries hand it NumPy arrays.)

The NumPy path pays one type check per call for this (:func:`is_plain`); the other
libraries are imported only when their arrays arrive, so ``import lossfns`` imports
neither torch nor JAX nor Dask (nor ``array_api_compat``).

Formulas and stable primitives take their namespace from their arrays with the standard
idiom ``xp = array_namespace(z)`` and write ``xp.exp(z)`` where they wrote ``np.exp(z)``;
for NumPy arrays :func:`array_namespace` returns :mod:`numpy` itself after one type check.
The library's own data checks (finite, within a range, ...) run in the namespace too, so
a NaN in a torch tensor is the same ``ValueError`` as a NaN in a NumPy array.

Outside NumPy a row-wise formula is evaluated in one piece, not block by block: the
blocks exist to keep NumPy's temporaries in the processor's cache, and a GPU or an
autograd graph wants one large operation instead.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "array_namespace", "is_plain", "Compute", "current", "set_entries", "copy", "special",
    "bincount", "device", "dispatched",
]

_PLAIN = frozenset(
    {np.ndarray, list, tuple, float, int, bool, complex, str, type(None)}
    | {t for t in np.sctypeDict.values() if isinstance(t, type)}
)


def is_plain(args: tuple, kwargs: dict) -> bool:
    """Whether every argument is a NumPy array, a list, a tuple, a number or ``None``: the
    NumPy path, which needs no dispatch (one set look-up per argument)."""
    return _PLAIN.issuperset(map(type, args)) and _PLAIN.issuperset(map(type, kwargs.values()))


@dataclass(frozen=True)
class Compute:
    """The namespace of one evaluation outside NumPy.

    ``xp`` is the ``array_api_compat`` namespace of the inputs, ``dtype`` the
    computation's floating dtype in it, ``device`` the inputs' device, and ``nominal`` the
    NumPy dtype that stands for ``dtype`` where the library casts hyper-parameters
    (``dtype.type(margin)``): float64 for float64, float32 for every narrower float
    (float32, float16, bfloat16; a NumPy scalar is a *weak* scalar in torch, so it keeps
    the tensor's dtype)."""

    xp: Any
    dtype: Any
    device: Any
    nominal: np.dtype


_COMPUTE: contextvars.ContextVar[Compute | None] = contextvars.ContextVar(
    "lossfns_compute", default=None
)


def current() -> Compute | None:
    """The :class:`Compute` of the evaluation running outside NumPy, or ``None`` (NumPy)."""
    return _COMPUTE.get()


def device():
    """The device of the evaluation running outside NumPy (where a function makes a new
    array), or ``None`` (NumPy's)."""
    compute = _COMPUTE.get()
    return None if compute is None else compute.device


def array_namespace(*arrays: Any):
    """The namespace of ``arrays``: :mod:`numpy` for NumPy arrays (one type check), else
    that of the evaluation running (:class:`Compute`), else ``array_api_compat``'s."""
    if type(arrays[0]) is np.ndarray:
        return np
    compute = _COMPUTE.get()
    if compute is not None:
        return compute.xp
    if all(isinstance(a, (np.ndarray, np.generic)) for a in arrays):
        return np
    import array_api_compat

    return array_api_compat.array_namespace(*arrays)


def set_entries(a, index, values):
    """``a`` with ``a[index] = values``.

    In place for NumPy and the libraries that allow it (the formulas call it on
    temporaries they made); a copy in torch when ``a`` takes part in autograd (an
    operation may have kept ``a`` for its backward pass) and in JAX (whose arrays are
    immutable)."""
    if type(a) is not np.ndarray:
        xp = array_namespace(a)
        if _library(xp) == "jax":
            return a.at[index].set(values)
        if _library(xp) == "torch" and a.requires_grad:
            a = a.clone()
    a[index] = values
    return a


def copy(a):
    """A copy of ``a`` (``a`` itself in JAX, whose arrays are immutable)."""
    if type(a) is np.ndarray:
        return a.copy()
    library = _library(array_namespace(a))
    if library == "torch":
        return a.clone()
    return a if library == "jax" else array_namespace(a).asarray(a, copy=True)


def _library(xp) -> str:
    """``"numpy"``, ``"torch"``, ``"jax"``, ``"cupy"``, ``"dask"``, ... for a namespace."""
    name = getattr(xp, "__name__", "")
    if name.startswith("array_api_compat."):
        name = name.split(".")[1]
    return name.split(".")[0]


def library_of(x: Any) -> str | None:
    """The array library of one argument, or ``None`` for lists, numbers and ``None``."""
    if type(x) is np.ndarray or isinstance(x, np.ndarray):
        return "numpy"
    if type(x) in _PLAIN:
        return None
    import array_api_compat

    try:
        xp = array_api_compat.array_namespace(x)
    except TypeError:
        return None  # not an array the standard knows: NumPy reads it (or says why not)
    return _library(xp)


# ------------------------------------------------------------------- the dispatch


@functools.lru_cache(maxsize=None)
def _signature(declaration) -> inspect.Signature:
    return inspect.signature(declaration)


def call(function, method: str, evaluate, args: tuple, kwargs: dict):
    """Evaluate ``function`` (a :class:`~lossfns._core.Loss` or
    :class:`~lossfns._core.Measure`) on arguments that are not all NumPy: in their
    namespace, with ``evaluate(terms)`` as on the NumPy path, or lazily on Dask.
    ``method`` names what is asked for: ``"value"``, ``"grad"``, ``"value_and_grad"``, ..."""

    def on_dask(bound):
        from . import _dask

        return _dask.call(function, method, evaluate, bound)

    return _route(
        function, _signature(function._declaration), args, kwargs,
        lambda: evaluate(function._terms(*args, **kwargs)), on_dask,
    )


def _route(function, signature: inspect.Signature, args: tuple, kwargs: dict, run, on_dask):
    """``run()`` in the namespace of the call's array arguments: as it is where they are
    NumPy (or do not bind to ``signature``, so that the call says what is wrong), inside
    that of torch, JAX or CuPy arrays (:func:`_foreign_evaluation`), and ``on_dask(bound)``
    for Dask arrays; mixed libraries are a ``TypeError`` (:func:`_library_of_call`)."""
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        return run()
    library, foreign = _library_of_call(function, bound)
    if library == "numpy":
        return run()
    if library == "dask":
        return on_dask(bound)
    with _foreign_evaluation(function, library, foreign, bound):
        return run()


def _library_of_call(function, bound: inspect.BoundArguments) -> tuple[str, list]:
    """The one array library of a call's array arguments (``"numpy"`` when there are
    none), and those arrays; a ``TypeError`` naming them when they mix libraries."""
    libraries = {name: library_of(value) for name, value in bound.arguments.items()}
    arrays = {name: lib for name, lib in libraries.items() if lib is not None}
    distinct = set(arrays.values())
    if distinct <= {"numpy"}:
        return "numpy", []
    if len(distinct) > 1:
        listed = ", ".join(f"{name} is a {lib} array" for name, lib in arrays.items())
        raise TypeError(
            f"{function.__qualname__}: array arguments must come from one array library; "
            f"{listed} (lists, tuples and scalars are converted, arrays are not)"
        )
    (library,) = distinct
    return library, [bound.arguments[name] for name in arrays]


@contextlib.contextmanager
def _foreign_evaluation(function, library: str, foreign: list, bound):
    """The body runs in the namespace of ``foreign`` (torch, JAX, CuPy, ...)."""
    import array_api_compat

    xp = array_api_compat.array_namespace(*foreign)
    if library == "jax":
        _refuse_tracers(function, foreign)
    with computing(xp, foreign, bound) as compute:
        yield compute


def dispatched(dask: str | tuple[str, ...] | Any):
    """Make a plain public function (one without derivatives: :func:`lossfns.entropy`,
    :func:`lossfns.ziln_predict`, ...) compute in the namespace of its array arguments,
    as the losses do: NumPy arguments call it as it is (one type check), torch, JAX and
    CuPy arrays run its body in their namespace (:class:`Compute`), mixed libraries are
    a ``TypeError``.

    ``dask`` says how it runs on Dask arrays (:mod:`lossfns._dask`): a tuple of the
    names of the arguments whose rows it treats independently (evaluated chunk by chunk
    of rows, lazily; the other array arguments whole), or ``"gather"`` for a function
    that needs every sample at once (a ranking, a sort): a ``dask.delayed`` call on the
    whole columns. A callable receives the bound arguments and returns one of these
    (whether the rows are independent may depend on ``axis``)."""

    def decorate(function):
        signature = inspect.signature(function)

        def on_dask(bound):
            from . import _dask

            bound.apply_defaults()
            plan = dask(bound.arguments) if callable(dask) else dask
            return _dask.call_function(function, bound, plan)

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            if is_plain(args, kwargs):  # NumPy: no dispatch
                return function(*args, **kwargs)
            return _route(function, signature, args, kwargs,
                          lambda: function(*args, **kwargs), on_dask)

        return wrapper

    return decorate


@contextlib.contextmanager
def computing(xp, foreign: list, bound: inspect.BoundArguments):
    """Run the body as an evaluation in ``xp`` (see :class:`Compute`)."""
    import array_api_compat

    floats = [a.dtype for a in foreign if xp.isdtype(a.dtype, "real floating")]
    for value in bound.arguments.values():  # lists and NumPy scalars vote like arrays
        if type(value) in (list, tuple) or isinstance(value, np.generic):
            try:
                kind = np.asarray(value).dtype
            except (TypeError, ValueError):
                continue  # real_array says what is wrong with it
            if kind.kind == "f":
                floats.append(xp.float32 if kind == np.float32 else xp.float64)
    if floats and all(xp.finfo(d).bits <= 32 for d in floats):
        dtype = floats[0]
        for d in floats[1:]:
            dtype = xp.result_type(dtype, d)
        nominal = np.dtype(np.float32)
    else:
        dtype, nominal = xp.float64, np.dtype(np.float64)
    compute = Compute(xp, dtype, array_api_compat.device(foreign[0]), nominal)
    token = _COMPUTE.set(compute)
    try:
        yield compute
    finally:
        _COMPUTE.reset(token)


def _refuse_tracers(function, arrays):
    """JAX under a transformation (``jax.jit``, ``jax.grad``, ``jax.vmap``): the data
    checks need concrete values; say so rather than fail inside them."""
    import jax

    if any(isinstance(a, jax.core.Tracer) for a in arrays):
        raise TypeError(
            f"{function.__qualname__} cannot be traced by JAX (jax.jit, jax.grad, jax.vmap): "
            f"lossfns checks the values of its inputs (NaN, labels, ranges) before it "
            f"computes, which needs concrete arrays. Call it eagerly; its .grad gives the "
            f"gradient."
        )


# --------------------------------------------------------------- special functions


class _TorchSpecial:
    """The few ``scipy.special`` functions the formulas use, in torch."""

    def __init__(self):
        import torch

        self._torch = torch

    def xlogy(self, x, y):
        return self._torch.special.xlogy(x, y)

    def entr(self, x):
        return self._torch.special.entr(x)

    def rel_entr(self, x, y):
        # x log(x / y), 0 where x = 0 (and y >= 0), inf where x > 0 = y
        torch = self._torch
        safe = torch.where(x > 0, x, 1)
        return torch.where(x > 0, x * torch.log(safe / y), torch.where(y >= 0, 0.0, torch.inf))

    def ndtr(self, x):
        return self._torch.special.ndtr(x)

    def ndtri(self, x):
        return self._torch.special.ndtri(x)

    def erfcx(self, x):
        return self._torch.special.erfcx(x)

    def log_ndtr(self, x):
        return self._torch.special.log_ndtr(x)


def bincount(x, weights=None, minlength: int = 0):
    """``numpy.bincount`` in the namespace of ``x``: not in the array API standard, but
    NumPy, torch, JAX and CuPy each have it, with these arguments."""
    library = _library(array_namespace(x))
    if library == "numpy":
        return np.bincount(x, weights=weights, minlength=minlength)
    if library == "torch":
        import torch

        return torch.bincount(x, weights=weights, minlength=minlength)
    if library == "jax":
        import jax.numpy

        return jax.numpy.bincount(x, weights=weights, minlength=minlength)
    if library == "cupy":
        import cupy

        return cupy.bincount(x, weights=weights, minlength=minlength)
    raise TypeError(f"lossfns has no bincount for {library} arrays")


def special(xp):
    """``scipy.special`` for NumPy, its counterpart for the namespace ``xp`` otherwise."""
    if xp is np:
        from scipy import special as scipy_special

        return scipy_special
    library = _library(xp)
    if library == "torch":
        return _TorchSpecial()
    if library == "jax":
        import jax.scipy.special

        return jax.scipy.special
    if library == "cupy":
        import cupyx.scipy.special

        return cupyx.scipy.special
    raise TypeError(f"lossfns has no special functions (xlogy, ndtr, ...) for {xp.__name__}")
