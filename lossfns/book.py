"""Helpers the book's pages share: the library's code beside its equations, numbers written
for people, and the central differences their gradient checks compare with.

The book promises that the code it shows is the code that runs: a page calls
:func:`show_formula` on a loss, and the listing is taken from the library's source when
the page is executed, so it can never drift from it. IPython is imported only when a
listing is displayed.

Every number in the prose is computed and glued (MyST-NB's ``glue``). A float is glued as
itself and formatted by the page (``{glue:text}`name:.3g```); a number too large or too small
for that is glued as :func:`power_of_ten` of it, ``1.4 × 10⁻¹⁰`` rather than Python's
``1.4e-10``. Either way a negative number is printed with a true minus sign (U+2212): the
book's Sphinx extension ``_ext/glued_numbers.py`` turns the hyphen-minus that Python's
formatting writes into one.
"""

from __future__ import annotations

import inspect
import textwrap
from typing import Any, Callable

import numpy as np

__all__ = [
    "formula_source",
    "show_formula",
    "central_difference",
    "Shown",
    "power_of_ten",
    "superscript",
    "MINUS",
]

# U+2212, the minus sign of typeset mathematics; Python writes the hyphen-minus U+002D
MINUS = "\u2212"
_SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _functions(obj: Any) -> tuple[Callable, ...]:
    formulas = getattr(obj, "formulas", None)
    if formulas:
        return tuple(formulas)
    if inspect.isfunction(obj) or inspect.isclass(obj):
        return (obj,)
    raise TypeError(
        f"show_formula needs a lossfns loss or measure, or a function or class, got {obj!r}"
    )


def formula_source(*objects: Any) -> str:
    """The source code of the formula(s) behind each of ``objects``, as one listing.

    A loss or measure (``lossfns.huber``) gives the formula function(s) its decorator
    names; a plain function or class (``lossfns._stable.Logistic``) gives its own source.

    >>> import lossfns
    >>> print(formula_source(lossfns.mse).splitlines()[0])
    def _mse_formula(y, p, *, value, grad, hess):
    """
    if not objects:
        raise TypeError("formula_source needs at least one loss, measure or function")
    functions = dict.fromkeys(f for obj in objects for f in _functions(obj))  # once each
    listings = [textwrap.dedent(inspect.getsource(function)) for function in functions]
    return "\n\n".join(listing.rstrip("\n") for listing in listings)


def show_formula(*objects: Any):
    """Display the formula(s) of ``objects`` as a highlighted Python listing.

    Returns an ``IPython.display.Markdown`` object holding a fenced code block, which
    Jupyter renders in a notebook and MyST-NB on the built page (in the theme's colours,
    light or dark). Tag the cell ``remove-input`` so that the page shows the listing only.
    """
    from IPython.display import Markdown

    return Markdown(f"```python\n{formula_source(*objects)}\n```")


def central_difference(f: Callable[[np.ndarray], float], x: np.ndarray, h: float) -> np.ndarray:
    r"""The gradient of the scalar function ``f`` at ``x`` by central differences, entry by entry.

    Entry :math:`i` is :math:`(f(x + h e_i) - f(x - h e_i)) / 2h`. Its error is the truncation,
    :math:`h^2 |\partial_i^3 f| / 6`, plus rounding, about :math:`\epsilon |f| / h`; a page that
    compares a gradient with it states the bound its tolerance comes from.

    >>> central_difference(lambda v: float(v @ v), np.array([1.0, -2.0]), 1e-4)
    array([ 2., -4.])
    """
    x = np.asarray(x, dtype=float)
    out = np.empty_like(x)
    for index in np.ndindex(x.shape):
        bump = np.zeros_like(x)
        bump[index] = h
        out[index] = (f(x + bump) - f(x - bump)) / (2 * h)
    return out


class Shown(str):
    """A string glued as itself.

    MyST-NB's ``glue`` stores an object's ``repr``; a plain ``str`` would be shown in quotes
    by ``{glue:text}``. The ``repr`` of a ``Shown`` is its text.

    >>> Shown("1.4 × 10⁻¹⁰")
    1.4 × 10⁻¹⁰
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


def superscript(n: int) -> str:
    """The integer ``n`` in superscript digits, its sign a superscript minus.

    >>> superscript(-10), superscript(7)
    ('⁻¹⁰', '⁷')
    """
    if isinstance(n, bool) or int(n) != n:
        raise ValueError(f"superscript needs a whole number, got {n!r}")
    return str(int(n)).translate(_SUPERSCRIPTS)


def power_of_ten(x: float, digits: int) -> Shown:
    """``x`` as a reader writes it: ``m × 10ⁿ`` with ``digits`` digits after the point.

    What a page glues for a number that its prose would otherwise show in Python's
    e-notation (``1.4e-10``). A negative mantissa gets a true minus sign (U+2212), as
    every number of the book does.

    Parameters
    ----------
    x : float
        The number; finite.
    digits : int
        Digits of the mantissa after the decimal point (``0`` gives ``1 × 10⁻⁶``).

    Returns
    -------
    Shown
        The text, glued as itself (``glue("name", power_of_ten(x, 1), display=False)``,
        then ``{glue:text}`name``` in the prose).

    Examples
    --------
    >>> power_of_ten(1.4e-10, 1)
    1.4 × 10⁻¹⁰
    >>> power_of_ten(-123456.0, 2)
    −1.23 × 10⁵
    """
    import math

    if not math.isfinite(x):
        raise ValueError(f"power_of_ten needs a finite x, got {x!r}")
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 0:
        raise ValueError(f"power_of_ten needs digits >= 0 (a whole number), got {digits!r}")
    mantissa, exponent = f"{x:.{digits}e}".split("e")
    return Shown(f"{mantissa.replace('-', MINUS)} × 10{superscript(int(exponent))}")
