"""Live head scan: the head and hair from every side, carved from person masks as the head turns.

In, per scanned frame: the person mask around the face (``realtime.stages.segmentation.PersonMask``),
the fused head pose (``camera = rotation @ canonical + translation``, mm) and the camera's
intrinsics. Out: ``ScanResult``: a radial *visual hull* of the head and hair in fusion's
canonical frame (per direction from the head's centre, how far the head can reach and still lie
inside the person's outline in every frame), which directions some frame has actually
constrained, and the coverage figure the HUD shows.

Each frame bounds every ray from the head's centre: the ray's image is a straight line from the
centre's pixel, and the point ``s`` mm along it lands ``rho(s) = |g| s / (Z + s dz)`` pixels away
(``g`` the line's image direction scaled by ``f / Z``, ``Z`` the centre's depth, ``dz`` the ray's
depth rate), so the person's outline at ``rho*`` pixels bounds it at ``s = rho* Z / (|g| - rho* dz)``.
A frame constrains a direction well only when it sees that direction edge on (the direction is
nearly across the view); those bounds are kept per direction and their low median is the hull
(the minimum of all of them, the textbook visual hull, lets one frame's mask or pose error bite
a notch that every later frame keeps). Directions no frame has seen edge on stay unknown, and
the bust builder uses the single-view shape there.

The hull is only as good as each frame's pose, and fusion's reads a turn short (on rendered heads
6-12 deg at 50-60 deg of yaw): its pose comes from a 3D fit to the network's mesh, whose depths
flatten a turned face, and its expression offsets soak up part of the turn (up to 19 mm at 60 deg).
So before carving, each frame's pose is refined on that frame's own image evidence:
``landmark_pose`` moves the neutral fused identity (no expression) until its projection lies on
the frame's landmarks, starting from fusion's pose (``ScanOptions.refine_pose``). Frames turned
well away from the camera (``TRUSTED_TURN_DEG`` and more), which alone carve the back, are then
turned about the head's vertical axis and scaled in distance until their outline agrees with the
hull the near-frontal frames carved where both see the head (``consistent_turn``): silhouette
consistency, which makes up for what the landmarks still get wrong at large turns.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from realtime import geometry, topology
from realtime.printing import silhouette
from realtime.shapes import check_shape

log = logging.getLogger(__name__)

SPHERE_SUBDIVISIONS = 4
"""Icosphere level of the hull's directions: 2,562, ~ 4 deg apart (~ 7 mm at the crown); the bust
builder interpolates them onto its own finer sphere, and hair at a bust's scale is no finer."""
EDGE_ON = 0.35
"""A frame constrains a direction when |direction . view| is below this (within ~ 20 deg of edge
on): there the outline is where the head is; further round it only bounds it loosely."""
SAMPLES_PER_DIRECTION = 24
"""Bounds kept per direction (the most recent edge-on ones): 4 s of scanning at one frame in five;
on rendered turns 12 kept 0.1-0.3 mm more error (older, better bounds pushed out by later ones)."""
LOW_QUANTILE = 0.3
"""The hull's radius is this quantile of a direction's kept bounds: tight (a hull is an upper
bound) but not the minimum, which one bad mask or pose would decide."""
MIN_BOUNDS = 2
"""Bounds a direction needs before it counts as seen."""
ANGLE_BINS = 360
"""Directions around the centre's pixel at which each frame's outline is measured (1 deg)."""
COVERAGE_READY = 0.6
"""Share of the head's directions (above the ears' level, outside the face) that must be seen
before a snapshot uses the scan instead of the single view."""
LOOSE_SLACK_MM = 8.0
"""How far past the tightest bound of any frame a direction's hull may lie (see ``result``)."""
HEAD_MIN_ELEVATION = 0.0
"""The scan's directions of the head and hair (coverage, the bust's use): sin of the elevation above
the head centre's level (the eyes') from which a direction counts."""
FACE_CONE = 0.5
"""... and no nearer the face's forward axis than this (cos of the angle): the face is the mesh's."""
SIDE_LAG = 0.1
"""The HUD asks for a turn to one side when that side's coverage is this far below the other's."""
MAX_TURN_DEG = 50.0
"""Frames whose face is turned further than this from the camera (as the refined pose reads it)
are not carved with: even the refined pose reads the turn short there (on rendered heads 5-9 deg
at 55-60 deg), and a silhouette placed at the wrong angle carves the hull where the head is."""
_NOSE = topology.MIDLINE[topology.MIDLINE.index(topology.NOSE_BRIDGE[0]):topology.MIDLINE.index(topology.NOSE_BOTTOM) + 1]
POSE_LANDMARKS = np.array(sorted(set(topology.RIGHT_EYE) | set(topology.LEFT_EYE) | set(_NOSE) | set(topology.LIPS_OUTER)))
"""The landmarks ``landmark_pose`` fits: the eyes' outlines, the nose and the lips' outline, features
the network pins to the image. The face's outline and the cheeks, where the network's surface slides
as the head turns, are left out: with all 468 the hull on rendered hair heads was 0.4-0.7 mm worse
on the sides and 0.1-1.7 mm on the back (three turn sizes); with the eyes and nose alone, the pitch
has no lever below the nose and the back was 2-5 mm worse."""
POSE_ITERATIONS = 3
"""Gauss-Newton steps of ``landmark_pose`` from fusion's pose: on rendered turns 3 give the hull 5
give to 0.01 mm (2: 0.03 mm); each is some 40 small numpy calls on the scan's thread."""
POSE_HUBER_K = 2.0
"""Landmarks further than this many robust sigmas from the projection count less (the far
cheek's hidden landmarks, which the network guesses, at large turns)."""
TRUSTED_TURN_DEG = 30.0
"""Frames turned less than this carve the reference the more turned ones are aligned with: there the
refined pose is within ~ 2 deg of the rendered one (at 50-60 deg it is still 3-9 deg short).
Tried 25 and 35 on three rendered turns: the back 2.6-3.8 mm (30: 2.4-3.2), 3.2-5.0 unaligned."""
ALIGN_YAW_DEG = 12.0
"""How far ``consistent_turn`` may turn a frame about the head's vertical axis, either way."""
ALIGN_COARSE_STEP_DEG = 3.0
"""... searched in steps of this first,"""
ALIGN_STEP_DEG = 1.0
"""... then in steps of this around the best (13 turns tried instead of 25: the same hull to 0.1 mm)."""
ALIGN_MIN_DIRECTIONS = 40
"""Directions a frame and the reference must share (edge on, bounded in both) to align it."""
ALIGN_CLIP_MM = 8.0
"""A shared direction disagreeing by more than this counts as this much (a mask's stray notch)."""
OTHER_FACES_TILES: tuple[float, ...] = ()
"""Tiles the scan's search for other people looks in besides the whole frame: none. Someone near
enough to join your outline in a webcam's frame shows a face the whole frame's detector finds
(~ 3 ms; the photo's tiles cost ~ 37 ms a frame here)."""
MAX_REACH_MM = 400.0
"""Bounds further than this (the ray never left the outline in the frame) are no bound."""


@dataclass(frozen=True)
class ScanOptions:
    """every_n_frames: scan one frame in this many (the loop's cost is a fraction of one scan).
    ready_coverage: ``COVERAGE_READY``.  max_turn_deg: ``MAX_TURN_DEG``.
    refine_pose: refine each frame's pose on its landmarks before carving (``landmark_pose``).
    align_turned: turn and scale frames turned past ``TRUSTED_TURN_DEG`` to agree with the
    near-frontal frames' hull before carving (``consistent_turn``).
    separate_people: find the other people in each scanned frame and leave them out of the
    person's mask (``LiveScanner``)."""

    every_n_frames: int = 5
    ready_coverage: float = COVERAGE_READY
    max_turn_deg: float = MAX_TURN_DEG
    refine_pose: bool = True  # carve with ``landmark_pose`` (False: with fusion's pose as given)
    align_turned: bool = True  # align frames turned past ``TRUSTED_TURN_DEG`` (``consistent_turn``)
    separate_people: bool = True  # someone beside you is not your hair (``LiveScanner.frame_mask``)


@dataclass(frozen=True)
class ScanResult:
    """The hull so far, canonical frame.

    centre_mm: ``(3,)`` the rays' origin.  directions: ``(N, 3)`` unit.  radius_mm: ``(N,)`` the
    hull's radius (inf where unseen).  seen: ``(N,) bool``.  coverage: seen share of the head's
    directions (above the ears, outside the face), 0..1.  frames: frames scanned.
    ready: coverage >= the options' ``ready_coverage``.  last_ms: the last update's cost.
    coverage_left, coverage_right: the same on the person's left (canonical +x) and right half.
    slant: ``(N,)`` the most edge-on any frame saw each direction, ``|direction . view|`` (0: exactly
    edge on; 1: unseen): a bound from a frame that saw it at a slant lies outside the surface, on a
    round head by a share ``1 / sqrt(1 - slant^2) - 1`` (7% at ``EDGE_ON``).
    """

    centre_mm: np.ndarray
    directions: np.ndarray
    radius_mm: np.ndarray
    seen: np.ndarray
    coverage: float
    frames: int
    ready: bool
    last_ms: float = 0.0
    coverage_left: float = 0.0
    coverage_right: float = 0.0
    slant: np.ndarray | None = None


def turn_hint(coverage_left: float, coverage_right: float) -> str:
    """Which way the person should turn to see more of their head: the side with less coverage
    is seen by turning the face away from it (a face turned to the person's right shows the left
    of the head). ``"right"``, ``"left"`` (the person's own), or ``"left and right"``."""
    if coverage_left < coverage_right - SIDE_LAG:
        return "right"
    if coverage_right < coverage_left - SIDE_LAG:
        return "left"
    return "left and right"


def sphere_directions(subdivisions: int = SPHERE_SUBDIVISIONS) -> np.ndarray:
    """Unit directions ``(N, 3) float64`` of an icosphere."""
    return geometry.icosphere(subdivisions)[0]


def turn_from_camera_deg(rotation: np.ndarray, centre_cam: np.ndarray) -> float:
    """Degrees between the face's forward axis (canonical +z, turned by ``rotation (3, 3)``) and the
    direction back to the camera from the head at ``centre_cam (3,)``."""
    forward = np.asarray(rotation, np.float64) @ np.array([0.0, 0.0, 1.0])
    to_camera = -np.asarray(centre_cam, np.float64) / np.linalg.norm(centre_cam)
    return float(np.degrees(np.arccos(np.clip(forward @ to_camera, -1.0, 1.0))))


def landmark_pose(identity_mm: np.ndarray, vertices_px: np.ndarray, fx: float, fy: float, cx: float,
                  cy: float, rotation: np.ndarray, translation_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pose that puts the neutral identity's projection on one frame's landmarks
    (``POSE_LANDMARKS``).

    identity_mm: ``(468, 3)`` canonical mm (fusion's identity, without its expression: the
    expression offsets carry part of a turn the 3D fit missed).  vertices_px: ``(468, 2+)`` the
    frame's landmarks, image px.  fx, fy, cx, cy: intrinsics, px.  rotation ``(3, 3)``,
    translation_mm ``(3,)``: the starting pose (fusion's), canonical -> camera.
    Returns ``(rotation (3, 3) float64, translation_mm (3,) float64)``: minimises the landmarks'
    reprojection error (Huber-weighted, ``POSE_HUBER_K``) over rotation and translation; the
    identity's size fixes the distance.
    """
    identity = check_shape("identity_mm", identity_mm, (topology.N_VERTICES, 3), dtype=np.float64)
    pixels = check_shape("vertices_px", vertices_px, (topology.N_VERTICES, None))[POSE_LANDMARKS, :2]
    pixels = np.asarray(pixels, np.float64)
    # Normalised image positions: ((u - cx) / fx, (v - cy) / fy) = (X / Z, Y / Z).
    rays = np.column_stack([(pixels[:, 0] - cx) / fx, (pixels[:, 1] - cy) / fy])
    return geometry.reprojection_pose(identity[POSE_LANDMARKS], rays, np.ones(len(rays)), 1.0, rotation,
                                      translation_mm, iterations=POSE_ITERATIONS, huber_k=POSE_HUBER_K)


def low_quantile(bounds_mm: np.ndarray, kept: np.ndarray, quantile: float = LOW_QUANTILE) -> np.ndarray:
    """Per row, the ``quantile`` of its ``kept`` finite values, linear between the two order
    statistics around it as numpy's default quantile; inf where fewer than ``MIN_BOUNDS``.

    bounds_mm: ``(N, K)`` with unkept slots inf (they sort last).  kept: ``(N,) int`` finite per row.
    Returns ``(N,) float64``.
    """
    radius = np.full(len(bounds_mm), np.inf)
    seen = kept >= MIN_BOUNDS
    if seen.any():
        ordered = np.sort(bounds_mm[seen], axis=1)
        position = quantile * (kept[seen] - 1)
        below = np.floor(position).astype(np.int64)
        above = np.minimum(below + 1, kept[seen] - 1)
        rows = np.arange(len(ordered))
        fraction = position - below
        radius[seen] = ordered[rows, below] * (1 - fraction) + ordered[rows, above] * fraction
    return radius


def consistent_turn(bounds_at, reference_mm: np.ndarray) -> tuple[float, float]:
    """The turn about the head's vertical axis and the distance scale that make one frame's outline
    agree best with a reference hull.

    bounds_at: ``yaw (rad) -> (bounds (N,) mm, edge_on (N,) bool)``, the frame's ray bounds with its
    pose turned by ``yaw`` about the canonical y axis through the hull's centre.  reference_mm:
    ``(N,)`` the reference hull's radius over the same directions (inf: unknown). The turns tried:
    within ``ALIGN_YAW_DEG`` either way, ``ALIGN_COARSE_STEP_DEG`` apart, then ``ALIGN_STEP_DEG``
    apart around the best of those.
    The distance scale ``k`` multiplies every bound (moving the head along its line of sight
    scales the rays' bounds alike): for each turn, the median ratio of reference to bound over the
    shared directions; the score is the mean disagreement ``|k b - r|``, each clipped at
    ``ALIGN_CLIP_MM``. Returns ``(yaw rad, k)``; ``(0, 1)`` when no turn shares
    ``ALIGN_MIN_DIRECTIONS`` directions with the reference.
    """
    known = np.isfinite(reference_mm)
    best = (np.inf, 0.0, 1.0)

    def search(yaws_deg: np.ndarray) -> None:
        nonlocal best
        for yaw in np.radians(yaws_deg):
            bounds, edge_on = bounds_at(float(yaw))
            shared = edge_on & known & np.isfinite(bounds)
            if shared.sum() < ALIGN_MIN_DIRECTIONS:
                continue
            scale = float(np.median(reference_mm[shared] / bounds[shared]))
            disagreement = np.minimum(np.abs(scale * bounds[shared] - reference_mm[shared]), ALIGN_CLIP_MM)
            score = float(np.mean(disagreement))
            if score < best[0]:
                best = (score, float(yaw), scale)

    search(np.arange(-ALIGN_YAW_DEG, ALIGN_YAW_DEG + 1e-9, ALIGN_COARSE_STEP_DEG))
    if np.isfinite(best[0]):
        around = np.degrees(best[1]) + np.arange(ALIGN_STEP_DEG, ALIGN_COARSE_STEP_DEG - 1e-9, ALIGN_STEP_DEG)
        around = np.concatenate([around, 2 * np.degrees(best[1]) - around])
        search(around[np.abs(around) <= ALIGN_YAW_DEG + 1e-9])
    return best[1], best[2]


def yaw_rotation(yaw_rad: float) -> np.ndarray:
    """``(3, 3) float64`` turn by ``yaw_rad`` about the canonical y axis (the head's vertical)."""
    c, s = np.cos(yaw_rad), np.sin(yaw_rad)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def ray_bounds(centre_cam: np.ndarray, directions_cam: np.ndarray, fx: float, fy: float,
               extent_px: np.ndarray, angles: np.ndarray, crop_scale: float) -> np.ndarray:
    """How far each ray from a camera-space point stays inside an outline, mm ``(N,)`` (inf: no bound).

    centre_cam: ``(3,)`` mm, OpenCV camera axes.  directions_cam: ``(N, 3)`` unit, same axes.
    fx, fy: focal lengths, px.  extent_px: ``(A,)`` crop pixels from the centre's pixel to the
    outline along each of ``angles (A,)`` (radians, atan2(dy, dx) in the crop).  crop_scale: crop
    pixels per image pixel (the crop is a rotation and scaling of the image: its angles are the
    image's, turned by the crop's rotation, which the caller has folded into ``angles``).
    """
    x, y, z = centre_cam
    d = np.asarray(directions_cam, np.float64)
    # Image direction of each ray at the centre, image px per mm at s -> 0: g / Z.
    gx = fx * (d[:, 0] * z - x * d[:, 2]) / z
    gy = fy * (d[:, 1] * z - y * d[:, 2]) / z
    speed = np.hypot(gx, gy)
    angle = np.arctan2(gy, gx)
    bins = len(angles)
    which = np.round((angle - angles[0]) / (2 * np.pi) * bins).astype(np.int64) % bins
    rho = extent_px[which] / crop_scale  # image px
    with np.errstate(divide="ignore", invalid="ignore"):
        denominator = speed - rho * d[:, 2]
        s = rho * z / denominator
    bound = np.where((denominator > 1e-9) & np.isfinite(rho) & (s > 0), s, np.inf)
    return np.where(bound > MAX_REACH_MM, np.inf, bound)


class HeadScan:
    """Accumulates the hull. ``update(mask, vertices_px, rotation, translation_mm, intrinsics,
    identity_mm)``; ``result()``; ``reset()``."""

    def __init__(self, options: ScanOptions = ScanOptions()):
        self.options = options
        self.directions = sphere_directions()
        self.reset()

    def reset(self) -> None:
        n = len(self.directions)
        self._bounds = np.full((n, SAMPLES_PER_DIRECTION), np.inf)
        self._count = np.zeros(n, np.int64)
        # The near-frontal frames' bounds alone: the reference turned frames are aligned with.
        self._trusted_bounds = np.full((n, SAMPLES_PER_DIRECTION), np.inf)
        self._trusted_count = np.zeros(n, np.int64)
        self._reference = None
        self._loose = np.full(n, np.inf)
        self._slant = np.ones(n)
        self._centre = None
        self._head_directions = None
        self._left = self.directions[:, 0] > 0  # canonical +x: the person's left
        self.frames = 0
        self.last_ms = 0.0
        self._cached = None

    def due(self, frame_index: int) -> bool:
        """Whether to scan this frame (one in ``every_n_frames``)."""
        return frame_index % max(self.options.every_n_frames, 1) == 0

    def start(self, centre_mm: np.ndarray, head_directions: np.ndarray | None = None) -> None:
        """Fix the hull's centre ``(3,)`` (canonical mm) and which directions ``(N,) bool`` count for
        coverage (None: all); ``update`` does this from the identity when it was not called."""
        self._centre = np.asarray(centre_mm, np.float64)
        self._head_directions = (np.ones(len(self.directions), bool) if head_directions is None
                                 else np.asarray(head_directions, bool))
        self._left = self.directions[:, 0] > 0

    def _start(self, identity_mm: np.ndarray) -> None:
        from realtime.printing import surface

        identity = check_shape("identity_mm", identity_mm, (topology.N_VERTICES, 3), dtype=np.float64)
        rotation, origin = geometry.head_frame(identity)
        head = (identity - origin) @ rotation.T
        centre_head = surface.field_centre(head)
        self._centre = rotation.T @ centre_head + origin  # canonical
        # The head's own directions: level with the eyes (the centre's height) and above, outside
        # the face's cone; below, the ears, jaw and neck are the single view's and the prior's.
        head_dirs = self.directions @ rotation.T  # canonical -> head frame
        self._head_directions = (head_dirs[:, 1] > HEAD_MIN_ELEVATION) & (head_dirs[:, 2] < FACE_CONE)
        self._left = head_dirs[:, 0] > 0

    def update(self, mask, vertices_px: np.ndarray, rotation: np.ndarray, translation_mm: np.ndarray,
               intrinsics, identity_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Carve with one frame. mask: ``PersonMask`` around the face; vertices_px: ``(468, 2+)``
        the face in the frame; rotation ``(3, 3)``, translation_mm ``(3,)``: the fused pose,
        canonical -> camera; intrinsics: ``CameraIntrinsics``; identity_mm: ``(468, 3)`` canonical
        (None: the centre was set with ``start`` and the pose is used as given).
        Returns the pose the frame was carved with, ``(rotation (3, 3), translation_mm (3,))``
        float64 (refined; an aligned frame's turn about the hull's centre included, its distance
        scale not), or None when the frame was not carved."""
        start = time.perf_counter()
        if self._centre is None:
            self._start(identity_mm)
        rotation = np.asarray(rotation, np.float64)
        if self.options.refine_pose and identity_mm is not None:
            rotation, translation_mm = landmark_pose(np.asarray(identity_mm, np.float64), vertices_px, intrinsics.fx,
                                                     intrinsics.fy, intrinsics.cx, intrinsics.cy, rotation,
                                                     translation_mm)
        centre_cam = rotation @ self._centre + np.asarray(translation_mm, np.float64)
        if centre_cam[2] <= 0:
            return None
        turn_deg = turn_from_camera_deg(rotation, centre_cam)
        align = self.options.align_turned and turn_deg >= TRUSTED_TURN_DEG
        # An aligned frame may come back under the limit: try those within the alignment's reach.
        if turn_deg > self.options.max_turn_deg + (ALIGN_YAW_DEG if align else 0.0):
            return None
        # The centre's pixel in the crop; the crop is the image turned and scaled.
        centre_px = np.array([intrinsics.fx * centre_cam[0] / centre_cam[2] + intrinsics.cx,
                              intrinsics.fy * centre_cam[1] / centre_cam[2] + intrinsics.cy])
        m = mask.crop_from_image
        centre_crop, nose = mask.to_crop(np.array([centre_px, np.asarray(vertices_px, np.float64)[topology.NOSE_TIP, :2]]))
        crop_scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
        turn = float(np.arctan2(m[1, 0], m[0, 0]))  # the crop's rotation of image directions
        person = silhouette.clean_person(mask.probability, nose) | ~mask.seen
        angles = np.linspace(-np.pi, np.pi, ANGLE_BINS, endpoint=False)
        extent = silhouette.polar_extent(person, centre_crop, angles, last=False, beyond=True)
        # Image angle a is crop angle a + turn: look the crop's extent up at image angles.
        image_angles = np.mod(angles - turn + np.pi, 2 * np.pi) - np.pi
        order = np.argsort(image_angles)
        view = centre_cam / np.linalg.norm(centre_cam)

        def rays_at(yaw: float, directions: np.ndarray = self.directions) -> tuple[np.ndarray, np.ndarray]:
            """The rays' bounds and slants ``|direction . view|`` with the pose turned by ``yaw``."""
            # Turning about the canonical y axis through the hull's centre keeps the centre put.
            dirs_cam = directions @ (rotation @ yaw_rotation(yaw)).T
            bounds = ray_bounds(centre_cam, dirs_cam, intrinsics.fx, intrinsics.fy, extent[order],
                                image_angles[order], crop_scale)
            return bounds, np.abs(dirs_cam @ view)

        def bounds_at(yaw: float, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            bounds, along = rays_at(yaw, directions)
            return bounds, along < EDGE_ON

        yaw, scale = 0.0, 1.0
        if align:
            # Only directions the reference knows and some tried turn can bring edge on take part.
            reference = self._reference_hull()
            reachable = np.abs(self.directions @ rotation.T @ view) < EDGE_ON + np.sin(np.radians(ALIGN_YAW_DEG))
            shared = np.isfinite(reference) & reachable
            yaw, scale = consistent_turn(lambda yaw: bounds_at(yaw, self.directions[shared]), reference[shared])
            if turn_from_camera_deg(rotation @ yaw_rotation(yaw), centre_cam) > self.options.max_turn_deg:
                return None
        bounds, along = rays_at(yaw)
        bounds = bounds * scale
        self._loose = np.minimum(self._loose, bounds)
        take = (along < EDGE_ON) & np.isfinite(bounds)
        self._slant = np.where(take, np.minimum(self._slant, along), self._slant)
        slot = self._count[take] % SAMPLES_PER_DIRECTION
        self._bounds[np.nonzero(take)[0], slot] = bounds[take]
        self._count[take] += 1
        if turn_deg < TRUSTED_TURN_DEG:
            slot = self._trusted_count[take] % SAMPLES_PER_DIRECTION
            self._trusted_bounds[np.nonzero(take)[0], slot] = bounds[take]
            self._trusted_count[take] += 1
            self._reference = None
        self.frames += 1
        self.last_ms = 1000.0 * (time.perf_counter() - start)
        carved = rotation @ yaw_rotation(yaw)
        return carved, centre_cam - carved @ self._centre

    def _reference_hull(self) -> np.ndarray:
        """``(N,)`` mm: the hull of the near-frontal frames alone (inf: unknown), cached."""
        if self._reference is None:
            self._reference = low_quantile(self._trusted_bounds,
                                           np.minimum(self._trusted_count, SAMPLES_PER_DIRECTION))
        return self._reference

    def result(self) -> ScanResult:
        """The hull so far (computed once per update, then cached)."""
        if self._cached is None or self._cached.frames != self.frames:
            self._cached = self._result()
        return self._cached

    def _result(self) -> ScanResult:
        n = len(self.directions)
        kept = np.minimum(self._count, SAMPLES_PER_DIRECTION)
        seen = kept >= MIN_BOUNDS
        radius = low_quantile(self._bounds, kept)
        # Never far beyond what any frame allowed at all (a loose bound from a frame that saw
        # the direction at a slant may still be the tightest an unlucky direction gets).
        radius = np.minimum(radius, self._loose + LOOSE_SLACK_MM)
        head = self._head_directions if self._head_directions is not None else np.ones(n, bool)

        def share(part: np.ndarray) -> float:
            return float(seen[part].mean()) if part.any() else 0.0

        coverage = share(head)
        centre = self._centre if self._centre is not None else np.zeros(3)
        return ScanResult(centre, self.directions, radius, seen, coverage, self.frames,
                          coverage >= self.options.ready_coverage, self.last_ms,
                          share(head & self._left), share(head & ~self._left), self._slant.copy())

    def close(self) -> None:
        pass

    def __enter__(self) -> "HeadScan":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LiveScanner:
    """Runs the scan beside the live loop: ``offer`` a fused frame each step; one frame in
    ``every_n_frames`` is segmented and carved on a background thread, and only when the last
    is done, so the loop never waits for it. ``result()`` is the hull so far.

    The live loop tracks one face, so each scanned frame is searched for other people first
    (``frame_mask``): someone standing beside you, whose head joins yours in the person mask, would
    otherwise be carved into the hull as hair. The search is the detector on the whole frame
    (``OTHER_FACES_TILES``; ~ 3 ms), and a mesh run and a mask per other face.

    The search, the person segmentation (~ 4 ms a frame on this 2-core CPU) and the carving
    (~ 3-6 ms) release the GIL for most of their time; at one frame in five that is ~ 2-3 ms a
    frame on average (``selfie3d bench --render`` measures the loop with and without it).
    """

    def __init__(self, options: ScanOptions = ScanOptions(), segmenter=None, beside=None):
        import concurrent.futures

        self.options = options
        self.scan = HeadScan(options)
        self._segmenter = segmenter
        self._beside = beside
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="scan")
        self._pending = None
        self._generation = 0
        self.cost_ms: list[float] = []
        self.failed_frames = 0  # frames whose segmentation or carving raised (logged once)

    @property
    def segmenter(self):
        if self._segmenter is None:
            from realtime.stages.segmentation import PersonSegmenter

            self._segmenter = PersonSegmenter()
        return self._segmenter

    @property
    def beside(self):
        """The search for other people (``realtime.stages.photo.FacesBeside``), made on first use."""
        if self._beside is None:
            from realtime.stages.photo import FacesBeside

            self._beside = FacesBeside(OTHER_FACES_TILES)
        return self._beside

    def frame_mask(self, image_bgr: np.ndarray, vertices_px: np.ndarray):
        """The ``PersonMask`` a frame is carved with: the person around the face at ``vertices_px
        (468, 2+)``, the other people in ``image_bgr`` left out (``ScanOptions.separate_people``)."""
        vertices = np.asarray(vertices_px)
        others = self.beside.find(image_bgr, vertices) if self.options.separate_people else []
        return self.segmenter.run(image_bgr, [vertices], others).masks[0]

    def offer(self, image_bgr: np.ndarray, vertices_px: np.ndarray, fused, intrinsics, frame_index: int,
              wait: bool = False) -> bool:
        """Consider one frame; returns whether it was taken. ``fused``: its ``FusionResult``
        (the scan starts once fusion's identity frame is final: ``SETTLED_FRAMES``). ``wait``: carve
        it before returning (a video file's frames: every due frame is carved, none is passed over
        while the last one carves, so a file scans alike on any machine)."""
        if fused is not None and getattr(fused, "identity_reset", False):
            # A new identity (someone else, or fusion starting over): the hull was carved in the old
            # one's frame. Fusion counts its frames from one again, so this is looked at first.
            self.reset()
            return False
        if fused is None or getattr(fused, "frames_fused", 0) < SETTLED_FRAMES:
            return False
        if not self.scan.due(frame_index) or (self._pending is not None and not self._pending.done()):
            return False
        generation = self._generation
        identity = np.array(fused.identity_mm, np.float64)
        rotation, translation = np.array(fused.raw_rotation), np.array(fused.raw_translation_mm)
        vertices = np.array(vertices_px)

        def work():
            start = time.perf_counter()
            try:
                mask = self.frame_mask(image_bgr, vertices)
                if generation == self._generation:
                    self.scan.update(mask, vertices, rotation, translation, intrinsics, identity)
                    self.cost_ms.append(1000.0 * (time.perf_counter() - start))
            except Exception as error:  # one frame the scan could not take: the loop and the others go on
                self.failed_frames += 1
                if self.failed_frames == 1:
                    log.warning("head scan: a frame could not be carved (%s: %s); the scan goes on without it",
                                type(error).__name__, error)

        self._pending = self._executor.submit(work)
        if wait:
            self._pending.result()
        return True

    def result(self) -> ScanResult:
        return self.scan.result()

    def reset(self) -> None:
        self._generation += 1
        if self._pending is not None:
            self._pending.result()
        self.scan.reset()
        self.cost_ms.clear()

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        if self._segmenter is not None:
            self._segmenter.close()

    def __enter__(self) -> "LiveScanner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _settled_frames() -> int:
    from realtime.stages.fusion import FusionOptions

    return max(FusionOptions().recanonicalise_at_frames, default=0) + 1


SETTLED_FRAMES = _settled_frames()
"""Fused frames after which fusion no longer re-centres its identity's frame (the hull lives in it)."""
