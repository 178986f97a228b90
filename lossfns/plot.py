"""Plotting helpers for the book. matplotlib and ipywidgets are imported when called.

:func:`slider_figure` makes a figure driven by a slider that works on the static site
with no kernel: every frame is drawn once, when the notebook runs, and the slider and
the frames are linked in the browser (``jslink``), so moving the slider on the published
page shows the frame drawn for that value — the same frames a live kernel shows.
"""

from __future__ import annotations

import io
from typing import Any, Callable, Sequence

__all__ = ["slider_figure", "MAX_FRAMES"]

MAX_FRAMES = 41


def _render_png(draw: Callable[[Any, Any], None], value: Any, figsize, dpi: int) -> bytes:
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize, layout="constrained")
    draw(figure.add_subplot(), value)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return buffer.getvalue()


def slider_figure(
    draw: Callable[[Any, Any], None],
    values: Sequence[Any],
    *,
    description: str,
    initial: Any = None,
    fmt: str = "{:g}",
    figsize: tuple[float, float] = (6.0, 3.6),
    dpi: int = 96,
):
    r"""A matplotlib figure with a slider over ``values`` that works with no kernel.

    Parameters
    ----------
    draw : callable
        ``draw(ax, value)`` draws the frame for one value on a fresh
        :class:`matplotlib.axes.Axes`. Fix the axis limits inside ``draw`` so that
        frames are comparable.
    values : sequence
        The slider's positions, 2 to :data:`MAX_FRAMES` of them; each is drawn once.
    description : str
        The slider's label, e.g. ``"γ"``.
    initial : optional
        The value shown first (on the static page, the one a reader sees before moving
        the slider); default: the middle of ``values``.
    fmt : str
        Format of a value in the slider's readout.
    figsize, dpi
        Size of each frame, in inches and dots per inch.

    Returns
    -------
    ipywidgets.VBox
        The slider above an ``ipywidgets.Stack`` of ``Image`` frames, linked in the
        browser so the page needs no kernel.

    Examples
    --------
    >>> import numpy as np
    >>> def draw(ax, scale):
    ...     x = np.linspace(-3, 3, 101)
    ...     ax.plot(x, np.tanh(scale * x))
    ...     ax.set_ylim(-1.1, 1.1)
    >>> widget = slider_figure(draw, [0.5, 1, 2], description="scale")
    >>> len(widget.children[1].children)
    3
    """
    import ipywidgets as widgets

    values = list(values)
    if not 2 <= len(values) <= MAX_FRAMES:
        raise ValueError(f"values must hold 2 to {MAX_FRAMES} slider positions, got {len(values)}")
    labels = [fmt.format(v) for v in values]
    if len(set(labels)) != len(labels):
        raise ValueError(f"values must have distinct labels under fmt={fmt!r}: {labels}")
    if initial is None:
        index = len(values) // 2
    elif initial in values:
        index = values.index(initial)
    else:
        raise ValueError(f"initial={initial!r} is not one of the values {labels}")

    frames = [
        widgets.Image(value=_render_png(draw, v, figsize, dpi), format="png") for v in values
    ]
    stack = widgets.Stack(children=frames, selected_index=index)
    slider = widgets.SelectionSlider(
        options=labels,
        index=index,
        description=description,
        continuous_update=True,
        layout=widgets.Layout(width="min(100%, 32em)"),
        style={"description_width": "initial"},
    )
    widgets.jslink((slider, "index"), (stack, "selected_index"))
    return widgets.VBox([slider, stack])
