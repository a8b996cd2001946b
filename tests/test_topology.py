"""Tests for realtime.topology: the rebuilt face-mesh triangles against mediapipe's edge list."""

from __future__ import annotations

import numpy as np
import pytest

from realtime import topology

mp = pytest.importorskip("mediapipe")
CONNECTIONS = mp.solutions.face_mesh_connections

EXPECTED_FACES = 852
"""3 F = 2,556 directed tesselation edges."""
EXPECTED_EULER = -2
"""A sphere with four holes: face contour, two eyes, mouth."""
MIN_FACING_FRACTION = 0.9
"""Share of faces whose normal points toward the camera on the astronaut photo; the rest are the
rolled-in lips and the silhouette of the cheeks, which truly face down or sideways (95.8 % built)."""
MIN_MEAN_NORMAL_TOWARD_CAMERA = 0.5
"""-z of the area-weighted mean unit normal: a face seen from the front, not edge-on."""


def _undirected(edges) -> set[tuple[int, int]]:
    return {tuple(sorted(map(int, e))) for e in edges}


def _loop_from_connections(connections) -> set[tuple[int, int]]:
    return _undirected(connections)


@pytest.fixture(scope="module")
def report():
    return topology.check_surface(topology.face_triangles(), topology.N_VERTICES)


@pytest.fixture(scope="module")
def astronaut_px():
    from realtime.topology_build import astronaut_landmarks_px

    return astronaut_landmarks_px()


def test_shape_dtype_and_cache():
    triangles = topology.face_triangles()
    assert triangles.shape == (EXPECTED_FACES, 3)
    assert triangles.dtype == np.int32
    assert triangles.min() >= 0 and triangles.max() < topology.N_VERTICES
    assert topology.face_triangles() is triangles
    assert not triangles.flags.writeable
    assert len(np.unique(np.sort(triangles, axis=1), axis=0)) == EXPECTED_FACES


def test_edges_are_exactly_the_tesselation(report):
    tesselation = _undirected(CONNECTIONS.FACEMESH_TESSELATION)
    used = _undirected(report.edges)
    assert used <= tesselation, "a triangle edge is not in FACEMESH_TESSELATION"
    assert tesselation <= used, "a tesselation edge is on no triangle"


def test_edge_manifold_and_consistent_winding(report):
    assert report.edge_manifold
    assert set(np.unique(report.edge_face_counts).tolist()) == {1, 2}
    assert report.winding_consistent


def test_boundary_loops_and_euler(report):
    assert report.euler == EXPECTED_EULER
    assert [len(loop) for loop in report.boundary_loops] == [36, 20, 16, 16]
    for name, loop in [
        ("FACE_OVAL", topology.FACE_OVAL),
        ("LIPS_INNER", topology.LIPS_INNER),
        ("RIGHT_EYE", topology.RIGHT_EYE),
        ("LEFT_EYE", topology.LEFT_EYE),
    ]:
        assert any(topology.same_loop(b, loop) for b in report.boundary_loops), name


def test_boundary_direction_matches_mediapipe(report):
    # Boundary edges appear once in mediapipe's directed list, in the direction of the face
    # they belong to: an independent check of the winding (interior edges appear both ways).
    directed = set(CONNECTIONS.FACEMESH_TESSELATION)
    one_way = {e for e in directed if (e[1], e[0]) not in directed}
    boundary = {
        (loop[i], loop[(i + 1) % len(loop)]) for loop in report.boundary_loops for i in range(len(loop))
    }
    assert boundary == one_way


def test_named_loops_match_mediapipe_connections():
    pairs = [
        (topology.FACE_OVAL, CONNECTIONS.FACEMESH_FACE_OVAL),
        (topology.RIGHT_EYE, CONNECTIONS.FACEMESH_RIGHT_EYE),
        (topology.LEFT_EYE, CONNECTIONS.FACEMESH_LEFT_EYE),
    ]
    for loop, connections in pairs:
        edges = {tuple(sorted((loop[i], loop[(i + 1) % len(loop)]))) for i in range(len(loop))}
        assert edges == _loop_from_connections(connections)
    lips = _loop_from_connections(CONNECTIONS.FACEMESH_LIPS)
    for loop in (topology.LIPS_OUTER, topology.LIPS_INNER):
        edges = {tuple(sorted((loop[i], loop[(i + 1) % len(loop)]))) for i in range(len(loop))}
        assert edges <= lips


def test_ibug68_mapping():
    ibug = topology.IBUG68_FROM_MESH
    assert ibug.shape == (68,)
    assert len(np.unique(ibug)) == 68
    assert ibug.min() >= 0 and ibug.max() < topology.N_VERTICES
    assert ibug[36] == topology.RIGHT_EYE_OUTER and ibug[39] == topology.RIGHT_EYE_INNER
    assert ibug[42] == topology.LEFT_EYE_INNER and ibug[45] == topology.LEFT_EYE_OUTER
    assert ibug[8] == topology.CHIN and ibug[30] == 4


def test_normals_face_camera_on_real_face(astronaut_px):
    triangles = topology.face_triangles()
    normals = topology.face_normals(astronaut_px, triangles)
    # MediaPipe / OpenCV axes: smaller z is closer, so a camera-facing normal has n_z < 0.
    assert np.mean(normals[:, 2] < 0) >= MIN_FACING_FRACTION
    corners = astronaut_px[triangles]
    area_normals = 0.5 * np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    mean = area_normals.sum(axis=0)
    assert -mean[2] / np.linalg.norm(mean) >= MIN_MEAN_NORMAL_TOWARD_CAMERA
    # In y-down pixels the outward faces have a negative signed area (clockwise in the array).
    xy = corners[:, :, :2]
    signed = (xy[:, 1, 0] - xy[:, 0, 0]) * (xy[:, 2, 1] - xy[:, 0, 1]) - (
        xy[:, 1, 1] - xy[:, 0, 1]
    ) * (xy[:, 2, 0] - xy[:, 0, 0])
    assert np.mean(signed < 0) >= MIN_FACING_FRACTION


def test_named_landmarks_on_real_face(astronaut_px):
    p = astronaut_px
    # Person's right eye is on the image's left; the nose tip is the closest midline point.
    assert p[topology.RIGHT_EYE_OUTER, 0] < p[topology.RIGHT_EYE_INNER, 0] < p[topology.LEFT_EYE_INNER, 0]
    assert p[topology.LEFT_EYE_INNER, 0] < p[topology.LEFT_EYE_OUTER, 0]
    midline = np.array(topology.MIDLINE)
    assert midline[np.argmin(p[midline, 2])] in (topology.NOSE_TIP, 4)
    assert p[topology.FOREHEAD_TOP, 1] < p[topology.NOSE_TIP, 1] < p[topology.CHIN, 1]


def test_rebuild_matches_shipped_file():
    from realtime.topology_build import build

    np.testing.assert_array_equal(build(), topology.face_triangles())


def test_check_surface_detects_defects():
    tri = np.array([[0, 1, 2], [0, 2, 3]])
    ok = topology.check_surface(tri)
    assert ok.edge_manifold and ok.winding_consistent and ok.euler == 1
    flipped = topology.check_surface(np.array([[0, 1, 2], [0, 3, 2]]))
    assert not flipped.winding_consistent
    fin = topology.check_surface(np.array([[0, 1, 2], [0, 2, 3], [0, 2, 4]]))
    assert not fin.edge_manifold


def test_vertex_distance_is_relative_to_the_reference_inter_ocular_distance():
    from realtime.topology import inter_ocular_distance, median_distance_iod

    reference = np.zeros((468, 3), np.float32)
    reference[33, 0], reference[263, 0] = 0.0, 100.0
    assert inter_ocular_distance(reference) == pytest.approx(100.0)
    shifted = reference + [2.0, 0.0, 5.0]  # depth does not count: the error is in the image
    assert median_distance_iod(shifted, reference) == pytest.approx(0.02)
