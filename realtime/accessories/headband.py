"""A headband: a fabric band round the forehead and skull, sized to the wearer's head.

``Headband().fit(proxy)`` places a band ``BAND_WIDTH_MM`` tall with its lower edge
``BROW_CLEARANCE_MM`` above the eyebrows (``topology.RIGHT_EYEBROW``, ``LEFT_EYEBROW``), as a
sweatband is worn, round the head proxy: in the face frame
(``realtime.geometry.face_frame``: x to the wearer's left, y down, z into the head) the proxy's
vertices at the band's height give the head's section, and the band is the ellipse about that
section's middle, as wide and deep as the section, grown until no vertex of the section is
outside it, plus ``SKIN_CLEARANCE_MM``: fabric stretched round the widest points. Its inner
wall is then the wearer's head circumference at the forehead (adults: 520-620 mm). The wall is
``BAND_THICKNESS_MM`` thick. Meshes are built in the band's own frame for sizes rounded to a
millimetre and kept, so a settled head reuses one mesh (the renderer keeps one GPU copy per mesh).

In: a ``HeadProxy`` (camera space, mm). Out: one opaque ``PosedPart``.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from realtime import topology
from realtime.accessories.head_proxy import HeadProxy
from realtime.accessories.parts import Material, MeshPart, PosedPart
from realtime.geometry import face_frame

BAND_WIDTH_MM = 35.0
"""Height of the band, mm: a sports headband (25-50 mm)."""
BAND_THICKNESS_MM = 3.0
"""Fabric thickness, mm: knitted terry cloth."""
SKIN_CLEARANCE_MM = 1.0
"""Gap left between the skin's outermost point and the band's inner wall, mm: the band sits on
the skin, and a millimetre keeps the depth test from showing skin through it."""
BROW_CLEARANCE_MM = 6.0
"""Gap between the highest point of the eyebrows and the band's lower edge, mm: the brows move
(raised, they lift ~10 mm) and a band worn on them looks pulled down."""
SEGMENTS = 96
"""Steps round the band: a smooth outline at 1280x720 for a head filling the frame."""
CACHED_SIZES = 8
"""Band meshes kept (by size, whole millimetres): a converging head steps through a few."""
COLOR = (0.72, 0.10, 0.09)
"""Linear RGB of the fabric: a red sweatband."""
SHININESS = 6.0
"""Blinn-Phong exponent: cloth has a broad, faint highlight."""


def ellipse_enclosing(points_xz: np.ndarray) -> tuple[float, float, float]:
    """``(centre_z, half_width_x, half_depth_z)`` mm of the ellipse, centred at ``x = 0`` and the
    middle of the points' depth range, with the points' half-ranges as its axes ratio, grown
    until every point of ``points_xz (n, 2)`` (mm, x and z) lies on or inside it."""
    x, z = points_xz[:, 0], points_xz[:, 1]
    centre_z = 0.5 * (z.min() + z.max())
    half_x = max(float(np.abs(x).max()), 1e-6)
    half_z = max(0.5 * float(z.max() - z.min()), 1e-6)
    # (x / a)^2 + ((z - c) / b)^2 <= 1 for all points after scaling a, b by the largest radius.
    grow = float(np.sqrt((x / half_x) ** 2 + ((z - centre_z) / half_z) ** 2).max())
    return centre_z, half_x * grow, half_z * grow


def ellipse_perimeter(a: float, b: float) -> float:
    """Perimeter of an ellipse with semi-axes ``a``, ``b`` (Ramanujan's second approximation,
    good to 1e-9 relative at these proportions), in their unit."""
    h = ((a - b) / (a + b)) ** 2
    return math.pi * (a + b) * (1.0 + 3.0 * h / (10.0 + math.sqrt(4.0 - 3.0 * h)))


def band_mesh(half_x_mm: float, half_z_mm: float, height_mm: float = BAND_WIDTH_MM,
              thickness_mm: float = BAND_THICKNESS_MM, segments: int = SEGMENTS) -> MeshPart:
    """A closed elliptic band in its own frame (x, y down, z as the face frame; the origin at
    the centre of the ellipse on the band's upper edge): inner wall with semi-axes ``half_x_mm``,
    ``half_z_mm``, outer wall ``thickness_mm`` further out, ``height_mm`` tall (y from 0 to
    ``height_mm``). Each wall and rim has its own vertices, so edges shade crisp."""
    t = np.linspace(0.0, 2.0 * math.pi, segments, endpoint=False)
    cos, sin = np.cos(t), np.sin(t)
    pieces = []
    for grow, outward in ((thickness_mm, 1.0), (0.0, -1.0)):  # outer wall, inner wall
        a, b = half_x_mm + grow, half_z_mm + grow
        ring = np.stack([a * cos, np.zeros(segments), b * sin], axis=1)
        normal = np.stack([cos / a, np.zeros(segments), sin / b], axis=1)
        normal *= outward / np.linalg.norm(normal, axis=1, keepdims=True)
        pieces.append((np.concatenate([ring, ring + [0.0, height_mm, 0.0]]), np.concatenate([normal, normal]), outward))
    inner, outer = (half_x_mm, half_z_mm), (half_x_mm + thickness_mm, half_z_mm + thickness_mm)
    for y, up in ((0.0, -1.0), (height_mm, 1.0)):  # the rims: top (y = 0, up is -y) and bottom
        rim = np.concatenate([np.stack([s[0] * cos, np.full(segments, y), s[1] * sin], axis=1) for s in (outer, inner)])
        pieces.append((rim, np.tile([0.0, up, 0.0], (2 * segments, 1)), 0.0))
    vertices, normals, triangles = [], [], []
    k = np.arange(segments)
    n = (k + 1) % segments
    for points, piece_normals, _ in pieces:
        base = sum(len(v) for v in vertices)
        # Two rings of ``segments``: quads between ring 0 and ring 1, wound by the normal below.
        quads = np.concatenate([np.stack([k, n, n + segments], 1), np.stack([k, n + segments, k + segments], 1)])
        a, b, c = (points[quads[:, j]] for j in range(3))
        facing = np.einsum("ij,ij->i", np.cross(b - a, c - a), piece_normals[quads[:, 0]])
        quads[facing < 0] = quads[facing < 0][:, [0, 2, 1]]  # counter-clockwise seen from outside
        vertices.append(points)
        normals.append(piece_normals)
        triangles.append(quads + base)
    return MeshPart(np.concatenate(vertices).astype(np.float32), np.concatenate(normals).astype(np.float32),
                    np.concatenate(triangles).astype(np.int32))


@dataclass(eq=False)
class Headband:
    """The headband accessory (see the module docstring)."""

    name: str = "headband"
    width_mm: float = BAND_WIDTH_MM
    material: Material = Material("opaque", color=COLOR, metal=False, shininess=SHININESS)
    _meshes: OrderedDict = field(default_factory=OrderedDict, repr=False)

    @property
    def label(self) -> str:
        return f"{self.width_mm:g} mm"

    def fit(self, proxy: HeadProxy) -> tuple[PosedPart, ...]:
        """The band posed on ``proxy``: one opaque part, camera space (OpenCV axes, mm)."""
        origin, axes = face_frame(proxy.vertices[:topology.N_VERTICES])
        local = (np.asarray(proxy.vertices, np.float64) - origin) @ axes.T
        brows = list(topology.RIGHT_EYEBROW + topology.LEFT_EYEBROW)
        top = float(local[brows, 1].min()) - BROW_CLEARANCE_MM - self.width_mm  # y is down: min is highest
        section = local[(local[:, 1] >= top) & (local[:, 1] <= top + self.width_mm)]
        centre_z, half_x, half_z = ellipse_enclosing(section[:, [0, 2]])
        size = (round(half_x + SKIN_CLEARANCE_MM), round(half_z + SKIN_CLEARANCE_MM))
        mesh = self._mesh(size)
        band_to_face = np.eye(4)
        band_to_face[:3, 3] = [0.0, top, centre_z]
        face_to_camera = np.eye(4)
        face_to_camera[:3, :3] = axes.T  # camera = axes.T @ local + origin
        face_to_camera[:3, 3] = origin
        return (PosedPart(mesh, self.material, (face_to_camera, band_to_face), role="band"),)

    def _mesh(self, size: tuple[int, int]) -> MeshPart:
        if size in self._meshes:
            self._meshes.move_to_end(size)
        else:
            self._meshes[size] = band_mesh(float(size[0]), float(size[1]), self.width_mm)
            while len(self._meshes) > CACHED_SIZES:
                self._meshes.popitem(last=False)
        return self._meshes[size]


def library() -> tuple[Headband, ...]:
    """This module's accessories, for the registry (``realtime.accessories``)."""
    return (Headband(),)
