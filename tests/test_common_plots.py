"""Unit tests for the shared regression figures in common.plots."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
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


@pytest.mark.parametrize("history", [np.zeros((0, 3)), np.zeros((4, 2)), np.zeros(3)])
def test_fit_animation_rejects_bad_history(history):
    with pytest.raises(ValueError, match="history"):
        common.fit_animation(X, Y, history, exact=(5.0, -150.0), min_loss=1.0, title="t")


def test_plot_loss_surface_has_its_minimum_at_the_least_squares_line():
    (slope, intercept), *_ = np.linalg.lstsq(np.column_stack([X, np.ones_like(X)]), Y, rcond=None)
    min_loss = np.mean((slope * X + intercept - Y) ** 2)
    fig, ax = plt.subplots()
    common.plot_loss_surface(ax, X, Y, np.linspace(0, 10, 41), np.linspace(-300, 0, 61), min_loss=min_loss)
    assert ax.get_xlabel() == "slope $m$" and len(fig.axes) == 2  # the plot and its colour bar
    plt.close(fig)
