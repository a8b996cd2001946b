"""Printable bust stage: a metric face mesh (and optionally its photo) to a watertight solid.

In: ``vertices_mm (468, 3)`` of one face in any rigid metric frame (camera space or the fused
canonical identity), the face triangles, ``BustOptions``, optionally the BGR photo and the
mesh's pixel positions. Out: ``BustResult`` with the solid as a ``trimesh.Trimesh`` in
millimetres (Z up, base on Z = 0), a textured copy for OBJ/GLB, and the print checks.

Styles: ``bust`` (face blended into a fitted head with jaw, neck and ears, rounded plinth with an
optional engraved label), ``relief`` (the face as a bas-relief on a flat plaque, relief up),
``mask`` (the face as a shell of uniform wall, standing on a flat cut under the chin). Every solid is closed by
construction: the head is a star-shaped surface (``realtime.printing.surface``) and the parts
are joined with manifold3d booleans, then checked (``realtime.printing.export``).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import trimesh

from realtime import geometry, topology
from realtime.errors import InputError, Selfie3DError
from realtime.printing import export as _export
from realtime.printing import headframe, silhouette, solids, surface, torso
from realtime.shapes import check_shape

from realtime.printing.vocabulary import EXPRESSIONS, HEIGHT_RANGE_MM, STYLES  # noqa: E402

MIN_WALL_MM = 1.2
"""Thinnest wall a 0.4 mm nozzle prints reliably (three perimeters)."""

# --- bust proportions (life size, relative to the fitted cranium's half breadth) -----------------
# The neck itself is part of the head surface (``surface.NECK_RADIUS``), so it runs smoothly into
# the throat under the jaw and into the nape under the occiput.
NECK_BELOW_CHIN = 0.45
"""Visible neck below the chin / skull half breadth, before the plinth starts."""
PLINTH_WIDTH = 2.0
"""Plinth width / skull half breadth (as wide as the head)."""
PLINTH_DEPTH = 1.6
"""Plinth depth / skull half breadth."""
PLINTH_HEIGHT_FRACTION = 0.14
"""Plinth height / total bust height."""
PLINTH_CORNER = 0.2
"""Corner radius / plinth depth."""
LABEL_CAP_FRACTION = 0.42
"""Label capital height / plinth height (print)."""
LABEL_DEPTH_MM = 0.6
"""Engraving depth in the print: three 0.2 mm layers, clearly visible, far from any wall limit."""

# --- relief and mask --------------------------------------------------------------------------------
RELIEF_DEPTH_FRACTION = 0.10
"""Deepest point of the relief above the plaque / plaque height."""
RELIEF_BASE_MM = 3.0
"""Plaque thickness under the relief (print mm): stiff, and deep enough for the label."""
RELIEF_MARGIN = 0.10
"""Plaque margin around the face / face height."""
RELIEF_LABEL_BAND = 0.16
"""Extra plaque height below the face for the label / face height."""
RELIEF_GRID_MM = 0.35
"""Height-field spacing in the print, mm: finer than a 0.4 mm nozzle line."""
RELIEF_BLEND_MM = 10.0
"""Band inside the face contour where the relief falls to the plaque (life size)."""
MASK_BASE_CUT = 0.09
"""Mask: the flat base is cut this fraction of the face height above the face mesh's lowest vertex.
Lower cuts (0.06-0.08) meet the shell's inner wall where it lies nearly flat under the chin and
leave a sub-millimetre sliver at the base (measured on the astronaut and five portraits, 40-120 mm)."""
MASK_PLANE_FORWARD = 0.1
"""With the photo's outline, the mask is the head's shell in front of a plane this many cranium half
lengths in front of the head's centre: the hair that frames the face, not the back of the head."""
MASK_OVAL_SHRINK_RAD = np.radians(2.0)
"""Mask outline: the face contour pulled in so the edge stays on the face, not the skull blend."""

SIMPLIFY_TOLERANCE_MM = 0.01
"""Decimation tolerance in the print: flat parts lose vertices, no surface moves more than this
(a tenth of a 0.1 mm layer); curved detail at eyes, nose and lips keeps its vertices."""


@dataclass(frozen=True)
class BustOptions:
    """How to make the printable solid.

    style: 'bust' | 'relief' | 'mask'.
    height_mm: print height, mm (bust, mask: along Z; relief: the plaque's height along Y).
    label: text engraved on the plinth (bust) or the plaque (relief); not for 'mask'.
    expression: 'neutral' closes an open mouth; 'current' keeps the snapshot's.
    detail: add shading detail from the image where it is reliable (needs the image).
    mask_wall_mm: wall of the 'mask' shell, mm (at least ``MIN_WALL_MM``).
    format: 'stl' | '3mf' | 'obj' | 'glb' or None to use the output file's extension.
    overwrite: allow replacing an existing file.
    """

    style: str = "bust"
    height_mm: float = 80.0
    label: str | None = None
    expression: str = "neutral"
    detail: bool = True
    mask_wall_mm: float = 2.0
    format: str | None = None
    overwrite: bool = False

    def __post_init__(self):
        if self.style not in STYLES:
            raise InputError(f"unknown bust style {self.style!r}: use one of {', '.join(STYLES)}")
        if self.expression not in EXPRESSIONS:
            raise InputError(f"unknown expression {self.expression!r}: use one of {', '.join(EXPRESSIONS)}")
        low, high = HEIGHT_RANGE_MM
        if not low <= self.height_mm <= high:
            raise InputError(f"--height-mm {self.height_mm} is outside {low:g}..{high:g} mm")
        if self.mask_wall_mm < MIN_WALL_MM:
            raise InputError(f"mask wall {self.mask_wall_mm} mm is thinner than {MIN_WALL_MM} mm")
        if self.label is not None and self.style == "mask":
            raise InputError("a label needs a plinth or plaque: use style 'bust' or 'relief'")
        if self.format is not None and self.format.lower() not in _export.FORMATS:
            raise InputError(f"unknown print format {self.format!r}: use one of {', '.join(_export.FORMATS)}")


@dataclass
class BustResult:
    """The printable solid.

    mesh: closed ``trimesh.Trimesh``, mm, Z up, base on Z = 0.
    textured: the same surface with texture coordinates and the photo (None without an image).
    checks: ``realtime.printing.export.print_checks`` of ``mesh``.
    options: the options used.  timings_ms: stage name -> milliseconds.
    view: ``(3, 4) float64`` maps the file's coordinates (mm, homogeneous) to the photo's pixels:
        ``(u, v, w) = view @ (x, y, z, 1)``, pixel ``(u / w, v / w)``. The camera is affine, so ``w``
        is 1. None when the bust was built without pixel positions. For a relief, ``z`` (its height
        above the plaque) does not move the pixel.
    warnings: what the user should know about how it was built (one line each).
    camera_roll_rad: how far the bust's up was turned from the photo's for the camera's roll
        (``body_frame``; positive toward the photo's right), radians: 0 but in the bust style.
    """

    mesh: trimesh.Trimesh
    textured: trimesh.Trimesh | None
    checks: dict
    options: BustOptions
    timings_ms: dict = field(default_factory=dict)
    view: np.ndarray | None = None
    warnings: tuple[str, ...] = ()
    camera_roll_rad: float = 0.0


# Print frame from head frame: x stays (person's left = viewer's right), forward becomes -Y (the
# face looks at the viewer of the build plate), up becomes +Z. Right-handed: det = +1.
_HEAD_TO_PRINT = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def build_bust(
    vertices_mm: np.ndarray,
    triangles: np.ndarray | None = None,
    options: BustOptions = BustOptions(),
    image: np.ndarray | None = None,
    vertices_px: np.ndarray | None = None,
    person=None,
    scan=None,
    camera_roll_rad: float = 0.0,
) -> BustResult:
    """Build the printable solid of one face.

    vertices_mm: ``(468, 3) float`` mm, any rigid frame (the head frame is found from the eyes,
        chin and nose tip).
    triangles: ``(F, 3) int`` face topology; only ``topology.face_triangles()`` is supported
        (None means that).
    image: ``(H, W, 3) uint8`` BGR photo the mesh was seen in (detail, texture); optional.
    vertices_px: ``(468, 2 or 3) float`` pixel positions of the vertices in ``image``.
    person: ``realtime.stages.segmentation.PersonMask`` around the face in ``image`` (the outline of the
        head and hair, neck and shoulders; None: the mean proportions, a bald head).
    scan: ``realtime.stages.scan.ScanResult`` in the frame of ``vertices_mm`` (a live head-turn scan):
        the head and hair from every side it saw; the photo's single view fills in the rest.
    camera_roll_rad: how far the camera was held askew (``realtime.stages.level.LevelResult.roll_rad``):
        the bust style stands on the photo's up turned by it, level with the room; 0: on the
        photo's up.
    Raises ``InputError`` for unusable input and ``Selfie3DError`` if a print check fails.
    """
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    vertices = check_shape("vertices_mm", vertices_mm, (topology.N_VERTICES, 3), dtype=np.float64)
    if not np.all(np.isfinite(vertices)):
        raise InputError("the face mesh has non-finite vertices")
    if triangles is not None:
        triangles = check_shape("triangles", triangles, (None, 3))
        if not np.array_equal(np.sort(np.sort(triangles, 1), 0), np.sort(np.sort(topology.face_triangles(), 1), 0)):
            raise InputError("build_bust needs the standard face topology (realtime.topology.face_triangles())")
    if vertices_px is not None:
        vertices_px = check_shape("vertices_px", vertices_px, (topology.N_VERTICES, None), dtype=np.float64)
    if image is not None:
        image = check_shape("image", image, (None, None, 3))
    warnings = []
    if person is not None and vertices_px is not None and person.face_share(vertices_px) < MIN_PERSON_FACE_SHARE:
        # Its outline would cut the head down to the face (everything else is 'not the person').
        person = None
        warnings.append("the photo's segmentation does not see this face as a person: the head, hair and "
                        "shoulders are the mean shape")
    head, rotation, origin, as_seen = _posed_head(vertices, options)
    view = None
    if vertices_px is not None:
        # Head frame -> image pixels, fitted on the face as the photo shows it.
        view = silhouette.fit_affine_view(as_seen, vertices_px)
    timings["frame"] = _lap(clock)

    if options.style == "relief":
        solid, textured, plain, head_to_print = _relief(head, options, image, vertices_px, rotation, timings,
                                                        person, view)
        up_axis = 1
    else:
        solid, textured, plain, head_to_print = _bust_or_mask(head, options, image, vertices_px, rotation, timings,
                                                              person, view, _scan_in_head(scan, rotation, origin),
                                                              camera_roll_rad)
        up_axis = 2
    clock = time.perf_counter()
    checks = _export.print_checks(solid, up_axis=up_axis, wall=False)
    # Walls are measured before the label is cut: the islands inside engraved letters are 0.6 mm
    # deep surface relief, not walls that carry the print.
    checks["min_wall_mm"] = _export.min_wall_mm(solid if plain is None else _meshes(plain, None, None)[0])
    _export.check_printable(checks)
    thin = wall_warning(checks["min_wall_mm"])
    if thin:
        warnings.append(thin)
    timings["checks"] = _lap(clock)
    file_view = None if view is None else file_to_image(view.matrix, head_to_print)
    turned = applied_roll_rad(view, camera_roll_rad) if options.style == "bust" else 0.0
    return BustResult(mesh=solid, textured=textured, checks=checks, options=options, timings_ms=timings,
                      view=file_view, warnings=tuple(warnings), camera_roll_rad=turned)


def photo_bust(found, index: int, image: np.ndarray, options: BustOptions = BustOptions()) -> BustResult:
    """The bust of face ``index`` of a photo: ``found`` is the ``realtime.stages.photo.PhotoResult`` of
    ``image (H, W, 3) uint8`` BGR. The face's mesh, the person's outline around it and the camera's
    roll the photo shows (``PhotoResult.camera_roll_rad``) go into ``build_bust``."""
    face = found.faces[index]
    return build_bust(face.vertices_mm, None, options, image=image, vertices_px=face.vertices_px,
                      person=found.persons[index] if found.persons else None,
                      camera_roll_rad=found.camera_roll_rad)


def roll_report(bust: BustResult, found) -> dict:
    """What a report says of the turn ``bust`` (``photo_bust`` of ``found``, a ``PhotoResult``) got:
    ``camera_roll_deg`` (the level's turn, ``BustResult.camera_roll_rad``; for a photo upside down
    or on its side the whole turn from the photo's up, ``PhotoResult.camera_roll_rad``; 0 for the
    head, relief and mask styles, which stand on the head's own up), ``camera_roll_from``
    (``LevelResult.source`` of a level that turned it: "lines", the room's vertical lines; "body",
    the person's face and shoulders; else None), ``photo_upside_down`` (``PhotoResult.upside_down``),
    ``photo_on_its_side`` (``PhotoResult.sideways`` not 0) and ``camera_roll_note``, the line the
    command and the web page show where the bust was turned (None where not)."""
    turn = bust.camera_roll_rad
    turned_photo = bool(found.upside_down or found.sideways) and bust.options.style == "bust"
    if turned_photo:
        # From the photo's up: the unturned frame of a photo upside down or on its side is already
        # held back 25 deg from its up toward the head's, so ``applied_roll_rad`` would say little.
        turn = geometry.wrapped_angle(found.camera_roll_rad)
    degrees = round(float(np.degrees(turn)), 2)
    turned = turn != 0.0
    levelled = turned and found.level is not None and found.level.roll_rad != 0.0
    source = found.level.source if levelled else None
    note = None
    if turned and turned_photo:
        how_far = f"{abs(degrees):.1f}" if abs(abs(degrees) - 180.0) < 0.05 else f"{degrees:+.1f}"
        how = "is upside down" if found.upside_down else "lies on its side (the face more than 45 deg from its up)"
        note = f"the photo {how}: the bust stands the person's way up, turned {how_far} deg from the photo's up"
    elif levelled:
        by = "the room's vertical lines" if source == "lines" else "the person's face and shoulders, which lean alike"
        note = (f"the camera was held askew: the bust stands level by {by}, turned {degrees:+.1f} deg "
                f"from the photo's up")
    return {"camera_roll_deg": degrees, "camera_roll_from": source, "photo_upside_down": bool(found.upside_down),
            "photo_on_its_side": bool(found.sideways), "camera_roll_note": note}


def wall_warning(min_wall_mm: float) -> str | None:
    """The line a user reads when the solid's thinnest wall (``export.min_wall_mm``) is under
    ``MIN_WALL_MM``; None otherwise. It is a warning, not a refusal: the file is still made."""
    if min_wall_mm >= MIN_WALL_MM:
        return None
    return (f"the thinnest wall is about {min_wall_mm:.1f} mm, under the {MIN_WALL_MM:g} mm a 0.4 mm nozzle "
            "prints reliably: print it larger (--height-mm) or look at it in the slicer's preview")


def file_to_image(head_to_image: np.ndarray, head_to_print: np.ndarray) -> np.ndarray:
    """``(3, 4)`` affine camera of the printed file: ``head_to_image (2, 4)`` (head frame mm ->
    pixels) after undoing ``head_to_print (3, 4)`` (head frame mm -> file mm, a scaled rotation and
    a shift, or for a relief a scaling of x and y with z flattened, its third row zero)."""
    linear, shift = head_to_print[:, :3], head_to_print[:, 3]
    # Rows of a relief's map are zero along z: its pseudo-inverse drops the height, as wanted.
    inverse = np.linalg.pinv(linear)
    out = np.zeros((3, 4))
    out[:2, :3] = head_to_image[:, :3] @ inverse
    out[:2, 3] = head_to_image[:, 3] - out[:2, :3] @ shift
    out[2, 3] = 1.0
    return out


def export_bust(result_or_mesh, path, fmt: str | None = None, overwrite: bool | None = None) -> Path:
    """Write a ``BustResult`` (or a closed ``trimesh.Trimesh`` in mm) atomically; return the path.

    The format comes from ``fmt``, then the result's options, then the file extension. The file is
    re-loaded and checked before it is renamed into place; an existing file is kept unless
    ``overwrite`` (default: the result's ``options.overwrite``, else False).
    """
    if isinstance(result_or_mesh, BustResult):
        mesh, textured = result_or_mesh.mesh, result_or_mesh.textured
        fmt = fmt or result_or_mesh.options.format
        overwrite = result_or_mesh.options.overwrite if overwrite is None else overwrite
    else:
        mesh, textured = result_or_mesh, None
    return _export.write_solid(mesh, path, fmt=fmt, textured=textured, overwrite=bool(overwrite))


# --- styles -------------------------------------------------------------------------------------


def _posed_head(vertices, options):
    """The face in the head frame, its mouth closed for 'neutral': ``(head (468, 3) mm, rotation
    (3, 3), origin (3,) mm (the frame's, in the input's), as_seen (468, 3) mm before the mouth was
    closed)``."""
    rotation, origin = geometry.head_frame(vertices)
    head = (vertices - origin) @ rotation.T
    as_seen = head
    if options.expression == "neutral":
        # The bust and mask are a radial field seen from the head's centre: the lips must close
        # without overlapping as seen from there. The relief is seen from the front.
        centre = None if options.style == "relief" else surface.field_centre(head)
        head = headframe.neutral_jaw(head, centre)
    return head, rotation, origin, as_seen


def _head_field(head, image, vertices_px, rotation, use_detail, person=None, view=None, scan=None,
                subdivisions=surface.SPHERE_SUBDIVISIONS):
    shape = surface.fit_head(head)
    directions, faces = surface.warped_sphere(subdivisions)
    contour_distance = surface.face_contour_distance(head, shape.centre, directions)
    skull_r, sil, hair_crop = None, None, None
    if person is not None and vertices_px is not None:
        skull_r, sil, hair_crop = _silhouette_skull(head, shape, directions, faces, vertices_px, person, view, image,
                                                    contour_distance)
    band = None
    if scan is not None:
        single = surface.skull_radius(directions, shape) if skull_r is None else skull_r
        skull_r = _with_scan(single, directions, faces, shape, scan)
        band = surface.BLEND_BAND_RAD + (SCAN_BLEND_BAND_RAD - surface.BLEND_BAND_RAD) * _scan_share(directions)
    field_ = surface.radial_field(head, shape, directions, vertices_px, skull_r, contour_distance, band)
    points = surface.head_surface(field_, shape)
    radius = surface.smooth_radius_near(field_.radius, faces, points, head[list(topology.LIPS_INNER)])
    field_ = dataclasses.replace(field_, radius=radius)
    extra = None
    if use_detail and image is not None and vertices_px is not None:
        # The camera looks along the input frame's +z (OpenCV): toward the camera is -z there.
        toward_camera = rotation @ np.array([0.0, 0.0, -1.0])
        extra = surface.shading_detail(field_, head, shape, image, vertices_px, toward_camera)
        if hair_crop is not None and view is not None:
            hair_in_image = cv2.warpAffine(hair_crop.astype(np.uint8), person.image_from_crop,
                                           (image.shape[1], image.shape[0]), flags=cv2.INTER_NEAREST) > 0
            extra = extra + surface.hair_detail(surface.head_surface(field_, shape), faces, field_.face_weight,
                                                view.matrix, image, hair_in_image, head)
    return shape, field_, faces, surface.head_surface(field_, shape, extra), sil


HAIR_SMOOTHING_ITERATIONS = 12
"""Laplacian steps over the sphere on the head-and-hair radius: removes the mask's pixel steps
(~ 1.5 mm life) while keeping the outline of a bun or a quiff."""
HAIRLINE_SLOPE_RAD = np.radians(25.0)
"""Hair reaches its full thickness this far (angle seen from the head's centre) outside the face's
outline: the hair slopes onto the forehead and temples instead of standing off them like a hood."""


PRINT_EDGE_MM = 0.5
"""Longest edge of the head surface's mesh across the face, print mm: a little over a 0.4 mm
nozzle's line, the finest step a printer shows. The sphere is subdivided just enough for it at the
print's scale (``sphere_level``); a denser mesh only makes the booleans and checks slower."""
HEAD_PER_FACE_HEIGHT = 1.9
"""Head height (crown to chin) / the face mesh's height (forehead top to chin), for the estimate of
the print's scale before the head is built (hair adds to it: the estimate errs toward detail)."""
SPHERE_LEVELS = (5, 7)
"""Fewest and most subdivisions of the head's sphere (10,242 to 163,842 vertices)."""


def sphere_level(head: np.ndarray, options: BustOptions) -> int:
    """The sphere subdivision that keeps the face's edges under ``PRINT_EDGE_MM`` in the print."""
    face_height = geometry.face_height(head)
    head_height = HEAD_PER_FACE_HEIGHT * face_height
    life = {"bust": head_height * (1.0 + TORSO_CUT_BELOW_CHIN), "head": head_height / (1.0 - PLINTH_HEIGHT_FRACTION) * 1.2,
            "mask": face_height, "relief": head_height}[options.style]
    scale = options.height_mm / life
    radius = 0.5 * head_height
    for level in range(SPHERE_LEVELS[0], SPHERE_LEVELS[1] + 1):
        # An icosahedron's edge spans 63.4 deg; each subdivision halves it; the face gets the warp's
        # density (``surface.FRONT_DENSITY``).
        edge = np.radians(63.4) / 2**level * surface.FRONT_DENSITY * radius * scale
        if edge <= PRINT_EDGE_MM:
            return level
    return SPHERE_LEVELS[1]


MIN_PERSON_FACE_SHARE = 0.5
"""A person mask that takes less of the face's own oval for the person than this is not used
(``PersonMask.face_share``: 0.90-1.00 on every person photo measured, 0.00 on a cartoon robot)."""
NECK_CLIP_FLOOR = 0.6
"""The person's outline narrows the neck below the chin to no less than this share of its prior
radius: where the segmentation misses the neck (a drawn figure's; opencv-doc's cartoon robot before
its mask was set aside), the head was cut off at the chin and floated above the head style's plinth
(two shells). On every person photo measured the outline never narrows the neck that far."""


def _silhouette_skull(head, shape, directions, faces, vertices_px, person, view, image, contour_distance):
    """The skull prior clipped to the person's outline and grown by the hair: ``(radius (N,) mm,
    the Silhouette, the hair itself (S, S) bool on the mask's crop)``."""
    from realtime.stages import segmentation

    labels = segmentation.label_regions(person, vertices_px, image)
    crop_v = (view.then(person.crop_from_image).project(head) if view is not None
              else person.to_crop(vertices_px))
    rows = np.arange(labels.shape[0])[:, None]
    above_ears = rows < 0.5 * (crop_v[topology.FACE_SIDE_RIGHT, 1] + crop_v[topology.FACE_SIDE_LEFT, 1])
    hair_region = (labels == segmentation.HAIR) | ((labels == segmentation.SCALP) & above_ears)
    sil = silhouette.build_silhouette(person.probability, person.seen, person.crop_from_image, head, vertices_px,
                                      shape.centre, view, hair_region)
    prior = surface.skull_radius(directions, shape)
    clip = silhouette.clip_radius(directions, sil)
    below_chin = shape.centre[1] + prior * directions[:, 1] < head[topology.CHIN, 1]
    thin_neck = surface.vertical_cylinder_radius(directions, shape.centre, shape.neck_axis_xz,
                                                 NECK_CLIP_FLOOR * shape.neck_radius)
    clipped = np.minimum(prior, np.where(below_chin, np.maximum(clip, thin_neck), clip))
    fade = surface.smoothstep(-contour_distance / HAIRLINE_SLOPE_RAD)
    centres, rotations, axes = surface.ear_ellipsoids(head, shape)
    ear_ends = np.concatenate([centres + rotations[:, :, 1] * axes[1], centres - rotations[:, :, 1] * axes[1]])
    grown = silhouette.hair_radius(directions, clipped, sil, fade, ear_ends_mm=ear_ends)
    # The hair's growth may overshoot (a thickness carried round the back of a turned head); the
    # photo's outline still bounds every direction across the view, as it bounds the skull.
    grown = np.minimum(grown, np.maximum(clip, clipped))
    return surface.smooth_on_sphere(grown, faces, HAIR_SMOOTHING_ITERATIONS, 0.5), sil, labels == segmentation.HAIR


MAX_HEAD_TILT_RAD = np.radians(25.0)
"""The bust stands up as the photo does (the head keeps its tilt on the shoulders), but no further
than this from the head's own up: a selfie held sideways is not a person lying down."""
TORSO_CUT_BELOW_CHIN = 0.62
"""Where the bust is cut flat below the chin / head height (crown to chin): the top of the chest,
about a third of a head below the shoulders (classical proportions: shoulders ~ 1/3 head below the
chin, nipples 1 head)."""
TORSO_GRID_PRINT_MM = 1.0
"""The torso's voxel size in the print, mm (marching cubes interpolates within the voxels)."""
TORSO_GRID_MM = (2.0, 6.0)
"""Life-size bounds on the torso's voxel size, mm."""
SOCLE_INSET = 1.08
"""A labelled bust's socle / the chest's breadth and depth at the cut: a little larger, so the cut chest
stands wholly on it (a chest overhanging its socle would need supports to print)."""


def body_frame(view: silhouette.AffineView | None, roll_rad: float = 0.0) -> np.ndarray:
    """``(3, 3)`` rows = the body frame's axes in head-frame coordinates: y up as in the photo, turned
    toward the photo's right by ``roll_rad`` (the camera's roll, ``realtime.stages.level``), within
    ``MAX_HEAD_TILT_RAD`` of the head's up; z toward the camera, x = y cross z."""
    if view is None:
        return np.eye(3)
    toward = -view.view_dir
    up = -view.matrix[1, :3]
    up = up - (up @ toward) * toward
    up /= np.linalg.norm(up)
    # The photo's right is up x toward (the head frame's x, the person's left, for a frontal face).
    up = np.cos(roll_rad) * up + np.sin(roll_rad) * np.cross(up, toward)
    head_up = np.array([0.0, 1.0, 0.0])
    angle = np.arccos(np.clip(up @ head_up, -1.0, 1.0))
    if angle > MAX_HEAD_TILT_RAD:
        axis = np.cross(head_up, up)
        if np.linalg.norm(axis) < 1e-9:  # up opposite the head's: turn about the view direction
            axis = toward - (toward @ head_up) * head_up
            axis = axis if np.linalg.norm(axis) > 1e-9 else np.array([0.0, 0.0, 1.0])
        axis /= np.linalg.norm(axis)
        # Rodrigues: the head's up turned toward the photo's by the largest allowed angle.
        t = MAX_HEAD_TILT_RAD
        up = head_up * np.cos(t) + np.cross(axis, head_up) * np.sin(t) + axis * (axis @ head_up) * (1 - np.cos(t))
        toward = toward - (toward @ up) * up
        toward /= np.linalg.norm(toward)
    x_axis = np.cross(up, toward)
    return np.stack([x_axis, up, toward])


def applied_roll_rad(view: silhouette.AffineView | None, roll_rad: float) -> float:
    """How far ``body_frame(view, roll_rad)``'s up is turned from ``body_frame(view)``'s, radians,
    positive toward the photo's right: ``roll_rad`` itself unless ``MAX_HEAD_TILT_RAD`` held it back
    (0 where turning changed nothing: a head leaning past it in the photo, held back either way)."""
    if view is None or roll_rad == 0.0:
        return 0.0
    level, turned = body_frame(view), body_frame(view, roll_rad)
    # Turning up toward the photo's right (up x toward) leaves up x turned along -toward.
    return float(np.arctan2(-np.cross(level[1], turned[1]) @ level[2], level[1] @ turned[1]))


def _ears(head, shape, to_print_rotation, image):
    """Both ears as solids in print mm (grey in the texture when there is one). Always both: where
    hair covers them the hair's volume buries them (20 of 37 faces of the party photos and the shared
    portraits: no point of the ears more than 1 mm out of the bust without them), and a photo's
    colours cannot tell an ear in shadow from hair (an ear-by-ear test by colour gave 31 of 41 busts
    one ear)."""
    centres, rotations, axes = surface.ear_ellipsoids(head, shape)
    ears = [solids.ellipsoid(to_print_rotation @ centre, axes, to_print_rotation @ rotation)
            for centre, rotation in zip(centres, rotations)]
    return ears if image is None else [_with_uv(ear, _grey_uv(image.shape[1])) for ear in ears]


def _bust_with_shoulders(head, shape, points, faces, uv, image, view, sil, options, roll_rad=0.0):
    """Head, neck and shoulders cut flat (on a socle when labelled), standing on the photo's up
    turned by ``roll_rad`` (``body_frame``): ``(body Manifold in print mm, head_to_print (3, 4), the
    body before the label was cut or None)``."""
    rotation = body_frame(view, roll_rad)
    to_print_rotation = _HEAD_TO_PRINT @ rotation
    head_b = head @ rotation.T
    points_b = points @ rotation.T
    chin_y = head_b[topology.CHIN, 1]
    top_y = points_b[:, 1].max()
    head_height = top_y - chin_y
    cut_y = chin_y - TORSO_CUT_BELOW_CHIN * head_height
    neck_b = rotation @ np.array([shape.neck_axis_xz[0], head[topology.CHIN, 1], shape.neck_axis_xz[1]])
    face_width = float(np.linalg.norm(head[topology.FACE_SIDE_RIGHT] - head[topology.FACE_SIDE_LEFT]))
    tops, highest_y = None, None
    if sil is not None:
        highest_y = chin_y + silhouette.BODY_ABOVE_CHIN * geometry.face_height(head)

        def tops(xs):
            return silhouette.person_tops(sil, rotation, float(neck_b[2]), xs, chin_y, cut_y, highest_y)

    shoulders = torso.build_torso(chin_y, cut_y, head_height, face_width, neck_b[[0, 2]], tops, highest_y)
    # The torso is smooth: voxels twice the printer's finest step at the print's scale suffice.
    scale_guess = options.height_mm / (top_y - cut_y)
    grid = float(np.clip(TORSO_GRID_PRINT_MM / scale_guess, *TORSO_GRID_MM))
    torso_vertices, torso_faces = torso.torso_mesh(shoulders, grid)
    grey = None if uv is None else np.tile(_grey_uv(image.shape[1]), (len(torso_vertices), 1))
    chest = solids.to_manifold(torso_vertices @ _HEAD_TO_PRINT.T, torso_faces, grey)
    head_solid = solids.to_manifold(points @ to_print_rotation.T, faces, uv)
    parts = [chest] + _ears(head, shape, to_print_rotation, None if uv is None else image)
    body = solids.manifold3d.Manifold.batch_boolean([head_solid] + parts, solids.manifold3d.OpType.Add)
    body = body.trim_by_plane((0.0, 0.0, 1.0), float(cut_y))
    bottom = cut_y
    plain = None
    if options.label:
        # A label needs a flat face to be engraved on: the bust stands on a socle, as busts do.
        total = (top_y - cut_y) / (1.0 - PLINTH_HEIGHT_FRACTION)
        socle_h = PLINTH_HEIGHT_FRACTION * total
        bottom = cut_y - socle_h
        width = 2.0 * SOCLE_INSET * shoulders.half_breadth
        depth = 2.0 * SOCLE_INSET * torso.CHEST_DEPTH_RATIO * shoulders.half_breadth
        centre_x = 0.5 * (shoulders.outline[:, 0].min() + shoulders.outline[:, 0].max())
        # The socle reaches a little into the torso (no coplanar faces) and below its own base.
        socle = solids.rounded_box(width, depth, socle_h * 1.2, PLINTH_CORNER * depth, bottom - 0.1 * socle_h)
        socle = socle.translate((float(centre_x), float(-shoulders.centre_z), 0.0))
        if uv is not None:
            socle = _with_uv(socle, _grey_uv(image.shape[1]))
        body = (body + socle).trim_by_plane((0.0, 0.0, 1.0), float(bottom))
    scale = options.height_mm / (top_y - bottom)
    body = body.translate((0.0, 0.0, -bottom)).scale((scale, scale, scale))
    if options.label:
        plain = body
        socle_top = (cut_y - bottom) * scale
        front_y = (-shoulders.centre_z - 0.5 * depth) * scale
        cutter = solids.label_cutter(options.label, LABEL_CAP_FRACTION * socle_top, LABEL_DEPTH_MM, 0.85 * width * scale)
        cutter = cutter.rotate((90.0, 0.0, 0.0)).translate((float(centre_x * scale), float(front_y), socle_top / 2))
        body = body - cutter
    head_to_print = np.column_stack([scale * to_print_rotation, np.array([0.0, 0.0, -bottom * scale])])
    return body, head_to_print, plain


SCAN_NEIGHBOURS = 3
"""Scan directions a bust direction's radius is interpolated from (inverse-distance weights)."""
SCAN_MIN_ELEVATION = -0.25
"""The scan gives the head from the eyes' level up (sin of the elevation from the head's centre),
blended in from this far below it (the ears' tops): below, ears, jaw and neck stay the single view's
and the prior's. Blending in above the eyes' level instead left the single view's head in the band
where the scan sees the sides best (on the rendered turning head the exported head's sides were
1.2 mm RMS worse than the scan's own hull, its back 2.3 mm)."""
SCAN_MIN_ELEVATION_BEHIND = -0.7
"""... and from this far below it behind the ears, down to the nape: no ear or jaw there, and the
turned frames outline the back of the head directly (on the rendered turning head the hull is
within 0-7 mm of the truth there down to -45 deg of elevation, the single view 12-23 mm inside;
further down the outline is the neck's and shoulders'). On the rendered turns (+-45/60/75 deg)
-0.7 instead of -0.6 took the exported lower back from 7.6/6.1/6.1 to 4.8/3.3/3.3 mm RMS and the
neck's back below it from 13.4 to 12.9; -0.8 fattened the neck's back (14.6, 12.5 mm out)."""
BEHIND_EARS = (-0.2, -0.5)
"""Head-frame z of a direction (from the head's centre) where it starts to count as behind the ears,
and where fully."""
SCAN_BLEND_ELEVATION = 0.25
"""... over this much sin of elevation."""
SCAN_TIGHT_SLANT = 0.25
"""The bust takes the hull only where some frame saw it within asin(0.25) = 14.5 deg of edge on
(``ScanResult.slant``), where a bound is no more than 3% outside a round head; directions bounded
only at a slant (up to the scan's ``EDGE_ON``, 7% out: 10 mm at the crown) are bridged from those
around them like the gaps. Without this, the middle of the back, which a turn of +-60 deg sees
only at a slant, stood up as a ridge to a point at the crown: on the rendered turning head the
back above the eyes was 3.9-5.0 mm RMS from the truth with it, 1.5-3.1 without (three turn sizes
and the rendered pose); the whole back, down to the nape, is unchanged within 0.5 mm either way."""
SCAN_SEEN_SHARE = 0.5
"""A bust direction counts as seen by the scan when this share of its neighbours' weight is seen."""
SCAN_BLEND_BAND_RAD = np.radians(4.0)
"""Where the scan gives the head (``_scan_share``: from the eyes' level up), the face is blended into
it over this angle inside the face's outline instead of ``surface.BLEND_BAND_RAD``'s 14 deg. The
wide band is for the skull prior, a template that seldom meets the face's edge; the hull is measured
but only bounds the head from outside, and no outline reaches into the hollow of the temples beside
the face, where the face mesh is the skin: blended over 14 deg the face's edge was lifted toward the
hull. On the rendered turning head (+-45/60/75 deg) the exported sides came 2.96/3.11/3.03 ->
2.77/2.88/2.81 mm RMS as the cameras place the truth, 3.86/4.02/3.86 -> 3.74/3.87/3.71 by the faces'
fit; below the eyes (jaw, cheeks, where the scan is not used) the band stays 14 deg, so the face
joins the single view's jaw without a seam."""
SCAN_FACE_CONE = 0.5
"""Directions this near the face's forward axis (cos of the angle, head frame) are the face's and the
single view's: the scan's gaps are not filled there (``realtime.stages.scan.FACE_CONE``)."""


def _scan_in_head(scan, rotation, origin):
    """A ``ScanResult`` turned into the head frame (``rotation (3, 3)``, ``origin (3,)`` its
    frame's): ``(centre (3,), directions (N, 3), radius (N,), seen (N,))``, or None; seen only where
    some frame saw the direction within ``SCAN_TIGHT_SLANT`` of edge on."""
    if scan is None:
        return None
    directions = np.asarray(scan.directions, np.float64) @ rotation.T
    centre = (np.asarray(scan.centre_mm, np.float64) - origin) @ rotation.T
    seen = np.asarray(scan.seen, bool)
    if scan.slant is not None:
        seen = seen & (np.asarray(scan.slant) < SCAN_TIGHT_SLANT)
    return centre, directions, np.asarray(scan.radius_mm, np.float64), seen


def _hull_along(tree, radius, seen, directions):
    """The scanned hull's radius ``(N,)`` along unit ``directions (N, 3)`` (inverse-distance weights
    over the nearest seen scan directions; inf where none is seen) and the seen share of the weight
    ``(N,)`` in [0, 1]."""
    distance, index = tree.query(directions, k=SCAN_NEIGHBOURS)
    weights = 1.0 / np.maximum(distance, 1e-6)
    usable = seen[index] & np.isfinite(radius[index])
    w = np.where(usable, weights, 0.0)
    total = w.sum(axis=1)
    hull = np.where(total > 0, (w * np.where(usable, radius[index], 0.0)).sum(axis=1) / np.maximum(total, 1e-12), np.inf)
    return hull, total / weights.sum(axis=1)


def _scan_share(directions: np.ndarray) -> np.ndarray:
    """``(N,)`` in [0, 1]: how much of the head along unit head-frame ``directions (N, 3)`` (from the
    head's centre) the scan gives (``_with_scan``): all of it from the eyes' level up, blended in
    from ``SCAN_MIN_ELEVATION`` (behind the ears from ``SCAN_MIN_ELEVATION_BEHIND``), none below."""
    behind = surface.smoothstep((directions[:, 2] - BEHIND_EARS[0]) / (BEHIND_EARS[1] - BEHIND_EARS[0]))
    lowest = SCAN_MIN_ELEVATION + behind * (SCAN_MIN_ELEVATION_BEHIND - SCAN_MIN_ELEVATION)
    return surface.smoothstep((directions[:, 1] - lowest) / SCAN_BLEND_ELEVATION)


def _with_scan(single, directions, faces, shape, scan):
    """``(N,)`` mm: the single view's head radius replaced by the scanned hull over the head (from
    the eyes' level up, outside the face), blended into the single view below.

    Where the scan saw the head, its hull; where it saw only the mirror image (one side turned to),
    the hull mirrored across the midline; the gaps it left (the back's middle, which no turn short
    of a profile brings edge on) are bridged smoothly from the hull around them
    (``surface.fill_on_sphere``): the single view there is not the same head (on the rendered head
    18 mm inside at the back), and dropping to it cut a groove down the back of the head."""
    from scipy.spatial import cKDTree

    centre, scan_dirs, radius, seen = scan
    tree = cKDTree(scan_dirs)
    mirror = np.array([-1.0, 1.0, 1.0])  # the head frame's midline is its x = 0 plane
    hull, share = _hull_along(tree, radius, seen, directions)
    mirrored, mirror_share = _hull_along(tree, radius, seen, directions * mirror)
    # From the scan's centre to the field's: to first order the radius shifts by the offset's
    # component along the direction.
    hull = hull + directions @ (centre - shape.centre)
    mirrored = mirrored + directions @ (centre * mirror - shape.centre)
    mirror_weight = (1.0 - share) * mirror_share
    known = share + mirror_weight
    scanned = np.where(known > 0, (share * np.nan_to_num(hull, posinf=0.0)
                                   + mirror_weight * np.nan_to_num(mirrored, posinf=0.0)) / np.maximum(known, 1e-12),
                       single)
    elevation = _scan_share(directions)
    head = (elevation > 0) & (directions[:, 2] < SCAN_FACE_CONE)
    gaps = head & (known < SCAN_SEEN_SHARE)
    # The gaps take the hull's offset from the single view, not the hull itself: bridged straight
    # across, a radius makes a flat ridge down the back; the offset keeps the single view's curve.
    bridged = single + surface.fill_on_sphere(np.where(head, scanned - single, 0.0), faces, gaps)
    scanned = np.where(head, known * scanned + (1.0 - known) * bridged, single)
    merged = elevation * scanned + (1.0 - elevation) * single
    return surface.smooth_on_sphere(merged, faces, HAIR_SMOOTHING_ITERATIONS // 2, 0.5)


def _uv(field_, image):
    """Per-vertex texture coordinates ``(N, 2)``: the photo on the face, a grey patch elsewhere."""
    if image is None:
        return None
    h, w = image.shape[:2]
    uv = np.column_stack([field_.pixels[:, 0] / (w + _GREY_STRIP_PX), 1.0 - field_.pixels[:, 1] / h])
    outside = ~np.isfinite(uv).all(axis=1) | (field_.face_weight <= 0)
    uv[outside] = _grey_uv(w)
    return uv


_GREY_STRIP_PX = 16
"""Width of the plain skin-coloured strip appended to the texture for the skull, neck and base."""


def _grey_uv(width):
    return np.array([(width + _GREY_STRIP_PX / 2) / (width + _GREY_STRIP_PX), 0.5])


DEFAULT_SKIN_BGR = (160, 170, 200)
"""The texture strip's colour when no vertex of the face lies in the image: a mid skin tone."""


def _texture_image(image, vertices_px):
    import cv2

    px = np.asarray(vertices_px)[:, :2]
    h, w = image.shape[:2]
    inside = (px[:, 0] >= 0) & (px[:, 0] < w) & (px[:, 1] >= 0) & (px[:, 1] < h)
    skin = np.median(image[px[inside, 1].astype(int), px[inside, 0].astype(int)], axis=0) if inside.any() else DEFAULT_SKIN_BGR
    strip = np.empty((h, _GREY_STRIP_PX, 3), np.uint8)
    strip[:] = np.asarray(skin, np.uint8)
    return cv2.cvtColor(np.hstack([image, strip]), cv2.COLOR_BGR2RGB)


def _bust_or_mask(head, options, image, vertices_px, rotation, timings, person=None, view=None, scan=None,
                  roll_rad=0.0):
    clock = time.perf_counter()
    shape, field_, faces, points, sil = _head_field(head, image, vertices_px, rotation, options.detail, person, view,
                                                    scan, sphere_level(head, options))
    uv = _uv(field_, image)
    timings["surface"] = _lap(clock)
    clock = time.perf_counter()
    centre = shape.centre
    half_breadth, _, _, half_length = shape.semi_axes
    to_print = lambda p: np.asarray(p) @ _HEAD_TO_PRINT.T  # noqa: E731
    chin_y = head[topology.CHIN, 1]
    top_y = points[:, 1].max()
    if options.style == "bust":
        body, head_to_print, plain = _bust_with_shoulders(head, shape, points, faces, uv, image, view, sil, options,
                                                          roll_rad)
    elif options.style == "head":
        head_solid = solids.to_manifold(to_print(points), faces, uv)
        neck_bottom = chin_y - NECK_BELOW_CHIN * half_breadth
        # total = top - plinth_bottom, plinth = fraction * total, plinth top = neck_bottom.
        total = (top_y - neck_bottom) / (1.0 - PLINTH_HEIGHT_FRACTION)
        plinth_h = PLINTH_HEIGHT_FRACTION * total
        plinth_bottom = neck_bottom - plinth_h
        if shape.neck_bottom_y > plinth_bottom:
            raise Selfie3DError("the neck ends above the plinth's base: the head surface is too short")
        neck_centre = to_print(np.array([shape.neck_axis_xz[0], 0.0, shape.neck_axis_xz[1]]))[:2]
        plinth_depth = PLINTH_DEPTH * half_breadth
        below = 0.1 * plinth_h  # the plinth reaches below the cut too: no coplanar faces at the base
        plinth = solids.rounded_box(
            PLINTH_WIDTH * half_breadth, plinth_depth, plinth_h + below, PLINTH_CORNER * plinth_depth, plinth_bottom - below
        ).translate((0.0, float(neck_centre[1]), 0.0))
        parts = [plinth if uv is None else _with_uv(plinth, _grey_uv(image.shape[1]))]
        parts += _ears(head, shape, _HEAD_TO_PRINT, None if uv is None else image)
        body = solids.manifold3d.Manifold.batch_boolean([head_solid] + parts, solids.manifold3d.OpType.Add)
        # The neck runs on below the plinth's base inside the head surface: cut it off flat there.
        body = body.trim_by_plane((0.0, 0.0, 1.0), float(plinth_bottom))
        scale = options.height_mm / total
        body = body.translate((0.0, 0.0, -plinth_bottom)).scale((scale, scale, scale))
        head_to_print = np.column_stack([scale * _HEAD_TO_PRINT, [0.0, 0.0, -plinth_bottom * scale]])
        plain = None
        if options.label:
            plain = body
            plinth_top = plinth_h * scale
            front_y = (neck_centre[1] - plinth_depth / 2) * scale
            cutter = solids.label_cutter(
                options.label, LABEL_CAP_FRACTION * plinth_top, LABEL_DEPTH_MM, 0.85 * PLINTH_WIDTH * half_breadth * scale
            )
            # Text in xy, cutting down along -z: turn it onto the front face (normal -Y).
            cutter = cutter.rotate((90.0, 0.0, 0.0)).translate((0.0, float(front_y), plinth_top / 2))
            body = body - cutter
    else:  # mask
        scale_guess = options.height_mm / ((top_y - chin_y) * 0.8)
        wall_life = options.mask_wall_mm / scale_guess
        # The inner wall keeps its distance under the image detail's dips and follows the steeper
        # of the smooth and the detailed surface (hair locks tilt the surface more than wrinkles).
        smooth = surface.head_surface(field_, shape)
        cos = np.ones(len(points))
        for surface_points in (points, smooth):
            normals = trimesh.Trimesh(surface_points, faces, process=False).vertex_normals
            cos = np.minimum(cos, np.clip(np.einsum("ij,ij->i", normals, field_.directions), 0.5, 1.0))
        outer_r = np.minimum(np.linalg.norm(points - centre, axis=1), field_.radius)
        inner = centre + field_.directions * (outer_r - wall_life / cos)[:, None]
        # The inner surface lies inside the outer along every ray from the centre, and both are
        # star-shaped over the same sphere: the two closed surfaces, the inner turned inside out,
        # are the shell itself, with no boolean to compute (one fewer pass over 330k triangles).
        shell = solids.to_manifold(to_print(np.vstack([points, inner])),
                                   np.vstack([faces, faces[:, ::-1] + len(points)]),
                                   None if uv is None else np.vstack([uv, uv]))
        if sil is None:
            oval_dirs = _shrunk_oval(head, shape)
            cone = solids.cone_cutter(to_print(centre), to_print(oval_dirs), 4.0 * half_length)
            body = shell ^ cone
        else:
            # With the photo's outline the mask is the front of the whole head, hair included: the
            # shell in front of the plane across the head's centre (print -y is forward).
            body = shell.trim_by_plane((0.0, -1.0, 0.0), float(centre[2] + MASK_PLANE_FORWARD * half_length))
        # The network's own lowest vertex, not the blended field's: in the blend band under the
        # chin the field follows the head prior's flat underside, and a cut measured from there
        # would leave a thin, nearly horizontal inner wall just above the base.
        chin_low = to_print(head)[:, 2].min()
        face_height = top_y - chin_y
        cut = chin_low + MASK_BASE_CUT * face_height
        body = body.trim_by_plane((0.0, 0.0, 1.0), float(cut))
        lo, hi = body.bounding_box()[2], body.bounding_box()[5]
        scale = options.height_mm / (hi - lo)
        body = body.translate((0.0, 0.0, -lo)).scale((scale, scale, scale))
        head_to_print = np.column_stack([scale * _HEAD_TO_PRINT, [0.0, 0.0, -lo * scale]])
        body = _largest_shell(body)
        plain = None
    timings["solid"] = _lap(clock)
    clock = time.perf_counter()
    body = body.simplify(SIMPLIFY_TOLERANCE_MM)
    mesh, textured = _meshes(body, image, vertices_px)
    timings["mesh"] = _lap(clock)
    return mesh, textured, plain, head_to_print


def _relief(head, options, image, vertices_px, rotation, timings, person=None, view=None):
    clock = time.perf_counter()
    from realtime.printing import raster

    oval = head[list(topology.FACE_OVAL), :2]
    lo, hi = oval.min(axis=0), oval.max(axis=0)
    face_h = hi[1] - lo[1]
    margin = RELIEF_MARGIN * face_h
    label_band = RELIEF_LABEL_BAND * face_h if options.label else 0.0
    with_hair = person is not None and vertices_px is not None
    if with_hair:
        # The whole head as the photo shows it, hair included, seen from the front; with the
        # photo's detail on the face and the hair (a relief is seen as the photo was).
        shape, _, sphere_faces, points, _ = _head_field(head, image, vertices_px, rotation, options.detail, person,
                                                        view)
        front = points[:, 2] > shape.centre[2]
        chin_y = head[topology.CHIN, 1]
        above = points[:, 1] > chin_y - margin
        outline = points[front & above, :2]
        lo = np.minimum(lo, outline.min(axis=0))
        hi = np.maximum(hi, outline.max(axis=0))
        # Margins and the label's band in proportion to what the plaque shows (the head and hair):
        # the label's letters stay ~ 0.059 of the plaque's height, as without the hair.
        shown_h = hi[1] - lo[1]
        margin = RELIEF_MARGIN * shown_h
        label_band = RELIEF_LABEL_BAND * shown_h if options.label else 0.0
    x0, x1 = lo[0] - margin, hi[0] + margin
    y0, y1 = lo[1] - margin - label_band, hi[1] + margin
    scale = options.height_mm / (y1 - y0)
    step = RELIEF_GRID_MM / scale
    xs = np.arange(x0, x1 + step, step)
    ys = np.arange(y0, y1 + step, step)
    gx, gy = np.meshgrid(xs, ys)
    query = np.column_stack([gx.ravel(), gy.ravel()])
    if with_hair:
        # Front-most surface of the head; it rises from the plane through the head's centre (the
        # outline, where the surface turns away), and slopes onto the plaque at the outline.
        z = raster.front_heights(points, sphere_faces, (x0, y0), step, gx.shape).ravel()
        covered = np.isfinite(z).reshape(gx.shape).astype(np.uint8)
        inside_mm = raster.distance_inside_region(covered, step).ravel()
        weight = surface.smoothstep(inside_mm / RELIEF_BLEND_MM)
        # The neck runs down the plaque: it fades out above the plaque's lower margin (and the
        # label's band), which stays flat for the engraving.
        band_top = y0 + margin + label_band
        weight = weight * surface.smoothstep((query[:, 1] - band_top) / RELIEF_BLEND_MM)
        z0 = shape.centre[2]
    else:
        from scipy.interpolate import LinearNDInterpolator

        dense, _, _ = surface.smooth_face_mesh(head)
        # Front-most surface: a vertex hidden behind another in the frontal view would fold the field.
        z = LinearNDInterpolator(dense[:, :2], dense[:, 2])(query)
        weight = surface.smoothstep(surface.inside_distance(query, oval) / RELIEF_BLEND_MM)
        z0 = np.median(head[list(topology.FACE_OVAL), 2])
    rise = np.clip(np.nan_to_num(z - z0, nan=0.0), 0.0, None) * weight
    depth_life = RELIEF_DEPTH_FRACTION * (y1 - y0)
    if rise.max() > 0:
        rise = rise * (depth_life / rise.max())
    heights = (RELIEF_BASE_MM / scale + rise).reshape(gy.shape)
    timings["surface"] = _lap(clock)
    clock = time.perf_counter()
    vertices, faces = solids.heightfield_solid(heights * scale, RELIEF_GRID_MM, (x0 * scale, y0 * scale))
    body = solids.to_manifold(vertices, faces)
    width, height = (x1 - x0) * scale, (y1 - y0) * scale
    outline = solids.rounded_box(width - 1e-3, height - 1e-3, heights.max() * scale + 2.0, 0.08 * min(width, height), -1.0)
    body = body ^ outline.translate(((x0 + x1) / 2 * scale, (y0 + y1) / 2 * scale, 0.0))
    plain = None
    if options.label:
        plain = body
        cap = 0.5 * label_band * scale
        cutter = solids.label_cutter(options.label, cap, LABEL_DEPTH_MM, 0.8 * width)
        centre_y = (y0 + margin * 0.5 + label_band / 2) * scale
        body = body - cutter.translate(((x0 + x1) / 2 * scale, centre_y, RELIEF_BASE_MM))
    lo_z = body.bounding_box()[2]
    body = body.translate((0.0, 0.0, -lo_z))
    timings["solid"] = _lap(clock)
    clock = time.perf_counter()
    body = body.simplify(SIMPLIFY_TOLERANCE_MM)
    mesh, _ = _meshes(body, None, None)
    timings["mesh"] = _lap(clock)
    # Plaque x, y are the head's x, y scaled; the relief's height is not a depth the photo saw.
    head_to_print = np.array([[scale, 0.0, 0.0, 0.0], [0.0, scale, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    return mesh, None, plain, head_to_print


def _shrunk_oval(head, shape):
    """Unit directions ``(36, 3)`` of the face contour, pulled toward the face centre."""
    dirs = surface.angles(head[list(topology.FACE_OVAL)] - shape.centre)
    centre = dirs.mean(axis=0)
    offset = dirs - centre
    length = np.linalg.norm(offset, axis=1, keepdims=True)
    pulled = centre + offset * (1.0 - MASK_OVAL_SHRINK_RAD / length)
    az, el = pulled[:, 0], pulled[:, 1]
    return np.column_stack([np.cos(el) * np.sin(az), np.sin(el), np.cos(el) * np.cos(az)])


def _with_uv(solid, uv):
    vertices, faces, _ = solids.from_manifold(solid)
    return solids.to_manifold(vertices, faces, np.tile(uv, (len(vertices), 1)))


def _largest_shell(solid):
    shells = solid.decompose()
    return max(shells, key=lambda s: s.volume()) if len(shells) > 1 else solid


def _meshes(body, image, vertices_px):
    vertices, faces, props = solids.from_manifold(body)
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    textured = None
    if image is not None and vertices_px is not None and props.shape[1] >= 2:
        from PIL import Image

        raw = body.to_mesh()
        all_props = np.asarray(raw.vert_properties, dtype=np.float64)
        visual = trimesh.visual.TextureVisuals(
            uv=all_props[:, 3:5], image=Image.fromarray(_texture_image(image, vertices_px))
        )
        textured = trimesh.Trimesh(all_props[:, :3], np.asarray(raw.tri_verts, dtype=np.int64), visual=visual, process=False)
    return mesh, textured


def _lap(start: float) -> float:
    return round(1000.0 * (time.perf_counter() - start), 1)
