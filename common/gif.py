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
    """Validate frames: at least one, all H×W×3 uint8 arrays of one shape."""
    if isinstance(frames, np.ndarray) and frames.ndim == 4:
        frames = list(frames)
    elif isinstance(frames, (str, bytes)) or not isinstance(frames, Iterable):
        raise TypeError(f"frames must be a sequence of H×W×3 uint8 arrays, "
                        f"got {type(frames).__name__}")
    frames = list(frames)
    if not frames:
        raise ValueError("frames is empty: a GIF needs at least one frame")
    first_shape = None
    for i, frame in enumerate(frames):
        if not isinstance(frame, np.ndarray):
            raise TypeError(f"frame {i} is a {type(frame).__name__}, expected a numpy array")
        if frame.dtype != np.uint8:
            raise TypeError(f"frame {i} has dtype {frame.dtype}, expected uint8")
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frame {i} has shape {frame.shape}, expected H×W×3 (RGB)")
        if frame.shape[0] == 0 or frame.shape[1] == 0:
            raise ValueError(f"frame {i} has shape {frame.shape}: "
                             f"height and width must be positive")
        if first_shape is None:
            first_shape = frame.shape
        elif frame.shape != first_shape:
            raise ValueError(f"frame {i} has shape {frame.shape}, but frame 0 has {first_shape}: "
                             f"all frames must be the same size")
    return frames


def _check_fps(fps: float) -> float:
    """Validate the frame rate: a positive number."""
    if isinstance(fps, bool) or not isinstance(fps, (int, float, np.integer, np.floating)):
        raise TypeError(f"fps must be a number, got {type(fps).__name__}")
    if not np.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a positive number, got {fps}")
    return float(fps)


def _check_output_path(path: str | os.PathLike) -> Path:
    """Validate the output path: its folder must exist."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"path {str(path)!r} is a folder; give a file name such as anim.gif")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ValueError(f"folder {str(folder)!r} does not exist; "
                         f"create it before writing {path.name!r}")
    return path


def _check_hold(hold_last: float) -> float:
    """Validate the last frame's hold: a number of seconds >= 0."""
    if isinstance(hold_last, bool) or not isinstance(hold_last,
                                                     (int, float, np.integer, np.floating)):
        raise TypeError(f"hold_last must be a number of seconds, got {type(hold_last).__name__}")
    if not np.isfinite(hold_last) or hold_last < 0:
        raise ValueError(f"hold_last must be a number of seconds >= 0, got {hold_last}")
    return float(hold_last)


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
    fps = _check_fps(fps)
    hold_last = _check_hold(hold_last)
    if isinstance(loop, bool) or not isinstance(loop, (int, np.integer)) or loop < 0:
        raise ValueError(f"loop must be an integer >= 0 (0 = forever), got {loop!r}")
    path = _check_output_path(path)
    duration_ms = round(1000 / fps)
    if duration_ms < 1:
        raise ValueError(f"fps={fps} gives frames shorter than 1 ms; use fps <= 1000")

    durations = [duration_ms] * len(frames)
    durations[-1] = max(duration_ms, round(1000 * hold_last))
    palette = _shared_palette(frames)
    images = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE)
              for f in frames]
    palette_bytes = bytes(images[0].palette.palette)  # passing it keeps one global palette

    def write(tmp: Path) -> None:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       palette=palette_bytes, duration=durations, loop=int(loop), disposal=1,
                       optimize=True)

    write_atomically(path, write)


def _animated(artists: Iterable[Artist] | None, step: int) -> list[Artist]:
    """Check what `update` returned: an iterable of matplotlib artists."""
    if artists is None:
        raise TypeError(f"update({step}) returned None; it must return the artists it changed "
                        f"(as with blit=True)")
    artists = list(artists)
    for a in artists:
        if not isinstance(a, Artist):
            raise TypeError(f"update({step}) returned a {type(a).__name__}; "
                            f"it must return matplotlib artists")
    return artists


def record_gif(fig: Figure, update: Callable[[int], Iterable[Artist]], n_frames: int,
               path: str | os.PathLike, *, fps: float = 2, hold_last: float = 1.5) -> None:
    """Record update(0..n_frames-1) on `fig` as a GIF, redrawing only the changed artists.

    Same contract as ``FuncAnimation(fig, update, frames=n_frames, blit=True)``: `update(i)`
    changes the figure and returns the artists it changed; axis limits stay fixed. The last
    frame is held for at least `hold_last` seconds (see save_gif).
    """
    if not callable(update):
        raise TypeError(f"update must be callable, got {type(update).__name__}")
    if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)) or n_frames < 1:
        raise ValueError(f"n_frames must be a positive integer, got {n_frames!r}")
    fps = _check_fps(fps)
    hold_last = _check_hold(hold_last)
    path = _check_output_path(path)
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
