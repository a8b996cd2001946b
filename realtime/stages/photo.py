"""Photo mode: one image in, a 3D face (and a printable bust) per face out.

Where the 3D selfie started. A single photo gets more care than a video frame, since there is
no next frame to fix a mistake: the detector also searches tiles (small faces in group shots)
and shrinks the image as MediaPipe's graph does; when the mesh network sees no face in
MediaPipe's crop (a profile, whose eye keypoints nearly meet) the crop is turned by the
eyes-to-mouth axis, then enlarged, each also on the mirrored image, before the detection is
given up. The mesh network then runs a second time on the ROI its first answer implies (a
tighter, better rotated crop), and once more on the mirrored image, whose answer — mirrored
back and re-indexed — is averaged in when the two agree; both passes lower the landmark error
on labelled faces (docs/BENCHMARKS.md). The report says what each step changed.

Metric scale: the iris (11.7 mm across, whatever the camera) weighed by its expected error
(its size in pixels, blur, eyelids, turn) against adult face proportions
(``realtime.stages.scale.photo_scale``), so a 6-pixel iris does not decide the PD alone; sizes come
with their standard deviation.

In: an image path (or array). Out: ``PhotoResult`` with a ``PhotoFace`` per face: box, 468
vertices and 68 iBUG landmarks in image pixels, millimetres per pixel, PD and face width with
their spreads.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from realtime.stages.detection import DetectionOptions, FaceDetector
from realtime.stages.reconstruction import FaceMesh, ReconstructionOptions, Reconstructor
from realtime.stages.roi import Roi, detection_rois, iou, roi_from_landmarks
from realtime.stages.scale import (FACE_LANDMARK_SD_PX, FACE_WIDTH_TURN_WEIGHT, IRIS_DIAMETER_MM, MEAN_PD_MM,
                            PUPIL_CENTRE_SD_PX, edge_blur_px, iris_diameter_px, iris_eye_weights, photo_scale,
                            photo_scale_source, scale_warning, weighted_iris_diameter)
from realtime import geometry, topology
from realtime.symmetry import mirror_vertices
from realtime.geometry import eye_corner_depths, head_frame, inter_ocular_distance, median_distance_iod
from realtime.topology import ibug68_points

# Face width: the widest points of the face oval (left and right cheek contour, near the tragus).
FACE_WIDTH_LANDMARKS = (topology.FACE_SIDE_RIGHT, topology.FACE_SIDE_LEFT)
# Pupil distance over outer-canthus distance in adults (~63 mm over ~90 mm): estimates the PD
# in pixels when no iris was found.
PD_PER_OUTER_CANTHAL = 0.70
# ...which varies across adults by about this much, relative (the spreads of Farkas' biocular
# width, 4%, and Dodgson's PD, 6%, largely shared).
PD_PER_OUTER_CANTHAL_SD = 0.04
# A second search's detection overlapping one of the first's by more than this (IoU) is the same
# face, already tried: the detector's own suppression threshold.
SAME_DETECTION_IOU = 0.3
DUPLICATE_BETTER_BY = 0.1
"""Two detections whose meshes land on one face (``_same_face``): the later replaces the face kept
from the earlier where its detector score is this much higher. Detections are tried largest box
first, and a box that spans a face and part of its neighbour, or a face and its hair, scores low and
gives the mesh network a loose crop: a mesh that is not the face (face-api's sample1, a tilted head:
0.66 against 0.96 for the same face's tight box; multi_face 0.66 against 0.94, the mesh half on the
boy behind her; sample5 0.73 against 0.91). The bust of such a face was a hood round a garbage
face. Within this margin the first stays: two boxes that fit alike give alike meshes."""


@dataclass(frozen=True)
class PhotoOptions:
    all_faces: bool = False  # False: only the largest face
    refine: bool = True  # second pass on the ROI derived from the first mesh
    flip: bool = True  # average with the mirrored image's result where the two agree
    # Average the mirrored answer in only if it is within this many inter-ocular distances of
    # the direct one (median vertex distance): a larger gap means one pass failed (occlusion,
    # extreme profile), and averaging would blur two different guesses.
    flip_agreement_iod: float = 0.05
    min_presence: float = 0.5  # a mesh below this face-presence score is no face
    # When MediaPipe's crop of a detection shows the mesh network no face, try the other crops
    # (``roi.detection_rois``: turned by the eyes-to-mouth axis, enlarged), each also on the
    # mirrored image, before giving the detection up.
    fallback_crops: bool = True
    # Photos: search tiles at the full short side and at half of it, for small faces...
    detection: DetectionOptions = DetectionOptions(tile_fractions=(1.0, 0.5))
    # ... and where a face found is under ``small_face_share`` of the short side (a crowd: there
    # may be smaller ones), or none is, tiles of these fractions too. The half tiles find faces
    # down to ~ a tenth of the short side; a 3 x 3 mosaic of party photos (faces 5-7% of it):
    # 9 of its 31 faces without the quarter tiles, 24 with them.
    small_face_tiles: tuple[float, ...] = (0.25,)
    small_face_share: float = 0.1
    # ...then once more with the image shrunk for the detector as MediaPipe's graph does
    # (``DetectionOptions.resize``; None: not), for faces the first search missed or whose
    # crops showed none: on 100 cropped, mirrored and rotated profile photos, with the
    # fallback crops, the first search alone found 95 faces and missed one MediaPipe's own
    # FaceMesh found; with the second, 96 and none (MediaPipe: 87).
    second_detection_resize: str | None = "linear"
    providers: tuple[str, ...] | None = None
    # Refuse faces that are probably not a person's (``looks_human``); False keeps any face the
    # networks find (``--any-face``).
    human_only: bool = True
    # Segment the person around each face (hair, neck, shoulders: the bust's outline).
    segment: bool = True
    # Hide from each person's mask an arm raised by the head (a hand on the head) that the pose
    # network finds (``realtime.stages.arms``), so the bust does not grow it as hair.
    hide_raised_arms: bool = True
    # Read the camera's roll from the room's straight lines behind the people, or where they give
    # none in a photo of one person from that person's face and shoulders leaning alike
    # (``realtime.stages.level``): a photo taken askew gives a level bust.
    level: bool = True
    # Look once more, turned half round, at a photo in which no face is kept or the best kept scores
    # under ``UPSIDE_DOWN_BELOW`` (a print scanned upside down): the detector's crop of an upside-down
    # face stays upside down, and the mesh network answers it with an upright mesh that the human
    # check refuses or, just, keeps (``UPSIDE_DOWN_BELOW``).
    upside_down: bool = True
    # Look again, turned a quarter, at a photo in which no face kept stands within
    # ``SIDEWAYS_ROLL_DEG`` of upright and sound (a portrait print scanned on its side, a photo
    # whose EXIF turn was lost): the detector's keypoints of a face on its side are often 30-60 deg
    # off, and the mesh network answers the crop they give with a face turned as the crop is.
    sideways: bool = True


UPSIDE_DOWN_BELOW = 0.85
"""A photo whose best face kept scores under this with the detector (its meshes off their detector's
keypoints not counted: ``credible_best_score``) is searched turned half round too, and the faces
found so are taken where their best scores ``UPSIDE_DOWN_MARGIN`` more (``turned_search_wins``). Upside
down, the astronaut's face scored 0.60 (refused), and turned 210 deg inside a frame 0.75 (kept,
an upright mesh on her upside-down face, 60 px off it); in the tests' two-person photo turned half
round Hopper's 0.65 (kept so too). Turned the right way up those faces score 0.89-0.96. The
largest faces of the 35 upright photos score 0.80 (a cropped Obama), then 0.85-0.99: one of them
pays the second search, which it does not take (two crowds' tilted heads at 0.66 were loose
boxes' meshes, replaced since by their own boxes': ``DUPLICATE_BETTER_BY``)."""
UPSIDE_DOWN_MARGIN = 0.15
"""... and at least ``HUMAN_MIN_SCORE``, as any face: a photo with no face kept gets no easier
second chance (the turned search's faces are judged by ``looks_human`` as the photo's are)."""


CREDIBLE_KEYPOINT_GAP = 0.15
"""A mesh found in the detector's crop whose eyes, nose tip and mouth lie further than this (mean,
detection box widths) from the detector's keypoints of its face is doubtful: it does not keep the
photo from being searched turned half round, and there a sound face that scores as well takes its
place (``turned_search_wins``; a face rolled 90 deg in the photo can lie 0.15-0.19 off and be
right, hence "as well"). The 66 faces of the 35 upright photos lie 0.01-0.12 off; meshes that are not the
face 0.145-0.23 (a loose box's on face-api's sample1 and sample5, a hand in insightface's t1), and
upright meshes on upside-down faces 0.04-0.35. In the shared two-person photo turned half round
such a mesh on Clinton's face (0.20) scored 0.84 and hid the turned photo's 0.89; in multi_face
turned so, 0.78 hid 0.92. Of the 35 photos turned half round, 33 were made upright, now all 35
(multi_face by a hair: 0.155; shifted a pixel, 0.14, and it stays wrong)."""
SIDEWAYS_ROLL_DEG = 45.0
"""A face whose up (``geometry.face_roll_deg``) lies further than this from its search's up lies on
its side: where no face found stands within it and is not ``_doubtful``, the photo is searched
turned a quarter too (``PhotoOptions.sideways``), and there a ``_sound`` face within it is taken
(``sideways_search_wins``). The 35 upright photos' largest faces roll 0-30 deg; turned 90 and 270
deg, their faces' meshes read 33-59 deg where the detector's crop was off (the mesh not the face)
and 76-108 where right."""
FLIP_DOUBT_IOD = 0.05
"""A mesh found in the detector's crop, turned no further than ``FLIP_DOUBT_MAX_TURN_DEG``, whose
mirror image's mesh, mirrored back, lies further than this from it (median, inter-ocular
distances: ``PhotoOptions.flip_agreement_iod``, the averaging's own limit) is doubtful too. Of 589
faces found in the 35 photos turned 0-340 deg, the 553 right ones read 0.004-0.106 (6 above
this), the 36 wrong ones 0.022-0.37 (23 above, 5 with no mirrored face); the upright photos'
largest faces 0.004-0.023."""
FLIP_DOUBT_MAX_TURN_DEG = 45.0
"""... for the mirrored pass of a face turned further disagrees with a right mesh as much: the
tests' rendered heads turned 53-80 deg read 0.059-0.114 (50 deg: 0.032)."""
HUMAN_MIN_SCORE = 0.65
"""Detector score below which a face is not taken for a person's. The detector and the mesh network
are trained on people and fire on few animals (2 of 25 animal photos gathered from PyPI and Debian
packages: two puppies, scores 0.61 and 0.83); people score 0.72-0.99 (46 photos, paintings,
cartoons and old photos included), except a small face turned 41 deg in a group (0.59). On 31 other
animal photos the detector fired on 8: 6 are refused, and two monkeys pass (a macaque in profile,
0.83; a baby proboscis monkey, 0.76 and presence 0.96): a primate's face is a face to both networks."""
HUMAN_MIN_PRESENCE = 0.85
"""The mesh network's face presence below which a frontal face is not taken for a person's (the
puppies: 0.93 and 0.51; frontal people: 0.91-1.00). Turned faces read lower and are judged by the
score alone (``HUMAN_TURN_DEG``)."""
HUMAN_TURN_DEG = 35.0
"""The two thresholds were measured on upright, roughly frontal faces; people turned further than
this (profiles: presence 0.6-1.0, the detector's scores lower) read lower too, and are not judged.
Faces rolled in the photo are judged like upright ones: the astronaut and Grace Hopper turned 45,
90, 270 and 315 deg score 0.81-0.96 (presence 1.00); turned 135-225 deg the mesh network answers
an upside-down face with an upright mesh (0.60-0.75), and the search of the photo turned half
round finds the face instead (``UPSIDE_DOWN_BELOW``). Faces whose mesh lay rolled 45 deg or more
used not to be judged (for a rendered head upside down that MediaPipe's FaceMesh finds, 0.62 and
0.56), and skimage's cat passed so: a "face" on its side in the turned fallback crop (0.61, 0.70).
A person upside down is now made only where the photo turned half round scores as a person's."""


HUMAN_MIN_SCORE_ENLARGED = 0.8
"""A frontal face that only the enlarged fallback crop shows (the detector's box around it was too
small for the mesh network to see a face) must score this much: there the detector fired on a
panda and a gorilla drawing (0.69, 0.75); no person in our photos was found that way."""


HUMAN_MIN_JUDGED_WIDTH_PX = 20.0
"""A face narrower than this in the photo (its contour's ear points, pixels) is too small for the
two networks' doubt to say it is no person's: the astronaut shrunk until her face was 12 and 8 px
wide read face presence 0.52 and 0.56, faces 13 px and wider 0.86-1.00 (four photos, two ways of
shrinking). Such a refusal says the face is too small instead of "an animal?"."""


def face_width_px(vertices_px: np.ndarray) -> float:
    """The face's width in the photo, pixels: between its contour's ear points (``FACE_WIDTH_LANDMARKS``
    of ``(468, 2+)``), in the image plane (the face's size in mm takes their depth too)."""
    v = np.asarray(vertices_px, np.float64)
    return float(np.linalg.norm(v[FACE_WIDTH_LANDMARKS[0], :2] - v[FACE_WIDTH_LANDMARKS[1], :2]))


def refusal_reason(face) -> str:
    """Why a face ``looks_human`` refused is not a person's, for the one line the user reads
    (``face``: a ``PhotoFace``)."""
    width = face_width_px(face.vertices_px)
    if width < HUMAN_MIN_JUDGED_WIDTH_PX:
        return (f"the face found is {width:.0f} px wide, too small to tell a person's face from an animal's "
                f"(detector {face.score:.2f}, face presence {face.presence:.2f}): use a larger photo")
    if not face.confirmed:
        return (f"what the networks took for a face was not seen again in a closer or mirrored look (detector "
                f"{face.score:.2f}, face presence {face.presence:.2f}: an animal, a hand, a pattern?)")
    return (f"what the networks took for a face does not look like a person's (detector {face.score:.2f}, "
            f"face presence {face.presence:.2f}: an animal, a statue?)")


# A face whose refined crops and mirror image all show the mesh network no face was a false alarm in
# every case we have: of 218 faces in 175 photos (the shared photos, six party photos, a poker table
# of six, Grace Hopper, the astronaut, and the opencv-doc pictures the detector fires on),
# two: a hand holding a chip beside a face, rolled 60 deg (score 0.57, presence 0.52: not judged for
# its roll, and the largest "face" of its photo, so the bust was of the hand), and a German shepherd
# (0.67, 0.96: passed as a frontal face). Every person's face was confirmed.
def looks_human(score: float, presence: float, turn_deg: float, crop: str = "detection",
                confirmed: bool = True) -> bool:
    """Whether a face the networks found is probably a person's (see the thresholds above). crop:
    which crop found it (``PhotoFace.steps["crop"]``). confirmed: whether a second look at it (its
    refined crop or the mirror image, ``PhotoFace.confirmed``) showed the mesh network a face too:
    one that none did is no person's, turned or tilted or not."""
    if not confirmed:
        return False
    if abs(turn_deg) >= HUMAN_TURN_DEG:
        return True
    least = HUMAN_MIN_SCORE_ENLARGED if crop.startswith("enlarged") else HUMAN_MIN_SCORE
    return score >= least and presence >= HUMAN_MIN_PRESENCE


@dataclass(frozen=True)
class PhotoFace:
    """One reconstructed face.

    box_px: ``(4,)`` detection box x_min, y_min, x_max, y_max, pixels.
    vertices_px: ``(468, 3) float32`` image pixels (z in the scale of x).
    iris_px: ``(2, 5, 3) float32`` pixels or None.
    landmarks68_px: ``(68, 2) float32`` iBUG-300W landmarks, pixels (``topology.ibug68_points``).
    mm_per_px: millimetres per pixel at the face: the iris and adult face proportions, each
    weighed by its expected error (``realtime.stages.scale.photo_scale``).
    scale_source: "iris and face proportions" when the iris counts as measured
    (``scale.photo_scale_source``), else "face proportions" (a small, soft, covered or turned
    iris; or none seen).
    pd_mm: distance between the pupils in 3D (at the eyes' depth, so a turned head does not
    shorten it). face_width_mm: between the face outline's widest points (234, 454), in 3D.
    steps: what each step did: how far it moved the vertices (inter-ocular distances), which
    crop found the face.
    turn_deg: how far the face is turned from the camera about the vertical (yaw, signed:
    positive when the person's left eye is the far one), from the mesh's own 3D.
    pd_sd_mm, face_width_sd_mm: their standard deviations, mm (the scale's and the
    measurement's). scale_sd: the scale's relative standard deviation (log-space).
    scale_weights: each cue's share of the scale (``iris``, ``eye_corners``, ``face_width``,
    ``face_height``). iris_mm_per_px: the iris's scale alone (None without irises).
    """

    box_px: np.ndarray
    score: float
    vertices_px: np.ndarray
    presence: float
    iris_px: np.ndarray | None
    landmarks68_px: np.ndarray
    mm_per_px: float
    scale_source: str
    pd_mm: float
    face_width_mm: float
    steps: dict[str, float | str] = field(default_factory=dict)
    turn_deg: float = 0.0
    pd_sd_mm: float = float("nan")
    face_width_sd_mm: float = float("nan")
    scale_sd: float = float("nan")
    scale_weights: dict[str, float] = field(default_factory=dict)
    iris_mm_per_px: float | None = None

    @property
    def confirmed(self) -> bool:
        """Whether a second look showed the mesh network a face here too: the crop its landmarks
        imply (``refine_shift_iod``) or the mirror image (``flip_gap_iod``)."""
        return "refine_shift_iod" in self.steps or "flip_gap_iod" in self.steps

    @property
    def vertices_mm(self) -> np.ndarray:
        """``(468, 3) float32`` millimetres, image axes (x right, y down, z away), centred."""
        centred = self.vertices_px - self.vertices_px.mean(axis=0)
        return (centred * self.mm_per_px).astype(np.float32)

    def report(self) -> dict:
        return {
            "box": [round(float(v), 2) for v in self.box_px],
            "score": round(self.score, 4),
            "presence": round(self.presence, 4),
            "vertices": np.round(self.vertices_px, 2).tolist(),
            "landmarks68": np.round(self.landmarks68_px, 2).tolist(),
            "pd_mm": round(self.pd_mm, 2),
            "pd_sd_mm": _rounded(self.pd_sd_mm, 2),
            "face_width_mm": round(self.face_width_mm, 2),
            "face_width_sd_mm": _rounded(self.face_width_sd_mm, 2),
            "mm_per_px": round(self.mm_per_px, 5),
            "scale_source": self.scale_source,
            "scale_weights": dict(self.scale_weights),
            "turn_deg": round(self.turn_deg, 1),
            "scale_warning": scale_warning(self.pd_mm, self.scale_source, self.face_width_mm, self.turn_deg,
                                           self.pd_sd_mm),
            "steps": {k: (round(v, 5) if isinstance(v, float) else v) for k, v in self.steps.items()},
        }


def _rounded(value: float, digits: int) -> float | None:
    """JSON has no NaN: an unknown spread is null."""
    return round(float(value), digits) if np.isfinite(value) else None


@dataclass(frozen=True)
class PhotoResult:
    faces: list[PhotoFace] = field(default_factory=list)  # largest first; empty: no face
    image_size: tuple[int, int] = (0, 0)  # width, height, pixels
    # Faces the networks found but ``looks_human`` did not take for a person's (an animal, a
    # statue's carved eyes...): what the refusal says.
    not_human: list[PhotoFace] = field(default_factory=list)
    # Person masks (``realtime.stages.segmentation.PersonMask``) around each face, same order; empty
    # when segmentation is off.
    persons: list = field(default_factory=list)
    # Without --all-faces: the other people's faces, ``(468, 3)`` image pixels each (the other
    # faces of the first search, made; then one confirmed mesh run per further detection), found
    # for the segmentation to leave them out; empty with --all-faces or without segmentation.
    others_px: list = field(default_factory=list)
    # The camera's roll (``realtime.stages.level.LevelResult``) where faces were found and
    # ``PhotoOptions.level`` is on, else None.
    level: object | None = None
    # The faces were found in the photo turned half round (``PhotoOptions.upside_down``); every
    # pixel above is the photo's as given.
    upside_down: bool = False
    # The faces were found in the photo turned a quarter (``PhotoOptions.sideways``): +1 where the
    # person's up is the photo's right (the photo turned counter-clockwise to stand them up), -1
    # its left, 0 neither; every pixel above is the photo's as given, the level is the turned
    # photo's.
    sideways: int = 0

    @property
    def camera_roll_rad(self) -> float:
        """How far to turn the busts' up from the photo's, toward its right: ``LevelResult.roll_rad``
        (0 without a reading), and half a turn more for a photo upside down, but where the person's
        face and shoulders gave the reading: that is the person's own up, half turn and all
        (``half_turned``); and a quarter turn more either way for a photo on its side."""
        roll = 0.0 if self.level is None else self.level.roll_rad
        by_body = self.level is not None and self.level.source == "body"
        roll = roll + np.pi if self.upside_down and not by_body else roll
        return roll + self.sideways * np.pi / 2.0

    def other_face_boxes(self) -> list[list[float]]:
        """The other people's faces as boxes (``report_box``), for a report: which faces a
        --all-faces run or the web page's choice would add."""
        return [report_box(v) for v in self.others_px]


def mesh_box(vertices_px: np.ndarray) -> np.ndarray:
    """A face's box ``(4,)`` x_min, y_min, x_max, y_max pixels: its mesh's ``(468, 2+)`` extent."""
    v = np.asarray(vertices_px, np.float64)[:, :2]
    return np.concatenate([v.min(axis=0), v.max(axis=0)])


def report_box(vertices_px: np.ndarray) -> list[float]:
    """``mesh_box`` as a report gives it: a list, to 0.1 pixel."""
    return [round(float(value), 1) for value in mesh_box(vertices_px)]


def quarter_turn(quarters: int, width: int, height: int) -> np.ndarray:
    """``(3, 3)``: a ``width`` x ``height`` photo's pixels ``(x, y, 1)`` to those of the photo turned
    ``quarters`` quarter turns counter-clockwise as seen (``np.rot90(image, quarters)``)."""
    quarters %= 4
    if quarters == 0:
        return np.eye(3)
    if quarters == 1:  # the top-right corner comes to the top left
        return np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, width - 1.0], [0.0, 0.0, 1.0]])
    if quarters == 2:
        return np.array([[-1.0, 0.0, width - 1.0], [0.0, -1.0, height - 1.0], [0.0, 0.0, 1.0]])
    return np.array([[0.0, -1.0, height - 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # the top left to the top right


def quarter_turned_back_px(points_px: np.ndarray, quarters: int, width: int, height: int) -> np.ndarray:
    """``points_px (..., 2+)`` pixels of a ``width`` x ``height`` photo turned ``quarters``
    counter-clockwise (``quarter_turn``; 2: half round), in the photo's own pixels; further
    coordinates (depth) kept."""
    back = np.linalg.inv(quarter_turn(quarters, width, height))
    points = np.array(points_px, copy=True)
    points[..., :2] = np.asarray(points_px, np.float64)[..., :2] @ back[:2, :2].T + back[:2, 2]
    return points


def _turned_back(found: PhotoResult, quarters: int, width: int, height: int) -> PhotoResult:
    """``found``, searched in a ``width`` x ``height`` photo turned ``quarters`` counter-clockwise, with
    its points in the photo's own pixels: the faces' (and the refused ones') vertices, iris, 68
    points and boxes, the other people's faces, the masks' crops, and the photo's size."""
    from realtime.stages.segmentation import PersonMask

    def back(points):
        return quarter_turned_back_px(points, quarters, width, height)

    def face(described: PhotoFace) -> PhotoFace:
        corners = back(np.asarray(described.box_px, np.float64).reshape(2, 2))
        return replace(described, box_px=np.concatenate([corners.min(axis=0), corners.max(axis=0)]),
                       vertices_px=back(described.vertices_px),
                       iris_px=None if described.iris_px is None else back(described.iris_px),
                       landmarks68_px=back(described.landmarks68_px))

    # crop = M (turned) and turned = T (given): crop = M T (given).
    turn = quarter_turn(quarters, width, height)
    persons = [replace(mask, crop_from_image=mask.crop_from_image @ turn) if isinstance(mask, PersonMask) else mask
               for mask in found.persons]
    return replace(found, faces=[face(f) for f in found.faces], not_human=[face(f) for f in found.not_human],
                   persons=persons, others_px=[back(v) for v in found.others_px], image_size=(width, height))


def quarter_turned(found: PhotoResult, quarters: int, width: int, height: int) -> PhotoResult:
    """``found``, the faces of a ``width`` x ``height`` photo searched turned ``quarters`` (1 or 3)
    quarter turns counter-clockwise (``quarter_turn``), in the photo's own pixels (``_turned_back``);
    ``sideways`` +1 (1) or -1 (3): a face was taken standing within ``SIDEWAYS_ROLL_DEG`` of the
    turned photo's up (``sideways_search_wins``), so that is the person's (with --all-faces another
    face may lie otherwise). The level's roll stays the turned photo's
    (``PhotoResult.camera_roll_rad`` adds the quarter)."""
    if quarters % 4 not in (1, 3):
        raise ValueError(f"quarters: 1 or 3 expected, got {quarters}")
    return replace(_turned_back(found, quarters, width, height), upside_down=False,
                   sideways=1 if quarters % 4 == 1 else -1)


def half_turned(found: PhotoResult, width: int, height: int) -> PhotoResult:
    """``found``, the faces of a ``width`` x ``height`` photo searched turned half round, in the photo's
    own pixels (``_turned_back``); ``upside_down`` where the largest face stands upside down in the
    photo (the level's roll stays the turned photo's, and ``PhotoResult.camera_roll_rad`` adds the
    half turn)."""
    turned = _turned_back(found, 2, width, height)
    # The person's way up is half a turn from the photo's only where the face found so stands upside
    # down in it; one lying on its side (found turned, 60-90 deg) is read as the photo as given is.
    upside_down = bool(turned.faces) and abs(geometry.face_roll_deg(turned.faces[0].vertices_px)) > 90.0
    level = found.level
    if level is not None and level.source == "body":
        # The room's lines have no head or foot and lean alike both ways up; a face and shoulders'
        # reading does: in the photo as given it is half a turn round.
        level = replace(level, roll_rad=float(geometry.wrapped_angle(level.roll_rad + np.pi)),
                        lean_deg=float(geometry.wrapped_angle(level.lean_deg + 180.0, 180.0)))
    return replace(turned, level=level, upside_down=upside_down)


def face_at(faces_vertices_px: list[np.ndarray], point_px: tuple[float, float]) -> int:
    """Which face a pick at ``point_px`` (x, y pixels) means: the index of the face whose mesh's box
    lies nearest the point (0 inside it; the smaller box where boxes overlap there)."""
    if not faces_vertices_px:
        raise ValueError("faces_vertices_px: no faces to pick from")
    x, y = point_px
    boxes = np.stack([mesh_box(v) for v in faces_vertices_px])
    gap = np.hypot(x - np.clip(x, boxes[:, 0], boxes[:, 2]), y - np.clip(y, boxes[:, 1], boxes[:, 3]))
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return int(np.lexsort((area, gap))[0])


def mirror_roi(roi: Roi, image_width: int) -> Roi:
    """The same ROI in the horizontally flipped image."""
    return Roi(image_width - roi.center_x, roi.center_y, roi.width, roi.height, -roi.rotation)


def mirror_iris(iris_px: np.ndarray, image_width: int) -> np.ndarray:
    """Irises found on the horizontally flipped image, brought back: ``(2, 5, 3)`` pixels.

    x is reflected about the image width, the eyes swap (eye 0 is again the person's right) and
    so do each contour's right and left points (1 and 3)."""
    back = np.array(iris_px, dtype=np.float32)[::-1][:, [0, 3, 2, 1, 4]]
    back[..., 0] = image_width - back[..., 0]
    return back


def metric_scale(vertices_px: np.ndarray, iris_px: np.ndarray | None,
                 eye_weights: np.ndarray = np.ones(2)) -> tuple[float, str]:
    """Millimetres per pixel at the face from the iris alone, and where it came from.

    The human iris is 11.7 ± 0.5 mm across whoever you are, so its diameter in pixels fixes the
    scale without knowing the camera. Without irises the mean adult PD stands in.
    eye_weights: ``(2,)`` trust in each eye's iris (``iris_eye_weights``: the eye turned away
    reads small), right eye first. Photo mode weighs this against the face's proportions
    (``realtime.stages.scale.photo_scale``).
    """
    if iris_px is not None:
        diameters = iris_diameter_px(iris_px)
        if np.all(diameters > 1.0):
            return IRIS_DIAMETER_MM / weighted_iris_diameter(diameters, eye_weights), "iris"
    return MEAN_PD_MM / max(inter_ocular_distance(vertices_px) * PD_PER_OUTER_CANTHAL, 1e-6), "mean_pd"


def face_rotation(vertices_px: np.ndarray) -> np.ndarray:
    """The head's rotation, canonical -> image axes ``(3, 3)``, from a ``(468, 3)`` pixel mesh
    (x right, y down, z away in the scale of x: OpenCV's camera axes, up to perspective)."""
    rotation, _ = head_frame(np.asarray(vertices_px, dtype=np.float64))
    return np.ascontiguousarray(rotation.T)  # the head frame's axes as columns


def pupil_centres_px(vertices_px: np.ndarray, iris_px: np.ndarray) -> np.ndarray:
    """Pupil centres ``(2, 3)`` pixels, right eye first: the iris network's centres at the
    depth of each eye's corners (the iris network's own z is unreliable), so the distance
    between them is the 3D PD, which a turned head does not shorten."""
    centres = np.array(np.asarray(iris_px, dtype=np.float64)[:, 0, :3])
    centres[:, 2] = eye_corner_depths(np.asarray(vertices_px, dtype=np.float64)[:, 2])
    return centres


def iris_blur_px(image_bgr: np.ndarray, iris_px: np.ndarray) -> np.ndarray:
    """Blur of each iris's edge, ``(2,)`` Gaussian sigma in pixels (``scale.edge_blur_px``).
    image_bgr: ``(h, w, 3) uint8``; iris_px: ``(2, 5, 3)`` pixels."""
    import cv2

    gray = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY) if image_bgr.ndim == 3 else image_bgr
    radii = iris_diameter_px(iris_px) / 2
    return np.array([edge_blur_px(gray, np.asarray(iris_px)[eye, 0, :2], radii[eye]) for eye in range(2)])


# Detector keypoints (eyes' midpoint, nose tip, mouth) and the mesh's (33/263 and 133/362
# midpoints, 1, 13/14) of the same face lie within this fraction of the detection box's width
# of each other on average (profiles included: BlazeFace puts them on the visible features).
KEYPOINT_AGREEMENT_BOX = 0.25


def keypoints_agree(vertices_px: np.ndarray, keypoints_px: np.ndarray, box_px: np.ndarray,
                    tolerance: float = KEYPOINT_AGREEMENT_BOX) -> bool:
    """Whether a mesh ``(468, 3)`` px lies on the face a detection saw: its eyes' midpoint, nose
    tip and mouth centre within ``tolerance`` box widths (mean) of the detector's keypoints
    ``(6, 2)`` px; box_px ``(4,)``."""
    return keypoint_gap(vertices_px, keypoints_px, box_px) <= tolerance


def keypoint_gap(vertices_px: np.ndarray, keypoints_px: np.ndarray, box_px: np.ndarray) -> float:
    """Mean distance, in detection box widths, between a mesh's ``(468, 3)`` px eyes' midpoint,
    nose tip and mouth centre and the detector's keypoints ``(6, 2)`` px; box_px ``(4,)``."""
    v = np.asarray(vertices_px, dtype=np.float64)[:, :2]
    k = np.asarray(keypoints_px, dtype=np.float64)
    eyes = (v[topology.RIGHT_EYE_OUTER] + v[topology.RIGHT_EYE_INNER] + v[topology.LEFT_EYE_OUTER] + v[topology.LEFT_EYE_INNER]) / 4
    mouth = (v[topology.UPPER_LIP_INNER] + v[topology.LOWER_LIP_INNER]) / 2
    mesh = np.array([eyes, v[topology.NOSE_TIP], mouth])
    detector = np.array([(k[0] + k[1]) / 2, k[2], k[3]])
    width = max(float(box_px[2] - box_px[0]), 1e-6)
    return float(np.linalg.norm(mesh - detector, axis=1).mean()) / width


# A face found by a fallback crop whose mesh box covers more than this share of a found face's
# (or is covered by it, whichever is smaller) is dropped.
FALLBACK_MAX_OVERLAP = 0.2


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection of two meshes' ``(468, 2+)`` bounding boxes over the smaller box's area."""
    box_a, box_b = mesh_box(a), mesh_box(b)
    width = min(box_a[2], box_b[2]) - max(box_a[0], box_b[0])
    height = min(box_a[3], box_b[3]) - max(box_a[1], box_b[1])
    if width <= 0 or height <= 0:
        return 0.0
    smaller = min(np.prod(box_a[2:] - box_a[:2]), np.prod(box_b[2:] - box_b[:2]))
    return float(width * height / max(smaller, 1e-6))


def seen_again(vertices_px: np.ndarray, mesh, min_presence: float) -> bool:
    """Whether a crop that the landmarks ``vertices_px (468, 2+)`` imply (``roi_from_landmarks``,
    levelled by the eyes or by the face's axis) shows the mesh network a face too (``mesh(roi) ->
    FaceMesh``): what tells a face from a false alarm the network talked itself into."""
    return any(mesh(roi_from_landmarks(vertices_px, face_axis)).presence >= min_presence
               for face_axis in (False, True))


def faces_beside(detections: list, kept_px: list[np.ndarray], mesh, min_presence: float) -> list[np.ndarray]:
    """The faces of ``detections`` that are not the faces ``kept_px`` (``(468, 2+)`` image pixels
    each): ``(468, 3)`` image pixels each, from a mesh run on MediaPipe's crop of each detection
    and one more to confirm it (``mesh(roi) -> FaceMesh``). A mesh under ``min_presence`` is no
    face, nor is one that the crop its landmarks imply does not show again (a hand, a pattern: see
    ``looks_human``); one on a kept face, or over part of one (its ear or hair read as a face), is
    not another."""
    others: list[np.ndarray] = []
    for detection in detections:
        if any(iou(detection.box_px, mesh_box(kept)) >= SAME_DETECTION_IOU for kept in kept_px):
            continue
        found = mesh(detection_rois(detection.box_px, detection.keypoints_px)[0][1])
        if found.presence < min_presence or not seen_again(found.vertices, mesh, min_presence):
            continue
        if not any(
                _same_face(found.vertices, kept) or _overlap(found.vertices, kept) > FALLBACK_MAX_OVERLAP
                for kept in list(kept_px) + others):
            others.append(found.vertices)
    return others


class FacesBeside:
    """The other people's faces in frames of a loop that tracks one face: ``find(image, vertices_px)``
    runs the detector (the whole frame and ``tile_fractions``' tiles), then ``faces_beside``. It holds
    its own networks, loaded on first use (the mesh network only once someone stands beside the face):
    one per thread that searches."""

    def __init__(self, tile_fractions: tuple[float, ...] | None = None, options: PhotoOptions = PhotoOptions()):
        self.options = options
        self.tile_fractions = options.detection.tile_fractions if tile_fractions is None else tuple(tile_fractions)
        self._detector: FaceDetector | None = None
        self._reconstructor: Reconstructor | None = None

    def find(self, image_bgr: np.ndarray, vertices_px: np.ndarray) -> list[np.ndarray]:
        """``(468, 3)`` image pixels of each face in ``image_bgr`` beside the face at
        ``vertices_px (468, 2+)``; one person alone costs a detection."""
        if self._detector is None:
            self._detector = FaceDetector(replace(self.options.detection, providers=self.options.providers))

        def mesh(roi: Roi) -> FaceMesh:
            if self._reconstructor is None:
                self._reconstructor = Reconstructor(ReconstructionOptions(providers=self.options.providers, iris=False))
            return self._reconstructor.run(image_bgr, [roi]).faces[0]

        detections = self._detector.detect(image_bgr, self.tile_fractions).detections
        return faces_beside(detections, [np.asarray(vertices_px, np.float64)], mesh, self.options.min_presence)


def _doubtful(face: PhotoFace) -> bool:
    """A mesh off the face its detection saw: found in the detector's own crop, its eyes, nose tip and
    mouth further than ``CREDIBLE_KEYPOINT_GAP`` from the detector's (an upright mesh on an upside-down
    face), or, turned no further than ``FLIP_DOUBT_MAX_TURN_DEG``, its mirror image's mesh further than
    ``FLIP_DOUBT_IOD`` from it (a face turned as a crop the detector turned wrongly was, on a face
    lying on its side). Faces the fallback crops
    found (profiles, rolled heads) passed ``KEYPOINT_AGREEMENT_BOX`` already: the detector's
    keypoints on a profile are the visible features' (the tests' rendered heads turned 75-80 deg
    and rolled 60-90: 0.24-0.27 off, the face)."""
    mirror_disagrees = (face.steps.get("flip_gap_iod", 0.0) > FLIP_DOUBT_IOD
                        and abs(face.turn_deg) <= FLIP_DOUBT_MAX_TURN_DEG)
    return (face.steps.get("crop", "detection") == "detection"
            and (face.steps.get("keypoint_gap_box", 0.0) > CREDIBLE_KEYPOINT_GAP or mirror_disagrees))


def _sound(face: PhotoFace) -> bool:
    """A detection crop's mesh on its detector's keypoints: what may overrule a doubtful face."""
    return face.steps.get("crop", "detection") == "detection" and not _doubtful(face)


def credible_best_score(faces: list[PhotoFace]) -> float:
    """The best detector score of the faces that are not ``_doubtful``, 0 without any: under
    ``UPSIDE_DOWN_BELOW`` the photo is searched turned half round too."""
    return max((face.score for face in faces if not _doubtful(face)), default=0.0)


def turned_search_wins(as_given: list[PhotoFace], turned: list[PhotoFace]) -> bool:
    """Whether the faces found in the photo turned half round are taken over those found as given:
    the turned photo's best scores ``UPSIDE_DOWN_MARGIN`` more than the photo's best, and at least
    ``HUMAN_MIN_SCORE``; or its best ``_sound`` face does so over the photo's faces that are not
    ``_doubtful``, and scores at least as well as the photo's best. A doubtful face is discounted
    only against a sound one that scores as well: a face rolled in the photo can lie 0.15-0.19 off
    its detector's keypoints and be right (Biden turned 90 and 270 deg, Einstein 195, sample4 270:
    0.82 against a sound but wrong 0.73 turned)."""
    plain = max((face.score for face in as_given), default=0.0)
    if turned and max(face.score for face in turned) >= max(plain + UPSIDE_DOWN_MARGIN, HUMAN_MIN_SCORE):
        return True
    sound = max((face.score for face in turned if _sound(face)), default=0.0)
    return sound >= max(credible_best_score(as_given) + UPSIDE_DOWN_MARGIN, HUMAN_MIN_SCORE, plain)


def _upright(face: PhotoFace) -> bool:
    """Whether a face stands within ``SIDEWAYS_ROLL_DEG`` of its search's up."""
    return abs(geometry.face_roll_deg(face.vertices_px)) <= SIDEWAYS_ROLL_DEG


def stands_upright(faces: list[PhotoFace]) -> bool:
    """Whether any of ``faces`` stands upright (``_upright``) and is not ``_doubtful``: if none does,
    the photo is searched turned a quarter too (``PhotoOptions.sideways``)."""
    return any(_upright(face) and not _doubtful(face) for face in faces)


def turns_to_stand_up(faces: list[PhotoFace]) -> list[int]:
    """The turns (quarters counter-clockwise, ``quarter_turn``) to search a photo at whose faces
    ``faces`` (in its own pixels) none stands upright: first the one that stands the largest face
    nearest upright (rolled 45-135 deg toward the photo's right: 1; further either way: 2, half
    round; toward its left: 3; a doubtful face within 45 deg: the quarter its roll leans to), then
    the quarters left; none found: both quarters."""
    if not faces:
        return [1, 3]
    roll = geometry.face_roll_deg(max(faces, key=_mesh_area).vertices_px)
    first = int(np.round(roll / 90.0)) % 4 or (1 if roll > 0.0 else 3)
    return [first] + [turn for turn in (1, 3) if turn != first]


def sideways_search_wins(as_given: list[PhotoFace], turned: list[PhotoFace]) -> bool:
    """Whether the faces found in the photo turned a quarter are taken over ``as_given`` (none of
    which ``stands_upright``): the turned photo's best face that stands upright in it and is
    ``_sound`` scores at least ``HUMAN_MIN_SCORE``, at least as well as ``as_given``'s best face
    that is not ``_doubtful`` (one lying on its side, right: the turned photo stands it up), and
    no more than ``UPSIDE_DOWN_MARGIN`` under its best upright face, doubtful as that is (obama2
    turned 90 deg: a mesh turned as the detector's crop, 0.90, against his upright face's 0.95)."""
    upright = max((face.score for face in turned if _sound(face) and _upright(face)), default=0.0)
    sound = max((face.score for face in as_given if not _doubtful(face)), default=0.0)
    standing = max((face.score for face in as_given if _upright(face)), default=0.0)
    return upright >= max(HUMAN_MIN_SCORE, sound, standing - UPSIDE_DOWN_MARGIN)


def _mesh_area(face: PhotoFace) -> float:
    """The area of a face's mesh box in the photo, pixels: what "the largest face" means."""
    return float(np.prod(np.ptp(face.vertices_px[:, :2], axis=0)))


def _same_face(a: np.ndarray, b: np.ndarray) -> bool:
    """Two ``(468, 3)`` meshes on the same face: their nose tips are within half an IOD."""
    return float(np.linalg.norm(a[1, :2] - b[1, :2])) < 0.5 * max(inter_ocular_distance(a), inter_ocular_distance(b))


class PhotoReconstructor:
    """Faces from single images. ``run(image_bgr) -> PhotoResult``."""

    def __init__(self, options: PhotoOptions = PhotoOptions()):
        self.options = options
        self.detector = FaceDetector(DetectionOptions(
            min_score=options.detection.min_score, suppression_iou=options.detection.suppression_iou,
            providers=options.providers, tile_fractions=options.detection.tile_fractions,
            resize=options.detection.resize))
        self.second_detector = None if options.second_detection_resize is None else FaceDetector(
            replace(self.detector.options, resize=options.second_detection_resize), session=self.detector.session)
        self.reconstructor = Reconstructor(ReconstructionOptions(providers=options.providers, iris=True, iris_interval=1))
        self._segmenter = None
        self._arms = None
        self._not_human: list[PhotoFace] = []

    def run(self, image_bgr: np.ndarray, all_faces: bool | None = None,
            pick_px: tuple[float, float] | None = None) -> PhotoResult:
        """The faces in ``image_bgr``. all_faces: overrides the options' for this photo (the web
        page makes the largest face's bust, then whichever face is picked, on one set of networks).
        pick_px: a photo pixel (x, y): every face is made, and the one there (``face_at``) is the
        result's only face, its mask parted from the others (``others_px``), which get none. Where
        no face is kept or the best scores low (``UPSIDE_DOWN_BELOW``), the photo turned half round
        is searched too (``PhotoOptions.upside_down``): what it finds, where it scores clearly
        better, comes back in the photo's own pixels (``half_turned``). Where then no face found
        stands upright and sound (``stands_upright``), the photo turned a quarter is searched too,
        first the way that stands the largest face up (``PhotoOptions.sideways``,
        ``turns_to_stand_up``: half round too, for a sound face found upside down, where that was
        not searched yet), and taken where ``sideways_search_wins`` (``quarter_turned``)."""
        found = self._search(image_bgr, all_faces, pick_px)
        height, width = image_bgr.shape[:2]
        # The search taken so far, in its own (turned) pixels, where its faces stand as it found
        # them: what the turned searches are judged against. ``_back`` brings it to the photo's.
        searched, quarters = found, 0
        half_round_searched = self.options.upside_down and credible_best_score(found.faces) < UPSIDE_DOWN_BELOW
        if half_round_searched:
            turned = self._turned_search(image_bgr, 2, all_faces, pick_px)
            if turned_search_wins(found.faces, turned.faces):
                searched, quarters = turned, 2
        if self.options.sideways and not stands_upright(searched.faces):
            for turn in turns_to_stand_up(self._back(searched, quarters, width, height).faces):
                if turn == 2 and (half_round_searched or not self.options.upside_down):
                    continue
                turned = self._turned_search(image_bgr, turn, all_faces, pick_px)
                if sideways_search_wins(searched.faces, turned.faces):
                    searched, quarters = turned, turn
                    break
        return self._back(searched, quarters, width, height)

    @staticmethod
    def _back(found: PhotoResult, quarters: int, width: int, height: int) -> PhotoResult:
        """``found``, searched turned ``quarters`` counter-clockwise, in the photo's own pixels."""
        if quarters == 0:
            return found
        return half_turned(found, width, height) if quarters == 2 else quarter_turned(found, quarters, width, height)

    def _turned_search(self, image_bgr: np.ndarray, quarters: int, all_faces: bool | None,
                       pick_px: tuple[float, float] | None) -> PhotoResult:
        """``_search`` of the photo turned ``quarters`` counter-clockwise (``quarter_turn``); a pick
        goes with it. The result is the turned photo's."""
        height, width = image_bgr.shape[:2]
        turned_pick = None
        if pick_px is not None:
            turned_pick = tuple(float(value) for value in quarter_turn(quarters, width, height)[:2] @ (*pick_px, 1.0))
        return self._search(np.ascontiguousarray(np.rot90(image_bgr, quarters)), all_faces, turned_pick)

    def _search(self, image_bgr: np.ndarray, all_faces: bool | None,
                pick_px: tuple[float, float] | None) -> PhotoResult:
        """``run`` on the photo as given."""
        all_faces = (self.options.all_faces if all_faces is None else all_faces) or pick_px is not None
        height, width = image_bgr.shape[:2]
        faces: list[PhotoFace] = []
        self._not_human: list[PhotoFace] = []
        # First MediaPipe's crop of every detection, largest first: a detection whose mesh says
        # "no face" (a tile's false alarm) is left for later, and one that lands on a face
        # already found is a duplicate. Then the second search's detections (with --all-faces,
        # or when no face was found), then the fallback crops of all that was left.
        first = self.detector.detect(image_bgr).detections
        # Every face of the first search is made even for the largest face's bust: "largest" is
        # the mesh's extent, as --all-faces orders the faces (the detector's boxes order them
        # otherwise: a turned face's box is larger), and the others part the person's mask.
        left = self._primary_crops(image_bgr, first, faces, True)
        if self.second_detector is not None and (all_faces or not faces):
            second = [d for d in self.second_detector.detect(image_bgr).detections
                      if all(iou(d.box_px, other.box_px) < SAME_DETECTION_IOU for other in first)]
            left += self._primary_crops(image_bgr, second, faces, all_faces)
        if self.options.fallback_crops and (all_faces or not faces):
            mirrored_image = np.ascontiguousarray(image_bgr[:, ::-1]) if left else None
            for detection in left:
                found = self._fallback_mesh(image_bgr, mirrored_image, detection)
                # A fallback mesh over part of a face already found is that face's ear or hair
                # read as a face (beside profiles: 9 of 100 cropped photos without this).
                if found is not None and not any(_overlap(found[0].vertices, kept.vertices_px) > FALLBACK_MAX_OVERLAP
                                                 for kept in faces):
                    self._keep(image_bgr, detection, found, faces)
                    if not all_faces:
                        break
        largest = [max(faces, key=_mesh_area)] if faces else []
        if self._may_hold_smaller_faces(faces if all_faces else largest, width, height):
            smaller = [d for d in self.detector.detect(image_bgr, tile_fractions=self.options.small_face_tiles).detections
                       if all(iou(d.box_px, other.box_px) < SAME_DETECTION_IOU for other in first)]
            if all_faces or not faces:
                left += self._primary_crops(image_bgr, smaller, faces, all_faces)
            first = first + smaller  # the other people beside the largest face (``_other_people``)
        faces.sort(key=_mesh_area, reverse=True)
        everyone = [face.vertices_px for face in faces]  # the camera's roll looks past all of them
        rest = [] if all_faces else faces[1:]
        faces = faces if all_faces else faces[:1]
        persons, others, beside = [], [], []
        if pick_px is not None and faces:
            chosen = face_at([face.vertices_px for face in faces], pick_px)
            others = [face.vertices_px for index, face in enumerate(faces) if index != chosen]
            faces = [faces[chosen]]
        elif not all_faces and self.options.segment and faces:
            beside = self._other_people(image_bgr, first, left, faces + rest)
            others = [face.vertices_px for face in rest] + beside
        if self.options.segment and faces:
            persons = self.segmenter.run(image_bgr, [face.vertices_px for face in faces], others).masks
            if self.options.hide_raised_arms:
                from realtime.stages.arms import without_raised_arms

                persons = without_raised_arms(image_bgr, persons, [face.vertices_px for face in faces],
                                              self._arm_finder)
        level = None
        if self.options.level and faces:
            from realtime.stages.level import camera_roll, levelled_by_body, working_scale, working_size
            from realtime.stages.segmentation import PERSON_THRESHOLD

            # The people's own lines (a tie, a lapel, hair) say nothing about the room: their masks
            # are left out (on the photo as shrunk for the lines). Every face found, the people
            # confirmed beside the bust's too, has its lean checked against the room's.
            small, scale = working_size(width, height), working_scale(width, height)
            people = np.zeros(small[::-1], bool)
            for person in persons:
                people |= person.in_image(*small, scale) > PERSON_THRESHOLD
            level = camera_roll(image_bgr, people, everyone + beside)
            if len(everyone) + len(beside) == 1:
                # One person and no room to read: their face and shoulders may lean alike.
                face_px = faces[0].vertices_px
                level = levelled_by_body(level, face_px, lambda: self._shoulders(image_bgr, face_px))
        return PhotoResult(faces, (width, height), list(self._not_human), persons, others, level)

    def _may_hold_smaller_faces(self, faces: list, width: int, height: int) -> bool:
        """Whether the photo gets the ``small_face_tiles`` search too: no face found yet, or one
        under ``small_face_share`` of the short side (a crowd)."""
        if not self.options.small_face_tiles:
            return False
        smallest = min((float(np.ptp(face.vertices_px[:, 1])) for face in faces), default=0.0)
        return smallest < self.options.small_face_share * min(width, height)

    @property
    def segmenter(self):
        """The person segmenter, loaded on first use (a photo without a face never needs it)."""
        if self._segmenter is None:
            from realtime.stages.segmentation import PersonSegmenter, SegmentationOptions

            self._segmenter = PersonSegmenter(SegmentationOptions(providers=self.options.providers))
        return self._segmenter

    def _arm_finder(self):
        """The pose network for raised arms and the shoulders' level, loaded on first use (most photos
        never need it)."""
        if self._arms is None:
            from realtime.stages.arms import ArmFinder, ArmOptions

            self._arms = ArmFinder(ArmOptions(providers=self.options.providers))
        return self._arms

    def _shoulders(self, image_bgr: np.ndarray, vertices_px: np.ndarray) -> np.ndarray | None:
        """``(2, 2)`` image pixels of the shoulders of the person whose face is at ``vertices_px``
        (``arms.ArmFinder.shoulders``), seen inside any frame round the photo as the arms are, or None."""
        from realtime.stages.segmentation import framed_content

        content, corner = framed_content(image_bgr)
        found = self._arm_finder().shoulders(content, np.asarray(vertices_px, np.float64)[:, :2] - corner)
        return None if found is None else found + corner

    def _primary_crops(self, image_bgr: np.ndarray, detections: list, faces: list, all_faces: bool) -> list:
        """Try MediaPipe's crop of each detection (largest first), adding the faces found to
        ``faces`` (only the first without ``all_faces``); returns the detections left."""
        left = []
        for detection in detections:
            if faces and not all_faces:
                break
            found = self._first_mesh(image_bgr, None, detection_rois(detection.box_px, detection.keypoints_px)[0][1])
            if found is None:
                left.append(detection)
                continue
            found[1]["crop"] = "detection"
            self._keep(image_bgr, detection, found, faces)
        return left

    def _other_people(self, image_bgr: np.ndarray, detections: list, no_face: list, faces: list) -> list[np.ndarray]:
        """The other people's faces (``faces_beside``) when only ``faces[0]`` gets a bust: the
        segmentation must know them to leave them out of its person. Detections already tried
        (``no_face``) are not tried again."""
        tried = {id(detection) for detection in no_face}
        return faces_beside([d for d in detections if id(d) not in tried], [face.vertices_px for face in faces],
                            lambda roi: self._mesh(image_bgr, roi), self.options.min_presence)

    def _keep(self, image_bgr: np.ndarray, detection, found: tuple[FaceMesh, dict], faces: list) -> None:
        """Finish a face (refine, mirror) and add it to ``faces`` unless it is one already there
        (or to the refused ones, if it does not look human)."""
        face = self._reconstruct(image_bgr, *found)
        face[1]["keypoint_gap_box"] = keypoint_gap(face[0].vertices, detection.keypoints_px, detection.box_px)
        duplicates = [kept for kept in faces + self._not_human if _same_face(face[0].vertices, kept.vertices_px)]
        if any(kept.score + DUPLICATE_BETTER_BY > detection.score for kept in duplicates):
            return
        described = self._describe(image_bgr, detection.box_px, detection.score, face)
        human = not self.options.human_only or looks_human(
            described.score, described.presence, described.turn_deg, str(described.steps.get("crop", "detection")),
            described.confirmed or not (self.options.refine or self.options.flip))
        if duplicates and not human:
            return  # the face stays as first found
        # A clearly better detection of a face already found replaces it (``DUPLICATE_BETTER_BY``).
        faces[:] = [kept for kept in faces if all(kept is not duplicate for duplicate in duplicates)]
        self._not_human = [kept for kept in self._not_human if all(kept is not duplicate for duplicate in duplicates)]
        (faces if human else self._not_human).append(described)

    def _fallback_mesh(self, image_bgr: np.ndarray, mirrored_image: np.ndarray,
                       detection) -> tuple[FaceMesh, dict] | None:
        """The first of the other crops (and all crops on the mirrored image) in which the mesh
        network sees a face that its own next crop confirms, or None.

        A crop that only a turned or mirrored view accepts can be a false alarm the network
        talks itself into (on the mirrored astronaut, a patch on her suit read 0.86 in one;
        beside a profile, an ear and its hair read 1.0): the face is kept only if it lies where
        the detector saw one (``keypoints_agree``) and a crop its own landmarks imply
        (``roi_from_landmarks``, levelled by the eyes or by the face's axis, on the photo as it
        is) shows a face too (the patch: 0.09; true profiles: 0.6-1.0).
        """
        rois = detection_rois(detection.box_px, detection.keypoints_px)
        tries = [(name, roi, False) for name, roi in rois[1:]] + [(name, roi, True) for name, roi in rois]
        for name, roi, mirrored in tries:
            found = self._first_mesh(image_bgr, mirrored_image if mirrored else None, roi)
            if found is None or not keypoints_agree(found[0].vertices, detection.keypoints_px, detection.box_px):
                continue
            if seen_again(found[0].vertices, lambda roi: self._mesh(image_bgr, roi), self.options.min_presence):
                found[1]["crop"] = name + (" mirrored" if mirrored else "")
                return found
        return None

    def _mesh(self, image_bgr: np.ndarray, roi: Roi) -> FaceMesh:
        return self.reconstructor.run(image_bgr, [roi]).faces[0]

    def _first_mesh(self, image_bgr: np.ndarray, mirrored_image: np.ndarray | None,
                    roi: Roi) -> tuple[FaceMesh, dict] | None:
        """The mesh in one crop of the image (or of its mirror image, brought back), or None
        when the network sees no face there."""
        width = image_bgr.shape[1]
        if mirrored_image is None:
            mesh = self._mesh(image_bgr, roi)
        else:
            flipped = self._mesh(mirrored_image, mirror_roi(roi, width))
            iris = None if flipped.iris is None else mirror_iris(flipped.iris, width)
            mesh = FaceMesh(mirror_vertices(flipped.vertices, width).astype(np.float32), flipped.presence, roi, iris)
        if mesh.presence < self.options.min_presence:
            return None
        return mesh, {}

    def _reconstruct(self, image_bgr: np.ndarray, first: FaceMesh, steps: dict) -> tuple[FaceMesh, dict]:
        best = first
        if self.options.refine:
            # MediaPipe's crop from landmarks (levelled by the eye corners); on a profile whose
            # eye corners nearly meet it can tip the crop over, and the face's axis holds.
            for face_axis in (False, True):
                second = self._mesh(image_bgr, roi_from_landmarks(first.vertices, face_axis))
                if second.presence >= self.options.min_presence:
                    steps["refine_shift_iod"] = median_distance_iod(second.vertices, first.vertices)
                    if face_axis:
                        steps["refine_crop"] = "face_axis"
                    best = second
                    break
        vertices = best.vertices
        if self.options.flip:
            width = image_bgr.shape[1]
            flipped_image = np.ascontiguousarray(image_bgr[:, ::-1])
            flipped = self._mesh(flipped_image, mirror_roi(best.roi, width))
            if flipped.presence >= self.options.min_presence:
                mirrored = mirror_vertices(flipped.vertices, width)
                gap = median_distance_iod(mirrored, best.vertices)
                steps["flip_gap_iod"] = gap
                if gap <= self.options.flip_agreement_iod:
                    vertices = ((best.vertices + mirrored) / 2).astype(np.float32)
                    steps["flip_shift_iod"] = median_distance_iod(vertices, best.vertices)
                steps["flip_averaged"] = float(gap <= self.options.flip_agreement_iod)
        return FaceMesh(vertices, best.presence, best.roi, best.iris), steps

    def _describe(self, image_bgr: np.ndarray, box_px: np.ndarray, score: float, reconstructed) -> PhotoFace:
        face, steps = reconstructed
        vertices = face.vertices
        rotation = face_rotation(vertices)
        turn_sin = float(np.clip(rotation[2, 0], -1.0, 1.0))
        blur = None if face.iris is None else iris_blur_px(image_bgr, face.iris)
        scale = photo_scale(vertices, face.iris, iris_eye_weights(rotation), turn_sin, blur)
        source = photo_scale_source(scale)
        if face.iris is not None:
            pd_px = float(np.linalg.norm(np.diff(pupil_centres_px(vertices, face.iris), axis=0)))
            pd_px_sd = PUPIL_CENTRE_SD_PX * np.sqrt(2.0)
        else:
            # No pupils: the eye corners and the adult ratio of PD to their distance.
            pd_px = inter_ocular_distance(vertices) * PD_PER_OUTER_CANTHAL
            pd_px_sd = PD_PER_OUTER_CANTHAL_SD * pd_px
        width_px = float(np.linalg.norm(vertices[FACE_WIDTH_LANDMARKS[0]] - vertices[FACE_WIDTH_LANDMARKS[1]]))
        mm = scale.mm_per_px
        # sd of x * s with relative scale error sd_s and measuring error sd_x (pixels); the far
        # half of a turned face's width is the network's guess.
        pd_sd = float(np.hypot(scale.sd * pd_px, pd_px_sd) * mm)
        width_measuring = np.hypot(np.sqrt(2.0) * FACE_LANDMARK_SD_PX, FACE_WIDTH_TURN_WEIGHT * abs(turn_sin) * width_px)
        width_sd = float(np.hypot(scale.sd * width_px, width_measuring) * mm)
        landmarks68 = ibug68_points(vertices[:, :2]).astype(np.float32)
        return PhotoFace(np.asarray(box_px, np.float32), float(score), vertices, face.presence, face.iris,
                         landmarks68, mm, source, pd_px * mm, width_px * mm, steps,
                         turn_deg=float(np.degrees(np.arcsin(turn_sin))), pd_sd_mm=pd_sd, face_width_sd_mm=width_sd,
                         scale_sd=scale.sd, scale_weights=scale.weights, iris_mm_per_px=scale.iris_mm_per_px)

    def close(self) -> None:
        if self._segmenter is not None:
            self._segmenter.close()
        if self._arms is not None:
            self._arms.close()
        self.detector.close()
        if self.second_detector is not None:
            self.second_detector.close()
        self.reconstructor.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
