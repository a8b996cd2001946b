"""Closed solids for printing, built with manifold3d so every boolean result is manifold.

In: numpy vertex/face arrays (mm) or plain dimensions. Out: ``manifold3d.Manifold`` parts (plinth,
ears, engraved label, height-field plaque, cone cutter) and conversions to and from numpy.
Vertex properties beyond xyz (texture u, v) ride along through the booleans.
"""

from __future__ import annotations

import math

import cv2
import manifold3d
import numpy as np

from realtime.errors import InputError, Selfie3DError

LABEL_RASTER_PX = 96
"""Glyph height of the raster the label outline is traced from: Hershey strokes rendered this
large trace to outlines smoother than a 0.4 mm nozzle can draw at any label size we make."""
LABEL_TRACE_EPS_PX = 0.6
"""Douglas-Peucker tolerance of the traced outline, raster pixels (under a tenth of a stroke)."""
LABEL_MIN_CAP_MM = 2.0
"""Smallest capital height a label may be engraved at, print mm. A traced Hershey stroke is about
0.135 of the cap height (the raster's ``thickness``), so 2 mm capitals cut ~0.27 mm grooves, about
the narrowest gap a 0.4 mm nozzle's perimeters leave open; any smaller and the strokes and the
counters of e, a, 8 fill in. The plinth (bust) and the label band (relief) give capitals of
about 0.0585 x the print height, so a label needs a print of at least 34.2 mm (35 mm to be safe)."""
LABEL_FIRST_CHAR, LABEL_LAST_CHAR = " ", "~"
"""Printable ASCII: the only characters OpenCV's Hershey font draws (anything else comes out as '?')."""
CUT_OVERSHOOT_MM = 0.5
"""Cutters reach this far past the surface they cut so no zero-thickness sliver remains."""


def to_manifold(vertices: np.ndarray, faces: np.ndarray, properties: np.ndarray | None = None) -> manifold3d.Manifold:
    """``Manifold`` from ``vertices (n, 3)`` mm, outward-wound ``faces (m, 3) int`` and optional
    per-vertex ``properties (n, k)`` (e.g. texture u, v). Raises ``Selfie3DError`` if not a manifold."""
    props = np.asarray(vertices, dtype=np.float32)
    if properties is not None:
        props = np.column_stack([props, np.asarray(properties, dtype=np.float32)])
    mesh = manifold3d.Mesh(np.ascontiguousarray(props), np.ascontiguousarray(faces, dtype=np.uint32))
    solid = manifold3d.Manifold(mesh)
    if solid.status() != manifold3d.Error.NoError:
        raise Selfie3DError(f"could not build a closed solid: {solid.status()}")
    return solid


def from_manifold(solid: manifold3d.Manifold) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(vertices (n, 3) float64 mm, faces (m, 3) int64, properties (n, k) float64)`` of a solid.

    Vertices are merged by manifold's own merge vectors, so the faces index a closed surface;
    properties (k may be 0) belong to the first copy of each merged vertex.
    """
    mesh = solid.to_mesh()
    props = np.asarray(mesh.vert_properties, dtype=np.float64)
    faces = np.asarray(mesh.tri_verts, dtype=np.int64)
    merge_from = np.asarray(mesh.merge_from_vert, dtype=np.int64)
    merge_to = np.asarray(mesh.merge_to_vert, dtype=np.int64)
    if len(merge_from):
        remap = np.arange(len(props))
        remap[merge_from] = merge_to
        faces = remap[faces]
        used, inverse = np.unique(faces, return_inverse=True)
        faces = inverse.reshape(-1, 3)
        props = props[used]
    return props[:, :3], faces, props[:, 3:]


def rounded_box(width: float, depth: float, height: float, radius: float, bottom: float = 0.0) -> manifold3d.Manifold:
    """Box ``width`` (x) by ``depth`` (y) by ``height`` (z) mm centred on the z axis, base at
    ``bottom``, vertical edges rounded with ``radius`` mm."""
    radius = min(radius, 0.49 * min(width, depth))
    inner = manifold3d.CrossSection.square((width - 2 * radius, depth - 2 * radius), True)
    return inner.offset(radius, manifold3d.JoinType.Round, 2.0, 48).extrude(height).translate((0.0, 0.0, bottom))


def cylinder(radius: float, bottom: float, top: float, centre_xy=(0.0, 0.0), segments: int = 96) -> manifold3d.Manifold:
    """Vertical cylinder of ``radius`` mm from z = ``bottom`` to ``top`` at ``centre_xy``."""
    return manifold3d.Manifold.cylinder(top - bottom, radius, radius, segments).translate(
        (float(centre_xy[0]), float(centre_xy[1]), bottom)
    )


def ellipsoid(centre: np.ndarray, axes: np.ndarray, rotation: np.ndarray, refine: int = 48) -> manifold3d.Manifold:
    """Ellipsoid with semi-axes ``axes (3,)`` mm along the columns of ``rotation (3, 3)`` (a proper
    rotation), centred at ``centre (3,)`` mm; ``refine`` segments around a great circle."""
    sphere = manifold3d.Manifold.sphere(1.0, refine).scale(tuple(float(a) for a in axes))
    affine = np.column_stack([np.asarray(rotation, dtype=np.float64), np.asarray(centre, dtype=np.float64)])
    return sphere.transform(affine)


def check_label(label: str) -> None:
    """Raise ``InputError`` naming the characters of ``label`` the engraving font cannot draw."""
    bad = [c for c in dict.fromkeys(label) if not LABEL_FIRST_CHAR <= c <= LABEL_LAST_CHAR]
    if bad:
        raise InputError(f"the label {label!r} has characters the engraving font cannot draw: "
                         f"{' '.join(repr(c) for c in bad)}; use printable ASCII (A-Z, a-z, 0-9, punctuation, space)")


def text_outline(label: str, cap_height_mm: float) -> list[np.ndarray]:
    """Outline polygons ``[(k, 2) float64]`` mm of ``label`` in OpenCV's Hershey simplex font.

    Text reads along +x with y up, centred on the origin, capitals ``cap_height_mm`` tall.
    Traced from a raster (``cv2.putText`` then ``cv2.findContours``), holes included: fill with
    the even-odd rule.
    """
    check_label(label)
    if not label.strip():
        return []
    font, thickness = cv2.FONT_HERSHEY_SIMPLEX, max(2, LABEL_RASTER_PX // 7)
    scale = cv2.getFontScaleFromHeight(font, LABEL_RASTER_PX, thickness)
    (w, h), base = cv2.getTextSize(label, font, scale, thickness)
    pad = 2 * thickness
    canvas = np.zeros((h + base + 2 * pad, w + 2 * pad), np.uint8)
    cv2.putText(canvas, label, (pad, pad + h), font, scale, 255, thickness, cv2.LINE_AA)
    _, binary = cv2.threshold(canvas, 127, 255, cv2.THRESH_BINARY)
    contours, _ = cv2.findContours(binary, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    mm_per_px = cap_height_mm / h
    centre = np.array([canvas.shape[1] / 2.0, pad + h / 2.0])
    polygons = []
    for contour in contours:
        contour = cv2.approxPolyDP(contour, LABEL_TRACE_EPS_PX, True)[:, 0, :].astype(np.float64)
        if len(contour) < 3:
            continue
        xy = (contour - centre) * mm_per_px
        xy[:, 1] = -xy[:, 1]  # raster rows run down, the outline's y runs up
        polygons.append(xy)
    return polygons


def _floor_tenth(mm: float) -> str:
    """``mm`` rounded down to a tenth, as text: a size under a minimum never prints as equal to it
    (1.999 mm shows as 1.9, not 2.0)."""
    return f"{math.floor(mm * 10.0) / 10.0:.1f}"


def label_cutter(label: str, cap_height_mm: float, depth_mm: float, max_width_mm: float) -> manifold3d.Manifold:
    """Text solid in the xy plane from z = -depth to z = +overshoot, for engraving a top face.

    The text shrinks if it would be wider than ``max_width_mm``; raises ``InputError`` if that
    would take its capitals under ``LABEL_MIN_CAP_MM`` (saying how many characters fit), or if
    it has characters the font cannot draw.
    """
    polygons = text_outline(label, cap_height_mm)
    if not polygons:
        return manifold3d.Manifold()
    if cap_height_mm < LABEL_MIN_CAP_MM:
        raise InputError(f"this print is too small for a label: its letters would be {_floor_tenth(cap_height_mm)} mm tall, "
                         f"under the {LABEL_MIN_CAP_MM} mm minimum; raise --height-mm or leave the label out")
    width = max(p[:, 0].max() for p in polygons) - min(p[:, 0].min() for p in polygons)
    if width > max_width_mm:
        shrink = max_width_mm / width
        if cap_height_mm * shrink < LABEL_MIN_CAP_MM:
            # Characters of this label's mean width that fit across at the minimum cap height.
            fit = int(len(label) * max_width_mm / (width * LABEL_MIN_CAP_MM / cap_height_mm))
            raise InputError(
                f"the label {label!r} is too long for this print size: its letters would be "
                f"{_floor_tenth(cap_height_mm * shrink)} mm tall, under the {LABEL_MIN_CAP_MM} mm minimum; at most "
                f"{fit} characters like these fit (shorten it or raise --height-mm)")
        polygons = [p * shrink for p in polygons]
    section = manifold3d.CrossSection(polygons, manifold3d.FillRule.EvenOdd)
    return section.extrude(depth_mm + CUT_OVERSHOOT_MM).translate((0.0, 0.0, -depth_mm))


def heightfield_solid(heights: np.ndarray, spacing: float, origin_xy=(0.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """Closed solid under a height field: ``(vertices (n, 3) float64 mm, faces (m, 3) int64)``.

    heights: ``(ny, nx) float`` mm, all > 0, row i at y = origin_y + i * spacing (y up), column j
    at x = origin_x + j * spacing. The solid spans z = 0 (flat base) to the heights; faces wind
    outward.
    """
    ny, nx = heights.shape
    jj, ii = np.meshgrid(np.arange(nx), np.arange(ny))
    x = origin_xy[0] + jj * spacing
    y = origin_xy[1] + ii * spacing
    top = np.column_stack([x.ravel(), y.ravel(), heights.ravel()])
    bottom = top.copy()
    bottom[:, 2] = 0.0
    vertices = np.vstack([top, bottom])
    idx = np.arange(ny * nx).reshape(ny, nx)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, 1:].ravel(), idx[1:, :-1].ravel()
    top_faces = np.concatenate([np.column_stack([a, b, c]), np.column_stack([a, c, d])])  # +z normals
    bottom_faces = top_faces[:, ::-1] + ny * nx
    ring = np.concatenate([idx[0, :], idx[1:, -1], idx[-1, -2::-1], idx[-2:0:-1, 0]])  # counter-clockwise
    nxt = np.roll(ring, -1)
    off = ny * nx
    walls = np.concatenate([np.column_stack([ring, ring + off, nxt + off]), np.column_stack([ring, nxt + off, nxt])])
    return vertices, np.vstack([top_faces, bottom_faces, walls]).astype(np.int64)


def cone_cutter(apex: np.ndarray, directions: np.ndarray, length: float) -> manifold3d.Manifold:
    """Convex cone from ``apex (3,)`` mm through the unit ``directions (k, 3)`` out to ``length`` mm."""
    points = np.vstack([apex[None], apex[None] + directions * length])
    return manifold3d.Manifold.hull_points(points.astype(np.float64))
