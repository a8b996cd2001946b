"""Tests for realtime.topology: the rebuilt face-mesh triangles against mediapipe's edge list."""

from __future__ import annotations

import numpy as np
import pytest

from realtime import geometry, topology

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
    from realtime.tools.topology_build import astronaut_landmarks_px

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


def test_ibug68_mapping_is_affine_on_triangles():
    triangles, weights = topology.IBUG68_TRIANGLES, topology.IBUG68_WEIGHTS
    assert triangles.shape == weights.shape == (68, 3)
    assert triangles.min() >= 0 and triangles.max() < topology.N_VERTICES
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=_WEIGHT_SUM_ATOL)
    faces = {tuple(sorted(t)) for t in topology.face_triangles().tolist()}
    assert all(tuple(sorted(t)) in faces for t in triangles.tolist())  # each point on one mesh triangle
    nearest = topology.IBUG68_FROM_MESH
    assert nearest.shape == (68,) and np.all(nearest == triangles[np.arange(68), weights.argmax(axis=1)])
    # Affine: the landmarks of a moved mesh are the moved landmarks (pixels or millimetres alike).
    rng = np.random.default_rng(0)
    vertices = rng.normal(size=(topology.N_VERTICES, 3))
    matrix, shift = rng.normal(size=(3, 3)), rng.normal(size=3)
    np.testing.assert_allclose(topology.ibug68_points(vertices @ matrix.T + shift),
                               topology.ibug68_points(vertices) @ matrix.T + shift, atol=1e-9)
    assert set(topology.IBUG68_GROUPS) == {"jaw", "brows", "nose", "eyes", "mouth"}
    assert sorted(i for group in topology.IBUG68_GROUPS.values() for i in group) == list(range(68))


def test_ibug68_mapping_keeps_its_landmarks_in_place_on_a_real_face(astronaut_px):
    points = topology.ibug68_points(astronaut_px[:, :2])
    # Eye corners near the mesh's own corners, the nose tip near the mesh's, person's right on image left.
    iod = geometry.inter_ocular_distance(astronaut_px)
    for point, vertex in ((36, topology.RIGHT_EYE_OUTER), (39, topology.RIGHT_EYE_INNER),
                          (42, topology.LEFT_EYE_INNER), (45, topology.LEFT_EYE_OUTER), (30, topology.NOSE_TIP)):
        assert np.linalg.norm(points[point] - astronaut_px[vertex, :2]) < _CORNER_NEAR_IOD * iod, point
    assert points[0, 0] < points[8, 0] < points[16, 0] and points[8, 1] > points[30, 1]
    # The jaw's ends sit at the ears' level (below the eyes), not on the temples (the old mapping's).
    eye_level = points[36:48, 1].mean()
    assert points[0, 1] > eye_level and points[16, 1] > eye_level
    old = astronaut_px[topology.IBUG68_FROM_MESH_V1, :2]
    assert old[0, 1] < eye_level and old[16, 1] < eye_level


# --- the 68 points against an independent labeller ---------------------------------------------
# References (tests/reference/make_ibug68_reference.py): dlib's 68-point shape predictor, trained
# on iBUG 300-W, run once on the astronaut portrait and Grace Hopper (each also mirrored); and the
# astronaut's rendered head (realtime.tools.synthetic_face) at known turns, whose 68 points are dlib's
# on the frontal photo lifted onto the head's 3D surface and projected: the jaw is the 3D jaw.
# Errors: mean point-to-point distance over the face box's size (sqrt(w h) of the reference
# points, AFLW2000-3D's NME), per group. Measured (photos / renders), old -> new: jaw 5.0 -> 3.0
# / 8.0 -> 5.8, brows 3.8 -> 2.5 / 3.2 -> 3.0, nose 1.6 -> 1.2 / 1.7 -> 1.4, eyes 1.8 -> 1.7 /
# 1.8 -> 1.8, mouth 1.8 -> 1.3 / 2.4 -> 2.0 (% of the box).
_RENDER_POSES = ((0, 0), (20, 0), (-20, 0), (35, 0), (-35, 0), (50, 0), (-50, 0), (0, 15), (0, -15), (25, 10),
                 (-25, -10))
_WEIGHT_SUM_ATOL = 1e-12  # normalised on load
_CORNER_NEAR_IOD = 0.08


def _nme_by_group(predicted: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    size = np.sqrt(np.prod(np.ptp(reference, axis=0)))
    error = np.linalg.norm(predicted - reference, axis=1) / size
    return {name: float(error[list(group)].mean()) for name, group in topology.IBUG68_GROUPS.items()}


def _lift_to_mesh(points_px: np.ndarray, mesh_px: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each ``(2,)`` point, the mesh triangle containing it (or the one it lies least outside)
    and its affine coordinates there: the same point on any other pose of the mesh."""
    lifted = []
    for point in points_px:
        best = None
        for triangle in topology.face_triangles():
            a, b, c = mesh_px[triangle, :2]
            basis = np.stack([a - c, b - c], axis=1)
            if abs(np.linalg.det(basis)) < 1e-9:
                continue
            w = np.linalg.solve(basis, point - c)
            weights = np.array([w[0], w[1], 1.0 - w.sum()])
            outside = max(0.0, -weights.min())
            if best is None or outside < best[0]:
                best = (outside, triangle, weights)
        lifted.append(best[1:])
    return lifted


@pytest.fixture(scope="module")
def labelled_meshes(gl_ctx):
    """``{"photos": [...], "renders": [...]}`` of (photo mode's mesh (468, 3) px, reference (68, 2) px)."""
    import sys
    from pathlib import Path

    from realtime.camera import CameraIntrinsics
    from realtime.stages.photo import PhotoReconstructor
    from realtime.tools.synthetic_face import SyntheticFaceRenderer, astronaut_head, head_rotation, project_head_points

    sys.path.insert(0, str(Path(__file__).parent / "reference"))
    from make_ibug68_reference import OUTPUT, reference_images

    reference = np.load(OUTPUT)
    images = reference_images()
    labelled = {"photos": [], "renders": []}
    with PhotoReconstructor() as photo:
        for name, image in images.items():
            labelled["photos"].append((photo.run(image).faces[0].vertices_px.astype(np.float64), reference[name]))
        head = astronaut_head()
        astronaut_mesh = photo.run(images["astronaut"]).faces[0].vertices_px.astype(np.float64)
        truth_mm = np.array([w @ head.face_mm[t] for t, w in _lift_to_mesh(reference["astronaut"], astronaut_mesh)])
        intrinsics, translation = CameraIntrinsics.default(640, 480), np.array([0.0, 0.0, 550.0])
        with SyntheticFaceRenderer(gl_ctx, head) as renderer:
            for yaw, pitch in _RENDER_POSES:
                rotation = head_rotation(yaw, pitch)
                faces = photo.run(renderer.render(rotation, translation, intrinsics)).faces
                assert faces, (yaw, pitch)
                labelled["renders"].append((faces[0].vertices_px.astype(np.float64),
                                            project_head_points(truth_mm, rotation, translation, intrinsics)))
    return labelled


@pytest.mark.parametrize("subset", ["photos", "renders"])
def test_ibug68_mapping_beats_the_one_vertex_mapping_in_every_group(labelled_meshes, subset):
    new, old = [], []
    for mesh, reference in labelled_meshes[subset]:
        new.append(_nme_by_group(topology.ibug68_points(mesh[:, :2]), reference))
        old.append(_nme_by_group(mesh[topology.IBUG68_FROM_MESH_V1, :2], reference))
    for group in topology.IBUG68_GROUPS:
        new_error = np.mean([e[group] for e in new])
        old_error = np.mean([e[group] for e in old])
        assert new_error < old_error, (subset, group, new_error, old_error)


def test_photo_report_uses_the_fitted_mapping(labelled_meshes, astronaut):
    from realtime.stages.photo import PhotoReconstructor

    with PhotoReconstructor() as photo:
        face = photo.run(astronaut).faces[0]
    np.testing.assert_allclose(face.landmarks68_px, topology.ibug68_points(face.vertices_px[:, :2]), atol=1e-3)


def test_normals_face_camera_on_real_face(astronaut_px):
    triangles = topology.face_triangles()
    normals = geometry.face_normals(astronaut_px, triangles)
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
    from realtime.tools.topology_build import build

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
    from realtime.geometry import inter_ocular_distance, median_distance_iod

    reference = np.zeros((468, 3), np.float32)
    reference[33, 0], reference[263, 0] = 0.0, 100.0
    assert inter_ocular_distance(reference) == pytest.approx(100.0)
    shifted = reference + [2.0, 0.0, 5.0]  # depth does not count: the error is in the image
    assert median_distance_iod(shifted, reference) == pytest.approx(0.02)


def _grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    """A flat n x n grid of unit squares in z = 0, two triangles each: ``(vertices, triangles)``."""
    x, y = np.meshgrid(np.arange(n + 1.0), np.arange(n + 1.0))
    vertices = np.column_stack([x.ravel(), y.ravel(), np.zeros(x.size)])
    i = np.arange(n)[:, None] * (n + 1) + np.arange(n)[None, :]
    a, b, c, d = i.ravel(), i.ravel() + 1, i.ravel() + n + 1, i.ravel() + n + 2
    return vertices, np.concatenate([np.column_stack([a, b, d]), np.column_stack([a, d, c])])


def test_loop_subdivision_of_the_face_is_trimesh_s_surface_triangle_for_triangle():
    trimesh = pytest.importorskip("trimesh")
    values = np.random.default_rng(0).normal(size=(topology.N_VERTICES, 3))
    for iterations in (1, 2):
        levels = topology.face_subdivision(iterations)
        dense = topology.subdivide(values, levels)
        expected, expected_faces = trimesh.remesh.subdivide_loop(values, topology.face_triangles(), iterations)
        assert dense.shape == expected.shape and levels[-1].triangles.shape == expected_faces.shape
        # The same points on the same triangles (the new vertices are numbered in another order).
        np.testing.assert_allclose(dense[levels[-1].triangles], expected[expected_faces], atol=1e-12)
    assert topology.face_subdivision(2) is topology.face_subdivision(2)


def test_loop_subdivision_rules_on_a_flat_grid_and_its_boundary():
    vertices, triangles = _grid(4)
    level = topology.loop_level(triangles, len(vertices))
    dense = level.apply(vertices)
    assert level.n_out == len(vertices) + 56 and len(level.triangles) == 4 * len(triangles)
    # A plane stays a plane, and the triangles stay wound as they were (all facing +z).
    assert np.abs(dense[:, 2]).max() == 0.0
    p = dense[level.triangles]
    assert (np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])[:, 2] > 0).all()
    # Old vertices inside and along a straight boundary stay put (their weights sum to 1, their
    # neighbours lie symmetrically); a corner keeps 3/4 of itself and takes 1/8 of each of its two
    # boundary neighbours (Loop's boundary rule has no corners). A boundary edge's new vertex is
    # its midpoint.
    corners = [0, 4, 20, 24]
    assert np.allclose(np.delete(dense[:len(vertices)], corners, axis=0), np.delete(vertices, corners, axis=0))
    assert np.allclose(dense[0], [0.125, 0.125, 0.0]) and np.allclose(dense[24], [3.875, 3.875, 0.0])
    odd = dense[len(vertices):]
    edges = np.unique(np.sort(np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]]),
                              axis=1), axis=0)
    on_border = np.all(np.isin(vertices[edges][:, :, :2], [0.0, 4.0]).any(axis=2), axis=1) & (
        (vertices[edges[:, 0], 0] == vertices[edges[:, 1], 0]) | (vertices[edges[:, 0], 1] == vertices[edges[:, 1], 1]))
    assert np.allclose(odd[on_border], vertices[edges[on_border]].mean(axis=1))
    # Linear in the values: columns ride along independently.
    values = np.random.default_rng(1).normal(size=(len(vertices), 4))
    both = level.apply(values)
    assert np.allclose(both[:, :2], level.apply(values[:, :2])) and np.allclose(both[:, 2:], level.apply(values[:, 2:]))


def test_loop_subdivision_smooths_a_bump_and_refuses_an_edge_on_three_faces():
    vertices, triangles = _grid(4)
    bumped = vertices.copy()
    centre = 12  # (2, 2), interior, six neighbours
    bumped[centre, 2] = 1.0
    dense = topology.loop_level(triangles, len(vertices)).apply(bumped)
    beta = (40.0 - (2.0 * np.cos(2.0 * np.pi / 6) + 3.0) ** 2) / (64.0 * 6)
    assert dense[centre, 2] == pytest.approx(1.0 - 6 * beta)
    with pytest.raises(ValueError, match="more than two faces"):
        topology.loop_level(np.array([[0, 1, 2], [1, 0, 3], [0, 1, 4]]), 5)
