"""Animated GIFs from matplotlib figures, written with Pillow (no ImageMagick, no subprocess)."""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from common.checks import check_int, check_positive
from common.files import write_atomically

# How many frames (spread over the animation) the shared palette is computed from.
_PALETTE_SAMPLE_FRAMES = 8
# 255 colours, not 256: the free index lets Pillow mark unchanged pixels transparent,
# so each frame stores only what changed (a much smaller file).
_PALETTE_COLORS = 255


def _agg_canvas(fig: Figure) -> FigureCanvasAgg:
    """Return the figure's Agg canvas, attaching one if the figure has another kind."""
    if not isinstance(fig, Figure):
        raise TypeError(f"expected a matplotlib Figure, got {type(fig).__name__}")
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)  # attaches itself as fig.canvas
    return fig.canvas


def _rgb_from_canvas(canvas: FigureCanvasAgg) -> np.ndarray:
    """Copy the canvas' current pixels as an H×W×3 uint8 array."""
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def frame_from_figure(fig: Figure) -> np.ndarray:
    """Draw the whole figure and return it as an H×W×3 uint8 array."""
    canvas = _agg_canvas(fig)
    canvas.draw()
    return _rgb_from_canvas(canvas)


def _check_frames(frames: Iterable[np.ndarray]) -> list[np.ndarray]:
    """The frames as a list: at least one, all H×W×3 uint8 arrays of one shape."""
    frames = list(frames)
    if not frames:
        raise ValueError("frames is empty: a GIF needs at least one frame")
    for i, frame in enumerate(frames):
        if not (isinstance(frame, np.ndarray) and frame.dtype == np.uint8
                and frame.shape[2:] == (3,) and frame.shape == frames[0].shape):
            got = (f"a {frame.dtype} array of shape {frame.shape}"
                   if isinstance(frame, np.ndarray) else f"a {type(frame).__name__}")
            raise ValueError(f"frame {i} is {got}; every frame must be an H×W×3 uint8 array "
                             f"of one shape (frame 0: {getattr(frames[0], 'shape', None)}), as "
                             f"frame_from_figure returns")
    return frames


def _shared_palette(frames: Sequence[np.ndarray]) -> Image.Image:
    """One 255-colour palette for the whole GIF, computed from frames spread over it."""
    n = len(frames)
    k_max = max(_PALETTE_SAMPLE_FRAMES - 1, 1)
    picks = sorted({round(k * (n - 1) / k_max) for k in range(_PALETTE_SAMPLE_FRAMES)})
    # Every other row and column is plenty to find the colours, at a quarter of the cost.
    montage = np.concatenate([frames[i][::2, ::2] for i in picks], axis=0)
    # Median cut keeps every colour exactly when there are fewer than 255 (plots often have).
    return Image.fromarray(montage).quantize(colors=_PALETTE_COLORS,
                                             method=Image.Quantize.MEDIANCUT,
                                             dither=Image.Dither.NONE)


def save_gif(frames: Sequence[np.ndarray], path: str | os.PathLike, *, fps: float = 2,
             loop: int = 0, hold_last: float = 1.5) -> None:
    """Write equal-sized H×W×3 uint8 frames as a GIF with one shared palette, atomically.

    Each frame lasts round(1000 / fps) ms, except the last, which is held for at least
    `hold_last` seconds so that a reader sees the result before the loop restarts (0: no hold);
    ``loop=0`` loops forever. As in every GIF writer built on Pillow, a frame identical to the
    one before it is merged into it (one frame, both durations), so the playing time is unchanged.
    """
    frames = _check_frames(frames)
    duration_ms = round(1000 / check_positive("fps", fps))
    loop = check_int("loop", loop, 0)   # 0: forever

    durations = [duration_ms] * len(frames)
    durations[-1] = max(duration_ms, round(1000 * hold_last))
    palette = _shared_palette(frames)
    images = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE)
              for f in frames]
    palette_bytes = bytes(images[0].palette.palette)  # passing it keeps one global palette

    def write(tmp: Path) -> None:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       palette=palette_bytes, duration=durations, loop=loop, disposal=1,
                       optimize=True)

    write_atomically(path, write)


def _animated(artists: Iterable[Artist] | None, step: int) -> list[Artist]:
    """What `update` returned, as a list: the artists it changed."""
    # the slips of a hand-written update: no `return`, or `return line` for `return line,`
    if artists is None or isinstance(artists, Artist):
        raise TypeError(f"update({step}) returned a {type(artists).__name__}; it must return "
                        f"the artists it changed as a tuple or list, e.g. `return line,`")
    return list(artists)


def record_gif(fig: Figure, update: Callable[[int], Iterable[Artist]], n_frames: int,
               path: str | os.PathLike, *, fps: float = 2, hold_last: float = 1.5) -> None:
    """Record update(0..n_frames-1) on `fig` as a GIF, redrawing only the changed artists.

    Same contract as ``FuncAnimation(fig, update, frames=n_frames, blit=True)``: `update(i)`
    changes the figure and returns the artists it changed; axis limits stay fixed. The last
    frame is held for at least `hold_last` seconds (see save_gif).
    """
    n_frames = check_int("n_frames", n_frames, 1)
    canvas = _agg_canvas(fig)

    was_animated: dict[Artist, bool] = {}

    def draw_background(artists: list[Artist]) -> object:
        """Full draw without the animated artists; keep those pixels as the background."""
        for a in artists:
            if a not in was_animated:
                was_animated[a] = a.get_animated()
                a.set_animated(True)
        canvas.draw()
        return canvas.copy_from_bbox(fig.bbox)

    frames = []
    try:
        artists = _animated(update(0), 0)
        background = draw_background(artists)
        for i in range(n_frames):
            if i > 0:
                artists = _animated(update(i), i)
                if any(a not in was_animated for a in artists):
                    # a new artist joined: refresh the background
                    background = draw_background(artists)
            canvas.restore_region(background)
            for a in sorted(artists, key=lambda a: a.get_zorder()):
                fig.draw_artist(a)
            frames.append(_rgb_from_canvas(canvas))
    finally:
        for a, flag in was_animated.items():
            a.set_animated(flag)
    # the next show() or savefig() redraws the figure in full
    save_gif(frames, path, fps=fps, hold_last=hold_last)
