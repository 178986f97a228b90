"""Numbers in the prose are computed, not typed (issue 15); the code a page shows fits it.

Every worked number a page states comes from the code beside it through MyST-NB's ``glue``.
This test reads the Markdown cells of every notebook of the book and fails on a number written
into the prose by hand, unless it is

* a small whole number (0 to 10: exponents, counts, indices, "two classes"),
* a year (a citation: "Koenker and Bassett, 1978"),
* or listed for its page in ``STATED`` below: values the page *chooses* (hyper-parameters,
  example inputs, data-set sizes, precisions of a reference) and constants of a formula
  (SMAPE's 200), which are not results and so are not computed.

Numbers inside roles (``{glue:text}`...```, ``{eq}``, ``{ref}``), code spans, code blocks,
labels and link targets are not prose and are skipped. A thousands separator must be a narrow
no-break space (U+202F), never a plain space, which lets "10 000" break across two lines.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
import execute_notebooks  # noqa: E402

# The notebooks of the book: those in the table of contents (a page being written is not yet).
NOTEBOOKS = [str(path) for path in execute_notebooks.notebooks()]

# A number: digits with an optional decimal part and exponent; groups of three digits joined by
# a space or a narrow no-break space form one number ("10 000").
NUMBER = re.compile(r"(?<![\w.\\])\d{1,3}(?:[ \u202f]\d{3})+(?![\w.])|(?<![\w.\\])\d+(?:\.\d+)?(?![\w.])")
PLAIN_SPACE_THOUSANDS = re.compile(r"(?<![\d.])\d{1,3}(?: \d{3})+(?![\d.])")
YEAR = re.compile(r"(?:19|20)\d\d")

# Values each page states as its own choices, and constants of formulas (see the docstring).
# Inputs of worked examples and exercises, hyper-parameters, data-set sizes, step counts,
# digits of a reference, and numbers a page quotes from the study notes in order to refute them.
STATED: dict[str, str] = {
    "appendix/benchmarks.ipynb": "16 300 53 200 150 50 1.1 100",  # input ranges; 2^-53; torch's -100 clamp
    "chapters/boosting/focal_ziln.ipynb": "200 0.02 4\u202f000 5\u202f000 50 0.25 0.5 3.5 2.5",
    # XGBoost issue and pull-request numbers: references, not results
    "chapters/boosting/multiclass.ipynb": "1.5 500 638 5769 10258 2345",
    "chapters/boosting/newton.ipynb": "0.5 12 50",
    # rounds, the floor, the quantile level (and its 90 % target), data sizes; MAPE's 100 and
    # 200 and SMAPE's 800 are constants of their formulas
    "chapters/boosting/zero_hessians.ipynb": "100 200 0.001 0.9 90 800 2\u202f000 4\u202f000",
    "chapters/classification/bce_with_logits.ipynb": "0.8 0.1 50 60 0.3 0.7 30 13 800",
    # 0.0002625 and 0.105: the notes' rounded example, quoted
    "chapters/classification/focal_loss.ipynb":
        "0.9 0.25 0.0002625 0.105 0.1 40 0.7 20 0.6 10\u202f000 0.75 0.5 0.01 0.001",
    "chapters/classification/margin_losses.ipynb": "50 0.8 0.2 0.3 0.5 200",
    "chapters/classification/multi_positive_softmax.ipynb": "0.5",
    # 100: a zero where the loss is positive is a relative error of 100 %, by definition
    "chapters/classification/softmax_cross_entropy.ipynb":
        "0.8 0.3 0.1 0.7 0.2 0.25 0.05 500 300 50 20 40 100 800",
    "chapters/classification/weights_smoothing_multilabel.ipynb": "0.5 0.1 0.4 0.3 0.2",
    "chapters/classification/why_not_mse.ipynb": "400 80 300 1500 1000",  # 80 %: the accuracy aimed at
    # 0.154, 0.222, 0.108, 0.044, 0.064 and "69%": the notes' worked example, quoted and refuted;
    # 0.09 and 1.8: arithmetic of an exercise's inputs
    "chapters/information/divergences.ipynb": "200\u202f000 0.3 0.7 0.1 0.5 0.9 0.2 0.6 30 0.154 "
        "0.222 0.108 0.044 0.064 69 1.5 5\u202f000 0.09 1.8 0.01 0.8 1.4 1000",
    "chapters/information/entropy.ipynb": "1024 200\u202f000 2\u202f000 0.98 0.01",
    "chapters/ltv/evaluation.ipynb": "20\u202f000 50\u202f000",
    # 700: the threshold written into lossfns.ltv, below which log sigma = l2
    "chapters/ltv/ziln.ipynb": "30 1.5 20 50 0.3 700 0.5 800 25 75 0.8 90 0.9 0.1 0.2 0.7",
    "chapters/ranking/embedding_experiment.ipynb": "160 3000 0.03 25 100 50 1.5",
    "chapters/ranking/metric_learning.ipynb": "0.25 0.05 0.5",
    "chapters/ranking/pairwise.ipynb": "50 80 30 0.1 1000",
    # 33 and 34: floor and ceiling of 1000/30, an exercise's arithmetic
    "chapters/regression/buckets.ipynb": "20 19 0.2 0.5 1.2 1\u202f000 20\u202f000 30 1000 33 34 0.1",
    "chapters/regression/huber.ipynb": "50 5\u202f000 5\u202f000\u202f000 0.25 12 800",
    "chapters/regression/mle.ipynb": "200 110 100 11 20 0.6",
    "chapters/regression/percentage_errors.ipynb": "100 200 400",  # constants of MAPE and SMAPE
    "chapters/regression/watch_time.ipynb": "50 20 0.2",
}


def prose(markdown: str) -> str:
    """The text of a Markdown cell that a reader reads as prose and mathematics."""
    text = re.sub(r"^(```+|:::+)[ \t]*(?!\{)[^\n]*\n.*?^\1[ \t]*$", " ", markdown, flags=re.M | re.S)
    text = re.sub(r"^(```+|:::+).*$", " ", text, flags=re.M)  # directive fences: keep the body
    text = re.sub(r"^:[\w-]+:.*$", " ", text, flags=re.M)  # directive options
    text = re.sub(r"\{[\w:-]+\}`[^`]*`", " ", text)  # roles: glue, eq, ref, doc, cite, term
    text = re.sub(r"`[^`\n]*`", " ", text)  # code spans
    text = re.sub(r"^\([\w-]+\)=\s*$", " ", text, flags=re.M)  # labels
    text = re.sub(r"\$\$\s*\([\w-]+\)", "$$", text)  # equation labels
    text = re.sub(r"\]\([^)]*\)", "]", text)  # link targets
    text = re.sub(r"\\(?:tfrac|frac|dfrac)(\d)(\d)", r"\\frac{\1}{\2}", text)
    return text


def typed_numbers(path: str) -> list[str]:
    """Each number typed into the page's Markdown that the rules above do not allow."""
    stated = STATED.get(path, "").split(" ")  # not split(): U+202F is whitespace to Python
    notebook = json.loads((REPO / path).read_text())
    found = []
    for cell in notebook["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        text = prose("".join(cell["source"]))
        for match in PLAIN_SPACE_THOUSANDS.finditer(text):
            found.append(f"{match.group()!r}: separate thousands with U+202F, not a space")
        for match in NUMBER.finditer(text):
            number = match.group().replace(" ", "\u202f")
            if re.fullmatch(r"\d+", number) and int(number) <= 10:
                continue
            if YEAR.fullmatch(number) or number.replace("\u202f", " ") in stated or number in stated:
                continue
            context = text[max(0, match.start() - 40) : match.end() + 20].replace("\n", " ")
            found.append(f"{number!r} in …{context}…")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_no_number_is_typed_into_the_prose(path: str):
    """Every number in a page's prose is glued from code, or stated as a choice of the page."""
    found = typed_numbers(path)
    assert not found, (
        f"{path} has numbers typed into its prose; glue them from the code that computes them "
        "(or, for a value the page chooses, add it to STATED):\n" + "\n".join(found)
    )


# A code line a page shows whole. At 1280 px a code block of the book holds 77 characters of its
# monospace font (measured in Debian's Chromium: the block's content width over the width of a
# character; 73 at 960 px), and a longer line scrolls sideways with its end cut off. Cells folded
# (hide-input, hide-cell) or removed (remove-input, remove-cell: the install cell) are not held to
# it: a reader opens them to read the checks.
SHOWN_CODE_WIDTH = 76
FOLDED = {"hide-input", "hide-cell", "remove-input", "remove-cell"}


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_shown_code_lines_fit_the_page(path: str):
    """Every line of a code cell the page shows is at most SHOWN_CODE_WIDTH characters."""
    notebook = json.loads((REPO / path).read_text())
    long = [
        f"cell {cell.get('id')}: {len(line)} characters: {line.strip()[:60]}…"
        for cell in notebook["cells"]
        if cell["cell_type"] == "code" and not FOLDED & set(cell["metadata"].get("tags", []))
        for line in "".join(cell["source"]).splitlines()
        if len(line) > SHOWN_CODE_WIDTH
    ]
    assert not long, (
        f"{path} shows code lines longer than {SHOWN_CODE_WIDTH} characters, which the page "
        "cuts off at 1280 px; break them:\n" + "\n".join(long)
    )



def glued_numbers():
    """The book's Sphinx extension ``_ext/glued_numbers.py``, imported from its folder."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("glued_numbers", REPO / "_ext" / "glued_numbers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_glued_numbers_print_a_true_minus_sign():
    """``_ext/glued_numbers.py`` turns the hyphen-minus Python writes before a glued number
    ("-3.20") into the minus sign U+2212; a hyphen in a word or a range, and e-notation, stay.
    A zero as printed ("-0.000") loses its sign. (The site test checks every built page's prose
    for a hyphen-minus before a digit.)"""
    true_minus = glued_numbers().true_minus
    assert true_minus("-3.20") == "\u22123.20"
    assert true_minus("(-1, -.5)") == "(\u22121, \u2212.5)"
    assert true_minus("x-1, 10-20, 1e-10, \u22122") == "x-1, 10-20, 1e-10, \u22122"
    assert true_minus("a mean of -0.000") == "a mean of 0.000"  # a zero as printed has no sign


def test_glued_thousands_are_separated_by_a_narrow_space():
    """``_ext/glued_numbers.py`` gives a glued value formatted with Python's "," thousands
    separator ("454,555") the book's narrow no-break space (U+202F) instead. (The site test
    checks every glued value of the built pages.)"""
    thin_thousands = glued_numbers().thin_thousands
    assert thin_thousands("5,000,000") == "5\u202f000\u202f000"
    assert thin_thousands("(1,2), 3, 1,5") == "(1,2), 3, 1,5"
