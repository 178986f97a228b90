"""Three fixes that keep the browser console of every page clean.

* Sphinx 7.4 lists an inline script twice when an extension adds it after the builder has
  started (once with ``filename=None``, once with ``''``): sphinx-thebe's
  ``const THEBE_JS_URL`` then throws "already declared" on every page. Exact duplicates are
  dropped from each page's script list.
* The Jupyter widgets HTML manager typesets widget labels through MathJax 2's
  ``MathJax.Hub.Queue``; the book loads MathJax 3, so the call throws on widget pages. A
  small shim forwards it to MathJax 3's ``typesetPromise``.
* The site's root ``index.html`` redirects to the root document. sphinx-external-toc writes
  it as a bare ``<meta>`` refresh, with no icon: a browser that opens the root asks the server
  for ``/favicon.ico`` before it follows the refresh, and gets a 404 (the site has none).
  The book writes the page itself, a whole HTML document that carries the book's icon inline
  (a ``data:`` URL: a link to the file would be a request that the refresh, when it wins the
  race, aborts), so the toc extension leaves it alone.
"""

from __future__ import annotations

import base64
import mimetypes
from html import escape
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util import isurl

# Widgets render on "load", after DOMContentLoaded, so the shim is in place before them.
MATHJAX2_QUEUE_SHIM = """document.addEventListener("DOMContentLoaded", () => {
  const mathjax = window.MathJax;
  if (!mathjax || mathjax.Hub || !mathjax.startup) return;
  mathjax.Hub = {Queue: (...jobs) => jobs.forEach(([command, , element]) => {
    if (command === "Typeset") {
      mathjax.startup.promise = mathjax.startup.promise.then(() => mathjax.typesetPromise([element]));
    }
  })};
});"""


def _drop_duplicate_scripts(app: Sphinx, pagename, templatename, context, doctree) -> None:
    seen, unique = set(), []
    for script in context["script_files"]:
        key = (script.filename or "", script.priority, tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"][:] = unique


REDIRECT_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="icon" href="{icon}">
<meta http-equiv="Refresh" content="0; url={target}">
</head>
<body><p><a href="{target}">{title}</a></p></body>
</html>
"""


def _write_root_redirect(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.name != "html" or app.config.root_doc == "index":
        return
    icon = app.config.html_favicon
    if icon and not isurl(icon):
        path = Path(app.srcdir, icon)
        icon = f"data:{mimetypes.guess_type(path)[0]};base64,{base64.b64encode(path.read_bytes()).decode()}"
    Path(app.outdir, "index.html").write_text(
        REDIRECT_PAGE.format(
            title=escape(app.config.html_title or app.config.project),
            icon=icon or "data:,",
            target=f"{app.config.root_doc}.html",
        ),
        encoding="utf-8",
    )


def setup(app: Sphinx) -> dict:
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    # Before sphinx-external-toc's handler (priority 500), which writes a bare page if none exists.
    app.connect("build-finished", _write_root_redirect, priority=100)
    app.add_js_file(None, body=MATHJAX2_QUEUE_SHIM)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
