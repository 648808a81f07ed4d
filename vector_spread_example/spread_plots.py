"""Drawing helpers of vector_spread_example.ipynb: vectors on the circle, points on the sphere.

The notebook imports this module from its own folder. Nothing here is TensorFlow: it only draws
the configurations that the notebook's gradient steps produce.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.patches import Circle
from scipy.spatial import ConvexHull

# points with 5 neighbours orange, with 6 blue, any other number grey
NEIGHBOUR_COLOURS = {5: "C1", 6: "C0"}


def spokes(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x and y data of lines from the origin to each point, separated by NaNs."""
    points = np.asarray(points, dtype=float)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must be an (N, 2) array, got shape {points.shape}")
    xy = np.zeros((len(points), 3, 2))
    xy[:, 1] = points
    xy[:, 2] = np.nan
    return xy[..., 0].ravel(), xy[..., 1].ravel()


def circle_axes(ax: Axes) -> None:
    """Draw the unit circle on `ax`, with equal scales and no axes."""
    t = np.linspace(0, 2 * np.pi, 200)
    ax.plot(np.cos(t), np.sin(t), color="#BBBBBB", lw=1)
    ax.set_xlim(-1.2, 1.2)
    ax.set_ylim(-1.2, 1.2)
    ax.set_aspect("equal")
    ax.set_axis_off()


def view_rotation(azim: float, elev: float) -> np.ndarray:
    """Rows: the screen's right and up directions, then the direction towards the viewer."""
    a, e = np.radians(azim), np.radians(elev)
    right = np.array([-np.sin(a), np.cos(a), 0.0])
    towards = np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])
    return np.array([right, np.cross(towards, right), towards])


def neighbour_edges(points: np.ndarray) -> np.ndarray:
    """(E, 2) index pairs of neighbouring points: the edges of their convex hull's triangles."""
    faces = ConvexHull(points).simplices
    pairs = {tuple(sorted(e)) for f in faces for e in itertools.combinations(f, 2)}
    return np.array(sorted(pairs))


def sphere_view(ax: Axes) -> Callable[..., Sequence[Artist]]:
    """Draw points of the unit sphere in 2D, far half veiled; returns update(points, azim)."""
    ax.set(xlim=(-1.12, 1.12), ylim=(-1.12, 1.12), aspect="equal")
    ax.set_axis_off()
    back_edges = ax.add_collection(LineCollection([], colors="0.55", lw=0.8, zorder=1))
    back_points = ax.scatter(np.zeros(0), np.zeros(0), s=28, zorder=2)
    veil = ax.add_patch(Circle((0, 0), 1, facecolor="white", alpha=0.65, edgecolor="0.3", lw=1.2,
                               zorder=3))
    front_edges = ax.add_collection(LineCollection([], colors="0.2", lw=1.3, zorder=4))
    front_points = ax.scatter(np.zeros(0), np.zeros(0), s=80, edgecolors="black", linewidths=0.8,
                              zorder=5)

    def update(points: np.ndarray, azim: float = 30.0, elev: float = 20.0) -> Sequence[Artist]:
        xyz = points @ view_rotation(azim, elev).T        # screen x, screen y, depth
        edges = neighbour_edges(points)
        colours = np.array([NEIGHBOUR_COLOURS.get(k, "0.5")
                            for k in np.bincount(edges.ravel(), minlength=len(points))])
        front, edge_front = xyz[:, 2] >= 0, xyz[edges, 2].mean(axis=1) >= 0
        segments = xyz[edges][:, :, :2]
        back_edges.set_segments(segments[~edge_front])
        front_edges.set_segments(segments[edge_front])
        for artist, chosen in ((back_points, ~front), (front_points, front)):
            artist.set_offsets(xyz[chosen, :2])
            artist.set_facecolor(colours[chosen])
        return back_edges, back_points, veil, front_edges, front_points

    return update
