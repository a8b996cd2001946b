"""Photo mode: one image in, a 3D face (and a printable bust) per face out.

Where the 3D selfie started. A single photo gets more care than a video frame, since there is
no next frame to fix a mistake: the detector also searches tiles (small faces in group shots),
the mesh network runs a second time on the ROI its first answer implies (a tighter, better
rotated crop), and once more on the mirrored image, whose answer — mirrored back and
re-indexed — is averaged in when the two agree. The report says how far each step moved the
vertices. Metric scale comes from the iris: 11.7 mm across, whatever the camera.

In: an image path (or array). Out: ``PhotoResult`` with a ``PhotoFace`` per face: box, 468
vertices and 68 iBUG landmarks in image pixels, millimetres per pixel, PD and face width.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from realtime.detection import DetectionOptions, FaceDetector
from realtime.reconstruction import FaceMesh, ReconstructionOptions, Reconstructor
from realtime.roi import Roi, roi_from_detection, roi_from_landmarks
from realtime.scale import (IRIS_DIAMETER_MM, MEAN_PD_MM, iris_diameter_px, iris_eye_weights, scale_warning,
                            weighted_iris_diameter)
from realtime.symmetry import mirror_vertices
from realtime.topology import inter_ocular_distance, median_distance_iod

# Face width: the widest points of the face oval (left and right cheek contour, near the tragus).
FACE_WIDTH_LANDMARKS = (234, 454)
# Pupil distance over outer-canthus distance in adults (~63 mm over ~90 mm): estimates the PD
# in pixels when no iris was found.
PD_PER_OUTER_CANTHAL = 0.70


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
    # Photos: search tiles at the full short side and at half of it, for small faces.
    detection: DetectionOptions = DetectionOptions(tile_fractions=(1.0, 0.5))
    providers: tuple[str, ...] | None = None


@dataclass(frozen=True)
class PhotoFace:
    """One reconstructed face.

    box_px: ``(4,)`` detection box x_min, y_min, x_max, y_max, pixels.
    vertices_px: ``(468, 3) float32`` image pixels (z in the scale of x).
    iris_px: ``(2, 5, 3) float32`` pixels or None.
    landmarks68_px: ``(68, 2) float32`` iBUG-300W landmarks, pixels.
    mm_per_px: millimetres per pixel at the face, from the iris (or the mean PD as fallback).
    scale_source: "iris" or "mean_pd".
    pd_mm: distance between the pupils in 3D (at the eyes' depth, so a turned head does not
    shorten it). face_width_mm: between the face outline's widest points (234, 454), in 3D.
    steps: how far each step moved the vertices, in inter-ocular distances.
    turn_deg: how far the face is turned from the camera about the vertical (yaw, signed:
    positive when the person's left eye is the far one), from the mesh's own 3D.
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
    steps: dict[str, float] = field(default_factory=dict)
    turn_deg: float = 0.0

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
            "face_width_mm": round(self.face_width_mm, 2),
            "mm_per_px": round(self.mm_per_px, 5),
            "scale_source": self.scale_source,
            "turn_deg": round(self.turn_deg, 1),
            "scale_warning": scale_warning(self.pd_mm, "iris" if self.scale_source == "iris" else "assumed",
                                           self.face_width_mm, self.turn_deg),
            "steps": {k: round(v, 5) for k, v in self.steps.items()},
        }


@dataclass(frozen=True)
class PhotoResult:
    faces: list[PhotoFace] = field(default_factory=list)  # largest first; empty: no face
    image_size: tuple[int, int] = (0, 0)  # width, height, pixels


def mirror_roi(roi: Roi, image_width: int) -> Roi:
    """The same ROI in the horizontally flipped image."""
    return Roi(image_width - roi.center_x, roi.center_y, roi.width, roi.height, -roi.rotation)


def metric_scale(vertices_px: np.ndarray, iris_px: np.ndarray | None,
                 eye_weights: np.ndarray = np.ones(2)) -> tuple[float, str]:
    """Millimetres per pixel at the face and where it came from.

    The human iris is 11.7 ± 0.5 mm across whoever you are, so its diameter in pixels fixes the
    scale without knowing the camera. Without irises the mean adult PD stands in.
    eye_weights: ``(2,)`` trust in each eye's iris (``iris_eye_weights``: the eye turned away
    reads small), right eye first.
    """
    if iris_px is not None:
        diameters = iris_diameter_px(iris_px)
        if np.all(diameters > 1.0):
            return IRIS_DIAMETER_MM / weighted_iris_diameter(diameters, eye_weights), "iris"
    return MEAN_PD_MM / max(inter_ocular_distance(vertices_px) * PD_PER_OUTER_CANTHAL, 1e-6), "mean_pd"


def face_rotation(vertices_px: np.ndarray) -> np.ndarray:
    """The head's rotation, canonical -> image axes ``(3, 3)``, from a ``(468, 3)`` pixel mesh
    (x right, y down, z away in the scale of x: OpenCV's camera axes, up to perspective)."""
    from realtime.fusion import head_frame

    axes, _ = head_frame(np.asarray(vertices_px, dtype=np.float64))
    return axes


def pupil_centres_px(vertices_px: np.ndarray, iris_px: np.ndarray) -> np.ndarray:
    """Pupil centres ``(2, 3)`` pixels, right eye first: the iris network's centres at the
    depth of each eye's corners (the iris network's own z is unreliable), so the distance
    between them is the 3D PD, which a turned head does not shorten."""
    from realtime.fusion import eye_corner_depths

    centres = np.array(np.asarray(iris_px, dtype=np.float64)[:, 0, :3])
    centres[:, 2] = eye_corner_depths(np.asarray(vertices_px, dtype=np.float64)[:, 2])
    return centres


def _same_face(a: np.ndarray, b: np.ndarray) -> bool:
    """Two ``(468, 3)`` meshes on the same face: their nose tips are within half an IOD."""
    return float(np.linalg.norm(a[1, :2] - b[1, :2])) < 0.5 * max(inter_ocular_distance(a), inter_ocular_distance(b))


class PhotoReconstructor:
    """Faces from single images. ``run(image_bgr) -> PhotoResult``."""

    def __init__(self, options: PhotoOptions = PhotoOptions()):
        self.options = options
        self.detector = FaceDetector(DetectionOptions(
            min_score=options.detection.min_score, suppression_iou=options.detection.suppression_iou,
            providers=options.providers, tile_fractions=options.detection.tile_fractions))
        self.reconstructor = Reconstructor(ReconstructionOptions(providers=options.providers, iris=True, iris_interval=1))

    def run(self, image_bgr: np.ndarray) -> PhotoResult:
        height, width = image_bgr.shape[:2]
        faces: list[PhotoFace] = []
        # Largest first; a detection whose mesh says "no face" (a tile's false alarm) is
        # skipped, and one that lands on a face already found is a duplicate.
        for detection in self.detector.detect(image_bgr).detections:
            face = self._reconstruct(image_bgr, roi_from_detection(detection.box_px, detection.keypoints_px))
            if face is None or any(_same_face(face[0].vertices, kept.vertices_px) for kept in faces):
                continue
            faces.append(self._describe(detection.box_px, detection.score, face))
            if not self.options.all_faces:
                break
        return PhotoResult(faces, (width, height))

    def _mesh(self, image_bgr: np.ndarray, roi: Roi) -> FaceMesh:
        return self.reconstructor.run(image_bgr, [roi]).faces[0]

    def _reconstruct(self, image_bgr: np.ndarray, roi: Roi) -> tuple[FaceMesh, dict] | None:
        steps: dict[str, float] = {}
        first = self._mesh(image_bgr, roi)
        if first.presence < self.options.min_presence:
            return None
        best = first
        if self.options.refine:
            second = self._mesh(image_bgr, roi_from_landmarks(first.vertices))
            if second.presence >= self.options.min_presence:
                steps["refine_shift_iod"] = median_distance_iod(second.vertices, first.vertices)
                best = second
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

    def _describe(self, box_px: np.ndarray, score: float, reconstructed) -> PhotoFace:
        from realtime.topology import IBUG68_FROM_MESH

        face, steps = reconstructed
        vertices = face.vertices
        rotation = face_rotation(vertices)
        mm_per_px, source = metric_scale(vertices, face.iris, iris_eye_weights(rotation))
        if face.iris is not None:
            pd_px = float(np.linalg.norm(np.diff(pupil_centres_px(vertices, face.iris), axis=0)))
        else:
            pd_px = inter_ocular_distance(vertices) * PD_PER_OUTER_CANTHAL
        width_px = float(np.linalg.norm(vertices[FACE_WIDTH_LANDMARKS[0]] - vertices[FACE_WIDTH_LANDMARKS[1]]))
        landmarks68 = vertices[np.asarray(IBUG68_FROM_MESH), :2].astype(np.float32)
        return PhotoFace(np.asarray(box_px, np.float32), float(score), vertices, face.presence, face.iris,
                         landmarks68, mm_per_px, source, pd_px * mm_per_px, width_px * mm_per_px, steps,
                         turn_deg=float(np.degrees(np.arcsin(np.clip(rotation[2, 0], -1.0, 1.0)))))

    def close(self) -> None:
        self.detector.close()
        self.reconstructor.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
