"""Camera matrices for the renderer: pure numpy, no GL.

The reconstruction lives in OpenCV camera space (x right, y down, z forward, millimetres) and
the overlay must land on the pixels the pinhole model gives, ``u = fx * X / Z + cx``,
``v = fy * Y / Z + cy``. GL looks down -z with y up, so every view matrix here starts with
``OPENCV_TO_GL`` (a 180-degree turn about x) and the projection is built from the intrinsics
so that normalised device x = 2 u / W - 1 and y = 1 - 2 v / H. Pixel coordinates have their
origin at the top-left pixel's corner (docs/INTERFACES.md).
"""

from __future__ import annotations

import math

import numpy as np

from realtime.shapes import check_shape

# OpenCV camera axes -> GL eye axes: flip y (down -> up) and z (forward -> backward).
OPENCV_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0]).astype(np.float32)


def projection_from_intrinsics(
    fx: float, fy: float, cx: float, cy: float, width: int, height: int,
    near_mm: float, far_mm: float,
) -> np.ndarray:
    """GL projection matrix for a pinhole camera, ``(4, 4) float32``.

    ``fx, fy, cx, cy`` in pixels, ``width, height`` the image size in pixels, ``near_mm`` and
    ``far_mm`` the depth range in millimetres. Applied to GL eye coordinates
    (``OPENCV_TO_GL @ X_cv``) it gives clip coordinates whose NDC are
    ``x = 2 (fx X / Z + cx) / W - 1`` and ``y = 1 - 2 (fy Y / Z + cy) / H``.
    """
    w, h, n, f = float(width), float(height), float(near_mm), float(far_mm)
    return np.array(
        [
            # x_ndc * Z = 2 fx X / W + (2 cx / W - 1) Z, with eye z = -Z
            [2.0 * fx / w, 0.0, 1.0 - 2.0 * cx / w, 0.0],
            # y_ndc * Z = -2 fy Y / H + (1 - 2 cy / H) Z, with eye y = -Y
            [0.0, 2.0 * fy / h, 2.0 * cy / h - 1.0, 0.0],
            [0.0, 0.0, -(f + n) / (f - n), -2.0 * f * n / (f - n)],
            [0.0, 0.0, -1.0, 0.0],
        ],
        dtype=np.float32,
    )


def perspective(fovy_rad: float, aspect: float, near_mm: float, far_mm: float) -> np.ndarray:
    """Symmetric GL perspective projection, ``(4, 4) float32`` (vertical field of view in radians)."""
    t = 1.0 / math.tan(fovy_rad / 2.0)
    n, f = float(near_mm), float(far_mm)
    return np.array(
        [
            [t / aspect, 0.0, 0.0, 0.0],
            [0.0, t, 0.0, 0.0],
            [0.0, 0.0, -(f + n) / (f - n), -2.0 * f * n / (f - n)],
            [0.0, 0.0, -1.0, 0.0],
        ],
        dtype=np.float32,
    )


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray) -> np.ndarray:
    """GL view matrix (right-handed, camera looks down -z), ``(4, 4) float32``.

    ``eye``, ``target``, ``up``: ``(3,)`` in the same (GL-axis) world frame.
    """
    eye, target, up = (np.asarray(a, dtype=np.float64) for a in (eye, target, up))
    forward = target - eye
    forward /= np.linalg.norm(forward)
    side = np.cross(forward, up)
    side /= np.linalg.norm(side)
    true_up = np.cross(side, forward)
    view = np.eye(4)
    view[0, :3], view[1, :3], view[2, :3] = side, true_up, -forward
    view[:3, 3] = -view[:3, :3] @ eye
    return view.astype(np.float32)


def orbit_view(target_mm: np.ndarray, yaw_rad: float, pitch_rad: float, distance_mm: float) -> np.ndarray:
    """View matrix of a camera orbiting ``target_mm`` (``(3,)``, OpenCV camera space, mm).

    Takes OpenCV camera-space points, ``(4, 4) float32``. Yaw 0, pitch 0 looks at the target
    from the real camera's side (a frontal view); positive yaw swings the orbit camera towards
    +x (the person's left, image right), positive pitch raises it.
    """
    target = OPENCV_TO_GL[:3, :3] @ np.asarray(target_mm, dtype=np.float64)
    offset = distance_mm * np.array(
        [math.sin(yaw_rad) * math.cos(pitch_rad), math.sin(pitch_rad), math.cos(yaw_rad) * math.cos(pitch_rad)]
    )
    return look_at(target + offset, target, np.array([0.0, 1.0, 0.0])) @ OPENCV_TO_GL


def project_points(points: np.ndarray, mvp: np.ndarray, width: int, height: int) -> np.ndarray:
    """Project points through a GL matrix onto pixels of a ``width`` x ``height`` viewport.

    ``points``: ``(n, 3)`` model coordinates; ``mvp``: ``(4, 4)``. Returns ``(n, 2) float64``
    pixel coordinates, origin at the top-left corner, y down (the inverse of the viewport
    transform GL applies, so tests can compare GL matrices with the pinhole formula).
    """
    points = check_shape("points", points, (None, 3), dtype=np.float64)
    clip = np.c_[points, np.ones(len(points))] @ np.asarray(mvp, dtype=np.float64).T
    ndc = clip[:, :2] / clip[:, 3:4]
    return np.c_[(ndc[:, 0] + 1.0) * 0.5 * width, (1.0 - ndc[:, 1]) * 0.5 * height]


def fit_viewport(content_w: int, content_h: int, area: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Largest rectangle of the content's aspect ratio centred in ``area`` (letterbox).

    ``area`` and the result are ``(x, y, w, h)`` in pixels, GL convention (y from the bottom).
    """
    ax, ay, aw, ah = area
    scale = min(aw / content_w, ah / content_h)
    w, h = max(1, int(round(content_w * scale))), max(1, int(round(content_h * scale)))
    return ax + (aw - w) // 2, ay + (ah - h) // 2, w, h
