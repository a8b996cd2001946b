"""Tests for realtime/printing/raster.py: z-buffer height fields, bilinear sampling, harmonic fill."""

import numpy as np
import pytest
import trimesh

from realtime.printing import raster

SPHERE_HEIGHT_TOLERANCE = 1e-3  # of the radius: a level-6 icosphere's facets lie within 3e-4 of it


def test_front_heights_of_a_sphere_is_its_upper_half():
    sphere = trimesh.creation.icosphere(subdivisions=6)
    step, n = 0.01, 241
    z = raster.front_heights(sphere.vertices, sphere.faces, (-1.2, -1.2), step, (n, n))
    ys, xs = np.mgrid[0:n, 0:n] * step - 1.2
    inside = xs**2 + ys**2 < 0.95
    np.testing.assert_allclose(z[inside], np.sqrt(1 - xs[inside] ** 2 - ys[inside] ** 2), atol=SPHERE_HEIGHT_TOLERANCE)
    assert np.isnan(z[xs**2 + ys**2 > 1.01]).all()


def test_front_heights_interpolates_values_from_the_front_most_triangle():
    # Two parallel squares; the upper one (z = 2) carries the value 7, the lower 3.
    vertices = np.array([[0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1], [0, 0, 2], [1, 0, 2], [1, 1, 2], [0, 1, 2.0]])
    faces = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]])
    values = np.array([3, 3, 3, 3, 7, 7, 7, 7.0])
    out = raster.front_heights(vertices, faces, (0.05, 0.05), 0.1, (9, 9), values)
    np.testing.assert_allclose(out, 7.0)


def test_sample_bilinear_matches_a_linear_ramp_and_is_nan_outside():
    grid = np.add.outer(np.arange(40.0), 2 * np.arange(50.0))  # row + 2 col
    x = np.array([0.5, 10.25, 48.9, 60.0])
    y = np.array([0.5, 20.75, 38.1, 5.0])
    out = raster.sample_bilinear(grid, x, y)
    # OpenCV's bilinear weights come in 1/32 of a cell: the ramp (slope <= 2) is off by < 2/32.
    np.testing.assert_allclose(out[:3], y[:3] + 2 * x[:3], atol=2.0 / 32)
    assert np.isnan(out[3])


def test_sample_bilinear_takes_more_samples_than_opencv_maps_allow_on_one_side():
    grid = np.ones((4, 4))
    out = raster.sample_bilinear(grid, np.full(70_000, 1.5), np.full(70_000, 1.5))
    assert out.shape == (70_000,) and np.allclose(out, 1.0)


def test_fill_harmonic_reproduces_a_linear_field_in_a_hole():
    grid = np.add.outer(3 * np.arange(30.0), np.arange(30.0))
    holes = np.zeros_like(grid, bool)
    holes[8:20, 5:25] = True
    broken = grid.copy()
    broken[holes] = np.nan
    np.testing.assert_allclose(raster.fill_harmonic(broken, holes), grid, atol=1e-9)


@pytest.mark.parametrize("shape", [(1, 1), (3, 3)])
def test_fill_harmonic_without_holes_returns_the_grid(shape):
    grid = np.arange(np.prod(shape), dtype=float).reshape(shape)
    np.testing.assert_array_equal(raster.fill_harmonic(grid, np.zeros(shape, bool)), grid)


@pytest.mark.parametrize("slope", [1 / 7, 1 / 3, 0.6])
def test_inside_distance_is_smooth_along_a_slanted_edge(slope):
    # A half-plane whose edge runs at a slant across the pixels: the distance inside it is linear.
    # The plain distance transform ripples along the edge with the staircase (up to 0.36-0.40
    # cell); what the relief's rim is shaped with must not (it crimped the rim).
    ys, xs = np.mgrid[0:200, 0:200].astype(np.float64)
    normal = np.array([-slope, 1.0]) / np.hypot(slope, 1.0)
    true = -((xs - 100.0) * normal[0] + (ys - 100.0) * normal[1])
    covered = true >= 0
    distance = raster.distance_inside_region(covered, 2.0) / 2.0
    band = (true > 1.5) & (true < 8.0) & (xs > 30) & (xs < 170)
    error = distance[band] - true[band]
    ripple = error - np.polyval(np.polyfit(true[band], error, 3), true[band])  # the smooth bias aside
    assert np.abs(ripple).max() < 0.25
    assert np.all(distance[~covered] == 0.0)
