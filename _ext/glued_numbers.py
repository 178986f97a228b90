"""Negative numbers in the prose print a true minus sign.

MyST-NB's ``{glue:text}`` role formats a glued value with Python (``format(-3.2, ".2f")``),
which writes a hyphen-minus (U+002D): "-3.20". The book's other numbers (typeset math,
:func:`lossfns.book.power_of_ten`) print the minus sign U+2212. This one place turns a
hyphen-minus that starts a number into a minus sign in the prose of every page, for every
output format: glued values, and numbers the prose or a docstring types ("labels in {-1, +1}").
Code, code listings, signatures and math are left alone, as are the hyphens of words and ranges.
"""

from __future__ import annotations

import re

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx

MINUS = "\u2212"
# A hyphen-minus before a digit (or ".5"), not inside a word or after a digit: "-3.2",
# "(-1, 2)"; "x-1", "10-20" and "1.4e-10" are left alone (the site test refuses e-notation).
# The lookahead holds the digits that follow, so that a zero keeps no sign.
HYPHEN_MINUS_NUMBER = re.compile(r"(?<![\w.\-\u2212])-(?=(\.?\d[\d.]*))")
# Where a hyphen-minus is what the reader must type or what TeX typesets: left alone.
NOT_PROSE = (
    nodes.literal,  # inline code
    nodes.FixedTextElement,  # code blocks, doctest blocks, display math
    nodes.math,
    nodes.raw,
    nodes.comment,
    nodes.system_message,
    addnodes.desc_signature,  # a function's signature: Python code (axis=-1)
)


def true_minus(text: str) -> str:
    """``text`` with each hyphen-minus that starts a number made a minus sign (U+2212).

    A number that is zero as printed loses its sign: Python formats -0.0001 with ``.3f`` as
    "-0.000", which a reader reads as a zero.

    >>> true_minus("-3.20"), true_minus("(-1, -0.5)"), true_minus("x-1 and 1e-10")
    ('−3.20', '(−1, −0.5)', 'x-1 and 1e-10')
    >>> true_minus("mean -0.000 and -0.0.")
    'mean 0.000 and 0.0.'
    """
    return HYPHEN_MINUS_NUMBER.sub(
        lambda match: "" if set(match.group(1)) <= {"0", "."} else MINUS, text
    )


def _in_prose(text: nodes.Text) -> bool:
    parent = text.parent
    while parent is not None:
        if isinstance(parent, NOT_PROSE):
            return False
        parent = parent.parent
    return True


def _fix_prose_numbers(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    for text in list(doctree.findall(nodes.Text)):
        if "-" not in text or not _in_prose(text):
            continue
        fixed = true_minus(text.astext())
        if fixed != text.astext():
            text.parent.replace(text, nodes.Text(fixed))


def setup(app: Sphinx) -> dict:
    # doctree-resolved: after MyST-NB has pasted the glued values (those of other pages too)
    app.connect("doctree-resolved", _fix_prose_numbers)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
