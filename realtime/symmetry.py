"""Left-right symmetry of the 468-vertex face mesh.

``mirror_permutation()[i]`` is the vertex that mirrors vertex ``i`` across the face's midline
(a midline vertex maps to itself). Photo mode uses it to average a face with the network's
answer on the mirrored image; fusion and printing can use it to symmetrise. The permutation is
computed once from a real frontal mesh by ``build_mirror_permutation`` and shipped as
``realtime/data/face_mirror.npy``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from realtime import topology
from realtime.geometry import weighted_similarity
from realtime.resources import data_dir
from realtime.shapes import check_shape


def rigid_fit(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares rotation and translation taking ``source (n, 3)`` onto ``target (n, 3)``:
    ``target ~ source @ rotation + translation``.

    The rotation is fusion's weighted Umeyama fit with equal weights (its rotation does not
    depend on the scale it also fits); a mirror image keeps its size, so the translation is
    taken at scale 1.
    """
    _, rotation_columns, _ = weighted_similarity(source, target, np.ones(len(source)))
    rotation = rotation_columns.T  # weighted_similarity rotates column vectors: R @ x
    return rotation, target.mean(axis=0) - source.mean(axis=0) @ rotation


def build_mirror_permutation(vertices: np.ndarray, edges: np.ndarray | None = None,
                             iterations: int = 5) -> np.ndarray:
    """Mirror map ``(n,) int32`` of a roughly frontal mesh ``vertices (n, 3)`` (any units).

    Mirror the mesh in x, then alternate: match each vertex to the nearest mirrored vertex
    with a one-to-one assignment (Hungarian), and rigidly re-align the mirrored mesh to the
    original under that matching, so the midline need not be vertical in the image. With
    ``edges (E, 2)`` the geometric match is then corrected by the topology: a mirror map
    must map edges to edges, so each vertex takes the candidate that its neighbours' mirrors
    vote for, which fixes the few vertices where geometry alone is ambiguous.
    """
    from scipy.optimize import linear_sum_assignment

    vertices = check_shape("vertices", vertices, (None, 3)).astype(np.float64)
    mirrored = vertices * [-1.0, 1.0, 1.0]
    # First guess: reflect about the vertical line through the mean (a roughly frontal face).
    rotation, translation = np.eye(3), np.array([2.0 * vertices[:, 0].mean(), 0.0, 0.0])
    for _ in range(iterations):
        aligned = mirrored @ rotation + translation
        cost = np.linalg.norm(vertices[:, None, :] - aligned[None, :, :], axis=2)
        _, permutation = linear_sum_assignment(cost)  # vertex i mirrors to permutation[i]
        rotation, translation = rigid_fit(mirrored[permutation], vertices)
    if edges is not None:
        permutation = _topology_vote(permutation, edges, len(vertices))
    # Make the map an exact involution: keep pairs that agree, fix the rest to themselves.
    involution = permutation.copy()
    for i, j in enumerate(permutation):
        if permutation[j] != i:
            involution[i] = i
    return involution.astype(np.int32)


def _topology_vote(permutation: np.ndarray, edges: np.ndarray, count: int, rounds: int = 10) -> np.ndarray:
    neighbours = [set() for _ in range(count)]
    for a, b in edges:
        neighbours[a].add(b)
        neighbours[b].add(a)
    permutation = permutation.copy()
    for _ in range(rounds):
        changed = False
        for i in range(count):
            votes: dict[int, int] = {}
            for n in neighbours[i]:
                for candidate in neighbours[permutation[n]]:
                    votes[candidate] = votes.get(candidate, 0) + 1
            best = max(votes, key=lambda c: (votes[c], c == permutation[i]))
            if votes[best] > votes.get(permutation[i], 0):
                permutation[i], changed = best, True
        if not changed:
            break
    return permutation


def mirrored_edge_fraction(permutation: np.ndarray, edges: np.ndarray) -> float:
    """Share of ``edges (E, 2)`` whose mirror image is also an edge (1.0 for a true mirror map)."""
    edge_set = {tuple(sorted(e)) for e in edges.tolist()}
    return sum(tuple(sorted((permutation[a], permutation[b]))) in edge_set for a, b in edge_set) / len(edge_set)


@lru_cache(maxsize=1)
def mirror_permutation() -> np.ndarray:
    """The shipped mirror map, ``(468,) int32``."""
    return np.load(data_dir() / "face_mirror.npy")


def mirror_vertices(vertices_px: np.ndarray, image_width: int) -> np.ndarray:
    """A mesh found on the horizontally flipped image, brought back to the original image.

    vertices_px: ``(468, 3)`` pixels in the flipped image. x is reflected about the image
    width and the vertices are re-indexed so index i is again the same anatomical point.
    """
    back = check_shape("vertices_px", vertices_px, (topology.N_VERTICES, 3)).copy()
    back[:, 0] = image_width - back[:, 0]
    return back[mirror_permutation()]


def main() -> None:
    """Rebuild ``face_mirror.npy`` (build time: needs mediapipe and the astronaut photo)."""
    import mediapipe as mp
    from skimage import data

    image = data.astronaut()
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=False) as mesh:
        landmarks = mesh.process(image).multi_face_landmarks[0].landmark
    height, width = image.shape[:2]
    vertices = np.array([[p.x * width, p.y * height, p.z * width] for p in landmarks])
    edges = np.array(sorted({tuple(sorted(e)) for e in mp.solutions.face_mesh_connections.FACEMESH_TESSELATION}))
    permutation = build_mirror_permutation(vertices, edges)
    np.save(data_dir() / "face_mirror.npy", permutation)
    print(f"face_mirror.npy: {int((permutation == np.arange(len(permutation))).sum())} midline vertices, "
          f"{mirrored_edge_fraction(permutation, edges):.4f} of edges mirror onto edges")


if __name__ == "__main__":
    main()
