"""Tracking stage: where the faces are, frame to frame.

MediaPipe's face-mesh graph runs the detector only to acquire a face; after that each frame's
ROI comes from the previous frame's mesh, rotated to the eye line. We do the same: ``update``
returns the ROIs for this frame (from tracks, or from a detection when there are fewer
tracks than wanted), ``observe`` takes the meshes the reconstruction made from them and turns
them into the next frame's ROIs, dropping faces whose presence score fell below the
threshold. With ``max_faces`` 1 the largest face is tracked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from realtime.stages.detection import DetectionOptions, FaceDetector
from realtime.stages.roi import Roi, iou, roi_box, roi_from_detection, roi_from_landmarks


@dataclass(frozen=True)
class TrackerOptions:
    max_faces: int = 1
    # A mesh whose presence score falls below this ends its track (MediaPipe's
    # min_tracking_confidence default).
    min_presence: float = 0.5
    # While some but fewer than max_faces faces are tracked, look for new ones every this
    # many frames rather than every frame: detection costs about as much as a mesh.
    redetect_interval: int = 10
    # A detection overlapping a tracked face's box more than this is that face, not a new one.
    same_face_iou: float = 0.3
    # Two tracks whose boxes overlap more than this have converged on one face: keep one.
    duplicate_track_iou: float = 0.5
    # The whole-frame detector misses faces under ~65 px in a 640-px frame (they shrink below
    # ~15 px in its 128-px input). While no face is tracked, every this many frames the search
    # also covers tiles of these fractions of the frame's short side; in between, frames cost
    # one plain detection only.
    small_face_interval: int = 5
    small_face_tiles: tuple[float, ...] = (0.5,)
    detection: DetectionOptions = DetectionOptions()


@dataclass(frozen=True)
class TrackingResult:
    rois: list[Roi] = field(default_factory=list)  # empty: no face this frame
    detection_ran: bool = False
    timings_ms: dict[str, float] = field(default_factory=dict)


class Tracker:
    def __init__(self, options: TrackerOptions = TrackerOptions(), detector: FaceDetector | None = None):
        self.options = options
        self.detector = detector or FaceDetector(options.detection)
        self._tracks: list[Roi] = []
        self._frames_since_detection = 0
        self._searches_without_face = 0

    @property
    def tracking(self) -> bool:
        return bool(self._tracks)

    def update(self, image_bgr: np.ndarray) -> TrackingResult:
        """ROIs for this frame. Runs the detector only when faces are missing."""
        wanted = self.options.max_faces
        need_detection = not self._tracks or (
            len(self._tracks) < wanted and self._frames_since_detection >= self.options.redetect_interval)
        timings = {"detect": 0.0}
        if need_detection:
            start = time.perf_counter()
            tiles = None
            if not self._tracks and self.options.small_face_tiles:
                if self._searches_without_face % max(1, self.options.small_face_interval) == 0:
                    tiles = self.options.small_face_tiles
                self._searches_without_face += 1
            detections = self.detector.detect(image_bgr, tiles).detections
            if detections:
                self._searches_without_face = 0
            timings["detect"] = (time.perf_counter() - start) * 1e3
            self._frames_since_detection = 0
            tracked_boxes = [roi_box(roi) for roi in self._tracks]
            for detection in detections:  # largest first
                if len(self._tracks) >= wanted:
                    break
                if any(iou(detection.box_px, box) > self.options.same_face_iou for box in tracked_boxes):
                    continue
                self._tracks.append(roi_from_detection(detection.box_px, detection.keypoints_px))
        else:
            self._frames_since_detection += 1
        return TrackingResult(list(self._tracks), need_detection, timings)

    def observe(self, vertices: list[np.ndarray | None], presences: list[float]) -> None:
        """Feed back this frame's meshes (same order as the ROIs ``update`` gave).

        vertices: per face ``(468, 3)`` pixels or None; presences: per face in [0, 1].
        """
        tracks = []
        for mesh, presence in zip(vertices, presences):
            if mesh is not None and presence >= self.options.min_presence:
                tracks.append(roi_from_landmarks(mesh))
        # Largest first, so with max_faces 1 the biggest face wins after a merge.
        tracks.sort(key=lambda roi: -roi.width)
        deduplicated: list[Roi] = []
        for roi in tracks:
            if all(iou(roi_box(roi), roi_box(kept)) <= self.options.duplicate_track_iou for kept in deduplicated):
                deduplicated.append(roi)
        self._tracks = deduplicated[: self.options.max_faces]

    def reset(self) -> None:
        self._tracks = []
        self._frames_since_detection = 0
        self._searches_without_face = 0

    def close(self) -> None:
        if self.detector is not None:
            self.detector.close()
        self.detector = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
