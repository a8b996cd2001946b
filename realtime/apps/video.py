"""``selfie3d video``: a video of a face (a phone's head turn) to one printable bust, headless.

Every frame goes through the live pipeline (tracking, the networks, fusion); the live window's
head scan carves every due frame (``realtime.stages.scan``: one in five, none passed over); the
bust is the one the live window's ``S`` makes facing the camera: the fused face, the single view
from the most frontal frame of the last identity, and the scan once it covers enough of the head.
``selfie3d demo`` makes its bust the same way (``VideoBust``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from realtime.errors import InputError
from realtime.printing.bust import BustOptions
from realtime.stages.pipeline import PipelineOptions

DEFAULT_OUT_DIR = "out/videos"
"""Where ``selfie3d video FILE`` writes ``<FILE's stem>.<format>`` without ``-o``."""
REPLAY_MIN_SCANNED_FRAMES = 30
"""A second play is worth it only if this many of its frames (1 s at 30 fps) come after fusion's
identity has settled, when the scan may carve."""
REPLAY_GAP_S = 1.0
"""Seconds between the two plays of a video (``run_video``'s replay): past fusion's ``max_gap_s``, so
its filters start afresh at the cut, as after a face lost and found."""


class VideoBust:
    """What a bust from a run of frames needs, gathered as they come: ``add(result, intrinsics)``
    for each pipeline result; ``build(options)`` then makes the bust. ``scan``: run the head scan
    (``LiveScanner``, waited for on each due frame); close it with ``close()`` or a ``with``."""

    def __init__(self, scan: bool = True):
        self.scanner = None
        if scan:
            from realtime.stages.scan import LiveScanner

            self.scanner = LiveScanner()
        self.last: dict = {}
        self.replayed = False  # the frames were played twice (``gather_video``)

    def __enter__(self) -> "VideoBust":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.scanner is not None:
            self.scanner.close()

    @property
    def has_face(self) -> bool:
        """Whether any frame gave a fused face to make a bust of."""
        return "fused" in self.last

    def worth_replaying(self, frames_per_play: int) -> bool:
        """Whether playing the ``frames_per_play`` frames again would scan more: the scan is not
        ready, and fusion's identity will have settled (``scan.SETTLED_FRAMES``, ~3 s, which the
        first play's scan waited for: a short video's head turn came before) early enough in the
        second play to scan at least ``REPLAY_MIN_SCANNED_FRAMES`` of it."""
        from realtime.stages.scan import SETTLED_FRAMES

        if self.scanner is None or not self.has_face or self.scanner.result().ready:
            return False
        fused = getattr(self.last["fused"], "frames_fused", 0)
        return fused + frames_per_play >= SETTLED_FRAMES + REPLAY_MIN_SCANNED_FRAMES

    def restart_scan(self) -> None:
        """Start the scan over (before a second play of the same frames)."""
        if self.scanner is not None:
            self.scanner.reset()

    def add(self, result, intrinsics) -> None:
        """Take one ``PipelineResult`` (``intrinsics``: the camera at its frame's size)."""
        if result.fusion is None or not result.faces:
            return
        keep_bust_frame(self.last, result)
        if self.scanner is not None:
            self.scanner.offer(result.frame.image, result.faces[0].vertices, result.fusion, intrinsics,
                               result.frame.index, wait=True)

    def build(self, options: BustOptions):
        """The bust (``realtime.printing.bust.BustResult``) and its summary for a report: ``frame``,
        ``frame_turn_deg`` (the single view's frame), ``seconds``, ``checks`` and, with a scanner,
        ``scan`` (``used``, ``coverage``, ``frames``, ``failed_frames``, ``ms_per_scanned_frame``)."""
        from realtime.printing.snapshot import snapshot_bust

        if not self.has_face:
            raise InputError("no frame gave a face to make a bust of")
        last, scanner = self.last, self.scanner
        scan = scanner.result() if scanner is not None else None
        start = time.perf_counter()
        bust = snapshot_bust(np.asarray(last["fused"].identity_mm), last["image"], last["vertices_px"], options,
                             scan=scan if scan is not None and scan.ready else None)
        summary = {"frame": int(last["frame_index"]), "frame_turn_deg": round(float(last["turn_deg"]), 1),
                   "seconds": round(time.perf_counter() - start, 3), "replayed": self.replayed,
                   "checks": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in bust.checks.items()}}
        if scan is not None:
            costs = scanner.cost_ms
            summary["scan"] = {"used": bool(scan.ready), "coverage": round(float(scan.coverage), 3),
                               "frames": int(scan.frames), "failed_frames": int(scanner.failed_frames),
                               "ms_per_scanned_frame": round(float(np.median(costs)), 2) if costs else None}
        return bust, summary


def keep_bust_frame(last: dict, result) -> None:
    """Keep the newest fused face, and the frame the bust's single view comes from: the most
    frontal tracked one (the last of equals), as a user turning to and fro would press S facing
    the camera; the source's last frame may show the head turned, and its outline the wrong way."""
    from realtime.stages.scan import turn_from_camera_deg

    fused = result.fusion
    if getattr(fused, "identity_reset", False):
        last.pop("turn_deg", None)  # a new identity (someone else): an older frame is not its face
    turn = turn_from_camera_deg(fused.raw_rotation, fused.raw_translation_mm)
    last["fused"] = fused
    if "turn_deg" not in last or turn <= last["turn_deg"]:
        last.update(image=result.frame.image, vertices_px=result.faces[0].vertices, turn_deg=turn,
                    frame_index=result.frame.index)


TURN_HINT = "film your face looking at the camera, then turn it slowly left and right"
"""What to do about a video without a face, for a bust (``selfie3d video``, the page)."""


def no_face_error(source: str, frames: int, camera: bool = False, hint: str | None = None) -> InputError:
    """The one line for an input in which no frame showed a face: nothing to fuse, fit glasses
    on or print, so the run fails (a track with some faces is a result, however short). ``hint``:
    what to do (default: the demo's, for a camera or a file)."""
    if frames == 0:
        return InputError(f"{source}: no frame could be read from it")
    seen = "the image" if frames == 1 else f"any of its {frames} frames"
    if hint is None:
        hint = ("face the camera in good light" if camera else
                "give a photo or video with a face looking at the camera (or no --video for the built-in clip)")
    return InputError(f"{source}: no face found in {seen}; {hint}")


def scan_summary_line(scan: dict) -> str:
    """The one line a command prints of a bust's ``scan`` summary (``VideoBust.build``)."""
    if scan["used"]:
        said = "used for the bust"
    elif scan["frames"] == 0:  # too short: the scan starts once fusion has settled
        said = "none scanned: the scan starts after about 3 s of the same face, then turn left and right"
    else:
        said = "too little for the bust (a head turn left and right in the video scans more)"
    return f"head scan: {scan['coverage']:.0%} of the head seen, {said}"


@dataclass(frozen=True)
class VideoOptions:
    """path: the video (or a folder of frames).  out: the output file (its suffix the format) or
    a folder for ``<stem>.<format>`` (None: ``DEFAULT_OUT_DIR``).  bust: how to make the solid
    (its ``format`` wins over the suffix; ``overwrite`` to replace a file).  pipeline: the live
    pipeline's options.  scan: run the head scan.  max_frames: stop after this many frames (None:
    all).  report: a JSON report's path, or None."""

    path: str
    out: str | None = None
    bust: BustOptions = BustOptions()
    pipeline: PipelineOptions = PipelineOptions()
    scan: bool = True
    max_frames: int | None = None
    report: str | None = None


def output_path(options: VideoOptions) -> Path:
    """Where the bust goes (see ``VideoOptions.out``), named and checked as ``selfie3d photo``
    does for one photo (``realtime.apps.jobs.plan_jobs``): an unknown suffix, a suffix that
    disagrees with ``bust.format``, a file where a folder is meant, an output or report that
    exists (without ``bust.overwrite``), cannot be written, or would replace the video, each raise
    ``InputError`` before the video is read; nothing is created."""
    from realtime.apps.jobs import plan_jobs

    source = Path(options.path)
    # A folder of frames given as "." or ".." has no name of its own: the bust takes the folder's.
    named = str(source.resolve()) if source.name in ("", ".", "..") else options.path
    bust = options.bust
    jobs = plan_jobs([named], options.out if options.out is not None else DEFAULT_OUT_DIR, bust.format,
                     report=options.report, style=bust.style, height_mm=bust.height_mm, label=bust.label,
                     expression=bust.expression, overwrite=bust.overwrite)
    return Path(jobs[0].output)


def run_video(options: VideoOptions, progress=None) -> dict:
    """Read the video, make its bust and write it (and the report); returns the report.
    ``progress``: called with what is being done ("reading frame 120 of 460"), or None."""
    from realtime.fileio import write_text_atomic
    from realtime.printing.bust import export_bust
    from realtime.stages.capture import CaptureOptions

    path = output_path(options)
    capture_options = CaptureOptions(path=options.path)
    start = time.perf_counter()
    with VideoBust(options.scan) as gathered:
        frames, tracked = gather_video(gathered, capture_options, options.pipeline, options.max_frames, progress)
        if not gathered.has_face:
            raise no_face_error(capture_options.description, frames, hint=TURN_HINT)
        if progress:
            progress("building the bust")
        bust, summary = gathered.build(options.bust)
        fused = gathered.last["fused"]
    path.parent.mkdir(parents=True, exist_ok=True)
    written = export_bust(bust, path, fmt=options.bust.format or path.suffix.lstrip(".").lower(),
                          overwrite=options.bust.overwrite)
    report = {"source": str(options.path), "output": str(written), "frames": frames,
              "tracked_fraction": round(tracked / frames, 4) if frames else 0.0,
              "pd_mm": round(float(fused.pd_mm), 2) if getattr(fused, "pd_mm", None) is not None else None,
              "style": options.bust.style, "height_mm": options.bust.height_mm,
              "seconds": round(time.perf_counter() - start, 2), "bust": summary}
    if options.report:
        write_text_atomic(Path(options.report), json.dumps(report, indent=2))
    return report


def gather_video(gathered: VideoBust, capture_options, pipeline_options: PipelineOptions,
                 max_frames: int | None = None, progress=None, deadline_s: float | None = None) -> tuple[int, int]:
    """Play a video through the live pipeline into ``gathered``, twice where a second play scans
    more (``VideoBust.worth_replaying``; ``gathered.replayed`` says so); returns ``(frames, frames
    with a face)`` of one play. ``deadline_s``: seconds after which no more frames are read (the
    bust is made from those read; a server's bound on one job), or None."""
    from realtime.stages.pipeline import Pipeline

    stop_at = time.perf_counter() + deadline_s if deadline_s is not None else None
    with Pipeline(pipeline_options) as pipeline:
        frames, tracked, end_s = _play(capture_options, pipeline, gathered, max_frames, 0.0, progress, stop_at=stop_at)
        gathered.replayed = (gathered.has_face and gathered.worth_replaying(frames)
                             and (stop_at is None or time.perf_counter() < stop_at))
        if gathered.replayed:
            # Fusion's identity has settled now: play the video again with it, scanning from its
            # first frame (the first play's scan waited ~3 s for the identity: a short video's turn).
            gathered.restart_scan()
            _play(capture_options, pipeline, gathered, max_frames, end_s + REPLAY_GAP_S, progress,
                  "scanning again, frame", stop_at)
    return frames, tracked


def _play(capture_options, pipeline, gathered: VideoBust, max_frames: int | None, time_offset_s: float,
          progress=None, doing: str = "reading frame", stop_at: float | None = None) -> tuple[int, int, float]:
    """Feed the source's frames (their times moved on by ``time_offset_s``) through ``pipeline``
    into ``gathered``, saying ``"<doing> N of M"`` to ``progress``, until ``stop_at`` (a
    ``time.perf_counter()`` value) if given; returns ``(frames, frames with a face, the last
    frame's time in seconds)``."""
    import dataclasses

    from realtime.stages.capture import Capture

    frames = tracked = 0
    end_s = time_offset_s
    with Capture(capture_options) as capture:
        total = capture.expected_frames  # 0: unknown (a folder of frames)
        if total and max_frames:
            total = min(total, max_frames)
        for frame in capture:
            if progress:
                progress(f"{doing} {frames + 1}" + (f" of {total}" if total else ""))
            frame = dataclasses.replace(frame, timestamp_s=frame.timestamp_s + time_offset_s)
            result = pipeline.process(frame)
            frames += 1
            tracked += bool(result.faces)
            end_s = frame.timestamp_s
            height, width = frame.image.shape[:2]
            gathered.add(result, pipeline.intrinsics_for(width, height))
            if (max_frames and frames >= max_frames) or (stop_at is not None and time.perf_counter() >= stop_at):
                break
    return frames, tracked, end_s
