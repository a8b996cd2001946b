"""The dense head surface: a star-shaped radius field around the head centre, face blended to skull.

In: the face mesh in the head frame ``(468, 3)`` mm (``realtime.printing.headframe``), optionally
the photo and the mesh's pixel positions. Out: a closed, dense triangle surface of the whole head
(an icosphere whose vertices are pushed out to ``r(direction)``), which is watertight, manifold
and free of self-intersections by construction because every direction from the centre meets it
exactly once. The face part of ``r`` interpolates the Loop-subdivided (smooth) mesh over the
(azimuth, elevation) of its vertices, the rest a head prior fitted to the face contour, and the
two are blended with a smoothstep across a band inside the face contour (a smooth union in
radius). Eye and mouth openings are bridged by the same interpolant: closed eyes and lips.

The head prior is built from simple solids that all hold the centre, so each has one radius per
direction and their smooth unions and intersections are smooth maxima and minima of radii: a
cranium (an ellipsoid widest above and behind the ears, its sides flattened), a jaw mass (an
ellipsoid narrowing from the jaw angles to the chin, cut below by the chin's underside plane,
which rises toward the throat) and a neck (a cylinder that runs into the throat and the nape).
Ears are separate ellipsoids (``ear_ellipsoids``), joined to the solid with booleans.

Optional image detail: the high-pass of log-luminance (shading at wrinkle scale, divided by the
local mean so albedo and exposure cancel) displaces the surface along the radius, a standard
"detail from shading" heuristic over the mesh prior; its weight fades to zero where it is
unreliable: over- or under-exposed pixels, surfaces seen at a grazing angle, and the eyes,
brows and lips whose dark albedo is not shape.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import cv2
import numpy as np
from skimage.measure import points_in_poly

from realtime import geometry, topology
from realtime.shapes import check_shape

# --- head proportions (adult means, scaled by the outer eye-corner distance) --------------------
# Sources: Farkas, "Anthropometry of the Head and Face" (1994), North American white adults, and
# the ANSUR II survey (Gordon et al. 2014); values are rounded means of men and women, and every
# one is used as a fraction of the exocanthion span, which the mesh measures reliably.
EYE_CORNER_SPAN_MM = 90.0
"""Average distance between the outer eye corners (exocanthion, Farkas ex-ex ~ 88-91 mm)."""
HEAD_HALF_BREADTH = 76.0
"""Half the maximum head breadth (euryon to euryon: Farkas eu-eu ~ 148 mm, ANSUR II ~ 150 mm)."""
HEAD_HALF_LENGTH = 96.0
"""Half the head length (glabella to opisthocranion: Farkas g-op ~ 191 mm, ANSUR II ~ 193 mm)."""
HEAD_TOP_ABOVE_EYES = 112.0
"""Vertex above the eye corners: ANSUR II tragion to top of head ~ 127 mm, less the ~ 15 mm the
tragion (Frankfort plane) lies below the exocanthion."""
CRANIUM_CENTRE_ABOVE_EYES = 18.0
"""Height of the cranium's widest and longest section (euryon, opisthocranion) above the eye
corners: a head is widest above and behind the ears, not at the ear openings."""
CRANIUM_DOWN = 72.0
"""Cranium below that section, where the occiput turns under into the nape."""
SIDE_FLATNESS = 0.9
"""The cranium's sides are flattened to this fraction of its half breadth (parietal walls): the
ellipsoid it starts from is widened by 1 / SIDE_FLATNESS, then cut by two smoothed planes."""
SIDE_ROUNDING = 22.0
"""Smoothing width of those planes, mm: the flat sides run into the crown and occiput."""
CENTRE_BEHIND_TRAGION = 8.0
"""The radial field's centre: at eye height, a little behind the face contour's ear points."""

# Lower face and jaw.
JAW_HALF_WIDTH = 52.0
"""Half the jaw's width at the jaw angles (gonion, soft tissue: Farkas go-go ~ 94 mm, plus skin)."""
JAW_CENTRE_BELOW_EYES = 30.0
"""The jaw mass is an ellipsoid centred at cheekbone height and at the jaw angles' depth ..."""
JAW_DOWN = 130.0
"""... reaching this far down (below the chin: the underside plane cuts it) ..."""
GONION_FORWARD_OF_TRAGION = 4.0
"""... and centred this far in front of the face contour's ear points (the ramus is below the ear)."""
GONION_HEIGHT_FRACTION = 2.0 / 3.0
"""Jaw angle height, as the fraction of the way down from the jaw centre to the chin."""
CHIN_PAD = 12.0
"""How far the jaw ellipsoid reaches in front of the chin landmark at its own height."""
SUBMENTAL_RISE_RAD = np.radians(15.0)
"""The chin's underside rises this much from the chin back to the throat (soft-tissue
submental-cervical line, ~ 105 deg cervicomental angle with a vertical neck)."""
SUBMENTAL_DROP = 3.0
"""The underside plane passes this far below the chin landmark (the menton is under the gnathion)."""
JAW_ROUNDING = 10.0
"""Smoothing width where the jaw's sides turn into its underside (the mandible's lower border)."""
CHEEK_ROUNDING = 24.0
"""Smoothing width where the jaw mass merges into the cranium (cheeks, temples, below the ears)."""

# Neck (part of the head surface, so it merges smoothly into throat and nape).
NECK_RADIUS = 0.72
"""Neck radius / cranium half breadth (ANSUR II neck circumference ~ 360 mm: radius ~ 57 mm, 0.75;
a little slimmer reads better on a bust)."""
NECK_BEHIND_CENTRE = 0.2
"""Neck axis behind the field centre / cranium half length: the spine carries the head from behind."""
NECK_TOP_ABOVE_CENTRE = 10.0
"""Where the neck ends inside the cranium, above the field centre, mm (it must hold the centre)."""
NECK_DOME_WIDTH = 2.0
"""Width of the dome that rounds the neck's top / neck radius: wide enough that the neck keeps its
full radius where it shows (below the jaw and occiput), narrow at the top, deep inside the head."""
NAPE_ROUNDING = 20.0
"""Smoothing width where the neck meets the occiput and the throat: the nape's muscles."""
NECK_CAP_BELOW_CHIN = 2.0
"""The neck in the head surface ends this many cranium half breadths below the chin (inside the
bust's plinth, which is cut flat below)."""

# Ears (Farkas 1994 means of men and women): simple ellipsoids, so they print without thin parts.
EAR_LENGTH = 60.0
"""Ear length, superaurale to subaurale (Farkas sa-sba ~ 62 mm men, 58 mm women)."""
EAR_WIDTH = 33.0
"""Ear width, preaurale to postaurale (Farkas pra-pa ~ 34 / 32 mm)."""
EAR_THICKNESS = 14.0
"""Thickness of the ear lump, mm: a printed ear is a rounded mass, not a 2 mm cartilage shell."""
EAR_INCLINATION_RAD = np.radians(15.0)
"""The ear's long axis leans back from vertical (Farkas: ~ 15-20 deg)."""
EAR_FLARE_RAD = np.radians(28.0)
"""The ear stands off the head toward its back rim (auriculocephalic angle ~ 20-30 deg)."""
EAR_FRONT_BEHIND_CONTOUR = 3.0
"""The ear's front edge (preaurale) behind the face contour's ear points (234 / 454), mm."""
EAR_SINK = 0.38
"""Fraction of the ear's thickness sunk into the head at its centre."""

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
    """The fitted skull prior and blend inputs, all in the head frame, life-size mm.

    centre: ``(3,) float64`` the point every radius is measured from (eye height, midline).
    semi_axes: ``(4,) float64`` of the cranium: half breadth (x), up and down (y, from its widest
        section), half length (z).
    cranium_centre: ``(3,) float64`` centre of the cranium ellipsoid (its widest section).
    side_half_width: the flat sides of the cranium, mm from the midline.
    jaw_centre, jaw_axes: ``(3,) float64`` the jaw mass ellipsoid.
    submental_point, submental_normal: ``(3,) float64`` the chin's underside plane (outward normal).
    neck_axis_xz: ``(2,) float64`` the vertical neck axis (x, z).  neck_radius, neck_bottom_y: mm.
    contour_dirs: ``(36, 3) float64`` unit directions of the face contour (``FACE_OVAL``) from the centre.
    contour_residual: ``(36,) float64`` face radius minus prior radius on the contour, mm.
    """

    centre: np.ndarray
    semi_axes: np.ndarray
    cranium_centre: np.ndarray
    side_half_width: float
    jaw_centre: np.ndarray
    jaw_axes: np.ndarray
    submental_point: np.ndarray
    submental_normal: np.ndarray
    neck_axis_xz: np.ndarray
    neck_radius: float
    neck_bottom_y: float
    contour_dirs: np.ndarray
    contour_residual: np.ndarray


@functools.lru_cache(maxsize=2)
def warped_sphere(subdivisions: int = SPHERE_SUBDIVISIONS) -> tuple[np.ndarray, np.ndarray]:
    """Unit directions ``(N, 3) float64`` and faces ``(M, 3) int64`` of a front-dense icosphere.

    The polar angle a from +z becomes ``a * (k + (1 - k) a / pi)`` (monotone, so the sphere stays
    an embedding): denser toward +z (the face). Faces wind outward.
    """
    dirs, faces = geometry.icosphere(subdivisions)
    polar = np.arccos(np.clip(dirs[:, 2], -1.0, 1.0))
    warped = polar * (FRONT_DENSITY + (1.0 - FRONT_DENSITY) * polar / np.pi)
    ring = np.hypot(dirs[:, 0], dirs[:, 1])
    scale = np.divide(np.sin(warped), ring, out=np.zeros_like(ring), where=ring > 1e-12)
    out = np.column_stack([dirs[:, 0] * scale, dirs[:, 1] * scale, np.cos(warped)])
    out.setflags(write=False)
    faces.setflags(write=False)
    return out, faces


def angles(directions: np.ndarray) -> np.ndarray:
    """``(n, 2) float64`` (azimuth, elevation) radians of ``(n, 3)`` vectors; azimuth 0 = +z, + toward +x."""
    d = np.asarray(directions, dtype=np.float64)
    azimuth = np.arctan2(d[:, 0], d[:, 2])
    elevation = np.arctan2(d[:, 1], np.hypot(d[:, 0], d[:, 2]))
    return np.column_stack([azimuth, elevation])


_FAR_MM = 1.0e4
"""Radius standing for "no boundary in this direction" (a half-space seen edge-on or from inside)."""


def egg_radius(directions: np.ndarray, semi_axes: np.ndarray) -> np.ndarray:
    """Radius ``(n,)`` mm of the egg along unit ``directions (n, 3)`` from its centre.

    Ellipsoid with semi-axes (a, b_up or b_down by the sign of y, c): r = 1 / sqrt(sum (d_i / a_i)^2).
    """
    a, up, down, c = semi_axes
    b = np.where(directions[:, 1] >= 0, up, down)
    return 1.0 / np.sqrt((directions[:, 0] / a) ** 2 + (directions[:, 1] / b) ** 2 + (directions[:, 2] / c) ** 2)


def ellipsoid_radius(directions: np.ndarray, origin: np.ndarray, centre: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """Distance ``(n,)`` mm from ``origin (3,)`` along unit ``directions (n, 3)`` to the surface of the
    axis-aligned ellipsoid ``centre (3,)``, ``axes (3,)`` mm, which must contain the origin.

    With u = d / axes and w = (origin - centre) / axes, |w + r u|^2 = 1 is the quadratic
    (u.u) r^2 + 2 (u.w) r + (w.w - 1) = 0; the origin is inside (w.w < 1), so its larger root is > 0.
    """
    u = directions / axes
    w = (origin - centre) / axes
    uu = np.einsum("ij,ij->i", u, u)
    uw = u @ w
    return (-uw + np.sqrt(uw * uw - uu * (w @ w - 1.0))) / uu


def split_ellipsoid_radius(directions, origin, centre, axes_up, axes_down):
    """``ellipsoid_radius`` of two half ellipsoids joined at y = centre_y (same x and z axes): the
    upper half with ``axes_up (3,)``, the lower with ``axes_down (3,)``. ``(n,)`` mm."""
    up = ellipsoid_radius(directions, origin, centre, axes_up)
    down = ellipsoid_radius(directions, origin, centre, axes_down)
    # Test the half the origin is in: a ray leaves the solid through that half exactly when it
    # leaves that half's own ellipsoid before crossing y = centre_y.
    if origin[1] < centre[1]:
        return np.where(origin[1] + down * directions[:, 1] < centre[1], down, up)
    return np.where(origin[1] + up * directions[:, 1] >= centre[1], up, down)


def plane_radius(directions: np.ndarray, origin: np.ndarray, point: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Distance ``(n,)`` mm from ``origin`` to the plane through ``point`` with outward ``normal`` (3,),
    which bounds a half-space holding the origin; ``_FAR_MM`` where the ray runs away from it."""
    gap = float(normal @ (point - origin))  # > 0: origin inside
    toward = directions @ normal
    return np.where(toward > gap / _FAR_MM, gap / np.maximum(toward, 1e-12), _FAR_MM)


def vertical_cylinder_radius(directions: np.ndarray, origin: np.ndarray, axis_xz: np.ndarray, radius: float) -> np.ndarray:
    """Distance ``(n,)`` mm from ``origin (3,)`` to a vertical (y) cylinder around ``axis_xz (2,)``
    that contains it; ``_FAR_MM`` for rays along the axis."""
    d = directions[:, [0, 2]]
    w = origin[[0, 2]] - axis_xz
    dd = np.einsum("ij,ij->i", d, d)
    dw = d @ w
    root = (-dw + np.sqrt(dw * dw - dd * (w @ w - radius * radius))) / np.maximum(dd, 1e-12)
    return np.where(dd > 1e-12, np.minimum(root, _FAR_MM), _FAR_MM)


def smooth_min(a: np.ndarray, b: np.ndarray, width: float) -> np.ndarray:
    """Polynomial smooth minimum of two radius fields, mm: equal to ``min`` where they differ by
    more than ``width``; in between the corner is rounded (C1) by up to ``width / 4``."""
    h = np.clip(width - np.abs(a - b), 0.0, None) / width
    return np.minimum(a, b) - h * h * width / 4.0


def smooth_max(a: np.ndarray, b: np.ndarray, width: float) -> np.ndarray:
    """Polynomial smooth maximum (see ``smooth_min``): the rounded union of two star-shaped solids."""
    return -smooth_min(-a, -b, width)


def prior_radius(directions: np.ndarray, shape: HeadShape) -> np.ndarray:
    """Radius ``(n,)`` mm of the head prior (cranium, jaw, neck) along unit ``directions (n, 3)``.

    Every part is a solid that holds the centre, so each has one radius per direction; unions and
    intersections of such star-shaped solids are the max and min of their radii, and the smooth
    versions round the joints (cheeks, the jaw's lower border, throat and nape).
    """
    o, s = shape.centre, shape
    cranium = cranium_radius(directions, shape)
    jaw = ellipsoid_radius(directions, o, s.jaw_centre, s.jaw_axes)
    jaw = smooth_min(jaw, plane_radius(directions, o, s.submental_point, s.submental_normal), JAW_ROUNDING)
    neck = vertical_cylinder_radius(directions, o, s.neck_axis_xz, s.neck_radius)
    neck = np.minimum(neck, plane_radius(directions, o, np.array([0.0, s.neck_bottom_y, 0.0]), np.array([0.0, -1.0, 0.0])))
    # The neck's top, hidden in the cranium, is a dome (a tall ellipsoid standing on the neck's
    # base): a flat cap would leave a rim close under the skin at the sides, where the neck is
    # nearly as wide as the head, and the smooth union would show it.
    dome_centre = np.array([s.neck_axis_xz[0], s.neck_bottom_y, s.neck_axis_xz[1]])
    dome_height = o[1] + NECK_TOP_ABOVE_CENTRE * s.semi_axes[0] / HEAD_HALF_BREADTH - s.neck_bottom_y
    dome_width = NECK_DOME_WIDTH * s.neck_radius
    dome = ellipsoid_radius(directions, o, dome_centre, np.array([dome_width, dome_height, dome_width]))
    neck = smooth_min(neck, dome, NAPE_ROUNDING)
    head = smooth_max(cranium, jaw, CHEEK_ROUNDING)
    return smooth_max(head, neck, NAPE_ROUNDING)


def field_centre(head_mm: np.ndarray) -> np.ndarray:
    """The radial field's centre ``(3,) float64`` mm for a face in the head frame (``(468, 3)`` mm):
    at eye height, on the midline, ``CENTRE_BEHIND_TRAGION`` behind the face contour's ear points.
    Eyes and ear points only, so closing the jaw (``headframe.neutral_jaw``) does not move it."""
    scale = np.linalg.norm(head_mm[topology.LEFT_EYE_OUTER] - head_mm[topology.RIGHT_EYE_OUTER]) / EYE_CORNER_SPAN_MM
    tragion = 0.5 * (head_mm[topology.FACE_SIDE_RIGHT] + head_mm[topology.FACE_SIDE_LEFT])
    return np.array([0.0, 0.0, tragion[2] - CENTRE_BEHIND_TRAGION * scale])


def fit_head(head_mm: np.ndarray) -> HeadShape:
    """Fit the skull prior to a face in the head frame (``(468, 3)`` mm); see ``HeadShape``.

    Centre: at eye height, on the midline, ``CENTRE_BEHIND_TRAGION`` behind the face contour's
    ear points. The cranium: the priors scaled by the eye-corner span, its front at the glabella,
    then scaled as one about the centre so it passes through the upper face contour in the median.
    The jaw hangs from the chin and the face contour's ear points, the neck from the cranium.
    """
    scale = np.linalg.norm(head_mm[topology.LEFT_EYE_OUTER] - head_mm[topology.RIGHT_EYE_OUTER]) / EYE_CORNER_SPAN_MM
    tragion = 0.5 * (head_mm[topology.FACE_SIDE_RIGHT] + head_mm[topology.FACE_SIDE_LEFT])
    centre = field_centre(head_mm)
    glabella_z = head_mm[topology.GLABELLA, 2]
    cranium_centre = np.array([0.0, CRANIUM_CENTRE_ABOVE_EYES * scale, glabella_z - HEAD_HALF_LENGTH * scale])
    axes = scale * np.array([HEAD_HALF_BREADTH, HEAD_TOP_ABOVE_EYES - CRANIUM_CENTRE_ABOVE_EYES, CRANIUM_DOWN, HEAD_HALF_LENGTH])
    chin = head_mm[topology.CHIN]
    jaw_centre = np.array([0.0, -JAW_CENTRE_BELOW_EYES * scale, tragion[2] + GONION_FORWARD_OF_TRAGION * scale])
    # The jaw angles sit ~ 2/3 of the way down from the jaw centre to the chin; the ellipsoid's x
    # axis is set so its half width there is JAW_HALF_WIDTH.
    jaw_down = JAW_DOWN * scale
    angle_drop = GONION_HEIGHT_FRACTION * (jaw_centre[1] - chin[1]) / jaw_down
    jaw_axes = np.array([JAW_HALF_WIDTH * scale / np.sqrt(1.0 - angle_drop**2), jaw_down,
                         chin[2] + CHIN_PAD * scale - jaw_centre[2]])
    normal = np.array([0.0, -np.cos(SUBMENTAL_RISE_RAD), -np.sin(SUBMENTAL_RISE_RAD)])
    submental_point = chin - np.array([0.0, SUBMENTAL_DROP * scale, 0.0])
    shape = HeadShape(
        centre=centre, semi_axes=axes, cranium_centre=cranium_centre, side_half_width=SIDE_FLATNESS * axes[0],
        jaw_centre=jaw_centre, jaw_axes=jaw_axes, submental_point=submental_point, submental_normal=normal,
        neck_axis_xz=np.zeros(2), neck_radius=0.0, neck_bottom_y=0.0,
        contour_dirs=np.zeros((0, 3)), contour_residual=np.zeros(0),
    )
    contour = head_mm[list(topology.FACE_OVAL)] - centre
    radius = np.linalg.norm(contour, axis=1)
    dirs = contour / radius[:, None]
    upper = contour[:, 1] > 0
    fit = float(np.median(radius[upper] / cranium_radius(dirs[upper], shape)))
    axes = axes * fit
    cranium_centre = centre + (cranium_centre - centre) * fit
    neck_radius = NECK_RADIUS * axes[0]
    shape = dataclasses.replace(
        shape, semi_axes=axes, cranium_centre=cranium_centre, side_half_width=SIDE_FLATNESS * axes[0],
        neck_axis_xz=np.array([0.0, centre[2] - NECK_BEHIND_CENTRE * axes[3]]), neck_radius=neck_radius,
        neck_bottom_y=chin[1] - NECK_CAP_BELOW_CHIN * axes[0],
    )
    residual = radius - prior_radius(dirs, shape)
    return dataclasses.replace(shape, contour_dirs=dirs, contour_residual=residual)


def cranium_radius(directions: np.ndarray, shape: HeadShape) -> np.ndarray:
    """Radius ``(n,)`` mm of the cranium alone: a split ellipsoid widened by ``1 / SIDE_FLATNESS``
    and cut back to ``side_half_width`` by two smoothed planes (flat parietal walls)."""
    a, up, down, c = shape.semi_axes
    wide = a / SIDE_FLATNESS
    radius = split_ellipsoid_radius(directions, shape.centre, shape.cranium_centre,
                                    np.array([wide, up, c]), np.array([wide, down, c]))
    rounding = SIDE_ROUNDING * a / HEAD_HALF_BREADTH
    for sign in (-1.0, 1.0):
        wall = plane_radius(directions, shape.centre, np.array([sign * shape.side_half_width, 0.0, 0.0]),
                            np.array([sign, 0.0, 0.0]))
        radius = smooth_min(radius, wall, rounding)
    return radius


def skull_radius(directions: np.ndarray, shape: HeadShape) -> np.ndarray:
    """Radius ``(n,)`` mm of the skull: the prior bent onto the face contour near it."""
    cos = np.clip(directions @ shape.contour_dirs.T, -1.0, 1.0)
    kernel = np.exp(-0.5 * (np.arccos(cos) / CONTOUR_MATCH_SIGMA_RAD) ** 2)
    correction = (kernel @ shape.contour_residual) / (kernel.sum(axis=1) + CONTOUR_MATCH_PRIOR)
    return prior_radius(directions, shape) + correction


def ear_ellipsoids(head_mm: np.ndarray, shape: HeadShape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the two ears go, head frame: ``(centres (2, 3) mm, rotations (2, 3, 3), axes (3,) mm)``.

    Each ear is an ellipsoid: axis 0 (thickness) points out of the head, axis 1 along the ear's
    length (leaning back by ``EAR_INCLINATION_RAD``), axis 2 along its width (toward the back,
    turned out by ``EAR_FLARE_RAD``). Vertically the ear spans the brows to the nose's base (the
    classic thirds of the face); its front edge sits just behind the face contour's ear points.
    """
    scale = np.linalg.norm(head_mm[topology.LEFT_EYE_OUTER] - head_mm[topology.RIGHT_EYE_OUTER]) / EYE_CORNER_SPAN_MM
    brows = head_mm[list(topology.RIGHT_EYEBROW) + list(topology.LEFT_EYEBROW), 1].mean()
    centre_y = 0.5 * (brows + head_mm[topology.NOSE_BOTTOM, 1])
    lean, flare = EAR_INCLINATION_RAD, EAR_FLARE_RAD
    length = np.array([0.0, np.cos(lean), -np.sin(lean)])
    back = np.array([0.0, -np.sin(lean), -np.cos(lean)])
    out = np.array([1.0, 0.0, 0.0])
    # Turn the ear about its length axis: the back edge goes out, the thickness axis forward.
    width_axis = np.cos(flare) * back + np.sin(flare) * out
    thick_axis = np.cos(flare) * out - np.sin(flare) * back
    # (thick, length, width) is left-handed; the ellipsoid is symmetric along each axis, so
    # listing -width keeps the same solid with a proper rotation.
    rotation = np.column_stack([thick_axis, length, -width_axis])
    axes = scale * np.array([EAR_THICKNESS / 2.0, EAR_LENGTH / 2.0, EAR_WIDTH / 2.0])
    centres, rotations = [], []
    for side, contour_point in ((1.0, 454), (-1.0, 234)):
        front_z = head_mm[contour_point, 2] - EAR_FRONT_BEHIND_CONTOUR * scale
        centre_z = front_z - axes[2] * np.cos(flare)
        toward = np.array([side * shape.semi_axes[0], centre_y, centre_z]) - shape.centre
        toward /= np.linalg.norm(toward)
        on_head = shape.centre + toward * skull_radius(toward[None], shape)[0]
        mirror = np.diag([side, 1.0, 1.0])
        # Mirroring the left ear's frame for the right ear flips its handedness; flipping the
        # thickness axis back keeps a proper rotation and the same (symmetric) ellipsoid.
        turned = mirror @ rotation @ np.diag([side, 1.0, 1.0])
        centres.append(on_head + turned[:, 0] * side * (1.0 - 2.0 * EAR_SINK) * axes[0])
        rotations.append(turned)
    return np.array(centres), np.array(rotations), axes


def face_contour_distance(head_mm: np.ndarray, centre: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Angular distance ``(N,)`` radians (in azimuth, elevation) of unit ``directions (N, 3)`` from
    the face's outer contour seen from ``centre (3,)``: > 0 inside the face, < 0 outside."""
    contour = angles(np.asarray(head_mm, np.float64)[list(topology.FACE_OVAL)] - centre)
    return inside_distance(angles(directions), contour)


def inside_distance(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Signed distance ``(n,)`` from ``points (n, 2)`` to the closed ``polygon (m, 2)``: > 0 inside."""
    # float32, the x and y differences as separate (rows, m) arrays, and the points in blocks that
    # stay in cache: 13x faster than one (n, m, 2) array on a mask's 164k directions (0.71 -> 0.05 s),
    # the same distances to float32's rounding. The distances are fractions of a radian or a few
    # hundred mm, far above float32's resolution.
    a = np.asarray(polygon, np.float32)
    ab = np.roll(a, -1, axis=0) - a
    inverse_length2 = 1.0 / (ab * ab).sum(-1)
    p = np.asarray(points, np.float32)
    squared = np.empty(len(p), np.float32)
    for start in range(0, len(p), INSIDE_DISTANCE_BLOCK):
        block = p[start:start + INSIDE_DISTANCE_BLOCK]
        dx = block[:, 0, None] - a[None, :, 0]
        dy = block[:, 1, None] - a[None, :, 1]
        t = np.clip((dx * ab[:, 0] + dy * ab[:, 1]) * inverse_length2, 0.0, 1.0)
        dx -= t * ab[:, 0]
        dy -= t * ab[:, 1]
        squared[start:start + INSIDE_DISTANCE_BLOCK] = (dx * dx + dy * dy).min(axis=1)
    dist = np.sqrt(squared).astype(np.float64)
    inside = points_in_poly(points, polygon)
    return np.where(inside, dist, -dist)


INSIDE_DISTANCE_BLOCK = 8192
"""Points per block of ``inside_distance`` (2,048-32,768 time the same)."""


def smoothstep(t: np.ndarray) -> np.ndarray:
    """``3 t^2 - 2 t^3`` on t clipped to [0, 1]: C1 blend weight."""
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


@dataclass(frozen=True)
class RadialField:
    """Head radius over the warped sphere.

    directions: ``(N, 3) float64`` unit, head frame.  radius: ``(N,) float64`` mm.
    face_weight: ``(N,)`` 1 on the face, 0 on the skull.  pixels: ``(N, 2) float64`` image
    position of each direction on the face (NaN where there is none).  opening: ``(N,) bool`` the
    closed eyes and mouth (no shading detail there: eyelashes and teeth are not shape), or None.
    """

    directions: np.ndarray
    radius: np.ndarray
    face_weight: np.ndarray
    pixels: np.ndarray
    opening: np.ndarray | None = None


def radial_field(
    head_mm: np.ndarray,
    shape: HeadShape,
    directions: np.ndarray,
    vertices_px: np.ndarray | None = None,
    skull_r: np.ndarray | None = None,
    contour_distance: np.ndarray | None = None,
    blend_band: np.ndarray | float | None = None,
) -> RadialField:
    """Blend face and skull radii along unit ``directions (N, 3)``; see ``RadialField``.

    head_mm: ``(468, 3)`` mm head frame.  vertices_px: ``(468, 2+)`` pixels of the same vertices
    (optional; only x, y are used) for image detail and texture coordinates.
    skull_r: ``(N,)`` mm, the head outside the face (None: ``skull_radius``, the prior alone).
    contour_distance: ``(N,)`` ``face_contour_distance`` of the directions, if already known.
    blend_band: the angle (radians, scalar or ``(N,)``) inside the face's outline over which face
    and skull are blended (None: ``BLEND_BAND_RAD``).
    """
    query = angles(directions)
    face_r, pixels, opening = face_on_sphere(head_mm, shape.centre, query, vertices_px)
    if contour_distance is None:
        contour_distance = face_contour_distance(head_mm, shape.centre, directions)
    weight = smoothstep(contour_distance / (BLEND_BAND_RAD if blend_band is None else blend_band))
    weight = np.where(np.isfinite(face_r), weight, 0.0)
    if skull_r is None:
        skull_r = skull_radius(directions, shape)
    radius = np.where(weight > 0, weight * np.nan_to_num(face_r) + (1 - weight) * skull_r, skull_r)
    return RadialField(directions=directions, radius=radius, face_weight=weight, pixels=pixels, opening=opening)


ANGLE_GRID_RAD = np.radians(0.35)
"""Cell of the (azimuth, elevation) grid the smooth face is rasterised on before the sphere samples
it: ~ 0.6 mm at a face's radius, finer than the subdivided mesh's edges (~ 1.2 mm)."""


def face_on_sphere(head_mm: np.ndarray, centre: np.ndarray, query_angles: np.ndarray,
                   vertices_px: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The smooth face's radius and pixels along directions given by their angles.

    head_mm: ``(468, 3)`` mm, head frame.  centre: ``(3,)`` mm.  query_angles: ``(N, 2)``
    (azimuth, elevation) radians (``angles``).  vertices_px: ``(468, 2+)`` or None.
    Returns ``(radius (N,) mm, NaN off the face; pixels (N, 2), NaN off the face or without pixels;
    opening (N,) bool: inside an eye or the mouth, which the mesh leaves open and the grid fills)``.

    The Loop-subdivided face is rasterised over a regular (azimuth, elevation) grid, linear in each
    of its own triangles (where the rolled-in lips fold over in these angles the outer sheet wins),
    the eye and mouth openings are filled in from their rims (closed eyes and lips), and the grid is
    sampled bilinearly at the query angles: one pass over the mesh instead of a Delaunay
    triangulation of its vertices.
    """
    from realtime.printing import raster

    dense, dense_px, faces = smooth_face_mesh(head_mm, vertices_px)
    rel = dense - centre
    radius = np.linalg.norm(rel, axis=1)
    face_angles = angles(rel)
    step = ANGLE_GRID_RAD
    lo = face_angles.min(axis=0) - 2 * step
    hi = face_angles.max(axis=0) + 2 * step
    shape = (int(np.ceil((hi[1] - lo[1]) / step)) + 1, int(np.ceil((hi[0] - lo[0]) / step)) + 1)
    # Rasterise with the radius as "height": where the surface folds, the outer sheet is taken.
    points = np.column_stack([face_angles, radius])
    values = radius[:, None] if dense_px is None else np.column_stack([radius, dense_px])
    grid = raster.front_heights(points, faces, (lo[0], lo[1]), step, shape, values).astype(np.float32)
    # Fill the openings (cells inside the face's outline that no triangle covers).
    outline = np.zeros(shape, np.uint8)
    contour = angles(head_mm[list(topology.FACE_OVAL)] - centre)
    cv2.fillPoly(outline, [np.round((contour - lo) / step * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
    holes = (np.isnan(grid[..., 0]) & outline.astype(bool)).astype(np.uint8)
    grid = np.dstack([grid, holes.astype(np.float32)])
    if holes.any():
        for k in range(grid.shape[2] - 1):
            grid[..., k] = raster.fill_harmonic(grid[..., k], holes.astype(bool))
    mx = (query_angles[:, 0] - lo[0]) / step
    my = (query_angles[:, 1] - lo[1]) / step
    sampled = np.column_stack([raster.sample_bilinear(grid[..., k], mx, my) for k in range(grid.shape[2])])
    pixels = sampled[:, 1:3] if dense_px is not None else np.full((len(query_angles), 2), np.nan)
    opening = np.nan_to_num(sampled[:, -1], nan=0.0) > 0.0
    return sampled[:, 0], pixels, opening


def smooth_face_mesh(head_mm: np.ndarray, vertices_px: np.ndarray | None = None, iterations: int = 2):
    """Loop-subdivide the face mesh: ``(vertices (n, 3) float64 mm, pixels (n, 2) float64 or None,
    faces (m, 3) int64)``.

    Two Loop iterations turn the 852 flat faces into 13,632 on a smooth limit surface. Loop
    subdivision is linear in the vertex values for a fixed topology, so the pixel positions ride
    along as two more columns of the same subdivision (``topology.face_subdivision``, built once)
    and stay aligned with the 3D vertices.
    """
    levels = topology.face_subdivision(iterations)
    head_mm = check_shape("head_mm", head_mm, (topology.N_VERTICES, 3), dtype=np.float64)
    if vertices_px is None:
        return topology.subdivide(head_mm, levels), None, levels[-1].triangles
    px = check_shape("vertices_px", vertices_px, (topology.N_VERTICES, None), dtype=np.float64)[:, :2]
    dense = topology.subdivide(np.hstack([head_mm, px]), levels)
    return dense[:, :3], dense[:, 3:], levels[-1].triangles


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
    # Dark relative to the neighbourhood reads as a crease (concave), bright as a ridge.
    contrast, fine = local_contrast(gray, sigma, max(sigma / 6.0, 0.7))
    pix = field.pixels
    valid = np.isfinite(pix).all(axis=1) & (field.face_weight > 0)
    if field.opening is not None:
        valid &= ~field.opening
    detail = np.zeros(len(field.directions))
    if not valid.any():
        return detail
    from realtime.printing import raster

    xy = pix[valid]

    def sample(img):
        return raster.sample_bilinear(img, xy[:, 0], xy[:, 1], replicate=True)
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
    weight = field.face_weight[valid] * exposure * facing * away * (1.0 - spectacle_zone(points, head_mm))
    detail[valid] = np.clip(DETAIL_AMPLITUDE_MM * con, -DETAIL_MAX_MM, DETAIL_MAX_MM) * weight
    return detail


# --- hair detail ----------------------------------------------------------------------------------
HAIR_DETAIL_LOW_MM = 6.0
"""Low-pass scale of the hair's shading, life-size mm (Gaussian sigma): keeps locks, waves and
partings, removes the shading of the hair's mass as a whole (which the outline already shapes)."""
HAIR_DETAIL_FINE_MM = 1.2
"""Finest scale kept, life-size mm: single strands, JPEG blocks and noise are below what a 0.4 mm
nozzle shows at a bust's ~ 0.3 scale ..."""
HAIR_DETAIL_PER_SPACING = 0.7
"""... and no finer than this many times the spacing of the surface's vertices that carry it
(``vertex_spacing``, the median over the hair seen): the head's sphere is only as fine as the
print needs (3-4 mm between vertices on the hair of an 80 mm bust), and shading finer than the
vertices was sampled at random phases, a vertex standing 1.5 mm out of or into its neighbours (a
parting came out as a scratch across photo_s4's crown, Bob Dylan's curls as shards). A Gaussian of
0.7 spacings keeps 9 % of the finest wave the vertices can carry. 16 photos, bust style (the hair
detail over the vertices it moves: RMS / RMS against the mean of each vertex's neighbours / share
more than 0.5 mm out of them): 0.376 / 0.237 / 7.1 % before, 0.224 / 0.116 / 1.2 % now (0.5
spacings: 0.278 / 0.170 / 3.6 %)."""
HAIR_DETAIL_AMPLITUDE_MM = 2.5
"""Radial displacement for a 100 % local luminance contrast in hair, life-size mm: locks stand
out more than skin's creases (a gap between locks is a few millimetres deep)."""
HAIR_DETAIL_MAX_MM = 1.5
"""Clamp on the hair detail: a highlight or a dark gap does not make a spike or a pit."""
HAIR_EDGE_MARGIN_MM = 5.0
"""Distance inside the hair region's edge within which its detail fades out: the mask's edge mixes
hair with the background and the hairline with skin, whose contrast is not the hair's shape."""
HAIR_TEMPLE_BAND_MM = 14.0
"""Half height of the band at eye level, on the head's sides, without hair detail: a spectacle
arm runs there, a dark line the detail would cut into the hair as a groove."""
HAIR_MIN_FACING = 0.35
"""Cosine of the viewing angle below which the hair's shading is too foreshortened to use."""
HAIR_SAMPLES_PER_MM = 2.5
"""Resolution the hair's shading is filtered at, pixels per life-size mm (3 per the finest sigma)."""
HAIR_EXPOSURE_RANGE = (0.05, DETAIL_EXPOSURE_RANGE[1])
"""Luminance (0..1) outside which the hair's shading says nothing about its shape. Dark hair is
dark: Bob Dylan's (photo_s2) lies at 0.05 / 0.09 / 0.15 (10th / 50th / 90th percentile); under the
face's floor (0.08, ramped in over 0.05) it got next to no detail (0.22 mm at the 90th
percentile), from 0.05 ramped in over ``HAIR_EXPOSURE_RAMP`` 0.57 mm. Crushed blacks (0.02-0.04)
stay out."""
HAIR_EXPOSURE_RAMP = 0.03
"""Width of the ramp above the hair's luminance floor."""
HAIR_OCCLUSION_MM = 2.0
"""Depth by which a surface point may lie behind the front-most surface and still count as seen."""


def local_contrast(gray: np.ndarray, low_sigma_px: float, fine_sigma_px: float,
                   where: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(contrast, fine)``, both ``(H, W) float32``: the band-passed log-luminance, ``fine / low -
    1``, of ``gray (H, W)`` in 0..1, and its fine mean (the luminance the contrast is read at, for
    the exposure). Dark relative to the neighbourhood (a crease, a gap between locks) is negative,
    bright (a ridge) positive; dividing by the local mean cancels albedo and exposure. where:
    ``(H, W) bool`` or None: both means taken over these pixels only (``masked_blur``), so that what
    lies beside them (the skin of a parting in the hair) does not darken or lighten them."""
    if where is not None:
        fine = masked_blur(gray, where, fine_sigma_px)
        return fine / (masked_blur(gray, where, low_sigma_px) + 1e-3) - 1.0, fine
    low = cv2.GaussianBlur(gray, (0, 0), low_sigma_px) + 1e-3
    fine = cv2.GaussianBlur(gray, (0, 0), fine_sigma_px)
    return fine / low - 1.0, fine


def masked_blur(gray: np.ndarray, where: np.ndarray, sigma_px: float) -> np.ndarray:
    """``(H, W) float32``: the Gaussian mean of ``gray (H, W)`` over the pixels ``where (H, W) bool``
    only (normalised convolution); ``gray`` itself where none of them is near."""
    weight = np.asarray(where, np.float32)
    total = cv2.GaussianBlur(np.asarray(gray, np.float32) * weight, (0, 0), sigma_px)
    share = cv2.GaussianBlur(weight, (0, 0), sigma_px)
    return np.where(share > 1e-3, total / np.maximum(share, 1e-3), gray).astype(np.float32)


def vertex_spacing(points_mm: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """``(N,) float64`` mm: the mean length of the edges at each vertex of the surface
    ``points_mm (N, 3)``, ``faces (M, 3) int`` (an edge counted once for each face it borders)."""
    edges = topology.triangle_sides(faces)
    lengths = np.linalg.norm(points_mm[edges[:, 0]] - points_mm[edges[:, 1]], axis=1)
    total = np.bincount(edges.ravel(), np.repeat(lengths, 2), minlength=len(points_mm))
    count = np.bincount(edges.ravel(), minlength=len(points_mm))
    return total / np.maximum(count, 1)


def seen_from(points_mm: np.ndarray, faces: np.ndarray, head_to_image: np.ndarray) -> np.ndarray:
    """``(N,) bool``: which surface points the affine camera ``head_to_image (2, 4)`` sees (a z-buffer
    of the closed surface ``points_mm (N, 3)``, ``faces (M, 3)``, at about 1 mm per cell)."""
    from realtime.printing import raster

    m = np.asarray(head_to_image, np.float64)
    uv = points_mm @ m[:, :3].T + m[:, 3]
    toward = -np.cross(m[0, :3], m[1, :3])
    toward /= np.linalg.norm(toward)
    depth = points_mm @ toward
    px_per_mm = float(np.sqrt(np.linalg.norm(m[0, :3]) * np.linalg.norm(m[1, :3])))
    step = max(px_per_mm, 1e-6)
    lo = uv.min(axis=0)
    shape = tuple((np.ceil((uv.max(axis=0) - lo) / step).astype(int) + 2)[::-1])
    # On a closed surface the front-most sheet is made of triangles that face the camera: the others
    # (a quarter to a half of them) need not be rasterised. Their winding is read off the surface
    # (outward when the normals point away from its middle), not assumed.
    corners = points_mm[faces]
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    outward = np.einsum("ij,ij->", normals, corners.mean(axis=1) - points_mm.mean(axis=0)) >= 0
    facing = (normals @ toward >= 0) == outward
    front = raster.front_heights(np.column_stack([uv, depth]), faces[facing], (lo[0], lo[1]), step, shape)
    # The front-most depth at each point, interpolated: a point on the front surface matches it up
    # to the surface's curvature within a cell. Next to the outline (a NaN cell) the nearest cell's.
    col, row = (uv[:, 0] - lo[0]) / step, (uv[:, 1] - lo[1]) / step
    front_at = raster.sample_bilinear(front, col, row)
    near_outline = np.isnan(front_at)
    nearest = front[np.clip(np.round(row[near_outline]).astype(int), 0, shape[0] - 1),
                    np.clip(np.round(col[near_outline]).astype(int), 0, shape[1] - 1)]
    front_at[near_outline] = np.nan_to_num(nearest, nan=-np.inf)
    return depth >= front_at - HAIR_OCCLUSION_MM


def hair_detail(
    points_mm: np.ndarray,
    faces: np.ndarray,
    face_weight: np.ndarray,
    head_to_image: np.ndarray,
    image_bgr: np.ndarray,
    hair_mask: np.ndarray,
    head_mm: np.ndarray,
) -> np.ndarray:
    """Radial detail ``(N,) float64`` mm on the hair from the photo's shading, 0 where unreliable.

    The same "detail from shading" as the face's (``shading_detail``) at the scale of locks and
    waves, where the photo shows hair: surface points seen by the camera (not hidden, not at a
    grazing angle), inside the hair region away from its edge, off the face, well exposed, and
    not in the band where spectacle arms cross the temples.

    points_mm: ``(N, 3)`` the closed head surface (head frame), ``faces (M, 3)`` its triangles.
    face_weight: ``(N,)`` 1 on the face, 0 on the skull and hair.  head_to_image: ``(2, 4)`` affine
    camera, head frame mm -> photo pixels.  image_bgr: ``(H, W, 3) uint8``.  hair_mask: ``(H, W)
    bool`` the hair in the photo.  head_mm: ``(468, 3)`` the face mesh, head frame mm.
    """
    points = check_shape("points_mm", points_mm, (None, 3), dtype=np.float64)
    head = check_shape("head_mm", head_mm, (topology.N_VERTICES, 3), dtype=np.float64)
    m = np.asarray(head_to_image, np.float64)
    detail = np.zeros(len(points))
    px_per_mm = float(np.sqrt(np.linalg.norm(m[0, :3]) * np.linalg.norm(m[1, :3])))
    if not np.asarray(hair_mask).any() or px_per_mm <= 0:
        return detail
    from realtime import geometry
    from realtime.printing import raster

    toward = -np.cross(m[0, :3], m[1, :3])
    toward /= np.linalg.norm(toward)
    facing = smoothstep((geometry.vertex_normals(points, faces) @ toward - HAIR_MIN_FACING) / 0.2)
    eye_y = 0.5 * (head[topology.RIGHT_EYE_OUTER, 1] + head[topology.LEFT_EYE_OUTER, 1])
    temple = smoothstep((np.abs(points[:, 1] - eye_y) - HAIR_TEMPLE_BAND_MM) / 4.0)
    weight = facing * temple * (1.0 - np.clip(face_weight, 0.0, 1.0))
    candidates = weight > 0
    if not candidates.any():
        return detail
    candidates &= seen_from(points, faces, m)
    if not candidates.any():
        return detail
    xy = points[candidates] @ m[:, :3].T + m[:, 3]
    spacing = float(np.median(vertex_spacing(points, faces)[candidates]))
    fine_sigma = max(max(HAIR_DETAIL_FINE_MM, HAIR_DETAIL_PER_SPACING * spacing) * px_per_mm, 0.7)
    low_sigma = max(HAIR_DETAIL_LOW_MM * px_per_mm, 2.0 * fine_sigma)
    # Only the part of the photo around the hair is filtered (a 2048-pixel photo is ~ 40 ms a blur):
    # the points' box and the low-pass's reach.
    height, width = image_bgr.shape[:2]
    reach = 3.0 * low_sigma + 2.0
    x0, y0 = (max(int(np.floor(v - reach)), 0) for v in xy.min(axis=0))
    x1, y1 = (min(int(np.ceil(v + reach)) + 1, size) for v, size in zip(xy.max(axis=0), (width, height)))
    if x1 <= x0 or y1 <= y0:
        return detail
    xy = xy - (x0, y0)
    mask = np.ascontiguousarray(np.asarray(hair_mask, np.uint8)[y0:y1, x0:x1])
    inside_px = cv2.distanceTransform(mask, cv2.DIST_L2, 5)
    inside = smoothstep(np.nan_to_num(raster.sample_bilinear(inside_px, xy[:, 0], xy[:, 1]), nan=0.0)
                        / (HAIR_EDGE_MARGIN_MM * px_per_mm))
    gray = cv2.cvtColor(image_bgr[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY).astype(np.float32) / 255.0
    # Filtered at HAIR_SAMPLES_PER_MM at most: the finest scale kept is over a millimetre, and a
    # large photo's blurs at full size cost ~ 50 ms.
    shrink = min(1.0, HAIR_SAMPLES_PER_MM / px_per_mm)
    hair_px = mask > 0
    if shrink < 1.0:
        gray = cv2.resize(gray, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
        hair_px = cv2.resize(mask.astype(np.float32), gray.shape[::-1], interpolation=cv2.INTER_AREA) > 0.5
    # The hair's light against the hair's own: the skin of a parting or of the hairline, or the
    # background, beside it would make the hair next to them read as a groove (or a ridge).
    contrast, fine = local_contrast(gray, low_sigma * shrink, fine_sigma * shrink, hair_px)
    sx, sy = (xy[:, 0] + 0.5) * shrink - 0.5, (xy[:, 1] + 0.5) * shrink - 0.5
    lum = raster.sample_bilinear(fine, sx, sy, replicate=True)
    con = raster.sample_bilinear(contrast, sx, sy, replicate=True)
    lo, hi = HAIR_EXPOSURE_RANGE
    exposure = smoothstep((lum - lo) / HAIR_EXPOSURE_RAMP) * smoothstep((hi - lum) / 0.05)
    detail[candidates] = (np.clip(HAIR_DETAIL_AMPLITUDE_MM * con, -HAIR_DETAIL_MAX_MM, HAIR_DETAIL_MAX_MM)
                          * weight[candidates] * inside * exposure)
    return detail


SPECTACLE_HALF_WIDTH = 1.1
"""Half width of a spectacle lens's zone / the eye's corner-to-corner width (lenses ~ 50 mm wide
over eyes ~ 30 mm put the rim ~ 10 mm past the eye's corners; the shading detail's low-pass
spreads a dark line's effect ~ 5 mm further)."""
SPECTACLE_HALF_HEIGHT = 0.9
"""Half height of that zone / the eye's width (lenses 30-40 mm tall, plus the low-pass's reach)."""
SPECTACLE_RAISE = 0.0
"""The zone's centre above the eye's centre / the eye's width."""
SPECTACLE_FEATHER = 0.25
"""Soft edge of the zone, in units of its own radii."""


def spectacle_zone(points_mm: np.ndarray, head_mm: np.ndarray) -> np.ndarray:
    """How far ``points_mm (n, 3)`` (head frame) lie in the zone spectacles cover, ``(n,)`` in [0, 1].

    Frames and their shadows are dark lines whose shading the detail would read as creases; no
    simple test tells glasses from eyelids, brows and make-up (measured on 40 portraits: edge
    energy at the bridge and under the eyes of the five with glasses overlaps the others'), so the
    detail never comes from where a frame can be: an ellipse around each eye out past its corners,
    and the bridge between them. Seen from the front (head frame x, y).
    """
    head = check_shape("head_mm", head_mm, (topology.N_VERTICES, 3), dtype=np.float64)
    xy = np.asarray(points_mm, np.float64)[:, :2]
    zone = np.zeros(len(xy))
    centres = []
    for loop, (outer, inner) in ((topology.RIGHT_EYE, (topology.RIGHT_EYE_OUTER, topology.RIGHT_EYE_INNER)),
                                 (topology.LEFT_EYE, (topology.LEFT_EYE_OUTER, topology.LEFT_EYE_INNER))):
        width = float(np.linalg.norm(head[outer, :2] - head[inner, :2]))
        centre = head[list(loop), :2].mean(axis=0) + np.array([0.0, SPECTACLE_RAISE * width])
        centres.append((centre, width))
        radius = np.hypot((xy[:, 0] - centre[0]) / (SPECTACLE_HALF_WIDTH * width),
                          (xy[:, 1] - centre[1]) / (SPECTACLE_HALF_HEIGHT * width))
        zone = np.maximum(zone, 1.0 - smoothstep((radius - 1.0) / SPECTACLE_FEATHER))
    # The bridge: between the two lenses, as tall as they are (a bridge's shadow and the low-pass
    # reach as far as a rim's).
    (left_c, left_w), (right_c, right_w) = centres
    lo_x, hi_x = sorted((left_c[0], right_c[0]))
    mid_y = 0.5 * (left_c[1] + right_c[1])
    half_h = SPECTACLE_HALF_HEIGHT * 0.5 * (left_w + right_w)
    inside_x = (xy[:, 0] > lo_x) & (xy[:, 0] < hi_x)
    bridge = inside_x * (1.0 - smoothstep((np.abs(xy[:, 1] - mid_y) - half_h) / (SPECTACLE_FEATHER * half_h * 2)))
    return np.maximum(zone, bridge)


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
    from scipy.spatial import cKDTree

    gap, _ = cKDTree(anchors_mm).query(points_mm)
    return smooth_on_sphere(radius, faces, iterations, 1.0 - smoothstep(gap / reach_mm))


def sphere_adjacency(faces: np.ndarray, n: int):
    """Row-normalised adjacency ``(n, n)`` sparse matrix of the sphere graph: ``A @ r`` is the mean
    of each vertex's neighbours."""
    from scipy import sparse

    edges = topology.triangle_sides(faces)
    adjacency = sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()
    adjacency = ((adjacency + adjacency.T) > 0).astype(np.float64)
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    return sparse.diags(1.0 / degree) @ adjacency


def smooth_on_sphere(values: np.ndarray, faces: np.ndarray, iterations: int, weight: np.ndarray | float = 1.0) -> np.ndarray:
    """Laplacian smoothing ``(N,)`` of per-vertex ``values (N,)`` over the sphere's ``faces (M, 3)``;
    ``weight`` (scalar or ``(N,)`` in [0, 1]) is how far each vertex moves toward its neighbours' mean
    per iteration (0: pinned)."""
    mean_of = sphere_adjacency(faces, len(values))
    out = np.asarray(values, np.float64).copy()
    for _ in range(iterations):
        out = out + weight * (mean_of @ out - out)
    return out


def fill_on_sphere(values: np.ndarray, faces: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """``values (N,)`` with the vertices ``holes (N,) bool`` replaced by the harmonic interpolant of
    the rest over the sphere's graph (``faces (M, 3)``): each hole the mean of its neighbours, the
    smoothest surface that meets the known values at the holes' edges. A hole region with no known
    neighbour keeps its values."""
    from scipy.sparse import identity
    from scipy.sparse.csgraph import connected_components
    from scipy.sparse.linalg import spsolve

    out = np.asarray(values, np.float64).copy()
    holes = np.asarray(holes, bool)
    if not holes.any():
        return out
    free = np.nonzero(holes)[0]
    rows = sphere_adjacency(faces, len(out)).tocsr()[free]
    # Regions of holes that touch no known vertex have no boundary to interpolate from.
    _, region = connected_components(rows[:, free], directed=False)
    touches = np.asarray(rows[:, np.nonzero(~holes)[0]].sum(axis=1)).ravel() > 0
    solvable = np.isin(region, region[touches])
    free, rows = free[solvable], rows[solvable]
    if free.size:
        fixed = np.setdiff1d(np.arange(len(out)), free)
        out[free] = spsolve((identity(len(free), format="csr") - rows[:, free]).tocsc(), rows[:, fixed] @ out[fixed])
    return out


def head_surface(field: RadialField, shape: HeadShape, extra_radius: np.ndarray | None = None) -> np.ndarray:
    """Vertices ``(N, 3) float64`` mm of the closed head surface: centre + r * direction."""
    radius = field.radius if extra_radius is None else field.radius + extra_radius
    return shape.centre + field.directions * radius[:, None]
