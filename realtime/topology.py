"""Topology of MediaPipe's 468-vertex face mesh: its triangles and named vertex groups.

In: nothing at run time (the triangle list is read from ``realtime/data/face_triangles.npy``,
written offline by ``realtime.tools.topology_build`` from mediapipe's ``FACEMESH_TESSELATION`` edge list;
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
N_IRIS_POINTS = 5
"""Points per eye of the iris network (and of the refined mesh): the centre, then the contour
right, up, left, down."""
N_REFINED_VERTICES = N_VERTICES + 2 * N_IRIS_POINTS
"""MediaPipe's refined mesh (478): the 468 face vertices, then each eye's iris points (right eye first)."""

# --- single landmarks --------------------------------------------------------------------------
NOSE_TIP = 1
"""The most forward point of the nose (pronasale)."""
NOSE_BOTTOM = 2
"""Subnasale, where the columella meets the upper lip."""
NOSE_BRIDGE = (168, 6, 197, 195, 5, 4)
"""The nose ridge from between the eyes (168, nasion area) down to just above the tip (4)."""
GLABELLA = 9
"""Between the brows, on the midline: the front of the cranium."""
FOREHEAD_TOP = 10
"""Top of the face contour on the midline."""
CHIN = 152
"""Bottom of the face contour on the midline (menton)."""
RIGHT_EYE_OUTER, RIGHT_EYE_INNER = 33, 133
"""Corners of the person's right eye (image left)."""
LEFT_EYE_INNER, LEFT_EYE_OUTER = 362, 263
"""Corners of the person's left eye (image right)."""
FACE_SIDE_RIGHT, FACE_SIDE_LEFT = 234, 454
"""The face outline at the cheekbones, in front of the ears: the face's width (bizygomatic)."""
TEMPLE_SIDE_RIGHT = (234, 127, 162, 93)
TEMPLE_SIDE_LEFT = (454, 356, 389, 323)
"""Face-outline points beside the eyes and temples, person's right and left: what glasses temples
pass outside of on their way to the ears."""
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

# --- vertex groups chosen by measurement ------------------------------------------------------
# Where fusion judges an identity change (``realtime.stages.fusion``): vertices spread over the face that carry its proportions
# but little expression (forehead, nose bridge and base, eye corners, cheekbones and temples;
# eyebrows, lips, jaw and lower cheeks are left out). Pose is not fitted on these alone: the
# outline and the nose tip among them slide on real faces (above).
IDENTITY_VERTICES = np.array(sorted({
    # forehead
    10, 151, 9, 108, 337, 67, 297, 109, 338, 69, 299, 104, 333, 103, 332,
    # nose bridge, tip and base
    168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 122, 351, 188, 412, 245, 465, 193, 417,
    # eye corners
    33, 133, 263, 362, 130, 359, 243, 463,
    # cheekbones
    116, 345, 117, 346, 123, 352, 143, 372, 111, 340, 227, 447, 234, 454,
    # temples
    127, 356, 162, 389, 21, 251, 54, 284,
}), dtype=np.int64)

# --- iBUG 300-W 68-point landmarks ------------------------------------------------------------
# Each of the 68 points (dlib's order: jaw 0-16 from the person's right ear round the chin,
# brows 17-26, nose 27-35, eyes 36-47, mouth 48-67) is an affine combination of the three
# corners of one mesh triangle: ``point = sum_j IBUG68_WEIGHTS[k, j] * vertices[IBUG68_TRIANGLES[k, j]]``
# (weights sum to 1; a few are slightly negative, reaching just past a triangle, e.g. to the
# jaw line outside the mesh's outline). Fitted by ``python -m realtime.tools.topology_build --ibug68``
# to dlib's 68-point shape predictor (trained on iBUG 300-W) on real faces, each also
# mirrored: for each point the triangle and weights that best reproduce dlib's points over the
# faces turned less than 25 deg (the jaw: less than 12 deg, where dlib's jaw line is the 3D
# jaw's outline). Being fixed points of the mesh, the jaw points follow the 3D jaw as the head
# turns (as AFLW2000-3D's 3D landmarks do), not the visible outline. Against dlib on held-out
# faces and on rendered heads (``tests/test_topology.py``) the error is lower than the
# one-vertex mapping's for every point group; figures in docs/BENCHMARKS.md.
IBUG68_EYE_OUTER = (36, 45)
"""The outer eye corners among the 68 points (person's right, left)."""
IBUG68_NOSE_TIP = 30
"""The nose tip among the 68 points."""
IBUG68_TRIANGLES = np.array([
    [127, 139, 162],  # 0
    [93, 227, 234],  # 1
    [132, 177, 137],  # 2
    [147, 177, 215],  # 3
    [58, 172, 215],  # 4
    [135, 138, 136],  # 5
    [135, 136, 150],  # 6
    [149, 176, 170],  # 7
    [148, 152, 175],  # 8
    [378, 395, 400],  # 9
    [364, 379, 365],  # 10
    [365, 397, 367],  # 11
    [288, 435, 397],  # 12
    [376, 435, 401],  # 13
    [361, 366, 401],  # 14
    [323, 454, 447],  # 15
    [264, 454, 356],  # 16
    [46, 63, 70],  # 17
    [52, 63, 53],  # 18
    [52, 66, 105],  # 19
    [66, 107, 69],  # 20
    [55, 107, 65],  # 21
    [285, 295, 336],  # 22
    [296, 299, 336],  # 23
    [282, 334, 296],  # 24
    [282, 293, 334],  # 25
    [276, 383, 300],  # 26
    [6, 168, 122],  # 27
    [3, 197, 196],  # 28
    [5, 195, 51],  # 29
    [4, 45, 44],  # 30
    [60, 240, 99],  # 31
    [2, 141, 97],  # 32
    [2, 164, 393],  # 33
    [2, 326, 370],  # 34
    [290, 328, 460],  # 35
    [7, 33, 25],  # 36
    [27, 160, 159],  # 37
    [28, 158, 157],  # 38
    [112, 133, 155],  # 39
    [22, 154, 153],  # 40
    [24, 144, 110],  # 41
    [341, 362, 463],  # 42
    [258, 384, 385],  # 43
    [257, 386, 387],  # 44
    [249, 390, 339],  # 45
    [254, 339, 373],  # 46
    [252, 380, 381],  # 47
    [43, 146, 61],  # 48
    [39, 92, 40],  # 49
    [11, 37, 72],  # 50
    [0, 267, 164],  # 51
    [11, 302, 267],  # 52
    [269, 270, 322],  # 53
    [273, 291, 375],  # 54
    [313, 406, 405],  # 55
    [17, 314, 315],  # 56
    [17, 18, 313],  # 57
    [17, 85, 84],  # 58
    [83, 181, 182],  # 59
    [62, 77, 96],  # 60
    [38, 81, 82],  # 61
    [12, 13, 268],  # 62
    [268, 312, 311],  # 63
    [292, 308, 325],  # 64
    [316, 402, 317],  # 65
    [14, 86, 15],  # 66
    [86, 87, 178],  # 67
], dtype=np.int64)
"""``(68, 3) int64``: for each iBUG-300W / dlib landmark, the mesh triangle it lies on (or just past)."""
IBUG68_WEIGHTS = np.array([
    [1.1708, -0.1900, 0.0192],  # 0
    [0.3958, 0.4027, 0.2015],  # 1
    [0.3329, 0.3192, 0.3479],  # 2
    [-0.1947, 0.2454, 0.9493],  # 3
    [-0.0992, 0.8816, 0.2176],  # 4
    [-0.3965, -0.0238, 1.4203],  # 5
    [-0.4699, -0.0004, 1.4703],  # 6
    [-0.0240, 1.4758, -0.4518],  # 7
    [0.0007, 1.8540, -0.8547],  # 8
    [-0.0675, -0.4386, 1.5061],  # 9
    [-0.4277, 1.4992, -0.0715],  # 10
    [1.0851, 0.2176, -0.3027],  # 11
    [-0.1809, 0.2907, 0.8902],  # 12
    [-0.1086, 0.9285, 0.1800],  # 13
    [0.3764, 0.3912, 0.2323],  # 14
    [0.3523, 0.3334, 0.3143],  # 15
    [-0.2030, 0.0949, 1.1081],  # 16
    [0.1462, -0.2154, 1.0693],  # 17
    [0.2179, 1.0076, -0.2255],  # 18
    [-0.0572, 0.3869, 0.6703],  # 19
    [0.7108, 0.3398, -0.0506],  # 20
    [0.5706, 0.5407, -0.1113],  # 21
    [0.5900, -0.1604, 0.5703],  # 22
    [0.6639, -0.0490, 0.3852],  # 23
    [-0.0437, 0.6112, 0.4324],  # 24
    [0.0608, 0.7576, 0.1816],  # 25
    [0.0801, 0.1656, 0.7543],  # 26
    [0.2971, 0.6573, 0.0456],  # 27
    [-0.1433, 0.9633, 0.1800],  # 28
    [0.5461, 0.4106, 0.0433],  # 29
    [0.9525, -0.0220, 0.0695],  # 30
    [0.0305, 0.7011, 0.2684],  # 31
    [0.0859, -0.0174, 0.9314],  # 32
    [0.6149, 0.4018, -0.0167],  # 33
    [0.1366, 0.8936, -0.0301],  # 34
    [0.0498, 0.2946, 0.6556],  # 35
    [0.6116, 0.2551, 0.1333],  # 36
    [-0.1565, 0.6599, 0.4966],  # 37
    [-0.1555, 0.9310, 0.2245],  # 38
    [0.3688, 0.0839, 0.5473],  # 39
    [0.1824, -0.1262, 0.9438],  # 40
    [0.2870, 0.7629, -0.0498],  # 41
    [0.5575, 0.6379, -0.1955],  # 42
    [-0.1456, 0.2973, 0.8483],  # 43
    [-0.1847, 0.6022, 0.5825],  # 44
    [1.1623, -0.2050, 0.0427],  # 45
    [0.3604, -0.1377, 0.7773],  # 46
    [0.2242, 0.8220, -0.0462],  # 47
    [0.1979, 0.2502, 0.5520],  # 48
    [0.5555, -0.1733, 0.6179],  # 49
    [0.1271, 0.7732, 0.0997],  # 50
    [1.1630, 0.0074, -0.1704],  # 51
    [0.1223, 0.1050, 0.7727],  # 52
    [0.5724, 0.6166, -0.1890],  # 53
    [0.1236, 0.5148, 0.3616],  # 54
    [-0.1517, 0.2240, 0.9277],  # 55
    [0.1412, 0.9840, -0.1252],  # 56
    [0.9223, 0.0985, -0.0208],  # 57
    [0.1027, -0.1314, 1.0287],  # 58
    [-0.1873, 0.8998, 0.2876],  # 59
    [0.3742, 0.2337, 0.3921],  # 60
    [-0.5417, 0.3211, 1.2206],  # 61
    [-0.6912, 1.6955, -0.0043],  # 62
    [-0.5463, 1.2341, 0.3122],  # 63
    [0.5305, -0.2133, 0.6828],  # 64
    [0.2006, 0.0555, 0.7440],  # 65
    [0.7524, 0.0151, 0.2324],  # 66
    [0.2243, 0.6768, 0.0989],  # 67
], dtype=np.float64)
"""``(68, 3) float64``: affine weights of ``IBUG68_TRIANGLES``' corners (each row sums to 1)."""
# Printed to 4 decimals; made to sum to 1 exactly, so the mapping commutes with any affine map.
IBUG68_WEIGHTS /= IBUG68_WEIGHTS.sum(axis=1, keepdims=True)
IBUG68_TRIANGLES.setflags(write=False)
IBUG68_WEIGHTS.setflags(write=False)

IBUG68_FROM_MESH = IBUG68_TRIANGLES[np.arange(68), np.argmax(IBUG68_WEIGHTS, axis=1)]
"""``(68,) int64``: for each landmark, the one mesh vertex that weighs most in it: the nearest
single-vertex stand-in, for code that wants indices; ``ibug68_points`` is more accurate.

(Before this mapping was fitted, this was the widely circulated one-vertex-per-point list used
by e.g. LatentSync 1.5: its jaw ends 0 and 16 sat on the temples, ~17% of the face box too
high, and its brows on their upper edge; ``IBUG68_FROM_MESH_V1`` keeps it for comparison.)"""

IBUG68_FROM_MESH_V1 = np.array(
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
"""``(68,) int64``: the former one-vertex mapping (see ``IBUG68_FROM_MESH``), kept to compare."""

IBUG68_GROUPS = {"jaw": range(0, 17), "brows": range(17, 27), "nose": range(27, 36), "eyes": range(36, 48),
                 "mouth": range(48, 68)}
"""The point groups of iBUG 300-W, by index range."""


def ibug68_points(vertices: np.ndarray) -> np.ndarray:
    """The 68 iBUG-300W landmarks of a face mesh: ``(468, D)`` -> ``(68, D) float64`` (any D, any unit).

    ``point_k = sum_j IBUG68_WEIGHTS[k, j] * vertices[IBUG68_TRIANGLES[k, j]]``; affine, so it
    commutes with any affine map of the vertices (pixels, millimetres, a mirror).
    """
    vertices = check_shape("vertices", vertices, (N_VERTICES, None), dtype=np.float64)
    return np.einsum("kj,kjd->kd", IBUG68_WEIGHTS, vertices[IBUG68_TRIANGLES])


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
    directed = triangle_sides(triangles)
    edges, _, counts = mesh_edges(triangles)
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


@dataclass(frozen=True)
class LoopLevel:
    """One level of Loop subdivision of a fixed triangle list, as a linear map of vertex values.

    Loop subdivision is linear in the values it carries for a fixed topology (positions, pixels,
    any per-vertex quantity), so a level is a sparse matrix: output vertex ``rows[i]`` gains
    ``weights[i] * values[cols[i]]``. Outputs are the ``n_in`` old ("even") vertices in their order,
    then one new ("odd") vertex per edge, edges in lexicographic order of (smaller, larger) index.

    rows, cols: ``(k,) int64``. weights: ``(k,) float64``. n_in, n_out: vertex counts.
    triangles: ``(4 F, 3) int64`` the subdivided triangles, each old one split in four, wound as
    it was.
    """

    rows: np.ndarray
    cols: np.ndarray
    weights: np.ndarray
    n_in: int
    n_out: int
    triangles: np.ndarray

    def apply(self, values: np.ndarray) -> np.ndarray:
        """``(n_in, D)`` -> ``(n_out, D) float64``: the values at the subdivided vertices."""
        values = check_shape("values", values, (self.n_in, None), dtype=np.float64)
        terms = self.weights[:, None] * values[self.cols]
        return np.stack([np.bincount(self.rows, terms[:, d], minlength=self.n_out)
                         for d in range(values.shape[1])], axis=1)


def loop_level(triangles: np.ndarray, n_vertices: int) -> LoopLevel:
    """One level of Loop subdivision (``LoopLevel``) of ``triangles (F, 3) int`` over ``n_vertices``.

    Requires an edge-manifold surface (every edge on one or two faces). Loop's rules (Loop 1987):
    an interior edge's new vertex is 3/8 of its ends and 1/8 of the two opposite corners; a
    boundary edge's, the mean of its ends. An old interior vertex of k neighbours keeps
    1 - k beta of itself and beta of each neighbour, beta = (5/8 - (3/8 + cos(2 pi / k) / 4)^2) / k;
    an old boundary vertex keeps 3/4 of itself and 1/8 of each neighbour along the boundary.
    """
    triangles = check_shape("triangles", triangles, (None, 3)).astype(np.int64)
    opposite = np.concatenate([triangles[:, 2], triangles[:, 0], triangles[:, 1]])
    edges, edge_of, counts = mesh_edges(triangles)
    split = _split(triangles, n_vertices, edge_of)
    if np.any(counts > 2):
        raise ValueError("loop_level needs an edge-manifold surface: an edge lies on more than two faces")
    n_edges = len(edges)
    boundary_edge = counts == 1
    odd_rows = n_vertices + np.arange(n_edges)

    # New vertices on the edges: the ends (3/8 each inside, 1/2 on the boundary), the opposite corners (1/8).
    end_weight = np.where(boundary_edge, 0.5, 0.375)
    rows = [odd_rows, odd_rows, n_vertices + edge_of]
    cols = [edges[:, 0], edges[:, 1], opposite]
    weights = [end_weight, end_weight, np.where(boundary_edge[edge_of], 0.0, 0.125)]

    # Old vertices: their neighbours over all edges inside, over boundary edges on the boundary.
    boundary_vertex = np.zeros(n_vertices, bool)
    boundary_vertex[edges[boundary_edge].ravel()] = True
    degree = np.bincount(edges.ravel(), minlength=n_vertices).astype(np.float64)
    safe = np.maximum(degree, 1.0)
    beta = (40.0 - (2.0 * np.cos(2.0 * np.pi / safe) + 3.0) ** 2) / (64.0 * safe)
    ends = np.concatenate([edges[:, 0], edges[:, 1]])
    others = np.concatenate([edges[:, 1], edges[:, 0]])
    along = np.concatenate([boundary_edge, boundary_edge])
    on_boundary = boundary_vertex[ends]
    neighbour_weight = np.where(on_boundary, np.where(along, 0.125, 0.0), beta[ends])
    self_weight = np.where(boundary_vertex, 0.75, 1.0 - degree * beta)
    rows += [ends, np.arange(n_vertices)]
    cols += [others, np.arange(n_vertices)]
    weights += [neighbour_weight, self_weight]

    rows, cols, weights = (np.concatenate(a) for a in (rows, cols, weights))
    keep = weights != 0.0
    return LoopLevel(rows[keep], cols[keep], weights[keep], n_vertices, n_vertices + n_edges, split)


def triangle_sides(triangles: np.ndarray) -> np.ndarray:
    """``(3 F, 2) int64``: the directed sides of ``triangles (F, 3) int`` as they wind, sides (0, 1)
    of every triangle first, then (1, 2), then (2, 0)."""
    triangles = np.asarray(triangles, np.int64)
    return np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])


def mesh_edges(triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The undirected edges of ``triangles (F, 3) int``: ``(edges (E, 2) int64``, smaller index first,
    in lexicographic order; ``edge_of (3 F,) int64`` the edge of each side of ``triangle_sides``;
    ``counts (E,) int64`` the sides on each edge: 1 on the boundary, 2 inside a surface)."""
    edges, edge_of, counts = np.unique(np.sort(triangle_sides(triangles), axis=1), axis=0,
                                       return_inverse=True, return_counts=True)
    return edges, edge_of.reshape(-1), counts


def split_triangles(triangles: np.ndarray, n_vertices: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each triangle split in four by a new vertex on each edge: ``(edges, edge_of, split)``.

    triangles: ``(F, 3) int`` over ``n_vertices``. edges, edge_of: as ``mesh_edges``; edge ``e``'s
    new vertex is ``n_vertices + e``. split: ``(4 F, 3) int64``: triangle ``(a, b, c)`` with new
    vertices ``ab, bc, ca`` becomes ``(a, ab, ca), (ab, b, bc), (ca, bc, c), (ab, bc, ca)``, wound as
    it was.
    """
    triangles = check_shape("triangles", triangles, (None, 3)).astype(np.int64)
    edges, edge_of, _ = mesh_edges(triangles)
    return edges, edge_of, _split(triangles, n_vertices, edge_of)


def _split(triangles: np.ndarray, n_vertices: int, edge_of: np.ndarray) -> np.ndarray:
    """``split_triangles``' ``(4 F, 3)`` triangles, given ``mesh_edges``' ``edge_of``."""
    new = n_vertices + edge_of.reshape(3, -1).T  # per triangle: sides (0, 1), (1, 2), (2, 0)
    a, b, c = triangles.T
    return np.stack([np.stack([a, new[:, 0], new[:, 2]], 1), np.stack([new[:, 0], b, new[:, 1]], 1),
                     np.stack([new[:, 2], new[:, 1], c], 1), new], axis=1).reshape(-1, 3)


@functools.lru_cache(maxsize=4)
def face_subdivision(iterations: int) -> tuple[LoopLevel, ...]:
    """``iterations`` levels of Loop subdivision of the face mesh (``face_triangles``), cached:
    ``subdivide(values, levels)`` carries any per-vertex values through them."""
    levels, triangles, n = [], face_triangles(), N_VERTICES
    for _ in range(iterations):
        levels.append(loop_level(triangles, n))
        triangles, n = levels[-1].triangles, levels[-1].n_out
    return tuple(levels)


def subdivide(values: np.ndarray, levels: tuple[LoopLevel, ...]) -> np.ndarray:
    """``(n_in, D)`` values carried through Loop ``levels`` -> ``(n_out, D) float64``."""
    for level in levels:
        values = level.apply(values)
    return np.asarray(values, dtype=np.float64)
