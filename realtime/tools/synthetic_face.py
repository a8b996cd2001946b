"""Synthetic face renders: a real, textured, metric head at a known pose through a known camera.

Ground truth for the fusion acceptance tests (issue 3) that need images, not projected points:
the renders go through the whole pipeline (detection, tracking, the face-mesh and iris
networks, fusion), and what fusion recovers is compared with the pose, distance and PD the
render was made with. The head is built once from a real photo (``head_from_photo``): the photo
mode's mesh in millimetres (``PhotoFace.vertices_mm``, scaled by the photo's own iris), extended
by ``realtime.accessories.head_proxy`` into a closed head (eye and mouth openings closed, skull, ears), put
into fusion's head frame (``realtime.stages.fusion.head_frame``: x from the person's right eye to
their left, y up, z out of the face, origin the mean face vertex), given a jaw where the proxy
is an egg and a neck that bends between the head and the shoulders, and textured by projecting
every vertex straight back onto the photo (orthographically, the way the photo's mesh was
read off it), so the face carries the photo's skin, eyes and irises and the skull its hair;
what the photo shows beside and below the face (backdrop, collar) is replaced by the face's
skin continued smoothly.
``SyntheticFaceRenderer(ctx).render(rotation, translation_mm, intrinsics)`` draws it at
``camera = rotation @ canonical + translation`` through the pinhole ``intrinsics`` (the
``relit_head`` shader) into an ``(H, W, 3) uint8`` BGR image over a plain colour or a
background image, relit for the pose: the shading the frontal photo baked into the texture is
divided out and a light fixed to the camera shades the head as it faces (without that, a
turned nose keeps its frontal shadows, and the face-mesh network reads 0.76 of the true pitch
instead of 0.83). Deterministic: the same arguments give the same pixels.

Scale of the truth: the photo's mm per pixel is 11.7 mm over the photo's iris diameter in
pixels, so the irises painted on the head are 11.7 mm across in the head's millimetres
(``SyntheticHead.iris_diameter_mm``), the same iris size fusion assumes; the network measuring
the rendered iris and the mesh the render was made from therefore agree on millimetres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from realtime import topology
from realtime.camera import CameraIntrinsics, project
from realtime.shapes import check_shape

N_FACE_VERTICES = topology.N_VERTICES
# A frontal, upright face: canonical (x to the person's left, y up, z out of the face) to
# OpenCV camera axes (x right, y down, z away from the camera).
FRONTAL = np.diag([1.0, -1.0, -1.0])
CHIN_VERTEX, FOREHEAD_VERTEX, NOSE_BASE_VERTEX = topology.CHIN, topology.FOREHEAD_TOP, topology.NOSE_BOTTOM


# --------------------------------------------------------------------------------------------
# Pure functions


def head_rotation(yaw_deg: float, pitch_deg: float = 0.0, roll_deg: float = 0.0) -> np.ndarray:
    """Head pose ``(3, 3) float64``, canonical -> camera: ``Rz(roll) Ry(yaw) Rx(pitch) FRONTAL``.

    Angles in degrees about the camera's axes: yaw about y (positive turns the nose towards
    image left), pitch about x (positive tips the nose down), roll about z (the optical axis,
    positive turns the face clockwise in the image).
    """
    y, p, r = (math.radians(v) for v in (yaw_deg, pitch_deg, roll_deg))
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx @ FRONTAL


def yaw_deg(rotation: np.ndarray) -> float:
    """Yaw of a head pose ``(3, 3)`` (inverse of ``head_rotation`` for pitch = roll = 0), degrees."""
    frontal = np.asarray(rotation, dtype=np.float64) @ FRONTAL
    return math.degrees(math.atan2(frontal[0, 2], frontal[2, 2]))


def pose_matrix(rotation: np.ndarray, translation_mm: np.ndarray) -> np.ndarray:
    """``(4, 4) float64`` homogeneous canonical -> camera transform (OpenCV axes, mm)."""
    m = np.eye(4)
    m[:3, :3] = check_shape("rotation", rotation, (3, 3), dtype=np.float64)
    m[:3, 3] = check_shape("translation_mm", translation_mm, (3,), dtype=np.float64)
    return m


def project_head_points(points_mm: np.ndarray, rotation: np.ndarray, translation_mm: np.ndarray,
                        intrinsics: CameraIntrinsics) -> np.ndarray:
    """Where canonical points land in the render: ``(n, 3)`` canonical mm -> ``(n, 2) float64`` px.

    u = fx * X / Z + cx with ``X = rotation @ p + translation`` (the render's own pinhole).
    """
    points = check_shape("points_mm", points_mm, (None, 3), dtype=np.float64)
    camera = points @ np.asarray(rotation, dtype=np.float64).T + np.asarray(translation_mm, dtype=np.float64)
    return project(camera, intrinsics)


def photo_texture_matrix(axes: np.ndarray, centre_mm: np.ndarray, mm_per_px: float, mean_px: np.ndarray,
                         image_size: tuple[int, int]) -> np.ndarray:
    """``(4, 4) float64`` canonical mm -> the photo's texture clip coordinates (``mesh.glsl`` m_tex).

    axes ``(3, 3)`` (columns: canonical axes in photo camera axes) and centre_mm ``(3,)``: the
    head frame of the photo's mesh, ``canonical = (photo_mm - centre) @ axes``. mm_per_px: the
    photo's scale; mean_px ``(3,)``: the mean photo vertex, pixels; image_size: (width, height).
    The shader samples ``uv = (ndc.x / 2 + 1/2, 1/2 - ndc.y / 2)``, so with
    ``px = (axes @ p + centre) / mm_per_px + mean_px``: ndc.x = 2 px_x / W - 1, ndc.y = 1 - 2 px_y / H.
    """
    width, height = image_size
    to_photo_px = np.eye(4)
    to_photo_px[:3, :3] = np.asarray(axes) / mm_per_px
    to_photo_px[:3, 3] = np.asarray(centre_mm) / mm_per_px + np.asarray(mean_px)
    to_ndc = np.array([[2.0 / width, 0, 0, -1.0], [0, -2.0 / height, 0, 1.0], [0, 0, 0, 0], [0, 0, 0, 1.0]])
    return to_ndc @ to_photo_px


# The photo's face oval, as the mesh draws it, runs up to a pixel or two outside the skin at the
# jaw, where the background shows; those texels are kept out of the face, pixels.
FACE_EDGE_INSET_PX = 2
# The photo's background (an evenly lit studio backdrop) is pale and grey: HSV saturation and
# value thresholds, 0-255, that tell it from hair (saturated or dark) next to the head.
BACKDROP_MAX_SATURATION = 45
BACKDROP_MIN_VALUE = 150
# Push-pull fill: a pyramid cell whose known fraction is at least 1 / this keeps its own mean
# colour, emptier cells blend towards the coarser level (a sharp edge, no blocky seams).
FILL_FULL_SHARE_INVERSE = 4.0


def fill_from(image_bgr: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Fill the unknown pixels of an image smoothly from the known ones (push-pull).

    image_bgr: ``(h, w, 3) uint8``; known: ``(h, w) bool``. Each unknown pixel gets the colour of
    the nearest known ones, blurred over a scale that grows with the distance to them, the way a
    surface's own colour continues past where the photo saw it. Returns ``(h, w, 3) uint8``.
    """
    import cv2

    weight = known.astype(np.float32)
    colour = image_bgr.astype(np.float32) * weight[..., None]
    pyramid = [(colour, weight)]
    while max(pyramid[-1][1].shape) > 1:
        c, w = pyramid[-1]
        size = (max(1, c.shape[1] // 2), max(1, c.shape[0] // 2))
        pyramid.append((cv2.resize(c, size, interpolation=cv2.INTER_AREA),
                        cv2.resize(w, size, interpolation=cv2.INTER_AREA)))
    filled = None
    for c, w in reversed(pyramid):
        mean = c / np.maximum(w, 1e-6)[..., None]
        if filled is not None:
            coarse = cv2.resize(filled, (c.shape[1], c.shape[0]), interpolation=cv2.INTER_LINEAR)
            # Where a level saw enough known pixels its own mean is used, elsewhere the coarser fill.
            share = np.clip(w * FILL_FULL_SHARE_INVERSE, 0.0, 1.0)[..., None]
            mean = mean * share + coarse * (1.0 - share)
        filled = mean
    out = np.where(known[..., None], image_bgr.astype(np.float32), filled)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def head_texture(image_bgr: np.ndarray, vertices_px: np.ndarray) -> np.ndarray:
    """The photo as the head's texture: ``(h, w, 3) uint8`` BGR.

    image_bgr: ``(h, w, 3) uint8`` the photo. vertices_px: ``(468, 3)`` its face mesh, pixels.
    Kept from the photo: the face inside its oval and the hair around it (whatever next to the
    head, down to the nose, is not the pale backdrop). Everything else the head's sides, ears, jaw
    and neck project onto (backdrop, neck, collar, suit) continues the face's skin
    (``fill_from``), so the skin runs smoothly past the face's edge instead of stopping at a
    painted step.
    """
    import cv2

    image = check_shape("image_bgr", image_bgr, (None, None, 3))
    v = check_shape("vertices_px", vertices_px, (N_FACE_VERTICES, 3), dtype=np.float64)
    oval = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(oval, [np.round(v[list(topology.FACE_OVAL), :2]).astype(np.int32)], 1)
    inset = 2 * FACE_EDGE_INSET_PX + 1
    face = cv2.erode(oval, np.ones((inset, inset), np.uint8)) > 0
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    not_backdrop = (hsv[..., 1] > BACKDROP_MAX_SATURATION) | (hsv[..., 2] < BACKDROP_MIN_VALUE)
    # Hair reaches down beside the face no further than the nose; lower down, next to the jaw,
    # the photo shows the collar.
    above_nose = np.arange(image.shape[0])[:, None] < v[NOSE_BASE_VERTEX, 1]
    candidates = (not_backdrop & above_nose & (oval == 0)).astype(np.uint8)
    # Hair: the non-backdrop pixels connected to the face's edge (not the flag, the rocket).
    _, labels = cv2.connectedComponents(candidates | cv2.dilate(oval, np.ones((3, 3), np.uint8)), connectivity=8)
    hair = (candidates > 0) & (labels == labels[int(v[FOREHEAD_VERTEX, 1]), int(v[FOREHEAD_VERTEX, 0])])
    skin = fill_from(image, face)
    return np.where(hair[..., None], image, skin)


# The head proxy is an ellipsoid behind the face oval: right for occlusion, but below the
# face it is an egg, where a camera sees a jaw line, the underside of the jaw and a neck. The
# renders reshape it (``shape_jaw``) and add a neck (``neck_mesh``, ``bend_neck``); adult
# anthropometry, canonical frame (y up, z out), mm.
# Underside of the jaw: a plane through the chin rising towards the back of the head, this
# many mm up per mm back (the submental line climbs ~15 deg from the chin to the throat).
JAW_UNDERSIDE_RISE = 0.27
# Below the ears the skull narrows to the jaw: half-width of the head shell at the ear lobes'
# height (y, mm above the mean face vertex) and at the jaw angles' height, linearly between.
JAW_TAPER_TOP = (-15.0, 76.0)
JAW_TAPER_BOTTOM = (-55.0, 54.0)
# Neck: an elliptic cylinder (adult neck ~105 mm wide, ~115 mm deep), its front (the throat)
# ~25 mm behind the chin, from inside the head down past the bottom of any frame at 0.3 m+.
NECK_HALF_WIDTH_MM = 52.0
NECK_HALF_DEPTH_MM = 58.0
NECK_CENTRE_Z_MM = -85.0
NECK_TOP_Y_MM = -30.0
NECK_BOTTOM_Y_MM = -450.0
NECK_SEGMENTS = 40
NECK_RINGS = 16
# The head turns on the top of the spine (the atlas: behind the jaw, at the ear lobes' height),
# canonical mm; the neck turns with the head above NECK_HEAD_Y_MM and with the shoulders below
# NECK_SHOULDERS_Y_MM (the base of the neck, ~150 mm below the chin).
NECK_PIVOT_MM = (0.0, -40.0, -85.0)
NECK_HEAD_Y_MM = -60.0
NECK_SHOULDERS_Y_MM = -230.0


def shape_jaw(vertices_mm: np.ndarray, shell: slice) -> np.ndarray:
    """Reshape a head proxy's skull below the face into a jaw.

    vertices_mm: ``(n, 3) float64`` canonical mm; shell: the skull shell's vertices (the face and
    its truths are never moved). Shell points below the jaw's underside are lifted onto it, and
    below the ears the shell is drawn in to the jaw's width. Returns ``(n, 3) float64``.
    """
    v = check_shape("vertices_mm", vertices_mm, (None, 3), dtype=np.float64).copy()
    part = v[shell]
    chin = v[CHIN_VERTEX]
    floor = chin[1] + JAW_UNDERSIDE_RISE * (chin[2] - part[:, 2])
    part[:, 1] = np.maximum(part[:, 1], floor)
    (y_top, x_top), (y_bottom, x_bottom) = JAW_TAPER_TOP, JAW_TAPER_BOTTOM
    t = np.clip((part[:, 1] - y_bottom) / (y_top - y_bottom), 0.0, 1.0)
    half_width = x_bottom + (x_top - x_bottom) * t
    part[:, 0] = np.clip(part[:, 0], -half_width, half_width)
    v[shell] = part
    return v


def neck_mesh() -> tuple[np.ndarray, np.ndarray]:
    """The neck, an open elliptic cylinder in the head's canonical frame (at rest, upright).

    Returns vertices ``(NECK_RINGS * NECK_SEGMENTS, 3) float64`` mm, ring by ring from the top,
    and triangles ``(t, 3) int32`` counter-clockwise seen from outside.
    """
    angle = np.linspace(0.0, 2.0 * math.pi, NECK_SEGMENTS, endpoint=False)
    heights = np.linspace(NECK_TOP_Y_MM, NECK_BOTTOM_Y_MM, NECK_RINGS)
    ring = np.stack([NECK_HALF_WIDTH_MM * np.cos(angle), np.zeros_like(angle),
                     NECK_CENTRE_Z_MM + NECK_HALF_DEPTH_MM * np.sin(angle)], -1)
    vertices = np.concatenate([ring + [0.0, y, 0.0] for y in heights])
    a = np.arange(NECK_SEGMENTS)
    b = (a + 1) % NECK_SEGMENTS
    # The angle grows from +x towards +z (the throat) and rings go down (-y): (a, b, b') turns
    # counter-clockwise seen from outside.
    triangles = []
    for k in range(NECK_RINGS - 1):
        top, bottom = k * NECK_SEGMENTS, (k + 1) * NECK_SEGMENTS
        triangles += [np.stack([a + top, b + top, b + bottom], -1), np.stack([a + top, b + bottom, a + bottom], -1)]
    return vertices, np.vstack(triangles).astype(np.int32)


def bend_neck(neck_mm: np.ndarray, rotation: np.ndarray, translation_mm: np.ndarray) -> np.ndarray:
    """Where the neck lies in the camera when the head is at ``rotation``, ``translation_mm``.

    neck_mm: ``(k, 3)`` canonical mm (``neck_mesh``). The neck's top turns with the head; its
    base stays with the shoulders, upright and facing the camera (``FRONTAL``), joined to the
    head at the top of the spine (``NECK_PIVOT_MM``); in between the two poses are blended.
    Returns ``(k, 3) float64`` camera mm (OpenCV axes).
    """
    neck = check_shape("neck_mm", neck_mm, (None, 3), dtype=np.float64)
    rotation = np.asarray(rotation, dtype=np.float64)
    translation = np.asarray(translation_mm, dtype=np.float64)
    pivot = np.asarray(NECK_PIVOT_MM)
    with_head = neck @ rotation.T + translation
    shoulders_translation = rotation @ pivot + translation - FRONTAL @ pivot
    with_shoulders = neck @ FRONTAL.T + shoulders_translation
    t = np.clip((NECK_HEAD_Y_MM - neck[:, 1]) / (NECK_HEAD_Y_MM - NECK_SHOULDERS_Y_MM), 0.0, 1.0)
    shoulders_share = (t * t * (3.0 - 2.0 * t))[:, None]  # smoothstep: no kink where the bend starts
    return with_head * (1.0 - shoulders_share) + with_shoulders * shoulders_share


@dataclass(frozen=True)
class SyntheticHead:
    """A closed, textured, metric head in fusion's canonical head frame.

    vertices_mm: ``(n, 3) float32`` canonical frame, mm; the first 468 are the face mesh.
    normals: ``(n, 3) float32`` outward unit normals. triangles: ``(m, 3) int32``.
    texture_bgr: ``(h, w, 3) uint8`` the photo (``head_texture``). texture_matrix: ``(4, 4) float64`` canonical mm
    -> texture clip coordinates (``photo_texture_matrix``).
    iris_centres_mm: ``(2, 3) float64`` canonical, where the photo's iris centres lie on the
    closed eye surface (person's right eye first). eye_centres_mm: ``(2, 3)`` mean of each
    eyelid contour (``topology.RIGHT_EYE``, ``LEFT_EYE``).
    iris_diameter_mm: the photo's iris diameter in the head's millimetres (11.7 by construction
    when the photo was scaled by its iris). mm_per_px: the photo's scale at the face.
    neck_mm: ``(k, 3) float64`` the neck at rest, canonical mm, and neck_triangles ``(t, 3)
    int32``: drawn bent between the head and the shoulders (``bend_neck``), not with the head.
    photo_rotation: ``(3, 3) float64`` canonical -> the photo's camera axes (OpenCV): the pose
    the texture was seen at, whose shading the renderer divides out (``relit_head.glsl``).
    """

    vertices_mm: np.ndarray
    normals: np.ndarray
    triangles: np.ndarray
    texture_bgr: np.ndarray
    texture_matrix: np.ndarray
    iris_centres_mm: np.ndarray
    eye_centres_mm: np.ndarray
    iris_diameter_mm: float
    mm_per_px: float
    neck_mm: np.ndarray
    neck_triangles: np.ndarray
    photo_rotation: np.ndarray

    @property
    def face_mm(self) -> np.ndarray:
        """``(468, 3) float64`` the face mesh, canonical mm (the truth fusion's identity aims at)."""
        return self.vertices_mm[:N_FACE_VERTICES].astype(np.float64)

    @property
    def pd_mm(self) -> float:
        """Distance between the iris centres, mm: the PD a perfect measurement of the render gives."""
        return float(np.linalg.norm(self.iris_centres_mm[1] - self.iris_centres_mm[0]))

    @property
    def eye_pd_mm(self) -> float:
        """Distance between the eyelid-contour centres, mm (a gaze-independent PD)."""
        return float(np.linalg.norm(self.eye_centres_mm[1] - self.eye_centres_mm[0]))


def head_from_photo(image_bgr: np.ndarray, face) -> SyntheticHead:
    """Build the textured metric head from a photo and its reconstruction.

    image_bgr: ``(h, w, 3) uint8`` the photo. face: a ``realtime.stages.photo.PhotoFace`` of it (needs
    ``iris_px``: the painted irises are the truth of the scale).
    """
    from realtime.geometry import canonical_frame, vertex_normals
    from realtime.accessories.head_proxy import FACE_HOLES, FACE_OVAL, SHELL_RINGS, build_head_proxy
    from realtime.stages.scale import iris_diameter_px

    image = check_shape("image_bgr", image_bgr, (None, None, 3))
    if face.iris_px is None:
        raise ValueError("face: the photo's face has no iris points; the synthetic head needs them for its scale")
    vertices_px = check_shape("face.vertices_px", face.vertices_px, (N_FACE_VERTICES, 3), dtype=np.float64)
    mm_per_px = float(getattr(face, "iris_mm_per_px", None) or face.mm_per_px)  # the iris's: the truth's scale
    mean_px = vertices_px.mean(axis=0)
    photo_mm = (vertices_px - mean_px) * mm_per_px  # photo camera axes, mm (PhotoFace.vertices_mm)
    proxy = build_head_proxy(photo_mm, topology.face_triangles())
    axes, centre = canonical_frame(photo_mm)
    vertices = (proxy.vertices.astype(np.float64) - centre) @ axes
    # The proxy's vertices: face, one centre per closed opening, the skull's rings and pole, ears.
    shell_start = N_FACE_VERTICES + len(FACE_HOLES)
    shell = slice(shell_start, shell_start + SHELL_RINGS * len(FACE_OVAL) + 1)
    vertices = shape_jaw(vertices, shell)
    triangles = proxy.triangles
    normals = vertex_normals(vertices, triangles)
    neck, neck_triangles = neck_mesh()

    # The iris centres sit on the eye openings' closures (fans about each eyelid contour's
    # centroid, flat to within a fraction of a millimetre): photo position, fan-centre depth.
    iris_px = np.asarray(face.iris_px, dtype=np.float64)
    eye_loops = [np.asarray(topology.RIGHT_EYE), np.asarray(topology.LEFT_EYE)]
    eye_centres_photo = np.array([photo_mm[loop].mean(axis=0) for loop in eye_loops])
    iris_photo = np.c_[(iris_px[:, 0, :2] - mean_px[:2]) * mm_per_px, eye_centres_photo[:, 2]]
    height, width = image.shape[:2]
    return SyntheticHead(
        vertices_mm=vertices.astype(np.float32),
        normals=normals.astype(np.float32),
        triangles=np.asarray(triangles, dtype=np.int32),
        neck_mm=neck,
        neck_triangles=neck_triangles,
        photo_rotation=np.asarray(axes, dtype=np.float64),
        texture_bgr=head_texture(image, vertices_px),
        texture_matrix=photo_texture_matrix(axes, centre, mm_per_px, mean_px, (width, height)),
        iris_centres_mm=(iris_photo - centre) @ axes,
        eye_centres_mm=(eye_centres_photo - centre) @ axes,
        iris_diameter_mm=float(np.mean(iris_diameter_px(iris_px)) * mm_per_px),
        mm_per_px=mm_per_px,
    )


HAIR_TOP_MM = 32.0
"""The synthetic hair's thickness over the crown, mm (a full, short-to-medium haircut)."""
HAIR_SIDE_MM = 18.0
"""... over the temples and the sides of the head ..."""
HAIR_BACK_MM = 24.0
"""... and over the back of the head, fading out toward the nape."""
HAIR_FACE_RINGS = 3
"""The hair grows in over the skull's first rings behind the face's outline (the hairline)."""


def hair_thickness(directions: np.ndarray, top_mm: float = HAIR_TOP_MM, side_mm: float = HAIR_SIDE_MM,
                   back_mm: float = HAIR_BACK_MM) -> np.ndarray:
    """Hair thickness ``(n,)`` mm over unit ``directions (n, 3)`` (canonical: y up, z out of the
    face) from the head's centre: thickest on the crown, off below the ears and at the nape."""
    d = check_shape("directions", directions, (None, 3), dtype=np.float64)
    up, forward = d[:, 1], d[:, 2]
    thickness = side_mm + (top_mm - side_mm) * np.clip(up, 0.0, 1.0) + (back_mm - side_mm) * np.clip(-forward, 0.0, 1.0)
    below = np.clip((up + 0.45) / 0.35, 0.0, 1.0)  # fades out from ear level to the nape
    return thickness * below * below * (3.0 - 2.0 * below)


def with_hair(head: SyntheticHead, top_mm: float = HAIR_TOP_MM, side_mm: float = HAIR_SIDE_MM,
              back_mm: float = HAIR_BACK_MM) -> tuple[SyntheticHead, np.ndarray]:
    """The head with a hair volume: the skull's shell pushed out along the rays from the shell's
    centre by ``hair_thickness``, grown in over the first rings behind the face (the face, the eye
    and mouth closures and the ears stay). Returns ``(head, centre_mm (3,))``: the new head (its
    closed surface is the true head-and-hair surface) and the centre the hair was grown from."""
    from realtime.accessories.head_proxy import FACE_HOLES, FACE_OVAL, SHELL_RINGS
    from realtime.geometry import vertex_normals

    vertices = head.vertices_mm.astype(np.float64).copy()
    start = N_FACE_VERTICES + len(FACE_HOLES)
    ring_size = len(FACE_OVAL)
    shell = np.arange(start, start + SHELL_RINGS * ring_size + 1)
    centre = vertices[shell].mean(axis=0)
    rel = vertices[shell] - centre
    directions = rel / np.linalg.norm(rel, axis=1, keepdims=True)
    ring = np.minimum((shell - start) // ring_size + 1, SHELL_RINGS + 1)
    grow = np.clip(ring / HAIR_FACE_RINGS, 0.0, 1.0)
    grow = grow * grow * (3.0 - 2.0 * grow)
    vertices[shell] += directions * (grow * hair_thickness(directions, top_mm, side_mm, back_mm))[:, None]
    normals = vertex_normals(vertices, head.triangles)
    import dataclasses

    return dataclasses.replace(head, vertices_mm=vertices.astype(np.float32), normals=normals.astype(np.float32)), centre


def astronaut_head() -> SyntheticHead:
    """The head built from scikit-image's astronaut portrait (public domain): photo mode on it,
    then ``head_from_photo``. Raises ``RuntimeError`` if photo mode finds no face."""
    from realtime.stages.democlip import astronaut_bgr
    from realtime.stages.photo import PhotoReconstructor

    image = astronaut_bgr()
    with PhotoReconstructor() as photo:
        faces = photo.run(image).faces
    if not faces:
        raise RuntimeError("photo mode found no face in the astronaut portrait")
    return head_from_photo(image, faces[0])


def lambert_shade(normals: np.ndarray, light_dir: np.ndarray, ambient: float) -> np.ndarray:
    """Shading of unit ``normals`` ``(n, 3)`` under one distant light, ``(n,) float64``:
    ``ambient + (1 - ambient) * max(n . l, 0)``. light_dir ``(3,)``: towards the light, same axes."""
    n = check_shape("normals", normals, (None, 3), dtype=np.float64)
    light = np.asarray(light_dir, dtype=np.float64)
    light = light / np.linalg.norm(light)
    return ambient + (1.0 - ambient) * np.maximum(n @ light, 0.0)


# --------------------------------------------------------------------------------------------
# Renderer


@dataclass(frozen=True)
class SyntheticRenderOptions:
    # Plain background, BGR 0-255: a mid grey neither the detector nor the mesh network mistakes
    # for skin or hair.
    background_bgr: tuple[int, int, int] = (120, 124, 128)
    # Supersampling factor per axis: the render is drawn this much larger and area-averaged,
    # so silhouettes and texture edges are antialiased like a camera's optics would.
    supersample: int = 2
    # The render's light, fixed to the camera (relit_head.glsl): its direction in OpenGL eye
    # space (towards the light: a key light above and beside the camera) and the share of
    # ambient light (indoor light: about a third comes from everywhere).
    light_dir: tuple[float, float, float] = (0.25, 0.35, 1.0)
    ambient: float = 0.3
    # The photo's light, the same direction, and its ambient share: divided out of the texture.
    # 1.0 takes the photo as the skin's own colour (a studio portrait's soft, frontal light
    # leaves little shading); lower values assume harder light and brighten what the photo
    # saw turned away (at a grazing angle in a frontal photo, where its estimate is worst).
    photo_ambient: float = 1.0
    # Texels are brightened at most this much.
    max_relight_gain: float = 1.5
    # Depth range of the GL projection, mm: a head is drawn from 0.1 m to 5 m.
    near_mm: float = 100.0
    far_mm: float = 5000.0


class SyntheticFaceRenderer:
    """Renders a ``SyntheticHead`` with the ``moderngl.Context`` it is given (headless or not).

    ``render(rotation, translation_mm, intrinsics, background_bgr=None) -> (H, W, 3) uint8`` BGR.
    Holds the GL objects only; ``close()`` releases them.
    """

    def __init__(self, ctx, head: SyntheticHead, options: SyntheticRenderOptions = SyntheticRenderOptions()):
        import moderngl

        from realtime.render.programs import load_program

        self.ctx = ctx
        self.head = head
        self.options = options
        from realtime.render.projection import OPENCV_TO_GL

        self._program = load_program(ctx, "relit_head")
        # The shading the photo baked into each texel: the same light, fixed to the photo's
        # camera, on the head at the photo's pose (normals in the photo's OpenCV axes).
        light_cv = OPENCV_TO_GL[:3, :3].T @ np.asarray(options.light_dir, dtype=np.float64)
        photo_normals = head.normals.astype(np.float64) @ head.photo_rotation.T
        photo_shade = lambert_shade(photo_normals, light_cv, options.photo_ambient)
        # Scaled so the face at the photo's pose keeps the photo's mean brightness: the render's
        # light is as bright as the photo's where the face is, on average.
        frontal_shade = lambert_shade(photo_normals[:N_FACE_VERTICES], light_cv, options.ambient)
        photo_shade *= float(np.max(frontal_shade / photo_shade[:N_FACE_VERTICES]))
        # The neck's skin is the face's, filled in (head_texture): its photo shading, on average.
        self._neck_photo_shade = float(photo_shade[:N_FACE_VERTICES].mean())
        data = np.hstack([head.vertices_mm, head.normals, photo_shade[:, None]]).astype(np.float32)
        self._vbo = ctx.buffer(data.tobytes())
        self._ibo = ctx.buffer(np.ascontiguousarray(head.triangles, dtype=np.int32).tobytes())
        layout = "3f 3f 1f", "in_position", "in_normal", "in_photo_shade"
        self._vao = ctx.vertex_array(self._program, [(self._vbo, *layout)], self._ibo)
        # The neck bends with each pose: its camera-space vertices are written per render.
        self._neck_vbo = ctx.buffer(reserve=len(head.neck_mm) * 7 * 4, dynamic=True)
        self._neck_ibo = ctx.buffer(np.ascontiguousarray(head.neck_triangles, dtype=np.int32).tobytes())
        self._neck_vao = ctx.vertex_array(self._program, [(self._neck_vbo, *layout)], self._neck_ibo)
        h, w = head.texture_bgr.shape[:2]
        # Uploaded as BGR, top row first: the shader's ``.bgr`` swizzle turns it into RGB.
        self._texture = ctx.texture((w, h), 3, head.texture_bgr.tobytes(), alignment=1)
        self._texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
        self._texture.repeat_x = self._texture.repeat_y = False
        self._fbo = None
        self._fbo_size = None

    def _framebuffer(self, width: int, height: int):
        if self._fbo_size != (width, height):
            self._release_fbo()
            self._fbo = self.ctx.framebuffer(color_attachments=[self.ctx.renderbuffer((width, height), 4)],
                                             depth_attachment=self.ctx.depth_renderbuffer((width, height)))
            self._fbo_size = (width, height)
        return self._fbo

    def render(self, rotation: np.ndarray, translation_mm: np.ndarray, intrinsics: CameraIntrinsics,
               background_bgr: np.ndarray | None = None) -> np.ndarray:
        """Draw the head at ``camera = rotation @ canonical + translation_mm``.

        rotation: ``(3, 3)`` canonical -> camera (OpenCV axes). translation_mm: ``(3,)`` mm, the
        camera position of the canonical origin (the mean face vertex). intrinsics: the pinhole
        camera (its distortion is ignored). background_bgr: ``(H, W, 3) uint8`` or None (plain).
        Returns ``(H, W, 3) uint8`` BGR, H, W = intrinsics.height, width.
        """
        import moderngl

        from realtime.geometry import vertex_normals
        from realtime.render.projection import OPENCV_TO_GL, projection_from_intrinsics

        options = self.options
        width, height = intrinsics.width, intrinsics.height
        k = max(1, int(options.supersample))
        # Supersampled pixel grid: u' = k u, so fx' = k fx and cx' = k cx (corner origin).
        proj = projection_from_intrinsics(k * intrinsics.fx, k * intrinsics.fy, k * intrinsics.cx, k * intrinsics.cy,
                                          k * width, k * height, options.near_mm, options.far_mm)
        pose = pose_matrix(rotation, translation_mm)
        program = self._program

        def set_matrices(view: np.ndarray, tex: np.ndarray) -> None:
            for name, matrix in (("m_proj", proj), ("m_view", view), ("m_tex", tex)):
                program[name].write(np.ascontiguousarray(np.asarray(matrix).T, dtype=np.float32).tobytes())

        light = np.asarray(options.light_dir, dtype=np.float64)
        program["u_light_dir"].value = tuple(light / np.linalg.norm(light))
        program["u_ambient"].value = options.ambient
        program["u_max_gain"].value = options.max_relight_gain
        program["u_image"].value = 0

        fbo = self._framebuffer(k * width, k * height)
        fbo.use()
        ctx = self.ctx
        ctx.viewport = (0, 0, k * width, k * height)
        fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        ctx.disable(moderngl.BLEND | moderngl.CULL_FACE)
        ctx.enable(moderngl.DEPTH_TEST)
        self._texture.use(0)
        set_matrices(OPENCV_TO_GL.astype(np.float64) @ pose, self.head.texture_matrix)
        self._vao.render(moderngl.TRIANGLES)
        # The neck is given in camera space; its texture lookup goes back through the head's pose.
        neck = bend_neck(self.head.neck_mm, rotation, translation_mm)
        neck_normals = vertex_normals(neck, self.head.neck_triangles)
        neck_shade = np.full((len(neck), 1), self._neck_photo_shade)
        self._neck_vbo.write(np.hstack([neck, neck_normals, neck_shade]).astype(np.float32).tobytes())
        set_matrices(OPENCV_TO_GL.astype(np.float64), self.head.texture_matrix @ np.linalg.inv(pose))
        self._neck_vao.render(moderngl.TRIANGLES)
        ctx.disable(moderngl.DEPTH_TEST)
        raw = np.frombuffer(fbo.read(components=4, alignment=1), np.uint8).reshape(k * height, k * width, 4)
        return composite(raw[::-1], k, background_bgr if background_bgr is not None else options.background_bgr,
                         (height, width))

    def _release_fbo(self) -> None:
        if self._fbo is not None:
            for attachment in (*self._fbo.color_attachments, self._fbo.depth_attachment):
                attachment.release()
            self._fbo.release()
            self._fbo = None
            self._fbo_size = None

    def close(self) -> None:
        self._release_fbo()
        for obj in (self._vao, self._vbo, self._ibo, self._neck_vao, self._neck_vbo, self._neck_ibo, self._texture):
            obj.release()

    def __enter__(self) -> "SyntheticFaceRenderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def composite(rgba_top_first: np.ndarray, supersample: int, background_bgr, size: tuple[int, int]) -> np.ndarray:
    """Area-average a supersampled RGBA render and lay it over a background.

    rgba_top_first: ``(k H, k W, 4) uint8`` RGB + coverage, top row first, cleared to 0 (so
    averaging gives premultiplied colour). supersample: k. background_bgr: ``(H, W, 3) uint8``
    image or a BGR colour. size: (H, W). Returns ``(H, W, 3) uint8`` BGR.
    """
    import cv2

    height, width = size
    rgba = rgba_top_first if supersample == 1 else cv2.resize(rgba_top_first, (width, height),
                                                               interpolation=cv2.INTER_AREA)
    rgba = rgba.astype(np.float32)
    colour = rgba[..., 2::-1]  # RGB -> BGR, premultiplied by coverage
    alpha = rgba[..., 3:4] / 255.0
    if isinstance(background_bgr, np.ndarray) and background_bgr.ndim == 3:
        background = check_shape("background_bgr", background_bgr, (height, width, 3)).astype(np.float32)
    else:
        background = np.broadcast_to(np.asarray(background_bgr, dtype=np.float32), (height, width, 3))
    return np.clip(colour + background * (1.0 - alpha) + 0.5, 0, 255).astype(np.uint8)
