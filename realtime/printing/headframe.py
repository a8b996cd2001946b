"""A head-aligned frame from face-mesh landmarks, and the neutral-jaw correction.

In: a metric face mesh ``(468, 3)`` mm in any rigid frame (camera space with OpenCV axes, or a
canonical identity). Out: the same vertices in the *head frame*: origin midway between the outer
eye corners, x toward the person's left, y up, z forward out of the face (right-handed), plus the
rotation that got them there. The frame is estimated from the eyes, the chin and the nose tip, so
callers need not agree on the input axes.
"""

from __future__ import annotations

import numpy as np

from realtime import topology
from realtime.shapes import check_shape

# The jaw hinges near the ear: the condyle sits just in front of the tragus, roughly at the
# height of the nose bottom; vertices below the lip line rotate about the axis through both.
_LIP_LINE_BAND_MM = 2.0
"""Least height over which the neutral-jaw weight ramps from 0 (upper inner lip) to 1 (lower
inner lip), mm: a sharper ramp would shear the lip corners."""
_CHEEK_FALLOFF_MM = 25.0
"""Distance behind the mouth corners over which the jaw weight fades out, so cheeks stay put."""
NEUTRAL_MOUTH_GAP_MM = 0.5
"""Inner-lip gap the neutral jaw closes to: lips touching, not pressed through each other."""


def head_frame(vertices_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Estimate the head frame of a face mesh.

    vertices_mm: ``(468, 3) float`` mm, any rigid frame (mirroring is undone only in the sense
        that the result is always right-handed with the nose in front).
    Returns ``(rotation (3, 3) float64, origin (3,) float64 mm)`` with
    ``head_point = rotation @ (point - origin)``; rows of ``rotation`` are the head x (person's
    left), y (up, chin to eyes) and z (forward, eyes to nose tip) axes in input coordinates.
    """
    v = check_shape("vertices_mm", vertices_mm, (topology.N_VERTICES, 3), dtype=np.float64)
    right, left = v[topology.RIGHT_EYE_OUTER], v[topology.LEFT_EYE_OUTER]
    origin = 0.5 * (right + left)
    x_axis = _unit(left - right)
    # Forehead top to chin is close to vertical in the natural head posture (the eye-to-chin line
    # leans back by ~10 degrees), so it defines up.
    up = v[topology.FOREHEAD_TOP] - v[topology.CHIN]
    y_axis = _unit(up - x_axis * (up @ x_axis))
    z_axis = np.cross(x_axis, y_axis)
    if (v[topology.NOSE_TIP] - origin) @ z_axis < 0:
        # The input is mirrored: keep the frame right-handed and the nose in front by flipping x.
        z_axis = -z_axis
        x_axis = np.cross(y_axis, z_axis)
    return np.stack([x_axis, y_axis, z_axis]), origin


def to_head_frame(vertices_mm: np.ndarray) -> np.ndarray:
    """``(468, 3) float64`` mm in the head frame (see ``head_frame``)."""
    rotation, origin = head_frame(vertices_mm)
    return (np.asarray(vertices_mm, dtype=np.float64) - origin) @ rotation.T


def mouth_gap_mm(head_mm: np.ndarray) -> float:
    """Distance between the inner lips on the midline, mm (0 for a closed mouth)."""
    return float(np.linalg.norm(head_mm[topology.UPPER_LIP_INNER] - head_mm[topology.LOWER_LIP_INNER]))


def neutral_jaw(head_mm: np.ndarray) -> np.ndarray:
    """Close an open mouth by rotating the jaw about its hinge; ``(468, 3) float64`` mm, head frame.

    The lower face (below the lip line, in front of the cheeks) turns about the axis through the
    jaw joints (below the outer face contour at ear height) until the inner lips are
    ``NEUTRAL_MOUTH_GAP_MM`` apart; the weight ramps smoothly so the surface does not tear. Smiles
    and raised brows are kept: one mesh does not tell an expression from a face shape.
    """
    head = check_shape("head_mm", head_mm, (topology.N_VERTICES, 3), dtype=np.float64).copy()
    upper, lower = head[topology.UPPER_LIP_INNER], head[topology.LOWER_LIP_INNER]
    gap = np.linalg.norm(upper - lower)
    if gap <= NEUTRAL_MOUTH_GAP_MM:
        return head
    # Hinge: below the face-contour points in front of the ears (234, 454), at nose-bottom height.
    hinge = 0.5 * (head[234] + head[454])
    hinge[1] = head[topology.NOSE_BOTTOM, 1]
    hinge[0] = 0.0
    arm_lower = lower - hinge
    arm_upper = upper - hinge
    # Rotation about x (the hinge axis) that brings the lower lip up toward the upper lip.
    angle_lower = np.arctan2(arm_lower[1], arm_lower[2])
    angle_upper = np.arctan2(arm_upper[1], arm_upper[2])
    radius = np.hypot(arm_lower[1], arm_lower[2])
    angle = (angle_upper - angle_lower) - NEUTRAL_MOUTH_GAP_MM / max(radius, 1e-6)
    # Weight 0 at and above the upper inner lip, 1 from the lower inner lip down.
    band = max(upper[1] - lower[1], _LIP_LINE_BAND_MM)
    below = np.clip((upper[1] - head[:, 1]) / band, 0.0, 1.0)
    corner_z = 0.5 * (head[topology.MOUTH_RIGHT, 2] + head[topology.MOUTH_LEFT, 2])
    front = np.clip(1.0 - (corner_z - head[:, 2]) / _CHEEK_FALLOFF_MM, 0.0, 1.0)
    weight = _smoothstep(below) * _smoothstep(front)
    rel = head - hinge
    theta = angle * weight
    cos, sin = np.cos(theta), np.sin(theta)
    # Turning the polar angle atan2(y, z) by theta: y' = y cos + z sin, z' = z cos - y sin.
    y_new = rel[:, 1] * cos + rel[:, 2] * sin
    z_new = rel[:, 2] * cos - rel[:, 1] * sin
    head[:, 1] = y_new + hinge[1]
    head[:, 2] = z_new + hinge[2]
    return head


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)
