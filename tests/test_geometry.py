"""Tests for realtime/geometry.py: the one head frame and its fixed variants, normals, edges."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from realtime import geometry, topology

_ROTATION_TOL = 1e-12  # exact maths in float64: only rounding
_FRONTAL = np.diag([1.0, -1.0, -1.0])  # canonical (x left, y up, z out) -> OpenCV camera axes


def _rotation(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    y, p, r = np.radians([yaw_deg, pitch_deg, roll_deg])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ rx @ ry


@pytest.fixture(scope="module")
def canonical_face() -> np.ndarray:
    """A ``(468, 3)`` mm face in the canonical frame: random vertices, the landmarks the head frame
    reads where a face has them (eyes 90 mm apart, forehead top up, chin down, nose tip in front)."""
    rng = np.random.default_rng(7)
    face = rng.normal(0.0, 30.0, (topology.N_VERTICES, 3)) + [0.0, -20.0, -20.0]
    face[topology.RIGHT_EYE_OUTER] = [-45.0, 0.0, 0.0]
    face[topology.LEFT_EYE_OUTER] = [45.0, 0.0, 0.0]
    face[topology.FOREHEAD_TOP] = [0.0, 70.0, 10.0]
    face[topology.CHIN] = [0.0, -110.0, 5.0]
    face[topology.NOSE_TIP] = [0.0, -45.0, 25.0]
    return face


def _in_camera(face: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    return face @ (rotation @ _FRONTAL).T + np.array([20.0, -10.0, 500.0])


def test_head_frame_of_a_frontal_face_is_the_opencv_flip(canonical_face):
    rotation, origin = geometry.head_frame(_in_camera(canonical_face, np.eye(3)))
    # Forehead top and chin share x and lean back alike only here: up is exactly +y of the face.
    assert_allclose(rotation[0], [1.0, 0.0, 0.0], atol=_ROTATION_TOL)
    assert_allclose(rotation @ rotation.T, np.eye(3), atol=_ROTATION_TOL)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    assert_allclose(origin, [20.0, -10.0, 500.0], atol=1e-9)  # midway between the outer eye corners


def test_head_frame_round_trip_at_any_pose(canonical_face):
    for angles in ((30, 10, -5), (-40, -20, 15), (0, 0, 90)):
        camera = _in_camera(canonical_face, _rotation(*angles))
        rotation, origin = geometry.head_frame(camera)
        head = (camera - origin) @ rotation.T
        # Back in the head frame: eyes on x, nose in front, forehead above the chin.
        assert_allclose(head[topology.LEFT_EYE_OUTER], [45.0, 0.0, 0.0], atol=1e-9)
        assert head[topology.NOSE_TIP, 2] > 0 and head[topology.FOREHEAD_TOP, 1] > head[topology.CHIN, 1]
        assert_allclose(camera, head @ rotation + origin, atol=1e-9)  # head -> camera -> head


def test_a_mirrored_face_keeps_the_nose_in_front_and_the_frame_right_handed(canonical_face):
    mirrored = _in_camera(canonical_face, np.eye(3)) * [-1.0, 1.0, 1.0]
    rotation, origin = geometry.head_frame(mirrored)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    assert (mirrored[topology.NOSE_TIP] - origin) @ rotation[2] > 0


def test_face_and_canonical_frames_are_fixed_transforms_of_the_head_frame(canonical_face):
    camera = _in_camera(canonical_face, _rotation(20, -10, 5))
    rotation, origin = geometry.head_frame(camera)
    face_origin, face_axes = geometry.face_frame(camera)
    # Bit for bit: the head proxy's and the accessories' numbers stay what they were.
    assert_array_equal(face_origin, origin)
    assert_array_equal(face_axes, rotation * [[1.0], [-1.0], [-1.0]])
    axes, centre = geometry.canonical_frame(camera)
    assert_array_equal(axes, rotation.T)
    assert axes.flags.c_contiguous
    assert_array_equal(centre, camera.mean(axis=0))


def test_face_frame_is_the_y_down_frame_the_head_proxy_always_used(canonical_face):
    # The head proxy's own frame before it became a view of the head frame, computed here the
    # way it was: the one function must reproduce it exactly.
    v = _in_camera(canonical_face, _rotation(-25, 15, 10))
    x = v[topology.LEFT_EYE_OUTER] - v[topology.RIGHT_EYE_OUTER]
    x /= np.linalg.norm(x)
    y = v[topology.CHIN] - v[topology.FOREHEAD_TOP]
    y -= x * np.dot(y, x)
    y /= np.linalg.norm(y)
    origin, axes = geometry.face_frame(v)
    assert_array_equal(axes, np.stack([x, y, np.cross(x, y)]))
    assert_array_equal(origin, (v[topology.LEFT_EYE_OUTER] + v[topology.RIGHT_EYE_OUTER]) / 2.0)


def test_vertex_normals_are_area_weighted_and_unit():
    # A tent: two triangles meeting on the x axis, the larger one steeper. The ridge vertices'
    # normals lean to the larger triangle by its area.
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 1], [0, -3, 3]], dtype=np.float64)
    triangles = np.array([[0, 1, 2], [1, 0, 3]])
    normals = geometry.vertex_normals(vertices, triangles)
    assert normals.dtype == np.float32
    assert_allclose(np.linalg.norm(normals, axis=1), 1.0, rtol=1e-6)
    faces = np.cross(vertices[triangles[:, 1]] - vertices[triangles[:, 0]], vertices[triangles[:, 2]] - vertices[triangles[:, 0]])
    expected = faces.sum(axis=0) / np.linalg.norm(faces.sum(axis=0))
    assert_allclose(normals[0], expected, rtol=1e-6)
    assert_allclose(geometry.face_normals(vertices, triangles), faces / np.linalg.norm(faces, axis=1, keepdims=True))


def _roof(ridge_deg: float, slivers: bool) -> tuple[np.ndarray, np.ndarray]:
    """Two planes meeting along the x axis, each tilted ``ridge_deg / 2`` down from it; with
    ``slivers`` the ridge is a strip of needle triangles whose far corners lie 0.01 off it on either
    side (what a boolean union leaves where two surfaces cross)."""
    half = np.radians(ridge_deg / 2)
    xs = np.arange(6.0)
    side = lambda sign, d: np.column_stack([xs, np.full(6, sign * d * np.cos(half)), np.full(6, -d * np.sin(half))])  # noqa: E731
    rows = [side(-1, 1.0), side(-1, 0.01) if slivers else None, side(0, 0.0), side(1, 0.01) if slivers else None,
            side(1, 1.0)]
    rows = [r for r in rows if r is not None]
    vertices = np.vstack(rows)
    triangles = []
    for r in range(len(rows) - 1):
        for i in range(5):
            a, b, c, d = r * 6 + i, r * 6 + i + 1, (r + 1) * 6 + i, (r + 1) * 6 + i + 1
            triangles += [[a, c, b], [b, c, d]]
    return vertices, np.array(triangles)


@pytest.mark.parametrize("slivers", [False, True])
def test_creased_normals_keep_each_side_of_a_crease_and_smooth_a_gentle_bend(slivers):
    vertices, triangles = _roof(30.0, slivers)
    normals = geometry.creased_normals(vertices, triangles)
    assert normals.shape == (len(triangles), 3, 3) and normals.dtype == np.float32
    face = geometry.face_normals(vertices, triangles)
    # At 30 deg every corner keeps its own side's normal: the crease shades as one straight edge
    # (shared vertex normals lean each ridge corner 15 deg across it).
    for sign in (-1, 1):
        side = np.sign(face[:, 1]) == sign
        assert side.sum() >= 10
        assert_allclose(normals[side].reshape(-1, 3), np.repeat(face[side], 3, axis=0), atol=1e-3)
    # A 10 deg bend is smooth: the ridge's corners share the mean of both sides.
    vertices, triangles = _roof(10.0, slivers)
    normals = geometry.creased_normals(vertices, triangles)
    corners = vertices[triangles]
    on_ridge = (np.abs(corners[:, :, 1]) < 1e-9) & (corners[:, :, 0] > 0) & (corners[:, :, 0] < 5)  # not its ends
    assert_allclose(normals[on_ridge][:, 1], 0.0, atol=1e-3)


def test_unique_edges_of_the_face_mesh():
    edges = geometry.unique_edges(topology.face_triangles())
    assert len(edges) == 1322 and np.all(edges[:, 0] < edges[:, 1])  # E of the mesh, each once


def test_similarity_round_trip():
    rng = np.random.default_rng(3)
    source = rng.normal(size=(50, 3))
    rotation = _rotation(30, -20, 10)
    target = 1.7 * source @ rotation.T + [1.0, 2.0, 3.0]
    s, r, t = geometry.weighted_similarity(source, target, np.ones(50))
    assert s == pytest.approx(1.7, rel=1e-12)
    assert_allclose(r, rotation, atol=1e-12)
    assert_allclose(t, [1.0, 2.0, 3.0], atol=1e-12)


@pytest.mark.parametrize("subdivisions", [0, 1, 3])
def test_icosphere_is_closed_round_outward_and_trimesh_s_points(subdivisions):
    vertices, triangles = geometry.icosphere(subdivisions)
    assert vertices.shape == (10 * 4**subdivisions + 2, 3) and triangles.shape == (20 * 4**subdivisions, 3)
    assert np.allclose(np.linalg.norm(vertices, axis=1), 1.0)
    report = topology.check_surface(triangles, len(vertices))
    assert report.edge_manifold and report.winding_consistent and not report.boundary_loops and report.euler == 2
    # Wound outward: every triangle's normal points away from the centre.
    p = vertices[triangles]
    assert (np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p.mean(axis=1)) > 0).all()
    # Neighbours about equally far apart (no pinched poles): edge lengths within 1.4x of each other.
    lengths = np.linalg.norm(p - np.roll(p, 1, axis=1), axis=2)
    assert lengths.max() / lengths.min() < 1.4
    trimesh = pytest.importorskip("trimesh")
    theirs = trimesh.creation.icosphere(subdivisions).vertices
    assert np.allclose(np.sort(np.round(vertices, 9), axis=0), np.sort(np.round(theirs, 9), axis=0))


@pytest.mark.parametrize("roll_deg", [-50.0, -12.0, 0.0, 7.5, 30.0])
def test_a_face_s_roll_in_the_photo_is_its_up_s_turn_positive_with_the_top_to_the_right(canonical_face,
                                                                                            roll_deg):
    # The canonical face seen frontally (image y down), turned in the image plane by roll_deg.
    upright_px = canonical_face[:, :2] * [1.0, -1.0]
    turn = np.radians(roll_deg)
    turning = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    rolled_px = upright_px @ turning.T + [320.0, 240.0]
    assert geometry.face_roll_deg(rolled_px) == pytest.approx(roll_deg, abs=1e-9)
    top_offset = rolled_px[topology.FOREHEAD_TOP, 0] - rolled_px[topology.CHIN, 0]
    assert np.sign(top_offset) == np.sign(roll_deg)  # positive: the forehead's top right of the chin


def test_a_face_s_roll_is_nan_without_a_shape_and_refuses_a_wrong_shape():
    assert np.isnan(geometry.face_roll_deg(np.full((topology.N_VERTICES, 3), np.nan)))
    with pytest.raises(ValueError, match="vertices_px"):
        geometry.face_roll_deg(np.zeros((68, 2)))


@pytest.mark.parametrize("angle,half_turn,wrapped", [(3.0 * np.pi, np.pi, -np.pi), (-0.5, np.pi, -0.5),
                                                      (190.0, 180.0, -170.0), (-180.0, 180.0, -180.0),
                                                      (100.0, 90.0, -80.0), (89.0, 90.0, 89.0)])
def test_an_angle_wraps_into_half_a_turn_either_side(angle, half_turn, wrapped):
    assert geometry.wrapped_angle(angle, half_turn) == pytest.approx(wrapped)
    assert np.allclose(geometry.wrapped_angle(np.array([angle, angle]), half_turn), wrapped)
