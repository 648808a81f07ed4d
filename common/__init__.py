"""Shared helpers for the notebooks: plot style, shared figures, GIF rendering, atomic writes."""
from common.files import write_atomically
from common.gif import frame_from_figure, record_gif, save_gif
from common.plots import fit_animation, line_equation, plot_loss_surface
from common.style import COLORS, use_style

__all__ = [
    "COLORS", "fit_animation", "frame_from_figure", "line_equation", "plot_loss_surface",
    "record_gif", "save_gif", "use_style", "write_atomically",
]
