"""Unit tests for common: frame capture, GIF writing and blitted recording."""
from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image, ImageSequence  # noqa: E402

import common  # noqa: E402
from tests.gif_blocks import read_gif_blocks  # noqa: E402


def solid_frames(n: int, h: int = 20, w: int = 30) -> list[np.ndarray]:
    """n distinct solid-colour frames."""
    return [np.full((h, w, 3), (10 * i, 255 - 10 * i, 100), dtype=np.uint8) for i in range(n)]


def decoded_frames(path) -> list[np.ndarray]:
    """All frames of a GIF as RGB arrays."""
    with Image.open(path) as im:
        return [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(im)]


@pytest.fixture
def line_figure():
    """A small figure with a moving line, a changing title and a growing curve, plus its update."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(4, 2), dpi=50)
    line, = ax1.plot([0, 1], [0, 0])
    ax1.set(xlim=(0, 1), ylim=(-1, 6))
    title = ax1.set_title("")
    curve, = ax2.plot([], [])
    ax2.set(xlim=(0, 10), ylim=(0, 10))

    def update(i):
        line.set_ydata([0, i])
        title.set_text(f"step {i}")
        curve.set_data(np.arange(i + 1), np.arange(i + 1))
        return line, title, curve

    yield fig, update
    plt.close(fig)


def test_frame_from_figure_shape_and_dtype():
    fig = plt.figure(figsize=(3, 2), dpi=40)
    frame = common.frame_from_figure(fig)
    plt.close(fig)
    assert frame.shape == (80, 120, 3)
    assert frame.dtype == np.uint8
    assert (frame == 255).all()  # an empty white figure


def test_frame_from_figure_rejects_non_figures():
    with pytest.raises(TypeError, match="Figure"):
        common.frame_from_figure(np.zeros((2, 2)))


def test_save_gif_round_trip(tmp_path):
    path = tmp_path / "anim.gif"
    frames = solid_frames(5)
    common.save_gif(frames, path, fps=4)
    info = read_gif_blocks(path.read_bytes())
    assert (info.width, info.height, info.frames) == (30, 20, 5)
    assert info.delays_ms == [250] * 4 + [1500]  # the last frame held 1.5 s by default
    assert info.loop == 0
    assert info.has_global_palette and info.local_palettes == 0  # one shared palette
    decoded = decoded_frames(path)
    assert len(decoded) == 5
    for got, want in zip(decoded, frames):
        np.testing.assert_array_equal(got, want)


def test_save_gif_file_permissions_follow_umask(tmp_path):
    path = tmp_path / "anim.gif"
    old = os.umask(0o022)
    try:
        common.save_gif(solid_frames(2), path)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_save_gif_duration_and_loop_options(tmp_path):
    path = tmp_path / "anim.gif"
    common.save_gif(solid_frames(3), path, fps=2, loop=3, hold_last=0)
    info = read_gif_blocks(path.read_bytes())
    assert info.delays_ms == [500] * 3
    assert info.loop == 3
    with Image.open(path) as im:
        assert im.info["duration"] == 500


def test_save_gif_merges_identical_frames_keeping_play_time(tmp_path):
    path = tmp_path / "anim.gif"
    a, b = solid_frames(2)
    common.save_gif([a, a, b], path, fps=10)
    info = read_gif_blocks(path.read_bytes())
    assert info.frames == 2 and info.delays_ms == [200, 1500]
    common.save_gif([a, b, b], path, fps=10, hold_last=0)   # merged into the held last frame
    assert read_gif_blocks(path.read_bytes()).delays_ms == [100, 200]


@pytest.mark.parametrize("fps, hold_last, last_ms", [(4, 1.5, 1500), (4, 2.0, 2000),
                                                     (4, 0.1, 250), (0.5, 1.5, 2000)])
def test_save_gif_holds_the_last_frame(tmp_path, fps, hold_last, last_ms):
    """The last frame lasts hold_last seconds, or one frame if that is longer; the others do not
    change. Pillow reports each frame's `duration` when reading, as the before-stop check does."""
    path = tmp_path / "anim.gif"
    common.save_gif(solid_frames(4), path, fps=fps, hold_last=hold_last)
    frame_ms = round(1000 / fps)
    assert read_gif_blocks(path.read_bytes()).delays_ms == [frame_ms] * 3 + [last_ms]
    with Image.open(path) as im:
        im.seek(3)
        assert im.info["duration"] == last_ms


def test_save_gif_accepts_a_4d_array(tmp_path):
    path = tmp_path / "anim.gif"
    common.save_gif(np.stack(solid_frames(3)), path)
    assert read_gif_blocks(path.read_bytes()).frames == 3


@pytest.mark.parametrize(
    "frames, message",
    [
        ([], "empty"),
        ([np.zeros((4, 4, 3), np.uint8), np.zeros((5, 4, 3), np.uint8)],
         r"frame 1 is a uint8 array of shape \(5, 4, 3\).*frame 0: \(4, 4, 3\)"),
        ([np.zeros((4, 4, 3), np.float32)], "frame 0 is a float32 array"),   # not 0-255 bytes
        ([np.zeros((4, 4, 4), np.uint8)], r"shape \(4, 4, 4\).*H×W×3"),     # RGBA, not RGB
        ([[[0, 0, 0]]], "frame 0 is a list"),
    ],
)
def test_save_gif_rejects_bad_frames(tmp_path, frames, message):
    with pytest.raises(ValueError, match=message):
        common.save_gif(frames, tmp_path / "bad.gif")


@pytest.mark.parametrize("fps", [0, -1, float("nan"), None])
def test_save_gif_rejects_bad_fps(tmp_path, fps):
    with pytest.raises(ValueError, match=f"fps must be a positive, finite number, got {fps}"):
        common.save_gif(solid_frames(2), tmp_path / "bad.gif", fps=fps)


@pytest.mark.parametrize("loop", [-1, False, 1.0])   # False: 0 would loop forever
def test_save_gif_rejects_bad_loop(tmp_path, loop):
    with pytest.raises(ValueError, match=f"loop must be an integer >= 0, got {loop}"):
        common.save_gif(solid_frames(2), tmp_path / "bad.gif", loop=loop)


def test_save_gif_rejects_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        common.save_gif(solid_frames(2), tmp_path / "no_such_folder" / "anim.gif")


def test_failed_write_keeps_previous_gif(tmp_path):
    path = tmp_path / "anim.gif"
    common.save_gif(solid_frames(3), path)
    before = path.read_bytes()
    with pytest.raises(ValueError):
        common.save_gif([solid_frames(1)[0], np.zeros((1, 1, 3), np.uint8)], path)
    with pytest.raises(ValueError):
        common.save_gif(solid_frames(2), path, loop=-1)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["anim.gif"]  # no temp files left behind


def test_failure_during_encoding_keeps_previous_gif(tmp_path, monkeypatch):
    path = tmp_path / "anim.gif"
    common.save_gif(solid_frames(3), path)
    before = path.read_bytes()

    def broken_save(self, fp, *args, **kwargs):
        with open(fp, "wb") as f:
            f.write(b"GIF89a truncated")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        common.save_gif(solid_frames(4), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["anim.gif"]


def test_record_gif_writes_every_frame(tmp_path, line_figure):
    fig, update = line_figure
    path = tmp_path / "rec.gif"
    common.record_gif(fig, update, 6, path, fps=5)
    info = read_gif_blocks(path.read_bytes())
    assert info.frames == 6 and info.delays_ms == [200] * 5 + [1500] and info.loop == 0
    assert info.local_palettes == 0
    assert len(decoded_frames(path)) == 6


def test_record_gif_frames_match_full_redraws(tmp_path, line_figure, monkeypatch):
    fig, update = line_figure
    captured = {}
    monkeypatch.setattr(common.gif, "save_gif",
                        lambda frames, path, **options: captured.update(frames=frames))
    common.record_gif(fig, update, 6, tmp_path / "rec.gif")
    assert len(captured["frames"]) == 6
    for i, blitted in enumerate(captured["frames"]):
        update(i)
        full = common.frame_from_figure(fig)
        assert blitted.shape == full.shape
        # Blitting draws the changed artists last, so they may cover a few pixels of static
        # artists with a higher zorder (here, the axis spine under the line), as FuncAnimation does.
        differing = (blitted != full).any(axis=-1).mean()
        assert differing < 0.005, f"frame {i}: {differing:.2%} of pixels differ from a full redraw"


def test_record_gif_restores_artists(tmp_path, line_figure):
    fig, update = line_figure
    common.record_gif(fig, update, 3, tmp_path / "rec.gif")
    artists = update(2)
    assert not any(a.get_animated() for a in artists)


def test_record_gif_rejects_bad_arguments(tmp_path, line_figure):
    fig, update = line_figure
    with pytest.raises(ValueError, match="n_frames must be an integer >= 1, got 0"):
        common.record_gif(fig, update, 0, tmp_path / "a.gif")
    with pytest.raises(TypeError, match="Figure, got Axes"):
        common.record_gif(fig.axes[0], update, 3, tmp_path / "a.gif")
    with pytest.raises(TypeError, match="update.0. returned a NoneType"):   # no `return`
        common.record_gif(fig, lambda i: None, 3, tmp_path / "a.gif")
    with pytest.raises(TypeError, match="update.0. returned a Line2D"):  # `return line` for `line,`
        common.record_gif(fig, lambda i: update(i)[0], 3, tmp_path / "a.gif")
    with pytest.raises(ValueError, match="fps"):                      # checked by save_gif
        common.record_gif(fig, update, 3, tmp_path / "a.gif", fps=0)
    with pytest.raises(ValueError, match="does not exist"):           # checked when written
        common.record_gif(fig, update, 3, tmp_path / "missing" / "a.gif")
    assert not (tmp_path / "a.gif").exists()


def test_use_style_sets_rcparams():
    with matplotlib.rc_context():
        common.use_style()
        assert matplotlib.rcParams["axes.spines.top"] is False
        assert matplotlib.rcParams["axes.prop_cycle"].by_key()["color"][0] == common.COLORS["blue"]
