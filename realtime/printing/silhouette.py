"""The person's outline in a photo as shape evidence for the bust: head and hair, neck, shoulders.

In: a person mask around one face (``realtime.stages.segmentation.PersonMask``), the face mesh in the
head frame (``(468, 3)`` mm, ``realtime.printing.headframe``) and in the photo (``(468, 2+)``
pixels). Out: ``Silhouette``, the mask prepared for ray queries from the head's centre (the
head-and-hair outline and the person's outline in each image direction, which directions are hair,
where the photo cuts the head), and pure functions that turn it into radii of the head surface:
``clip_radius`` (the person's outline bounds the skull prior), ``hair_radius`` (the head grown by the
hair until its outline meets the photo's) and ``hair_drape`` (hair that hangs below the chin falls
straight down behind the head), and into the tops of the shoulders (``person_tops``).

The camera is affine (the face mesh network's own model: x, y in pixels, z in the scale of x), so
a head-frame point ``p`` lands on crop pixel ``C @ (p, 1)`` and the view direction is the null
vector of ``C``'s left 2 x 3 block. One photo gives no evidence of depth: the hair's thickness seen
along the outline is carried round behind the head at the same height (``BACK_POLE_POWER``,
``HAIR_CARRY_DOWN``), or, where it hangs below the chin, falls from the head's widest point
(``hair_drape``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from realtime import geometry, topology
from realtime.shapes import check_shape

MASK_CLOSE_PX = 5
"""Morphological closing of the person mask, crop pixels: bridges strands and thin gaps so that
the outline is the hair's envelope, as a sculptor would model it."""
ANGLE_BINS = 360
"""Angular resolution of the outlines around the head's centre: 1 degree, ~ 1.5 mm at the crown."""
RAY_STEP_PX = 0.5
"""Sampling step along the 2-D rays that find an outline, crop pixels."""
UNSEEN_MM = 1.0e3
"""Radius given where the photo shows nothing: no evidence, so no clipping."""
HEAD_MAX_HALF_WIDTH = 1.5
"""The head region ends this many face heights to either side of the face's centre (hair that
flies further out, hands and props joined to the outline are not the head)."""
HEAD_MAX_ABOVE = 1.6
"""... and this many face heights above the eyes (a beehive fits; a raised arm does not)."""
HEAD_OPENING = 0.1
"""Morphological opening of the head region, face heights (~ 20 mm): parts of it thinner than
this (a shoulder that rises a little above the chin's row, joined along it) are not the head."""
CUT_HAIR_MM = 8.0
"""Hair thickness assumed in the middle of a stretch of outline the photo cuts off (life mm): short
to medium hair on a crown, as the cut's ends give way to it (their thickness may be a wide bob's)."""
CUT_BLEND_POWER = 0.25
"""How soon the thickness at a cut's ends gives way to ``CUT_HAIR_MM`` along it: the weight of the
latter is ``sin(pi t) ** CUT_BLEND_POWER`` at ``t`` in [0, 1] along the cut (0.42 at 1% of it,
0.75 at a tenth): the hair rounds off the ends without carrying a wide bob over the crown."""
CUT_MIRROR_MAX_TURN_DEG = 20.0
"""Where the photo cuts one side of the head and the other side's hair is seen, the cut side's hair
is as thick as the other's at the same height (the head's own symmetry, where the photo gives no
evidence), for a face turned no further than this from the camera; more turned, the two sides of
the outline are not each other's mirror image, and the cut's ends give the thickness as on a crown."""
CUT_MIRROR_MAX_ELEVATION_DEG = 45.0
"""... on the sides of the head: outline directions within this of the horizontal. Higher, over the
crown, the hair's parting and sweep make the two sides differ (a crown cut by the frame gave busts
further from the whole photo's with the mirror than with the cut's ends: face-api's sample6 1.07 ->
1.60 mm)."""
EDGE_GAP_PX = 3.0
"""A head outline this close to the photo's edge (crop px) is the edge's: the person mask fades out
a pixel or two short of it."""
HAIR_GAP_PX = 2.0
"""A hair outline point lies at most this far (crop px) past where its ray first leaves the person."""
BODY_ABOVE_CHIN = 0.35
"""The body (shoulders, a collar) may reach this many face heights (~ 40 mm) above the chin's row,
beside the face's columns: a head bowed forward or raised shoulders put them higher than the chin
in the photo (photo_s2: 0.25). Higher, beside the head, it is an ear, a hand or a chair."""
RAISED_TOP_TOLERANCE_PX = 1.5
"""A body's top within this many crop pixels of the highest row it may reach (``BODY_ABOVE_CHIN``)
reaches it: the samples looked down a column fall between pixels."""


@dataclass(frozen=True)
class AffineView:
    """An affine camera: pixel = ``matrix @ (x, y, z, 1)`` of a head-frame point in mm.

    matrix: ``(2, 4) float64``. The pixels may be a photo's or a crop's.
    """

    matrix: np.ndarray

    @property
    def view_dir(self) -> np.ndarray:
        """``(3,) float64`` unit vector from the camera into the scene, head frame."""
        axis = np.cross(self.matrix[0, :3], self.matrix[1, :3])
        return axis / np.linalg.norm(axis)

    @property
    def px_per_mm(self) -> float:
        """Pixels per millimetre across the view (the geometric mean of the two rows' gains)."""
        return float(np.sqrt(np.linalg.norm(self.matrix[0, :3]) * np.linalg.norm(self.matrix[1, :3])))

    def project(self, points_mm: np.ndarray) -> np.ndarray:
        """``(n, 2) float64`` pixels of head-frame points ``(n, 3)`` mm."""
        return np.asarray(points_mm, np.float64) @ self.matrix[:, :3].T + self.matrix[:, 3]

    def then(self, affine_2x3: np.ndarray) -> "AffineView":
        """This view followed by a 2-D affine map of the pixels (e.g. image -> crop)."""
        m = np.asarray(affine_2x3, np.float64)
        return AffineView(np.column_stack([m[:, :2] @ self.matrix[:, :3], m[:, :2] @ self.matrix[:, 3] + m[:, 2]]))


def fit_affine_view(points_mm: np.ndarray, pixels: np.ndarray, weights: np.ndarray | None = None) -> AffineView:
    """Least-squares affine camera from head-frame points to their pixels.

    points_mm: ``(n, 3)`` mm.  pixels: ``(n, 2+)`` (x, y used).  weights: ``(n,)`` >= 0 (None: equal).
    Exact for photo mode, whose metric mesh is its pixel mesh scaled; for a fused identity seen in
    one frame it is the best affine stand-in for the perspective camera, weighted to rigid vertices.
    """
    points = check_shape("points_mm", points_mm, (None, 3), dtype=np.float64)
    px = check_shape("pixels", pixels, (len(points), None), dtype=np.float64)[:, :2]
    w = np.ones(len(points)) if weights is None else np.asarray(weights, np.float64)
    design = np.column_stack([points, np.ones(len(points))]) * np.sqrt(w)[:, None]
    solution, *_ = np.linalg.lstsq(design, px * np.sqrt(w)[:, None], rcond=None)
    return AffineView(solution.T)


@dataclass(frozen=True)
class Silhouette:
    """The person's outline around the head's centre, as seen in one photo.

    view: head frame (mm) -> crop pixels.  centre_mm: ``(3,)`` the head-frame point the outlines are
    measured around (the head field's centre).  centre_px: ``(2,)`` its crop pixel.
    angles: ``(A,) float64`` radians, the image directions (atan2 of dy, dx in crop pixels).
    head_px: ``(A,)`` distance from ``centre_px`` to the head-and-hair outline (the last pixel of the
        region along each direction: concavities are bridged), crop pixels.
    person_px: ``(A,)`` distance to where the person's outline is first left (``UNSEEN_MM`` times
        the scale where the photo ends first), crop pixels.
    hair: ``(A,) bool`` directions whose head outline is hair or scalp above the chin, or hair that
        hangs below it (not the face's own outline, not the neck): where the head may grow beyond
        the skull prior.
    head: ``(S, S) bool`` the head-and-hair region.  person: ``(S, S) bool`` the person joined to
    the face.  chin_row: the chin's crop row (the crop is upright).
    seen: ``(S, S) bool`` crop pixels inside the photo.  hair_region: ``(S, S) bool`` where the head
    may grow past the skull prior.  raised_body: ``(S, S) bool`` the body above the chin's row (up
    to ``BODY_ABOVE_CHIN``): beside the face's columns, not hair, joined to the person below the chin
    (raised shoulders, a collar; None: none).  raised_top_row: the crop row where ``raised_body``
    is cut off above (None: none).
    cut: ``(A,) bool`` directions above the ears whose outline (hair, or the face where the photo
    cuts the forehead) is the photo's or the crop's edge: the head goes on past it, so the hair's
    thickness there is unknown (None: none).
    """

    view: AffineView
    centre_mm: np.ndarray
    centre_px: np.ndarray
    angles: np.ndarray
    head_px: np.ndarray
    person_px: np.ndarray
    hair: np.ndarray
    head: np.ndarray
    person: np.ndarray
    chin_row: float
    seen: np.ndarray
    hair_region: np.ndarray
    raised_body: np.ndarray | None = None
    cut: np.ndarray | None = None
    raised_top_row: float | None = None


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask (h, w) bool`` with every background region that does not touch the border filled."""
    count, labels = cv2.connectedComponents((~mask).astype(np.uint8), connectivity=4)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    holes = ~np.isin(labels, border) & ~mask
    return mask | holes


def clean_person(probability: np.ndarray, seed_px: np.ndarray, face: np.ndarray | None = None,
                 threshold: float = 0.5) -> np.ndarray:
    """The person as an outline: ``(S, S) bool`` from a probability map ``(S, S)``: thresholded,
    joined with ``face (S, S) bool`` (the mesh's own face, certainly the person), closed
    (``MASK_CLOSE_PX``), holes filled, and only the part joined to ``seed_px (2,)`` (x, y: the nose)."""
    person = np.asarray(probability) > threshold
    if face is not None:
        person |= face
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (MASK_CLOSE_PX, MASK_CLOSE_PX))
    person = cv2.morphologyEx(person.astype(np.uint8), cv2.MORPH_CLOSE, kernel).astype(bool)
    if face is not None:
        person |= face
    person = _fill_holes(person)
    count, labels = cv2.connectedComponents(person.astype(np.uint8), connectivity=8)
    label = _face_label(labels, seed_px, face)
    return person if label == 0 else labels == label


def _face_label(labels: np.ndarray, seed_px: np.ndarray, face: np.ndarray | None) -> int:
    """The connected component ``labels (h, w) int`` that holds the face: the one at ``seed_px``
    (x, y: the nose), or where the nose tip lies outside every component (a face turned to
    profile: the tip stands off the mask's edge), the one covering most of ``face (h, w) bool``;
    0 for none."""
    size_y, size_x = labels.shape
    x, y = int(np.clip(round(seed_px[0]), 0, size_x - 1)), int(np.clip(round(seed_px[1]), 0, size_y - 1))
    if labels[y, x] != 0 or face is None:
        return int(labels[y, x])
    covering = labels[face & (labels > 0)]
    return int(np.bincount(covering).argmax()) if covering.size else 0


def polar_extent(region: np.ndarray, origin_px: np.ndarray, angles: np.ndarray, last: bool,
                 beyond: bool = False, step_px: float = RAY_STEP_PX) -> np.ndarray:
    """Distance ``(A,)`` in pixels from ``origin_px (2,)`` (x, y) along each of ``angles (A,)`` to the
    outline of ``region (h, w) bool``: the last pixel inside (``last``) or the first one outside.

    beyond: what lies outside the array (True: inside the region, so a ray that reaches the edge
    never leaves it and gets ``inf``).
    """
    h, w = region.shape
    reach = float(np.hypot(h, w))
    s = np.arange(0.0, reach, step_px)
    x = origin_px[0] + np.cos(angles)[:, None] * s
    y = origin_px[1] + np.sin(angles)[:, None] * s
    xi, yi = np.round(x).astype(np.int64), np.round(y).astype(np.int64)
    on = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
    inside = np.full(x.shape, beyond)
    inside[on] = region[yi[on], xi[on]]
    if last:
        index = s.size - 1 - np.argmax(inside[:, ::-1], axis=1)
        extent = np.where(inside.any(axis=1), s[index], 0.0)
        return np.where(inside[:, -1], np.inf, extent)
    outside = ~inside
    first_out = np.argmax(outside, axis=1)
    return np.where(outside.any(axis=1), s[np.maximum(first_out - 1, 0)], np.inf)


def build_silhouette(probability: np.ndarray, seen: np.ndarray, crop_from_image: np.ndarray,
                     head_mm: np.ndarray, vertices_px: np.ndarray, centre_mm: np.ndarray,
                     view: AffineView | None = None, hair_region: np.ndarray | None = None,
                     threshold: float = 0.5) -> Silhouette:
    """Prepare a person mask for the bust builder (see ``Silhouette`` and the module text).

    probability: ``(S, S) float`` person probability on the crop.  seen: ``(S, S) bool`` crop
    pixels inside the photo.  crop_from_image: ``(2, 3)`` image px -> crop px.
    head_mm: ``(468, 3)`` mm, head frame.  vertices_px: ``(468, 2+)`` image pixels of the same face.
    centre_mm: ``(3,)`` the head field's centre.  view: head frame -> image pixels (None: fitted to
    the two meshes).  hair_region: ``(S, S) bool`` where the head may grow past the skull prior
    (hair, and above the ears a bald crown; ``realtime.stages.segmentation.label_regions`` tells them), None:
    the whole head above the chin outside the face.
    """
    head_mm = check_shape("head_mm", head_mm, (topology.N_VERTICES, 3), dtype=np.float64)
    if view is None:
        view = fit_affine_view(head_mm, vertices_px)
    crop_view = view.then(crop_from_image)
    size = probability.shape[0]
    crop_v = crop_view.project(head_mm)
    face = np.zeros((size, size), np.uint8)
    cv2.fillPoly(face, [np.round(crop_v[list(topology.FACE_OVAL)] * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
    face = face.astype(bool)

    nose = np.clip(np.round(crop_v[topology.NOSE_TIP]).astype(int), 0, size - 1)
    person = clean_person(probability, nose, face, threshold)

    chin_row = float(crop_v[topology.CHIN, 1])
    face_height = geometry.face_height(crop_v)
    eyes_row = float(0.5 * (crop_v[topology.RIGHT_EYE_OUTER, 1] + crop_v[topology.LEFT_EYE_OUTER, 1]))
    centre_col = float(0.5 * (crop_v[topology.FOREHEAD_TOP, 0] + crop_v[topology.CHIN, 0]))
    rows, cols = np.mgrid[0:size, 0:size]
    plausible = ((rows <= chin_row) & (rows >= eyes_row - HEAD_MAX_ABOVE * face_height)
                 & (np.abs(cols - centre_col) <= HEAD_MAX_HALF_WIDTH * face_height))
    # Hair that hangs below the chin (``segmentation.HANGING_HAIR_FACE_HEIGHTS``) is the head's too.
    hanging = (np.zeros((size, size), bool) if hair_region is None
               else np.asarray(hair_region, bool) & (rows > chin_row))
    head = person & (plausible | hanging)
    # A shoulder raised to the chin joins the head above the chin's row only as a strip a few
    # pixels high: opened away, it is not grown into a fin of hair.
    opening = max(int(round(HEAD_OPENING * face_height)) | 1, 3)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (opening, opening))
    opened = cv2.morphologyEx(head.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    count, labels = cv2.connectedComponents(opened, connectivity=8)
    label = _face_label(labels, nose, face)
    head = ((labels == label) if label else np.zeros_like(head)) | face

    centre_px = crop_view.project(np.asarray(centre_mm, np.float64)[None])[0]
    angles = np.linspace(-np.pi, np.pi, ANGLE_BINS, endpoint=False)
    unseen = ~np.asarray(seen, bool)
    head_px = polar_extent(head & ~unseen, centre_px, angles, last=True)
    person_px = polar_extent(person | unseen, centre_px, angles, last=False, beyond=True)
    # Hair may add volume where the head's outline lies above the chin and outside the face's own
    # outline (grown by a few pixels: the network's edge and the mesh's contour differ that much).
    rays = np.column_stack([np.cos(angles), np.sin(angles)])
    end = centre_px + rays * np.minimum(head_px, 4 * size)[:, None]
    grown = cv2.dilate(face.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))).astype(bool)
    ex = np.clip(np.round(end[:, 0]).astype(int), 0, size - 1)
    ey = np.clip(np.round(end[:, 1]).astype(int), 0, size - 1)
    near_hanging = cv2.dilate(hanging.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    hair = ((end[:, 1] < chin_row) | near_hanging[ey, ex]) & ~grown[ey, ex] & np.isfinite(head_px)
    # A ray that leaves the person and meets the head region again further out (a raised shoulder
    # beside the jaw that the opening kept) does not show hair there: hair grows out of the head.
    hair &= head_px <= person_px + HAIR_GAP_PX
    if hair_region is not None:
        # The outline runs along the region's edge, where labels are least certain: look a few
        # pixels around each end point.
        near = cv2.dilate(np.asarray(hair_region, np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        hair &= near[ey, ex]
    else:
        near = np.ones((size, size), bool)
    # Above the ears, a head outline of hair (or of the face, where the photo cuts the forehead)
    # with the photo's edge just past it is the edge's: the head goes on past it. (Lower, what runs
    # off the photo beside the jaw is a neighbour's shoulder or hair as often as this head's.)
    ears_row = float(0.5 * (crop_v[topology.FACE_SIDE_RIGHT, 1] + crop_v[topology.FACE_SIDE_LEFT, 1]))
    past = end + rays * EDGE_GAP_PX
    past_x, past_y = np.round(past[:, 0]).astype(int), np.round(past[:, 1]).astype(int)
    on_crop = (past_x >= 0) & (past_x < size) & (past_y >= 0) & (past_y < size)
    off_photo = ~on_crop | unseen[np.clip(past_y, 0, size - 1), np.clip(past_x, 0, size - 1)]
    cut = ((end[:, 1] < ears_row) & off_photo & (near[ey, ex] | grown[ey, ex]) & np.isfinite(head_px)
           & (head_px > 0))
    # ... nor is the person's outline there the person's: the mask fades a few pixels short of the
    # photo's edge, and the hair clipped there was cut flat with the photo.
    person_px = np.where(cut, np.inf, person_px)
    hair |= cut
    if hair_region is None:
        hair_region = head & ~face
    hair_region = np.asarray(hair_region, bool)
    raised_top_row = chin_row - BODY_ABOVE_CHIN * face_height
    raised_body = _raised_body(person, face, hair_region, crop_v, chin_row, raised_top_row)
    return Silhouette(crop_view, np.asarray(centre_mm, np.float64), centre_px, angles, head_px, person_px, hair,
                      head, person, chin_row, ~unseen, hair_region, raised_body, cut, raised_top_row)


def _raised_body(person: np.ndarray, face: np.ndarray, hair_region: np.ndarray, crop_v: np.ndarray,
                 chin_row: float, top_row: float) -> np.ndarray:
    """``(S, S) bool`` the body above the chin's row on the crop (``Silhouette.raised_body``): up to
    ``top_row`` (``BODY_ABOVE_CHIN`` face heights above it), what lies beside the face's columns, is
    not hair and is joined to the person below the chin (raised shoulders; an ear lobe, joined only
    through the jaw and the neck in the face's columns, is not)."""
    size = person.shape[0]
    rows, cols = np.mgrid[0:size, 0:size]
    sides = crop_v[[topology.FACE_SIDE_RIGHT, topology.FACE_SIDE_LEFT], 0]
    beside_face = np.abs(cols - sides.mean()) > 0.5 * abs(sides[1] - sides[0])
    below = rows > chin_row
    raised = ~below & (rows >= top_row) & beside_face & ~hair_region & ~face
    from realtime.stages.segmentation import joined

    # The parts of the candidate that reach below the chin are the body's.
    return joined(person & (below | raised), below) & raised


HAIR_ITERATIONS = 3
"""Fixed-point steps that grow the head until its outline in the view meets the hair's outline."""
HAIR_SMOOTH_DEG = 12.0
"""Running median over the outline's directions, degrees: keeps a bun or a quiff, removes the ears
(narrower than this), which are modelled on their own."""
BACK_POLE_POWER = 2.0
"""How the outline's own hair thickness gives way to the thickness behind it toward the view axis:
the weight is ``sin(angle from the view axis) ** BACK_POLE_POWER``. One photo says nothing of the
hair straight behind the head. There it is as thick as the outline's two sides at the same height
or a little above (``HAIR_CARRY_DOWN``: hair that hangs to the jaw at both sides goes round the
back, a bob or long hair; short hair covers the back of the head lower than the sides, where the
ears show), and never thinner than the outline's mean."""
HAIR_LEVELS = 81
"""Heights at which the outline's sides are read for the hair behind the head (sines of elevation
from -1 to 1)."""
HAIR_CARRY_DOWN = 0.5
"""How far down (in sines of elevation: about 30 deg below the equator) the sides' hair is carried
behind the head: at the sides the ears show below the hair, but behind them the hair goes on down
to the nape (without it the back of short hair had a ledge at the ears' height)."""


def _direction_angles(directions: np.ndarray, view: AffineView) -> tuple[np.ndarray, np.ndarray]:
    """Image angle ``(N,)`` (radians) and image speed ``(N,)`` (crop px per mm) of each direction."""
    velocity = directions @ view.matrix[:, :3].T
    return np.arctan2(velocity[:, 1], velocity[:, 0]), np.hypot(velocity[:, 0], velocity[:, 1])


def _bin_of(angle: np.ndarray, bins: int) -> np.ndarray:
    return np.round((angle + np.pi) / (2 * np.pi) * bins).astype(np.int64) % bins


def _radius_to(outline_px: np.ndarray, directions: np.ndarray, silhouette: Silhouette) -> np.ndarray:
    """``(N,)`` mm along unit ``directions (N, 3)`` from the centre to where their image rays reach
    ``outline_px (A,)`` (crop pixels from the centre per image direction, ``inf`` where the ray never
    ends); ``inf`` along the view axis."""
    angle, speed = _direction_angles(directions, silhouette.view)
    extent = outline_px[_bin_of(angle, len(silhouette.angles))]
    return np.where(speed > 1e-9, extent / np.maximum(speed, 1e-9), np.inf)


def _behind_weight(directions: np.ndarray, view: AffineView) -> np.ndarray:
    """``(N,)`` in [0, 1]: 0 in front of the outline's plane, rising to 1 ``DRAPE_BEHIND`` behind it."""
    # Imported here: the live scan imports this module, and surface's imports (scikit-image) would
    # only lengthen its start-up.
    from realtime.printing.surface import smoothstep

    return smoothstep((directions @ view.view_dir) / DRAPE_BEHIND)


def clip_radius(directions: np.ndarray, silhouette: Silhouette) -> np.ndarray:
    """``(N,)`` mm along unit ``directions (N, 3)`` from the centre to the person's outline (the
    first exit along the direction's image ray); ``inf`` where it never leaves it."""
    return _radius_to(silhouette.person_px, directions, silhouette)


def outline_px(points_mm: np.ndarray, silhouette: Silhouette) -> np.ndarray:
    """``(A,)`` crop pixels from the centre to the outline of ``points_mm (N, 3)`` (a dense closed
    surface around the centre) in each of the silhouette's image directions; gaps filled."""
    q = silhouette.view.project(points_mm) - silhouette.centre_px
    bins = len(silhouette.angles)
    which = _bin_of(np.arctan2(q[:, 1], q[:, 0]), bins)
    out = np.full(bins, -np.inf)
    np.maximum.at(out, which, np.hypot(q[:, 0], q[:, 1]))
    known = np.isfinite(out)
    if not known.all():
        idx = np.arange(bins)
        out = np.interp(idx, idx[known], out[known], period=bins)
    return out


def _circular_median(values: np.ndarray, width: int) -> np.ndarray:
    pad = width // 2
    wrapped = np.concatenate([values[-pad:], values, values[:pad]])
    windows = np.lib.stride_tricks.sliding_window_view(wrapped, 2 * pad + 1)
    return np.median(windows, axis=1)


def _circular_mean(values: np.ndarray, width: int) -> np.ndarray:
    pad = width // 2
    wrapped = np.concatenate([values[-pad:], values, values[:pad]])
    return np.convolve(wrapped, np.ones(2 * pad + 1) / (2 * pad + 1), mode="valid")


def _arc_position(arcs: np.ndarray) -> np.ndarray:
    """``(A,) float`` in [0, 1]: where each bin of a circular ``arcs (A,) bool`` lies along its
    run of True bins (0 and 1 at the bins just outside it), 0 outside the runs; not all True."""
    bins = len(arcs)
    idx = np.arange(bins)
    outside = np.flatnonzero(~arcs)
    # The nearest bin outside the runs before and after each bin, circularly.
    before = outside[np.searchsorted(outside, idx, side="right") - 1]
    before = np.where(before > idx, before - bins, before)
    after_i = np.searchsorted(outside, idx, side="left")
    after = np.where(after_i < len(outside), outside[np.minimum(after_i, len(outside) - 1)], outside[0] + bins)
    return np.where(arcs, (idx - before) / np.maximum(after - before, 1), 0.0)


def _ear_arcs(ear_ends_mm: np.ndarray | None, silhouette: Silhouette, margin: int = 0) -> list[np.ndarray]:
    """The outline's bins (indices into ``silhouette.angles``) between each ear's two ends as the
    view sees them from the centre, and ``margin`` bins beyond each end, for the ears on the
    outline (``EAR_MAX_FACING``): ``ear_ends_mm`` is ``(2 k, 3)`` head frame, the k ears' one ends
    then their other ends (``surface.ear_ellipsoids``' length axis); none without."""
    if ear_ends_mm is None or len(ear_ends_mm) == 0:
        return []
    bins = len(silhouette.angles)
    offsets = silhouette.view.project(np.asarray(ear_ends_mm, np.float64)) - silhouette.centre_px
    ends = _bin_of(np.arctan2(offsets[:, 1], offsets[:, 0]), bins)
    half = len(ends) // 2
    arcs = []
    rel = np.asarray(ear_ends_mm, np.float64) - silhouette.centre_mm
    middles = rel[:half] + rel[half:]  # each ear's middle from the centre (twice over: only its direction counts)
    toward_view = middles @ silhouette.view.view_dir / np.linalg.norm(middles, axis=1)
    for a, b, facing in zip(ends[:half], ends[half:], toward_view):
        if abs(facing) > EAR_MAX_FACING:
            continue  # a turned head's ear: the outline there is the back of the head or the face
        # The shorter way round between the two ends.
        forward = (b - a) % bins
        start, length = (a, forward) if forward <= bins // 2 else (b, bins - forward)
        arcs.append((start - margin + np.arange(length + 1 + 2 * margin)) % bins)
    return arcs


def _without_ears(thickness: np.ndarray, arcs: list[np.ndarray], angles: np.ndarray) -> np.ndarray:
    """``thickness (A,)`` with each ear's arc of bins that stands out of short hair (``EAR_BUMP_MM``)
    given the thickness of the bin just above it (the hair goes on down from the temple over the
    ear). angles: ``(A,)`` the bins' image angles (y down)."""
    out = thickness.copy()
    bins = len(thickness)
    for arc in arcs:
        ends = np.array([(arc[0] - 1) % bins, (arc[-1] + 1) % bins])
        above, below = ends[np.argsort(np.sin(angles[ends]))]
        # Only an ear that stands out of short hair: below it the outline is the bare neck, and
        # the ear is thicker than the outline above and below it. Hair over the ears, or hanging
        # past them (thicker at the ears' height than at the temple where it bulges), is hair.
        if thickness[below] < EAR_BUMP_MM and thickness[arc].max() > thickness[ends].max() + EAR_BUMP_MM:
            out[arc] = thickness[above]
    return out


EAR_MAX_FACING = 0.5
"""Only an ear within 30 degrees of the outline's plane (seen from the centre) stands on the
outline; a turned head's ears lie in front of it or behind it, where the outline is hair or face
(sample4's turned face lost the hair at the back of her head: IoU 0.930 -> 0.826)."""
EAR_BUMP_MM = 3.0
"""An ear's arc of the outline is an ear standing out of short hair (``_without_ears``) where it is
this much thicker than the outline just above and just below it, and the outline below it is less
than this thick (no hair hangs there)."""


def hair_radius(directions: np.ndarray, base_radius: np.ndarray, silhouette: Silhouette,
                fade: np.ndarray | float = 1.0, iterations: int = HAIR_ITERATIONS,
                ear_ends_mm: np.ndarray | None = None) -> np.ndarray:
    """The head grown by the hair: ``(N,)`` mm along unit ``directions (N, 3)``.

    base_radius: ``(N,)`` mm, the skull (already clipped to the person). Each direction grows by the
    hair thickness of the outline direction it projects to, weighted toward the view axis
    (``BACK_POLE_POWER``) to the thickness behind the head: behind the outline's plane the larger of
    the outline's mean and the mean of its left and right sides at the direction's height in the
    image or up to ``HAIR_CARRY_DOWN`` above it, in front of it the outline's mean. The thickness
    is raised until the grown head's outline in the view reaches the hair's outline where the
    photo shows hair, and never shrinks the head.
    fade: ``(N,)`` in [0, 1] (or a scalar): how much hair each direction may carry (the bust
    builder fades it out toward the face, so the hairline slopes onto the forehead).
    ear_ends_mm: ``(2 k, 3)`` head frame, the ears' ends (``_ear_arcs``), or None. Where the hair
    is short the outline shows the ears, and an ear that stands out of it is not hair to grow
    behind the outline's plane or to carry round the back (a prominent ear made a brim from behind
    the ear round the back of a short-haired head): there, behind the plane (fading in over
    ``DRAPE_BEHIND``), the outline directions of an ear that stands out of the hair round it
    (``EAR_BUMP_MM``) take the thickness of the direction just above the ear. In front of the
    plane the outline keeps its own (the ear solids are modelled on their own).
    """
    view = silhouette.view
    angle, speed = _direction_angles(directions, view)
    bins = len(silhouette.angles)
    which = _bin_of(angle, bins)
    px_per_mm = view.px_per_mm
    # sin of the angle from the view axis: the direction's share in the image plane.
    in_plane = np.clip(speed / px_per_mm, 0.0, 1.0)
    weight = in_plane ** BACK_POLE_POWER
    # Each direction's height in the image (y down, as the sine of its elevation), the outline's
    # left and right sides at a ladder of such heights, and which directions lie behind the
    # outline's plane.
    height = np.clip(speed * np.sin(angle) / px_per_mm, -1.0, 1.0)
    levels = np.linspace(-1.0, 1.0, HAIR_LEVELS)
    across = np.sqrt(1.0 - levels**2)
    left_side, right_side = _bin_of(np.arctan2(levels, -across), bins), _bin_of(np.arctan2(levels, across), bins)
    carry = int(round(HAIR_CARRY_DOWN / (levels[1] - levels[0])))
    width = max(int(round(HAIR_SMOOTH_DEG / 360.0 * bins)) | 1, 3)
    # The outline's thickness is smoothed over ``width`` bins: an ear's spreads that far past it.
    ear_arcs = _ear_arcs(ear_ends_mm, silhouette, margin=width)
    behind_weight = _behind_weight(directions, view)
    behind = directions @ view.view_dir > 0.0
    fade = np.asarray(fade, np.float64)
    target = np.where(silhouette.hair, silhouette.head_px, 0.0)
    thickness = np.zeros(bins)
    cut = silhouette.cut if silhouette.cut is not None and silhouette.cut.any() else None
    known = silhouette.hair if cut is None else silhouette.hair & ~cut
    if cut is not None and not known.any():
        cut = None  # no hair seen beside the cut: nothing to carry over it
    if cut is not None:
        # Along a cut the thickness is interpolated from the hair on either side of it; where the
        # outline beside a cut's end is not hair and lies below the head's centre (the jaw below a
        # side the photo cuts above the ears), that end has none. Interpolated from the nearest
        # hair instead, such an end took the thickness of hair across the chin, on the other side
        # of the face, and grew a ledge round the ear (face_recognition's obama_partial_face2).
        # Above the centre (a crown cut by the photo's top edge) the nearest hair still carries on.
        beside_cut = ~cut & (np.roll(cut, 1) | np.roll(cut, -1))
        below_centre = np.sin(silhouette.angles) >= 0.0  # image y runs down
        anchors = np.flatnonzero(known | (beside_cut & ~silhouette.hair & below_centre))
        # The weight of CUT_HAIR_MM along each cut: 0 at its ends, 1 in its middle.
        middle = np.sin(np.pi * _arc_position(cut)) ** CUT_BLEND_POWER
        # Each outline direction's mirror image across the crop's vertical through the centre (the
        # crop is upright on the face) and whether the hair is seen there.
        mirror = _mirror_bins(bins)
        frontal = abs(view.view_dir[0]) <= np.sin(np.radians(CUT_MIRROR_MAX_TURN_DEG))
        beside_head = np.abs(np.cos(silhouette.angles)) >= np.cos(np.radians(CUT_MIRROR_MAX_ELEVATION_DEG))
        mirrored = cut & known[mirror] & beside_head if frontal else np.zeros(bins, bool)
    radius = np.asarray(base_radius, np.float64)
    centre = silhouette.centre_mm
    for _ in range(iterations):
        current = outline_px(centre + directions * radius[:, None], silhouette)
        shortfall = np.where(silhouette.hair, np.maximum(target - current, 0.0), 0.0) / px_per_mm
        step = _circular_median(shortfall, width)
        thickness = thickness + _circular_mean(step, width)
        if cut is not None:
            # Where the photo cuts the head, the hair goes on from its thickness on either side of
            # the cut toward CUT_HAIR_MM in the middle of the cut: a crown cut off by the frame is
            # neither bald between two wings of hair nor as deep as hair that widens at the temples.
            anchored = np.where(known, thickness, 0.0)[anchors]
            beside = np.interp(np.arange(bins), anchors, anchored, period=bins)
            fill = (1.0 - middle) * beside + middle * np.minimum(beside, CUT_HAIR_MM)
            # Where the other side shows its hair, the cut side's is as thick.
            fill = np.where(mirrored, thickness[mirror], fill)
            thickness = np.where(cut, np.maximum(thickness, fill), thickness)
        mean = thickness[silhouette.hair].mean() if silhouette.hair.any() else 0.0
        no_ears = _without_ears(thickness, ear_arcs, silhouette.angles)
        at_level = 0.5 * (no_ears[left_side] + no_ears[right_side])
        # Carried down: the largest thickness at this height or up to HAIR_CARRY_DOWN above it.
        carried = np.array([at_level[max(0, i - carry):i + 1].max() for i in range(HAIR_LEVELS)])
        sides = np.interp(height, levels, carried)
        toward_pole = np.where(behind, np.maximum(sides, mean), mean)
        seen = (1.0 - behind_weight) * thickness[which] + behind_weight * no_ears[which]
        radius = base_radius + fade * (weight * seen + (1.0 - weight) * toward_pole)
    return hair_drape(directions, radius, silhouette, _hair_bottom_mm(silhouette, thickness))


def _mirror_bins(bins: int) -> np.ndarray:
    """``(bins,) int``: for each of ``bins`` outline directions at angles ``-pi + 2 pi k / bins`` (x
    right, y down), the direction mirrored left to right (angle ``pi - a``)."""
    return np.round(0.5 * bins - np.arange(bins)).astype(int) % bins


def _hair_bottom_mm(silhouette: Silhouette, thickness: np.ndarray) -> float:
    """How far below the centre (mm, down the view's image) the lowest outline direction reaches
    whose hair is at least ``DRAPE_MIN_MM`` thick (``thickness (A,)`` mm per outline direction);
    -inf where none reaches ``DRAPE_MIN_LENGTH`` of the way to the chin (the hair does not hang)."""
    thick = silhouette.hair & (thickness >= DRAPE_MIN_MM) & np.isfinite(silhouette.head_px)
    if not thick.any():
        return -np.inf
    down_px_per_mm = np.linalg.norm(silhouette.view.matrix[1, :3])
    bottom = float((silhouette.head_px[thick] * np.sin(silhouette.angles[thick])).max() / down_px_per_mm)
    chin = (silhouette.chin_row - silhouette.centre_px[1]) / down_px_per_mm
    return bottom if bottom >= DRAPE_MIN_LENGTH * chin else -np.inf


DRAPE_MIN_MM = 6.0
"""Hair hangs straight down behind the head to the lowest height at which the photo's outline
shows hair at least this thick beside the skull (``hair_drape``)."""
DRAPE_MIN_LENGTH = 1.1
"""... and only hair that hangs below the chin (this share of the way from the head's centre down to
the chin): shorter hair covers the back of the head as it does the sides. A drape to the ears'
height made short hair a helmet; to the chin's, a bun seen from behind a turned head (whose outline
then runs down the nape) a bob."""
DRAPE_BEHIND = 0.3
"""The drape's weight rises from 0 at the outline's plane to 1 this far behind it (the cosine of
the angle between a direction and the view's)."""
DRAPE_AZIMUTH_BINS = 90
"""Bins around the vertical axis over which the head's widest extent is carried down."""


def hair_drape(directions: np.ndarray, radius: np.ndarray, silhouette: Silhouette, bottom_mm: float) -> np.ndarray:
    """The head grown by hair that hangs straight down behind it: ``(N,)`` mm along unit
    ``directions (N, 3)`` from ``radius (N,)`` mm.

    Behind the outline's plane the hair does not follow the skull in under the occiput and round the
    nape, as the prior and the thickness carried round from the sides do (a bob came out as a cap
    over a thin neck); it falls from the head's widest point: at each height each direction reaches
    at least the largest horizontal extent of the head above it in its vertical half-plane, down to
    ``bottom_mm`` below the centre (``_hair_bottom_mm``: the photo's sides show how long the hair
    is), and never past the head-and-hair outline in the view. "Down" is the view's image down; the
    weight fades in over ``DRAPE_BEHIND`` behind the outline's plane, so the face and the sides keep
    their own shape.
    """
    if not np.isfinite(bottom_mm):
        return radius
    view = silhouette.view
    down = view.matrix[1, :3] / np.linalg.norm(view.matrix[1, :3])
    back = view.view_dir - (view.view_dir @ down) * down
    back /= np.linalg.norm(back)
    across = np.cross(down, back)
    vertical = np.clip(directions @ down, -1.0, 1.0)
    horizontal = np.sqrt(np.maximum(1.0 - vertical**2, 0.0))
    azimuth = np.arctan2(directions @ back, directions @ across)
    azimuth_bin = _bin_of(azimuth, DRAPE_AZIMUTH_BINS)
    level = np.round((vertical + 1.0) / 2.0 * (HAIR_LEVELS - 1)).astype(np.int64)
    extent = np.zeros((DRAPE_AZIMUTH_BINS, HAIR_LEVELS))
    np.maximum.at(extent, (azimuth_bin, level), radius * horizontal)
    # Down the levels (vertical grows downward): the widest extent at or above each height.
    above = np.maximum.accumulate(extent, axis=1)[azimuth_bin, level]
    draped = above / np.maximum(horizontal, 1e-6)
    # Not below the hair's ends: a point's height below the centre is radius * vertical.
    draped = np.where(vertical > 1e-6, np.minimum(draped, np.maximum(bottom_mm, 0.0) / np.maximum(vertical, 1e-6)),
                      draped)
    # Nor past the head-and-hair outline in the view (the photo shows where the hair ends there).
    draped = np.minimum(draped, _radius_to(silhouette.head_px, directions, silhouette))
    return radius + _behind_weight(directions, view) * np.maximum(draped - radius, 0.0)


def person_tops(silhouette: Silhouette, body_rotation: np.ndarray, depth_mm: float, xs: np.ndarray,
                from_y: float, to_y: float, raised_from_y: float | None = None,
                step_mm: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The highest point of the person in each column of a body frame, looking down from a height.

    body_rotation: ``(3, 3)`` rows = the body frame's axes in head-frame coordinates (y up).
    depth_mm: the body-frame z of the plane looked in (the neck's).  xs: ``(n,)`` body x, mm.
    from_y, to_y: the heights looked between (from_y > to_y), mm.  raised_from_y: above
    ``from_y`` and up to this height only the body beside the head counts
    (``Silhouette.raised_body``: shoulders that show above the chin), None: nothing above from_y.
    Returns ``(top (n,) mm, NaN where no person; seen (n,) bool: the photo shows the column down to
    its top, or all the way when there is none, and the top is the body's own: not a body beside
    the head that goes on above the highest a shoulder may show (``Silhouette.raised_top_row``) or
    above ``raised_from_y``, nor the rest of its run of columns above ``from_y``)``.
    """
    raised = silhouette.raised_body is not None and raised_from_y is not None and raised_from_y > from_y
    ys = np.arange(raised_from_y if raised else from_y, to_y - step_mm, -step_mm)
    grid = np.stack(np.broadcast_arrays(np.asarray(xs)[None, :], ys[:, None], depth_mm), axis=-1)
    px = silhouette.view.project(grid.reshape(-1, 3) @ np.asarray(body_rotation))
    size = silhouette.person.shape[0]
    ix = np.round(px[:, 0]).astype(np.int64)
    iy = np.round(px[:, 1]).astype(np.int64)
    on = (ix >= 0) & (ix < size) & (iy >= 0) & (iy < size)

    def sampled(mask: np.ndarray) -> np.ndarray:
        """``(len(ys), len(xs)) bool`` the crop ``mask`` at the grid's pixels (False off the crop)."""
        values = np.zeros(len(px), bool)
        values[on] = mask[iy[on], ix[on]]
        return values.reshape(len(ys), len(xs))

    person, seen = sampled(silhouette.person), sampled(silhouette.seen)
    if raised:
        above = ys > from_y
        person[above] = sampled(silhouette.raised_body)[above]
    found = person.any(axis=0)
    first = np.argmax(person, axis=0)
    top = np.where(found, ys[first], np.nan)
    # Seen: every sample down to the top (or the whole column) lies inside the photo.
    depth = np.where(found, first, len(ys) - 1)
    shown = np.cumprod(seen, axis=0).astype(bool)[depth, np.arange(len(xs))]
    if raised and silhouette.raised_top_row is not None:
        # A body that reaches the highest row it may (``BODY_ABOVE_CHIN``), or the highest sample
        # looked at, goes on above it: its top is not seen. Standing behind the shoulder a
        # neighbour or a listener (obama2's), an arm raised beside the head; as a top edge they
        # were towers beside the neck. So is the rest of its run of columns above the chin: the
        # same neighbour or arm, lower.
        top_row = iy.reshape(len(ys), len(xs))[first, np.arange(len(xs))]
        above = found & (ys[first] > from_y)
        reaching = above & ((first == 0) | (top_row <= silhouette.raised_top_row + RAISED_TOP_TOLERANCE_PX))
        # Each run of neighbouring columns above from_y gets a number (1, 2, ...; 0 elsewhere).
        runs = np.cumsum(np.diff(above.astype(np.int8), prepend=0) == 1) * above
        shown &= ~np.isin(runs, runs[reaching])
    return top, shown
