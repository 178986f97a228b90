"""Plotting helpers for the book. matplotlib and ipywidgets are imported when called.

:func:`slider_figure` draws a figure driven by one to three sliders. It has two modes, and
the same call gives the right one wherever the notebook runs (:func:`figure_mode`):

``"frames"``, when the book is built
    Every combination of the sliders' values is drawn once, when the notebook runs, and
    the sliders and the frames are linked in the browser (nested ``ipywidgets.Stack``\\ s,
    one ``jslink`` per slider and Stack), so the published page needs no kernel: moving a
    slider shows the frame drawn for that combination.
``"live"``, in a live session (JupyterLab, ``make lab``, Binder, Colab)
    Each numeric parameter gets a continuous slider, and the figure is redrawn by the
    kernel for whatever value the reader picks, between the grid's values too.

How the mode is chosen: the environment variable ``LOSSBOOK_FIGURES`` (``frames`` or
``live``) decides when it is set; the book's build sets ``frames`` (``_ext/figures.py``
does, for every kernel ``jupyter-book build`` starts) and so do the tests (``tests/conftest.py``,
for nbval). When it is not set, a kernel that a Jupyter server started (the server gives
it ``JPY_SESSION_NAME``: JupyterLab, Notebook 7, Binder) or a Colab kernel is live, and
anything else (``jupyter execute``, nbconvert, a script) draws frames, which work everywhere.

:func:`book_style` gives every figure of the book the same readable, theme-neutral look:
text of at least :data:`MIN_FONT_PT` points at the size the page shows it, transparent
backgrounds (the site's CSS inverts figures in dark mode), and a check that refuses a
figure whose text is smaller.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import math
import numbers
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

__all__ = [
    "slider_figure",
    "figure_mode",
    "book_style",
    "check_text_size",
    "check_figure",
    "MAX_FRAMES",
    "MAX_FIGURE_BYTES",
    "MIN_FONT_PT",
    "DPI",
    "MODE_VARIABLE",
]

MAX_FRAMES = 216
MAX_FIGURE_BYTES = 2_000_000
MIN_FONT_PT = 10.0
DPI = 96
MODE_VARIABLE = "LOSSBOOK_FIGURES"
FIGURE_CLASS = "lossbook-figure"  # the VBox of a slider figure (CSS, the site's script, tests)
ALT_CLASS = "lossbook-alt"  # its hidden alt text
_MODES = ("frames", "live")
_MAX_PARAMETERS = 3
_SLIDER_LAYOUT = {"width": "min(100%, 30em)"}

# At DPI = 96 a figure shown at its natural size has text at its size in points; the page
# shrinks a figure only when the column is narrower than the figure.
STYLE = {
    "font.size": 11.0,
    "axes.titlesize": 11.0,
    "axes.labelsize": 11.0,
    "xtick.labelsize": MIN_FONT_PT,
    "ytick.labelsize": MIN_FONT_PT,
    "legend.fontsize": MIN_FONT_PT,
    "legend.title_fontsize": MIN_FONT_PT,
    "figure.titlesize": 12.0,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "savefig.transparent": True,
    "legend.framealpha": 0.9,
    "axes.titlelocation": "center",
}


def figure_mode() -> str:
    """``"frames"`` (precomputed, for the static page) or ``"live"`` (redrawn by the kernel).

    ``LOSSBOOK_FIGURES`` decides when it is set. Otherwise a kernel started by a Jupyter
    server (which sets ``JPY_SESSION_NAME`` for its kernels) or by Colab is live, and any
    other run (the book build, nbval, ``jupyter execute``, a script) draws frames.
    """
    chosen = os.environ.get(MODE_VARIABLE, "").strip().lower()
    if chosen:
        if chosen not in _MODES:
            raise ValueError(f"{MODE_VARIABLE}={chosen!r}: expected one of {_MODES}")
        return chosen
    if os.environ.get("JPY_SESSION_NAME") or "google.colab" in sys.modules:
        return "live"
    return "frames"


def book_style() -> None:
    """Apply the book's figure style, and in IPython print every figure through it.

    Sets matplotlib's ``rcParams`` (``lossfns.plot.STYLE``: text of at least :data:`MIN_FONT_PT` pt,
    transparent backgrounds, :data:`DPI` dots per inch). In IPython, figures are then shown
    as PNG at :data:`DPI` with transparent backgrounds, after :func:`check_figure`.
    Call it once, in a notebook's import cell.
    """
    import matplotlib as mpl

    mpl.rcParams.update(STYLE)
    shell = _ipython()
    if shell is None:
        return
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    # Load the backend now: the inline backend registers its own PNG printer when it loads.
    plt.switch_backend(mpl.get_backend())

    shell.display_formatter.formatters["image/png"].for_type(Figure, _figure_png)


def _ipython():
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython

    return get_ipython()


def _figure_png(figure) -> str:
    buffer = io.BytesIO()
    _agg_canvas(figure)
    figure.savefig(buffer, format="png", dpi=DPI, transparent=True, bbox_inches="tight")
    try:
        _check_drawn(figure)
    except ValueError as error:
        # IPython shows a formatter's exception but lets the cell succeed; the message on
        # stderr fails the book's build (stderr_output: error in _config.yml).
        print(f"lossfns.plot.book_style: {error}", file=sys.stderr)
        raise
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def check_text_size(figure, minimum: float = MIN_FONT_PT) -> None:
    """Raise ``ValueError`` if a visible text of ``figure`` is smaller than ``minimum`` points."""
    problems = _small_text(figure, minimum)
    if problems:
        raise ValueError("; ".join(problems))


def check_figure(figure, minimum: float = MIN_FONT_PT) -> None:
    """Raise ``ValueError`` if ``figure`` is hard to read: text under ``minimum`` points, a
    legend over a line or a marker of its axes, or two tick labels of one axes overlapping.

    The figure is laid out (drawn) first, as it will be saved.
    """
    _agg_canvas(figure).draw()
    _check_drawn(figure, minimum)


def _agg_canvas(figure):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(figure.canvas, FigureCanvasAgg):
        FigureCanvasAgg(figure)
    return figure.canvas


def _check_drawn(figure, minimum: float = MIN_FONT_PT) -> None:
    """:func:`check_figure` on a figure drawn (or saved) last by its Agg canvas."""
    renderer = figure.canvas.get_renderer()
    problems = _small_text(figure, minimum)
    for ax in figure.axes:
        problems += _overlapping_ticks(ax, renderer) + _legend_over_data(ax, renderer)
    if problems:
        raise ValueError("; ".join(problems))


def _small_text(figure, minimum) -> list[str]:
    from matplotlib.text import Text

    small = sorted(
        {
            (text.get_fontsize(), text.get_text())
            for text in figure.findobj(Text)
            if text.get_visible() and text.get_text().strip() and text.get_fontsize() < minimum
        }
    )
    if not small:
        return []
    listed = ", ".join(f"{text!r} at {size:g} pt" for size, text in small[:5])
    return [
        f"figure text smaller than {minimum:g} pt: {listed} "
        "(use the sizes of lossfns.plot.book_style(): drop fontsize= and labelsize=)"
    ]


def _overlapping_ticks(ax, renderer) -> list[str]:
    labels = []
    for axis, coordinate in ((ax.xaxis, 0), (ax.yaxis, 1)):
        low, high = sorted(axis.get_view_interval())
        slack = 1e-9 * (high - low)
        labels += [
            (t.get_text(), t.get_window_extent(renderer))
            for t in axis.get_ticklabels()
            if t.get_visible() and t.get_text().strip()
            and low - slack <= t.get_position()[coordinate] <= high + slack
        ]
    return [
        f"tick labels {a!r} and {b!r} overlap"
        for (a, box_a), (b, box_b) in itertools.combinations(labels, 2)
        if box_a.overlaps(box_b)
    ]


def _along_segments(points):
    """Points every pixel along each segment of a polyline: for a segment of length ``n``
    pixels, ``max(2, int(n) + 1)`` evenly spaced points from its start to its end (at most
    10001), as ``np.linspace`` would place them, for every segment in one pass."""
    import numpy as np

    starts, steps = points[:-1], np.diff(points, axis=0)
    counts = np.maximum(2, np.minimum(np.linalg.norm(steps, axis=1), 1e4).astype(int) + 1)
    segment = np.repeat(np.arange(len(counts)), counts)
    i = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    fractions = i * (1.0 / (counts - 1))[segment]
    fractions[np.cumsum(counts) - 1] = 1.0  # linspace ends exactly at 1
    return starts[segment] + fractions[:, None] * steps[segment]


def _legend_over_data(ax, renderer) -> list[str]:
    """Lines (sampled every pixel along each segment) and markers under the legend's box.

    Lines across the whole axes (``axvline``, ``axhline``: guides, not data) do not count.
    """
    import numpy as np

    legend = ax.get_legend()
    if legend is None or not legend.get_visible():
        return []
    box = legend.get_window_extent(renderer)
    clip = ax.get_window_extent(renderer)
    covered = []
    artists = [line for line in ax.get_lines() if line.get_visible() and line.get_transform() is ax.transData]
    artists += [c for c in ax.collections if c.get_visible() and len(c.get_offsets())]
    for artist in artists:
        if hasattr(artist, "get_xydata"):
            points = artist.get_transform().transform(artist.get_xydata())
            points = points[np.isfinite(points).all(axis=1)]
            if artist.get_linestyle() not in ("None", "none", "") and len(points) > 1:
                points = _along_segments(points)
        else:
            points = artist.get_offset_transform().transform(artist.get_offsets())
        inside_axes = (
            (points[:, 0] >= clip.x0) & (points[:, 0] <= clip.x1)
            & (points[:, 1] >= clip.y0) & (points[:, 1] <= clip.y1)
        )
        under = (
            (points[:, 0] > box.x0) & (points[:, 0] < box.x1)
            & (points[:, 1] > box.y0) & (points[:, 1] < box.y1)
        )
        if np.any(under & inside_axes):
            covered.append(artist.get_label())
    if not covered:
        return []
    return [f"the legend of {ax.get_title() or 'an axes'!r} covers data ({', '.join(map(repr, covered[:4]))})"]


@dataclass
class _Parameter:
    """One slider: its name (the keyword of ``draw``), label, grid and starting position."""

    name: str
    label: str
    values: list
    labels: list[str]
    index: int
    continuous: bool

    @property
    def numeric(self) -> bool:
        return all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
            for v in self.values
        )

    def _look(self) -> dict:
        import ipywidgets as widgets

        return dict(
            description=self.label,
            continuous_update=True,
            layout=widgets.Layout(**_SLIDER_LAYOUT),
            style={"description_width": "initial"},
        )

    def frame_slider(self):
        """A slider over the grid's labels; its ``index`` picks the frame."""
        import ipywidgets as widgets

        return widgets.SelectionSlider(options=self.labels, index=self.index, **self._look())

    def live_slider(self):
        """A continuous slider over the grid's range (over the grid's values if the parameter
        is not numeric or not continuous)."""
        import ipywidgets as widgets

        start, low, high = self.values[self.index], min(self.values), max(self.values)
        if not (self.continuous and self.numeric):
            options = list(zip(self.labels, self.values))
            return widgets.SelectionSlider(options=options, index=self.index, **self._look())
        if all(isinstance(v, numbers.Integral) for v in self.values):
            return widgets.IntSlider(
                value=int(start), min=int(low), max=int(high), step=1, **self._look()
            )
        step = _step(self.values)
        return widgets.FloatSlider(
            value=float(start),
            min=float(low),
            max=float(high),
            step=step,
            readout_format=f".{max(0, -math.floor(math.log10(step)))}f",
            **self._look(),
        )


def _step(values) -> float:
    """A power of ten at most a fifth of the smallest gap of the grid: every grid value of
    a decimal grid is on the slider, and the slider moves in small steps between them."""
    ordered = sorted(set(float(v) for v in values))
    gap = min(b - a for a, b in zip(ordered, ordered[1:]))
    return 10.0 ** math.floor(math.log10(gap / 5))


def _parameters(values, description, initial, fmt, continuous) -> list[_Parameter]:
    if isinstance(values, Mapping):
        grids = dict(values)
        labels = description if isinstance(description, Mapping) else {}
        if description is not None and not isinstance(description, Mapping):
            raise TypeError("with several parameters, description maps each name to its label")
    else:
        if not isinstance(description, str):
            raise TypeError("description must be the slider's label (a str)")
        grids = {description: values}
        labels = {description: description}
        initial = {description: initial}
        fmt = {description: fmt}
        continuous = {description: continuous}
    if not 1 <= len(grids) <= _MAX_PARAMETERS:
        raise ValueError(f"slider_figure takes 1 to {_MAX_PARAMETERS} parameters, got {len(grids)}")
    initial = initial if isinstance(initial, Mapping) else {}
    unknown = set(initial) - set(grids)
    if unknown:
        raise ValueError(f"initial names unknown parameters {sorted(unknown)}; they are {list(grids)}")

    def per(option, name, default):
        return option.get(name, default) if isinstance(option, Mapping) else option

    parameters = []
    for name, grid in grids.items():
        grid = list(grid)
        if not 2 <= len(grid) <= MAX_FRAMES:
            raise ValueError(
                f"values of {name} must hold 2 to {MAX_FRAMES} slider positions, got {len(grid)}"
            )
        form = per(fmt, name, "{:g}")
        texts = [form.format(v) for v in grid]
        if len(set(texts)) != len(texts):
            raise ValueError(f"values of {name} must have distinct labels under fmt={form!r}: {texts}")
        start = initial.get(name)
        if start is None:
            index = len(grid) // 2
        elif start in grid:
            index = grid.index(start)
        else:
            raise ValueError(f"initial={start!r} is not one of the values {texts} of {name}")
        parameters.append(
            _Parameter(name, labels.get(name, name), grid, texts, index, bool(per(continuous, name, True)))
        )
    return parameters


def _call(parameters, values, mapping: bool):
    """``draw``'s arguments after the axes: keywords by name, or the one value."""
    if mapping:
        return (), {p.name: v for p, v in zip(parameters, values)}
    return (values[0],), {}


def _render_png(draw: Callable, arguments, figsize, palette: bool, position=None, reuse=None):
    """One frame: drawn on a fresh figure (or on ``reuse``), checked, a transparent PNG at DPI.

    With ``position`` (an axes position from an earlier frame) the axes are placed there, so
    that the frames of a figure line up and the layout is not recomputed for each; a frame
    whose text would then stick out of the figure is laid out afresh. Returns the PNG and
    the axes position used. With ``palette``, the PNG is quantized to 256 colours (a third of
    the bytes of a full-colour PNG for line plots, with no visible change).

    ``reuse`` (with ``position``): a figure of no layout, emptied and drawn on instead of a
    fresh one. Its Agg renderer then stays the same from frame to frame, and matplotlib
    caches text metrics and mathtext parses per renderer, which a fresh figure per frame
    computes again for every tick label and ``$...$``. With a palette the pixels go to PIL
    raw instead of through a full-colour PNG that would only be decoded again. Measured on
    the divergences page's 65-frame figure: 20.5 s of CPU before, 13.1 s after (1.6x), the
    frames the same bytes (and on the ZILN page's 125 frames).
    """
    from matplotlib.figure import Figure

    if position is not None and reuse is not None:
        figure = reuse
        for old in tuple(figure.axes):  # dropped, not cleared first (as Figure.clear would)
            figure.delaxes(old)
        figure.clear()
    else:
        figure = Figure(figsize=figsize, layout=None if position else "constrained", dpi=DPI)
    _agg_canvas(figure)
    ax = figure.add_axes(position) if position else figure.add_subplot()
    args, kwargs = arguments
    draw(ax, *args, **kwargs)
    buffer = io.BytesIO()
    # with a palette, the pixels go to PIL raw: the full-colour PNG would only be decoded again
    figure.savefig(buffer, format="rgba" if palette else "png", dpi=DPI, transparent=True)
    if position is not None and _sticks_out(figure):
        return _render_png(draw, arguments, figsize, palette)
    _check_drawn(figure)  # on the layout just saved: one draw per frame
    if not palette:
        return buffer.getvalue(), ax.get_position()
    from PIL import Image

    size = tuple(int(v) for v in figure.canvas.get_renderer().get_canvas_width_height())
    pixels = Image.frombuffer("RGBA", size, buffer.getvalue(), "raw", "RGBA", 0, 1)
    quantized = pixels.quantize(colors=256, method=Image.Quantize.FASTOCTREE)
    out = io.BytesIO()
    quantized.save(out, format="png", optimize=True)
    return out.getvalue(), ax.get_position()


def _sticks_out(figure) -> bool:
    """Whether anything drawn on ``figure`` (text, legends, axes) reaches past its edges."""
    drawn = figure.get_tightbbox(figure.canvas.get_renderer())
    width, height = figure.get_size_inches()
    slack = 1 / DPI
    return drawn.x0 < -slack or drawn.y0 < -slack or drawn.x1 > width + slack or drawn.y1 > height + slack


def _encoded_size(png: bytes) -> int:
    """Bytes the frame takes in the page: widget state embeds it in base64."""
    return 4 * math.ceil(len(png) / 3)


def slider_figure(
    draw: Callable[..., None],
    values: Sequence[Any] | Mapping[str, Sequence[Any]],
    *,
    description: str | Mapping[str, str] | None = None,
    alt: str,
    initial: Any = None,
    fmt: str | Mapping[str, str] = "{:g}",
    figsize: tuple[float, float] = (6.0, 3.6),
    continuous: bool | Mapping[str, bool] = True,
    max_bytes: int = MAX_FIGURE_BYTES,
    mode: str | None = None,
):
    r"""A matplotlib figure driven by 1 to 3 sliders, on the static page and in a kernel.

    Parameters
    ----------
    draw : callable
        Draws one frame on a fresh :class:`matplotlib.axes.Axes`: ``draw(ax, value)`` for
        one parameter given as a sequence, ``draw(ax, **{name: value, ...})`` for
        parameters given as a mapping. Fix the axis limits inside ``draw`` so that frames
        are comparable.
    values : sequence or mapping
        The slider positions of one parameter, or a mapping of each parameter's name to its
        positions (1 to 3 parameters, in the order of their sliders). With frames, every combination is drawn once: at most
        :data:`MAX_FRAMES` frames.
    description : str or mapping
        The slider's label (required for one parameter, e.g. ``"γ"``), or a mapping of
        parameter names to labels (default: the name).
    alt : str
        What the figure shows, for readers who cannot see it: the images' alt text, with
        the values shown appended to it.
    initial : optional
        The value (or mapping of name to value) shown first; default: the middle of each
        parameter's values.
    fmt : str or mapping
        Format of a value in its slider's readout (or a mapping of parameter names to
        formats); labels must be distinct.
    figsize : (float, float)
        Size of the figure in inches; frames are drawn at :data:`DPI` dots per inch, so
        that text has its size in points where the page shows the figure at its size.
    continuous : bool or mapping
        In live mode, whether a numeric parameter gets a continuous slider over its range
        (default) or only the given values (for a ``draw`` that accepts nothing else).
    max_bytes : int
        The most the frames may add to the page (base64 PNG), :data:`MAX_FIGURE_BYTES`
        by default, which keeps a page with its text under 3 MB. A grid whose frames would
        not fit is refused with a ``ValueError`` as soon as the frames drawn exceed it.
    mode : {"frames", "live"}, optional
        Overrides :func:`figure_mode`.

    Returns
    -------
    ipywidgets.VBox
        The sliders, one per parameter, above the figure: with frames, nested
        ``ipywidgets.Stack``\ s of ``Image`` frames (the outer one chosen by the first
        slider) linked to the sliders in the browser; live, an ``Image`` that the kernel
        redraws whenever a slider moves.

    Examples
    --------
    >>> import numpy as np
    >>> def draw(ax, scale, shift):
    ...     x = np.linspace(-3, 3, 101)
    ...     ax.plot(x, np.tanh(scale * x) + shift)
    ...     ax.set_ylim(-2.1, 2.1)
    >>> widget = slider_figure(draw, {"scale": [0.5, 1, 2], "shift": [-1, 0, 1]},
    ...                        alt="A tanh curve, scaled and shifted.", mode="frames")
    >>> len(widget.children[2].children), len(widget.children[2].children[0].children)
    (3, 3)
    """
    import ipywidgets as widgets

    parameters = _parameters(values, description, initial, fmt, continuous)
    mapping = isinstance(values, Mapping)
    if not isinstance(alt, str) or not alt.strip():
        raise ValueError("alt must say what the figure shows")
    mode = figure_mode() if mode is None else mode
    if mode not in _MODES:
        raise ValueError(f"mode={mode!r}: expected one of {_MODES}")
    starting = tuple(p.index for p in parameters)
    # one label width for the figure's sliders, so that their tracks line up
    label_width = f"{0.6 * max(len(p.label) for p in parameters) + 0.6:.1f}em"

    if mode == "live":
        sliders = [p.live_slider() for p in parameters]
        for slider in sliders:
            slider.style.description_width = label_width
        image = widgets.Image(format="png")
        layout = {"position": None}  # the axes' place, from the first drawing

        def redraw(_change=None):
            arguments = _call(parameters, [s.value for s in sliders], mapping)
            png, position = _render_png(draw, arguments, figsize, False, layout["position"])
            layout["position"] = layout["position"] or position
            image.value = png

        for slider in sliders:
            slider.observe(redraw, names="value")
        redraw()
        return widgets.VBox([*sliders, image], _dom_classes=[FIGURE_CLASS])

    count = math.prod(len(p.values) for p in parameters)
    grid = " × ".join(str(len(p.values)) for p in parameters)
    if count > MAX_FRAMES:
        raise ValueError(
            f"{grid} = {count} frames, over the {MAX_FRAMES} a figure may draw: use fewer values"
        )
    # the initial frame is laid out, and every frame puts its axes in the same place
    _, position = _render_png(draw, _call(parameters, [p.values[p.index] for p in parameters], mapping),
                              figsize, True)
    frames, total = {}, 0
    from matplotlib.figure import Figure

    canvas = Figure(figsize=figsize, layout=None, dpi=DPI)  # one renderer for every frame
    for chosen in itertools.product(*(range(len(p.values)) for p in parameters)):
        values = [p.values[i] for p, i in zip(parameters, chosen)]
        png, _ = _render_png(draw, _call(parameters, values, mapping), figsize, True, position, canvas)
        total += _encoded_size(png)
        if total > max_bytes:
            per_frame = total / (len(frames) + 1)
            raise ValueError(
                f"the {grid} = {count} frames would add about {per_frame * count / 1e6:.1f} MB "
                f"to the page ({per_frame / 1e3:.0f} kB a frame after {len(frames) + 1}), over "
                f"max_bytes = {max_bytes / 1e6:.1f} MB: use fewer values or a smaller figsize"
            )
        frames[chosen] = widgets.Image(value=png, format="png")

    sliders = [p.frame_slider() for p in parameters]
    for slider in sliders:
        slider.style.description_width = label_width

    def stack(prefix: tuple):
        level = len(prefix)
        if level == len(parameters):
            return frames[prefix]
        children = [stack(prefix + (i,)) for i in range(len(parameters[level].values))]
        node = widgets.Stack(children=children, selected_index=starting[level])
        widgets.jslink((sliders[level], "index"), (node, "selected_index"))
        return node

    # An Image has no alt text (and a tooltip breaks its view in the HTML manager): the text
    # rides in a hidden HTML widget, and the site's script gives each frame shown the alt
    # "<alt> Shown for <label> = <readout>, ..." (_ext/figures.py).
    described = widgets.HTML(value=html.escape(alt), _dom_classes=[ALT_CLASS])
    return widgets.VBox([*sliders, stack(()), described], _dom_classes=[FIGURE_CLASS])
