"""Figures shared by the two regression notebooks: the fit-and-loss animation, the loss surface."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap, LogNorm
from matplotlib.contour import QuadContourSet
from matplotlib.figure import Figure

from common.style import COLORS


def line_equation(slope: float, intercept: float, digits: int = 2) -> str:
    """'weight = 6.78 × height − 266.03', with a real minus sign."""
    sign = "+" if intercept >= 0 else "−"
    return f"weight = {slope:.{digits}f} × height {sign} {abs(intercept):.{digits}f}"


def fit_animation(x: np.ndarray, y: np.ndarray, history: np.ndarray, *, exact: tuple[float, float],
                  min_loss: float, title: str) -> tuple[Figure, Callable[[int], Sequence[Artist]]]:
    """Figure (points and current line | loss above its minimum so far) and its update(i)."""
    # a learner's own loop may record (slope, intercept) only: say so before drawing anything
    history = np.asarray(history, dtype=float)
    if history.ndim != 2 or history.shape[1] != 3 or len(history) == 0:
        raise ValueError(f"history must have shape (n_iterations, 3) = slope, intercept, loss; "
                         f"got {history.shape}")
    x_line = np.array([x.min() - 1, x.max() + 1])
    fig, (ax_fit, ax_loss) = plt.subplots(1, 2, figsize=(10, 4))
    fig.suptitle(title, fontsize=13)
    ax_fit.scatter(x, y, s=10, alpha=0.5, color="0.55")
    line, = ax_fit.plot(x_line, 0 * x_line, color=COLORS["red"])
    ax_fit.plot(x_line, exact[0] * x_line + exact[1], "--", color="0.3", lw=1, label="exact fit")
    # the weight axis includes 0, with a margin, so that a line at weight 0 is not on the frame
    low, high = min(0.0, float(np.min(y))), float(np.max(y))
    margin = 0.1 * (high - low)
    ax_fit.set(xlim=x_line, ylim=(low - margin, high + margin), xlabel="height (inches)",
               ylabel="weight (pounds)")
    ax_fit.legend(loc="upper left")
    # the title holds the equation, sized for tight_layout
    equation = ax_fit.set_title(f"iteration 0: {line_equation(*history[0, :2])}")
    # MSE minus its minimum, on a log scale: a stall above the minimum stays visible. Floored
    # where float64 rounding takes over (the difference of two nearly equal numbers).
    excess = np.maximum(history[:, 2] - min_loss, 1e-10 * max(abs(min_loss), 1.0))
    curve, = ax_loss.plot([], [], "o-", ms=3, color=COLORS["blue"])
    ax_loss.set(xlim=(-0.5, len(excess) - 0.5), ylim=(excess.min() / 3, excess.max() * 3),
                yscale="log", xlabel="iteration", ylabel="MSE − minimum possible MSE")
    fig.tight_layout()

    def update(i: int) -> Sequence[Artist]:
        slope, intercept, _ = history[i]
        line.set_ydata(slope * x_line + intercept)
        equation.set_text(f"iteration {i}: {line_equation(slope, intercept)}")
        curve.set_data(np.arange(i + 1), excess[: i + 1])
        return line, equation, curve

    return fig, update


def _band_colormap(name: str, n_bands: int) -> ListedColormap:
    """One colour per contour band, taken at its centre: last-bit noise cannot pick a neighbour."""
    # A LogNorm over geometric levels puts band i of n at (i + 0.5) / n. With 24 bands and the
    # usual 256-entry colormap, every third band lands exactly on an entry boundary, where numpy's
    # log10 one ulp off (AVX-512 code versus AVX2/libm) picks the next entry: another shade on
    # another CPU.
    # With n entries, each band sits half an entry from both of its boundaries.
    base = plt.get_cmap(name)
    centres = (np.arange(n_bands) + 0.5) / n_bands  # plain arithmetic: the same on every CPU
    return ListedColormap(base(centres), name=f"{name}_{n_bands}").with_extremes(over=base(1.0))


def plot_loss_surface(ax: Axes, x: np.ndarray, y: np.ndarray, slopes: np.ndarray,
                      intercepts: np.ndarray, *, min_loss: float, max_ratio: float = 400.0,
                      colorbar: bool = True) -> QuadContourSet:
    """Filled, log-scaled contours of the line-fit MSE over a grid of slopes and intercepts.

    Returns the contour set, for a colour bar shared by several panels (with colorbar=False).
    """
    slope_grid, intercept_grid = np.meshgrid(slopes, intercepts)
    mse_grid = np.mean((slope_grid[..., None] * x + intercept_grid[..., None] - y) ** 2, axis=-1)
    levels = min_loss * np.geomspace(1, max_ratio, 25)
    filled = ax.contourf(slope_grid, intercept_grid, mse_grid, levels=levels,
                         cmap=_band_colormap("Blues_r", len(levels) - 1), norm=LogNorm(),
                         extend="max")
    if colorbar:
        ax.figure.colorbar(filled, ax=ax, label="MSE", format="{x:,.0f}", ticks=levels[::6])
    ax.set(xlabel="slope $m$", ylabel="intercept $b$")
    ax.grid(False)
    return filled
