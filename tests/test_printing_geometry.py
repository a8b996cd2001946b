"""Tests for the pure geometry of realtime.printing (head frame, surface, solids)."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from realtime import topology
from realtime.printing import headframe, solids, surface

FRAME_TOL = 1e-9
"""Head-frame round trip of exact arithmetic (float64)."""
AREA_RTOL = 1e-2
"""Polygon area of a traced or meshed shape against its exact value."""


def _toy_face(seed=0):
    """A face-like point set: the 468 vertices on an ellipsoid cap with eyes, nose and chin placed."""
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(topology.N_VERTICES, 3)) * [30, 40, 5] + [0, 0, 60]
    v[topology.RIGHT_EYE_OUTER] = [-45, 0, 40]
    v[topology.LEFT_EYE_OUTER] = [45, 0, 40]
    v[topology.CHIN] = [0, -110, 50]
    v[topology.FOREHEAD_TOP] = [0, 50, 50]
    v[topology.NOSE_TIP] = [0, -35, 80]
    return v


def test_head_frame_round_trip_and_handedness():
    v = _toy_face()
    rotation, origin = headframe.head_frame(v)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=FRAME_TOL)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    head = headframe.to_head_frame(v)
    np.testing.assert_allclose(head @ rotation + origin, v, atol=FRAME_TOL)
    assert head[topology.LEFT_EYE_OUTER, 0] > 0 and head[topology.NOSE_TIP, 2] > 0
    assert head[topology.FOREHEAD_TOP, 1] > head[topology.CHIN, 1]


def test_head_frame_from_opencv_camera_axes():
    # Camera space (x right, y down, z away): a frontal face has its nose toward -z.
    v = _toy_face() * [1, -1, -1]
    rotation, _ = headframe.head_frame(v)
    np.testing.assert_allclose(rotation[1], [0, -1, 0], atol=0.2)  # up is -y in the image
    np.testing.assert_allclose(rotation[2], [0, 0, -1], atol=0.2)  # forward is toward the camera


def test_warped_sphere_is_a_closed_outward_surface():
    dirs, faces = surface.warped_sphere()
    np.testing.assert_allclose(np.linalg.norm(dirs, axis=1), 1.0, atol=1e-12)
    mesh = trimesh.Trimesh(dirs, faces, process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0
    front = dirs[:, 2] > 0.9
    assert front.mean() > (1 - 0.9) / 2  # denser than uniform near +z


def test_egg_radius_on_axes():
    axes = np.array([70.0, 100.0, 80.0, 95.0])
    dirs = np.array([[1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1.0]])
    np.testing.assert_allclose(surface.egg_radius(dirs, axes), axes)


def test_inside_distance_square():
    square = np.array([[0, 0], [2, 0], [2, 2], [0, 2.0]])
    d = surface.inside_distance(np.array([[1, 1], [3, 1], [1, 0.25]]), square)
    np.testing.assert_allclose(d, [1.0, -1.0, 0.25])


def test_heightfield_solid_volume():
    heights = np.full((5, 7), 2.0)
    heights[2, 3] = 3.0
    vertices, faces = solids.heightfield_solid(heights, 0.5, (1.0, -1.0))
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent
    # 3 x 2 mm at 2 mm high, plus a tent of height 1 over the six triangles (0.125 mm^2 each)
    # that meet at the raised vertex with this diagonal pattern.
    np.testing.assert_allclose(mesh.volume, 3.0 * 2.0 * 2.0 + 1.0 * 6 * 0.125 / 3, rtol=1e-9)
    solid = solids.to_manifold(vertices, faces)
    back, back_faces, _ = solids.from_manifold(solid)
    np.testing.assert_allclose(trimesh.Trimesh(back, back_faces).volume, mesh.volume, rtol=1e-6)


def test_label_outline_size_and_holes():
    polygons = solids.text_outline("O8", 10.0)
    xy = np.vstack(polygons)
    np.testing.assert_allclose(xy[:, 1].max() - xy[:, 1].min(), 10.0, rtol=0.15)
    assert len(polygons) >= 5  # two outers, three counters
    cutter = solids.label_cutter("O8", 10.0, 0.6, 5.0)
    lo, hi = np.array(cutter.bounding_box()[:3]), np.array(cutter.bounding_box()[3:])
    assert hi[0] - lo[0] <= 5.0 + 1e-6
    np.testing.assert_allclose([lo[2], hi[2]], [-0.6, solids.CUT_OVERSHOOT_MM], atol=1e-6)
    assert solids.label_cutter("   ", 10.0, 0.6, 50.0).is_empty()


def test_rounded_box_area():
    box = solids.rounded_box(40.0, 20.0, 10.0, 5.0)
    exact = (40 * 20 - (4 - np.pi) * 25) * 10
    np.testing.assert_allclose(box.volume(), exact, rtol=AREA_RTOL)
