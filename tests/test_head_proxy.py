"""Head proxy: the face closed into a head for occlusion, and the glasses rest points."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import trimesh
from numpy.testing import assert_allclose

from realtime.accessories.head_proxy import build_head_proxy
from realtime.geometry import face_frame
from realtime.topology import face_triangles

# Float32 vertices a few hundred mm from the camera: equivariance holds to ~1e-3 mm.
_MM_TOL = 2e-3


@pytest.fixture(scope="module")
def face_mm() -> np.ndarray:
    return np.load(Path(__file__).parent / "reference" / "face_frontal_mm.npy")


def test_proxy_is_a_closed_head(face_mm):
    proxy = build_head_proxy(face_mm, face_triangles())
    assert_allclose(proxy.vertices[:468], face_mm)  # the face itself is kept
    mesh = trimesh.Trimesh(proxy.vertices, proxy.triangles, process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent
    # An adult head is about 4 litres; the ears add a little.
    assert 3.0e6 < mesh.volume < 6.0e6
    face_part = proxy.triangles[: proxy.n_face_triangles]
    assert len(face_part) == len(face_triangles()) + 16 + 16 + 20  # eye and mouth closures


def test_rest_points_are_plausible(face_mm):
    proxy = build_head_proxy(face_mm, face_triangles())
    ears = proxy.ear_points_mm
    assert 130 < np.linalg.norm(ears[1] - ears[0]) < 175  # head breadth at the ears
    origin, axes = face_frame(face_mm)
    local = (ears - origin) @ axes.T
    assert_allclose(local[0, 1:], local[1, 1:], atol=1e-6)  # symmetric in the face frame
    assert 50 < local[0, 2] < 110  # behind the eyes
    nose = (proxy.nose_point_mm - origin) @ axes.T
    assert abs(nose[0]) < 5 and nose[2] < 0  # on the midline, in front of the eye corners


def test_proxy_moves_with_the_face(face_mm):
    """Rigidly moving the face moves the proxy the same way (no camera-frame assumptions)."""
    a = math.radians(50)
    rot = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    shift = np.array([30.0, -20.0, 100.0])
    moved = (face_mm.astype(np.float64) @ rot.T + shift).astype(np.float32)
    p0 = build_head_proxy(face_mm, face_triangles())
    p1 = build_head_proxy(moved, face_triangles())
    assert_allclose(p1.vertices, p0.vertices.astype(np.float64) @ rot.T + shift, atol=_MM_TOL * 50)
    assert_allclose(p1.ear_points_mm, p0.ear_points_mm @ rot.T + shift, atol=_MM_TOL * 50)


def test_wrong_shape_is_named(face_mm):
    with pytest.raises(ValueError, match="vertices_mm: expected shape"):
        build_head_proxy(face_mm[:, :2], face_triangles())
