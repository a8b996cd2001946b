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
``python -m realtime.tools.topology_build`` from the repository root.

``python -m realtime.tools.topology_build --ibug68 MEDIA...`` fits the 68-point iBUG-300W mapping
(``topology.IBUG68_TRIANGLES`` and ``IBUG68_WEIGHTS``) and prints it: photo mode's mesh and
dlib's 68-point shape predictor (trained on iBUG 300-W; ``pip install dlib-bin
face-recognition-models``, at build time only) on the given photos and videos (every
``--video-step``-th frame), each also mirrored; for each landmark the mesh triangle and affine
weights that best reproduce dlib's points (``fit_landmark``). The shipped mapping was fitted on
the shared media of the development machine (8 photos and every 10th frame of 4 clips, each also
mirrored: 322 faces; `--video-step 10`).
"""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np

from realtime.geometry import face_normals
from realtime.topology import IBUG68_EYE_OUTER, IBUG68_NOSE_TIP, N_VERTICES, NOSE_BRIDGE

OUTPUT = Path(__file__).resolve().parents[1] / "data" / "face_triangles.npy"

# A frontal layout is needed only to tell a covered 3-cycle from a face; landmarks of the
# astronaut photograph are a real, near-frontal face that every install of scikit-image has.


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
    """Rotate ``(468, 3)`` landmarks into the face frame (``realtime.geometry.face_frame``: the eye
    line is x, chin-to-forehead is -y) about their mean; return ``(468, 2)``."""
    from realtime.geometry import face_frame

    _, axes = face_frame(points)
    return ((points - points.mean(axis=0)) @ axes.T)[:, :2]


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
    if np.mean(face_normals(points, triangles)[:, 2] < 0) < 0.5:
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


# --------------------------------------------------------------------------------------------
# The 68-point iBUG-300W mapping

# Landmarks are fitted on faces turned less than this (degrees, photo mode's ``turn_deg``):
# dlib's interior points hold there; past it its fit drifts. The jaw points only on faces
# turned less than IBUG68_JAW_MAX_TURN_DEG: dlib (like a 2D annotator) puts the jaw on the
# visible outline, which is the 3D jaw's only while the face is nearly frontal.
IBUG68_MAX_TURN_DEG = 25.0
IBUG68_JAW_MAX_TURN_DEG = 12.0
# Weights may reach a little past their triangle (the jaw line runs just outside the mesh's
# outline): a fit whose weights leave [lo, hi] pays (1 + penalty x how far) on its squared
# error, so far extrapolations, which magnify the network's noise, win only when they fit
# much better. Held-out error (dlib on the astronaut and Grace Hopper, rendered heads) was
# lowest with a mild penalty on the jaw and a strong one inside the face.
IBUG68_WEIGHT_BOUNDS = (-0.25, 1.25)
IBUG68_JAW_PENALTY = 4.0
IBUG68_INTERIOR_PENALTY = 20.0


def fit_landmark(vertices_px: np.ndarray, targets_px: np.ndarray, sizes_px: np.ndarray, triangles: np.ndarray,
                 penalty: float, bounds: tuple[float, float] = IBUG68_WEIGHT_BOUNDS) -> tuple[np.ndarray, np.ndarray, float]:
    """The triangle and affine weights that best reproduce one landmark over many faces.

    vertices_px: ``(n, 468, 2)`` each face's mesh, pixels. targets_px: ``(n, 2)`` the landmark on
    each face, pixels. sizes_px: ``(n,)`` each face's size (errors count relative to it).
    triangles: ``(F, 3) int``. For each triangle (a, b, c) the weights minimise
    ``sum_i |w_a a_i + w_b b_i + w_c c_i - target_i|^2 / size_i^2`` with ``w_a + w_b + w_c = 1``
    (linear least squares in w_a, w_b); weights outside ``bounds`` cost (see
    IBUG68_WEIGHT_BOUNDS). Returns ``(triangle (3,) int64, weights (3,) float64, rms relative error)``.
    """
    lo, hi = bounds
    scale = np.asarray(sizes_px, dtype=np.float64)[:, None]
    best = None
    for triangle in np.asarray(triangles, dtype=np.int64):
        a, b, c = (vertices_px[:, k] for k in triangle)
        design = np.stack([(a - c) / scale, (b - c) / scale], axis=-1).reshape(-1, 2)
        observed = ((targets_px - c) / scale).reshape(-1)
        solution, *_ = np.linalg.lstsq(design, observed, rcond=None)
        weights = np.array([solution[0], solution[1], 1.0 - solution.sum()])
        squared = float(((design @ solution - observed) ** 2).sum())
        cost = squared * (1.0 + penalty * max(0.0, lo - weights.min(), weights.max() - hi))
        if best is None or cost < best[0]:
            best = (cost, triangle.copy(), weights, float(np.sqrt(squared / len(targets_px))))
    return best[1], best[2], best[3]


def face_size_px(points_px: np.ndarray) -> float:
    """Size of a face from its 68 points ``(68, 2)``: sqrt(width x height) of their box, pixels
    (the normaliser of AFLW2000-3D's NME)."""
    span = np.ptp(np.asarray(points_px, dtype=np.float64), axis=0)
    return float(np.sqrt(span[0] * span[1]))


def dlib_predictor_path() -> str:
    import importlib.util

    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise SystemExit("dlib's 68-point predictor is needed: pip install dlib-bin face-recognition-models")
    return str(Path(spec.origin).parent / "models" / "shape_predictor_68_face_landmarks.dat")


def dlib_landmarks(image_bgr: np.ndarray, upsample: int = 1) -> list[np.ndarray]:
    """dlib's 68 points ``(68, 2) float64`` pixels for each face its own detector finds."""
    import cv2
    import dlib

    rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
    predictor = dlib.shape_predictor(dlib_predictor_path())
    return [np.array([[p.x, p.y] for p in predictor(rgb, box).parts()], np.float64)
            for box in dlib.get_frontal_face_detector()(rgb, upsample)]


def media_images(paths: list[str], video_step: int):
    """``(name, image_bgr)`` for photos and every ``video_step``-th frame of videos."""
    import cv2

    for path in paths:
        if Path(path).suffix.lower() in (".mp4", ".avi", ".mov", ".mkv", ".webm"):
            capture = cv2.VideoCapture(path)
            capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)  # a phone's portrait video, as a player shows it
            index = 0
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                if index % video_step == 0:
                    yield f"{Path(path).name}#{index}", frame
                index += 1
        else:
            image = cv2.imread(path)
            if image is not None:
                yield Path(path).name, image


def ibug68_samples(images) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """``[(mesh (468, 2) px, dlib (68, 2) px, turn_deg)]`` for every face dlib and photo mode
    both find in ``images`` (``(name, bgr)`` pairs), each image also mirrored."""
    from realtime.stages.photo import PhotoOptions, PhotoReconstructor
    from realtime.geometry import inter_ocular_distance

    samples = []
    with PhotoReconstructor(PhotoOptions(all_faces=True)) as photo:
        for name, image in images:
            for mirrored in (False, True):
                view = np.ascontiguousarray(image[:, ::-1]) if mirrored else image
                upsample = 1 if max(view.shape[:2]) < 1000 else 0
                faces = photo.run(view).faces
                for points in dlib_landmarks(view, upsample):
                    # The same face: our nose-tip area (vertex 4, the bridge's end) within 0.3 eye
                    # spans of dlib's nose tip (30).
                    span = float(np.linalg.norm(points[IBUG68_EYE_OUTER[1]] - points[IBUG68_EYE_OUTER[0]]))
                    match = [f for f in faces
                             if np.linalg.norm(f.vertices_px[NOSE_BRIDGE[-1], :2] - points[IBUG68_NOSE_TIP]) < 0.3 * span]
                    if match and inter_ocular_distance(match[0].vertices_px) > 0:
                        samples.append((match[0].vertices_px[:, :2].astype(np.float64), points, match[0].turn_deg))
            print(f"{name}: {len(samples)} faces", flush=True)
    return samples


def fit_ibug68(samples) -> tuple[np.ndarray, np.ndarray]:
    """``(triangles (68, 3) int64, weights (68, 3) float64)`` from ``ibug68_samples``."""
    from realtime import topology

    triangles = topology.face_triangles()
    out_triangles, out_weights = np.zeros((68, 3), np.int64), np.zeros((68, 3))
    for k in range(68):
        jaw = k in topology.IBUG68_GROUPS["jaw"]
        limit = IBUG68_JAW_MAX_TURN_DEG if jaw else IBUG68_MAX_TURN_DEG
        chosen = [(v, p) for v, p, turn in samples if abs(turn) < limit]
        vertices = np.array([v for v, _ in chosen])
        targets = np.array([p[k] for _, p in chosen])
        sizes = np.array([face_size_px(p) for _, p in chosen])
        out_triangles[k], out_weights[k], rms = fit_landmark(
            vertices, targets, sizes, triangles, IBUG68_JAW_PENALTY if jaw else IBUG68_INTERIOR_PENALTY)
        print(f"point {k}: triangle {out_triangles[k].tolist()} weights {np.round(out_weights[k], 4).tolist()} "
              f"rms {100 * rms:.2f}% of the face box over {len(chosen)} faces")
    return out_triangles, out_weights


def ibug68_literal(triangles: np.ndarray, weights: np.ndarray) -> str:
    """The two arrays as the Python rows ``realtime/topology.py`` holds."""
    rows_t = "\n".join(f"    [{', '.join(str(int(x)) for x in row)}],  # {i}" for i, row in enumerate(triangles))
    rows_w = "\n".join(f"    [{', '.join(f'{x:.4f}' for x in row)}],  # {i}" for i, row in enumerate(weights))
    return f"IBUG68_TRIANGLES = np.array([\n{rows_t}\n], dtype=np.int64)\nIBUG68_WEIGHTS = np.array([\n{rows_w}\n], dtype=np.float64)"


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ibug68", nargs="+", metavar="MEDIA",
                        help="instead: fit the 68-point mapping on these photos and videos and print it")
    parser.add_argument("--video-step", type=int, default=10, metavar="N", help="every N-th video frame (default: 10)")
    args = parser.parse_args(argv)
    if args.ibug68:
        triangles, weights = fit_ibug68(ibug68_samples(media_images(args.ibug68, args.video_step)))
        print(ibug68_literal(triangles, weights))
        return
    triangles = build()
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    np.save(OUTPUT, triangles)
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
