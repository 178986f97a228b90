"""Helpers the book's pages use to show the library's own code next to its equations.

The book promises that the code it shows is the code that runs: a page calls
:func:`show_formula` on a loss, and the listing is taken from the library's source when
the page is executed, so it can never drift from it. IPython is imported only when a
listing is displayed.
"""

from __future__ import annotations

import inspect
import textwrap
from typing import Any, Callable

__all__ = ["formula_source", "show_formula"]


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
