"""Head proxy: the 468-vertex face extended to a closed head for occlusion.

The fused face mesh ends at the face oval, so on its own it cannot hide a glasses temple
behind the head in a side view. ``build_head_proxy`` keeps the face as it is and sweeps the
oval back over the skull, past the ears, to a pole at the back of the head, following an
ellipsoid sized from the face's own width (anthropometric ratios), and adds two ear shells.
It also returns where the glasses rest: the nose bridge and the top of each ear root.

In: ``vertices_mm (468, 3)`` camera space (OpenCV axes, mm) and the face triangles. Out: a
``HeadProxy`` whose first 468 vertices are the face's own, in the same space. Pure numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from realtime import topology
from realtime.geometry import face_frame
from realtime.shapes import check_shape

# MediaPipe face-mesh landmarks used here (``realtime.topology``), wearer's right = image left.
EYE_OUTER_RIGHT, EYE_OUTER_LEFT = topology.RIGHT_EYE_OUTER, topology.LEFT_EYE_OUTER
# The nose ridge's top two vertices (168 between the eyes, then 6): where a bridge rests.
NOSE_BRIDGE_UPPER, NOSE_BRIDGE_LOWER = topology.NOSE_BRIDGE[:2]
FACE_OVAL = np.array(topology.FACE_OVAL, dtype=np.int32)
# Openings of the face surface, closed with fans so the proxy is watertight.
FACE_HOLES = (topology.RIGHT_EYE, topology.LEFT_EYE, topology.LIPS_INNER)

# Head ellipsoid in the face frame (``realtime.geometry.face_frame``: the head frame with y and
# z reversed; origin between the outer eye corners, x to the wearer's left, y down, z into the head), as multiples of the outer eye-corner distance E (adult mean
# ~90 mm; it is the most stable width the face mesh has). Adult means (ANSUR II, ~E = 90 mm):
# head breadth ~153 mm, top of the skull ~120 mm above the eyes, glabella ~19 mm in front of
# and the back of the head ~170 mm behind the outer eye corners, widest ~76 mm behind them.
HEAD_HALF_WIDTH = 0.85
HEAD_HALF_HEIGHT = 1.35
HEAD_HALF_DEPTH = 1.05
HEAD_CENTRE_DEPTH = 0.85
# Face-oval points beside the eyes and temples (wearer's right, left): glasses temples pass
# outside them on the way to the ears.
TEMPLE_SIDE_POINTS = (topology.TEMPLE_SIDE_RIGHT, topology.TEMPLE_SIDE_LEFT)
# Ear root top, where temples rest: just below the eye corners, at the head's widest depth.
EAR_BELOW_EYES = 0.05
# Ear shell: semi-axes (out, down, back) and centre offset from the rest point, mm. The helix
# rises ~8 mm above the temple groove, so the ear hides the temple where it bends.
EAR_RADII_MM = (7.0, 31.0, 15.0)
EAR_CENTRE_OFFSET_MM = (5.0, 22.0, 7.0)
# Where glasses rest on the nose: opticians centre lenses ~2 mm below the pupils, and the
# bridge bears on the sides of the nose, a few millimetres behind the skin of the dorsum.
LENS_BELOW_EYES_MM = 2.0
NOSE_REST_DEPTH_MM = 4.0
# Rings between the face oval and the back pole: enough for a smooth silhouette in a profile.
SHELL_RINGS = 12


@dataclass(frozen=True)
class HeadProxy:
    """A closed head around a face.

    ``vertices (n, 3) float32`` mm (the first 468, ``topology.N_VERTICES``, are the face), ``triangles (m, 3) int32``
    wound outward, ``ear_points_mm (2, 3) float64`` ear rest points (wearer's right, left),
    ``nose_point_mm (3,) float64`` nose-bridge rest point, ``face_axes (3, 3) float64`` rows x
    (towards the wearer's left), y (down), z (into the head) of the face frame, all camera space.
    ``temple_side_mm (2, 4, 3) float64``: face-side points temples must clear (right, left).
    ``n_face_triangles``: the first triangles that make the face (its own plus the eye and
    mouth closures); the rest are skull and ears.
    """

    vertices: np.ndarray
    triangles: np.ndarray
    ear_points_mm: np.ndarray
    nose_point_mm: np.ndarray
    face_axes: np.ndarray
    n_face_triangles: int
    temple_side_mm: np.ndarray


MIN_FACE_DEPTH_MM = 10.0
"""A fused face with a vertex nearer the camera than this (mm) is not drawn: the renderer's near
plane (``RenderOptions.near_mm``)."""


def fused_vertices(fused, min_depth_mm: float = MIN_FACE_DEPTH_MM) -> np.ndarray | None:
    """The drawable face of ``fused``: ``(468, 3) float32`` camera space mm, or None.

    ``fused``: None (no face), an object with ``vertices_mm`` (a ``FusionResult``) or the array
    itself. An empty fusion result (zeros), a broken one (NaN) or one reaching in front of
    ``min_depth_mm`` is "no face", not an error."""
    vertices = fused if fused is None or isinstance(fused, np.ndarray) else getattr(fused, "vertices_mm", None)
    if vertices is None:
        return None
    vertices = check_shape("vertices_mm", vertices, (topology.N_VERTICES, 3), dtype=np.float32)
    if np.all(np.isfinite(vertices)) and np.all(vertices[:, 2] > min_depth_mm):
        return vertices
    return None


def build_head_proxy(vertices_mm: np.ndarray, face_triangles: np.ndarray) -> HeadProxy:
    """Extend the face ``vertices_mm (468, 3)`` (camera space, mm) to a closed head.

    ``face_triangles (F, 3) int``: the face topology. Returns a ``HeadProxy`` in camera space.
    """
    v = check_shape("vertices_mm", vertices_mm, (topology.N_VERTICES, 3), dtype=np.float64)
    face_triangles = check_shape("face_triangles", face_triangles, (None, 3))
    origin, axes = face_frame(v)
    local = (v - origin) @ axes.T  # face frame coordinates, mm
    width = abs(local[EYE_OUTER_LEFT, 0] - local[EYE_OUTER_RIGHT, 0])
    half = np.array([HEAD_HALF_WIDTH, HEAD_HALF_HEIGHT, HEAD_HALF_DEPTH]) * width
    centre = np.array([0.0, 0.0, HEAD_CENTRE_DEPTH * width])

    oval = local[FACE_OVAL]
    theta = np.arctan2((oval[:, 1] - centre[1]) / half[1], oval[:, 0] / half[0])
    # Polar angle of each oval point on the ellipsoid, from the front pole (phi = 0).
    phi0 = np.arccos(np.clip((centre[2] - oval[:, 2]) / half[2], -1.0, 1.0))

    def on_ellipsoid(th: np.ndarray, ph: np.ndarray) -> np.ndarray:
        return centre + half * np.stack([np.sin(ph) * np.cos(th), np.sin(ph) * np.sin(th), -np.cos(ph)], -1)

    # Offset of the real oval from the ellipsoid, faded out over the first rings so the shell
    # starts exactly on the face and settles onto the ellipsoid.
    offset = oval - on_ellipsoid(theta, phi0)
    rings = []
    for k in range(1, SHELL_RINGS + 1):
        t = k / (SHELL_RINGS + 1)
        ph = phi0 + (math.pi - phi0) * t
        rings.append(on_ellipsoid(theta, ph) + offset * (1.0 - t) ** 2)
    back_pole = centre + np.array([0.0, 0.0, half[2]])
    shell = np.vstack(rings + [back_pole[None, :]])

    # Close the eyes and mouth with a fan around each opening's centroid, wound out of the face.
    hole_vertices, hole_tris = [], []
    for k, loop in enumerate(FACE_HOLES):
        loop = np.asarray(loop)
        centre_index = topology.N_VERTICES + k
        hole_vertices.append(local[loop].mean(axis=0))
        fan = np.stack([np.full(len(loop), centre_index), loop, np.roll(loop, -1)], -1)
        fan_local = np.vstack([local, np.array(hole_vertices)])
        a, b, c = (fan_local[fan[:, j]] for j in range(3))
        if np.sum(np.cross(b - a, c - a)[:, 2]) > 0:  # out of the face is -z in the face frame
            fan = fan[:, [0, 2, 1]]
        hole_tris.append(fan)
    local = np.vstack([local, np.array(hole_vertices)])
    n_base = len(local)
    face_part = np.vstack([face_triangles] + hole_tris)

    n_oval = len(FACE_OVAL)
    ring_index = [FACE_OVAL] + [n_base + k * n_oval + np.arange(n_oval) for k in range(SHELL_RINGS)]
    tris = []
    for a_ring, b_ring in zip(ring_index[:-1], ring_index[1:]):
        a_next, b_next = np.roll(a_ring, -1), np.roll(b_ring, -1)
        tris.append(np.stack([a_ring, b_ring, b_next], -1))
        tris.append(np.stack([a_ring, b_next, a_next], -1))
    pole = n_base + SHELL_RINGS * n_oval
    last = ring_index[-1]
    tris.append(np.stack([last, np.full(n_oval, pole), np.roll(last, -1)], -1))
    shell_tris = np.vstack(tris)

    # Ear rest points on the ellipsoid's side at the widest depth.
    ear_y = EAR_BELOW_EYES * width
    ears_local = []
    for side in (-1.0, 1.0):
        rest = np.array([0.0, ear_y, centre[2]])
        rest[0] = side * half[0] * math.sqrt(max(0.0, 1.0 - ((ear_y - centre[1]) / half[1]) ** 2))
        ears_local.append(rest)
    ears_local = np.array(ears_local)

    all_local = [local, shell]
    all_tris = [face_part, shell_tris]
    offset_count = n_base + len(shell)
    for k, side in enumerate((-1.0, 1.0)):
        c = ears_local[k] + np.array(EAR_CENTRE_OFFSET_MM) * [side, 1.0, 1.0]
        ev, et = _ellipsoid(c, np.array(EAR_RADII_MM))
        all_local.append(ev)
        all_tris.append(et + offset_count)
        offset_count += len(ev)
    local_all = np.vstack(all_local)
    triangles = np.vstack(all_tris).astype(np.int32)
    triangles = _orient_outward(local_all, triangles, np.concatenate(
        [np.zeros(len(face_part) + len(shell_tris), bool), np.ones(len(triangles) - len(face_part) - len(shell_tris), bool)]),
        centre, len(face_part))

    to_camera = lambda p: p @ axes + origin  # noqa: E731 - local helper, inverse of the frame map
    # Nose rest: on the dorsum line 168 -> 6 at the lens-centre height, then into the nose.
    upper, lower = local[NOSE_BRIDGE_UPPER], local[NOSE_BRIDGE_LOWER]
    lens_y = (local[EYE_OUTER_LEFT, 1] + local[EYE_OUTER_RIGHT, 1]) / 2.0 + LENS_BELOW_EYES_MM
    t = (lens_y - upper[1]) / (lower[1] - upper[1]) if abs(lower[1] - upper[1]) > 1e-6 else 0.0
    nose_local = upper + (lower - upper) * t + np.array([0.0, 0.0, NOSE_REST_DEPTH_MM])
    nose = to_camera(nose_local)
    return HeadProxy(
        vertices=to_camera(local_all).astype(np.float32), triangles=triangles,
        ear_points_mm=to_camera(ears_local), nose_point_mm=nose, face_axes=axes, n_face_triangles=len(face_part),
        temple_side_mm=v[np.array(TEMPLE_SIDE_POINTS)],
    )


def _ellipsoid(centre: np.ndarray, radii: np.ndarray, n_lat: int = 6, n_lon: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Closed ellipsoid: vertices ``(k, 3)`` and triangles ``(t, 3)`` (winding fixed later)."""
    lat = np.linspace(0.0, math.pi, n_lat + 1)[1:-1]
    lon = np.linspace(0.0, 2.0 * math.pi, n_lon, endpoint=False)
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    body = np.stack([np.sin(la) * np.cos(lo), -np.cos(la), np.sin(la) * np.sin(lo)], -1).reshape(-1, 3)
    unit = np.vstack([[0.0, -1.0, 0.0], body, [0.0, 1.0, 0.0]])
    rows = n_lat - 1
    tris = [np.stack([np.zeros(n_lon, int), 1 + np.arange(n_lon), 1 + (np.arange(n_lon) + 1) % n_lon], -1)]
    for i in range(rows - 1):
        a = 1 + i * n_lon + np.arange(n_lon)
        b = 1 + i * n_lon + (np.arange(n_lon) + 1) % n_lon
        tris += [np.stack([a, a + n_lon, b + n_lon], -1), np.stack([a, b + n_lon, b], -1)]
    bottom = len(unit) - 1
    a = 1 + (rows - 1) * n_lon + np.arange(n_lon)
    tris.append(np.stack([a, np.full(n_lon, bottom), 1 + (rows - 1) * n_lon + (np.arange(n_lon) + 1) % n_lon], -1))
    return centre + unit * radii, np.vstack(tris)


def _orient_outward(vertices: np.ndarray, triangles: np.ndarray, is_ear: np.ndarray, centre: np.ndarray, n_face: int) -> np.ndarray:
    """Rewind added triangles so their normals point away from their shape's centre.

    The face's own triangles (the first ``n_face``) keep the topology's winding.
    """
    triangles = triangles.copy()
    a, b, c = (vertices[triangles[:, k]] for k in range(3))
    normal = np.cross(b - a, c - a)
    centroid = (a + b + c) / 3.0
    reference = np.where(is_ear[:, None], np.nan, centre)
    # Each ear's own centre: the mean of its vertices (ears are convex).
    for ear in (0, 1):
        rows = np.flatnonzero(is_ear)
        rows = rows[: len(rows) // 2] if ear == 0 else rows[len(rows) // 2:]
        reference[rows] = vertices[np.unique(triangles[rows])].mean(axis=0)
    inward = np.sum(normal * (centroid - reference), axis=1) < 0
    inward[:n_face] = False
    triangles[inward] = triangles[inward][:, [0, 2, 1]]
    return triangles
