"""Face geometry: the pure mathematics every stage shares, in numpy.

In: arrays (face meshes ``(468, 3)``, point sets ``(n, 3)``, triangle lists ``(m, 3) int``) and
camera intrinsics. Out: arrays and numbers; nothing here keeps state. What is here:

- projection between MediaPipe's pixel convention and camera space (``unit_depth_points``,
  ``mesh_px_from_camera``);
- rigid and similarity fits: weighted and robust Umeyama (``weighted_similarity``,
  ``robust_similarity``) and the pose refined on image positions (``reprojection_pose``);
- THE head frame (``head_frame``; ``canonical_frame`` and ``face_frame`` are fixed transforms of it);
- normals: of a point cloud (``point_normals``), of a triangle mesh per vertex, area-weighted
  (``vertex_normals``) and per triangle (``face_normals``), and how frontally a vertex is seen
  (``visibility``); wireframe edges (``unique_edges``); the icosphere (``icosphere``);
- distances between the eyes (``interocular``: eye centres in 3D; ``inter_ocular_distance``:
  outer corners in the image, the 300-W normaliser), the eyes' depth (``eye_corner_depths``) and
  a face's roll in a photo (``face_roll_deg``: chin to forehead).

Landmark indices come from ``realtime.topology``, never from literals here.
"""

from __future__ import annotations

import math

import numpy as np

from realtime import topology
from realtime.camera import CameraIntrinsics
from realtime.shapes import check_shape

# Point-cloud normals (``point_normals``): the plane of a vertex's 10 nearest neighbours, a
# patch a few millimetres across on a face mesh (its vertices are ~5 mm apart), small enough to
# follow the nose and large enough not to follow the network's noise.
HEAD_NORMAL_NEIGHBOURS = 10
# ...oriented away from the head's centre, about 0.6 face widths behind the mean vertex.
HEAD_CENTRE_BEHIND_FACE_WIDTHS = 0.6


# ------------------------------------------------------------------------------------ projection


def unit_depth_points(vertices_px: np.ndarray, intrinsics: CameraIntrinsics) -> np.ndarray:
    """Unproject a pixel mesh to camera space at unit face depth.

    vertices_px: ``(n, 3)`` pixels; x, y undistorted image position, z relative depth in the
    pixel scale of x (MediaPipe convention). Returns ``(n, 3) float64`` camera-space points (OpenCV
    axes) in units of the face depth ``Zc``: multiply by ``Zc`` (mm) for millimetres.
    """
    v = check_shape("vertices_px", vertices_px, (None, 3), dtype=np.float64)
    # A relative depth of z pixels is z * Zc / fx millimetres at the face: Z = Zc * (1 + z / fx).
    depth = 1.0 + v[:, 2] / intrinsics.fx
    # X = (u - cx) * Z / fx ; Y = (v - cy) * Z / fy
    return np.stack([(v[:, 0] - intrinsics.cx) * depth / intrinsics.fx,
                     (v[:, 1] - intrinsics.cy) * depth / intrinsics.fy, depth], axis=1)


def mesh_px_from_camera(points_mm: np.ndarray, intrinsics: CameraIntrinsics, centre_depth_mm: float) -> np.ndarray:
    """Inverse of ``unit_depth_points`` (times ``centre_depth_mm``): camera-space points to the
    MediaPipe pixel convention.

    points_mm: ``(n, 3)`` camera space, mm. centre_depth_mm: depth of the face centre (z = 0), mm.
    Returns ``(n, 3) float64``: pixels x, y (pinhole, no distortion) and z relative depth in the
    pixel scale of x.
    """
    p = check_shape("points_mm", points_mm, (None, 3), dtype=np.float64)
    return np.stack([intrinsics.fx * p[:, 0] / p[:, 2] + intrinsics.cx,
                     intrinsics.fy * p[:, 1] / p[:, 2] + intrinsics.cy,
                     (p[:, 2] - centre_depth_mm) * intrinsics.fx / centre_depth_mm], axis=1)


# ------------------------------------------------------------------------------------ fits


def weighted_similarity(source: np.ndarray, target: np.ndarray, weights: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Weighted Umeyama: the similarity minimising ``sum w |s R source + t - target|^2``.

    source, target: ``(n, 3)`` points (any units; t is in target units). weights: ``(n,)`` >= 0.
    Returns ``(s, R (3, 3) float64 with det +1, t (3,) float64)``.
    """
    w = weights / max(float(weights.sum()), 1e-300)
    mu_s = w @ source
    mu_t = w @ target
    xs = source - mu_s
    xt = target - mu_t
    covariance = (xt * w[:, None]).T @ xs
    u, sv, vt = np.linalg.svd(covariance)
    d = np.ones(3)
    if np.linalg.det(u @ vt) < 0:
        d[2] = -1.0  # reflection: flip the weakest axis so R is a rotation
    rotation = (u * d) @ vt
    variance = float(w @ np.einsum("ij,ij->i", xs, xs))
    scale = float((sv * d).sum() / max(variance, 1e-300))
    return scale, rotation, mu_t - scale * rotation @ mu_s


def fast_median(values: np.ndarray) -> float:
    """Median of a 1-D array by partial sort: ``np.median``'s checks cost more than the work
    for the few hundred residuals fused every frame."""
    n = len(values)
    if n == 0:
        return 0.0
    half = n // 2
    if n % 2:
        return float(np.partition(values, half)[half])
    part = np.partition(values, (half - 1, half))
    return float(0.5 * (part[half - 1] + part[half]))


def robust_similarity(source: np.ndarray, target: np.ndarray, weights: np.ndarray, iterations: int = 3,
                      huber_k: float = 2.0, noise_floor: float = 0.0) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """``weighted_similarity`` made robust to outliers by iteratively reweighted least squares.

    After each fit, residuals larger than ``huber_k`` robust sigmas (1.4826 x median residual,
    at least ``noise_floor`` in target units) get Huber weights ``k sigma / r``.
    Returns ``(s, R, t, robust_weights (n,) in [0, 1])``.
    """
    robust = np.ones(len(source))
    s, rotation, t = weighted_similarity(source, target, weights)
    for _ in range(iterations):
        error = s * source @ rotation.T + t - target
        residual = np.sqrt(np.einsum("ij,ij->i", error, error))
        sigma = max(1.4826 * fast_median(residual[weights > 0]), noise_floor, 1e-12)
        robust = np.minimum(1.0, huber_k * sigma / np.maximum(residual, 1e-12))
        s, rotation, t = weighted_similarity(source, target, weights * robust)
    return s, rotation, t, robust


def reprojection_pose(source: np.ndarray, rays: np.ndarray, weights: np.ndarray, s: float, rotation: np.ndarray,
                      t: np.ndarray, iterations: int = 3, huber_k: float = 2.0,
                      noise_floor: float = 0.0, depths: np.ndarray | None = None,
                      depth_weight: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Refine a pose on the image positions (perspective-n-point, Gauss-Newton + IRLS), and
    optionally on the measured relative depths too.

    source: ``(n, 3)`` model points. rays: ``(n, 2)`` their normalised image positions
    ``((u - cx) / fx, (v - cy) / fy)``. weights: ``(n,)`` >= 0. s, rotation ``(3, 3)``, t ``(3,)``:
    the starting similarity, model -> camera, in the unit of the face's depth (about 1).
    Minimises ``sum w (|proj(p) - ray|^2 + depth_weight^2 (p_z - depth - mean)^2)`` with
    ``p = s R x + t``, ``proj(p) = (p_x / p_z, p_y / p_z)`` and ``mean`` the weighted mean of
    ``p_z - depth`` (only relative depth is measured), over R and t (the projection cannot see
    s and |t| apart, so s stays). depths: ``(n,)`` measured depths, same unit, or None (image
    positions alone). Residuals above ``huber_k`` robust sigmas (at least ``noise_floor``,
    normalised image units) of the image positions get Huber weights.
    Returns ``(rotation (3, 3) float64, t (3,) float64)``.
    """
    rotation, t = np.array(rotation, dtype=np.float64), np.array(t, dtype=np.float64)
    robust = np.ones(len(source))
    for _ in range(iterations):
        q = s * source @ rotation.T  # rotated, scaled model; p = q + t
        p = q + t
        inv_z = 1.0 / p[:, 2]
        residual = p[:, :2] * inv_z[:, None] - rays  # (n, 2)
        norm = np.sqrt(np.einsum("ij,ij->i", residual, residual))
        sigma = max(1.4826 * fast_median(norm[weights > 0]), noise_floor, 1e-12)
        robust = np.minimum(1.0, huber_k * sigma / np.maximum(norm, 1e-12))
        w = weights * robust
        # d proj / d p = [[1/z, 0, -x/z^2], [0, 1/z, -y/z^2]]; p(omega, dt) = exp([omega]x) q + t + dt
        # gives d p / d omega = -[q]x and d p / d dt = I. The products are written out per
        # column: this runs every frame, and building (n, 3, 3) cross-product matrices cost twice as much.
        x, y = p[:, 0] * inv_z, p[:, 1] * inv_z  # projected position
        qx, qy, qz = q[:, 0] * inv_z, q[:, 1] * inv_z, q[:, 2] * inv_z
        jacobian = np.empty((len(p), 2, 6))
        jacobian[:, 0, 0], jacobian[:, 0, 1], jacobian[:, 0, 2] = -x * qy, qz + x * qx, -qy
        jacobian[:, 1, 0], jacobian[:, 1, 1], jacobian[:, 1, 2] = -qz - y * qy, y * qx, qx
        jacobian[:, 0, 3], jacobian[:, 0, 4], jacobian[:, 0, 5] = inv_z, 0.0, -x * inv_z
        jacobian[:, 1, 3], jacobian[:, 1, 4], jacobian[:, 1, 5] = 0.0, inv_z, -y * inv_z
        rows = jacobian.reshape(-1, 6)  # one row per image coordinate
        weighted = rows * np.repeat(w, 2)[:, None]
        normal = weighted.T @ rows
        gradient = weighted.T @ residual.reshape(-1)
        if depths is not None and depth_weight > 0:
            # Relative depth: d p_z / d omega = (q_y, -q_x, 0); t_z drops out with the mean.
            share = w / max(float(w.sum()), 1e-300)
            depth_residual = p[:, 2] - depths
            depth_residual -= share @ depth_residual
            depth_rows = np.zeros((len(p), 6))
            depth_rows[:, 0], depth_rows[:, 1] = q[:, 1] - share @ q[:, 1], share @ q[:, 0] - q[:, 0]
            weighted_depth = depth_rows * (w * depth_weight ** 2)[:, None]
            normal += weighted_depth.T @ depth_rows
            gradient += weighted_depth.T @ depth_residual
        step = np.linalg.solve(normal + 1e-12 * np.eye(6), -gradient)
        rotation = rotation_from_vector(step[:3]) @ rotation
        t = t + step[3:]
    return rotation, t


def rotation_from_vector(rotvec: np.ndarray) -> np.ndarray:
    """Rodrigues: rotation vector ``(3,)`` radians -> ``(3, 3) float64``."""
    angle = float(np.linalg.norm(rotvec))
    if angle < 1e-15:
        return np.eye(3)
    x, y, z = np.asarray(rotvec, dtype=np.float64) / angle
    k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + math.sin(angle) * k + (1.0 - math.cos(angle)) * k @ k


# ------------------------------------------------------------------------------------ head frame


def head_frame(vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The head frame of a face mesh: THE head frame every module uses.

    vertices: ``(468, 3) float`` any rigid frame, any length unit (camera space with OpenCV axes,
    image pixels with relative depth, a canonical identity, millimetres).
    Returns ``(rotation (3, 3) float64, origin (3,) float64)`` with
    ``head_point = rotation @ (point - origin)``. The rows of ``rotation`` are the head axes in
    input coordinates: x from the person's right outer eye corner to the left one, y up (chin
    to forehead top, made orthogonal to x; in the natural head posture that line is close to
    vertical), z = x cross y, out of the face. The origin is midway between the outer eye
    corners. A frontal, upright face in OpenCV camera axes gives ``rotation = diag(1, -1, -1)``.
    A mirrored input (the nose tip behind the eyes along z) keeps the frame right-handed with
    the nose in front by flipping x.

    Other frames are fixed transforms of this one, never frames of their own: fusion's canonical
    frame is its axes as columns about the mean vertex (``canonical_frame``); the face frame of
    the head proxy and the accessories flips y and z (``face_frame``: y down, z into the head,
    as image rows run); printing uses it as it is (``realtime.printing.headframe``).
    """
    v = check_shape("vertices", vertices, (topology.N_VERTICES, 3), dtype=np.float64)
    right, left = v[topology.RIGHT_EYE_OUTER], v[topology.LEFT_EYE_OUTER]
    origin = 0.5 * (right + left)
    x_axis = _unit(left - right)
    up = v[topology.FOREHEAD_TOP] - v[topology.CHIN]
    y_axis = _unit(up - x_axis * (up @ x_axis))
    z_axis = np.cross(x_axis, y_axis)
    if (v[topology.NOSE_TIP] - origin) @ z_axis < 0:
        # The input is mirrored: keep the frame right-handed and the nose in front by flipping x.
        z_axis = -z_axis
        x_axis = np.cross(y_axis, z_axis)
    return np.stack([x_axis, y_axis, z_axis]), origin


def canonical_frame(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fusion's canonical frame: the head frame's axes (``head_frame``) as the columns of
    ``axes (3, 3) float64``, centred on ``centre (3,)``, the mean vertex, so
    ``canonical = (point - centre) @ axes``.

    points: ``(468, 3)`` any rigid frame and unit. The fused identity is kept centred on its
    own centroid (``realtime.stages.fusion``), and so are the rendered test heads built from it.
    """
    rotation, _ = head_frame(points)
    return np.ascontiguousarray(rotation.T), np.asarray(points, dtype=np.float64).mean(axis=0)


FACE_FRAME_FLIP = np.array([1.0, -1.0, -1.0])
"""The face frame's axes over the head frame's: x kept, y and z reversed (y down, z into the head)."""


def face_frame(vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The face frame of the head proxy and the accessories: ``(origin (3,), axes (3, 3))``, rows
    x (towards the person's left), y (down, forehead to chin), z (into the head), origin midway
    between the outer eye corners, so ``local = (point - origin) @ axes.T``.

    It is the head frame (``head_frame``) with y and z reversed (``FACE_FRAME_FLIP``), exactly:
    the same axes, the same origin. vertices: ``(468, 3)`` any rigid frame and unit.
    """
    rotation, origin = head_frame(vertices)
    return origin, rotation * FACE_FRAME_FLIP[:, None]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


# ------------------------------------------------------------------------------------ normals


def point_normals(points: np.ndarray, neighbours: int = HEAD_NORMAL_NEIGHBOURS) -> np.ndarray:
    """Outward unit normals of a face mesh from local principal axes (no topology needed).

    points: ``(n, 3)`` canonical frame (z out of the face). Returns ``(n, 3) float64``: the
    direction of least spread of each vertex's ``neighbours`` nearest vertices, oriented away
    from a point behind the face (the head's centre, roughly).
    """
    squared = np.einsum("ij,ij->i", points, points)
    d2 = squared[:, None] + squared[None, :] - 2.0 * points @ points.T
    nearest = np.argpartition(d2, neighbours, axis=1)[:, :neighbours]
    local = points[nearest] - points[nearest].mean(axis=1, keepdims=True)
    _, _, vt = np.linalg.svd(local)
    normals = vt[:, 2, :]
    extent = np.ptp(points[:, 0])
    centre = points.mean(axis=0) - np.array([0.0, 0.0, HEAD_CENTRE_BEHIND_FACE_WIDTHS * extent])
    flip = np.einsum("ij,ij->i", normals, points - centre) < 0
    normals[flip] *= -1.0
    return normals


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals, ``(n, 3) float32`` unit vectors.

    ``vertices``: ``(n, 3)`` any unit; ``triangles``: ``(m, 3) int`` indices, counter-clockwise
    seen from outside in a right-handed frame. A vertex no triangle uses gets ``(0, 0, 0)``.
    """
    vertices = check_shape("vertices", vertices, (None, 3), dtype=np.float64)
    triangles = check_shape("triangles", triangles, (None, 3))
    a, b, c = (vertices[triangles[:, k]] for k in range(3))
    face_normals = np.cross(b - a, c - a)  # length = twice the area: the weighting comes free
    normals = np.zeros_like(vertices)
    for k in range(3):
        normals += np.stack(
            [np.bincount(triangles[:, k], face_normals[:, j], minlength=len(vertices)) for j in range(3)], axis=1
        )
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return (normals / np.maximum(length, 1e-12)).astype(np.float32)


CREASE_DEG = 25.0
"""``creased_normals``: faces meeting at a vertex share their shading when their normals lie within
this angle. The bust's smooth parts (face, hair, torso) bend a few degrees from triangle to
triangle; where the head's neck crosses the torso the surfaces meet at ~30 deg, a plinth's edges
at 90."""


def creased_normals(vertices: np.ndarray, triangles: np.ndarray, crease_deg: float = CREASE_DEG) -> np.ndarray:
    """Per-corner normals ``(m, 3, 3) float32`` (unit) for drawing ``triangles (m, 3) int`` of
    ``vertices (n, 3)`` unindexed: each corner averages (area-weighted) the faces around its vertex
    whose normals lie within ``crease_deg`` of its own face's, so a crease shades as an edge and
    the smooth parts stay smooth.

    Shared vertex normals average across a crease; splitting the mesh into smooth patches (trimesh's
    ``smooth_shaded``) keeps a vertex shared where thin triangles along the crease bridge its two
    sides, and the crease then shades as a row of teeth (the neck's crossing of the torso).
    """
    vertices = check_shape("vertices", vertices, (None, 3), dtype=np.float64)
    triangles = check_shape("triangles", triangles, (None, 3)).astype(np.int64)
    a, b, c = (vertices[triangles[:, k]] for k in range(3))
    weighted = np.cross(b - a, c - a)  # length = twice the area
    unit = weighted / np.maximum(np.linalg.norm(weighted, axis=1, keepdims=True), 1e-12)
    corner_vertex = triangles.ravel()
    corner_face = np.repeat(np.arange(len(triangles)), 3)
    # Every pair of corners around one vertex: sort the corners by vertex, pair each with its group.
    order = np.argsort(corner_vertex, kind="stable")
    _, start, count = np.unique(corner_vertex[order], return_index=True, return_counts=True)
    group_count = np.repeat(count, count)
    group_start = np.repeat(start, count)
    first = np.repeat(np.arange(len(order)), group_count)
    within = np.arange(len(first)) - np.repeat(np.cumsum(group_count) - group_count, group_count)
    second = np.repeat(group_start, group_count) + within
    own, other = corner_face[order[first]], corner_face[order[second]]
    near = np.einsum("ij,ij->i", unit[own], unit[other]) >= np.cos(np.radians(crease_deg))
    target = order[first[near]]
    normals = np.stack([np.bincount(target, weighted[other[near], k], minlength=len(corner_face)) for k in range(3)],
                       axis=1)
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    return normals.reshape(-1, 3, 3).astype(np.float32)


def face_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Unit face normals ``(F, 3) float64`` of ``vertices (V, 3)`` (any unit) and ``triangles (F, 3) int``.

    ``n = (b - a) x (c - a) / |...|``; degenerate faces give a zero vector.
    """
    vertices = check_shape("vertices", vertices, (None, 3), dtype=np.float64)
    triangles = check_shape("triangles", triangles, (None, 3))
    corners = vertices[triangles]
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)


def visibility(normals: np.ndarray, rotation: np.ndarray, view_direction: np.ndarray) -> np.ndarray:
    """How frontally each vertex is seen: ``max(0, n . v)``, ``(n,) float64`` in [0, 1].

    normals: ``(n, 3)`` canonical frame. rotation: ``(3, 3)`` canonical to camera.
    view_direction: ``(3,)`` camera space, from the camera to the face.
    """
    towards_camera = -rotation.T @ (view_direction / np.linalg.norm(view_direction))
    return np.clip(normals @ towards_camera, 0.0, 1.0)


def unique_edges(triangles: np.ndarray) -> np.ndarray:
    """The undirected edges of a triangle mesh, ``(e, 2) int32``, each once (for wireframes)."""
    triangles = check_shape("triangles", triangles, (None, 3))
    return topology.mesh_edges(triangles)[0].astype(np.int32)


_GOLDEN = (1.0 + math.sqrt(5.0)) / 2.0
ICOSAHEDRON_VERTICES = np.array([
    [-1, _GOLDEN, 0], [1, _GOLDEN, 0], [-1, -_GOLDEN, 0], [1, -_GOLDEN, 0],
    [0, -1, _GOLDEN], [0, 1, _GOLDEN], [0, -1, -_GOLDEN], [0, 1, -_GOLDEN],
    [_GOLDEN, 0, -1], [_GOLDEN, 0, 1], [-_GOLDEN, 0, -1], [-_GOLDEN, 0, 1]]) / math.hypot(1.0, _GOLDEN)
"""The regular icosahedron's 12 unit vertices: the cyclic permutations of (0, +-1, +-golden ratio)."""
ICOSAHEDRON_TRIANGLES = np.array([
    [0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4], [11, 10, 2],
    [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9], [4, 9, 5],
    [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]])
"""Its 20 faces, wound outward."""


def icosphere(subdivisions: int) -> tuple[np.ndarray, np.ndarray]:
    """A unit icosphere: ``(vertices (N, 3) float64, triangles (M, 3) int64)``, wound outward.

    The icosahedron, each triangle split in four ``subdivisions`` times with the new vertices
    pushed out onto the sphere: N = 10 * 4**s + 2, M = 20 * 4**s, every vertex ~ equally far from
    its neighbours (no pole pinches them as on a latitude-longitude sphere).
    """
    vertices, triangles = ICOSAHEDRON_VERTICES, ICOSAHEDRON_TRIANGLES.astype(np.int64)
    for _ in range(int(subdivisions)):
        edges, _, triangles = topology.split_triangles(triangles, len(vertices))
        middle = vertices[edges].sum(axis=1)
        vertices = np.vstack([vertices, middle / np.linalg.norm(middle, axis=1, keepdims=True)])
    return vertices, triangles


# ------------------------------------------------------------------------------------ eyes


def interocular(points: np.ndarray) -> float:
    """Distance between the two eye centres (mean of each eye's corners), units of ``points``."""
    right = 0.5 * (points[topology.RIGHT_EYE_OUTER] + points[topology.RIGHT_EYE_INNER])
    left = 0.5 * (points[topology.LEFT_EYE_OUTER] + points[topology.LEFT_EYE_INNER])
    return float(np.linalg.norm(left - right))


def face_height(points: np.ndarray) -> float:
    """Distance from the chin (152) to the forehead's top (10) of ``(468, d)`` points, in their units
    (``[:, :2]`` of image pixels: the height in the image plane)."""
    return float(np.linalg.norm(points[topology.FOREHEAD_TOP] - points[topology.CHIN]))


def inter_ocular_distance(vertices: np.ndarray) -> float:
    """Distance in the image plane between the outer eye corners (33, 263) of ``(468, 2 or 3)``
    vertices, in their units: the inter-ocular distance (IOD) that normalises landmark errors,
    as in the 300-W benchmark."""
    return float(np.linalg.norm(vertices[topology.RIGHT_EYE_OUTER, :2] - vertices[topology.LEFT_EYE_OUTER, :2]))


def wrapped_angle(angle, half_turn: float = math.pi):
    """``angle`` (a number or an array) wrapped into ``[-half_turn, half_turn)``: radians by default,
    degrees with ``half_turn=180``, and a line's lean (no head or foot) with ``half_turn=90``."""
    return angle - 2.0 * half_turn * np.floor((angle + half_turn) / (2.0 * half_turn))


def face_roll_deg(vertices_px: np.ndarray) -> float:
    """How far a face is rolled in the photo, degrees: its up, the line from the chin (152) to the
    forehead's top (10) of ``vertices_px (468, 2+)`` image pixels (y down), against the image's
    vertical; positive where the forehead's top lies right of the chin (the sense of
    ``stages.level.segment_leans``), nan where those vertices are not finite (a chin on the forehead's
    top, no up at all, reads 180). The face's up as the crops
    around it stand it upright (``stages.segmentation.face_crop``); one measure for every stage:
    whether the people lean as the room does (``stages.level``), whether a face found in a photo
    turned half round stands upside down in it (``stages.photo.half_turned``). The eye line, half
    as long, reads small faces worse: Einstein's small face in a hall turned 10 deg reads -8.4 deg by it, -1.8 by this."""
    v = check_shape("vertices_px", vertices_px, (topology.N_VERTICES, None), dtype=np.float64)
    up = v[topology.FOREHEAD_TOP, :2] - v[topology.CHIN, :2]
    return float(np.degrees(np.arctan2(up[0], -up[1])))


def median_distance_iod(vertices: np.ndarray, reference: np.ndarray) -> float:
    """Median 2D distance between the vertices of two ``(468, 2 or 3)`` meshes, in inter-ocular
    distances of ``reference``."""
    distances = np.linalg.norm(vertices[:, :2] - reference[:, :2], axis=1)
    return float(np.median(distances) / max(inter_ocular_distance(reference), 1e-6))


def eye_corner_depths(depth: np.ndarray) -> np.ndarray:
    """Depth of each eye, ``(2,)`` right eye first: the mean of its two corners' ``depth``
    ``(468,)`` (any unit). The iris network's own z is unreliable; the eyelid corners are not."""
    return np.array([0.5 * (depth[topology.RIGHT_EYE_OUTER] + depth[topology.RIGHT_EYE_INNER]),
                     0.5 * (depth[topology.LEFT_EYE_OUTER] + depth[topology.LEFT_EYE_INNER])])
