"""lossfns.plot: the kernel-free slider figure."""

import ipywidgets as widgets
import numpy as np
import pytest

from lossfns.plot import MAX_FRAMES, slider_figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def draw_line(ax, slope):
    x = np.linspace(-1, 1, 11)
    ax.plot(x, slope * x)
    ax.set_ylim(-3, 3)


def test_slider_and_frames_are_linked_in_the_browser(monkeypatch):
    links = []
    jslink = widgets.jslink
    monkeypatch.setattr(widgets, "jslink", lambda *pair: links.append(pair) or jslink(*pair))
    figure = slider_figure(draw_line, [0.5, 1, 2], description="slope", initial=2)
    slider, stack = figure.children
    assert isinstance(slider, widgets.SelectionSlider) and isinstance(stack, widgets.Stack)
    assert slider.options == ("0.5", "1", "2")
    assert slider.index == stack.selected_index == 2
    frames = [bytes(image.value) for image in stack.children]
    assert all(frame.startswith(PNG_SIGNATURE) for frame in frames)
    assert len(set(frames)) == 3, "each slider position must show its own frame"
    assert links == [((slider, "index"), (stack, "selected_index"))]


def test_default_frame_is_the_middle_one():
    figure = slider_figure(draw_line, [1, 2, 3, 4, 5], description="slope")
    assert figure.children[0].index == 2


@pytest.mark.parametrize(
    ("values", "kwargs", "message"),
    [
        ([1.0], {}, "values must hold 2 to"),
        (list(range(MAX_FRAMES + 1)), {}, "values must hold 2 to"),
        ([0.1001, 0.1002], {"fmt": "{:.2f}"}, "distinct labels"),
        ([1, 2], {"initial": 3}, "initial=3 is not one of the values"),
    ],
)
def test_bad_arguments(values, kwargs, message):
    with pytest.raises(ValueError, match=message):
        slider_figure(draw_line, values, description="slope", **kwargs)
