"""A face mesh in the head frame, and the neutral-jaw correction.

In: a metric face mesh ``(468, 3)`` mm in any rigid frame (camera space with OpenCV axes, or a
canonical identity). Out: the same vertices in the *head frame* (``realtime.geometry.head_frame``,
the one every module uses: origin midway between the outer eye corners, x toward the person's
left, y up, z forward out of the face, right-handed). The frame is estimated from the eyes, the
chin and the nose tip, so callers need not agree on the input axes.
"""

from __future__ import annotations

import numpy as np

from realtime import topology
from realtime.geometry import head_frame
from realtime.shapes import check_shape

# The jaw hinges near the ear: the condyle sits just in front of the tragus, roughly at the
# height of the nose bottom; the lower face turns about the axis through both.
_JAW_RAMP_PER_LIFT = 2.5
"""Height over which the jaw's turn fades out upward across the skin beside and below the mouth,
over the lower lip's lift at the midline. Skin cannot be closed like the opening itself: a vertex
that rises by ``D(y)`` keeps its order below its neighbours only while ``dD/dy > -1``, and the
smoothstep's steepest slope is 1.5, so 2.5 squeezes that skin to no less than 40 % of its height.
(A ramp as tall as the opening, the lift itself, folds the lip corners and cheeks over each other.)"""
_CHEEK_FALLOFF_MM = 25.0
"""Distance behind the mouth corners over which the jaw weight fades out, so cheeks stay put."""
NEUTRAL_MOUTH_GAP_MM = 0.5
"""Inner-lip gap the neutral jaw closes to: lips touching, not pressed through each other."""

# ``topology.LIPS_INNER`` runs from the right corner (78) over the upper lip to the left corner
# (308) and back under the lower lip: the opening's upper and lower edges, corner to corner.
_OPENING_UPPER = topology.LIPS_INNER[:11]
_OPENING_LOWER = topology.LIPS_INNER[10:] + topology.LIPS_INNER[:1]


def to_head_frame(vertices_mm: np.ndarray) -> np.ndarray:
    """``(468, 3) float64`` mm in the head frame (see ``head_frame``)."""
    rotation, origin = head_frame(vertices_mm)
    return (np.asarray(vertices_mm, dtype=np.float64) - origin) @ rotation.T


def mouth_gap_mm(head_mm: np.ndarray) -> float:
    """Distance between the inner lips on the midline, mm (0 for a closed mouth)."""
    return float(np.linalg.norm(head_mm[topology.UPPER_LIP_INNER] - head_mm[topology.LOWER_LIP_INNER]))


def neutral_jaw(head_mm: np.ndarray, centre_mm: np.ndarray | None = None) -> np.ndarray:
    """Close an open mouth by turning the jaw about its hinge; ``(468, 3) float64`` mm, head frame.

    The lower face (below the mouth, in front of the cheeks) turns about the axis through the jaw
    joints (below the outer face contour at ear height) until the inner lips meet on the midline,
    ``NEUTRAL_MOUTH_GAP_MM`` apart. Each part of the lower lip turns by the share of that turn which
    brings it onto the upper lip above it (all of it at the midline, none at the corners); below
    the lip, and beside the mouth, the rest of the turn fades in over ``_JAW_RAMP_PER_LIFT`` times
    the lift, so no skin folds over itself. Smiles and raised brows are kept: one mesh does not
    tell an expression from a face shape.

    centre_mm: ``(3,)`` mm, head frame: where the surface is seen from (the radial head field's
        centre, ``surface.field_centre``). The lower lip stops on the ray from there through the
        upper lip, so the two lips do not overlap in that view; the turn also carries the lip
        forward, and stopping at the upper lip's height would leave it over the upper lip. None:
        stop at the upper lip's height (seen from the front, as a relief is).
    """
    head = check_shape("head_mm", head_mm, (topology.N_VERTICES, 3), dtype=np.float64).copy()
    upper, lower = head[topology.UPPER_LIP_INNER], head[topology.LOWER_LIP_INNER]
    gap = np.linalg.norm(upper - lower)
    if gap <= NEUTRAL_MOUTH_GAP_MM:
        return head
    # Hinge: below the face-contour points in front of the ears (234, 454), at nose-bottom height.
    hinge = 0.5 * (head[topology.FACE_SIDE_RIGHT] + head[topology.FACE_SIDE_LEFT])
    hinge[1] = head[topology.NOSE_BOTTOM, 1]
    hinge[0] = 0.0
    rel = head - hinge
    x, y = head[:, 0], head[:, 1]
    # The opening's edges as heights over x: constant beyond the corners, where they meet.
    top = _along_edge(head, _OPENING_UPPER, x, axis=1)
    bottom = np.minimum(_along_edge(head, _OPENING_LOWER, x, axis=1), top)
    # The turn that brings each vertex of the lower edge onto the upper edge above it; the jaw's
    # turn is the midline's, and each edge vertex takes its share of it.
    edge = list(_OPENING_LOWER)
    upper_edge = np.column_stack([x[edge], top[edge], _along_edge(head, _OPENING_UPPER, x[edge], axis=2)])
    turns = _turn_onto_rays(rel[edge], upper_edge - hinge, None if centre_mm is None else np.asarray(centre_mm) - hinge)
    midline = edge.index(topology.LOWER_LIP_INNER)
    angle = turns[midline]
    if angle <= 0.0:
        return head
    share = np.clip(turns / angle, 0.0, 1.0)
    share[[0, -1]] = 0.0  # the corners do not move
    order = np.argsort(x[edge])
    lip = np.interp(x, x[edge][order], share[order])
    # Within the opening (where the mesh has no vertices) the lip's share ramps in at once; below
    # the lower edge, and beside the mouth, the rest fades in slowly enough not to fold the skin.
    opening = np.maximum(top - bottom, 1e-6)
    lift = _turn(rel[[topology.LOWER_LIP_INNER]], angle)[0, 1] - rel[topology.LOWER_LIP_INNER, 1]
    ramp = _JAW_RAMP_PER_LIFT * max(lift, 1e-6)
    weight = lip * _smoothstep((top - y) / opening) + (1.0 - lip) * _smoothstep((bottom - y) / ramp)
    corner_z = 0.5 * (head[topology.MOUTH_RIGHT, 2] + head[topology.MOUTH_LEFT, 2])
    weight = weight * _smoothstep(1.0 - (corner_z - head[:, 2]) / _CHEEK_FALLOFF_MM)
    return hinge + _turn(rel, angle * weight)


def _turn_onto_rays(points: np.ndarray, targets: np.ndarray, eye: np.ndarray | None) -> np.ndarray:
    """Turns ``(n,)`` radians about the x axis that bring ``points (n, 3)`` onto the rays from
    ``eye (3,)`` through ``targets (n, 3)`` (in the y-z plane; all relative to the axis), less
    ``NEUTRAL_MOUTH_GAP_MM`` of arc. ``eye`` None: the rays run along z, through the targets."""
    p, t = points[:, 1:], targets[:, 1:]  # (y, z)
    radius = np.linalg.norm(p, axis=1)
    direction = np.tile([0.0, 1.0], (len(p), 1)) if eye is None else t - np.asarray(eye)[1:]
    direction = direction / np.linalg.norm(direction, axis=1, keepdims=True)
    # |t + s d| = r: s^2 + 2 (t.d) s + |t|^2 - r^2 = 0; the root nearest the target (s = 0).
    b = np.einsum("ij,ij->i", t, direction)
    disc = b * b - (np.einsum("ij,ij->i", t, t) - radius**2)
    root = np.sqrt(np.maximum(disc, 0.0))
    s = np.where(np.abs(-b + root) < np.abs(-b - root), -b + root, -b - root)
    # A ray that misses the point's circle: the nearest approach, the target's own polar angle.
    onto = np.where((disc >= 0.0)[:, None], t + s[:, None] * direction, t)
    # The polar angle atan2(y, z) that _turn adds to.
    turn = np.arctan2(onto[:, 0], onto[:, 1]) - np.arctan2(p[:, 0], p[:, 1])
    return turn - NEUTRAL_MOUTH_GAP_MM / np.maximum(radius, 1e-6)


def _turn(rel: np.ndarray, theta) -> np.ndarray:
    """Points ``rel (n, 3)`` turned about the x axis by ``theta`` (scalar or ``(n,)``, radians)."""
    cos, sin = np.cos(theta), np.sin(theta)
    # Turning the polar angle atan2(y, z) by theta: y' = y cos + z sin, z' = z cos - y sin.
    out = rel.copy()
    out[:, 1] = rel[:, 1] * cos + rel[:, 2] * sin
    out[:, 2] = rel[:, 2] * cos - rel[:, 1] * sin
    return out


def _along_edge(head: np.ndarray, edge: tuple[int, ...], x: np.ndarray, axis: int) -> np.ndarray:
    """Coordinate ``axis`` (1: height y, 2: depth z) ``(n,)`` mm of the lip edge ``edge`` (corner
    to corner) at each ``x (n,)`` mm, linear between its vertices, constant beyond the corners."""
    points = head[list(edge)]
    order = np.argsort(points[:, 0])
    return np.interp(x, points[order, 0], points[order, axis])



def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)
