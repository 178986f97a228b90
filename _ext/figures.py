"""The book's figures: frames at build time, their dark-mode look and their alt text.

* Every kernel the build starts inherits ``LOSSBOOK_FIGURES=frames`` from this process, so
  :func:`lossfns.plot.slider_figure` precomputes its frames for the static page (a live
  session, which never loads this extension, gets continuous sliders instead).
* ``figures.css`` inverts the book's transparent figures in dark mode (instead of the
  theme's white card) and colours the sliders with the theme.
* A widget ``Image`` has no ``alt`` trait; :func:`~lossfns.plot.slider_figure` puts the text
  in a hidden HTML widget beside the frames, and a small script gives the frame shown the
  alt text "<text> Shown for <slider> = <value>, ...", updated as the sliders move.
"""

from __future__ import annotations

import os
from pathlib import Path

from sphinx.application import Sphinx

# The frame shown gets the figure's alt text and the values its sliders show.
FRAME_ALT = """document.addEventListener("DOMContentLoaded", () => {
  const describe = () => document.querySelectorAll(".lossbook-figure").forEach(figure => {
    const text = figure.querySelector(".lossbook-alt");
    if (!text) return;
    const values = [...figure.querySelectorAll(".widget-slider")].map(slider => {
      const label = slider.querySelector(".widget-label");
      const readout = slider.querySelector(".widget-readout");
      return `${label ? label.textContent.trim() : ""} = ${readout ? readout.textContent.trim() : ""}`;
    });
    const alt = `${text.textContent.trim()} Shown for ${values.join(", ")}.`;
    figure.querySelectorAll("img.widget-image").forEach(img => { if (img.alt !== alt) img.alt = alt; });
  });
  new MutationObserver(describe).observe(document.body, {
    childList: true, subtree: true, characterData: true,
  });
});"""


def _add_static_path(app: Sphinx, config) -> None:
    config.html_static_path.append(str(Path(__file__).parent / "static"))


def setup(app: Sphinx) -> dict:
    os.environ["LOSSBOOK_FIGURES"] = "frames"
    app.connect("config-inited", _add_static_path)
    app.add_css_file("figures.css")
    app.add_js_file(None, body=FRAME_ALT)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
