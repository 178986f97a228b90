"""Two fixes that keep the browser console of every page clean.

* Sphinx 7.4 lists an inline script twice when an extension adds it after the builder has
  started (once with ``filename=None``, once with ``''``): sphinx-thebe's
  ``const THEBE_JS_URL`` then throws "already declared" on every page. Exact duplicates are
  dropped from each page's script list.
* The Jupyter widgets HTML manager typesets widget labels through MathJax 2's
  ``MathJax.Hub.Queue``; the book loads MathJax 3, so the call throws on widget pages. A
  small shim forwards it to MathJax 3's ``typesetPromise``.
"""

from __future__ import annotations

from sphinx.application import Sphinx

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


def setup(app: Sphinx) -> dict:
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    app.add_js_file(None, body=MATHJAX2_QUEUE_SHIM)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
