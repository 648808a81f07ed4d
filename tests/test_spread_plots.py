"""Tests of vector_spread_example/spread_plots.py, the drawing helpers of the notebook."""
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import spread_plots  # noqa: E402

FOLDER = Path(__file__).resolve().parents[1] / "vector_spread_example"


@pytest.fixture(scope="module")
def plots():
    """spread_plots.py, the module beside the notebook."""
    return spread_plots


def icosahedron():
    phi = (1 + np.sqrt(5)) / 2
    v = [(0, a, b * phi) for a in (1, -1) for b in (1, -1)]
    v = np.array([np.roll(p, k) for p in v for k in range(3)], dtype=float)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_spokes_join_the_origin_to_each_point(plots):
    xs, ys = plots.spokes(np.array([[1.0, 0.0], [0.0, -1.0]]))
    np.testing.assert_array_equal(xs[[0, 1, 3, 4]], [0, 1, 0, 0])
    np.testing.assert_array_equal(ys[[0, 1, 3, 4]], [0, 0, 0, -1])
    assert np.isnan(xs[2]) and np.isnan(ys[5])
    with pytest.raises(ValueError, match=r"\(N, 2\) array"):
        plots.spokes(np.ones((3, 3)))


def test_view_rotation_is_a_rotation_looking_along_its_last_row(plots):
    r = plots.view_rotation(30.0, 20.0)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)
    np.testing.assert_allclose(plots.view_rotation(0.0, 90.0)[2], [0, 0, 1], atol=1e-12)


def test_icosahedron_has_five_neighbours_everywhere(plots):
    edges = plots.neighbour_edges(icosahedron())
    assert edges.shape == (30, 2)
    assert np.all(np.bincount(edges.ravel()) == 5)


def test_sphere_view_draws_front_and_back_in_neighbour_colours(plots):
    fig, ax = plt.subplots()
    back_edges, back_points, _, front_edges, front_points = plots.sphere_view(ax)(icosahedron())
    assert len(back_points.get_offsets()) + len(front_points.get_offsets()) == 12
    assert len(back_edges.get_segments()) + len(front_edges.get_segments()) == 30
    orange = matplotlib.colors.to_rgba("C1")
    for points in (back_points, front_points):
        assert all(tuple(c) == orange for c in points.get_facecolor())
    plt.close(fig)
