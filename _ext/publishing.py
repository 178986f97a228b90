"""Where the book is published from: the repository's address, the PDF, slider figures on paper.

**The repository's address** is set in one place and everything follows it: the Binder and
Colab launch buttons, the repository button, and the install cell at the top of every notebook
(``tools/install_cell.py`` writes it). The address is the first of

1. ``LOSSBOOK_REPO`` in the environment at build time,
2. ``repository.url`` in ``_config.yml``,
3. this clone's ``git remote get-url origin``, when it is a hosted repository (GitHub, GitLab,
   Bitbucket; a local path, as in a clone of a clone, is no address).

With none of them, the site has no launch, repository, issue or edit buttons at all: never a
link to a placeholder. :func:`repository` is the one resolver; it reads ``_config.yml`` itself
so that scripts without Sphinx give the same answer as the build.

**The PDF**: when ``LOSSBOOK_PDF`` names a PDF of the book (``make book`` sets it when
``make pdf`` has built an up-to-date one), the HTML build copies it to ``lossbook.pdf`` at the
site's root and the download button of every page links to it.

**Outputs on paper**: a widget output (``lossfns.plot.slider_figure``: a slider and a Stack of
Image frames) has no picture in its notebook output, only the widget's model id. In builds
other than HTML (the LaTeX builder, for the PDF) each widget view is replaced by the images
the page shows before anyone touches it (for a Stack, its selected frame), and each HTML
table output by a table of its cells' text. (``_config.yml`` has the LaTeX builder pick
these outputs over their plain-text reprs.)
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

HOSTS = ("github.com", "gitlab.com", "bitbucket.org")
# https://host/owner/repo(.git), ssh://git@host/owner/repo(.git) or git@host:owner/repo(.git)
ADDRESS = re.compile(
    r"(?:https://(?:[^@/]+@)?|ssh://git@|git@)(?P<host>[^/:@]+)[/:]"
    r"(?P<owner>[\w.-]+)/(?P<name>[\w.-]+?)(?:\.git)?/?"
)
LAUNCH_PROVIDERS = ("binderhub_url", "jupyterhub_url", "colab_url", "deepnote_url", "jupyterlite_url")
REPOSITORY_BUTTONS = ("use_repository_button", "use_issues_button", "use_edit_page_button")
PDF_NAME = "lossbook.pdf"
WIDGET_VIEW = '<script type="application/vnd.jupyter.widget-view+json">'


def hosted(address: str | None) -> str | None:
    """``https://host/owner/name`` for the address of a hosted repository, else None."""
    match = ADDRESS.fullmatch((address or "").strip())
    if not match or match["host"].lower() not in HOSTS:
        return None
    return f"https://{match['host'].lower()}/{match['owner']}/{match['name']}"


def _git_origin(root: Path) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(root), "remote", "get-url", "origin"],
            capture_output=True, text=True, timeout=10, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def _configured(root: Path) -> tuple[str, str]:
    import yaml

    config = yaml.safe_load((root / "_config.yml").read_text()) or {}
    repository = config.get("repository") or {}
    return (repository.get("url") or "").strip(), (repository.get("branch") or "main").strip()


def repository(root: Path, configured: str | None = None) -> tuple[str | None, str]:
    """The repository's address (None when there is none) and branch, as the build sees them.

    ``configured`` is ``repository.url`` as the caller read it (default: from ``_config.yml``).
    An address that is set (``LOSSBOOK_REPO`` or ``_config.yml``) but is not one of a hosted
    repository is an error, not a silent fallback.
    """
    root = Path(root)
    from_file, branch = _configured(root)
    if configured is None:
        configured = from_file
    for origin, address in (("LOSSBOOK_REPO", os.environ.get("LOSSBOOK_REPO", "").strip()),
                            ("_config.yml repository.url", (configured or "").strip())):
        if address:
            url = hosted(address)
            if url is None:
                raise ValueError(
                    f"{origin} is {address!r}: give the https address of a repository on "
                    f"{', '.join(HOSTS)}, e.g. https://github.com/OWNER/lossbook"
                )
            return url, branch
    return hosted(_git_origin(root)), branch


# --- Sphinx -------------------------------------------------------------------------------


def _apply_repository(app, config) -> None:
    """Point the theme's launch and repository buttons at the address, or remove them."""
    options = config.html_theme_options
    url, branch = repository(Path(app.confdir), options.get("repository_url", ""))
    launch = dict(options.get("launch_buttons") or {})
    if url:
        options["repository_url"] = url
        options["repository_branch"] = branch
        options["use_repository_button"] = True
    else:
        options["repository_url"] = ""
        for button in REPOSITORY_BUTTONS:
            options[button] = False
        for provider in LAUNCH_PROVIDERS:
            launch[provider] = ""
        launch["thebe"] = False
    options["launch_buttons"] = launch
    config.lossbook_repository = url or ""
    config.lossbook_pdf = os.environ.get("LOSSBOOK_PDF", "")


def _pdf(app) -> Path | None:
    if app.builder.format != "html" or not app.config.lossbook_pdf:
        return None
    path = Path(app.config.lossbook_pdf)
    path = path if path.is_absolute() else Path(app.confdir) / path
    if not path.is_file():
        from sphinx.errors import ConfigError

        raise ConfigError(f"LOSSBOOK_PDF names {path}, which is not a file (make pdf builds it)")
    return path


def _link_pdf(app, pagename, templatename, context, doctree) -> None:
    """Add the book's PDF to the download button of every page."""
    if _pdf(app) is None:
        return
    for group in context.get("header_buttons", []):
        if group.get("label") == "download-buttons":
            group["buttons"].append({
                "type": "link",
                "url": context["pathto"](PDF_NAME, 1),
                "text": "book .pdf",
                "tooltip": "Download the whole book as a PDF",
                "icon": "fas fa-book",
                "label": "download-book-pdf-button",
            })


def _copy_pdf(app, exception) -> None:
    if exception is None and (pdf := _pdf(app)) is not None:
        shutil.copy2(pdf, Path(app.outdir) / PDF_NAME)


def _widget_state(app, docname: str) -> dict:
    js_files = getattr(app.env, "nb_metadata", {}).get(docname, {}).get("js_files", {})
    _, attributes = js_files.get("ipywidgets_state", (None, {}))
    return json.loads(attributes["body"])["state"] if attributes.get("body") else {}


def _frames(state: dict, model_id: str) -> list[bytes]:
    """The PNG images a widget shows before it is touched (a Stack shows its selected child)."""
    model = state.get(model_id)
    if model is None:
        return []
    name, values = model["model_name"], model["state"]
    if name == "ImageModel" and values.get("format") == "png":
        return [base64.b64decode(b["data"]) for b in model.get("buffers", []) if b["path"] == ["value"]]
    children = [c.removeprefix("IPY_MODEL_") for c in values.get("children", [])]
    if name in ("StackModel", "TabModel", "AccordionModel") and children:
        children = [children[values.get("selected_index") or 0]]
    return [frame for child in children for frame in _frames(state, child)]


def _html_tables(html: str) -> list:
    """The ``<table>``s of an HTML output as docutils tables of their cells' text."""
    from bs4 import BeautifulSoup
    from docutils import nodes

    def row(cells: list[str], width: int):
        line = nodes.row()
        for text in cells + [""] * (width - len(cells)):
            line += nodes.entry("", nodes.paragraph(text=text))
        return line

    tables = []
    for found in BeautifulSoup(html, "html.parser").find_all("table"):
        rows = [
            (tr.find_parent("thead") is not None, [c.get_text(" ", strip=True) for c in tr.find_all(["th", "td"])])
            for tr in found.find_all("tr")
        ]
        width = max((len(cells) for _, cells in rows), default=0)
        if not width:
            continue
        group = nodes.tgroup(cols=width)
        group += [nodes.colspec(colwidth=1) for _ in range(width)]
        head = [cells for in_head, cells in rows if in_head]
        if head:
            group += nodes.thead("", *(row(cells, width) for cells in head))
        group += nodes.tbody("", *(row(cells, width) for in_head, cells in rows if not in_head))
        tables.append(nodes.table("", group))
    return tables


def _print_outputs(app, doctree) -> None:
    """Outside HTML: widget views become the PNG frames they show first, HTML tables tables."""
    if app.builder.format == "html":
        return
    from docutils import nodes
    from sphinx.util import logging

    state = None
    folder = Path(app.doctreedir).parent / "widget_frames" / app.env.docname
    for raw in list(doctree.findall(nodes.raw)):
        if "html" not in raw.get("format", "").split():
            continue
        text = raw.astext()
        if not text.startswith(WIDGET_VIEW):
            if "<table" in text:
                raw.replace_self(_html_tables(text))
            continue
        if state is None:
            state = _widget_state(app, app.env.docname)
        view = json.loads(text[len(WIDGET_VIEW):].removesuffix("</script>"))
        images = []
        for index, png in enumerate(_frames(state, view["model_id"])):
            path = folder / f"{view['model_id']}-{index}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(png)
            uri = "/" + os.path.relpath(path.resolve(), Path(app.srcdir).resolve())
            images.append(nodes.image(uri=uri, candidates={"*": uri}))
        if not images:
            logging.getLogger(__name__).warning(
                "a widget output has no PNG frame to print", location=raw, type="lossbook"
            )
        raw.replace_self(images)


def setup(app) -> dict:
    app.add_config_value("lossbook_repository", "", "html")
    app.add_config_value("lossbook_pdf", "", "html")
    # Before the theme reads its options (builder-inited) and before Sphinx hashes the config.
    app.connect("config-inited", _apply_repository)
    app.connect("html-page-context", _link_pdf, priority=600)
    app.connect("build-finished", _copy_pdf)
    # Before Sphinx's image collector (priority 500) lists the images to copy.
    app.connect("doctree-read", _print_outputs, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
