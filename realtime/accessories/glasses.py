"""Virtual glasses: a procedural library sized like real frames, user models, and the fit.

Frames are sized the way opticians print them on the temple, ``50□20-145``: lens width,
bridge (distance between lenses) and temple length, all millimetres. ``build_glasses`` turns a
``GlassesSpec`` into triangle meshes (front with rims and bridge, two lenses, two temples);
``load_user_glasses`` reads an OBJ/GLB/STL plus a small JSON anchor file. ``fit_glasses``
places a model on a fused face: the nose rest point goes on the nose bridge and each temple
swings about its hinge to lie over its ear, with no scaling, because face and glasses are
both metric. ``GlassesAccessory`` is a model as an accessory (``realtime.accessories.parts``):
its ``fit`` poses the front, the temples and the lenses on a head proxy.

Glasses model frame (millimetres): x from the wearer's right temple to the left one (image
right in a frontal view), y down, z from the lenses back towards the ears; the origin is the
midpoint between the lens centres on the front of the lenses. Worn by a face that looks into
the camera, these axes match OpenCV camera axes.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from realtime.accessories.parts import Material, MeshPart, PosedPart
from realtime.errors import InputError
from realtime.shapes import check_shape

# Lens curvature: a base-4 front curve (radius 530 mm / 4 diopters, the common fashion base)
# keeps lenses visibly curved in the 3D view without looking like goggles.
LENS_BASE_RADIUS_MM = 130.0
# Hinges sit behind the lens plane by the endpiece depth of a typical frame.
HINGE_DEPTH_MM = 7.0
# Earpiece: the part of the temple behind the bend that drops behind the ear. 145 mm temples
# have roughly 105 mm straight and 40 mm bent (measured on retail frames).
EARPIECE_MM = 40.0
EARPIECE_DROP_DEG = 50.0
# Height of the bridge above the lens centre line, as a fraction of the lens height (bridges
# sit in the upper third of the lens box on most frames).
BRIDGE_HEIGHT_FRACTION = 0.22
# Tessellation: enough segments that a 50 mm rim looks round at 1280x720 on screen.
OUTLINE_SEGMENTS = 72
TUBE_SIDES = 10
LENS_RINGS = 4


@dataclass(frozen=True)
class GlassesSpec:
    """One frame model. Sizes in millimetres, colours linear RGB in 0..1."""

    name: str
    lens_width_mm: float        # the "50" in 50□20-145: horizontal lens size (boxing system)
    bridge_mm: float            # the "20": distance between the lenses at the bridge
    temple_mm: float            # the "145": temple length, hinge to tip along the temple
    lens_height_mm: float       # vertical lens size (boxing system)
    shape: str = "round"        # lens outline: round | rectangular | aviator | cat_eye
    material: str = "metal"     # frame material: metal | plastic
    frame_color: tuple[float, float, float] = (0.1, 0.1, 0.1)
    rim_width_mm: float = 1.4   # rim size across the lens edge, in the lens plane
    rim_depth_mm: float = 1.4   # rim size front to back
    lens_tint: tuple[float, float, float] = (0.45, 0.5, 0.55)
    lens_opacity: float = 0.15  # face-on absorption of the tint, 0 clear .. 1 opaque

    @property
    def label(self) -> str:
        """The size as printed on the frame, e.g. ``50□20-145``."""
        return f"{self.lens_width_mm:g}\u25a1{self.bridge_mm:g}-{self.temple_mm:g}"

    @property
    def frame_width_mm(self) -> float:
        """Total front width, hinge to hinge, in millimetres."""
        return 2.0 * self.lens_width_mm + self.bridge_mm + 2.0 * (self.rim_width_mm + 2.0)


# Sizes are the common retail sizes of each style.
GLASSES_LIBRARY: tuple[GlassesSpec, ...] = (
    GlassesSpec("round", 49, 21, 145, 45, shape="round", material="metal",
                frame_color=(0.83, 0.62, 0.28), rim_width_mm=1.3, rim_depth_mm=1.3,
                lens_tint=(0.55, 0.6, 0.62), lens_opacity=0.08),
    GlassesSpec("rectangular", 54, 18, 145, 36, shape="rectangular", material="plastic",
                frame_color=(0.05, 0.05, 0.06), rim_width_mm=4.5, rim_depth_mm=4.5,
                lens_tint=(0.5, 0.55, 0.6), lens_opacity=0.08),
    GlassesSpec("aviator", 58, 14, 140, 50, shape="aviator", material="metal",
                frame_color=(0.78, 0.79, 0.8), rim_width_mm=1.2, rim_depth_mm=1.6,
                lens_tint=(0.12, 0.25, 0.14), lens_opacity=0.72),
    GlassesSpec("cat_eye", 52, 18, 140, 40, shape="cat_eye", material="plastic",
                frame_color=(0.55, 0.08, 0.1), rim_width_mm=5.0, rim_depth_mm=4.0,
                lens_tint=(0.3, 0.18, 0.12), lens_opacity=0.55),
)


def glasses_by_name(name: str) -> GlassesSpec:
    """The library entry called ``name`` (case-insensitive; ``cat-eye`` = ``cat_eye``)."""
    key = name.strip().lower().replace("-", "_")
    for spec in GLASSES_LIBRARY:
        if spec.name == key:
            return spec
    names = ", ".join(s.name for s in GLASSES_LIBRARY)
    raise InputError(f"unknown glasses {name!r}: choose one of {names} or pass a model file")


@dataclass(frozen=True)
class GlassesMaterial:
    metal: bool
    color: tuple[float, float, float]
    shininess: float                      # Blinn-Phong exponent
    lens_tint: tuple[float, float, float]
    lens_opacity: float


@dataclass(frozen=True)
class GlassesModel:
    """A wearable model in the glasses frame (see module docstring), millimetres.

    ``front``: rims, bridge, endpieces (and for user models, everything that is not a lens);
    ``lenses``: transparent parts or ``None``; ``temples``: ``(right, left)`` parts that swing
    about ``hinges_mm (2, 3)`` or ``None`` for rigid user models. ``nose_rest_mm (3,)`` is the
    point that sits on the nose bridge; ``ear_rest_mm (2, 3)`` the points that sit on the ears
    (right, left) before the temples swing.
    """

    name: str
    label: str
    front: MeshPart
    lenses: MeshPart | None
    temples: tuple[MeshPart, MeshPart] | None
    hinges_mm: np.ndarray
    nose_rest_mm: np.ndarray
    ear_rest_mm: np.ndarray
    material: GlassesMaterial


# --------------------------------------------------------------------------- geometry


def lens_outline(shape: str, width_mm: float, height_mm: float, n: int = OUTLINE_SEGMENTS) -> np.ndarray:
    """Lens outline, ``(n, 2) float64`` mm as ``(s, y)``: s outward (towards the temple), y down.

    The outline's bounding box is centred on the origin and measures exactly
    ``width_mm`` x ``height_mm`` (the boxing system opticians use). Points run once around.
    """
    t = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    exponent = {"round": 2.0, "rectangular": 5.0, "aviator": 2.2, "cat_eye": 2.6}.get(shape)
    if exponent is None:
        raise InputError(f"unknown lens shape {shape!r}: use round, rectangular, aviator or cat_eye")
    c, s_ = np.cos(t), np.sin(t)
    s = np.sign(c) * np.abs(c) ** (2.0 / exponent)
    y = np.sign(s_) * np.abs(s_) ** (2.0 / exponent)
    if shape == "aviator":
        # Teardrop: a flatter brow line, and the lower half sagging towards the nose.
        y = np.where(y < 0, y * 0.8, y * (1.0 + 0.45 * np.clip(-s, 0.0, 1.0) ** 1.5))
        s = s - 0.12 * np.clip(y, 0.0, None) * (1.0 - s)
    elif shape == "cat_eye":
        # Upswept outer brow corner, lower rim rising towards the temple.
        outer = np.clip(s, 0.0, 1.0)
        y = np.where(y < 0, y - 0.6 * outer ** 4, y * (1.0 - 0.4 * outer ** 2))
        s = s + 0.08 * outer * np.clip(-y, 0.0, None)
    s = (s - (s.max() + s.min()) / 2) / (s.max() - s.min()) * width_mm
    y = (y - (y.max() + y.min()) / 2) / (y.max() - y.min()) * height_mm
    return np.stack([s, y], axis=1)


def outline_normals(outline: np.ndarray) -> np.ndarray:
    """Outward unit normals of a closed 2D outline ``(n, 2)`` (central differences)."""
    tangent = np.roll(outline, -1, axis=0) - np.roll(outline, 1, axis=0)
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    # Make them point away from the centroid whichever way the outline runs.
    if np.mean(np.sum(normal * (outline - outline.mean(axis=0)), axis=1)) < 0:
        normal = -normal
    return normal


def lens_sag_mm(radius_mm: np.ndarray) -> np.ndarray:
    """Depth behind the lens centre of a spherical front surface, ``r^2 / (2 R)`` (paraxial)."""
    return np.asarray(radius_mm) ** 2 / (2.0 * LENS_BASE_RADIUS_MM)


def sweep_tube(
    path: np.ndarray, sides: np.ndarray, ups: np.ndarray, half_size: tuple[float, float],
    exponent: float = 2.0, closed: bool = False, scale: np.ndarray | None = None, n_sides: int = TUBE_SIDES,
) -> MeshPart:
    """A tube with a superellipse cross-section swept along a path.

    ``path``: ``(n, 3)`` centreline, mm; ``sides``, ``ups``: ``(n, 3)`` unit vectors spanning
    each cross-section; ``half_size``: half extents along side and up, mm; ``exponent``: 2 for
    an ellipse, larger for a squarer (acetate) profile; ``scale``: optional ``(n,)`` taper.
    Open tubes get flat caps.
    """
    n = len(path)
    phi = np.linspace(0.0, 2.0 * math.pi, n_sides, endpoint=False)
    c, s = np.cos(phi), np.sin(phi)
    a, b = half_size
    px = a * np.sign(c) * np.abs(c) ** (2.0 / exponent)
    py = b * np.sign(s) * np.abs(s) ** (2.0 / exponent)
    # Gradient of |x/a|^p + |y/b|^p: the outward normal of the profile.
    nx = np.sign(c) * np.abs(c) ** (2.0 * (exponent - 1.0) / exponent) / a
    ny = np.sign(s) * np.abs(s) ** (2.0 * (exponent - 1.0) / exponent) / b
    norm = np.hypot(nx, ny)
    nx, ny = nx / norm, ny / norm
    k = np.ones(n) if scale is None else np.asarray(scale, dtype=np.float64)
    vertices = path[:, None, :] + k[:, None, None] * (px[None, :, None] * sides[:, None, :] + py[None, :, None] * ups[:, None, :])
    normals = nx[None, :, None] * sides[:, None, :] + ny[None, :, None] * ups[:, None, :]
    vertices = vertices.reshape(-1, 3)
    normals = normals.reshape(-1, 3)
    rings = n if closed else n - 1
    i = np.arange(rings)[:, None]
    j = np.arange(n_sides)[None, :]
    a0 = i * n_sides + j
    a1 = i * n_sides + (j + 1) % n_sides
    b0 = ((i + 1) % n) * n_sides + j
    b1 = ((i + 1) % n) * n_sides + (j + 1) % n_sides
    triangles = np.concatenate([np.stack([a0, b0, b1], -1).reshape(-1, 3), np.stack([a0, b1, a1], -1).reshape(-1, 3)])
    parts = [MeshPart(vertices, normals, triangles)]
    if not closed:
        for end, sign in ((0, -1.0), (n - 1, 1.0)):
            tangent = path[min(end + 1, n - 1)] - path[max(end - 1, 0)]
            tangent = sign * tangent / np.linalg.norm(tangent)
            ring = vertices[end * n_sides:(end + 1) * n_sides]
            cap_v = np.vstack([path[end], ring])
            cap_n = np.repeat(tangent[None, :], n_sides + 1, axis=0)
            fan = np.stack([np.zeros(n_sides, int), 1 + np.arange(n_sides), 1 + (np.arange(n_sides) + 1) % n_sides], -1)
            parts.append(MeshPart(cap_v, cap_n, fan))
    return merge_parts(parts, orient_outward=not closed)


def merge_parts(parts: list[MeshPart], orient_outward: bool = False) -> MeshPart:
    """Concatenate parts into one ``MeshPart`` (float32 / int32).

    With ``orient_outward`` each triangle is rewound so that its winding agrees with the
    vertex normals (the shaders light both sides, but back-face culling may be enabled).
    """
    vertices, normals, triangles, offset = [], [], [], 0
    for p in parts:
        vertices.append(p.vertices)
        normals.append(p.normals)
        triangles.append(np.asarray(p.triangles) + offset)
        offset += len(p.vertices)
    v = np.concatenate(vertices).astype(np.float32)
    nrm = np.concatenate(normals).astype(np.float32)
    t = np.concatenate(triangles).astype(np.int32)
    if orient_outward:
        face_n = np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]])
        wrong = np.sum(face_n * nrm[t].sum(axis=1), axis=1) < 0
        t[wrong] = t[wrong][:, [0, 2, 1]]
    return MeshPart(v, nrm, t)


def _tube_frames(path: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cross-section axes along an open path: side = tangent x reference, up = side x tangent."""
    tangent = np.gradient(path, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    side = np.cross(tangent, reference)
    side /= np.linalg.norm(side, axis=1, keepdims=True)
    up = np.cross(side, tangent)
    return side, up


def _lens_disc(outline3: np.ndarray, centre: np.ndarray) -> MeshPart:
    """Curved lens surface: concentric rings from the centre out to a 3D outline ``(n, 3)``."""
    n = len(outline3)
    rings = [centre[None, :]]
    for r in np.linspace(0.0, 1.0, LENS_RINGS + 1)[1:]:
        ring = centre + (outline3 - centre) * r
        radial = np.linalg.norm(ring[:, :2] - centre[:2], axis=1)
        ring[:, 2] = centre[2] + lens_sag_mm(radial)
        rings.append(ring)
    vertices = np.vstack(rings)
    # Normal of the sphere of radius R whose apex is the lens centre, pointing forward (-z).
    sphere_centre = centre + np.array([0.0, 0.0, LENS_BASE_RADIUS_MM])
    normals = vertices - sphere_centre
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    tris = [np.stack([np.zeros(n, int), 1 + np.arange(n), 1 + (np.arange(n) + 1) % n], -1)]
    for k in range(LENS_RINGS - 1):
        a = 1 + k * n + np.arange(n)
        b = 1 + k * n + (np.arange(n) + 1) % n
        tris.append(np.stack([a, a + n, b + n], -1))
        tris.append(np.stack([a, b + n, b], -1))
    return merge_parts([MeshPart(vertices, normals, np.vstack(tris))], orient_outward=True)


def build_glasses(spec: GlassesSpec) -> GlassesModel:
    """Triangle meshes of a procedural frame, in the glasses model frame (mm)."""
    A, B, DBL = spec.lens_width_mm, spec.lens_height_mm, spec.bridge_mm
    if min(A, B, DBL, spec.temple_mm) <= 0:
        raise InputError(f"glasses {spec.name!r}: sizes must be positive, got {spec.label}")
    outline = lens_outline(spec.shape, A, B)
    normals2 = outline_normals(outline)
    rim_half = (spec.rim_width_mm / 2.0, spec.rim_depth_mm / 2.0)
    profile_exponent = 2.0 if spec.material == "metal" else 4.0
    centre_offset = (A + DBL) / 2.0
    fronts, lenses, hinges, bridge_ends = [], [], [], []
    for side in (-1.0, 1.0):  # -1: wearer's right lens (image left), +1: left lens
        lens_xy = np.stack([side * (centre_offset + outline[:, 0]), outline[:, 1]], axis=1)
        rim_xy = lens_xy + np.stack([side * normals2[:, 0], normals2[:, 1]], axis=1) * rim_half[0]
        lens_centre = np.array([side * centre_offset, 0.0, 0.0])
        lens3 = np.c_[lens_xy, lens_sag_mm(np.linalg.norm(lens_xy - lens_centre[:2], axis=1))]
        rim3 = np.c_[rim_xy, lens_sag_mm(np.linalg.norm(rim_xy - lens_centre[:2], axis=1))]
        rim_sides = np.c_[side * normals2[:, 0], normals2[:, 1], np.zeros(len(outline))]
        rim_ups = np.tile([0.0, 0.0, 1.0], (len(outline), 1))
        fronts.append(sweep_tube(rim3, rim_sides, rim_ups, rim_half, profile_exponent, closed=True))
        lenses.append(_lens_disc(lens3, lens_centre))
        # Endpiece: from the rim's outer edge, a third of the way up, back to the hinge.
        y_hinge = -0.25 * B
        outer = np.argmin(np.where(outline[:, 0] > 0, np.abs(outline[:, 1] - y_hinge), np.inf))
        start = rim3[outer]
        hinge = np.array([start[0] + side * (rim_half[0] + 2.0), start[1], start[2] + HINGE_DEPTH_MM])
        hinges.append(hinge)
        path = start + (hinge - start) * np.linspace(0.0, 1.0, 6)[:, None]
        path[:, 0] = start[0] + (hinge[0] - start[0]) * np.sin(np.linspace(0, math.pi / 2, 6))
        s_, u_ = _tube_frames(path, np.array([0.0, 1.0, 0.0]))
        fronts.append(sweep_tube(path, s_, u_, (rim_half[1] * 1.2, max(rim_half[0], 1.2) * 1.4), profile_exponent))
        # Bridge end: the rim point on the nasal side at bridge height.
        y_bridge = -BRIDGE_HEIGHT_FRACTION * B
        inner = np.argmin(np.where(outline[:, 0] < 0, np.abs(outline[:, 1] - y_bridge), np.inf))
        bridge_ends.append(rim3[inner])
    # Bridge: an arch between the two nasal rim points, rising by a quarter of its span.
    t = np.linspace(0.0, 1.0, 16)
    p0, p1 = bridge_ends
    bridge = p0 + (p1 - p0) * t[:, None]
    arch = 0.25 * DBL if spec.material == "metal" else 0.12 * DBL
    bridge[:, 1] -= arch * np.sin(math.pi * t)
    bridge[:, 2] -= 1.0 * np.sin(math.pi * t)  # bows forward a little, clear of the nose
    s_, u_ = _tube_frames(bridge, np.array([0.0, 0.0, 1.0]))
    bridge_half = (rim_half[1], rim_half[0] * (1.0 if spec.material == "metal" else 1.2))
    fronts.append(sweep_tube(bridge, s_, u_, bridge_half, profile_exponent))
    if spec.shape == "aviator":
        # Brow bar: the straight second bridge across the top that aviators are known by.
        top = [rim for rim in (np.argmin(outline[:, 1]),)][0]
        y_top = outline[top, 1] + rim_half[0] * 2.0
        bar = np.stack([np.linspace(-centre_offset, centre_offset, 12), np.full(12, y_top), np.full(12, -0.5)], -1)
        s_, u_ = _tube_frames(bar, np.array([0.0, 0.0, 1.0]))
        fronts.append(sweep_tube(bar, s_, u_, (rim_half[1], rim_half[0]), profile_exponent))
    if spec.material == "metal":
        # Nose pads: small flattened ellipsoids on the nasal side, behind the lenses.
        for side in (-1.0, 1.0):
            centre = np.array([side * (DBL / 2.0 - 1.5), 0.12 * B, 5.0])
            fronts.append(_ellipsoid(centre, np.array([1.6, 5.0, 3.0])))
    hinges_mm = np.array(hinges)
    temples = tuple(_temple(spec, hinge, profile_exponent) for hinge in hinges_mm)
    straight = spec.temple_mm - EARPIECE_MM
    ear_rest = hinges_mm + np.array([0.0, 0.0, straight])
    # Nose rest: on the midline at the lens-centre height, just behind the bridge (the face
    # side puts its rest point at the same height relative to the pupils).
    nose_rest = np.array([0.0, 0.0, bridge[len(bridge) // 2, 2] + rim_half[1] + 1.5])
    shininess = 90.0 if spec.material == "metal" else 40.0
    return GlassesModel(
        name=spec.name, label=spec.label, front=merge_parts(fronts), lenses=merge_parts(lenses),
        temples=temples, hinges_mm=hinges_mm.astype(np.float64), nose_rest_mm=nose_rest.astype(np.float64),
        ear_rest_mm=ear_rest.astype(np.float64),
        material=GlassesMaterial(spec.material == "metal", spec.frame_color, shininess, spec.lens_tint, spec.lens_opacity),
    )


def _temple(spec: GlassesSpec, hinge: np.ndarray, exponent: float) -> MeshPart:
    """Temple arm from ``hinge`` straight back along +z, then bent down behind the ear."""
    straight = spec.temple_mm - EARPIECE_MM
    n_straight, n_bend = 14, 10
    z = np.linspace(0.0, straight, n_straight)
    path = [np.c_[np.full(n_straight, hinge[0]), np.full(n_straight, hinge[1]), hinge[2] + z]]
    drop = math.radians(EARPIECE_DROP_DEG)
    angles = np.linspace(0.0, drop, n_bend + 1)[1:]
    step = EARPIECE_MM / n_bend
    point = path[0][-1].copy()
    bend = []
    for a in angles:
        point = point + step * np.array([0.0, math.sin(a), math.cos(a)])
        bend.append(point.copy())
    path = np.vstack(path + [np.array(bend)])
    side, up = _tube_frames(path, np.array([1.0, 0.0, 0.0]))
    if spec.material == "metal":
        half = (max(spec.rim_depth_mm, 1.4) * 0.55, max(spec.rim_depth_mm, 1.4) * 0.55)
        taper = np.ones(len(path))
        taper[n_straight:] = 1.6  # acetate temple tip over the wire
    else:
        half = (spec.rim_depth_mm * 0.6, spec.rim_width_mm * 0.55)
        taper = np.interp(np.arange(len(path)), [0, len(path) - 1], [1.0, 0.6])
    return sweep_tube(path, side, up, half, exponent, scale=taper)


def _ellipsoid(centre: np.ndarray, radii: np.ndarray, n_lat: int = 8, n_lon: int = 12) -> MeshPart:
    """A closed ellipsoid, ``radii (3,)`` mm, for nose pads."""
    lat = np.linspace(0.0, math.pi, n_lat + 1)
    lon = np.linspace(0.0, 2.0 * math.pi, n_lon, endpoint=False)
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    unit = np.stack([np.sin(la) * np.cos(lo), np.cos(la), np.sin(la) * np.sin(lo)], -1).reshape(-1, 3)
    vertices = centre + unit * radii
    normals = unit / radii
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    i = np.arange(n_lat)[:, None]
    j = np.arange(n_lon)[None, :]
    a = i * n_lon + j
    b = i * n_lon + (j + 1) % n_lon
    tris = np.concatenate([np.stack([a, a + n_lon, b + n_lon], -1).reshape(-1, 3), np.stack([a, b + n_lon, b], -1).reshape(-1, 3)])
    return merge_parts([MeshPart(vertices, normals, tris)], orient_outward=True)


# --------------------------------------------------------------------------- user models

# Model units a user may declare in the anchor file, in millimetres.
_UNITS_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0, "in": 25.4}
# Words of a part's name that make it a transparent lens. Whole words only: "glasses" (how a
# whole model, or its file, is usually named) and "eyeglass_frame" stay frame.
LENS_PART_WORDS = frozenset({"lens", "lenses", "glass"})


def part_name_words(name: str) -> list[str]:
    """Lower-case words of a part name, split at anything not a letter and where lower case
    turns upper (``"LensLeft.001"`` -> ``["lens", "left"]``)."""
    return re.findall(r"[a-z]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", name).lower())


def is_lens_name(name: str) -> bool:
    """Whether a part called ``name`` is a lens: one of its words is in ``LENS_PART_WORDS``."""
    return any(word in LENS_PART_WORDS for word in part_name_words(name))


def _own_part_names(names: tuple[str, ...], model_path: Path) -> tuple[str, ...]:
    """The names the model itself gave a part: trimesh names a part it has no name for after
    the file (``glasses.stl``, ``glasses.stl_1``), and the file name says nothing about parts."""
    file_names = {model_path.name.lower(), model_path.stem.lower()}
    return tuple(n for n in names if re.sub(r"_\d+$", "", str(n)).lower() not in file_names)


def load_user_glasses(model_path: str | Path, anchor_path: str | Path) -> GlassesModel:
    """Load an OBJ/GLB/GLTF/STL frame and its anchor file into the glasses model frame.

    The anchor file is JSON, in model coordinates::

        {"nose_bridge": [x, y, z],        # point that rests on the nose
         "temple_right": [x, y, z],       # point that rests on the wearer's right ear
         "temple_left": [x, y, z],        # ... left ear
         "up": [0, 1, 0],                 # model up direction (default +y, glTF convention)
         "units": "mm",                   # or "cm", "m", "in"; or instead:
         "temple_distance_mm": 140,       # real distance between the two temple points
         "material": "plastic", "color": [0.1, 0.1, 0.1],
         "lens_tint": [0.4, 0.45, 0.5], "lens_opacity": 0.2}

    Parts named with the word "lens", "lenses" or "glass" (``is_lens_name``) are drawn as
    transparent lenses, the rest as frame; a model of one part is all frame. Names a format
    cannot carry (STL, an OBJ without objects) default to the file name, which never counts.
    """
    import trimesh

    model_path, anchor_path = Path(model_path), Path(anchor_path)
    try:
        anchors = json.loads(anchor_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read glasses anchor file {anchor_path}: {exc}") from exc
    try:
        points = {k: np.asarray(anchors[k], dtype=np.float64) for k in ("nose_bridge", "temple_right", "temple_left")}
    except (KeyError, ValueError, TypeError) as exc:
        raise InputError(f"{anchor_path}: needs nose_bridge, temple_right and temple_left as [x, y, z]") from exc
    for key, p in points.items():
        check_shape(f"{anchor_path.name}:{key}", p, (3,))
    try:
        scene = trimesh.load(str(model_path), force="scene")
    except Exception as exc:  # trimesh raises many types for unreadable files
        raise InputError(f"cannot load glasses model {model_path}: {exc}") from exc
    if not scene.geometry:
        raise InputError(f"glasses model {model_path} has no triangles")
    model_width = np.linalg.norm(points["temple_left"] - points["temple_right"])
    if "temple_distance_mm" in anchors:
        mm_per_unit = float(anchors["temple_distance_mm"]) / model_width
    else:
        units = anchors.get("units", "mm")
        if units not in _UNITS_MM:
            raise InputError(f"{anchor_path}: units must be one of {', '.join(_UNITS_MM)}, got {units!r}")
        mm_per_unit = _UNITS_MM[units]
    # Rotation into the glasses frame: x right temple -> left temple, y down (= -up), z back.
    x = points["temple_left"] - points["temple_right"]
    x /= np.linalg.norm(x)
    up = np.asarray(anchors.get("up", [0.0, 1.0, 0.0]), dtype=np.float64)
    y = -(up - x * np.dot(up, x))
    y /= np.linalg.norm(y)
    rotation = np.stack([x, y, np.cross(x, y)])
    origin = points["nose_bridge"]

    def to_frame(p: np.ndarray) -> np.ndarray:
        return (np.asarray(p, dtype=np.float64) - origin) @ rotation.T * mm_per_unit

    parts, names = [], []
    for node in scene.graph.nodes_geometry:
        transform, geometry_name = scene.graph[node]
        mesh = scene.geometry[geometry_name]
        if not hasattr(mesh, "faces") or len(mesh.faces) == 0:
            continue
        vertices = trimesh.transform_points(mesh.vertices, transform)
        normals = trimesh.transform_points(mesh.vertex_normals, transform, translate=False)
        parts.append(MeshPart(to_frame(vertices), normals @ rotation.T, np.asarray(mesh.faces)))
        names.append(_own_part_names((node, geometry_name), model_path))
    if not parts:
        raise InputError(f"glasses model {model_path} has no triangles")
    # One part is the whole model: frame, whatever it is called (a lens alone draws nothing solid).
    lens = [len(parts) > 1 and any(is_lens_name(n) for n in own) for own in names]
    frame_parts = [part for part, is_lens in zip(parts, lens) if not is_lens]
    lens_parts = [part for part, is_lens in zip(parts, lens) if is_lens]
    if not frame_parts:
        named = ", ".join(sorted({n for own in names for n in own}))
        raise InputError(f"glasses model {model_path}: every part is named as a lens ({named}); "
                         "nothing to draw as frame (rename the frame parts)")
    ear_rest = np.stack([to_frame(points["temple_right"]), to_frame(points["temple_left"])])
    metal = anchors.get("material", "plastic") == "metal"
    material = GlassesMaterial(
        metal=metal, color=tuple(anchors.get("color", (0.08, 0.08, 0.09))), shininess=90.0 if metal else 40.0,
        lens_tint=tuple(anchors.get("lens_tint", (0.45, 0.5, 0.55))), lens_opacity=float(anchors.get("lens_opacity", 0.15)),
    )
    width = np.linalg.norm(ear_rest[1] - ear_rest[0])
    return GlassesModel(
        name=model_path.stem, label=f"{model_path.name} ({width:.0f} mm between temples)",
        front=merge_parts(frame_parts), lenses=merge_parts(lens_parts) if lens_parts else None, temples=None,
        hinges_mm=ear_rest.copy(), nose_rest_mm=np.zeros(3), ear_rest_mm=ear_rest, material=material,
    )


# --------------------------------------------------------------------------- fit

# Temples rest this far outside the head surface: half a temple's thickness plus the skin
# they press into, so the near temple is not swallowed by the occluder.
TEMPLE_CLEARANCE_MM = 3.0


@dataclass(frozen=True)
class GlassesFit:
    """Where a model sits on a face: ``model (4, 4) float64`` glasses frame -> camera space
    (OpenCV, mm) and ``temples (2, 4, 4) float64`` extra per-temple transforms in the glasses
    frame (rotations about the hinges; identity for rigid models)."""

    model: np.ndarray
    temples: np.ndarray = field(default_factory=lambda: np.tile(np.eye(4), (2, 1, 1)))


def _frame_from_anchors(nose: np.ndarray, ear_right: np.ndarray, ear_left: np.ndarray) -> np.ndarray:
    """Orthonormal axes ``(3, 3)`` (rows x, y, z) of a nose/ears triangle: x right ear -> left
    ear, z from the nose towards the ears' midpoint (made orthogonal to x), y = z x x."""
    x = ear_left - ear_right
    x /= np.linalg.norm(x)
    z = (ear_left + ear_right) / 2.0 - nose
    z -= x * np.dot(z, x)
    z /= np.linalg.norm(z)
    return np.stack([x, np.cross(z, x), z])


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation ``(3, 3)`` taking direction ``a (3,)`` onto direction ``b (3,)``."""
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    v = np.cross(a, b)
    c = float(np.dot(a, b))
    if c < -1.0 + 1e-9:  # opposite: turn half-way round any perpendicular axis
        axis = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        axis /= np.linalg.norm(axis)
        return 2.0 * np.outer(axis, axis) - np.eye(3)
    vx = np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
    return np.eye(3) + vx + vx @ vx / (1.0 + c)


def fit_glasses(model: GlassesModel, nose_mm: np.ndarray, ears_mm: np.ndarray,
                clear_mm: np.ndarray | None = None) -> GlassesFit:
    """Rigidly place ``model`` on a face and swing its temples onto the ears.

    ``nose_mm (3,)``: the nose-bridge rest point; ``ears_mm (2, 3)``: ear rest points (right,
    left), camera space, mm. The model is not scaled: its nose/ear triangle is aligned with
    the face's (rotation from the two anchor frames, translation nose onto nose), then each
    temple rotates about its hinge so its straight part passes over its ear. ``clear_mm (2, k,
    3)``: optional points per side (right, left) the temple must pass outside of (the sides of
    the face between hinge and ear); a narrow frame's temples then splay out around the head
    as real ones do.
    """
    nose = check_shape("nose_mm", nose_mm, (3,), dtype=np.float64)
    ears = check_shape("ears_mm", ears_mm, (2, 3), dtype=np.float64)
    face_axes = _frame_from_anchors(nose, ears[0], ears[1])
    model_axes = _frame_from_anchors(model.nose_rest_mm, model.ear_rest_mm[0], model.ear_rest_mm[1])
    rotation = face_axes.T @ model_axes  # model frame -> camera
    transform = np.eye(4)
    transform[:3, :3] = rotation
    transform[:3, 3] = nose - rotation @ model.nose_rest_mm
    temples = np.tile(np.eye(4), (2, 1, 1))
    if model.temples is not None:
        inverse = np.linalg.inv(transform)
        for k, side in enumerate((-1.0, 1.0)):
            ear_model = inverse[:3, :3] @ ears[k] + inverse[:3, 3]
            ear_model[0] += side * TEMPLE_CLEARANCE_MM
            hinge = model.hinges_mm[k]
            target = ear_model - hinge
            if clear_mm is not None:
                pts = (np.asarray(clear_mm[k], dtype=np.float64) @ inverse[:3, :3].T + inverse[:3, 3]) - hinge
                ahead = pts[(pts[:, 2] > 1.0) & (pts[:, 2] < target[2])]
                if len(ahead):
                    # Outward slope (|dx| per mm back) needed to pass every point, vs the ear's.
                    need = np.max((side * ahead[:, 0] + TEMPLE_CLEARANCE_MM) / ahead[:, 2])
                    if need > side * target[0] / target[2]:
                        target[0] = side * need * target[2]
            turn = rotation_between(model.ear_rest_mm[k] - hinge, target)
            temples[k, :3, :3] = turn
            temples[k, :3, 3] = hinge - turn @ hinge
    return GlassesFit(model=transform, temples=temples)


# --------------------------------------------------------------------------- the accessory

def glasses_parts(model: GlassesModel, fit: GlassesFit) -> tuple[PosedPart, ...]:
    """The fitted glasses as posed parts: the front, the temples (right, left: the glasses' pose,
    then the swing about the hinge), then the lenses (transparent)."""
    material = model.material
    frame = Material("opaque", color=tuple(material.color), metal=material.metal, shininess=material.shininess)
    parts = [PosedPart(model.front, frame, (fit.model,), role="front")]
    if model.temples is not None:
        parts += [PosedPart(model.temples[k], frame, (fit.model, fit.temples[k]), role=f"temple_{k}") for k in (0, 1)]
    if model.lenses is not None:
        lens = Material("transparent", tint=tuple(material.lens_tint), opacity=float(material.lens_opacity))
        parts.append(PosedPart(model.lenses, lens, (fit.model,), role="lenses"))
    return tuple(parts)


@dataclass(frozen=True, eq=False)
class GlassesAccessory:
    """A glasses model worn: ``fit(proxy)`` rests it on the proxy's nose and ears, its temples
    outside the face's sides (``fit_glasses``)."""

    model: GlassesModel

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def label(self) -> str:
        return self.model.label

    def fit(self, proxy) -> tuple[PosedPart, ...]:
        fit = fit_glasses(self.model, proxy.nose_point_mm, proxy.ear_points_mm, proxy.temple_side_mm)
        return glasses_parts(self.model, fit)


def library() -> tuple[GlassesAccessory, ...]:
    """This module's accessories, for the registry (``realtime.accessories``): the library's frames."""
    return tuple(GlassesAccessory(build_glasses(spec)) for spec in GLASSES_LIBRARY)
