"""The published site, in a browser: build the book cold, serve it, and open every page.

The book is built once per session into a fresh temporary folder, so the notebooks run
with an empty cache and the developer's ``_build`` is left alone. Under `make test` that
folder starts with the notebook cache of the same run (``LOSSBOOK_NOTEBOOK_CACHE``, filled by
``tests/test_notebooks.py``), so the build renders the notebooks without executing them
again. The HTML is served from 127.0.0.1 and opened in Debian's Chromium through Playwright.
Every page must load with no request to another host, no failed request or error status, no
console or page error, its math typeset, its widgets rendered and its images loaded. On the
widget page, moving the slider must show the frame drawn for the new value, with no kernel.

Set ``LOSSBOOK_SCREENSHOTS`` to a folder to keep screenshots of the widget page there.
Set ``LOSSBOOK_BUILT`` to the ``--path-output`` folder of a build already made (for example
``_build_me``, holding ``_build/html``) to test that build instead of building the book again;
``test_build_succeeds`` is then skipped, since the test did not see that build's log.
"""

from __future__ import annotations

import base64
import fcntl
import functools
import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

pytest.importorskip(
    "playwright.sync_api",
    reason="the site tests drive Chromium with Playwright, whose Python package is not installed",
)
from playwright.sync_api import Error as PlaywrightError  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402
from sphinx_external_toc.parsing import parse_toc_yaml  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import execute_notebooks  # noqa: E402

# The whole book, built once for all test workers, which share this file's tests by page
# (tests/conftest.py).
pytestmark = pytest.mark.book

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
# Without the --disable-* and --no-first-run flags Chromium itself calls outside hosts.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
]
# A cold build executes every notebook (about 8 minutes alone on 2 cores); with the run's
# notebook cache (LOSSBOOK_NOTEBOOK_CACHE, see tests/test_notebooks.py) it only renders.
BUILD_TIMEOUT_S = 1800
NOTEBOOK_CACHE_VARIABLE = execute_notebooks.CACHE_VARIABLE
TIMEOUT_MS = 30_000
MAX_HTML_BYTES = 3 * 1024 * 1024
WIDGET_PAGE = "chapters/classification/bce_with_logits.html"
SLIDER_PRESSES = 3
# Pages Sphinx and Jupyter Book write besides the documents of the table of contents
# ("index" redirects to the root document).
GENERATED_PAGES = ["index", "genindex", "search"]

MATHJAX_STARTED = "() => window.MathJax && MathJax.startup && MathJax.startup.promise"
WIDGETS_RENDERED = """() => [...document.querySelectorAll(
    'script[type="application/vnd.jupyter.widget-view+json"]')].every(view => {
        const area = view.previousElementSibling;
        return area && area.matches(".widget-subarea") && area.querySelector(".jupyter-widgets");
    })"""
IMAGES_SETTLED = "() => [...document.images].every(img => img.complete)"
BROKEN_IMAGES = """() => [...document.images]
    .filter(img => !(img.complete && img.naturalWidth > 0))
    .map(img => (img.currentSrc || img.src || img.outerHTML).slice(0, 120))"""
UNTYPESET_MATH = r"""() => [...document.querySelectorAll(".math")]
    .filter(el => !el.querySelector("mjx-container") || /\\\(|\\\[|\$\$/.test(el.textContent))
    .map(el => el.textContent.trim().slice(0, 80))"""
NEW_FRAME_SHOWN = """src => [...document.querySelectorAll(".widget-image")]
    .some(img => img.offsetParent && img.src !== src)"""
# SHA-256 of the bytes of each widget image that is shown (not hidden by its Stack).
SHOWN_FRAMES = """async () => {
    const shown = [...document.querySelectorAll(".widget-image")].filter(img => img.offsetParent);
    return Promise.all(shown.map(async img => {
        const bytes = await (await fetch(img.src)).arrayBuffer();
        const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
        const hex = [...digest].map(byte => byte.toString(16).padStart(2, "0")).join("");
        return {src: img.src, sha256: hex};
    }));
}"""


def expected_pages() -> list[str]:
    """The HTML pages the build must write: the table of contents' documents and Sphinx's own."""
    documents = list(parse_toc_yaml(REPO / "_toc.yml"))
    return sorted(f"{name}.html" for name in documents + GENERATED_PAGES)


PAGES = expected_pages()


@dataclass
class Build:
    """How the book build ended, where its log is, and where it wrote the HTML."""

    returncode: int | None  # None: a build made outside the test (LOSSBOOK_BUILT)
    seconds: float
    log: Path
    html: Path


@pytest.fixture(scope="session")
def build(tmp_path_factory) -> Build:
    """Build the book cold into a fresh folder (the notebook cache lives there too), or take
    the build that ``LOSSBOOK_BUILT`` names.

    The tests of this file are spread over the test workers, which share one build: the first
    to get here builds, under a lock, and leaves its exit status and time beside the output."""
    built = os.environ.get("LOSSBOOK_BUILT")
    if built:
        output = Path(built).resolve()
        return Build(None, 0.0, output / "build.log", output / "_build" / "html")
    run_folder = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        run_folder = run_folder.parent  # the run's folder, above each worker's
    output = run_folder / "book"
    output.mkdir(exist_ok=True)
    log, status = output / "build.log", output / "status.json"
    with (output / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not status.is_file():
            notebook_cache = os.environ.get(NOTEBOOK_CACHE_VARIABLE)
            if notebook_cache:
                shutil.copytree(notebook_cache, output / "_build" / ".jupyter_cache")
            jupyter_book = Path(sys.executable).parent / "jupyter-book"
            command = [jupyter_book, "build", REPO, "--path-output", output]
            command += ["--warningiserror", "--keep-going"]
            start = time.monotonic()
            with log.open("w") as stream:
                result = subprocess.run(
                    command, stdout=stream, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT_S, check=False
                )
            status.write_text(json.dumps([result.returncode, time.monotonic() - start]))
    returncode, seconds = json.loads(status.read_text())
    return Build(returncode, seconds, log, output / "_build" / "html")


@pytest.fixture(scope="session")
def site(build: Build) -> Path:
    """The built HTML folder; fails the tests that need it if the build wrote none."""
    if not (build.html / "index.html").is_file():
        pytest.fail(f"the build wrote no HTML into {build.html}: see test_build_succeeds")
    return build.html


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder without printing an access log."""

    def log_message(self, format, *args):  # noqa: A002 (the base class's signature)
        pass


@pytest.fixture(scope="session")
def base_url(site: Path):
    """Serve the site from 127.0.0.1 on a free port for the whole session."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(site))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless; Playwright never downloads a browser here."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (make test does)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A page in a fresh browser context (empty storage and cache)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


@dataclass
class Loaded:
    """A page of the site opened in a fresh context, and what went wrong while it loaded."""

    page: object
    recorded: list[str]  # requests, console and page errors (record_problems), still recording
    unfinished: list[str]  # what did not finish in time (open_page)


class LoadedPages:
    """Each page of the site, loaded once for the tests that only read it, and resized for
    each width they ask for.

    Loading a page (math typeset, widgets and images done) is most of a browser test's time.
    The tests of one page run one after another on one worker (tests/conftest.py groups them
    by page, 1280 px before 390 px), so the page loaded last is kept until a test asks for
    another. A test at another width gets the same page with the window resized, as a reader
    turning a tablet would: the layout at each width is CSS's (media queries) and lossbook.js's
    (which marks wide equations again on every resize), with nothing decided once at load.
    Loading the API and divergences pages again at 390 px took 6.8 and 7.3 s of Chromium's CPU,
    resizing them 1.0 and 1.2 s. test_a_resized_page_is_laid_out_as_one_loaded_at_that_width
    checks that the two agree.
    """

    def __init__(self, browser, base_url: str):
        self.browser, self.base_url = browser, base_url
        self.key, self.loaded, self.context = None, None, None

    def load(self, path: str, width: int) -> Loaded:
        if self.key == (path, width):
            return self.loaded
        if self.key is not None and self.key[0] == path:
            resize(self.loaded.page, width)
            self.key = (path, width)
        else:
            self.close()
            self.context = self.browser.new_context(viewport={"width": width, "height": 900})
            self.context.set_default_timeout(TIMEOUT_MS)
            page = self.context.new_page()
            recorded = record_problems(page, self.base_url)
            self.loaded = Loaded(page, recorded, open_page(page, self.base_url + path))
            self.key = (path, width)
        return self.loaded

    def close(self):
        if self.context is not None:
            self.context.close()
        self.key, self.loaded, self.context = None, None, None


@pytest.fixture(scope="session")
def loaded_pages(browser, base_url):
    pages = LoadedPages(browser, base_url)
    yield pages
    pages.close()


@pytest.fixture(scope="session")
def screenshots() -> Path | None:
    """The folder named by LOSSBOOK_SCREENSHOTS, created if needed; None when it is not set."""
    folder = os.environ.get("LOSSBOOK_SCREENSHOTS")
    if not folder:
        return None
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path


def record_problems(page, base_url: str) -> list[str]:
    """Start recording, as readable lines, everything the page does that a clean page must not."""
    problems: list[str] = []

    def on_request(request):
        local = request.url.startswith(base_url) or urlsplit(request.url).scheme in ("data", "blob")
        if not local:
            problems.append(f"request to another host: {request.url}")

    def on_response(response):
        if response.status >= 400:
            problems.append(f"HTTP {response.status}: {response.url}")

    def on_console(message):
        if message.type == "error":
            problems.append(f"console error: {message.text} (at {message.location['url']})")

    page.on("request", on_request)
    page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url} ({r.failure})"))
    page.on("response", on_response)
    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    return problems


def wait_for(page, expression: str, what: str, arg=None) -> list[str]:
    """Wait until the JavaScript function ``expression`` returns a truthy value for ``arg``.

    Returns a problem line if it does not within the timeout.
    """
    try:
        page.wait_for_function(expression, arg=arg)
    except PlaywrightError:
        return [f"{what}: not done within {TIMEOUT_MS // 1000} s"]
    return []


def open_page(page, url: str) -> list[str]:
    """Open ``url``, follow a meta refresh, and wait until math, widgets and images are done.

    Returns a problem line for each thing that did not finish in time.
    """
    page.goto(url)
    refresh = page.locator('meta[http-equiv="refresh" i]')
    if refresh.count():
        target = urljoin(url, refresh.get_attribute("content").split("url=", 1)[1].strip())
        page.wait_for_url(target)
    problems = []
    if page.locator(".math").count():
        problems += wait_for(page, MATHJAX_STARTED, "MathJax loaded")
        if not problems:
            page.evaluate("() => MathJax.startup.promise")
    problems += wait_for(page, WIDGETS_RENDERED, "widgets rendered")
    problems += wait_for(page, IMAGES_SETTLED, "images loaded")
    page.evaluate("() => document.fonts.ready.then(() => true)")
    page.wait_for_load_state("networkidle")
    return problems


def resize(page, width: int) -> None:
    """Give ``page`` a window ``width`` px wide, and wait until what listens to the resize
    (lossbook.js marks wide equations in the next animation frame) has run."""
    page.set_viewport_size({"width": width, "height": 900})
    page.wait_for_function("width => window.innerWidth === width", arg=width)
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")


def test_build_succeeds(build: Build):
    """The book builds cold with warnings as errors."""
    if build.returncode is None:
        pytest.skip("LOSSBOOK_BUILT names a build made outside this test; its log is not checked")
    tail = "\n".join(build.log.read_text(errors="replace").splitlines()[-60:])
    assert build.returncode == 0, (
        f"jupyter-book build exited {build.returncode} after {build.seconds:.0f} s; "
        f"end of {build.log}:\n{tail}"
    )


def test_build_took_every_notebook_from_the_runs_cache(build: Build):
    """Under `make test` each notebook runs once (tests/test_notebooks.py), not again here."""
    if build.returncode is None or not os.environ.get(NOTEBOOK_CACHE_VARIABLE):
        pytest.skip("no notebook cache was handed to this build (LOSSBOOK_NOTEBOOK_CACHE)")
    log = build.log.read_text(errors="replace")
    executed = [line for line in log.splitlines() if "Executing notebook" in line]
    assert not executed, "the build executed notebooks again:\n" + "\n".join(executed)
    assert log.count("Using cached notebook") == len(execute_notebooks.notebooks())


def test_every_built_page_is_tested(site: Path):
    """The pages below are exactly the pages built (theme fragments in _static are not pages)."""
    built = sorted(
        path.relative_to(site).as_posix()
        for path in site.rglob("*.html")
        if path.relative_to(site).parts[0] != "_static"
    )
    assert built == PAGES


ICON_LINK = re.compile(r'<link\b[^>]*\brel="(?:shortcut )?icon"[^>]*\bhref="([^"]+)"')


@pytest.mark.parametrize("path", PAGES)
def test_page_names_the_books_icon(path: str, site: Path):
    """Every page links an icon the site has; the root redirect carries that icon inline.

    A page without one makes the browser ask for /favicon.ico, which the site does not have: a
    404 in the console. On the redirect page a link to the file is a request that the refresh
    aborts when it wins the race. Both happen only now and then, so a browser test alone
    cannot be relied on to see them.
    """
    html = (site / path).read_text(encoding="utf-8")
    icons = ICON_LINK.findall(html)
    assert icons, f"{path} links no icon"
    for href in icons:
        if path == "index.html":
            assert href.startswith("data:image/svg+xml;base64,"), f"{path}: icon {href[:60]} is not inline"
            inline = base64.b64decode(href.split(",", 1)[1])
            assert inline == (site / "_static" / "favicon.svg").read_bytes(), f"{path}: not the book's icon"
        else:
            assert (site / path).parent.joinpath(href).resolve().is_file(), f"{path}: icon {href} is missing"


@pytest.mark.parametrize("path", PAGES)
def test_page(path: str, site: Path, loaded_pages: LoadedPages):
    """The page is small, self-contained and error-free, and everything on it renders."""
    loaded = loaded_pages.load(path, 1280)
    page = loaded.page
    problems = loaded.recorded + loaded.unfinished
    problems += [f"math not typeset: {text!r}" for text in page.evaluate(UNTYPESET_MATH)]
    problems += [f"image not loaded: {src}" for src in page.evaluate(BROKEN_IMAGES)]
    size = (site / path).stat().st_size
    if size >= MAX_HTML_BYTES:
        problems.append(f"HTML is {size / 2**20:.1f} MB, over {MAX_HTML_BYTES / 2**20:.0f} MB")
    assert not problems, f"{path}:\n" + "\n".join(problems)


# Chapter pages (not the part index pages): the argument must read without opening code.
CHAPTER_PAGES = [p for p in PAGES if p.startswith("chapters/") and not p.endswith("/index.html")]
CODE_SHARE_MAX = 1 / 3
# Height of the code a reader sees with every fold closed: the inputs shown, plus the
# "Show code cell source" line of each folded one. Cells tagged remove-input (the listings
# of the library's formulas) have no input on the page, so they do not count.
CODE_SHARE = """() => {
    const article = document.querySelector("article.bd-article");
    const shown = [...article.querySelectorAll(".cell_input, details.above-input > summary")]
        .filter(el => el.checkVisibility());
    const code = shown.reduce((sum, el) => sum + el.getBoundingClientRect().height, 0);
    return {code, page: article.getBoundingClientRect().height};
}"""


@pytest.mark.parametrize("path", CHAPTER_PAGES)
def test_code_is_at_most_a_third_of_the_page(path: str, loaded_pages: LoadedPages):
    """With folded cells closed, code takes at most a third of a chapter page's height."""
    loaded = loaded_pages.load(path, 1280)
    assert not loaded.unfinished
    heights = loaded.page.evaluate(CODE_SHARE)
    share = heights["code"] / heights["page"]
    assert share <= CODE_SHARE_MAX, (
        f"{path}: code is {share:.0%} of the page's height ({heights['code']:.0f} of "
        f"{heights['page']:.0f} px), over {CODE_SHARE_MAX:.0%}: fold long checks (hide-input)"
    )


def slider_frames(html: str) -> dict[str, str]:
    """Map each slider label to the SHA-256 of the frame drawn for it (from the widget state)."""
    match = re.search(
        r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>', html, re.DOTALL
    )
    assert match, "the page embeds no widget state"
    models = json.loads(match.group(1))["state"]

    def model(reference: str) -> dict:
        return models[reference.removeprefix("IPY_MODEL_")]["state"]

    links = [m["state"] for m in models.values() if m["model_name"] == "LinkModel"]
    assert len(links) == 1, f"expected one slider jslinked to a Stack, found {len(links)} links"
    (link,) = links
    slider, stack = model(link["source"][0]), model(link["target"][0])
    frames = []
    for child in stack["children"]:
        (buffer,) = models[child.removeprefix("IPY_MODEL_")]["buffers"]
        frames.append(hashlib.sha256(base64.b64decode(buffer["data"])).hexdigest())
    return dict(zip(slider["_options_labels"], frames, strict=True))


def shown_frame(page) -> dict:
    """The ``src`` and SHA-256 of the one widget image shown."""
    shown = page.evaluate(SHOWN_FRAMES)
    assert len(shown) == 1, f"expected one visible widget image, found {len(shown)}"
    return shown[0]


def test_slider_changes_frame(site: Path, base_url: str, page, screenshots: Path | None):
    """With no kernel, moving the slider shows the frame the notebook drew for the new value."""
    frames = slider_frames((site / WIDGET_PAGE).read_text())
    labels = list(frames)
    assert len(set(frames.values())) == len(frames), "two slider values have the same frame"
    assert not open_page(page, base_url + WIDGET_PAGE)
    readout, handle = page.locator(".widget-readout"), page.locator(".noUi-handle")
    widget = page.locator(".widget-vbox")

    before = readout.inner_text().strip()
    frame_before = shown_frame(page)
    assert frame_before["sha256"] == frames[before], f"the frame shown is not the one for {before}"
    assert labels.index(before) >= SLIDER_PRESSES, f"the slider starts too far left ({before})"
    if screenshots:
        page.screenshot(path=screenshots / "bce_with_logits-light-full.png", full_page=True)
        widget.screenshot(path=screenshots / "bce_with_logits-slider-before.png")

    errors = record_problems(page, base_url)
    handle.focus()
    for _ in range(SLIDER_PRESSES):
        page.keyboard.press("ArrowLeft")
    assert not wait_for(page, NEW_FRAME_SHOWN, "new frame after the move", frame_before["src"])

    after = readout.inner_text().strip()
    frame_after = shown_frame(page)
    assert after == labels[labels.index(before) - SLIDER_PRESSES], f"readout {before} -> {after}"
    assert frame_after["src"] != frame_before["src"]
    assert frame_after["sha256"] == frames[after], f"the frame shown is not the one for {after}"
    assert frame_after["sha256"] != frame_before["sha256"]
    assert not errors, "\n".join(errors)
    if screenshots:
        widget.screenshot(path=screenshots / "bce_with_logits-slider-after.png")


def test_dark_mode(base_url: str, page, screenshots: Path | None):
    """The theme's dark mode (pydata-sphinx-theme's data-theme) restyles the widget page."""
    assert not open_page(page, base_url + WIDGET_PAGE)
    background = "() => getComputedStyle(document.body).backgroundColor"
    light = page.evaluate(background)
    page.evaluate("() => { document.documentElement.dataset.theme = 'dark'; }")
    dark = page.evaluate(background)
    assert dark != light, f"the background stays {light} in dark mode"
    if screenshots:
        page.screenshot(path=screenshots / "bce_with_logits-dark-full.png", full_page=True)


# Slider figures (lossfns.plot.slider_figure) with two or more sliders, and every figure's
# caption, alt text, size and dark-mode look.
FIGURE_CLASS = "lossbook-figure"
MIN_MULTI_SLIDER_FIGURES = 4
# Frames and static figures are drawn at 96 dpi with text of at least 10 pt
# (lossfns.plot.DPI, MIN_FONT_PT): shown at 0.9 of their natural width or more, text is 9 pt.
MIN_FIGURE_SCALE = 0.9
SHOWN_FRAME_IN = """async figure => {
    const shown = [...figure.querySelectorAll(".widget-image")].filter(img => img.offsetParent);
    if (shown.length !== 1) return {count: shown.length};
    const bytes = await (await fetch(shown[0].src)).arrayBuffer();
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    return {count: 1, alt: shown[0].alt,
            sha256: [...digest].map(byte => byte.toString(16).padStart(2, "0")).join("")};
}"""
SLIDER_TEXT_COLORS = """() => [...document.querySelectorAll(
    ".lossbook-figure .widget-label, .lossbook-figure .widget-readout")]
    .map(el => getComputedStyle(el).color)"""
FIGURE_IMAGES = """() => [...document.querySelectorAll("article .cell_output img")]
    .filter(img => img.offsetParent).map(img => {
        const figure = img.closest("figure");
        const caption = figure && figure.querySelector("figcaption");
        const style = getComputedStyle(img);
        let card = null;  // a background between the figure and the page
        for (let e = img.parentElement; e && !e.matches("article"); e = e.parentElement) {
            const color = getComputedStyle(e).backgroundColor;
            if (color !== "rgba(0, 0, 0, 0)" && color !== "transparent") { card = color; break; }
        }
        return {src: (img.currentSrc || img.src).slice(-60), alt: img.alt, card,
                natural: img.naturalWidth, shown: img.getBoundingClientRect().width,
                number: caption ? (caption.querySelector(".caption-number") || {}).textContent : null,
                caption: caption ? caption.textContent.trim() : null,
                filter: style.filter, background: style.backgroundColor};
    })"""


def widget_state(html: str) -> dict:
    match = re.search(
        r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>', html, re.DOTALL
    )
    return json.loads(match.group(1))["state"] if match else {}


def slider_figures(html: str) -> list[dict]:
    """Each slider figure of a page, in page order: its slider labels and, for every
    combination of slider positions, the SHA-256 of the frame drawn for it."""
    models = widget_state(html)

    def state(reference: str) -> dict:
        return models[reference.removeprefix("IPY_MODEL_")]

    def frames(node: dict, path: tuple = ()) -> dict:
        if node["model_name"] == "ImageModel":
            (buffer,) = node["buffers"]
            return {path: hashlib.sha256(base64.b64decode(buffer["data"])).hexdigest()}
        found = {}
        for index, child in enumerate(node["state"]["children"]):
            found.update(frames(state(child), path + (index,)))
        return found

    figures = []
    for model_id in re.findall(r'"model_id": "([0-9a-f]+)"', html):  # the views, in page order
        model = models.get(model_id, {"state": {}})
        if FIGURE_CLASS in model["state"].get("_dom_classes", ()):
            children = [state(c) for c in model["state"]["children"]]
            labels = [c["state"]["_options_labels"] for c in children if "_options_labels" in c["state"]]
            (stack,) = [c for c in children if c["model_name"] == "StackModel"]
            figures.append({"labels": labels, "frames": frames(stack)})
    return figures


def frame_shown(page, figure, expected: str) -> dict:
    """The frame shown in ``figure`` once it is ``expected`` (or when the timeout is up)."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        shown = figure.evaluate(SHOWN_FRAME_IN)
        if shown.get("sha256") == expected or time.monotonic() > deadline:
            return shown
        page.wait_for_timeout(100)


def multi_slider_pages(site: Path) -> dict[str, list[dict]]:
    pages = {}
    for path in PAGES:
        figures = slider_figures((site / path).read_text()) if (site / path).exists() else []
        if any(len(f["labels"]) > 1 for f in figures):
            pages[path] = figures
    return pages


def test_multi_slider_figures_move_every_slider(site: Path, base_url: str, page, screenshots):
    """With no kernel, every slider of every figure with two or more sliders moves, and the
    frame shown is byte for byte the one drawn for the combination the readouts show."""
    pages = multi_slider_pages(site)
    count = sum(len(f["labels"]) > 1 for figures in pages.values() for f in figures)
    assert count >= MIN_MULTI_SLIDER_FIGURES, f"{count} figures have two or more sliders"
    for path, figures in pages.items():
        assert not open_page(page, base_url + path)
        errors = record_problems(page, base_url)
        elements = page.locator(f".{FIGURE_CLASS}")
        assert elements.count() == len(figures), f"{path}: figures in the page and its state differ"
        for number, figure in enumerate(figures):
            if len(figure["labels"]) < 2:
                continue
            element = elements.nth(number)
            element.scroll_into_view_if_needed()
            readouts = element.locator(".widget-readout")
            handles = element.locator(".noUi-handle")
            assert readouts.count() == handles.count() == len(figure["labels"])

            def combination() -> tuple:
                texts = [readouts.nth(k).inner_text().strip() for k in range(readouts.count())]
                return tuple(labels.index(t) for labels, t in zip(figure["labels"], texts))

            def check(moved: str):
                chosen = combination()
                where = f"{path}, figure {number + 1}, {moved}, positions {chosen}"
                shown = frame_shown(page, element, figure["frames"][chosen])
                assert shown["count"] == 1, f"{where}: {shown['count']} frames shown"
                assert shown["sha256"] == figure["frames"][chosen], (
                    f"{where}: the frame shown is not the one drawn for that combination"
                )
                assert shown["alt"].strip(), f"{where}: the frame has no alt text"

            check("as loaded")
            for k, labels in enumerate(figure["labels"]):
                before = combination()
                key = "ArrowRight" if before[k] + 1 < len(labels) else "ArrowLeft"
                handles.nth(k).focus()
                for _ in range(2 if len(labels) > 2 else 1):
                    page.keyboard.press(key)
                after = combination()
                assert after[k] != before[k] and after[:k] + after[k + 1:] == before[:k] + before[k + 1:]
                check(f"slider {k + 1} moved to {labels[after[k]]}")
            if screenshots:
                element.screenshot(path=screenshots / f"{Path(path).stem}-figure{number + 1}.png")
        assert not errors, "\n".join(errors)


# What the notebooks drew into a page: images in cells' outputs, and widget views (a slider
# figure shows one frame of its Stack), shown or not.
FIGURES_DRAWN = """.cell_output img, .cell_output script[type="application/vnd.jupyter.widget-view+json"]"""


def test_the_book_draws_figures(site: Path):
    # pages with no output cell are not parsed (the API page alone took 5 s)
    drawn = (p for p in PAGES if 'class="cell_output' in (site / p).read_text())
    assert any(built_soup(site, path).select(f"article :is({FIGURES_DRAWN})") for path in drawn), (
        "the book shows no figure"
    )


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("width", [1280, 390], ids=lambda width: f"{width}px")
def test_figures_are_numbered_described_readable_and_themed(
    path: str, width: int, site: Path, loaded_pages: LoadedPages, screenshots
):
    """Every figure is numbered and captioned, has alt text, is shown large enough for 9 pt
    text (at 1280 px), and in dark mode is inverted on a transparent background instead of
    sitting on a white card.

    One test per page and width, on the page loaded for the page's other tests (LoadedPages),
    so the pages spread over the workers: as one sweep over every page per width, the two
    tests took 78 s and 60 s of one worker each (make test, 2 workers), loading each page a
    second time."""
    loaded = loaded_pages.load(path, width)
    page = loaded.page
    assert not loaded.unfinished
    problems, scales = [], []
    images = page.evaluate(FIGURE_IMAGES)
    for image in images:
        where = f"{path} ({image['src']})"
        if not (image["number"] or "").startswith("Fig"):
            problems.append(f"{where}: not in a numbered figure")
        if len(image["alt"].strip()) < 20 or re.search(r"\.(png|svg|jpg)\b", image["alt"]):
            problems.append(f"{where}: alt text {image['alt']!r} does not say what it shows")
        scales.append(image["shown"] / image["natural"])
        if width >= 1280 and image["shown"] < MIN_FIGURE_SCALE * image["natural"] - 1:
            problems.append(
                f"{where}: shown at {image['shown']:.0f} of {image['natural']} px, "
                f"text under 9 pt"
            )
    if page.locator(f"article :is({FIGURES_DRAWN})").count():
        assert images, f"{path}: the notebook drew figures, but the page at {width} px shows none"
    # Dark mode, then back: the page stays loaded for this page's other tests.
    theme = page.evaluate("() => document.documentElement.dataset.theme")
    page.evaluate("() => { document.documentElement.dataset.theme = 'dark'; }")
    try:
        text = page.evaluate("() => getComputedStyle(document.body).color")
        for color in page.evaluate(SLIDER_TEXT_COLORS):
            if color != text:
                problems.append(f"{path}: a slider's label or readout is {color} in dark mode, not {text}")
        for image in page.evaluate(FIGURE_IMAGES):
            card = image["card"] or image["background"]
            if "invert" not in image["filter"] or card not in ("rgba(0, 0, 0, 0)", "transparent"):
                problems.append(f"{path} ({image['src']}): dark mode shows {image['filter']} on {card}")
        if screenshots and images:
            page.screenshot(path=screenshots / f"{Path(path).stem}-dark-{width}.png", full_page=True)
    finally:
        page.evaluate("""theme => { if (theme === null) delete document.documentElement.dataset.theme;
                                    else document.documentElement.dataset.theme = theme; }""", theme)
    if scales:
        print(f"{path} at {width} px: figures shown at {min(scales):.2f}-{max(scales):.2f} of their natural width")
    assert not problems, "\n".join(problems)


ERRATUM_CLASS = re.compile(r'class="[^"]*\berratum\b')


def test_errata_page_lists_every_erratum(site: Path):
    """The errata appendix links to each erratum admonition of the book, and to nothing else."""
    from bs4 import BeautifulSoup

    def soup(path: Path) -> BeautifulSoup:
        return BeautifulSoup(path.read_text(), "html.parser")

    admonitions = {
        (path.relative_to(site).as_posix(), div.get("id"))
        for path in site.rglob("*.html")
        if ERRATUM_CLASS.search(path.read_text())  # parsing every page took 12 s of CPU
        for div in soup(path).select("div.admonition.erratum")
    }
    assert admonitions, "the book has no erratum admonition"
    errata_page = site / "appendix" / "errata.html"
    links = {
        (
            (errata_page.parent / link["href"].split("#")[0]).resolve().relative_to(site).as_posix(),
            link["href"].split("#")[1],
        )
        for link in soup(errata_page).select("article a.reference[href*='#erratum-']")
    }
    assert links == admonitions


def _page_text(html: str) -> str:
    import html as html_module

    return html_module.unescape(re.sub(r"<[^>]+>", "", html))


def test_every_loss_formula_is_shown_on_the_page_that_derives_it(site: Path):
    # the book shows the library's own code: each public loss's formula functions, as
    # rendered from lossfns's source, on the page its docstring links to
    sys.path.insert(0, str(REPO / "tools"))
    import library_formulas

    import lossfns

    missing = []
    for (notebook, label), names in library_formulas.sections().items():
        text = _page_text((site / notebook).with_suffix(".html").read_text())
        for name in names:
            for formula in getattr(lossfns, name).formulas:
                if f"def {formula.__name__}(" not in text:
                    missing.append(f"{name}: {formula.__name__} not on {notebook}")
    assert not missing, missing


# --- Reading the pages (issue 15): equations, links, navigation --------------------------------

WIDTHS = [1280, 390]
GENERATED_PAGES_HTML = {f"{name}.html" for name in GENERATED_PAGES}
# The API page's display equations come from the library's docstrings; those too wide for the
# column at 1280 px scroll (with the cue) until the docstrings break them over lines.
MAY_SCROLL_AT_1280 = {"appendix/api.html"}
# A display equation too wide for its box must scroll inside it and show the "scroll" label
# (lossbook.js and lossbook.css: headless Chromium, like a phone, draws no scrollbar), its number
# must not cover it, and inline math must stay inside its line.
EQUATION_PROBLEMS = """mayScroll => {
    const problems = [];
    const text = el => el.textContent.replace(/\\s+/g, " ").trim().slice(0, 60);
    const root = document.documentElement;
    if (root.scrollWidth > root.clientWidth + 1) {
        problems.push(`the page scrolls sideways (${root.scrollWidth} > ${root.clientWidth} px)`);
    }
    for (const math of document.querySelectorAll("div.math")) {
        const box = math.querySelector("mjx-container");
        if (!box) continue;
        const wide = box.scrollWidth > box.clientWidth + 1 || math.scrollWidth > math.clientWidth + 1;
        if (wide) {
            const scrolls = ["auto", "scroll"].includes(getComputedStyle(box).overflowX);
            const cue = getComputedStyle(math, "::after").content;
            if (!scrolls || math.scrollWidth > math.clientWidth + 1) {
                problems.push(`cut, not scrollable: ${text(math)}`);
            } else if (!math.classList.contains("lb-scrolls") || ["none", "normal", ""].includes(cue)) {
                problems.push(`scrolls with no visible cue: ${text(math)}`);
            } else if (!mayScroll) {
                problems.push(`wider than the column (${box.scrollWidth} > ${box.clientWidth} px): ${text(math)}`);
            }
        }
        const number = math.querySelector(".eqno");
        const formula = box.querySelector("mjx-math");
        if (number && formula) {
            const n = number.getBoundingClientRect(), f = formula.getBoundingClientRect();
            const b = box.getBoundingClientRect();
            // the part of the formula that is drawn: clipped by its scrolling box
            const left = Math.max(f.left, b.left), right = Math.min(f.right, b.right);
            const across = Math.min(n.right, right) - Math.max(n.left, left);
            const down = Math.min(n.bottom, f.bottom) - Math.max(n.top, f.top);
            if (across > 0.5 && down > 0.5) problems.push(`number covers the equation: ${text(math)}`);
        }
    }
    for (const box of document.querySelectorAll("span.math > mjx-container")) {
        let block = box.parentElement;
        while (block && getComputedStyle(block).display.startsWith("inline")) block = block.parentElement;
        const right = block.getBoundingClientRect().right;
        if (box.getBoundingClientRect().right > right + 1 && box.scrollWidth <= box.clientWidth + 1) {
            problems.push(`inline math runs past its line: ${text(box)}`);
        }
    }
    return problems;
}"""


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("width", WIDTHS, ids=lambda width: f"{width}px")
def test_no_equation_is_cut(path: str, width: int, loaded_pages: LoadedPages):
    """At 1280 and 390 px no equation is cut: it fits, or scrolls in its own box with a cue."""
    loaded = loaded_pages.load(path, width)
    page = loaded.page
    assert not loaded.unfinished
    page.wait_for_function("() => document.readyState === 'complete'")
    may_scroll = width < 1280 or path in MAY_SCROLL_AT_1280
    problems = page.evaluate(EQUATION_PROBLEMS, may_scroll)
    assert not problems, f"{path} at {width} px:\n" + "\n".join(problems)


# Where everything a reader sees is laid out: the page's width and height, each display and
# inline formula's box and marks, each figure's size, the headings and the sidebars.
LAYOUT = """() => {
    const box = el => { const r = el.getBoundingClientRect();
                        return [r.left, r.top, r.width, r.height].map(v => Math.round(v * 4) / 4); };
    const shown = el => el.checkVisibility();
    const all = selector => [...document.querySelectorAll(selector)];
    return {
        page: [document.documentElement.scrollWidth, document.documentElement.scrollHeight],
        display: all("div.math").map(m => [m.className, ...box(m)]),
        inline: all("span.math > mjx-container").map(m => [m.className, ...box(m)]),
        figures: all("article img").filter(shown).map(box),
        headings: all("article :is(h1, h2, h3)").map(box),
        shown: all(".bd-sidebar-primary, .bd-sidebar-secondary, .bd-header, .search-button")
            .map(el => [el.className, shown(el)]),
    };
}"""
# The page of the most formulas and figures, with slider figures and wide equations.
LAYOUT_PAGE = "chapters/information/divergences.html"


def test_a_resized_page_is_laid_out_as_one_loaded_at_that_width(browser, base_url: str):
    """LoadedPages resizes a page loaded at 1280 px for the tests at 390 px; this checks that
    the resized page is laid out as one loaded at 390 px is, to a quarter of a pixel."""
    layouts = []
    for widths in ([1280, 390], [390]):
        context = browser.new_context(viewport={"width": widths[0], "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        try:
            page = context.new_page()
            assert not open_page(page, base_url + LAYOUT_PAGE)
            for width in widths[1:]:
                resize(page, width)
            layouts.append(page.evaluate(LAYOUT))
        finally:
            context.close()
    resized, loaded = layouts
    assert len(loaded["display"]) > 10 and len(loaded["inline"]) > 100 and loaded["figures"], (
        "the layout read nothing"
    )
    for part in loaded:
        differ = [(a, b) for a, b in zip(resized[part], loaded[part]) if a != b]
        assert resized[part] == loaded[part], (
            f"{LAYOUT_PAGE}, {part}: resized from 1280 px to 390 px is not laid out as loaded at "
            f"390 px ({len(resized[part])} and {len(loaded[part])} items; first differences: {differ[:3]})"
        )


@functools.lru_cache(maxsize=2)
def built_soup(site: Path, path: str):
    """The built page parsed, shared by the tests that read it (a page's tests run one after
    another on one worker, tests/conftest.py), which must not change it: parsing each page
    once per test took 74 s of CPU over six tests."""
    from bs4 import BeautifulSoup

    return BeautifulSoup((site / path).read_text(), "html.parser")


def text_outside(element, skip: str) -> str:
    """``element.get_text(" ")`` without the text inside what the CSS selector ``skip`` selects."""
    skipped = {id(inner) for inner in element.select(skip)}
    return " ".join(
        string for string in element.strings if not any(id(parent) in skipped for parent in string.parents)
    )


def target_page(site: Path, page: str, href: str) -> str:
    """The site-relative page a link on ``page`` points to ('' for another host)."""
    if urlsplit(href).scheme:
        return ""
    target = href.split("#")[0]
    if not target:
        return page
    return ((site / page).parent / target).resolve().relative_to(site.resolve()).as_posix()


@pytest.mark.parametrize("path", [p for p in PAGES if p not in GENERATED_PAGES_HTML])
def test_cross_page_equation_references_name_the_page(path: str, site: Path):
    """An equation number that links to another page is followed by a link to that page."""
    article = built_soup(site, path).select_one("article")
    problems = []
    for link in article.select('a[href*="#equation-"]'):
        target = target_page(site, path, link["href"])
        if target == path:
            continue
        following = link.find_next("a")
        if following is None or target_page(site, path, following.get("href", "")) != target:
            problems.append(f"{link.get_text()} links to {target} without naming the page")
    assert not problems, f"{path}:\n" + "\n".join(problems)


NOTES_MENTION = re.compile(r"\b(study|source) notes\b|\bthe notes\b|widely read note", re.IGNORECASE)


@pytest.mark.parametrize("path", [p for p in PAGES if p not in GENERATED_PAGES_HTML])
def test_pages_that_mention_the_notes_link_to_sources(path: str, site: Path):
    """Every page that speaks of the study notes links to the Sources page that introduces them."""
    article = built_soup(site, path).select_one("article")
    if not NOTES_MENTION.search(text_outside(article, "pre, .cell_input")):
        return
    targets = {target_page(site, path, a.get("href", "")) for a in article.select("a[href]")}
    assert path == "appendix/sources.html" or "appendix/sources.html" in targets, (
        f"{path} mentions the study notes but does not link to the Sources page"
    )


def test_navigation_is_not_doubled(site: Path):
    """No sidebar caption repeats the title of the entry under it; index pages list sections once."""
    soup = built_soup(site, "intro.html")
    nav = soup.select_one("nav.bd-docs-nav")
    captions = nav.select("p.caption")
    assert captions, "the sidebar has no part captions"
    for caption in captions:
        first = caption.find_next("a")
        assert first.get_text(strip=True) != caption.get_text(strip=True), (
            f"the sidebar repeats {caption.get_text(strip=True)!r} as part and chapter"
        )
    for path in PAGES:
        if path.endswith("/index.html") and path.startswith("chapters/"):
            # Jupyter Book leaves an empty (hidden) toctree on every part page; a visible one
            # would list the sections a second time, under the page's own list of them.
            listed = [t for t in built_soup(site, path).select("article .toctree-wrapper") if t.a]
            assert not listed, f"{path} lists its sections twice (a toctree below its own list)"


@pytest.mark.parametrize("width", WIDTHS)
def test_one_search_box_and_ordered_headings(width: int, base_url: str, browser):
    """One search control is visible; h1 > h2 > h3 in size, and no heading outweighs its parent."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        assert not open_page(page, base_url + "chapters/information/divergences.html")
        searches = page.evaluate("""() => [...document.querySelectorAll(
            "button.search-button__button, form.bd-search input")]
            .filter(el => el.checkVisibility()).length""")
        assert searches == 1, f"{searches} search boxes visible at {width} px"
        styles = page.evaluate("""() => Object.fromEntries(["h1", "h2", "h3"].map(tag => {
            const style = getComputedStyle(document.querySelector(`article ${tag}`));
            return [tag, [parseFloat(style.fontSize), parseInt(style.fontWeight)]];
        }))""")
        assert styles["h1"][0] > styles["h2"][0] > styles["h3"][0], styles
        assert styles["h1"][1] >= styles["h2"][1] >= styles["h3"][1], styles
    finally:
        context.close()


STATIC_FIGURE_ALT_IS_A_PATH = re.compile(r"(^|/)_images/|\.(png|svg|jpe?g)$")


@pytest.mark.parametrize("path", [p for p in PAGES if p not in GENERATED_PAGES_HTML])
def test_static_figures_are_numbered_captioned_and_described(path: str, site: Path):
    """Every image a code cell draws sits in a numbered figure with a caption and alt text."""
    article = built_soup(site, path).select_one("article")
    problems = []
    for image in article.select(".cell_output img"):
        figure = image.find_parent("figure")
        caption = figure.find("figcaption") if figure else None
        number = caption.select_one(".caption-number") if caption else None
        alt = (image.get("alt") or "").strip()
        where = image.get("src", "")[-24:]
        if not (figure and caption and caption.get_text(strip=True)):
            problems.append(f"image …{where} has no figure caption")
        elif not (number and re.fullmatch(r"Fig\. \d+", number.get_text(strip=True))):
            problems.append(f"image …{where} is not numbered")
        if len(alt) < 20 or STATIC_FIGURE_ALT_IS_A_PATH.search(alt):
            problems.append(f"image …{where} has no alt text saying what it shows ({alt[:40]!r})")
    assert not problems, f"{path}:\n" + "\n".join(problems)


E_NOTATION = re.compile(r"(?<![\w.])[-−]?\d+(?:\.\d+)?e[-+]?\d+\b")
# The API page is written by the library's docstrings ("rtol 1e-6"), which the lead owns.
E_NOTATION_EXEMPT = {"appendix/api.html"}


@pytest.mark.parametrize("path", [p for p in PAGES if p not in GENERATED_PAGES_HTML | E_NOTATION_EXEMPT])
def test_prose_numbers_are_written_for_people(path: str, site: Path):
    """No number in the prose is in Python's e-notation (1.4e-10): it reads 1.4 × 10⁻¹⁰."""
    article = built_soup(site, path).select_one("article")
    found = E_NOTATION.findall(text_outside(article, "pre, code, .cell_input, .cell_output, .math, script, style"))
    assert not found, f"{path} prints {found} in its prose: glue power_of_ten(x, digits) instead"


# TeX or a backslash escape outside the typeset math: a "$" or a command such as "\frac" that
# MyST did not turn into math (a line of a paragraph's inline math that starts with "+ " or
# "- " is read as a list item, which ends the paragraph and leaves both halves as text), or a
# "\n" typed into the prose.
LEFT_OVER_TEX = re.compile(r"\$|\\[A-Za-z]+")


@pytest.mark.parametrize("path", [p for p in PAGES if p not in GENERATED_PAGES_HTML])
def test_no_tex_is_left_in_the_prose(path: str, site: Path):
    """Every formula of a page's prose is typeset: no "$" or TeX command is left as text."""
    article = built_soup(site, path).select_one("article")
    text = text_outside(article, "pre, code, .cell_input, .cell_output, .math, script, style")
    found = [text[max(0, m.start() - 30) : m.end() + 30].replace("\n", " ")
             for m in LEFT_OVER_TEX.finditer(text)]
    assert not found, f"{path} shows TeX as text (a line starting '+ ' or '- ' inside $...$?): {found[:5]}"


# A hyphen-minus (U+002D) that starts a number: "-3.2", "(-1, 2)"; not a hyphen inside a word or
# a range ("x-1", "10-20"), nor the exponent of e-notation (refused above).
HYPHEN_MINUS_NUMBER = re.compile(r"(?<![\w.\-\u2212])-(?=\.?\d)")


@pytest.mark.parametrize("path", [p for p in PAGES if p not in GENERATED_PAGES_HTML])
def test_negative_numbers_in_prose_print_a_minus_sign(path: str, site: Path):
    """A negative number in the prose (a glued value, a typed one, a docstring's) prints the
    minus sign U+2212, as typeset math does, not the hyphen-minus Python writes ("-3.2")."""
    article = built_soup(site, path).select_one("article")
    text = text_outside(article, "pre, code, .cell_input, .math, script, style, .highlight, dt.sig")
    found = [
        "…" + text[max(0, m.start() - 30) : m.end() + 12].replace("\n", " ") + "…"
        for m in HYPHEN_MINUS_NUMBER.finditer(text)
    ]
    assert not found, (
        f"{path} prints a hyphen-minus before a number in its prose (use U+2212; glued values "
        "get it from _ext/glued_numbers.py):\n" + "\n".join(found)
    )


@pytest.mark.parametrize("path", [p for p in PAGES if p not in GENERATED_PAGES_HTML])
def test_glued_thousands_are_separated_by_a_narrow_space(path: str, site: Path):
    """A glued value prints thousands as the prose does, "454 555" (U+202F), not "454,555"."""
    pasted = built_soup(site, path).select("article span.pasted-text")
    found = [span.get_text() for span in pasted if re.search(r"\d,\d{3}(?!\d)", span.get_text())]
    assert not found, f"{path} prints glued values with comma thousands: {found}"
