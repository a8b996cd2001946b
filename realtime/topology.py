"""Topology of MediaPipe's 468-vertex face mesh: its triangles and named vertex groups.

In: nothing at run time (the triangle list is read from ``realtime/data/face_triangles.npy``,
written offline by ``realtime.topology_build`` from mediapipe's ``FACEMESH_TESSELATION`` edge list;
mediapipe is not imported here). Out: ``face_triangles() -> (852, 3) int32`` plus index constants
(nose, eyes, mouth, face oval, the 68-point iBUG-300W subset) and pure functions that check a
triangle list (edge-manifold, winding, boundary loops, Euler characteristic).

The surface: V = 468, E = 1,322, F = 852, Euler characteristic V - E + F = -2, i.e. a sphere with
four holes. Its boundary loops are the outer face contour (``FACE_OVAL``, 36 vertices), the two eye
openings (``RIGHT_EYE`` and ``LEFT_EYE``, 16 vertices each) and the mouth opening (``LIPS_INNER``,
20 vertices). Every edge lies on one face (boundary) or two (interior).

Winding: every face ``(a, b, c)`` is counter-clockwise when the face is seen from in front in a
right-handed, y-up view, so ``(b - a) x (c - a)`` points out of the face. In MediaPipe / OpenCV
coordinates (x right, y down, z away from the camera; smaller z is closer) that outward normal has
a *negative* z for a frontal face, and in image pixels (y down) the projected triangle has a
*negative* signed area ``(bx - ax)(cy - ay) - (by - ay)(cx - ax)``, i.e. it looks clockwise in
the y-down image array and counter-clockwise on the screen a person looks at.

"Right" and "left" in names are the person's own: their right eye is on the image's left.
"""

from __future__ import annotations

import collections
import functools
from dataclasses import dataclass
from importlib import resources

import numpy as np

from realtime.shapes import check_shape

N_VERTICES = 468
"""Vertices of the face mesh without the 10 iris points of the refined (478) model."""

# --- single landmarks --------------------------------------------------------------------------
NOSE_TIP = 1
"""The most forward point of the nose (pronasale)."""
NOSE_BOTTOM = 2
"""Subnasale, where the columella meets the upper lip."""
NOSE_BRIDGE = (168, 6, 197, 195, 5, 4)
"""The nose ridge from between the eyes (168, nasion area) down to just above the tip (4)."""
FOREHEAD_TOP = 10
"""Top of the face contour on the midline."""
CHIN = 152
"""Bottom of the face contour on the midline (menton)."""
RIGHT_EYE_OUTER, RIGHT_EYE_INNER = 33, 133
"""Corners of the person's right eye (image left)."""
LEFT_EYE_INNER, LEFT_EYE_OUTER = 362, 263
"""Corners of the person's left eye (image right)."""
MOUTH_RIGHT, MOUTH_LEFT = 61, 291
"""Mouth corners, person's right and left."""
UPPER_LIP_TOP, LOWER_LIP_BOTTOM = 0, 17
"""Outer lip contour on the midline."""
UPPER_LIP_INNER, LOWER_LIP_INNER = 13, 14
"""Inner lip contour on the midline (their distance is the mouth opening)."""
MIDLINE = (10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 164, 0, 11, 12, 13, 14, 15, 16,
           17, 18, 200, 199, 175, 152)
"""Vertices on the face's plane of symmetry, top to bottom."""

# --- closed loops, in order (taken from mediapipe's FACEMESH_* connection sets) ------------------
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
             377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67,
             109)
"""The outer face contour (36 vertices), from the forehead top toward the person's left
(image right) and round; it is the outer boundary loop of the mesh."""
RIGHT_EYE = (33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7)
"""Eyelid margin of the person's right eye (16), outer corner, upper lid, inner corner, lower lid."""
LEFT_EYE = (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249)
"""Eyelid margin of the person's left eye (16), outer corner, upper lid, inner corner, lower lid."""
LIPS_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91,
              146)
"""Outer lip contour (vermilion border, 20), right corner, upper lip, left corner, lower lip."""
LIPS_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88,
              95)
"""Inner lip contour (20); the mouth opening of the mesh."""
RIGHT_EYEBROW = (46, 53, 52, 65, 55, 70, 63, 105, 66, 107)
"""Person's right eyebrow: lower edge outer to inner, then upper edge outer to inner."""
LEFT_EYEBROW = (276, 283, 282, 295, 285, 300, 293, 334, 296, 336)
"""Person's left eyebrow: lower edge outer to inner, then upper edge outer to inner."""

# --- iBUG 300-W 68-point subset -----------------------------------------------------------------
IBUG68_FROM_MESH = np.array(
    [
        162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,  # 0-16 jaw
        71, 63, 105, 66, 107,  # 17-21 person's right eyebrow
        336, 296, 334, 293, 301,  # 22-26 person's left eyebrow
        168, 197, 5, 4,  # 27-30 nose bridge
        75, 97, 2, 326, 305,  # 31-35 nose bottom
        33, 160, 158, 133, 153, 144,  # 36-41 person's right eye
        362, 385, 387, 263, 373, 380,  # 42-47 person's left eye
        61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,  # 48-59 outer lips
        78, 82, 13, 312, 308, 317, 14, 87,  # 60-67 inner lips
    ],
    dtype=np.int64,
)
"""``(68,) int64``: for each iBUG-300W / dlib landmark, the nearest face-mesh vertex.

This is the widely circulated one-vertex-per-point mapping (used, for example, by ByteDance's
LatentSync 1.5 and the MaixPy face-landmark examples). It is approximate: the jaw points 0-16 are
annotated on the visible silhouette in iBUG but are fixed mesh vertices here, so they drift with
yaw; the eyebrow points lie on the brow's upper edge; 27-30 follow the mesh ridge rather than
the annotators' bridge. Expect a few pixels of offset against hand annotations, more on the jaw.
"""


def _loop_edges(loop) -> set[tuple[int, int]]:
    return {tuple(sorted((loop[i], loop[(i + 1) % len(loop)]))) for i in range(len(loop))}


@functools.lru_cache(maxsize=1)
def _load_triangles() -> np.ndarray:
    path = resources.files("realtime") / "data" / "face_triangles.npy"
    with resources.as_file(path) as real_path:
        triangles = np.load(real_path)
    triangles = check_shape("face_triangles.npy", triangles, (None, 3)).astype(np.int32)
    triangles.setflags(write=False)
    return triangles


def face_triangles() -> np.ndarray:
    """Triangles of the 468-vertex face mesh: ``(852, 3) int32``, read-only, cached.

    Indices into the 468 MediaPipe vertices, wound so ``(b - a) x (c - a)`` points out of the face
    (toward the camera for a frontal face: negative z in MediaPipe / OpenCV coordinates).
    """
    return _load_triangles()


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


@dataclass(frozen=True)
class SurfaceReport:
    """Combinatorial checks of a triangle list.

    edges: ``(E, 2) int64`` undirected edges, smaller index first, sorted.
    edge_face_counts: ``(E,) int64`` faces on each edge.
    edge_manifold: every edge lies on one or two faces.
    winding_consistent: every interior edge is traversed once in each direction.
    boundary_loops: closed loops of boundary edges, each a tuple of vertex indices in the
        direction the faces traverse them, longest first.
    euler: V - E + F over the vertices used by the faces.
    """

    edges: np.ndarray
    edge_face_counts: np.ndarray
    edge_manifold: bool
    winding_consistent: bool
    boundary_loops: tuple[tuple[int, ...], ...]
    euler: int


def check_surface(triangles: np.ndarray, n_vertices: int | None = None) -> SurfaceReport:
    """Check ``triangles (F, 3) int`` as a surface (see ``SurfaceReport``); nothing is raised.

    ``n_vertices`` counts the vertices for the Euler characteristic (default: those used).
    """
    triangles = check_shape("triangles", triangles, (None, 3)).astype(np.int64)
    directed = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    undirected = np.sort(directed, axis=1)
    edges, counts = np.unique(undirected, axis=0, return_counts=True)
    directed_set = collections.Counter(map(tuple, directed.tolist()))
    winding = all(n == 1 for n in directed_set.values())
    boundary_next: dict[int, list[int]] = collections.defaultdict(list)
    for a, b in directed.tolist():
        if (b, a) not in directed_set:
            boundary_next[a].append(b)
    loops = []
    remaining = {a: list(bs) for a, bs in boundary_next.items()}
    while any(remaining.values()):
        start = min(a for a, bs in remaining.items() if bs)
        loop, current = [start], start
        while True:
            nxt = remaining[current].pop()
            if nxt == start:
                break
            loop.append(nxt)
            current = nxt
            if not remaining.get(current):
                break  # an open chain: not a closed loop, reported as it is
        loops.append(tuple(loop))
    loops.sort(key=len, reverse=True)
    used = n_vertices if n_vertices is not None else len(np.unique(triangles))
    return SurfaceReport(
        edges=edges,
        edge_face_counts=counts,
        edge_manifold=bool(np.all((counts == 1) | (counts == 2))),
        winding_consistent=winding,
        boundary_loops=tuple(loops),
        euler=int(used - len(edges) + len(triangles)),
    )


def same_loop(loop_a, loop_b) -> bool:
    """Whether two vertex loops are the same cycle (either direction, any start)."""
    return len(loop_a) == len(loop_b) and _loop_edges(loop_a) == _loop_edges(loop_b)


def inter_ocular_distance(vertices: np.ndarray) -> float:
    """Distance in the image plane between the outer eye corners (33, 263) of ``(468, 2 or 3)``
    vertices, in their units: the inter-ocular distance (IOD) that normalises landmark errors,
    as in the 300-W benchmark."""
    return float(np.linalg.norm(vertices[RIGHT_EYE_OUTER, :2] - vertices[LEFT_EYE_OUTER, :2]))


def median_distance_iod(vertices: np.ndarray, reference: np.ndarray) -> float:
    """Median 2D distance between the vertices of two ``(468, 2 or 3)`` meshes, in inter-ocular
    distances of ``reference``."""
    distances = np.linalg.norm(vertices[:, :2] - reference[:, :2], axis=1)
    return float(np.median(distances) / max(inter_ocular_distance(reference), 1e-6))
