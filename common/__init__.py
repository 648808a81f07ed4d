"""Shared helpers: plot style, figures, GIFs, atomic writes, quiet TensorFlow start-up, progress."""
from common.files import write_atomically
from common.gif import frame_from_figure, record_gif, save_gif
from common.plots import fit_animation, line_equation, plot_loss_surface
from common.progress import ProgressLine, in_jupyter_kernel, text_bar
from common.style import COLORS, use_style
from common.tf_startup import quiet_tensorflow_startup, without_startup_notices

__all__ = [
    "COLORS", "ProgressLine", "fit_animation", "frame_from_figure", "in_jupyter_kernel",
    "line_equation", "plot_loss_surface", "quiet_tensorflow_startup", "record_gif", "save_gif",
    "text_bar", "use_style", "without_startup_notices", "write_atomically",
]
