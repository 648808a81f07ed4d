"""Figures made but not drawn, GIFs not recorded: the proof compares text, several times faster."""
import matplotlib


def skip_gif(*args, **kwargs) -> None:
    """Stands in for common.record_gif and common.save_gif: no frame is drawn, no file written."""


def apply() -> None:
    """The Agg backend (nothing is rendered unless asked) and no GIF recording."""
    matplotlib.use("agg")  # figures are made but not drawn: their pixels are not compared
    import common  # here, not at the top: the backend is chosen before common imports pyplot

    common.record_gif = common.save_gif = skip_gif
