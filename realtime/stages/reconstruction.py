"""Reconstruction stage: the 468-vertex face mesh per frame, from MediaPipe's face-mesh network
run through ONNX Runtime, plus the iris network that later gives metric scale.

In: the frame and the ROIs from tracking. Out: a ``ReconstructionResult`` with one
``FaceMesh`` per ROI — vertices ``(468, 3) float32`` in image pixels (z in the same pixel scale,
relative to the face centre, smaller = closer to the camera, as MediaPipe defines it), the
face-presence score, the ROI used, and the two irises — and per-stage timings. The networks
run on 192x192 (mesh) and 64x64 (iris) crops rotated upright; the crops' affine maps carry the
outputs back to image pixels. The crops go in as OpenCV cuts them (uint8 BGR): the conversion
to the networks' float range is inside the models, so it runs on the execution provider. All
eyes of a frame go through the iris network in one call, and on a GPU all faces through the mesh
network in one call.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from realtime import topology
from realtime.stages.inference import MAX_BATCH, DeviceCropper, Session, open_session
from realtime.stages.roi import Roi, crop, crop_to_frame, crop_to_image, crop_transform, eye_line_rotation, square_roi

MESH_INPUT_SIZE = 192
IRIS_INPUT_SIZE = 64
# Eye-corner landmark pairs that define each eye's crop (MediaPipe's iris graph): image-left
# eye 33 -> 133 (outer -> inner), image-right eye 362 -> 263 (inner -> outer).
EYE_CORNERS = ((topology.RIGHT_EYE_OUTER, topology.RIGHT_EYE_INNER), (topology.LEFT_EYE_INNER, topology.LEFT_EYE_OUTER))
# The eye crop spans 2.3 eye widths (iris_landmark_landmarks_to_roi).
EYE_ROI_SCALE = 2.3
NUM_IRIS_POINTS = topology.N_IRIS_POINTS


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
    # Faces per mesh-network call. None: automatic — all at once on a GPU, one by one on the
    # CPU provider, where batching the mesh network does not pay (see Reconstructor).
    mesh_batch: int | None = None
    # Cut the crops on the execution provider's device (realtime.stages.inference.DeviceCropper)
    # instead of with OpenCV on the host: the frame is uploaded once and the crops stay on a
    # GPU. Off by default until measured to pay on a GPU (selfie3d bench --networks).
    device_crop: bool = False


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
        # Batching pays on a GPU (one launch for every face) but not for the mesh network on the
        # CPU provider, where it is compute-bound and a batch of 4 cost 1.03 ms per crop against
        # 0.83 ms for single calls (selfie3d bench --networks); the eyes' batch of 2 does pay
        # there (0.86 against 0.94 ms per crop), so they always go together.
        automatic = 1 if self.mesh_session.provider == "CPUExecutionProvider" else MAX_BATCH
        self._mesh_batch = options.mesh_batch or automatic
        self._cropper = (DeviceCropper(self.mesh_session.provider, (MESH_INPUT_SIZE, IRIS_INPUT_SIZE))
                         if options.device_crop else None)
        self._frames_since_iris = options.iris_interval  # the first frame runs it
        self._track_frames = 0

    @property
    def provider(self) -> str:
        return self.mesh_session.provider

    def run(self, image_bgr: np.ndarray, rois: list[Roi], new_track: bool = False) -> ReconstructionResult:
        """Meshes for ``rois`` in ``image_bgr``. ``new_track``: the ROIs come from a fresh
        detection, so the iris warm-up starts again."""
        timings = {"crop": 0.0, "mesh": 0.0, "iris": 0.0}
        self._track_frames = 0 if new_track else self._track_frames + 1
        warming_up = self._track_frames < self.options.iris_warmup_frames
        run_iris = self.iris_session is not None and (
            warming_up or self._frames_since_iris >= self.options.iris_interval - 1)
        self._frames_since_iris = 0 if run_iris else self._frames_since_iris + 1
        if not rois:
            return ReconstructionResult([], timings)
        t0 = time.perf_counter()
        frame = self._cropper.upload(image_bgr) if self._cropper else image_bgr
        crops, transforms = self._cut(frame, rois, MESH_INPUT_SIZE)
        t1 = time.perf_counter()
        outputs = self._infer(self.mesh_session, crops, self._mesh_batch)
        t2 = time.perf_counter()
        landmarks, flags = outputs["landmarks"].reshape(len(rois), -1), outputs["face_flag"].reshape(-1)
        vertices = [mesh_to_image(landmarks[i], transforms[i], roi) for i, roi in enumerate(rois)]
        irises = self._run_iris(frame, vertices) if run_iris else [None] * len(rois)
        t3 = time.perf_counter()
        timings.update(crop=(t1 - t0) * 1e3, mesh=(t2 - t1) * 1e3, iris=(t3 - t2) * 1e3)
        faces = [FaceMesh(v, sigmoid(float(flag)), roi, iris) for v, flag, roi, iris in zip(vertices, flags, rois, irises)]
        return ReconstructionResult(faces, timings)

    def _cut(self, frame, rois: list[Roi], size: int, mirrored: list[bool] | None = None) -> tuple[object, list]:
        """The ROIs' crops, mirrored left-right where asked, and their ``(2, 3)`` image->crop
        maps. On the host the crops are one ``(n, size, size, 3) uint8`` array; with the device
        cropper, a list of OrtValues of at most MAX_BATCH crops each, on the device."""
        mirrored = mirrored or [False] * len(rois)
        if self._cropper is None:
            patches, transforms = zip(*(crop(frame, roi, size) for roi in rois))
            return np.stack([p[:, ::-1] if flip else p for p, flip in zip(patches, mirrored)]), list(transforms)
        transforms = [crop_transform(roi, size) for roi in rois]
        to_frame = np.stack([crop_to_frame(roi, size, flip) for roi, flip in zip(rois, mirrored)])
        crops = [self._cropper.cut(frame, size, to_frame[start:start + MAX_BATCH])
                 for start in range(0, len(to_frame), MAX_BATCH)]
        return crops, transforms

    @staticmethod
    def _infer(session: Session, crops, max_batch: int) -> dict[str, np.ndarray]:
        """Outputs by name for crops from ``_cut``: host arrays in calls of ``max_batch``, device
        chunks one call each."""
        if isinstance(crops, np.ndarray):
            return session.run_batched(crops, max_batch)
        return session.joined([session.run_on_device(chunk) for chunk in crops])

    def _run_iris(self, frame, meshes: list[np.ndarray]) -> list[np.ndarray]:
        """Both irises of each face, ``(2, 5, 3) float32`` image pixels per mesh, from one call.

        The network was trained on one eye side; the other eye's crop is mirrored going in and
        its points mirrored coming out, as MediaPipe's iris graph does.
        """
        rois = [roi for vertices in meshes for roi in eye_rois(vertices)]
        crops, transforms = self._cut(frame, rois, IRIS_INPUT_SIZE, [eye == 1 for eye in range(2)] * len(meshes))
        points = self._infer(self.iris_session, crops, MAX_BATCH)["iris"].reshape(len(rois), NUM_IRIS_POINTS, 3)
        points[1::2, :, 0] = IRIS_INPUT_SIZE - points[1::2, :, 0]  # mirror the second eyes back
        irises = np.empty((len(rois), NUM_IRIS_POINTS, 3), dtype=np.float32)
        for k, (transform, roi) in enumerate(zip(transforms, rois)):
            irises[k, :, :2] = crop_to_image(points[k, :, :2], transform)
            irises[k, :, 2] = points[k, :, 2] * (roi.width / IRIS_INPUT_SIZE)
        return list(irises.reshape(len(meshes), 2, NUM_IRIS_POINTS, 3))

    def close(self) -> None:
        self.mesh_session = None
        self.iris_session = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
