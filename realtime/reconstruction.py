"""Reconstruction stage: the 468-vertex face mesh per frame, from MediaPipe's face-mesh network
run through ONNX Runtime, plus the iris network that later gives metric scale.

In: the frame and the ROIs from tracking. Out: a ``ReconstructionResult`` with one
``FaceMesh`` per ROI — vertices ``(468, 3) float32`` in image pixels (z in the same pixel scale,
relative to the face centre, smaller = closer to the camera, as MediaPipe defines it), the
face-presence score, the ROI used, and the two irises — and per-stage timings. The networks
run on 192x192 (mesh) and 64x64 (iris) crops rotated upright; the crops' affine maps carry the
outputs back to image pixels.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from realtime.inference import Session, open_session
from realtime.roi import Roi, crop, crop_to_image, eye_line_rotation, square_roi

MESH_INPUT_SIZE = 192
IRIS_INPUT_SIZE = 64
NUM_VERTICES = 468
# Eye-corner landmark pairs that define each eye's crop (MediaPipe's iris graph): image-left
# eye 33 -> 133 (outer -> inner), image-right eye 362 -> 263 (inner -> outer).
EYE_CORNERS = ((33, 133), (362, 263))
# The eye crop spans 2.3 eye widths (iris_landmark_landmarks_to_roi).
EYE_ROI_SCALE = 2.3
NUM_IRIS_POINTS = 5


@dataclass(frozen=True)
class ReconstructionOptions:
    providers: tuple[str, ...] | None = None  # None: TensorRT -> CUDA -> CPU, automatically
    iris: bool = True  # run the iris network (metric scale needs it)
    # Run the iris network on every n-th frame of a track. The iris diameter only feeds the
    # metric scale, which is fused over seconds, so sampling it at 3 Hz loses nothing and
    # saves two network calls on the other frames. 1: every frame (photos, tests).
    iris_interval: int = 10
    # ...except for the first frames of a new track, where every frame runs it: the fused
    # scale needs its first dozen readings to settle, and one second of full-rate irises gets
    # them ten times sooner than sampling from the start would.
    iris_warmup_frames: int = 30
    threads: int | None = None  # ONNX Runtime intra-op threads; None: the model build's measured best


@dataclass(frozen=True)
class FaceMesh:
    """One face in one frame.

    vertices: ``(468, 3) float32`` image pixels, z in the same scale as x.
    presence: face-presence probability in [0, 1] from the network's own flag.
    roi: the crop the network saw.
    iris: ``(2, 5, 3) float32`` pixels or None; eye 0 is image-left (the person's right eye);
        point 0 is the iris centre, points 1..4 its contour.
    """

    vertices: np.ndarray
    presence: float
    roi: Roi
    iris: np.ndarray | None = None


@dataclass(frozen=True)
class ReconstructionResult:
    faces: list[FaceMesh] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)


def to_input_tensor(patch_bgr: np.ndarray, low: float, high: float) -> np.ndarray:
    """``(S, S, 3) uint8`` BGR crop -> ``(1, S, S, 3) float32`` RGB in [low, high]."""
    tensor = cv2.cvtColor(patch_bgr, cv2.COLOR_BGR2RGB).astype(np.float32)
    tensor *= (high - low) / 255.0  # in place: this runs every frame
    if low:
        tensor += low
    return tensor[None]


def mesh_to_image(raw_landmarks: np.ndarray, transform: np.ndarray, roi: Roi) -> np.ndarray:
    """Network landmarks ``(468*3,)`` in crop pixels -> ``(468, 3) float32`` image pixels.

    x, y go back through the inverse crop transform; z is scaled like x: the crop is
    ``MESH_INPUT_SIZE`` pixels for ``roi.width`` image pixels.
    """
    points = raw_landmarks.reshape(-1, 3)
    out = np.empty_like(points, dtype=np.float32)
    out[:, :2] = crop_to_image(points[:, :2], transform)
    out[:, 2] = points[:, 2] * (roi.width / MESH_INPUT_SIZE)
    return out


def eye_rois(vertices_px: np.ndarray) -> list[Roi]:
    """The two eye crops (image-left eye first) from mesh vertices ``(468, 3)`` pixels."""
    rois = []
    for start, end in EYE_CORNERS:
        a, b = vertices_px[start, :2], vertices_px[end, :2]
        centre = (a + b) / 2
        rotation = eye_line_rotation(a, b)
        # The box of the two corners is axis-aligned; its long side sets the square crop.
        width, height = abs(b[0] - a[0]), abs(b[1] - a[1])
        rois.append(square_roi(centre[0], centre[1], width, height, rotation, EYE_ROI_SCALE))
    return rois


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(x, 80.0), -80.0)))


class Reconstructor:
    """Runs the mesh (and iris) networks on ROIs. ``run(image, rois) -> ReconstructionResult``."""

    def __init__(self, options: ReconstructionOptions = ReconstructionOptions()):
        self.options = options
        providers = list(options.providers) if options.providers else None
        self.mesh_session: Session = open_session("face_landmark", providers, threads=options.threads)
        self.iris_session: Session | None = (
            open_session("iris_landmark", providers, threads=options.threads) if options.iris else None)
        self._mesh_range = _input_range(self.mesh_session, (0.0, 1.0))
        self._iris_range = _input_range(self.iris_session, (0.0, 1.0)) if self.iris_session else None
        self._frames_since_iris = options.iris_interval  # the first frame runs it
        self._track_frames = 0

    @property
    def provider(self) -> str:
        return self.mesh_session.provider

    def run(self, image_bgr: np.ndarray, rois: list[Roi], new_track: bool = False) -> ReconstructionResult:
        """Meshes for ``rois`` in ``image_bgr``. ``new_track``: the ROIs come from a fresh
        detection, so the iris warm-up starts again."""
        faces, timings = [], {"crop": 0.0, "mesh": 0.0, "iris": 0.0}
        self._track_frames = 0 if new_track else self._track_frames + 1
        warming_up = self._track_frames < self.options.iris_warmup_frames
        run_iris = self.iris_session is not None and (
            warming_up or self._frames_since_iris >= self.options.iris_interval - 1)
        self._frames_since_iris = 0 if run_iris else self._frames_since_iris + 1
        for roi in rois:
            t0 = time.perf_counter()
            patch, transform = crop(image_bgr, roi, MESH_INPUT_SIZE)
            tensor = to_input_tensor(patch, *self._mesh_range)
            t1 = time.perf_counter()
            landmarks, flag = self._run_mesh(tensor)
            t2 = time.perf_counter()
            vertices = mesh_to_image(landmarks, transform, roi)
            iris = self._run_iris(image_bgr, vertices) if run_iris else None
            t3 = time.perf_counter()
            timings["crop"] += (t1 - t0) * 1e3
            timings["mesh"] += (t2 - t1) * 1e3
            timings["iris"] += (t3 - t2) * 1e3
            faces.append(FaceMesh(vertices, sigmoid(flag), roi, iris))
        return ReconstructionResult(faces, timings)

    def _run_mesh(self, tensor: np.ndarray) -> tuple[np.ndarray, float]:
        outputs = self.mesh_session.session.run(None, {self.mesh_session.input_names[0]: tensor})
        landmarks = next(o for o in outputs if o.size == NUM_VERTICES * 3).reshape(-1)
        flag = next(o for o in outputs if o.size == 1)
        return landmarks, float(flag.reshape(()))

    def _run_iris(self, image_bgr: np.ndarray, vertices: np.ndarray) -> np.ndarray:
        """Both irises ``(2, 5, 3) float32`` in image pixels.

        The network was trained on one eye side; the other eye's crop is mirrored going in and
        its points mirrored coming out, as MediaPipe's iris graph does.
        """
        irises = np.empty((2, NUM_IRIS_POINTS, 3), dtype=np.float32)
        for eye, roi in enumerate(eye_rois(vertices)):
            patch, transform = crop(image_bgr, roi, IRIS_INPUT_SIZE)
            mirrored = eye == 1
            if mirrored:
                patch = patch[:, ::-1]
            tensor = to_input_tensor(np.ascontiguousarray(patch), *self._iris_range)
            outputs = self.iris_session.session.run(None, {self.iris_session.input_names[0]: tensor})
            points = next(o for o in outputs if o.size == NUM_IRIS_POINTS * 3).reshape(-1, 3).copy()
            if mirrored:
                points[:, 0] = IRIS_INPUT_SIZE - points[:, 0]
            irises[eye, :, :2] = crop_to_image(points[:, :2], transform)
            irises[eye, :, 2] = points[:, 2] * (roi.width / IRIS_INPUT_SIZE)
        return irises

    def close(self) -> None:
        self.mesh_session = None
        self.iris_session = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _input_range(session: Session, default: tuple[float, float]) -> tuple[float, float]:
    """The input value range the manifest documents for this model."""
    from realtime.inference import model_spec

    inputs = model_spec(session.name).inputs
    if inputs and "range" in inputs[0]:
        low, high = inputs[0]["range"]
        return float(low), float(high)
    return default
