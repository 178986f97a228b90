"""The notes' claims table (appendix/claims.tsv): every row points to a section that exists.

Each row names a page of the book and a MyST label, ``(label)=``, defined on that page; the
Sources page links to it with ``{ref}``. Every claim is covered — derived and checked in that
section (none is left "partial" or "missing") — and every claim the book judges wrong or
misleading is refuted in an erratum box on its page.
"""

import csv
import json
import re
from pathlib import Path

import pytest
from sphinx_external_toc.parsing import parse_toc_yaml

ROOT = Path(__file__).resolve().parents[1]
CLAIMS = ROOT / "appendix" / "claims.tsv"
FIELDS = ["id", "note", "claim", "verdict", "page", "section", "where", "status", "erratum"]


def rows():
    with open(CLAIMS, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream, delimiter="\t"))


def page_text(docname):
    """The page's MyST source: a notebook's cells, or the markdown file."""
    notebook = ROOT / f"{docname}.ipynb"
    if notebook.is_file():
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        return "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown")
    return (ROOT / f"{docname}.md").read_text(encoding="utf-8")


def labels(text):
    """Targets a {ref} can name: (label)= lines and :label:/:name: options."""
    return set(re.findall(r"^\(([\w-]+)\)=\s*$", text, re.M)) | set(
        re.findall(r"^:(?:label|name):\s*([\w-]+)\s*$", text, re.M))


CASES = rows()


def test_the_table_has_its_columns_and_unique_ids():
    with open(CLAIMS, newline="", encoding="utf-8") as stream:
        assert next(csv.reader(stream, delimiter="\t")) == FIELDS
    ids = [row["id"] for row in CASES]
    assert len(ids) == len(set(ids)) == 131


@pytest.mark.parametrize("row", CASES, ids=[row["id"] for row in CASES])
def test_every_claim_links_to_a_section_that_exists(row):
    documents = set(parse_toc_yaml(ROOT / "_toc.yml"))
    assert row["page"] in documents, f"{row['id']}: page {row['page']!r} is not in the toc"
    assert row["section"], f"{row['id']}: no section"
    assert row["section"] in labels(page_text(row["page"])), (
        f"{row['id']}: no label ({row['section']})= on {row['page']}")


@pytest.mark.parametrize("row", CASES, ids=[row["id"] for row in CASES])
def test_every_claim_is_covered_and_every_wrong_one_has_its_erratum(row):
    assert row["status"] == "covered", f"{row['id']}: status {row['status']!r}"
    assert row["verdict"] in {"right", "wrong", "misleading", "open"}
    assert row["erratum"] in {"yes", "no"}
    if row["verdict"] in {"wrong", "misleading"}:
        assert row["erratum"] == "yes", f"{row['id']}: a {row['verdict']} claim without an erratum box"
        assert "```{erratum}" in page_text(row["page"]), f"{row['id']}: no erratum box on {row['page']}"
    else:
        assert row["erratum"] == "no", f"{row['id']}: an erratum box for a claim judged {row['verdict']}"


def test_every_section_label_is_defined_once_in_the_book():
    """A {ref} to a label defined on two pages would be ambiguous."""
    documents = parse_toc_yaml(ROOT / "_toc.yml")
    seen = {}
    for docname in documents:
        for label in labels(page_text(docname)):
            seen.setdefault(label, []).append(docname)
    for row in CASES:
        assert seen.get(row["section"]) == [row["page"]], (row["id"], seen.get(row["section"]))
