"""The per-frame pipeline: tracking -> reconstruction (-> fusion), with timings.

``Pipeline.process(frame)`` runs every stage on one captured frame and returns a
``PipelineResult``: the frame, the meshes of the tracked faces, the fused metric mesh of the
primary face when fusion is on, per-stage milliseconds and the execution provider. Capture
stays outside so the same pipeline serves the live window, the demo, the benchmark and
photo mode.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from realtime.stages.capture import Frame
from realtime.stages.fusion import Fusion, FusionOptions, FusionResult
from realtime.stages.reconstruction import FaceMesh, ReconstructionOptions, Reconstructor
from realtime.stages.tracking import Tracker, TrackerOptions


@dataclass(frozen=True)
class PipelineOptions:
    tracking: TrackerOptions = TrackerOptions()
    reconstruction: ReconstructionOptions = ReconstructionOptions()
    fusion: bool = True  # fuse the primary face over time into one metric mesh
    camera_profile: str | None = None  # camera profile name or TOML path; None: default field of view


@dataclass(frozen=True)
class PipelineResult:
    frame: Frame
    faces: list[FaceMesh] = field(default_factory=list)  # largest first; empty: no face
    detection_ran: bool = False
    fusion: FusionResult | None = None  # the fused metric mesh of faces[0] when fusion is on
    timings_ms: dict[str, float] = field(default_factory=dict)
    provider: str = ""

    @property
    def tracked(self) -> bool:
        return bool(self.faces)


class Pipeline:
    def __init__(self, options: PipelineOptions = PipelineOptions()):
        self.options = options
        self.tracker = Tracker(options.tracking)
        self.reconstructor = Reconstructor(options.reconstruction)
        self.fusion = Fusion(FusionOptions()) if options.fusion else None
        self._intrinsics = None

    @property
    def provider(self) -> str:
        return self.reconstructor.provider

    @property
    def intrinsics(self):
        """The camera intrinsics of the last frame size seen (None before the first frame)."""
        return self._intrinsics

    def intrinsics_for(self, width: int, height: int):
        """Camera intrinsics for frames of this size: the selected profile or the default
        field of view."""
        if self._intrinsics is None or (self._intrinsics.width, self._intrinsics.height) != (width, height):
            from realtime.camera import CameraIntrinsics, load_camera_profile

            if self.options.camera_profile:
                self._intrinsics = load_camera_profile(self.options.camera_profile).scaled_to(width, height)
            else:
                self._intrinsics = CameraIntrinsics.default(width, height)
        return self._intrinsics

    def process(self, frame: Frame) -> PipelineResult:
        start = time.perf_counter()
        tracking = self.tracker.update(frame.image)
        t_track = time.perf_counter()
        result = self.reconstructor.run(frame.image, tracking.rois, new_track=tracking.detection_ran)
        t_recon = time.perf_counter()
        self.tracker.observe([face.vertices for face in result.faces], [face.presence for face in result.faces])
        faces = [face for face in result.faces if face.presence >= self.options.tracking.min_presence]
        timings = {"track": (t_track - start) * 1e3, **tracking.timings_ms,
                   "reconstruct": (t_recon - t_track) * 1e3, **result.timings_ms}
        fused = None
        if self.fusion is not None:
            t0 = time.perf_counter()
            fused = self._fuse(frame, faces)
            timings["fuse"] = (time.perf_counter() - t0) * 1e3
        timings["total"] = (time.perf_counter() - start) * 1e3
        return PipelineResult(frame, faces, tracking.detection_ran, fused, timings, self.provider)

    def _fuse(self, frame: Frame, faces: list[FaceMesh]):
        height, width = frame.image.shape[:2]
        intrinsics = self.intrinsics_for(width, height)
        if not faces:
            return self.fusion.update(None, None, intrinsics, frame.timestamp_s)
        face = faces[0]
        return self.fusion.update(face.vertices, face.iris, intrinsics, frame.timestamp_s)

    def reset(self) -> None:
        self.tracker.reset()
        if self.fusion is not None:
            self.fusion.reset()

    def close(self) -> None:
        self.tracker.close()
        self.reconstructor.close()
        if self.fusion is not None:
            self.fusion.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def percentiles(values_ms: list[float]) -> dict[str, float]:
    """The 50th, 95th and 99th percentiles of a stage's timings, ms (``p50_ms``...; NaN when
    there are none): what the demo's report and ``selfie3d bench`` show per stage."""
    values = np.asarray(values_ms, dtype=np.float64)
    if values.size == 0:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "p99_ms": float("nan")}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"p50_ms": round(float(p50), 3), "p95_ms": round(float(p95), 3), "p99_ms": round(float(p99), 3)}
