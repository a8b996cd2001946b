"""``selfie3d demo``: the whole pipeline, headless, on the built-in clip (or a video/camera).

Writes into the output folder: ``tryon.mp4`` (the input with the tracked mesh drawn on it),
``report.json`` (what ran, how fast, how well it tracked, the last fused mesh's figures) and
``preview.png`` (one annotated frame). Every file is written atomically.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from realtime.bench import percentiles
from realtime.capture import Capture, CaptureOptions
from realtime.fileio import atomic_output, write_text_atomic
from realtime.overlay import draw_iris, draw_mesh, draw_roi, draw_text_lines, mesh_edges
from realtime.pipeline import Pipeline, PipelineOptions, PipelineResult
from realtime.topology import face_triangles

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoOptions:
    out_dir: str = "out/demo"
    capture: CaptureOptions = CaptureOptions()
    pipeline: PipelineOptions = PipelineOptions()
    max_frames: int | None = None  # stop after this many frames (None: the whole source)
    preview_at: float = 0.5  # which frame becomes preview.png, as a fraction of the clip


def annotate(result: PipelineResult, edges: np.ndarray) -> np.ndarray:
    """The frame with meshes, ROIs, irises and a status line drawn on it (BGR copy)."""
    image = result.frame.image.copy()
    for face in result.faces:
        draw_roi(image, face.roi)
        draw_mesh(image, face.vertices, edges)
        if face.iris is not None:
            draw_iris(image, face.iris)
    status = "tracking" if result.faces else "no face"
    lines = [f"selfie3d  frame {result.frame.index}  {status}  {result.timings_ms.get('total', 0):.1f} ms  {result.provider}"]
    fused = result.fusion
    if fused is not None and getattr(fused, "pd_mm", None):
        lines.append(f"PD {fused.pd_mm:.1f} mm  face width {fused.face_width_mm:.1f} mm")
    draw_text_lines(image, lines)
    return image


def run_demo(options: DemoOptions) -> dict:
    out_dir = Path(options.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    edges = mesh_edges(face_triangles())
    timings: dict[str, list[float]] = {}
    tracked = frames = 0
    preview = None
    last_fused = None
    with Capture(options.capture) as capture, Pipeline(options.pipeline) as pipeline:
        expected = options.capture.demo.frame_count if options.capture.path is None and options.capture.camera is None else None
        preview_index = int((options.max_frames or expected or 1) * options.preview_at)
        video_path = out_dir / "tryon.mp4"
        with atomic_output(video_path) as temp_video:
            writer = None
            try:
                for frame in capture:
                    result = pipeline.process(frame)
                    frames += 1
                    tracked += bool(result.faces)
                    for name, value in result.timings_ms.items():
                        timings.setdefault(name, []).append(value)
                    if result.fusion is not None:
                        last_fused = result.fusion
                    image = annotate(result, edges)
                    if writer is None:
                        height, width = image.shape[:2]
                        writer = cv2.VideoWriter(str(temp_video), cv2.VideoWriter_fourcc(*"mp4v"),
                                                 capture.fps, (width, height))
                        if not writer.isOpened():
                            raise OSError("OpenCV could not open an MP4 writer")
                    writer.write(image)
                    if preview is None or frame.index == preview_index:
                        preview = image
                    if options.max_frames and frames >= options.max_frames:
                        break
            finally:
                if writer is not None:
                    writer.release()
        provider = pipeline.provider
        intrinsics = pipeline._intrinsics
    if preview is not None:
        with atomic_output(out_dir / "preview.png") as temp_png:
            cv2.imwrite(str(temp_png), preview)
    report = {
        "source": options.capture.description,
        "frames": frames,
        "tracked_fraction": round(tracked / frames, 4) if frames else 0.0,
        "provider": provider,
        "stages": {name: percentiles(values) for name, values in timings.items()},
        "outputs": {"video": str(video_path), "preview": str(out_dir / "preview.png")},
    }
    if last_fused is not None:
        report["fusion"] = _fusion_summary(last_fused)
    if intrinsics is not None:
        report["camera"] = {"fx": intrinsics.fx, "fy": intrinsics.fy, "cx": intrinsics.cx, "cy": intrinsics.cy,
                            "assumed": intrinsics.assumed, "description": intrinsics.describe()}
    write_text_atomic(out_dir / "report.json", json.dumps(report, indent=2))
    return report


def _fusion_summary(fused) -> dict:
    summary = {}
    for key in ("frames_fused", "pd_mm", "face_width_mm", "tracking"):
        value = getattr(fused, key, None)
        if value is not None:
            summary[key] = round(float(value), 3) if isinstance(value, (float, np.floating)) else value
    return summary
