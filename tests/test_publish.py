"""Publishing: the repository's address, the launch buttons, the install cells, the workflow.

The site's buttons are checked on a one-page book (the real ``_config.yml`` and ``_ext/``, a
small notebook, no execution) built twice: with no repository address, and with one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "_ext"))
import publishing  # noqa: E402
import run_anywhere  # noqa: E402

BIN = Path(sys.executable).parent
NOTEBOOKS = run_anywhere.notebooks()
FORK = "https://github.com/someone/lossbook-fork"
PLACEHOLDERS = ("lossbook/lossbook", "executablebooks/jupyter-book")


# --- the repository's address -------------------------------------------------------------


@pytest.mark.parametrize(
    "address, url",
    [
        ("https://github.com/someone/lossbook", "https://github.com/someone/lossbook"),
        ("https://github.com/someone/lossbook.git", "https://github.com/someone/lossbook"),
        ("https://github.com/someone/lossbook/", "https://github.com/someone/lossbook"),
        ("git@github.com:someone/lossbook.git", "https://github.com/someone/lossbook"),
        ("ssh://git@gitlab.com/someone/lossbook.git", "https://gitlab.com/someone/lossbook"),
        ("https://x-access-token@github.com/someone/lossbook", "https://github.com/someone/lossbook"),
        ("/srv/clones/lossbook", None),
        ("file:///srv/clones/lossbook", None),
        ("https://example.org/someone/lossbook", None),
        ("", None),
    ],
)
def test_hosted_addresses(address, url):
    assert publishing.hosted(address) == url


def git_clone_with_origin(folder: Path, origin: str | None) -> Path:
    """A folder with the book's _config.yml, as a git clone whose origin is ``origin``."""
    folder.mkdir()
    shutil.copy(ROOT / "_config.yml", folder)
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    if origin:
        subprocess.run(["git", "-C", str(folder), "remote", "add", "origin", origin], check=True)
    return folder


def test_address_precedence(tmp_path, monkeypatch):
    """LOSSBOOK_REPO, then _config.yml's repository.url, then a hosted git origin, else none."""
    monkeypatch.delenv("LOSSBOOK_REPO", raising=False)
    clone = git_clone_with_origin(tmp_path / "clone", "git@github.com:from-git/lossbook.git")
    assert publishing.repository(clone) == ("https://github.com/from-git/lossbook", "main")
    assert publishing.repository(clone, "https://github.com/from-config/lossbook")[0] == (
        "https://github.com/from-config/lossbook"
    )
    monkeypatch.setenv("LOSSBOOK_REPO", "https://gitlab.com/from-env/lossbook")
    assert publishing.repository(clone, "https://github.com/from-config/lossbook")[0] == (
        "https://gitlab.com/from-env/lossbook"
    )
    monkeypatch.setenv("LOSSBOOK_REPO", "not an address")
    with pytest.raises(ValueError, match="LOSSBOOK_REPO"):
        publishing.repository(clone)
    monkeypatch.delenv("LOSSBOOK_REPO")
    # a clone of a clone (CI's checkout) has a local path as its origin: no address
    local = git_clone_with_origin(tmp_path / "local", str(clone))
    assert publishing.repository(local) == (None, "main")
    assert publishing.repository(git_clone_with_origin(tmp_path / "none", None)) == (None, "main")


def test_config_names_no_placeholder():
    """The address is set in one place, and the repository ships none that points elsewhere."""
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    url = config["repository"]["url"]
    assert url == "" or publishing.hosted(url) == url
    for path in [ROOT / "_config.yml", ROOT / "README.md", *NOTEBOOKS]:
        text = path.read_text()
        assert not any(p in text for p in PLACEHOLDERS), f"{path.name} names a placeholder repository"


# --- the site's buttons, on a one-page book -------------------------------------------------


def one_page_book(folder: Path) -> Path:
    """The book's configuration and extensions around one small notebook, not executed."""
    folder.mkdir()
    for name in ["_config.yml", "references.bib", "favicon.svg"]:
        shutil.copy(ROOT / name, folder)
    shutil.copytree(ROOT / "_ext", folder / "_ext", ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "node_modules").symlink_to(ROOT / "node_modules")
    config = (folder / "_config.yml").read_text().replace("execute_notebooks: cache", 'execute_notebooks: "off"')
    (folder / "_config.yml").write_text(config)
    (folder / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: page\n")
    (folder / "intro.md").write_text("# A one-page book\n")
    page = ROOT / "chapters" / "regression" / "mle.ipynb"
    notebook = {
        "cells": [
            {"cell_type": "markdown", "id": "title", "metadata": {}, "source": ["# The page\n"]},
            {"cell_type": "code", "id": "x", "metadata": {}, "execution_count": None, "outputs": [],
             "source": ["x = 1"]},
        ],
        "metadata": json.loads(page.read_text())["metadata"],
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    notebook["cells"].insert(1, {
        "cell_type": "code", "id": run_anywhere.CELL_ID, "metadata": {"tags": run_anywhere.TAGS},
        "execution_count": None, "outputs": [],
        "source": run_anywhere.install_cell(page, notebook).splitlines(keepends=True),
    })
    (folder / "page.ipynb").write_text(json.dumps(notebook, indent=1))
    return folder


def build(book: Path, **env: str) -> Path:
    environment = {k: v for k, v in os.environ.items() if k not in ("LOSSBOOK_REPO", "LOSSBOOK_PDF")}
    result = subprocess.run(
        [BIN / "jupyter-book", "build", book, "--warningiserror"],
        env=environment | env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return book / "_build" / "html"


def links(html: Path) -> list[str]:
    soup = BeautifulSoup(html.read_text(), "html.parser")
    return [a.get("href", "") for a in soup.select(".article-header-buttons a, .header-article-items a")]


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    """The one-page book built with no address (and no git remote), and with one and a PDF."""
    folder = tmp_path_factory.mktemp("sites")
    pdf = folder / "fake.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%%EOF\n")
    return {
        "none": build(one_page_book(folder / "none")),
        "fork": build(one_page_book(folder / "fork"), LOSSBOOK_REPO=FORK, LOSSBOOK_PDF=str(pdf)),
    }


def test_no_address_means_no_launch_or_repository_button(sites):
    hrefs = links(sites["none"] / "page.html")
    assert hrefs, "the page has no header buttons at all: the test looks in the wrong place"
    external = [h for h in hrefs if h.startswith("http")]
    assert not external, f"buttons link out with no repository configured: {external}"
    text = (sites["none"] / "page.html").read_text()
    for name in ["mybinder", "colab.research", "github.com", "launch-buttons"]:
        assert name not in text, f"{name!r} on a page built with no repository address"
    assert not (sites["none"] / "lossbook.pdf").exists()


def test_address_drives_every_button(sites):
    hrefs = links(sites["fork"] / "page.html")
    assert f"https://mybinder.org/v2/gh/someone/lossbook-fork/main?urlpath=tree/page.ipynb" in hrefs
    assert f"https://colab.research.google.com/github/someone/lossbook-fork/blob/main/page.ipynb" in hrefs
    assert FORK in hrefs
    external = [h for h in hrefs if h.startswith("http")]
    assert all(
        "someone/lossbook-fork" in h for h in external
    ), f"a button points elsewhere: {external}"


def test_download_button_offers_the_notebook_and_the_book_pdf(sites):
    site = sites["fork"]
    hrefs = links(site / "page.html")
    assert "_sources/page.ipynb" in hrefs
    # the downloaded notebook is the source notebook, install cell included
    assert (site / "_sources" / "page.ipynb").read_bytes() == (site.parents[1] / "page.ipynb").read_bytes()
    assert "lossbook.pdf" in hrefs
    assert (site / "lossbook.pdf").read_bytes().startswith(b"%PDF")
    assert "lossbook.pdf" in links(site / "intro.html")


def test_install_cell_is_not_on_the_page(sites):
    text = (sites["fork"] / "page.html").read_text()
    assert "x = 1" in text or "x</span>" in text
    assert "LOSSFNS_SOURCE" not in text and "importlib.util" not in text


# --- the workflow ---------------------------------------------------------------------------


def test_workflow_is_lint_free():
    """zizmor checks the workflows against GitHub's schema and for unsafe patterns (offline)."""
    zizmor = BIN / "zizmor"
    if not zizmor.exists():
        pytest.fail("zizmor is missing: make installs it from requirements.lock")
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert workflows
    result = subprocess.run(
        [zizmor, "--offline", "--config", ROOT / ".github" / "zizmor.yml", *workflows],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_builds_with_make_book_and_deploys_pages():
    import yaml

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert triggers["push"]["branches"] == ["main"]
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    runs = [s.get("run", "") for s in steps]
    assert runs.index(next(r for r in runs if r.strip() == "make book")) < runs.index(
        next(r for r in runs if "make pdf" in r)
    ), "the site is built cold with `make book` before anything else"
    uses = [s.get("uses", "") for s in steps]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"
    assert any(u.startswith("actions/deploy-pages") for u in uses)
