"""Serve the browser assets from the site itself, so that no page loads anything from another host.

MathJax and the Jupyter widgets HTML manager are installed from the npm registry
(``package.json`` and ``package-lock.json`` at the root; ``make`` runs ``npm ci``). After the
HTML is written, the files the pages use are copied into ``_static/vendor/``, where
``mathjax_path`` and ``nb_ipywidgets_js`` in ``_config.yml`` point. They are copied into the
output only, not kept in a source static folder, because Jupyter Book would then inject every
``.js`` file found there into every page.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

# source under node_modules -> destination under _static/vendor
ASSETS = {
    "mathjax/es5/tex-chtml.js": "mathjax/tex-chtml.js",
    "mathjax/es5/input": "mathjax/input",
    "mathjax/es5/output": "mathjax/output",
    "mathjax/es5/ui": "mathjax/ui",
    "mathjax/es5/a11y": "mathjax/a11y",
    "mathjax/es5/adaptors": "mathjax/adaptors",
    "mathjax/es5/sre": "mathjax/sre",
    "@jupyter-widgets/html-manager/dist": "html-manager",
}
SKIPPED_SUFFIXES = (".map", ".LICENSE.txt")


def _copy_assets(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    modules = Path(app.confdir) / "node_modules"
    vendor = Path(app.outdir) / "_static" / "vendor"
    for source, destination in ASSETS.items():
        src, dst = modules / source, vendor / destination
        if not src.exists():
            raise ExtensionError(f"{src} is missing: run `npm ci` (make does) before building")
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(
                src,
                dst,
                dirs_exist_ok=True,
                ignore=lambda _, names: [n for n in names if n.endswith(SKIPPED_SUFFIXES)],
            )
        else:
            shutil.copy2(src, dst)


def setup(app: Sphinx) -> dict:
    app.connect("build-finished", _copy_assets)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
