"""Benchmark: common.record_gif against matplotlib's FuncAnimation + PillowWriter.

Same 900x400 two-panel figure and update function for both (scatter with a moving line and a
changing title; a growing loss curve), 60 frames, figure set-up included in both timings.
Prints the best of 3 alternating runs of each, the sizes, and their ratios.
Run from the repository root: python -m benchmarks.bench_gif
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.animation import FuncAnimation, PillowWriter  # noqa: E402

import common  # noqa: E402

N_FRAMES, FPS = 60, 10


def make_animation():
    """Build the figure and its blit-style update function."""
    common.use_style()
    rng = np.random.default_rng(0)
    x = rng.normal(69, 3, 150)
    y = 5.5 * x - 190 + rng.normal(0, 25, 150)
    slopes = np.linspace(0, 5.5, N_FRAMES)
    losses = np.exp(-np.linspace(0, 4, N_FRAMES)) * 1e4 + 600

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 4), dpi=100)
    ax1.scatter(x, y, s=12)
    xs = np.array([x.min(), x.max()])
    line, = ax1.plot(xs, 0 * xs, color="C1")
    ax1.set(xlim=(x.min() - 1, x.max() + 1), ylim=(-50, 350), xlabel="height", ylabel="weight")
    title = ax1.set_title("")
    curve, = ax2.plot([], [], color="C2")
    ax2.set(xlim=(0, N_FRAMES), ylim=(0, losses.max() * 1.05), xlabel="iteration", ylabel="loss")
    fig.tight_layout()

    def update(i):
        line.set_ydata(slopes[i] * xs - 190 * i / N_FRAMES)
        title.set_text(f"iteration {i}: slope {slopes[i]:.2f}")
        curve.set_data(np.arange(i + 1), losses[: i + 1])
        return line, title, curve

    return fig, update


def time_it(fn) -> float:
    """Seconds taken by fn()."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def record_with_pillowwriter(path: str) -> None:
    """The baseline: matplotlib's own animation writer."""
    fig, update = make_animation()
    FuncAnimation(fig, update, frames=N_FRAMES, blit=True).save(path, writer=PillowWriter(fps=FPS))
    plt.close(fig)


def record_with_common(path: str) -> None:
    """The contender: common.record_gif on the same figure and update function."""
    fig, update = make_animation()
    common.record_gif(fig, update, N_FRAMES, path, fps=FPS)
    plt.close(fig)


def main(repeats: int = 3) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ours, theirs = os.path.join(tmp, "record_gif.gif"), os.path.join(tmp, "pillowwriter.gif")
        # Alternate the two and keep each one's best time, so that load from other processes
        # on the machine does not favour either.
        t_theirs = t_ours = float("inf")
        for _ in range(repeats):
            t_theirs = min(t_theirs, time_it(lambda: record_with_pillowwriter(theirs)))
            t_ours = min(t_ours, time_it(lambda: record_with_common(ours)))
        s_theirs, s_ours = os.path.getsize(theirs), os.path.getsize(ours)
    print(f"{N_FRAMES} frames, 900x400 px, best of {repeats} runs each")
    print(f"FuncAnimation + PillowWriter: {t_theirs:6.2f} s  {s_theirs / 1e3:8.1f} kB")
    print(f"common.record_gif:            {t_ours:6.2f} s  {s_ours / 1e3:8.1f} kB")
    print(f"speed-up: {t_theirs / t_ours:.1f}x   size ratio (ours/theirs): {s_ours / s_theirs:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_gif",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3,
                        help="alternating runs of each; the best time of each is kept")
    main(repeats=parser.parse_args().repeats)
