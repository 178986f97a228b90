"""The API page documents each loss from its Sphinx docstring.

A ``lossfns`` loss keeps two forms of its docstring: ``__doc__``, rendered for a terminal
(``help(lossfns.huber)`` shows σ and δ, not ``:math:`\\sigma```), and ``sphinx_doc``, the
numpydoc source with its roles and ``.. math::`` blocks. Autodoc reads ``__doc__``; this
extension hands it the Sphinx form instead, before napoleon parses it.
"""

from __future__ import annotations

from sphinx.application import Sphinx
from sphinx.util.docstrings import prepare_docstring


def _sphinx_form(app, what, name, obj, options, lines: list[str]) -> None:
    source = getattr(obj, "sphinx_doc", None)
    if isinstance(source, str):
        lines[:] = prepare_docstring(source)


def setup(app: Sphinx) -> dict:
    app.connect("autodoc-process-docstring", _sphinx_form, priority=100)  # before napoleon (500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
