"""2D drawing of results onto frames with OpenCV: the mesh wireframe, ROI and status text.

Used by the demo video and previews where no GL renderer is involved, and by tests to look
at what the pipeline produced.
"""

from __future__ import annotations

import cv2
import numpy as np

from realtime.roi import Roi

MESH_COLOR_BGR = (80, 220, 120)
ROI_COLOR_BGR = (255, 160, 40)
IRIS_COLOR_BGR = (40, 200, 255)
TEXT_COLOR_BGR = (255, 255, 255)


def mesh_edges(triangles: np.ndarray) -> np.ndarray:
    """Unique undirected edges ``(E, 2) int32`` of a triangle list ``(F, 3)``."""
    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    return np.unique(np.sort(edges, axis=1), axis=0).astype(np.int32)


def draw_mesh(image: np.ndarray, vertices_px: np.ndarray, edges: np.ndarray,
              color=MESH_COLOR_BGR, thickness: int = 1) -> None:
    """Draw the wireframe of ``vertices_px (468, 3)`` pixels in place on ``image``."""
    # cv2 draws with fixed-point sub-pixel coordinates: 4 fractional bits keep lines smooth.
    shift = 4
    points = np.round(vertices_px[:, :2] * (1 << shift)).astype(np.int32)
    lines = points[edges]
    cv2.polylines(image, list(lines), False, color, thickness, cv2.LINE_AA, shift)


def draw_roi(image: np.ndarray, roi: Roi, color=ROI_COLOR_BGR) -> None:
    cv2.polylines(image, [np.round(roi.corners()).astype(np.int32)], True, color, 1, cv2.LINE_AA)


def draw_iris(image: np.ndarray, iris_px: np.ndarray, color=IRIS_COLOR_BGR) -> None:
    """Draw both irises ``(2, 5, 3)`` pixels as circles through their contour points."""
    for eye in iris_px:
        centre = eye[0, :2]
        radius = float(np.mean(np.linalg.norm(eye[1:, :2] - centre, axis=1)))
        cv2.circle(image, tuple(np.round(centre).astype(int)), max(1, int(round(radius))), color, 1, cv2.LINE_AA)


def draw_text_lines(image: np.ndarray, lines: list[str], origin=(10, 22), scale: float = 0.5) -> None:
    """Status text with a dark outline so it reads on any background."""
    x, y = origin
    for line in lines:
        cv2.putText(image, line, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(image, line, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, TEXT_COLOR_BGR, 1, cv2.LINE_AA)
        y += int(24 * scale / 0.5)
