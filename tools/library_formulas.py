"""Give every section that derives a loss the listing of the library's own formula.

``python tools/library_formulas.py`` adds, idempotently, to the section each public loss's
docstring links to (``:ref:`label``` → the notebook cell with ``(label)=``), a short
sentence and a code cell ``show_formula(lossfns.<loss>, ...)`` tagged ``remove-input``: the
built page shows the formula's source as a listing, read from ``lossfns`` when the page is
executed. The listing goes after the section's first **Library.** paragraph that names
the loss (or its first **Library.** paragraph), or, where the section has none, after its
first code cell (the check of its claim), with a **Library.** paragraph of its own. A section
runs from its label to the next label. ``--check`` writes nothing and exits 1 when a
notebook lacks a listing.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import lossfns  # noqa: E402

TAG = "library-formula"


def _source(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def sections() -> dict[tuple[str, str], list[str]]:
    """``(notebook, label) -> [loss names]``: the section each loss's docstring links to first."""
    labels = {}
    for path in sorted(ROOT.glob("chapters/**/*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "markdown":
                for label in re.findall(r"^\(([\w-]+)\)=", _source(cell), re.M):
                    labels[label] = path
    wanted = defaultdict(list)
    for name in lossfns.__all__:
        function = getattr(lossfns, name)
        if isinstance(function, (lossfns.Loss, lossfns.Measure)):
            refs = [r for r in re.findall(r":ref:`([^`]+)`", function.sphinx_doc) if r in labels]
            # BCE with probabilities links to the stability section first; it is derived
            # with BCE with logits
            preferred = [r for r in refs if r != "classification-stability"] or refs
            wanted[(str(labels[preferred[0]].relative_to(ROOT)), preferred[0])].append(name)
    return wanted


def _formulas(names: list[str]) -> list:
    return [f for name in names for f in getattr(lossfns, name).formulas]


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _markdown(label: str, text: str) -> dict:
    return {"cell_type": "markdown", "id": f"formula-{label}", "metadata": {"tags": [TAG]},
            "source": _lines(text)}


def _listing(label: str, names: list[str]) -> dict:
    call = ", ".join(f"lossfns.{name}" for name in names)
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": f"formula-{label}-code",
        "metadata": {"tags": ["remove-input", TAG]},
        "outputs": [],
        "source": _lines(f"from lossfns.book import show_formula\n\nshow_formula({call})"),
    }


def add_listing(cells: list[dict], label: str, names: list[str]) -> bool:
    """Insert the listing of ``names`` into the section ``label``; False if it was there."""
    start = next(i for i, c in enumerate(cells) if f"({label})=" in _source(c))
    end = next(
        (i for i in range(start + 1, len(cells))
         if cells[i]["cell_type"] == "markdown"
         and re.search(r"^\([\w-]+\)=", _source(cells[i]), re.M)),
        len(cells),
    )
    section = cells[start:end]
    if any(TAG in c.get("metadata", {}).get("tags", []) and c["cell_type"] == "code"
           and all(f"lossfns.{n}" in _source(c) for n in names) for c in section):
        return False
    code = " and ".join(f"`lossfns.{name}`" for name in names)
    verb = "computes it with this formula" if len(names) == 1 else "compute them with"
    if len(names) > 1:
        verb += " this formula" if len(set(_formulas(names))) == 1 else " these formulas"
    paragraphs = [i for i in range(start, end)
                  if cells[i]["cell_type"] == "markdown" and "**Library.**" in _source(cells[i])]
    naming = [i for i in paragraphs if any(f"lossfns.{n}" in _source(cells[i]) for n in names)]
    library = (naming or paragraphs or [None])[0]
    if library is not None:
        intro = f"{code} {verb}, read from the library's source when the page is built:"
        cells[library + 1:library + 1] = [_markdown(label, intro), _listing(label, names)]
        return True
    first_code = next((i for i in range(start, end) if cells[i]["cell_type"] == "code"), end - 1)
    intro = f"**Library.** {code} {verb}, read from the library's source when the page is built:"
    cells[first_code + 1:first_code + 1] = [_markdown(label, intro), _listing(label, names)]
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    missing = []
    for (notebook, label), names in sections().items():
        path = ROOT / notebook
        book = json.loads(path.read_text())
        if add_listing(book["cells"], label, names):
            missing.append(f"{notebook} ({label}): {', '.join(names)}")
            if not args.check:
                path.write_text(json.dumps(book, indent=1, ensure_ascii=False) + "\n")
    for line in missing:
        print(("missing " if args.check else "added ") + line)
    return 1 if args.check and missing else 0


if __name__ == "__main__":
    sys.exit(main())
