"""The dense head surface: a star-shaped radius field around the head centre, face blended to skull.

In: the face mesh in the head frame ``(468, 3)`` mm (``realtime.printing.headframe``), optionally
the photo and the mesh's pixel positions. Out: a closed, dense triangle surface of the whole head
(an icosphere whose vertices are pushed out to ``r(direction)``), which is watertight, manifold
and free of self-intersections by construction because every direction from the centre meets it
exactly once. The face part of ``r`` interpolates the Loop-subdivided (smooth) mesh over the
(azimuth, elevation) of its vertices, the rest a head-sized egg fitted to the face contour, and the
two are blended with a smoothstep across a band inside the face contour (a smooth union in
radius). Eye and mouth openings are bridged by the same interpolant: closed eyes and lips.

Optional image detail: the high-pass of log-luminance (shading at wrinkle scale, divided by the
local mean so albedo and exposure cancel) displaces the surface along the radius, a standard
"detail from shading" heuristic over the mesh prior; its weight fades to zero where it is
unreliable: over- or under-exposed pixels, surfaces seen at a grazing angle, and the eyes,
brows and lips whose dark albedo is not shape.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np
from skimage.measure import points_in_poly
from scipy.interpolate import LinearNDInterpolator

from realtime import topology

# --- head proportions (adult averages, scaled by the outer eye-corner distance) ----------------
EYE_CORNER_SPAN_MM = 90.0
"""Average distance between the outer eye corners (exocanthion), the unit of the priors below."""
HEAD_HALF_BREADTH = 76.0
"""Half the maximum head breadth (euryon to euryon, ~152 mm)."""
HEAD_HALF_LENGTH = 98.0
"""Half the head length (glabella to opisthocranion, ~196 mm)."""
HEAD_TOP_ABOVE_CENTRE = 100.0
"""Head top (vertex) above the skull centre, which sits at eye height."""
HEAD_BOTTOM_BELOW_CENTRE = 78.0
"""Where the back of the skull meets the neck, below the centre: the egg is shorter below."""
CENTRE_BEHIND_TRAGION = 8.0
"""The skull's mid-length point lies a little behind the ear openings (tragion ~ 234/454 depth)."""

# --- blending -----------------------------------------------------------------------------------
BLEND_BAND_RAD = np.radians(14.0)
"""Angular width inside the face contour over which face and skull radii are blended."""
CONTOUR_MATCH_SIGMA_RAD = np.radians(8.0)
"""Reach of the contour correction that bends the egg onto the face contour (Gaussian sigma)."""
CONTOUR_MATCH_PRIOR = 0.02
"""Kernel weight of 'no correction': far from the contour the egg keeps its fitted shape."""

# --- image detail ---------------------------------------------------------------------------------
DETAIL_SIGMA_IPD = 0.06
"""Low-pass scale of the shading detail as a fraction of the eye distance in pixels: keeps
wrinkles and creases, removes the face's own large shading gradient."""
DETAIL_AMPLITUDE_MM = 1.2
"""Radial displacement for a 100 % local luminance contrast, life-size mm."""
DETAIL_MAX_MM = 0.8
"""Clamp on the detail displacement: specular spots and moles must not become craters."""
DETAIL_EXPOSURE_RANGE = (0.08, 0.92)
"""Luminance (0..1) outside which shading is clipped and says nothing about shape."""
DETAIL_MIN_FACING = 0.5
"""Cosine of the viewing angle below which shading is too foreshortened to use."""
DETAIL_FEATURE_MARGIN_MM = 4.0
"""Distance from eye, brow and lip landmarks inside which detail is off (albedo, not shape)."""

MOUTH_SMOOTH_REACH_MM = 7.0
"""Distance from the inner-lip contour within which the radius is smoothed (see smooth_radius_near)."""
MOUTH_SMOOTH_ITERATIONS = 8
"""Averaging steps: enough to merge the two lip sheets one or two vertices apart."""

SPHERE_SUBDIVISIONS = 6
"""Icosphere level of the head surface: 40,962 vertices, ~1 degree apart before the warp."""
FRONT_DENSITY = 0.55
"""Polar-angle warp slope at the front (forward axis): the face gets 1/0.55 = 1.8x the linear
vertex density of the uniform sphere, the back of the head 1/(2 - 0.55) = 0.7x."""


@dataclass(frozen=True)
class HeadShape:
    """The fitted skull egg and blend inputs, all in the head frame, life-size mm.

    centre: ``(3,) float64`` the point every radius is measured from.
    semi_axes: ``(4,) float64`` half breadth (x), up (y above centre), down (y below), half length (z).
    contour_dirs: ``(36, 3) float64`` unit directions of the face contour (``FACE_OVAL``) from the centre.
    contour_residual: ``(36,) float64`` face radius minus egg radius on the contour, mm.
    """

    centre: np.ndarray
    semi_axes: np.ndarray
    contour_dirs: np.ndarray
    contour_residual: np.ndarray


@functools.lru_cache(maxsize=2)
def warped_sphere(subdivisions: int = SPHERE_SUBDIVISIONS) -> tuple[np.ndarray, np.ndarray]:
    """Unit directions ``(N, 3) float64`` and faces ``(M, 3) int64`` of a front-dense icosphere.

    The polar angle a from +z becomes ``a * (k + (1 - k) a / pi)`` (monotone, so the sphere stays
    an embedding): denser toward +z (the face). Faces wind outward.
    """
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=subdivisions)
    dirs = np.asarray(sphere.vertices, dtype=np.float64)
    polar = np.arccos(np.clip(dirs[:, 2], -1.0, 1.0))
    warped = polar * (FRONT_DENSITY + (1.0 - FRONT_DENSITY) * polar / np.pi)
    ring = np.hypot(dirs[:, 0], dirs[:, 1])
    scale = np.divide(np.sin(warped), ring, out=np.zeros_like(ring), where=ring > 1e-12)
    out = np.column_stack([dirs[:, 0] * scale, dirs[:, 1] * scale, np.cos(warped)])
    faces = np.asarray(sphere.faces, dtype=np.int64)
    out.setflags(write=False)
    faces.setflags(write=False)
    return out, faces


def angles(directions: np.ndarray) -> np.ndarray:
    """``(n, 2) float64`` (azimuth, elevation) radians of ``(n, 3)`` vectors; azimuth 0 = +z, + toward +x."""
    d = np.asarray(directions, dtype=np.float64)
    azimuth = np.arctan2(d[:, 0], d[:, 2])
    elevation = np.arctan2(d[:, 1], np.hypot(d[:, 0], d[:, 2]))
    return np.column_stack([azimuth, elevation])


def egg_radius(directions: np.ndarray, semi_axes: np.ndarray) -> np.ndarray:
    """Radius ``(n,)`` mm of the egg along unit ``directions (n, 3)`` from its centre.

    Ellipsoid with semi-axes (a, b_up or b_down by the sign of y, c): r = 1 / sqrt(sum (d_i / a_i)^2).
    """
    a, up, down, c = semi_axes
    b = np.where(directions[:, 1] >= 0, up, down)
    return 1.0 / np.sqrt((directions[:, 0] / a) ** 2 + (directions[:, 1] / b) ** 2 + (directions[:, 2] / c) ** 2)


def fit_head(head_mm: np.ndarray) -> HeadShape:
    """Fit the skull egg to a face in the head frame (``(468, 3)`` mm); see ``HeadShape``.

    Centre: at eye height, on the midline, ``CENTRE_BEHIND_TRAGION`` behind the face contour's
    ear points. Semi-axes: the priors scaled by the eye-corner span, then scaled as one so that
    the egg passes through the upper face contour in the median.
    """
    scale = np.linalg.norm(head_mm[topology.LEFT_EYE_OUTER] - head_mm[topology.RIGHT_EYE_OUTER]) / EYE_CORNER_SPAN_MM
    tragion_z = 0.5 * (head_mm[234, 2] + head_mm[454, 2])
    centre = np.array([0.0, 0.0, tragion_z - CENTRE_BEHIND_TRAGION * scale])
    axes = scale * np.array([HEAD_HALF_BREADTH, HEAD_TOP_ABOVE_CENTRE, HEAD_BOTTOM_BELOW_CENTRE, HEAD_HALF_LENGTH])
    contour = head_mm[list(topology.FACE_OVAL)] - centre
    radius = np.linalg.norm(contour, axis=1)
    dirs = contour / radius[:, None]
    upper = contour[:, 1] > 0
    axes = axes * np.median(radius[upper] / egg_radius(dirs[upper], axes))
    residual = radius - egg_radius(dirs, axes)
    return HeadShape(centre=centre, semi_axes=axes, contour_dirs=dirs, contour_residual=residual)


def skull_radius(directions: np.ndarray, shape: HeadShape) -> np.ndarray:
    """Radius ``(n,)`` mm of the skull: the egg bent onto the face contour near it."""
    cos = np.clip(directions @ shape.contour_dirs.T, -1.0, 1.0)
    kernel = np.exp(-0.5 * (np.arccos(cos) / CONTOUR_MATCH_SIGMA_RAD) ** 2)
    correction = (kernel @ shape.contour_residual) / (kernel.sum(axis=1) + CONTOUR_MATCH_PRIOR)
    return egg_radius(directions, shape.semi_axes) + correction


def inside_distance(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Signed distance ``(n,)`` from ``points (n, 2)`` to the closed ``polygon (m, 2)``: > 0 inside."""
    a = polygon
    b = np.roll(polygon, -1, axis=0)
    ab = b - a
    ap = points[:, None, :] - a[None]
    t = np.clip((ap * ab).sum(-1) / (ab * ab).sum(-1), 0.0, 1.0)
    nearest = a[None] + t[..., None] * ab[None]
    dist = np.linalg.norm(points[:, None, :] - nearest, axis=2).min(axis=1)
    inside = points_in_poly(points, polygon)
    return np.where(inside, dist, -dist)


def smoothstep(t: np.ndarray) -> np.ndarray:
    """``3 t^2 - 2 t^3`` on t clipped to [0, 1]: C1 blend weight."""
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


@dataclass(frozen=True)
class RadialField:
    """Head radius over the warped sphere.

    directions: ``(N, 3) float64`` unit, head frame.  radius: ``(N,) float64`` mm.
    face_weight: ``(N,)`` 1 on the face, 0 on the skull.  pixels: ``(N, 2) float64`` image
    position of each direction on the face (NaN where there is none).
    """

    directions: np.ndarray
    radius: np.ndarray
    face_weight: np.ndarray
    pixels: np.ndarray


def radial_field(
    head_mm: np.ndarray,
    shape: HeadShape,
    directions: np.ndarray,
    vertices_px: np.ndarray | None = None,
) -> RadialField:
    """Blend face and skull radii along unit ``directions (N, 3)``; see ``RadialField``.

    head_mm: ``(468, 3)`` mm head frame.  vertices_px: ``(468, 2+)`` pixels of the same vertices
    (optional; only x, y are used) for image detail and texture coordinates.
    """
    dense, dense_px = smooth_face(head_mm, vertices_px)
    rel = dense - shape.centre
    face_angles = angles(rel)
    query = angles(directions)
    # Linear over the subdivided mesh: smooth enough at this density and, unlike a cubic, it
    # cannot overshoot where the rolled-in lips fold over themselves in (azimuth, elevation).
    face_r = LinearNDInterpolator(face_angles, np.linalg.norm(rel, axis=1))(query)
    contour = angles(head_mm[list(topology.FACE_OVAL)] - shape.centre)
    weight = smoothstep(inside_distance(query, contour) / BLEND_BAND_RAD)
    weight = np.where(np.isfinite(face_r), weight, 0.0)
    skull_r = skull_radius(directions, shape)
    radius = np.where(weight > 0, weight * np.nan_to_num(face_r) + (1 - weight) * skull_r, skull_r)
    pixels = np.full((len(directions), 2), np.nan)
    if vertices_px is not None:
        pixels = LinearNDInterpolator(face_angles, dense_px)(query)
    return RadialField(directions=directions, radius=radius, face_weight=weight, pixels=pixels)


def smooth_face(head_mm: np.ndarray, vertices_px: np.ndarray | None = None, iterations: int = 2):
    """Loop-subdivide the face mesh: ``(n, 3) float64`` mm and ``(n, 2) float64`` pixels (or None).

    Two Loop iterations turn the 852 flat faces into 13,632 on a smooth limit surface; the pixel
    positions ride along as extra coordinates of the same subdivision.
    """
    import trimesh

    # Loop subdivision is linear in the vertex values for a fixed topology, so the pixels are
    # subdivided as a second "position" (x, y, 0) and stay aligned with the 3D vertices.
    faces = topology.face_triangles()
    dense, _ = trimesh.remesh.subdivide_loop(np.asarray(head_mm, dtype=np.float64), faces, iterations)
    if vertices_px is None:
        return dense, None
    px = np.zeros((len(head_mm), 3))
    px[:, :2] = np.asarray(vertices_px, dtype=np.float64)[:, :2]
    dense_px, _ = trimesh.remesh.subdivide_loop(px, faces, iterations)
    return dense, dense_px[:, :2]


def shading_detail(
    field: RadialField,
    head_mm: np.ndarray,
    shape: HeadShape,
    image_bgr: np.ndarray,
    vertices_px: np.ndarray,
    view_dir_head: np.ndarray,
) -> np.ndarray:
    """Radial detail ``(N,) float64`` mm from image shading (see the module text), 0 where unreliable.

    image_bgr: ``(H, W, 3) uint8``.  vertices_px: ``(468, 2+)`` pixels.  view_dir_head: ``(3,)``
    unit vector from the face toward the camera in the head frame.
    """
    gray = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY).astype(np.float32) / 255.0
    px = np.asarray(vertices_px, dtype=np.float64)[:, :2]
    ipd_px = np.linalg.norm(px[topology.LEFT_EYE_OUTER] - px[topology.RIGHT_EYE_OUTER])
    sigma = max(DETAIL_SIGMA_IPD * ipd_px, 1.0)
    low = cv2.GaussianBlur(gray, (0, 0), sigma) + 1e-3
    fine = cv2.GaussianBlur(gray, (0, 0), max(sigma / 6.0, 0.7))
    # Dark relative to the neighbourhood reads as a crease (concave), bright as a ridge.
    contrast = fine / low - 1.0
    pix = field.pixels
    valid = np.isfinite(pix).all(axis=1) & (field.face_weight > 0)
    detail = np.zeros(len(field.directions))
    if not valid.any():
        return detail
    xy = pix[valid].astype(np.float32)
    def sample(img):
        return cv2.remap(img, xy[:, 0:1], xy[:, 1:2], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[:, 0]
    lum, con = sample(fine), sample(contrast)
    lo, hi = DETAIL_EXPOSURE_RANGE
    exposure = smoothstep((lum - lo) / 0.05) * smoothstep((hi - lum) / 0.05)
    points = shape.centre + field.directions[valid] * field.radius[valid, None]
    facing = smoothstep((field.directions[valid] @ view_dir_head - DETAIL_MIN_FACING) / 0.2)
    features = np.array(
        list(topology.RIGHT_EYE) + list(topology.LEFT_EYE) + list(topology.LIPS_OUTER)
        + list(topology.LIPS_INNER) + list(topology.RIGHT_EYEBROW) + list(topology.LEFT_EYEBROW)
    )
    from scipy.spatial import cKDTree

    gap, _ = cKDTree(head_mm[features]).query(points)
    away = smoothstep((gap - DETAIL_FEATURE_MARGIN_MM) / DETAIL_FEATURE_MARGIN_MM)
    weight = field.face_weight[valid] * exposure * facing * away
    detail[valid] = np.clip(DETAIL_AMPLITUDE_MM * con, -DETAIL_MAX_MM, DETAIL_MAX_MM) * weight
    return detail


def smooth_radius_near(
    radius: np.ndarray,
    faces: np.ndarray,
    points_mm: np.ndarray,
    anchors_mm: np.ndarray,
    reach_mm: float = MOUTH_SMOOTH_REACH_MM,
    iterations: int = MOUTH_SMOOTH_ITERATIONS,
) -> np.ndarray:
    """Laplacian-smooth ``radius (N,)`` over the sphere graph near ``anchors_mm (k, 3)``.

    faces: ``(M, 3) int`` of the sphere.  points_mm: ``(N, 3)`` surface points (for distances).
    Where the rolled-in lips fold over themselves in (azimuth, elevation), linear interpolation
    alternates between the two sheets; a few local averaging steps close the seam of the lips.
    """
    from scipy import sparse
    from scipy.spatial import cKDTree

    n = len(radius)
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    adjacency = sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()
    adjacency = ((adjacency + adjacency.T) > 0).astype(np.float64)
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    gap, _ = cKDTree(anchors_mm).query(points_mm)
    weight = 1.0 - smoothstep(gap / reach_mm)
    out = radius.copy()
    for _ in range(iterations):
        mean = (adjacency @ out) / degree
        out = out + weight * (mean - out)
    return out


def head_surface(field: RadialField, shape: HeadShape, extra_radius: np.ndarray | None = None) -> np.ndarray:
    """Vertices ``(N, 3) float64`` mm of the closed head surface: centre + r * direction."""
    radius = field.radius if extra_radius is None else field.radius + extra_radius
    return shape.centre + field.directions * radius[:, None]
