"""lossfns.plot: slider figures (frames for the static page, live in a kernel) and the book style."""

import hashlib
import os
import sys
from pathlib import Path

import ipywidgets as widgets
import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

from lossfns import plot
from lossfns.plot import MAX_FRAMES, check_text_size, figure_mode, slider_figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ALT = "A line through the origin."
REPO = Path(__file__).resolve().parents[1]


def draw_line(ax, slope):
    x = np.linspace(-1, 1, 11)
    ax.plot(x, slope * x)
    ax.set_ylim(-3, 3)


def draw_two(ax, slope, shift):
    x = np.linspace(-1, 1, 11)
    ax.plot(x, slope * x + shift)
    ax.set_ylim(-5, 5)


def draw_three(ax, a, b, c):
    x = np.linspace(-1, 1, 11)
    ax.plot(x, a * x**2 + b * x + c)
    ax.set_ylim(-10, 10)


def frames_of(node) -> list[bytes]:
    """The frames under nested Stacks, in the order of the grid's combinations."""
    if isinstance(node, widgets.Image):
        return [bytes(node.value)]
    return [frame for child in node.children for frame in frames_of(child)]


def recorded_links(monkeypatch) -> list:
    links = []
    jslink = widgets.jslink
    monkeypatch.setattr(widgets, "jslink", lambda *pair: links.append(pair) or jslink(*pair))
    return links


def test_one_slider_frames_are_linked_in_the_browser(monkeypatch):
    links = recorded_links(monkeypatch)
    figure = slider_figure(draw_line, [0.5, 1, 2], description="slope", initial=2, alt=ALT, mode="frames")
    slider, stack, described = figure.children
    assert isinstance(slider, widgets.SelectionSlider) and isinstance(stack, widgets.Stack)
    assert plot.FIGURE_CLASS in figure._dom_classes and plot.ALT_CLASS in described._dom_classes
    assert described.value == ALT
    assert slider.options == ("0.5", "1", "2")
    assert slider.index == stack.selected_index == 2
    frames = frames_of(stack)
    assert all(frame.startswith(PNG_SIGNATURE) for frame in frames)
    assert len(set(frames)) == 3, "each slider position must show its own frame"
    assert links == [((slider, "index"), (stack, "selected_index"))]


def test_default_frame_is_the_middle_one():
    figure = slider_figure(draw_line, [1, 2, 3, 4, 5], description="slope", alt=ALT, mode="frames")
    assert figure.children[0].index == 2


def test_three_sliders_choose_the_frame_of_their_combination(monkeypatch):
    links = recorded_links(monkeypatch)
    grid = {"a": [-1, 0, 1], "b": [0, 2], "c": [-2, 0, 2, 4]}
    figure = slider_figure(
        draw_three, grid, description={"a": "curvature a"}, initial={"c": 4}, alt=ALT, mode="frames"
    )
    *sliders, outer, _ = figure.children
    assert [s.description for s in sliders] == ["curvature a", "b", "c"]
    assert [s.index for s in sliders] == [1, 1, 3]
    # one link per Stack: the first slider drives the outer Stack, the second its 3
    # children, the third their 3 × 2 children
    assert [sum(source[0] is s for source, _ in links) for s in sliders] == [1, 3, 6]
    for (source, source_trait), (target, target_trait) in links:
        assert (source_trait, target_trait) == ("index", "selected_index")
        assert target.selected_index == source.index
    frames = frames_of(outer)
    assert len(frames) == len(set(frames)) == 24
    # the frame under Stack indices (i, j, k) is the one drawn for that combination
    _, position = plot._render_png(draw_three, ((), {"a": 0, "b": 2, "c": 4}), (6.0, 3.6), True)
    expected, _ = plot._render_png(draw_three, ((), {"a": 1, "b": 0, "c": 2}), (6.0, 3.6), True, position)
    assert bytes(outer.children[2].children[0].children[2].value) == expected


def test_frames_are_transparent_palette_pngs_at_the_book_dpi():
    import io

    from PIL import Image

    figure = slider_figure(draw_line, [1, 2], description="slope", alt=ALT, figsize=(5, 3), mode="frames")
    image = Image.open(io.BytesIO(bytes(figure.children[1].children[0].value)))
    assert image.mode == "P" and image.size == (5 * plot.DPI, 3 * plot.DPI)
    assert "transparency" in image.info, "frames must let the page's background through"


@pytest.mark.parametrize(
    ("values", "kwargs", "message"),
    [
        ([1.0], {}, "must hold 2 to"),
        (list(range(MAX_FRAMES + 1)), {}, "must hold 2 to"),
        ([0.1001, 0.1002], {"fmt": "{:.2f}"}, "distinct labels"),
        ([1, 2], {"initial": 3}, "initial=3 is not one of the values"),
        ([1, 2], {"alt": " "}, "alt must say what the figure shows"),
        ([1, 2], {"mode": "static"}, "mode='static'"),
    ],
)
def test_bad_arguments(values, kwargs, message):
    with pytest.raises(ValueError, match=message):
        slider_figure(draw_line, values, description="slope", **{"alt": ALT, **kwargs})


def test_bad_grids():
    with pytest.raises(ValueError, match="1 to 3 parameters"):
        slider_figure(lambda ax, **k: None, {n: [0, 1] for n in "abcd"}, alt=ALT, mode="frames")
    with pytest.raises(ValueError, match="7 × 7 × 7 = 343 frames, over the 216"):
        slider_figure(draw_three, {n: range(7) for n in "abc"}, alt=ALT, mode="frames")
    with pytest.raises(ValueError, match="initial names unknown parameters"):
        slider_figure(draw_two, {"slope": [1, 2], "shift": [0, 1]}, initial={"s": 1}, alt=ALT)


def test_a_grid_over_the_page_budget_is_refused_early():
    drawn = []

    def draw(ax, slope, shift):
        drawn.append((slope, shift))
        draw_two(ax, slope, shift)

    grid = {"slope": [1, 2, 3, 4], "shift": [0, 1, 2, 3]}
    with pytest.raises(ValueError, match=r"16 frames would add about .* MB .* over max_bytes"):
        slider_figure(draw, grid, alt=ALT, max_bytes=15_000, mode="frames")
    assert len(drawn) < 16, "the helper stops drawing once the budget is spent"


def test_text_smaller_than_the_minimum_is_refused():
    def draw(ax, size):
        ax.set_title("tiny", fontsize=size)

    with pytest.raises(ValueError, match="'tiny' at 8 pt"):
        slider_figure(draw, [8, 12], description="size", alt=ALT, mode="frames")
    figure = Figure()
    figure.add_subplot().set_xlabel("label", fontsize=plot.MIN_FONT_PT)
    check_text_size(figure)


def test_live_slider_redraws_between_the_grid_values():
    figure = slider_figure(draw_line, [0.5, 1, 2], description="slope", alt=ALT, mode="live")
    slider, image = figure.children
    assert isinstance(slider, widgets.FloatSlider) and isinstance(image, widgets.Image)
    assert (slider.min, slider.value, slider.max) == (0.5, 1.0, 2.0)
    assert slider.step <= 0.1 and slider.continuous_update
    first = bytes(image.value)
    slider.value = 1.37  # not a grid value
    assert bytes(image.value) != first
    _, position = plot._render_png(draw_line, ((1.0,), {}), (6.0, 3.6), False)
    assert bytes(image.value) == plot._render_png(draw_line, ((1.37,), {}), (6.0, 3.6), False, position)[0]


def test_live_sliders_of_several_parameters():
    figure = slider_figure(
        draw_two,
        {"slope": [1, 2, 3], "shift": [-1, 0, 1]},
        continuous={"shift": False},
        alt=ALT,
        mode="live",
    )
    slope, shift, image = figure.children
    assert isinstance(slope, widgets.IntSlider) and isinstance(shift, widgets.SelectionSlider)
    shown = bytes(image.value)
    slope.value = 3
    moved = bytes(image.value)
    shift.index = 0
    assert len({shown, moved, bytes(image.value)}) == 3


def test_mode_from_the_environment(monkeypatch):
    monkeypatch.delenv(plot.MODE_VARIABLE, raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert figure_mode() == "frames"
    monkeypatch.setenv("JPY_SESSION_NAME", "/work/chapters/ltv/ziln.ipynb")
    assert figure_mode() == "live"
    monkeypatch.setenv(plot.MODE_VARIABLE, "frames")
    assert figure_mode() == "frames"
    monkeypatch.delenv("JPY_SESSION_NAME")
    monkeypatch.setitem(sys.modules, "google.colab", object())
    monkeypatch.setenv(plot.MODE_VARIABLE, "live")
    assert figure_mode() == "live"
    monkeypatch.delenv(plot.MODE_VARIABLE)
    assert figure_mode() == "live"
    monkeypatch.setenv(plot.MODE_VARIABLE, "static")
    with pytest.raises(ValueError, match="LOSSBOOK_FIGURES='static'"):
        figure_mode()


def test_jupyter_server_marks_its_kernels():
    """The variable figure_mode() keys on is the one jupyter_server gives every kernel."""
    from jupyter_server.services.sessions.sessionmanager import SessionManager

    env = SessionManager.get_kernel_env(None, "chapters/ltv/ziln.ipynb")
    assert env["JPY_SESSION_NAME"] == "chapters/ltv/ziln.ipynb"


def test_the_book_build_and_the_tests_draw_frames():
    assert os.environ.get(plot.MODE_VARIABLE) == "frames", "tests/conftest.py sets it for the notebook tests"
    assert 'os.environ["LOSSBOOK_FIGURES"] = "frames"' in (REPO / "_ext" / "figures.py").read_text()


def test_a_live_kernel_redraws_off_the_grid():
    """In a kernel started as a Jupyter server starts one, a slider moved to a value between
    the frames' values redraws the figure."""
    from jupyter_client.manager import start_new_kernel

    env = {**os.environ, "JPY_SESSION_NAME": "live-test.ipynb", "PYTHONPATH": str(REPO)}
    env.pop(plot.MODE_VARIABLE)
    manager, client = start_new_kernel(kernel_name="python3", env=env, cwd=str(REPO))
    try:

        def run(code: str) -> str:
            outputs = []
            reply = client.execute_interactive(
                code, timeout=60, output_hook=lambda m: outputs.append(m["content"].get("text", ""))
            )
            assert reply["content"]["status"] == "ok", reply["content"]
            return "".join(outputs).strip()

        run(
            "import hashlib, numpy as np\n"
            "from lossfns.plot import figure_mode, slider_figure\n"
            "def draw(ax, slope):\n"
            "    ax.plot([-1, 1], [-slope, slope]); ax.set_ylim(-3, 3)\n"
            "figure = slider_figure(draw, [0.5, 1, 2], description='slope', alt='A line.')\n"
            "slider, image = figure.children\n"
            "digest = lambda: hashlib.sha256(image.value).hexdigest()\n"
        )
        assert run("print(figure_mode(), type(slider).__name__)") == "live FloatSlider"
        before = run("print(digest())")
        assert run("slider.value = 1.3\nprint(slider.value)") == "1.3"
        after = run("print(digest())")
        assert after != before

        def draw(ax, slope):
            ax.plot([-1, 1], [-slope, slope])
            ax.set_ylim(-3, 3)

        _, position = plot._render_png(draw, ((1.0,), {}), (6.0, 3.6), False)
        redrawn, _ = plot._render_png(draw, ((1.3,), {}), (6.0, 3.6), False, position)
        assert after == hashlib.sha256(redrawn).hexdigest()
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_book_style_text_meets_the_minimum():
    with matplotlib.rc_context():
        plot.book_style()
        figure = Figure()
        ax = figure.add_subplot()
        ax.plot([0, 1], label="line")
        ax.set(title="title", xlabel="x", ylabel="y")
        ax.legend()
        check_text_size(figure)
        assert matplotlib.rcParams["savefig.transparent"]
        sizes = [matplotlib.rcParams[k] for k in plot.STYLE if k.endswith("size")]
        assert min(sizes) >= plot.MIN_FONT_PT


def laid_out(draw) -> Figure:
    figure = Figure(figsize=(6, 3.6), layout="constrained", dpi=plot.DPI)
    draw(figure.add_subplot())
    return figure


def test_a_legend_over_data_is_refused():
    def covered(ax):
        x = np.linspace(0, 1, 50)
        ax.plot(x, np.full_like(x, 0.5), label="flat")
        ax.legend(loc="center")

    def beside(ax):
        x = np.linspace(0, 1, 50)
        ax.plot(x, x**4, label="steep")
        ax.axvline(0.2, color="grey")  # a guide across the axes, not data
        ax.legend(loc="upper left")

    with pytest.raises(ValueError, match="legend of 'an axes' covers data \\('flat'\\)"):
        plot.check_figure(laid_out(covered))
    plot.check_figure(laid_out(beside))


def test_colliding_tick_labels_are_refused():
    """Like the "0" and "10⁰" of why-not-MSE's symlog axis, once."""

    def collide(ax):
        ax.plot([0, 10, 100], [1, 2, 3])
        ax.set(xlim=(0, 100), xticks=[0, 1, 50, 100])

    with pytest.raises(ValueError, match="tick labels .* overlap"):
        plot.check_figure(laid_out(collide))
    # ticks outside the view are not drawn and do not count
    plot.check_figure(laid_out(lambda ax: ax.plot([0, 1], [0, 1])))


def test_frames_share_the_initial_layout_unless_text_would_be_cut():
    drawn = []

    def draw(ax, n):
        drawn.append(n)
        ax.plot([0, 1])
        ax.set_ylabel("y" * n)

    _, position = plot._render_png(draw, ((5,), {}), (6.0, 3.6), True)
    _, same = plot._render_png(draw, ((6,), {}), (6.0, 3.6), True, position)
    assert same.bounds == position.bounds and drawn == [5, 6]
    _, moved = plot._render_png(draw, ((60,), {}), (6.0, 3.6), True, position)
    assert moved.x0 > position.x0 and drawn == [5, 6, 60, 60], "the long label gets room"
