"""Build ``realtime/data/face_triangles.npy`` from MediaPipe's face-mesh edge list (run once, offline).

The mediapipe wheel ships no triangle list for the 468-vertex face mesh, only the 2,556 directed
edges of ``FACEMESH_TESSELATION``. This script rebuilds the triangles and checks them:

1. candidates are the 3-cycles of the undirected edge graph (854 of them);
2. a candidate is a *false face* when another mesh vertex lies inside it in a frontal 2D layout of
   a real face and that vertex is joined by tesselation edges to all three corners: the triangle is
   then already covered by the three real triangles of that fan (this removes exactly the two
   cycles (49, 64, 129) and (279, 294, 358) around vertices 102 and 331 on the nostril wings);
3. the rest must be an edge-manifold surface using every tesselation edge, with 3 F = 2,556
   (every face contributes three directed edges to the list);
4. faces are oriented consistently by a breadth-first walk over shared edges, then the whole
   surface is flipped if needed so that the normals point toward the camera on a real frontal
   face (MediaPipe landmarks of ``skimage.data.astronaut()``), see ``realtime.topology``.

Only this script imports mediapipe; the package loads the ``.npy`` it writes. Run it with
``python -m realtime.topology_build`` from the repository root.
"""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np

OUTPUT = Path(__file__).with_name("data") / "face_triangles.npy"

# A frontal layout is needed only to tell a covered 3-cycle from a face; landmarks of the
# astronaut photograph are a real, near-frontal face that every install of scikit-image has.
N_VERTICES = 468


def astronaut_landmarks_px() -> np.ndarray:
    """MediaPipe face mesh of ``skimage.data.astronaut()``: ``(468, 3) float64`` pixels, z as x."""
    import mediapipe as mp
    from skimage import data

    image_rgb = data.astronaut()
    height, width = image_rgb.shape[:2]
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1) as mesh:
        found = mesh.process(image_rgb)
    if not found.multi_face_landmarks:
        raise RuntimeError("mediapipe found no face in skimage.data.astronaut()")
    return np.array(
        [[p.x * width, p.y * height, p.z * width] for p in found.multi_face_landmarks[0].landmark]
    )


def frontal_layout(points: np.ndarray) -> np.ndarray:
    """Rotate ``(468, 3)`` landmarks so the eye line is x and chin-to-forehead is -y; return ``(468, 2)``."""
    x_axis = points[263] - points[33]
    x_axis /= np.linalg.norm(x_axis)
    down = points[152] - points[10]
    down -= x_axis * (down @ x_axis)
    down /= np.linalg.norm(down)
    z_axis = np.cross(x_axis, down)
    rotation = np.stack([x_axis, down, z_axis])
    return ((points - points.mean(axis=0)) @ rotation.T)[:, :2]


def three_cycles(edges: set[tuple[int, int]]) -> np.ndarray:
    """All triangles ``(n, 3) int`` (sorted indices) whose three edges are in ``edges``."""
    neighbours = collections.defaultdict(set)
    for a, b in edges:
        neighbours[a].add(b)
        neighbours[b].add(a)
    cycles = {tuple(sorted((a, b, c))) for a, b in edges for c in neighbours[a] & neighbours[b]}
    return np.array(sorted(cycles), dtype=np.int64)


def point_in_triangle(points: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """``(n,) bool``: which of ``points (n, 2)`` lie strictly inside triangle ``corners (3, 2)``."""
    signs = []
    for i in range(3):
        a, b = corners[i], corners[(i + 1) % 3]
        signs.append((b[0] - a[0]) * (points[:, 1] - a[1]) - (b[1] - a[1]) * (points[:, 0] - a[0]))
    signs = np.stack(signs)
    return np.all(signs > 0, axis=0) | np.all(signs < 0, axis=0)


def false_faces(cycles: np.ndarray, layout: np.ndarray, edges: set[tuple[int, int]]) -> np.ndarray:
    """``(n,) bool`` over ``cycles``: covered by a fan of three faces around an inner vertex."""
    is_false = np.zeros(len(cycles), dtype=bool)
    for i, tri in enumerate(cycles):
        inside = np.flatnonzero(point_in_triangle(layout, layout[tri]))
        for v in set(inside.tolist()) - set(tri.tolist()):
            if all(tuple(sorted((v, int(c)))) in edges for c in tri):
                is_false[i] = True
    return is_false


def orient_consistently(triangles: np.ndarray) -> np.ndarray:
    """Flip faces of an edge-manifold ``(F, 3)`` list so that shared edges run opposite ways."""
    triangles = triangles.copy()
    by_edge = collections.defaultdict(list)
    for f, tri in enumerate(triangles):
        for k in range(3):
            by_edge[tuple(sorted((tri[k], tri[(k + 1) % 3])))].append(f)
    done = np.zeros(len(triangles), dtype=bool)
    for seed in range(len(triangles)):
        if done[seed]:
            continue
        done[seed] = True
        queue = collections.deque([seed])
        while queue:
            f = queue.popleft()
            tri = triangles[f]
            for k in range(3):
                a, b = tri[k], tri[(k + 1) % 3]
                for g in by_edge[tuple(sorted((a, b)))]:
                    if g == f or done[g]:
                        continue
                    other = triangles[g]
                    # g must traverse the shared edge as b -> a.
                    runs_same_way = any(
                        other[m] == a and other[(m + 1) % 3] == b for m in range(3)
                    )
                    if runs_same_way:
                        triangles[g] = other[::-1]
                    done[g] = True
                    queue.append(g)
    return triangles


def canonical_order(triangles: np.ndarray) -> np.ndarray:
    """Rotate each face so its smallest index comes first (winding kept), then sort the rows."""
    rolled = np.array([np.roll(t, -int(np.argmin(t))) for t in triangles])
    return rolled[np.lexsort(rolled.T[::-1])]


def build() -> np.ndarray:
    """Return the checked, oriented ``(F, 3) int32`` face triangles."""
    import mediapipe as mp

    from realtime import topology

    directed = set(mp.solutions.face_mesh_connections.FACEMESH_TESSELATION)
    edges = {tuple(sorted(e)) for e in directed}
    points = astronaut_landmarks_px()
    cycles = three_cycles(edges)
    rejected = false_faces(cycles, frontal_layout(points), edges)
    print(f"{len(cycles)} 3-cycles, false faces: {cycles[rejected].tolist()}")
    triangles = orient_consistently(cycles[~rejected])
    if 3 * len(triangles) != len(directed):
        raise RuntimeError(f"{len(triangles)} faces do not account for {len(directed)} directed edges")
    if np.mean(topology.face_normals(points, triangles)[:, 2] < 0) < 0.5:
        triangles = triangles[:, ::-1]
    triangles = canonical_order(triangles).astype(np.int32)
    report = topology.check_surface(triangles, N_VERTICES)
    if set(map(tuple, report.edges.tolist())) != edges:
        raise RuntimeError("the rebuilt faces do not use exactly the tesselation edges")
    print(
        f"F={len(triangles)} E={len(report.edges)} V={N_VERTICES} Euler={report.euler} "
        f"boundary loops={[len(loop) for loop in report.boundary_loops]}"
    )
    return triangles


def main() -> None:
    triangles = build()
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    np.save(OUTPUT, triangles)
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
