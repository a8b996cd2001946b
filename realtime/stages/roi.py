"""Regions of interest: the rotated square crops the face networks look at.

Pure functions over numpy arrays, following MediaPipe's face-mesh graph so our crops match
the ones the networks were trained on: a ROI is built from a detection (box + eye keypoints)
or from the previous frame's mesh (bounding box of all vertices), rotated so the eye line is
horizontal, enlarged by 1.5 and made square on its long side. ``crop_transform`` gives the
affine map from image pixels to network-input pixels, ``crop_to_image`` maps network output
back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from realtime import geometry, topology
from realtime.shapes import check_shape

# MediaPipe's face-mesh graph enlarges the face box by 1.5 on each side before cropping
# (face_detection_front_detection_to_roi / face_landmarks_to_roi): the mesh network was
# trained on crops with that margin.
FACE_ROI_SCALE = 1.5
# Eye corners whose line sets the ROI rotation (image-left eye outer corner, image-right eye
# outer corner), as in MediaPipe's face_landmarks_to_roi.
ROTATION_LANDMARKS = (topology.RIGHT_EYE_OUTER, topology.LEFT_EYE_OUTER)


@dataclass(frozen=True)
class Roi:
    """A rotated rectangle in image pixels.

    center_x, center_y: pixels. width, height: pixels. rotation: radians, counter-clockwise
    positive in the image as MediaPipe defines it (rotation of the eye line to horizontal).
    """

    center_x: float
    center_y: float
    width: float
    height: float
    rotation: float

    def corners(self) -> np.ndarray:
        """``(4, 2) float32`` corners in pixels: top-left, top-right, bottom-right, bottom-left
        of the upright crop."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        half = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]]) * [self.width, self.height]
        rot = np.array([[c, -s], [s, c]])
        return (half @ rot.T + [self.center_x, self.center_y]).astype(np.float32)

    def as_dict(self) -> dict[str, float]:
        return dict(center_x=self.center_x, center_y=self.center_y, width=self.width,
                    height=self.height, rotation=self.rotation)


def normalize_radians(angle: float) -> float:
    """Wrap an angle into [-pi, pi) (``geometry.wrapped_angle``)."""
    return float(geometry.wrapped_angle(angle))


def eye_line_rotation(start_px: np.ndarray, end_px: np.ndarray, target_angle: float = 0.0) -> float:
    """Rotation (radians) that turns the line start→end to ``target_angle``.

    start_px, end_px: ``(2,)`` pixels. MediaPipe's DetectionsToRects convention:
    ``rotation = target - atan2(-(y1 - y0), x1 - x0)`` (image y points down).
    """
    return normalize_radians(target_angle - math.atan2(-(end_px[1] - start_px[1]), end_px[0] - start_px[0]))


def square_roi(center_x: float, center_y: float, width: float, height: float, rotation: float,
               scale: float = FACE_ROI_SCALE) -> Roi:
    """Scale a rectangle about its centre and make it square on its long side (pixels)."""
    side = max(width, height) * scale
    return Roi(float(center_x), float(center_y), float(side), float(side), float(rotation))


def roi_from_detection(box_px: np.ndarray, keypoints_px: np.ndarray) -> Roi:
    """ROI for the mesh network from a face detection.

    box_px: ``(4,)`` x_min, y_min, x_max, y_max in pixels.
    keypoints_px: ``(6, 2)`` BlazeFace keypoints in pixels (0 = image-left eye, 1 = image-right eye).
    """
    box_px = check_shape("box_px", box_px, (4,))
    keypoints_px = check_shape("keypoints_px", keypoints_px, (6, 2))
    rotation = eye_line_rotation(keypoints_px[0], keypoints_px[1])
    x0, y0, x1, y1 = box_px
    return square_roi((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0, rotation)


# Detection keypoints (BlazeFace): 0 and 1 the eyes (image left, image right), 3 the mouth.
KEYPOINT_MOUTH = 3


def face_axis_rotation(keypoints_px: np.ndarray) -> float:
    """Rotation (radians) that turns the line from between the eyes to the mouth straight down.

    keypoints_px: ``(6, 2)`` BlazeFace keypoints, pixels. On a profile the two eye keypoints
    nearly meet (one eye is hidden), so the eye line's angle is mostly noise (on 100 cropped,
    mirrored and rotated profile photos it tipped crops by up to 90 deg); the eyes-to-mouth axis
    stays as long as the face is.
    """
    keypoints_px = check_shape("keypoints_px", keypoints_px, (6, 2))
    eyes = (keypoints_px[0] + keypoints_px[1]) / 2
    return eye_line_rotation(eyes, keypoints_px[KEYPOINT_MOUTH], -math.pi / 2)


# The fall-back crop for a face the network does not see in the detection's crop: this many
# detection boxes wide instead of FACE_ROI_SCALE (a detector box on a profile covers the
# face's front and leaves out the back of the cheek and jaw).
ENLARGED_ROI_SCALE = 1.9


def detection_rois(box_px: np.ndarray, keypoints_px: np.ndarray) -> list[tuple[str, Roi]]:
    """Crops to try, in order, for a face detection: ``[(name, Roi)]``.

    "detection": MediaPipe's own (``roi_from_detection``: eye-line rotation, 1.5x box);
    "face_axis": the same box turned by the eyes-to-mouth axis (``face_axis_rotation``), which
    holds on profiles; "enlarged": MediaPipe's rotation on a 1.9x box. box_px ``(4,)``,
    keypoints_px ``(6, 2)``, pixels.
    """
    box_px = check_shape("box_px", box_px, (4,))
    x0, y0, x1, y1 = box_px
    centre, size = ((x0 + x1) / 2, (y0 + y1) / 2), (x1 - x0, y1 - y0)
    detection = roi_from_detection(box_px, keypoints_px)
    return [("detection", detection),
            ("face_axis", square_roi(*centre, *size, face_axis_rotation(keypoints_px))),
            ("enlarged", square_roi(*centre, *size, detection.rotation, ENLARGED_ROI_SCALE))]


# Mesh vertices for the face's own vertical axis: the forehead top (10) to the chin (152).
FACE_AXIS_LANDMARKS = (topology.FOREHEAD_TOP, topology.CHIN)


def roi_from_landmarks(vertices_px: np.ndarray, face_axis: bool = False) -> Roi:
    """ROI for the next frame from this frame's mesh.

    vertices_px: ``(468, 3)`` pixels. The box is the axis-aligned bounds of all vertices
    (as MediaPipe's LandmarksToDetection), the rotation levels the outer eye corners — or,
    with ``face_axis``, turns the forehead-to-chin line straight down, which a profile (whose
    eye corners nearly meet in the image) keeps.
    """
    vertices_px = check_shape("vertices_px", vertices_px, (None, 3))
    xy = vertices_px[:, :2]
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    if face_axis:
        rotation = eye_line_rotation(xy[FACE_AXIS_LANDMARKS[0]], xy[FACE_AXIS_LANDMARKS[1]], -math.pi / 2)
    else:
        rotation = eye_line_rotation(xy[ROTATION_LANDMARKS[0]], xy[ROTATION_LANDMARKS[1]])
    return square_roi((lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, hi[0] - lo[0], hi[1] - lo[1], rotation)


# Pixels kept around a ROI's bounding box when cropping: the samples lie inside the ROI's
# square and a bilinear tap reaches the next pixel; one more pixel for rounding.
BOX_MARGIN_PX = 2


def crop_transform(roi: Roi, size: int) -> np.ndarray:
    """Affine map from image pixels to crop pixels, ``(2, 3) float64``.

    The ROI's corners map to the crop's corners (0, 0), (size, 0), (size, size) — the same
    corner convention as MediaPipe's OpenCV image-to-tensor converter.
    """
    src = roi.corners()[:3]
    dst = np.array([[0, 0], [size, 0], [size, size]], dtype=np.float32)
    return cv2.getAffineTransform(src, dst)


def crop_to_frame(roi: Roi, size: int, mirrored: bool = False) -> np.ndarray:
    """Affine map from crop pixels back to image pixels, ``(2, 3) float64``: the inverse of
    ``crop_transform`` (what the crop graphs sample with). ``mirrored``: crop column u shows
    column ``size - 1 - u``, as ``patch[:, ::-1]`` of the unmirrored crop."""
    to_frame = cv2.invertAffineTransform(crop_transform(roi, size))
    if mirrored:
        to_frame[:, 2] += to_frame[:, 0] * (size - 1)
        to_frame[:, 0] *= -1
    return to_frame


def crop(image: np.ndarray, roi: Roi, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut the ROI out of ``image`` as an upright ``(size, size, C)`` crop.

    Returns the crop and the ``(2, 3)`` image→crop transform. Outside the image the border
    pixels are repeated, as MediaPipe does for the mesh network.
    """
    transform = crop_transform(roi, size)
    height, width = image.shape[:2]
    # Warping straight out of a frame that is not in cache reads it along the crop's rotated
    # rows, which the memory prefetcher cannot follow: 0.40 ms for a face crop of a 1280x720
    # frame, against 0.23 ms for copying the ROI's bounding box first (whole rows, in order)
    # and warping the copy. The pixels are the same: the box has a margin for the bilinear
    # taps, and where the image clips it, the copy's replicated border is the image's.
    corners = roi.corners()
    x0, y0 = np.maximum(np.floor(corners.min(axis=0)).astype(int) - BOX_MARGIN_PX, 0)
    x1, y1 = np.minimum(np.ceil(corners.max(axis=0)).astype(int) + BOX_MARGIN_PX + 1, (width, height))
    if x1 - x0 < 2 or y1 - y0 < 2:  # the ROI lies outside the image: warp the image itself
        x0, y0, x1, y1 = 0, 0, width, height
    box = np.ascontiguousarray(image[y0:y1, x0:x1])
    box_transform = transform.copy()
    box_transform[:, 2] += transform[:, :2] @ (x0, y0)  # crop = A (box + origin) + b
    patch = cv2.warpAffine(box, box_transform, (size, size), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
    return patch, transform


def crop_to_image(points_crop: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """Map ``(n, 2)`` crop pixels back to image pixels through the inverse of ``transform``."""
    inverse = cv2.invertAffineTransform(transform)
    return points_crop @ inverse[:, :2].T + inverse[:, 2]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two ``(4,)`` boxes (x_min, y_min, x_max, y_max)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def roi_box(roi: Roi) -> np.ndarray:
    """Axis-aligned bounds ``(4,)`` of a ROI's corners, pixels."""
    corners = roi.corners()
    return np.concatenate([corners.min(axis=0), corners.max(axis=0)])
