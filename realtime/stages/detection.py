"""Face detection: MediaPipe's BlazeFace short-range network, run through ONNX Runtime.

The detector acquires faces (and re-acquires them when tracking is lost). Image in, list of
detections out, largest first: a box and six keypoints (eyes, nose tip, mouth, ear tragions)
in image pixels, with a score. Decoding follows MediaPipe's face_detection_short_range graph:
896 SSD anchors, box and keypoint offsets in 128-pixel units, sigmoid scores, weighted
non-maximum suppression.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from realtime.stages.inference import Session, open_session
from realtime.stages.roi import iou

INPUT_SIZE = 128
# SSD anchor layout of face_detection_short_range (SsdAnchorsCalculator options in the graph).
ANCHOR_STRIDES = (8, 16, 16, 16)
ANCHOR_OFFSET = 0.5
# Raw score logits are clipped before the sigmoid, as the graph does, to avoid overflow.
SCORE_CLIP = 100.0
NUM_KEYPOINTS = 6


@dataclass(frozen=True)
class DetectionOptions:
    # Minimum face score: MediaPipe's default min_detection_confidence.
    min_score: float = 0.5
    # Boxes overlapping more than this are one face (the graph's min_suppression_threshold).
    suppression_iou: float = 0.3
    providers: tuple[str, ...] | None = None
    # The short-range network sees the whole image at 128x128, so faces under ~10% of the
    # image's long side vanish. Photos (group shots, wide frames) also search square tiles
    # whose side is these fractions of the image's short side, overlapping by a quarter.
    # Empty for live video, where a webcam face is large and every millisecond counts.
    tile_fractions: tuple[float, ...] = ()
    # How the image is shrunk to the 128x128 input: "area" averages the pixels (no aliasing),
    # "linear" samples them bilinearly as MediaPipe's own graph does (ImageToTensorCalculator:
    # one warpAffine with INTER_LINEAR). The network was trained on the latter, and on strong
    # profiles it matters: of 100 cropped, mirrored and rotated profile photos, MediaPipe's
    # ROI from "linear" detections gave a face on 89, from "area" detections on 84. Photo mode
    # searches with "linear" too when "area" misses; live video keeps "area".
    resize: str = "area"


@dataclass(frozen=True)
class Detection:
    """One face. box_px: ``(4,)`` x_min, y_min, x_max, y_max pixels; keypoints_px: ``(6, 2)``
    pixels (0 image-left eye, 1 image-right eye, 2 nose tip, 3 mouth, 4 and 5 tragions); score
    in [0, 1]."""

    box_px: np.ndarray
    keypoints_px: np.ndarray
    score: float

    @property
    def area(self) -> float:
        return float((self.box_px[2] - self.box_px[0]) * (self.box_px[3] - self.box_px[1]))


@dataclass(frozen=True)
class DetectionResult:
    detections: list[Detection] = field(default_factory=list)  # largest first; empty: no face


@lru_cache(maxsize=1)
def ssd_anchors() -> np.ndarray:
    """Anchor centres ``(896, 2) float32`` in [0, 1] input-normalised units.

    Layers sharing a stride are merged into one feature map with two anchors per layer per
    cell (fixed anchor size, aspect ratio 1 plus the interpolated scale).
    """
    centres = []
    layer = 0
    while layer < len(ANCHOR_STRIDES):
        stride = ANCHOR_STRIDES[layer]
        per_cell = 0
        while layer < len(ANCHOR_STRIDES) and ANCHOR_STRIDES[layer] == stride:
            per_cell += 2
            layer += 1
        size = int(np.ceil(INPUT_SIZE / stride))
        ys, xs = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
        grid = np.stack([(xs + ANCHOR_OFFSET) / size, (ys + ANCHOR_OFFSET) / size], axis=-1).reshape(-1, 1, 2)
        centres.append(np.repeat(grid, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(centres).astype(np.float32)


def decode_detections(regressors: np.ndarray, logits: np.ndarray, min_score: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode raw network outputs into boxes, keypoints and scores above ``min_score``.

    regressors: ``(896, 16)``; logits: ``(896,)``. Returns boxes ``(n, 4)`` and keypoints
    ``(n, 6, 2)`` in [0, 1] units of the 128x128 input, and scores ``(n,)``.
    """
    anchors = ssd_anchors()
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -SCORE_CLIP, SCORE_CLIP)))
    keep = scores >= min_score
    raw, anchors, scores = regressors[keep] / INPUT_SIZE, anchors[keep], scores[keep]
    centre = raw[:, 0:2] + anchors
    half = raw[:, 2:4] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    keypoints = raw[:, 4:16].reshape(-1, NUM_KEYPOINTS, 2) + anchors[:, None, :]
    return boxes, keypoints, scores


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray,
                 suppression_iou: float) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """MediaPipe's weighted non-maximum suppression.

    Each cluster of boxes overlapping the best remaining one by more than ``suppression_iou``
    becomes one detection whose box and keypoints are the score-weighted mean of the cluster
    (steadier than keeping the single best box). Shapes as ``decode_detections``.
    """
    order = list(np.argsort(-scores))
    merged = []
    while order:
        top = order[0]
        cluster = [i for i in order if iou(boxes[top], boxes[i]) > suppression_iou]
        weights = scores[cluster][:, None]
        total = weights.sum()
        box = (boxes[cluster] * weights).sum(axis=0) / total
        points = (keypoints[cluster] * weights[:, :, None]).sum(axis=0) / total
        merged.append((box, points, float(scores[top])))
        order = [i for i in order if i not in cluster]
    return merged


RESIZE_MODES = ("area", "linear")


def letterbox(image: np.ndarray, size: int, resize: str = "area") -> tuple[np.ndarray, float, float, float]:
    """Fit ``image`` into a ``size``-square keeping its aspect ratio, padding with black.

    Returns the ``(size, size, 3)`` image and (scale, pad_x, pad_y) such that
    ``input_px = image_px * scale + pad``. resize: "area" (pixel averaging, then whole-pixel
    padding) or "linear" (MediaPipe's: one bilinear affine warp, padding centred exactly).
    """
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize: expected one of {RESIZE_MODES}, got {resize!r}")
    height, width = image.shape[:2]
    scale = size / max(width, height)
    if resize == "linear":
        pad_x, pad_y = (size - width * scale) / 2, (size - height * scale) / 2
        to_input = np.array([[scale, 0.0, pad_x], [0.0, scale, pad_y]])
        canvas = cv2.warpAffine(image, to_input, (size, size), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return canvas, scale, float(pad_x), float(pad_y)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    pad_x, pad_y = (size - new_w) / 2, (size - new_h) / 2
    canvas = np.zeros((size, size, 3), dtype=np.uint8)
    top, left = int(pad_y), int(pad_x)
    canvas[top:top + new_h, left:left + new_w] = resized
    return canvas, scale, float(left), float(top)


def tile_windows(width: int, height: int, fractions: tuple[float, ...]) -> list[tuple[int, int, int]]:
    """Square windows ``(x, y, side)`` in pixels covering a ``width`` x ``height`` image.

    One grid per fraction of the short side; neighbouring windows overlap by a quarter so a
    face on a seam is whole in at least one window.
    """
    windows = []
    for fraction in fractions:
        side = max(INPUT_SIZE, int(min(width, height) * fraction))
        if side >= max(width, height):
            continue  # the whole-image pass already covers it
        stride = max(1, int(side * 0.75))
        xs = sorted({*range(0, max(1, width - side + 1), stride), max(0, width - side)})
        ys = sorted({*range(0, max(1, height - side + 1), stride), max(0, height - side)})
        windows.extend((x, y, min(side, width - x, height - y)) for y in ys for x in xs)
    return windows


class FaceDetector:
    """BlazeFace short-range detector. ``detect(image_bgr) -> DetectionResult``."""

    def __init__(self, options: DetectionOptions = DetectionOptions(), session: Session | None = None):
        self.options = options
        self.session = session or open_session(
            "face_detection_short_range", list(options.providers) if options.providers else None)

    def detect(self, image_bgr: np.ndarray, tile_fractions: tuple[float, ...] | None = None) -> DetectionResult:
        """Faces in ``image_bgr``, largest first. ``tile_fractions`` overrides the options' tiles
        for this call (the tracker searches tiles only now and then)."""
        height, width = image_bgr.shape[:2]
        tiles = self.options.tile_fractions if tile_fractions is None else tile_fractions
        # The whole image and every tile go through the network in one batched call.
        windows = [(0, 0, image_bgr)] + [(x, y, image_bgr[y:y + side, x:x + side])
                                         for x, y, side in tile_windows(width, height, tiles)]
        boxed = [letterbox(window, INPUT_SIZE, self.options.resize) for _, _, window in windows]
        outputs = self.session.run_batched(np.stack([canvas for canvas, *_ in boxed]))
        found = [self._decode_window(outputs["regressors"][i], outputs["classificators"][i], *boxed[i][1:], x0, y0)
                 for i, (x0, y0, _) in enumerate(windows)]
        boxes, keypoints, scores = (np.concatenate(parts) for parts in zip(*found))
        detections = [Detection(box.astype(np.float32), points.astype(np.float32), score)
                      for box, points, score in weighted_nms(boxes, keypoints, scores, self.options.suppression_iou)]
        detections.sort(key=lambda d: -d.area)
        return DetectionResult(detections)

    def _decode_window(self, regressors: np.ndarray, logits: np.ndarray, scale: float, pad_x: float, pad_y: float,
                       x0: int, y0: int):
        """One window's raw detections mapped to image pixels: boxes ``(n, 4)``, keypoints
        ``(n, 6, 2)``, scores ``(n,)``. regressors ``(896, 16)``, logits ``(896, 1)``: the network's
        rows for the window; scale, pad: its letterbox; x0, y0: its corner in the image."""
        boxes, keypoints, scores = decode_detections(regressors.reshape(-1, 16), logits.reshape(-1),
                                                     self.options.min_score)
        # input units [0, 1] -> input pixels -> window pixels -> image pixels
        offset = np.array([x0, y0], dtype=np.float64)
        boxes_px = ((boxes.reshape(-1, 2, 2) * INPUT_SIZE - [pad_x, pad_y]) / scale + offset).reshape(-1, 4)
        keypoints_px = (keypoints * INPUT_SIZE - [pad_x, pad_y]) / scale + offset
        return boxes_px, keypoints_px, scores

    def close(self) -> None:
        self.session = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
