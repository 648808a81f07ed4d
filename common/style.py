"""One plot style for every notebook: clean axes, readable fonts, a colour-blind-safe palette."""
from __future__ import annotations

import matplotlib as mpl
from cycler import cycler

# Okabe–Ito colours: distinguishable with every common kind of colour blindness.
COLORS = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "red": "#D55E00",
    "purple": "#CC79A7",
    "sky": "#56B4E9",
    "yellow": "#F0E442",
    "black": "#000000",
    "grey": "#7F7F7F",
}

STYLE = {
    "figure.dpi": 80,
    "savefig.dpi": 80,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "axes.prop_cycle": cycler(
        color=[COLORS[c] for c in ("blue", "orange", "green", "red", "purple", "sky")]),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#E5E5E5",
    "grid.linewidth": 0.8,
    "axes.titlesize": 13,
    "axes.titleweight": "bold",
    "axes.labelsize": 12,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "legend.frameon": False,
    "lines.linewidth": 2.0,
    "scatter.edgecolors": "none",
    "font.family": "DejaVu Sans",
    "image.cmap": "viridis",
}


def use_style() -> None:
    """Apply the collection's plot style to every figure made afterwards."""
    mpl.rcParams.update(STYLE)
