"""The camera's roll: how far a photo was taken (or scanned) askew, read from the straight lines
behind the people, or from one person's face and shoulders where the photo shows no room.

A bust stands on the photo's up (``printing.bust.body_frame``), so a photo taken with the phone
held askew gave a bust whose head and shoulders lean together: turned 10 degrees, a photo's bust
moved 2-4 mm (two different people's busts are 4.6 mm apart). People lean, toward a neighbour in a
party photo by 10-50 degrees, and the bust keeps that (the shoulders alone were tried as the level
and stood those people up). The room does not: door frames, walls, windows, poles and picture
frames stand vertical, and a camera held askew leans them all alike. In: a BGR photo and the
people's pixels (whose own lines, a tie, a lapel, a strand of hair, say nothing about the room).
Out: ``LevelResult``, the camera's roll where the photo's near-vertical straight lines agree on one
(``dominant_lean``), weighted down to nothing for a slight one (``LEVEL_RAMP_DEG``); 0 where they do
not agree, lie too much to one side to tell a roll from a camera pitched up or down
(``PITCH_ERROR_DEG``), or are too few (a studio backdrop, a painting's dark ground).

Line segments come from OpenCV's LSD detector (``cv2.createLineSegmentDetector``) on the photo
shrunk to ``LevelOptions.max_side``.

Where the lines read nothing (or a lean the faces do not share) and the photo shows one person
(the faces the photo stage found: with ``--all-faces`` it looks harder, so a face in profile at
the side may count there and not by default), that person's face and shoulders may
(``levelled_by_body``): a selfie taken askew outdoors leans both alike, while one person leaning
in a photo taken level seldom leans the two within a few degrees of each other. Otherwise the
photo's up stays the bust's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable

import cv2
import numpy as np

from realtime import geometry
from realtime.errors import InputError
from realtime.shapes import check_shape

MAX_SIDE = 768
"""The photo's long side is shrunk to this before the lines are looked for (34 ms on this machine's
CPU for a 768-pixel photo, 58 ms at 1024; the leans read at the two sizes on seven photos of rooms
agree within 0.5 deg)."""
MIN_SEGMENT_SHARE = 0.06
"""Shortest line segment counted, a share of the photo's short side: shorter ones are texture
(hair, fabric, foliage), whose directions are as often slanted as upright."""
NEAR_VERTICAL_DEG = 25.0
"""Only segments within this of the photo's vertical count (a phone held askew is seldom turned
further; horizontals are not used: perspective slants them wherever the camera does not face the
wall square)."""
AGREEMENT_DEG = 1.0
"""Segments within this of one lean agree on it (the room's verticals, seen through a lens with the
camera pitched a little, spread by about a degree)."""
MIN_SUPPORT = 0.8
"""Least total length of the agreeing segments, in the photo's short sides, for a lean to be read:
a door frame's two sides, a window and a wall's corner. The rooms behind Grace Hopper, Obama and
the astronaut give 1.1-4.3 on their photos turned ±10 and ±20 deg; paintings and studio backdrops
0.2-0.6, and their strongest lean is a brush stroke's or a fold's (up to 24 deg wrong)."""
MIN_PEAK_RATIO = 2.0
"""... and at least this many times the length agreeing on any other lean more than
``4 * AGREEMENT_DEG`` away: a curtain's folds and a backdrop's creases run straight too. On the 35
upright photos and 70 turned ones (±10, ±20 deg; the people's lines left out, the faces' test on)
it reads 24 turned photos, 23 within 3 deg of the turn, and no upright one over 3 deg; without it
34 turned, 30 right, and Biden's upright photo at +4.4 deg (his curtain's folds; +13.6 where his
room leans +10), photo_s1's backdrop at +4.6 and -15.5 where the room leans +10 and -10. A staircase's rails can still outweigh a room's verticals
(face-api's sample5: 2.5 short sides on +20 deg, over twice the rest), which the faces' test
catches (``FACE_AGREEMENT_DEG``)."""
FACE_AGREEMENT_DEG = 12.0
"""... and only where the people's faces lean the same way within this (their median roll, chin to
forehead, ``geometry.face_roll_deg``): a camera held askew leans the people as it leans the room,
while people stand within 10 deg or so of upright. Face-api's sample5 shows a staircase whose
parallel rails read +20.1 deg and pass both tests above (2.5 on them, more than twice the rest),
and its five faces lean -16.5 to +8.3 deg (median -3.5): 23.6 deg apart. On the 35 upright photos
of the photo set the other leans read (-1.5 to +2.3 deg) are within 11 deg of their faces' but
sample4's (-1.5 against +10.7: vetoed, and too slight to act on anyway); on turned photos the faces
turn with the room (at most 11.2 deg from a lean read right: Einstein's small face turned +10,
-1.8 deg against his hall's +9.4)."""
PITCH_ERROR_DEG = 1.5
"""A camera pitched up or down (a selfie held above the face) draws a room's verticals converging on
a point above or below the photo: each leans by about the pitch's convergence times its distance
from the photo's middle column (7 deg at the side of a phone's picture pitched 15 deg), so lines on
one side of the photo read a roll that is not there, and one side cannot tell a pitch from a roll.
The agreeing lines (within ``2 * AGREEMENT_DEG`` of each other) bound that convergence by their
spread across the photo; a lean is read only where the error it can leave at their weighted middle
is at most this: where that middle lies within ``PITCH_ERROR_DEG / (2 * AGREEMENT_DEG)`` of their
spread from the photo's middle column (lines across the middle, or on both sides). On the 70 turned
photos this keeps 20 of the 24 readings (19 right); Grace Hopper's room, whose door frame stands
on one side, is no longer read."""
LEVEL_RAMP_DEG = (4.0, 7.0)
"""A lean under the first is not acted on: the 35 upright photos read -1.5 to +2.3 deg, their middles
cut out as ``realtime.tools.likeness.turned_photo`` keeps them up to +3.65 (Biden's curtain folds
rival his room once the photo is cut) and -2.5; and a 3 deg turn of a bust's frame took a fifth
of a torso's volume where the photo's edge cuts a shoulder. One from the second on is the camera's
roll, levelled whole; between, in part."""

SHOULDER_AGREEMENT_DEG = 5.0
"""Where the lines read nothing (or a lean the face does not share), one person's face leaning at
least ``LEVEL_RAMP_DEG[0]`` (chin to forehead, ``geometry.face_roll_deg``) and shoulders
(``arms.ArmFinder.shoulders``) leaning within this of it give the camera's roll: their mean. On
the 24 upright one-person photos of the photo set and their 91 turns (±10, ±20 deg) that show a
face, by the person alone: no upright photo turned (the nearest, Biden: face +10.6, shoulders +3.6
deg; lenna's head +9.7 over shoulders at -5.1), 20 turned photos read, 11 within 3 deg of the turn
and the other 9 short of it (the network draws a body turned in its crop a little toward upright:
-14 for -20), none turned the wrong way; the turn left, on average over the 91, 15.2 -> 12.6 deg.
At 6 deg: 25 read, 16 within 3, none upright, Biden 1 deg from turning; at 8 deg Biden turns 7 deg.
The reading is lopsided where the network reads one side short: the astronaut on a plain ground
reads +14.3 turned +12, and nothing turned -12 (face -10.1, shoulders 0)."""
MIN_SHOULDER_SPAN = 1.0
"""... and only shoulders at least this many face heights (chin to forehead) apart: square to the
camera they are 1.5-1.8 (the probe's median 1.55); lenna's bare shoulders, turned from the camera,
0.24-0.58, where a few pixels tilt their line by degrees."""


@dataclass(frozen=True)
class LevelOptions:
    """How to read the camera's roll (see the constants)."""

    max_side: int = MAX_SIDE
    min_segment_share: float = MIN_SEGMENT_SHARE
    near_vertical_deg: float = NEAR_VERTICAL_DEG
    agreement_deg: float = AGREEMENT_DEG
    min_support: float = MIN_SUPPORT
    min_peak_ratio: float = MIN_PEAK_RATIO
    face_agreement_deg: float = FACE_AGREEMENT_DEG
    pitch_error_deg: float = PITCH_ERROR_DEG
    ramp_deg: tuple[float, float] = LEVEL_RAMP_DEG
    shoulder_agreement_deg: float = SHOULDER_AGREEMENT_DEG
    min_shoulder_span: float = MIN_SHOULDER_SPAN


@dataclass(frozen=True)
class LevelResult:
    """roll_rad: the turn that stands the photo's up vertical, radians, positive where the room's
    verticals lean their tops to the photo's right (the camera turned counter-clockwise as its user
    sees it); 0 where no lean was read or it is slight (``LEVEL_RAMP_DEG``). lean_deg: the lean read,
    degrees: the one the lines agree on, or one person's face and shoulders' (``source``); None where
    neither gave one (``FACE_AGREEMENT_DEG``, ``SHOULDER_AGREEMENT_DEG``). faces_lean_deg: the faces'
    median roll (``geometry.face_roll_deg``, folded into [-90, 90) as lines have no head or foot),
    degrees, or None where none was given. support: the
    agreeing segments' length, the photo's short sides, and segments: how many agree (the lines'
    reading, even where the body's was taken instead). timings_ms: where the time went. source: what
    ``lean_deg`` was read from, "lines" (the room's) or "body" (one person's face and shoulders,
    ``levelled_by_body``); None where nothing was read."""

    roll_rad: float = 0.0
    lean_deg: float | None = None
    faces_lean_deg: float | None = None
    support: float = 0.0
    segments: int = 0
    timings_ms: dict = field(default_factory=dict)
    source: str | None = None


def segment_leans(segments_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(lean_deg (n,), length (n,))`` of line segments ``segments_px (n, 4)`` (x1, y1, x2, y2;
    image pixels, y down): each one's angle from the image's vertical in (-90, 90], positive where
    its top lies to the right of its bottom, and its length in pixels."""
    segments = check_shape("segments_px", segments_px, (None, 4), dtype=np.float64)
    delta = segments[:, 2:] - segments[:, :2]
    # Along the segment pointing up the image (y down): the lean is atan2(dx, -dy) of that direction.
    upward = np.where((delta[:, 1] > 0)[:, None], -delta, delta)
    lean = np.degrees(np.arctan2(upward[:, 0], -upward[:, 1]))
    lean = np.where(lean <= -90.0, lean + 180.0, np.where(lean > 90.0, lean - 180.0, lean))
    return lean, np.hypot(delta[:, 0], delta[:, 1])


def working_scale(width: int, height: int, max_side: int = MAX_SIDE) -> float:
    """The factor a ``width`` x ``height`` photo is shrunk by before its lines are looked for (at most 1)."""
    return min(1.0, max_side / max(width, height, 1))


def working_size(width: int, height: int, max_side: int = MAX_SIDE) -> tuple[int, int]:
    """``(width, height)`` pixels of a ``width`` x ``height`` photo as shrunk for its lines
    (``working_scale``): the size the people's masks are best drawn at for ``camera_roll``."""
    scale = working_scale(width, height, max_side)
    return max(int(round(width * scale)), 1), max(int(round(height * scale)), 1)


def dominant_lean(lean_deg: np.ndarray, weight: np.ndarray, options: LevelOptions = LevelOptions(),
                  across: np.ndarray | None = None) -> tuple[float | None, float, int]:
    """The lean most segments agree on: ``(lean_deg or None, support, count)``.

    lean_deg: ``(n,)`` degrees from the vertical (``segment_leans``); weight: ``(n,)`` each
    segment's length in the photo's short sides. Among the segments within
    ``options.near_vertical_deg`` of the vertical, the lean whose ``±agreement_deg`` window holds
    the most weight (searched every quarter degree), refined to the weighted mean inside it. None
    where that weight (``support``) is under ``min_support`` or not ``min_peak_ratio`` times the best
    window's more than four windows away, or, given ``across`` (``(n,)`` each segment's middle from
    the photo's middle column, short sides), where the agreeing segments lie too far to one side to
    tell a roll from a pitch (``PITCH_ERROR_DEG``)."""
    lean = check_shape("lean_deg", lean_deg, (None,), dtype=np.float64)
    weight = check_shape("weight", weight, (len(lean),), dtype=np.float64)
    judge_pitch = across is not None
    across = np.zeros(len(lean)) if across is None else check_shape("across", across, (len(lean),), dtype=np.float64)
    near = np.abs(lean) <= options.near_vertical_deg
    lean, weight, across = lean[near], weight[near], across[near]
    if len(lean) == 0:
        return None, 0.0, 0
    candidates = np.arange(-options.near_vertical_deg, options.near_vertical_deg + 1e-9, 0.25)
    inside = np.abs(lean[None, :] - candidates[:, None]) <= options.agreement_deg
    held = inside.astype(np.float64) @ weight
    best = int(np.argmax(held))
    elsewhere = np.abs(candidates - candidates[best]) > 4.0 * options.agreement_deg
    rival = float(held[elsewhere].max()) if elsewhere.any() else 0.0
    support = float(held[best])
    agreeing = inside[best]
    if support < options.min_support or support < options.min_peak_ratio * rival:
        return None, support, int(agreeing.sum())
    if judge_pitch:
        x = across[agreeing]
        mean_x = float(np.average(x, weights=weight[agreeing]))
        if abs(mean_x) * 2.0 * options.agreement_deg > options.pitch_error_deg * float(np.ptp(x)):
            return None, support, int(agreeing.sum())
    return float(np.average(lean[agreeing], weights=weight[agreeing])), support, int(agreeing.sum())


def roll_from_lean(lean_deg: float | None, ramp_deg: tuple[float, float] = LEVEL_RAMP_DEG) -> float:
    """The camera roll acted on, radians: ``lean_deg`` weighted from 0 at ``ramp_deg[0]`` to 1 at
    ``ramp_deg[1]`` (a slight lean is the room's own); 0 for None."""
    if lean_deg is None:
        return 0.0
    low, high = ramp_deg
    return float(np.radians(lean_deg) * np.clip((abs(lean_deg) - low) / (high - low), 0.0, 1.0))


def camera_roll(image_bgr: np.ndarray, people: np.ndarray | None = None, faces_px: list | None = None,
                options: LevelOptions = LevelOptions()) -> LevelResult:
    """The camera's roll in ``image_bgr (H, W, 3) uint8``, read from the near-vertical straight
    lines off the people (``people (h, w) bool``: their masks, on the photo at any size, resized to
    the working one, ``working_size``; None: none), where the faces (meshes ``(468, 2+)`` photo
    pixels each in ``faces_px``: every face found; None or empty: not checked) lean the same way
    (``FACE_AGREEMENT_DEG``).

    Only the people with a mask are left out. Boxes round every face found and the band below it
    (the people without one, their arms and legs) were tried: on the 35 upright and 70 turned
    photos they kept 12 readings (11 right) of 24 (23 right) and made Biden's curtain folds win
    (+4.9 deg upright), as they take the room's own verticals beside the people too."""
    clock = time.perf_counter()
    image = check_shape("image_bgr", image_bgr, (None, None, 3))
    if image.dtype != np.uint8:
        raise InputError(f"image_bgr: 8-bit colour expected, got {image.dtype}")
    height, width = image.shape[:2]
    if min(height, width) == 0:
        return LevelResult(timings_ms={"level": 0.0})
    scale = working_scale(width, height, options.max_side)
    # By the factor, not the size: OpenCV rounds the size as ``working_size`` does, and samples by
    # the factor (asked for the size it samples by the rounded size's own ratio, and the lines
    # found move: obama3.jpg turned +20 deg was read at +18.7 by the factor and not by the size).
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1.0 else image
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    found = cv2.createLineSegmentDetector(cv2.LSD_REFINE_STD).detect(grey)[0]
    segments = np.zeros((0, 4)) if found is None else found[:, 0, :].astype(np.float64)
    short_side = float(min(grey.shape))
    lean, length = segment_leans(segments)
    keep = length >= options.min_segment_share * short_side
    faces = list(faces_px or [])
    if people is not None and len(segments):
        people = check_shape("people", people, (None, None), dtype=bool)
        off_limits = cv2.resize(people.astype(np.uint8), (grey.shape[1], grey.shape[0]),
                                interpolation=cv2.INTER_NEAREST) > 0
        # A segment touching a person at either end or its middle is the person's (or their edge).
        for t in (0.0, 0.5, 1.0):
            point = np.round(segments[:, :2] * (1.0 - t) + segments[:, 2:] * t).astype(np.int64)
            x = np.clip(point[:, 0], 0, grey.shape[1] - 1)
            y = np.clip(point[:, 1], 0, grey.shape[0] - 1)
            keep &= ~off_limits[y, x]
    across = (0.5 * (segments[:, 0] + segments[:, 2]) - 0.5 * grey.shape[1]) / short_side
    lean_deg, support, count = dominant_lean(lean[keep], length[keep] / short_side, options, across[keep])
    # Lines have no head or foot, so a face is compared with them half a turn round too (a photo
    # upside down leans its room and its people alike).
    face_leans = [geometry.wrapped_angle(roll, 90.0) for roll in (geometry.face_roll_deg(v) for v in faces)
                  if np.isfinite(roll)]
    faces_lean = float(np.median(face_leans)) if face_leans else None
    if lean_deg is not None and faces_lean is not None and abs(faces_lean - lean_deg) > options.face_agreement_deg:
        lean_deg = None
    return LevelResult(roll_from_lean(lean_deg, options.ramp_deg), lean_deg, faces_lean, support, count,
                       {"level": (time.perf_counter() - clock) * 1000.0}, None if lean_deg is None else "lines")


def shoulders_roll_deg(shoulders_px: np.ndarray) -> float:
    """How far a shoulders' line is rolled in the photo, degrees, in ``geometry.face_roll_deg``'s
    sense (positive where the body's top leans right: the image-right shoulder lower); shoulders_px:
    ``(2, 2)`` image pixels (y down) of the subject's right and left shoulders (``arms.SHOULDERS``:
    image left, then right, for a person facing the camera)."""
    shoulders = check_shape("shoulders_px", shoulders_px, (2, 2), dtype=np.float64)
    across = shoulders[1] - shoulders[0]
    return float(np.degrees(np.arctan2(across[1], across[0])))


def levelled_by_body(lines: LevelResult, face_px: np.ndarray, shoulders: Callable[[], np.ndarray | None],
                     options: LevelOptions = LevelOptions()) -> LevelResult:
    """``lines`` (``camera_roll``'s reading of a photo of one person), or where it read nothing the
    roll that person's face and shoulders agree on (``SHOULDER_AGREEMENT_DEG``): face_px: the face's
    mesh ``(468, 2+)`` image pixels; shoulders: returns ``(2, 2)`` image pixels of the subject's right
    and left shoulders, or None where they are not seen, called only where the face leans past
    ``options.ramp_deg[0]`` (the pose network costs ~ 130 ms the first time)."""
    if lines.lean_deg is not None:
        return lines
    face_roll = geometry.face_roll_deg(face_px)
    if not np.isfinite(face_roll) or abs(face_roll) < options.ramp_deg[0]:
        return lines
    clock = time.perf_counter()
    found = shoulders()
    timings = {**lines.timings_ms, "body": (time.perf_counter() - clock) * 1000.0}
    if found is None:
        return replace(lines, timings_ms=timings)
    face_height = geometry.face_height(np.asarray(face_px, np.float64)[:, :2])
    span = float(np.linalg.norm(found[1] - found[0])) / max(face_height, 1e-9)
    # The two angles' difference the short way round (a face and shoulders upside down agree too).
    apart = geometry.wrapped_angle(shoulders_roll_deg(found) - face_roll, 180.0)
    if span < options.min_shoulder_span or abs(apart) > options.shoulder_agreement_deg:
        return replace(lines, timings_ms=timings)
    # In [-180, 180): a person upside down in the photo (face and shoulders alike) turns the bust
    # half a turn, within ``bust.MAX_HEAD_TILT_RAD`` of the head's own up as every turn is.
    lean_deg = float(geometry.wrapped_angle(face_roll + 0.5 * apart, 180.0))
    return replace(lines, roll_rad=roll_from_lean(lean_deg, options.ramp_deg), lean_deg=lean_deg,
                   timings_ms=timings, source="body")
