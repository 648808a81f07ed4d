"""Shared helpers for the notebooks: plot style and GIF rendering only."""
from common.gif import frame_from_figure, record_gif, save_gif
from common.style import COLORS, use_style

__all__ = ["COLORS", "frame_from_figure", "record_gif", "save_gif", "use_style"]
