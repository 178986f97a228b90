"""`make pdf`: the whole book as one PDF, with its formulas, figures, tables and errata.

The PDF is built once per test run into a fresh folder, as `make pdf` builds it (Jupyter
Book's LaTeX builder and XeLaTeX); `make test` starts that build beside the tests of the built
book, from the notebook cache its first round filled (tests/test_notebooks.py). Three of its pages are turned into PNG with
``pdftoppm`` and looked at by numbers: ink on every page, colour on a figure's page.
The tests need TeX (`make test` installs it); they are skipped only when it is absent.

Set ``LOSSBOOK_SCREENSHOTS`` to a folder to keep the three pages there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ["xelatex", "latexmk", "pdftoppm", "pdftotext", "pdfimages", "pdffonts", "pdfinfo"]
BUILD_TIMEOUT_S = 1500
DPI = 60
LISTED = " — in “"  # how the errata appendix lists an erratum (_ext/errata.py)

pytestmark = [
    pytest.mark.book,
    pytest.mark.skipif(
        any(shutil.which(tool) is None for tool in TOOLS),
        reason="TeX or poppler-utils is not installed (make test and make pdf install them)",
    ),
]


@dataclass
class Pdf:
    path: Path
    latex: Path
    seconds: float

    def text(self, first: int | None = None, last: int | None = None) -> str:
        pages = ["-f", str(first), "-l", str(last or first)] if first else []
        return subprocess.run(
            ["pdftotext", *pages, self.path, "-"], capture_output=True, text=True, check=True
        ).stdout

    def pages(self) -> list[str]:
        """The text of each page (pdftotext separates pages by form feeds)."""
        return self.text().split("\f")


@pytest.fixture(scope="module")
def pdf(tmp_path_factory) -> Pdf:
    """The book's PDF, built into a fresh folder (notebooks executed afresh).

    `make test` starts that build beside pytest and names its folder in ``LOSSBOOK_TEST_PDF``
    (it writes the build's exit status to ``status`` there when done), so the slowest test
    does not wait for its turn; otherwise the build runs here.
    """
    start = time.monotonic()
    if os.environ.get("LOSSBOOK_TEST_PDF"):
        output = Path(os.environ["LOSSBOOK_TEST_PDF"])
        while not (output / "status").is_file() and time.monotonic() - start < BUILD_TIMEOUT_S:
            time.sleep(2)
        returncode = int((output / "status").read_text())
    else:
        output = tmp_path_factory.mktemp("pdf")
        command = [Path(sys.executable).parent / "jupyter-book", "build", ROOT, "--path-output", output]
        command += ["--builder", "pdflatex", "--warningiserror", "--keep-going"]
        env = {k: v for k, v in os.environ.items() if k != "LOSSBOOK_PDF"}
        with (output / "build.log").open("w") as stream:
            returncode = subprocess.run(command, stdout=stream, stderr=subprocess.STDOUT, env=env,
                                        timeout=BUILD_TIMEOUT_S, check=False).returncode
    log = output / "build.log"
    lines = log.read_text(errors="replace").splitlines()
    problems = [line for line in lines if re.search(r"WARNING|ERROR|^!", line)][:30]
    tail = "\n".join(problems + ["..."] + lines[-20:])
    assert returncode == 0, f"the PDF build failed; from {log}:\n{tail}"
    latex = output / "_build" / "latex"
    return Pdf(latex / "book.pdf", latex, time.monotonic() - start)


def squash(text: str) -> str:
    """Letters and digits only, lower case: compares text across PDF line breaks and ligatures."""
    return re.sub(r"[^0-9a-z]", "", text.lower().replace("ﬁ", "fi").replace("ﬂ", "fl"))


def book_sources() -> dict[str, Path]:
    """Document name -> source file, for every document of the table of contents."""
    from sphinx_external_toc.parsing import parse_toc_yaml

    return {name: next(ROOT.glob(f"{name}.*")) for name in parse_toc_yaml(ROOT / "_toc.yml")}


def markdown(path: Path) -> str:
    """A page's prose: a notebook's markdown cells, or the file."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text())["cells"]
        return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return path.read_text()


def toc_titles() -> list[str]:
    """The title of every document of the table of contents that has no math or code in it."""
    titles = []
    for path in book_sources().values():
        lines = markdown(path).splitlines()
        heading = next((line[2:].strip() for line in lines if line.startswith("# ")), None)
        if heading and not re.search(r"[$`{\\]", heading):
            titles.append(heading)
    return titles


def errata_in_sources() -> int:
    pattern = re.compile(r"^\s*(?:```+|:::+)\{erratum\}", re.MULTILINE)
    return sum(len(pattern.findall(markdown(path))) for path in book_sources().values())


def slider_pages() -> list[str]:
    """Documents whose code draws a slider figure."""
    names = []
    for name, path in book_sources().items():
        if path.suffix == ".ipynb":
            cells = json.loads(path.read_text())["cells"]
            if any("slider_figure(" in "".join(c["source"]) for c in cells if c["cell_type"] == "code"):
                names.append(name)
    return names


def test_pdf_is_one_book(pdf: Pdf):
    info = subprocess.run(["pdfinfo", pdf.path], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE)[1])
    assert pages > 50, f"the PDF has {pages} pages"
    text = squash(pdf.text())
    missing = [title for title in toc_titles() if squash(title) not in text]
    assert not missing, f"pages missing from the PDF: {missing}"
    print(f"PDF: {pages} pages, {pdf.path.stat().st_size / 2**20:.1f} MB, built in {pdf.seconds:.0f} s")


def test_formulas_are_typeset(pdf: Pdf):
    """Display math reaches LaTeX as math (not as source text) and prints in a math font."""
    tex = (pdf.latex / "book.tex").read_text()
    assert len(re.findall(r"\\begin\{equation\*?\}|\\begin\{split\}|\\\[", tex)) > 20
    assert "$$" not in pdf.text(), "unrendered $$ math in the PDF"
    fonts = subprocess.run(["pdffonts", pdf.path], capture_output=True, text=True, check=True).stdout
    assert re.search(r"math|cmmi|lmmi|cmsy|lmsy", fonts, re.IGNORECASE), fonts


def test_every_slider_figure_prints_its_first_frame(pdf: Pdf):
    """Each slider figure's default frame is in the PDF, not the widget's text repr."""
    frames = pdf.latex.parent / "widget_frames"
    for name in slider_pages():
        drawn = sorted((frames / name).glob("*.png"))
        assert drawn, f"{name}: no frame of its slider figure was printed"
    tex = (pdf.latex / "book.tex").read_text()
    assert "VBox(children" not in tex and "widget-view" not in tex
    images = subprocess.run(["pdfimages", "-list", pdf.path], capture_output=True, text=True, check=True)
    listed = [line for line in images.stdout.splitlines()[2:] if line.split()[2] == "image"]
    assert len(listed) >= tex.count("\\sphinxincludegraphics") > len(slider_pages())


def test_tables_print_as_tables(pdf: Pdf):
    tex = (pdf.latex / "book.tex").read_text()
    assert len(re.findall(r"\\begin\{(?:tabulary|tabular|longtable)\}", tex)) >= 3
    assert "IPython.core.display.HTML object" not in tex, "an HTML table printed as its repr"


def errata_list_page(pages: list[str]) -> int:
    """The number of the page with the most lines of the errata appendix's list."""
    counts = [page.count(LISTED) for page in pages]
    return 1 + counts.index(max(counts))


def test_errata_appendix_lists_every_erratum(pdf: Pdf):
    expected = errata_in_sources()
    assert expected
    pages = pdf.pages()
    assert sum(page.count("Erratum:") for page in pages) >= expected, "erratum admonitions missing"
    assert sum(page.count(LISTED) for page in pages) >= expected, "the errata list is incomplete"
    assert "errata" in squash(pages[errata_list_page(pages) - 1])


def test_three_pages_have_text_and_images(pdf: Pdf, tmp_path):
    """The title page, the first page with a figure and the errata page, as PNG."""
    from PIL import Image

    pages = pdf.pages()
    images = subprocess.run(["pdfimages", "-list", pdf.path], capture_output=True, text=True, check=True)
    figure_page = int(images.stdout.splitlines()[2].split()[0])
    errata_page = errata_list_page(pages)
    screenshots = os.environ.get("LOSSBOOK_SCREENSHOTS")
    for number, kind in [(1, "text"), (figure_page, "figure"), (errata_page, "text")]:
        stem = tmp_path / f"page-{number}"
        subprocess.run(["pdftoppm", "-png", "-r", str(DPI), "-f", str(number), "-l", str(number),
                        "-singlefile", pdf.path, stem], check=True)
        png = stem.with_suffix(".png")
        if screenshots:
            Path(screenshots).mkdir(parents=True, exist_ok=True)
            shutil.copy(png, Path(screenshots) / f"pdf-{png.name}")
        pixels = np.asarray(Image.open(png).convert("RGB"), dtype=int)
        ink = float(np.mean(pixels.sum(axis=-1) < 384))
        colour = float(np.mean(pixels.max(axis=-1) - pixels.min(axis=-1) > 60))
        assert ink > 0.005, f"page {number} is blank ({ink:.1%} ink)"
        assert len(squash(pages[number - 1])) > 40, f"page {number} has no text"
        if kind == "figure":
            assert colour > 0.002, f"page {number} shows no coloured figure ({colour:.2%})"
