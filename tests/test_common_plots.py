"""Unit tests for the shared regression figures in common.plots."""
from __future__ import annotations

import functools

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.scale  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import common  # noqa: E402

X = np.array([60.0, 65.0, 70.0, 75.0])
Y = 5 * X - 150 + np.array([3.0, -2.0, 1.0, -2.0])


def test_line_equation_uses_a_real_minus_sign():
    assert common.line_equation(6.7786, -266.034) == "weight = 6.78 × height − 266.03"
    assert common.line_equation(3, 0, digits=1) == "weight = 3.0 × height + 0.0"


def test_fit_animation_update_moves_line_and_grows_curve():
    history = np.array([[0.0, 0.0, 1e4], [2.0, 10.0, 5e3], [5.0, -150.0, 4.5]])
    fig, update = common.fit_animation(X, Y, history, exact=(5.0, -150.0), min_loss=4.5, title="t")
    line, title, curve = update(1)
    np.testing.assert_allclose(line.get_ydata(), 2.0 * line.get_xdata() + 10.0)
    assert title.get_text() == "iteration 1: weight = 2.00 × height + 10.00"
    assert len(curve.get_xdata()) == 2
    plt.close(fig)


def test_fit_animation_plots_the_loss_above_its_minimum():
    history = np.array([[0.0, 0.0, 1e4], [2.0, 10.0, 5e3], [5.0, -150.0, 4.5]])
    fig, update = common.fit_animation(X, Y, history, exact=(5.0, -150.0), min_loss=4.5, title="t")
    line, _, curve = update(2)
    ax_fit, ax_loss = fig.axes
    np.testing.assert_allclose(curve.get_ydata()[:2], [1e4 - 4.5, 5e3 - 4.5])
    assert curve.get_ydata()[2] > 0                        # at the minimum: floored, not 0
    assert ax_loss.get_yscale() == "log" and "minimum" in ax_loss.get_ylabel()
    bottom, top = ax_fit.get_ylim()
    assert bottom < 0 < top       # a line at weight 0 (the first one here) is inside the frame
    plt.close(fig)


@pytest.mark.parametrize("history", [np.zeros((0, 3)), np.zeros((4, 2)), np.zeros(3)])
def test_fit_animation_rejects_bad_history(history):
    with pytest.raises(ValueError, match="history"):
        common.fit_animation(X, Y, history, exact=(5.0, -150.0), min_loss=1.0, title="t")


def test_plot_loss_surface_has_its_minimum_at_the_least_squares_line():
    (slope, intercept), *_ = np.linalg.lstsq(np.column_stack([X, np.ones_like(X)]), Y, rcond=None)
    min_loss = np.mean((slope * X + intercept - Y) ** 2)
    fig, ax = plt.subplots()
    filled = common.plot_loss_surface(ax, X, Y, np.linspace(0, 10, 41),
                                      np.linspace(-300, 0, 61), min_loss=min_loss)
    assert ax.get_xlabel() == "slope $m$" and len(fig.axes) == 2  # the plot and its colour bar
    assert filled.levels[0] == pytest.approx(min_loss)   # returned, for a shared colour bar
    plt.close(fig)


# About the least-squares MSE of X, Y. Not a value like 4.5, which the colour bar's "{x:,.0f}"
# labels would round up or down depending on its last bit (a knife edge of the test's making, not
# of the plot's).
MIN_LOSS = 2.7


def _loss_surface_frame(x: np.ndarray, y: np.ndarray, min_loss: float,
                        max_ratio: float) -> np.ndarray:
    """Render plot_loss_surface (with its colour bar) at the notebooks' settings; return pixels."""
    fig, ax = plt.subplots(figsize=(4, 3), dpi=80)
    common.plot_loss_surface(ax, x, y, np.linspace(0, 10, 41), np.linspace(-300, 0, 61),
                             min_loss=min_loss, max_ratio=max_ratio)
    frame = common.frame_from_figure(fig)
    plt.close(fig)
    return frame


@pytest.mark.parametrize("max_ratio", [8.0, 400.0])  # the two notebooks' settings
@pytest.mark.parametrize("ulps", [1, -1])
def test_plot_loss_surface_pixels_do_not_depend_on_last_bits_of_log10(monkeypatch, max_ratio, ulps):
    # Another CPU's log10 (numpy's AVX-512 code vs AVX2/libm) may differ in the last bit: a band's
    # colour must not move to the neighbouring colormap entry, nor any pixel change.
    before = _loss_surface_frame(X, Y, MIN_LOSS, max_ratio)
    original = matplotlib.scale.LogTransform.transform_non_affine

    def nudged(self, values):
        out = original(self, values)
        return np.nextafter(out, np.inf if ulps > 0 else -np.inf)

    monkeypatch.setattr(matplotlib.scale.LogTransform, "transform_non_affine", nudged)
    np.testing.assert_array_equal(_loss_surface_frame(X, Y, MIN_LOSS, max_ratio), before)


@pytest.mark.parametrize("ulps", [3, -3])
def test_plot_loss_surface_pixels_do_not_depend_on_last_bits_of_inputs(ulps):
    # Data and minimum loss a few ulps off, as another CPU's reductions may give them.
    direction = np.inf if ulps > 0 else -np.inf

    def nudge(a):
        return functools.reduce(lambda v, _: np.nextafter(v, direction), range(abs(ulps)), a)

    before = _loss_surface_frame(X, Y, MIN_LOSS, 8.0)
    after = _loss_surface_frame(nudge(X), nudge(Y), float(nudge(MIN_LOSS)), 8.0)
    np.testing.assert_array_equal(after, before)


def test_fit_animation_pixels_do_not_depend_on_last_bits(monkeypatch):
    # Slope, intercept and loss a few ulps off (zeros stay zeros: a start value is exact), and a
    # log10 one ulp off on the loss axis: every frame the same.
    history = np.array([[0.0, 0.0, 1e4], [2.0, 10.0, 5e3], [4.1, -120.3, 40.7], [5.0, -150.0, 4.5]])

    def frames(history):
        fig, update = common.fit_animation(X, Y, history, exact=(5.0, -150.0), min_loss=MIN_LOSS,
                                           title="t")
        drawn = []
        for i in range(len(history)):
            update(i)
            drawn.append(common.frame_from_figure(fig))
        plt.close(fig)
        return np.array(drawn)

    before = frames(history)
    two_ulps_up = np.nextafter(np.nextafter(history, np.inf), np.inf)
    nudged_history = np.where(history != 0, two_ulps_up, history)
    np.testing.assert_array_equal(frames(nudged_history), before)
    original = matplotlib.scale.LogTransform.transform_non_affine
    monkeypatch.setattr(matplotlib.scale.LogTransform, "transform_non_affine",
                        lambda self, values: np.nextafter(original(self, values), -np.inf))
    np.testing.assert_array_equal(frames(history), before)
