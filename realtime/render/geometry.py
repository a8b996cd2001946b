"""Small mesh helpers the render passes share: per-vertex normals and wireframe edges."""

from __future__ import annotations

import numpy as np

from realtime.shapes import check_shape


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


def unique_edges(triangles: np.ndarray) -> np.ndarray:
    """The undirected edges of a triangle mesh, ``(e, 2) int32``, each once (for wireframes)."""
    triangles = check_shape("triangles", triangles, (None, 3))
    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    return np.unique(np.sort(edges, axis=1), axis=0).astype(np.int32)
