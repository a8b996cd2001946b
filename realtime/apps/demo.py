"""``selfie3d demo``: the whole pipeline, headless, on the built-in clip (or a video/camera).

Writes into the output folder: ``tryon.mp4`` (the try-on: glasses on the fused face, the 3D
view inset, the HUD; H.264 in yuv420p with the index first, which browsers, phones and chat
apps play), ``preview.png`` (one such frame), ``bust.stl`` and ``bust.png`` (the
fused face as a printable bust and a picture of it) and ``report.json`` (what ran, how fast,
how well it tracked, the fused face's figures, the print checks). Every file is written
atomically.

The bust is the live window's ``S`` at the end of the source: the fused face, the head and hair
from the most frontal tracked frame's outline, and from every side a head turn in the video
showed, carved by the head scan (``realtime.stages.scan``; every due frame, none passed over)
once it covers enough of the head.
"""

from __future__ import annotations

import errno
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from realtime.stages.capture import Capture, CaptureOptions
from realtime.fileio import atomic_output, output_error, write_text_atomic
from realtime.stages.pipeline import Pipeline, PipelineOptions, percentiles

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoOptions:
    out_dir: str = "out/demo"
    capture: CaptureOptions = CaptureOptions()
    pipeline: PipelineOptions = PipelineOptions()
    max_frames: int | None = None  # stop after this many frames (None: the whole source)
    glasses: str = "round"  # glasses drawn in tryon.mp4 and preview.png
    bust: bool = True  # export the fused face as bust.stl (+ bust.png)
    scan: bool = True  # carve the head and hair from the sides a head turn shows, for the bust


def run_demo(options: DemoOptions) -> dict:
    out_dir = Path(options.out_dir)
    # The folders this run creates: removed again if it fails before writing into them (a wrong
    # --camera-profile, no camera), so a failed run leaves no empty output folder behind.
    created = [p for p in (out_dir, *out_dir.parents) if not p.exists()]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # the folder, or one above it, is a file
        raise output_error(out_dir, OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR)), "cannot create the output folder") from None
    except OSError as error:
        raise output_error(out_dir, error, "cannot create the output folder") from None
    try:
        return _run_demo(options, out_dir)
    except BaseException:
        for folder in created:  # deepest first
            try:
                folder.rmdir()  # only if still empty
            except OSError:
                break
        raise


def _run_demo(options: DemoOptions, out_dir: Path) -> dict:
    from realtime.apps.live import render_tryon_video
    from realtime.apps.video import VideoBust, no_face_error

    timings: dict[str, list[float]] = {}
    counts = {"frames": 0, "tracked": 0}
    video_path, preview_path = out_dir / "tryon.mp4", out_dir / "preview.png"
    # The bust as the live window's S makes it, with the head scan the source's turns give.
    with VideoBust(options.bust and options.scan) as gathered, Capture(options.capture) as capture, \
            Pipeline(options.pipeline) as pipeline:

        def results():
            for frame in capture:
                result = pipeline.process(frame)
                counts["frames"] += 1
                counts["tracked"] += bool(result.faces)
                for name, value in result.timings_ms.items():
                    timings.setdefault(name, []).append(value)
                height, width = frame.image.shape[:2]
                gathered.add(result, pipeline.intrinsics_for(width, height))
                yield result
                if options.max_frames and counts["frames"] >= options.max_frames:
                    return

        with atomic_output(video_path) as temp_video, atomic_output(preview_path) as temp_preview:
            render_tryon_video(results(), pipeline.intrinsics_for, temp_video, temp_preview,
                               glasses=options.glasses, fps=capture.fps)
            # Inside the block: the error discards the video and preview of a face-less input.
            if not counts["tracked"]:
                raise no_face_error(options.capture.description, counts["frames"], options.capture.camera is not None)
        provider = pipeline.provider
        intrinsics = pipeline.intrinsics
    frames = counts["frames"]
    report = {
        "source": options.capture.description,
        "frames": frames,
        "tracked_fraction": round(counts["tracked"] / frames, 4) if frames else 0.0,
        "provider": provider,
        "stages": {name: percentiles(values) for name, values in timings.items()},
        "outputs": {"video": str(video_path), "preview": str(preview_path)},
    }
    if gathered.has_face:
        report["fusion"] = _fusion_summary(gathered.last["fused"])
        if options.bust:
            report["bust"] = _export_demo_bust(gathered, out_dir)
            report["outputs"].update(bust=report["bust"]["path"], bust_picture=report["bust"]["picture"])
    if intrinsics is not None:
        report["camera"] = {"fx": intrinsics.fx, "fy": intrinsics.fy, "cx": intrinsics.cx, "cy": intrinsics.cy,
                            "assumed": intrinsics.assumed, "description": intrinsics.describe()}
    write_text_atomic(out_dir / "report.json", json.dumps(report, indent=2))
    return report


def _export_demo_bust(gathered, out_dir: Path) -> dict:
    """The bust ``gathered`` (a ``realtime.apps.video.VideoBust``) makes, as ``bust.stl`` and a
    picture of it, ``bust.png``; returns its summary with their paths."""
    from realtime.printing.bust import BustOptions, export_bust
    from realtime.render.preview import render_mesh_picture

    bust, summary = gathered.build(BustOptions(overwrite=True))
    path = export_bust(bust, out_dir / "bust.stl", overwrite=True)
    picture = out_dir / "bust.png"
    with atomic_output(picture) as temp:
        cv2.imwrite(str(temp), render_mesh_picture(bust.mesh.vertices, bust.mesh.faces))
    return {"path": str(path), "picture": str(picture), **summary}


def _fusion_summary(fused) -> dict:
    summary = {}
    for key in ("frames_fused", "pd_mm", "face_width_mm", "tracking", "scale_warning"):
        value = getattr(fused, key, None)
        if value is not None:
            summary[key] = round(float(value), 3) if isinstance(value, (float, np.floating)) else value
    return summary
